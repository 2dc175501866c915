//! com.microsoft `DynamicQuantizeLSTM`: ONNX Runtime's LSTM with 8-bit weights, what its
//! `quantize_dynamic` makes of an LSTM (`onnxruntime/python/tools/quantization/operators/lstm.py`).
//! Schema: `onnxruntime/core/graph/contrib_ops/contrib_defs.cc` (docs/ContribOperators.md);
//! kernel: `onnxruntime/contrib_ops/cpu/quantization/dynamic_quantize_lstm.cc` over
//! `core/providers/cpu/rnn/lstm_base.cc`, `uni_directional_lstm.cc` and the quantized
//! `ComputeGemm` of `rnn_helpers.cc` (onnxruntime 1.32), which this follows step for step:
//!
//! * Inputs: X, W `[dirs, input, 4·hidden]` and R `[dirs, hidden, 4·hidden]` (int8 or uint8,
//!   *transposed* from LSTM's), B, sequence_lens, initial_h, initial_c, P as LSTM's, then
//!   W_scale, W_zero_point, R_scale, R_zero_point: `[dirs]` (one per direction) or
//!   `[dirs, 4·hidden]` (one per gate column). Per column, int8 zero points must be 0 and uint8
//!   ones all equal (the kernel reads only the first); gate order i, o, f, c as LSTM's.
//! * Each direction multiplies all of X's first `max(sequence_lens)` steps by W in one integer
//!   GEMM, X quantized to u8 with one scale and zero point from its min/max (range including 0,
//!   DynamicQuantizeLinear's formula); then each step quantizes the previous hidden state of the
//!   whole batch the same way and adds its product with R: `acc·(x_scale·w_scale[j])` then
//!   `+ acc·(h_scale·r_scale[j])`, then the peephole term, then `Wb + Rb` (summed once), clip
//!   and the gate activations, exactly LSTM's cell. Integer sums are exact, so the only
//!   differences from ONNX Runtime are its float rounding (its Sigmoid and Tanh are
//!   approximations) — and any u8 code that rounding moves across a half.
//! * A sequence that has ended contributes a zero row to the next steps' quantization range when
//!   the node has a `Y` output (the kernel zeroes that row of Y and reads it back), its last
//!   hidden state when it has not (the kernel reads Y_h's row instead). With more than one
//!   thread ONNX Runtime may quantize the batch in parts; this is its one-thread result.
//! * `layout` must be 0 (the kernel refuses 1).

use super::quant::{dynamic_params, quantize_u8_into};
use super::recurrent::{sequence_lengths, shared_attrs, Activation, RecurrentAttrs};
use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, f32_input, shape_err, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use quantscope_gemm::PackedI8B;
use std::sync::Arc;

/// Input numbers of the node.
const W: usize = 1;
const R: usize = 2;
const SCALES: [(usize, &str); 4] = [(8, "W_scale"), (9, "W_zero_point"), (10, "R_scale"), (11, "R_zero_point")];

#[derive(Debug, Clone)]
pub struct DynamicQuantizeLstm {
    /// The recurrent ops' attributes (functions per direction: f, g, h; never batch-first).
    attrs: RecurrentAttrs,
    input_forget: bool,
    /// Whether the node has a `Y` output (see the module docs).
    y_declared: bool,
    /// W and R packed at load when they and their scales are constants.
    weights: Option<Arc<Weights>>,
}

/// One direction's weights: codes packed with their zero point subtracted, and their scales
/// (one, or one per gate column).
#[derive(Debug)]
struct Direction {
    w: PackedI8B,
    r: PackedI8B,
    w_scale: Vec<f32>,
    r_scale: Vec<f32>,
}

#[derive(Debug)]
struct Weights {
    input: usize,
    directions: Vec<Direction>,
}

pub fn build_dynamic_quantize_lstm(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    let attrs = shared_attrs(a, &["input_forget"], "DynamicQuantizeLSTM", &["Sigmoid", "Tanh", "Tanh"])?;
    if attrs.batch_first {
        return Err(attr_err("layout", "must be 0 ([seq, batch, ·]): ONNX Runtime's DynamicQuantizeLSTM has no batch-first layout"));
    }
    Ok(Arc::new(DynamicQuantizeLstm {
        attrs,
        input_forget: a.flag("input_forget", false)?,
        y_declared: ctx.output_names.first().is_some_and(|n| !n.is_empty()),
        weights: None,
    }))
}

/// Per direction: the scales and the zero point of `codes` (W or R) from its scale and
/// zero-point inputs, checked as the kernel's `WeightCheck` and `ZeroPointCheck` do.
fn direction_params(codes: &Value, scale: &Value, zp: &Value, what: &str, dirs: usize, g: usize) -> Result<Vec<(Vec<f32>, i32)>, OpError> {
    let per_channel = match scale.shape() {
        [d] if *d == dirs => false,
        [d, n] if *d == dirs && *n == g => true,
        s => return Err(shape_err(format!("{what}_scale is {s:?}: it must be [{dirs}] (per tensor) or [{dirs}, {g}] (per channel)"))),
    };
    let s = scale.as_f32().ok_or_else(|| dtype_err(format!("{what}_scale must be float32, not {}", scale.dtype())))?;
    if zp.shape() != scale.shape() {
        return Err(shape_err(format!(
            "{what}_zero_point is {:?} but {what}_scale is {:?}: they must have the same shape",
            zp.shape(),
            scale.shape()
        )));
    }
    if zp.dtype() != codes.dtype() {
        return Err(dtype_err(format!("{what}_zero_point is {} but {what} is {}", zp.dtype(), codes.dtype())));
    }
    let z = zp.to_i64_vec().expect("an 8-bit integer type");
    if per_channel && codes.dtype() == DType::I8 && z.iter().any(|&v| v != 0) {
        return Err(value_err(format!(
            "{what}_zero_point must be all 0 for int8 weights with per-channel scales (ONNX Runtime's kernel requires it)"
        )));
    }
    if per_channel && z.iter().any(|&v| v != z[0]) {
        return Err(value_err(format!(
            "{what}_zero_point must hold one value for uint8 weights with per-channel scales (ONNX Runtime's kernel reads only the first)"
        )));
    }
    Ok((0..dirs).map(|d| if per_channel { (s[d * g..(d + 1) * g].to_vec(), z[0] as i32) } else { (vec![s[d]], z[d] as i32) }).collect())
}

/// Direction `d`'s k×n block of an 8-bit `[dirs, k, n]` tensor, packed with its zero point.
fn pack(codes: &Value, d: usize, k: usize, n: usize, zp: i32) -> Result<PackedI8B, OpError> {
    let at = d * k * n..(d + 1) * k * n;
    Ok(match codes.data() {
        Data::I8(c) => PackedI8B::new(k, n, &c[at], &[zp]),
        Data::U8(c) => PackedI8B::new(k, n, &c[at], &[zp]),
        _ => return Err(dtype_err(format!("W and R must be int8 or uint8, not {}", codes.dtype()))),
    })
}

impl DynamicQuantizeLstm {
    /// W, R and their scales and zero points, checked and packed.
    fn weights(&self, w: &Value, r: &Value, params: [Option<&Value>; 4]) -> Result<Weights, OpError> {
        let (dirs, hid, g) = (self.attrs.directions, self.attrs.hidden, 4 * self.attrs.hidden);
        if w.rank() != 3 || w.shape()[0] != dirs || w.shape()[2] != g {
            return Err(shape_err(format!(
                "W is {:?}: it must be [{dirs}, input_size, {g}] (num_directions, input_size, 4·hidden_size: LSTM's W transposed)",
                w.shape()
            )));
        }
        if r.shape() != [dirs, hid, g] {
            return Err(shape_err(format!("R is {:?}: it must be [{dirs}, {hid}, {g}] (LSTM's R transposed)", r.shape())));
        }
        let mut given = [None; 4];
        for (slot, ((at, name), v)) in given.iter_mut().zip(SCALES.iter().zip(params)) {
            *slot =
                Some(v.ok_or_else(|| {
                    value_err(format!("{name} (input {at}) is missing: the weights' scales and zero points are required"))
                })?);
        }
        let [ws, wz, rs, rz] = given.map(|v| v.expect("checked above"));
        let input = w.shape()[1];
        let wp = direction_params(w, ws, wz, "W", dirs, g)?;
        let rp = direction_params(r, rs, rz, "R", dirs, g)?;
        let directions = wp
            .into_iter()
            .zip(rp)
            .enumerate()
            .map(|(d, ((w_scale, w_zp), (r_scale, r_zp)))| {
                Ok(Direction { w: pack(w, d, input, g, w_zp)?, r: pack(r, d, hid, g, r_zp)?, w_scale, r_scale })
            })
            .collect::<Result<_, OpError>>()?;
        Ok(Weights { input, directions })
    }
}

/// `a_scale · scale[j]` per gate column (the kernel's `scale_multiplier`).
fn multiplier(a_scale: f32, scales: &[f32], g: usize) -> Vec<f32> {
    match scales {
        [s] => vec![a_scale * s; g],
        s => s.iter().map(|s| a_scale * s).collect(),
    }
}

/// `[dirs, batch, hidden]` of `v` (float32), or zeros.
fn state(v: Option<&Value>, shape: [usize; 3], what: &str) -> Result<Vec<f32>, OpError> {
    match v {
        None => Ok(vec![0.0; shape.iter().product()]),
        Some(v) if v.shape() == shape => Ok(f32_input(v, what)?.to_vec()),
        Some(v) => Err(shape_err(format!("{what} is {:?}, not {shape:?}", v.shape()))),
    }
}

/// One direction's cell functions and options.
struct Cell {
    f: Activation,
    g: Activation,
    h: Activation,
    input_forget: bool,
    clip: Option<f32>,
}

/// `act` over every element.
fn apply_all(act: Activation, xs: &mut [f32]) {
    xs.iter_mut().for_each(|x| *x = apply(act, *x));
}

/// Out of line: one copy of the activation's match for the op's five call sites.
#[inline(never)]
fn apply(act: Activation, x: f32) -> f32 {
    act.apply(x)
}

impl Cell {
    /// `GateComputations` for one sequence: `pre` (4·hidden scratch) = (W·x + R·h) + P ⊙ c
    /// + (Wb + Rb), clipped, per gate i, o, f, c in the kernel's order; then c and h in place.
    #[allow(clippy::too_many_arguments)]
    fn step(&self, gx: &[f32], rec: &[f32], bias: Option<&[f32]>, p: Option<&[f32]>, c: &mut [f32], h: &mut [f32], pre: &mut [f32]) {
        let hid = c.len();
        pre.iter_mut().zip(gx.iter().zip(rec)).for_each(|(v, (a, b))| *v = a + b);
        let finish = |pre: &mut [f32], k: usize, peep: Option<(&[f32], usize)>| {
            let gate = &mut pre[k * hid..(k + 1) * hid];
            if let Some((cs, at)) = peep {
                gate.iter_mut().zip(cs.iter().zip(&p.expect("peephole given")[at..at + hid])).for_each(|(v, (c, w))| *v += c * w);
            }
            if let Some(b) = bias {
                gate.iter_mut().zip(&b[k * hid..(k + 1) * hid]).for_each(|(v, b)| *v += b);
            }
            if let Some(cl) = self.clip {
                gate.iter_mut().for_each(|v| *v = v.min(cl).max(-cl));
            }
        };
        finish(pre, 0, p.map(|_| (&*c, 0)));
        apply_all(self.f, &mut pre[..hid]);
        if self.input_forget {
            let (i, rest) = pre.split_at_mut(hid);
            rest[hid..2 * hid].iter_mut().zip(i.iter()).for_each(|(f, i)| *f = 1.0 - i);
        } else {
            finish(pre, 2, p.map(|_| (&*c, 2 * hid)));
            apply_all(self.f, &mut pre[2 * hid..3 * hid]);
        }
        finish(pre, 3, None);
        apply_all(self.g, &mut pre[3 * hid..]);
        // C = C_prev ⊙ f + i ⊙ c̃, then o (its peephole reads the new C), then h = h(C) ⊙ o
        for j in 0..hid {
            c[j] = c[j] * pre[2 * hid + j] + pre[j] * pre[3 * hid + j];
        }
        finish(pre, 1, p.map(|_| (&*c, hid)));
        apply_all(self.f, &mut pre[hid..2 * hid]);
        h.copy_from_slice(c);
        apply_all(self.h, h);
        h.iter_mut().zip(&pre[hid..2 * hid]).for_each(|(h, o)| *h *= o);
    }
}

/// u8 codes of `x` with DynamicQuantizeLinear's scale and zero point.
fn quantize(x: &[f32], out: &mut [u8]) -> (f32, u8) {
    let (scale, zp) = dynamic_params(x);
    quantize_u8_into(x, scale, zp, out);
    (scale, zp)
}

/// `a · b` (u8 × packed 8-bit, exact i32 sums), then `acc · multiplier[j]` into `out`.
fn product(rows: usize, a: &[u8], a_zp: u8, b: &PackedI8B, acc: &mut [i32], multiplier: &[f32], out: &mut [f32]) {
    quantscope_gemm::matmul_integer_packed(rows, a, &[a_zp as i32], b, acc);
    super::activation_quant::rescale(acc, multiplier, None, out);
}

impl Op for DynamicQuantizeLstm {
    fn op_type(&self) -> &'static str {
        "DynamicQuantizeLSTM"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        let get = |i: usize| constants.get(i).copied().flatten();
        let (Some(w), Some(r)) = (get(W), get(R)) else { return Ok(None) };
        let params = SCALES.map(|(at, _)| get(at));
        if params.iter().any(Option::is_none) {
            return Ok(None);
        }
        let weights = self.weights(w, r, params)?;
        Ok(Some(Arc::new(DynamicQuantizeLstm { weights: Some(Arc::new(weights)), ..self.clone() })))
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        if x.rank() != 3 {
            return Err(OpError::Rank { input: 0, expected: "3".into(), got: x.rank() });
        }
        let xs = f32_input(x, "X")?;
        let (seq, batch, input) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (dirs, hid, g) = (self.attrs.directions, self.attrs.hidden, 4 * self.attrs.hidden);
        let computed;
        let weights = match &self.weights {
            Some(w) => w.as_ref(),
            None => {
                computed = self.weights(inputs.req(W)?, inputs.req(R)?, SCALES.map(|(at, _)| inputs.get(at)))?;
                &computed
            }
        };
        if weights.input != input {
            return Err(shape_err(format!("X is {:?} but W is for an input size of {}", x.shape(), weights.input)));
        }
        let bias = match inputs.get(3) {
            Some(b) if b.shape() == [dirs, 8 * hid] => Some(f32_input(b, "B")?),
            Some(b) => return Err(shape_err(format!("B is {:?}, not [{dirs}, {}]", b.shape(), 8 * hid))),
            None => None,
        };
        let lens = sequence_lengths(inputs.get(4), batch, seq)?;
        let h0 = state(inputs.get(5), [dirs, batch, hid], "initial_h")?;
        let c0 = state(inputs.get(6), [dirs, batch, hid], "initial_c")?;
        let peep = match inputs.get(7) {
            Some(p) if p.shape() == [dirs, 3 * hid] => Some(f32_input(p, "P")?),
            Some(p) => return Err(shape_err(format!("P is {:?}, not [{dirs}, {}]", p.shape(), 3 * hid))),
            None => None,
        };

        let mut y = vec![0.0f32; seq * dirs * batch * hid];
        let mut y_h = vec![0.0f32; dirs * batch * hid];
        let mut y_c = vec![0.0f32; dirs * batch * hid];
        let max_len = lens.iter().copied().max().unwrap_or(0);
        // X's first max_len steps, quantized once: each direction's kernel quantizes the same
        // values (reordered per sequence for reverse), so the same scale and codes.
        let rows = max_len * batch;
        let mut xq = vec![0u8; rows * input];
        let (x_scale, x_zp) = quantize(&xs[..rows * input], &mut xq);
        let mut acc = vec![0i32; rows * g];
        let mut gx = vec![0.0f32; rows * g];
        let (mut hq, mut acc_h, mut rec) = (vec![0u8; batch * hid], vec![0i32; batch * g], vec![0.0f32; batch * g]);
        let mut pre = vec![0.0f32; g];
        for (d, dw) in weights.directions.iter().enumerate().filter(|_| max_len > 0) {
            let backward = self.attrs.reverse || d == 1;
            let [f, gf, hf] = [self.attrs.functions[d][0], self.attrs.functions[d][1], self.attrs.functions[d][2]];
            product(rows, &xq, x_zp, &dw.w, &mut acc, &multiplier(x_scale, &dw.w_scale, g), &mut gx);
            // LoadBias: Wb + Rb, summed once.
            let fused: Option<Vec<f32>> = bias.map(|b| (0..g).map(|j| b[d * 2 * g + j] + b[d * 2 * g + g + j]).collect());
            let p = peep.map(|p| &p[d * 3 * hid..(d + 1) * 3 * hid]);
            let mut h = h0[d * batch * hid..(d + 1) * batch * hid].to_vec();
            let mut c = c0[d * batch * hid..(d + 1) * batch * hid].to_vec();
            for step in 0..max_len {
                let (h_scale, h_zp) = quantize(&h, &mut hq);
                product(batch, &hq, h_zp, &dw.r, &mut acc_h, &multiplier(h_scale, &dw.r_scale, g), &mut rec);
                for (b, &len) in lens.iter().enumerate() {
                    let hb = b * hid;
                    if step >= len {
                        if self.y_declared || len == 0 {
                            h[hb..hb + hid].fill(0.0);
                        }
                        continue;
                    }
                    let t = if backward { len - 1 - step } else { step };
                    let (gxr, recr) = (&gx[(t * batch + b) * g..(t * batch + b + 1) * g], &rec[b * g..(b + 1) * g]);
                    let cell = Cell { f, g: gf, h: hf, input_forget: self.input_forget, clip: self.attrs.clip };
                    cell.step(gxr, recr, fused.as_deref(), p, &mut c[hb..hb + hid], &mut h[hb..hb + hid], &mut pre);
                    let at = ((t * dirs + d) * batch + b) * hid;
                    y[at..at + hid].copy_from_slice(&h[hb..hb + hid]);
                    if step + 1 == len {
                        let at = (d * batch + b) * hid;
                        y_h[at..at + hid].copy_from_slice(&h[hb..hb + hid]);
                        y_c[at..at + hid].copy_from_slice(&c[hb..hb + hid]);
                    }
                }
            }
        }
        Ok(vec![
            Value::f32(vec![seq, dirs, batch, hid], y),
            Value::f32(vec![dirs, batch, hid], y_h),
            Value::f32(vec![dirs, batch, hid], y_c),
        ])
    }
}
