//! SIMD128 kernels for the bitsandbytes 4-bit hot paths, each bit-identical to its scalar
//! reference in reference.rs;
//! src/core/tests/bnb_fixtures.rs runs both on every f32 bit-pattern class and awkward lengths, and the
//! fixture tests run through these kernels in the browser. Tails go through the reference.

use super::{Code4, Scaling, BLOCK};
use core::arch::wasm32::*;

/// Max |x| over finite x; reference `reference::block_absmax`. Max is exact and order-free, so
/// four lanes then a horizontal max equal the sequential fold.
pub fn block_absmax(block: &[f32]) -> f32 {
    let n4 = block.len() / 4 * 4;
    let mut acc = f32x4_splat(0.0);
    for i in (0..n4).step_by(4) {
        // SAFETY: i + 4 <= block.len(); wasm loads need no alignment.
        let x = unsafe { v128_load(block.as_ptr().add(i) as *const v128) };
        let a = f32x4_abs(x);
        // Non-finite lanes (NaN compares false) become 0. Every lane is then a non-negative
        // number (no NaN, no −0), where `pmax` (one instruction) is `max` (about eight on x64 V8).
        let finite = f32x4_lt(a, f32x4_splat(f32::INFINITY));
        acc = f32x4_pmax(acc, v128_and(a, finite));
    }
    let lanes = [f32x4_extract_lane::<0>(acc), f32x4_extract_lane::<1>(acc), f32x4_extract_lane::<2>(acc), f32x4_extract_lane::<3>(acc)];
    let tail = super::reference::block_absmax(&block[n4..]);
    lanes.into_iter().fold(tail, f32::max)
}

/// 4-bit codes of one block; reference `reference::encode_block`: scale (f32 mul or div, as IEEE
/// requires on both paths), clamp to [−1, 1], count the midpoints strictly below (15 compares,
/// each mask −1 subtracted), NaN → the position of 0.0, then the sorted position → code
/// through the table's argsort (identity for NF4).
pub fn encode_block(code: Code4, block: &[f32], scaling: Scaling, out: &mut [u8]) {
    let bounds = code.bounds();
    let order = code.order();
    let zero = i32x4_splat(code.zero_position() as i32);
    #[cfg(feature = "fast-kernels")]
    let n16 = encode_16s(&Lanes4::new(code), block, scaling, out);
    #[cfg(not(feature = "fast-kernels"))]
    let n16 = 0;
    let n4 = block.len() / 4 * 4;
    for i in (n16..n4).step_by(4) {
        // SAFETY: i + 4 <= block.len().
        let x = unsafe { v128_load(block.as_ptr().add(i) as *const v128) };
        let s = match scaling {
            Scaling::Mul(r) => f32x4_mul(x, f32x4_splat(r)),
            Scaling::Div(d) => f32x4_div(x, f32x4_splat(d)),
        };
        let c = f32x4_min(f32x4_max(s, f32x4_splat(-1.0)), f32x4_splat(1.0));
        let mut k = i32x4_splat(0);
        for &b in &bounds {
            k = i32x4_sub(k, f32x4_lt(f32x4_splat(b), c));
        }
        k = v128_bitselect(zero, k, f32x4_ne(s, s));
        out[i] = order[i32x4_extract_lane::<0>(k) as usize];
        out[i + 1] = order[i32x4_extract_lane::<1>(k) as usize];
        out[i + 2] = order[i32x4_extract_lane::<2>(k) as usize];
        out[i + 3] = order[i32x4_extract_lane::<3>(k) as usize];
    }
    super::reference::encode_block(code, &block[n4..], scaling, &mut out[n4..]);
}

/// A code's midpoints, argsort and the position of 0.0 as lanes, made once per tensor (each is
/// computed from the table, which costs more than encoding a block).
#[cfg(feature = "fast-kernels")]
#[derive(Clone, Copy)]
pub(super) struct Lanes4 {
    bounds: [v128; 15],
    order: v128,
    zero: v128,
    grid: Option<Grid>,
}

/// The count of midpoints below `c` by table lookup, for a code whose midpoints fall one at most
/// in each of the 32 cells `[k/16 − 1, (k+1)/16 − 1)` of [−1, 1) (NF4's do; bnb FP4's, close
/// around 0, do not): cell `k = floor(16c) + 16` (exact: `16c` is a power-of-two scaling), the
/// count is the midpoints in earlier cells (all below `c`) plus one if the cell's own midpoint
/// is below `c` — the 15 compares' count. `c = 1` (cell 32) reads cell 31, whose midpoint if
/// any is below 1. Tables of 32 entries as two 16-entry swizzles each: the counts (bytes) and
/// the cell's midpoint as four byte planes (+Inf where a cell has none).
#[cfg(feature = "fast-kernels")]
#[derive(Clone, Copy)]
struct Grid {
    base: [v128; 2],
    planes: [[v128; 2]; 4],
}

#[cfg(feature = "fast-kernels")]
impl Grid {
    fn new(bounds: &[f32; 15]) -> Option<Self> {
        let cell = |b: f32| ((b * 16.0).floor() + 16.0) as usize;
        let mut mid = [f32::INFINITY; 32];
        let mut base = [0u8; 32];
        for &b in bounds {
            let k = cell(b);
            if !(-1.0..1.0).contains(&b) || mid[k] != f32::INFINITY {
                return None;
            }
            mid[k] = b;
            base[k + 1..].iter_mut().for_each(|c| *c += 1);
        }
        let load = |b: &[u8]| -> v128 {
            let b = &b[..16];
            // SAFETY: 16 readable bytes; unaligned loads are fine in wasm.
            unsafe { v128_load(b.as_ptr() as *const v128) }
        };
        let plane = |p: usize| -> [u8; 32] { core::array::from_fn(|k| mid[k].to_bits().to_le_bytes()[p]) };
        let planes = [0, 1, 2, 3].map(|p| {
            let b = plane(p);
            [load(&b[..16]), load(&b[16..])]
        });
        Some(Grid { base: [load(&base[..16]), load(&base[16..])], planes })
    }

    /// The sorted positions of sixteen clamped values (`c`: four vectors in [−1, 1], none NaN)
    /// as bytes.
    #[inline(always)]
    fn positions(&self, c: &[v128; 4]) -> v128 {
        let magic = f32x4_splat(12_582_912.0 + 16.0);
        // floor(16c) + 16 + 1.5·2^23 is exact, and its bits are 0x4b40_0000 + the cell.
        let cells: [v128; 4] = core::array::from_fn(|k| {
            i32x4_sub(f32x4_add(f32x4_floor(f32x4_mul(c[k], f32x4_splat(16.0))), magic), i32x4_splat(0x4b40_0000))
        });
        let cells =
            u8x16_min(u8x16_narrow_i16x8(i16x8_narrow_i32x4(cells[0], cells[1]), i16x8_narrow_i32x4(cells[2], cells[3])), u8x16_splat(31));
        // Cells 16..32 index the second tables; below 16 the subtraction wraps past 15 and
        // the swizzle gives 0 (and the first tables give 0 for 16 and above).
        let high = i8x16_sub(cells, u8x16_splat(16));
        let pick = |t: &[v128; 2]| v128_or(u8x16_swizzle(t[0], cells), u8x16_swizzle(t[1], high));
        let p = self.planes.each_ref().map(pick);
        // Byte planes → the midpoints as four f32x4, in element order.
        let lo01 = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(p[0], p[1]);
        let hi01 = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(p[0], p[1]);
        let lo23 = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(p[2], p[3]);
        let hi23 = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(p[2], p[3]);
        let mids = [
            i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(lo01, lo23),
            i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(lo01, lo23),
            i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(hi01, hi23),
            i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(hi01, hi23),
        ];
        let below: [v128; 4] = core::array::from_fn(|k| f32x4_lt(mids[k], c[k]));
        // −1 per midpoint below: subtracting adds one.
        let below = i8x16_narrow_i16x8(i16x8_narrow_i32x4(below[0], below[1]), i16x8_narrow_i32x4(below[2], below[3]));
        i8x16_sub(pick(&self.base), below)
    }
}

#[cfg(feature = "fast-kernels")]
impl Lanes4 {
    pub(super) fn new(code: Code4) -> Self {
        let b = code.bounds();
        Lanes4 {
            bounds: core::array::from_fn(|i| f32x4_splat(b[i])),
            // SAFETY: [u8; 16] and v128 have the same size; unaligned loads are fine in wasm.
            order: unsafe { v128_load(code.order().as_ptr() as *const v128) },
            zero: i32x4_splat(code.zero_position() as i32),
            grid: Grid::new(&b),
        }
    }
}

/// The `fast-kernels` step of [`encode_block`]: the same positions, sixteen values a step; the
/// four position vectors (each lane in 0..=15) narrow exactly to sixteen bytes and one swizzle
/// through the argsort gives the codes, instead of four lane extracts and table loads per
/// vector. Returns how many values it encoded (whole steps of 16).
#[cfg(feature = "fast-kernels")]
pub(super) fn encode_16s(lanes: &Lanes4, block: &[f32], scaling: Scaling, out: &mut [u8]) -> usize {
    let Lanes4 { bounds, order, zero, grid } = *lanes;
    let (lo, hi) = (f32x4_splat(-1.0), f32x4_splat(1.0));
    // The count of bounds below c by binary search: the bounds are sorted, so `b[j] < c` holds
    // for a prefix of j and its length is found in four compares, each picking the next
    // bound per lane from the masks so far (bitselects) — the count the 15 compares give.
    let position = |x: v128| {
        let s = match scaling {
            Scaling::Mul(r) => f32x4_mul(x, f32x4_splat(r)),
            Scaling::Div(d) => f32x4_div(x, f32x4_splat(d)),
        };
        // `pmin`/`pmax` (one instruction each where `min`/`max` are about eight on x64 V8): they
        // differ from `min`/`max` only on NaN (here `c` = −1, but a NaN `s` takes the zero
        // position below whatever `c` is) and on the sign of a zero (`c` only meets `<`).
        let c = f32x4_pmin(f32x4_pmax(lo, s), hi);
        let m8 = f32x4_lt(bounds[7], c);
        let m4 = f32x4_lt(v128_bitselect(bounds[11], bounds[3], m8), c);
        let b2 = v128_bitselect(v128_bitselect(bounds[13], bounds[9], m4), v128_bitselect(bounds[5], bounds[1], m4), m8);
        let m2 = f32x4_lt(b2, c);
        let pick = |at: usize| v128_bitselect(bounds[at + 2], bounds[at], m2);
        let b1 = v128_bitselect(v128_bitselect(pick(12), pick(8), m4), v128_bitselect(pick(4), pick(0), m4), m8);
        let m1 = f32x4_lt(b1, c);
        let k = v128_or(
            v128_or(v128_and(m8, i32x4_splat(8)), v128_and(m4, i32x4_splat(4))),
            v128_or(v128_and(m2, i32x4_splat(2)), v128_and(m1, i32x4_splat(1))),
        );
        v128_bitselect(zero, k, f32x4_ne(s, s))
    };
    let n16 = block.len() / 16 * 16;
    // NF4: the positions by the grid's lookups (about a third of the binary search's
    // operations); a NaN `s` takes the zero position, as below.
    if let Some(grid) = grid {
        for i in (0..n16).step_by(16) {
            // SAFETY: i + 16 <= block.len().
            let s: [v128; 4] = core::array::from_fn(|j| {
                let x = unsafe { v128_load(block.as_ptr().add(i + 4 * j) as *const v128) };
                match scaling {
                    Scaling::Mul(r) => f32x4_mul(x, f32x4_splat(r)),
                    Scaling::Div(d) => f32x4_div(x, f32x4_splat(d)),
                }
            });
            // `pmax(lo, s)` is −1 for a NaN `s` (overridden below); see `position`.
            let c = s.map(|s| f32x4_pmin(f32x4_pmax(lo, s), hi));
            let nan = s.map(|s| f32x4_ne(s, s));
            let nan = i8x16_narrow_i16x8(i16x8_narrow_i32x4(nan[0], nan[1]), i16x8_narrow_i32x4(nan[2], nan[3]));
            let zero = i8x16_splat(i32x4_extract_lane::<0>(zero) as i8);
            let k = v128_bitselect(zero, grid.positions(&c), nan);
            crate::simd128_io::store16(&mut out[i..], u8x16_swizzle(order, k));
        }
        return n16;
    }
    for i in (0..n16).step_by(16) {
        // SAFETY: i + 16 <= block.len().
        let k: [v128; 4] = core::array::from_fn(|j| position(unsafe { v128_load(block.as_ptr().add(i + 4 * j) as *const v128) }));
        let bytes = u8x16_narrow_i16x8(i16x8_narrow_i32x4(k[0], k[1]), i16x8_narrow_i32x4(k[2], k[3]));
        crate::simd128_io::store16(&mut out[i..], u8x16_swizzle(order, bytes));
    }
    n16
}

/// `table[code] · absmax`; reference `reference::decode_codes`. Sixteen codes (8 bytes) per step: the
/// nibbles are split and interleaved high-first, the 16-entry f32 table is looked up with four
/// byte-plane swizzles, the planes are re-interleaved into four f32x4 and multiplied.
pub fn decode_codes(table: &[f32; 16], packed: &[u8], absmax: &[f32], out: &mut [f32]) {
    let bytes: [[u8; 16]; 4] = std::array::from_fn(|p| std::array::from_fn(|c| table[c].to_bits().to_le_bytes()[p]));
    // SAFETY: [u8; 16] and v128 have the same size; unaligned loads are fine in wasm.
    let planes: [v128; 4] = bytes.map(|b| unsafe { v128_load(b.as_ptr() as *const v128) });
    let n = out.len();
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        let scale = f32x4_splat(absmax[start / BLOCK]);
        let mut i = start;
        // Blocks start at even offsets (64 | start), so element i is the high nibble of byte i/2.
        while i + 16 <= end {
            // SAFETY: bytes i/2 .. i/2 + 8 exist since packed.len() * 2 >= n >= i + 16; the
            // stores write out[i .. i + 16], in bounds.
            unsafe {
                let raw = v128_load64_zero(packed.as_ptr().add(i / 2) as *const u64);
                let hi = u8x16_shr(raw, 4);
                let lo = v128_and(raw, u8x16_splat(0x0f));
                let idx = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(hi, lo);
                let p0 = u8x16_swizzle(planes[0], idx);
                let p1 = u8x16_swizzle(planes[1], idx);
                let p2 = u8x16_swizzle(planes[2], idx);
                let p3 = u8x16_swizzle(planes[3], idx);
                let lo01 = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(p0, p1);
                let hi01 = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(p0, p1);
                let lo23 = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(p2, p3);
                let hi23 = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(p2, p3);
                let v0 = i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(lo01, lo23);
                let v1 = i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(lo01, lo23);
                let v2 = i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(hi01, hi23);
                let v3 = i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(hi01, hi23);
                let o = out.as_mut_ptr().add(i) as *mut v128;
                v128_store(o, f32x4_mul(v0, scale));
                v128_store(o.add(1), f32x4_mul(v1, scale));
                v128_store(o.add(2), f32x4_mul(v2, scale));
                v128_store(o.add(3), f32x4_mul(v3, scale));
            }
            i += 16;
        }
        // The tail of the block: the reference on a 64-aligned view keeps i / 64 meaning.
        if i < end {
            super::reference::decode_codes(table, &packed[i / 2..], &absmax[start / BLOCK..start / BLOCK + 1], &mut out[i..end]);
        }
        start = end;
    }
}
