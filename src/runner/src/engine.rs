//! The engine's JavaScript surface: an [`Engine`] registry of loaded models, owned by the Web
//! Worker (www/run/engine-ops.js wraps each method as a worker op). Models are referred to by
//! integer handles; errors are thrown as `Error`s with the engine's message.
//!
//! Inputs and outputs cross as `{name: {shape: number[], data: Float32Array}}`; inputs are
//! converted to each model input's declared dtype (integers must be whole), outputs are
//! widened to f32 with their dtype named.

use js_sys::{Array, Float32Array, Object, Reflect};
use quantscope_core::schemes::int::calibration::Calibration;
use quantscope_engine::{ops, DType, IoInfo, Model, QuantizeConfig, QuantizeKind, Value};
use quantscope_wasm_common::{js_err as err, performance_now, to_js};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The models loaded in one worker, by handle, and the op sets they may use: `new Engine()`
/// knows the built-in models' ops ([`ops::BUILT_IN`]), the models module's
/// `engine_for_any_model()` every op (src/models). The sets are chosen in Rust, by the crate
/// that exports the constructor, so the runner module never links the ops it does not name.
#[wasm_bindgen]
pub struct Engine {
    models: Vec<Option<Entry>>,
    ops: &'static [ops::OpSet],
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    /// An engine that loads models made of the ops of `sets`.
    pub fn with_ops(ops: &'static [ops::OpSet]) -> Engine {
        Engine { models: Vec::new(), ops }
    }

    /// The model behind `handle` and `inputs` (`{name: {shape, data}}`) read in its input
    /// dtypes: for the exports of the models module that look inside a run.
    pub fn model_with_inputs(&self, handle: u32, inputs: &JsValue) -> Result<(&Model, NamedValues), JsError> {
        let model = &self.entry(handle)?.model;
        Ok((model, read_inputs(model, inputs)?))
    }
}

/// Values by name, as a model takes its inputs.
pub type NamedValues = Vec<(String, Value)>;

struct Entry {
    name: String,
    model: Model,
}

#[derive(Serialize)]
struct NodeSummary {
    name: String,
    op_type: String,
    quantizable: bool,
}

#[derive(Serialize)]
struct Loaded<'a> {
    handle: u32,
    name: &'a str,
    inputs: &'a [IoInfo],
    outputs: &'a [IoInfo],
    ops: &'a [(String, usize)],
    parameters: u64,
    bytes: u64,
    opset: i64,
    /// Every node as it runs, with whether `model_variant` can quantize it (`only_nodes`).
    nodes: Vec<NodeSummary>,
}

#[derive(Serialize)]
struct Variant<'a> {
    handle: u32,
    bytes: u64,
    description: &'a str,
    ops: &'a [(String, usize)],
}

/// `model_variant`'s config (calibration inputs are read separately: they hold typed arrays).
#[derive(Deserialize)]
struct VariantConfig {
    kind: String,
    per_channel: Option<bool>,
    calibration: Option<String>,
    scheme: Option<String>,
    only_nodes: Option<Vec<String>>,
}

fn get(obj: &JsValue, key: &str) -> Result<JsValue, JsError> {
    Reflect::get(obj, &key.into()).map_err(|_| err(format!("cannot read '{key}'")))
}

/// `{shape, data}` → shape and f32 values.
fn read_tensor(name: &str, v: &JsValue) -> Result<(Vec<usize>, Vec<f32>), JsError> {
    let shape: Vec<usize> = serde_wasm_bindgen::from_value(get(v, "shape")?)
        .map_err(|_| err(format!("input '{name}': shape must be an array of non-negative integers")))?;
    let data = get(v, "data")?;
    if data.is_undefined() || data.is_null() {
        return Err(err(format!("input '{name}' has no data")));
    }
    let values = match data.dyn_ref::<Float32Array>() {
        Some(f) => f.to_vec(),
        None => Float32Array::new(&data).to_vec(),
    };
    Ok((shape, values))
}

/// `{name: {shape, data}}` → named values in the model's input dtypes.
pub(crate) fn read_inputs(model: &Model, obj: &JsValue) -> Result<Vec<(String, Value)>, JsError> {
    if !obj.is_object() {
        return Err(err("inputs must be an object {name: {shape, data}}"));
    }
    let mut out = Vec::new();
    for entry in Object::entries(obj.unchecked_ref::<Object>()).iter() {
        let pair: Array = entry.unchecked_into();
        let name = pair.get(0).as_string().unwrap_or_default();
        let (shape, data) = read_tensor(&name, &pair.get(1))?;
        let dtype = model.inputs().iter().find(|i| i.name == name).and_then(|i| i.dtype).unwrap_or(DType::F32);
        let v = Value::from_f32(dtype, shape, &data).map_err(|e| err(format!("input '{name}': {e}")))?;
        out.push((name, v));
    }
    Ok(out)
}

/// Calibration inputs as batches: one, or several when the model fixes the batch size and
/// the data holds a multiple of it (e.g. 64 images for a model declared `[1, 784]`).
fn calibration_batches(model: &Model, inputs: Vec<(String, Value)>) -> Vec<Vec<(String, Value)>> {
    let fixed_batch =
        |name: &str| match model.inputs().iter().find(|i| i.name == name).and_then(|i| i.shape.as_ref()).and_then(|s| s.first()) {
            Some(quantscope_engine::Dim::Fixed(d)) if *d > 0 => Some(*d),
            _ => None,
        };
    let splits: Vec<Option<usize>> = inputs
        .iter()
        .map(|(n, v)| fixed_batch(n).filter(|&d| v.rank() > 0 && v.shape()[0] > d && v.shape()[0] % d == 0).map(|d| v.shape()[0] / d))
        .collect();
    let Some(Some(k)) = splits.first().copied() else { return vec![inputs] };
    if splits.iter().any(|s| *s != Some(k)) {
        return vec![inputs];
    }
    (0..k)
        .map(|b| {
            inputs
                .iter()
                .map(|(n, v)| {
                    let rows = v.shape()[0] / k;
                    let per = v.len() / k;
                    let mut shape = v.shape().to_vec();
                    shape[0] = rows;
                    let x = v.to_f32_vec()[b * per..(b + 1) * per].to_vec();
                    (n.clone(), Value::from_f32(v.dtype(), shape, &x).expect("same dtype and count"))
                })
                .collect()
        })
        .collect()
}

fn parse_calibration(name: &str) -> Result<Calibration, JsError> {
    Ok(match name {
        "minmax" => Calibration::MinMax,
        "percentile" => quantscope_engine::STATIC_PERCENTILE,
        "entropy" => Calibration::Entropy,
        "mse" => Calibration::Mse,
        other => return Err(err(format!("unknown calibration '{other}' (minmax, percentile, entropy or mse)"))),
    })
}

#[wasm_bindgen]
impl Engine {
    /// An engine for the built-in models' ops.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        Engine::with_ops(ops::BUILT_IN)
    }

    #[cfg(feature = "importance")]
    pub(crate) fn model(&self, handle: u32) -> Result<&Model, JsError> {
        Ok(&self.entry(handle)?.model)
    }

    fn entry(&self, handle: u32) -> Result<&Entry, JsError> {
        self.models
            .get(handle as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| err(format!("no model with handle {handle} (freed, or never loaded)")))
    }

    fn add(&mut self, name: String, model: Model) -> u32 {
        self.models.push(Some(Entry { name, model }));
        (self.models.len() - 1) as u32
    }

    /// Loads an ONNX model; returns `{handle, name, inputs: [{name, dtype, shape}], outputs,
    /// ops: [[op, count]], parameters, bytes, opset, nodes: [{name, op_type, quantizable}]}`.
    pub fn load(&mut self, name: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
        let model = Model::from_onnx_with(bytes, self.ops).map_err(|e| err(format!("{name}: {e}")))?;
        let handle = self.add(name.to_string(), model);
        self.describe(handle)
    }

    /// What `load` returns, for a loaded model or a variant.
    pub fn describe(&self, handle: u32) -> Result<JsValue, JsError> {
        let e = self.entry(handle)?;
        let m = &e.model;
        let nodes = m.nodes().into_iter().map(|n| NodeSummary { name: n.name, op_type: n.op_type, quantizable: n.quantizable }).collect();
        to_js(&Loaded {
            handle,
            name: &e.name,
            inputs: m.inputs(),
            outputs: m.outputs(),
            ops: m.op_counts(),
            parameters: m.parameter_count(),
            bytes: m.stored_bytes(),
            opset: m.opset(),
            nodes,
        })
    }

    /// Makes a variant of a loaded model; `config` is `{kind: 'fp32'}`, `{kind: 'int8_dynamic',
    /// per_channel}`, `{kind: 'int8_static', calibration: 'minmax'|'percentile'|'entropy'|'mse',
    /// calibration_inputs: {name: {shape, data}}, per_channel}`, `{kind: 'int4_dynamic',
    /// per_channel}` or `{kind: 'weight_only', scheme}`, each with an optional `only_nodes:
    /// [names]`. Returns `{handle, bytes, description, ops}`.
    pub fn variant(&mut self, handle: u32, config: JsValue) -> Result<JsValue, JsError> {
        let base = &self.entry(handle)?.model;
        let c: VariantConfig = serde_wasm_bindgen::from_value(config.clone()).map_err(|e| err(format!("bad variant config: {e}")))?;
        let kind = match c.kind.as_str() {
            "fp32" => QuantizeKind::Fp32,
            "int8_dynamic" => QuantizeKind::Int8Dynamic { per_channel: c.per_channel.unwrap_or(false) },
            "int4_dynamic" => QuantizeKind::Int4Dynamic { per_channel: c.per_channel.unwrap_or(true) },
            "int8_static" => {
                let calibration = parse_calibration(c.calibration.as_deref().unwrap_or("minmax"))?;
                let raw = get(&config, "calibration_inputs")?;
                if raw.is_undefined() || raw.is_null() {
                    return Err(err("int8_static needs calibration_inputs: {name: {shape, data}}"));
                }
                let inputs = calibration_batches(base, read_inputs(base, &raw)?);
                QuantizeKind::Int8Static { per_channel: c.per_channel.unwrap_or(false), calibration, inputs }
            }
            "weight_only" => QuantizeKind::WeightOnly { scheme: c.scheme.ok_or_else(|| err("weight_only needs a scheme id"))? },
            other => {
                return Err(err(format!("unknown variant kind '{other}' (fp32, int8_dynamic, int8_static, int4_dynamic, weight_only)")))
            }
        };
        let model = base.quantize(&QuantizeConfig { kind, only_nodes: c.only_nodes }).map_err(err)?;
        let name = format!("{} [{}]", self.entry(handle)?.name, c.kind);
        let new = self.add(name, model);
        let m = &self.entry(new)?.model;
        to_js(&Variant { handle: new, bytes: m.stored_bytes(), description: m.description(), ops: m.op_counts() })
    }

    /// Runs a model: `inputs` is `{name: {shape, data: Float32Array}}`. Returns `{outputs:
    /// {name: {shape, dtype, data: Float32Array}}, micros, runs}`: `micros` is the mean time
    /// of one run. The browser's clock ticks in 100 µs steps (5 µs when cross-origin
    /// isolated), so the model runs again, in doubling batches, until `min_ms` (default 5)
    /// have passed; `runs` says how many times it ran. `min_ms` 0 runs it once.
    pub fn run(&self, handle: u32, inputs: JsValue, min_ms: Option<f64>) -> Result<JsValue, JsError> {
        let min_ms = min_ms.unwrap_or(5.0);
        let model = &self.entry(handle)?.model;
        let (names, values): (Vec<String>, Vec<Value>) = read_inputs(model, &inputs)?.into_iter().unzip();
        let named: Vec<(&str, Value)> = names.iter().map(String::as_str).zip(values).collect();
        let start = performance_now();
        let outputs = model.run(&named).map_err(err)?;
        let mut elapsed = performance_now() - start;
        let mut runs = 1u32;
        // Doubling batches between clock reads: reading the clock costs a call into JS.
        while elapsed < min_ms && runs < 1 << 14 {
            for _ in 0..runs {
                model.run(&named).map_err(err)?;
            }
            runs *= 2;
            elapsed = performance_now() - start;
        }
        let out = Object::new();
        for (name, v) in outputs {
            let o = Object::new();
            let shape: Array = v.shape().iter().map(|&d| JsValue::from(d as f64)).collect();
            Reflect::set(&o, &"shape".into(), &shape).map_err(|_| err("cannot build the result"))?;
            Reflect::set(&o, &"dtype".into(), &v.dtype().name().into()).map_err(|_| err("cannot build the result"))?;
            Reflect::set(&o, &"data".into(), &Float32Array::from(v.to_f32_vec().as_slice())).map_err(|_| err("cannot build the result"))?;
            Reflect::set(&out, &name.into(), &o).map_err(|_| err("cannot build the result"))?;
        }
        let result = Object::new();
        Reflect::set(&result, &"outputs".into(), &out).map_err(|_| err("cannot build the result"))?;
        Reflect::set(&result, &"micros".into(), &(elapsed * 1000.0 / runs as f64).into()).map_err(|_| err("cannot build the result"))?;
        Reflect::set(&result, &"runs".into(), &runs.into()).map_err(|_| err("cannot build the result"))?;
        Ok(result.into())
    }

    /// Frees a model (its variants are separate models with their own handles).
    pub fn free(&mut self, handle: u32) -> Result<(), JsError> {
        self.entry(handle)?;
        self.models[handle as usize] = None;
        Ok(())
    }
}
