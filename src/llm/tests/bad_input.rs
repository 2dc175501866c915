//! A model that cannot run is refused with the reason, never a panic: a truncated file, another
//! format, another architecture, a missing key or tensor, another tokenizer; and a token id
//! outside the vocabulary or past the context is an error that leaves the cache as it was.

use quantscope_llm::{LlmError, Model};

fn good() -> Vec<u8> {
    fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()
}

/// `bytes` with the first occurrence of `old` replaced by `new` (same length).
fn patched(old: &[u8], new: &[u8]) -> Vec<u8> {
    assert_eq!(old.len(), new.len());
    let mut b = good();
    let at = b.windows(old.len()).position(|w| w == old).expect("pattern is in the fixture");
    b[at..at + old.len()].copy_from_slice(new);
    b
}

/// A GGUF string value: type 8 (string), u64 length, bytes, after its key.
fn string_kv(key: &str, value: &str) -> Vec<u8> {
    let mut b = key.as_bytes().to_vec();
    b.extend_from_slice(&8u32.to_le_bytes());
    b.extend_from_slice(&(value.len() as u64).to_le_bytes());
    b.extend_from_slice(value.as_bytes());
    b
}

fn error(bytes: Vec<u8>) -> LlmError {
    match Model::from_gguf(bytes) {
        Ok(_) => panic!("the model was accepted"),
        Err(e) => e,
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn truncated_file_is_refused() {
    let b = good();
    for cut in [3, 100, b.len() / 2, b.len() - 1] {
        let e = error(b[..cut].to_vec());
        assert!(matches!(e, LlmError::Format(_)), "cut at {cut}: {e}");
        assert!(e.to_string().contains("truncated") || e.to_string().contains("past the end"), "cut at {cut}: {e}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn another_format_is_refused() {
    let e = error(fixture_bytes!("tiny_lm/heldout.ids.npy").to_vec());
    assert_eq!(e.to_string(), "a language model is read from a GGUF file, not npy");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn another_architecture_is_refused() {
    let e = error(patched(&string_kv("general.architecture", "llama"), &string_kv("general.architecture", "mamba")));
    assert!(matches!(&e, LlmError::UnsupportedArchitecture(a) if a == "mamba"), "{e}");
    assert_eq!(e.to_string(), "unsupported architecture 'mamba': quantscope runs llama, qwen2, qwen3, gemma, gemma2, gemma3");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn missing_key_is_named() {
    let e = error(patched(b"llama.attention.layer_norm_rms_epsilon", b"llama.attention.layer_norm_rms_epsilOn"));
    assert!(matches!(&e, LlmError::MissingKey(k) if k == "llama.attention.layer_norm_rms_epsilon"), "{e}");
    let e = error(patched(b"llama.block_count", b"llama.block_cOunt"));
    assert_eq!(e.to_string(), "the GGUF metadata has no 'llama.block_count', which llama.cpp requires");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn another_tokenizer_is_refused() {
    let e = error(patched(&string_kv("tokenizer.ggml.model", "gpt2"), &string_kv("tokenizer.ggml.model", "bert")));
    assert!(matches!(e, LlmError::UnsupportedTokenizer(_)), "{e}");
    // A pre-type whose regex is not ported (same length as "gpt-2", so the patch keeps the layout).
    let e = error(patched(&string_kv("tokenizer.ggml.pre", "gpt-2"), &string_kv("tokenizer.ggml.pre", "bloom")));
    assert_eq!(
        e.to_string(),
        "unsupported tokenizer: pre-tokenizer 'bloom' (implemented: gpt-2 (and its aliases), llama-bpe (Llama 3), qwen2, smollm)"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn rope_freqs_of_the_wrong_shape_or_family_are_refused() {
    // RoPE frequency factors are one per rotated pair: a matrix in their place is refused.
    let e = error(patched(b"token_embd.weight", b"rope_freqs.weight"));
    assert!(matches!(&e, LlmError::TensorShape { name, expected, .. } if name == "rope_freqs.weight" && expected == &[16]), "{e}");
    // qwen2's graph has no place for them (llama.cpp loads them for llama only).
    let qwen2 = fixture_bytes!("llm_archs/qwen2.gguf");
    let at = qwen2.windows(17).position(|w| w == b"blk.0.attn_q.bias").unwrap();
    let mut b = qwen2.to_vec();
    b[at..at + 17].copy_from_slice(b"rope_freqs.weight");
    assert_eq!(error(b).to_string(), "not supported yet: tensor 'rope_freqs.weight' in a qwen2 model");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_sentencepiece_vocabulary_without_a_byte_token_is_refused() {
    // llama.cpp throws when byte fallback meets a byte with neither <0xXX> nor a raw token ("K"
    // is not in the fixture's pieces): refused at load, before any text.
    let spm = fixture_bytes!("llm_archs/llama-spm.gguf");
    let at = spm.windows(6).position(|w| w == b"<0x4B>").unwrap();
    let mut b = spm.to_vec();
    b[at..at + 6].copy_from_slice(b"<0xZZ>");
    assert_eq!(
        error(b).to_string(),
        "unsupported tokenizer: a SentencePiece vocabulary without the byte token <0x4B> (llama.cpp cannot tokenize text with that byte)"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn missing_tensor_is_named() {
    let e = error(patched(b"output_norm.weight", b"output_nurm.weight"));
    assert!(matches!(&e, LlmError::MissingTensor(t) if t == "output_norm.weight"), "{e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn token_out_of_range_is_refused_and_nothing_is_cached() {
    let model = Model::from_gguf(good()).unwrap();
    let n_vocab = model.config.n_vocab as u32;
    let mut s = model.session(8).unwrap();
    let e = s.eval(&[1, 2, n_vocab]).unwrap_err();
    assert!(matches!(e, LlmError::TokenOutOfRange { token, n_vocab: n } if token == n_vocab && n == n_vocab as usize), "{e}");
    assert_eq!(s.n_past(), 0);
    assert!(model.tokenizer.token(n_vocab).is_err());
    assert!(model.tokenizer.decode(&[u32::MAX]).is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn context_overflow_is_refused() {
    let model = Model::from_gguf(good()).unwrap();
    let mut s = model.session(4).unwrap();
    s.eval(&[1, 2, 3]).unwrap();
    let e = s.eval(&[4, 5]).unwrap_err();
    assert_eq!(e.to_string(), "the context holds 4 tokens; 5 were asked for");
    assert_eq!(s.n_past(), 3);
}

/// A GGUF u32 value (type 4) after its key.
fn u32_kv(key: &str, value: u32) -> Vec<u8> {
    let mut b = key.as_bytes().to_vec();
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&value.to_le_bytes());
    b
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn config_that_does_not_fit_the_tensors_is_refused() {
    let e = error(patched(&u32_kv("llama.feed_forward_length", 512), &u32_kv("llama.feed_forward_length", 256)));
    assert_eq!(e.to_string(), "tensor 'blk.0.ffn_gate.weight' has shape [512, 256], the model's config needs [256, 256]");
    let e = error(patched(&u32_kv("llama.embedding_length", 256), &u32_kv("llama.embedding_length", 128)));
    assert_eq!(e.to_string(), "not supported yet: RoPE on 32 of each head's 16 dimensions");
    let e = error(patched(&u32_kv("llama.attention.head_count_kv", 2), &u32_kv("llama.attention.head_count_kv", 3)));
    assert_eq!(e.to_string(), "GGUF metadata 'llama.attention.head_count_kv': 3 does not divide the 8 query heads");
    let e = error(patched(&u32_kv("llama.embedding_length", 256), &u32_kv("llama.embedding_length", 1 << 23)));
    assert_eq!(e.to_string(), "GGUF metadata 'llama.embedding_length': 8388608 is more than quantscope's limit of 65536");
    let e = error(patched(&u32_kv("llama.block_count", 2), &u32_kv("llama.block_count", 0)));
    assert_eq!(e.to_string(), "GGUF metadata 'llama.block_count': must be positive");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn matrix_of_an_unimplemented_type_is_refused() {
    // blk.0.attn_q.weight's type id F32 (0) turned into Q8_1 (9) with the same dims: the tensor
    // table is still consistent (the data is shorter), and ggml has no Q8_1 weight product (it is
    // only an activation type). As F16 (1) it loads.
    let name = b"blk.0.attn_q.weight";
    let mut b = good();
    let at = b.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    // u32 n_dims = 2, two u64 dims, then the u32 type.
    let ty = at + 4 + 16;
    assert_eq!(&b[ty..ty + 4], &0u32.to_le_bytes());
    b[ty] = 9;
    let e = error(b.clone());
    assert_eq!(
        e.to_string(),
        "tensor 'blk.0.attn_q.weight' is stored as q8_1; the forward pass runs every ggml weight type (q8_1 and q8_k are activation types)"
    );
    b[ty] = 1;
    let m = Model::from_gguf(b).unwrap();
    assert_eq!(m.matrix_types()[1], ("blk.0.attn_q.weight".to_string(), "f16"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn context_of_zero_or_too_many_positions_is_refused() {
    let model = Model::from_gguf(good()).unwrap();
    for n in [0, usize::MAX, usize::MAX / 64] {
        let e = model.session(n).err().expect("refused");
        assert!(matches!(e, LlmError::ContextTooLarge { n_ctx, .. } if n_ctx == n), "{e}");
    }
    assert_eq!(
        model.session(0).err().unwrap().to_string(),
        "a context of 0 positions: it must be at least 1 and its KV cache at most 1024 MiB"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mutated_headers_never_panic() {
    // Bytes of the metadata (the vocabulary and merges fill the first ~20 KB) flipped, and the
    // file cut, with a fixed generator: each load is Ok or a clear error, never a panic.
    let good = good();
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let (mut loaded, mut refused) = (0, 0);
    for i in 0..200 {
        let mut b = good.clone();
        for _ in 0..1 + i % 4 {
            let at = (next() % 24_000) as usize;
            b[at] = match next() % 3 {
                0 => b[at] ^ (1 << (next() % 8)),
                1 => 0xff,
                _ => 0,
            };
        }
        if i % 10 == 0 {
            b.truncate((next() % b.len() as u64) as usize);
        }
        match Model::from_gguf(b) {
            Ok(m) => {
                loaded += 1;
                let ids = m.tokenizer.encode("To-morrow, and to-morrow, 1606!");
                if let Ok(mut s) = m.session(8) {
                    let _ = s.eval(&ids[..ids.len().min(8)]);
                }
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Both outcomes happen: the mutations reach the parsers, and not every one is fatal.
    assert!(loaded > 10 && refused > 10, "{loaded} loaded, {refused} refused");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_tensor_the_forward_pass_has_no_step_for_is_refused() {
    // A feed-forward bias (llama.cpp's llama graph would add it): refused, not ignored.
    let e = error(patched(b"blk.0.attn_k.weight", b"blk.0.ffn_gate.bias"));
    assert_eq!(e.to_string(), "not supported yet: tensor 'blk.0.ffn_gate.bias'");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_output_matrix_in_a_gemma_model_is_refused() {
    // llama-spm as a gemma: every "llama." key renamed (same length) and the architecture; it has
    // an output.weight, which llama.cpp's gemma graph never reads (it refuses such a file).
    let mut b = fixture_bytes!("llm_archs/llama-spm.gguf").to_vec();
    for from in [&string_kv("general.architecture", "llama")[..], b"llama."] {
        let to = String::from_utf8_lossy(from).replace("llama", "gemma").into_bytes();
        while let Some(at) = b.windows(from.len()).position(|w| w == from) {
            b[at..at + from.len()].copy_from_slice(&to);
        }
    }
    assert_eq!(error(b).to_string(), "not supported yet: tensor 'output.weight' in a gemma model (its head is token_embd)");
}
