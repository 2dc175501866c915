//! AWQ of the tiny model, layer by layer (src/llm/src/awq.rs; the searches themselves are held to
//! llm-awq in src/ptq/tests/awq.rs). The per-layer forward the searches run is the session's
//! forward to the bit; without clipping the scaled F32 file computes the model's function up to
//! float rounding; with it, the file quantizes with any llama-quantize mix into a model that runs.

use crate::tiny_lm::f32_file;
use quantscope_llm::awq::{AwqRun, ScaleGroup};
use quantscope_llm::model::LayerNorm;
use quantscope_llm::{LlmError, Model};
use quantscope_ptq::{AwqConfig, Grid};
// For the native-only tests.
#[cfg(not(target_arch = "wasm32"))]
use {
    quantscope_formats::gguf_mix::{FileType, MixOptions},
    quantscope_formats::gguf_writer::{self, Export, OutType, Value},
    quantscope_formats::lazy,
    quantscope_llm::activations::LayerMatrix,
    quantscope_llm::perplexity,
    std::rc::Rc,
};

fn model() -> Model {
    Model::from_source("tiny-lm-f32.gguf", f32_file().0).unwrap()
}

fn run(config: AwqConfig, clip: bool, n_ctx: usize, chunks: usize) -> AwqRun {
    let model = model();
    let tokens = model.tokenizer.encode_special(fixture_str!("tiny_lm/calibration-gptq.txt"));
    let mut run = AwqRun::new(model, &tokens, n_ctx, Some(chunks), config, clip).unwrap();
    let total = run.total();
    let mut calls = 0;
    while !run.advance().unwrap().finished {
        calls += 1;
        assert!(calls <= total, "the run does not end");
    }
    assert_eq!(run.progress().done, total);
    run
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn layer_passes_give_the_sessions_logits() {
    let model = model();
    let ids = model.tokenizer.encode_special(fixture_str!("tiny_lm/heldout.txt"));
    let ids = &ids[..48];
    let mut x = model.embed(ids).unwrap();
    for l in 0..model.config.n_layer {
        x = model.layer_pass(l, &x).out;
    }
    let ours = model.logits_of(&x);
    let session = model.session(64).unwrap().eval(ids).unwrap();
    assert_eq!(crate::common::bits(&ours), crate::common::bits(&session));
}

/// Before rounding, AWQ's scaling is exact algebra: with the clip off, the scaled F32 file gives
/// the original model's logits up to float rounding, though its norms and matrices changed.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn scaling_alone_keeps_the_models_function() {
    let r = run(AwqConfig::q4_0(), false, 16, 2);
    // Grouped-query attention (2 K/V heads of 8): V and the output projection differ in shape,
    // so, as in llm-awq, that group is not scaled.
    let groups: Vec<ScaleGroup> = r.scale_reports().iter().map(|s| s.group).collect();
    assert_eq!(groups, [ScaleGroup::AttnInput, ScaleGroup::FfnInput, ScaleGroup::FfnDown].repeat(2));
    for s in r.scale_reports() {
        assert_eq!(s.losses.len(), 20);
        assert!(s.losses.iter().all(|l| l.is_finite() && *l > 0.0), "{}: {:?}", s.label, s.losses);
        assert!(s.losses[s.best] <= s.losses[0], "{}", s.label);
    }
    assert!(r.scale_reports().iter().any(|s| s.best > 0), "no group chose a scale");
    assert!(r.clip_reports().is_empty());

    let (_, file) = f32_file();
    let scaled = Model::from_gguf(r.write_f32_gguf(&file).unwrap()).unwrap();
    let original = model();
    assert_ne!(scaled.layer_norm(0, LayerNorm::Attn), original.layer_norm(0, LayerNorm::Attn));
    let ids = original.tokenizer.encode_special(fixture_str!("tiny_lm/heldout.txt"));
    let ids = &ids[..96];
    let a = original.session(96).unwrap().eval(ids).unwrap();
    let b = scaled.session(96).unwrap().eval(ids).unwrap();
    let max = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-4 * max, "logits differ by {worst} (largest {max})");
}

/// The tiny model with each K/V head repeated for the query heads that share it: multi-head
/// attention computing the same function, in which V and the output projection have one shape, so
/// that llm-awq scales V → output too.
#[cfg(not(target_arch = "wasm32"))]
fn multi_head_tiny_model() -> Vec<u8> {
    let (_, file) = f32_file();
    let c = model().config;
    let (hd, group) = (c.head_dim, c.n_head / c.n_head_kv);
    let mut metadata = gguf_writer::metadata_for(&file.gguf_kvs, "tiny-lm-mha", OutType::F32);
    let key = metadata.iter_mut().find(|(k, _)| k == "llama.attention.head_count_kv").expect("the key");
    key.1 = Value::U32(c.n_head as u32);
    let repeated = |name: &str| name.ends_with("attn_k.weight") || name.ends_with("attn_v.weight");
    let mut values: Vec<Option<Vec<f32>>> = Vec::new();
    let mut tensors = Vec::new();
    for (k, t) in file.tensors.iter().enumerate() {
        let mut shape = t.shape.clone();
        values.push(repeated(&t.name).then(|| {
            let kv = file.read_values(k, 0, (shape[0] * shape[1]) as usize).unwrap();
            let row = c.n_embd * hd;
            (0..c.n_head).flat_map(|h| kv[h / group * row..(h / group + 1) * row].to_vec()).collect()
        }));
        if repeated(&t.name) {
            shape[0] = (c.n_head * hd) as u64;
        }
        tensors.push((t.name.clone(), shape));
    }
    let mut export = Export::new(gguf_writer::plan(&metadata, &tensors, OutType::F32).unwrap());
    let mut read = |k: usize, start: u64, count: usize| match &values[k] {
        Some(v) => Ok(v[start as usize..(start as usize + count).min(v.len())].to_vec()),
        None => file.read_values(k, start, count),
    };
    let mut out = Vec::new();
    while let Some(piece) = export.next_piece(&mut read).unwrap() {
        out.extend_from_slice(&piece);
    }
    out
}

/// With multi-head attention, V's rows (and bias) take 1/s and the output projection's columns s:
/// still the model's function.
// Native only: over the WebDriver runner's 20 s in the browser; the wasm tests above run the same code.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn v_to_output_scaling_keeps_the_function() {
    let bytes = multi_head_tiny_model();
    let mha = Model::from_gguf(bytes.clone()).unwrap();
    let original = model();
    let ids = original.tokenizer.encode_special(fixture_str!("tiny_lm/heldout.txt"));
    let ids = &ids[..64];
    let a = original.session(64).unwrap().eval(ids).unwrap();
    assert_eq!(
        crate::common::bits(&mha.session(64).unwrap().eval(ids).unwrap()),
        crate::common::bits(&a),
        "the repeated heads are not the same model"
    );

    let tokens = mha.tokenizer.encode_special(fixture_str!("tiny_lm/calibration-gptq.txt"));
    let mut run = AwqRun::new(mha, &tokens, 32, Some(2), AwqConfig::q4_0(), false).unwrap();
    while !run.advance().unwrap().finished {}
    let groups: Vec<ScaleGroup> = run.scale_reports().iter().map(|s| s.group).collect();
    assert_eq!(groups, [ScaleGroup::AttnInput, ScaleGroup::AttnOutput, ScaleGroup::FfnInput, ScaleGroup::FfnDown].repeat(2));
    let o = run.scale_reports().iter().find(|s| s.group == ScaleGroup::AttnOutput && s.best > 0);
    assert!(o.is_some(), "no layer scaled V → output: {:?}", run.scale_reports().iter().map(|s| s.best).collect::<Vec<_>>());
    let file = lazy::open_gguf_file("mha.gguf", Rc::new(bytes)).unwrap();
    let scaled = Model::from_gguf(run.write_f32_gguf(&file).unwrap()).unwrap();
    let b = scaled.session(64).unwrap().eval(ids).unwrap();
    let max = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-4 * max, "logits differ by {worst} (largest {max})");
}

/// AWQ with the clip, searched on Q4_0's grid, then llama-quantize's Q4_0 mix of the scaled file:
/// the same tensors and types as the plain Q4_0 file, other blocks, and a model that runs. (The
/// files' metadata differ too: the F32 file says `general.quantized_by` quantscope.)
// Native only: over the WebDriver runner's 20 s in the browser; the wasm tests above run the same code.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn awq_then_q4_0_makes_a_q4_0_model() {
    let r = run(AwqConfig::q4_0(), true, 32, 2);
    assert_eq!(r.clip_reports().len(), 10);
    for c in r.clip_reports() {
        assert!(c.error_clipped <= c.error_unclipped, "{}: {} after, {} before", c.name, c.error_clipped, c.error_unclipped);
        assert!(c.clipped <= c.groups);
    }
    let names: Vec<&str> = r.clip_reports().iter().map(|c| c.name.as_str()).collect();
    assert!(!names.iter().any(|n| n.contains("attn_q") || n.contains("attn_k")), "{names:?}");

    let (_, file) = f32_file();
    let awq = r.write_f32_gguf(&file).unwrap();
    let awq_file = lazy::open_gguf_file("awq.gguf", Rc::new(awq)).unwrap();
    let q4_0 = FileType::from_name("Q4_0").unwrap();
    let (mut ours, mut plain) = (Vec::new(), Vec::new());
    gguf_writer::write_mix(&awq_file, q4_0, &MixOptions::default(), &mut ours, |_, _| {}).unwrap();
    gguf_writer::write_mix(&file, q4_0, &MixOptions::default(), &mut plain, |_, _| {}).unwrap();
    assert_ne!(ours, plain);
    let (ours, plain) = (Model::from_gguf(ours).unwrap(), Model::from_gguf(plain).unwrap());
    assert_eq!(ours.matrix_types(), plain.matrix_types());
    let tokens = ours.tokenizer.encode_special(fixture_str!("tiny_lm/heldout.txt"));
    let ppl = perplexity(&ours, &tokens, 128, Some(2), |_, _| true).unwrap();
    assert!(ppl.ppl.is_finite() && ppl.ppl > 1.0);
}

/// llm-awq's own grid (4-bit, zero point, groups of 128) on the same model: every matrix's rows
/// (256 and 512 long) divide into its groups.
// Native only: over the WebDriver runner's 20 s in the browser; the wasm tests above run the same code.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn llm_awqs_grid_runs_too() {
    let r = run(AwqConfig::llm_awq(), true, 32, 2);
    assert_eq!(r.scale_reports().len(), 6);
    // gate's rows hold 2 groups of 128, down's 4.
    let gate = r.clip_reports().iter().find(|c| c.name == "blk.0.ffn_gate.weight").unwrap();
    assert_eq!(gate.groups, 512 * 2);
    let down = r.clip_reports().iter().find(|c| c.name == "blk.1.ffn_down.weight").unwrap();
    assert_eq!(down.groups, 256 * 4);
    // llm-awq's own evaluation: the scaled weights rounded onto its grid (an F32 file), against
    // round-to-nearest of the original weights on the same grid.
    let (_, file) = f32_file();
    let down = |bytes: Vec<u8>| match Model::from_gguf(bytes).unwrap().layer_matrix(0, LayerMatrix::FfnDown) {
        quantscope_llm::weights::Matrix::F32 { w, .. } => w.clone(),
        _ => panic!("an F32 matrix"),
    };
    let (awq, rtn) = (down(r.write_rounded_f32_gguf(&file, false).unwrap()), down(r.write_rounded_f32_gguf(&file, true).unwrap()));
    assert_ne!(awq, rtn);
    for w in [&awq, &rtn] {
        for group in w.chunks(128) {
            let mut levels: Vec<u32> = group.iter().map(|v| v.to_bits()).collect();
            levels.sort_unstable();
            levels.dedup();
            assert!(levels.len() <= 16, "{} levels", levels.len());
        }
    }
    let original = match model().layer_matrix(0, LayerMatrix::FfnDown) {
        quantscope_llm::weights::Matrix::F32 { w, .. } => AwqConfig::llm_awq().quantize(w, 256).unwrap(),
        _ => panic!("an F32 matrix"),
    };
    assert_eq!(crate::common::bits(&rtn), crate::common::bits(&original));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_inputs_are_refused() {
    let q8 = Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec()).unwrap();
    let tokens = q8.tokenizer.encode_special(fixture_str!("tiny_lm/calibration.txt"));
    match AwqRun::new(q8, &tokens, 128, Some(2), AwqConfig::q4_0(), true) {
        Err(LlmError::Unsupported(why)) => assert!(why.contains("q8_0") && why.contains("F32"), "{why}"),
        other => panic!("expected a refusal, got {}", other.is_ok()),
    }
    let m = model();
    let tokens = m.tokenizer.encode_special(fixture_str!("tiny_lm/calibration.txt"));
    // Groups of 96 do not divide rows of 256.
    let config = AwqConfig { grid: Grid::ZeroPoint { bits: 4 }, groupsize: Some(96), ..AwqConfig::llm_awq() };
    match AwqRun::new(m, &tokens, 128, Some(2), config, true) {
        Err(LlmError::Quantize { tensor, why }) => assert!(tensor.starts_with("blk.0.") && why.contains("96"), "{tensor}: {why}"),
        other => panic!("expected a refusal, got {}", other.is_ok()),
    }
    // Too little text for two chunks.
    let m = model();
    let few = m.tokenizer.encode_special("To be, or not to be");
    assert!(matches!(AwqRun::new(m, &few, 128, None, AwqConfig::q4_0(), true), Err(LlmError::Unsupported(_))));
    // A file before the run ends.
    let m = model();
    let run = AwqRun::new(m, &tokens, 128, Some(2), AwqConfig::q4_0(), true).unwrap();
    assert!(matches!(run.write_f32_gguf(&f32_file().1), Err(LlmError::Unsupported(_))));
}
