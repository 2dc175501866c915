//! The GEMM kernels against the scalar reference and against ONNX Runtime.
//!
//! In Chromium (wasm32 + simd128) the dispatching functions run the SIMD128 kernels; natively
//! and in a scalar wasm build they run the portable packed kernels (the unpacked entry points
//! fall through to the reference itself). Either way every integer result must be bit-exact,
//! and so must the f32 results: every kernel sums each C element over k in order with separate
//! multiply and add, as the reference does.
//!
//! `tests/fixtures/gemm/ort_gemm.json` comes from `scripts/fixtures/make_gemm.py` (ONNX Runtime
//! 1.32 MatMulInteger and QLinearMatMul).

#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;
use quantscope_gemm::{self as gemm, reference, Int8, PackedF32B, PackedI8B};

browser_tests!();

/// The awkward sizes every dimension runs through.
const DIMS: [usize; 15] = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 100, 784];

/// Shapes from DIMS³ small enough for the reference to check quickly, plus the MLP's layers.
fn shapes() -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for &m in &DIMS {
        for &k in &DIMS {
            for &n in &DIMS {
                if m * k * n <= 40_000 || (m <= 5 && n <= 17) {
                    v.push((m, k, n));
                }
            }
        }
    }
    v.extend([(1, 784, 100), (1, 100, 100), (1, 100, 10), (9, 784, 33), (33, 100, 100)]);
    v
}

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in lo..=hi.
    fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
    fn normal(&mut self) -> f32 {
        let u = ((self.next() >> 40) as f64 + 0.5) / (1u64 << 24) as f64;
        let v = ((self.next() >> 40) as f64 + 0.5) / (1u64 << 24) as f64;
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Values of `T` from an i32 in its range.
trait FromI32: Int8 + std::fmt::Debug {
    fn from_i32(v: i32) -> Self;
}
impl FromI32 for u8 {
    fn from_i32(v: i32) -> Self {
        u8::try_from(v).unwrap()
    }
}
impl FromI32 for i8 {
    fn from_i32(v: i32) -> Self {
        i8::try_from(v).unwrap()
    }
}

fn values<T: FromI32>(r: &mut Rng, len: usize, extreme: bool) -> Vec<T> {
    (0..len).map(|_| T::from_i32(if extreme { [T::MIN, T::MAX][(r.next() & 1) as usize] } else { r.int(T::MIN, T::MAX) })).collect()
}

/// Zero points: one or `count`, random in range or picked from the type's extremes and middle.
fn zero_points<T: FromI32>(r: &mut Rng, count: usize, per: bool, extreme: bool) -> Vec<i32> {
    let picks = [T::MIN, T::MAX, (T::MIN + T::MAX + 1) / 2, 0];
    (0..if per { count } else { 1 }).map(|_| if extreme { picks[(r.next() % 4) as usize] } else { r.int(T::MIN, T::MAX) }).collect()
}

fn first_diff<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T], n: usize) -> Option<String> {
    got.iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .map(|i| format!("C[{}][{}]: kernel {:?}, reference {:?}", i / n.max(1), i % n.max(1), got[i], want[i]))
}

/// One shape, one type pair: the dispatching unpacked and packed entry points against the
/// reference, with per-tensor or per-row/column zero points.
fn check_integer<A: FromI32, B: FromI32>(r: &mut Rng, (m, k, n): (usize, usize, usize), per: bool, extreme: bool) {
    let a: Vec<A> = values(r, m * k, extreme);
    let b: Vec<B> = values(r, k * n, extreme);
    let a_zp = zero_points::<A>(r, m, per, extreme);
    let b_zp = zero_points::<B>(r, n, per, extreme);
    let mut want = vec![0i32; m * n];
    reference::matmul_integer(m, k, n, &a, &a_zp, &b, &b_zp, &mut want);
    let mut got = vec![i32::MIN; m * n];
    gemm::matmul_integer(m, k, n, &a, &a_zp, &b, &b_zp, &mut got);
    let what = format!(
        "{}×{} m={m} k={k} n={n} per-row/column zp {per} extreme {extreme}",
        std::any::type_name::<A>(),
        std::any::type_name::<B>()
    );
    if let Some(d) = first_diff(&got, &want, n) {
        panic!("matmul_integer {what}: {d}");
    }
    let packed = PackedI8B::new(k, n, &b, &b_zp);
    assert_eq!((packed.k(), packed.n()), (k, n));
    got.fill(i32::MIN);
    gemm::matmul_integer_packed(m, &a, &a_zp, &packed, &mut got);
    if let Some(d) = first_diff(&got, &want, n) {
        panic!("matmul_integer_packed {what}: {d}");
    }
    // B through panels (one zero point for all of B, as a convolution's input has): each panel
    // as `fill` is asked for it, and `after` told every column exactly once, in order.
    let b_zp = b_zp.first().copied().unwrap_or(0);
    let mut want_one = vec![0i32; m * n];
    reference::matmul_integer(m, k, n, &a, &a_zp, &b, &[b_zp], &mut want_one);
    got.fill(i32::MIN);
    let mut next = 0;
    gemm::matmul_integer_panels(
        m,
        k,
        n,
        &a,
        &a_zp,
        (B::SIGNED, b_zp),
        |p, cols, panel: &mut [u8]| {
            assert_eq!(panel.len(), 8 * k);
            assert_eq!(cols, 8.min(n - 8 * p));
            for l in 0..k {
                panel[8 * l..8 * l + cols].copy_from_slice(gemm::int8_bytes(&b[l * n + 8 * p..][..cols]));
            }
        },
        |_, j0, cols| {
            assert_eq!(j0, next, "after: columns out of order");
            next += cols;
        },
        &mut got,
    );
    assert_eq!(next, if m == 0 { 0 } else { n }, "after: {what}");
    if let Some(d) = first_diff(&got, &want_one, n) {
        panic!("matmul_integer_panels {what}: {d}");
    }
    // A packed once (a convolution's weights), used for two calls.
    let packed_a = gemm::PackedI8A::new(m, k, &a, &a_zp);
    for _ in 0..2 {
        got.fill(i32::MIN);
        let fill = |p: usize, cols: usize, panel: &mut [u8]| {
            for l in 0..k {
                panel[8 * l..8 * l + cols].copy_from_slice(gemm::int8_bytes(&b[l * n + 8 * p..][..cols]));
            }
        };
        gemm::matmul_integer_panels_packed(&packed_a, n, (B::SIGNED, b_zp), fill, |_, _, _| {}, &mut got);
        if let Some(d) = first_diff(&got, &want_one, n) {
            panic!("matmul_integer_panels_packed {what}: {d}");
        }
    }
}

macro_rules! integer_tests {
    ($name:ident, $a:ty, $b:ty, $seed:expr) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() {
            let mut r = Rng::new($seed);
            for shape in shapes() {
                check_integer::<$a, $b>(&mut r, shape, false, false);
                check_integer::<$a, $b>(&mut r, shape, true, false);
            }
            // Extreme values (type min/max) and zero points (min, max, middle, 0).
            for shape in [(1, 1, 1), (4, 8, 8), (5, 17, 9), (3, 33, 15), (7, 100, 17), (1, 784, 33), (17, 31, 100)] {
                for _ in 0..4 {
                    check_integer::<$a, $b>(&mut r, shape, true, true);
                    check_integer::<$a, $b>(&mut r, shape, false, true);
                }
            }
        }
    };
}

integer_tests!(matmul_integer_u8_i8_matches_reference, u8, i8, 1);
integer_tests!(matmul_integer_i8_i8_matches_reference, i8, i8, 2);
integer_tests!(matmul_integer_u8_u8_matches_reference, u8, u8, 3);
integer_tests!(matmul_integer_i8_u8_matches_reference, i8, u8, 4);

/// Sums past i32: (0 − 255)·(255 − 0) = −65025 per term, 33 101 terms = −2 152 392 525 < −2³¹.
/// The kernels must wrap exactly as the reference does.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn matmul_integer_wraps_like_the_reference() {
    let (m, k, n) = (5, 33_101, 9);
    let a = vec![0u8; m * k];
    let b = vec![255u8; k * n];
    let exact = -65025i64 * k as i64;
    assert!(exact < i32::MIN as i64, "the case must overflow");
    let want = vec![exact as i32; m * n]; // two's-complement wrap of the exact sum
    let mut reference_c = vec![0i32; m * n];
    reference::matmul_integer(m, k, n, &a, &[255], &b, &[0], &mut reference_c);
    assert_eq!(reference_c, want);
    let mut got = vec![0i32; m * n];
    gemm::matmul_integer(m, k, n, &a, &[255], &b, &[0], &mut got);
    assert_eq!(got, want);
    gemm::matmul_integer_packed(m, &a, &[255], &PackedI8B::new(k, n, &b, &[0]), &mut got);
    assert_eq!(got, want);
}

/// The values that break a naive use of a relaxed int8 dot (`pmaddubsw` reads its 7-bit operand
/// as unsigned and saturates pair sums: 255·(−128) + 255·(−128) = −65280 → −32768): activations
/// 255/128/127/0 against −128/127 weights, runs of them long enough to fill every lane, each
/// type pair, zero points 0 and the type's extremes. Every build must match the reference.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn int8_dot_saturation_cases_match_the_reference() {
    fn case<A: FromI32, B: FromI32>(a_vals: &[i32], b_vals: &[i32], zps: &[(i32, i32)]) {
        for (m, k, n) in [(1, 4, 8), (3, 16, 9), (4, 33, 17), (5, 64, 8), (2, 7, 3)] {
            for pattern in 0..4 {
                let a: Vec<A> =
                    (0..m * k).map(|i| A::from_i32(a_vals[if pattern == 0 { 0 } else { (i * pattern) % a_vals.len() }])).collect();
                let b: Vec<B> =
                    (0..k * n).map(|i| B::from_i32(b_vals[if pattern == 0 { 0 } else { (i / 3 + pattern) % b_vals.len() }])).collect();
                for &(za, zb) in zps {
                    let mut want = vec![0i32; m * n];
                    reference::matmul_integer(m, k, n, &a, &[za], &b, &[zb], &mut want);
                    let mut got = vec![i32::MIN; m * n];
                    gemm::matmul_integer_packed(m, &a, &[za], &PackedI8B::new(k, n, &b, &[zb]), &mut got);
                    let what = format!(
                        "{}×{} m={m} k={k} n={n} pattern {pattern} zp ({za}, {zb})",
                        std::any::type_name::<A>(),
                        std::any::type_name::<B>()
                    );
                    if let Some(d) = first_diff(&got, &want, n) {
                        panic!("{what}: {d}");
                    }
                    got.fill(i32::MIN);
                    gemm::matmul_integer(m, k, n, &a, &[za], &b, &[zb], &mut got);
                    assert_eq!(got, want, "{what} (unpacked)");
                }
            }
        }
    }
    let (u8s, i8s) = ([255, 128, 127, 0, 1, 254], [-128, 127, -128, -1, 0, 64]);
    case::<u8, i8>(&u8s, &i8s, &[(0, 0), (255, -128), (0, 127), (128, 0)]);
    case::<i8, i8>(&i8s, &i8s, &[(0, 0), (-128, -128), (127, 127)]);
    case::<u8, u8>(&u8s, &u8s, &[(0, 0), (255, 0), (0, 255), (128, 128)]);
    case::<i8, u8>(&i8s, &u8s, &[(0, 0), (-128, 255), (127, 0)]);
}

/// A packed B is reusable across calls and batch sizes, and m = 0 writes nothing.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn packed_b_is_reused_across_batch_sizes() {
    let mut r = Rng::new(9);
    let (k, n) = (100, 17);
    let b: Vec<i8> = values(&mut r, k * n, false);
    let packed = PackedI8B::new(k, n, &b, &[-3]);
    // 3 panels × 50 k-pairs × 2 vectors; the relaxed int8 kernel's i8 form: 3 panels × 25
    // k-quads × 2 vectors, and two i32 per column.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8")))]
    assert_eq!(packed.size_bytes(), 3 * 50 * 2 * 16);
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8"))]
    assert_eq!(packed.size_bytes(), 3 * 25 * 2 * 16 + 2 * 24 * 4);
    for m in [1, 4, 7, 256, 0, 1] {
        let a: Vec<u8> = values(&mut r, m * k, false);
        let mut want = vec![0i32; m * n];
        reference::matmul_integer(m, k, n, &a, &[100], &b, &[-3], &mut want);
        let mut got = vec![7i32; m * n + 3];
        gemm::matmul_integer_packed(m, &a, &[100], &packed, &mut got);
        assert_eq!(&got[..m * n], &want[..], "m={m}");
        assert_eq!(&got[m * n..], &[7, 7, 7], "m={m}: wrote past C");
    }
}

/// An A at its zero point almost everywhere (a one-hot input quantized: 0 is the zero point)
/// takes the path that skips those terms: the reference's wrapping sums exactly, for every type
/// pair, per-row zero points, and extreme values (wrap-around) in the kept terms.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn matmul_integer_of_an_a_at_its_zero_point_is_exact() {
    fn case<A: FromI32, B: FromI32>(r: &mut Rng, (m, k, n): (usize, usize, usize)) {
        let a_zp = zero_points::<A>(r, m, true, false);
        let b_zp = zero_points::<B>(r, n, true, false);
        let a: Vec<A> = (0..m * k)
            .map(|idx| {
                let (i, l) = (idx / k, idx % k);
                A::from_i32(if l == (i * 7) % k { r.int(A::MIN, A::MAX) } else { a_zp[i] })
            })
            .collect();
        let b: Vec<B> = values(r, k * n, true);
        let mut want = vec![0i32; m * n];
        reference::matmul_integer(m, k, n, &a, &a_zp, &b, &b_zp, &mut want);
        let mut got = vec![i32::MIN; m * n];
        gemm::matmul_integer_packed(m, &a, &a_zp, &PackedI8B::new(k, n, &b, &b_zp), &mut got);
        if let Some(d) = first_diff(&got, &want, n) {
            panic!("{}×{} m={m} k={k} n={n}: {d}", std::any::type_name::<A>(), std::any::type_name::<B>());
        }
    }
    let mut r = Rng::new(13);
    for shape in [(1, 257, 128), (9, 257, 13), (40, 33, 8), (3, 64, 21)] {
        case::<u8, i8>(&mut r, shape);
        case::<u8, u8>(&mut r, shape);
        case::<i8, i8>(&mut r, shape);
        case::<i8, u8>(&mut r, shape);
    }
}

// ------------------------------------------------------------------------------ f32

#[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
fn same_f32(got: &[f32], want: &[f32]) -> bool {
    got.iter().zip(want).all(|(g, w)| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()))
}

// The relaxed build's f32 kernel may fuse multiply and add: bounded below instead.
#[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gemm_f32_is_bit_exact_with_reference() {
    let mut r = Rng::new(5);
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, 1e-45, f32::MAX, -f32::MAX];
    for (m, k, n) in shapes() {
        for with_specials in [false, true] {
            let mut gen = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| if with_specials && r.next() % 16 == 0 { specials[(r.next() % 8) as usize] } else { r.normal() * 3.0 })
                    .collect()
            };
            let (a, b) = (gen(m * k), gen(k * n));
            let mut want = vec![0f32; m * n];
            reference::gemm_f32(m, k, n, &a, &b, &mut want);
            let mut got = vec![f32::NAN; m * n];
            gemm::gemm_f32(m, k, n, &a, &b, &mut got);
            assert!(same_f32(&got, &want), "gemm_f32 m={m} k={k} n={n} specials {with_specials}: {:?}", first_diff(&got, &want, n));
            let packed = PackedF32B::new(k, n, &b);
            assert_eq!((packed.k(), packed.n()), (k, n));
            got.fill(f32::NAN);
            gemm::gemm_f32_packed(m, &a, &packed, &mut got);
            assert!(same_f32(&got, &want), "gemm_f32_packed m={m} k={k} n={n} specials {with_specials}: {:?}", first_diff(&got, &want, n));
            // Through panels filled on demand (a convolution's path): groups of panels met by
            // each 64-row chunk of A, the group sized by k.
            let fill = |p: usize, cols: usize, panel: &mut [f32]| {
                for l in 0..k {
                    panel[8 * l..8 * l + cols].copy_from_slice(&b[l * n + 8 * p..][..cols]);
                }
            };
            got.fill(f32::NAN);
            gemm::gemm_f32_panels(m, k, n, &a, fill, |_, _, _| {}, &mut got);
            assert!(same_f32(&got, &want), "gemm_f32_panels m={m} k={k} n={n} specials {with_specials}: {:?}", first_diff(&got, &want, n));
            // A packed once (a convolution's weights), used for two calls.
            let packed_a = gemm::PackedF32A::new(m, k, &a);
            assert_eq!((packed_a.m(), packed_a.k()), (m, k));
            for _ in 0..2 {
                got.fill(f32::NAN);
                gemm::gemm_f32_panels_packed(&packed_a, n, fill, |_, _, _| {}, &mut got);
                assert!(same_f32(&got, &want), "gemm_f32_panels_packed m={m} k={k} n={n}: {:?}", first_diff(&got, &want, n));
            }
        }
    }
    // Panel groups smaller than n and A beyond one 64-row chunk, with the epilogue seeing each
    // group's columns once.
    for (m, k, n) in [(96, 864, 300), (130, 2304, 41), (65, 3, 1000)] {
        let a: Vec<f32> = (0..m * k).map(|_| r.normal()).collect();
        let b: Vec<f32> = (0..k * n).map(|_| r.normal()).collect();
        let mut want = vec![0f32; m * n];
        reference::gemm_f32(m, k, n, &a, &b, &mut want);
        let mut got = vec![f32::NAN; m * n];
        let mut seen = vec![0u8; n];
        let fill = |p: usize, cols: usize, panel: &mut [f32]| {
            for l in 0..k {
                panel[8 * l..8 * l + cols].copy_from_slice(&b[l * n + 8 * p..][..cols]);
            }
        };
        gemm::gemm_f32_panels(m, k, n, &a, fill, |_, j0, cols| seen[j0..j0 + cols].iter_mut().for_each(|s| *s += 1), &mut got);
        assert!(same_f32(&got, &want), "gemm_f32_panels m={m} k={k} n={n}: {:?}", first_diff(&got, &want, n));
        assert!(seen.iter().all(|&s| s == 1), "m={m} k={k} n={n}: every column finished once");
    }
}

/// A mostly-zero A (one-hot rows, and rows of a few values among ±0) takes the path that skips
/// zeros: the same bits as the reference, NaN and ±∞ in A kept; a B holding ±∞ or NaN (where
/// 0·b is NaN) goes the dense way and still matches.
#[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gemm_f32_of_a_mostly_zero_a_is_bit_exact_with_reference() {
    let mut r = Rng::new(11);
    for (m, k, n) in [(1, 257, 128), (7, 257, 13), (33, 64, 8), (5, 300, 21), (64, 40, 1)] {
        for b_special in [None, Some(f32::INFINITY), Some(f32::NAN)] {
            let mut a = vec![0f32; m * k];
            for (i, row) in a.chunks_mut(k).enumerate() {
                row.iter_mut().for_each(|x| *x = if r.next() % 3 == 0 { -0.0 } else { 0.0 });
                row[(r.next() % k as u64) as usize] = match i % 4 {
                    0 => 1.0,
                    1 => r.normal(),
                    2 => [f32::NAN, f32::NEG_INFINITY, 1e-45][i % 3],
                    _ => 0.0,
                };
            }
            let mut b: Vec<f32> = (0..k * n).map(|_| if r.next() % 8 == 0 { -0.0 } else { r.normal() * 3.0 }).collect();
            if let Some(v) = b_special {
                b[(r.next() % (k * n) as u64) as usize] = v;
            }
            let mut want = vec![0f32; m * n];
            reference::gemm_f32(m, k, n, &a, &b, &mut want);
            let mut got = vec![f32::NAN; m * n];
            gemm::gemm_f32_packed(m, &a, &PackedF32B::new(k, n, &b), &mut got);
            assert!(same_f32(&got, &want), "m={m} k={k} n={n} B special {b_special:?}: {:?}", first_diff(&got, &want, n));
        }
    }
}

/// The relaxed build's f32 GEMM (`f32x4.relaxed_madd`, fused or not) against the plain sum
/// (the reference, which the plain build equals bit for bit): each sum in either form lies
/// within γ_k·Σ|a·b| of the exact one (γ_k = k·u/(1 − k·u), u = 2⁻²⁴), so they differ by at most
/// `2·γ_k·Σ_l |a_il·b_lj|` ≈ `k·ε·Σ|a·b|` (ε = 2⁻²³). Finite inputs; also through panels.
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
#[wasm_bindgen_test::wasm_bindgen_test]
fn relaxed_gemm_f32_is_within_the_stated_bound_of_the_plain_sum() {
    let mut r = Rng::new(5);
    let mut differ = 0;
    for (m, k, n) in shapes() {
        let a: Vec<f32> = (0..m * k).map(|_| r.normal() * 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|_| r.normal() * 3.0).collect();
        let mut want = vec![0f32; m * n];
        reference::gemm_f32(m, k, n, &a, &b, &mut want);
        let u = 2f64.powi(-24);
        let gamma = k as f64 * u / (1.0 - k as f64 * u);
        let check = |got: &[f32], how: &str| {
            for i in 0..m {
                for j in 0..n {
                    let abs: f64 = (0..k).map(|l| (a[i * k + l] as f64 * b[l * n + j] as f64).abs()).sum();
                    let d = (got[i * n + j] as f64 - want[i * n + j] as f64).abs();
                    assert!(
                        d <= 2.0 * gamma * abs,
                        "{how} m={m} k={k} n={n} C[{i}][{j}]: {} vs {} (bound {})",
                        got[i * n + j],
                        want[i * n + j],
                        2.0 * gamma * abs
                    );
                }
            }
        };
        let mut got = vec![f32::NAN; m * n];
        gemm::gemm_f32(m, k, n, &a, &b, &mut got);
        check(&got, "gemm_f32");
        differ += got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
        got.fill(f32::NAN);
        gemm::gemm_f32_packed(m, &a, &PackedF32B::new(k, n, &b), &mut got);
        check(&got, "gemm_f32_packed");
        got.fill(f32::NAN);
        let fill = |p: usize, cols: usize, panel: &mut [f32]| {
            for l in 0..k {
                panel[8 * l..8 * l + cols].copy_from_slice(&b[l * n + 8 * p..][..cols]);
            }
        };
        gemm::gemm_f32_panels(m, k, n, &a, fill, |_, _, _| {}, &mut got);
        check(&got, "gemm_f32_panels");
    }
    web_sys_log(&format!("relaxed f32 GEMM: {differ} sums differ from the plain ones in the last bits (within the bound)"));
}

#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
fn web_sys_log(s: &str) {
    wasm_bindgen_test::console_log!("{s}");
}

/// The tolerance the module documents for comparing with another summation order holds
/// against an f64 sum: |Δ| ≤ k·ε·Σ|a·b|.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gemm_f32_is_within_the_stated_tolerance_of_f64() {
    let mut r = Rng::new(6);
    let (m, k, n) = (7, 784, 33);
    let a: Vec<f32> = (0..m * k).map(|_| r.normal()).collect();
    let b: Vec<f32> = (0..k * n).map(|_| r.normal()).collect();
    let mut c = vec![0f32; m * n];
    gemm::gemm_f32_packed(m, &a, &PackedF32B::new(k, n, &b), &mut c);
    for i in 0..m {
        for j in 0..n {
            let exact: f64 = (0..k).map(|l| a[i * k + l] as f64 * b[l * n + j] as f64).sum();
            let abs: f64 = (0..k).map(|l| (a[i * k + l] as f64 * b[l * n + j] as f64).abs()).sum();
            let bound = k as f64 * f32::EPSILON as f64 / 2.0 * abs;
            assert!((c[i * n + j] as f64 - exact).abs() <= bound, "C[{i}][{j}] = {} vs {exact} (bound {bound})", c[i * n + j]);
        }
    }
}

// ------------------------------------------------------------------------------ requantize

/// Hand-computed: ties go to even, then the zero point is added, then saturation.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn requantize_table() {
    // (acc, multiplier, zero point) → u8
    let u8_cases: &[(i32, f32, i32, u8)] = &[
        (1, 0.5, 128, 128),  // 0.5 → 0
        (3, 0.5, 128, 130),  // 1.5 → 2
        (5, 0.5, 128, 130),  // 2.5 → 2
        (7, 0.5, 128, 132),  // 3.5 → 4
        (-1, 0.5, 128, 128), // −0.5 → −0
        (-3, 0.5, 128, 126), // −1.5 → −2
        (-5, 0.5, 128, 126), // −2.5 → −2
        (9, 0.25, 0, 2),     // 2.25 → 2
        (11, 0.25, 0, 3),    // 2.75 → 3
        (100, 1.0, 200, 255),
        (55, 1.0, 200, 255),
        (54, 1.0, 200, 254),
        (-201, 1.0, 200, 0),
        (-200, 1.0, 200, 0),
        (-199, 1.0, 200, 1),
        (i32::MAX, 1.0, 0, 255),
        (i32::MIN, 1.0, 255, 0),
        // 2^24+1 rounds to 2^24 in f32 (tie to even), ×2^-25 = 0.5 exactly → 0. The f64
        // product of ONNX's Python reference, 0.5 + 2^-25, would round to 1.
        (16_777_217, 1.0 / 33_554_432.0, 10, 10),
        (16_777_219, 1.0 / 33_554_432.0, 10, 11), // 2^24+3 → 2^24+4: 0.5 + 2^-23 → 1
        (1, f32::NAN, 77, 0),                     // NaN → the lower bound
        (1, f32::INFINITY, 77, 255),
        (-1, f32::INFINITY, 77, 0),
        (0, f32::INFINITY, 77, 0), // 0·∞ = NaN
        (0, 0.3, 255, 255),
    ];
    for &(acc, mult, zp, want) in u8_cases {
        for f in [gemm::requantize_u8, reference::requantize_u8] {
            let mut out = [0u8; 1];
            f(&[acc], &[mult], zp, &mut out);
            assert_eq!(out[0], want, "acc {acc} × {mult} + {zp}");
        }
    }
    let i8_cases: &[(i32, f32, i32, i8)] = &[
        (1, 0.5, 0, 0),
        (3, 0.5, 0, 2),
        (-3, 0.5, 0, -2),
        (-5, 0.5, -1, -3),
        (300, 1.0, 0, 127),
        (-300, 1.0, 0, -128),
        (27, 1.0, 100, 127),
        (26, 1.0, 100, 126),
        (-1, 1.0, -128, -128),
        (1, f32::NAN, 5, -128),
    ];
    for &(acc, mult, zp, want) in i8_cases {
        for f in [gemm::requantize_i8, reference::requantize_i8] {
            let mut out = [0i8; 1];
            f(&[acc], &[mult], zp, &mut out);
            assert_eq!(out[0], want, "acc {acc} × {mult} + {zp}");
        }
    }
    // Per column: the multiplier cycles along each row of 3.
    let mut out = [0u8; 6];
    gemm::requantize_u8(&[10, 10, 10, 3, 3, 3], &[1.0, 0.5, 0.25], 0, &mut out);
    assert_eq!(out, [10, 5, 2, 3, 2, 1]); // 2.5 → 2, 0.75 → 1, 1.5 → 2
}

/// The dispatching (SIMD in Chromium) requantizers equal the reference on every length and
/// row width, per tensor and per column.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn requantize_matches_reference() {
    let mut r = Rng::new(7);
    for cols in [1, 2, 3, 4, 5, 15, 16, 17, 31, 33, 100] {
        for rows in [0, 1, 2, 5] {
            for per_column in [false, true] {
                let acc: Vec<i32> = (0..rows * cols)
                    .map(|_| match r.next() % 4 {
                        0 => r.int(-1000, 1000),
                        1 => r.int(-100, 100) * 2 + 1, // odd: ties at multiplier 0.5
                        2 => r.next() as i32,
                        _ => r.int(-70_000, 70_000),
                    })
                    .collect();
                let mults: Vec<f32> = (0..if per_column { cols } else { 1 })
                    .map(|_| if r.next() % 3 == 0 { 0.5 } else { (r.normal().abs() + 0.01) * 0.01 })
                    .collect();
                for zp in [0, 1, 128, 255] {
                    let (mut got, mut want) = (vec![0u8; acc.len()], vec![0u8; acc.len()]);
                    gemm::requantize_u8(&acc, &mults, zp, &mut got);
                    reference::requantize_u8(&acc, &mults, zp, &mut want);
                    assert_eq!(got, want, "u8 rows {rows} cols {cols} per column {per_column} zp {zp}");
                }
                for zp in [-128, -1, 0, 127] {
                    let (mut got, mut want) = (vec![0i8; acc.len()], vec![0i8; acc.len()]);
                    gemm::requantize_i8(&acc, &mults, zp, &mut got);
                    reference::requantize_i8(&acc, &mults, zp, &mut want);
                    assert_eq!(got, want, "i8 rows {rows} cols {cols} per column {per_column} zp {zp}");
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------ ONNX Runtime

fn ints<T: FromI32>(v: &serde_json::Value) -> Vec<T> {
    v.as_array().unwrap().iter().map(|x| T::from_i32(x.as_i64().unwrap() as i32)).collect()
}

fn i32s(v: &serde_json::Value) -> Vec<i32> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect()
}

/// MatMulInteger's i32 output, or QLinearMatMul's requantized output as i32, for one case.
fn run_case<A: FromI32, B: FromI32>(case: &serde_json::Value) -> Vec<i32> {
    let dim = |key: &str| case[key].as_u64().unwrap() as usize;
    let (m, k, n) = (dim("m"), dim("k"), dim("n"));
    let (a, b): (Vec<A>, Vec<B>) = (ints(&case["a"]), ints(&case["b"]));
    let (a_zp, b_zp) = (i32s(&case["a_zp"]), i32s(&case["b_zp"]));
    let mut acc = vec![0i32; m * n];
    gemm::matmul_integer(m, k, n, &a, &a_zp, &b, &b_zp, &mut acc);
    let mut packed = vec![0i32; m * n];
    gemm::matmul_integer_packed(m, &a, &a_zp, &PackedI8B::new(k, n, &b, &b_zp), &mut packed);
    assert_eq!(acc, packed);
    if case["op"] == "MatMulInteger" {
        return acc;
    }
    let scale = |key: &str| common::f32s(&case[key]);
    let (a_scale, y_scale) = (scale("a_scale")[0], scale("y_scale")[0]);
    let mults: Vec<f32> = scale("b_scale").iter().map(|&b| gemm::qlinear_multiplier(a_scale, b, y_scale)).collect();
    let y_zp = i32s(&case["y_zp"])[0];
    if case["y_type"] == "u8" {
        let mut y = vec![0u8; m * n];
        gemm::requantize_u8(&acc, &mults, y_zp, &mut y);
        y.iter().map(|&v| v as i32).collect()
    } else {
        let mut y = vec![0i8; m * n];
        gemm::requantize_i8(&acc, &mults, y_zp, &mut y);
        y.iter().map(|&v| v as i32).collect()
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn matches_onnx_runtime_fixtures() {
    let fixture = common::json(fixture_str!("gemm/ort_gemm.json"));
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 35);
    let mut ties = 0;
    for case in cases {
        let got = match (case["a_type"].as_str().unwrap(), case["b_type"].as_str().unwrap()) {
            ("u8", "u8") => run_case::<u8, u8>(case),
            ("u8", "i8") => run_case::<u8, i8>(case),
            ("i8", "i8") => run_case::<i8, i8>(case),
            ("i8", "u8") => run_case::<i8, u8>(case),
            other => panic!("unexpected types {other:?}"),
        };
        let want = i32s(&case["y"]);
        let n = case["n"].as_u64().unwrap() as usize;
        if let Some(d) = first_diff(&got, &want, n) {
            panic!("{} {} {}×{} m={} k={} n={}: {d}", case["op"], case["source"], case["a_type"], case["b_type"], case["m"], case["k"], n);
        }
        if case["op"] == "QLinearMatMul" && case["a_scale"][0] == "3e800000" {
            ties += 1;
        }
    }
    assert_eq!(ties, 3, "the three multiplier-0.5 (ties) cases ran");
}

// ------------------------------------------------------------------------------ misuse

#[cfg(not(target_arch = "wasm32"))]
#[test]
#[should_panic(expected = "zero points must lie in [0, 255]")]
fn zero_point_outside_the_type_panics() {
    let mut c = [0i32; 1];
    gemm::matmul_integer(1, 1, 1, &[1u8], &[256], &[1i8], &[0], &mut c);
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
#[should_panic(expected = "one zero point or one per column (3), got 2")]
fn zero_point_count_must_match() {
    PackedI8B::new(1, 3, &[1i8, 2, 3], &[0, 0]);
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
#[should_panic(expected = "requantize: zero point 128 outside [-128, 127]")]
fn requantize_zero_point_outside_output_type_panics() {
    gemm::requantize_i8(&[1], &[1.0], 128, &mut [0i8; 1]);
}
