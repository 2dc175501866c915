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
use wasm_bindgen::JsCast;

pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("could not serialize the result: {e}")))
}

pub(crate) fn js_err(e: crate::Error) -> JsError {
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
struct LoadedFileInfo<'a> {
    file: &'a str,
    format: formats::Format,
    metadata: &'a [(String, String)],
    tensors: Vec<Loaded>,
}

#[derive(Serialize)]
struct Comparison<'a> {
    tensor: report::TensorReport,
    schemes: &'a [report::SchemeReport],
    /// Original vs dequantized for `histogram_scheme`.
    histogram: Option<HistogramPair>,
}

#[derive(Default, serde::Deserialize)]
struct CompareOptions {
    bins: Option<usize>,
    histogram_scheme: Option<String>,
    range: Option<[f64; 2]>,
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

    /// Parses a file and adds its tensors; returns `{file, format, metadata: [[key, value]],
    /// tensors: [{index, name, dtype, shape, stored_bytes, stats}]}`.
    pub fn load_file(&mut self, file_name: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
        let mut loaded = formats::load_file(file_name, bytes).map_err(|e| JsError::new(&format!("{file_name}: {e}")))?;
        let tensors = self.add(std::mem::take(&mut loaded.tensors));
        to_js(&LoadedFileInfo { file: file_name, format: loaded.format, metadata: &loaded.metadata, tensors })
    }

    /// Generates a built-in sample tensor (see `samples::KINDS`) and adds it.
    /// Loads a sharded safetensors checkpoint: the `*.safetensors.index.json` and the shard
    /// files dropped with it (`shard_names`: array of strings, `shards`: array of Uint8Array,
    /// in the same order). Returns what `load_file` returns.
    pub fn load_sharded(&mut self, index_name: &str, index: &[u8], shard_names: JsValue, shards: js_sys::Array) -> Result<JsValue, JsError> {
        let names: Vec<String> = serde_wasm_bindgen::from_value(shard_names)
            .map_err(|e| JsError::new(&format!("shard names must be an array of strings: {e}")))?;
        if names.len() != shards.length() as usize {
            return Err(JsError::new("one byte array is needed per shard name"));
        }
        let bytes: Vec<Vec<u8>> = shards.iter().map(|b| js_sys::Uint8Array::new(&b).to_vec()).collect();
        let pairs: Vec<(&str, &[u8])> = names.iter().map(String::as_str).zip(bytes.iter().map(Vec::as_slice)).collect();
        let mut loaded = formats::safetensors::load_sharded(index, &pairs).map_err(|e| JsError::new(&format!("{index_name}: {e}")))?;
        drop(bytes);
        let tensors = self.add(std::mem::take(&mut loaded.tensors));
        to_js(&LoadedFileInfo { file: index_name, format: loaded.format, metadata: &loaded.metadata, tensors })
    }

    /// Returns `[{index, name, dtype, shape, stored_bytes, stats}]`.
    pub fn add_sample(&mut self, kind: &str, rows: usize, cols: usize, seed: u32) -> Result<JsValue, JsError> {
        let t = samples::generate(kind, rows, cols, seed as u64).map_err(js_err)?;
        to_js(&self.add(vec![t]))
    }

    /// Tensor `index`, for every operation on a loaded tensor (the Learn view's too).
    pub(crate) fn tensor(&self, index: usize) -> Result<&Tensor, JsError> {
        self.tensors.get(index).ok_or_else(|| JsError::new(&format!("no tensor at index {index}")))
    }

    fn add(&mut self, tensors: Vec<Tensor>) -> Vec<Loaded> {
        let start = self.tensors.len();
        let loaded = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| Loaded { index: start + i, report: report::tensor_report(t) })
            .collect();
        self.tensors.extend(tensors);
        loaded
    }

    /// Quantizes tensor `index` with each scheme in `scheme_ids` (a JS array of ids) and
    /// returns `{tensor, schemes: [...], histogram}`. `options` is `{bins, histogram_scheme,
    /// range}`: the histograms (`bins` bins, over `range` = [lo, hi] when given, else the
    /// tensor's range) are for `histogram_scheme` when it is one of the ids.
    pub fn compare(&self, index: usize, scheme_ids: JsValue, options: JsValue) -> Result<JsValue, JsError> {
        let t = self.tensor(index)?;
        let ids: Vec<String> = serde_wasm_bindgen::from_value(scheme_ids)
            .map_err(|e| JsError::new(&format!("scheme ids must be an array of strings: {e}")))?;
        let options: CompareOptions = if options.is_undefined() || options.is_null() {
            CompareOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad compare options: {e}")))?
        };
        let bins = options.bins.unwrap_or(64);
        if bins == 0 || bins > crate::stats::histogram::MAX_BINS {
            return Err(JsError::new(&format!("bins must be between 1 and {}", crate::stats::histogram::MAX_BINS)));
        }
        let range = match options.range {
            Some([lo, hi]) if lo.is_finite() && hi.is_finite() && lo < hi => Some((lo, hi)),
            Some(r) => return Err(JsError::new(&format!("histogram range {r:?} must be two finite numbers, lo < hi"))),
            None => None,
        };
        let mut reports = Vec::with_capacity(ids.len());
        let mut histogram = None;
        for id in &ids {
            let (r, dequantized) = report::scheme_report(t, id).map_err(js_err)?;
            if options.histogram_scheme.as_deref() == Some(id.as_str()) {
                histogram = Some(report::histograms(&t.data, &dequantized, bins, range));
            }
            reports.push(r);
        }
        to_js(&Comparison { tensor: report::tensor_report(t), schemes: &reports, histogram })
    }

    /// The bytes of a download for tensor `index`: `"original"` (float32 .npy of the values as
    /// loaded), `"dequantized"` (float32 .npy of `scheme`'s round trip) or `"packed"` (`scheme`'s
    /// packed bytes, in the layout the README documents).
    pub fn export(&self, index: usize, what: &str, scheme: Option<String>) -> Result<Vec<u8>, JsError> {
        let t = self.tensor(index)?;
        if what == "original" {
            return Ok(formats::npy::write_f32(&t.shape, &t.data));
        }
        let id = scheme.ok_or_else(|| JsError::new(&format!("exporting '{what}' needs a scheme")))?;
        let q = schemes::by_id(&id).and_then(|s| s.quantize(&t.data, &t.shape)).map_err(js_err)?;
        match what {
            "dequantized" => Ok(formats::npy::write_f32(&t.shape, &q.dequantized)),
            "packed" => Ok(q.packed),
            other => Err(JsError::new(&format!("unknown export '{other}' (original, dequantized or packed)"))),
        }
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

/// Draws bar histograms (`plot::HistogramChart`: `{title, x_label, series: [{label,
/// histogram}], markers: [{x, label}]}`) onto `canvas` with plotters.
#[wasm_bindgen]
pub fn draw_histograms(canvas: web_sys::HtmlCanvasElement, chart: JsValue) -> Result<(), JsError> {
    let chart: crate::plot::HistogramChart =
        serde_wasm_bindgen::from_value(chart).map_err(|e| JsError::new(&format!("histogram chart is malformed: {e}")))?;
    crate::plot::draw_histograms(canvas, &chart).map_err(|e| JsError::new(&e))
}

/// Draws SQNR against bits per weight for scheme reports (`[{scheme, bits_per_weight, sqnr_db}]`).
#[wasm_bindgen]
pub fn draw_sqnr_chart(canvas: web_sys::HtmlCanvasElement, reports: JsValue, selected: &str) -> Result<(), JsError> {
    let points: Vec<crate::plot::SchemePoint> =
        serde_wasm_bindgen::from_value(reports).map_err(|e| JsError::new(&format!("scheme points are malformed: {e}")))?;
    crate::plot::draw_sqnr_chart(canvas, &points, selected).map_err(|e| JsError::new(&e))
}

/// `performance.now()` of the global scope (window or worker).
fn performance_now() -> f64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("performance")).unwrap_or(JsValue::UNDEFINED);
    js_sys::Reflect::get(&performance, &JsValue::from_str("now"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(&performance).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}

/// The scheme ids the bench page measures.
#[wasm_bindgen]
pub fn bench_ids() -> Vec<String> {
    crate::bench::bench_ids()
}

/// Times one scheme on a `normal` sample of `elements` values (fastest of `reps`); returns
/// `{scheme, elements, quantize_mb_s, dequantize_mb_s, metrics_mb_s}`.
#[wasm_bindgen]
pub fn bench_scheme(id: &str, elements: usize, reps: usize) -> Result<JsValue, JsError> {
    let cols = 4096.min(elements.max(1));
    let t = samples::generate("normal", elements / cols, cols, 1).map_err(js_err)?;
    let scheme = schemes::by_id(id).map_err(js_err)?;
    let r = crate::bench::bench_scheme(scheme.as_ref(), &t.data, &t.shape, reps, &performance_now).map_err(js_err)?;
    to_js(&r)
}

/// True when this build was compiled with SIMD128 (the bench page labels its columns by it).
#[wasm_bindgen]
pub fn simd128_enabled() -> bool {
    cfg!(target_feature = "simd128")
}
