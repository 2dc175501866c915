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

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn levels_used_counts_the_distinct_codes() {
    // `levels_used` (the byte-code count: on wasm32 a SIMD128 pass that skips the steps inside the
    // codes already seen) against a count of the unpacked codes, on normal-like values (a dense
    // middle, rare tails: steps outside the seen codes now and then), values with NaN and ±Inf,
    // and single repeated codes, at lengths around the steps of 16 and the 16K chunks.
    let mut rng = crate::common::Xorshift(0x1234_5678_9abc_def0);
    let mut next = move || rng.next();
    for n in [0usize, 1, 15, 16, 17, 100, 16_383, 16_384, 16_401, 40_000] {
        let normal: Vec<f32> = (0..n).map(|_| (0..4).map(|_| (next() % 1000) as f32 / 500.0 - 1.0).sum::<f32>().powi(3)).collect();
        let specials: Vec<f32> = normal
            .iter()
            .enumerate()
            .map(|(i, &x)| match i % 97 {
                5 => f32::NAN,
                50 => f32::INFINITY,
                90 => f32::NEG_INFINITY,
                _ => x,
            })
            .collect();
        let constant = vec![0.25f32; n];
        for (which, values) in [("normal", &normal), ("specials", &specials), ("constant", &constant)] {
            for id in ["int8_sym", "int8_asym", "int8_sym_channel", "int4_asym", "int4_sym_g32", "int2_sym_g64", "int8_asym_p99.9"] {
                let scheme = IntScheme::from_id(id).unwrap();
                let shape = if n % 2 == 0 && n > 0 { vec![2, n / 2] } else { vec![n] };
                let q = schemes::Scheme::quantize(&scheme, values, &shape).unwrap();
                let header = q.params[0].values.len() * if scheme.symmetric { 4 } else { 5 };
                let mut codes = unpack(&q.packed[header..], scheme.bits, scheme.symmetric, n);
                codes.sort_unstable();
                codes.dedup();
                assert_eq!(q.levels_used, codes.len(), "{id} on {which}, n = {n}: levels used");
            }
        }
    }
}
