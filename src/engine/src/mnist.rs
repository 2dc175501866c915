//! The Run view's built-in model: an MLP 784-100-100-10 trained on MNIST digits
//! (`www/models/mnist_mlp.onnx`, written by `scripts/fixtures/train_mnist.py`) and its held-out
//! test digits (`www/models/mnist_test.npz`).
//!
//! [`TestSet`] reads the digits; the page and the CLI measure the model's variants on them, so
//! both show the same accuracy table.

use crate::{EngineError, Model, QuantizeConfig, QuantizeKind, Value, STATIC_PERCENTILE};
use quantscope_core::schemes::int::calibration::Calibration;
use quantscope_core::tensor::Tensor;
use quantscope_formats::npz;
use serde::Serialize;
use std::fmt;

/// What measuring the built-in model can refuse: its test set, the model, an argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The test set's `.npz` could not be read. (Its own error, not the formats crate's
    /// gathered one: that would link every format's messages into the runner module.)
    File(npz::NpzError),
    /// The model refused to load, quantize or run.
    Engine(EngineError),
    /// Data that does not fit (a pixel count, a missing output, ...): `InvalidArgument`.
    Data(quantscope_core::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::File(e) => e.fmt(f),
            Error::Engine(e) => e.fmt(f),
            Error::Data(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<npz::NpzError> for Error {
    fn from(e: npz::NpzError) -> Self {
        Error::File(e)
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        Error::Engine(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn invalid(why: String) -> Error {
    Error::Data(quantscope_core::Error::InvalidArgument(why))
}

/// Pixels per digit: 28 × 28.
pub const PIXELS: usize = 28 * 28;
/// Classes: the digits 0–9.
pub const CLASSES: usize = 10;

/// Test digits as the model takes them: pixels scaled from 0–255 to [0, 1] (`v / 255` in f32,
/// as the training script and ONNX Runtime's reference figures compute them).
#[derive(Debug, Clone, PartialEq)]
pub struct TestSet {
    /// `len() × 784` pixels, row-major, in [0, 1].
    pub images: Vec<f32>,
    /// The true digit of each image.
    pub labels: Vec<u8>,
    /// Training digits (never test digits) that static quantization calibrates on,
    /// `calibration_len() × 784`; empty when the file has none.
    pub calibration: Vec<f32>,
}

impl TestSet {
    /// Reads the `.npz` the training script writes: `images` uint8 [N, 784], `labels` uint8 [N]
    /// (each 0–9) and optionally `calibration` uint8 [M, 784].
    pub fn from_npz(bytes: &[u8]) -> Result<TestSet> {
        let mut tensors = npz::parse(bytes)?;
        let mut take = |name: &str| tensors.iter().position(|t| t.name == name).map(|i| tensors.swap_remove(i));
        let images = take("images").ok_or_else(|| bad("it has no 'images' array"))?;
        let labels = take("labels").ok_or_else(|| bad("it has no 'labels' array"))?;
        let calibration = take("calibration");
        Self::from_arrays(images, labels, calibration)
    }

    /// The same from the three arrays (the page unzips the `.npz` in JavaScript, so the runner
    /// module carries no zip reader).
    pub fn from_arrays(images: Tensor, labels: Tensor, calibration: Option<Tensor>) -> Result<TestSet> {
        let count = pixel_rows(&images)?;
        if labels.dtype != "uint8" || labels.shape != [count] {
            return Err(bad(format!("'labels' must be uint8 [{count}] to match 'images', not {} {:?}", labels.dtype, labels.shape)));
        }
        if let Some(i) = labels.data.iter().position(|&d| d > 9.0) {
            return Err(bad(format!("label {i} is {}, not a digit 0-9", labels.data[i])));
        }
        let calibration = match calibration {
            Some(c) => {
                pixel_rows(&c)?;
                scale(&c.data)
            }
            None => Vec::new(),
        };
        Ok(TestSet { images: scale(&images.data), labels: labels.data.iter().map(|&d| d as u8).collect(), calibration })
    }

    /// The number of test digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no digits.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of calibration digits.
    pub fn calibration_len(&self) -> usize {
        self.calibration.len() / PIXELS
    }

    /// Test digit `index`'s 784 pixels.
    pub fn image(&self, index: usize) -> Option<&[f32]> {
        self.images.get(index * PIXELS..(index + 1) * PIXELS)
    }
}

fn bad(why: impl std::fmt::Display) -> Error {
    invalid(format!("the MNIST test set: {why}"))
}

/// Checks a uint8 [N, 784] pixel array; returns N.
fn pixel_rows(t: &Tensor) -> Result<usize> {
    match t.shape.as_slice() {
        [n, PIXELS] if t.dtype == "uint8" => Ok(*n),
        _ => Err(bad(format!("'{}' must be uint8 [N, {PIXELS}], not {} {:?}", t.name, t.dtype, t.shape))),
    }
}

/// 0–255 → [0, 1] as `v / 255` in f32: the division the reference (numpy's
/// `images.astype(float32) / 255`) does, so the inputs are bit-identical.
fn scale(pixels: &[f32]) -> Vec<f32> {
    pixels.iter().map(|&v| v / 255.0).collect()
}

/// The model's input and output names (`scripts/fixtures/train_mnist.py`).
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "probabilities";

/// Digits per batch when evaluating: large enough for the GEMM kernels to pay off, small enough
/// for a progress bar to move.
pub const BATCH: usize = 250;

/// How many digits a model variant gets right.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    pub correct: usize,
    pub count: usize,
    pub accuracy: f64,
}

/// The predicted digit of each image (`images` is n × 784), `batch` digits per run.
pub fn predictions(model: &Model, images: &[f32], batch: usize) -> Result<Vec<u8>> {
    if images.len() % PIXELS != 0 {
        return Err(invalid(format!("{} pixels is not a whole number of 28×28 images", images.len())));
    }
    let mut out = Vec::with_capacity(images.len() / PIXELS);
    for chunk in images.chunks(batch.max(1) * PIXELS) {
        let n = chunk.len() / PIXELS;
        let outputs = model.run(&[(INPUT, Value::f32(vec![n, PIXELS], chunk.to_vec()))])?;
        let probs = output_probabilities(&outputs, n)?;
        out.extend(probs.chunks(CLASSES).map(|p| argmax(p) as u8));
    }
    Ok(out)
}

/// The `probabilities` output as f32, checked to be n × 10.
pub fn output_probabilities(outputs: &[(String, Value)], n: usize) -> Result<Vec<f32>> {
    let (_, v) = outputs.iter().find(|(name, _)| name == OUTPUT).ok_or_else(|| invalid(format!("the model has no output '{OUTPUT}'")))?;
    if v.shape() != [n, CLASSES] {
        return Err(invalid(format!("output '{OUTPUT}' has shape {:?}, not [{n}, {CLASSES}]", v.shape())));
    }
    Ok(v.to_f32_vec())
}

/// Accuracy of `model` on every test digit.
pub fn evaluate(model: &Model, set: &TestSet, batch: usize) -> Result<Evaluation> {
    let predicted = predictions(model, &set.images, batch)?;
    let correct = predicted.iter().zip(&set.labels).filter(|(p, l)| p == l).count();
    Ok(Evaluation { correct, count: set.len(), accuracy: if set.is_empty() { 0.0 } else { correct as f64 / set.len() as f64 } })
}

/// One variant of the accuracy table.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Fp32,
    /// int8 weights per tensor, u8 activations quantized per run (ORT's `quantize_dynamic`).
    Int8Dynamic,
    /// int8 weights per tensor, u8 activations calibrated on the set's calibration digits.
    Int8Static(Calibration),
    /// int4 weights per output channel (codes ±7), u8 activations per run.
    Int4Dynamic,
    /// Weights stored with a `quantscope_core::schemes` id, computed in f32.
    WeightOnly(String),
}

/// A row of the accuracy table: its label, family and how to build it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// "INT8 static (entropy)".
    pub label: String,
    /// "float", "integer" or "weight-only".
    pub group: &'static str,
    /// One line on what it is.
    pub description: String,
    /// The variant as the worker's `model_variant` op takes it (`{kind, calibration | scheme}`;
    /// the worker adds `calibration_inputs`).
    pub config: serde_json::Value,
    #[serde(skip)]
    pub spec: Spec,
}

/// The weight-only schemes of the table: the float casts and the block formats people ship,
/// down to 2 bits, where this model starts to break.
pub const WEIGHT_ONLY_SCHEMES: [&str; 11] =
    ["fp16", "fp8_e4m3", "q8_0", "int8_sym_channel", "q4_0", "q4_k", "nf4", "mxfp4", "q3_k", "q2_k", "int2_sym_channel"];

/// The table's rows: FP32, the integer variants (dynamic, static with each calibration, int4),
/// then weight-only schemes.
pub fn table_variants() -> Vec<Variant> {
    use serde_json::json;
    let mut v = vec![
        Variant { label: "FP32".into(), group: "float", description: "the model as trained".into(), config: json!({"kind": "fp32"}), spec: Spec::Fp32 },
        Variant {
            label: "INT8 dynamic".into(),
            group: "integer",
            description: "int8 weights (per tensor), u8 activations quantized per run from their min/max, i32 accumulation — ONNX Runtime's quantize_dynamic".into(),
            config: json!({"kind": "int8_dynamic", "per_channel": false}),
            spec: Spec::Int8Dynamic,
        },
    ];
    for (name, id, cal) in [
        ("min-max", "minmax", Calibration::MinMax),
        ("percentile 99.999", "percentile", STATIC_PERCENTILE),
        ("entropy", "entropy", Calibration::Entropy),
        ("MSE", "mse", Calibration::Mse),
    ] {
        v.push(Variant {
            label: format!("INT8 static ({name})"),
            group: "integer",
            description: format!("int8 weights, u8 activations with scales fixed beforehand by {name} calibration on 256 training digits"),
            config: json!({"kind": "int8_static", "calibration": id, "per_channel": false}),
            spec: Spec::Int8Static(cal),
        });
    }
    v.push(Variant {
        label: "INT4 dynamic".into(),
        group: "integer",
        description: "int4 weights (codes −7…7, one scale per output channel), u8 activations quantized per run, i32 accumulation".into(),
        config: json!({"kind": "int4_dynamic", "per_channel": true}),
        spec: Spec::Int4Dynamic,
    });
    for id in WEIGHT_ONLY_SCHEMES {
        v.push(Variant {
            label: id.to_string(),
            group: "weight-only",
            description: format!("weights stored as {id}, dequantized to f32; float arithmetic"),
            config: json!({"kind": "weight_only", "scheme": id}),
            spec: Spec::WeightOnly(id.to_string()),
        });
    }
    v
}

impl Spec {
    /// The engine's settings for this variant; static calibration runs on `set.calibration`.
    pub fn config(&self, set: &TestSet) -> Result<QuantizeConfig> {
        let kind = match self {
            Spec::Fp32 => QuantizeKind::Fp32,
            Spec::Int8Dynamic => QuantizeKind::Int8Dynamic { per_channel: false },
            Spec::Int4Dynamic => QuantizeKind::Int4Dynamic { per_channel: true },
            Spec::WeightOnly(id) => QuantizeKind::WeightOnly { scheme: id.clone() },
            Spec::Int8Static(calibration) => {
                if set.calibration.is_empty() {
                    return Err(bad("it has no 'calibration' digits for static quantization"));
                }
                let n = set.calibration_len();
                let batch = vec![(INPUT.to_string(), Value::f32(vec![n, PIXELS], set.calibration.clone()))];
                QuantizeKind::Int8Static { per_channel: false, calibration: *calibration, inputs: vec![batch] }
            }
        };
        Ok(QuantizeConfig::new(kind))
    }
}

/// One row of the accuracy table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyRow {
    pub label: String,
    pub group: &'static str,
    /// The engine's description of the variant it built.
    pub description: String,
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// Weights as stored by the variant (codes, scales, biases).
    pub bytes: u64,
    /// One digit (batch 1): the median over rounds of the mean time per run, in µs.
    pub latency_micros: f64,
}

/// Every variant of `variants` built from `model` and measured on `set`. `now_ms` is a
/// monotonic clock in milliseconds (the caller's: `Instant` natively, `performance.now()` in a
/// browser); `on_row` sees each row as it is done.
pub fn accuracy_table(
    model: &Model,
    set: &TestSet,
    variants: &[Variant],
    now_ms: &dyn Fn() -> f64,
    mut on_row: impl FnMut(&AccuracyRow),
) -> Result<Vec<AccuracyRow>> {
    let first = set.image(0).ok_or_else(|| bad("it holds no digits"))?;
    let mut rows = Vec::with_capacity(variants.len());
    for v in variants {
        let variant = model.quantize(&v.spec.config(set)?)?;
        let evaluation = evaluate(&variant, set, BATCH)?;
        let one = Value::f32(vec![1, PIXELS], first.to_vec());
        let latency_micros = median_micros(&mut || variant.run(&[(INPUT, one.clone())]).map(drop).map_err(Error::from), now_ms)?;
        let row = AccuracyRow {
            label: v.label.clone(),
            group: v.group,
            description: variant.description().to_string(),
            evaluation,
            bytes: variant.stored_bytes(),
            latency_micros,
        };
        on_row(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Latency of `run` in µs: rounds of enough runs to span ≥ 2 ms (browsers coarsen
/// `performance.now()` to 0.1 ms without cross-origin isolation), the median of 15 rounds'
/// mean time per run.
pub fn median_micros(run: &mut dyn FnMut() -> Result<()>, now_ms: &dyn Fn() -> f64) -> Result<f64> {
    run()?; // warm-up: first-run allocations and caches
    let mut reps = 1usize;
    loop {
        let t0 = now_ms();
        for _ in 0..reps {
            run()?;
        }
        if now_ms() - t0 >= 2.0 || reps >= 1 << 16 {
            break;
        }
        reps *= 2;
    }
    let mut rounds = Vec::with_capacity(15);
    for _ in 0..15 {
        let t0 = now_ms();
        for _ in 0..reps {
            run()?;
        }
        rounds.push((now_ms() - t0) * 1e3 / reps as f64);
    }
    rounds.sort_by(f64::total_cmp);
    Ok(rounds[rounds.len() / 2])
}

/// The accuracy with only one quantizable node quantized, for each node in turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSensitivity {
    pub node: String,
    pub op: String,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

/// Quantizes one layer at a time with `spec` (the rest stay FP32) and measures each.
pub fn layer_sensitivity(model: &Model, set: &TestSet, spec: &Spec) -> Result<Vec<LayerSensitivity>> {
    let mut out = Vec::new();
    for node in model.nodes().into_iter().filter(|n| n.quantizable) {
        let mut config = spec.config(set)?;
        config.only_nodes = Some(vec![node.name.clone()]);
        let variant = model.quantize(&config)?;
        out.push(LayerSensitivity { node: node.name, op: node.op_type, evaluation: evaluate(&variant, set, BATCH)? });
    }
    Ok(out)
}

/// The index of the largest value; the first one on a tie (numpy's `argmax`). NaN never wins.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_equal_values_and_skips_nan() {
        assert_eq!(argmax(&[0.1, 0.5, 0.5, 0.2]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.2, 0.3]), 2);
        assert_eq!(argmax(&[0.3, f32::NAN, 0.2]), 0);
    }
}
