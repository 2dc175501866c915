//! The GGUF mixer: the module the Inspect worker loads (`www/pkg-mix`) when a person picks one of
//! llama.cpp's file types (Q4_K_M, Q3_K_S, ...) for a GGUF model. It opens the dropped file on
//! its own (lazily, through [`BlobSource`]), plans the mix with `formats::gguf_mix`'s rules (what
//! `llama_tensor_get_type` in llama.cpp's `src/llama-quant.cpp` chooses) and writes it a piece at
//! a time, byte for byte what the pinned `llama-quantize` writes. It lives apart from the
//! workbench so that the page's first download does not carry llama.cpp's rules. An importance
//! matrix dropped on the page ([`imatrix::ImatrixFile`]) is read here too, and a mix given one
//! is what `llama-quantize --imatrix` writes (the weighted quantizers are linked only here).
//! wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

// "Fit a size" (gguf_fit) is built into a second module, www/pkg-fit, loaded only when a fit or
// a comparison of the mixes is asked for: the mixer's own module has no room for it.
#[cfg(feature = "fit")]
mod fit;
mod imatrix;
mod learn;
mod shape;

pub use imatrix::{weighted_mse, ImatrixFile};
pub use learn::{learn_grid_decode, learn_quantize_block};
use quantscope_formats::gguf_fit::FitTable;
use quantscope_formats::gguf_mix::{FileType, MixImatrix, MixOptions};
use quantscope_formats::gguf_writer::{self, Export, Plan};
use quantscope_formats::lazy::{self, LazyFile};
use quantscope_wasm_common::blob_source::BlobSource;
use quantscope_wasm_common::{gguf_work, js_err, to_js};
use serde::{Deserialize, Serialize};
pub use shape::shape_plan;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::{simd128_enabled, wasm_memory_bytes};

/// llama-quantize's options as the page sends them: `{pure, output_tensor_type,
/// token_embedding_type}` (ggml type names, or absent).
#[derive(Deserialize, Default)]
struct MixSettings {
    #[serde(default)]
    pure: bool,
    output_tensor_type: Option<String>,
    token_embedding_type: Option<String>,
}

impl MixSettings {
    fn options(&self) -> Result<MixOptions, JsError> {
        let ggml = |name: &Option<String>| -> Result<Option<u32>, JsError> {
            name.as_ref()
                .map(|n| {
                    quantscope_core::ggml_types::by_name(&n.to_ascii_lowercase())
                        .map(|t| t.id)
                        .ok_or_else(|| JsError::new(&format!("invalid ggml_type '{n}'")))
                })
                .transpose()
        };
        Ok(MixOptions {
            pure: self.pure,
            output_tensor_type: ggml(&self.output_tensor_type)?,
            token_embedding_type: ggml(&self.token_embedding_type)?,
            ..MixOptions::default()
        })
    }
}

#[derive(Serialize)]
struct MixTensor<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: &'static str,
    bytes: u64,
    elements: u64,
    /// The rule of `llama_tensor_get_type` that chose the type (and, with an imatrix, whether
    /// the tensor's entry was used).
    rule: Option<&'a str>,
    /// Quantized with the importance matrix's weights (its entry found and its type using them).
    weighted: bool,
    /// Once the errors are measured ([`GgufMixer::measure_step`]): the tensor's SQNR in dB
    /// (`None`: exact), and its importance-weighted MSE where the imatrix has its entry.
    sqnr_db: Option<f64>,
    weighted_mse: Option<f64>,
}

#[derive(Serialize)]
struct MixPlan<'a> {
    file_type: &'a str,
    /// The errors were measured: `sqnr_db`, `weighted_mse` and the file's `total_sqnr_db` are
    /// filled in.
    measured: bool,
    total_sqnr_db: Option<f64>,
    bytes: u64,
    elements: u64,
    tensors: Vec<MixTensor<'a>>,
}

/// An error in llama.cpp's words: a refusal ("requires an imatrix!", "imatrix size 100 is
/// different from ...") as its message alone, without the "invalid argument: " the core's
/// error type puts before it.
pub(crate) fn mix_err_text(e: quantscope_formats::Error) -> String {
    match e {
        quantscope_formats::Error::Core(quantscope_core::Error::InvalidArgument(why)) => why,
        other => other.to_string(),
    }
}

fn mix_err(e: quantscope_formats::Error) -> JsError {
    JsError::new(&mix_err_text(e))
}

fn describe(plan: &Plan, file_type: &str, table: Option<&FitTable>) -> Result<JsValue, JsError> {
    // A tensor's candidate of the plan's type, where the table has measured it.
    let candidate = |k: usize, t: &gguf_writer::PlannedTensor| {
        let ft = table?.tensors.get(k).filter(|ft| ft.name == t.name)?;
        Some((ft, ft.candidates.iter().find(|c| c.ty == t.ty)?))
    };
    let (mut signal, mut sse, mut measured) = (0.0, 0.0, table.is_some());
    let tensors: Vec<MixTensor> = plan
        .tensors
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let found = candidate(k, t);
            measured &= found.is_some();
            let (sqnr_db, weighted_mse) = found.map_or((None, None), |(ft, c)| {
                signal += ft.signal;
                sse += c.sse;
                let sqnr = (c.sse > 0.0).then(|| 10.0 * (ft.signal / c.sse).log10());
                (sqnr, ft.weighted.then(|| c.error / ft.elements.max(1) as f64))
            });
            MixTensor {
                name: &t.name,
                ty: t.ty.id(),
                bytes: t.size,
                elements: t.shape.iter().product(),
                rule: t.note.as_deref(),
                weighted: t.importance.is_some(),
                sqnr_db,
                weighted_mse,
            }
        })
        .collect();
    let total_sqnr_db = (measured && sse > 0.0).then(|| 10.0 * (signal / sse).log10());
    to_js(&MixPlan { file_type, measured, total_sqnr_db, bytes: plan.len, elements: tensors.iter().map(|t| t.elements).sum(), tensors })
}

/// The bytes of a chunk of a mix ([`GgufMixer::work`]), padding included, quantized with its
/// importance weights if it has any: what a pool worker runs (www/inspect/pieces.js).
#[wasm_bindgen]
pub fn mix_encode(job: JsValue) -> Result<Vec<u8>, JsError> {
    gguf_work::encode_js(&job, gguf_writer::OutType::in_a_mix, Some(quantscope_core::schemes::quantize_with_importance))
}

/// One GGUF model opened for mixing, the importance matrix its mixes use, and the mix being
/// written, if any.
#[wasm_bindgen]
pub struct GgufMixer {
    file: LazyFile,
    imatrix: Option<MixImatrix>,
    export: Option<Export>,
    /// "Fit a size": the candidate table being measured or measured, and the last fit.
    #[cfg(feature = "fit")]
    fit: fit::FitState,
}

#[wasm_bindgen]
impl GgufMixer {
    /// Opens `blob` (a dropped `.gguf` File) lazily: the header now, tensor data as it is written.
    #[wasm_bindgen(constructor)]
    pub fn new(file_name: &str, blob: web_sys::Blob) -> Result<GgufMixer, JsError> {
        let file = lazy::open_gguf_file(file_name, Rc::new(BlobSource::new(blob)?)).map_err(js_err)?;
        Ok(GgufMixer {
            file,
            imatrix: None,
            export: None,
            #[cfg(feature = "fit")]
            fit: fit::FitState::default(),
        })
    }

    /// Plans and writes the mixes that follow with `imatrix`, as `llama-quantize --imatrix`
    /// does (a mix under way keeps what it began with).
    pub fn set_imatrix(&mut self, imatrix: &ImatrixFile) {
        #[cfg(feature = "fit")]
        if !self.imatrix.as_ref().is_some_and(|m| std::rc::Rc::ptr_eq(&m.imatrix, &imatrix.mix.imatrix)) {
            self.fit = fit::FitState::default(); // its errors were weighted by another matrix
        }
        self.imatrix = Some(imatrix.mix.clone());
    }

    /// The mixes that follow are made without an importance matrix.
    pub fn clear_imatrix(&mut self) {
        #[cfg(feature = "fit")]
        if self.imatrix.is_some() {
            self.fit = fit::FitState::default();
        }
        self.imatrix = None;
    }

    /// The plan of `file_type` ("Q4_K_M") with `settings`, nothing written: `{file_type, bytes,
    /// elements, tensors: [{name, type, bytes, elements, rule, weighted}]}` in the file's order, or
    /// llama.cpp's refusal ("requires an imatrix", ...) as the error.
    pub fn plan(&self, file_type: &str, settings: JsValue) -> Result<JsValue, JsError> {
        let (ftype, options) = self.parse(file_type, settings)?;
        let plan = gguf_writer::plan_mix(&self.file, ftype, &options).map_err(mix_err)?;
        describe(&plan, ftype.name(), self.measured_table())
    }

    /// Begins writing the mix (replacing one under way); returns its plan as [`GgufMixer::plan`]
    /// does. Step it with [`GgufMixer::step`].
    pub fn begin(&mut self, file_type: &str, settings: JsValue) -> Result<JsValue, JsError> {
        let (ftype, options) = self.parse(file_type, settings)?;
        let plan = gguf_writer::plan_mix(&self.file, ftype, &options).map_err(mix_err)?;
        let described = describe(&plan, ftype.name(), self.measured_table())?;
        // The tensors the plan gives importance weights are quantized as ggml_quantize_chunk(…,
        // imatrix) does; a plan without an imatrix has none, and never calls it.
        self.export = Some(Export::with_importance(plan, quantscope_core::schemes::quantize_with_importance));
        Ok(described)
    }

    /// The next piece of the file (the header, then a chunk of a tensor), or `undefined` when it
    /// is complete. An error ends the export.
    pub fn step(&mut self) -> Result<Option<Vec<u8>>, JsError> {
        let export = self.export.as_mut().ok_or_else(|| JsError::new("no mix is being written"))?;
        let file = &self.file;
        let mut read = |k: usize, start: u64, count: usize| file.read_values(k, start, count);
        let mut stored = |k: usize, start: u64, len: usize| file.read_stored(k, start, len);
        let piece = export.next_piece_copying(&mut read, &mut stored);
        if !matches!(piece, Ok(Some(_))) {
            self.export = None;
        }
        piece.map_err(mix_err)
    }

    /// The next piece of the mix as work for the page's pool of workers
    /// (`wasm_common::gguf_work`): bytes to write, a chunk to encode with [`mix_encode`], or
    /// `undefined` when the file is complete. An error ends the export.
    pub fn work(&mut self) -> Result<JsValue, JsError> {
        let export = self.export.as_mut().ok_or_else(|| JsError::new("no mix is being written"))?;
        let file = &self.file;
        let mut read = |k: usize, start: u64, count: usize| file.read_values(k, start, count);
        let mut stored = |k: usize, start: u64, len: usize| file.read_stored(k, start, len);
        let work = export.next_work(&mut read, &mut stored);
        if !matches!(work, Ok(Some(_))) {
            self.export = None;
        }
        gguf_work::work_to_js(work.map_err(mix_err)?)
    }

    /// Drops the mix under way, if any.
    pub fn cancel(&mut self) {
        self.export = None;
    }
}

impl GgufMixer {
    /// The errors of every tensor in every type, once measured (www/pkg-fit only).
    fn measured_table(&self) -> Option<&FitTable> {
        #[cfg(feature = "fit")]
        return self.fit.table();
        #[cfg(not(feature = "fit"))]
        None
    }

    /// The file type and llama-quantize's options: the page's settings and this mixer's imatrix.
    fn parse(&self, file_type: &str, settings: JsValue) -> Result<(FileType, MixOptions), JsError> {
        let ftype = FileType::from_name(file_type).map_err(mix_err)?;
        let settings: MixSettings = if settings.is_undefined() || settings.is_null() {
            MixSettings::default()
        } else {
            serde_wasm_bindgen::from_value(settings).map_err(|e| JsError::new(&format!("mix settings: {e}")))?
        };
        Ok((ftype, MixOptions { imatrix: self.imatrix.clone(), ..settings.options()? }))
    }
}
