//! `torch.optim.SGD` and `torch.optim.Adam` (torch 1.13, `torch/optim/sgd.py::_single_tensor_sgd`
//! and `adam.py::_single_tensor_adam`, no `maximize`, no `amsgrad`), step for step: the
//! scalars torch computes as Python floats (bias corrections, step size) are computed in f64
//! here and used in f32, as torch casts them for its float32 kernels.

use crate::mlp::{Grads, Mlp};
use crate::{Error, Result};

/// The optimizer and its hyper-parameters, torch's names and defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// `SGD(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)`.
    Sgd { lr: f64, momentum: f64, dampening: f64, weight_decay: f64, nesterov: bool },
    /// `Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)`.
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
}

impl OptimizerKind {
    pub fn sgd(lr: f64) -> Self {
        OptimizerKind::Sgd { lr, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }

    pub fn adam(lr: f64) -> Self {
        OptimizerKind::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }

    /// torch's constructor checks: `lr >= 0` (we also refuse 0 and non-finite values, which
    /// train nothing), momentum and weight decay `>= 0`, betas in [0, 1), Nesterov needs
    /// momentum and no dampening.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::Config(why));
        match *self {
            OptimizerKind::Sgd { lr, momentum, dampening, weight_decay, nesterov } => {
                if !(lr.is_finite() && lr > 0.0) {
                    return bad(format!("learning rate {lr} must be a positive number"));
                }
                if !(momentum >= 0.0 && weight_decay >= 0.0 && dampening.is_finite()) {
                    return bad(format!("momentum {momentum} and weight decay {weight_decay} must be ≥ 0"));
                }
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return bad("Nesterov momentum requires a momentum and zero dampening".into());
                }
            }
            OptimizerKind::Adam { lr, beta1, beta2, eps, weight_decay } => {
                if !(lr.is_finite() && lr > 0.0) {
                    return bad(format!("learning rate {lr} must be a positive number"));
                }
                if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2)) {
                    return bad(format!("betas ({beta1}, {beta2}) must be in [0, 1)"));
                }
                if !(eps >= 0.0 && weight_decay >= 0.0) {
                    return bad(format!("eps {eps} and weight decay {weight_decay} must be ≥ 0"));
                }
            }
        }
        Ok(())
    }
}

/// An optimizer with its state: one buffer pair per parameter tensor, in the order
/// weight₀, bias₀, weight₁, bias₁, … (torch's `model.parameters()` order).
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub step: u64,
    /// SGD: momentum buffers (empty until the first step, as torch's `None`). Adam: `exp_avg`.
    first: Vec<Vec<f32>>,
    /// Adam: `exp_avg_sq`.
    second: Vec<Vec<f32>>,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind) -> Result<Self> {
        kind.validate()?;
        Ok(Optimizer { kind, step: 0, first: Vec::new(), second: Vec::new() })
    }

    /// One `optimizer.step()` with the gradients in `grads`.
    pub fn step(&mut self, model: &mut Mlp, grads: &Grads) {
        let params: Vec<&mut Vec<f32>> = model.layers.iter_mut().flat_map(|l| [&mut l.weight, &mut l.bias]).collect();
        let gs: Vec<&Vec<f32>> = grads.iter().flat_map(|l| [&l.weight, &l.bias]).collect();
        self.step_tensors(params, gs);
    }

    /// One step over any list of parameter tensors (always the same list, in the same order),
    /// e.g. LSQ's scales and zero points. torch keeps each parameter's state (Adam's step count
    /// too) apart, so parameters that first get gradients later (LSQ's, once learning is on) step
    /// as a second optimizer that starts then, which is how the trainer runs them.
    pub fn step_tensors(&mut self, params: Vec<&mut Vec<f32>>, gs: Vec<&Vec<f32>>) {
        assert_eq!(params.len(), gs.len());
        let first_step = self.step == 0;
        self.step += 1;
        if first_step {
            self.first = gs.iter().map(|g| vec![0.0; g.len()]).collect();
            self.second = gs.iter().map(|g| vec![0.0; g.len()]).collect();
        }
        match self.kind {
            OptimizerKind::Sgd { lr, momentum, dampening, weight_decay, nesterov } => {
                let (lr, momentum, keep, wd) = (lr as f32, momentum as f32, (1.0 - dampening) as f32, weight_decay as f32);
                for ((p, g), buf) in params.into_iter().zip(gs).zip(&mut self.first) {
                    for i in 0..p.len() {
                        let mut d = g[i];
                        if wd != 0.0 {
                            d += wd * p[i];
                        }
                        if momentum != 0.0 {
                            // The first step clones d_p into the buffer (no dampening applied).
                            buf[i] = if first_step { d } else { buf[i] * momentum + keep * d };
                            d = if nesterov { d + momentum * buf[i] } else { buf[i] };
                        }
                        p[i] += -lr * d;
                    }
                }
            }
            OptimizerKind::Adam { lr, beta1, beta2, eps, weight_decay } => {
                let t = self.step as i32;
                let bias_correction1 = 1.0 - beta1.powi(t);
                let bias_correction2 = 1.0 - beta2.powi(t);
                let step_size = (lr / bias_correction1) as f32;
                let bc2_sqrt = bias_correction2.sqrt() as f32;
                let (b1, b2, one_b1, one_b2) = (beta1 as f32, beta2 as f32, (1.0 - beta1) as f32, (1.0 - beta2) as f32);
                let (eps, wd) = (eps as f32, weight_decay as f32);
                for (((p, g), m), v) in params.into_iter().zip(gs).zip(&mut self.first).zip(&mut self.second) {
                    for i in 0..p.len() {
                        let mut gi = g[i];
                        if wd != 0.0 {
                            gi += wd * p[i];
                        }
                        m[i] = m[i] * b1 + one_b1 * gi;
                        v[i] = v[i] * b2 + one_b2 * (gi * gi);
                        let denom = v[i].sqrt() / bc2_sqrt + eps;
                        p[i] += -step_size * (m[i] / denom);
                    }
                }
            }
        }
    }
}
