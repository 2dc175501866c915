//! A prompt evaluated in one call (its tokens through each matrix together: `Matrix::matmul`,
//! `Session::steps`; and `Session::eval_last`, only its last logits) against the same tokens one
//! call each: the logits must be
//! the same bits, for F32, Q8_0 and the K-quant mixes' files (every matrix kernel the tiny model's
//! exports reach, among them Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and the legacy types).

use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::activations::LayerMatrix;
use quantscope_llm::weights::Matrix;
use quantscope_llm::{kernels, kquants, legacy, q8_0, Model};
use std::rc::Rc;

fn heldout_ids() -> Vec<u32> {
    let t = quantscope_formats::npy::parse("x.npy", fixture_bytes!("tiny_lm/heldout.ids.npy")).unwrap();
    t.data.iter().map(|&v| v as u32).collect()
}

/// The tiny model exported as `ftype` by quantscope's GGUF writer.
fn exported(ftype: &str) -> Model {
    let f32_file = lazy::open("tiny-lm-f32.gguf", Rc::new(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec())).unwrap();
    let mut out = Vec::new();
    gguf_writer::write_mix(&f32_file, FileType::from_name(ftype).unwrap(), &MixOptions::default(), &mut out, |_, _| {}).unwrap();
    Model::from_gguf(out).unwrap()
}

/// y = W x as the forward pass multiplied before `Matrix::matmul`: the kernel over the whole
/// matrix, for one token.
fn whole_matrix_matvec(m: &Matrix, x: &[f32], y: &mut [f32]) {
    match m {
        Matrix::F32 { w, .. } => kernels::f32_matvec(w, x, y),
        Matrix::Dequantized { act, w, .. } => kernels::f32_matvec(w, &act.round(x), y),
        Matrix::Q8_0 { blocks, .. } | Matrix::Q4_0 { blocks, .. } | Matrix::Q5_0 { blocks, .. } | Matrix::Iq4Nl { blocks, .. } => {
            kernels::q8_0_matvec(blocks, &q8_0::quantize_activations(x), y)
        }
        Matrix::Iq4Xs { blocks, .. } => kernels::iq4_xs_matvec(blocks, &kquants::quantize_activations(x), y),
        Matrix::Q8Min { blocks, .. } => {
            let (xq, s) = legacy::quantize_activations_q8_1(x);
            kernels::q8_1_matvec(blocks, &xq, &s, y)
        }
        Matrix::Q2K { blocks, .. } => kernels::q2_k_matvec(blocks, &kquants::quantize_activations(x), y),
        Matrix::Q3K { blocks, .. } => kernels::q3_k_matvec(blocks, &kquants::quantize_activations(x), y),
        Matrix::Q4K { blocks, .. } => kernels::q4_k_matvec(blocks, &kquants::quantize_activations(x), y),
        Matrix::Q5K { blocks, .. } => kernels::q5_k_matvec(blocks, &kquants::quantize_activations(x), y),
        Matrix::Q6K { blocks, .. } => kernels::q6_k_matvec(blocks, &kquants::quantize_activations(x), y),
    }
}

/// Every layer matrix times 11 tokens' inputs (values of a few magnitudes, as activations have)
/// in one `matmul`, against the whole-matrix kernel token by token.
fn check_matmul(name: &str, model: &Model) {
    for l in 0..model.config.n_layer {
        for lm in LayerMatrix::ALL {
            let m = model.layer_matrix(l, lm);
            let (rows, cols) = (m.rows(), m.cols());
            let xs: Vec<f32> = (0..11 * cols).map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 0.01 * (1 + i % 5) as f32).collect();
            let mut ys = vec![0f32; 11 * rows];
            m.matmul(&xs, &mut ys);
            let mut y = vec![0f32; rows];
            for (t, (x, got)) in xs.chunks(cols).zip(ys.chunks(rows)).enumerate() {
                whole_matrix_matvec(m, x, &mut y);
                let same = y.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{name}: layer {l} {lm:?} ({}) token {t}: matmul differs from the whole-matrix kernel", m.type_name());
            }
        }
    }
}

/// 3 tokens one by one, then 53 in one call (three blocks and a part one, after cached
/// positions), against all 56 one by one; then a second prompt call after them.
fn check(name: &str, model: &Model) {
    check_matmul(name, model);
    let ids = heldout_ids();
    let mut one_by_one = Vec::new();
    let mut s = model.session(64).unwrap();
    for &t in &ids[..60] {
        one_by_one.extend(s.eval(&[t]).unwrap());
    }
    let mut s = model.session(64).unwrap();
    let mut blocked = Vec::new();
    for &t in &ids[..3] {
        blocked.extend(s.eval(&[t]).unwrap());
    }
    blocked.extend(s.eval(&ids[3..56]).unwrap());
    blocked.extend(s.eval(&ids[56..60]).unwrap());
    assert_eq!(blocked.len(), one_by_one.len());
    let n_vocab = model.config.n_vocab;
    for (p, (a, b)) in blocked.chunks(n_vocab).zip(one_by_one.chunks(n_vocab)).enumerate() {
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{name}: position {p}: the prompt's logits differ from token by token");
    }
    // Only the last token's logits (a prompt before generation): the same bits.
    let mut s = model.session(64).unwrap();
    let last = s.eval_last(&ids[..56]).unwrap();
    let want = &one_by_one[55 * n_vocab..56 * n_vocab];
    assert!(last.iter().zip(want).all(|(x, y)| x.to_bits() == y.to_bits()), "{name}: eval_last differs from token by token");
    assert_eq!((last.len(), s.n_past()), (n_vocab, 56));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn f32_prompt_equals_token_by_token() {
    check("F32", &Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q8_0_prompt_equals_token_by_token() {
    check("Q8_0", &Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec()).unwrap());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn k_quant_prompts_equal_token_by_token() {
    for ftype in ["Q4_K_M", "Q2_K", "Q3_K_M", "Q5_K_M", "Q6_K"] {
        check(ftype, &exported(ftype));
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn legacy_and_iq4_prompts_equal_token_by_token() {
    for ftype in ["Q4_0", "Q5_0", "Q4_1", "Q5_1", "IQ4_NL", "IQ4_XS"] {
        check(ftype, &exported(ftype));
    }
}
