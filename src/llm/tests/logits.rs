//! The forward pass's logits against llama.cpp's for the first 64 tokens of the held-out passage
//! (scripts/fixtures/tiny_lm_logits.cpp: one batch, logits at every position, F32 KV cache, flash
//! attention off, one thread).
//!
//! F32: within 1e-4 of the row's largest |logit|. The operations are the same (ggml's RMSNorm,
//! RoPE angles, softmax and SwiGLU, ported), but ggml's F32 matrix products (llamafile's tinyBLAS
//! on AVX2 here) sum in another order, and its softmax/SiLU use a SIMD expf approximation:
//! differences of a few f32 ulps per sum, carried through two layers — measured ~1e-6 of the
//! logit scale; 1e-4 leaves room without hiding a wrong operation (a wrong RoPE pairing, GQA
//! head mapping or norm changes logits by more than 1e-1).

use quantscope_llm::Model;

/// Q8_0: the activations are quantized as ggml-cpu's AVX2 code quantizes them and the integer dot
/// products are exact, but the float accumulation is ggml's wasm SIMD128 order (four lanes, a
/// multiply then an add: src/llm/src/kernels) where llama.cpp's x86 build fuses the multiply-add in
/// eight lanes. The logits therefore differ by f32 rounding, and an activation whose value moves
/// by an ulp across a rounding boundary gets a code one apart, which moves later logits by up to
/// ~3e-3 of the scale: measured here, one such flip at position 53, 9.6e-4 (with the AVX2 order
/// and FMA these 64 positions were bit-identical; with AVX2's eight lanes and no FMA, a flip at
/// position 48, 2.7e-3). Held to 1e-2, as Q4_0 is in tests/quantized.rs, and to the same top-1
/// token at every position; perplexity (tests/perplexity.rs) stays within 1e-3.
const Q8_0_TOLERANCE: f32 = 1e-2;

/// An .npy fixture's shape and values.
fn npy(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    let t = quantscope_formats::npy::parse("x.npy", bytes).unwrap();
    (t.shape, t.data)
}

fn heldout_ids() -> Vec<u32> {
    npy(fixture_bytes!("tiny_lm/heldout.ids.npy")).1.iter().map(|&v| v as u32).collect()
}

/// The worst |ours − llama.cpp| over a row's largest |logit|, and where.
fn worst_relative(ours: &[f32], theirs: &[f32], n_vocab: usize) -> (f32, usize) {
    let mut worst = (0f32, 0);
    for (row, (a, b)) in ours.chunks(n_vocab).zip(theirs.chunks(n_vocab)).enumerate() {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        if diff / scale > worst.0 {
            worst = (diff / scale, row);
        }
    }
    worst
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// Logits of `model` for the first `n` held-out ids, checked against llama.cpp's.
fn compare(model: &Model, expected: &[u8], tolerance: f32) -> f32 {
    let (shape, expected) = npy(expected);
    let n_vocab = model.config.n_vocab;
    assert_eq!(shape[1], n_vocab);
    let ids = &heldout_ids()[..shape[0]];
    let mut session = model.session(shape[0]).unwrap();
    let ours = session.eval(ids).unwrap();
    let (worst, row) = worst_relative(&ours, &expected, n_vocab);
    assert!(worst <= tolerance, "position {row}: max |diff| / max |logit| = {worst:e} > {tolerance:e}");
    for (p, (a, b)) in ours.chunks(n_vocab).zip(expected.chunks(n_vocab)).enumerate() {
        assert_eq!(argmax(a), argmax(b), "top-1 token differs at position {p}");
    }
    worst
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn f32_logits_equal_llama_cpp() {
    let model = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap();
    let worst = compare(&model, fixture_bytes!("tiny_lm/logits-f32.npy"), 1e-4);
    println!("F32: worst |diff| / max |logit| = {worst:e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn logits_do_not_depend_on_how_the_tokens_are_split() {
    // The KV cache: one call for all tokens, or token by token, or in two calls, the same numbers.
    let model = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap();
    let ids = &heldout_ids()[..24];
    let whole = model.session(24).unwrap().eval(ids).unwrap();
    let mut s = model.session(24).unwrap();
    let mut parts = s.eval(&ids[..10]).unwrap();
    parts.extend(s.eval(&ids[10..]).unwrap());
    assert_eq!(whole, parts);
    assert_eq!(s.n_past(), 24);
    s.reset();
    assert_eq!(s.eval(&ids[..10]).unwrap(), whole[..10 * model.config.n_vocab]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q8_0_logits_equal_llama_cpp() {
    let model = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec()).unwrap();
    assert!(model.matrix_types().iter().all(|(_, t)| *t == "q8_0"), "llama-quantize Q8_0 makes every matrix q8_0");
    let worst = compare(&model, fixture_bytes!("tiny_lm/logits-q8_0.npy"), Q8_0_TOLERANCE);
    println!("Q8_0: worst |diff| / max |logit| = {worst:e}");
}
