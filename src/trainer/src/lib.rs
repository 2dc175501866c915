//! The trainer: the module the Train view's worker loads (`www/pkg-train`). A thin
//! `#[wasm_bindgen]` facade over `quantscope-train`: a [`TrainingRun`] (FP32, quantization-aware
//! with observed or learned (LSQ) scales, a student distilled from another run, or a run's weights
//! shared by k-means and fine-tuned; the MLP or the conv net, for each) advanced a few steps per call, so the worker can report progress, pause
//! and cancel between calls, and the accuracies and sizes the view's table compares.
//! wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;

use quantscope_train::conv::ConvNet;
use quantscope_train::convert;
use quantscope_train::data::Dataset;
use quantscope_train::distill::{DistillConfig, Teacher};
use quantscope_train::observer::{Averaging, Granularity, QuantSpec, Signedness, Symmetry, AVERAGING_CONSTANT};
use quantscope_train::optim::OptimizerKind;
use quantscope_train::prune;
use quantscope_train::ptq::{self, Calibration};
use quantscope_train::trainer::{evaluate, QatConfig, QatMethod, TrainConfig, Trainer};
use quantscope_wasm_common::{js_err, to_js};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::{simd128_enabled, wasm_memory_bytes};

mod trace;

const PIXELS: usize = 784;
const CLASSES: usize = 10;
/// Training digits the post-training quantization calibrates its activation ranges on.
const CALIBRATION_DIGITS: usize = 1024;
/// LSQ: the steps whose observers set the scales before the optimizer learns them.
const LSQ_STATIC_STEPS: u64 = 10;

/// The settings the view offers, as JSON.
#[derive(Deserialize)]
struct RunSettings {
    /// "mlp" (784, `hidden`…, 10; the default) or "conv" (`ConvNet::digits`, its layers fixed).
    #[serde(default)]
    arch: Option<String>,
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
    /// QAT with learned scales (LSQ) instead of observed ones.
    #[serde(default)]
    lsq: bool,
    /// Distillation (only with [`TrainingRun::distil`]): temperature and α.
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    alpha: Option<f32>,
}

impl RunSettings {
    fn parse(settings: JsValue) -> Result<RunSettings, JsError> {
        serde_wasm_bindgen::from_value(settings).map_err(|e| JsError::new(&format!("the training settings are malformed: {e}")))
    }

    /// Whether the settings ask for the conv net; refuses an unknown architecture and hidden
    /// sizes given for the conv net.
    fn conv(&self) -> Result<bool, JsError> {
        match self.arch.as_deref() {
            None | Some("mlp") => Ok(false),
            Some("conv") if self.hidden.is_empty() => Ok(true),
            Some("conv") => Err(JsError::new("the conv net's layers are fixed: hidden layer sizes are for the MLP")),
            Some(other) => Err(JsError::new(&format!("unknown architecture '{other}' (mlp or conv)"))),
        }
    }

    fn config(self) -> Result<TrainConfig, JsError> {
        let optimizer = match self.optimizer.as_str() {
            "sgd" => OptimizerKind::Sgd { lr: self.learning_rate, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false },
            "adam" => OptimizerKind::adam(self.learning_rate),
            other => return Err(JsError::new(&format!("unknown optimizer '{other}' (sgd or adam)"))),
        };
        let method = if self.lsq { QatMethod::Learned { static_steps: LSQ_STATIC_STEPS } } else { QatMethod::Observed };
        let qat = self.qat_bits.map(|bits| QatConfig {
            method,
            bits,
            weight_granularity: if self.per_channel { Granularity::PerChannel } else { Granularity::PerTensor },
            averaging: Averaging::MovingAverage(AVERAGING_CONSTANT),
            freeze_observers_after: None,
        });
        let distill = match (self.temperature, self.alpha) {
            (Some(temperature), Some(alpha)) => Some(DistillConfig { temperature, alpha }),
            (None, None) => None,
            _ => return Err(JsError::new("distillation needs both a temperature and α")),
        };
        let sizes: Vec<usize> = std::iter::once(PIXELS).chain(self.hidden).chain(std::iter::once(CLASSES)).collect();
        Ok(TrainConfig { sizes, optimizer, epochs: self.epochs, batch_size: self.batch_size, seed: self.seed, qat, distill })
    }
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

/// What [`TrainingRun::prune`] reports.
#[derive(Serialize)]
struct PruneReport {
    sparsity: f64,
    test_accuracy: f32,
    /// Bytes as stored: dense f32; CSR (f32 values, u16 column indices, u32 row offsets); CSR
    /// with INT8 values and a per-row scale; for 2:4, the kept values plus 2 bits of position each.
    dense_bytes: f64,
    sparse_bytes: f64,
    sparse_int8_bytes: f64,
    /// Hidden neurons left per layer after structured pruning, e.g. [75, 75].
    neurons: Vec<usize>,
}

#[derive(Serialize)]
struct CurvePoint {
    sparsity: f64,
    accuracy: f32,
}

/// The masks of `method` at `amount` for `model`: "global_l1", "layer_l1", "neurons_l2" (whole
/// hidden neurons by their L2 norm; the output layer keeps its 10 classes) or "two_four".
fn masks_for(model: &quantscope_train::mlp::Mlp, method: &str, amount: f64) -> Result<Vec<Vec<f32>>, JsError> {
    prune::Method::parse(method).and_then(|m| m.masks(model, amount)).map_err(js_err)
}

/// A training run on the shipped digits.
#[wasm_bindgen]
pub struct TrainingRun {
    trainer: Trainer,
    /// Shared with the students distilled from this run.
    train: Rc<Dataset>,
    test: Rc<Dataset>,
    diverged: Option<String>,
}

/// The digits from raw uint8 pixels (`[N, 784]` row-major) and labels (`[N]`); the worker takes
/// them out of the shipped .npz's .npy members (so this module carries no .npy reader).
fn digits(pixels: &[u8], labels: &[u8], what: &str) -> Result<Dataset, JsError> {
    Dataset::from_u8(pixels, labels, PIXELS, CLASSES).map_err(|e| JsError::new(&format!("the {what} digits: {e}")))
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

impl TrainingRun {
    /// Static PTQ of the conv net, as the MLP's: torch's `prepare` places the same nodes as
    /// `prepare_qat` (`ConvNet::qat`), min-max observers calibrate on the first 1,024 training
    /// digits, then the fake-quantized forward is evaluated on the test digits.
    fn conv_ptq_accuracy(&self, net: &ConvNet, bits: u32, per_channel: bool, calibration: Calibration) -> Result<f32, JsError> {
        let (weight, activation) = specs(bits, per_channel, Averaging::MinMax);
        let n = CALIBRATION_DIGITS.min(self.train.len());
        let qat = ptq::static_calibrated_conv(net, weight, activation, calibration, &self.train.images[..n * PIXELS]).map_err(js_err)?;
        Ok(quantscope_train::trainer::evaluate_conv(net, Some(&qat), &self.test))
    }
}

#[wasm_bindgen]
impl TrainingRun {
    /// A new run: the training and test digits as raw uint8 pixels (`[N, 784]` row-major) and
    /// labels (`[N]`), and the settings `{hidden: [100, 100], optimizer: "sgd"|"adam",
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
        let settings = RunSettings::parse(settings)?;
        let conv = settings.conv()?;
        let seed = settings.seed;
        let config = settings.config()?;
        let train = Rc::new(digits(train_images, train_labels, "training")?);
        let test = Rc::new(digits(test_images, test_labels, "test")?);
        let trainer = if conv {
            // The seed initialises the net and (XORed, as for the MLP) shuffles.
            Trainer::with_conv(config, &train, ConvNet::digits(seed)).map_err(js_err)?
        } else {
            Trainer::new(config, &train).map_err(js_err)?
        };
        Ok(TrainingRun { trainer, train, test, diverged: None })
    }

    /// A new run: a student (`settings` as the constructor's, with `temperature` and `alpha`: an
    /// MLP of `hidden` layers, or with `arch` "conv" the conv net) trained on this run's softened
    /// outputs (its weights as they are now, an MLP's or the conv net's; a QAT or LSQ teacher
    /// through its frozen fake-quant nodes) and the labels. Bad settings are refused with the
    /// reason (`quantscope_train::distill`: among them a conv student no smaller than its conv teacher).
    pub fn distil(&self, settings: JsValue) -> Result<TrainingRun, JsError> {
        let settings = RunSettings::parse(settings)?;
        let (conv_student, seed) = (settings.conv()?, settings.seed);
        let config = settings.config()?;
        if config.distill.is_none() {
            return Err(JsError::new("distillation needs a temperature and α"));
        }
        let teacher = match self.trainer.effective_conv() {
            Some(net) => Teacher::conv(net, self.trainer.qat.clone()),
            None => Teacher::mlp(self.trainer.effective_model(), self.trainer.qat.clone()),
        };
        let trainer = match conv_student {
            // The seed initialises the student, as a new run's.
            true => Trainer::with_conv_distilled(config, &self.train, ConvNet::digits(seed), teacher),
            false => Trainer::distilled(config, &self.train, teacher),
        }
        .map_err(js_err)?;
        Ok(TrainingRun { trainer, train: Rc::clone(&self.train), test: Rc::clone(&self.test), diverged: None })
    }

    /// A new run: k-means weight sharing of this FP32 run's weights at `bits` per weight (1 to 8;
    /// `quantscope_train::share`: one codebook per MLP layer, or per conv net Conv2d / Linear
    /// weight), fine-tuned with `settings`' optimizer, learning rate, epochs, batch and seed (its
    /// layers are this run's). Refused with the reason: bits outside 1..8, a quantization-aware run.
    pub fn share_weights(&self, bits: u32, settings: JsValue) -> Result<TrainingRun, JsError> {
        if self.trainer.qat.is_some() {
            return Err(JsError::new(
                "weight sharing clusters FP32 weights, and the last run is quantization-aware: train an FP32 run first",
            ));
        }
        let config = RunSettings::parse(settings)?.config()?;
        let trainer = match self.trainer.effective_conv() {
            Some(net) => Trainer::with_shared_conv(config, &self.train, net, bits),
            None => Trainer::with_shared_weights(config, &self.train, self.trainer.effective_model(), bits),
        }
        .map_err(js_err)?;
        Ok(TrainingRun { trainer, train: Rc::clone(&self.train), test: Rc::clone(&self.test), diverged: None })
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

    /// Static post-training quantization of the current weights at `bits`
    /// (`quantscope_train::ptq::static_calibrated`, torch's `prepare` → calibrate → `convert`):
    /// the activation ranges calibrated on the first 1,024 training digits by `calibration`
    /// (`minmax`, a percentile such as `p99.999`, `entropy` or `mse`), the weights by min-max,
    /// then the quantized forward evaluated on the test digits.
    pub fn ptq_accuracy(&self, bits: u32, per_channel: bool, calibration: &str) -> Result<f32, JsError> {
        let calibration = match calibration {
            "minmax" => Calibration::MinMax,
            other => Calibration::parse(other).ok_or_else(|| {
                JsError::new(&format!("unknown calibration {other:?}: minmax, a percentile such as p99.999, entropy or mse"))
            })?,
        };
        if let Some(net) = self.trainer.effective_conv() {
            // The weights as kept: a pruned run's zeros stay zero.
            return self.conv_ptq_accuracy(&net, bits, per_channel, calibration);
        }
        let (weight, activation) = specs(bits, per_channel, Averaging::MinMax);
        let n = CALIBRATION_DIGITS.min(self.train.len());
        // The weights as kept: a pruned run's zeros stay zero (pruned + quantized).
        let model = self.trainer.effective_model();
        let qat = ptq::static_calibrated(&model, weight, activation, calibration, &self.train.images[..n * PIXELS]).map_err(js_err)?;
        Ok(evaluate(&model, Some(&qat), &self.test))
    }

    /// Dynamic post-training quantization of the current weights at `bits`
    /// (`quantscope_train::ptq`, torch's `quantize_dynamic`): each test digit's activations
    /// quantized with their own ranges, the logits in float.
    pub fn ptq_dynamic_accuracy(&self, bits: u32, per_channel: bool) -> Result<f32, JsError> {
        if self.trainer.conv.is_some() {
            return Err(JsError::new(
                "dynamic PTQ (torch's quantize_dynamic) quantizes Linear layers only, not the conv net's convolutions: use static PTQ",
            ));
        }
        let (weight, activation) = specs(bits, per_channel, Averaging::MinMax);
        ptq::dynamic_accuracy(&self.trainer.effective_model(), weight, activation, &self.test).map_err(js_err)
    }

    /// Prunes the current weights with `method` (see `masks_for`) to `sparsity` in [0, 1)
    /// (2:4 is always 50 %; on a pruned run, on top of its masks) and keeps the masks through further training, as torch's
    /// `weight_orig · mask`; reports the test accuracy and the sizes.
    pub fn prune(&mut self, method: &str, sparsity: f64) -> Result<JsValue, JsError> {
        let model = self.pruned_layers();
        let masks = self.combined_masks(&model, method, sparsity)?;
        self.trainer.set_masks(masks).map_err(js_err)?;
        self.prune_report(method)
    }

    /// Prunes gradually while the run fine-tunes `epochs` more epochs: `count` re-prunes, one
    /// every `every` steps, with `method` to torch.ao's CubicSL level rising to `sparsity`
    /// (`quantscope_train::gradual`), the masks held between; continue with
    /// [`TrainingRun::advance`], then [`TrainingRun::prune_report`]. Refused with the reason,
    /// the run left as it was: 2:4, a schedule longer than the fine-tuning, a sparsity the
    /// method cannot reach.
    pub fn prune_gradually(&mut self, method: &str, sparsity: f64, epochs: usize, every: f64, count: f64) -> Result<(), JsError> {
        let method = prune::Method::parse(method).map_err(js_err)?;
        // Numbers from the page: whole and positive, not wrapped as wasm-bindgen's u32 would.
        let whole = |v: f64, what: &str| match v.fract() == 0.0 && (1.0..=1e6).contains(&v) {
            true => Ok(v as u64),
            false => Err(JsError::new(&format!("{what} {v}: choose a whole number from 1 to 1,000,000"))),
        };
        let (every, count) = (whole(every, "steps between re-prunes")?, whole(count, "re-prunes")?);
        self.fine_tune(epochs)?;
        let scheduled = self.trainer.set_gradual(method, sparsity, every, count, &self.train);
        if scheduled.is_err() {
            // Undo the extension (`Trainer::extend` only raises the epoch count).
            self.trainer.config.epochs -= epochs;
        }
        scheduled.map_err(js_err)
    }

    /// The pruned run's sparsity, test accuracy and sizes (`method` says how they are stored).
    pub fn prune_report(&self, method: &str) -> Result<JsValue, JsError> {
        let model = self.pruned_layers();
        let Some(masks) = self.trainer.masks() else { return Err(JsError::new("this run is not pruned")) };
        let layers = &model.layers;
        let biases: usize = layers.iter().map(|l| l.bias.len()).sum();
        let nnz: Vec<usize> = masks.iter().map(|m| m.iter().filter(|&&v| v != 0.0).count()).collect();
        let total_nnz: usize = nnz.iter().sum();
        let row_offsets: usize = layers.iter().map(|l| (l.out_features + 1) * 4).sum();
        let rows: usize = layers.iter().map(|l| l.out_features).sum();
        let weights: usize = layers.iter().map(|l| l.weight.len()).sum();
        let (sparse, sparse_int8) = if method == "two_four" {
            ((total_nnz * 4 + total_nnz.div_ceil(4)) as f64, (total_nnz + total_nnz.div_ceil(4) + rows * 4) as f64)
        } else {
            ((total_nnz * 6 + row_offsets) as f64, (total_nnz * 3 + row_offsets + rows * 4) as f64)
        };
        let neurons = masks[..masks.len() - 1]
            .iter()
            .zip(layers)
            .map(|(m, l)| m.chunks(l.in_features).filter(|row| row.iter().any(|&v| v != 0.0)).count())
            .collect();
        to_js(&PruneReport {
            sparsity: prune::sparsity(masks),
            test_accuracy: self.trainer.evaluate(&self.test),
            dense_bytes: ((weights + biases) * 4) as f64,
            sparse_bytes: sparse + (biases * 4) as f64,
            sparse_int8_bytes: sparse_int8 + (biases * 4) as f64,
            neurons,
        })
    }

    /// The weight layers pruning works on: the MLP's (as the forward uses them), or the conv net's
    /// Conv2d and Linear layers, each conv weight as its rows [out channels, in·k·k]
    /// (`prune::conv_layers`: structured pruning removes whole output channels).
    fn pruned_layers(&self) -> quantscope_train::mlp::Mlp {
        self.trainer.prunable_layers()
    }

    /// `method`'s masks for the current weights, on top of the run's masks: pruning a pruned run
    /// prunes further, and a weight pruned before stays pruned (its weight_orig is kept, as torch
    /// keeps it, and must not come back).
    fn combined_masks(&self, model: &quantscope_train::mlp::Mlp, method: &str, amount: f64) -> Result<Vec<Vec<f32>>, JsError> {
        Ok(prune::combine(masks_for(model, method, amount)?, self.trainer.masks()))
    }

    /// Test accuracy against sparsity (of the run's masks and `method`'s together), pruning the current weights one-shot (no fine-tuning) at
    /// each of `sparsities`; the run itself is left as it is.
    pub fn sparsity_curve(&self, method: &str, sparsities: Vec<f64>) -> Result<JsValue, JsError> {
        let model = self.pruned_layers();
        let net = self.trainer.effective_conv();
        let mut points = Vec::with_capacity(sparsities.len());
        for s in sparsities {
            let masks = self.combined_masks(&model, method, s)?;
            let qat = self.trainer.qat.as_ref();
            let accuracy = match &net {
                Some(net) => quantscope_train::trainer::evaluate_conv(&prune::apply_conv(net, &masks), qat, &self.test),
                None => evaluate(&prune::apply(&model, &masks), qat, &self.test),
            };
            points.push(CurvePoint { sparsity: prune::sparsity(&masks), accuracy });
        }
        to_js(&points)
    }

    /// `epochs` more epochs of training (fine-tuning after pruning, the masks kept); continue
    /// with [`TrainingRun::advance`].
    pub fn fine_tune(&mut self, epochs: usize) -> Result<(), JsError> {
        if self.diverged.is_some() {
            return Err(JsError::new("this run diverged: start a new one"));
        }
        self.trainer.extend(epochs).map_err(js_err)
    }

    /// The run's parameters (the weights the forward uses, pruned ones at zero), and with
    /// [`TrainingRun::node_state`] all the Train view's export module (`www/pkg-train-export`) needs to write
    /// the run as a `.onnx` (`quantscope_train::convert::params`).
    /// A conv net run's are its tensors in torch's `parameters()` order, concatenated
    /// (`quantscope_train::convert::digits_conv_from_params` reads them back).
    pub fn params(&self) -> Vec<f32> {
        match self.trainer.effective_conv() {
            Some(net) => net.params().into_iter().flatten().copied().collect(),
            None => convert::params(&self.trainer.effective_model()),
        }
    }

    /// The fake-quant nodes' scales and zero points (`quantscope_train::convert::node_state`;
    /// empty for FP32).
    pub fn node_state(&self) -> Vec<f32> {
        self.trainer.qat.as_ref().map(convert::node_state).unwrap_or_default()
    }

    /// The predicted class of each test digit by the run's forward (fake-quantized under QAT).
    pub fn test_predictions(&self) -> Vec<u8> {
        if let Some(net) = self.trainer.effective_conv() {
            let mut qat = self.trainer.qat.clone();
            if let Some(q) = qat.as_mut() {
                q.set_observers(false);
            }
            let mut tape = quantscope_train::conv::ConvTape::default();
            let mut predictions = Vec::with_capacity(self.test.len());
            for chunk in self.test.images.chunks(100 * PIXELS) {
                net.forward(chunk, chunk.len() / PIXELS, qat.as_mut(), &mut tape);
                predictions.extend(tape.logits().chunks_exact(CLASSES).map(argmax));
            }
            return predictions;
        }
        let mut qat = self.trainer.qat.clone();
        if let Some(q) = qat.as_mut() {
            q.set_observers(false);
        }
        let mut tape = quantscope_train::mlp::Tape::default();
        self.trainer.effective_model().forward(&self.test.images, self.test.len(), qat.as_mut(), &mut tape);
        tape.logits().chunks_exact(CLASSES).map(argmax).collect()
    }

    /// "conv" for a conv net run, else "mlp" (the worker leaves out what the conv net lacks).
    pub fn architecture(&self) -> String {
        (if self.trainer.conv.is_some() { "conv" } else { "mlp" }).into()
    }

    /// Parameters of the model (weights and biases).
    pub fn parameter_count(&self) -> usize {
        match &self.trainer.conv {
            Some(net) => net.parameter_count(),
            None => self.trainer.model.parameter_count(),
        }
    }

    /// Bytes of the model stored at `bits` per weight (32: FP32): the weights at `bits`, the
    /// biases as f32, and per layer its f32 weight scales (one per output neuron when
    /// `per_channel`) and an activation scale and zero point. A weight-shared run is counted as
    /// stored whatever the arguments: its codebooks, packed codes and f32 biases.
    pub fn size_bytes(&self, bits: u32, per_channel: bool) -> f64 {
        if let Some(s) = &self.trainer.shared {
            let biases = match &self.trainer.conv {
                Some(net) => net.params().iter().skip(1).step_by(2).map(|b| b.len()).sum(),
                None => self.trainer.model.layers.iter().map(|l| l.bias.len()).sum(),
            };
            return s.stored_bytes_with(biases) as f64;
        }
        if let Some(net) = &self.trainer.conv {
            // Each Conv2d's or Linear's weight (even places in params()) and its bias.
            let params = net.params();
            let weights: Vec<usize> = params.iter().step_by(2).map(|w| w.len()).collect();
            let biases: usize = params.iter().skip(1).step_by(2).map(|b| b.len()).sum();
            let total: usize = weights.iter().sum();
            if bits >= 32 {
                return ((total + biases) * 4) as f64;
            }
            let outputs = params.iter().skip(1).step_by(2).map(|b| b.len());
            let scales: usize = outputs.map(|o| (if per_channel { o } else { 1 }) + 2).sum();
            return (total * bits as usize).div_ceil(8) as f64 + (biases * 4 + scales * 4) as f64;
        }
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

/// The first largest logit's class (as torch's argmax).
fn argmax(row: &[f32]) -> u8 {
    row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b }) as u8
}
