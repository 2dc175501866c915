//! The importance matrix quantscope computes (src/llm/src/imatrix.rs) against `llama-imatrix`'s on
//! the same model, text and settings (tests/fixtures/tiny_lm/imatrix-f32.gguf, from
//! scripts/fixtures/make_tiny_lm_imatrix.py: calibration.txt, -c 128, 8 chunks).
//!
//! The file quantscope writes has llama-imatrix's header byte for byte (keys, dataset name,
//! chunk count and size, tensor names, dims, offsets) and the same counts. The sums of x² are
//! float sums over 1,024 tokens of activations that agree with llama.cpp's to ~1e-6 (its matrix
//! products use FMA and another blocking): each is held within 2e-5 of the largest sum of its
//! tensor.

use quantscope_formats::{imatrix, imatrix_writer};
use quantscope_llm::{ImatrixRun, Model};

fn computed(max_chunks: Option<usize>) -> imatrix::Imatrix {
    let model = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap();
    let tokens = model.tokenizer.encode_special(fixture_str!("tiny_lm/calibration.txt"));
    let mut run = ImatrixRun::new(&model, &tokens, 128, max_chunks, "calibration.txt").unwrap();
    assert!(run.result().is_none(), "no statistics before the first chunk");
    while run.next_chunk(&model).unwrap() {}
    assert_eq!(run.chunks_done(), run.n_chunk());
    run.result().unwrap()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn importance_matrix_equals_llama_imatrix() {
    let reference = fixture_bytes!("tiny_lm/imatrix-f32.gguf");
    let theirs = imatrix::parse(reference).unwrap();
    let ours = computed(Some(8));
    assert_eq!((ours.chunk_count, ours.chunk_size, &ours.datasets), (theirs.chunk_count, theirs.chunk_size, &theirs.datasets));
    assert_eq!(ours.entries.len(), theirs.entries.len());
    assert_eq!(ours.entries.len(), 2 * 7, "seven matrices in each of two layers");
    for (a, b) in ours.entries.iter().zip(&theirs.entries) {
        assert_eq!((&a.name, &a.counts), (&b.name, &b.counts));
        assert_eq!(a.sums.len(), b.sums.len(), "{}", a.name);
        let scale = b.sums.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a.sums.iter().zip(&b.sums).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst <= 2e-5 * scale, "{}: sums differ by {worst} (largest sum {scale})", a.name);
    }

    // The file: llama-imatrix's header byte for byte, the same length.
    let written = imatrix_writer::write_gguf(&ours).unwrap();
    assert_eq!(written.len(), reference.len());
    let padded = |n: usize| n.div_ceil(32) * 32;
    let data: usize = theirs.entries.iter().map(|e| padded(e.sums.len() * 4) + padded(e.counts.len() * 4)).sum();
    let header = reference.len() - data;
    assert!(header > 100);
    assert_eq!(&written[..header], &reference[..header]);
    // And it reads back as what was computed.
    assert_eq!(imatrix::parse(&written).unwrap().entries, ours.entries);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn short_texts_and_contexts_are_refused() {
    let model = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap();
    let tokens = model.tokenizer.encode(fixture_str!("tiny_lm/calibration.txt"));
    let e = ImatrixRun::new(&model, &tokens[..200], 128, None, "x").err().unwrap().to_string();
    assert_eq!(e, "not supported yet: an importance matrix of 200 tokens with a context of 128: llama-imatrix needs at least 256");
    let e = ImatrixRun::new(&model, &tokens, 8, None, "x").err().unwrap().to_string();
    assert!(e.contains("llama-imatrix ignores batches of fewer than 16"), "{e}");
    // Fewer chunks than the text holds: the counts say so.
    let two = computed(Some(2));
    assert_eq!((two.chunk_count, two.entries[0].counts[0]), (2, 256));
}
