//! Quantizing with an importance matrix against llama.cpp (fixtures from
//! scripts/fixtures/make_imatrix_quants.py): Q2_K … Q6_K, Q4_0, Q4_1, Q5_0, Q5_1 and the IQ grid
//! types (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) through
//! `schemes::quantize_with_importance` pack to `ggml_quantize_chunk(type, …, imatrix)`'s bytes
//! byte for byte, on inputs with zero weights, zero rows, outliers, spread magnitudes and ties;
//! the IQ types that need no imatrix also without one (the plain scheme); the decoding of those
//! bytes hashes as ggml's `dequantize_row_*` output does.

use crate::common::{f32s, fnv1a64, hex_bytes, json};
use quantscope_core::schemes;

fn block_bytes(id: &str) -> usize {
    match id {
        "q4_0" => 18,
        "q4_1" => 20,
        "q5_0" => 22,
        "q5_1" => 24,
        "q2_k" => 84,
        "q3_k" => 110,
        "q4_k" => 144,
        "q5_k" => 176,
        "q6_k" => 210,
        "iq2_xxs" => 66,
        "iq2_xs" => 74,
        "iq2_s" => 82,
        "iq3_xxs" => 98,
        "iq3_s" => 110,
        "iq1_s" => 50,
        "iq1_m" => 56,
        other => panic!("no block size for {other}"),
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn weighted_quantizers_match_ggml_quantize_chunk_with_an_imatrix() {
    let fixtures = json(fixture_str!("imatrix_quants/imatrix_quants.json"));
    let inputs = &fixtures["inputs"];
    let cases = fixtures["cases"].as_array().unwrap();
    let (mut per_type, mut aborts) = (std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
    for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        let plain = case["plain"].as_bool() == Some(true);
        let what = format!("{id} on {input}{}", if plain { " without an imatrix" } else { "" });
        let inp = &inputs[input];
        let values = f32s(&inp["values"]);
        let n_per_row = inp["n_per_row"].as_u64().unwrap() as usize;
        let shape = [values.len() / n_per_row, n_per_row];
        let importance = f32s(&inp["importance"]);
        if case["aborts"].as_bool() == Some(true) {
            // ggml_quantize_chunk aborts the process (GGML_ASSERT) here: quantscope says so.
            let e = schemes::quantize_with_importance(id, &values, &shape, &importance).unwrap_err().to_string();
            assert!(e.contains("llama.cpp cannot quantize super-block 0"), "{what}: {e}");
            *aborts.entry(id.to_string()).or_insert(0) += 1;
            continue;
        }
        let q = if plain {
            schemes::by_id(id).unwrap().quantize(&values, &shape).unwrap()
        } else {
            schemes::quantize_with_importance(id, &values, &shape, &importance).unwrap()
        };
        let want = hex_bytes(case["packed"].as_str().unwrap());
        assert_eq!(q.packed.len(), want.len(), "{what}: packed length");
        if let Some(at) = q.packed.iter().zip(&want).position(|(a, b)| a != b) {
            let bb = block_bytes(id);
            let b = at / bb;
            panic!(
                "{what}: block {b} differs first at byte {}\n got  {:02x?}\n want {:02x?}",
                at % bb,
                &q.packed[b * bb..][..bb],
                &want[b * bb..][..bb]
            );
        }
        let deq = schemes::by_id(id).unwrap().dequantize(&want, &shape).unwrap();
        assert_eq!(
            format!("{:016x}", fnv1a64(&deq)),
            case["dequantized_fnv1a64"].as_str().unwrap(),
            "{what}: dequantize vs dequantize_row"
        );
        assert_eq!(crate::common::bits(&q.dequantized), crate::common::bits(&deq), "{what}: quantize's own dequantized copy");
        *per_type.entry(id.to_string()).or_insert(0) += 1;
    }
    // Values near f32's top: IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S abort in llama.cpp; the others write.
    let aborted: Vec<&str> = aborts.keys().map(String::as_str).collect();
    assert_eq!(aborted, ["iq2_s", "iq2_xs", "iq3_s", "iq3_xxs"]);
    // 8 inputs of whole super-blocks for every type, plus rows of 96 for the 4 legacy types; the
    // IQ types that take no imatrix each input twice (with and without); IQ2_XXS, IQ1_S and IQ1_M
    // also the huge values.
    let counts: Vec<(String, i32)> = per_type.into_iter().collect();
    let mut ids = ["q2_k", "q3_k", "q4_0", "q4_1", "q4_k", "q5_0", "q5_1", "q5_k", "q6_k"].to_vec();
    ids.extend(["iq1_m", "iq1_s", "iq2_s", "iq2_xs", "iq2_xxs", "iq3_s", "iq3_xxs"]);
    ids.sort_unstable();
    let want: Vec<(String, i32)> = ids
        .iter()
        .map(|id| {
            let n = match *id {
                "iq1_m" => 17,
                "iq2_s" | "iq3_xxs" | "iq3_s" => 16,
                "iq2_xxs" | "iq1_s" => 9,
                id if id.starts_with("iq") || id.ends_with("_k") => 8,
                _ => 9,
            };
            (id.to_string(), n)
        })
        .collect();
    assert_eq!(counts, want);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn weighted_error_is_lower_where_the_weights_are() {
    // Quantizing with weights that favour the first half of the columns lowers the error there
    // (measured by the importance-weighted MSE) against the plain quantizer.
    let mut r = crate::common::Xorshift(0x1A7_81C5);
    let values: Vec<f32> = (0..16 * 512).map(|_| (r.next() % 20001) as f32 / 10000.0 - 1.0).collect();
    let importance: Vec<f32> = (0..512).map(|j| if j < 256 { 10.0 } else { 0.01 }).collect();
    for id in ["q2_k", "q3_k", "q4_k", "q4_0", "q4_1", "q5_0", "iq3_s", "iq3_xxs", "iq2_s", "iq1_m"] {
        let plain = schemes::by_id(id).unwrap().quantize(&values, &[16, 512]).unwrap();
        let weighted = schemes::quantize_with_importance(id, &values, &[16, 512], &importance).unwrap();
        let e_plain = schemes::weighted_mse(&values, &plain.dequantized, &importance).unwrap();
        let e_weighted = schemes::weighted_mse(&values, &weighted.dequantized, &importance).unwrap();
        assert!(e_weighted < e_plain, "{id}: weighted {e_weighted} vs plain {e_plain}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn non_finite_values_follow_the_rules_or_are_refused() {
    let mut values: Vec<f32> = (0..512).map(|i| ((i * 29 % 97) as f32 - 48.0) / 20.0).collect();
    values[3] = f32::NAN;
    values[300] = f32::INFINITY;
    let w = vec![1.0f32; 256];
    // K-quants: the plain path's rules (NaN as 0, +Inf the top of its sub-block).
    let q = schemes::quantize_with_importance("q4_k", &values, &[2, 256], &w).unwrap();
    assert!(q.dequantized.iter().all(|v| v.is_finite()));
    let top = q.dequantized[288..320].iter().copied().fold(f32::MIN, f32::max);
    assert_eq!(q.dequantized[300], top);
    // Legacy types: refused, naming the value.
    let e = schemes::quantize_with_importance("q4_0", &values, &[2, 256], &w).unwrap_err().to_string();
    assert!(e.contains("value 3 is NaN"), "{e}");
}
