//! Matrix multiplication for the model engine: f32 GEMM and 8-bit integer GEMM with zero
//! points (ONNX `MatMulInteger` semantics), plus the requantization QLinearMatMul/QLinearConv
//! apply to the i32 result.
//!
//! All matrices are row-major and contiguous: A is m×k, B is k×n, C is m×n.
//!
//! Two ways in, same results:
//! - [`gemm_f32`], [`matmul_integer`]: B as given; it is packed on every call.
//! - [`PackedF32B`] / [`PackedI8B`] packed once (weights are constant), then
//!   [`gemm_f32_packed`] / [`matmul_integer_packed`] per call. This is the fast path, and at
//!   batch 1 (m = 1) the only fast one: packing B costs as much as the product itself.
//!
//! A QLinearMatMul-style layer with constant weights:
//! ```
//! use quantscope_gemm::{matmul_integer_packed, qlinear_multiplier, requantize_u8, PackedI8B};
//! let (m, k, n) = (2, 3, 2);
//! let w: Vec<i8> = vec![1, -2, 3, 4, 5, -6]; // k×n
//! let packed = PackedI8B::new(k, n, &w, &[0]); // once, when the model loads
//! let x: Vec<u8> = vec![130, 128, 126, 128, 129, 127]; // m×k, zero point 128
//! let mut acc = vec![0i32; m * n];
//! matmul_integer_packed(m, &x, &[128], &packed, &mut acc); // per call
//! assert_eq!(acc, [-8, 8, -2, 10]);
//! let mult = qlinear_multiplier(0.5, 0.25, 0.125); // a_scale·b_scale/y_scale = 1
//! let mut y = vec![0u8; m * n];
//! requantize_u8(&acc, &[mult], 100, &mut y);
//! assert_eq!(y, [92, 108, 98, 110]);
//! ```
//!
//! Exactness: the integer GEMM is bit-exact with [`reference::matmul_integer`] (wrapping i32)
//! on every target. The f32 GEMM is bit-exact with [`reference::gemm_f32`] too: every kernel
//! computes each `C[i][j]` as `((0 + a₀b₀) + a₁b₁) + …` over l in order, with a separately
//! rounded multiply and add (no FMA), which is exactly the reference's sum. A mostly-zero A
//! (a one-hot encoding) takes a path that skips its zeros (`sparse.rs`), which changes no bit
//! when B is finite and is not taken when it is not. The tolerance a
//! caller comparing against another library (a different summation order) should use is
//! `|Δ| ≤ k·ε·Σ_l |a_il·b_lj|` (ε = 2⁻²⁴).
//!
//! Kernels: on wasm32 with `simd128`, `simd128.rs` (register-blocked micro-kernels; its header
//! records the design and the measurements behind it); elsewhere the scalar `portable.rs`
//! kernels over the same packed layout, and the [`mod@reference`] for the unpacked entry points.
//! The choice is made in this file only.
//!
//! Requantization ([`requantize_u8`], [`requantize_i8`]) follows ONNX Runtime's CPU kernels
//! (`MlasRequantizeOutput`, used by QLinearMatMul and QLinearConv): `acc as f32 × multiplier`
//! in f32, clamped, rounded half to even, plus the zero point. ONNX's Python reference
//! (`onnx/reference/ops/op_qlinear_matmul.py`) multiplies in f64 instead and can differ by one
//! where the f32 product rounds onto a .5 tie; quantscope matches ONNX Runtime.

pub mod bench;
mod pack;
mod portable;
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8"))]
mod relaxed;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;
mod sparse;

pub use pack::{PackedF32A, PackedF32B, PackedI8A, PackedI8B, NR};

// The A packers live here, beside the kernels' dispatch: with SIMD128 in the micro-kernel's block
// order (simd128.rs), else row by row (pack.rs holds the types and no kernel).
impl PackedF32A {
    /// Packs `a` (m×k, row-major). Panics if `a` is shorter than m×k. Not inlined: one copy
    /// of the packing serves every caller (the modules' size).
    #[inline(never)]
    pub fn new(m: usize, k: usize, a: &[f32]) -> Self {
        assert!(a.len() >= m * k, "PackedF32A: a is shorter than m×k");
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let data = simd128::pack_a_f32_all(m, k, a);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let data = a[..m * k].iter().map(|x| x.to_bits()).collect();
        PackedF32A { m, k, data }
    }
}

impl PackedI8A {
    /// Packs `a` (m×k, row-major) minus `a_zp` (one zero point, or one per row, each within
    /// A's range). Panics if `a` is shorter than m×k or a zero point is out of range.
    pub fn new<A: Int8>(m: usize, k: usize, a: &[A], a_zp: &[i32]) -> Self {
        assert!(a.len() >= m * k, "PackedI8A: a is shorter than m×k");
        check_zero_points::<A>("a_zp", a_zp, m, "row");
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let data = simd128::pack_a_i8_all(m, k, a, a_zp);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let data = (0..m)
            .flat_map(|i| {
                let (row, za) = (&a[i * k..(i + 1) * k], zero_point(a_zp, i));
                (0..k.div_ceil(2)).map(move |q| {
                    let lo = (row[2 * q].to_i32() - za) as u16 as u32;
                    let hi = row.get(2 * q + 1).map_or(0, |x| (x.to_i32() - za) as u16 as u32);
                    lo | hi << 16
                })
            })
            .collect();
        PackedI8A { m, k, data }
    }
}
/// Four rows of four 32-bit lanes transposed (the panel packers' shuffle; the training crate's
/// weight-gradient panels use it too).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd128::transpose4;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
}

/// An 8-bit integer element: `u8` or `i8`, as MatMulInteger's A and B may be either.
/// Sealed: the SIMD kernels read these as bytes.
pub trait Int8: Copy + Send + Sync + 'static + sealed::Sealed {
    /// Whether the bytes are two's-complement signed.
    const SIGNED: bool;
    /// The smallest and largest value, as i32 (the valid zero-point range).
    const MIN: i32;
    const MAX: i32;
    fn to_i32(self) -> i32;
}

impl Int8 for u8 {
    const SIGNED: bool = false;
    const MIN: i32 = 0;
    const MAX: i32 = 255;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
}

impl Int8 for i8 {
    const SIGNED: bool = true;
    const MIN: i32 = -128;
    const MAX: i32 = 127;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
}

/// An 8-bit slice as its bytes (the bits unchanged).
pub fn int8_bytes<T: Int8>(v: &[T]) -> &[u8] {
    // SAFETY: T is u8 or i8 (the trait is sealed): one byte, any bit pattern.
    unsafe { core::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
}

/// Bytes as an 8-bit slice of type `T` (the bits unchanged).
pub fn int8_from_bytes<T: Int8>(v: &[u8]) -> &[T] {
    // SAFETY: as for int8_bytes.
    unsafe { core::slice::from_raw_parts(v.as_ptr() as *const T, v.len()) }
}

#[inline(always)]
pub(crate) fn zero_point(zp: &[i32], i: usize) -> i32 {
    if zp.len() == 1 {
        zp[0]
    } else {
        zp[i]
    }
}

/// Zero points: one, or one per row/column (`count`), each within `T`'s range. In range, every
/// `x − zp` lies in [−255, 255], which is what lets the kernels work in i16.
pub(crate) fn check_zero_points<T: Int8>(name: &str, zp: &[i32], count: usize, per: &str) {
    assert!(zp.len() == 1 || zp.len() == count, "{name}: one zero point or one per {per} ({count}), got {}", zp.len());
    assert!(
        zp.iter().all(|z| (T::MIN..=T::MAX).contains(z)),
        "{name}: zero points must lie in [{}, {}] (the element type's range)",
        T::MIN,
        T::MAX
    );
}

pub(crate) fn check_requantize(acc: &[i32], multiplier: &[f32], zp: i32, qmin: i32, qmax: i32, out_len: usize) {
    assert!(!multiplier.is_empty(), "requantize: no multiplier");
    assert!(acc.len() % multiplier.len() == 0, "requantize: {} values are not rows of {} columns", acc.len(), multiplier.len());
    assert!(out_len >= acc.len(), "requantize: out is shorter than acc");
    assert!((qmin..=qmax).contains(&zp), "requantize: zero point {zp} outside [{qmin}, {qmax}]");
}

/// C = A · B in f32 (C is overwritten). Bit-exact with [`reference::gemm_f32`].
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm_f32: slices shorter than m×k, k×n, m×n");
        return simd128::gemm_f32_packed(m, a, &PackedF32B::new(k, n, b), c);
    }
    #[allow(unreachable_code)]
    reference::gemm_f32(m, k, n, a, b, c)
}

/// C = A · B in f32 with B prepacked (`b.k()`×`b.n()`; A is m×k, C is m×n, overwritten).
/// Bit-exact with [`reference::gemm_f32`].
pub fn gemm_f32_packed(m: usize, a: &[f32], b: &PackedF32B, c: &mut [f32]) {
    let (k, n) = (b.k(), b.n());
    assert!(a.len() >= m * k && c.len() >= m * n, "gemm_f32_packed: slices shorter than m×k, m×n");
    if sparse::worth_it(&a[..m * k], b) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return simd128::gemm_f32_sparse(m, a, b, c);
        #[allow(unreachable_code)]
        return portable::gemm_f32_sparse(m, a, b, c);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::gemm_f32_packed(m, a, b, c);
    #[allow(unreachable_code)]
    portable::gemm_f32_packed(m, a, b, c)
}

/// Panels filled per [`gemm_f32_panels`] group, at least: four, so a lone last row of A still
/// runs the four-panel row kernel.
const PANEL_GROUP: usize = 4;

/// Rows of A up to which [`matmul_integer_panels`] streams panel groups past all of A.
const STREAM_ROWS: usize = 64;

/// Bytes of B's panels [`gemm_f32_panels`] fills per group, up to: they stay in L2 while each
/// chunk of A's rows (the SIMD kernel's 64) meets them, as GotoBLAS blocks B.
const PANEL_BLOCK_BYTES: usize = 256 << 10;

/// C = A · B in f32 (C is overwritten) where B (k×n) is never stored whole: `fill(p, cols,
/// panel)` writes panel `p`, columns `8p..8p+cols` of B, as `panel[8·l + j] = B[l][8p + j]`
/// for j < cols (the lanes past `cols` are never read into C). After each group of panels,
/// `after(c, j0, cols)` may finish columns `j0..j0+cols` of C while they are in cache (bias,
/// activation). How a convolution runs without an im2col matrix: the patches of eight output
/// positions are written straight into the panel the micro-kernel streams, which keeps them in
/// L1 instead of writing and re-reading `k·n` floats twice (im2col, then packing).
/// Bit-exact with [`reference::gemm_f32`] on the B that `fill` describes.
pub fn gemm_f32_panels(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    fill: impl FnMut(usize, usize, &mut [f32]),
    after: impl FnMut(&mut [f32], usize, usize),
    c: &mut [f32],
) {
    assert!(a.len() >= m * k && c.len() >= m * n, "gemm_f32_panels: slices shorter than m×k, m×n");
    gemm_f32_panels_packed(&PackedF32A::new(m, k, a), n, fill, after, c)
}

/// [`gemm_f32_panels`] with A packed once ([`PackedF32A`]): a convolution's weights, which
/// that function packs on every call (silero's 1-D Convs over 1 to 5 positions had spent more
/// time packing their weights than multiplying them).
pub fn gemm_f32_panels_packed(
    a: &PackedF32A,
    n: usize,
    mut fill: impl FnMut(usize, usize, &mut [f32]),
    mut after: impl FnMut(&mut [f32], usize, usize),
    c: &mut [f32],
) {
    let (m, k) = (a.m(), a.k());
    assert!(c.len() >= m * n, "gemm_f32_panels_packed: c is shorter than m×n");
    if m == 0 || n == 0 {
        return;
    }
    let panels = n.div_ceil(NR);
    // Groups of panels up to PANEL_BLOCK_BYTES (at least PANEL_GROUP), each met by every
    // 64-row chunk of A while it is in L2. Before, beyond 64 rows of A every panel was filled
    // first (ppocr_rec's 256-channel 3×3 convs on a 3×40 output had run 190 ms against 50 by
    // im2col when four panels at a time met all of A): for ddddocr_det's 96-channel 3×3 convs
    // over 52 × 52, 9.3 MB of panels, zeroed, written and read back from memory per call.
    let group = PANEL_GROUP.max(PANEL_BLOCK_BYTES / (32 * k).max(1)).min(panels);
    let len = group * 2 * k;
    // The panel buffer of the last call, taken (a `fill` that calls back in gets its own): a
    // conv net's training makes five of these calls per sample, and allocating and zeroing
    // each one's buffer cost it about 4 % of a step in the page. Stale panels from that call
    // are initialised floats, and `fill` overwrites every lane that reaches C.
    let mut kept = PANEL_BUFFER.take();
    if kept.len() < len {
        kept.resize(len, pack::F32x4::default());
    }
    let buf = &mut kept[..len];
    for first in (0..panels).step_by(group) {
        let count = group.min(panels - first);
        for q in 0..count {
            let p = first + q;
            let panel = &mut buf[q * 2 * k..(q + 1) * 2 * k];
            // SAFETY: F32x4 is four f32 (repr C): the same memory as 8·k floats.
            let floats = unsafe { core::slice::from_raw_parts_mut(panel.as_mut_ptr() as *mut f32, 8 * k) };
            fill(p, NR.min(n - p * NR), floats);
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        simd128::gemm_f32_panel_group(m, &a.data, &buf[..count * 2 * k], n, first, count, c);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        portable::gemm_f32_panel_group(m, k, &a.data, buf, n, first, count, c);
        let j0 = first * NR;
        after(c, j0, (count * NR).min(n - j0));
    }
    if kept.len() <= KEEP_PANEL_VECTORS {
        PANEL_BUFFER.set(kept);
    }
}

/// The largest panel buffer [`gemm_f32_panels`] keeps between calls: 1 MB (a model's big
/// convolution fills all its panels at once; that memory is returned).
const KEEP_PANEL_VECTORS: usize = (1 << 20) / core::mem::size_of::<pack::F32x4>();

std::thread_local! {
    static PANEL_BUFFER: core::cell::Cell<Vec<pack::F32x4>> = const { core::cell::Cell::new(Vec::new()) };
}

/// `C[i][j] = Σ_l (A[i][l] − a_zp[i]) · (B[l][j] − b_zp[j])` with wrapping i32 arithmetic
/// (C is overwritten). `a_zp` holds one zero point for all rows or one per row (length m);
/// `b_zp` one for all columns or one per column (length n), as MatMulInteger allows. Zero
/// points must lie in their element type's range (MatMulInteger's zero-point tensors have A's
/// and B's types); anything else panics.
#[allow(clippy::too_many_arguments)]
pub fn matmul_integer<A: Int8, B: Int8>(m: usize, k: usize, n: usize, a: &[A], a_zp: &[i32], b: &[B], b_zp: &[i32], c: &mut [i32]) {
    check_zero_points::<A>("a_zp", a_zp, m, "row");
    check_zero_points::<B>("b_zp", b_zp, n, "column");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul_integer: slices shorter than m×k, k×n, m×n");
        return packed_kernel(m, a, a_zp, &PackedI8B::new(k, n, b, b_zp), c);
    }
    #[allow(unreachable_code)]
    reference::matmul_integer(m, k, n, a, a_zp, b, b_zp, c)
}

/// [`matmul_integer`] with B prepacked (its zero points are in the packing): A is
/// m×`b.k()`, C is m×`b.n()` (overwritten). Bit-exact with [`reference::matmul_integer`].
pub fn matmul_integer_packed<A: Int8>(m: usize, a: &[A], a_zp: &[i32], b: &PackedI8B, c: &mut [i32]) {
    let (k, n) = (b.k(), b.n());
    assert!(a.len() >= m * k && c.len() >= m * n, "matmul_integer_packed: slices shorter than m×k, m×n");
    check_zero_points::<A>("a_zp", a_zp, m, "row");
    if sparse::worth_it_int8(m, k, a, a_zp, b) {
        return sparse::matmul_integer_sparse(m, a, a_zp, b, c);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return packed_kernel(m, a, a_zp, b, c);
    #[allow(unreachable_code)]
    portable::matmul_integer_packed(m, a, a_zp, b, c)
}

/// The SIMD kernel of [`matmul_integer_packed`]: SIMD128's i16 dots, or with the `relaxed-int8`
/// feature in a relaxed-SIMD build the relaxed int8 dots (`relaxed.rs`, exact all the same).
/// The feature is off in the page's relaxed build: on the AVX2 machine it was measured on,
/// the exact relaxed formulation (two dots per byte of A) ran at 0.86× the i16 kernel at 512³
/// and about 0.5× at batch 1 (scripts/bench-relaxed.mjs).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn packed_kernel<A: Int8>(m: usize, a: &[A], a_zp: &[i32], b: &PackedI8B, c: &mut [i32]) {
    #[cfg(all(target_feature = "relaxed-simd", feature = "relaxed-int8"))]
    return relaxed::matmul_integer_packed(m, a, a_zp, b.k(), b.n(), &b.relaxed, c);
    #[allow(unreachable_code)]
    simd128::matmul_integer_packed(m, a, a_zp, b, c)
}

/// [`matmul_integer`] where B (k×n, one zero point `b_zp`) is never stored whole, as
/// [`gemm_f32_panels`] does for f32: `fill(p, cols, panel)` writes panel `p`, columns
/// `8p..8p+cols` of B, as `panel[8·l + j] = B[l][8p + j]` (`8·k` bytes, i8 when `b_signed`, else
/// u8: B's type is a flag rather than a type parameter, so a caller over every type pair
/// compiles once per A type; the lanes past `cols` are never read into C). Each panel is then widened to i16 minus `b_zp` in the kernels'
/// k-pair layout ([`PackedI8B`]) while it is in L1. After each group of panels, `after(c, j0,
/// cols)` may finish columns `j0..j0+cols` of C while they are in cache. How ConvInteger runs
/// without an im2col matrix and without packing that matrix again. `a_zp` is one zero point or
/// one per row. Bit-exact with [`reference::matmul_integer`] on the B that `fill` describes.
#[allow(clippy::too_many_arguments)]
pub fn matmul_integer_panels<A: Int8>(
    m: usize,
    k: usize,
    n: usize,
    a: &[A],
    a_zp: &[i32],
    b: (bool, i32),
    fill: impl FnMut(usize, usize, &mut [u8]),
    after: impl FnMut(&mut [i32], usize, usize),
    c: &mut [i32],
) {
    assert!(a.len() >= m * k && c.len() >= m * n, "matmul_integer_panels: slices shorter than m×k, m×n");
    matmul_integer_panels_packed(&PackedI8A::new(m, k, a, a_zp), n, b, fill, after, c)
}

/// [`matmul_integer_panels`] with A (and its zero points) packed once ([`PackedI8A`]): a
/// quantized convolution's weights, which that function packs on every call.
pub fn matmul_integer_panels_packed(
    a: &PackedI8A,
    n: usize,
    (b_signed, b_zp): (bool, i32),
    mut fill: impl FnMut(usize, usize, &mut [u8]),
    mut after: impl FnMut(&mut [i32], usize, usize),
    c: &mut [i32],
) {
    let (m, k) = (a.m(), a.k());
    assert!(c.len() >= m * n, "matmul_integer_panels_packed: c is shorter than m×n");
    if b_signed {
        check_zero_points::<i8>("b_zp", &[b_zp], 1, "column");
    } else {
        check_zero_points::<u8>("b_zp", &[b_zp], 1, "column");
    }
    if m == 0 || n == 0 {
        return;
    }
    let (panels, kp) = (n.div_ceil(NR), k.div_ceil(2));
    // As gemm_f32_panels: panel groups streamed past all of A up to STREAM_ROWS rows, else
    // every panel filled first and A's chunks each meet all of them.
    let stream = m <= STREAM_ROWS;
    let group = if stream { PANEL_GROUP } else { panels };
    // The bytes `fill` writes (8·k per panel; an odd k's padding row is paired with A's 0) and
    // their i16 k-pairs.
    let mut raw = vec![0u8; group * 16 * kp];
    let mut wide = vec![pack::I16x8::default(); group * 2 * kp];
    for first in (0..panels).step_by(group) {
        let count = group.min(panels - first);
        for q in 0..count {
            let p = first + q;
            fill(p, NR.min(n - p * NR), &mut raw[q * 16 * kp..][..8 * k]);
            let (raw, wide) = (&raw[q * 16 * kp..][..16 * kp], &mut wide[q * 2 * kp..][..2 * kp]);
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            simd128::widen_panel(b_signed, raw, b_zp, wide);
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            pack::widen_panel(b_signed, raw, b_zp, wide);
        }
        let b = &wide[..count * 2 * kp];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        simd128::matmul_integer_panel_group(m, kp, &a.data, b, n, first, count, c);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        portable::matmul_integer_panel_group(m, kp, &a.data, b, n, first, count, c);
        let j0 = first * NR;
        after(c, j0, (count * NR).min(n - j0));
    }
}

/// QLinearMatMul's output multiplier as ONNX Runtime computes it: `a_scale · b_scale / y_scale`
/// in f32, left to right. Per-column when `b_scale` is per column.
pub fn qlinear_multiplier(a_scale: f32, b_scale: f32, y_scale: f32) -> f32 {
    a_scale * b_scale / y_scale
}

/// Requantizes i32 accumulators to u8 (ONNX Runtime's `MlasRequantizeOutput`): each value is
/// `clamp(round_half_even(acc as f32 × multiplier) + zero_point, 0, 255)`, the product in
/// f32. `multiplier` holds one value (per tensor) or one per column: then `acc` is rows of
/// `multiplier.len()` columns. Add a bias to `acc` (wrapping) first where there is one.
/// Panics if `out` is shorter than `acc` or `zero_point` is outside 0..=255.
pub fn requantize_u8(acc: &[i32], multiplier: &[f32], zero_point: i32, out: &mut [u8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::requantize_u8(acc, multiplier, zero_point, out);
    #[allow(unreachable_code)]
    reference::requantize_u8(acc, multiplier, zero_point, out)
}

/// [`requantize_u8`] to i8: clamped to −128..=127; `zero_point` within that range.
pub fn requantize_i8(acc: &[i32], multiplier: &[f32], zero_point: i32, out: &mut [i8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::requantize_i8(acc, multiplier, zero_point, out);
    #[allow(unreachable_code)]
    reference::requantize_i8(acc, multiplier, zero_point, out)
}
