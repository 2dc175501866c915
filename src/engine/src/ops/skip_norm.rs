//! com.microsoft `SkipLayerNormalization`: a residual Add (and a MatMul's bias) fused with the
//! LayerNormalization after it, as ONNX Runtime's transformer optimizer writes it
//! (`fusion_skiplayernorm.py`). Kernel: `onnxruntime/contrib_ops/cpu/skip_layer_norm.cc`
//! (onnxruntime 1.32): `x = input + skip (+ bias)`, normalized over the last axis with `epsilon`,
//! `· gamma (+ beta)`. Output 3, when named, is `x` itself (`input_skip_bias_sum`). `skip` is
//! input's shape, or `[S, H]` or `[1, S, H]` (broadcast over the batch). Computed in f64, rounded
//! once. Outputs 1 and 2 (mean, inv_std_var: training only) are refused.

use crate::attr::Attrs;
use crate::op::{f32_input, shape_err, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::Value;
use std::sync::Arc;

#[derive(Debug)]
pub struct SkipLayerNorm {
    epsilon: f64,
}

pub fn build_skip_layer_norm(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["epsilon"])?;
    for (i, what) in [(1, "mean"), (2, "inv_std_var")] {
        if ctx.output_names.get(i).is_some_and(|n| !n.is_empty()) {
            return Err(value_err(format!("SkipLayerNormalization's output {i} ({what}) is not supported (only output 0 and 3)")));
        }
    }
    Ok(Arc::new(SkipLayerNorm { epsilon: a.float("epsilon", 1e-12)? as f64 }))
}

impl Op for SkipLayerNorm {
    fn op_type(&self) -> &'static str {
        "SkipLayerNormalization"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let input = inputs.req(0)?;
        let h = *input.shape().last().filter(|_| input.rank() >= 2).ok_or_else(|| shape_err("input must have rank 2 or 3"))?;
        let x = f32_input(input, "input")?;
        let skip_v = inputs.req(1)?;
        let skip = f32_input(skip_v, "skip")?;
        // skip_layer_norm_helper.h: input's shape, or [S, H] / [1, S, H] for every batch
        let stripped: &[usize] = {
            let sh = skip_v.shape();
            let lead = sh.iter().take_while(|&&d| d == 1).count().min(sh.len().saturating_sub(2));
            &sh[lead..]
        };
        let trailing = skip_v.rank() <= input.rank() && input.shape().ends_with(stripped);
        if !trailing || skip.is_empty() || x.len() % skip.len() != 0 {
            return Err(shape_err(format!(
                "skip is {:?}: it must be input's shape {:?} or its trailing dimensions",
                skip_v.shape(),
                input.shape()
            )));
        }
        let param = |i: usize, what: &str| -> Result<Option<&[f32]>, OpError> {
            match inputs.get(i) {
                None => Ok(None),
                Some(v) if v.shape() == [h] => Ok(Some(f32_input(v, what)?)),
                Some(v) => Err(shape_err(format!("{what} is {:?}: it must be [{h}]", v.shape()))),
            }
        };
        let gamma = param(2, "gamma")?.ok_or_else(|| value_err("gamma is missing"))?;
        let (beta, bias) = (param(3, "beta")?, param(4, "bias")?);
        let mut out = vec![0f32; x.len()];
        let mut sum_out = vec![0f32; x.len()];
        let mut row = vec![0f64; h];
        for (r, (o, so)) in out.chunks_exact_mut(h).zip(sum_out.chunks_exact_mut(h)).enumerate() {
            for (i, v) in row.iter_mut().enumerate() {
                let at = r * h + i;
                let s = x[at] + skip[at % skip.len()] + bias.map_or(0.0, |b| b[i]);
                so[i] = s;
                *v = s as f64;
            }
            let mean = row.iter().sum::<f64>() / h as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / h as f64;
            let e = (var + self.epsilon).sqrt();
            for (i, y) in o.iter_mut().enumerate() {
                *y = ((row[i] - mean) / e * gamma[i] as f64 + beta.map_or(0.0, |b| b[i] as f64)) as f32;
            }
        }
        let shape = input.shape().to_vec();
        let stat = vec![0f32];
        Ok(vec![Value::f32(shape.clone(), out), Value::f32(vec![1], stat.clone()), Value::f32(vec![1], stat), Value::f32(shape, sum_out)])
    }
}
