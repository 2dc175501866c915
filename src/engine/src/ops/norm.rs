//! BatchNormalization in inference mode: `y = (x − mean) / sqrt(var + ε) · scale + B` per
//! channel (axis 1). Training mode (`training_mode=1`, or the extra outputs it produces) is
//! not supported and fails at load time.

use crate::attr::Attrs;
use crate::op::{f32_input, shape_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{Data, Value};
use std::sync::Arc;

#[derive(Debug)]
pub struct BatchNorm {
    pub epsilon: f32,
}

pub fn build_batchnorm(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"])?;
    if a.int("training_mode", 0)? != 0 || ctx.n_outputs > 1 {
        return Err(OpError::Unsupported("training mode (training_mode=1 or the running-statistics outputs)".into()));
    }
    if a.int("spatial", 1)? != 1 {
        return Err(OpError::Unsupported("spatial=0".into()));
    }
    Ok(Arc::new(BatchNorm { epsilon: a.float("epsilon", 1e-5)? }))
}

impl Op for BatchNorm {
    fn op_type(&self) -> &'static str {
        "BatchNormalization"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let shape = inputs.req(0)?.shape().to_vec();
        if shape.len() < 2 {
            return Err(OpError::Rank { input: 0, expected: "at least 2".into(), got: shape.len() });
        }
        let c = shape[1];
        let inner: usize = shape[2..].iter().product();
        let mut params = Vec::with_capacity(4);
        for (i, what) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
            let p = inputs.req(i)?;
            let x = f32_input(p, what)?;
            if x.len() != c {
                return Err(shape_err(format!("{what} has {} elements but X has {c} channels", x.len())));
            }
            params.push(x.to_vec());
        }
        // Per channel: y = x·k + (B − mean·k), k = scale / sqrt(var + ε).
        let (scale, bias, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
        let mut x = inputs.take_or_clone(0)?;
        let dtype = x.dtype();
        let Data::F32(xs) = x.data_mut() else {
            return Err(crate::op::dtype_err(format!("X must be float32, not {dtype}")));
        };
        if inner > 0 {
            for (chunk_index, chunk) in xs.chunks_mut(inner).enumerate() {
                let ch = chunk_index % c;
                let k = scale[ch] / (var[ch] + self.epsilon).sqrt();
                let (m, b) = (mean[ch], bias[ch]);
                chunk.iter_mut().for_each(|v| *v = (*v - m) * k + b);
            }
        }
        Ok(vec![x])
    }
}
