//! The bitsandbytes 4-bit schemes against bitsandbytes 0.50.2 itself on CPU (fixtures from
//! scripts/fixtures/make_bnb.py): codes, absmax, double-quantization statistics and
//! dequantized values bit-exact; and the SIMD128 kernels against the scalar reference on every
//! f32 bit-pattern class and awkward lengths.

use crate::common::{bits, f32s, hex_bytes, json};
use quantscope_core::schemes::bnb::{self, Code4, Scaling};
use quantscope_core::schemes::{self, Quantized};

fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

/// make_bnb.py's `synthetic(n)`, bit for bit.
fn synthetic(n: usize) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = (i.wrapping_mul(2_654_435_761) % (1 << 32)) as u32 as i32 as f32;
            let scale = ((i / 64) % 13 + 1) as f32;
            (h * 2f32.powi(-31)) * scale
        })
        .collect()
}

/// Panics naming the first differing element and its 64-block.
fn same_f32(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a.to_bits() != b.to_bits()) {
        panic!(
            "{what}: element {i} (block {}) is {:e} ({:#010x}), bitsandbytes gives {:e} ({:#010x})",
            i / 64,
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}

fn same_bytes(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!(
            "{what}: byte {i} (elements {}, {}; block {}) is {:#04x}, bitsandbytes gives {:#04x}",
            2 * i,
            2 * i + 1,
            2 * i / 64,
            got[i],
            want[i]
        );
    }
}

fn f32s_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn tables_are_bitsandbytes_tables() {
    let fixtures = json(fixture_str!("bnb/bnb4.json"));
    let t = &fixtures["tables"];
    assert_eq!(bits(&Code4::Nf4.table()), bits(&f32s(&t["nf4"])));
    assert_eq!(bits(&Code4::Fp4.table()), bits(&f32s(&t["fp4"])));
    let order: Vec<u8> = t["fp4_sorted_order"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
    assert_eq!(Code4::Fp4.order().to_vec(), order);
    assert_eq!(bits(&bnb::dynamic_code()), bits(&f32s(&t["dynamic_signed"])));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_bnb_scheme_matches_bitsandbytes() {
    let fixtures = json(fixture_str!("bnb/bnb4.json"));
    let cases = fixtures["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 68, "fixture file looks truncated");
    for case in cases {
        let (id, input) = (case["scheme"].as_str().unwrap(), case["input"].as_str().unwrap());
        let what = format!("{id} on {input}");
        let values = match input.strip_prefix("synthetic_") {
            Some(n) => synthetic(n.parse().unwrap()),
            None => f32s(&fixtures["inputs"][input]),
        };
        let n = values.len();
        let scheme = schemes::by_id(id).unwrap();
        let q: Quantized = scheme.quantize(&values, &[n]).unwrap();
        let (code_len, blocks) = (n.div_ceil(2), n.div_ceil(64));
        let codes = &q.packed[..code_len];
        if let Some(hex) = case["codes"].as_str() {
            same_bytes(&format!("{what}: codes"), codes, &hex_bytes(hex));
        } else {
            same_bytes(&format!("{what}: first codes"), &codes[..256], &hex_bytes(case["codes_head"].as_str().unwrap()));
            assert_eq!(fnv1a(codes.iter().copied()), case["codes_fnv1a"].as_str().unwrap(), "{what}: codes hash");
        }
        let rest = &q.packed[code_len..];
        if id.ends_with("_dq") {
            let blocks2 = blocks.div_ceil(256);
            same_bytes(&format!("{what}: quantized absmax"), &rest[..blocks], &hex_bytes(case["qabsmax"].as_str().unwrap()));
            same_f32(&format!("{what}: second-level absmax"), &f32s_le(&rest[blocks..blocks + 4 * blocks2]), &f32s(&case["absmax2"]));
            same_f32(&format!("{what}: offset"), &f32s_le(&rest[blocks + 4 * blocks2..]), &f32s(&case["offset"]));
            let decoded: Vec<f32> = q.params[0].values.iter().map(|&v| v as f32).collect();
            same_f32(&format!("{what}: decoded absmax"), &decoded, &f32s(&case["absmax_dequantized"]));
            assert_eq!(q.packed.len(), code_len + blocks + 4 * blocks2 + 4, "{what}: packed length");
        } else {
            same_f32(&format!("{what}: absmax"), &f32s_le(rest), &f32s(&case["absmax"]));
        }
        if case["dequantized"].is_array() {
            same_f32(&format!("{what}: dequantized"), &q.dequantized, &f32s(&case["dequantized"]));
        } else {
            let got = fnv1a(q.dequantized.iter().flat_map(|v| v.to_le_bytes()));
            assert_eq!(got, case["dequantized_fnv1a"].as_str().unwrap(), "{what}: dequantized hash");
        }
        same_f32(&format!("{what}: dequantize(packed)"), &scheme.dequantize(&q.packed, &[n]).unwrap(), &q.dequantized);
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Every f32 bit-pattern class: random u32 patterns (NaN, ±Inf, subnormals, huge), normal
/// values, exact table midpoints times the block scale, zeros of both signs.
fn property_inputs(rng: &mut Rng, n: usize, flavour: u64) -> Vec<f32> {
    let mids = Code4::Nf4.bounds();
    (0..n)
        .map(|i| {
            let r = rng.next();
            match (i as u64 + flavour) % 5 {
                0 => f32::from_bits((r >> 32) as u32),
                1 => ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0,
                2 => mids[(r % 15) as usize] * [1.0, -1.0][(r >> 8) as usize % 2],
                3 => [0.0, -0.0, 1.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, f32::MAX][(r % 9) as usize],
                _ => f32::from_bits((r >> 32) as u32 & 0x3f7f_ffff), // |x| < 1
            }
        })
        .collect()
}

const LENGTHS: [usize; 9] = [0, 1, 15, 17, 31, 33, 64, 255, 257];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bnb_kernels_equal_the_reference() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..20u64 {
        for n in LENGTHS {
            let block = property_inputs(&mut rng, n, round);
            let (got, want) = (bnb::block_absmax(&block), bnb::reference::block_absmax(&block));
            assert_eq!(got.to_bits(), want.to_bits(), "block_absmax (round {round}, n={n})");
            let m = want.max(bnb::ABSMAX_FLOOR);
            for code in [Code4::Nf4, Code4::Fp4] {
                for scaling in [Scaling::Mul(1.0 / m), Scaling::Div(m), Scaling::Mul(1.0), Scaling::Div(0.37)] {
                    let (mut got, mut want) = (vec![0u8; n], vec![0u8; n]);
                    bnb::encode_block(code, &block, scaling, &mut got);
                    bnb::reference::encode_block(code, &block, scaling, &mut want);
                    if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
                        panic!(
                            "encode_block {code:?} {scaling:?} (round {round}, n={n}): element {i} = {:#010x} gives {}, reference {}",
                            block[i].to_bits(),
                            got[i],
                            want[i]
                        );
                    }
                }
            }
        }
        // Decoding: random packed bytes over several blocks with random absmax, awkward lengths.
        for n in LENGTHS.into_iter().chain([129, 200, 1000]) {
            let packed: Vec<u8> = (0..n.div_ceil(2)).map(|_| rng.next() as u8).collect();
            let absmax: Vec<f32> = (0..n.div_ceil(64)).map(|_| f32::from_bits((rng.next() >> 32) as u32)).collect();
            for code in [Code4::Nf4, Code4::Fp4] {
                let (mut got, mut want) = (vec![0f32; n], vec![0f32; n]);
                let table = code.dequant_table(&[n]);
                bnb::decode_codes(&table, &packed, &absmax, &mut got);
                bnb::reference::decode_codes(&table, &packed, &absmax, &mut want);
                // NaN · x has an unspecified NaN payload in wasm (scalar and SIMD alike).
                if let Some(i) = got.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan())) {
                    panic!(
                        "decode_codes {code:?} (round {round}, n={n}): element {i} (block {}) gives {:#010x}, reference {:#010x}",
                        i / 64,
                        got[i].to_bits(),
                        want[i].to_bits()
                    );
                }
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
