//! The grid block decoder and the with-and-without-imatrix comparison (src/learn/src/iq_blocks.rs):
//!
//! 1. every decoded value of every grid type's block, from its written-out scale, grid point and
//!    signs (or delta), equals core's dequantizer (`ggml_dequant::iquants`, itself held to
//!    llama.cpp) bit for bit, and the bytes the view names are the whole tensor's;
//! 2. a block quantized alone is the whole tensor's block, with and without importance;
//! 3. the comparison's bytes with an imatrix are `ggml_quantize_chunk`'s (the fixtures of
//!    scripts/fixtures/make_imatrix_quants.py), and without one the plain quantizer's (the same
//!    fixtures where they have it); its errors are the block's;
//! 4. bad input: the wrong number of importance weights, a type that needs an imatrix without
//!    one, an element outside the values.

use crate::common::{f32s, hex_bytes, json};
use quantscope_core::ggml_dequant::grids::ksigns_iq2xs;
use quantscope_core::schemes;
use quantscope_core::Tensor;
use quantscope_learn::granularity::{block_view, decode_block};
use quantscope_learn::iq_blocks::{grid_block_decode, quantize_block_of, GridBlock, Window, GRID_IDS};

fn block_bytes(id: &str) -> usize {
    quantscope_core::ggml_types::by_name(id).unwrap().bytes as usize
}

/// Three rows of 512 with outliers, and weights that single out some columns.
fn tensor() -> (Vec<f32>, Vec<f32>) {
    let x = (0..3 * 512).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013 + if i % 97 == 5 { 1.9 } else { 0.0 }).collect();
    let w = (0..512).map(|c| if c % 17 == 3 { 40.0 } else { 0.2 + (c % 7) as f32 * 0.1 }).collect();
    (x, w)
}

fn window(x: &[f32], row_length: usize) -> Window<'_> {
    Window { values: x, first: 0, total: x.len(), row_length }
}

/// What the page shows of a grid block: the block quantized (with `importance` or without),
/// then decoded field by field.
fn grid_block_view(id: &str, w: &Window, element: usize, importance: Option<&[f32]>) -> quantscope_core::Result<GridBlock> {
    let q = quantize_block_of(id, w, element, importance, None)?;
    grid_block_decode(id, &q.packed, q.originals.len(), q.block as usize)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn grid_blocks_decode_as_core_dequantizes_them() {
    let (x, w) = tensor();
    for id in GRID_IDS {
        let bb = block_bytes(id);
        let whole = schemes::quantize_with_importance(id, &x, &[3, 512], &w).unwrap();
        let plain = (!schemes::requires_importance(id)).then(|| schemes::by_id(id).unwrap().quantize(&x, &[3 * 512]).unwrap());
        for element in [0, 300, 1000, 3 * 512 - 1] {
            let block = element / 256;
            for (importance, q) in [(Some(&w[..]), &whole), (None, plain.as_ref().unwrap_or(&whole))] {
                if importance.is_none() && plain.is_none() {
                    let e = grid_block_view(id, &window(&x, 512), element, None).unwrap_err().to_string();
                    assert!(e.contains("needs an importance matrix") && e.contains("ggml_quantize_requires_imatrix"), "{id}: {e}");
                    continue;
                }
                let g = grid_block_view(id, &window(&x, 512), element, importance).unwrap();
                let at = |v: u32| v as usize;
                assert_eq!((at(g.block), at(g.block_offset), at(g.block_len), at(g.first_element)), (block, block * bb, bb, block * 256));
                // Every field's bytes are the whole tensor's, and together they are the block.
                for f in &g.fields {
                    assert_eq!(f.bytes, q.packed[at(f.offset)..at(f.offset) + f.bytes.len()], "{id} field {}", f.name);
                }
                assert_eq!(g.fields.iter().map(|f| f.bytes.len()).sum::<usize>(), bb, "{id}");
                assert_eq!(g.elements_in_block, 256);
                // d as the dequantizer reads it (IQ1_M: from the scales' top nibbles).
                assert_eq!(g.d as f64, q.params[0].values[block], "{id}: d");
                // The groups cover the block, and each value from them (in the C code's order) is
                // the dequantizer's.
                assert_eq!(g.groups.iter().map(|gr| gr.len).sum::<u32>(), 256, "{id}");
                for gr in &g.groups {
                    for k in 0..gr.len as usize {
                        let y = match gr.delta {
                            Some(delta) => gr.scale * (gr.point[k] as f32 + delta),
                            None => gr.scale * gr.point[k] as f32 * gr.signs[k] as f32,
                        };
                        let i = block * 256 + gr.position as usize + k;
                        assert_eq!(y.to_bits(), q.dequantized[i].to_bits(), "{id} value {i} (group at {})", gr.position);
                        assert_eq!(gr.values[k].to_bits(), q.dequantized[i].to_bits(), "{id} value {i}: as sent");
                    }
                    // Where the index's bits are: its low 8 bits are the byte named.
                    assert_eq!(gr.index & 0xff, q.packed[block * bb + gr.index_byte as usize] as u32, "{id} group at {}", gr.position);
                    if let Some(k) = gr.sign_index {
                        // 7 stored bits name a sign byte of even parity (an even count of minus signs).
                        let bits = ksigns_iq2xs()[k as usize];
                        assert_eq!(bits.count_ones() % 2, 0, "{id}: ksigns_iq2xs[{k}]");
                        assert_eq!(bits & 0x7f, k as u8, "{id}: the 7 stored bits are the index");
                    }
                    if let (None, Some(at)) = (gr.sign_index, gr.sign_byte) {
                        // 8 stored sign bits: the group's are its byte's bits from sign_bit.
                        let byte = q.packed[block * bb + at as usize];
                        let want: Vec<i32> = (0..gr.len).map(|j| if byte >> (gr.sign_bit + j) & 1 == 1 { -1 } else { 1 }).collect();
                        assert_eq!(gr.signs, want, "{id} group at {}", gr.position);
                    }
                    assert_eq!(gr.signs.is_empty(), id.starts_with("iq1"), "{id}: IQ1 has no signs");
                    assert_eq!(gr.delta.is_some(), id.starts_with("iq1"), "{id}: IQ1 has a delta");
                }
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_window_of_the_block_gives_the_whole_tensors_block() {
    // The page sends the 256 values around the element, not the tensor.
    let (x, w) = tensor();
    for id in ["iq3_s", "iq1_s", "q4_k"] {
        let whole = schemes::quantize_with_importance(id, &x, &[3, 512], &w).unwrap();
        let part = Window { values: &x[768..1024], first: 768, total: x.len(), row_length: 512 };
        let c = quantize_block_of(id, &part, 800, Some(&w), Some(&w)).unwrap();
        let bb = block_bytes(id);
        assert_eq!(c.packed, whole.packed[3 * bb..4 * bb], "{id}");
        assert_eq!(c.weights, w[256..512], "{id}: the block's columns");
        assert_eq!((c.block, c.first_element), (3, 768));
    }
    // A window that cuts the block is refused, not quantized short.
    let cut = Window { values: &x[800..1024], first: 800, total: x.len(), row_length: 512 };
    assert!(quantize_block_of("q4_k", &cut, 900, None, None).unwrap_err().to_string().contains("do not hold all of block 3"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn with_and_without_match_ggml_quantize_chunk() {
    let fixtures = json(fixture_str!("imatrix_quants/imatrix_quants.json"));
    let cases = fixtures["cases"].as_array().unwrap();
    let plain_of = |id: &str, input: &str| {
        cases
            .iter()
            .find(|c| c["scheme"] == id && c["input"] == input && c["plain"].as_bool() == Some(true))
            .map(|c| hex_bytes(c["packed"].as_str().unwrap()))
    };
    let mut checked = 0;
    for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        if case["plain"].as_bool() == Some(true) || case["aborts"].as_bool() == Some(true) || id.ends_with("_0") || id.ends_with("_1") {
            continue;
        }
        let inp = &fixtures["inputs"][input];
        let (values, importance) = (f32s(&inp["values"]), f32s(&inp["importance"]));
        let n_per_row = inp["n_per_row"].as_u64().unwrap() as usize;
        let want = hex_bytes(case["packed"].as_str().unwrap());
        let plain = plain_of(id, input);
        let bb = block_bytes(id);
        for element in [0, values.len() - 1] {
            // The page's two sides: without and with the imatrix, both measured with it.
            let w = window(&values, n_per_row);
            let with = quantize_block_of(id, &w, element, Some(&importance), Some(&importance)).unwrap();
            let without = quantize_block_of(id, &w, element, None, Some(&importance));
            let b = with.block as usize;
            assert_eq!(with.packed, want[b * bb..(b + 1) * bb], "{id} on {input}, block {b}: with the imatrix");
            let deq = schemes::by_id(id).unwrap().dequantize(&want, &[values.len()]).unwrap();
            assert_eq!(with.decoded, deq[b * 256..(b + 1) * 256], "{id} on {input}: decoded");
            match (&without, &plain) {
                (Ok(o), Some(p)) => assert_eq!(o.packed, p[b * bb..(b + 1) * bb], "{id} on {input}, block {b}: without"),
                (Ok(o), None) => {
                    // No fixture without an imatrix (the K-quants'): core's plain quantizer, held to
                    // llama.cpp by src/core/tests/kquants_fixtures.rs.
                    let q = schemes::by_id(id).unwrap().quantize(&values, &[values.len()]).unwrap();
                    assert_eq!(o.packed, q.packed[b * bb..(b + 1) * bb], "{id} on {input}: without");
                }
                (Err(e), _) => {
                    assert!(schemes::requires_importance(id), "{id}: {e}");
                    assert!(e.to_string().contains("needs an importance matrix"), "{e}");
                }
            }
            // Each side's bytes decode, field by field, to its values: the block view of the type.
            for side in without.iter().chain([&with]) {
                if GRID_IDS.contains(&id) {
                    let grid = grid_block_decode(id, &side.packed, side.originals.len(), b).unwrap();
                    let values: Vec<u32> = grid.groups.iter().flat_map(|g| g.values.iter().map(|v| v.to_bits())).collect();
                    assert_eq!(values, side.decoded.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{id} on {input}: the groups' values");
                    assert_eq!((grid.block as usize, grid.first_element as usize, grid.block_offset as usize), (b, b * 256, b * bb));
                } else {
                    let shown = decode_block(id, &side.packed, &side.originals, b).unwrap();
                    assert_eq!((shown.block, shown.first_element, shown.block_offset), (b, b * 256, Some(b * bb)));
                    for e in &shown.elements {
                        assert_eq!(e.decoded.to_bits(), side.decoded[e.index - b * 256].to_bits(), "{id} on {input}: element {}", e.index);
                    }
                }
                // The errors are the block's, plain and weighted by its columns' weights.
                let x = &values[b * 256..(b + 1) * 256];
                let wt = &importance[(b * 256) % n_per_row..][..256];
                let (mut sse, mut wsse) = (0.0f64, 0.0f64);
                for k in 0..256 {
                    let e = (x[k] as f64 - side.decoded[k] as f64).powi(2);
                    sse += e;
                    wsse += wt[k] as f64 * e;
                }
                assert_eq!((side.sse, side.weighted_sse), (sse, Some(wsse)), "{id} on {input}");
                assert_eq!(side.weights, wt, "{id} on {input}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 2 * 5 * 8 + 2 * 7 * 8, "{checked} blocks checked");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_block_decoded_alone_is_the_whole_tensors_block_view() {
    // decode_block (one block's bytes) against block_view (the whole tensor quantized): the
    // same fields, offsets and elements, for every type it opens, on a short last block too.
    let x: Vec<f32> = (0..700).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.011 + if i % 50 == 3 { -1.7 } else { 0.0 }).collect();
    let t = Tensor::new("t", vec![700], "float32", x.clone());
    for id in ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs", "nvfp4", "tq1_0", "tq2_0", "q1_0", "q2_0"] {
        let q = schemes::by_id(id).unwrap().quantize(&x, &[700]).unwrap();
        for element in [0, 300, 699] {
            let whole = block_view(&t, id, element).unwrap();
            let (n, bb, b) = (whole.elements_in_block, whole.block_len.unwrap(), whole.block);
            let alone = decode_block(id, &q.packed[b * bb..(b + 1) * bb], &x[whole.first_element..whole.first_element + n], b).unwrap();
            assert_eq!(serde_json::to_value(&alone).unwrap(), serde_json::to_value(&whole).unwrap(), "{id} element {element}");
        }
    }
    assert!(decode_block("q4_k", &[0; 10], &x[..256], 0).unwrap_err().to_string().contains("144 bytes"));
    assert!(decode_block("int8_sym", &[0; 10], &x[..256], 0).is_err());
    assert!(grid_block_decode("iq3_s", &[0; 109], 256, 0).unwrap_err().to_string().contains("110 bytes"));
    assert!(grid_block_decode("iq3_s", &[0; 110], 257, 0).unwrap_err().to_string().contains("257"));
    assert!(grid_block_decode("q4_k", &[0; 144], 256, 0).unwrap_err().to_string().contains("not 'q4_k'"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_input_is_refused_with_a_reason() {
    let (x, w) = tensor();
    let e = quantize_block_of("iq3_s", &window(&x, 512), 0, Some(&w[..256]), None).unwrap_err().to_string();
    assert_eq!(e, "invalid argument: the importance vector has 256 weights but rows have 512 values");
    let e = quantize_block_of("iq3_s", &window(&x, 512), 0, None, Some(&w[..256])).unwrap_err().to_string();
    assert_eq!(e, "invalid argument: the importance vector has 256 weights but rows have 512 values");
    let e = grid_block_view("iq2_s", &window(&x, 512), 0, Some(&w[..100])).unwrap_err().to_string();
    assert!(e.contains("100 weights"), "{e}");
    assert!(grid_block_view("iq2_s", &window(&x, 512), 5000, None)
        .unwrap_err()
        .to_string()
        .contains("element 5000 is not among the values given (0..1536 of 1536 in rows of 512)"));
    assert!(quantize_block_of("q8_0", &window(&x, 512), 0, Some(&w), None).unwrap_err().to_string().contains("not 'q8_0'"));
    // Rows that are not whole super-blocks cannot take an importance vector (as llama.cpp asserts).
    let odd: Vec<f32> = x[..3 * 320].to_vec();
    let e = quantize_block_of("iq3_xxs", &window(&odd, 320), 0, Some(&w[..320]), None).unwrap_err().to_string();
    assert!(e.contains("rows of 320 values are not a whole number of 256-value blocks"), "{e}");
    // iq4_nl's blocks are 32: a 320-value row is fine.
    let c = quantize_block_of("iq4_nl", &window(&odd, 320), 40, Some(&w[..320]), Some(&w[..320])).unwrap();
    assert_eq!((c.block, c.first_element, c.packed.len()), (1, 32, 18));
    // Measured across a row's end: each value weighs its own column's weight.
    let c = quantize_block_of("q4_k", &window(&odd, 320), 300, None, Some(&w[..320])).unwrap();
    assert_eq!(c.weights[..64], w[256..320]);
    assert_eq!(c.weights[64..], w[..192]);
}
