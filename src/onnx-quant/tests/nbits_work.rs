//! `NBitsWork` cut into weight jobs, as the page's pool of workers runs it (www/run/pool.js):
//! every weight-only variant of the ONNX Runtime fixtures (tests/fixtures/onnx_nbits: MatMulNBits
//! 2/4/8 bits, blocked int4 QDQ, FLOAT16 B, squeezed B, Gather tables, and HQQ), its jobs
//! encoded in reverse and in a shuffled order, each encoding carried as the bytes a pool worker
//! posts back, writes the very file `quantize_nbits` writes (which the ort_nbits tests hold to
//! ONNX Runtime's). Damaged or missing encodings are refused with the reason. Native only.
#![cfg(not(target_arch = "wasm32"))]

use crate::ort_nbits::{listing, options, root};
use quantscope_onnx_quant::nbits::{quantize_nbits, NBitsAlgorithm, NBitsOptions, NBitsWork};
use quantscope_onnx_quant::work::Encoded;

/// Every (model, options) the fixtures quantize, HQQ's among them.
fn variants() -> Vec<(String, Vec<u8>, NBitsOptions)> {
    let mut out = Vec::new();
    for (case, entry) in listing()["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(format!("{case}.onnx"))).unwrap();
        for (variant, o) in entry["variants"].as_object().unwrap() {
            out.push((format!("{case}.{variant}"), source.clone(), options(o)));
        }
        for (bits, block) in [(4, 32), (2, 16)] {
            let hqq = NBitsOptions { bits, block_size: block, algorithm: NBitsAlgorithm::Hqq, ..NBitsOptions::default() };
            if NBitsWork::plan(&source, &hqq).is_ok() {
                out.push((format!("{case}.hqq_{bits}bit_b{block}"), source.clone(), hqq));
            }
        }
    }
    out
}

/// The file from the jobs encoded in `order` (job numbers), each encoding passed through the
/// bytes a pool worker answers with.
fn out_of_order(source: &[u8], o: &NBitsOptions, order: impl Fn(usize) -> Vec<usize>) -> Vec<u8> {
    let mut work = NBitsWork::plan(source, o).unwrap();
    let jobs = work.take_jobs();
    let mut encoded: Vec<Option<Encoded>> = vec![None; jobs.len()];
    let order = order(jobs.len());
    assert_eq!(order.len(), jobs.len());
    for i in order {
        let bytes = jobs[i].encode(o).unwrap().to_bytes();
        encoded[i] = Some(Encoded::from_bytes(&bytes).unwrap());
    }
    work.finish(encoded.into_iter().map(Option::unwrap).collect()).unwrap().0
}

/// A seeded permutation of 0..n (xorshift; Fisher–Yates).
fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}

#[test]
fn weights_encoded_in_any_order_write_the_same_file() {
    let mut compared = 0;
    let mut several = 0;
    for (what, source, o) in variants() {
        let whole = quantize_nbits(&source, &o).unwrap_or_else(|e| panic!("{what}: {e}")).0;
        let jobs = NBitsWork::plan(&source, &o).unwrap().jobs().len();
        several += usize::from(jobs > 1);
        let reversed = out_of_order(&source, &o, |n| (0..n).rev().collect());
        assert!(reversed == whole, "{what}: the jobs encoded in reverse write another file");
        for seed in [1, 0x9e37_79b9_7f4a_7c15] {
            let file = out_of_order(&source, &o, |n| shuffled(n, seed));
            assert!(file == whole, "{what}: the jobs encoded in order {:?} write another file", shuffled(jobs, seed));
        }
        compared += 1;
    }
    // the fixtures' variants, the HQQ ones too; most models have several weights to reorder
    assert!(compared >= 85, "only {compared} variants"); // 73 fixture files and 15 HQQ variants today
    assert!(several * 2 > compared, "only {several} of {compared} variants have more than one weight");
}

#[test]
fn a_damaged_or_missing_encoding_is_refused_with_the_reason() {
    let source = std::fs::read(root().join("mnist.onnx")).unwrap();
    let o = NBitsOptions { block_size: 32, ..NBitsOptions::default() };
    let plan = || {
        let mut work = NBitsWork::plan(&source, &o).unwrap();
        let encoded: Vec<Encoded> = work.take_jobs().iter().map(|j| j.encode(&o).unwrap()).collect();
        (work, encoded)
    };
    // one encoding short
    let (work, mut encoded) = plan();
    encoded.pop();
    let err = work.finish(encoded).unwrap_err().to_string();
    assert!(err.contains("2 encoded weights for the 3 the model quantizes"), "{err}");
    // the scales of another weight (a MatMul of another size)
    let (work, mut encoded) = plan();
    encoded.swap(0, 2);
    let err = work.finish(encoded).unwrap_err().to_string();
    assert!(err.contains("was encoded to") && err.contains("bytes, not"), "{err}");
    // the zero points missing (a symmetric encoding for an asymmetric file)
    let (work, mut encoded) = plan();
    encoded[1].parts.pop();
    let err = work.finish(encoded).unwrap_err().to_string();
    assert!(err.contains("its encoding has no part for") && err.contains("_zero_points"), "{err}");
    // one part too many
    let (work, mut encoded) = plan();
    encoded[0].parts.push(vec![0]);
    let err = work.finish(encoded).unwrap_err().to_string();
    assert!(err.contains("more parts than the file takes"), "{err}");
}
