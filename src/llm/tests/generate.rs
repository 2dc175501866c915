//! Greedy generation equals llama.cpp's greedy continuation (tiny_lm_logits.cpp: the first
//! largest logit, fed back one token at a time) of a held-out prompt, for F32 and Q8_0; seeded
//! sampling is reproducible and differs with the seed.

use quantscope_llm::{Generator, Model, Sampling};

fn ids(npy: &[u8]) -> Vec<u32> {
    quantscope_formats::npy::parse("ids.npy", npy).unwrap().data.iter().map(|&v| v as u32).collect()
}

/// (start, prompt length, generated) as make_tiny_lm.py's GREEDY.
const GREEDY: (usize, usize, usize) = (1000, 32, 48);

fn greedy(gguf: &[u8], expected: &[u8]) {
    let model = Model::from_gguf(gguf.to_vec()).unwrap();
    let heldout = ids(fixture_bytes!("tiny_lm/heldout.ids.npy"));
    let (start, n_prompt, n_gen) = GREEDY;
    let prompt = &heldout[start..start + n_prompt];
    let mut g = Generator::new(&model, prompt, n_prompt + n_gen, Sampling::Greedy).unwrap();
    let ours: Vec<u32> = (0..n_gen).map(|_| g.next_token().unwrap()).collect();
    assert_eq!(ours, ids(expected));
    // The last token was picked but needs no evaluation until another one is asked for.
    assert_eq!(g.n_past(), n_prompt + n_gen - 1);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn f32_greedy_equals_llama_cpp() {
    greedy(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf"), fixture_bytes!("tiny_lm/greedy-f32.npy"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q8_0_greedy_equals_llama_cpp() {
    greedy(fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf"), fixture_bytes!("tiny_lm/greedy-q8_0.npy"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn seeded_sampling_is_reproducible_and_context_ends_with_an_error() {
    let model = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap();
    let prompt = model.tokenizer.encode("MACBETH.\nIf it were done when 'tis done, then 'twere well\n");
    let run = |seed| {
        let s = Sampling::Random { seed, temperature: 0.8, top_k: 40 };
        let mut g = Generator::new(&model, &prompt, prompt.len() + 40, s).unwrap();
        (0..40).map(|_| g.next_token().unwrap()).collect::<Vec<u32>>()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let text = String::from_utf8(model.tokenizer.decode(&a).unwrap()).unwrap_or_default();
    assert!(text.chars().filter(|c| c.is_alphabetic()).count() > 20, "{text:?}");

    // A context just the prompt's length: the first token is picked, the second needs room.
    let mut g = Generator::new(&model, &prompt, prompt.len(), Sampling::Greedy).unwrap();
    g.next_token().unwrap();
    let e = g.next_token().unwrap_err();
    assert!(e.to_string().starts_with("the context holds"), "{e}");
    assert!(Generator::new(&model, &[], 8, Sampling::Greedy).is_err());
    assert!(Generator::new(&model, &prompt, 64, Sampling::Random { seed: 0, temperature: 0.0, top_k: 0 }).is_err());
}
