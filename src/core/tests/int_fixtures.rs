//! The integer schemes against ONNX Runtime's `compute_scale_zp` + `quantize_nparray`
//! (fixtures from scripts/fixtures/make_fixtures.py): scales, zero points and codes bit-exact.

use crate::common::{bits, f32s, json};
use quantscope_core::schemes::{self, int::IntScheme};

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_int_scheme_matches_onnx_runtime() {
    let fixtures = json(fixture_str!("int/ort_int.json"));
    let inputs = &fixtures["inputs"];
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 300, "fixture file looks truncated");
    for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        let what = format!("{id} on {input}");
        let values = f32s(&inputs[input]["values"]);
        let shape: Vec<usize> = case["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let scheme = IntScheme::from_id(id).unwrap();
        let q = schemes::Scheme::quantize(&scheme, &values, &shape).unwrap();

        let want_scales = f32s(&case["scales"]);
        let groups = want_scales.len();
        let got_scales: Vec<f32> = q.packed[..groups * 4].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(bits(&got_scales), bits(&want_scales), "{what}: scales");
        if !scheme.symmetric {
            let zps: Vec<u64> = q.packed[groups * 4..groups * 5].iter().map(|&z| z as u64).collect();
            let want: Vec<u64> = case["zero_points"].as_array().unwrap().iter().map(|z| z.as_u64().unwrap()).collect();
            assert_eq!(zps, want, "{what}: zero points");
        }
        let codes: Vec<i64> = case["codes"].as_array().unwrap().iter().map(|c| c.as_i64().unwrap()).collect();
        let header = groups * if scheme.symmetric { 4 } else { 5 };
        let unpacked = unpack(&q.packed[header..], scheme.bits, scheme.symmetric, values.len());
        if unpacked != codes {
            let first = unpacked.iter().zip(&codes).position(|(a, b)| a != b).unwrap();
            panic!("{what}: code {first} is {} but ORT gives {} (input {})", unpacked[first], codes[first], values[first]);
        }
        assert_eq!(bits(&q.dequantized), bits(&f32s(&case["dequantized"])), "{what}: dequantized");
    }
}

/// Unpacks codes independently of the scheme's own decoder (low bits first).
fn unpack(body: &[u8], bits: u32, signed: bool, n: usize) -> Vec<i64> {
    let per_byte = (8 / bits) as usize;
    (0..n)
        .map(|i| {
            let raw = (body[i / per_byte] >> ((i % per_byte) as u32 * bits)) as i64 & ((1 << bits) - 1);
            if signed && raw >= 1 << (bits - 1) {
                raw - (1 << bits)
            } else {
                raw
            }
        })
        .collect()
}
