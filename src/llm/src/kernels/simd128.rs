//! The SIMD128 kernels: each equals its `reference.rs` definition bit for bit — integer sums are
//! exact whatever their grouping, so only the lane a value lands in matters, and every float
//! operation is the reference's, lane for lane, in the same order.
//!
//! The matrix products take four rows at a time: the activation block is loaded (and widened to
//! i16) once for four weight rows, and the four rows' accumulators are independent chains.
//!
//! Built with relaxed SIMD too (`+relaxed-simd`, www/pkg-lm-relaxed), the products whose weight
//! codes are non-negative 7-bit bytes and whose integer lanes are free (Q4_K, Q5_K, Q2_K: only a
//! super-block's total is converted to f32) take their sub-block sums from
//! `i16x8.relaxed_dot_i8x16_i7x16_s` ([`sub_dot`]), exact on every engine, so that build's
//! outputs are this file's, bit for bit. So do Q6_K's and Q3_K's tiles (a prompt's path,
//! `tiles6`): their codes are signed and their lanes fixed, so both operands' bytes are put in
//! an order whose i16 pairs share a lane, and the codes offset to non-negative, the offset times
//! the activations' pair sums subtracted, exactly. Not the others: Q8_0's four lanes each become
//! an f32 partial sum (ggml's grouping, values j with j mod 8 ∈ {2l, 2l + 1} in lane l), which
//! the relaxed dot's grouping (four adjacent bytes per lane) would change, and its weights are
//! signed (ggml's AVX2 sign trick costs a sign per weight and token, more than the dot saves);
//! IQ4_XS's codes are signed and its lanes fixed too. The one exception to "bit for
//! bit" is the relaxed build's F32 matrix products ([`f32_matvec`], [`f32_matmul`]) while
//! [`super::FusedF32`] is on (text generation only): they take `f32x4.relaxed_madd` ([`mac`]),
//! which V8 fuses where the CPU has FMA3 (one rounding, as llama.cpp's x86 build does), so they
//! differ from `reference.rs` by float rounding — held to it within the bound of two sums of the
//! same products in the same order (src/llm/tests/kernels.rs) and the logits to llama.cpp's
//! (src/llm/tests/logits.rs). Their tile and matrix-vector kernels take the same operations per
//! output, so a prompt's outputs stay the token-by-token ones. Every other float operation here
//! is the reference's, in its order.

use crate::blocks::{BlockIq4Xs, BlockQ8Min, BlockQ8_0, QK};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
use core::arch::wasm32::*;
use half::f16;

/// Rows a matrix kernel takes together.
const R: usize = 4;

/// Two f32x4 accumulators are ggml's eight lanes: lanes 0–3 and 4–7 ([`dot_mac`] unfused).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_mac::<false>(a, b)
}

/// ((0+4) + (1+5)) + ((2+6) + (3+7)), as the reference adds them, then the tail.
#[inline(always)]
fn finish_dot(lo: v128, hi: v128, a: &[f32], b: &[f32]) -> f32 {
    let mut tail = 0f32;
    for (x, y) in a.iter().zip(b) {
        tail += x * y;
    }
    let r = f32x4_add(lo, hi);
    ((f32x4_extract_lane::<0>(r) + f32x4_extract_lane::<1>(r)) + (f32x4_extract_lane::<2>(r) + f32x4_extract_lane::<3>(r))) + tail
}

/// `acc + a·b` of the F32 matrix products: a multiply then an add (each rounded, the
/// reference's), or with `FUSED` in the relaxed-SIMD build `f32x4.relaxed_madd`, which the engine
/// may fuse (V8 emits `vfmadd231ps` where the CPU has FMA3: one rounding, an operation fewer;
/// [`super::FusedF32`] says when). Those products then differ from the reference by float
/// rounding (tested within `2·(n + 1)·ε·Σ|a·b|`); the plain build ignores `FUSED`.
#[inline(always)]
fn mac<const FUSED: bool>(acc: v128, a: v128, b: v128) -> v128 {
    // Stable since Rust 1.82; the workspace's MSRV (1.80) is the plain build's, which never
    // compiles this line.
    #[cfg(target_feature = "relaxed-simd")]
    #[allow(clippy::incompatible_msrv)]
    if FUSED {
        return f32x4_relaxed_madd(a, b, acc);
    }
    f32x4_add(acc, f32x4_mul(a, b))
}

/// [`dot`] with [`mac`]: [`f32_matvec`]'s rows left over (so that each of its outputs takes the
/// same operations whichever group its row falls in).
fn dot_mac<const FUSED: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let chunks = n / 8;
    let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for c in 0..chunks {
        // SAFETY: c·8 + 8 ≤ n ≤ both lengths; v128 loads have no alignment requirement.
        let (a0, a1, b0, b1) = unsafe {
            let (pa, pb) = (a.as_ptr().add(c * 8) as *const v128, b.as_ptr().add(c * 8) as *const v128);
            (v128_load(pa), v128_load(pa.add(1)), v128_load(pb), v128_load(pb.add(1)))
        };
        lo = mac::<FUSED>(lo, a0, b0);
        hi = mac::<FUSED>(hi, a1, b1);
    }
    finish_dot(lo, hi, &a[chunks * 8..n], &b[chunks * 8..n])
}

/// Whether the F32 products fuse ([`super::FusedF32`]; only the relaxed build reads it).
#[inline(always)]
fn fused() -> bool {
    cfg!(target_feature = "relaxed-simd") && super::FusedF32::is_on()
}

pub fn f32_matvec(w: &[f32], x: &[f32], y: &mut [f32]) {
    if fused() {
        f32_matvec_with::<true>(w, x, y)
    } else {
        f32_matvec_with::<false>(w, x, y)
    }
}

/// Four rows of `dot` sharing the loads of x (each chunk's products by [`mac`]).
#[inline(always)]
fn f32_matvec_with<const FUSED: bool>(w: &[f32], x: &[f32], y: &mut [f32]) {
    let n = x.len();
    assert!(w.len() >= y.len() * n, "f32_matvec: {} weights for {} rows of {n}", w.len(), y.len());
    let chunks = n / 8;
    let full = y.len() / R * R;
    for r in (0..full).step_by(R) {
        let (mut lo, mut hi) = ([f32x4_splat(0.0); R], [f32x4_splat(0.0); R]);
        for c in 0..chunks {
            // SAFETY: (r + k)·n + c·8 + 8 ≤ rows·n ≤ w.len() and c·8 + 8 ≤ n = x.len() (asserted).
            unsafe {
                let px = x.as_ptr().add(c * 8) as *const v128;
                let (x0, x1) = (v128_load(px), v128_load(px.add(1)));
                for k in 0..R {
                    let pw = w.as_ptr().add((r + k) * n + c * 8) as *const v128;
                    lo[k] = mac::<FUSED>(lo[k], v128_load(pw), x0);
                    hi[k] = mac::<FUSED>(hi[k], v128_load(pw.add(1)), x1);
                }
            }
        }
        for k in 0..R {
            let row = &w[(r + k) * n..(r + k + 1) * n];
            y[r + k] = finish_dot(lo[k], hi[k], &row[chunks * 8..], &x[chunks * 8..]);
        }
    }
    for r in full..y.len() {
        y[r] = dot_mac::<FUSED>(&w[r * n..(r + 1) * n], x);
    }
}

/// Tokens a tile kernel takes together (with [`R`] rows).
const T: usize = 2;

/// [`f32_matvec`] of several tokens: `K` rows × `TK` tokens at a time, each weight vector loaded
/// once for the tokens and each token's once for the rows. An output's two f32x4 accumulators
/// (ggml's lanes 0–3 and 4–7) are independent chains, so the tile runs lanes 0–3 of every chunk,
/// then lanes 4–7 — `K·TK` accumulators at a time, in registers — each chain still added chunk
/// by chunk in order, as [`dot`]'s.
pub fn f32_matmul(w: &[f32], xs: &[f32], n: usize, ys: &mut [f32], stride: usize) {
    if fused() {
        f32_matmul_with::<true>(w, xs, n, ys, stride)
    } else {
        f32_matmul_with::<false>(w, xs, n, ys, stride)
    }
}

#[inline(always)]
fn f32_matmul_with<const FUSED: bool>(w: &[f32], xs: &[f32], n: usize, ys: &mut [f32], stride: usize) {
    let (rows, tokens) = (w.len() / n, xs.len() / n);
    assert!(tokens == 0 || (tokens - 1) * stride + rows <= ys.len(), "f32_matmul: {} outputs for {tokens} tokens of {rows} rows", ys.len());
    let (full_r, full_t) = (rows / R * R, tokens / T * T);
    for r in (0..full_r).step_by(R) {
        for t in (0..full_t).step_by(T) {
            f32_tile::<R, T, FUSED>(w, xs, n, r, t, ys, stride);
        }
    }
    for r in full_r..rows {
        for t in 0..full_t {
            f32_tile::<1, 1, FUSED>(w, xs, n, r, t, ys, stride);
        }
    }
    // A token left over (a generated one): the matrix-vector kernel.
    for t in full_t..tokens {
        f32_matvec_with::<FUSED>(w, &xs[t * n..(t + 1) * n], &mut ys[t * stride..t * stride + rows]);
    }
}

/// Rows r..r + K times tokens t..t + TK (see [`f32_matmul`]; the caller keeps them in bounds).
#[inline(always)]
fn f32_tile<const K: usize, const TK: usize, const FUSED: bool>(
    w: &[f32],
    xs: &[f32],
    n: usize,
    r: usize,
    t: usize,
    ys: &mut [f32],
    stride: usize,
) {
    let chunks = n / 8;
    assert!((r + K) * n <= w.len() && (t + TK) * n <= xs.len());
    let half = |off: usize| {
        let mut acc = [[f32x4_splat(0.0); TK]; K];
        for c in 0..chunks {
            // SAFETY: (r + k)·n + c·8 + off + 4 ≤ (r + K)·n ≤ w.len(), the same for xs (asserted).
            unsafe {
                let xv: [v128; TK] = core::array::from_fn(|j| v128_load(xs.as_ptr().add((t + j) * n + c * 8 + off) as *const v128));
                for (k, row_acc) in acc.iter_mut().enumerate() {
                    let wv = v128_load(w.as_ptr().add((r + k) * n + c * 8 + off) as *const v128);
                    for (a, &x) in row_acc.iter_mut().zip(&xv) {
                        *a = mac::<FUSED>(*a, wv, x);
                    }
                }
            }
        }
        acc
    };
    let (lo, hi) = (half(0), half(4));
    for k in 0..K {
        let row = &w[(r + k) * n..(r + k + 1) * n];
        for j in 0..TK {
            let x = &xs[(t + j) * n..(t + j + 1) * n];
            ys[(t + j) * stride + r + k] = finish_dot(lo[k][j], hi[k][j], &row[chunks * 8..], &x[chunks * 8..]);
        }
    }
}

/// [`dot`] · `scale` of four keys at a time against `q`: each key's two f32x4 accumulators as
/// [`dot`]'s, then the four keys' lanes transposed so that [`finish_dot`]'s additions
/// ((0 + 1) + (2 + 3)) + tail, and the scaling, run once for the four.
pub fn attn_scores(keys: &[f32], stride: usize, q: &[f32], scale: f32, scores: &mut [f32]) {
    let (hd, n) = (q.len(), scores.len());
    if n == 0 {
        return;
    }
    assert!((n - 1) * stride + hd <= keys.len(), "attn_scores: {} values for {n} keys of {hd} at {stride}", keys.len());
    let chunks = hd / 8;
    let full = n / 4 * 4;
    for j0 in (0..full).step_by(4) {
        let (mut lo, mut hi) = ([f32x4_splat(0.0); 4], [f32x4_splat(0.0); 4]);
        for c in 0..chunks {
            // SAFETY: c·8 + 8 ≤ hd = q.len(), and (j0 + i)·stride + c·8 + 8 ≤ (n − 1)·stride + hd ≤ keys.len() (asserted).
            unsafe {
                let pq = q.as_ptr().add(c * 8) as *const v128;
                let (q0, q1) = (v128_load(pq), v128_load(pq.add(1)));
                for i in 0..4 {
                    let pk = keys.as_ptr().add((j0 + i) * stride + c * 8) as *const v128;
                    lo[i] = f32x4_add(lo[i], f32x4_mul(v128_load(pk), q0));
                    hi[i] = f32x4_add(hi[i], f32x4_mul(v128_load(pk.add(1)), q1));
                }
            }
        }
        let tail: [f32; 4] = core::array::from_fn(|i| {
            let k = &keys[(j0 + i) * stride + chunks * 8..(j0 + i) * stride + hd];
            k.iter().zip(&q[chunks * 8..]).fold(0f32, |t, (a, b)| t + a * b)
        });
        let r: [v128; 4] = core::array::from_fn(|i| f32x4_add(lo[i], hi[i]));
        // e_l: lane l of each key's r.
        let (a, b) = (i32x4_shuffle::<0, 4, 1, 5>(r[0], r[1]), i32x4_shuffle::<0, 4, 1, 5>(r[2], r[3]));
        let (c, d) = (i32x4_shuffle::<2, 6, 3, 7>(r[0], r[1]), i32x4_shuffle::<2, 6, 3, 7>(r[2], r[3]));
        let (e0, e1) = (i64x2_shuffle::<0, 2>(a, b), i64x2_shuffle::<1, 3>(a, b));
        let (e2, e3) = (i64x2_shuffle::<0, 2>(c, d), i64x2_shuffle::<1, 3>(c, d));
        let sum = f32x4_add(f32x4_add(f32x4_add(e0, e1), f32x4_add(e2, e3)), f32x4(tail[0], tail[1], tail[2], tail[3]));
        // SAFETY: a 16-byte store into scores j0..j0 + 4 (j0 + 4 ≤ n).
        unsafe { v128_store(scores.as_mut_ptr().add(j0) as *mut v128, f32x4_mul(sum, f32x4_splat(scale))) };
    }
    for j in full..n {
        scores[j] = dot(&keys[j * stride..j * stride + hd], q) * scale;
    }
}

/// The reference's `attn_values`, 16 (then 4) outputs at a time held in registers over the keys.
pub fn attn_values(p: &[f32], values: &[f32], stride: usize, out: &mut [f32]) {
    let (hd, n) = (out.len(), p.len());
    if n == 0 {
        out.fill(0.0);
        return;
    }
    assert!((n - 1) * stride + hd <= values.len(), "attn_values: {} values for {n} rows of {hd} at {stride}", values.len());
    let mut d0 = 0;
    while d0 + 16 <= hd {
        let mut acc = [f32x4_splat(0.0); 4];
        for (j, &pj) in p.iter().enumerate() {
            let pv = f32x4_splat(pj);
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: j·stride + d0 + 4i + 4 ≤ (n − 1)·stride + hd ≤ values.len() (asserted).
                *a = f32x4_add(*a, f32x4_mul(pv, unsafe { v128_load(values.as_ptr().add(j * stride + d0 + 4 * i) as *const v128) }));
            }
        }
        for (i, a) in acc.iter().enumerate() {
            // SAFETY: a 16-byte store into out[d0 + 4i..d0 + 4i + 4], within hd.
            unsafe { v128_store(out.as_mut_ptr().add(d0 + 4 * i) as *mut v128, *a) };
        }
        d0 += 16;
    }
    while d0 + 4 <= hd {
        let mut acc = f32x4_splat(0.0);
        for (j, &pj) in p.iter().enumerate() {
            // SAFETY: as above, j·stride + d0 + 4 ≤ values.len().
            acc = f32x4_add(acc, f32x4_mul(f32x4_splat(pj), unsafe { v128_load(values.as_ptr().add(j * stride + d0) as *const v128) }));
        }
        // SAFETY: a 16-byte store into out[d0..d0 + 4].
        unsafe { v128_store(out.as_mut_ptr().add(d0) as *mut v128, acc) };
        d0 += 4;
    }
    for (d, o) in out.iter_mut().enumerate().skip(d0) {
        *o = p.iter().enumerate().fold(0f32, |acc, (j, &pj)| acc + pj * values[j * stride + d]);
    }
}

/// The reference's `rms_norm_rows`, eight rows at a time: per four values of each row, the four
/// rows' f32x4 loads transposed so that value i of rows a, b sits in one f64x2 (squared in f32,
/// then widened, as `(v * v) as f64`), added to that pair's running sum in value order — four
/// independent f64x2 chains where the reference's sums wait on each other. The rest of each row
/// (mean, scale, the products) is the reference's, per row; rows left over, rows whose width is
/// not a multiple of four, the reference's.
pub fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let e = w.len();
    if e == 0 || e % 4 != 0 {
        return super::reference::rms_norm_rows(x, w, eps, out);
    }
    let rows = (x.len() / e).min(out.len() / e);
    let full = rows / 8 * 8;
    for r0 in (0..full).step_by(8) {
        let mut acc = [f64x2_splat(0.0); 4];
        for i in (0..e).step_by(4) {
            // SAFETY: (r0 + k)·e + i + 4 ≤ rows·e ≤ x.len() (k < 8, i + 4 ≤ e).
            let v: [v128; 8] = core::array::from_fn(|k| unsafe { v128_load(x.as_ptr().add((r0 + k) * e + i) as *const v128) });
            for p in 0..4 {
                let (a, b) = (v[2 * p], v[2 * p + 1]);
                // [a0, b0, a1, b1] and [a2, b2, a3, b3], squared in f32.
                let lo = i32x4_shuffle::<0, 4, 1, 5>(a, b);
                let hi = i32x4_shuffle::<2, 6, 3, 7>(a, b);
                let (lo, hi) = (f32x4_mul(lo, lo), f32x4_mul(hi, hi));
                let s = f64x2_add(acc[p], f64x2_promote_low_f32x4(lo));
                let s = f64x2_add(s, f64x2_promote_low_f32x4(i64x2_shuffle::<1, 1>(lo, lo)));
                let s = f64x2_add(s, f64x2_promote_low_f32x4(hi));
                acc[p] = f64x2_add(s, f64x2_promote_low_f32x4(i64x2_shuffle::<1, 1>(hi, hi)));
            }
        }
        for k in 0..8 {
            let sum = if k % 2 == 0 { f64x2_extract_lane::<0>(acc[k / 2]) } else { f64x2_extract_lane::<1>(acc[k / 2]) };
            let mean = (sum / e as f64) as f32;
            let scale = f32x4_splat(1.0 / (mean + eps).sqrt());
            let r = r0 + k;
            for i in (0..e).step_by(4) {
                // SAFETY: r·e + i + 4 ≤ rows·e, within x and out; i + 4 ≤ e = w.len().
                unsafe {
                    let v = v128_load(x.as_ptr().add(r * e + i) as *const v128);
                    let wv = v128_load(w.as_ptr().add(i) as *const v128);
                    v128_store(out.as_mut_ptr().add(r * e + i) as *mut v128, f32x4_mul(f32x4_mul(v, scale), wv));
                }
            }
        }
    }
    super::reference::rms_norm_rows(&x[full * e..rows * e], w, eps, &mut out[full * e..rows * e]);
}

/// `f32::exp` of four lanes as wasm's libm computes it (compiler-builtins' `expf`, a port of
/// FreeBSD's `e_expf.c`), its branches as lane selects: k = round(x / ln 2) (from 1.5 ln 2 on;
/// ±1 from 0.5 ln 2; 0 below, where the reduction x − 0·ln2_hi − 0·ln2_lo leaves x as the
/// library's own branch does), the same rational approximation in the same operation order, then
/// `scalbnf`'s y · 2^k as two exact power-of-two steps and one rounding one (2^127 · 2^(k − 127)
/// above 127, 2^−102 · 2^(k + 102) below −126); 1 + x below 2^−14, x for NaN, x · 2^127 from
/// 88.72 (∞), 0 below −103.97.
#[inline(always)]
fn exp4(x: v128) -> v128 {
    // The library's constants, by their bits.
    let ln2_hi = f32x4_splat(f32::from_bits(0x3f31_7200));
    let ln2_lo = f32x4_splat(f32::from_bits(0x35bf_be8e));
    let inv_ln2 = f32x4_splat(f32::from_bits(0x3fb8_aa3b));
    let (p1, p2) = (f32x4_splat(f32::from_bits(0x3e2a_aa8f)), f32x4_splat(f32::from_bits(0xbb35_5215)));
    let hx = v128_and(x, i32x4_splat(0x7fff_ffff));
    let neg = i32x4_shr(x, 31); // all ones where the sign bit is set
    let half = v128_bitselect(f32x4_splat(-0.5), f32x4_splat(0.5), neg);
    let k_big = i32x4_trunc_sat_f32x4(f32x4_add(f32x4_mul(inv_ln2, x), half));
    let k_mid = v128_bitselect(i32x4_splat(-1), i32x4_splat(1), neg);
    let k = v128_bitselect(k_big, v128_and(k_mid, i32x4_gt(hx, i32x4_splat(0x3eb1_7218))), i32x4_gt(hx, i32x4_splat(0x3f85_1592)));
    let kf = f32x4_convert_i32x4(k);
    let hi = f32x4_sub(x, f32x4_mul(kf, ln2_hi));
    let lo = f32x4_mul(kf, ln2_lo);
    let r = f32x4_sub(hi, lo);
    let rr = f32x4_mul(r, r);
    let c = f32x4_sub(r, f32x4_mul(rr, f32x4_add(p1, f32x4_mul(rr, p2))));
    let q = f32x4_div(f32x4_mul(r, c), f32x4_sub(f32x4_splat(2.0), c));
    let y = f32x4_add(f32x4_splat(1.0), f32x4_add(f32x4_sub(q, lo), hi));
    // scalbnf(y, k): a first exact step (1, 2^127 or 2^−102), then 2^(the rest), rounding once.
    let (over, under) = (i32x4_gt(k, i32x4_splat(127)), i32x4_lt(k, i32x4_splat(-126)));
    let k1 = v128_bitselect(i32x4_splat(127), v128_bitselect(i32x4_splat(-102), i32x4_splat(0), under), over);
    let pow2 = |n: v128| i32x4_shl(i32x4_add(n, i32x4_splat(0x7f)), 23);
    let scaled = f32x4_mul(f32x4_mul(y, pow2(k1)), pow2(i32x4_sub(k, k1)));
    // The library's early returns.
    let tiny = f32x4_add(f32x4_splat(1.0), x);
    let mut out = v128_bitselect(scaled, tiny, i32x4_gt(hx, i32x4_splat(0x3900_0000)));
    out = v128_bitselect(f32x4_splat(0.0), out, v128_and(neg, i32x4_ge(hx, i32x4_splat(0x42cf_f1b5))));
    out = v128_bitselect(
        f32x4_mul(x, f32x4_splat(f32::from_bits(0x7f00_0000))),
        out,
        v128_andnot(i32x4_ge(hx, i32x4_splat(0x42b1_7218)), neg),
    );
    v128_bitselect(x, out, i32x4_gt(hx, i32x4_splat(0x7f80_0000)))
}

/// The reference's `exp_shifted`: the exponentials four at a time ([`exp4`]), the sum in order.
pub fn exp_shifted(v: &mut [f32], max: f32) -> f64 {
    let m = f32x4_splat(max);
    let mut chunks = v.chunks_exact_mut(4);
    for c in &mut chunks {
        // SAFETY: a 16-byte load and store of the chunk's four values.
        unsafe {
            let p = c.as_mut_ptr() as *mut v128;
            v128_store(p, exp4(f32x4_sub(v128_load(p), m)));
        }
    }
    for s in chunks.into_remainder() {
        *s = (*s - max).exp();
    }
    v.iter().fold(0f64, |sum, &s| sum + s as f64)
}

/// The reference's `swiglu`, four lanes at a time: gate / (1 + exp(−gate)) · up.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let full = n / 4 * 4;
    for i in (0..full).step_by(4) {
        // SAFETY: i + 4 ≤ n ≤ both lengths.
        unsafe {
            let (pg, pu) = (gate.as_mut_ptr().add(i) as *mut v128, up.as_ptr().add(i) as *const v128);
            let g = v128_load(pg);
            let e = exp4(f32x4_neg(g));
            v128_store(pg, f32x4_mul(f32x4_div(g, f32x4_add(f32x4_splat(1.0), e)), v128_load(pu)));
        }
    }
    for (g, &u) in gate[full..n].iter_mut().zip(&up[full..n]) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// The running largest |v| from 0, NaN skipped (as the reference's `f32::max` fold skips it), as
/// the f32 bits of |v| — non-negative, so ordered as their values — NaN lanes cleared first.
/// Integer max rather than `f32x4_pmax`: in a `+relaxed-simd` build LLVM emits `f32x4.relaxed_max`
/// for a float max, whose NaN result is the engine's (V8 on x86 kept a NaN that pmax drops: an
/// all-NaN block's scale came out NaN, not 0).
#[inline(always)]
fn abs_max_bits(acc: v128, v: v128) -> v128 {
    let a = f32x4_abs(v);
    i32x4_max(acc, v128_and(a, f32x4_eq(a, a)))
}

/// The largest of [`abs_max_bits`]' four lanes, as f32.
#[inline(always)]
fn abs_max_value(m: v128) -> f32 {
    let m = i32x4_max(m, i32x4_shuffle::<2, 3, 0, 1>(m, m));
    let m = i32x4_max(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
    f32::from_bits(i32x4_extract_lane::<0>(m) as u32)
}

/// `quantize_row_q8_0` (x86 rounding, see the reference): amax from 0, NaN skipped as `f32::max`
/// skips it ([`abs_max_bits`]); codes rounded to even, then saturated to i8 as `as i8` saturates.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<BlockQ8_0>) {
    out.clear();
    for v in x.chunks_exact(QK) {
        // SAFETY: eight unaligned 16-byte loads of the block's 32 f32.
        let vs: [v128; 8] = core::array::from_fn(|i| unsafe { v128_load(v.as_ptr().add(4 * i) as *const v128) });
        let mut m = i32x4_splat(0);
        for &s in &vs {
            m = abs_max_bits(m, s);
        }
        let amax = abs_max_value(m);
        let d = amax / 127.0;
        let id = f32x4_splat(if amax != 0.0 { 127.0 / amax } else { 0.0 });
        let i: [v128; 8] = core::array::from_fn(|k| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(vs[k], id))));
        let lo = i8x16_narrow_i16x8(i16x8_narrow_i32x4(i[0], i[1]), i16x8_narrow_i32x4(i[2], i[3]));
        let hi = i8x16_narrow_i16x8(i16x8_narrow_i32x4(i[4], i[5]), i16x8_narrow_i32x4(i[6], i[7]));
        let mut qs = [0i8; QK];
        // SAFETY: two 16-byte stores into the 32 codes.
        unsafe {
            v128_store(qs.as_mut_ptr() as *mut v128, lo);
            v128_store(qs.as_mut_ptr().add(16) as *mut v128, hi);
        }
        out.push(BlockQ8_0 { d: f16::from_f32(d).to_f32(), qs });
    }
}

/// `quantize_row_q8_K_ref`: amax as in [`quantize_q8_0`], the first value of that magnitude found
/// with a lane compare, codes capped at 127 then wrapped to i8 (the low byte, as `as i8`).
pub fn quantize_q8_k(x: &[f32], out: &mut Vec<BlockQ8K>) {
    out.clear();
    for v in x.chunks_exact(QK_K) {
        // SAFETY: 64 unaligned 16-byte loads of the super-block's 256 f32.
        let load = |i: usize| unsafe { v128_load(v.as_ptr().add(4 * i) as *const v128) };
        let mut m = i32x4_splat(0);
        for i in 0..QK_K / 4 {
            m = abs_max_bits(m, load(i));
        }
        let amax = abs_max_value(m);
        let mut b = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
        if amax == 0.0 {
            out.push(b);
            continue;
        }
        let target = f32x4_splat(amax);
        let first = (0..QK_K / 4)
            .find_map(|i| {
                let bits = i32x4_bitmask(f32x4_eq(f32x4_abs(load(i)), target));
                (bits != 0).then(|| 4 * i + bits.trailing_zeros() as usize)
            })
            .expect("amax is one of the values");
        let iscale = -127.0 / v[first];
        let sv = f32x4_splat(iscale);
        let cap = i32x4_splat(127);
        for g in 0..QK_K / 16 {
            let i: [v128; 4] =
                core::array::from_fn(|k| i32x4_min(i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(sv, load(4 * g + k)))), cap));
            let ab = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(i[0], i[1]);
            let cd = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(i[2], i[3]);
            let codes = i64x2_shuffle::<0, 2>(ab, cd);
            // SAFETY: a 16-byte store into codes 16g..16g + 16 of 256.
            unsafe { v128_store(b.qs.as_mut_ptr().add(16 * g) as *mut v128, codes) };
            let s = i32x4_extadd_pairwise_i16x8(i16x8_extadd_pairwise_i8x16(codes));
            b.bsums[g] =
                (i32x4_extract_lane::<0>(s) + i32x4_extract_lane::<1>(s) + i32x4_extract_lane::<2>(s) + i32x4_extract_lane::<3>(s)) as i16;
        }
        b.d = 1.0 / iscale;
        out.push(b);
    }
}

/// Eight i8 widened to i16x8.
#[inline(always)]
unsafe fn ld8(p: *const i8) -> v128 {
    i16x8_load_extend_i8x8(p)
}

/// ((0 + 1) + 2) + 3.
#[inline(always)]
fn hsum4(v: v128) -> f32 {
    ((f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v)) + f32x4_extract_lane::<2>(v)) + f32x4_extract_lane::<3>(v)
}

/// `K` rows from row `r` of a 32-value-block matrix times x: `sums(row, block, x_i16)` gives a
/// row block's four lane sums (lane l: values j with j mod 8 ∈ {2l, 2l + 1}) and its scale; the
/// lanes accumulate as the reference's `blocks_dot`: + f32(sum) · (d_w · d_x).
#[inline(always)]
fn blocks_rows<W, const K: usize>(w: &[W], x: &[BlockQ8_0], r: usize, y: &mut [f32], sums: impl Fn(&W, &[v128; 4]) -> (f32, v128)) {
    let nb = x.len();
    let mut acc = [f32x4_splat(0.0); K];
    for (b, xb) in x.iter().enumerate() {
        // SAFETY: four 8-byte loads of the block's 32 codes.
        let xv: [v128; 4] = core::array::from_fn(|i| unsafe { ld8(xb.qs.as_ptr().add(8 * i)) });
        for k in 0..K {
            let (d, s) = sums(&w[(r + k) * nb + b], &xv);
            acc[k] = f32x4_add(acc[k], f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d * xb.d)));
        }
    }
    for k in 0..K {
        y[r + k] = hsum4(acc[k]);
    }
}

/// Runs `rows_fn::<4>` over whole groups of four rows, then `rows_fn::<1>` over the rest.
macro_rules! by_four {
    ($y:expr, $f:ident, $($arg:expr),*) => {{
        let full = $y.len() / R * R;
        for r in (0..full).step_by(R) {
            $f::<R>($($arg,)* r, $y);
        }
        for r in full..$y.len() {
            $f::<1>($($arg,)* r, $y);
        }
    }};
}

/// Σ over four i16x8 pieces of i32x4_dot_i16x8: lane l gets values 2l, 2l + 1 of each eight.
#[inline(always)]
fn dot4(w: [v128; 4], x: &[v128; 4]) -> v128 {
    i32x4_add(
        i32x4_add(i32x4_dot_i16x8(w[0], x[0]), i32x4_dot_i16x8(w[1], x[1])),
        i32x4_add(i32x4_dot_i16x8(w[2], x[2]), i32x4_dot_i16x8(w[3], x[3])),
    )
}

#[inline(always)]
fn q8_0_rows<const K: usize>(w: &[BlockQ8_0], x: &[BlockQ8_0], r: usize, y: &mut [f32]) {
    blocks_rows::<_, K>(w, x, r, y, |wb, xv| {
        // SAFETY: four 8-byte loads of the block's 32 codes.
        let wv = core::array::from_fn(|i| unsafe { ld8(wb.qs.as_ptr().add(8 * i)) });
        (wb.d, dot4(wv, xv))
    })
}

pub fn q8_0_matvec(w: &[BlockQ8_0], x: &[BlockQ8_0], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "q8_0_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q8_0_rows, w, x)
}

/// The four i32 lanes added (exact).
#[inline(always)]
fn isum(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v)
}

/// A sub-block of 32 non-negative 7-bit weight codes (Q4_K, Q5_K: 0..31; Q2_K's scaled codes:
/// 0..45) or of 32 activation codes, as [`sub_dot`] reads them: in the SIMD128 build widened to
/// four i16x8, in the relaxed-SIMD build the two raw i8x16.
#[cfg(not(target_feature = "relaxed-simd"))]
type Sub = [v128; 4];
#[cfg(target_feature = "relaxed-simd")]
type Sub = [v128; 2];

/// Codes `p..p + 32` as a [`Sub`].
///
/// # Safety
/// `p..p + 32` must be readable.
#[inline(always)]
unsafe fn sub(p: *const i8) -> Sub {
    #[cfg(not(target_feature = "relaxed-simd"))]
    return core::array::from_fn(|i| ld8(p.add(8 * i)));
    #[cfg(target_feature = "relaxed-simd")]
    return [v128_load(p as *const v128), v128_load(p.add(16) as *const v128)];
}

/// Σ w·x of a sub-block as eight i16 lanes of four products each (which four is free: the
/// callers want the sub-block's total, or the i32 sums of [`sub_dot_i32`]). Exact: |w·x| ≤
/// 45·128, four of them < 2¹⁵. In the relaxed-SIMD build `i16x8.relaxed_dot_i8x16_i7x16_s`
/// (x the signed operand, the codes the 7-bit one: 0 ≤ w ≤ 127, so every engine's result is
/// the same and its pair sums, ≤ 2·127·128, do not saturate) — one `pmaddubsw` on x86 for the
/// SIMD128 build's two widening loads, four multiplies and three adds per row and token.
#[inline(always)]
fn sub_dot(w: &Sub, x: &Sub) -> v128 {
    #[cfg(not(target_feature = "relaxed-simd"))]
    return i16x8_add(i16x8_add(i16x8_mul(w[0], x[0]), i16x8_mul(w[1], x[1])), i16x8_add(i16x8_mul(w[2], x[2]), i16x8_mul(w[3], x[3])));
    // The relaxed intrinsics are stable since Rust 1.82; the workspace's MSRV (1.80) is the plain
    // build's, which never compiles this line.
    #[cfg(target_feature = "relaxed-simd")]
    #[allow(clippy::incompatible_msrv)]
    return i16x8_add(i16x8_relaxed_dot_i8x16_i7x16(x[0], w[0]), i16x8_relaxed_dot_i8x16_i7x16(x[1], w[1]));
}

/// [`sub_dot`]'s sums as four i32 lanes (Q2_K's: its lanes are free too).
#[inline(always)]
fn sub_dot_i32(w: &Sub, x: &Sub) -> v128 {
    #[cfg(not(target_feature = "relaxed-simd"))]
    return dot4(*w, x);
    #[cfg(target_feature = "relaxed-simd")]
    return i32x4_extadd_pairwise_i16x8(sub_dot(w, x));
}

/// Q4_K and Q5_K: per sub-block of 32 the codes times the activations in i16 ([`sub_dot`]: four
/// products per lane, |·| ≤ 4·31·128), then `i32x4_dot_i16x8` with the scale; only the
/// super-block's total matters, the lanes are free.
#[inline(always)]
fn q4_k_rows<const K: usize>(w: &[BlockQ4K], x: &[BlockQ8K], r: usize, y: &mut [f32]) {
    let nb = x.len();
    let mut sumf = [0f32; K];
    for (b, xb) in x.iter().enumerate() {
        let rows: [&BlockQ4K; K] = core::array::from_fn(|k| &w[(r + k) * nb + b]);
        let pairs: [i32; 8] = core::array::from_fn(|k| xb.bsums[2 * k] as i32 + xb.bsums[2 * k + 1] as i32);
        let mut acc = [i32x4_splat(0); K];
        for j in 0..QK_K / 32 {
            // SAFETY: codes 32j..32j + 32 of 256.
            let xv = unsafe { sub(xb.qs.as_ptr().add(32 * j)) };
            for k in 0..K {
                let wb = rows[k];
                // SAFETY: codes 32j..32j + 32 of 256.
                let wv = unsafe { sub(wb.q.as_ptr().add(32 * j)) };
                acc[k] = i32x4_add(acc[k], i32x4_dot_i16x8(sub_dot(&wv, &xv), i16x8_splat(wb.scales[j] as i16)));
            }
        }
        for k in 0..K {
            let wb = rows[k];
            let mins: i32 = (0..8).map(|m| pairs[m] * wb.mins[m] as i32).sum();
            sumf[k] -= xb.d * wb.dmin * mins as f32;
            sumf[k] += xb.d * wb.d * isum(acc[k]) as f32;
        }
    }
    y[r..r + K].copy_from_slice(&sumf);
}

pub fn q4_k_matvec(w: &[BlockQ4K], x: &[BlockQ8K], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "q4_k_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q4_k_rows, w, x)
}

/// The eight lanes of `l` then `h` added one after another from 0 (the scalar reference's order:
/// Q6_K's matrix-vector and tile kernels both end with it).
#[inline(always)]
fn sum8_in_order(l: v128, h: v128) -> f32 {
    let s = [
        f32x4_extract_lane::<0>(l),
        f32x4_extract_lane::<1>(l),
        f32x4_extract_lane::<2>(l),
        f32x4_extract_lane::<3>(l),
        f32x4_extract_lane::<0>(h),
        f32x4_extract_lane::<1>(h),
        f32x4_extract_lane::<2>(h),
        f32x4_extract_lane::<3>(h),
    ];
    s.iter().fold(0f32, |a, &v| a + v)
}

/// The reference's eight integer lanes (value e in lane e mod 8) of `K` Q6_K or Q3_K rows' super-blocks
/// against one of x: lanes 0–3 and 4–7. Per pair of sub-blocks (32 values) each one's codes times
/// the activations in i16, two products per lane (|·| ≤ 2·32·128): lane i holds its values i and
/// 8 + i; the two sub-blocks' lanes interleaved and `i32x4_dot_i16x8` with their two scales side
/// by side (one 4-byte load, splatted) gives lanes 0–3, the high halves lanes 4–7.
#[inline(always)]
fn lanes8<const K: usize>(rows: &[&BlockQ6K; K], xb: &BlockQ8K) -> ([v128; K], [v128; K]) {
    let (mut lo, mut hi) = ([i32x4_splat(0); K], [i32x4_splat(0); K]);
    for p in 0..QK_K / 32 {
        // SAFETY: four 8-byte loads of codes 32p..32p + 32 of 256.
        let xv: [v128; 4] = core::array::from_fn(|i| unsafe { ld8(xb.qs.as_ptr().add(32 * p + 8 * i)) });
        for k in 0..K {
            let wb = rows[k];
            // SAFETY: four 8-byte loads of codes 32p..32p + 32 of 256, and a 4-byte load of scales 2p, 2p + 1 of 16.
            let (wv, s): ([v128; 4], v128) = unsafe {
                (
                    core::array::from_fn(|i| ld8(wb.q.as_ptr().add(32 * p + 8 * i))),
                    v128_load32_splat(wb.scales.as_ptr().add(2 * p) as *const u32),
                )
            };
            let a = i16x8_add(i16x8_mul(wv[0], xv[0]), i16x8_mul(wv[1], xv[1]));
            let c = i16x8_add(i16x8_mul(wv[2], xv[2]), i16x8_mul(wv[3], xv[3]));
            lo[k] = i32x4_add(lo[k], i32x4_dot_i16x8(i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(a, c), s));
            hi[k] = i32x4_add(hi[k], i32x4_dot_i16x8(i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(a, c), s));
        }
    }
    (lo, hi)
}

#[inline(always)]
fn q6_k_rows<const K: usize>(w: &[BlockQ6K], x: &[BlockQ8K], r: usize, y: &mut [f32]) {
    let nb = x.len();
    let (mut lo, mut hi) = ([f32x4_splat(0.0); K], [f32x4_splat(0.0); K]);
    for (b, xb) in x.iter().enumerate() {
        let rows: [&BlockQ6K; K] = core::array::from_fn(|k| &w[(r + k) * nb + b]);
        let (acc_lo, acc_hi) = lanes8(&rows, xb);
        for k in 0..K {
            let d = f32x4_splat(rows[k].d * xb.d);
            lo[k] = f32x4_add(lo[k], f32x4_mul(d, f32x4_convert_i32x4(acc_lo[k])));
            hi[k] = f32x4_add(hi[k], f32x4_mul(d, f32x4_convert_i32x4(acc_hi[k])));
        }
    }
    for k in 0..K {
        let (l, h) = (lo[k], hi[k]);
        y[r + k] = sum8_in_order(l, h);
    }
}

pub fn q6_k_matvec(w: &[BlockQ6K], x: &[BlockQ8K], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "q6_k_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q6_k_rows, w, x)
}

/// Q2_K: its scaled codes (bytes, 0..45) times the activations ([`sub_dot_i32`]; |·| ≤ 4·45·128
/// per i16 lane); only the super-block's total matters, the lanes are free.
#[inline(always)]
fn q2_k_rows<const K: usize>(w: &[BlockQ2K], x: &[BlockQ8K], r: usize, y: &mut [f32]) {
    let nb = x.len();
    let mut sumf = [0f32; K];
    for (b, xb) in x.iter().enumerate() {
        let rows: [&BlockQ2K; K] = core::array::from_fn(|k| &w[(r + k) * nb + b]);
        let mut acc = [i32x4_splat(0); K];
        for c in 0..QK_K / 32 {
            // SAFETY: codes 32c..32c + 32 of 256.
            let xv = unsafe { sub(xb.qs.as_ptr().add(32 * c)) };
            for k in 0..K {
                // SAFETY: codes 32c..32c + 32 of 256.
                let wv = unsafe { sub(rows[k].q.as_ptr().add(32 * c)) };
                acc[k] = i32x4_add(acc[k], sub_dot_i32(&wv, &xv));
            }
        }
        // SAFETY: two 16-byte loads of the 16 block sums.
        let (bs0, bs1) = unsafe { (v128_load(xb.bsums.as_ptr() as *const v128), v128_load(xb.bsums.as_ptr().add(8) as *const v128)) };
        for k in 0..K {
            let wb = rows[k];
            // SAFETY: one 16-byte load of the 16 scale bytes.
            let mins = u8x16_shr(unsafe { v128_load(wb.scales.as_ptr() as *const v128) }, 4);
            let summs =
                isum(i32x4_add(i32x4_dot_i16x8(u16x8_extend_low_u8x16(mins), bs0), i32x4_dot_i16x8(u16x8_extend_high_u8x16(mins), bs1)));
            sumf[k] += wb.d * xb.d * isum(acc[k]) as f32 - wb.dmin * xb.d * summs as f32;
        }
    }
    y[r..r + K].copy_from_slice(&sumf);
}

pub fn q2_k_matvec(w: &[BlockQ2K], x: &[BlockQ8K], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "q2_k_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q2_k_rows, w, x)
}

/// Q3_K: the reference's eight lanes ([`lanes8`], the blocks are Q6_K's), converted and added
/// as four float lanes per super-block.
#[inline(always)]
fn q3_k_rows<const K: usize>(w: &[BlockQ3K], x: &[BlockQ8K], r: usize, y: &mut [f32]) {
    let nb = x.len();
    let mut sums = [f32x4_splat(0.0); K];
    for (b, xb) in x.iter().enumerate() {
        let rows: [&BlockQ3K; K] = core::array::from_fn(|k| &w[(r + k) * nb + b]);
        let (lo, hi) = lanes8(&rows, xb);
        for k in 0..K {
            let d = f32x4_splat(rows[k].d * xb.d);
            let v = f32x4_add(f32x4_mul(f32x4_convert_i32x4(lo[k]), d), f32x4_mul(f32x4_convert_i32x4(hi[k]), d));
            sums[k] = f32x4_add(sums[k], v);
        }
    }
    for k in 0..K {
        y[r + k] = hsum4(f32x4_add(sums[k], f32x4_splat(0.0)));
    }
}

pub fn q3_k_matvec(w: &[BlockQ3K], x: &[BlockQ8K], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "q3_k_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q3_k_rows, w, x)
}

pub fn q5_k_matvec(w: &[BlockQ5K], x: &[BlockQ8K], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "q5_k_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q4_k_rows, w, x)
}

/// IQ4_XS: per sub-block of 32 the levels (bytes, widened) times the activations as Q8_0's
/// ([`dot4`]; a level reaches −127, so two products per i32 lane), times the scale in i32; only the
/// super-block's total matters, the lanes are free.
#[inline(always)]
fn iq4_xs_rows<const K: usize>(w: &[BlockIq4Xs], x: &[BlockQ8K], r: usize, y: &mut [f32]) {
    let nb = x.len();
    let mut sumf = [0f32; K];
    for (b, xb) in x.iter().enumerate() {
        let rows: [&BlockIq4Xs; K] = core::array::from_fn(|k| &w[(r + k) * nb + b]);
        let mut acc = [i32x4_splat(0); K];
        for j in 0..QK_K / 32 {
            // SAFETY: four 8-byte loads of codes 32j..32j + 32 of 256.
            let xv: [v128; 4] = core::array::from_fn(|i| unsafe { ld8(xb.qs.as_ptr().add(32 * j + 8 * i)) });
            for k in 0..K {
                let wb = rows[k];
                // SAFETY: four 8-byte loads of levels 32j..32j + 32 of 256.
                let wv = core::array::from_fn(|i| unsafe { ld8(wb.q.as_ptr().add(32 * j + 8 * i)) });
                acc[k] = i32x4_add(acc[k], i32x4_mul(dot4(wv, &xv), i32x4_splat(wb.scales[j] as i32)));
            }
        }
        for k in 0..K {
            sumf[k] += rows[k].d * xb.d * isum(acc[k]) as f32;
        }
    }
    y[r..r + K].copy_from_slice(&sumf);
}

pub fn iq4_xs_matvec(w: &[BlockIq4Xs], x: &[BlockQ8K], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "iq4_xs_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, iq4_xs_rows, w, x)
}

/// Q4_1 / Q5_1 × Q8_1: Q8_0's lanes ([`q8_0_rows`]) and the reference's summs beside them.
#[inline(always)]
fn q8_1_rows<const K: usize>(w: &[BlockQ8Min], x: &[BlockQ8_0], s: &[f32], r: usize, y: &mut [f32]) {
    let nb = x.len();
    let mut acc = [f32x4_splat(0.0); K];
    let mut summs = [0f32; K];
    for (b, xb) in x.iter().enumerate() {
        // SAFETY: four 8-byte loads of the block's 32 codes.
        let xv: [v128; 4] = core::array::from_fn(|i| unsafe { ld8(xb.qs.as_ptr().add(8 * i)) });
        for k in 0..K {
            let wb = &w[(r + k) * nb + b];
            summs[k] += wb.m * s[b];
            // SAFETY: four 8-byte loads of the block's 32 codes.
            let wv = core::array::from_fn(|i| unsafe { ld8(wb.qs.as_ptr().add(8 * i)) });
            acc[k] = f32x4_add(acc[k], f32x4_mul(f32x4_convert_i32x4(dot4(wv, &xv)), f32x4_splat(wb.d * xb.d)));
        }
    }
    for k in 0..K {
        y[r + k] = hsum4(acc[k]) + summs[k];
    }
}

pub fn q8_1_matvec(w: &[BlockQ8Min], x: &[BlockQ8_0], s: &[f32], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len() && s.len() >= x.len(), "q8_1_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q8_1_rows, w, x, s)
}

/// The rows of a tile of a block matrix `w` against `xs` (every token the same number of
/// blocks), checked against the outputs `ys` (token t's row r at `t · stride + r`).
fn tile_rows<W, X>(name: &str, w: &[W], xs: &[Vec<X>], ys: &[f32], stride: usize) -> usize {
    let nb = xs.first().map_or(0, |x| x.len());
    if nb == 0 {
        return 0;
    }
    let rows = w.len() / nb;
    assert!(xs.iter().all(|x| x.len() == nb), "{name}: tokens of different lengths");
    assert!((xs.len() - 1) * stride + rows <= ys.len(), "{name}: {} outputs for {} tokens of {rows} rows", ys.len(), xs.len());
    rows
}

/// Runs `$f::<K, TK>(args.., r, t)` over a tile of `$rows` rows and the tokens in whole groups of
/// `TK`: `K` rows at a time, then 1 for the rows left over; the tokens left over (a lone token: a
/// generated one) go to `$rest(t)`, the matrix-vector kernel (four rows at a time).
macro_rules! by_tile {
    ($k:expr, $tk:expr, $rows:expr, $tokens:expr, $f:ident, $($arg:expr),*; $rest:expr) => {{
        const K_: usize = $k;
        const T_: usize = $tk;
        let (rows, tokens) = ($rows, $tokens);
        let (full_r, full_t) = (rows / K_ * K_, tokens / T_ * T_);
        for r in (0..full_r).step_by(K_) {
            for t in (0..full_t).step_by(T_) {
                $f::<K_, T_>($($arg,)* r, t);
            }
        }
        for r in full_r..rows {
            for t in 0..full_t {
                $f::<1, 1>($($arg,)* r, t);
            }
        }
        for t in full_t..tokens {
            $rest(t);
        }
    }};
}

/// One tile of a block matrix's product, the loop every type's tile shares: rows `r..r + K` of
/// `w` (whole rows of blocks) times tokens `t..t + TK` of `xs`. Each output's accumulator starts
/// at `init`; per block index, `block` gets the rows' blocks and the tokens' blocks and updates
/// the `K × TK` accumulators (the type's exact integer sums, then its matrix-vector kernel's
/// float operations for the block, in order); `finish` turns an accumulator into the output,
/// written to `ys[(t + j) * stride + r + k]`. Generic and inlined, so each type's tile is the
/// code it was when each held its own copy of this loop (bench-lm.mjs, before and after in one
/// run: 64-token prompts −2 % to +2 % in every type, both builds — noise).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_tile<W, X, A: Copy, const K: usize, const TK: usize>(
    w: &[W],
    xs: &[Vec<X>],
    ys: &mut [f32],
    stride: usize,
    r: usize,
    t: usize,
    init: A,
    block: impl Fn(&[&W; K], &[&X; TK], &mut [[A; TK]; K]),
    finish: impl Fn(A) -> f32,
) {
    let nb = xs[t].len();
    let xr: [&[X]; TK] = core::array::from_fn(|j| &xs[t + j][..nb]);
    let wr: [&[W]; K] = core::array::from_fn(|k| &w[(r + k) * nb..(r + k + 1) * nb]);
    let mut acc = [[init; TK]; K];
    for b in 0..nb {
        let rows: [&W; K] = core::array::from_fn(|k| &wr[k][b]);
        let xb: [&X; TK] = core::array::from_fn(|j| &xr[j][b]);
        block(&rows, &xb, &mut acc);
    }
    for k in 0..K {
        for j in 0..TK {
            ys[(t + j) * stride + r + k] = finish(acc[k][j]);
        }
    }
}

/// [`block_tile`] for a tile of at most four outputs held as the lanes of one f32x4 (output
/// (k, j) in lane k·TK + j): per block index `block` gets the rows' and tokens' blocks and the
/// lanes, and returns them updated. Each lane's float operations are the matrix-vector kernel's
/// for its output, in its order (an f32x4 operation rounds each lane as the scalar one does), so
/// a block's float epilogue costs a few vector operations for the tile instead of a scalar chain
/// per output.
#[inline(always)]
fn lane_tile<W, X, const K: usize, const TK: usize>(
    w: &[W],
    xs: &[Vec<X>],
    ys: &mut [f32],
    stride: usize,
    r: usize,
    t: usize,
    block: impl Fn(&[&W; K], &[&X; TK], v128) -> v128,
) {
    debug_assert!(K * TK <= 4);
    let nb = xs[t].len();
    let xr: [&[X]; TK] = core::array::from_fn(|j| &xs[t + j][..nb]);
    let wr: [&[W]; K] = core::array::from_fn(|k| &w[(r + k) * nb..(r + k + 1) * nb]);
    let mut acc = f32x4_splat(0.0);
    for b in 0..nb {
        let rows: [&W; K] = core::array::from_fn(|k| &wr[k][b]);
        let xb: [&X; TK] = core::array::from_fn(|j| &xr[j][b]);
        acc = block(&rows, &xb, acc);
    }
    let mut out = [0f32; 4];
    // SAFETY: a 16-byte store into four f32.
    unsafe { v128_store(out.as_mut_ptr() as *mut v128, acc) };
    for (o, &v) in out.iter().enumerate().take(K * TK) {
        ys[(t + o % TK) * stride + r + o / TK] = v;
    }
}

/// Lane o = the sum of `f(k, j)`'s four i32 lanes for the tile's outputs o = k·TK + j < K·TK
/// (the other lanes 0): [`isum`] of up to four outputs at once, exact.
#[inline(always)]
fn isums<const K: usize, const TK: usize>(f: impl Fn(usize, usize) -> v128) -> v128 {
    let v: [v128; 4] = core::array::from_fn(|o| if o < K * TK { f(o / TK, o % TK) } else { i32x4_splat(0) });
    // [a0 + a2, b0 + b2, a1 + a3, b1 + b3] and the same of c, d; then their halves added.
    let ab = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(v[0], v[1]), i32x4_shuffle::<2, 6, 3, 7>(v[0], v[1]));
    let cd = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(v[2], v[3]), i32x4_shuffle::<2, 6, 3, 7>(v[2], v[3]));
    i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(ab, cd), i32x4_shuffle::<2, 3, 6, 7>(ab, cd))
}

/// Lane o = `f(k, j)` for the tile's outputs o = k·TK + j < K·TK (the other lanes 0).
#[inline(always)]
fn f32_lanes<const K: usize, const TK: usize>(f: impl Fn(usize, usize) -> f32) -> v128 {
    let v: [f32; 4] = core::array::from_fn(|o| if o < K * TK { f(o / TK, o % TK) } else { 0.0 });
    f32x4(v[0], v[1], v[2], v[3])
}

/// Lane `j` (< 4) of `v` in every lane.
#[inline(always)]
fn lane_splat(v: v128, j: usize) -> v128 {
    match j {
        0 => i32x4_shuffle::<0, 0, 0, 0>(v, v),
        1 => i32x4_shuffle::<1, 1, 1, 1>(v, v),
        2 => i32x4_shuffle::<2, 2, 2, 2>(v, v),
        _ => i32x4_shuffle::<3, 3, 3, 3>(v, v),
    }
}

/// A token's Q8_K block sums as two i16x8 (sums 0–7, 8–15).
#[inline(always)]
fn bsums(x: &BlockQ8K) -> (v128, v128) {
    // SAFETY: two 16-byte loads of the 16 i16 block sums.
    unsafe { (v128_load(x.bsums.as_ptr() as *const v128), v128_load(x.bsums.as_ptr().add(8) as *const v128)) }
}

/// A Q8_0 activation block with its codes widened to i16 once per matrix, for the tile kernel:
/// its loads of them are then plain 16-byte loads rather than a widening load per row tile.
#[derive(Clone, Copy)]
struct WideQ8_0 {
    qs: [i16; QK],
    d: f32,
}

/// Each token's Q8_0 blocks with the codes widened ([`WideQ8_0`]).
fn widen_q8_0(xs: &[Vec<BlockQ8_0>]) -> Vec<Vec<WideQ8_0>> {
    xs.iter()
        .map(|x| {
            x.iter()
                .map(|b| {
                    let mut qs = [0i16; QK];
                    for i in 0..4 {
                        // SAFETY: an 8-byte load of codes 8i..8i + 8 of 32, a 16-byte store into 8 of the 32 i16.
                        unsafe { v128_store(qs.as_mut_ptr().add(8 * i) as *mut v128, ld8(b.qs.as_ptr().add(8 * i))) };
                    }
                    WideQ8_0 { qs, d: b.d }
                })
                .collect()
        })
        .collect()
}

/// `K` rows × `TK` tokens of [`q8_0_rows`]: per block each row's codes widened once for the
/// tokens, the tokens' codes widened already ([`WideQ8_0`]); an output's lanes are [`dot4`]'s
/// (exact integer sums, grouped otherwise) and its float operations [`blocks_rows`]', in block
/// order.
#[inline(always)]
fn q8_0_tile<const K: usize, const TK: usize>(w: &[BlockQ8_0], xs: &[Vec<WideQ8_0>], ys: &mut [f32], stride: usize, r: usize, t: usize) {
    let block = |wb: &[&BlockQ8_0; K], xb: &[&WideQ8_0; TK], acc: &mut [[v128; TK]; K]| {
        let mut s = [[i32x4_splat(0); TK]; K];
        for i in 0..4 {
            // SAFETY: 16-byte loads of widened codes 8i..8i + 8 of a block's 32.
            let xv: [v128; TK] = core::array::from_fn(|j| unsafe { v128_load(xb[j].qs.as_ptr().add(8 * i) as *const v128) });
            for k in 0..K {
                // SAFETY: an 8-byte load of codes 8i..8i + 8 of a block's 32.
                let wv = unsafe { ld8(wb[k].qs.as_ptr().add(8 * i)) };
                for j in 0..TK {
                    s[k][j] = i32x4_add(s[k][j], i32x4_dot_i16x8(wv, xv[j]));
                }
            }
        }
        // The scales' products d_w · d_x of a row and the (up to four) tokens as one f32x4
        // multiply (the scalar products, lane for lane), each then splatted by a shuffle.
        let xd = f32_lanes::<1, TK>(|_, j| xb[j].d);
        for k in 0..K {
            let d = f32x4_mul(f32x4_splat(wb[k].d), xd);
            for j in 0..TK {
                acc[k][j] = f32x4_add(acc[k][j], f32x4_mul(f32x4_convert_i32x4(s[k][j]), lane_splat(d, j)));
            }
        }
    };
    block_tile::<_, _, _, K, TK>(w, xs, ys, stride, r, t, f32x4_splat(0.0), block, hsum4)
}

/// The Q8_0 tile's rows and tokens.
const Q8_0_TILE: (usize, usize) = (2, 4);

pub fn q8_0_matmul(w: &[BlockQ8_0], xs: &[Vec<BlockQ8_0>], ys: &mut [f32], stride: usize) {
    let rows = tile_rows("q8_0_matmul", w, xs, ys, stride);
    let wide = widen_q8_0(xs);
    by_tile!(Q8_0_TILE.0, Q8_0_TILE.1, rows, xs.len(), q8_0_tile, w, &wide, ys, stride; |t: usize| q8_0_matvec(w, &xs[t], &mut ys[t * stride..t * stride + rows]))
}

/// `K` rows × `TK` tokens of [`q4_k_rows`] (Q4_K and Q5_K): a row's codes loaded once per
/// sub-block for the tokens; per output the same exact integer sums and the same two float
/// updates per super-block, in order — the tile's outputs as the lanes of one f32x4
/// ([`lane_tile`]), their mins' sums Σ_m mins[m]·(bsums[2m] + bsums[2m + 1]) as Σ_i
/// bsums[i]·mins[i / 2] by `i32x4_dot_i16x8` (exact: |bsums| ≤ 16·128, mins ≤ 63). The scalar
/// epilogue per output (eight products for the mins, two lane sums, four float operations) was
/// as much work as the super-block's 32 relaxed dot products.
#[inline(always)]
fn q4_k_tile<const K: usize, const TK: usize>(w: &[BlockQ4K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize, r: usize, t: usize) {
    let block = |wb: &[&BlockQ4K; K], xb: &[&BlockQ8K; TK], sumf: v128| {
        let mut acc = [[i32x4_splat(0); TK]; K];
        for sb in 0..QK_K / 32 {
            // SAFETY: codes 32sb..32sb + 32 of 256.
            let xv: [Sub; TK] = core::array::from_fn(|j| unsafe { sub(xb[j].qs.as_ptr().add(32 * sb)) });
            for k in 0..K {
                // SAFETY: as above.
                let wv = unsafe { sub(wb[k].q.as_ptr().add(32 * sb)) };
                let sc = i16x8_splat(wb[k].scales[sb] as i16);
                for j in 0..TK {
                    acc[k][j] = i32x4_add(acc[k][j], i32x4_dot_i16x8(sub_dot(&wv, &xv[j]), sc));
                }
            }
        }
        let bs: [(v128, v128); TK] = core::array::from_fn(|j| bsums(xb[j]));
        let mn: [(v128, v128); K] = core::array::from_fn(|k| {
            // SAFETY: an 8-byte load of the 8 mins.
            let m = unsafe { u16x8_load_extend_u8x8(wb[k].mins.as_ptr()) };
            (i16x8_shuffle::<0, 0, 1, 1, 2, 2, 3, 3>(m, m), i16x8_shuffle::<4, 4, 5, 5, 6, 6, 7, 7>(m, m))
        });
        let mins = isums::<K, TK>(|k, j| i32x4_add(i32x4_dot_i16x8(bs[j].0, mn[k].0), i32x4_dot_i16x8(bs[j].1, mn[k].1)));
        let sums = isums::<K, TK>(|k, j| acc[k][j]);
        let xd = f32_lanes::<K, TK>(|_, j| xb[j].d);
        // sumf −= x.d·dmin·mins; sumf += x.d·d·Σ (the matrix-vector kernel's order).
        let sumf = f32x4_sub(sumf, f32x4_mul(f32x4_mul(xd, f32_lanes::<K, TK>(|k, _| wb[k].dmin)), f32x4_convert_i32x4(mins)));
        f32x4_add(sumf, f32x4_mul(f32x4_mul(xd, f32_lanes::<K, TK>(|k, _| wb[k].d)), f32x4_convert_i32x4(sums)))
    };
    lane_tile::<_, _, K, TK>(w, xs, ys, stride, r, t, block)
}

pub fn q4_k_matmul(w: &[BlockQ4K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    let rows = tile_rows("q4_k_matmul", w, xs, ys, stride);
    by_tile!(2, 2, rows, xs.len(), q4_k_tile, w, xs, ys, stride; |t: usize| q4_k_matvec(w, &xs[t], &mut ys[t * stride..t * stride + rows]))
}

pub fn q5_k_matmul(w: &[BlockQ5K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    let rows = tile_rows("q5_k_matmul", w, xs, ys, stride);
    by_tile!(2, 2, rows, xs.len(), q4_k_tile, w, xs, ys, stride; |t: usize| q5_k_matvec(w, &xs[t], &mut ys[t * stride..t * stride + rows]))
}

pub fn q6_k_matmul(w: &[BlockQ6K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    let rows = tile_rows("q6_k_matmul", w, xs, ys, stride);
    tiles6::matmul::<_, 32>(
        w,
        xs,
        ys,
        stride,
        rows,
        (f32x4_splat(0.0), f32x4_splat(0.0)),
        q6_k_update,
        |(l, h)| sum8_in_order(l, h),
        q6_k_matvec,
    );
}

/// One super-block's update of a Q6_K output (its eight integer lanes `lo`, `hi` and d_w·d_x):
/// [`q6_k_rows`]' float operations.
#[inline(always)]
fn q6_k_update((l, h): (v128, v128), lo: v128, hi: v128, d: f32) -> (v128, v128) {
    let d = f32x4_splat(d);
    (f32x4_add(l, f32x4_mul(d, f32x4_convert_i32x4(lo))), f32x4_add(h, f32x4_mul(d, f32x4_convert_i32x4(hi))))
}

/// One super-block's update of a Q3_K output: [`q3_k_rows`]' float operations.
#[inline(always)]
fn q3_k_update(sums: v128, lo: v128, hi: v128, d: f32) -> v128 {
    let d = f32x4_splat(d);
    f32x4_add(sums, f32x4_add(f32x4_mul(f32x4_convert_i32x4(lo), d), f32x4_mul(f32x4_convert_i32x4(hi), d)))
}

pub fn q3_k_matmul(w: &[BlockQ3K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    let rows = tile_rows("q3_k_matmul", w, xs, ys, stride);
    tiles6::matmul::<_, 4>(w, xs, ys, stride, rows, f32x4_splat(0.0), q3_k_update, |v| hsum4(f32x4_add(v, f32x4_splat(0.0))), q3_k_matvec);
}

/// `K` rows × `TK` tokens of [`q2_k_rows`], the tile's outputs as lanes ([`lane_tile`], as
/// [`q4_k_tile`]).
#[inline(always)]
fn q2_k_tile<const K: usize, const TK: usize>(w: &[BlockQ2K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize, r: usize, t: usize) {
    let block = |wb: &[&BlockQ2K; K], xb: &[&BlockQ8K; TK], sumf: v128| {
        let mut acc = [[i32x4_splat(0); TK]; K];
        for c in 0..QK_K / 32 {
            // SAFETY: codes 32c..32c + 32 of 256.
            let xv: [Sub; TK] = core::array::from_fn(|j| unsafe { sub(xb[j].qs.as_ptr().add(32 * c)) });
            for k in 0..K {
                // SAFETY: as above.
                let wv = unsafe { sub(wb[k].q.as_ptr().add(32 * c)) };
                for j in 0..TK {
                    acc[k][j] = i32x4_add(acc[k][j], sub_dot_i32(&wv, &xv[j]));
                }
            }
        }
        let bs: [(v128, v128); TK] = core::array::from_fn(|j| bsums(xb[j]));
        let mn: [(v128, v128); K] = core::array::from_fn(|k| {
            // SAFETY: one 16-byte load of the 16 scale bytes.
            let m = u8x16_shr(unsafe { v128_load(wb[k].scales.as_ptr() as *const v128) }, 4);
            (u16x8_extend_low_u8x16(m), u16x8_extend_high_u8x16(m))
        });
        let summs = isums::<K, TK>(|k, j| i32x4_add(i32x4_dot_i16x8(mn[k].0, bs[j].0), i32x4_dot_i16x8(mn[k].1, bs[j].1)));
        let sums = isums::<K, TK>(|k, j| acc[k][j]);
        let xd = f32_lanes::<K, TK>(|_, j| xb[j].d);
        // sumf += d·x.d·Σ − dmin·x.d·summs (the matrix-vector kernel's order).
        let plus = f32x4_mul(f32x4_mul(f32_lanes::<K, TK>(|k, _| wb[k].d), xd), f32x4_convert_i32x4(sums));
        let minus = f32x4_mul(f32x4_mul(f32_lanes::<K, TK>(|k, _| wb[k].dmin), xd), f32x4_convert_i32x4(summs));
        f32x4_add(sumf, f32x4_sub(plus, minus))
    };
    lane_tile::<_, _, K, TK>(w, xs, ys, stride, r, t, block)
}

pub fn q2_k_matmul(w: &[BlockQ2K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    let rows = tile_rows("q2_k_matmul", w, xs, ys, stride);
    by_tile!(2, 2, rows, xs.len(), q2_k_tile, w, xs, ys, stride; |t: usize| q2_k_matvec(w, &xs[t], &mut ys[t * stride..t * stride + rows]))
}

/// Q6_K's and Q3_K's prompt tiles ([`q6_k_matmul`], [`q3_k_matmul`]). Their codes are signed
/// (−32..31, −4..3) and their eight integer lanes are the reference's (value e in lane e mod 8,
/// each lane converted to f32 on its own), so per pair of sub-blocks (32 values, a = 0..15,
/// b = 16..31) both operands' codes are put in an order in which the dot products' pairs are two
/// values of one reference lane — a row's codes once per matrix call for all its tokens, a
/// token's once per call for all rows — and the products then give [`lanes8`]' i32 lanes without
/// a shuffle:
/// - SIMD128: the codes widened to i16, the weights' times their sub-block's scale (exact:
///   |code·scale| ≤ 32·128), so one `i32x4_dot_i16x8` per eight values is code·scale·x summed in
///   pairs (values m and m + 8 of one sub-block) into lane m;
/// - relaxed SIMD: `i16x8.relaxed_dot_i8x16_i7x16_s` on the bytes (i16 lane 2m: a's values m and
///   m + 8, lane 2m + 1: b's), the weights' codes plus OFF (32, 4: 0..63, 0..7) its 7-bit operand,
///   exact on every engine; OFF times the activations' pair sums is subtracted from each i16 lane
///   (exact: |true lane| ≤ 2·32·128), then `i32x4_dot_i16x8` with the two sub-blocks' scales.
///
/// Per row, token and 32 values four `i32x4_dot_i16x8` and four adds (SIMD128), or two dots, two
/// subtractions, two `i32x4_dot_i16x8` and two adds (relaxed), where the earlier tile took four
/// multiplies, two adds, two shuffles and two `i32x4_dot_i16x8` and two adds. The float
/// operations are the matrix-vector kernel's, so the outputs are the reference's, bit for bit.
mod tiles6 {
    use super::*;

    /// The tile's rows and tokens (2 × 4 and 4 × 2 measured within ±4 % of it in Chromium, one
    /// run interleaved, 64-token prompts of the Q6_K, Q3_K_M and Q2_K files, relaxed build).
    const TILE: (usize, usize) = (2, 2);

    /// A super-block's codes as the tile reads them: per 32-value chunk p, SIMD128 four i16x8
    /// (4p: a's values m, m + 8 for m < 4; 4p + 1: b's; 4p + 2, 4p + 3: the same for m ≥ 4),
    /// relaxed two i8x16 (2p: i16 lanes 2m, 2m + 1 = a's, b's values m, m + 8 for m < 4; 2p + 1:
    /// m ≥ 4).
    #[cfg(not(target_feature = "relaxed-simd"))]
    type Codes = [v128; 32];
    #[cfg(target_feature = "relaxed-simd")]
    type Codes = [v128; 16];

    /// Chunk p's two 16-byte halves (a, b) of a super-block's 256 codes.
    #[inline(always)]
    fn halves(q: &[i8; QK_K], p: usize) -> (v128, v128) {
        // SAFETY: two 16-byte loads of codes 32p..32p + 32 of 256.
        unsafe { (v128_load(q.as_ptr().add(32 * p) as *const v128), v128_load(q.as_ptr().add(32 * p + 16) as *const v128)) }
    }

    /// [`Codes`] of 256 codes, each SIMD128 i16 times `scale(sub-block)`, each relaxed byte plus
    /// OFF.
    #[inline(always)]
    fn codes<const OFF: i16>(q: &[i8; QK_K], scale: impl Fn(usize) -> i16) -> Codes {
        let mut out = [i32x4_splat(0); core::mem::size_of::<Codes>() / 16];
        for p in 0..QK_K / 32 {
            let (a, b) = halves(q, p);
            #[cfg(not(target_feature = "relaxed-simd"))]
            {
                let pairs = |v: v128| i8x16_shuffle::<0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15>(v, v);
                let (a, b) = (pairs(a), pairs(b));
                let (sa, sb) = (i16x8_splat(scale(2 * p)), i16x8_splat(scale(2 * p + 1)));
                out[4 * p] = i16x8_mul(i16x8_extend_low_i8x16(a), sa);
                out[4 * p + 1] = i16x8_mul(i16x8_extend_low_i8x16(b), sb);
                out[4 * p + 2] = i16x8_mul(i16x8_extend_high_i8x16(a), sa);
                out[4 * p + 3] = i16x8_mul(i16x8_extend_high_i8x16(b), sb);
            }
            #[cfg(target_feature = "relaxed-simd")]
            {
                let off = i8x16_splat(OFF as i8);
                out[2 * p] = i8x16_add(i8x16_shuffle::<0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27>(a, b), off);
                out[2 * p + 1] = i8x16_add(i8x16_shuffle::<4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31>(a, b), off);
                let _ = &scale;
            }
        }
        out
    }

    /// A token's Q8_K super-block for the tile: its codes as [`Codes`] (scale 1, no offset), in
    /// the relaxed build OFF times each i16 lane's pair of codes, and its scale.
    #[derive(Clone, Copy)]
    pub(super) struct Ordered {
        q: Codes,
        #[cfg(target_feature = "relaxed-simd")]
        off: [v128; 16],
        d: f32,
    }

    fn order_x<const OFF: i16>(x: &BlockQ8K) -> Ordered {
        #[cfg(not(target_feature = "relaxed-simd"))]
        return Ordered { q: codes::<OFF>(&x.qs, |_| 1), d: x.d };
        #[cfg(target_feature = "relaxed-simd")]
        {
            // The activations' bytes in the weights' order, without the offset.
            let q = codes::<0>(&x.qs, |_| 1);
            let off = core::array::from_fn(|i| i16x8_mul(i16x8_extadd_pairwise_i8x16(q[i]), i16x8_splat(OFF)));
            Ordered { q, off, d: x.d }
        }
    }

    /// Chunk p's contribution to one output's eight integer lanes.
    #[inline(always)]
    #[allow(clippy::incompatible_msrv)]
    fn chunk(w: &BlockQ6K, c: &Codes, x: &Ordered, p: usize, (lo, hi): (v128, v128)) -> (v128, v128) {
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            let _ = w;
            let dot = |i: usize| i32x4_dot_i16x8(c[i], x.q[i]);
            (i32x4_add(lo, i32x4_add(dot(4 * p), dot(4 * p + 1))), i32x4_add(hi, i32x4_add(dot(4 * p + 2), dot(4 * p + 3))))
        }
        #[cfg(target_feature = "relaxed-simd")]
        {
            // SAFETY: a 4-byte load of scales 2p, 2p + 1 of 16.
            let s = unsafe { v128_load32_splat(w.scales.as_ptr().add(2 * p) as *const u32) };
            let l = i16x8_sub(i16x8_relaxed_dot_i8x16_i7x16(x.q[2 * p], c[2 * p]), x.off[2 * p]);
            let h = i16x8_sub(i16x8_relaxed_dot_i8x16_i7x16(x.q[2 * p + 1], c[2 * p + 1]), x.off[2 * p + 1]);
            (i32x4_add(lo, i32x4_dot_i16x8(l, s)), i32x4_add(hi, i32x4_dot_i16x8(h, s)))
        }
    }

    /// Outputs (r + k, t + j), k < K, j < TK: `cs` the K rows' super-blocks as [`Codes`], `xs`
    /// the tokens' (nb per token); per super-block `update(acc, lo, hi, d_w·d_x)` with the
    /// reference's integer lanes, then `finish`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn tile<A: Copy, const K: usize, const TK: usize>(
        w: &[BlockQ6K],
        cs: &[Codes],
        xs: &[Ordered],
        nb: usize,
        ys: &mut [f32],
        stride: usize,
        r: usize,
        t: usize,
        init: A,
        update: impl Fn(A, v128, v128, f32) -> A,
        finish: impl Fn(A) -> f32,
    ) {
        let mut acc = [[init; TK]; K];
        for b in 0..nb {
            let rows: [&BlockQ6K; K] = core::array::from_fn(|k| &w[(r + k) * nb + b]);
            let c: [&Codes; K] = core::array::from_fn(|k| &cs[k * nb + b]);
            let xb: [&Ordered; TK] = core::array::from_fn(|j| &xs[(t + j) * nb + b]);
            let mut lanes = [[(i32x4_splat(0), i32x4_splat(0)); TK]; K];
            for p in 0..QK_K / 32 {
                for k in 0..K {
                    for j in 0..TK {
                        lanes[k][j] = chunk(rows[k], c[k], xb[j], p, lanes[k][j]);
                    }
                }
            }
            for k in 0..K {
                for j in 0..TK {
                    acc[k][j] = update(acc[k][j], lanes[k][j].0, lanes[k][j].1, rows[k].d * xb[j].d);
                }
            }
        }
        for k in 0..K {
            for j in 0..TK {
                ys[(t + j) * stride + r + k] = finish(acc[k][j]);
            }
        }
    }

    /// The tile loop of Q6_K (OFF 32) or Q3_K (OFF 4): rows [`TILE`].0 at a time, each ordered
    /// once, against the tokens [`TILE`].1 at a time; a row or token left over goes to the
    /// matrix-vector kernel (`matvec`, a generated token's path).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matmul<A: Copy, const OFF: i16>(
        w: &[BlockQ6K],
        xs: &[Vec<BlockQ8K>],
        ys: &mut [f32],
        stride: usize,
        rows: usize,
        init: A,
        update: impl Fn(A, v128, v128, f32) -> A + Copy,
        finish: impl Fn(A) -> f32 + Copy,
        matvec: fn(&[BlockQ6K], &[BlockQ8K], &mut [f32]),
    ) {
        const K: usize = TILE.0;
        const TK: usize = TILE.1;
        if rows == 0 {
            return;
        }
        let nb = xs[0].len();
        let full_t = xs.len() / TK * TK;
        let ordered: Vec<Ordered> = xs[..full_t].iter().flat_map(|x| x.iter().map(order_x::<OFF>)).collect();
        let mut cs = vec![[i32x4_splat(0); core::mem::size_of::<Codes>() / 16]; K * nb];
        let full_r = if full_t > 0 { rows / K * K } else { 0 };
        for r in (0..full_r).step_by(K) {
            for (c, b) in cs.iter_mut().zip(&w[r * nb..(r + K) * nb]) {
                *c = codes::<OFF>(&b.q, |i| b.scales[i]);
            }
            for t in (0..full_t).step_by(TK) {
                tile::<A, K, TK>(w, &cs, &ordered, nb, ys, stride, r, t, init, update, finish);
            }
        }
        // A row left over: the matrix-vector kernel on that row alone, token by token.
        for r in full_r..rows {
            for t in 0..full_t {
                matvec(&w[r * nb..(r + 1) * nb], &xs[t], &mut ys[t * stride + r..t * stride + r + 1]);
            }
        }
        for t in full_t..xs.len() {
            matvec(w, &xs[t], &mut ys[t * stride..t * stride + rows]);
        }
    }
}
