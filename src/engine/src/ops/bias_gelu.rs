//! com.microsoft `BiasGelu`, `FastGelu` and `Gelu`: the GELUs ONNX Runtime's transformer
//! optimizer fuses (`fusion_gelu.py`, `fusion_biasgelu.py`, `fusion_fastgelu.py`). Kernels:
//! `onnxruntime/contrib_ops/cpu/bert/bias_gelu.cc`, `fast_gelu.cc` and
//! `contrib_ops/cpu/activations.h` (onnxruntime 1.32):
//! * `Gelu(x) = 0.5·x·(1 + erf(x/√2))`; `BiasGelu(x, bias) = Gelu(x + bias)` (bias `[H]` over
//!   the last axis);
//! * `FastGelu(x[, bias]) = 0.5·y·(1 + tanh(√(2/π)·(y + 0.044715·y³)))`, `y = x (+ bias)`.

use super::activation::erf_f32;
use crate::attr::Attrs;
use crate::op::{f32_input, shape_err, BuildCtx, Inputs, Op, OpError};
use crate::value::Value;
use std::sync::Arc;

#[derive(Debug)]
pub struct BiasGelu {
    op: &'static str,
    tanh: bool,
}

pub fn build_bias_gelu(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(BiasGelu { op: "BiasGelu", tanh: false }))
}

pub fn build_fast_gelu(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(BiasGelu { op: "FastGelu", tanh: true }))
}

pub fn build_ms_gelu(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(BiasGelu { op: "Gelu", tanh: false }))
}

impl Op for BiasGelu {
    fn op_type(&self) -> &'static str {
        self.op
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let input = inputs.req(0)?;
        let x = f32_input(input, "X")?;
        let bias = match inputs.get(1) {
            Some(b) => {
                let h = input.shape().last().copied().unwrap_or(0);
                if b.shape() != [h] || h == 0 {
                    return Err(shape_err(format!("bias is {:?}: it must be [{h}], X's last dimension", b.shape())));
                }
                Some(f32_input(b, "bias")?)
            }
            None => None,
        };
        let mut y = x.to_vec();
        if let Some(b) = bias {
            y.chunks_exact_mut(b.len()).for_each(|row| row.iter_mut().zip(b).for_each(|(v, b)| *v += b));
        }
        // one loop per form, each without a branch, so that it vectorizes
        if self.tanh {
            let c = (2.0f32 / std::f32::consts::PI).sqrt();
            y.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + (c * (*v + 0.044715 * *v * *v * *v)).tanh()));
        } else {
            y.iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + erf_f32(*v * std::f32::consts::FRAC_1_SQRT_2)));
        }
        Ok(vec![Value::f32(input.shape().to_vec(), y)])
    }
}
