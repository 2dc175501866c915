//! A training run: the configuration the page offers, one step at a time (so the worker can
//! report progress, pause and cancel between steps), evaluation on held-out digits, and a stop
//! on divergence that keeps the last good weights.

use crate::conv::{ConvNet, ConvTape};
use crate::data::{epoch_order, Dataset};
use crate::distill::{distillation_loss, DistillConfig, Teacher};
use crate::loss::softmax_cross_entropy;
use crate::mlp::{Grads, Mlp, Node, Qat, Tape};
use crate::observer::{Averaging, Granularity, QuantSpec, Signedness, Symmetry};
use crate::optim::{Optimizer, OptimizerKind};
use crate::prune::Method;
use crate::rng::SplitMix64;
use crate::share::WeightSharing;
use crate::trace::Trace;
use crate::{Error, Result};

/// How the fake-quant nodes get their scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QatMethod {
    /// torch.ao's `FakeQuantize`: the observers set them.
    Observed,
    /// LSQ (`_LearnableFakeQuantize`, with `use_grad_scaling`): the observers set them for the
    /// first `static_steps` steps (torch's `enable_static_estimate`), then the optimizer learns
    /// them (`enable_param_learning`).
    Learned { static_steps: u64 },
}

/// Quantization-aware training: what the weights and activations simulate, and when the
/// observers freeze (torch's `disable_observer` schedule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QatConfig {
    pub method: QatMethod,
    pub bits: u32,
    /// Per channel (one scale per output neuron) or per tensor, for the weights.
    pub weight_granularity: Granularity,
    pub averaging: Averaging,
    /// Observers stop updating after this many steps (None: never).
    pub freeze_observers_after: Option<u64>,
}

impl QatConfig {
    /// torch's default QAT qconfig at `bits`: weights signed symmetric, activations unsigned affine.
    pub fn specs(&self) -> (QuantSpec, QuantSpec) {
        let weight = QuantSpec {
            bits: self.bits,
            signedness: Signedness::Signed,
            symmetry: Symmetry::Symmetric,
            granularity: self.weight_granularity,
            averaging: self.averaging,
        };
        let activation = QuantSpec {
            bits: self.bits,
            signedness: Signedness::Unsigned,
            symmetry: Symmetry::Affine,
            granularity: Granularity::PerTensor,
            averaging: self.averaging,
        };
        (weight, activation)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Layer sizes, input first: `[784, 100, 100, 10]` is the built-in model.
    pub sizes: Vec<usize>,
    pub optimizer: OptimizerKind,
    pub epochs: usize,
    pub batch_size: usize,
    /// Seeds the initial weights (stream `seed`) and the shuffling (stream `seed ^ SHUFFLE_STREAM`).
    pub seed: u64,
    pub qat: Option<QatConfig>,
    /// Distillation from a teacher (see [`Trainer::with_teacher`]); None trains on the labels.
    pub distill: Option<DistillConfig>,
}

/// XORed into the seed for the shuffling stream, so initialisation and order are independent.
pub const SHUFFLE_STREAM: u64 = 0x5348_5546_464C_4531; // "SHUFFLE1"

impl TrainConfig {
    pub fn validate(&self, data: &Dataset) -> Result<()> {
        Mlp::check_sizes(&self.sizes)?;
        self.optimizer.validate()?;
        if self.sizes[0] != data.features {
            return Err(Error::Config(format!("the input size {} differs from the digits' {} pixels", self.sizes[0], data.features)));
        }
        if *self.sizes.last().unwrap() != data.classes {
            return Err(Error::Config(format!("the output size {} differs from the {} classes", self.sizes.last().unwrap(), data.classes)));
        }
        if self.epochs == 0 || self.epochs > 1000 {
            return Err(Error::Config(format!("{} epochs: choose 1 to 1000", self.epochs)));
        }
        if self.batch_size == 0 || self.batch_size > data.len() {
            return Err(Error::Config(format!("batch size {} must be 1 to the {} training digits", self.batch_size, data.len())));
        }
        if let Some(q) = &self.qat {
            let (w, a) = q.specs();
            w.range()?;
            a.range()?;
        }
        if let Some(d) = &self.distill {
            d.validate()?;
        }
        Ok(())
    }

    pub fn steps_per_epoch(&self, data: &Dataset) -> usize {
        data.len().div_ceil(self.batch_size)
    }
}

/// What one step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Steps done so far (1 after the first).
    pub step: u64,
    pub epoch: usize,
    pub loss: f32,
    /// Correct predictions in the batch / batch size.
    pub batch_accuracy: f32,
}

/// Why a run stopped by itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Divergence {
    /// The loss of step `step` was NaN or infinite; the weights are those before it.
    Loss { step: u64, loss: f32 },
    /// An update made a weight NaN or infinite at `step`; the weights are those before it.
    Weights { step: u64 },
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Divergence::Loss { step, loss } => write!(f, "diverged at step {step}: the loss is {loss}; the weights before it are kept"),
            Divergence::Weights { step } => {
                write!(f, "diverged at step {step}: a weight became NaN or infinite; the weights before it are kept")
            }
        }
    }
}

/// A run in progress.
pub struct Trainer {
    pub config: TrainConfig,
    pub model: Mlp,
    pub qat: Option<Qat>,
    optimizer: Optimizer,
    shuffle: SplitMix64,
    order: Vec<usize>,
    /// Position in the current epoch's order.
    cursor: usize,
    pub epoch: usize,
    pub step: u64,
    tape: Tape,
    grads: Grads,
    batch_x: Vec<f32>,
    batch_y: Vec<u8>,
    grad_logits: Vec<f32>,
    /// Pruning masks (one per layer's weight), applied as torch's `weight_orig · mask`: the
    /// forward and backward run on the masked weights and only unpruned weights get gradients.
    masks: Option<Vec<Vec<f32>>>,
    /// Gradual pruning: the schedule the run re-prunes by while it trains (`crate::gradual`).
    gradual: Option<crate::gradual::Schedule>,
    /// LSQ: the optimizer of the learned scales and zero points (torch's per-parameter state: it
    /// starts when learning does) and their gradients.
    qparam_optimizer: Optimizer,
    qparam_grads: Vec<Vec<f32>>,
    /// Distillation: the teacher (its fake-quant nodes frozen, as `model.eval()`).
    teacher: Option<Teacher>,
    /// One neuron's weights followed step by step (the Learn view's STE panel; see [`Trace::new`]).
    pub trace: Option<Trace>,
    /// k-means weight sharing (see [`Trainer::with_shared_weights`]): every weight is its
    /// centroid, and the optimizer steps the centroids and biases.
    pub shared: Option<WeightSharing>,
    /// A conv net run (see [`Trainer::with_conv`]): the network trained instead of `model`, with
    /// its tape and gradients (one per parameter tensor).
    pub conv: Option<ConvNet>,
    conv_tape: ConvTape,
    conv_grads: Vec<Vec<f32>>,
}

impl Trainer {
    pub fn new(config: TrainConfig, data: &Dataset) -> Result<Self> {
        if config.distill.is_some() {
            return Err(Error::Config("distillation needs a teacher".into()));
        }
        Self::build(config, data, None)
    }

    /// A student trained on `teacher`'s softened outputs (`config.distill`) and the labels; the
    /// teacher's nodes (if it was trained with fake quantization) are used frozen.
    pub fn with_teacher(config: TrainConfig, data: &Dataset, teacher: Mlp, teacher_qat: Option<Qat>) -> Result<Self> {
        Self::distilled(config, data, Teacher::mlp(teacher, teacher_qat))
    }

    /// An MLP student (`config.sizes`) of any [`Teacher`], an MLP or the conv net.
    pub fn distilled(config: TrainConfig, data: &Dataset, teacher: Teacher) -> Result<Self> {
        if config.distill.is_none() {
            return Err(Error::Config("a teacher needs the distillation settings".into()));
        }
        crate::distill::check_student(&config.sizes, &teacher.sizes())?;
        Self::build(config, data, Some(teacher))
    }

    /// The conv net `net` as the student of `teacher` (an MLP or a conv net;
    /// `crate::distill::check_conv_student` refuses a conv student no smaller than a conv teacher).
    pub fn with_conv_distilled(config: TrainConfig, data: &Dataset, net: ConvNet, teacher: Teacher) -> Result<Self> {
        if config.distill.is_none() {
            return Err(Error::Config("a teacher needs the distillation settings".into()));
        }
        crate::distill::check_conv_student(config.qat.map(|q| q.bits), &teacher)?;
        let sizes = teacher.sizes();
        if sizes.first() != Some(&net.input_size()) || sizes.last() != Some(&net.classes()) {
            return Err(Error::Config(format!(
                "the conv net student takes {} values and gives {} classes; its teacher {:?}",
                net.input_size(),
                net.classes(),
                sizes
            )));
        }
        Self::conv_run(config, data, net, Some(teacher))
    }

    /// k-means weight sharing of the conv net `net` at `bits`, as [`Trainer::with_shared_weights`]
    /// shares an MLP's: one codebook per Conv2d or Linear weight (`WeightSharing::cluster_conv`).
    pub fn with_shared_conv(config: TrainConfig, data: &Dataset, net: ConvNet, bits: u32) -> Result<Self> {
        WeightSharing::check_bits(bits)?;
        if config.qat.is_some() || config.distill.is_some() {
            return Err(Error::Config("weight sharing fine-tunes FP32 weights: no fake quantization, no teacher".into()));
        }
        let mut trainer = Self::with_conv(config, data, net)?;
        trainer.shared = Some(WeightSharing::cluster_conv(trainer.conv.as_mut().expect("a conv run"), bits)?);
        Ok(trainer)
    }

    /// Fine-tunes `model` with k-means weight sharing at `bits` (`crate::share`): each layer
    /// clustered as the library's `kmeans{bits}` scheme stores it, then its centroids (from the
    /// summed gradients of their weights) and the biases trained with `config`'s optimizer, fresh.
    /// The run's layers are the model's (`config.sizes` is set from it).
    pub fn with_shared_weights(mut config: TrainConfig, data: &Dataset, mut model: Mlp, bits: u32) -> Result<Self> {
        WeightSharing::check_bits(bits)?;
        if config.qat.is_some() || config.distill.is_some() {
            return Err(Error::Config("weight sharing fine-tunes FP32 weights: no fake quantization, no teacher".into()));
        }
        config.sizes = model.sizes();
        let mut trainer = Self::build(config, data, None)?;
        trainer.shared = Some(WeightSharing::cluster(&mut model, bits)?);
        trainer.model = model;
        Ok(trainer)
    }

    /// Trains the conv net `net` (`crate::conv`) with `config`'s optimizer, epochs, batch and seed
    /// (the seed shuffles; `net` comes initialised), in FP32 or with torch.ao's fake quantization
    /// (`config.qat`: observed, see [`ConvNet::qat`], or LSQ's learned scales,
    /// `ConvNet::qat_learned`). `config.sizes` is set to the net's input and classes, and `model`
    /// is then a placeholder that nothing trains. Refused with the reason: distillation settings
    /// without a teacher ([`Trainer::with_conv_distilled`]), and a net whose input or classes
    /// differ from the digits'.
    pub fn with_conv(config: TrainConfig, data: &Dataset, net: ConvNet) -> Result<Self> {
        if config.distill.is_some() {
            return Err(Error::Config("distillation needs a teacher".into()));
        }
        Self::conv_run(config, data, net, None)
    }

    fn conv_run(mut config: TrainConfig, data: &Dataset, net: ConvNet, teacher: Option<Teacher>) -> Result<Self> {
        net.shapes()?;
        if net.input_size() != data.features || net.classes() != data.classes {
            return Err(Error::Config(format!(
                "the conv net takes {} values and gives {} classes; the digits have {} pixels and {} classes",
                net.input_size(),
                net.classes(),
                data.features,
                data.classes
            )));
        }
        config.sizes = vec![data.features, data.classes];
        let mut trainer = Self::build(config, data, teacher)?;
        if let Some(q) = &trainer.config.qat {
            let (w, a) = q.specs();
            trainer.qat = Some(match q.method {
                QatMethod::Observed => net.qat(w, a)?,
                QatMethod::Learned { .. } => net.qat_learned(w, a, true)?,
            });
        }
        trainer.conv_grads = net.zero_grads();
        trainer.conv = Some(net);
        Ok(trainer)
    }

    fn build(config: TrainConfig, data: &Dataset, teacher: Option<Teacher>) -> Result<Self> {
        config.validate(data)?;
        let model = Mlp::new(&config.sizes, config.seed)?;
        let qat = match &config.qat {
            Some(q) => {
                let (w, a) = q.specs();
                Some(match q.method {
                    QatMethod::Observed => Qat::new(model.layers.len(), w, a)?,
                    QatMethod::Learned { .. } => Qat::learned(&config.sizes[1..], w, a, true)?,
                })
            }
            None => None,
        };
        let mut shuffle = SplitMix64::new(config.seed ^ SHUFFLE_STREAM);
        let order = epoch_order(data.len(), &mut shuffle);
        let config_optimizer = config.optimizer;
        Ok(Trainer {
            optimizer: Optimizer::new(config.optimizer)?,
            grads: model.zero_grads(),
            config,
            model,
            qat,
            shuffle,
            order,
            cursor: 0,
            epoch: 0,
            step: 0,
            tape: Tape::default(),
            batch_x: Vec::new(),
            batch_y: Vec::new(),
            grad_logits: Vec::new(),
            masks: None,
            gradual: None,
            qparam_optimizer: Optimizer::new(config_optimizer)?,
            qparam_grads: Vec::new(),
            teacher,
            trace: None,
            shared: None,
            conv: None,
            conv_tape: ConvTape::default(),
            conv_grads: Vec::new(),
        })
    }

    pub fn total_steps(&self, data: &Dataset) -> u64 {
        (self.config.steps_per_epoch(data) * self.config.epochs) as u64
    }

    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// One mini-batch: forward, loss, backward, optimizer step. The last batch of an epoch is
    /// smaller when the batch size does not divide the data (torch's `drop_last=False`).
    /// On a NaN/Inf loss or weights, returns the divergence and leaves the model as before the step.
    /// Under a gradual pruning schedule, a re-prune step ends by pruning to its level.
    pub fn step(&mut self, data: &Dataset) -> Result<StepReport, Divergence> {
        let report = self.step_once(data)?;
        if let Some(level) = self.gradual.as_ref().and_then(|g| g.due(self.step)) {
            self.reprune(level);
        }
        Ok(report)
    }

    fn step_once(&mut self, data: &Dataset) -> Result<StepReport, Divergence> {
        assert!(!self.finished(), "step() after the last epoch");
        let end = (self.cursor + self.config.batch_size).min(self.order.len());
        data.gather(&self.order[self.cursor..end], &mut self.batch_x, &mut self.batch_y);
        let batch = end - self.cursor;
        self.schedule_nodes();
        if self.conv.is_some() {
            return self.step_conv(data, end, batch);
        }
        let qat_before = self.qat.clone();
        let masked = self.masks.as_ref().map(|m| crate::prune::apply(&self.model, m));
        let used = masked.as_ref().unwrap_or(&self.model);
        used.forward(&self.batch_x, batch, self.qat.as_mut(), &mut self.tape);
        self.grad_logits.resize(self.tape.logits().len(), 0.0);
        let loss = match (&mut self.teacher, self.config.distill) {
            (Some(teacher), Some(d)) => {
                let t = teacher.logits(&self.batch_x, batch);
                distillation_loss(self.tape.logits(), t, &self.batch_y, data.classes, d, &mut self.grad_logits).0
            }
            _ => softmax_cross_entropy(self.tape.logits(), &self.batch_y, data.classes, &mut self.grad_logits),
        };
        let step = self.step + 1;
        if !loss.is_finite() {
            self.qat = qat_before;
            return Err(Divergence::Loss { step, loss });
        }
        let correct = count_correct(self.tape.logits(), &self.batch_y, data.classes);
        // LSQ nodes pass gradients by their own backward in the static steps too (as torch's
        // learnable op does, whether or not its qparams learn yet).
        let learned_nodes = self.qat.as_ref().is_some_and(|q| q.nodes().any(|n| matches!(n, Node::Learned(_))));
        let learning = self.qat.as_ref().is_some_and(|q| q.learning());
        match self.qat.as_ref() {
            Some(q) if learned_nodes => {
                self.qparam_grads = q.zero_learned_grads();
                used.backward_learned(&self.tape, &self.grad_logits, &mut self.grads, q, &mut self.qparam_grads);
            }
            _ => used.backward(&self.tape, &self.grad_logits, &mut self.grads),
        }
        if let Some(masks) = &self.masks {
            // d(weight_orig · mask) / d weight_orig = mask.
            for (g, mask) in self.grads.iter_mut().zip(masks) {
                g.weight.iter_mut().zip(mask).for_each(|(g, m)| *g *= m);
            }
        }
        let kept = self.model.clone();
        let shared_before = self.shared.clone();
        match self.shared.as_mut() {
            Some(s) => s.step(&mut self.model, &self.grads, &mut self.optimizer),
            None => self.optimizer.step(&mut self.model, &self.grads),
        }
        if learning {
            let q = self.qat.as_mut().expect("learning implies nodes");
            self.qparam_optimizer.step_tensors(q.learned_params_mut(), self.qparam_grads.iter().collect());
            if !q.nodes().all(|n| n.scale().iter().all(|s| s.is_finite())) {
                self.model = kept;
                self.qat = qat_before;
                return Err(Divergence::Weights { step });
            }
        }
        if !self.model.is_finite() {
            self.model = kept;
            self.qat = qat_before;
            self.shared = shared_before;
            return Err(Divergence::Weights { step });
        }
        if let (Some(trace), Some(q)) = (self.trace.as_mut(), self.qat.as_ref()) {
            trace.record(step, masked.as_ref().unwrap_or(&kept), q, &self.tape, &self.grads);
        }
        Ok(self.finish_step(data, end, StepReport { step, epoch: self.epoch, loss, batch_accuracy: correct as f32 / batch as f32 }))
    }

    /// torch.ao's schedules before a step: the observers frozen after `freeze_observers_after`,
    /// and LSQ's `enable_param_learning` after its static steps.
    fn schedule_nodes(&mut self) {
        let (Some(q), Some(config)) = (self.qat.as_mut(), self.config.qat) else { return };
        if config.freeze_observers_after.is_some_and(|freeze| self.step >= freeze) {
            q.set_observers(false);
        }
        if config.method == (QatMethod::Learned { static_steps: self.step }) {
            q.enable_param_learning();
        }
    }

    /// [`Trainer::step`] of a conv net run on the gathered batch that ends at `end` of the order:
    /// FP32, QAT or LSQ, distilled from a teacher or on the labels, pruned, weight-shared.
    fn step_conv(&mut self, data: &Dataset, end: usize, batch: usize) -> Result<StepReport, Divergence> {
        let qat_before = self.qat.clone();
        let masked = self.masks.as_ref().map(|m| crate::prune::apply_conv(self.conv.as_ref().expect("a conv run"), m));
        let net = masked.as_ref().or(self.conv.as_ref()).expect("a conv run");
        net.forward(&self.batch_x, batch, self.qat.as_mut(), &mut self.conv_tape);
        self.grad_logits.resize(self.conv_tape.logits().len(), 0.0);
        let loss = match (&mut self.teacher, self.config.distill) {
            (Some(teacher), Some(d)) => {
                let t = teacher.logits(&self.batch_x, batch);
                distillation_loss(self.conv_tape.logits(), t, &self.batch_y, data.classes, d, &mut self.grad_logits).0
            }
            _ => softmax_cross_entropy(self.conv_tape.logits(), &self.batch_y, data.classes, &mut self.grad_logits),
        };
        let step = self.step + 1;
        if !loss.is_finite() {
            self.qat = qat_before;
            return Err(Divergence::Loss { step, loss });
        }
        let correct = count_correct(self.conv_tape.logits(), &self.batch_y, data.classes);
        // LSQ nodes pass gradients by their own backward in the static steps too (see `step`).
        let learned_nodes = self.qat.as_ref().is_some_and(|q| q.nodes().any(|n| matches!(n, Node::Learned(_))));
        let learning = self.qat.as_ref().is_some_and(|q| q.learning());
        match self.qat.as_ref() {
            Some(q) if learned_nodes => {
                self.qparam_grads = q.zero_learned_grads();
                net.backward_learned(&self.conv_tape, &self.grad_logits, &mut self.conv_grads, q, &mut self.qparam_grads);
            }
            _ => net.backward(&self.conv_tape, &self.grad_logits, &mut self.conv_grads),
        }
        if let Some(masks) = &self.masks {
            // d(weight_orig · mask) / d weight_orig = mask; the weights are every other tensor.
            for (g, mask) in self.conv_grads.iter_mut().step_by(2).zip(masks) {
                g.iter_mut().zip(mask).for_each(|(g, m)| *g *= m);
            }
        }
        let kept = self.conv.clone().expect("a conv run");
        let shared_before = self.shared.clone();
        let net = self.conv.as_mut().expect("a conv run");
        match self.shared.as_mut() {
            Some(s) => s.step_conv(net, &self.conv_grads, &mut self.optimizer),
            None => self.optimizer.step_tensors(net.params_mut(), self.conv_grads.iter().collect()),
        }
        let mut finite = net.is_finite();
        if learning {
            let q = self.qat.as_mut().expect("learning implies nodes");
            self.qparam_optimizer.step_tensors(q.learned_params_mut(), self.qparam_grads.iter().collect());
            finite &= q.nodes().all(|n| n.scale().iter().all(|s| s.is_finite()));
        }
        if !finite {
            *net = kept;
            self.qat = qat_before;
            self.shared = shared_before;
            return Err(Divergence::Weights { step });
        }
        Ok(self.finish_step(data, end, StepReport { step, epoch: self.epoch, loss, batch_accuracy: correct as f32 / batch as f32 }))
    }

    /// Counts the step and moves the cursor to `end`, into a new shuffled epoch when it is done.
    fn finish_step(&mut self, data: &Dataset, end: usize, report: StepReport) -> StepReport {
        self.step = report.step;
        self.cursor = end;
        if self.cursor >= self.order.len() {
            self.epoch += 1;
            self.cursor = 0;
            self.order = epoch_order(data.len(), &mut self.shuffle);
        }
        report
    }

    /// Accuracy on `data` with the current weights (and, under QAT, the fake-quant forward with
    /// the observers frozen, as torch's `model.eval()` leaves them).
    pub fn evaluate(&self, data: &Dataset) -> f32 {
        match &self.conv {
            Some(_) => evaluate_conv(&self.effective_conv().expect("a conv run"), self.qat.as_ref(), data),
            None => evaluate(&self.effective_model(), self.qat.as_ref(), data),
        }
    }

    /// The weights as the run keeps them: pruned ones at zero; weight-shared ones at their
    /// centroids as stored (f16).
    pub fn effective_model(&self) -> Mlp {
        let model = match &self.shared {
            Some(s) => s.stored(&self.model),
            None => self.model.clone(),
        };
        match &self.masks {
            Some(m) => crate::prune::apply(&model, m),
            None => model,
        }
    }

    /// A conv net run's net as it keeps it: pruned weights at zero; weight-shared ones at their
    /// centroids as stored (f16).
    pub fn effective_conv(&self) -> Option<ConvNet> {
        let net = self.conv.as_ref()?;
        let net = match &self.shared {
            Some(s) => s.stored_conv(net),
            None => net.clone(),
        };
        Some(match &self.masks {
            Some(m) => crate::prune::apply_conv(&net, m),
            None => net,
        })
    }

    /// Prunes from now on with `masks` (one per layer's weight, or a conv net's per Conv2d or
    /// Linear; from `crate::prune`). Ends a gradual schedule (one cancelled part-way would
    /// otherwise go on re-pruning in later fine-tuning).
    pub fn set_masks(&mut self, masks: Vec<Vec<f32>>) -> Result<()> {
        let weights: Vec<usize> = match &self.conv {
            Some(net) => net.params().iter().step_by(2).map(|w| w.len()).collect(),
            None => self.model.layers.iter().map(|l| l.weight.len()).collect(),
        };
        let fits = masks.len() == weights.len() && masks.iter().zip(&weights).all(|(m, &n)| m.len() == n);
        if !fits {
            return Err(Error::Config("the pruning masks do not fit the model's layers".into()));
        }
        self.masks = Some(masks);
        self.gradual = None;
        Ok(())
    }

    /// The weight layers pruning works on: the MLP's as the forward uses them, or the conv
    /// net's Conv2d and Linear layers (`crate::prune::conv_layers`).
    pub fn prunable_layers(&self) -> Mlp {
        match self.effective_conv() {
            Some(net) => crate::prune::conv_layers(&net),
            None => self.effective_model(),
        }
    }

    /// Prunes gradually from now on: the run re-prunes `count` times every `every` steps with
    /// `method` to CubicSL's level (`crate::gradual::Schedule`, t_0 this step) as it trains.
    /// Refused with the reason if the schedule makes no sense, the training left (after
    /// [`Trainer::extend`]) is shorter than it, or its method cannot reach `final_sparsity` on
    /// these layers.
    pub fn set_gradual(&mut self, method: Method, final_sparsity: f64, every: u64, count: u64, data: &Dataset) -> Result<()> {
        let schedule = crate::gradual::Schedule::new(method, final_sparsity, self.step, every, count)?;
        let left = self.total_steps(data).saturating_sub(self.step);
        if schedule.span() > left {
            return Err(Error::Config(format!(
                "re-pruning {} times every {} steps needs {} steps of fine-tuning, there are {left}: more epochs or fewer steps",
                schedule.count,
                schedule.every,
                schedule.span()
            )));
        }
        schedule.method.masks(&self.prunable_layers(), schedule.final_sparsity)?;
        self.gradual = Some(schedule);
        Ok(())
    }

    pub fn gradual(&self) -> Option<&crate::gradual::Schedule> {
        self.gradual.as_ref()
    }

    /// One re-prune of the gradual schedule: its method at `level` on the weights as they are,
    /// on top of the masks (a pruned weight stays pruned).
    fn reprune(&mut self, level: f64) {
        let Some(schedule) = &self.gradual else { return };
        // `set_gradual` checked the method reaches the final level on these layers; the levels
        // before it are lower, so this cannot fail.
        if let Ok(fresh) = schedule.method.masks(&self.prunable_layers(), level) {
            self.masks = Some(crate::prune::combine(fresh, self.masks.as_deref()));
        }
    }

    pub fn masks(&self) -> Option<&[Vec<f32>]> {
        self.masks.as_deref()
    }

    /// Trains `epochs` more epochs (fine-tuning after pruning), with the same optimizer state.
    pub fn extend(&mut self, epochs: usize) -> Result<()> {
        if epochs == 0 || self.config.epochs + epochs > 1000 {
            return Err(Error::Config(format!("{epochs} more epochs: choose 1 to {}", 1000 - self.config.epochs)));
        }
        self.config.epochs += epochs;
        Ok(())
    }
}

/// Accuracy of `model` on `data`, in batches of 500; `qat`'s nodes are cloned with observers off.
pub fn evaluate(model: &Mlp, qat: Option<&Qat>, data: &Dataset) -> f32 {
    let mut qat = qat.cloned();
    if let Some(q) = qat.as_mut() {
        q.set_observers(false);
    }
    let mut tape = Tape::default();
    let mut correct = 0;
    let chunk = 500;
    for start in (0..data.len()).step_by(chunk) {
        let end = (start + chunk).min(data.len());
        let x = &data.images[start * data.features..end * data.features];
        model.forward(x, end - start, qat.as_mut(), &mut tape);
        correct += count_correct(tape.logits(), &data.labels[start..end], data.classes);
    }
    correct as f32 / data.len() as f32
}

/// Accuracy of the conv net on `data`, in batches of 100 (its tape keeps every layer's maps);
/// `qat`'s nodes are cloned with observers off.
pub fn evaluate_conv(net: &ConvNet, qat: Option<&Qat>, data: &Dataset) -> f32 {
    let mut qat = qat.cloned();
    if let Some(q) = qat.as_mut() {
        q.set_observers(false);
    }
    let mut tape = ConvTape::default();
    let mut correct = 0;
    let chunk = 100;
    for start in (0..data.len()).step_by(chunk) {
        let end = (start + chunk).min(data.len());
        net.forward(&data.images[start * data.features..end * data.features], end - start, qat.as_mut(), &mut tape);
        correct += count_correct(tape.logits(), &data.labels[start..end], data.classes);
    }
    correct as f32 / data.len() as f32
}

/// Rows whose largest logit (the first on ties, as argmax) is the label.
pub fn count_correct(logits: &[f32], labels: &[u8], classes: usize) -> usize {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .filter(|(row, &label)| {
            let best = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            best == label as usize
        })
        .count()
}
