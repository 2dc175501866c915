//! What a model takes in memory once loaded, predicted from its file's header
//! (`weights::loaded_model_bytes`, which the page's "too big for the tab" check adds up) against
//! what the loaded model's weights really allocate (`Model::memory_bytes`), for a type of each
//! kind the loader has: F32, Q8_0, Q4_0 (unpacked to Q8_0 codes: twice its file's bytes), Q4_1
//! (codes and block mins), the K-quants and IQ4_XS unpacked to a byte per code, and a type
//! dequantized to f32 at load (TQ2_0).

use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::weights::{loaded_bytes, loaded_model_bytes};
use quantscope_llm::Model;
use std::rc::Rc;

fn f32_file() -> lazy::LazyFile {
    lazy::open("tiny-lm-f32.gguf", Rc::new(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec())).unwrap()
}

/// The header's prediction and the loaded model's allocation, for a file's bytes.
fn predicted_and_loaded(bytes: Vec<u8>) -> (u64, u64) {
    let file = lazy::open("m.gguf", Rc::new(bytes.clone())).unwrap();
    (loaded_model_bytes(&file), Model::from_gguf(bytes).unwrap().memory_bytes())
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_header_predicts_what_the_loaded_weights_take() {
    let f32_bytes = fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec();
    let elements: u64 = f32_file().tensors.iter().map(|t| t.elements()).sum();
    let (predicted, loaded) = predicted_and_loaded(f32_bytes);
    assert_eq!((predicted, loaded), (4 * elements, 4 * elements), "F32");
    let (predicted, loaded) = predicted_and_loaded(fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec());
    assert_eq!(predicted, loaded, "Q8_0");
    for ftype in ["Q4_0", "Q2_K", "Q3_K_M", "Q5_K_M", "IQ4_XS", "IQ4_NL", "Q4_1", "TQ2_0"] {
        let mut out = Vec::new();
        gguf_writer::write_mix(&f32_file(), FileType::from_name(ftype).unwrap(), &MixOptions::default(), &mut out, |_, _| {}).unwrap();
        let (predicted, loaded) = predicted_and_loaded(out);
        assert_eq!(predicted, loaded, "{ftype}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn loaded_bytes_per_type_are_what_the_kernels_keep() {
    let n = 1 << 20;
    // Q4_0's 18 bytes per 32 weights become Q8_0's codes with an f32 scale: 36.
    assert_eq!(loaded_bytes("q4_0", n), n / 32 * 36);
    assert_eq!(loaded_bytes("q8_0", n), n / 32 * 36);
    // K-quants and IQ4_XS: a byte per code (256 per super-block), the scales (Q2_K's 16 bytes;
    // Q4_K's and Q5_K's 8 scales and 8 mins; Q3_K's and Q6_K's 16 as i16; IQ4_XS's 8) and the
    // f16 scales widened to f32.
    assert_eq!(loaded_bytes("q2_k", n), n / 256 * 280);
    assert_eq!(loaded_bytes("q3_k", n), n / 256 * 292);
    assert_eq!(loaded_bytes("q4_k", n), n / 256 * 280);
    assert_eq!(loaded_bytes("q5_k", n), n / 256 * 280);
    assert_eq!(loaded_bytes("q6_k", n), n / 256 * 292);
    assert_eq!(loaded_bytes("iq4_xs", n), n / 256 * 268);
    // IQ4_NL as Q8_0 codes (its levels).
    assert_eq!(loaded_bytes("iq4_nl", n), n / 32 * 36);
    // Dequantized at load: 4 bytes per weight whatever the file's bits per weight.
    assert_eq!(loaded_bytes("tq2_0", n), 4 * n);
    // Q5_0 as Q8_0 codes; Q4_1 and Q5_1 as codes with an f32 scale and min.
    assert_eq!(loaded_bytes("q5_0", n), n / 32 * 36);
    assert_eq!(loaded_bytes("q4_1", n), n / 32 * 40);
    assert_eq!(loaded_bytes("q5_1", n), n / 32 * 40);
}
