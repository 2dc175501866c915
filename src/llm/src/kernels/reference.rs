//! The scalar definitions the SIMD128 kernels must equal bit for bit (see `mod.rs`). Each matrix
//! product's float operations are ggml's wasm SIMD128 kernels' (`ggml/src/ggml-cpu/arch/wasm/quants.c`),
//! written out lane by lane; their integer sums are exact, so only which values a lane holds matters.

use crate::blocks::{BlockIq4Xs, BlockQ4_0, BlockQ8Min};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
use crate::blocks::{BlockQ8_0, QK};
use half::f16;

/// Dot product of two f32 slices in eight interleaved partial sums (the shape of ggml's AVX
/// `ggml_vec_dot_f32`), then added pairwise.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut tail = 0f32;
    for i in chunks * 8..a.len() {
        tail += a[i] * b[i];
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// y[r] = dot(row r of `w`, x) for every row (`w` is y.len() rows of x.len()).
pub fn f32_matvec(w: &[f32], x: &[f32], y: &mut [f32]) {
    for (r, out) in y.iter_mut().enumerate() {
        *out = dot(&w[r * x.len()..(r + 1) * x.len()], x);
    }
}

/// Y = W X over a tile: `w` rows of `n`, `xs` tokens of `n`; token t's output of row r at
/// `ys[t * stride + r]`, each [`f32_matvec`]'s (the matrix kernels' definition: a tile is the
/// matrix-vector product token by token, so a prompt's logits are the token-by-token ones).
pub fn f32_matmul(w: &[f32], xs: &[f32], n: usize, ys: &mut [f32], stride: usize) {
    let rows = w.len() / n;
    for (t, x) in xs.chunks_exact(n).enumerate() {
        f32_matvec(w, x, &mut ys[t * stride..t * stride + rows]);
    }
}

/// One attention head's scores: `scores[j] = dot(key j, q) · scale`, key j being
/// `keys[j * stride..][..q.len()]` (a KV cache's rows, one KV head's slice of each).
pub fn attn_scores(keys: &[f32], stride: usize, q: &[f32], scale: f32, scores: &mut [f32]) {
    for (j, s) in scores.iter_mut().enumerate() {
        *s = dot(&keys[j * stride..j * stride + q.len()], q) * scale;
    }
}

/// One attention head's output: `out = Σ_j p[j] · value j`, value j being
/// `values[j * stride..][..out.len()]`, each element added in j order from 0.
pub fn attn_values(p: &[f32], values: &[f32], stride: usize, out: &mut [f32]) {
    let hd = out.len();
    out.fill(0.0);
    for (j, &pj) in p.iter().enumerate() {
        for (o, &v) in out.iter_mut().zip(&values[j * stride..j * stride + hd]) {
            *o += pj * v;
        }
    }
}

/// A softmax's exponentials in place: each value v becomes exp(v − max) (`f32::exp`); returns
/// their sum, added in order in f64 (`ggml_compute_forward_soft_max_f32`'s `ggml_float`).
pub fn exp_shifted(v: &mut [f32], max: f32) -> f64 {
    let mut sum = 0f64;
    for s in v.iter_mut() {
        *s = (*s - max).exp();
        sum += *s as f64;
    }
    sum
}

/// SwiGLU in place: gate = gate / (1 + exp(−gate)) · up (`ggml_swiglu_split`).
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// `quantize_row_q8_0` as ggml-cpu's x86 AVX2 body rounds (the reference logits' build): d = amax / 127
/// stored as f16, codes x · (127 / amax) rounded to nearest, ties to even (`_mm256_round_ps`), saturated.
/// (ggml's wasm body truncates instead; the fixtures come from x86.) `x.len()` a multiple of 32.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<BlockQ8_0>) {
    out.clear();
    out.extend(x.chunks_exact(QK).map(|v| {
        let amax = v.iter().fold(0f32, |m, &a| m.max(a.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut qs = [0i8; QK];
        for (q, &a) in qs.iter_mut().zip(v) {
            *q = (a * id).round_ties_even() as i8;
        }
        BlockQ8_0 { d: f16::from_f32(d).to_f32(), qs }
    }));
}

/// `quantize_row_q8_K_ref`: the scale from the value of largest magnitude (the first, its sign
/// kept), codes rounded to nearest even (`nearest_int`) and capped at 127, d = 1/iscale, and the
/// sums of each 16 codes. `x.len()` a multiple of 256.
pub fn quantize_q8_k(x: &[f32], out: &mut Vec<BlockQ8K>) {
    out.clear();
    out.extend(x.chunks_exact(QK_K).map(|v| {
        let (mut amax, mut max) = (0f32, 0f32);
        for &a in v {
            if a.abs() > amax {
                amax = a.abs();
                max = a;
            }
        }
        let mut b = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
        if amax == 0.0 {
            return b;
        }
        let iscale = -127.0 / max;
        for (q, &a) in b.qs.iter_mut().zip(v) {
            *q = ((iscale * a).round_ties_even() as i32).min(127) as i8;
        }
        for (s, chunk) in b.bsums.iter_mut().zip(b.qs.chunks(16)) {
            *s = chunk.iter().map(|&q| q as i16).sum();
        }
        b.d = 1.0 / iscale;
        b
    }));
}

/// ggml's wasm lane map of a 32-value block: lane l holds values j with j mod 8 ∈ {2l, 2l + 1}
/// (`i32x4_dot_i16x8` of four i16x8 pieces, added).
fn lane4(j: usize) -> usize {
    (j % 8) / 2
}

/// Four lanes accumulated block by block as acc += f32(sum) · (d_w · d_x) — a multiply, then an
/// add (wasm has no FMA) — and added ((0 + 1) + 2) + 3 (`ggml_vec_dot_q8_0_q8_0`, `ggml_vec_dot_q4_0_q8_0`).
fn blocks_dot(n: usize, mut block: impl FnMut(usize) -> (f32, [i32; 4])) -> f32 {
    let mut acc = [0f32; 4];
    for b in 0..n {
        let (d, s) = block(b);
        for (a, s) in acc.iter_mut().zip(s) {
            *a += s as f32 * d;
        }
    }
    ((acc[0] + acc[1]) + acc[2]) + acc[3]
}

/// One row of Q8_0 × Q8_0.
pub fn q8_0_dot(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    blocks_dot(x.len(), |b| {
        let mut s = [0i32; 4];
        for j in 0..QK {
            s[lane4(j)] += w[b].qs[j] as i32 * x[b].qs[j] as i32;
        }
        (w[b].d * x[b].d, s)
    })
}

/// One row of Q4_1 or Q5_1 × Q8_1 (`ggml_vec_dot_q4_1_q8_1`, `ggml_vec_dot_q5_1_q8_1`, wasm): Q8_0's
/// four lanes, and beside them summs += m · s per block; at the end ((0 + 1) + 2) + 3, + summs.
pub fn q8_1_dot(w: &[BlockQ8Min], x: &[BlockQ8_0], s: &[f32]) -> f32 {
    let mut acc = [0f32; 4];
    let mut summs = 0f32;
    for b in 0..x.len() {
        summs += w[b].m * s[b];
        let mut lanes = [0i32; 4];
        for j in 0..QK {
            lanes[lane4(j)] += w[b].qs[j] as i32 * x[b].qs[j] as i32;
        }
        let d = w[b].d * x[b].d;
        for (a, l) in acc.iter_mut().zip(lanes) {
            *a += l as f32 * d;
        }
    }
    ((acc[0] + acc[1]) + acc[2]) + acc[3] + summs
}

/// One row of Q4_0 × Q8_0: the nibbles minus 8 (value j < 16 the low nibble of byte j, value
/// j ≥ 16 the high nibble of byte j − 16).
pub fn q4_0_dot(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    blocks_dot(x.len(), |b| {
        let mut s = [0i32; 4];
        for j in 0..QK {
            let q = if j < 16 { w[b].qs[j] & 0x0f } else { w[b].qs[j - 16] >> 4 };
            s[lane4(j)] += (q as i32 - 8) * x[b].qs[j] as i32;
        }
        (w[b].d * x[b].d, s)
    })
}

/// One row of Q4_K or Q5_K × Q8_K (`ggml_vec_dot_q4_K_q8_K`, `ggml_vec_dot_q5_K_q8_K`, wasm): per
/// super-block the mins' integer sum subtracted, sumf −= dmin · Σ min·bsum, then
/// sumf += d · Σ scale·q·x, both sums exact integers.
pub fn q4_k_dot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w.iter().zip(x) {
        let mins: i32 = (0..8).map(|k| (bx.bsums[2 * k] as i32 + bx.bsums[2 * k + 1] as i32) * bw.mins[k] as i32).sum();
        sumf -= bx.d * bw.dmin * mins as f32;
        let sumi: i32 = (0..QK_K).map(|e| bw.scales[e / 32] as i32 * bw.q[e] as i32 * bx.qs[e] as i32).sum();
        sumf += bx.d * bw.d * sumi as f32;
    }
    sumf
}

/// Σ scale·q·x of a Q6_K or Q3_K super-block in eight lanes, lane l holding the values e with
/// e mod 8 = l (ggml's wasm lanes for both).
fn lanes8(bw: &BlockQ6K, bx: &BlockQ8K) -> [i32; 8] {
    let mut lanes = [0i32; 8];
    for e in 0..QK_K {
        lanes[e % 8] += bw.scales[e / 16] as i32 * bw.q[e] as i32 * bx.qs[e] as i32;
    }
    lanes
}

/// One row of Q6_K × Q8_K (`ggml_vec_dot_q6_K_q8_K`, wasm): eight lanes ([`lanes8`]); per
/// super-block sums[l] += d · lane, then the eight added in order.
pub fn q6_k_dot(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    let mut sums = [0f32; 8];
    for (bw, bx) in w.iter().zip(x) {
        let lanes = lanes8(bw, bx);
        let d = bw.d * bx.d;
        for (s, &l) in sums.iter_mut().zip(&lanes) {
            *s += d * l as f32;
        }
    }
    sums.iter().fold(0f32, |a, &s| a + s)
}

/// One row of Q2_K × Q8_K (`ggml_vec_dot_q2_K_q8_K`, wasm): per super-block two exact integer
/// sums, isum = Σ (scale & 15)·q·x (the block's scaled codes times x) and summs =
/// Σ (scale >> 4)·bsum over the 16 sub-blocks, then sumf += dall·isum − dmin·summs (two
/// products, their difference, then the add).
pub fn q2_k_dot(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w.iter().zip(x) {
        let summs: i32 = (0..QK_K / 16).map(|g| (bw.scales[g] >> 4) as i32 * bx.bsums[g] as i32).sum();
        let isum: i32 = (0..QK_K).map(|e| bw.q[e] as i32 * bx.qs[e] as i32).sum();
        let (dall, dmin) = (bw.d * bx.d, bw.dmin * bx.d);
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// One row of Q3_K × Q8_K (`ggml_vec_dot_q3_K_q8_K`, wasm): eight integer lanes ([`lanes8`]);
/// per super-block four float lanes sums[l] += (d · lane l + d · lane l + 4); at the end each
/// lane plus 0 (ggml adds the four unused lanes of its eight, +0.0, which turns a −0 into +0),
/// added ((0 + 1) + 2) + 3.
pub fn q3_k_dot(w: &[BlockQ3K], x: &[BlockQ8K]) -> f32 {
    let mut sums = [0f32; 4];
    for (bw, bx) in w.iter().zip(x) {
        let lanes = lanes8(bw, bx);
        let d = bw.d * bx.d;
        for (l, s) in sums.iter_mut().enumerate() {
            *s += lanes[l] as f32 * d + lanes[l + 4] as f32 * d;
        }
    }
    let s = sums.map(|v| v + 0.0);
    ((s[0] + s[1]) + s[2]) + s[3]
}

/// One row of Q5_K × Q8_K: Q4_K's ([`q4_k_dot`]) on codes 0..31.
pub fn q5_k_dot(w: &[BlockQ5K], x: &[BlockQ8K]) -> f32 {
    q4_k_dot(w, x)
}

/// One row of IQ4_XS × Q8_K (`ggml_vec_dot_iq4_xs_q8_K`, as its x86 body groups it): per
/// super-block the exact isum = Σ (ls − 32)·level·x, then sumf += (d · d_x) · isum.
pub fn iq4_xs_dot(w: &[BlockIq4Xs], x: &[BlockQ8K]) -> f32 {
    let mut sumf = 0f32;
    for (bw, bx) in w.iter().zip(x) {
        let isum: i32 = (0..QK_K).map(|e| bw.scales[e / 32] as i32 * bw.q[e] as i32 * bx.qs[e] as i32).sum();
        sumf += bw.d * bx.d * isum as f32;
    }
    sumf
}

/// y[r] = `dot`(row r of `w`, x) for every row (`w` is y.len() rows of x.len() blocks).
fn rows<W, X>(w: &[W], x: &[X], y: &mut [f32], dot: fn(&[W], &[X]) -> f32) {
    let n = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        *out = dot(&w[r * n..(r + 1) * n], x);
    }
}

pub fn q8_0_matvec(w: &[BlockQ8_0], x: &[BlockQ8_0], y: &mut [f32]) {
    rows(w, x, y, q8_0_dot)
}

pub fn q4_0_matvec(w: &[BlockQ4_0], x: &[BlockQ8_0], y: &mut [f32]) {
    rows(w, x, y, q4_0_dot)
}

pub fn q4_k_matvec(w: &[BlockQ4K], x: &[BlockQ8K], y: &mut [f32]) {
    rows(w, x, y, q4_k_dot)
}

pub fn q6_k_matvec(w: &[BlockQ6K], x: &[BlockQ8K], y: &mut [f32]) {
    rows(w, x, y, q6_k_dot)
}

pub fn q2_k_matvec(w: &[BlockQ2K], x: &[BlockQ8K], y: &mut [f32]) {
    rows(w, x, y, q2_k_dot)
}

pub fn q3_k_matvec(w: &[BlockQ3K], x: &[BlockQ8K], y: &mut [f32]) {
    rows(w, x, y, q3_k_dot)
}

pub fn q5_k_matvec(w: &[BlockQ5K], x: &[BlockQ8K], y: &mut [f32]) {
    rows(w, x, y, q5_k_dot)
}

pub fn q8_1_matvec(w: &[BlockQ8Min], x: &[BlockQ8_0], s: &[f32], y: &mut [f32]) {
    let n = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        *out = q8_1_dot(&w[r * n..(r + 1) * n], x, s);
    }
}

pub fn iq4_xs_matvec(w: &[BlockIq4Xs], x: &[BlockQ8K], y: &mut [f32]) {
    rows(w, x, y, iq4_xs_dot)
}

/// A block-quantized matrix-vector product over a tile of tokens: token t's outputs (`rows` of
/// them) into `ys[t * stride..]`, each `matvec`'s of that token (the definition of every
/// `*_matmul`: the tile kernels must equal the matrix-vector kernels token by token).
fn by_token<X>(rows: usize, xs: &[Vec<X>], ys: &mut [f32], stride: usize, mut matvec: impl FnMut(&[X], &mut [f32])) {
    for (t, x) in xs.iter().enumerate() {
        matvec(x, &mut ys[t * stride..t * stride + rows]);
    }
}

/// The rows of a block matrix `w` against activations of `xs[0].len()` blocks (0 without tokens).
fn rows_of<W, X>(w: &[W], xs: &[Vec<X>]) -> usize {
    xs.first().map_or(0, |x| if x.is_empty() { 0 } else { w.len() / x.len() })
}

pub fn q8_0_matmul(w: &[BlockQ8_0], xs: &[Vec<BlockQ8_0>], ys: &mut [f32], stride: usize) {
    by_token(rows_of(w, xs), xs, ys, stride, |x, y| q8_0_matvec(w, x, y))
}

pub fn q4_k_matmul(w: &[BlockQ4K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    by_token(rows_of(w, xs), xs, ys, stride, |x, y| q4_k_matvec(w, x, y))
}

pub fn q5_k_matmul(w: &[BlockQ5K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    by_token(rows_of(w, xs), xs, ys, stride, |x, y| q5_k_matvec(w, x, y))
}

pub fn q6_k_matmul(w: &[BlockQ6K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    by_token(rows_of(w, xs), xs, ys, stride, |x, y| q6_k_matvec(w, x, y))
}

pub fn q3_k_matmul(w: &[BlockQ3K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    by_token(rows_of(w, xs), xs, ys, stride, |x, y| q3_k_matvec(w, x, y))
}

pub fn q2_k_matmul(w: &[BlockQ2K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    by_token(rows_of(w, xs), xs, ys, stride, |x, y| q2_k_matvec(w, x, y))
}

/// RMSNorm times its weight: `ggml_compute_forward_rms_norm_f32` (sum of squares in double,
/// mean and scale in float), then `ggml_mul`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = (v * scale) * w;
    }
}

/// [`rms_norm`] of each row of `x` (rows of `w.len()`).
pub fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let e = w.len().max(1);
    for (xr, o) in x.chunks(e).zip(out.chunks_mut(e)) {
        rms_norm(xr, w, eps, o);
    }
}
