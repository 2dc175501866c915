//! A GGUF llama model and its quantized copies, generating and scoring text a step at a time.

use crate::awq::{AwqPageRun, AwqStep};
use crate::calibrated::{CalibratedRun, GptqSettings, GptqStep, MadeFile};
use crate::sensitivity::{SensitivityRun, SensitivityStep};
use quantscope_formats::bytesource::ByteSource;
use quantscope_formats::gguf_mix::{FileType, MixImatrix, MixOptions};
use quantscope_formats::imatrix::Imatrix;
use quantscope_formats::imatrix_writer;
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::kernels;
use quantscope_llm::kl_divergence::{base_chunk, BaseLogProbs};
use quantscope_llm::{Generator, ImatrixRun, KlDivergence, KlSummary, Model, PerplexityRun, Sampling};
use serde::Serialize;
use std::rc::Rc;

/// llama.cpp's file types made from an F32 or F16 model, in the order the page shows them.
pub const QUANTIZED_TYPES: [&str; 3] = ["Q8_0", "Q4_0", "Q4_K_M"];

/// The most memory the first variant's log-probabilities may take for the KL divergence.
const KL_BASE_BYTES: usize = 256 << 20;

/// The name a computed importance matrix is saved (and recorded in a mix's
/// `quantize.imatrix.file`) under, and the dataset name it records for the built-in text.
pub const IMATRIX_FILE: &str = "imatrix.gguf";

/// One model of the comparison (the file as loaded, or a quantized copy of it).
struct Variant {
    summary: VariantSummary,
    /// Leaked from a Box in [`Variant::new`] so that the generator below can borrow it across
    /// calls from JavaScript; given back in `Drop`. Never handed out.
    model: &'static Model,
    generator: Option<Generator<'static>>,
    /// Tokens generated since the last start, and how many more were asked for.
    generated: Vec<u32>,
    remaining: usize,
    perplexity: Option<PerplexityRun>,
    /// Its divergence from the first variant over the perplexity run's positions (not for the first).
    kl: Option<KlDivergence>,
}

impl Variant {
    fn new(name: &str, model: Model, file_bytes: usize, tensor_bits: f64, elements: f64) -> Variant {
        let mut types: Vec<&str> = model.matrix_types().into_iter().map(|(_, t)| t).collect();
        types.sort_unstable();
        types.dedup();
        let summary = VariantSummary {
            name: name.to_string(),
            file_bytes,
            bits_per_weight: tensor_bits / elements,
            matrix_types: types.into_iter().map(String::from).collect(),
        };
        Variant {
            summary,
            model: Box::leak(Box::new(model)),
            generator: None,
            generated: Vec::new(),
            remaining: 0,
            perplexity: None,
            kl: None,
        }
    }
}

impl Drop for Variant {
    fn drop(&mut self) {
        // The generator is the only borrower of the model: drop it first.
        self.generator = None;
        // SAFETY: `model` came from `Box::leak` in `Variant::new`, is private to this struct and
        // no borrow of it is left (the generator is gone), so the Box is given back exactly once.
        unsafe { drop(Box::from_raw(self.model as *const Model as *mut Model)) };
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct VariantSummary {
    pub name: String,
    /// The GGUF file's length.
    pub file_bytes: usize,
    /// Tensor bytes × 8 / parameters (llama.cpp's "BPW": metadata not counted).
    pub bits_per_weight: f64,
    /// The ggml types of its matrices.
    pub matrix_types: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct Summary {
    pub name: String,
    pub architecture: String,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ctx_train: usize,
    pub parameters: u64,
    pub variants: Vec<VariantSummary>,
    /// What llama.cpp would warn about loading the file and go on (the tokenizer's
    /// [`quantscope_llm::tokenizer::Tokenizer::warnings`]).
    pub warnings: Vec<String>,
}

/// What one generation call produced for a variant.
#[derive(Serialize, Debug)]
pub struct GenerationStep {
    /// The ids produced by this call.
    pub tokens: Vec<u32>,
    /// Every token generated since the start, as text (invalid UTF-8, a character cut between
    /// tokens, shown as U+FFFD).
    pub text: String,
    pub generated: usize,
    pub done: bool,
}

/// Where a variant's perplexity run stands.
#[derive(Serialize, Debug)]
pub struct PerplexityStep {
    pub chunks_done: usize,
    pub n_chunk: usize,
    pub ppl: f64,
    pub plus_minus: f64,
    pub tokens_scored: usize,
    pub done: bool,
    /// Against the first variant (llama-perplexity --kl-divergence), for every other variant.
    pub kl: Option<KlSummary>,
}

/// Where an importance matrix run stands.
#[derive(Serialize, Debug)]
pub struct ImatrixStep {
    pub chunks_done: usize,
    pub n_chunk: usize,
    pub done: bool,
    /// Weight tensors with statistics (when done).
    pub entries: usize,
}

pub struct Playground {
    name: String,
    parameters: u64,
    variants: Vec<Variant>,
    /// The loaded F32 or F16 file, kept to make more quantized copies from (None for a quantized
    /// file: llama-quantize re-quantizes only with --allow-requantize, and so does not the page).
    float_file: Option<lazy::LazyFile>,
    imatrix_run: Option<ImatrixRun>,
    /// The importance matrix of the last completed run.
    imatrix: Option<Rc<Imatrix>>,
    /// The first variant's log-probabilities in each perplexity chunk it did, as
    /// llama-perplexity's `--kl-divergence-base` file holds them (empty when the run's are too
    /// big to keep: no KL divergence then).
    kl_bases: Vec<Vec<BaseLogProbs>>,
    kl_enabled: bool,
    sensitivity: Option<SensitivityRun>,
    /// The F32 or F16 file's bytes (a GPTQ run quantizes its own copy of the model).
    float_source: Option<Rc<dyn ByteSource>>,
    gptq: Option<CalibratedRun>,
    awq: Option<AwqPageRun>,
    /// The GPTQ and AWQ variants' files, by variant name, for download.
    files: Vec<(String, Vec<u8>)>,
}

/// A GGUF file made in memory as a runnable variant named `label`; `bits_per_weight` overrides
/// the file's own figure (a file of F32 values standing for codes of fewer bits).
fn file_variant(label: &str, bytes: Vec<u8>, bits_per_weight: Option<f64>) -> Result<(Variant, Vec<u8>), String> {
    let len = bytes.len();
    let source: Rc<dyn ByteSource> = Rc::new(bytes.clone());
    let file = lazy::open_gguf_file(label, source.clone()).map_err(|e| e.to_string())?;
    let (bits, elements) = tensor_bits(&file);
    let model = Model::from_source(label, source).map_err(|e| format!("the {label} copy: {e}"))?;
    let mut v = Variant::new(label, model, len, bits, elements);
    if let Some(bpw) = bits_per_weight {
        v.summary.bits_per_weight = bpw;
        v.summary.matrix_types = vec![format!("f32 values of {}", label.split_once(' ').map_or(label, |(_, rest)| rest))];
    }
    Ok((v, bytes))
}

/// The most memory [`Playground::load`] holds at once for `file` (its header read, `file_len`
/// bytes long), from the header alone, for the page's "too big for the tab" check: the file
/// (read whole into memory) plus its weights as the loader keeps them
/// ([`quantscope_llm::weights::loaded_model_bytes`]: Q4_0 unpacked to Q8_0 codes, types without
/// a kernel dequantized to f32, F16 among them). An F32 or F16 file is kept for its copies, so add
/// each copy's weights, and the largest copy's file, held while that copy loads. Bytes.
pub fn memory_needed(file: &lazy::LazyFile, file_len: u64) -> Result<u64, String> {
    let weights = quantscope_llm::weights::loaded_model_bytes(file);
    let float = file.tensors.iter().filter(|t| t.shape.iter().filter(|&&d| d > 1).count() >= 2).all(|t| is_float(&t.dtype));
    let mut total = file_len + weights;
    if float {
        let mut largest_file = 0;
        for ty in QUANTIZED_TYPES {
            let ftype = FileType::from_name(ty).map_err(|e| e.to_string())?;
            let plan = gguf_writer::plan_mix(file, ftype, &MixOptions::default()).map_err(|e| format!("the {ty} copy: {e}"))?;
            let elements = |shape: &[u64]| shape.iter().product::<u64>();
            total += plan
                .tensors
                .iter()
                .map(|t| {
                    if t.shape.iter().filter(|&&d| d > 1).count() >= 2 {
                        quantscope_llm::weights::loaded_bytes(t.ty.id(), elements(&t.shape))
                    } else {
                        4 * elements(&t.shape)
                    }
                })
                .sum::<u64>();
            largest_file = largest_file.max(plan.len);
        }
        total += largest_file;
    }
    Ok(total)
}

/// A llama-quantize mix of `file` as a runnable variant named `label`.
fn quantized_variant(file: &lazy::LazyFile, ty: &str, options: &MixOptions, label: &str) -> Result<Variant, String> {
    let ftype = FileType::from_name(ty).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    gguf_writer::write_mix(file, ftype, options, &mut out, |_, _| {}).map_err(|e| format!("could not make the {label} copy: {e}"))?;
    let len = out.len();
    let source: Rc<dyn ByteSource> = Rc::new(out);
    let q = lazy::open_gguf_file(ty, source.clone()).map_err(|e| e.to_string())?;
    let (bits, elements) = tensor_bits(&q);
    let model = Model::from_source(ty, source).map_err(|e| format!("the {label} copy: {e}"))?;
    Ok(Variant::new(label, model, len, bits, elements))
}

impl Playground {
    /// Loads a llama, qwen2, qwen3, gemma, gemma2 or gemma3 GGUF file; when every matrix is F32 or
    /// F16 (what convert_hf_to_gguf.py writes), adds its Q8_0, Q4_0 and Q4_K_M copies, made from
    /// it as llama-quantize makes them from either. `progress(done, of)` counts the files made.
    /// Errors are the crate's reasons.
    pub fn load(name: &str, bytes: Vec<u8>, mut progress: impl FnMut(usize, usize)) -> Result<Playground, String> {
        let file_bytes = bytes.len();
        let source: Rc<dyn ByteSource> = Rc::new(bytes);
        let kept_source = source.clone();
        let model = Model::from_source(name, source.clone()).map_err(|e| e.to_string())?;
        let file = lazy::open_gguf_file(name, source).map_err(|e| e.to_string())?;
        let (bits, elements) = tensor_bits(&file);
        let types = model.matrix_types();
        let float = types.iter().all(|(_, t)| is_float(t));
        let first = match types_label(&model).as_str() {
            "f32" => "F32".to_string(),
            "f16" => "F16".to_string(),
            label => format!("this file ({label})"),
        };
        let parameters = elements as u64;
        let mut variants = vec![Variant::new(&first, model, file_bytes, bits, elements)];
        if float {
            for (i, ty) in QUANTIZED_TYPES.iter().enumerate() {
                progress(i, QUANTIZED_TYPES.len());
                variants.push(quantized_variant(&file, ty, &MixOptions::default(), ty)?);
            }
            progress(QUANTIZED_TYPES.len(), QUANTIZED_TYPES.len());
        }
        let float_file = float.then_some(file);
        let float_source = float.then_some(kept_source);
        Ok(Playground {
            name: name.to_string(),
            parameters,
            variants,
            float_file,
            imatrix_run: None,
            imatrix: None,
            kl_bases: Vec::new(),
            kl_enabled: false,
            sensitivity: None,
            float_source,
            gptq: None,
            awq: None,
            files: Vec::new(),
        })
    }

    /// Readies GPTQ of the F32 model's layer matrices on `text` (chunks of `n_ctx`, at most
    /// `max_chunks`): `grid` "q4_0" or "intB" with groups of `group` columns (0: a row).
    /// Returns the number of steps.
    pub fn start_gptq(
        &mut self,
        text: &str,
        n_ctx: usize,
        max_chunks: Option<usize>,
        grid: &str,
        group: usize,
        act_order: bool,
    ) -> Result<usize, String> {
        let source = self.float_source.clone().ok_or("GPTQ starts from an F32 or F16 model; this file is already quantized")?;
        let settings = GptqSettings::parse(grid, group, act_order)?;
        let mut model = Model::from_source(&self.name, source).map_err(|e| e.to_string())?;
        model.widen_f16_layer_matrices();
        let run = CalibratedRun::new(model, text, n_ctx, max_chunks, settings)?;
        let total = run.run.total();
        self.gptq = Some(run);
        Ok(total)
    }

    /// One more GPTQ step; when the last is done, its variants are added (a name already shown
    /// is made again in place).
    pub fn gptq_step(&mut self) -> Result<GptqStep, String> {
        let run = self.gptq.as_mut().ok_or("no GPTQ run started")?;
        let step = run.step()?;
        if step.finished {
            let run = self.gptq.take().expect("checked above");
            let file = self.float_file.as_ref().expect("a GPTQ run starts from the F32 model");
            let made = run.files(file)?;
            self.add_made(made)?;
        }
        Ok(step)
    }

    /// Readies AWQ of the F32 model on `text`: `grid` "q4_0" or "awq" (llm-awq's int4 g128),
    /// `clip` the clip search too. Returns the number of steps.
    pub fn start_awq(&mut self, text: &str, n_ctx: usize, max_chunks: Option<usize>, grid: &str, clip: bool) -> Result<usize, String> {
        let source = self.float_source.clone().ok_or("AWQ starts from an F32 or F16 model; this file is already quantized")?;
        let mut model = Model::from_source(&self.name, source).map_err(|e| e.to_string())?;
        model.widen_f16_layer_matrices();
        let run = AwqPageRun::new(model, text, n_ctx, max_chunks, grid, clip)?;
        let total = run.total();
        self.awq = Some(run);
        Ok(total)
    }

    /// One more AWQ step; when the last is done, its variants are added.
    pub fn awq_step(&mut self) -> Result<AwqStep, String> {
        let run = self.awq.as_mut().ok_or("no AWQ run started")?;
        let step = run.step()?;
        if step.finished {
            let run = self.awq.take().expect("checked above");
            let file = self.float_file.as_ref().expect("an AWQ run starts from the F32 model");
            let made = run.files(file)?;
            self.add_made(made)?;
        }
        Ok(step)
    }

    /// Adds (or makes again in place) a run's variants, keeping their files for download.
    fn add_made(&mut self, made: Vec<MadeFile>) -> Result<(), String> {
        for m in made {
            let name = m.name;
            let (v, bytes) = file_variant(&name, m.bytes, m.bits_per_weight)?;
            match self.variants.iter().position(|old| old.summary.name == name) {
                Some(i) => self.variants[i] = v,
                None => self.variants.push(v),
            }
            self.files.retain(|(n, _)| *n != name);
            self.files.push((name, bytes));
        }
        Ok(())
    }

    /// A GPTQ or AWQ variant's GGUF file (for download).
    pub fn variant_file(&self, name: &str) -> Result<Vec<u8>, String> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone()).ok_or_else(|| format!("no file kept for '{name}'"))
    }

    /// Adds the `ty` mix (a llama-quantize file type) of the F32 model, and the same mix made
    /// with the computed importance matrix when there is one ("TYPE + imatrix"). A name already
    /// shown is made again in place. Returns how many variants there are.
    pub fn add_type(&mut self, ty: &str) -> Result<usize, String> {
        let file =
            self.float_file.as_ref().ok_or("more quantized copies are made from an F32 or F16 model; this file is already quantized")?;
        let canonical = FileType::from_name(ty).map_err(|e| e.to_string())?.name();
        let mut made = Vec::new();
        // A mix that needs an importance matrix is only made with one (llama-quantize refuses it).
        let plain = quantized_variant(file, canonical, &MixOptions::default(), canonical);
        match (plain, &self.imatrix) {
            (Ok(v), _) => made.push(v),
            (Err(e), None) => return Err(e),
            (Err(_), Some(_)) => {}
        }
        if let Some(m) = &self.imatrix {
            let options =
                MixOptions { imatrix: Some(MixImatrix { file_name: IMATRIX_FILE.into(), imatrix: m.clone() }), ..Default::default() };
            made.push(quantized_variant(file, canonical, &options, &format!("{canonical} + imatrix"))?);
        }
        for v in made {
            match self.variants.iter().position(|old| old.summary.name == v.summary.name) {
                Some(i) => self.variants[i] = v,
                None => self.variants.push(v),
            }
        }
        Ok(self.variants.len())
    }

    /// Readies an importance matrix of `text` on the first model (llama-imatrix's: context
    /// `n_ctx`, at most `max_chunks` chunks, `dataset` recorded as the text's name); returns the
    /// number of chunks. A previous result stays until this run completes.
    pub fn start_imatrix(&mut self, text: &str, dataset: &str, n_ctx: usize, max_chunks: Option<usize>) -> Result<usize, String> {
        let model = self.first();
        let tokens = model.tokenizer.encode_special(text);
        let run = ImatrixRun::new(model, &tokens, n_ctx, max_chunks, dataset).map_err(|e| e.to_string())?;
        let n = run.n_chunk();
        self.imatrix_run = Some(run);
        Ok(n)
    }

    /// One more chunk of the importance matrix run; when the last is done, it becomes the
    /// matrix [`Playground::add_type`] quantizes with.
    pub fn imatrix_step(&mut self) -> Result<ImatrixStep, String> {
        let model = self.variants[0].model;
        let run = self.imatrix_run.as_mut().ok_or("no importance matrix run started")?;
        run.next_chunk(model).map_err(|e| e.to_string())?;
        let (chunks_done, n_chunk) = (run.chunks_done(), run.n_chunk());
        let done = chunks_done == n_chunk;
        let mut entries = 0;
        if done {
            let m = self.imatrix_run.take().and_then(|r| r.result()).ok_or("the importance matrix run gave no statistics")?;
            entries = m.entries.len();
            self.imatrix = Some(Rc::new(m));
        }
        Ok(ImatrixStep { chunks_done, n_chunk, done, entries })
    }

    /// Readies the sensitivity probes ([`crate::sensitivity`]): each kind of layer matrix (and,
    /// with `per_layer`, each layer's) in `low_type`, everything else Q8_0, scored on `text`;
    /// returns the number of probes. Quantized with the computed importance matrix, if any.
    pub fn start_sensitivity(
        &mut self,
        text: &str,
        n_ctx: usize,
        max_chunks: Option<usize>,
        low_type: &str,
        per_layer: bool,
    ) -> Result<usize, String> {
        if self.float_file.is_none() {
            return Err("the probes are made from an F32 or F16 model; this file is already quantized".into());
        }
        let run = SensitivityRun::new(self.first(), text, n_ctx, max_chunks, low_type, per_layer)?;
        let n = run.n_probe();
        self.sensitivity = Some(run);
        Ok(n)
    }

    /// One more chunk of the sensitivity probes.
    pub fn sensitivity_step(&mut self) -> Result<SensitivityStep, String> {
        let run = self.sensitivity.as_mut().ok_or("no sensitivity run started")?;
        let file = self.float_file.as_ref().expect("checked when the run started");
        let imatrix = self.imatrix.as_ref().map(|m| MixImatrix { file_name: IMATRIX_FILE.into(), imatrix: m.clone() });
        run.step(file, self.variants[0].model, imatrix.as_ref())
    }

    /// The computed importance matrix as the GGUF file llama-imatrix writes.
    pub fn imatrix_file(&self) -> Result<Vec<u8>, String> {
        let m = self.imatrix.as_ref().ok_or("no importance matrix computed yet")?;
        imatrix_writer::write_gguf(m).map_err(|e| e.to_string())
    }

    fn first(&self) -> &Model {
        self.variants[0].model
    }

    pub fn summary(&self) -> Summary {
        let c = &self.first().config;
        Summary {
            name: self.name.clone(),
            architecture: c.architecture.clone(),
            n_vocab: c.n_vocab,
            n_embd: c.n_embd,
            n_layer: c.n_layer,
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            n_ctx_train: c.n_ctx_train,
            parameters: self.parameters,
            variants: self.variants.iter().map(|v| v.summary.clone()).collect(),
            warnings: self.first().tokenizer.warnings.clone(),
        }
    }

    /// Bytes the loaded weights of every variant take, plus the F32 or F16 file when it is kept
    /// (what [`memory_needed`] predicts, less the file a load holds only while it runs).
    pub fn memory_bytes(&self) -> u64 {
        let file = self.float_source.as_ref().map_or(0, |s| s.len());
        file + self.variants.iter().map(|v| v.model.memory_bytes()).sum::<u64>()
    }

    pub fn variant_count(&self) -> usize {
        self.variants.len()
    }

    /// The prompt's ids as generation starts from them (BOS first when the model asks for it).
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        self.first().tokenizer.encode_special(text)
    }

    /// The ids of `ids` as text.
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        let bytes = self.first().tokenizer.decode(ids).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Evaluates `prompt` in every variant, ready to generate `n_tokens` each.
    pub fn start_generation(&mut self, prompt: &[u32], n_tokens: usize, sampling: Sampling) -> Result<(), String> {
        // Generation's F32 products fused in the relaxed build (kernels::FusedF32: not bit for
        // bit the plain build's, held to llama.cpp's logits); perplexity and calibration stay exact.
        let _fused = kernels::FusedF32::on();
        for v in &mut self.variants {
            v.generator = None;
            v.generated.clear();
            v.remaining = 0;
        }
        let n_ctx = prompt.len() + n_tokens;
        // Every variant starts, or none does (the first refusal is the reason for all).
        let generators = self
            .variants
            .iter()
            .map(|v| Generator::new(v.model, prompt, n_ctx, sampling).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, String>>()?;
        for (v, g) in self.variants.iter_mut().zip(generators) {
            v.generator = Some(g);
            v.remaining = n_tokens;
        }
        Ok(())
    }

    /// Up to `n` more tokens of variant `index`.
    pub fn generate(&mut self, index: usize, n: usize) -> Result<GenerationStep, String> {
        let v = self.variants.get_mut(index).ok_or_else(|| format!("no model variant {index}"))?;
        let g = v.generator.as_mut().ok_or("no generation started: press Generate first")?;
        let _fused = kernels::FusedF32::on();
        let mut tokens = Vec::new();
        while tokens.len() < n && v.remaining > 0 {
            tokens.push(g.next_token().map_err(|e| e.to_string())?);
            v.remaining -= 1;
        }
        v.generated.extend_from_slice(&tokens);
        let done = v.remaining == 0;
        let generated = v.generated.len();
        let bytes = v.model.tokenizer.decode(&v.generated).map_err(|e| e.to_string())?;
        Ok(GenerationStep { tokens, text: String::from_utf8_lossy(&bytes).into_owned(), generated, done })
    }

    /// Tokenizes `text` and readies every variant's perplexity (llama-perplexity's, context
    /// `n_ctx`, at most `max_chunks` chunks); returns the number of chunks.
    pub fn start_perplexity(&mut self, text: &str, n_ctx: usize, max_chunks: Option<usize>) -> Result<usize, String> {
        let tokens = self.first().tokenizer.encode(text);
        let mut n_chunk = 0;
        for v in &mut self.variants {
            let run = PerplexityRun::new(v.model, &tokens, n_ctx, max_chunks).map_err(|e| e.to_string())?;
            n_chunk = run.n_chunk();
            v.perplexity = Some(run);
        }
        // The base log-probabilities are kept for every chunk (2 bytes per token per position):
        // past KL_BASE_BYTES no KL divergence is computed rather than the tab run out of memory.
        let n_vocab = self.first().config.n_vocab;
        let bytes = n_chunk.saturating_mul(n_ctx - n_ctx / 2 - 1).saturating_mul(n_vocab * 2);
        self.kl_enabled = self.variants.len() > 1 && bytes <= KL_BASE_BYTES;
        for v in &mut self.variants[1..] {
            v.kl = self.kl_enabled.then(KlDivergence::default);
        }
        self.kl_bases.clear();
        Ok(n_chunk)
    }

    /// One more chunk of variant `index`'s perplexity, and of its KL divergence from the first
    /// variant (whose log-probabilities for that chunk are kept when it runs it, or computed
    /// here when another variant gets there first).
    pub fn perplexity_step(&mut self, index: usize) -> Result<PerplexityStep, String> {
        let n_vocab = self.first().config.n_vocab;
        if index > 0 && self.kl_enabled {
            let (v0, vi) = (&self.variants[0], self.variants.get(index).ok_or_else(|| format!("no model variant {index}"))?);
            let (base_run, run) = (v0.perplexity.as_ref(), vi.perplexity.as_ref());
            if let (Some(base_run), Some(run)) = (base_run, run) {
                while self.kl_bases.len() <= run.chunks_done() && self.kl_bases.len() < run.n_chunk() {
                    let (logits, _) = base_run.chunk_scored(v0.model, self.kl_bases.len()).map_err(|e| e.to_string())?;
                    self.kl_bases.push(base_chunk(&logits, n_vocab));
                }
            }
        }
        let v = self.variants.get_mut(index).ok_or_else(|| format!("no model variant {index}"))?;
        let run = v.perplexity.as_mut().ok_or("no perplexity run started")?;
        let chunk = run.chunks_done();
        if let Some((logits, next)) = run.next_chunk_scored(v.model).map_err(|e| e.to_string())? {
            if let Some(kl) = &mut v.kl {
                kl.add_chunk(&logits, &self.kl_bases[chunk], &next);
            } else if index == 0 && self.kl_enabled && self.kl_bases.len() == chunk {
                self.kl_bases.push(base_chunk(&logits, n_vocab));
            }
        }
        let r = run.result();
        Ok(PerplexityStep {
            chunks_done: run.chunks_done(),
            n_chunk: run.n_chunk(),
            ppl: r.ppl,
            plus_minus: r.plus_minus,
            tokens_scored: r.count,
            done: run.chunks_done() == run.n_chunk(),
            kl: v.kl.as_ref().and_then(|k| k.summary()),
        })
    }
}

/// (tensor bits, parameters) of a GGUF file.
fn tensor_bits(file: &lazy::LazyFile) -> (f64, f64) {
    let bytes: u64 = file.tensors.iter().filter_map(|t| t.stored_bytes()).sum();
    let elements: u64 = file.tensors.iter().map(|t| t.elements()).sum();
    (bytes as f64 * 8.0, elements as f64)
}

/// F32 and F16: the types llama-quantize makes every other type from (without --allow-requantize).
fn is_float(ggml_type: &str) -> bool {
    matches!(ggml_type, "f32" | "f16")
}

fn types_label(model: &Model) -> String {
    let mut types: Vec<&str> = model.matrix_types().into_iter().map(|(_, t)| t).collect();
    types.sort_unstable();
    types.dedup();
    types.join(" + ")
}
