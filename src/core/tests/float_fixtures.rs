//! The float-format casts against numpy / ml_dtypes / ONNX's reference (fixtures from
//! scripts/fixtures/make_float.py), and the FP16/BF16 SIMD128 kernels against the scalar
//! reference (`half`) on every f32 bit-pattern class and awkward lengths.

use crate::common::{bits, f32s, json};
use quantscope_core::schemes;
use quantscope_core::schemes::float::{self, FloatFormat};

/// Codes from packed bytes, decoded independently of the scheme (little-endian, FP4 low nibble first).
fn unpack(packed: &[u8], bits: u32, n: usize) -> Vec<u16> {
    match bits {
        16 => packed.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect(),
        8 => packed.iter().map(|&b| b as u16).collect(),
        _ => (0..n).map(|i| ((packed[i / 2] >> (4 * (i % 2))) & 0xf) as u16).collect(),
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_float_format_matches_the_references() {
    let fixtures = json(fixture_str!("float/casts.json"));
    let cases = fixtures["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 45, "fixture file looks truncated");
    for case in cases {
        let (id, input) = (case["scheme"].as_str().unwrap(), case["input"].as_str().unwrap());
        let what = format!("{id} on {input}");
        let values = f32s(&fixtures["inputs"][input]);
        let format = FloatFormat::from_id(id).unwrap();
        let scheme = schemes::by_id(id).unwrap();
        let q = scheme.quantize(&values, &[values.len()]).unwrap();
        let nbits = format.bits();
        // Exactly `bits` per weight: no scale, no header (FP4 pads an odd count by one nibble).
        assert_eq!(q.packed.len(), (values.len() * nbits as usize).div_ceil(8), "{what}: packed length");
        let got = unpack(&q.packed, nbits, values.len());
        let want: Vec<u16> = case["codes"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as u16).collect();
        if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
            panic!(
                "{what}: element {i} (input {:#010x} = {:e}) encodes to {:#x}, the reference gives {:#x}",
                values[i].to_bits(),
                values[i],
                got[i],
                want[i]
            );
        }
        let deq = f32s(&case["dequantized"]);
        for (i, (g, w)) in q.dequantized.iter().zip(&deq).enumerate() {
            // NaN payloads of the reference's decoder are not specified; NaN-ness is.
            let same = if w.is_nan() { g.is_nan() } else { g.to_bits() == w.to_bits() };
            assert!(same, "{what}: dequantized element {i} is {g:e}, the reference gives {w:e}");
        }
        assert_eq!(bits(&scheme.dequantize(&q.packed, &[values.len()]).unwrap()), bits(&q.dequantized), "{what}: dequantize(packed)");
        let mut distinct = want.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!((q.levels_used, q.levels_total), (distinct.len(), 1 << nbits), "{what}: levels");
        let max = format.max_finite();
        assert_eq!(q.clipped, values.iter().filter(|x| x.is_finite() && x.abs() > max).count(), "{what}: clipped");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fp4_nan_follows_the_onnx_spec_not_the_evaluator() {
    // The spec (float4.md) says NaN → +6; onnx 1.23.2's evaluator gives ∓0. The fixture keeps both.
    let fixtures = json(fixture_str!("float/casts.json"));
    let case = fixtures["cases"].as_array().unwrap().iter().find(|c| c["input"] == "specials_fp4_e2m1").unwrap();
    let onnx_codes = case["onnx_reference_codes"].as_array().expect("the divergence is recorded");
    let values = f32s(&fixtures["inputs"]["specials_fp4_e2m1"]);
    for (i, x) in values.iter().enumerate() {
        if x.is_nan() {
            assert_eq!(case["codes"][i], 7);
            assert_ne!(onnx_codes[i], 7);
        }
    }
}

/// xorshift64*: a fixed-seed source of bit patterns (no dev-dependency needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// f32 inputs of every bit-pattern class: random u32 patterns (NaN payloads, Inf, subnormals,
/// huge and tiny), values near the FP16/BF16 rounding points and overflow edges, signed zeros.
fn property_inputs(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let r = rng.next();
            let u = (r >> 32) as u32;
            match i % 6 {
                0 | 1 => f32::from_bits(u),
                // Exponents around FP16's range (2^-26 .. 2^17) with low-bit patterns that make ties.
                2 => f32::from_bits(
                    (u & 0x8000_0000)
                        | ((((r as u32) % 44) + 101) << 23)
                        | (u & 0x7f_e000)
                        | [0, 0x1000, 0x0fff, 0x1001][(r >> 8) as usize % 4],
                ),
                3 => f32::from_bits((u & 0xffff_0000) | [0x8000, 0x7fff, 0x8001, 0][(r >> 8) as usize % 4]),
                4 => {
                    [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 65504.0, 65520.0, 65519.996, f32::MAX, f32::MIN_POSITIVE, 1e-45]
                        [(r % 11) as usize]
                }
                _ => f32::from_bits(u & 0x807f_ffff), // f32 subnormals and zeros
            }
        })
        .collect()
}

const LENGTHS: [usize; 10] = [0, 1, 15, 17, 31, 33, 255, 257, 1000, 4099];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn f16_and_bf16_kernels_equal_the_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    type Enc = fn(&[f32], &mut [u16]);
    let encoders: [(&str, Enc, Enc); 2] = [
        ("f32_to_f16_bits", float::f32_to_f16_bits, float::reference::f32_to_f16_bits),
        ("f32_to_bf16_bits", float::f32_to_bf16_bits, float::reference::f32_to_bf16_bits),
    ];
    for round in 0..8 {
        for n in LENGTHS {
            let src = property_inputs(&mut rng, n);
            for (name, kernel, reference) in encoders {
                let (mut got, mut want) = (vec![0u16; n], vec![0u16; n]);
                kernel(&src, &mut got);
                reference(&src, &mut want);
                if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
                    panic!(
                        "{name} (round {round}, n={n}): element {i} = {:#010x} gives {:#06x}, reference {:#06x}",
                        src[i].to_bits(),
                        got[i],
                        want[i]
                    );
                }
            }
        }
    }
    // Every u16 code through both decoders, at awkward offsets too.
    let all: Vec<u16> = (0..=u16::MAX).collect();
    type Dec = fn(&[u16], &mut [f32]);
    let decoders: [(&str, Dec, Dec); 2] = [
        ("f16_bits_to_f32", float::f16_bits_to_f32, float::reference::f16_bits_to_f32),
        ("bf16_bits_to_f32", float::bf16_bits_to_f32, float::reference::bf16_bits_to_f32),
    ];
    for (name, kernel, reference) in decoders {
        for start in [0usize, 1, 3] {
            let src = &all[start..];
            let (mut got, mut want) = (vec![0f32; src.len()], vec![0f32; src.len()]);
            kernel(src, &mut got);
            reference(src, &mut want);
            if let Some(i) = got.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits()) {
                panic!("{name}: code {:#06x} gives {:#010x}, reference {:#010x}", src[i], got[i].to_bits(), want[i].to_bits());
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn f16_kernel_equals_the_reference_on_a_sweep_of_all_f32() {
    // Every 4097th f32 bit pattern (about a million), so every exponent and both signs are hit.
    let src: Vec<f32> = (0..=u32::MAX / 4097).map(|k| f32::from_bits(k * 4097)).collect();
    let (mut got, mut want) = (vec![0u16; src.len()], vec![0u16; src.len()]);
    for (name, kernel, reference) in [
        ("f16", float::f32_to_f16_bits as fn(&[f32], &mut [u16]), float::reference::f32_to_f16_bits as fn(&[f32], &mut [u16])),
        ("bf16", float::f32_to_bf16_bits, float::reference::f32_to_bf16_bits),
    ] {
        kernel(&src, &mut got);
        reference(&src, &mut want);
        if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
            panic!("{name}: {:#010x} gives {:#06x}, reference {:#06x}", src[i].to_bits(), got[i], want[i]);
        }
    }
}

/// Values at FP8/FP4 rounding points: exponents around their ranges (2^-27 .. 2^18) with the
/// bits below each format's kept mantissa at a tie, just off it, or carrying into the exponent.
fn minifloat_inputs(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let r = rng.next();
            let u = (r >> 32) as u32;
            if i % 3 == 0 {
                return property_inputs(rng, 1)[0];
            }
            let low =
                [0, 0x8_0000, 0x7_ffff, 0x8_0001, 0x10_0000, 0x0f_ffff, 0x10_0001, 0x20_0000, 0x1f_ffff, 0x20_0001, 0x3f_ffff, 0x7f_ffff];
            let mantissa = (u & 0x70_0000) & !((1 << (20 + (r as u32 >> 8) % 3)) - 1);
            f32::from_bits((u & 0x8000_0000) | ((((r as u32) % 46) + 100) << 23) | mantissa | low[(r >> 16) as usize % low.len()])
        })
        .collect()
}

/// Mostly values the fast-kernels quantizer's plain steps take (FP16 normals up to 65504, with
/// ties and near-ties in the dropped bits, of both signs; BF16/FP8 take them too), and about
/// one value in 40 from [`property_inputs`] (zeros, subnormals, 65504 < |x| < 65520, Inf, NaN):
/// most steps of 16 plain, the rest mixed, at every position of a step.
fn plain_inputs(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let r = rng.next();
            let u = (r >> 32) as u32;
            if r % 40 == 0 {
                return property_inputs(rng, 5)[(r >> 8) as usize % 5];
            }
            let low = [0, 0x1000, 0x0fff, 0x1001, 0x8000, 0x7fff, 0x8001][(r >> 8) as usize % 7];
            // Exponents 2^-14 .. 2^15 (f32 biased 113 ..= 142).
            let x = f32::from_bits((u & 0x8000_0000) | ((((r as u32) % 30) + 113) << 23) | (u & 0x7f_0000) | low);
            if x.abs() > 65504.0 {
                65504.0f32.copysign(x)
            } else {
                x
            }
        })
        .collect()
}

/// FP16 values of 32 consecutive codes (1 ..= 1 + 31/1024) of either sign, and about one value
/// in 50 from [`plain_inputs`]: the level count's run of magnitudes seen with both signs
/// covers the dense codes early, so most steps skip their stores and the rest add new codes.
fn dense_inputs(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let r = rng.next();
            if r % 50 == 0 {
                return plain_inputs(rng, 1)[0];
            }
            let x = half::f16::from_bits(0x3c00 + (r >> 8) as u16 % 32).to_f32();
            if r >> 63 == 1 {
                -x
            } else {
                x
            }
        })
        .collect()
}

/// Lengths around the kernels' steps of 8 and 16 and the 4096-element chunks.
const CHUNK_LENGTHS: [usize; 13] = [0, 1, 2, 7, 15, 16, 17, 33, 4095, 4096, 4097, 8190, 8209];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn quantize_equals_the_per_element_reference() {
    // The scheme's quantize (with `fast-kernels` on wasm32: one SIMD128 pass per chunk that
    // encodes, packs, decodes and counts) against `FloatFormat::encode`/`decode` element by
    // element: codes, padding, the decoding bit for bit (NaN payloads too), clips and levels.
    let mut rng = Rng(0x0f10_a7c0_de00_0001);
    for round in 0..3 {
        for n in CHUNK_LENGTHS {
            let inputs =
                [property_inputs(&mut rng, n), minifloat_inputs(&mut rng, n), plain_inputs(&mut rng, n), dense_inputs(&mut rng, n)];
            for (which, values) in inputs.iter().enumerate() {
                for format in FloatFormat::ALL {
                    let what = format!("{} (round {round}, inputs {which}, n={n})", format.id());
                    let scheme = schemes::by_id(format.id()).unwrap();
                    let q = scheme.quantize(values, &[n]).unwrap();
                    let nbits = format.bits();
                    assert_eq!(q.packed.len(), (n * nbits as usize).div_ceil(8), "{what}: packed length");
                    let want: Vec<u16> = values.iter().map(|&x| format.encode(x)).collect();
                    let got = unpack(&q.packed, nbits, n);
                    if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
                        panic!("{what}: element {i} = {:#010x} encodes to {:#x}, reference {:#x}", values[i].to_bits(), got[i], want[i]);
                    }
                    if nbits == 4 && n % 2 == 1 {
                        assert_eq!(q.packed[n / 2] >> 4, 0, "{what}: FP4 padding nibble");
                    }
                    for (i, (&d, &c)) in q.dequantized.iter().zip(&want).enumerate() {
                        let r = format.decode(c);
                        assert_eq!(d.to_bits(), r.to_bits(), "{what}: element {i} (code {c:#x}) decodes to {d:e}, reference {r:e}");
                    }
                    assert_eq!(q.dequantized.len(), n, "{what}: decoding length");
                    assert_eq!(bits(&scheme.dequantize(&q.packed, &[n]).unwrap()), bits(&q.dequantized), "{what}: dequantize(packed)");
                    let mut distinct = want.clone();
                    distinct.sort_unstable();
                    distinct.dedup();
                    assert_eq!((q.levels_used, q.levels_total), (distinct.len(), 1 << nbits), "{what}: levels");
                    let max = format.max_finite();
                    assert_eq!(q.clipped, values.iter().filter(|x| x.is_finite() && x.abs() > max).count(), "{what}: clipped");
                }
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dequantize_equals_the_per_element_reference_on_every_code() {
    // `dequantize` (with `fast-kernels` on wasm32: SIMD128 straight from the bytes, a fast step
    // where every lane is a plain code and the full decoder where one is not) against
    // `FloatFormat::decode` bit for bit, on: every code in order (steps of specials,
    // subnormals and normals side by side), random codes of every kind, and random plain codes
    // (normals and ±0 only: every step takes the fast path) — at lengths around the steps.
    let mut rng = Rng(0xdec0_de00_f00d_0001);
    for format in FloatFormat::ALL {
        let nbits = format.bits();
        let count = 1u32 << nbits;
        let plain = |c: u16| {
            let v = format.decode(c);
            v == 0.0 || (v.is_finite() && v.abs() >= f32::MIN_POSITIVE && (nbits != 16 || v.abs() >= 2f32.powi(-14)))
        };
        let plain_codes: Vec<u16> = (0..count).map(|c| c as u16).filter(|&c| plain(c)).collect();
        let in_order: Vec<u16> = (0..count.max(4099)).map(|c| (c % count) as u16).collect();
        let random: Vec<u16> = (0..4099).map(|_| (rng.next() % count as u64) as u16).collect();
        let random_plain: Vec<u16> = (0..4099).map(|_| plain_codes[(rng.next() % plain_codes.len() as u64) as usize]).collect();
        for (which, codes) in [("in order", &in_order), ("random", &random), ("random plain", &random_plain)] {
            for n in CHUNK_LENGTHS.into_iter().chain([codes.len()]).filter(|&n| n <= codes.len()) {
                let codes = &codes[..n];
                let packed: Vec<u8> = match nbits {
                    16 => codes.iter().flat_map(|c| c.to_le_bytes()).collect(),
                    8 => codes.iter().map(|&c| c as u8).collect(),
                    _ => codes.chunks(2).map(|p| p[0] as u8 | p.get(1).map_or(0, |&c| (c as u8) << 4)).collect(),
                };
                let got = schemes::by_id(format.id()).unwrap().dequantize(&packed, &[n]).unwrap();
                for (i, (&g, &c)) in got.iter().zip(codes).enumerate() {
                    let want = format.decode(c);
                    assert_eq!(
                        g.to_bits(),
                        want.to_bits(),
                        "{} ({which}, n={n}): element {i}, code {c:#x} gives {g:e}, reference {want:e}",
                        format.id()
                    );
                }
                assert_eq!(got.len(), n);
            }
        }
    }
}

/// The browser run must exercise the SIMD128 kernels, not the scalar fallbacks.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
// Constant within one build, and which build ran is the point.
#[allow(clippy::assertions_on_constants)]
fn wasm_build_uses_simd128() {
    assert!(cfg!(target_feature = "simd128"), "built without +simd128: the kernels above were not tested");
}
