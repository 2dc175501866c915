//! Knowledge distillation (Hinton, Vinyals & Dean 2015): a student trained on a teacher's
//! softened outputs and on the labels. The loss, exactly as the fixtures compute it in torch:
//!
//! ```text
//! loss = α · T² · F.kl_div(F.log_softmax(s / T), F.softmax(t / T), reduction='batchmean')
//!      + (1 − α) · F.cross_entropy(s, y)
//!      = α · T² · (1/N) Σ_n Σ_c p_nc · (log p_nc − log q_nc) + (1 − α) · CE
//! p = softmax(t / T) (the teacher's), q = softmax(s / T) (the student's); terms with p = 0 are 0
//! d loss / d s = α · T · (q − p) / N + (1 − α) · (softmax(s) − onehot(y)) / N
//! ```
//! T² keeps the soft term's gradient on the scale of the hard one's as T grows (Hinton et al. §2).
//!
//! The teacher ([`Teacher`]) is an MLP or the conv net, through its fake-quant nodes frozen if it
//! was trained with them; the student is an MLP ([`check_student`]) or the conv net
//! ([`check_conv_student`]).

use crate::conv::{ConvNet, ConvTape};
use crate::loss::softmax_cross_entropy;
use crate::mlp::{Mlp, Node, Qat, Tape};
use crate::{Error, Result};

/// The temperature and the weight of the soft loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistillConfig {
    pub temperature: f32,
    /// α: 1 trains on the teacher alone, 0 on the labels alone.
    pub alpha: f32,
}

impl DistillConfig {
    /// Refuses T ≤ 0 (or not a number) and α outside [0, 1].
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::Config(format!("temperature {} must be a number > 0", self.temperature)));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::Config(format!("α {} must be between 0 and 1", self.alpha)));
        }
        Ok(())
    }
}

/// Checks a student's layer sizes against its teacher's: the same input and output, at least one
/// hidden layer, and no hidden layer wider than the teacher's input (a "student" that is no
/// compression of the teacher's input is refused, as the issue asks).
pub fn check_student(student: &[usize], teacher: &[usize]) -> Result<()> {
    crate::mlp::Mlp::check_sizes(student)?;
    if student.len() < 3 {
        return Err(Error::Config("the student needs at least one hidden layer".into()));
    }
    if student[0] != teacher[0] || student.last() != teacher.last() {
        return Err(Error::Config(format!(
            "the student {student:?} must take the teacher's input ({}) and give its outputs ({})",
            teacher[0],
            teacher.last().unwrap_or(&0)
        )));
    }
    if let Some(&w) = student[1..student.len() - 1].iter().find(|&&w| w > teacher[0]) {
        return Err(Error::Config(format!("a student layer of {w} is larger than the teacher's input of {}", teacher[0])));
    }
    Ok(())
}

/// A trained network whose logits a student learns from, as `model.eval()` leaves it: its
/// fake-quant nodes (if any) with the observers (LSQ: the static estimate) off.
#[derive(Debug, Clone)]
pub struct Teacher {
    net: TeacherNet,
    qat: Option<Qat>,
    tape: Tape,
    conv_tape: ConvTape,
}

#[derive(Debug, Clone)]
enum TeacherNet {
    Mlp(Mlp),
    Conv(ConvNet),
}

impl Teacher {
    pub fn mlp(model: Mlp, qat: Option<Qat>) -> Self {
        Self::new(TeacherNet::Mlp(model), qat)
    }

    pub fn conv(net: ConvNet, qat: Option<Qat>) -> Self {
        Self::new(TeacherNet::Conv(net), qat)
    }

    fn new(net: TeacherNet, mut qat: Option<Qat>) -> Self {
        if let Some(q) = qat.as_mut() {
            q.set_observers(false);
        }
        Teacher { net, qat, tape: Tape::default(), conv_tape: ConvTape::default() }
    }

    pub fn is_conv(&self) -> bool {
        matches!(self.net, TeacherNet::Conv(_))
    }

    /// The sizes a student is checked against: an MLP's layers, or the conv net's input and classes.
    pub fn sizes(&self) -> Vec<usize> {
        match &self.net {
            TeacherNet::Mlp(m) => m.sizes(),
            TeacherNet::Conv(n) => vec![n.input_size(), n.classes()],
        }
    }

    /// The bit width of its weights (None: FP32).
    pub fn bits(&self) -> Option<u32> {
        let node = self.qat.as_ref()?.weights.first()?;
        let range = match node {
            Node::Observed(n) => n.observer.range,
            Node::Learned(n) => n.range(),
        };
        Some((range.quant_max - range.quant_min + 1).ilog2())
    }

    /// The logits of `batch` rows of `x`.
    pub fn logits(&mut self, x: &[f32], batch: usize) -> &[f32] {
        match &self.net {
            TeacherNet::Mlp(m) => {
                m.forward(x, batch, self.qat.as_mut(), &mut self.tape);
                self.tape.logits()
            }
            TeacherNet::Conv(n) => {
                n.forward(x, batch, self.qat.as_mut(), &mut self.conv_tape);
                self.conv_tape.logits()
            }
        }
    }
}

/// Checks a conv net student (the teacher's inputs and classes are checked by the trainer): of a
/// conv net teacher it has the teacher's own shape, so it is a smaller model only at fewer bits
/// per weight (`student_bits`, None for FP32); any other is refused with the reason.
pub fn check_conv_student(student_bits: Option<u32>, teacher: &Teacher) -> Result<()> {
    if !teacher.is_conv() {
        return Ok(());
    }
    let name = |b: Option<u32>| b.map_or("FP32".to_string(), |b| format!("INT{b}"));
    if student_bits.unwrap_or(32) >= teacher.bits().unwrap_or(32) {
        return Err(Error::Config(format!(
            "a conv net student of the conv net teacher has the teacher's shape: at {} it is no smaller than the {} teacher; \
             choose QAT or LSQ at fewer bits, or an MLP student",
            name(student_bits),
            name(teacher.bits())
        )));
    }
    Ok(())
}

/// The soft term alone, `F.kl_div(log_softmax(s/T), softmax(t/T), 'batchmean')` over `[n, classes]`
/// rows, and (into `grad`, added) its gradient times `weight`: `weight · (q − p) / (T · N)`.
fn kl_soft_targets(student: &[f32], teacher: &[f32], classes: usize, temperature: f32, weight: f32, grad: &mut [f32]) -> f32 {
    let n = student.len() / classes;
    let mut total = 0f64;
    let (mut q, mut p) = (vec![0.0f32; classes], vec![0.0f32; classes]);
    for ((s, t), g) in student.chunks_exact(classes).zip(teacher.chunks_exact(classes)).zip(grad.chunks_exact_mut(classes)) {
        let log_q_norm = log_softmax_into(s, temperature, &mut q);
        let log_p_norm = log_softmax_into(t, temperature, &mut p);
        for c in 0..classes {
            let (log_q, log_p) = (q[c] - log_q_norm, p[c] - log_p_norm);
            let (qc, pc) = (log_q.exp(), log_p.exp());
            if pc > 0.0 {
                total += (pc * (log_p - log_q)) as f64;
            }
            g[c] += weight * (qc - pc) / (temperature * n as f32);
        }
    }
    (total / n as f64) as f32
}

/// `z / T − max(z / T)` into `out`; returns log Σ exp(out) (so `out − it` is log_softmax).
fn log_softmax_into(z: &[f32], temperature: f32, out: &mut [f32]) -> f32 {
    for (o, &v) in out.iter_mut().zip(z) {
        *o = v / temperature;
    }
    let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    out.iter_mut().for_each(|o| *o -= max);
    out.iter().map(|o| o.exp()).sum::<f32>().ln()
}

/// The distillation loss over a batch (`student` and `teacher` logits `[n, classes]`, `labels`
/// `[n]`) and its gradient d loss / d student logits into `grad`. Returns (loss, soft, hard): the
/// KL term and the cross-entropy before weighting.
pub fn distillation_loss(
    student: &[f32],
    teacher: &[f32],
    labels: &[u8],
    classes: usize,
    config: DistillConfig,
    grad: &mut [f32],
) -> (f32, f32, f32) {
    assert_eq!(student.len(), teacher.len(), "student and teacher logits differ in shape");
    let DistillConfig { temperature: t, alpha } = config;
    let hard = softmax_cross_entropy(student, labels, classes, grad);
    grad.iter_mut().for_each(|g| *g *= 1.0 - alpha);
    // d(α T² KL)/ds = α T² · (q − p)/(T N): the helper divides by T N.
    let soft = kl_soft_targets(student, teacher, classes, t, alpha * t * t, grad);
    (alpha * t * t * soft + (1.0 - alpha) * hard, soft, hard)
}
