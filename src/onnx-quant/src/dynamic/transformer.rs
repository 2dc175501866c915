//! `quantize_dynamic`'s rules for the com.microsoft nodes ONNX Runtime's transformer optimizer
//! writes (onnxruntime 1.32, `IntegerOpsRegistry`):
//!
//! * `AttentionQuant.quantize` (`quantization/operators/attention.py`): input 0 through its
//!   (shared) DynamicQuantizeLinear, the `[D, 3·H]` weight as MatMul's B is (weight type,
//!   symmetric for int8, `reduce_range` as asked, per column with `per_channel`:
//!   `quantize_weight(node, [1], reduce_range=True, op_level_per_channel=True)`), then
//!   com.microsoft `QAttention` `<name>_quant` reading `[x_q, w_q, bias, x_scale, w_scale,
//!   mask_index, x_zp, w_zp, past]` (an input left out as `""`), the Attention's attributes
//!   sorted by name (`make_node(**kwargs)`). An Attention with `qkv_hidden_sizes` stays in float,
//!   as in ONNX Runtime.
//! * `EmbedLayerNormalizationQuant.quantize` (`operators/embed_layernorm.py`): the three tables,
//!   gamma and beta (inputs 2–6) each as an activation is — uint8, asymmetric, per tensor,
//!   whatever the weight type — then com.microsoft `QEmbedLayerNormalization` `<name>_quant`
//!   reading `[ids, segment_ids, 5 codes, mask, 5 scales, 5 zero points]`. A node with a third
//!   output (`embedding_sum`) stays in float, as in ONNX Runtime.

use super::{quant_name, Names, Quantizer};
use crate::gemm::node;
use crate::Result;
use quantscope_formats::onnx::proto::NodeProto;

/// What a rule did: `Ok(())` quantized, or why the node stays in float.
type Done = std::result::Result<(), String>;

impl Quantizer<'_> {
    /// AttentionQuant: the node as QAttention, or why it stays in float.
    pub(super) fn attention(&mut self, s: usize, n: &NodeProto) -> Result<Done> {
        if n.attribute.iter().any(|a| a.name.as_deref() == Some("qkv_hidden_sizes")) {
            return Ok(Err("it has qkv_hidden_sizes, which ONNX Runtime's QAttention lacks (its quantizer keeps it in float)".into()));
        }
        if n.input.len() < 3 || n.output.is_empty() {
            return Ok(Err("it has fewer than 3 inputs".into()));
        }
        let w = &n.input[1];
        if !self.is_float_weight(s, w) && !self.scopes[s].quantized.contains_key(w) {
            // ONNX Runtime would quantize a computed weight at run time (a DynamicQuantizeLinear,
            // as an activation); quantscope ports the constant weight the optimizer writes
            return Ok(Err(format!("its weight '{w}' is not a float initializer (quantscope quantizes a constant weight only)")));
        }
        let mut nodes = Vec::new();
        let (x_q, x_zp, x_scale) = self.activation(s, &n.input[0], &mut nodes, false)?;
        let how = self.weight_how();
        let axis = self.options.per_channel.then_some(-1);
        let (w_q, w_zp, w_scale) = self.weight(s, w, how, axis)?;
        let optional = |i: usize| n.input.get(i).cloned().unwrap_or_default();
        let inputs = vec![x_q, w_q, n.input[2].clone(), x_scale, w_scale, optional(3), x_zp, w_zp, optional(4)];
        let mut q = node("QAttention", inputs, n.output.clone(), &quant_name(n));
        q.domain = Some("com.microsoft".into());
        q.attribute = sorted_attributes(n);
        nodes.push(q);
        nodes.into_iter().for_each(|q| self.push(s, q));
        Ok(Ok(()))
    }

    /// EmbedLayerNormalizationQuant: the node as QEmbedLayerNormalization, or why it stays in
    /// float.
    pub(super) fn embed_layer_norm(&mut self, s: usize, n: &NodeProto) -> Result<Done> {
        if n.output.len() > 2 {
            return Ok(Err("it has 3 outputs (embedding_sum), which ONNX Runtime's quantizer keeps in float".into()));
        }
        if n.input.len() < 7 {
            return Ok(Err("it has fewer than 7 inputs".into()));
        }
        let mut nodes = Vec::new();
        let mut quantized: Vec<Names> = Vec::new();
        for i in 2..=6 {
            quantized.push(self.activation(s, &n.input[i], &mut nodes, false)?);
        }
        let mut inputs = vec![n.input[0].clone(), n.input[1].clone()];
        inputs.extend(quantized.iter().map(|q| q.0.clone()));
        inputs.push(n.input.get(7).cloned().unwrap_or_default());
        inputs.extend(quantized.iter().map(|q| q.2.clone()));
        inputs.extend(quantized.iter().map(|q| q.1.clone()));
        let mut q = node("QEmbedLayerNormalization", inputs, n.output.clone(), &quant_name(n));
        q.domain = Some("com.microsoft".into());
        q.attribute = sorted_attributes(n);
        nodes.push(q);
        nodes.into_iter().for_each(|q| self.push(s, q));
        Ok(Ok(()))
    }
}

/// `make_node(**kwargs)` of `attribute_to_kwarg`s: the node's attributes sorted by name.
fn sorted_attributes(n: &NodeProto) -> Vec<quantscope_formats::onnx::proto::AttributeProto> {
    let mut a = n.attribute.clone();
    a.sort_by(|x, y| x.name.cmp(&y.name));
    a
}
