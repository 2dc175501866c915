//! Properties every registered scheme must have, whatever its family: awkward lengths and
//! values never panic, `dequantize(packed)` reproduces `quantize`'s own dequantized copy bit for
//! bit, `schemes::packed_len` is the length `quantize` packs, non-finite inputs never poison
//! finite neighbours, and ids round-trip through the registry. Two refusals are allowed, each
//! with its message checked: the types llama.cpp cannot quantize without an importance matrix
//! (IQ2_XXS, IQ2_XS, IQ1_S; tested here with one instead) and the IQ grid types on non-finite
//! values.

use quantscope_core::schemes::{self, Scheme};

const LENGTHS: [usize; 11] = [0, 1, 2, 15, 17, 31, 33, 255, 257, 300, 1000];

/// A small seeded generator so failures reproduce.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = crate::common::Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..n).map(|_| ((rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2).collect()
}

/// Equal bits, or both NaN (wasm does not fix NaN payloads).
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// `s.quantize`, or `None` after checking a refusal the scheme is allowed.
fn quantize(s: &dyn Scheme, v: &[f32], shape: &[usize], what: &str) -> Option<schemes::Quantized> {
    let id = s.id();
    match s.quantize(v, shape) {
        Ok(q) => Some(q),
        Err(e) if schemes::requires_importance(id) => {
            assert!(e.to_string().contains("needs an importance matrix"), "{id} {what}: {e}");
            None
        }
        Err(e) if id.starts_with("iq") && !id.starts_with("iq4") && v.iter().any(|x| !x.is_finite()) => {
            assert!(e.to_string().contains("finite values only"), "{id} {what}: {e}");
            None
        }
        Err(e) => panic!("{id} {what}: quantize failed: {e}"),
    }
}

fn check_round_trip(s: &dyn Scheme, v: &[f32], shape: &[usize], what: &str) {
    let id = s.id();
    let Some(q) = quantize(s, v, shape, what) else { return };
    assert_eq!(q.dequantized.len(), v.len(), "{id} {what}: dequantized length");
    let back = s.dequantize(&q.packed, shape).unwrap_or_else(|e| panic!("{id} {what}: dequantize failed: {e}"));
    if let Some(i) = (0..v.len()).find(|&i| !same(back[i], q.dequantized[i])) {
        panic!("{id} {what}: element {i}: dequantize(packed) = {} but quantize gave {}", back[i], q.dequantized[i]);
    }
    assert!(q.levels_used <= q.levels_total, "{id} {what}: levels");
    let layout = schemes::packed_len(id, shape).unwrap_or_else(|e| panic!("{id} {what}: packed_len failed: {e}"));
    assert_eq!(layout, q.packed.len() as u64, "{id} {what}: packed_len disagrees with the bytes quantize wrote");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_scheme_round_trips_awkward_lengths() {
    for id in schemes::all_ids() {
        let s = schemes::by_id(&id).unwrap();
        assert_eq!(s.id(), id, "registry id");
        for n in LENGTHS {
            check_round_trip(s.as_ref(), &values(n, n as u64), &[n], &format!("length {n}"));
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_scheme_survives_special_values() {
    let cases: [(&str, Vec<f32>); 6] = [
        ("all zero", vec![0.0; 70]),
        ("constant", vec![0.3; 70]),
        ("negative zero", vec![-0.0; 40]),
        ("subnormals", (0..64).map(|i| f32::from_bits(i as u32 + 1) * if i % 2 == 0 { 1.0 } else { -1.0 }).collect()),
        ("all NaN", vec![f32::NAN; 64]),
        ("one huge outlier", {
            let mut v = values(256, 9);
            v[100] = 1e4;
            v
        }),
    ];
    for id in schemes::all_ids() {
        let s = schemes::by_id(&id).unwrap();
        for (what, v) in &cases {
            check_round_trip(s.as_ref(), v, &[v.len()], what);
            let Some(q) = quantize(s.as_ref(), v, &[v.len()], what) else { continue };
            if v.iter().all(|&x| x == 0.0) {
                assert!(q.dequantized.iter().all(|&y| y == 0.0), "{id} {what}: zeros must stay zero");
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn non_finite_values_do_not_poison_their_neighbours() {
    let clean = values(256, 3);
    let mut dirty = clean.clone();
    for (i, bad) in [(5, f32::NAN), (77, f32::INFINITY), (200, f32::NEG_INFINITY)] {
        dirty[i] = bad;
    }
    for id in schemes::all_ids() {
        let s = schemes::by_id(&id).unwrap();
        check_round_trip(s.as_ref(), &dirty, &[256], "with NaN/±Inf");
        let Some(q) = quantize(s.as_ref(), &dirty, &[256], "with NaN/±Inf") else { continue };
        // Every finite input still dequantizes to a finite value.
        for (i, (&x, &y)) in dirty.iter().zip(&q.dequantized).enumerate() {
            assert!(!x.is_finite() || y.is_finite(), "{id}: element {i} ({x}) dequantized to {y}");
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dequantize_rejects_packed_bytes_of_the_wrong_length() {
    for id in schemes::all_ids() {
        let s = schemes::by_id(&id).unwrap();
        let q = match quantize(s.as_ref(), &values(100, 1), &[100], "100 values") {
            Some(q) => q,
            None => schemes::quantize_with_importance(&id, &values(256, 1), &[256], &[1.0; 256]).unwrap(),
        };
        let shape = [q.dequantized.len()];
        let mut longer = q.packed.clone();
        longer.push(0);
        assert!(s.dequantize(&longer, &shape).is_err(), "{id}: one byte too many was accepted");
        if !q.packed.is_empty() {
            assert!(s.dequantize(&q.packed[..q.packed.len() - 1], &shape).is_err(), "{id}: one byte too few was accepted");
        }
    }
}

/// Issue 12, item 13: a calibrated id's description names its calibration (it used to be its
/// min-max base's, word for word), and the families group all 108 ids once each.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn calibrated_descriptions_name_their_calibration() {
    let described = |id: &str| schemes::by_id(id).unwrap().description();
    let cases = [
        ("int8_sym_p99.9", "99.9th percentile of |x|"),
        ("int8_asym_p99.9", "0.05th and 99.95th percentiles of x"),
        ("int4_sym_p99.99", "99.99th percentile of |x|"),
        ("int8_sym_mse", "MSE calibration"),
        ("int2_asym_channel_mse", "MSE calibration"),
        ("int8_sym_entropy", "entropy calibration"),
        ("int8_sym", "no calibration"),
    ];
    for (id, words) in cases {
        assert!(described(id).contains(words), "{id}: '{}' does not say '{words}'", described(id));
    }
    for id in schemes::all_ids().into_iter().filter(|id| schemes::is_calibrated(id)) {
        let base = id.rsplit_once('_').unwrap().0;
        assert_ne!(described(&id), described(base), "{id} is described as {base} is");
        assert!(described(&id).contains("calibration") && !described(&id).contains("no calibration"), "{id}: {}", described(&id));
    }
    let families = schemes::families();
    let grouped: Vec<String> = families.iter().flat_map(|f| f.ids.clone()).collect();
    assert_eq!(grouped, schemes::all_ids(), "the families list every id once, in registry order");
    assert_eq!(grouped.len(), 108);
    assert!(families.iter().all(|f| !f.ids.is_empty()));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn types_that_need_an_importance_matrix_round_trip_with_one() {
    for id in schemes::REQUIRES_IMPORTANCE_IDS {
        let s = schemes::by_id(id).unwrap();
        let v = values(768, 4);
        let q = schemes::quantize_with_importance(id, &v, &[3, 256], &[1.0; 256]).unwrap();
        assert_eq!(s.dequantize(&q.packed, &[3, 256]).unwrap(), q.dequantized, "{id}");
        assert_eq!(schemes::packed_len(id, &[3, 256]).unwrap(), q.packed.len() as u64, "{id}");
    }
}
