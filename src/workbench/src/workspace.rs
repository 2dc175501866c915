//! The workbench module's JavaScript surface (the Run view's engine is the other module,
//! `quantscope-runner`). Bytes and plain values in, `Result<_, JsError>` out;
//! results are serialized to plain JS objects (JSON-compatible: maps as objects, non-finite as
//! null).
//!
//! The worker owns one [`Workspace`] (the loaded tensors); the page's main thread draws with the
//! plot module (`src/plots`, `www/pkg-plot`) the numbers the worker sent it, and gets the
//! pickers' lists ([`scheme_list`], [`sample_list`], ...) from the worker.

use crate::store::TensorStore;
use quantscope_core::report::{self, HistogramPair};
use quantscope_core::tensor::Tensor;
use quantscope_core::{samples, schemes};
use quantscope_formats as formats;
use quantscope_formats::bytesource::ByteSource;
use quantscope_formats::gguf_writer::{self, OutType};
use quantscope_formats::lazy::{self, StatsScan};
use quantscope_wasm_common::blob_source::BlobSource;
use quantscope_wasm_common::{gguf_work, js_err, to_js};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The tensors loaded in one worker: in a [`TensorStore`], which decodes lazily opened files'
/// tensors on demand under a memory budget (hence the `RefCell`: reading a tensor may update
/// the cache from a `&self` method).
#[wasm_bindgen]
#[derive(Default)]
pub struct Workspace {
    store: RefCell<TensorStore>,
    /// Statistics scans of files being opened, by file id, with the files' tensor indices.
    scans: HashMap<usize, (StatsScan, Vec<usize>)>,
    /// GGUF files being written, by export id (a cancelled export's last step may run after
    /// the next one has begun, so each has its own).
    gguf_exports: HashMap<u32, GgufExport>,
    next_export_id: u32,
}

/// The formats this module reads: those without a zip, inflate or protobuf decoder. An .npz or
/// ONNX file is read by the reader module (`src/reader`, `www/pkg-read`, which the worker loads
/// when one is first opened; see [`reader_module_reads`]), 80 KB gzipped this module leaves out.
const READERS: &[(formats::Format, formats::Reader)] = formats::NPY_SAFETENSORS_GGUF;

/// The most values of a lazily read tensor the page decodes for a comparison, a download or a
/// Learn view (2^26 f32 = 256 MiB; a comparison holds about four such copies at once). Tensors
/// of formats read whole are in memory already and have no such cap.
pub const PAGE_MAX_ELEMENTS: u64 = 1 << 26;

#[derive(Serialize)]
struct LessonTensor<'a> {
    name: &'a str,
    shape: &'a [usize],
}

#[derive(Serialize)]
struct Loaded {
    index: usize,
    #[serde(flatten)]
    report: report::TensorReport,
    /// False for a tensor too large for the comparison (see [`PAGE_MAX_ELEMENTS`]).
    comparable: bool,
}

#[derive(Serialize)]
struct LoadedFileInfo<'a> {
    file: &'a str,
    /// The worker's id of a file opened with `open_file` (for its export and for closing it).
    #[serde(skip_serializing_if = "Option::is_none")]
    file_id: Option<usize>,
    format: formats::Format,
    metadata: &'a [(String, String)],
    tensors: Vec<Loaded>,
    /// An ONNX model's weight descriptions, one per tensor in the same order (see
    /// `formats::onnx::weights`); left out for other formats.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    weights: &'a [formats::onnx::weights::WeightInfo],
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
    /// The family's label, for the picker's `<optgroup>` (see `schemes::families`).
    family: &'static str,
}

#[wasm_bindgen]
impl Workspace {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Workspace {
        Workspace::default()
    }

    /// Parses a file and adds its tensors; returns `{file, format, metadata: [[key, value]],
    /// tensors: [{index, name, dtype, shape, stored_bytes, stats}]}`. Only .npy, .safetensors
    /// and .gguf ([`READERS`]): .npz and ONNX files are the reader module's (see
    /// [`Workspace::open_read`]).
    pub fn load_file(&mut self, file_name: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
        let mut loaded = formats::load_file_with(file_name, bytes, READERS).map_err(|e| JsError::new(&format!("{file_name}: {e}")))?;
        let tensors = self.add(std::mem::take(&mut loaded.tensors));
        to_js(&LoadedFileInfo {
            file: file_name,
            file_id: None,
            format: loaded.format,
            metadata: &loaded.metadata,
            tensors,
            weights: &loaded.weights,
        })
    }

    /// Generates a built-in sample tensor (see `samples::KINDS`) and adds it.
    /// Loads a sharded safetensors checkpoint: the `*.safetensors.index.json` and the shard
    /// files dropped with it (`shard_names`: array of strings, `shards`: array of Uint8Array,
    /// in the same order). Returns what `load_file` returns.
    pub fn load_sharded(
        &mut self,
        index_name: &str,
        index: &[u8],
        shard_names: JsValue,
        shards: js_sys::Array,
    ) -> Result<JsValue, JsError> {
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
        to_js(&LoadedFileInfo {
            file: index_name,
            file_id: None,
            format: loaded.format,
            metadata: &loaded.metadata,
            tensors,
            weights: &loaded.weights,
        })
    }

    /// Returns `[{index, name, dtype, shape, stored_bytes, stats}]`.
    pub fn add_sample(&mut self, kind: &str, rows: usize, cols: usize, seed: u32) -> Result<JsValue, JsError> {
        let t = samples::generate(kind, rows, cols, seed as u64).map_err(js_err)?;
        to_js(&self.add(vec![t]))
    }

    /// Tensor `index`, for every operation on a loaded tensor (the Learn view's too). A tensor
    /// of a lazily opened file is decoded from it if it is not cached (refused over
    /// [`PAGE_MAX_ELEMENTS`]); the `Rc` keeps it alive while in use even if the cache drops it.
    /// Pass it on as `&self.tensor(index)?` where a `&Tensor` is wanted.
    pub(crate) fn tensor(&self, index: usize) -> Result<Rc<Tensor>, JsError> {
        self.check_size(index, "this operation")?;
        self.store.borrow_mut().get(index).map_err(js_err)
    }

    fn add(&mut self, tensors: Vec<Tensor>) -> Vec<Loaded> {
        let indices = self.store.get_mut().add_owned(tensors);
        indices.into_iter().map(|i| self.loaded(i)).collect::<Result<_, _>>().expect("owned tensors have reports")
    }

    /// Quantizes tensor `index` with each scheme in `scheme_ids` (a JS array of ids) and
    /// returns `{tensor, schemes: [...], histogram}`. `options` is `{bins, histogram_scheme,
    /// range}`: the histograms (`bins` bins, over `range` = [lo, hi] when given, else the
    /// tensor's range) are for `histogram_scheme` when it is one of the ids.
    pub fn compare(&self, index: usize, scheme_ids: JsValue, options: JsValue) -> Result<JsValue, JsError> {
        self.check_size(index, "the scheme comparison")?;
        let t = self.tensor(index)?;
        let ids: Vec<String> = serde_wasm_bindgen::from_value(scheme_ids)
            .map_err(|e| JsError::new(&format!("scheme ids must be an array of strings: {e}")))?;
        let options: CompareOptions = if options.is_undefined() || options.is_null() {
            CompareOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(|e| JsError::new(&format!("bad compare options: {e}")))?
        };
        let bins = options.bins.unwrap_or(64);
        if bins == 0 || bins > quantscope_core::stats::histogram::MAX_BINS {
            return Err(JsError::new(&format!("bins must be between 1 and {}", quantscope_core::stats::histogram::MAX_BINS)));
        }
        let range = match options.range {
            Some([lo, hi]) if lo.is_finite() && hi.is_finite() && lo < hi => Some((lo, hi)),
            Some(r) => return Err(JsError::new(&format!("histogram range {r:?} must be two finite numbers, lo < hi"))),
            None => None,
        };
        let mut reports = Vec::with_capacity(ids.len());
        let mut histogram = None;
        for id in &ids {
            // Only the histogram's scheme keeps its dequantized copy; the others are measured a
            // chunk at a time (the same numbers, bit for bit, without writing a tensor-sized copy).
            let r = if options.histogram_scheme.as_deref() == Some(id.as_str()) {
                let (r, dequantized) = report::scheme_report(&t, id).map_err(js_err)?;
                histogram = Some(report::histograms(&t.data, &dequantized, bins, range));
                r
            } else {
                report::scheme_metrics(&t, id).map_err(js_err)?
            };
            reports.push(r);
        }
        let tensor = self.store.borrow().report(index).map_err(js_err)?;
        to_js(&Comparison { tensor, schemes: &reports, histogram })
    }

    /// A copy of tensor `index`'s values as loaded (a `Float32Array`): what the whole-model
    /// comparison posts to its pool of workers (www/inspect/pool.js, [`compare_values`]).
    pub fn tensor_values(&self, index: usize) -> Result<js_sys::Float32Array, JsError> {
        // Straight from the stored tensor into a JS array: one copy, not a Rust clone first.
        Ok(js_sys::Float32Array::from(&self.tensor(index)?.data[..]))
    }

    /// Tensor `index` for the Learn view's lesson (the tutor module, `www/pkg-learn`):
    /// `{name, shape, values: Float32Array}`, the values read (or decoded) once.
    pub fn lesson_tensor(&self, index: usize) -> Result<JsValue, JsError> {
        let t = self.tensor(index)?;
        let out = to_js(&LessonTensor { name: &t.name, shape: &t.shape })?;
        js_sys::Reflect::set(&out, &"values".into(), &js_sys::Float32Array::from(&t.data[..]))
            .map_err(|_| JsError::new("could not attach the tensor's values"))?;
        Ok(out)
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

    /// How many tensor indices have been handed out.
    pub fn len(&self) -> usize {
        self.store.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.borrow().is_empty()
    }
}

/// A GGUF export under way: the writer's state and the store indices of its tensors.
struct GgufExport {
    export: gguf_writer::Export,
    indices: Vec<usize>,
}

#[derive(Serialize)]
struct Progress {
    done: f64,
    total: f64,
    finished: bool,
}

#[derive(Serialize)]
struct ExportTensor<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: &'static str,
    bytes: u64,
    note: Option<&'a str>,
}

#[derive(Serialize)]
struct ExportPlan<'a> {
    export_id: u32,
    scheme: &'static str,
    bytes: u64,
    tensors: Vec<ExportTensor<'a>>,
}

/// Big files: opening without reading whole, streamed statistics and histograms, the memory
/// budget, and whole-model GGUF export. Each long operation is a sequence of short steps, so
/// the worker can report progress and take a cancel between two.
#[wasm_bindgen]
impl Workspace {
    /// The tensor `index` as the page lists it (statistics must be known).
    fn loaded(&self, index: usize) -> Result<Loaded, formats::Error> {
        let store = self.store.borrow();
        let report = store.report(index)?;
        let comparable = store.source_of(index).is_none() || store.elements(index)? <= PAGE_MAX_ELEMENTS;
        Ok(Loaded { index, report, comparable })
    }

    /// Refuses a lazily read tensor over [`PAGE_MAX_ELEMENTS`] for `operation`.
    fn check_size(&self, index: usize, operation: &'static str) -> Result<(), JsError> {
        let store = self.store.borrow();
        let elements = store.elements(index).map_err(js_err)?;
        if store.source_of(index).is_some() && elements > PAGE_MAX_ELEMENTS {
            let tensor = store.name(index).map_err(js_err)?.to_string();
            return Err(js_err(formats::Error::TensorTooLarge { tensor, elements, limit: PAGE_MAX_ELEMENTS, operation }));
        }
        Ok(())
    }

    /// Opens a dropped file (a `File` or any `Blob`) without reading it whole: .safetensors and
    /// .gguf headers only, other formats read whole as `load_file` does. Returns `{file_id,
    /// file, format, tensors: count, total: values}`; call [`Workspace::open_step`] until it
    /// says `finished` to stream every tensor's statistics.
    pub fn open_file(&mut self, file_name: &str, blob: web_sys::Blob) -> Result<JsValue, JsError> {
        let named = |e: formats::Error| JsError::new(&format!("{file_name}: {e}"));
        let source = Rc::new(BlobSource::new(blob)?);
        let file = lazy::open_with(file_name, source, READERS).map_err(named)?;
        self.begin_scan(file)
    }

    /// Opens a file the reader module (`src/reader`, `www/pkg-read`) read whole — an .npz or
    /// ONNX file, whose zip, inflate and protobuf decoders this module does not carry — as
    /// [`Workspace::open_file`] opens one: `read` is that module's `read_file(file_name, blob)`,
    /// `{format, metadata: [[key, value]], tensors: [{name, dtype, shape, values}]}` (an ONNX
    /// model's `weights` stay with the worker). Returns what `open_file` returns; then call
    /// `open_step`.
    pub fn open_read(&mut self, file_name: &str, blob: web_sys::Blob, read: JsValue) -> Result<JsValue, JsError> {
        let malformed = |what: &str| JsError::new(&format!("{file_name}: the reader module's answer has no valid {what}"));
        let field = |object: &JsValue, key: &str| js_sys::Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
        let format: formats::Format = serde_wasm_bindgen::from_value(field(&read, "format")).map_err(|_| malformed("format"))?;
        let metadata: Vec<(String, String)> =
            serde_wasm_bindgen::from_value(field(&read, "metadata")).map_err(|_| malformed("metadata"))?;
        let entries: js_sys::Array = field(&read, "tensors").dyn_into().map_err(|_| malformed("tensors"))?;
        let mut tensors = Vec::with_capacity(entries.length() as usize);
        for entry in entries.iter() {
            let name = field(&entry, "name").as_string().ok_or_else(|| malformed("tensor name"))?;
            let dtype = field(&entry, "dtype").as_string().ok_or_else(|| malformed("tensor dtype"))?;
            let shape: Vec<usize> = serde_wasm_bindgen::from_value(field(&entry, "shape")).map_err(|_| malformed("tensor shape"))?;
            let values: js_sys::Float32Array = field(&entry, "values").dyn_into().map_err(|_| malformed("tensor values"))?;
            if shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) != Some(values.length() as usize) {
                return Err(malformed(&format!("values for tensor '{name}' (they do not fill its shape)")));
            }
            tensors.push(Tensor::new(name, shape, dtype, values.to_vec()));
        }
        let loaded = formats::LoadedFile { format, metadata, tensors, weights: Vec::new() };
        let file = lazy::resident(file_name, loaded, Rc::new(BlobSource::new(blob)?));
        self.begin_scan(file)
    }

    /// Opens a sharded safetensors checkpoint as [`Workspace::open_file`] opens one file: the
    /// index's bytes, and its shards as `File`s (`shard_names` and `shards` in the same order),
    /// only their headers read. Returns what `open_file` returns; then call `open_step`.
    pub fn open_sharded(
        &mut self,
        index_name: &str,
        index: &[u8],
        shard_names: JsValue,
        shards: js_sys::Array,
    ) -> Result<JsValue, JsError> {
        let names: Vec<String> = serde_wasm_bindgen::from_value(shard_names)
            .map_err(|e| JsError::new(&format!("shard names must be an array of strings: {e}")))?;
        if names.len() != shards.length() as usize {
            return Err(JsError::new("one File is needed per shard name"));
        }
        let mut sources: Vec<(String, Rc<dyn ByteSource>)> = Vec::with_capacity(names.len());
        for (name, blob) in names.into_iter().zip(shards.iter()) {
            let blob: web_sys::Blob = blob.dyn_into().map_err(|_| JsError::new(&format!("shard '{name}' is not a File")))?;
            sources.push((name, Rc::new(BlobSource::new(blob)?)));
        }
        let file = lazy::open_sharded(index_name, index, sources).map_err(|e| JsError::new(&format!("{index_name}: {e}")))?;
        self.begin_scan(file)
    }

    /// Adds an opened file and starts the scan of its statistics; returns `{file_id, file,
    /// format, tensors: count, total: values}`.
    fn begin_scan(&mut self, file: lazy::LazyFile) -> Result<JsValue, JsError> {
        let scan = StatsScan::new(&file);
        #[derive(Serialize)]
        struct Opened<'a> {
            file_id: usize,
            file: &'a str,
            format: formats::Format,
            tensors: usize,
            total: f64,
        }
        let (name, format, count, total) = (file.name.clone(), file.format, file.tensors.len(), scan.total as f64);
        let (file_id, indices) = self.store.get_mut().add_file(file);
        self.scans.insert(file_id, (scan, indices));
        to_js(&Opened { file_id, file: &name, format, tensors: count, total })
    }

    /// Streams about `budget` more values of file `file_id`'s tensors into their statistics.
    /// Returns `{done, total, finished}`, and when finished also `info`: what `load_file`
    /// returns (with `file_id`), each tensor with `comparable`.
    pub fn open_step(&mut self, file_id: usize, budget: f64) -> Result<JsValue, JsError> {
        let file = self.store.get_mut().file(file_id).map_err(js_err)?;
        let (scan, _) = self.scans.get_mut(&file_id).ok_or_else(|| JsError::new(&format!("file {file_id} is not being opened")))?;
        let named = |e: formats::Error| JsError::new(&format!("{}: {e}", file.name));
        let finished = scan.step(&file, budget.max(1.0).min(usize::MAX as f64) as usize).map_err(named)?;
        let progress = Progress { done: scan.done as f64, total: scan.total as f64, finished };
        if !finished {
            return to_js(&progress);
        }
        let (scan, indices) = self.scans.remove(&file_id).expect("looked up above");
        let store = self.store.get_mut();
        for (&i, summary) in indices.iter().zip(scan.summaries) {
            store.set_summary(i, summary).map_err(js_err)?;
        }
        let tensors = indices.iter().map(|&i| self.loaded(i)).collect::<Result<Vec<_>, _>>().map_err(js_err)?;
        #[derive(Serialize)]
        struct Done<'a> {
            #[serde(flatten)]
            progress: Progress,
            info: LoadedFileInfo<'a>,
        }
        let info = LoadedFileInfo {
            file: &file.name,
            file_id: Some(file_id),
            format: file.format,
            metadata: &file.metadata,
            tensors,
            weights: &file.weights,
        };
        to_js(&Done { progress, info })
    }

    /// Closes a file (a cancelled open): its tensors' indices stay taken but empty.
    pub fn close_file(&mut self, file_id: usize) {
        self.scans.remove(&file_id);
        self.store.get_mut().close_file(file_id);
    }

    /// A histogram of tensor `index`'s values streamed from its file (`bins` bins over
    /// [lo, hi], default its range), for a tensor too big to compare.
    pub fn histogram_streamed(&self, index: usize, bins: usize, range: JsValue) -> Result<JsValue, JsError> {
        let store = self.store.borrow();
        let (lo, hi) = match serde_wasm_bindgen::from_value::<Option<[f64; 2]>>(range) {
            Ok(Some([lo, hi])) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
            _ => {
                let s = store.report(index).map_err(js_err)?.stats;
                if s.min.is_nan() {
                    (0.0, 0.0)
                } else {
                    (s.min, s.max)
                }
            }
        };
        let mut h = quantscope_core::stats::histogram::Histogram::empty(bins, lo, hi);
        let n = store.elements(index).map_err(js_err)?;
        let mut start = 0u64;
        while start < n {
            h.add(&store.read_values(index, start, lazy::CHUNK_ELEMENTS).map_err(js_err)?);
            start += lazy::CHUNK_ELEMENTS as u64;
        }
        to_js(&h)
    }

    /// Sets the budget for decoded tensors of lazily opened files, in bytes.
    pub fn set_memory_budget(&mut self, bytes: f64) {
        self.store.get_mut().set_budget(bytes.max(0.0) as u64);
    }

    /// Bytes of decoded tensors cached from lazily opened files.
    pub fn cached_bytes(&self) -> f64 {
        self.store.borrow().cached_bytes() as f64
    }

    /// Plans a GGUF of tensors `indices` (a JS array, in file order) quantized as `scheme` (a
    /// ggml type id, see `gguf_types`); when they all come from one GGUF file its metadata is
    /// kept. `name` is `general.name` if the source has none. Returns `{export_id, scheme, bytes,
    /// tensors: [{name, type, bytes, note}]}`; then call [`Workspace::export_gguf_step`] with
    /// the id for the bytes.
    pub fn export_gguf_begin(&mut self, indices: JsValue, scheme: &str, name: &str) -> Result<JsValue, JsError> {
        let indices: Vec<usize> =
            serde_wasm_bindgen::from_value(indices).map_err(|e| JsError::new(&format!("indices must be an array of numbers: {e}")))?;
        let requested = OutType::from_id(scheme).ok_or_else(|| {
            JsError::new(&format!("'{scheme}' is not a ggml type a GGUF can hold ({})", OutType::ALL.map(|t| t.id()).join(", ")))
        })?;
        let store = self.store.get_mut();
        let mut tensors = Vec::with_capacity(indices.len());
        for &i in &indices {
            let report = store.report(i).map_err(js_err)?;
            tensors.push((report.name, report.shape.iter().map(|&d| d as u64).collect::<Vec<u64>>()));
        }
        let files: std::collections::BTreeSet<usize> = indices.iter().filter_map(|&i| store.source_of(i).map(|(f, _)| f)).collect();
        let source_kvs = match (files.len(), files.first()) {
            (1, Some(&f)) if indices.iter().all(|&i| store.source_of(i).is_some()) => store.file(f).map_err(js_err)?.gguf_kvs.clone(),
            _ => Vec::new(),
        };
        let metadata = gguf_writer::metadata_for(&source_kvs, name, requested);
        let plan = gguf_writer::plan(&metadata, &tensors, requested).map_err(js_err)?;
        let export_id = self.next_export_id;
        self.next_export_id += 1;
        let out = ExportPlan {
            export_id,
            scheme: requested.id(),
            bytes: plan.len,
            tensors: plan
                .tensors
                .iter()
                .map(|t| ExportTensor { name: &t.name, ty: t.ty.id(), bytes: t.size, note: t.note.as_deref() })
                .collect(),
        };
        let value = to_js(&out)?;
        self.gguf_exports.insert(export_id, GgufExport { export: gguf_writer::Export::new(plan), indices });
        Ok(value)
    }

    /// The next piece of the GGUF being exported (the header, then a chunk of a tensor) as a
    /// `Uint8Array`, or `undefined` when the file is complete.
    pub fn export_gguf_step(&mut self, export_id: u32) -> Result<Option<Vec<u8>>, JsError> {
        let job = self.gguf_exports.get_mut(&export_id).ok_or_else(|| JsError::new(&format!("no GGUF export {export_id} is under way")))?;
        let store = self.store.get_mut();
        let indices = &job.indices;
        let mut read = |k: usize, start: u64, count: usize| store.read_values(indices[k], start, count);
        let piece = job.export.next_piece(&mut read);
        if !matches!(piece, Ok(Some(_))) {
            self.gguf_exports.remove(&export_id);
        }
        piece.map_err(js_err)
    }

    /// The next piece of export `export_id` as work for the page's pool of workers
    /// (`wasm_common::gguf_work`): bytes to write, a chunk to encode with [`gguf_encode`], or
    /// `undefined` when the file is complete. Pieces go into the file in the order given here.
    pub fn export_gguf_work(&mut self, export_id: u32) -> Result<JsValue, JsError> {
        let job = self.gguf_exports.get_mut(&export_id).ok_or_else(|| JsError::new(&format!("no GGUF export {export_id} is under way")))?;
        let store = self.store.get_mut();
        let indices = &job.indices;
        let mut read = |k: usize, start: u64, count: usize| store.read_values(indices[k], start, count);
        let mut no_copies = |_: usize, _: u64, _: usize| Err(formats::Error::invalid("this export copies no stored bytes".into()));
        let work = job.export.next_work(&mut read, &mut no_copies);
        if !matches!(work, Ok(Some(_))) {
            self.gguf_exports.remove(&export_id);
        }
        gguf_work::work_to_js(work.map_err(js_err)?)
    }

    /// Abandons export `export_id`.
    pub fn export_gguf_cancel(&mut self, export_id: u32) {
        self.gguf_exports.remove(&export_id);
    }
}

/// The bytes of a chunk of a GGUF export ([`Workspace::export_gguf_work`]), padding included:
/// what a pool worker runs (www/inspect/pieces.js).
#[wasm_bindgen]
pub fn gguf_encode(job: JsValue) -> Result<Vec<u8>, JsError> {
    gguf_work::encode_js(&job, OutType::from_id, None)
}

/// The ggml types a model can be exported as, for the page's picker: `[{id, bits_per_weight}]`.
#[wasm_bindgen]
pub fn gguf_types() -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct T {
        id: &'static str,
        bits_per_weight: f64,
    }
    let all: Vec<T> = OutType::ALL
        .iter()
        .map(|t| T { id: t.id(), bits_per_weight: t.size_of(256 * t.block()).unwrap_or(0) as f64 * 8.0 / (256 * t.block()) as f64 })
        .collect();
    to_js(&all)
}

/// llama-quantize's file types, for the page's picker: `["Q1_0", "Q2_0", "Q4_0", ...]` (the
/// mixes themselves are planned and written by the mixer module, `src/mixer`).
#[wasm_bindgen]
pub fn gguf_file_types() -> Vec<String> {
    formats::gguf_mix::FileType::ALL.iter().map(|f| f.name().to_string()).collect()
}

/// Whether `blob` (named `file_name`) is in a format the reader module reads (.npz, ONNX; see
/// [`Workspace::open_read`]): the worker asks before it opens a file.
#[wasm_bindgen]
pub fn reader_module_reads(file_name: &str, blob: web_sys::Blob) -> Result<bool, JsError> {
    let format = lazy::detect(file_name, &BlobSource::new(blob)?).map_err(|e| JsError::new(&format!("{file_name}: {e}")))?;
    Ok(!READERS.iter().any(|(f, _)| *f == format))
}

/// Every scheme, family by family in registry order: `[{id, description, family}]`.
#[wasm_bindgen]
pub fn scheme_list() -> Result<JsValue, JsError> {
    let mut out = Vec::new();
    for family in schemes::families() {
        for id in family.ids {
            let s = schemes::by_id(&id).map_err(js_err)?;
            out.push(SchemeInfo { id, description: s.description(), family: family.label });
        }
    }
    to_js(&out)
}

/// The built-in samples: `[[id, description], ...]`.
#[wasm_bindgen]
pub fn sample_list() -> Result<JsValue, JsError> {
    to_js(&samples::KINDS)
}

/// The reports of each scheme in `scheme_ids` on `values` of `shape`, as [`Workspace::compare`]
/// gives them but without histograms: one job of the whole-model comparison, run by a pool
/// worker on values another worker posted to it (www/inspect/pool.js).
#[wasm_bindgen]
pub fn compare_values(values: Vec<f32>, shape: Vec<u32>, scheme_ids: JsValue) -> Result<JsValue, JsError> {
    let shape: Vec<usize> = shape.into_iter().map(|d| d as usize).collect();
    let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if elements != Some(values.len()) {
        return Err(JsError::new(&format!("{} values do not fill the shape {shape:?}", values.len())));
    }
    let ids: Vec<String> =
        serde_wasm_bindgen::from_value(scheme_ids).map_err(|e| JsError::new(&format!("scheme ids must be an array of strings: {e}")))?;
    let t = Tensor::new("values", shape, "float32", values);
    let reports = ids.iter().map(|id| report::scheme_metrics(&t, id)).collect::<Result<Vec<_>, _>>().map_err(js_err)?;
    to_js(&reports)
}

/// Every scheme id without a calibration suffix, in registry order: the Inspect view's
/// default comparison.
#[wasm_bindgen]
pub fn base_scheme_ids() -> Vec<String> {
    schemes::base_ids()
}
