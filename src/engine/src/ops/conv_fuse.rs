//! The run plan's matching for a float Conv (`Op::fuse_chain`, `crate::fuse`): Conv →
//! [BatchNormalization] → [Relu | Clip | x·Sigmoid(x)], with BatchNormalization folded into the
//! weights (`onnxruntime/core/optimizer/conv_bn_fusion.cc`, `conv_activation_fusion.cc`), and
//! the [`Epilogue`] the fused Conv applies to its output.

use crate::op::PlanView;
use crate::ops::norm::BatchNorm;
use crate::ops::unary::Clip;
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
}

impl Epilogue {
    pub(crate) fn apply(self, v: &mut [f32]) {
        match self {
            Epilogue::None => {}
            Epilogue::Relu => v.iter_mut().for_each(|e| *e = crate::ops::activation::relu32(*e)),
            Epilogue::Clip(lo, hi) => v.iter_mut().for_each(|e| {
                if let Some(l) = lo.filter(|&l| *e < l) {
                    *e = l;
                }
                if let Some(h) = hi.filter(|&h| *e > h) {
                    *e = h;
                }
            }),
            Epilogue::Silu => v.iter_mut().for_each(|e| *e *= crate::ops::activation::sigmoid32(*e)),
        }
    }
}

/// A constant f32 input of a node.
fn constant_f32(plan: &dyn PlanView, slot: Option<usize>) -> Option<&Value> {
    plan.constant(slot?).filter(|v| v.dtype() == DType::F32)
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
    // The one node reading `slot` (not a graph output).
    let only_reader = |slot: usize| match plan.readers(slot) {
        [j] if !plan.is_output(slot) => Some(*j),
        _ => None,
    };
    let mut last = (*plan.outputs(i).first()?)?;
    let mut used = Vec::new();
    let (mut w, mut b) = (w.clone(), b.cloned());
    // Conv → BatchNormalization: folded into the weights and bias.
    if let Some(j) = only_reader(last) {
        if let Some(bn) = plan.op(j).as_any().downcast_ref::<BatchNorm>() {
            let params: Option<Vec<Vec<f32>>> =
                (1..=4).map(|k| constant_f32(plan, plan.inputs(j).get(k).copied().flatten()).map(|v| v.to_f32_vec())).collect();
            if let (Some(p), [Some(out)]) = (params.filter(|p| p.iter().all(|v| v.len() == m)), plan.outputs(j)) {
                let (scale, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
                let mut ws = w.to_f32_vec();
                let mut bs = b.as_ref().map_or(vec![0.0; m], |b| b.to_f32_vec());
                let per = ws.len() / m.max(1);
                for ch in 0..m {
                    let k = scale[ch] / (var[ch] + bn.epsilon).sqrt();
                    ws[ch * per..(ch + 1) * per].iter_mut().for_each(|v| *v *= k);
                    bs[ch] = (bs[ch] - mean[ch]) * k + beta[ch];
                }
                w = Value::f32(w.shape().to_vec(), ws);
                b = Some(Value::f32(vec![m], bs));
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
    } else if let [a, c] = plan.readers(last) {
        // x · Sigmoid(x): a Sigmoid of `last` whose only reader is a Mul of `last` by it.
        let silu = [(*a, *c), (*c, *a)].into_iter().find(|&(s, mi)| {
            let sig_out = plan.outputs(s).first().copied().flatten();
            plan.op(s).op_type() == "Sigmoid"
                && sig_out.and_then(only_reader) == Some(mi)
                && plan.op(mi).op_type() == "Mul"
                && !plan.is_output(last)
                && (plan.inputs(mi) == [Some(last), sig_out] || plan.inputs(mi) == [sig_out, Some(last)])
        });
        if let Some((s, mul)) = silu {
            epilogue = Epilogue::Silu;
            used.extend([s, mul]);
            last = plan.outputs(mul).first().copied().flatten()?;
        }
    }
    if used.is_empty() {
        return None;
    }
    Some((w, b, epilogue, vec![Some(x)], last, used))
}
