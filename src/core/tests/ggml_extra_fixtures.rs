//! IQ4_NL, IQ4_XS, NVFP4, Q2_0, TQ2_0, TQ1_0 and Q1_0 against llama.cpp (fixtures from
//! scripts/fixtures/make_ggml_extra.py): packed bytes equal `ggml_quantize_chunk`'s byte for byte
//! (IQ4 also with an importance vector), and quantscope's dequantization of them hashes to the
//! same FNV-1a 64 as ggml's `dequantize_row_*` output.

use crate::common::{f32s, fnv1a64, hex_bytes, json};
use quantscope_core::schemes::ggml_extra::ExtraType;
use quantscope_core::schemes::{self, Scheme};

/// Panics naming the first differing block (and byte) of two packed tensors.
fn assert_same_blocks(got: &[u8], want: &[u8], block_bytes: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: packed length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        let b = at / block_bytes;
        let range = b * block_bytes..(b + 1) * block_bytes;
        panic!(
            "{what}: block {b} differs first at byte {} \n got  {:02x?}\n want {:02x?}",
            at % block_bytes,
            &got[range.clone()],
            &want[range]
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_type_matches_ggml_quantize_chunk_and_its_dequantizer() {
    let fixtures = json(fixture_str!("ggml_extra/ggml_extra.json"));
    let (inputs, weighted_inputs) = (&fixtures["inputs"], &fixtures["importance_inputs"]);
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 100, "fixture file looks truncated");
    let (mut plain, mut weighted) = (0, 0);
    for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        let what = format!("{id} on {input}");
        let kind = ExtraType::from_id(id).unwrap();
        let want_packed = hex_bytes(case["packed"].as_str().unwrap());
        let want_hash = case["dequantized_fnv1a64"].as_str().unwrap();

        let (values, shape, q) = if let Some(w) = weighted_inputs.get(input) {
            weighted += 1;
            let values = f32s(&w["values"]);
            let n_per_row = w["n_per_row"].as_u64().unwrap() as usize;
            let shape = [values.len() / n_per_row, n_per_row];
            let q = kind.quantize_with_importance(&values, &shape, &f32s(&w["importance"])).unwrap();
            (values, shape.to_vec(), q)
        } else {
            plain += 1;
            let values = f32s(&inputs[input]["values"]);
            let shape = vec![values.len()];
            let q = schemes::by_id(id).unwrap().quantize(&values, &shape).unwrap();
            (values, shape, q)
        };
        assert_same_blocks(&q.packed, &want_packed, kind.block_bytes(), &format!("{what}: packed vs llama.cpp"));
        let deq = kind.dequantize(&want_packed, &shape).unwrap();
        assert_eq!(deq.len(), values.len());
        assert_eq!(format!("{:016x}", fnv1a64(&deq)), want_hash, "{what}: dequantize(llama.cpp bytes) vs dequantize_row");
        assert_eq!(crate::common::bits(&q.dequantized), crate::common::bits(&deq), "{what}: quantize's own dequantized copy");
    }
    assert_eq!((plain, weighted), (105, 6), "every type on every input, IQ4 with importance");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn awkward_lengths_pad_and_round_trip() {
    let mut r = crate::common::Xorshift(0x5EED_E47A);
    for kind in ExtraType::ALL {
        for n in [0usize, 1, 15, 17, 31, 33, 63, 65, 127, 129, 255, 257, 513] {
            let values: Vec<f32> = (0..n).map(|_| (r.next() % 2001) as f32 / 1000.0 - 1.0).collect();
            let q = kind.quantize(&values, &[n]).unwrap();
            let blocks = n.div_ceil(kind.block());
            assert_eq!(q.packed.len(), blocks * kind.block_bytes(), "{} n={n}", kind.id());
            assert_eq!(schemes::packed_len(kind.id(), &[n]).unwrap(), q.packed.len() as u64);
            // The last block is quantized as if zero-padded.
            let mut padded = values.clone();
            padded.resize(blocks * kind.block(), 0.0);
            let qp = kind.quantize(&padded, &[padded.len()]).unwrap();
            assert_same_blocks(&q.packed, &qp.packed, kind.block_bytes(), &format!("{} n={n} vs zero-padded", kind.id()));
            assert_eq!(crate::common::bits(&q.dequantized), crate::common::bits(&qp.dequantized[..n]), "{} n={n}", kind.id());
        }
    }
}

/// The dequantize dispatch of Q1_0, IQ4_NL, IQ4_XS, NVFP4, Q2_0, TQ2_0 and TQ1_0 (their SIMD128 kernels with
/// `fast-kernels`) equals the block-at-a-time ports of `dequantize_row_*` on arbitrary bytes:
/// every bit pattern, and f16 scales that are NaN, ±Inf, subnormal or ±0 (NVFP4's UE4M3 scales
/// are every byte at random).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn table_dequantize_kernels_equal_the_block_references() {
    use quantscope_core::ggml_dequant::{blocks, iquants};
    let mut rng = crate::common::Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut next = move || rng.next() as u8;
    let scales: [[u8; 2]; 6] = [[0x00, 0x7e], [0x00, 0x7c], [0x00, 0xfc], [0x01, 0x00], [0x00, 0x80], [0x55, 0x3c]];
    let types: [(ExtraType, quantscope_core::ggml_dequant::BlockDequantizer); 7] = [
        (ExtraType::Q1_0, blocks::q1_0),
        (ExtraType::Iq4Nl, iquants::iq4_nl),
        (ExtraType::Iq4Xs, iquants::iq4_xs),
        (ExtraType::Nvfp4, blocks::nvfp4),
        (ExtraType::Q2_0, blocks::q2_0),
        (ExtraType::Tq2_0, blocks::tq2_0),
        (ExtraType::Tq1_0, blocks::tq1_0),
    ];
    for (t, reference) in types {
        let (bb, block) = (t.block_bytes(), t.block());
        for blocks in [0usize, 1, 2, 5] {
            for trial in 0..8 {
                let mut packed: Vec<u8> = (0..bb * blocks).map(|_| next()).collect();
                for (b, bytes) in packed.chunks_exact_mut(bb).enumerate() {
                    if trial % 2 == 0 && t != ExtraType::Nvfp4 {
                        // TQ2_0's and TQ1_0's f16 comes after their codes.
                        let at = match t {
                            ExtraType::Tq2_0 => 64,
                            ExtraType::Tq1_0 => 52,
                            _ => 0,
                        };
                        bytes[at..at + 2].copy_from_slice(&scales[(b + trial) % scales.len()]);
                    }
                }
                let mut got = vec![0f32; block * blocks];
                t.dequantize_blocks(&packed, &mut got);
                let mut want = vec![0f32; block * blocks];
                for (b, y) in packed.chunks_exact(bb).zip(want.chunks_exact_mut(block)) {
                    reference(b, y);
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{}: {blocks} blocks, trial {trial}", t.id());
            }
        }
    }
}
