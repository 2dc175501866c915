//! com.microsoft `Attention` and `QAttention`: the fused self-attention ONNX Runtime's
//! transformer optimizer writes for a BERT-like encoder (`onnxruntime.transformers.optimizer`,
//! `fusion_attention.py`), and what its `quantize_dynamic` makes of it
//! (`onnxruntime/python/tools/quantization/operators/attention.py`).
//! Schemas: docs/ContribOperators.md; kernels: `onnxruntime/contrib_ops/cpu/bert/attention.cc`,
//! `attention_cpu_base.h` (`ApplyAttention`, `PrepareMask` in `attention_helper.h`) and
//! `contrib_ops/cpu/quantization/attention_quant.cc` (onnxruntime 1.32):
//!
//! * `QKV = input · weights + bias` (input `[B, S, D]`, weights `[D, 3·H]`, bias `[3·H]`);
//!   QAttention's is the integer product `(input − input_zp)·(weights − weight_zp)` (exact in
//!   i32; weight scale and zero point per tensor or per column) times `input_scale·weight_scale`,
//!   plus bias.
//! * Per head (`num_heads` of `H / num_heads`): `softmax(scale · Q·Kᵀ + mask) · V`, the heads
//!   concatenated into `[B, S, H]`. `scale` defaults to `1/√head_size`.
//! * The mask adds `mask_filter_value` (default −10000) where a key is masked: `mask_index` is
//!   `[B]` (each sequence's length: keys from it on are masked), `[2·B]` (end then start
//!   positions), `[B, S]` (the raw 0/1 attention mask) or `[B, S, S]` (per query); with
//!   `unidirectional` the keys after each query are masked too.
//! * Not supported (refused at load or at run with the node named): `past`/`present` (a
//!   decoder's cache), `attention_bias`, `past_sequence_length`, `qkv_hidden_sizes` with unequal
//!   sizes, `do_rotary`, `past_present_share_buffer`, a 4-D (Megatron) mask.

use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, f32_input, scales, shape_err, value_err, zero_points, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use quantscope_gemm::{PackedF32B, PackedI8B};
use std::sync::Arc;

/// The attributes both ops share.
#[derive(Debug, Clone)]
pub struct AttentionAttrs {
    op: &'static str,
    /// The input number of `past` (`attention_bias` and `past_sequence_length` follow it).
    past_input: usize,
    num_heads: usize,
    unidirectional: bool,
    mask_filter_value: f32,
    /// 0: `1/√head_size`.
    scale: f32,
}

fn build_attrs(a: &Attrs, ctx: &BuildCtx, op: &'static str, past_input: usize) -> Result<AttentionAttrs, OpError> {
    a.only(&[
        "num_heads",
        "unidirectional",
        "qkv_hidden_sizes",
        "mask_filter_value",
        "scale",
        "do_rotary",
        "rotary_embedding_dim",
        "past_present_share_buffer",
    ])?;
    let num_heads = match a.int_opt("num_heads")? {
        Some(n) if n > 0 => n as usize,
        Some(n) => return Err(attr_err("num_heads", format!("must be positive, not {n}"))),
        None => return Err(attr_err("num_heads", format!("is required by {op}"))),
    };
    if let Some(sizes) = a.ints("qkv_hidden_sizes")? {
        if sizes.len() != 3 || sizes[0] != sizes[1] || sizes[1] != sizes[2] {
            return Err(attr_err(
                "qkv_hidden_sizes",
                format!("{sizes:?} is not supported: quantscope runs {op} with equal Q, K and V sizes only (leave the attribute out)"),
            ));
        }
    }
    if a.int("do_rotary", 0)? != 0 {
        return Err(attr_err("do_rotary", format!("{op} with rotary embeddings is not supported (only do_rotary = 0)")));
    }
    if a.int("past_present_share_buffer", 0)? != 0 {
        return Err(attr_err("past_present_share_buffer", format!("{op} with a shared past/present buffer is not supported (only 0)")));
    }
    if ctx.output_names.get(1).is_some_and(|n| !n.is_empty()) {
        return Err(value_err(format!("{op}'s output 1 (present, a decoder's key/value cache) is not supported")));
    }
    let scale = a.float("scale", 0.0)?;
    Ok(AttentionAttrs {
        op,
        past_input,
        num_heads,
        unidirectional: a.int("unidirectional", 0)? != 0,
        mask_filter_value: a.float("mask_filter_value", -10000.0)?,
        scale,
    })
}

/// com.microsoft `Attention` (float).
#[derive(Debug)]
pub struct Attention {
    attrs: AttentionAttrs,
    /// The weights packed at load when they are a constant (`specialize`).
    packed: Option<Arc<PackedF32B>>,
}

pub fn build_attention(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    Ok(Arc::new(Attention { attrs: build_attrs(a, ctx, "Attention", 4)?, packed: None }))
}

/// com.microsoft `QAttention` (uint8 input, int8 or uint8 weights).
#[derive(Debug)]
pub struct QAttention {
    attrs: AttentionAttrs,
    /// The weights packed with their zero points at load when both are constants (`specialize`).
    packed: Option<Arc<PackedI8B>>,
}

pub fn build_qattention(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    Ok(Arc::new(QAttention { attrs: build_attrs(a, ctx, "QAttention", 8)?, packed: None }))
}

/// `[B, S, D]` input and `[D, 3·H]` weights: (B, S, D, H).
fn dims(input: &Value, weights: &Value, bias: &Value, heads: usize) -> Result<(usize, usize, usize, usize), OpError> {
    let &[b, s, d] = input.shape() else {
        return Err(shape_err(format!("input is {:?}: it must be 3-D [batch, sequence, hidden]", input.shape())));
    };
    let &[wd, h3] = weights.shape() else {
        return Err(shape_err(format!("weights are {:?}: they must be 2-D [input_hidden, 3·hidden]", weights.shape())));
    };
    if wd != d {
        return Err(shape_err(format!("weights are {:?} but the input's hidden size is {d}", weights.shape())));
    }
    if h3 % 3 != 0 || h3 == 0 || (h3 / 3) % heads != 0 {
        return Err(shape_err(format!("weights' second dimension {h3} must be 3 × hidden, hidden a multiple of num_heads {heads}")));
    }
    if bias.shape() != [h3] {
        return Err(shape_err(format!("bias is {:?}: it must be [{h3}]", bias.shape())));
    }
    Ok((b, s, d, h3 / 3))
}

impl AttentionAttrs {
    /// The decoder's inputs, refused when given (an empty name is not given).
    fn encoder_only(&self, inputs: &Inputs<'_>) -> Result<(), OpError> {
        let p = self.past_input;
        for (i, what) in [(p, "past (a decoder's key/value cache)"), (p + 1, "attention_bias"), (p + 2, "past_sequence_length")] {
            if inputs.get(i).is_some() {
                return Err(value_err(format!(
                    "{}'s input {i} ({what}) is not supported: quantscope runs the encoder form (input, weights, bias, mask_index)",
                    self.op
                )));
            }
        }
        Ok(())
    }

    /// The additive mask `[B, S, S]` (`PrepareMask`), or None when nothing is masked.
    fn mask(&self, mask_index: Option<&Value>, b: usize, s: usize) -> Result<Option<Vec<f32>>, OpError> {
        let causal = self.unidirectional && s > 1;
        if mask_index.is_none() && !causal {
            return Ok(None);
        }
        let f = self.mask_filter_value;
        let mut m = vec![0f32; b * s * s];
        if let Some(v) = mask_index {
            let idx = match v.data() {
                Data::I32(x) => x,
                _ => return Err(dtype_err(format!("mask_index must be int32, not {}", v.dtype()))),
            };
            match v.shape() {
                [n] if *n == b || *n == 2 * b => {
                    for bi in 0..b {
                        let end = idx[bi].clamp(0, s as i32) as usize;
                        let start = if *n == 2 * b { idx[b + bi].clamp(0, s as i32) as usize } else { 0 };
                        for q in 0..s {
                            let row = &mut m[(bi * s + q) * s..(bi * s + q + 1) * s];
                            row[end..].iter_mut().for_each(|x| *x = f);
                            row[..start].iter_mut().for_each(|x| *x = f);
                        }
                    }
                }
                [bb, t] if *bb == b && *t == s => {
                    for bi in 0..b {
                        for q in 0..s {
                            for k in 0..s {
                                if idx[bi * s + k] <= 0 {
                                    m[(bi * s + q) * s + k] = f;
                                }
                            }
                        }
                    }
                }
                [bb, q, t] if *bb == b && *q == s && *t == s => {
                    for (x, &i) in m.iter_mut().zip(idx) {
                        if i <= 0 {
                            *x = f;
                        }
                    }
                }
                shape => {
                    return Err(shape_err(format!(
                        "mask_index is {shape:?}: supported are [{b}] (sequence lengths), [{}] (ends and starts), \
                         [{b}, {s}] (the raw 0/1 mask) and [{b}, {s}, {s}] for batch {b} and sequence {s}",
                        2 * b
                    )))
                }
            }
        }
        if causal {
            for bi in 0..b {
                for q in 0..s {
                    for k in q + 1..s {
                        m[(bi * s + q) * s + k] += f;
                    }
                }
            }
        }
        Ok(Some(m))
    }

    /// Attention of `qkv` (`[B·S, 3·H]`, bias added): the `[B, S, H]` output.
    fn attend(&self, qkv: &[f32], mask: Option<&[f32]>, b: usize, s: usize, h: usize) -> Vec<f32> {
        let heads = self.num_heads;
        let dh = h / heads;
        let scale = if self.scale == 0.0 { 1.0 / (dh as f32).sqrt() } else { self.scale };
        let mut out = vec![0f32; b * s * h];
        let mut probs = vec![0f32; s];
        for bi in 0..b {
            for hi in 0..heads {
                let (qo, ko, vo) = (hi * dh, h + hi * dh, 2 * h + hi * dh);
                for q in 0..s {
                    let qrow = &qkv[(bi * s + q) * 3 * h + qo..][..dh];
                    let mut max = f32::NEG_INFINITY;
                    for (k, p) in probs.iter_mut().enumerate() {
                        let krow = &qkv[(bi * s + k) * 3 * h + ko..][..dh];
                        let dot: f32 = qrow.iter().zip(krow).map(|(x, y)| x * y).sum();
                        *p = scale * dot + mask.map_or(0.0, |m| m[(bi * s + q) * s + k]);
                        max = max.max(*p);
                    }
                    let mut sum = 0f32;
                    for p in probs.iter_mut() {
                        *p = (*p - max).exp();
                        sum += *p;
                    }
                    let o = &mut out[(bi * s + q) * h + hi * dh..][..dh];
                    for (k, p) in probs.iter().enumerate() {
                        let w = p / sum;
                        let vrow = &qkv[(bi * s + k) * 3 * h + vo..][..dh];
                        o.iter_mut().zip(vrow).for_each(|(x, v)| *x += w * v);
                    }
                }
            }
        }
        out
    }
}

impl Op for Attention {
    fn op_type(&self) -> &'static str {
        "Attention"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        let Some(w) = constants.get(1).copied().flatten() else { return Ok(None) };
        let (&[k, n], Some(values)) = (w.shape(), w.as_f32()) else { return Ok(None) };
        let packed = Some(Arc::new(PackedF32B::new(k, n, values)));
        Ok(Some(Arc::new(Attention { attrs: self.attrs.clone(), packed })))
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        self.attrs.encoder_only(inputs)?;
        let (input, weights, bias) = (inputs.req(0)?, inputs.req(1)?, inputs.req(2)?);
        let (b, s, d, h) = dims(input, weights, bias, self.attrs.num_heads)?;
        let x = f32_input(input, "input")?;
        let w = f32_input(weights, "weights")?;
        let bias = f32_input(bias, "bias")?;
        let mask = self.attrs.mask(inputs.get(3), b, s)?;
        let mut qkv = vec![0f32; b * s * 3 * h];
        match &self.packed {
            Some(p) => quantscope_gemm::gemm_f32_packed(b * s, x, p, &mut qkv),
            None => quantscope_gemm::gemm_f32(b * s, d, 3 * h, x, w, &mut qkv),
        }
        for row in qkv.chunks_exact_mut(3 * h) {
            row.iter_mut().zip(bias).for_each(|(x, b)| *x += b);
        }
        Ok(vec![Value::f32(vec![b, s, h], self.attrs.attend(&qkv, mask.as_deref(), b, s, h))])
    }
}

impl Op for QAttention {
    fn op_type(&self) -> &'static str {
        "QAttention"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        let (Some(w), Some(zp)) = (constants.get(1).copied().flatten(), constants.get(7).copied().flatten()) else { return Ok(None) };
        let &[k, n] = w.shape() else { return Ok(None) };
        // checked here as at run time: a bad zero point is refused when the node runs
        let Ok(w_zp) = zero_points(Some(zp), Some(n), "weight_zero_point", w.dtype()) else { return Ok(None) };
        let packed = match w.data() {
            Data::I8(c) => PackedI8B::new(k, n, c, &w_zp),
            Data::U8(c) => PackedI8B::new(k, n, c, &w_zp),
            _ => return Ok(None),
        };
        Ok(Some(Arc::new(QAttention { attrs: self.attrs.clone(), packed: Some(Arc::new(packed)) })))
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        self.attrs.encoder_only(inputs)?;
        let (input, weights, bias) = (inputs.req(0)?, inputs.req(1)?, inputs.req(2)?);
        let (b, s, d, h) = dims(input, weights, bias, self.attrs.num_heads)?;
        let x = input.as_u8().ok_or_else(|| dtype_err(format!("input must be uint8, not {}", input.dtype())))?;
        let bias = f32_input(bias, "bias")?;
        let input_scale = scales(inputs.req(3)?, None, "input_scale")?[0];
        let weight_scale = scales(inputs.req(4)?, Some(3 * h), "weight_scale")?;
        let x_zp = zero_points(inputs.get(6), None, "input_zero_point", DType::U8)?;
        let w_zp = zero_points(inputs.get(7), Some(3 * h), "weight_zero_point", weights.dtype())?;
        let mask = self.attrs.mask(inputs.get(5), b, s)?;
        let n = 3 * h;
        let mut acc = vec![0i32; b * s * n];
        match (&self.packed, weights.data()) {
            (Some(p), _) => quantscope_gemm::matmul_integer_packed(b * s, x, &x_zp, p, &mut acc),
            (None, Data::I8(w)) => quantscope_gemm::matmul_integer(b * s, d, n, x, &x_zp, w, &w_zp, &mut acc),
            (None, Data::U8(w)) => quantscope_gemm::matmul_integer(b * s, d, n, x, &x_zp, w, &w_zp, &mut acc),
            _ => return Err(dtype_err(format!("weights must be int8 or uint8, not {}", weights.dtype()))),
        }
        // attention_quant.cc: dequant_scale = weight_scale · input_scale, then acc · it + bias
        let dequant: Vec<f32> = weight_scale.iter().map(|w| w * input_scale).collect();
        let qkv: Vec<f32> = acc
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let j = i % n;
                a as f32 * dequant[if dequant.len() == 1 { 0 } else { j }] + bias[j]
            })
            .collect();
        Ok(vec![Value::f32(vec![b, s, h], self.attrs.attend(&qkv, mask.as_deref(), b, s, h))])
    }
}
