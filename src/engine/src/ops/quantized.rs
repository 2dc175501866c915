//! The integer ops `Model::quantize` puts in place of MatMul, Gemm and Conv. Each is one node
//! doing what ONNX Runtime's dynamic (or QDQ-static) graph does in several:
//!
//! ```text
//! x_q, x_scale, x_zp = DynamicQuantizeLinear(x)      (or a calibrated scale and zero point)
//! acc  = MatMulInteger(x_q, W_q, x_zp, 0)            (ConvInteger for Conv; i32 accumulation)
//! y    = Cast<float>(acc) · (x_scale · W_scale[j]) + bias[j]
//! ```
//!
//! with the same f32 operations in the same order, so its output equals that graph's bit for
//! bit (src/engine/tests/engine_quantize.rs runs both). Weights are symmetric (zero point 0) int8, or int4
//! codes in [−7, 7] held one per i8, per tensor or per output channel; activations are u8.

use super::conv::{conv_integer_acc, ConvAttrs, Epilogue, PackedConvI8};
use super::conv_fuse::conv_tail;
use super::quant::{dynamic_params, quantize_u8_into};
use crate::op::{f32_input, shape_err, Fused, Inputs, Op, OpError, PlanView, QuantFuser};
use crate::value::Value;
use quantscope_gemm::PackedI8B;
use std::sync::Arc;

/// How a quantized op gets its activations' scale and zero point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActQuant {
    /// Per tensor, from each run's own min/max (DynamicQuantizeLinear).
    Dynamic,
    /// Fixed, from calibration.
    Static { scale: f32, zero_point: u8 },
}

impl ActQuant {
    fn params(&self, x: &[f32]) -> (f32, u8) {
        match *self {
            ActQuant::Dynamic => dynamic_params(x),
            ActQuant::Static { scale, zero_point } => (scale, zero_point),
        }
    }
}

/// Symmetric integer weights: codes (zero point 0) and one scale per tensor or per output
/// channel.
#[derive(Debug, Clone)]
pub struct QuantWeights {
    /// MatMul: K×N row-major (output channel = column). Conv: M × (C/g·∏k).
    pub codes: Vec<i8>,
    pub scales: Vec<f32>,
    /// 8 or 4: the bits a code takes when stored (for the model size).
    pub bits: u32,
}

impl QuantWeights {
    /// Bytes as stored: packed codes plus f32 scales.
    pub fn stored_bytes(&self) -> u64 {
        (self.codes.len() as u64 * self.bits as u64).div_ceil(8) + 4 * self.scales.len() as u64
    }

    #[inline]
    fn scale(&self, channel: usize) -> f32 {
        self.scales[if self.scales.len() == 1 { 0 } else { channel }]
    }
}

/// MatMul/Gemm with constant weights, integer execution. Input `x` is `[..., K]`.
#[derive(Debug)]
pub struct QuantMatMul {
    pub k: usize,
    pub n: usize,
    pub weights: QuantWeights,
    /// `weights.codes` packed for `quantscope_gemm::matmul_integer_packed`.
    pub packed: PackedI8B,
    pub bias: Option<Vec<f32>>,
    pub act: ActQuant,
    /// The op this replaces (`MatMul` or `Gemm`), for descriptions.
    pub replaces: &'static str,
}

impl Op for QuantMatMul {
    fn op_type(&self) -> &'static str {
        "QuantMatMul"
    }

    fn own_bytes(&self) -> u64 {
        self.weights.stored_bytes() + 4 * self.bias.as_ref().map_or(0, |b| b.len() as u64)
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let xs = f32_input(x, "the input")?;
        let (k, n) = (self.k, self.n);
        if x.rank() == 0 || x.shape()[x.rank() - 1] != k {
            return Err(shape_err(format!("the input is {:?} but the weights expect a last dimension of {k}", x.shape())));
        }
        let m = xs.len() / k.max(1);
        let (scale, zp) = self.act.params(xs);
        let mut q = vec![0u8; xs.len()];
        quantize_u8_into(xs, scale, zp, &mut q);
        let mut acc = vec![0i32; m * n];
        quantscope_gemm::matmul_integer_packed(m, &q, &[zp as i32], &self.packed, &mut acc);
        // acc · (x_scale · w_scale[j]) (+ bias[j]); the multiplier is the graph's
        // `x_scale · w_scale` product, rounded once per column as ORT's Mul of the two scales.
        let multiplier: Vec<f32> = (0..n).map(|j| scale * self.weights.scale(j)).collect();
        let mut y = vec![0.0f32; acc.len()];
        super::activation_quant::rescale(&acc, &multiplier, self.bias.as_deref(), &mut y);
        let mut shape = x.shape().to_vec();
        *shape.last_mut().expect("rank checked") = n;
        Ok(vec![Value::f32(shape, y)])
    }
}

/// Conv with constant weights, integer execution. In the run plan (`crate::fuse`) a copy of it
/// may also take the BatchNormalization and activation after it ([`FusedQuantConv`]).
#[derive(Debug, Clone)]
pub struct QuantConv {
    pub attrs: ConvAttrs,
    /// W's shape `[M, C/g, k...]`.
    pub weight_shape: Vec<usize>,
    /// Shared with the fused copy the run plan makes.
    pub weights: Arc<QuantWeights>,
    pub bias: Option<Vec<f32>>,
    pub act: ActQuant,
    /// The float Conv's [`Op::quant_fuser`]: how the run plan fuses this node.
    pub(crate) fuser: Option<QuantFuser>,
    /// The weights packed for the integer GEMM on the first run (shared with the fused copy).
    pub packed: Arc<PackedConvI8>,
}

impl QuantConv {
    /// The convolution, each channel's row handed to `finish(channel, row)` once rescaled, while
    /// it is in cache.
    fn conv(&self, inputs: &mut Inputs<'_>, finish: &dyn Fn(usize, &mut [f32])) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let xs = f32_input(x, "X")?;
        let (scale, zp) = self.act.params(xs);
        let mut q = vec![0u8; xs.len()];
        quantize_u8_into(xs, scale, zp, &mut q);
        let (acc, shape) =
            conv_integer_acc(&self.attrs, &q, x.shape(), zp, &self.weights.codes, &self.weight_shape, &[0], Some(&self.packed))?;
        let m = self.weight_shape[0];
        let oc: usize = shape[2..].iter().product();
        // Rescaled in place: the f32 output takes the accumulators' memory (no second buffer
        // to allocate and zero).
        let mut y = std::mem::ManuallyDrop::new(acc);
        // A channel's row at a time (a division per element had cost as much as the rest).
        for (row, accs) in y.chunks_mut(oc.max(1)).enumerate() {
            let ch = row % m;
            let mult = scale * self.weights.scale(ch);
            let bias = self.bias.as_ref().map_or(0.0, |b| b[ch]);
            let has_bias = self.bias.is_some();
            // SAFETY: i32 and f32 have the same size and alignment and every bit pattern is a
            // valid f32; each element is read as i32 before it is written as f32.
            let ys = unsafe { core::slice::from_raw_parts_mut(accs.as_mut_ptr() as *mut f32, accs.len()) };
            for y in ys.iter_mut() {
                let a = y.to_bits() as i32 as f32 * mult;
                *y = if has_bias { a + bias } else { a };
            }
            finish(ch, ys);
        }
        // SAFETY: the same allocation (length, capacity, a layout of the same size and
        // alignment), now holding f32 values; `y` is not dropped as Vec<i32>.
        let y = unsafe { Vec::from_raw_parts(y.as_mut_ptr() as *mut f32, y.len(), y.capacity()) };
        Ok(vec![Value::f32(shape, y)])
    }
}

impl Op for QuantConv {
    fn op_type(&self) -> &'static str {
        "QuantConv"
    }

    #[allow(private_interfaces)]
    fn fuse_chain(&self, plan: &dyn PlanView, at: usize) -> Option<Fused> {
        (self.fuser?)(self, plan, at)
    }

    fn own_bytes(&self) -> u64 {
        self.weights.stored_bytes() + 4 * self.bias.as_ref().map_or(0, |b| b.len() as u64)
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        self.conv(inputs, &|_, _| {})
    }
}

/// A [`QuantConv`] with the BatchNormalization and activation after it (`crate::fuse`): each
/// channel's row is normalized and activated as it is rescaled, with the same f32 operations as
/// those nodes (the BatchNormalization is not folded into the integer weights), so the output
/// equals theirs bit for bit, without two more passes over the tensor. Its own type, so that a
/// module that quantizes no Conv (the runner) links none of it.
#[derive(Debug)]
pub struct FusedQuantConv {
    pub conv: QuantConv,
    /// A BatchNormalization, per channel `[mean, k, B]`: `(y − mean)·k + B`, `k = scale / √(var
    /// + ε)` as `BatchNorm::run` computes them.
    pub norm: Option<Vec<[f32; 3]>>,
    pub epilogue: Epilogue,
}

impl Op for FusedQuantConv {
    fn op_type(&self) -> &'static str {
        "FusedQuantConv"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        self.conv.conv(inputs, &|ch, ys| {
            if let Some([mean, k, b]) = self.norm.as_ref().map(|n| n[ch]) {
                ys.iter_mut().for_each(|v| *v = (*v - mean) * k + b);
            }
            self.epilogue.apply(ys);
        })
    }
}

/// [`QuantConv::fuse_chain`] of a QuantConv made from a float Conv (its [`Op::quant_fuser`]): the
/// BatchNormalization and activation after node `at` taken into a [`FusedQuantConv`].
/// `q` is the QuantConv ([`QuantFuser`] takes it as `Any`); anything else fuses nothing.
#[allow(private_interfaces)]
pub(crate) fn fuse_quant_conv(q: &dyn std::any::Any, plan: &dyn PlanView, at: usize) -> Option<Fused> {
    let q = q.downcast_ref::<QuantConv>()?;
    let x = *plan.inputs(at).first()?;
    let m = q.weight_shape[0];
    let tail = conv_tail(plan, at, m, q.weight_shape.len())?;
    let norm = tail.bn.map(|([scale, b, mean, var], eps)| (0..m).map(|ch| [mean[ch], scale[ch] / (var[ch] + eps).sqrt(), b[ch]]).collect());
    let op = FusedQuantConv { conv: QuantConv { fuser: None, ..q.clone() }, norm, epilogue: tail.epilogue };
    Some(Fused { op: Arc::new(op), inputs: vec![x], output: tail.output, absorbed: tail.absorbed })
}
