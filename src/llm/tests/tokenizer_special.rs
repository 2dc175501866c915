//! The special-token rules of a person's own vocabulary, held to llama.cpp on vocabulary-only
//! GGUFs (scripts/fixtures/make_tokenizer_special.py → tests/fixtures/llm_tokenizer/):
//! `tokenizer.ggml.add_bos_token` and `add_eos_token` as `llama_tokenize(add_special = true)`
//! applies them, the default BOS/EOS ids, empty tokens, and a repeated token refused as llama.cpp
//! refuses it.

use quantscope_formats::lazy;
use quantscope_llm::metadata::Metadata;
use quantscope_llm::{LlmError, Model, Tokenizer};
use std::rc::Rc;

fn tokenizer(bytes: &'static [u8]) -> Result<Tokenizer, LlmError> {
    let file = lazy::open_gguf_file("vocab.gguf", Rc::new(bytes.to_vec())).unwrap();
    Tokenizer::from_metadata(&Metadata::new(&file.gguf_kvs))
}

fn ids(npy: &[u8]) -> Vec<u32> {
    let t = quantscope_formats::npy::parse("ids.npy", npy).unwrap();
    assert_eq!(t.dtype, "int32");
    t.data.iter().map(|&v| v as u32).collect()
}

/// Each case's ids of the corner-case text with its special tokens are llama.cpp's, and so are
/// its add_bos, add_eos, BOS and EOS (special.json).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bos_and_eos_are_added_as_llama_cpp_adds_them() {
    let special = crate::common::json(fixture_str!("llm_tokenizer/special.json"));
    let text = fixture_str!("tiny_lm/edge.txt");
    for (case, vocab, expected) in [
        ("bpe-bos-eos", &fixture_bytes!("llm_tokenizer/bpe-bos-eos.gguf")[..], &fixture_bytes!("llm_tokenizer/bpe-bos-eos.ids.npy")[..]),
        ("bpe-default-ids", fixture_bytes!("llm_tokenizer/bpe-default-ids.gguf"), fixture_bytes!("llm_tokenizer/bpe-default-ids.ids.npy")),
        ("spm-eos", fixture_bytes!("llm_tokenizer/spm-eos.gguf"), fixture_bytes!("llm_tokenizer/spm-eos.ids.npy")),
    ] {
        let t = tokenizer(vocab).unwrap();
        let want = &special["cases"][case];
        assert_eq!(t.add_bos, want["add_bos"].as_bool().unwrap(), "{case}: add_bos");
        assert_eq!(t.add_eos, want["add_eos"].as_bool().unwrap(), "{case}: add_eos");
        assert_eq!(t.bos, Some(want["bos"].as_u64().unwrap() as u32), "{case}: BOS");
        assert_eq!(t.eos, Some(want["eos"].as_u64().unwrap() as u32), "{case}: EOS");
        let expected = ids(expected);
        let ours = t.encode_special(text);
        assert!(ours == expected, "{case}: {}", crate::common::first_difference(&ours, &expected));
        // The special tokens are only at the ends: the text between is `encode`'s.
        let inner = &ours[usize::from(t.add_bos)..ours.len() - 1];
        assert_eq!(inner, &t.encode(text)[..], "{case}");
        assert_eq!(*ours.last().unwrap(), t.eos.unwrap(), "{case}: EOS last");
    }
}

/// Two empty tokens are not a repeat: llama.cpp names each "[EMPTY_<id>]" before its lookup
/// table is built (and loads bpe-bos-eos.gguf, which has two).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn empty_tokens_are_named_by_their_id() {
    let t = tokenizer(fixture_bytes!("llm_tokenizer/bpe-bos-eos.gguf")).unwrap();
    let n = t.n_vocab() as u32;
    assert_eq!(t.token(n - 2).unwrap(), format!("[EMPTY_{}]", n - 2));
    assert_eq!(t.token(n - 1).unwrap(), format!("[EMPTY_{}]", n - 1));
}

/// A token text at two ids: llama.cpp aborts loading such a vocabulary (checked by the fixture
/// script); quantscope refuses it with both ids.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_repeated_token_is_refused_as_llama_cpp_refuses_it() {
    let special = crate::common::json(fixture_str!("llm_tokenizer/special.json"));
    let repeated = special["duplicate"]["token"].as_str().unwrap();
    let e = tokenizer(fixture_bytes!("llm_tokenizer/duplicate.gguf")).err().expect("refused");
    let first = tokenizer(fixture_bytes!("llm_tokenizer/bpe-default-ids.gguf")).unwrap();
    let id = (0..first.n_vocab() as u32).find(|&i| first.token(i).unwrap() == repeated).unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "GGUF metadata 'tokenizer.ggml.tokens': token '{repeated}' appears twice, as ids {id} and {}; llama.cpp refuses a \
             vocabulary with a repeated token",
            first.n_vocab()
        )
    );
}

/// llama-perplexity and llama-imatrix abort on a model that adds EOS to every text; so do
/// quantscope's, with the reason, before any chunk runs.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn perplexity_and_imatrix_refuse_a_model_that_adds_eos() {
    let mut m = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap();
    m.tokenizer.add_eos = true;
    let tokens = m.tokenizer.encode_special(fixture_str!("tiny_lm/heldout.txt"));
    assert_eq!(tokens.last(), m.tokenizer.eos.as_ref());
    for (tool, e) in [
        ("llama-perplexity", quantscope_llm::PerplexityRun::new(&m, &tokens, 128, Some(1)).err().unwrap()),
        ("llama-imatrix", quantscope_llm::ImatrixRun::new(&m, &tokens, 128, Some(1), "t.txt").err().unwrap()),
    ] {
        assert_eq!(
            e.to_string(),
            format!(
                "not supported yet: {tool} on a model whose tokenizer adds EOS to every text (tokenizer.ggml.add_eos_token): \
                 {tool} refuses it"
            )
        );
    }
}

/// A vocabulary that adds BOS (no-bos.gguf) or EOS (no-eos.gguf) to every text but has no such
/// token (no id key; llama.cpp's default, 11, out of its 8 tokens): llama.cpp loads it, then
/// aborts on the first text it tokenizes with add_special (special.json's assertion, checked by
/// the fixture script); quantscope refuses it when the model is read, naming the key and that
/// assertion, and so does the model's load, before its tensors are looked at.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_vocabulary_without_the_bos_or_eos_it_adds_is_refused_as_llama_cpp_aborts_on_it() {
    let special = crate::common::json(fixture_str!("llm_tokenizer/special.json"));
    let n = special["no_special"]["tokens"].as_u64().unwrap();
    for (case, which, vocab) in [
        ("no-bos", "BOS", &fixture_bytes!("llm_tokenizer/no-bos.gguf")[..]),
        ("no-eos", "EOS", fixture_bytes!("llm_tokenizer/no-eos.gguf")),
    ] {
        let assertion = special["no_special"]["llama_cpp"][case]["assertion"].as_str().unwrap().strip_suffix(" failed").unwrap();
        let name = which.to_ascii_lowercase();
        let want = format!(
            "GGUF metadata 'tokenizer.ggml.add_{name}_token': is true, but the vocabulary has no {which} token: no \
             'tokenizer.ggml.{name}_token_id', and llama.cpp's default {which} id for a \"gpt2\" vocabulary, 11, is outside its \
             {n} tokens; llama.cpp aborts on every text it tokenizes with this model ({assertion})"
        );
        assert_eq!(tokenizer(vocab).err().expect("refused").to_string(), want, "{case}");
        assert_eq!(Model::from_gguf(vocab.to_vec()).err().expect("refused").to_string(), want, "{case}: the model's load");
    }
}
