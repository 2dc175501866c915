//! The tokenizer's ids equal llama.cpp's (`llama_tokenize`, no BOS, no special parsing) for the
//! held-out passage and for a text of the pre-tokenizer's corner cases (fixtures from
//! scripts/fixtures/make_tiny_lm.py, which also checks that the `tokenizers` package agrees).

use quantscope_llm::Model;

fn model() -> Model {
    Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap()
}

fn ids(npy: &[u8]) -> Vec<u32> {
    let t = quantscope_formats::npy::parse("ids.npy", npy).unwrap();
    assert_eq!(t.dtype, "int32");
    t.data.iter().map(|&v| v as u32).collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn heldout_passage_ids_equal_llama_cpp() {
    let m = model();
    let expected = ids(fixture_bytes!("tiny_lm/heldout.ids.npy"));
    let ours = m.tokenizer.encode(fixture_str!("tiny_lm/heldout.txt"));
    assert!(expected.len() > 1000, "the passage is long enough to exercise the merges");
    assert!(ours == expected, "{}", crate::common::first_difference(&ours, &expected));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn corner_case_ids_equal_llama_cpp() {
    let m = model();
    let expected = ids(fixture_bytes!("tiny_lm/edge.ids.npy"));
    let ours = m.tokenizer.encode(fixture_str!("tiny_lm/edge.txt"));
    assert!(ours == expected, "{}", crate::common::first_difference(&ours, &expected));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn decode_gives_back_the_text() {
    let m = model();
    for text in [fixture_str!("tiny_lm/heldout.txt"), fixture_str!("tiny_lm/edge.txt")] {
        let back = m.tokenizer.decode(&m.tokenizer.encode(text)).unwrap();
        assert_eq!(String::from_utf8(back).unwrap(), text);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn special_token_text_is_not_parsed_and_bos_is_not_added() {
    let m = model();
    let eos = m.tokenizer.eos.expect("the model has an end-of-text token");
    assert_eq!(m.tokenizer.token(eos).unwrap(), "<|endoftext|>");
    // parse_special = false: the control token's text is tokenized as ordinary text.
    let ids = m.tokenizer.encode("<|endoftext|>");
    assert!(ids.len() > 1 && !ids.contains(&eos), "{ids:?}");
    // tokenizer.ggml.add_bos_token is false for this model.
    assert_eq!(m.tokenizer.encode_special("Macbeth"), m.tokenizer.encode("Macbeth"));
}
