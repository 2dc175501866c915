//! The whole JavaScript surface. Bytes and plain values in, `Result<_, JsError>` out; results
//! are serialized to plain JS objects (JSON-compatible: maps as objects, non-finite as null).
//!
//! The worker owns one [`Workspace`] (the loaded tensors); the page's main thread only calls
//! [`draw_histogram`] with numbers the worker sent it.

use crate::report::{self, HistogramPair};
use crate::tensor::Tensor;
use crate::{formats, samples, schemes};
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("could not serialize the result: {e}")))
}

fn js_err(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// The tensors loaded in one worker.
#[wasm_bindgen]
#[derive(Default)]
pub struct Workspace {
    tensors: Vec<Tensor>,
}

#[derive(Serialize)]
struct Loaded {
    index: usize,
    #[serde(flatten)]
    report: report::TensorReport,
}

#[derive(Serialize)]
struct Comparison<'a> {
    tensor: report::TensorReport,
    schemes: &'a [report::SchemeReport],
    /// Original vs dequantized for `histogram_scheme`.
    histogram: Option<HistogramPair>,
}

#[derive(Serialize)]
struct SchemeInfo {
    id: String,
    description: String,
}

#[wasm_bindgen]
impl Workspace {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Workspace {
        Workspace::default()
    }

    /// Parses a file and adds its tensors; returns `[{index, name, dtype, shape, stats}]`.
    pub fn load_file(&mut self, file_name: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
        let tensors = formats::load(file_name, bytes).map_err(|e| JsError::new(&format!("{file_name}: {e}")))?;
        self.add(tensors)
    }

    /// Generates a built-in sample tensor (see `samples::KINDS`) and adds it.
    pub fn add_sample(&mut self, kind: &str, rows: usize, cols: usize, seed: u32) -> Result<JsValue, JsError> {
        let t = samples::generate(kind, rows, cols, seed as u64).map_err(js_err)?;
        self.add(vec![t])
    }

    fn add(&mut self, tensors: Vec<Tensor>) -> Result<JsValue, JsError> {
        let start = self.tensors.len();
        let loaded: Vec<Loaded> = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| Loaded { index: start + i, report: report::tensor_report(t) })
            .collect();
        self.tensors.extend(tensors);
        to_js(&loaded)
    }

    /// Quantizes tensor `index` with each scheme in `scheme_ids` (a JS array of ids) and
    /// returns `{tensor, schemes: [...], histogram}`; the histogram pair (with `bins` bins) is
    /// for `histogram_scheme` when it is one of the ids.
    pub fn compare(&self, index: usize, scheme_ids: JsValue, bins: usize, histogram_scheme: Option<String>) -> Result<JsValue, JsError> {
        let t = self.tensors.get(index).ok_or_else(|| JsError::new(&format!("no tensor at index {index}")))?;
        let ids: Vec<String> = serde_wasm_bindgen::from_value(scheme_ids)
            .map_err(|e| JsError::new(&format!("scheme ids must be an array of strings: {e}")))?;
        let mut reports = Vec::with_capacity(ids.len());
        let mut histogram = None;
        for id in &ids {
            let (r, dequantized) = report::scheme_report(t, id).map_err(js_err)?;
            if histogram_scheme.as_deref() == Some(id.as_str()) {
                histogram = Some(report::histograms(&t.data, &dequantized, bins, None));
            }
            reports.push(r);
        }
        to_js(&Comparison { tensor: report::tensor_report(t), schemes: &reports, histogram })
    }

    /// How many tensors are loaded.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
}

/// Every scheme: `[{id, description}]`.
#[wasm_bindgen]
pub fn scheme_list() -> Result<JsValue, JsError> {
    let mut out = Vec::new();
    for id in schemes::all_ids() {
        let s = schemes::by_id(&id).map_err(js_err)?;
        out.push(SchemeInfo { id, description: s.description() });
    }
    to_js(&out)
}

/// The built-in samples: `[[id, description], ...]`.
#[wasm_bindgen]
pub fn sample_list() -> Result<JsValue, JsError> {
    to_js(&samples::KINDS)
}

/// Draws a histogram pair (as `compare` returns it) onto `canvas` with plotters.
#[wasm_bindgen]
pub fn draw_histogram(canvas: web_sys::HtmlCanvasElement, pair: JsValue, title: &str) -> Result<(), JsError> {
    let pair: crate::plot::HistogramPairIn = serde_wasm_bindgen::from_value(pair)
        .map_err(|e| JsError::new(&format!("histogram data is malformed: {e}")))?;
    crate::plot::draw_histogram_pair(canvas, &pair, title).map_err(|e| JsError::new(&e))
}
