//! The run plan's matching for a float Conv (`Op::fuse_chain`, `crate::fuse`): Conv →
//! [BatchNormalization] → [Relu | Clip | HardSwish | x·Sigmoid(x) | x·HardSigmoid(x) |
//! x·Clip(x + a, lo, hi)/d (HardSwish as paddle2onnx writes it)], with BatchNormalization folded into the
//! weights (`onnxruntime/core/optimizer/conv_bn_fusion.cc`, `conv_activation_fusion.cc`), and
//! the [`Epilogue`] the fused Conv applies to its output.

use crate::op::PlanView;
use crate::ops::norm::BatchNorm;
use crate::ops::unary::{clamp01, clip, Clip, FloatFn, Unary, UnaryMath};
use crate::value::{DType, Value};

/// What a fused Conv applies to its output after the bias (`crate::fuse`): each the same f32
/// arithmetic as the op it replaces, so the fused output equals the unfused one bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Epilogue {
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

impl Epilogue {
    /// Not inlined: one copy serves every call site (the modules' size), and a call per block
    /// of columns costs nothing measurable.
    #[inline(never)]
    pub(crate) fn apply(self, v: &mut [f32]) {
        match self {
            Epilogue::None => {}
            Epilogue::Relu => v.iter_mut().for_each(|e| *e = crate::ops::activation::relu32(*e)),
            Epilogue::Clip(lo, hi) => v.iter_mut().for_each(|e| *e = clip(*e, lo, hi)),
            Epilogue::Silu => v.iter_mut().for_each(|e| *e *= crate::ops::activation::sigmoid32(*e)),
            Epilogue::HardSwish => v.iter_mut().for_each(|e| *e *= clamp01(*e / 6.0 + 0.5)),
            Epilogue::HardSigmoidMul { alpha, beta } => v.iter_mut().for_each(|e| *e *= clamp01(alpha * *e + beta)),
            Epilogue::ClipMulDiv { add, lo, hi, div } => v.iter_mut().for_each(|e| *e = *e * clip(*e + add, Some(lo), Some(hi)) / div),
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
/// and the nodes it absorbs; `None` when nothing after it fuses.
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
    let tail = conv_tail(plan, i, m, w.rank())?;
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
    // Then an activation.
    let mut epilogue = Epilogue::None;
    if let Some(j) = only_reader(last) {
        let (act, act_inputs) = (plan.op(j), plan.inputs(j));
        let reads_last = act_inputs.first() == Some(&Some(last));
        let bound = |k: usize| match act_inputs.get(k).copied().flatten() {
            None => Some(None),
            Some(s) => constant_f32(plan, Some(s)).filter(|v| v.len() == 1).map(|v| Some(v.to_f32_vec()[0])),
        };
        epilogue = match act.op_type() {
            _ if !reads_last => Epilogue::None,
            "Relu" => Epilogue::Relu,
            "HardSwish" => Epilogue::HardSwish,
            "Clip" => match act.as_any().downcast_ref::<Clip>().and_then(|c| c.attr_bounds) {
                Some((lo, hi)) => Epilogue::Clip(Some(lo), Some(hi)),
                None => match (bound(1), bound(2)) {
                    (Some(lo), Some(hi)) => Epilogue::Clip(lo, hi),
                    _ => Epilogue::None,
                },
            },
            _ => Epilogue::None,
        };
        if epilogue != Epilogue::None {
            used.push(j);
            last = plan.outputs(j)[0]?;
        }
    } else if let ([a, c], false) = (plan.readers(last), plan.is_output(last)) {
        // Whether node `mi` is a Mul of `last` by `other` (either order: the product is the same).
        let mul_of = |mi: usize, other: Option<usize>| {
            plan.op(mi).op_type() == "Mul" && (plan.inputs(mi) == [Some(last), other] || plan.inputs(mi) == [other, Some(last)])
        };
        let out = |node: usize| plan.outputs(node).first().copied().flatten();
        // x · Sigmoid(x) and x · HardSigmoid(x): the function of `last` whose only reader is a
        // Mul of `last` by it.
        let gated = [(*a, *c), (*c, *a)].into_iter().find_map(|(s, mi)| {
            let gate = match plan.op(s).op_type() {
                "Sigmoid" => Epilogue::Silu,
                "HardSigmoid" => match plan.op(s).as_any().downcast_ref::<Unary>()?.f {
                    UnaryMath::Float(FloatFn::HardSigmoid { alpha, beta }) => Epilogue::HardSigmoidMul { alpha, beta },
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
        // (Of no higher rank than the Conv's output, which a broadcast would change.)
        let scalar = |slot: Option<usize>| constant_f32(plan, slot).filter(|v| v.len() == 1 && v.rank() <= rank).map(|v| v.to_f32_vec()[0]);
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
                Some((Epilogue::ClipMulDiv { add, lo, hi, div }, vec![ad, cl, mi, dv], out(dv)?))
            })
        };
        if let Some((e, nodes, out)) = gated.or_else(parts) {
            epilogue = e;
            used.extend(nodes);
            last = out;
        }
    }
    if used.is_empty() {
        return None;
    }
    Some(Tail { bn, epilogue, output: last, absorbed: used })
}
