//! com.microsoft `EmbedLayerNormalization` and `QEmbedLayerNormalization`: a BERT encoder's
//! embeddings as ONNX Runtime's transformer optimizer fuses them (`fusion_embedlayer.py`), and
//! what its `quantize_dynamic` makes of them (`quantization/operators/embed_layernorm.py`: every
//! table and gamma/beta as uint8 with one scale and zero point each).
//! Kernels: `onnxruntime/contrib_ops/cpu/bert/embed_layer_norm.cc` (checks in
//! `embed_layer_norm_helper.cc`) and `contrib_ops/cpu/quantization/qembed_layer_norm.cc`
//! (onnxruntime 1.32):
//!
//! * Per token: `word[input_ids] + position[p] + segment[segment_ids]` (`p` from the optional
//!   `position_ids`, `[B, S]` or `[1, S]`, else the token's index in its sequence; the segment
//!   table and ids are optional), layer-normalized over the hidden axis with `epsilon`
//!   (`/ √(var + ε) · gamma + beta`).
//! * Output 1, `mask_index` `[B]` int32: how many of each sequence's mask entries are 1 (0s
//!   without a mask) — what `Attention` then takes as the sequence lengths.
//! * Ids are int32 and must be in their tables' range. Not supported (refused at load): the third
//!   output (`embedding_sum`), which the BERT optimizer writes for no encoder it fuses by default.

use crate::attr::Attrs;
use crate::op::{dtype_err, f32_input, scales, shape_err, value_err, zero_points, BuildCtx, Inputs, Op, OpError};
use crate::value::{Data, Value};
use std::sync::Arc;

#[derive(Debug)]
pub struct EmbedLayerNorm {
    epsilon: f64,
    quantized: bool,
}

fn build(a: &Attrs, ctx: &BuildCtx, quantized: bool) -> Result<Arc<dyn Op>, OpError> {
    let op = if quantized { "QEmbedLayerNormalization" } else { "EmbedLayerNormalization" };
    a.only(&["epsilon", "mask_index_type"])?;
    if ctx.output_names.get(2).is_some_and(|n| !n.is_empty()) {
        return Err(value_err(format!("{op}'s output 2 (embedding_sum) is not supported")));
    }
    Ok(Arc::new(EmbedLayerNorm { epsilon: a.float("epsilon", 1e-12)? as f64, quantized }))
}

pub fn build_embed_layer_norm(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build(a, ctx, false)
}

pub fn build_qembed_layer_norm(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build(a, ctx, true)
}

fn ids<'v>(v: &'v Value, what: &str) -> Result<&'v [i32], OpError> {
    v.as_i32().ok_or_else(|| dtype_err(format!("{what} must be int32, not {}", v.dtype())))
}

/// A table (or gamma/beta) as f32: float as it is, or 8-bit codes dequantized with the scale and
/// zero point at inputs `scale_at` and `scale_at + 5` (`quantization::Dequantize`).
/// A table's shape and values.
type Table = (Vec<usize>, Vec<f32>);

fn table(inputs: &Inputs<'_>, i: usize, quantized: bool, what: &str) -> Result<Option<Table>, OpError> {
    let Some(v) = inputs.get(i) else { return Ok(None) };
    if !quantized {
        return Ok(Some((v.shape().to_vec(), f32_input(v, what)?.to_vec())));
    }
    let scale_at = i + 6;
    let scale = scales(inputs.req(scale_at)?, None, &format!("{what}_scale"))?[0];
    let zp = zero_points(inputs.get(scale_at + 5), None, &format!("{what}_zero_point"), v.dtype())?[0];
    let values = match v.data() {
        Data::U8(c) => c.iter().map(|&q| (q as i32 - zp) as f32 * scale).collect(),
        Data::I8(c) => c.iter().map(|&q| (q as i32 - zp) as f32 * scale).collect(),
        _ => return Err(dtype_err(format!("{what} must be uint8 or int8, not {}", v.dtype()))),
    };
    Ok(Some((v.shape().to_vec(), values)))
}

impl Op for EmbedLayerNorm {
    fn op_type(&self) -> &'static str {
        if self.quantized {
            "QEmbedLayerNormalization"
        } else {
            "EmbedLayerNormalization"
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let input_ids = inputs.req(0)?;
        let &[b, s] = input_ids.shape() else {
            return Err(shape_err(format!("input_ids is {:?}: it must be 2-D [batch, sequence]", input_ids.shape())));
        };
        let word_ids = ids(input_ids, "input_ids")?;
        let q = self.quantized;
        let (wshape, word) = table(inputs, 2, q, "word_embedding")?.ok_or_else(|| value_err("word_embedding is missing"))?;
        let &[vocab, h] = wshape.as_slice() else {
            return Err(shape_err(format!("word_embedding is {wshape:?}: it must be 2-D [vocabulary, hidden]")));
        };
        let (pshape, pos) = table(inputs, 3, q, "position_embedding")?.ok_or_else(|| value_err("position_embedding is missing"))?;
        if pshape.len() != 2 || pshape[1] != h {
            return Err(shape_err(format!("position_embedding is {pshape:?}: it must be [positions, {h}]")));
        }
        // EmbedLayerNormalization's position_ids: [B, S], or [1, S] for every sequence
        let position_ids = match inputs.get(8).filter(|_| !q) {
            Some(p) if p.shape() == [b, s] || p.shape() == [1, s] => Some((ids(p, "position_ids")?, p.shape()[0] == 1)),
            Some(p) => return Err(shape_err(format!("position_ids is {:?}: it must be [{b}, {s}] or [1, {s}]", p.shape()))),
            None => None,
        };
        let segment = match (inputs.get(1), table(inputs, 4, q, "segment_embedding")?) {
            (Some(sid), Some((shape, t))) => {
                if shape.len() != 2 || shape[1] != h {
                    return Err(shape_err(format!("segment_embedding is {shape:?}: it must be [types, {h}]")));
                }
                if sid.shape() != input_ids.shape() {
                    return Err(shape_err(format!("segment_ids is {:?} but input_ids is {:?}", sid.shape(), input_ids.shape())));
                }
                Some((ids(sid, "segment_ids")?, shape[0], t))
            }
            (None, None) => None,
            _ => return Err(value_err("segment_ids and segment_embedding must both be given or both be left out")),
        };
        let (gshape, gamma) = table(inputs, 5, q, "gamma")?.ok_or_else(|| value_err("gamma is missing"))?;
        let (bshape, beta) = table(inputs, 6, q, "beta")?.ok_or_else(|| value_err("beta is missing"))?;
        if gshape != [h] || bshape != [h] {
            return Err(shape_err(format!("gamma is {gshape:?} and beta {bshape:?}: both must be [{h}]")));
        }
        let mut out = vec![0f32; b * s * h];
        let mut sum = vec![0f64; h];
        for t in 0..b * s {
            let w = word_ids[t];
            if w < 0 || w as usize >= vocab {
                return Err(value_err(format!("input_ids holds {w}, outside the word table's {vocab} rows")));
            }
            let p = match position_ids {
                Some((p, broadcast)) => p[if broadcast { t % s } else { t }],
                None => (t % s) as i32,
            };
            if p < 0 || p as usize >= pshape[0] {
                return Err(value_err(format!("position {p} is outside the position table's {} rows", pshape[0])));
            }
            let p = p as usize;
            for (i, x) in sum.iter_mut().enumerate() {
                *x = word[w as usize * h + i] as f64 + pos[p * h + i] as f64;
            }
            if let Some((sid, types, table)) = &segment {
                let g = sid[t];
                if g < 0 || g as usize >= *types {
                    return Err(value_err(format!("segment_ids holds {g}, outside the segment table's {types} rows")));
                }
                sum.iter_mut().enumerate().for_each(|(i, x)| *x += table[g as usize * h + i] as f64);
            }
            let mean = sum.iter().sum::<f64>() / h as f64;
            let var = sum.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / h as f64;
            let e = (var + self.epsilon).sqrt();
            for (i, y) in out[t * h..(t + 1) * h].iter_mut().enumerate() {
                *y = ((sum[i] - mean) / e * gamma[i] as f64 + beta[i] as f64) as f32;
            }
        }
        let mask_index: Vec<i32> = match inputs.get(7) {
            Some(m) => {
                if m.shape() != [b, s] {
                    return Err(shape_err(format!("mask is {:?}: it must be [{b}, {s}] like input_ids", m.shape())));
                }
                let m = ids(m, "mask")?;
                m.chunks_exact(s).map(|row| row.iter().filter(|&&v| v == 1).count() as i32).collect()
            }
            None => vec![0; b],
        };
        Ok(vec![Value::f32(vec![b, s, h], out), Value::i32(vec![b], mask_index)])
    }
}
