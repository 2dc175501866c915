//! The recurrent layers RNN, GRU and LSTM, as the ONNX spec defines them (`onnx/defs/rnn/defs.cc`;
//! reference: `onnx/reference/ops/op_rnn.py`, `op_gru.py`, `op_lstm.py`): forward, reverse or
//! bidirectional; `layout` 0 (`[seq, batch, ·]`) or 1 (`[batch, seq, ·]`, opset 14);
//! `sequence_lens` (steps past a sequence's length output 0 and leave its state alone);
//! initial states; LSTM peepholes and `input_forget`; GRU `linear_before_reset`; `clip` and the
//! spec's activation functions with their alpha/beta.
//!
//! Gate order in W, R and B is the spec's: LSTM `i, o, f, c`, GRU `z, r, h`; B is `[Wb, Rb]`.

use crate::attr::Attrs;
use crate::op::{attr_err, f32_input, int_list, shape_err, value_err, BuildCtx, Inputs, Op, OpError};
use crate::ops::activation::exp_f32;
use crate::value::Value;
use quantscope_gemm::PackedF32B;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Rnn,
    Gru { linear_before_reset: bool },
    Lstm { input_forget: bool },
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 3,
            Cell::Lstm { .. } => 4,
        }
    }

    /// Activation functions per direction (f, g, h).
    fn functions(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 2,
            Cell::Lstm { .. } => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cell::Rnn => "RNN",
            Cell::Gru { .. } => "GRU",
            Cell::Lstm { .. } => "LSTM",
        }
    }

    fn default_functions(self) -> &'static [&'static str] {
        match self {
            Cell::Rnn => &["Tanh"],
            Cell::Gru { .. } => &["Sigmoid", "Tanh"],
            Cell::Lstm { .. } => &["Sigmoid", "Tanh", "Tanh"],
        }
    }
}

/// The activation functions the spec lists for recurrent layers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Relu,
    Tanh,
    Sigmoid,
    Affine(f32, f32),
    LeakyRelu(f32),
    ThresholdedRelu(f32),
    ScaledTanh(f32, f32),
    HardSigmoid(f32, f32),
    Elu(f32),
    Softsign,
    Softplus,
}

impl Activation {
    pub(crate) fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Affine(a, b) => a * x + b,
            Activation::LeakyRelu(a) => {
                if x < 0.0 {
                    a * x
                } else {
                    x
                }
            }
            Activation::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            Activation::ScaledTanh(a, b) => a * (b * x).tanh(),
            Activation::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Activation::Elu(a) => {
                if x < 0.0 {
                    a * (x.exp() - 1.0)
                } else {
                    x
                }
            }
            Activation::Softsign => x / (1.0 + x.abs()),
            Activation::Softplus => (1.0 + x.exp()).ln(),
        }
    }

    /// [`Activation::apply`] on every element, in place: Sigmoid and Tanh without a libm call
    /// ([`exp_f32`], [`tanh_f32`]), so their loops vectorize (a cell's five activations per
    /// hidden unit had been calls to `expf`/`tanhf`).
    fn apply_all(self, xs: &mut [f32]) {
        match self {
            Activation::Sigmoid => xs.iter_mut().for_each(|x| *x = crate::ops::activation::sigmoid32(*x)),
            Activation::Tanh => xs.iter_mut().for_each(|x| *x = tanh_f32(*x)),
            _ => xs.iter_mut().for_each(|x| *x = self.apply(*x)),
        }
    }
}

/// tanh in f32 without a call, so a loop over it vectorizes: Cephes' `tanhf`
/// (cephes/single/tanhf.c) — below |x| = 0.625 the odd polynomial `x + x³·P(x²)`, above it
/// `1 − 2 / (e^{2|x|} + 1)` with x's sign, `e^x` from [`exp_f32`] (which saturates, so large
/// |x| gives ±1). A few ulp from the exact value. NaN stays NaN.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let p = -5.704_988_7e-3;
    let p = p * z + 2.063_909e-2;
    let p = p * z - 5.373_971_6e-2;
    let p = p * z + 1.333_144_2e-1;
    let p = p * z - 3.333_328e-1;
    let small = p * z * x + x;
    let big = (1.0 - 2.0 / (exp_f32(a + a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// The activations named in `names`, taking their alpha and beta in order from the lists (or
/// the defaults of the ONNX ops of the same names).
pub(crate) fn activations(names: &[String], alphas: &[f32], betas: &[f32]) -> Result<Vec<Activation>, OpError> {
    let (mut a, mut b) = (alphas.iter().copied(), betas.iter().copied());
    names
        .iter()
        .map(|n| {
            Ok(match n.to_ascii_lowercase().as_str() {
                "relu" => Activation::Relu,
                "tanh" => Activation::Tanh,
                "sigmoid" => Activation::Sigmoid,
                "affine" => Activation::Affine(a.next().unwrap_or(1.0), b.next().unwrap_or(0.0)),
                "leakyrelu" => Activation::LeakyRelu(a.next().unwrap_or(0.01)),
                "thresholdedrelu" => Activation::ThresholdedRelu(a.next().unwrap_or(1.0)),
                "scaledtanh" => Activation::ScaledTanh(a.next().unwrap_or(1.0), b.next().unwrap_or(1.0)),
                "hardsigmoid" => Activation::HardSigmoid(a.next().unwrap_or(0.2), b.next().unwrap_or(0.5)),
                "elu" => Activation::Elu(a.next().unwrap_or(1.0)),
                "softsign" => Activation::Softsign,
                "softplus" => Activation::Softplus,
                other => {
                    return Err(attr_err("activations", format!("'{other}' is not an activation the spec lists for recurrent layers")))
                }
            })
        })
        .collect()
}

#[derive(Debug)]
pub struct Recurrent {
    pub cell: Cell,
    pub attrs: RecurrentAttrs,
    /// Per direction, Wᵀ and Rᵀ packed for the GEMM when W and R are constants (at load,
    /// [`Op::specialize`]), as ONNX Runtime's LSTM prepacks them.
    packed: Option<Arc<Vec<[PackedF32B; 2]>>>,
}

/// Rows of X (steps × batch) from which [`Recurrent`] computes X · Wᵀ as one GEMM when W is
/// not packed at load (packing it costs a few passes over W; a product per step, one).
const GEMM_ROWS: usize = 4;

/// Per direction, `m`'s `[dirs, rows, cols]` matrices transposed and packed as GEMM B
/// (`cols × rows`).
fn pack_transposed(m: &[f32], dirs: usize, rows: usize, cols: usize) -> Vec<PackedF32B> {
    (0..dirs)
        .map(|d| PackedF32B::new(cols, rows, &crate::ops::matmul::transpose2(&m[d * rows * cols..(d + 1) * rows * cols], rows, cols)))
        .collect()
}

/// The attributes every recurrent op shares (RNN, GRU, LSTM, com.microsoft's
/// DynamicQuantizeLSTM).
#[derive(Debug, Clone)]
pub struct RecurrentAttrs {
    pub hidden: usize,
    /// 1 (forward or reverse) or 2 (bidirectional).
    pub directions: usize,
    pub reverse: bool,
    pub batch_first: bool,
    pub clip: Option<f32>,
    /// Per direction: the cell's activation functions.
    pub functions: Vec<Vec<Activation>>,
}

/// [`RecurrentAttrs`] read and checked: `extra` are the op's own attribute names; `op` names it
/// in errors; each direction has `defaults.len()` activation functions.
pub(crate) fn shared_attrs(a: &Attrs, extra: &[&str], op: &str, defaults: &[&str]) -> Result<RecurrentAttrs, OpError> {
    let mut known = vec!["activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout"];
    known.extend_from_slice(extra);
    a.only(&known)?;
    let hidden = match a.int_opt("hidden_size")? {
        Some(h) if h > 0 => h as usize,
        Some(h) => return Err(attr_err("hidden_size", format!("must be positive, not {h}"))),
        None => return Err(attr_err("hidden_size", "is required")),
    };
    let (directions, reverse) = match a.string("direction")?.as_deref().unwrap_or("forward") {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        other => return Err(attr_err("direction", format!("must be forward, reverse or bidirectional, not '{other}'"))),
    };
    let batch_first = a.flag("layout", false)?;
    let clip = match a.has("clip") {
        true => match a.float("clip", 0.0)? {
            c if c > 0.0 => Some(c),
            c => return Err(attr_err("clip", format!("must be positive, not {c}"))),
        },
        false => None,
    };
    let k = defaults.len();
    let names: Vec<String> = match a.strings("activations")? {
        Some(n) => n,
        None => defaults.iter().cycle().take(k * directions).map(|s| s.to_string()).collect(),
    };
    if names.len() != k * directions {
        return Err(attr_err("activations", format!("has {} functions: {op} needs {k} per direction", names.len())));
    }
    let all = activations(&names, &a.floats("activation_alpha")?.unwrap_or_default(), &a.floats("activation_beta")?.unwrap_or_default())?;
    Ok(RecurrentAttrs { hidden, directions, reverse, batch_first, clip, functions: all.chunks(k).map(<[_]>::to_vec).collect() })
}

/// `sequence_lens` (input 4 of the recurrent ops): `batch` lengths in `[0, seq]`, or every
/// sequence whole when it is absent.
pub(crate) fn sequence_lengths(input: Option<&Value>, batch: usize, seq: usize) -> Result<Vec<usize>, OpError> {
    let Some(l) = input else { return Ok(vec![seq; batch]) };
    let l = int_list(l, "sequence_lens")?;
    if l.len() != batch || l.iter().any(|&v| v < 0 || v as usize > seq) {
        return Err(value_err(format!("sequence_lens {l:?} must give {batch} lengths in [0, {seq}]")));
    }
    Ok(l.into_iter().map(|v| v as usize).collect())
}

fn build(cell: Cell, a: &Attrs, extra: &[&str]) -> Result<Arc<dyn Op>, OpError> {
    let attrs = shared_attrs(a, extra, cell.name(), cell.default_functions())?;
    debug_assert_eq!(cell.functions(), cell.default_functions().len());
    Ok(Arc::new(Recurrent { cell, attrs, packed: None }))
}

pub fn build_rnn(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build(Cell::Rnn, a, &[])
}

pub fn build_gru(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    let lbr = a.flag("linear_before_reset", false)?;
    build(Cell::Gru { linear_before_reset: lbr }, a, &["linear_before_reset"])
}

pub fn build_lstm(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    let input_forget = a.flag("input_forget", false)?;
    build(Cell::Lstm { input_forget }, a, &["input_forget"])
}

/// `y[r] += Σ_k x[k] · m[r·cols + k]` for every row `r` of `m` (x · Mᵀ). Eight partial sums
/// (lane j takes k ≡ j mod 8), so the loop vectorizes: one sum in k order could not, and was a
/// third of a CRNN's run (ddddocr's 512-wide bidirectional LSTM). ONNX Runtime sums in its own
/// GEMM's order; both are within float rounding of the exact sum.
fn add_product(y: &mut [f32], x: &[f32], m: &[f32]) {
    let cols = x.len();
    let split = cols / 8 * 8;
    for (r, out) in y.iter_mut().enumerate() {
        let row = &m[r * cols..(r + 1) * cols];
        let mut lanes = [0f32; 8];
        for (a, b) in row[..split].chunks_exact(8).zip(x[..split].chunks_exact(8)) {
            for j in 0..8 {
                lanes[j] += a[j] * b[j];
            }
        }
        let tail: f32 = row[split..].iter().zip(&x[split..]).map(|(a, b)| a * b).sum();
        let pairs = [lanes[0] + lanes[4], lanes[1] + lanes[5], lanes[2] + lanes[6], lanes[3] + lanes[7]];
        *out += (pairs[0] + pairs[2]) + (pairs[1] + pairs[3]) + tail;
    }
}

/// A `[dirs, batch, hidden]` state input, or zeros.
fn state(v: Option<&Value>, dirs: usize, batch: usize, hidden: usize, what: &str) -> Result<Vec<f32>, OpError> {
    match v {
        None => Ok(vec![0.0; dirs * batch * hidden]),
        Some(v) => {
            if v.shape() != [dirs, batch, hidden] {
                return Err(shape_err(format!("{what} is {:?}, not [{dirs}, {batch}, {hidden}]", v.shape())));
            }
            Ok(f32_input(v, what)?.to_vec())
        }
    }
}

impl Op for Recurrent {
    fn op_type(&self) -> &'static str {
        self.cell.name()
    }

    fn widens_half(&self) -> bool {
        true
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        let (Some(Some(w)), Some(Some(r))) = (constants.get(1), constants.get(2)) else { return Ok(None) };
        let (dirs, hid, g) = (self.attrs.directions, self.attrs.hidden, self.cell.gates());
        let (Some(ws), Some(rs)) = (w.as_f32(), r.as_f32()) else { return Ok(None) };
        if w.rank() != 3 || w.shape()[..2] != [dirs, g * hid] || r.shape() != [dirs, g * hid, hid] {
            return Ok(None); // run() names the mismatch
        }
        let input = w.shape()[2];
        let packed = pack_transposed(ws, dirs, g * hid, input)
            .into_iter()
            .zip(pack_transposed(rs, dirs, g * hid, hid))
            .map(|(w, r)| [w, r])
            .collect();
        Ok(Some(Arc::new(Recurrent { cell: self.cell, attrs: self.attrs.clone(), packed: Some(Arc::new(packed)) })))
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        if x.rank() != 3 {
            return Err(OpError::Rank { input: 0, expected: "3".into(), got: x.rank() });
        }
        let (dirs, hid, g) = (self.attrs.directions, self.attrs.hidden, self.cell.gates());
        let (seq, batch, input) =
            if self.attrs.batch_first { (x.shape()[1], x.shape()[0], x.shape()[2]) } else { (x.shape()[0], x.shape()[1], x.shape()[2]) };
        let xs = f32_input(x, "X")?;
        let at_x = |t: usize, b: usize| if self.attrs.batch_first { (b * seq + t) * input } else { (t * batch + b) * input };
        let (w, r) = (inputs.req(1)?, inputs.req(2)?);
        if w.shape() != [dirs, g * hid, input] || r.shape() != [dirs, g * hid, hid] {
            return Err(shape_err(format!(
                "W {:?} and R {:?} must be [{dirs}, {}, {input}] and [{dirs}, {}, {hid}]",
                w.shape(),
                r.shape(),
                g * hid,
                g * hid
            )));
        }
        let (ws, rs) = (f32_input(w, "W")?, f32_input(r, "R")?);
        let bias = match inputs.get(3) {
            Some(b) if b.shape() == [dirs, 2 * g * hid] => f32_input(b, "B")?.to_vec(),
            Some(b) => return Err(shape_err(format!("B is {:?}, not [{dirs}, {}]", b.shape(), 2 * g * hid))),
            None => vec![0.0; dirs * 2 * g * hid],
        };
        let lens = sequence_lengths(inputs.get(4), batch, seq)?;
        // Initial states arrive as [dirs, batch, hidden] ([batch, dirs, hidden] with layout 1).
        let reorder = |v: Vec<f32>| -> Vec<f32> {
            if !self.attrs.batch_first {
                return v;
            }
            let mut out = vec![0.0; v.len()];
            for b in 0..batch {
                for d in 0..dirs {
                    out[(d * batch + b) * hid..(d * batch + b + 1) * hid]
                        .copy_from_slice(&v[(b * dirs + d) * hid..(b * dirs + d + 1) * hid]);
                }
            }
            out
        };
        let shape_of_state = |v: Option<&Value>, what: &str| -> Result<Vec<f32>, OpError> {
            match (v, self.attrs.batch_first) {
                (Some(v), true) => {
                    if v.shape() != [batch, dirs, hid] {
                        return Err(shape_err(format!("{what} is {:?}, not [{batch}, {dirs}, {hid}]", v.shape())));
                    }
                    Ok(reorder(f32_input(v, what)?.to_vec()))
                }
                _ => state(v, dirs, batch, hid, what),
            }
        };
        let mut h = shape_of_state(inputs.get(5), "initial_h")?;
        let lstm = matches!(self.cell, Cell::Lstm { .. });
        let mut c = if lstm { shape_of_state(inputs.get(6), "initial_c")? } else { Vec::new() };
        let peep = match (lstm, inputs.get(7)) {
            (true, Some(p)) if p.shape() == [dirs, 3 * hid] => f32_input(p, "P")?.to_vec(),
            (true, Some(p)) => return Err(shape_err(format!("P is {:?}, not [{dirs}, {}]", p.shape(), 3 * hid))),
            _ => vec![0.0; dirs * 3 * hid],
        };
        // Y as [seq, dirs, batch, hidden]; reordered for layout 1 at the end.
        let mut y = vec![0.0f32; seq * dirs * batch * hid];
        let clip = |v: f32| self.attrs.clip.map_or(v, |c| v.clamp(-c, c));
        let mut gates = vec![0.0f32; g * hid];
        let mut rec = vec![0.0f32; g * hid];
        // X · Wᵀ of every step at once (`gx`, row `at_x / input`): the GEMM reads W once, where
        // a product per step read it once per step — ddddocr_common's 512-wide bidirectional
        // LSTM has 4 MB of W per direction, so its 16 steps had streamed 128 MB. W packed at
        // load, or here when there are enough rows; else (one step: silero_vad) per step.
        let rows = seq * batch;
        let packed_w = (self.packed.is_none() && rows >= GEMM_ROWS).then(|| pack_transposed(ws, dirs, g * hid, input));
        let w_of = |d: usize| -> Option<&PackedF32B> { self.packed.as_ref().map(|p| &p[d][0]).or(packed_w.as_ref().map(|p| &p[d])) };
        let r_of = |d: usize| -> Option<&PackedF32B> { self.packed.as_ref().map(|p| &p[d][1]) };
        let mut gx = vec![0.0f32; if w_of(0).is_some() { rows * g * hid } else { 0 }];
        let mut hp = vec![0.0f32; hid];
        for d in 0..dirs {
            let backward = self.attrs.reverse || d == 1;
            let fns = &self.attrs.functions[d];
            let wd = &ws[d * g * hid * input..(d + 1) * g * hid * input];
            let rd = &rs[d * g * hid * hid..(d + 1) * g * hid * hid];
            let (wb, rb) = (&bias[d * 2 * g * hid..d * 2 * g * hid + g * hid], &bias[d * 2 * g * hid + g * hid..(d + 1) * 2 * g * hid]);
            let pd = &peep[d * 3 * hid..(d + 1) * 3 * hid];
            if let Some(pw) = w_of(d) {
                quantscope_gemm::gemm_f32_packed(rows, xs, pw, &mut gx);
            }
            for b in 0..batch {
                let hb = (d * batch + b) * hid;
                for step in 0..lens[b] {
                    let t = if backward { lens[b] - 1 - step } else { step };
                    let xt = &xs[at_x(t, b)..at_x(t, b) + input];
                    if gx.is_empty() {
                        gates.copy_from_slice(wb);
                        add_product(&mut gates, xt, wd);
                    } else {
                        let row = &gx[at_x(t, b) / input.max(1) * g * hid..][..g * hid];
                        gates.iter_mut().zip(wb.iter().zip(row)).for_each(|(v, (&bias, &p))| *v = bias + p);
                    }
                    hp.copy_from_slice(&h[hb..hb + hid]);
                    match r_of(d) {
                        Some(pr) => {
                            quantscope_gemm::gemm_f32_packed(1, &hp, pr, &mut rec);
                            rec.iter_mut().zip(rb).for_each(|(v, &bias)| *v += bias);
                        }
                        None => {
                            rec.copy_from_slice(rb);
                            add_product(&mut rec, &hp, rd);
                        }
                    }
                    match self.cell {
                        Cell::Rnn => {
                            for j in 0..hid {
                                h[hb + j] = fns[0].apply(clip(gates[j] + rec[j]));
                            }
                        }
                        Cell::Gru { linear_before_reset } => {
                            // z, r, h; with linear_before_reset the reset gate scales (h·Rhᵀ + Rbh),
                            // without it the reset hidden state goes through Rh.
                            let (f, gf) = (fns[0], fns[1]);
                            let z: Vec<f32> = (0..hid).map(|j| f.apply(clip(gates[j] + rec[j]))).collect();
                            let rg: Vec<f32> = (0..hid).map(|j| f.apply(clip(gates[hid + j] + rec[hid + j]))).collect();
                            let cand: Vec<f32> = if linear_before_reset {
                                (0..hid).map(|j| gf.apply(clip(gates[2 * hid + j] + rg[j] * rec[2 * hid + j]))).collect()
                            } else {
                                let reset: Vec<f32> = hp.iter().zip(&rg).map(|(a, b)| a * b).collect();
                                let mut hr = rb[2 * hid..].to_vec();
                                add_product(&mut hr, &reset, &rd[2 * hid * hid..]);
                                (0..hid).map(|j| gf.apply(clip(gates[2 * hid + j] + hr[j]))).collect()
                            };
                            for j in 0..hid {
                                h[hb + j] = (1.0 - z[j]) * cand[j] + z[j] * hp[j];
                            }
                        }
                        Cell::Lstm { input_forget } => {
                            // Gate by gate over the hidden units, so each activation runs as one
                            // vectorized loop: gates[k·hid + j] becomes gate k's value for unit j.
                            let (f, gf, hf) = (fns[0], fns[1], fns[2]);
                            let cp = &mut c[hb..hb + hid];
                            let (gi, rest) = gates.split_at_mut(hid);
                            let (go, rest) = rest.split_at_mut(hid);
                            let (gfo, gc) = rest.split_at_mut(hid);
                            let (ri, rest) = rec.split_at(hid);
                            let (ro, rest) = rest.split_at(hid);
                            let (rf, rc) = rest.split_at(hid);
                            for j in 0..hid {
                                gi[j] = clip(gi[j] + ri[j] + pd[j] * cp[j]);
                                gfo[j] = clip(gfo[j] + rf[j] + pd[2 * hid + j] * cp[j]);
                                gc[j] = clip(gc[j] + rc[j]);
                            }
                            f.apply_all(gi);
                            // input_forget couples the gates: f = 1 − i (as ONNX Runtime).
                            if input_forget {
                                gfo.iter_mut().zip(gi.iter()).for_each(|(fg, &i)| *fg = 1.0 - i);
                            } else {
                                f.apply_all(gfo);
                            }
                            gf.apply_all(gc);
                            for j in 0..hid {
                                cp[j] = gfo[j] * cp[j] + gi[j] * gc[j];
                                go[j] = clip(go[j] + ro[j] + pd[hid + j] * cp[j]);
                            }
                            f.apply_all(go);
                            let hb_row = &mut h[hb..hb + hid];
                            hb_row.copy_from_slice(cp);
                            hf.apply_all(hb_row);
                            hb_row.iter_mut().zip(go.iter()).for_each(|(h, &o)| *h *= o);
                        }
                    }
                    let at = ((t * dirs + d) * batch + b) * hid;
                    y[at..at + hid].copy_from_slice(&h[hb..hb + hid]);
                }
            }
        }
        // A sequence of length 0 ends with zero states, not its initial ones (ONNX Runtime's
        // rule; the spec does not say).
        for (b, _) in lens.iter().enumerate().filter(|(_, &l)| l == 0) {
            for d in 0..dirs {
                let at = (d * batch + b) * hid;
                h[at..at + hid].fill(0.0);
                if lstm {
                    c[at..at + hid].fill(0.0);
                }
            }
        }
        let (y, y_shape, hs, cs, state_shape) = if self.attrs.batch_first {
            let mut yb = vec![0.0; y.len()];
            for t in 0..seq {
                for d in 0..dirs {
                    for b in 0..batch {
                        let (from, to) = (((t * dirs + d) * batch + b) * hid, ((b * seq + t) * dirs + d) * hid);
                        yb[to..to + hid].copy_from_slice(&y[from..from + hid]);
                    }
                }
            }
            let swap = |v: &[f32]| -> Vec<f32> {
                let mut out = vec![0.0; v.len()];
                for d in 0..dirs {
                    for b in 0..batch {
                        out[(b * dirs + d) * hid..(b * dirs + d + 1) * hid]
                            .copy_from_slice(&v[(d * batch + b) * hid..(d * batch + b + 1) * hid]);
                    }
                }
                out
            };
            (yb, vec![batch, seq, dirs, hid], swap(&h), if lstm { swap(&c) } else { Vec::new() }, vec![batch, dirs, hid])
        } else {
            (y, vec![seq, dirs, batch, hid], h, c, vec![dirs, batch, hid])
        };
        let mut out = vec![Value::f32(y_shape, y), Value::f32(state_shape.clone(), hs)];
        if lstm {
            out.push(Value::f32(state_shape, cs));
        }
        Ok(out)
    }
}
