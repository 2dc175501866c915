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
