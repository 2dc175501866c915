//! The GGML legacy block types (q8_0, q4_0, q4_1, q5_0, q5_1, mxfp4):
//!
//! 1. against gguf-py 0.19.0 (fixtures from scripts/fixtures/make_ggml.py): packed bytes and
//!    dequantized values bit-exact, including ties, subnormals, signed zeros, all-zero and
//!    constant blocks, an outlier, non-finite values and lengths that are not whole blocks;
//! 2. the kernels picked by `ggml::quantize_row` / `ggml::dequantize_row` (SIMD128 in the
//!    browser) against the scalar reference `ggml::reference`, on seeded property inputs and
//!    awkward lengths, and on arbitrary packed bytes.
//!
//! Natively the picked kernel is the reference itself; the comparison bites under wasm32.

use crate::common::{f32s, hex_bytes, json};
use quantscope_core::schemes::ggml::{self, reference, GgmlScheme, GgmlType, QK};
use quantscope_core::schemes::{self, Scheme};

fn ty_of(id: &str) -> GgmlType {
    GgmlType::from_id(id).unwrap()
}

/// The first block where two packed tensors differ, described for a failure message.
fn first_block_diff(ty: GgmlType, got: &[u8], want: &[u8], input: &[f32]) -> Option<String> {
    let bb = ty.block_bytes();
    if got.len() != want.len() {
        return Some(format!("length {} != {}", got.len(), want.len()));
    }
    let (i, (g, w)) = got.chunks(bb).zip(want.chunks(bb)).enumerate().find(|(_, (g, w))| g != w)?;
    let lo = (i * QK).min(input.len());
    let hi = ((i + 1) * QK).min(input.len());
    Some(format!(
        "block {i}: got {:02x?}\n want {:02x?}\n codes got {:?}\n want {:?}\n input {:?}",
        g,
        w,
        reference::block_codes(ty, g),
        reference::block_codes(ty, w),
        &input[lo..hi]
    ))
}

fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The first differing value of two f32 slices, with its block.
fn first_value_diff(got: &[f32], want: &[f32]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("length {} != {}", got.len(), want.len()));
    }
    let i = got.iter().zip(want).position(|(a, b)| !same_f32(*a, *b))?;
    let b = i / QK;
    let (lo, hi) = (b * QK, ((b + 1) * QK).min(got.len()));
    Some(format!(
        "value {i} (block {b}): got {:e} ({:08x}), want {:e} ({:08x})\n block got {:?}\n want {:?}",
        got[i],
        got[i].to_bits(),
        want[i],
        want[i].to_bits(),
        &got[lo..hi],
        &want[lo..hi]
    ))
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_ggml_type_matches_gguf_py() {
    let fixtures = json(fixture_str!("ggml/ggml.json"));
    let inputs = &fixtures["inputs"];
    let cases = fixtures["cases"].as_array().unwrap();
    assert_eq!(cases.len(), inputs.as_object().unwrap().len() * 6, "fixture file looks truncated");
    for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["type"].as_str().unwrap());
        let what = format!("{id} on {input}");
        let ty = ty_of(id);
        let values = f32s(&inputs[input]["values"]);
        let scheme = schemes::by_id(id).unwrap();
        let q = scheme.quantize(&values, &[values.len()]).unwrap();
        let want = hex_bytes(case["packed"].as_str().unwrap());
        if let Some(diff) = first_block_diff(ty, &q.packed, &want, &values) {
            panic!("{what}: packed bytes differ from gguf-py at {diff}");
        }
        let deq_hex = case["dequantized"].as_str().unwrap();
        let want_deq: Vec<f32> =
            (0..deq_hex.len()).step_by(8).map(|i| f32::from_bits(u32::from_str_radix(&deq_hex[i..i + 8], 16).unwrap())).collect();
        if let Some(diff) = first_value_diff(&q.dequantized, &want_deq) {
            panic!("{what}: dequantized differs from gguf-py at {diff}");
        }
        let again = scheme.dequantize(&want, &[values.len()]).unwrap();
        if let Some(diff) = first_value_diff(&again, &want_deq) {
            panic!("{what}: dequantize(gguf-py bytes) differs at {diff}");
        }
        assert_eq!(q.levels_total, 1 << ty.code_bits(), "{what}");
        assert!(q.levels_used >= 1 || values.is_empty(), "{what}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn shape_is_flattened_in_c_order() {
    let values: Vec<f32> = (0..6 * 11).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.173).collect();
    for ty in GgmlType::ALL {
        let s = GgmlScheme::new(ty);
        let flat = s.quantize(&values, &[66]).unwrap();
        let two_d = s.quantize(&values, &[6, 11]).unwrap();
        assert_eq!(flat, two_d, "{ty:?}");
        assert_eq!(s.dequantize(&flat.packed, &[6, 11]).unwrap(), flat.dequantized);
        assert!(s.quantize(&values, &[6, 12]).is_err());
    }
}

/// A GGUF tensor stored as one of these types, re-quantized to its own type, comes back bit for
/// bit (issue 12, item 17: the page says so): each block's largest |x| dequantizes to exactly
/// code × d, so the scale recomputed from it is d again and every value lands on its own code.
/// (The k-quants search their scales afresh and do not: the page measures, it does not assume.)
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn requantizing_stored_blocks_to_their_own_type_is_exact() {
    let mut rng = crate::common::Xorshift(12345);
    let mut values: Vec<f32> = (0..64 * 256)
        .map(|_| {
            let s = rng.next();
            let u = (s >> 40) as f32 / (1u64 << 24) as f32;
            // Weights of std ~0.03 with an outlier now and then.
            (u - 0.5) * 0.1 + if s % 97 == 0 { 0.5 } else { 0.0 }
        })
        .collect();
    values[..QK].fill(0.0);
    for ty in GgmlType::ALL {
        let scheme = GgmlScheme::new(ty);
        let stored = scheme.quantize(&values, &[64, 256]).unwrap();
        let again = scheme.quantize(&stored.dequantized, &[64, 256]).unwrap();
        if let Some(d) = first_block_diff(ty, &again.packed, &stored.packed, &stored.dequantized) {
            panic!("{ty:?} re-quantized differs: {d}");
        }
        assert_eq!(again.dequantized, stored.dequantized, "{ty:?}");
    }
}

/// `floor(log2f(amax))` rounds up just below a power of two; NumPy's thresholds per binade.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mxfp4_exponent_matches_numpy_log2_at_every_binade() {
    let fixtures = json(fixture_str!("ggml/ggml.json"));
    let e_of = |fl: i32| (fl - 2 + 127).clamp(0, 255) as u8;
    for row in fixtures["mxfp4_exponent_thresholds"].as_array().unwrap() {
        let e = row[0].as_i64().unwrap() as i32;
        // 2^(e+1) as bits, minus one: the largest float of the binade [2^e, 2^(e+1)).
        let top_bits = if e + 1 >= -126 { ((e + 1 + 127) as u32) << 23 } else { 1u32 << (e + 1 + 149) };
        let largest = f32::from_bits(top_bits - 1);
        let smallest = f32::from_bits(if e >= -126 { ((e + 127) as u32) << 23 } else { 1u32 << (e + 149) });
        assert_eq!(reference::mxfp4_exponent(smallest), e_of(e), "2^{e}");
        match row[1].as_str() {
            None => assert_eq!(reference::mxfp4_exponent(largest), e_of(e), "binade 2^{e}: log2f never rounds up"),
            Some(h) => {
                let t = f32::from_bits(u32::from_str_radix(h, 16).unwrap());
                assert_eq!(reference::mxfp4_exponent(t), e_of(e + 1), "binade 2^{e}: threshold {t:e}");
                assert_eq!(reference::mxfp4_exponent(largest), e_of(e + 1), "binade 2^{e}: largest");
                let below = f32::from_bits(t.to_bits() - 1);
                assert_eq!(reference::mxfp4_exponent(below), e_of(e), "binade 2^{e}: below threshold {below:e}");
            }
        }
    }
}

// ------------------------------------------------------------------ kernels vs reference

/// SplitMix64: a small seeded generator, so failures reproduce on every target.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const LENGTHS: [usize; 14] = [0, 1, 15, 16, 17, 31, 32, 33, 63, 65, 255, 256, 257, 1000];

/// Property inputs: each distribution at each awkward length.
fn property_inputs() -> Vec<(String, Vec<f32>)> {
    let mut rng = Rng(0x5EED_6767);
    let mut out = Vec::new();
    let dists: [&str; 10] = [
        "normal",
        "scaled_normal",
        "uniform",
        "huge",
        "tiny",
        "subnormal",
        "subnormal_scale",
        "half_integers",
        "sparse_specials",
        "mixed_scales",
    ];
    for dist in dists {
        for &n in &LENGTHS {
            let v: Vec<f32> = (0..n)
                .map(|i| match dist {
                    "normal" => rng.normal() as f32,
                    "scaled_normal" => (rng.normal() * 10f64.powi((i / QK) as i32 % 7 - 3)) as f32,
                    "uniform" => (rng.unit() * 8.0 - 3.0) as f32,
                    "huge" => (rng.normal() * 1e37) as f32,
                    "tiny" => (rng.normal() * 1e-37) as f32,
                    // Normal values whose block scales are subnormal, d from 2^-128 (1/d just
                    // finite) to 2^-126 in each block: the edge of the kernels' fast paths.
                    "subnormal_scale" => (rng.unit() * 31.0 * 2f64.powi(-128 + (i / QK) as i32 % 3)) as f32,
                    "subnormal" => f32::from_bits((rng.next() as u32 & 0x007F_FFFF) | ((rng.next() as u32 & 1) << 31)),
                    "half_integers" => ((rng.next() % 33) as f32 - 16.0) * 0.5,
                    "sparse_specials" => match rng.next() % 40 {
                        0 => f32::NAN,
                        1 => f32::INFINITY,
                        2 => f32::NEG_INFINITY,
                        3 => -0.0,
                        4 => 0.0,
                        _ => rng.normal() as f32,
                    },
                    _ => (rng.normal() * 10f64.powi((rng.next() % 60) as i32 - 30)) as f32,
                })
                .collect();
            out.push((format!("{dist}[{n}]"), v));
        }
    }
    // Blocks whose values tie exactly, all-equal blocks and ±0 blocks.
    out.push(("constant".into(), vec![-2.75; 97]));
    out.push(("zeros".into(), (0..70).map(|i| if i % 3 == 0 { -0.0 } else { 0.0 }).collect()));
    out
}

/// The reference's packed bytes for `values` zero-padded to whole blocks.
fn reference_pack(ty: GgmlType, values: &[f32]) -> (Vec<u8>, usize) {
    let mut padded = values.to_vec();
    padded.resize(values.len().div_ceil(QK) * QK, 0.0);
    let mut out = vec![0u8; padded.len() / QK * ty.block_bytes()];
    let clipped = reference::quantize_row(ty, &padded, &mut out);
    (out, clipped)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn quantize_kernels_equal_the_reference() {
    for (name, values) in property_inputs() {
        for ty in GgmlType::ALL {
            let (got, got_clipped) = GgmlScheme::new(ty).pack(&values);
            let (want, want_clipped) = reference_pack(ty, &values);
            if let Some(diff) = first_block_diff(ty, &got, &want, &values) {
                panic!("{ty:?} on {name}: kernel differs from the reference at {diff}");
            }
            assert_eq!(got_clipped, want_clipped, "{ty:?} on {name}: clip count");
        }
    }
}

/// `Scheme::quantize` packs and decodes in one pass (`ggml::quantize_decode_row`): its bytes,
/// clip count and decoded copy are the reference's packing and the reference's decoding of it.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fused_quantize_and_decode_equal_the_reference() {
    for (name, values) in property_inputs() {
        for ty in GgmlType::ALL {
            let got = GgmlScheme::new(ty).quantize(&values, &[values.len()]).unwrap();
            let (want, want_clipped) = reference_pack(ty, &values);
            if let Some(diff) = first_block_diff(ty, &got.packed, &want, &values) {
                panic!("{ty:?} on {name}: fused kernel's bytes differ from the reference at {diff}");
            }
            assert_eq!(got.clipped, want_clipped, "{ty:?} on {name}: clip count");
            let mut decoded = vec![0.0f32; want.len() / ty.block_bytes() * QK];
            reference::dequantize_row(ty, &want, &mut decoded);
            decoded.truncate(values.len());
            if let Some(diff) = first_value_diff(&got.dequantized, &decoded) {
                panic!("{ty:?} on {name}: fused decoding differs from the reference at {diff}");
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dequantize_kernels_equal_the_reference() {
    let mut rng = Rng(0x00DE_0A17);
    for (name, values) in property_inputs() {
        for ty in GgmlType::ALL {
            let (packed, _) = reference_pack(ty, &values);
            let mut want = vec![0.0f32; packed.len() / ty.block_bytes() * QK];
            reference::dequantize_row(ty, &packed, &mut want);
            let mut got = vec![f32::NAN; want.len()];
            ggml::dequantize_row(ty, &packed, &mut got);
            if let Some(diff) = first_value_diff(&got, &want) {
                panic!("{ty:?} on {name}: dequantize kernel differs from the reference at {diff}");
            }
        }
    }
    // Arbitrary bytes: every code, and f16 scales that are subnormal, Inf or NaN.
    for blocks in [0usize, 1, 2, 3, 7, 33] {
        for ty in GgmlType::ALL {
            let packed: Vec<u8> = (0..blocks * ty.block_bytes()).map(|_| rng.next() as u8).collect();
            let mut want = vec![0.0f32; blocks * QK];
            reference::dequantize_row(ty, &packed, &mut want);
            let mut got = vec![f32::NAN; want.len()];
            ggml::dequantize_row(ty, &packed, &mut got);
            if let Some(diff) = first_value_diff(&got, &want) {
                panic!("{ty:?} on {blocks} random blocks: dequantize kernel differs at {diff}");
            }
        }
    }
}

/// The kernels' short f16 conversions equal `half`'s: every f16 code back to f32, and f32 →
/// f16 on every 4099th bit pattern (all signs, binades, NaN and Inf) plus 4096 patterns around
/// each edge of the short path (2⁻¹⁴, 65504, 65520) and each f16 rounding midpoint near them.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn short_f16_conversions_equal_half() {
    for h in 0..=u16::MAX {
        let (got, want) = (reference::fp16_value_fast(h), reference::fp16_value(h));
        assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "f16 {h:#06x}: {got} against {want}");
    }
    let check = |b: u32| {
        let x = f32::from_bits(b);
        assert_eq!(reference::fp16_bits_fast(x), reference::fp16_bits(x), "f32 {b:#010x}");
    };
    (0..=u32::MAX / 4099).for_each(|i| check(i * 4099));
    for edge in [0x3880_0000u32, 0x477F_E000, 0x477F_F000, 0x3880_1000, 0x3F80_1000, 0x4000_3000] {
        for sign in [0, 0x8000_0000] {
            (edge - 2048..edge + 2048).for_each(|b| check(b | sign));
        }
    }
}
