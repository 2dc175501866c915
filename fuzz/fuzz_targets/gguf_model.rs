//! Arbitrary bytes through the language model's loader (src/llm/src/model.rs: architecture,
//! tokenizer and config from the metadata, every tensor checked against the config), and, when
//! the model loads, the tokenizer on a short text and one evaluation of its ids. None may panic,
//! hang or allocate past libFuzzer's RSS limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantscope_llm::Model;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_gguf(data.to_vec()) else { return };
    let ids = model.tokenizer.encode("KING. O, fuzz 123 \u{e9}\n");
    if let Ok(mut session) = model.session(16) {
        let _ = session.eval(&ids[..ids.len().min(8)]);
    }
});
