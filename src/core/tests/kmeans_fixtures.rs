//! The k-means weight-sharing schemes (src/core/src/schemes/kmeans/mod.rs) against
//! scripts/fixtures/make_kmeans.py: the packed bytes (f16 codebooks and b-bit codes) equal the
//! numpy port of the documented fit for every input and scheme, and that port equals
//! scikit-learn's Lloyd KMeans from the same initialisation wherever no cluster goes empty.

use crate::common::{f32s, hex_bytes, json};
use quantscope_core::schemes;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn packed_bytes_equal_the_reference_fit() {
    let doc = json(fixture_str!("kmeans/kmeans.json"));
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 88);
    let mut checked_by_sklearn = 0;
    for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        let values = f32s(&doc["inputs"][input]);
        let want = hex_bytes(case["packed"].as_str().unwrap());
        let s = schemes::by_id(id).unwrap();
        let q = s.quantize(&values, &[values.len()]).unwrap();
        if let Some(at) = q.packed.iter().zip(&want).position(|(a, b)| a != b) {
            panic!("{id} on {input}: byte {at} of {} is {:#04x}, the reference wrote {:#04x}", want.len(), q.packed[at], want[at]);
        }
        assert_eq!(q.packed.len(), want.len(), "{id} on {input}: length");
        checked_by_sklearn += (case["sklearn_agrees"] == true) as usize;
    }
    // The cross-check with an independent implementation covered real cases, not none.
    assert!(checked_by_sklearn >= 10, "{checked_by_sklearn}");
}

/// `dequantize` equals the layout's definition (the module doc: the f16 codebooks, then every
/// code LSB first; value i is its group's centroid `read_code(i)`) bit for bit on every id, at
/// lengths around the 16-code steps and the 128-value groups, on arbitrary bytes: the SIMD128
/// 2- and 4-bit kernel (`fast-kernels`) and the scalar loops alike.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dequantize_equals_the_layout_definition() {
    let mut rng = crate::common::Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut byte = move || (rng.next() >> 24) as u8;
    for id in schemes::kmeans::ids() {
        let bits: usize = id["kmeans".len()..].split('_').next().unwrap().parse().unwrap();
        let group = if id.ends_with("_g128") { 128 } else { usize::MAX };
        for n in [0usize, 1, 2, 15, 16, 17, 31, 33, 127, 128, 129, 255, 256, 300, 1000] {
            let len = schemes::packed_len(&id, &[n]).unwrap() as usize;
            let packed: Vec<u8> = (0..len).map(|_| byte()).collect();
            let got = schemes::by_id(&id).unwrap().dequantize(&packed, &[n]).unwrap();
            let groups = if n == 0 { 0 } else { n.div_ceil(group.min(n)) };
            let (books, stream) = packed.split_at(groups * (2 << bits));
            let want: Vec<f32> = (0..n)
                .map(|i| {
                    let code = (0..bits).fold(0, |c, b| c | ((((stream[(i * bits + b) / 8] >> ((i * bits + b) % 8)) & 1) as usize) << b));
                    let at = ((i / group.min(n)) << bits | code) * 2;
                    half::f16::from_le_bytes([books[at], books[at + 1]]).to_f32()
                })
                .collect();
            let bits_of = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits_of(&got), bits_of(&want), "{id}, n = {n}");
        }
    }
}
