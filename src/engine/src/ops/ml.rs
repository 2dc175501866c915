//! The `ai.onnx.ml` ops that exporters of classic models emit around a network
//! (skl2onnx's classifiers map the argmax back to the class labels with ArrayFeatureExtractor),
//! as `onnx/defs/traditionalml/defs.cc` and the reference evaluator
//! (`onnx/reference/ops/aionnxml/op_array_feature_extractor.py`) define them.

use crate::attr::Attrs;
use crate::op::{int_list, shape_err, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::Value;
use std::sync::Arc;

/// ArrayFeatureExtractor: the elements of X's last axis at the indices Y, for every leading
/// index; a 1-D X gives `[1, len(Y)]`. Y is flattened (any shape).
#[derive(Debug)]
pub struct ArrayFeatureExtractor;

pub fn build_array_feature_extractor(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(ArrayFeatureExtractor))
}

impl Op for ArrayFeatureExtractor {
    fn op_type(&self) -> &'static str {
        "ArrayFeatureExtractor"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let index = int_list(inputs.req(1)?, "Y")?;
        let shape = x.shape();
        let last = *shape.last().ok_or_else(|| shape_err("X must have at least one axis"))?;
        let index: Vec<usize> = index
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .filter(|&i| i < last)
                    .ok_or_else(|| value_err(format!("index {i} is outside X's last axis of {last}")))
            })
            .collect::<Result<_, _>>()?;
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let out_shape = if shape.len() == 1 { vec![1, index.len()] } else { [&shape[..shape.len() - 1], &[index.len()][..]].concat() };
        let n = rows * index.len();
        let data = x.data().pick(n, |start, block| {
            for (p, slot) in (start..).zip(block.iter_mut()) {
                *slot = (p / index.len()) * last + index[p % index.len()];
            }
        });
        Ok(vec![Value::with_dtype(x.dtype(), out_shape, data)])
    }
}
