//! The trainer: the module the Train view's worker loads (`www/pkg-train`). A thin
//! `#[wasm_bindgen]` facade over `quantscope-train`: a [`TrainingRun`] (FP32 or
//! quantization-aware) advanced a few steps per call, so the worker can report progress, pause
//! and cancel between calls, and the accuracies and sizes the view's table compares.
//! wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

use quantscope_formats::npy;
use quantscope_train::data::Dataset;
use quantscope_train::mlp::Qat;
use quantscope_train::observer::{Averaging, Granularity, QuantSpec, Signedness, Symmetry, AVERAGING_CONSTANT};
use quantscope_train::optim::OptimizerKind;
use quantscope_train::trainer::{evaluate, QatConfig, TrainConfig, Trainer};
use quantscope_wasm_common::{js_err, to_js};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::{simd128_enabled, wasm_memory_bytes};

const PIXELS: usize = 784;
const CLASSES: usize = 10;
/// Training digits the post-training quantization calibrates its activation ranges on.
const CALIBRATION_DIGITS: usize = 1024;

/// The settings the view offers, as JSON.
#[derive(Deserialize)]
struct RunSettings {
    hidden: Vec<usize>,
    optimizer: String,
    learning_rate: f64,
    epochs: usize,
    batch_size: usize,
    seed: u64,
    /// Quantization-aware training at this many bits (None: FP32).
    qat_bits: Option<u32>,
    /// QAT weights: one scale per output neuron (else one per tensor).
    #[serde(default)]
    per_channel: bool,
}

/// What [`TrainingRun::advance`] reports after its steps.
#[derive(Serialize)]
struct Progress {
    step: u64,
    total_steps: u64,
    epoch: usize,
    /// Mean loss and batch accuracy over the steps of this call.
    loss: f32,
    batch_accuracy: f32,
    finished: bool,
    /// Why the run stopped by itself (NaN/Inf loss or weights), with the step.
    diverged: Option<String>,
}

/// A training run on the shipped digits.
#[wasm_bindgen]
pub struct TrainingRun {
    trainer: Trainer,
    train: Dataset,
    test: Dataset,
    diverged: Option<String>,
}

fn digits(images_npy: &[u8], labels_npy: &[u8], what: &str) -> Result<Dataset, JsError> {
    let images = npy::parse(&format!("{what} images"), images_npy).map_err(js_err)?;
    let labels = npy::parse(&format!("{what} labels"), labels_npy).map_err(js_err)?;
    if images.dtype != "uint8" || images.shape.len() != 2 || images.shape[1] != PIXELS {
        return Err(JsError::new(&format!("the {what} images must be uint8 [N, {PIXELS}], not {} {:?}", images.dtype, images.shape)));
    }
    if labels.dtype != "uint8" {
        return Err(JsError::new(&format!("the {what} labels must be uint8, not {}", labels.dtype)));
    }
    let bytes = |v: &[f32]| v.iter().map(|&x| x as u8).collect::<Vec<u8>>();
    Dataset::from_u8(&bytes(&images.data), &bytes(&labels.data), PIXELS, CLASSES).map_err(js_err)
}

/// torch's default QAT / PTQ spec at `bits`: weights signed symmetric (per channel or per
/// tensor), activations unsigned affine per tensor.
fn specs(bits: u32, per_channel: bool, averaging: Averaging) -> (QuantSpec, QuantSpec) {
    let granularity = if per_channel { Granularity::PerChannel } else { Granularity::PerTensor };
    let weight = QuantSpec { bits, signedness: Signedness::Signed, symmetry: Symmetry::Symmetric, granularity, averaging };
    let activation =
        QuantSpec { bits, signedness: Signedness::Unsigned, symmetry: Symmetry::Affine, granularity: Granularity::PerTensor, averaging };
    (weight, activation)
}

#[wasm_bindgen]
impl TrainingRun {
    /// A new run: the training and test digits as `.npy` bytes (uint8 images [N, 784] and
    /// labels [N]) and the settings `{hidden: [100, 100], optimizer: "sgd"|"adam",
    /// learning_rate, epochs, batch_size, seed, qat_bits: null|2..8, per_channel}`. A setting
    /// that makes no sense is refused with the reason.
    #[wasm_bindgen(constructor)]
    pub fn new(
        train_images: &[u8],
        train_labels: &[u8],
        test_images: &[u8],
        test_labels: &[u8],
        settings: JsValue,
    ) -> Result<TrainingRun, JsError> {
        let s: RunSettings =
            serde_wasm_bindgen::from_value(settings).map_err(|e| JsError::new(&format!("the training settings are malformed: {e}")))?;
        let optimizer = match s.optimizer.as_str() {
            "sgd" => OptimizerKind::Sgd { lr: s.learning_rate, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false },
            "adam" => OptimizerKind::adam(s.learning_rate),
            other => return Err(JsError::new(&format!("unknown optimizer '{other}' (sgd or adam)"))),
        };
        let qat = s.qat_bits.map(|bits| QatConfig {
            bits,
            weight_granularity: if s.per_channel { Granularity::PerChannel } else { Granularity::PerTensor },
            averaging: Averaging::MovingAverage(AVERAGING_CONSTANT),
            freeze_observers_after: None,
        });
        let sizes: Vec<usize> = std::iter::once(PIXELS).chain(s.hidden).chain(std::iter::once(CLASSES)).collect();
        let config = TrainConfig { sizes, optimizer, epochs: s.epochs, batch_size: s.batch_size, seed: s.seed, qat };
        let train = digits(train_images, train_labels, "training")?;
        let test = digits(test_images, test_labels, "test")?;
        let trainer = Trainer::new(config, &train).map_err(js_err)?;
        Ok(TrainingRun { trainer, train, test, diverged: None })
    }

    /// Runs up to `steps` more steps (fewer at the end, none once finished or diverged) and
    /// reports where the run is.
    pub fn advance(&mut self, steps: u32) -> Result<JsValue, JsError> {
        let (mut loss, mut accuracy, mut done) = (0f64, 0f64, 0u32);
        while done < steps && !self.trainer.finished() && self.diverged.is_none() {
            match self.trainer.step(&self.train) {
                Ok(r) => {
                    loss += r.loss as f64;
                    accuracy += r.batch_accuracy as f64;
                    done += 1;
                }
                Err(d) => self.diverged = Some(d.to_string()),
            }
        }
        let mean = |v: f64| if done == 0 { f32::NAN } else { (v / done as f64) as f32 };
        to_js(&Progress {
            step: self.trainer.step,
            total_steps: self.trainer.total_steps(&self.train),
            epoch: self.trainer.epoch,
            loss: mean(loss),
            batch_accuracy: mean(accuracy),
            finished: self.trainer.finished(),
            diverged: self.diverged.clone(),
        })
    }

    /// Accuracy on the test digits with the current weights (under QAT, the fake-quantized
    /// forward with the observers frozen).
    pub fn test_accuracy(&self) -> f32 {
        self.trainer.evaluate(&self.test)
    }

    /// Post-training quantization of the current weights at `bits`: min-max observers calibrate
    /// the ranges on the first 1,024 training digits, then the fake-quantized forward is
    /// evaluated on the test digits (static PTQ, as torch's `prepare` → calibrate → `convert`
    /// computes it).
    pub fn ptq_accuracy(&self, bits: u32, per_channel: bool) -> Result<f32, JsError> {
        let (weight, activation) = specs(bits, per_channel, Averaging::MinMax);
        let mut qat = Qat::new(self.trainer.model.layers.len(), weight, activation).map_err(js_err)?;
        let n = CALIBRATION_DIGITS.min(self.train.len());
        let mut tape = quantscope_train::mlp::Tape::default();
        for start in (0..n).step_by(256) {
            let end = (start + 256).min(n);
            self.trainer.model.forward(&self.train.images[start * PIXELS..end * PIXELS], end - start, Some(&mut qat), &mut tape);
        }
        Ok(evaluate(&self.trainer.model, Some(&qat), &self.test))
    }

    /// Parameters of the model (weights and biases).
    pub fn parameter_count(&self) -> usize {
        self.trainer.model.parameter_count()
    }

    /// Bytes of the model stored at `bits` per weight (32: FP32): the weights at `bits`, the
    /// biases as f32, and per layer its f32 weight scales (one per output neuron when
    /// `per_channel`) and an activation scale and zero point.
    pub fn size_bytes(&self, bits: u32, per_channel: bool) -> f64 {
        let layers = &self.trainer.model.layers;
        let weights: usize = layers.iter().map(|l| l.weight.len()).sum();
        let biases: usize = layers.iter().map(|l| l.bias.len()).sum();
        if bits >= 32 {
            return ((weights + biases) * 4) as f64;
        }
        let scales: usize = layers.iter().map(|l| (if per_channel { l.out_features } else { 1 }) + 2).sum();
        (weights * bits as usize).div_ceil(8) as f64 + (biases * 4 + scales * 4) as f64
    }
}
