//! ONNX Runtime's GPTQ weight-only quantizer: `MatMulNBitsQuantizer(model, block_size,
//! is_symmetric, algo_config=GPTQWeightOnlyQuantConfig(calibration_data_reader, percdamp,
//! block_size, actorder, mse, perchannel))`, which calls the neural-compressor code ONNX Runtime
//! vendors (onnxruntime 1.32, `onnxruntime/quantization/neural_compressor/weight_only.py`:
//! `gptq_quantize`, `gptq`, `quant_tensor`, `make_matmul_weight_only_node`), ported.
//!
//! How ONNX Runtime does it, and so how this module does:
//! * **Activations** ([`GptqWork::activations`], [`GptqWork::observe`]): every main-graph MatMul
//!   whose B is a 2-D initializer has its A tensor added to the *float* model's outputs; one
//!   session runs each item of the calibration reader once, and every MatMul's A is read from
//!   that run (not layer by layer from an already quantized model). The caller runs the model
//!   (quantscope's engine, `run_observing`) and hands each item's value of each A here.
//! * **Hessian** ([`Hessian`]): per A tensor, over the reader's items in order: `H *= n / (n +
//!   b)`, `n += b` (b is the item's *first* dimension, its batch), `x = sqrt(2 / n) · A` reshaped
//!   to `[-1, K]` (float64: numpy 2's NEP 50 makes `np.float64 · float32` float64), `H += xᵀx`.
//! * **GPTQ** ([`gptq`]): B is `[K, N]` and its rows (input channels) are GPTQ's columns. Dead
//!   channels (`H[i, i] == 0`) get `H[i, i] = 1` and a zero row; act-order permutes rows by
//!   descending `diag(H)`; `H += percdamp · mean(diag(H)) · I`; `Hinv = cholesky(inv(H))ᵀ`; each
//!   group of `block_size` rows (in processing order) gets GPTQ's own grid from the rows as they
//!   stand at the start of the lazy block (`find_params`: min/max with 0 in the range, 15 steps,
//!   zero point `round(-min / scale)`, or 8 when symmetric; optionally the `mse` shrink search
//!   and one grid per tensor), and each row is rounded on it.
//!
//!   Its error propagation uses the *column* `Hinv1[i:, i]` and the block `Hinv[i2:, i1:i2]` of
//!   the upper-triangular factor (the IST-DASLab reference, in `[N, K]` layout, takes the row
//!   `Hinv1[i, i:]`), and both are zero below the diagonal: ONNX Runtime 1.32's GPTQ does not
//!   move any rounding error onto the rows not yet quantized. Its result is that of an identity
//!   Hessian (scripts/fixtures/make_onnx_gptq.py's `no_propagation` asserts it on its own `gptq`); the
//!   calibration data only orders the rows for act-order and finds dead channels. This module
//!   does the same, and skips the products with those zero blocks (they change no value). The
//!   dampened Hessian is still checked to be positive definite (a Cholesky factorization), so
//!   that a calibration set that leaves it singular with no dampening fails here as it fails
//!   there.
//! * **MatMulNBits** ([`encode`]): the fake-quantized rows are padded to whole blocks and
//!   *quantized again* by `quant_tensor(Qᵀ, 4, block_size, scheme, "uint")`: min–max per block of
//!   the dequantized values (`(max − min) / 15` and `round(−min / scale)`; symmetric:
//!   `2 · max|x| / 15` and zero point 8, which is not written), codes `round(x / scale + zp)`
//!   clipped to 0..15, in float64. B is `<B>_Q4G<block>` `[N, k_blocks, block/2]` (low nibble
//!   first), scales `<B>_scale` `[N, k_blocks]` float32, zero points `<B>_zp` packed two to a byte
//!   across the whole `[N · k_blocks]` run and reshaped to `[N, -1]` (which fails for an odd
//!   number of blocks and N > 1; refused here with that reason). The node is `<name>_Q4`
//!   (com.microsoft, K, N, bits 4, block_size, accuracy_level when > 0); GPTQ always writes
//!   4 bits, whatever `bits` the quantizer was given. The model's opsets are left as they were
//!   (ONNX Runtime adds no com.microsoft import on this path, and loads the file regardless);
//!   the float B goes when no other node reads it; new initializers are appended (scale, zero
//!   point, codes for each weight) and the nodes sorted by neural-compressor's
//!   `ONNXModel.topological_sort` (which tells nodes apart by name: for a graph with unnamed or
//!   same-named nodes, where it would drop nodes, each MatMulNBits takes its MatMul's place).
//!
//! * **Error feedback** ([`GptqOptions::error_feedback`], off by default, not in ONNX Runtime):
//!   the update the IST-DASLab reference makes, in this `[K, N]` layout — U's row `Hinv1[i, i:]`
//!   as a column, i.e. the lower factor `cholesky(inv(H))` where ONNX Runtime takes its transpose
//!   — so each row's rounding error moves onto the rows after it and the calibration data shapes
//!   the result. Everything else (grids, re-encode, writer) stays ONNX Runtime's. Its proof is
//!   ONNX Runtime's own quantizer with that one `.T` removed (make_onnx_gptq.py's
//!   `with_error_feedback`): the same weights but for a few values at a rounding boundary, one
//!   step apart (the sums run in another order than LAPACK's; tests/ort_gptq.rs has the bound).
//!
//! Not ported: FLOAT16 weights (ONNX Runtime runs GPTQ in float16 then), MatMuls inside
//! subgraphs, `nodes_to_exclude`. ONNX Runtime visits the A tensors in a Python `set`'s order;
//! that order only decides where each weight's initializers are appended (and which MatMul
//! writes a B that two MatMuls with different A share): here it is the graph's order.

use crate::dynamic::Report;
use crate::gemm::node;
use crate::mlp::attr_int;
use crate::numpy_sum::pairwise_sum;
use crate::weights;
use crate::{QuantizeError, Result};
use quantscope_formats::onnx::proto::{NodeProto, TensorProto};
use quantscope_formats::onnx::splice::{Kept, ModelEdit};
use quantscope_formats::onnx::tensor::DType;
use quantscope_ptq::linalg;
use std::collections::{HashMap, HashSet, VecDeque};

/// `GPTQWeightOnlyQuantConfig`'s options with the quantizer's `block_size` and `is_symmetric`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GptqOptions {
    /// Weights along K sharing a scale (MatMulNBitsQuantizer's `block_size`, GPTQ's
    /// `group_size`): a power of two from 16 to 256.
    pub block_size: usize,
    /// `is_symmetric`: codes centred on 8, no zero points written.
    pub symmetric: bool,
    /// MatMulNBits' `accuracy_level` (0 leaves it out).
    pub accuracy_level: i64,
    /// Fraction of the mean of diag(H) added to its diagonal.
    pub percdamp: f64,
    /// GPTQ's lazy-batch size (`GPTQWeightOnlyQuantConfig.block_size`, default 128).
    pub gptq_block: usize,
    /// Rows in descending diag(H) order.
    pub actorder: bool,
    /// `find_params`' shrink search of each group's range (80 steps of 1 %).
    pub mse: bool,
    /// One grid per output column (`true`) or per group of the whole tensor.
    pub perchannel: bool,
    /// Carry each row's rounding error onto the rows not yet quantized, as the GPTQ paper does
    /// (ONNX Runtime 1.32's GPTQ does not; see the module's notes).
    pub error_feedback: bool,
}

impl Default for GptqOptions {
    fn default() -> Self {
        // MatMulNBitsQuantizer's block_size 128 and is_symmetric False; GPTQWeightOnlyQuantConfig's
        // percdamp 0.01, block_size 128, actorder False, mse False, perchannel True
        GptqOptions {
            block_size: 128,
            symmetric: false,
            accuracy_level: 0,
            percdamp: 0.01,
            gptq_block: 128,
            actorder: false,
            mse: false,
            perchannel: true,
            error_feedback: false,
        }
    }
}

impl GptqOptions {
    /// The options MatMulNBits and ONNX Runtime's GPTQ take, or why not.
    pub fn check(&self) -> Result<()> {
        let b = self.block_size;
        if !(16..=256).contains(&b) || !b.is_power_of_two() {
            return Err(QuantizeError::Unsupported(format!(
                "block size {b}: it must be a power of two from 16 to 256 (16, 32, 64, 128 or 256), as MatMulNBits takes"
            )));
        }
        if !(0..=4).contains(&self.accuracy_level) {
            return Err(QuantizeError::Unsupported(format!(
                "accuracy level {}: MatMulNBits defines 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) and 4 (int8)",
                self.accuracy_level
            )));
        }
        if !(self.percdamp.is_finite() && self.percdamp >= 0.0) {
            // (the value is not printed: float formatting would cost the page's module ~10 KB)
            return Err(QuantizeError::Unsupported("GPTQ's dampening must be a fraction ≥ 0 (default 0.01)".into()));
        }
        if self.gptq_block == 0 {
            return Err(QuantizeError::Unsupported("GPTQ's lazy block size 0: it must be at least 1 (default 128)".into()));
        }
        Ok(())
    }
}

/// One A tensor's Hessian as `gptq_quantize` accumulates it over the reader's items.
#[derive(Debug, Clone)]
pub struct Hessian {
    k: usize,
    /// Row-major `[k, k]`, float64.
    h: Vec<f64>,
    /// Σ of the items' first dimensions.
    nsamples: usize,
    items: usize,
}

impl Hessian {
    pub fn new(k: usize) -> Hessian {
        Hessian { k, h: vec![0.0; k * k], nsamples: 0, items: 0 }
    }

    /// One reader item's value of the tensor (`shape`, row-major `values`).
    pub fn add(&mut self, shape: &[usize], values: &[f32]) -> std::result::Result<(), String> {
        let k = self.k;
        let last = shape.last().copied();
        if last != Some(k) || shape.iter().product::<usize>() != values.len() {
            return Err(format!("its value has shape {shape:?}, but the MatMul's B has K = {k} rows (A's last dimension must be {k})"));
        }
        let tmp = shape[0];
        // Hs = [i * (nsamples / (nsamples + tmp))]
        let f = self.nsamples as f64 / (self.nsamples + tmp) as f64;
        for v in &mut self.h {
            *v *= f;
        }
        self.nsamples += tmp;
        if self.nsamples == 0 {
            return Err(format!("its value has shape {shape:?}: a batch of 0"));
        }
        // inp = np.sqrt(2 / nsamples) * inp: a float64 scalar times float32 values, float64
        let c = (2.0 / self.nsamples as f64).sqrt();
        let x: Vec<f64> = values.iter().map(|&v| c * f64::from(v)).collect();
        let rows = values.len() / k.max(1);
        // H += xᵀx (numpy's dsyrk; summed here row by row in order)
        for i in 0..k {
            for j in i..k {
                let mut s = 0.0;
                for r in 0..rows {
                    s += x[r * k + i] * x[r * k + j];
                }
                self.h[i * k + j] += s;
                if j != i {
                    self.h[j * k + i] += s;
                }
            }
        }
        self.items += 1;
        Ok(())
    }

    pub fn matrix(&self) -> &[f64] {
        &self.h
    }

    pub fn items(&self) -> usize {
        self.items
    }
}

const MAXQ: f64 = 15.0;

/// `gptq.find_params` of `rows × n` float32 weights (row-major): each column's scale and zero
/// point (one for all columns when not `perchannel`).
fn find_params(w: &[f32], n: usize, o: &GptqOptions) -> (Vec<f64>, Vec<f64>) {
    let cols = if o.perchannel { n } else { 1 };
    let rows = w.len() / cols;
    let at = |r: usize, c: usize| f64::from(w[r * cols + c]);
    let mut scale = vec![0.0; cols];
    let mut zero = vec![0.0; cols];
    for c in 0..cols {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for r in 0..rows {
            lo = lo.min(w[r * cols + c]);
            hi = hi.max(w[r * cols + c]);
        }
        // np.minimum(np.min(weight, axis=0), 0), np.maximum(np.max(...), 0)
        let mut xmin = f64::from(lo).min(0.0);
        let mut xmax = f64::from(hi).max(0.0);
        if o.symmetric {
            xmax = xmin.abs().max(xmax);
            if xmin < 0.0 {
                xmin = -xmax;
            }
        }
        if xmin == 0.0 && xmax == 0.0 {
            xmin = -1.0;
            xmax = 1.0;
        }
        scale[c] = (xmax - xmin) / MAXQ;
        zero[c] = if o.symmetric { (MAXQ + 1.0) / 2.0 } else { (-xmin / scale[c]).round_ties_even() };
        if o.mse {
            let mut best = f64::INFINITY;
            let mut terms = vec![0.0; rows];
            for i in 0..80 {
                // grid 100, maxshrink 0.8, norm 2.4
                let p = 1.0 - i as f64 / 100.0;
                let (xmin1, xmax1) = (p * xmin, p * xmax);
                let scale1 = (xmax1 - xmin1) / MAXQ;
                let zero1 = if o.symmetric { zero[c] } else { (-xmin1 / scale1).round_ties_even() };
                // q = clip(round(w / scale1) + zero1, 0, maxq) − w (the code, not its value)
                for (r, t) in terms.iter_mut().enumerate() {
                    let q = ((at(r, c) / scale1).round_ties_even() + zero1).clamp(0.0, MAXQ) - at(r, c);
                    *t = q.abs().powf(2.4);
                }
                // np.sum(q, 0): down the rows in order per column; one column of the flattened
                // tensor is numpy's pairwise sum
                let err = if o.perchannel { terms.iter().fold(0.0, |s, &v| s + v) } else { pairwise_sum(&terms) };
                if err < best {
                    best = err;
                    scale[c] = scale1;
                    zero[c] = zero1;
                }
            }
        }
    }
    if !o.perchannel {
        scale = vec![scale[0]; n];
        zero = vec![zero[0]; n];
    }
    (scale, zero)
}

/// `weight_only.gptq(W, H, 4, group_size, scheme, blocksize, percdamp, actorder, mse,
/// perchannel)`: B `[k, n]` float32 fake-quantized (float32, as numpy keeps it), from its
/// Hessian `h` (`[k, k]`, consumed).
pub fn gptq(w: &[f32], k: usize, n: usize, mut h: Vec<f64>, o: &GptqOptions) -> Result<Vec<f32>> {
    let gs = o.block_size;
    let mut w = w.to_vec();
    // dead = np.diag(H) == 0; H[dead, dead] = 1; W[dead, :] = 0
    for i in 0..k {
        if h[i * k + i] == 0.0 {
            h[i * k + i] = 1.0;
            w[i * n..(i + 1) * n].fill(0.0);
        }
    }
    // perm = np.argsort(np.diag(H))[::-1] (ties: numpy's sort is not stable; here the later index first)
    let perm: Vec<usize> = if o.actorder {
        // by insertion (a library sort would add its code to the page's module): descending,
        // each index before the earlier ones it ties with
        let mut p: Vec<usize> = Vec::with_capacity(k);
        for i in 0..k {
            let at = p.partition_point(|&j| h[j * k + j].total_cmp(&h[i * k + i]) == std::cmp::Ordering::Greater);
            p.insert(at, i);
        }
        p
    } else {
        (0..k).collect()
    };
    if o.actorder {
        w = perm.iter().flat_map(|&r| w[r * n..(r + 1) * n].to_vec()).collect();
        let mut hp = vec![0.0; k * k];
        for (i, &pi) in perm.iter().enumerate() {
            for (j, &pj) in perm.iter().enumerate() {
                hp[i * k + j] = h[pi * k + pj];
            }
        }
        h = hp;
    }
    let diag: Vec<f64> = (0..k).map(|i| h[i * k + i]).collect();
    let damp = o.percdamp * (pairwise_sum(&diag) / k as f64);
    for i in 0..k {
        h[i * k + i] += damp;
    }
    // Hinv = cholesky(inv(H)).T: H must be positive definite (numpy raises LinAlgError otherwise).
    // ONNX Runtime reads only its zero blocks (see the module's notes), so without error feedback
    // the factor itself is not formed and H's Cholesky factorization is the same test.
    let not_positive_definite = |_| {
        QuantizeError::Calibration(
            "GPTQ's Hessian is not positive definite (numpy's inv/cholesky would fail): the calibration data leaves some input channels dependent; give more calibration rows or a dampening above 0".into(),
        )
    };
    let l = linalg::cholesky(&h, k).map_err(not_positive_definite)?;
    // With error feedback: U, the upper factor of H⁻¹ (Uᵀ U = H⁻¹), whose row i weights row i's
    // error onto the rows after it (ptq::gptq, the IST-DASLab reference, does the same).
    let u = match o.error_feedback {
        true => Some(linalg::cholesky_upper(&linalg::cholesky_inverse(&l, k), k).map_err(not_positive_definite)?),
        false => None,
    };
    let mut q = vec![0.0f32; k * n];
    let (mut scale, mut zp) = (vec![1.0; n], vec![0.0; n]);
    let mut err = vec![0.0f64; o.gptq_block.min(k) * n];
    for i1 in (0..k).step_by(o.gptq_block) {
        let i2 = (i1 + o.gptq_block).min(k);
        // W1 = W[i1:i2], updated row by row within the block; the groups' grids come from W as
        // the earlier blocks left it (before this block's own updates), as the reference does
        let mut w1 = w[i1 * n..i2 * n].to_vec();
        for r in i1..i2 {
            if r % gs == 0 {
                let end = (r + gs).min(k);
                (scale, zp) = find_params(&w[r * n..end * n], n, o);
            }
            let row = (r - i1) * n;
            for j in 0..n {
                let x = f64::from(w1[row + j]);
                let code = ((x / scale[j]).round_ties_even() + zp[j]).clamp(0.0, MAXQ);
                q[r * n + j] = (scale[j] * (code - zp[j])) as f32;
                // err1 = (w − q) / d, with q as numpy holds it (float64)
                if let Some(u) = &u {
                    err[row + j] = (x - scale[j] * (code - zp[j])) / u[r * k + r];
                }
            }
            // W1[i:] −= Hinv1[i:, i] ⊗ err1: without error feedback it touches row i alone (Hinv1
            // is upper triangular), which is not read again
            if let Some(u) = &u {
                for r2 in r + 1..i2 {
                    let f = u[r * k + r2];
                    let (e, target) = (&err[row..row + n], &mut w1[(r2 - i1) * n..(r2 - i1 + 1) * n]);
                    for (t, &e) in target.iter_mut().zip(e) {
                        *t = (f64::from(*t) - f * e) as f32;
                    }
                }
            }
        }
        // W[i2:] −= Hinv[i2:, i1:i2] · Err1: a zero block without error feedback
        if let Some(u) = &u {
            let mut acc = vec![0.0f64; n];
            for r2 in i2..k {
                acc.fill(0.0);
                for t in i1..i2 {
                    let f = u[t * k + r2];
                    for (a, &e) in acc.iter_mut().zip(&err[(t - i1) * n..(t - i1 + 1) * n]) {
                        *a += f * e;
                    }
                }
                for (v, a) in w[r2 * n..(r2 + 1) * n].iter_mut().zip(&acc) {
                    *v = (f64::from(*v) - a) as f32;
                }
            }
        }
    }
    if o.actorder {
        // Q = Q[invperm]
        let mut back = vec![0.0f32; k * n];
        for (i, &pi) in perm.iter().enumerate() {
            back[pi * n..(pi + 1) * n].copy_from_slice(&q[i * n..(i + 1) * n]);
        }
        q = back;
    }
    Ok(q)
}

/// A weight as `make_matmul_weight_only_node` writes it: packed codes `[n, k_blocks, block/2]`,
/// float32 scales `[n, k_blocks]` and, unless symmetric, the zero points' bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub packed: Vec<u8>,
    pub scales: Vec<f32>,
    pub zero_points: Option<Vec<u8>>,
    /// The codes, `[n, k_blocks · block]` (padded), for comparisons.
    pub codes: Vec<u8>,
}

/// Whether `make_matmul_weight_only_node` can shape the zero points of a `[k, n]` B: it packs
/// all `n · k_blocks` of them as one run and reshapes that to `[n, -1]`, which numpy refuses for
/// an odd number of blocks and more than one column.
fn zero_point_layout(k: usize, n: usize, block: usize, symmetric: bool) -> std::result::Result<(), String> {
    let kb = k.div_ceil(block);
    if !symmetric && kb % 2 == 1 && n > 1 {
        return Err(format!(
            "K = {k} makes {kb} blocks of {block}, an odd number: ONNX Runtime's GPTQ packs the zero points of all {n} columns as one run and cannot reshape its {} bytes to [{n}, -1]; choose another block size or symmetric",
            (n * kb).div_ceil(2)
        ));
    }
    Ok(())
}

/// `pad_tensor` then `quant_tensor(q.T, 4, block, scheme, "uint")` and the packing of
/// `make_matmul_weight_only_node`, of GPTQ's `[k, n]` float32 result.
pub fn encode(q: &[f32], k: usize, n: usize, block: usize, symmetric: bool) -> std::result::Result<Encoded, String> {
    zero_point_layout(k, n, block, symmetric)?;
    let kb = k.div_ceil(block);
    let mut codes = vec![0u8; n * kb * block];
    let mut scales = vec![0.0f32; n * kb];
    let mut zps = vec![0u8; n * kb];
    let mut data = vec![0.0f32; block];
    for c in 0..n {
        for b in 0..kb {
            for (t, d) in data.iter_mut().enumerate() {
                let r = b * block + t;
                *d = if r < k { q[r * n + c] } else { 0.0 };
            }
            let (mut rmin, mut rmax) = (f32::INFINITY, f32::NEG_INFINITY);
            for &d in &data {
                rmin = rmin.min(d);
                rmax = rmax.max(d);
            }
            let (scale, zp) = if symmetric {
                let range = rmin.abs().max(rmax.abs());
                (if range > 0.0 { f64::from(range * 2.0) / 15.0 } else { 1.0 }, 8.0)
            } else {
                let scale = if rmin != rmax { f64::from(rmax - rmin) / 15.0 } else { 1.0 };
                (scale, ((0.0 - f64::from(rmin)) / scale).round_ties_even().clamp(0.0, 15.0))
            };
            let at = (c * kb + b) * block;
            for (t, &d) in data.iter().enumerate() {
                codes[at + t] = (f64::from(d) / scale + zp).round_ties_even().clamp(0.0, 15.0) as u8;
            }
            scales[c * kb + b] = scale as f32;
            zps[c * kb + b] = zp as u8;
        }
    }
    let packed = codes.chunks_exact(2).map(|p| p[0] | (p[1] << 4)).collect();
    let zero_points = (!symmetric).then(|| {
        // np.full((len + 1) // 2, 136): an unpaired last zero point keeps 8 in the high nibble
        let mut z = vec![136u8; zps.len().div_ceil(2)];
        for (i, &v) in zps.iter().enumerate() {
            let b = &mut z[i / 2];
            *b = if i % 2 == 0 { (*b & 0xF0) | v } else { (*b & 0x0F) | (v << 4) };
        }
        z
    });
    Ok(Encoded { packed, scales, zero_points, codes })
}

/// One MatMul to quantize.
#[derive(Debug, Clone)]
struct Target {
    /// The node's index in the model's node list.
    node: usize,
    b_name: String,
    k: usize,
    n: usize,
    values: Vec<f32>,
    /// Index into the activations.
    act: usize,
}

/// One A tensor and the Hessian of its calibration values.
#[derive(Debug, Clone)]
struct Activation {
    name: String,
    hessian: Hessian,
}

/// A weight's relative output error on the calibration data, `tr(Eᵀ H E) / tr(Wᵀ H W)` with `E`
/// the dequantized weight's error and `H` the (undamped) Hessian: ‖(W − Ŵ)ᵀ x‖² / ‖Wᵀ x‖²
/// summed over the calibration rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerError {
    pub matmul: String,
    /// GPTQ's file (as written); None when the weight is too large for the K²·N sums to be
    /// cheap ([`ERROR_BUDGET`]).
    pub gptq: Option<f64>,
    /// Round to nearest of B itself with the same blocks, scheme and re-encoding.
    pub rtn: Option<f64>,
}

/// The most K²·N a weight's output errors are computed for (they cost 3 · K² · N multiply-adds).
pub const ERROR_BUDGET: f64 = 1.5e8;

/// `gptq_quantize` in steps: [`GptqWork::plan`] reads the model and names the tensors whose
/// calibration values it needs ([`GptqWork::activations`]); the caller runs the float model on
/// each calibration item and gives each of them to [`GptqWork::observe`]; [`GptqWork::quantize`]
/// quantizes one weight at a time (progress and Cancel between them); [`GptqWork::finish`] writes
/// the file.
pub struct GptqWork {
    options: GptqOptions,
    edit: ModelEdit,
    targets: Vec<Target>,
    acts: Vec<Activation>,
    done: Vec<Option<(Encoded, LayerError)>>,
    report: Report,
}

fn matmul_label(n: &NodeProto) -> String {
    format!("MatMul '{}'", n.name.as_deref().unwrap_or(""))
}

impl GptqWork {
    /// The model read and its MatMuls to quantize found; a model with none is refused.
    pub fn plan(bytes: &[u8], options: &GptqOptions) -> Result<GptqWork> {
        options.check()?;
        let edit = ModelEdit::open(bytes)?;
        let mut report = Report::default();
        let mut targets = Vec::new();
        let mut acts: Vec<Activation> = Vec::new();
        for (i, kept) in edit.graph.nodes.iter().enumerate() {
            let n = &kept.message;
            if n.op_type.as_deref() != Some("MatMul") {
                continue;
            }
            let why = |s: String| (matmul_label(n), s);
            let (Some(a), Some(b)) = (n.input.first().filter(|s| !s.is_empty()), n.input.get(1).filter(|s| !s.is_empty())) else {
                report.kept.push(why("it has no A or no B".into()));
                continue;
            };
            let Some(t) = edit.graph.initializer(b) else {
                report.kept.push(why("its B is not a constant (ONNX Runtime quantizes only an initializer B)".into()));
                continue;
            };
            if edit.graph.initializer(a).is_some() {
                report.kept.push(why(format!("its A '{a}' is a constant: there are no calibration values to take")));
                continue;
            }
            let Some((shape, values)) = weights::float_values(t)? else {
                let ty = DType::from_onnx(t.data_type.unwrap_or(0)).map_or("an unknown type".to_string(), |d| d.name().to_string());
                report.kept.push(why(format!("its B '{b}' is {ty}: quantscope's GPTQ takes FLOAT weights")));
                continue;
            };
            if shape.len() != 2 {
                // gptq_quantize: `if len(weight.shape) != 2: continue`
                report.kept.push(why(format!("its B has shape {shape:?}: ONNX Runtime's GPTQ quantizes a 2-D B only")));
                continue;
            }
            let (k, cols) = (shape[0], shape[1]);
            if let Err(e) = zero_point_layout(k, cols, options.block_size, options.symmetric) {
                report.kept.push(why(e));
                continue;
            }
            let act = match acts.iter().position(|x| &x.name == a) {
                Some(p) => p,
                None => {
                    acts.push(Activation { name: a.clone(), hessian: Hessian::new(k) });
                    acts.len() - 1
                }
            };
            if acts[act].hessian.k != k {
                report.kept.push(why(format!("its A '{a}' also feeds a MatMul whose B has a different K")));
                continue;
            }
            report.quantized.push(matmul_label(n));
            targets.push(Target { node: i, b_name: b.clone(), k, n: cols, values, act });
        }
        if targets.is_empty() {
            let why = if report.kept.is_empty() {
                "the model has no MatMul node".to_string()
            } else {
                report.kept.iter().map(|(n, w)| format!("{n}: {w}")).collect::<Vec<_>>().join("; ")
            };
            return Err(QuantizeError::Unsupported(format!("no MatMul with a constant 2-D FLOAT B for GPTQ: {why}")));
        }
        let done = vec![None; targets.len()];
        Ok(GptqWork { options: *options, edit, targets, acts, done, report })
    }

    /// The tensors whose values (MatMuls' A) the calibration run must give [`GptqWork::observe`].
    pub fn activations(&self) -> Vec<String> {
        self.acts.iter().map(|a| a.name.clone()).collect()
    }

    /// The float model (`bytes`, the file this work was planned from) with every A tensor that
    /// is not a graph input or output already made a graph output (`add_tensors_to_outputs`, as
    /// `gptq_quantize` augments it): one run of it per calibration item gives every value
    /// [`GptqWork::observe`] needs (a graph input's value is the item itself). The model is read
    /// again rather than the plan's copy cloned: cloning the ONNX messages would link every
    /// message's `Clone` into the page's module.
    pub fn calibration_model(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        let edit = ModelEdit::open(bytes)?;
        let listed = |a: &String| {
            edit.graph.inputs.iter().any(|i| i.message.name.as_ref() == Some(a))
                || edit.graph.rest.output.iter().any(|o| o.name.as_ref() == Some(a))
        };
        let extra: Vec<String> = self.acts.iter().map(|a| a.name.clone()).filter(|a| !listed(a)).collect();
        crate::static_qdq::with_outputs(edit, Vec::new(), &extra)
    }

    /// The MatMuls quantized and those kept in float, with why.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The weights to quantize.
    pub fn weights(&self) -> usize {
        self.targets.len()
    }

    /// The MatMul of weight `i`, for progress lines.
    pub fn weight_label(&self, i: usize) -> String {
        matmul_label(&self.edit.graph.nodes[self.targets[i].node].message)
    }

    /// One calibration item's value of `tensor` (a name from [`GptqWork::activations`]; others
    /// are ignored). Each item is to be given once, in the reader's order.
    pub fn observe(&mut self, tensor: &str, shape: &[usize], values: &[f32]) -> Result<()> {
        if let Some(a) = self.acts.iter_mut().find(|a| a.name == tensor) {
            a.hessian.add(shape, values).map_err(|why| {
                QuantizeError::Calibration(format!("the calibration inputs do not fit: tensor '{tensor}' (a MatMul's A): {why}"))
            })?;
        }
        Ok(())
    }

    /// Quantizes weight `i` here (any order; each once).
    pub fn quantize(&mut self, i: usize) -> Result<()> {
        self.ready(i)?;
        let t = &self.targets[i];
        let label = self.weight_label(i);
        let done = quantize_weight(&label, &t.b_name, &t.values, t.k, t.n, self.acts[t.act].hessian.matrix(), &self.options)?;
        self.done[i] = Some(done);
        Ok(())
    }

    /// Whether weight `i`'s A has had calibration values, or why GPTQ cannot run on it.
    pub fn ready(&self, i: usize) -> Result<()> {
        let a = &self.acts[self.targets[i].act];
        if a.hessian.items == 0 {
            return Err(QuantizeError::Calibration(format!(
                "GPTQ needs calibration data: no calibration values reached {} (its A is '{}'); give calibration inputs for the model",
                self.weight_label(i),
                a.name
            )));
        }
        Ok(())
    }

    /// Weight `i` as a job for another worker ([`quantize_weight`]): its B's name, `[k, n]`,
    /// values, and its A's Hessian `[k, k]`.
    pub fn job(&self, i: usize) -> (&str, usize, usize, &[f32], &[f64]) {
        let t = &self.targets[i];
        (&t.b_name, t.k, t.n, &t.values, self.acts[t.act].hessian.matrix())
    }

    /// Weight `i` quantized elsewhere ([`quantize_weight`]'s result, through
    /// [`job_to_bytes`] / [`job_from_bytes`]).
    pub fn accept(&mut self, i: usize, encoded: Encoded, gptq: Option<f64>, rtn: Option<f64>) -> Result<()> {
        let t = &self.targets[i];
        let kb = t.k.div_ceil(self.options.block_size);
        let zp_bytes = (t.n * kb).div_ceil(2);
        let fits = encoded.packed.len() == t.n * kb * self.options.block_size / 2
            && encoded.scales.len() == t.n * kb
            && encoded.zero_points.as_ref().map_or(self.options.symmetric, |z| !self.options.symmetric && z.len() == zp_bytes);
        if !fits {
            return Err(QuantizeError::Weight { name: t.b_name.clone(), why: "a worker's encoding does not fit the weight".into() });
        }
        self.done[i] = Some((encoded, LayerError { matmul: self.weight_label(i), gptq, rtn }));
        Ok(())
    }

    /// The file: `(bytes, report, each weight's output error against round to nearest)`.
    pub fn finish(mut self) -> Result<(Vec<u8>, Report, Vec<LayerError>)> {
        for i in 0..self.targets.len() {
            if self.done[i].is_none() {
                self.quantize(i)?;
            }
        }
        let acts_count = self.acts.len();
        let GptqWork { options, mut edit, targets, done, report, .. } = self;
        let old: Vec<Kept<NodeProto>> = std::mem::take(&mut edit.graph.nodes);
        // (no hash maps of new types here: each would add its code to the page's module)
        let mut replaced = vec![false; old.len()];
        for t in &targets {
            replaced[t.node] = true;
        }
        let mut processed: Vec<usize> = Vec::new();
        let mut errors: Vec<Option<LayerError>> = vec![None; targets.len()];
        let mut removed_b = Vec::new();
        // ONNX Runtime's order: by A tensor (first seen), then the A's readers in graph order
        // (targets are in node order already)
        let targets_ref = &targets;
        let order: Vec<usize> = (0..acts_count).flat_map(|a| (0..targets_ref.len()).filter(move |&i| targets_ref[i].act == a)).collect();
        // get_initializer_share_num: the nodes that list B (once each), for each weight
        let mut still_reading: Vec<usize> =
            targets.iter().map(|t| old.iter().filter(|k| k.message.input.contains(&t.b_name)).count()).collect();
        let mut new_inits: Vec<Kept<TensorProto>> = Vec::new();
        let mut new_by_node: Vec<Option<NodeProto>> = (0..old.len()).map(|_| None).collect();
        for i in order {
            let t = &targets[i];
            let (enc, error) = done[i].clone().expect("every weight quantized above");
            errors[i] = Some(error);
            let n = &old[t.node].message;
            let bs = options.block_size;
            let kb = t.k.div_ceil(bs);
            let q_name = format!("{}_Q4G{bs}", t.b_name);
            let s_name = format!("{}_scale", t.b_name);
            let z_name = format!("{}_zp", t.b_name);
            let mut inputs = vec![n.input[0].clone(), q_name.clone(), s_name.clone()];
            let mut inits = vec![raw(s_name, DType::F32, &[t.n, kb], enc.scales.iter().flat_map(|v| v.to_le_bytes()).collect())];
            if let Some(z) = enc.zero_points {
                let cols = z.len() / t.n;
                inputs.push(z_name.clone());
                inits.push(raw(z_name, DType::U8, &[t.n, cols], z));
            }
            inits.push(raw(q_name, DType::U8, &[t.n, kb, bs / 2], enc.packed));
            // get_initializer_share_num before the node goes: B removed when this MatMul is its
            // last reader
            if still_reading[i] == 1 {
                removed_b.push(t.b_name.clone());
            }
            // the MatMuls that share this B read it no more after this one
            for (j, u) in targets.iter().enumerate() {
                if u.b_name == t.b_name {
                    still_reading[j] = still_reading[j].saturating_sub(1);
                }
            }
            // add_initializer skips a name already there
            for init in inits {
                let taken = |k: &Kept<TensorProto>| k.message.name == init.name;
                if !edit.graph.initializers.iter().any(taken) && !new_inits.iter().any(taken) {
                    new_inits.push(Kept::new(init));
                }
            }
            let name = match n.name.as_deref() {
                Some(s) if !s.is_empty() => format!("{s}_Q4"),
                _ => "_Q4".to_string(),
            };
            let mut m = node("MatMulNBits", inputs, n.output.clone(), &name);
            m.domain = Some("com.microsoft".into());
            // make_node(**kwargs) sorts the attributes by name
            m.attribute.extend([attr_int("K", t.k as i64), attr_int("N", t.n as i64)]);
            if options.accuracy_level > 0 {
                m.attribute.push(attr_int("accuracy_level", options.accuracy_level));
            }
            m.attribute.extend([attr_int("bits", 4), attr_int("block_size", bs as i64)]);
            new_by_node[t.node] = Some(m);
            processed.push(t.node);
        }
        // remove_node + add_node: the MatMulNBits nodes after the others, then sorted
        let unique_names = {
            let mut seen = HashSet::new();
            old.iter().all(|k| k.message.name.as_deref().is_some_and(|s| !s.is_empty() && seen.insert(s.to_string())))
        };
        let graph_inputs: Vec<String> = edit.graph.inputs.iter().filter_map(|i| i.message.name.clone()).collect();
        if unique_names {
            let mut nodes: Vec<Kept<NodeProto>> = old.into_iter().enumerate().filter(|(i, _)| !replaced[*i]).map(|(_, k)| k).collect();
            nodes.extend(processed.iter().filter_map(|&i| new_by_node[i].take()).map(Kept::new));
            edit.graph.nodes = nc_topological_sort(nodes, &graph_inputs)?;
        } else {
            // neural-compressor's sort keys nodes by name and would drop unnamed or same-named
            // ones: each MatMulNBits takes its MatMul's place instead
            edit.graph.nodes = old.into_iter().enumerate().map(|(i, k)| new_by_node[i].take().map_or(k, Kept::new)).collect();
        }
        edit.graph.initializers.retain(|t| !t.message.name.as_ref().is_some_and(|n| removed_b.contains(n)));
        edit.graph.initializers.extend(new_inits);
        Ok((edit.encode(), report, errors.into_iter().flatten().collect()))
    }
}

/// A tensor as `onnx.helper.make_tensor(name, type, dims, vals=bytes, raw=True)` writes it.
/// One weight's GPTQ and MatMulNBits encoding with its output errors against round to nearest:
/// B `[k, n]` and its A's Hessian `h` (as accumulated), `label` and `b_name` for messages. A pure
/// function of its arguments, so a pool worker gives the bytes the plan itself would. Not inlined:
/// the page's module calls it from the plan and from a pool worker's entry, and two inlined
/// copies of GPTQ would grow it by kilobytes.
#[inline(never)]
pub fn quantize_weight(
    label: &str,
    b_name: &str,
    w: &[f32],
    k: usize,
    n: usize,
    h: &[f64],
    o: &GptqOptions,
) -> Result<(Encoded, LayerError)> {
    let bad = |why: String| QuantizeError::Weight { name: b_name.to_string(), why };
    if w.len() != k * n || h.len() != k * k {
        return Err(bad(format!("{} values and a Hessian of {} for a [{k}, {n}] weight", w.len(), h.len())));
    }
    let bs = o.block_size;
    let q = gptq(w, k, n, h.to_vec(), o).map_err(|e| match e {
        QuantizeError::Calibration(why) => QuantizeError::Calibration(format!("{label}: {why}")),
        other => other,
    })?;
    let enc = encode(&q, k, n, bs, o.symmetric).map_err(bad)?;
    let rtn = encode(w, k, n, bs, o.symmetric).map_err(bad)?;
    let cheap = (k as f64) * (k as f64) * (n as f64) <= ERROR_BUDGET;
    let (gptq_error, rtn_error) = if cheap {
        let [g, r] = relative_errors(w, [&dequantize(&enc, k, n, bs), &dequantize(&rtn, k, n, bs)], h, k, n);
        (Some(g), Some(r))
    } else {
        (None, None)
    };
    Ok((enc, LayerError { matmul: label.to_string(), gptq: gptq_error, rtn: rtn_error }))
}

/// [`quantize_weight`]'s result as one buffer for the trip from a pool worker: packed codes,
/// scales, the two output errors (NaN: not computed), then the zero points when there are any
/// ([`crate::work::Encoded`]'s parts).
pub fn job_to_bytes(e: &Encoded, error: &LayerError) -> Vec<u8> {
    let errors: Vec<u8> = [error.gptq, error.rtn].iter().flat_map(|v| v.unwrap_or(f64::NAN).to_le_bytes()).collect();
    let mut parts = vec![e.packed.clone(), e.scales.iter().flat_map(|v| v.to_le_bytes()).collect(), errors];
    parts.extend(e.zero_points.clone());
    crate::work::Encoded { parts }.to_bytes()
}

/// What [`job_to_bytes`] wrote: the encoding (without its comparison codes) and the two errors.
pub fn job_from_bytes(bytes: &[u8]) -> Result<(Encoded, Option<f64>, Option<f64>)> {
    let mut parts = crate::work::Encoded::from_bytes(bytes)?.parts.into_iter();
    let damaged = || QuantizeError::Unsupported("a GPTQ weight from a worker is damaged".into());
    let (packed, scales, errors) = (parts.next(), parts.next(), parts.next());
    let (Some(packed), Some(scales), Some(errors)) = (packed, scales, errors) else { return Err(damaged()) };
    if scales.len() % 4 != 0 || errors.len() != 16 {
        return Err(damaged());
    }
    let scales = scales.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
    let error = |c: &[u8]| Some(f64::from_le_bytes(c.try_into().expect("8 bytes"))).filter(|v| !v.is_nan());
    let encoded = Encoded { packed, scales, zero_points: parts.next(), codes: Vec::new() };
    Ok((encoded, error(&errors[..8]), error(&errors[8..])))
}

fn raw(name: String, dtype: DType, dims: &[usize], raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(dtype.onnx_id()),
        name: Some(name),
        raw_data: Some(raw_data),
        ..Default::default()
    }
}

/// MatMulNBits' `(q − zp) · scale` of an encoding, back to `[k, n]`.
fn dequantize(e: &Encoded, k: usize, n: usize, block: usize) -> Vec<f32> {
    let kb = k.div_ceil(block);
    let mut w = vec![0.0f32; k * n];
    for c in 0..n {
        for r in 0..k {
            let b = r / block;
            let zp = match &e.zero_points {
                Some(z) => {
                    let i = c * kb + b;
                    f32::from((z[i / 2] >> (4 * (i % 2))) & 15)
                }
                None => 8.0,
            };
            w[r * n + c] = (f32::from(e.codes[(c * kb) * block + r]) - zp) * e.scales[c * kb + b];
        }
    }
    w
}

/// `tr(Eᵀ H E) / tr(Wᵀ H W)` with E = W − Ŵ, for two Ŵ (the denominator computed once).
fn relative_errors(w: &[f32], wq: [&[f32]; 2], h: &[f64], k: usize, n: usize) -> [f64; 2] {
    let (mut num, mut den) = ([0.0; 2], 0.0);
    let (mut x, mut e) = (vec![0.0; k], [vec![0.0; k], vec![0.0; k]]);
    for c in 0..n {
        for r in 0..k {
            x[r] = f64::from(w[r * n + c]);
            for (e, wq) in e.iter_mut().zip(wq) {
                e[r] = x[r] - f64::from(wq[r * n + c]);
            }
        }
        for i in 0..k {
            let row = &h[i * k..(i + 1) * k];
            let (mut he0, mut he1, mut hx) = (0.0, 0.0, 0.0);
            for j in 0..k {
                he0 += row[j] * e[0][j];
                he1 += row[j] * e[1][j];
                hx += row[j] * x[j];
            }
            num[0] += e[0][i] * he0;
            num[1] += e[1][i] * he1;
            den += x[i] * hx;
        }
    }
    if den > 0.0 {
        [num[0] / den, num[1] / den]
    } else {
        [0.0; 2]
    }
}

/// neural-compressor's `ONNXModel.topological_sort` (`onnx_model.py`): breadth-first from the
/// readers of the graph inputs and the nodes that read no node's output nor a graph input, a node
/// waiting until all its producers are placed. It tells nodes apart by name; this is called only
/// when the names are unique, so a node's index stands for its name.
fn nc_topological_sort(nodes: Vec<Kept<NodeProto>>, graph_inputs: &[String]) -> Result<Vec<Kept<NodeProto>>> {
    let msg = |i: usize| &nodes[i].message;
    // value name → the nodes reading it; → the node making it (last one wins, as in its dict)
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut producer: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, k) in nodes.iter().enumerate() {
        for inp in k.message.input.iter().filter(|s| !s.trim().is_empty()) {
            readers.entry(inp.as_str()).or_default().push(i);
        }
        for out in k.message.output.iter().filter(|s| !s.trim().is_empty()) {
            producer.insert(out.as_str(), vec![i]);
        }
    }
    let is_input = |s: &str| graph_inputs.iter().any(|g| g == s);
    let mut q: VecDeque<usize> = VecDeque::new();
    let mut wait: VecDeque<usize> = VecDeque::new();
    for g in graph_inputs {
        q.extend(readers.get(g.as_str()).into_iter().flatten());
    }
    for i in 0..nodes.len() {
        if msg(i).input.iter().all(|s| !producer.contains_key(s.as_str()) && !is_input(s)) {
            q.push_back(i);
        }
    }
    let mut placed: Vec<usize> = Vec::new();
    let mut is_placed = vec![false; nodes.len()];
    let mut stalled = 0;
    while let Some(i) = q.pop_front() {
        let ready = msg(i).input.iter().filter_map(|s| producer.get(s.as_str())).flatten().all(|&p| is_placed[p]);
        if !ready {
            if !wait.contains(&i) {
                wait.push_back(i);
            }
        } else {
            stalled = 0;
            if !is_placed[i] {
                is_placed[i] = true;
                placed.push(i);
            }
            for out in &msg(i).output {
                for &r in readers.get(out.as_str()).into_iter().flatten() {
                    if !is_placed[r] && !q.contains(&r) {
                        q.push_back(r);
                    }
                }
            }
        }
        if q.is_empty() && !wait.is_empty() {
            // a whole pass over the waiting nodes placing none means a cycle (Python loops forever)
            stalled += 1;
            if stalled > 1 {
                break;
            }
            q = std::mem::take(&mut wait);
        }
    }
    if placed.len() != nodes.len() {
        return Err(QuantizeError::Unsupported(
            "the graph is not a DAG of its inputs and initializers (a node waits for a value nothing makes)".into(),
        ));
    }
    let mut slots: Vec<Option<Kept<NodeProto>>> = nodes.into_iter().map(Some).collect();
    Ok(placed.into_iter().map(|i| slots[i].take().expect("each node placed once")).collect())
}
