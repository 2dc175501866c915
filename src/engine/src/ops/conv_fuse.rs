//! The run plan's matching for a float Conv (`Op::fuse_chain`, `crate::fuse`): Conv →
//! [BatchNormalization] → [scalar steps] → [Relu | Clip | HardSwish | x·Sigmoid(x) |
//! x·HardSigmoid(x) | x·Clip(x + a, lo, hi)/d (HardSwish as paddle2onnx writes it)] → [scalar
//! steps], with BatchNormalization folded into the weights
//! (`onnxruntime/core/optimizer/conv_bn_fusion.cc`, `conv_activation_fusion.cc`), and the
//! [`Epilogue`] the fused Conv applies to its output. A scalar step is an Add, Sub, Mul or Div of
//! the value by a one-element constant: PP-LCNetV3's "learnable affine blocks" (paddle2onnx
//! writes `y·s + b` as a Mul and an Add around each activation: PP-OCR's recognizer and
//! detector), which had kept 8 elementwise passes over the tensor after each of their Convs.

use crate::op::PlanView;
use crate::ops::norm::BatchNorm;
use crate::ops::unary::{clamp01, clip, Clip, FloatFn, Unary, UnaryMath};
use crate::value::{DType, Value};

/// What a fused Conv applies to its output after the bias (`crate::fuse`): scalar steps, an
/// activation, scalar steps — each the same f32 arithmetic as the op it replaces, so the fused
/// output equals the unfused one bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epilogue {
    pub before: Steps,
    pub act: Activation,
    pub after: Steps,
}

impl Epilogue {
    /// Nothing: the Conv's output as it is.
    pub const NONE: Epilogue = Epilogue { before: Steps::NONE, act: Activation::None, after: Steps::NONE };

    /// Not inlined: one copy serves every call site (the modules' size), and a call per block
    /// of columns costs nothing measurable. Each step is its own pass over `v` (a block of a
    /// row, in L1), so that each loop vectorizes.
    #[inline(never)]
    pub(crate) fn apply(self, v: &mut [f32]) {
        self.before.apply(v);
        self.act.apply(v);
        self.after.apply(v);
    }
}

/// An elementwise op of the value and a one-element constant, the value on the left (Add and
/// Mul may have it on either side: the result is the same).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Add(f32),
    Sub(f32),
    Mul(f32),
    Div(f32),
}

/// Scalar steps in order, up to [`Steps::MAX`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Steps {
    steps: [Step; Steps::MAX],
    len: usize,
}

impl Steps {
    /// Steps one epilogue side takes, at most (PP-LCNetV3 has two: a Mul and an Add).
    pub const MAX: usize = 4;
    pub const NONE: Steps = Steps { steps: [Step::Add(0.0); Steps::MAX], len: 0 };

    /// `self` and `step`, or `None` when full.
    fn with(mut self, step: Step) -> Option<Steps> {
        *self.steps.get_mut(self.len)? = step;
        self.len += 1;
        Some(self)
    }

    fn apply(&self, v: &mut [f32]) {
        for step in &self.steps[..self.len] {
            match *step {
                Step::Add(k) => v.iter_mut().for_each(|e| *e += k),
                Step::Sub(k) => v.iter_mut().for_each(|e| *e -= k),
                Step::Mul(k) => v.iter_mut().for_each(|e| *e *= k),
                Step::Div(k) => v.iter_mut().for_each(|e| *e /= k),
            }
        }
    }
}

/// The activation of an [`Epilogue`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    None,
    /// Relu (NaN passes).
    Relu,
    /// Clip: `max` with the low bound, then `min` with the high one (either may be absent).
    Clip(Option<f32>, Option<f32>),
    /// `y · Sigmoid(y)` (SiLU/Swish, a Sigmoid and a Mul in the graph).
    Silu,
    /// HardSwish: `y · clamp01(y/6 + 0.5)`.
    HardSwish,
    /// `y · HardSigmoid(y)`: `y · clamp01(alpha·y + beta)` (a HardSigmoid and a Mul).
    HardSigmoidMul {
        alpha: f32,
        beta: f32,
    },
    /// `y · Clip(y + add, lo, hi) / div`: HardSwish as Add, Clip, Mul and Div (paddle2onnx).
    ClipMulDiv {
        add: f32,
        lo: f32,
        hi: f32,
        div: f32,
    },
}

impl Activation {
    fn apply(self, v: &mut [f32]) {
        match self {
            Activation::None => {}
            Activation::Relu => v.iter_mut().for_each(|e| *e = crate::ops::activation::relu32(*e)),
            Activation::Clip(lo, hi) => v.iter_mut().for_each(|e| *e = clip(*e, lo, hi)),
            Activation::Silu => v.iter_mut().for_each(|e| *e *= crate::ops::activation::sigmoid32(*e)),
            Activation::HardSwish => v.iter_mut().for_each(|e| *e *= clamp01(*e / 6.0 + 0.5)),
            Activation::HardSigmoidMul { alpha, beta } => v.iter_mut().for_each(|e| *e *= clamp01(alpha * *e + beta)),
            Activation::ClipMulDiv { add, lo, hi, div } => v.iter_mut().for_each(|e| *e = *e * clip(*e + add, Some(lo), Some(hi)) / div),
        }
    }
}

/// A constant f32 input of a node.
fn constant_f32(plan: &dyn PlanView, slot: Option<usize>) -> Option<&Value> {
    plan.constant(slot?).filter(|v| v.dtype() == DType::F32)
}

/// What a Conv's epilogue takes from the nodes after it: a BatchNormalization with constant f32
/// parameters (`[scale, B, mean, var]`, one per channel, and ε), then an activation; the last
/// output slot and the nodes absorbed.
pub(crate) struct Tail {
    pub bn: Option<([Vec<f32>; 4], f32)>,
    pub epilogue: Epilogue,
    pub output: usize,
    pub absorbed: Vec<usize>,
}

/// What the float Conv at `i` becomes (`Conv::fuse_chain` makes the node): its weights and
/// bias, maybe with a BatchNormalization folded in, the epilogue, its inputs, its output slot
/// and the nodes it absorbs (none when nothing after it fuses); `None` when its weights or bias
/// are not constant.
#[allow(clippy::type_complexity)]
pub(crate) fn conv_chain(plan: &dyn PlanView, i: usize) -> Option<(Value, Option<Value>, Epilogue, Vec<Option<usize>>, usize, Vec<usize>)> {
    let node_inputs = plan.inputs(i);
    let x = (*node_inputs.first()?)?;
    let w = constant_f32(plan, node_inputs.get(1).copied().flatten())?;
    let b = match node_inputs.get(2).copied().flatten() {
        Some(s) => Some(constant_f32(plan, Some(s))?),
        None => None,
    };
    let m = *w.shape().first()?;
    if b.is_some_and(|b| b.len() != m) {
        return None;
    }
    // Nothing after it fuses: the Conv alone, its weights held (and packed on its first run).
    let output = (*plan.outputs(i).first()?)?;
    let tail = conv_tail(plan, i, m, w.rank()).unwrap_or(Tail { bn: None, epilogue: Epilogue::NONE, output, absorbed: Vec::new() });
    let (mut w, mut b) = (w.clone(), b.cloned());
    // Conv → BatchNormalization: folded into the weights and bias.
    if let Some(([scale, beta, mean, var], epsilon)) = &tail.bn {
        let mut ws = w.to_f32_vec();
        let mut bs = b.as_ref().map_or(vec![0.0; m], |b| b.to_f32_vec());
        let per = ws.len() / m.max(1);
        for ch in 0..m {
            let k = scale[ch] / (var[ch] + epsilon).sqrt();
            ws[ch * per..(ch + 1) * per].iter_mut().for_each(|v| *v *= k);
            bs[ch] = (bs[ch] - mean[ch]) * k + beta[ch];
        }
        w = Value::f32(w.shape().to_vec(), ws);
        b = Some(Value::f32(vec![m], bs));
    }
    Some((w, b, tail.epilogue, vec![Some(x)], tail.output, tail.absorbed))
}

/// The [`Tail`] after the Conv at `i` (`m` output channels, an output of rank `rank`); `None`
/// when nothing after it fuses.
pub(crate) fn conv_tail(plan: &dyn PlanView, i: usize, m: usize, rank: usize) -> Option<Tail> {
    // The one node reading `slot` (not a graph output).
    let only_reader = |slot: usize| match plan.readers(slot) {
        [j] if !plan.is_output(slot) => Some(*j),
        _ => None,
    };
    let mut last = (*plan.outputs(i).first()?)?;
    let mut used = Vec::new();
    let mut bn = None;
    // Conv → BatchNormalization.
    if let Some(j) = only_reader(last) {
        if let Some(op) = plan.op(j).as_any().downcast_ref::<BatchNorm>() {
            let params: Option<Vec<Vec<f32>>> =
                (1..=4).map(|k| constant_f32(plan, plan.inputs(j).get(k).copied().flatten()).map(|v| v.to_f32_vec())).collect();
            if let (Some(Ok(p)), [Some(out)]) = (params.filter(|p| p.iter().all(|v| v.len() == m)).map(<[_; 4]>::try_from), plan.outputs(j))
            {
                bn = Some((p, op.epsilon));
                used.push(j);
                last = *out;
            }
        }
    }
    let scalar = |slot: Option<usize>| constant_f32(plan, slot).filter(|v| v.len() == 1 && v.rank() <= rank).map(|v| v.to_f32_vec()[0]);
    let out = |node: usize| plan.outputs(node).first().copied().flatten();
    // Scalar steps from `last` on: each the only reader of the value before it, an Add, Sub,
    // Mul or Div of it by a one-element constant of no higher rank than the Conv's output (one
    // of a higher rank broadcasts to a new shape).
    let steps = |last: &mut usize, used: &mut Vec<usize>| {
        let mut steps = Steps::NONE;
        while let Some(j) = only_reader(*last) {
            let (step, k): (fn(f32) -> Step, _) = match (plan.op(j).op_type(), plan.inputs(j)) {
                ("Add", [Some(x), k] | [k, Some(x)]) if *x == *last => (Step::Add, *k),
                ("Mul", [Some(x), k] | [k, Some(x)]) if *x == *last => (Step::Mul, *k),
                ("Sub", [Some(x), k]) if *x == *last => (Step::Sub, *k),
                ("Div", [Some(x), k]) if *x == *last => (Step::Div, *k),
                _ => break,
            };
            let (Some(k), [Some(o)]) = (scalar(k), plan.outputs(j)) else { break };
            let Some(more) = steps.with(step(k)) else { break };
            steps = more;
            used.push(j);
            *last = *o;
        }
        steps
    };
    let before = steps(&mut last, &mut used);
    // Then an activation.
    let mut act = Activation::None;
    if let Some(j) = only_reader(last) {
        let (op, act_inputs) = (plan.op(j), plan.inputs(j));
        let reads_last = act_inputs.first() == Some(&Some(last));
        let bound = |k: usize| match act_inputs.get(k).copied().flatten() {
            None => Some(None),
            Some(s) => constant_f32(plan, Some(s)).filter(|v| v.len() == 1).map(|v| Some(v.to_f32_vec()[0])),
        };
        act = match op.op_type() {
            _ if !reads_last => Activation::None,
            "Relu" => Activation::Relu,
            "HardSwish" => Activation::HardSwish,
            "Clip" => match op.as_any().downcast_ref::<Clip>().and_then(|c| c.attr_bounds) {
                Some((lo, hi)) => Activation::Clip(Some(lo), Some(hi)),
                None => match (bound(1), bound(2)) {
                    (Some(lo), Some(hi)) => Activation::Clip(lo, hi),
                    _ => Activation::None,
                },
            },
            _ => Activation::None,
        };
        if act != Activation::None {
            used.push(j);
            last = plan.outputs(j)[0]?;
        }
    } else if let ([a, c], false) = (plan.readers(last), plan.is_output(last)) {
        // Whether node `mi` is a Mul of `last` by `other` (either order: the product is the same).
        let mul_of = |mi: usize, other: Option<usize>| {
            plan.op(mi).op_type() == "Mul" && (plan.inputs(mi) == [Some(last), other] || plan.inputs(mi) == [other, Some(last)])
        };
        // x · Sigmoid(x) and x · HardSigmoid(x): the function of `last` whose only reader is a
        // Mul of `last` by it.
        let gated = [(*a, *c), (*c, *a)].into_iter().find_map(|(s, mi)| {
            let gate = match plan.op(s).op_type() {
                "Sigmoid" => Activation::Silu,
                "HardSigmoid" => match plan.op(s).as_any().downcast_ref::<Unary>()?.f {
                    UnaryMath::Float(FloatFn::HardSigmoid { alpha, beta }) => Activation::HardSigmoidMul { alpha, beta },
                    _ => return None,
                },
                _ => return None,
            };
            (plan.inputs(s).first() == Some(&Some(last)) && out(s).and_then(only_reader) == Some(mi) && mul_of(mi, out(s))).then_some((
                gate,
                vec![s, mi],
                out(mi)?,
            ))
        });
        // x · Clip(x + a, lo, hi) / d: an Add of `last` and a constant, read only by a Clip with
        // constant bounds, read only by a Mul of `last` by it, read only by a Div by a constant.
        let parts = || {
            [(*a, *c), (*c, *a)].into_iter().find_map(|(ad, mi)| {
                let add = match plan.inputs(ad) {
                    [Some(x), k] | [k, Some(x)] if *x == last && plan.op(ad).op_type() == "Add" => scalar(*k)?,
                    _ => return None,
                };
                let cl = only_reader(out(ad)?)?;
                let (lo, hi) = match (plan.op(cl).as_any().downcast_ref::<Clip>()?.attr_bounds, plan.inputs(cl)) {
                    (Some(b), [Some(x)]) if Some(*x) == out(ad) => b,
                    (None, [Some(x), l, h]) if Some(*x) == out(ad) => (scalar(*l)?, scalar(*h)?),
                    _ => return None,
                };
                if only_reader(out(cl)?)? != mi || !mul_of(mi, out(cl)) {
                    return None;
                }
                let dv = only_reader(out(mi)?)?;
                let div = match plan.inputs(dv) {
                    [x, k] if *x == out(mi) && plan.op(dv).op_type() == "Div" => scalar(*k)?,
                    _ => return None,
                };
                Some((Activation::ClipMulDiv { add, lo, hi, div }, vec![ad, cl, mi, dv], out(dv)?))
            })
        };
        if let Some((e, nodes, out)) = gated.or_else(parts) {
            act = e;
            used.extend(nodes);
            last = out;
        }
    }
    // Then scalar steps again (after an activation: without one, `before` took them all).
    let after = if act == Activation::None { Steps::NONE } else { steps(&mut last, &mut used) };
    let epilogue = Epilogue { before, act, after };
    if used.is_empty() {
        return None;
    }
    Some(Tail { bn, epilogue, output: last, absorbed: used })
}
