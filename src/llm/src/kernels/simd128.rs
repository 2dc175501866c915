//! The SIMD128 kernels: each equals its `reference.rs` definition bit for bit — integer sums are
//! exact whatever their grouping, so only the lane a value lands in matters, and every float
//! operation is the reference's, lane for lane, in the same order.
//!
//! The matrix products take four rows at a time: the activation block is loaded (and widened to
//! i16) once for four weight rows, and the four rows' accumulators are independent chains.

use crate::blocks::{BlockIq4Xs, BlockQ8Min, BlockQ8_0, QK};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
use core::arch::wasm32::*;
use half::f16;

/// Rows a matrix kernel takes together.
const R: usize = 4;

/// Two f32x4 accumulators are ggml's eight lanes: lanes 0–3 and 4–7.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let chunks = n / 8;
    let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for c in 0..chunks {
        // SAFETY: c·8 + 8 ≤ n ≤ both lengths; v128 loads have no alignment requirement.
        let (a0, a1, b0, b1) = unsafe {
            let (pa, pb) = (a.as_ptr().add(c * 8) as *const v128, b.as_ptr().add(c * 8) as *const v128);
            (v128_load(pa), v128_load(pa.add(1)), v128_load(pb), v128_load(pb.add(1)))
        };
        lo = f32x4_add(lo, f32x4_mul(a0, b0));
        hi = f32x4_add(hi, f32x4_mul(a1, b1));
    }
    finish_dot(lo, hi, &a[chunks * 8..n], &b[chunks * 8..n])
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

/// Four rows of `dot` sharing the loads of x.
pub fn f32_matvec(w: &[f32], x: &[f32], y: &mut [f32]) {
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
                    lo[k] = f32x4_add(lo[k], f32x4_mul(v128_load(pw), x0));
                    hi[k] = f32x4_add(hi[k], f32x4_mul(v128_load(pw.add(1)), x1));
                }
            }
        }
        for k in 0..R {
            let row = &w[(r + k) * n..(r + k + 1) * n];
            y[r + k] = finish_dot(lo[k], hi[k], &row[chunks * 8..], &x[chunks * 8..]);
        }
    }
    for r in full..y.len() {
        y[r] = dot(&w[r * n..(r + 1) * n], x);
    }
}

/// `quantize_row_q8_0` (x86 rounding, see the reference): amax as a running `pmax` from 0, which
/// skips NaN as `f32::max` does; codes rounded to even, then saturated to i8 as `as i8` saturates.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<BlockQ8_0>) {
    out.clear();
    for v in x.chunks_exact(QK) {
        // SAFETY: eight unaligned 16-byte loads of the block's 32 f32.
        let vs: [v128; 8] = core::array::from_fn(|i| unsafe { v128_load(v.as_ptr().add(4 * i) as *const v128) });
        let mut m = f32x4_splat(0.0);
        for &s in &vs {
            m = f32x4_pmax(m, f32x4_abs(s));
        }
        let amax =
            f32x4_extract_lane::<0>(m).max(f32x4_extract_lane::<1>(m)).max(f32x4_extract_lane::<2>(m)).max(f32x4_extract_lane::<3>(m));
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
        let mut m = f32x4_splat(0.0);
        for i in 0..QK_K / 4 {
            m = f32x4_pmax(m, f32x4_abs(load(i)));
        }
        let amax =
            f32x4_extract_lane::<0>(m).max(f32x4_extract_lane::<1>(m)).max(f32x4_extract_lane::<2>(m)).max(f32x4_extract_lane::<3>(m));
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

/// Q4_K and Q5_K: per sub-block of 32 the codes (bytes, widened) times the activations in i16
/// (four products per lane, |·| ≤ 4·31·128), then `i32x4_dot_i16x8` with the scale; only the
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
            // SAFETY: four 8-byte loads of codes 32j..32j + 32 of 256.
            let xv: [v128; 4] = core::array::from_fn(|i| unsafe { ld8(xb.qs.as_ptr().add(32 * j + 8 * i)) });
            for k in 0..K {
                let wb = rows[k];
                // SAFETY: four 8-byte loads of codes 32j..32j + 32 of 256.
                let wv: [v128; 4] = core::array::from_fn(|i| unsafe { ld8(wb.q.as_ptr().add(32 * j + 8 * i)) });
                let p = i16x8_add(
                    i16x8_add(i16x8_mul(wv[0], xv[0]), i16x8_mul(wv[1], xv[1])),
                    i16x8_add(i16x8_mul(wv[2], xv[2]), i16x8_mul(wv[3], xv[3])),
                );
                acc[k] = i32x4_add(acc[k], i32x4_dot_i16x8(p, i16x8_splat(wb.scales[j] as i16)));
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
        y[r + k] = s.iter().fold(0f32, |a, &v| a + v);
    }
}

pub fn q6_k_matvec(w: &[BlockQ6K], x: &[BlockQ8K], y: &mut [f32]) {
    assert!(w.len() >= y.len() * x.len(), "q6_k_matvec: {} blocks for {} rows of {}", w.len(), y.len(), x.len());
    by_four!(y, q6_k_rows, w, x)
}

/// Q2_K: its scaled codes (bytes, 0..45) times the activations as Q8_0's ([`dot4`]; |·| ≤
/// 2·45·128 per lane); only the super-block's total matters, the lanes are free.
#[inline(always)]
fn q2_k_rows<const K: usize>(w: &[BlockQ2K], x: &[BlockQ8K], r: usize, y: &mut [f32]) {
    let nb = x.len();
    let mut sumf = [0f32; K];
    for (b, xb) in x.iter().enumerate() {
        let rows: [&BlockQ2K; K] = core::array::from_fn(|k| &w[(r + k) * nb + b]);
        let mut acc = [i32x4_splat(0); K];
        for c in 0..QK_K / 32 {
            // SAFETY: four 8-byte loads of codes 32c..32c + 32 of 256.
            let xv: [v128; 4] = core::array::from_fn(|i| unsafe { ld8(xb.qs.as_ptr().add(32 * c + 8 * i)) });
            for k in 0..K {
                // SAFETY: four 8-byte loads of codes 32c..32c + 32 of 256.
                let wv = core::array::from_fn(|i| unsafe { ld8(rows[k].q.as_ptr().add(32 * c + 8 * i)) });
                acc[k] = i32x4_add(acc[k], dot4(wv, &xv));
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
