//! Every SIMD128 kernel against its scalar reference, tract-style: one macro per kernel family,
//! seeded property-generated inputs (normal, uniform, huge/tiny magnitudes, random u32 bit
//! patterns including NaN/Inf/subnormals) at awkward lengths. Integer outputs must be
//! bit-identical; f64 sums carry a tolerance scaled by length. Natively (and in a wasm build
//! without simd128) the "SIMD" side is the dispatching kernel, i.e. the reference itself, so the
//! tests still run and check the dispatch; in Chromium (+simd128) they compare the two.

use quantscope_core::schemes::int;
use quantscope_core::stats::{histogram, metrics, summary};

const LENGTHS: [usize; 12] = [0, 1, 2, 3, 4, 5, 15, 17, 31, 33, 255, 257];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform() as f64, self.uniform() as f64);
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Named input generators; `bits` covers NaN (many payloads), ±Inf, subnormals, ±0.
fn inputs(seed: u64, n: usize) -> Vec<(&'static str, Vec<f32>)> {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, 1e-45, -1e-40, f32::MAX, -f32::MAX, f32::MIN_POSITIVE];
    vec![
        ("normal", (0..n).map(|_| r.normal()).collect()),
        ("uniform", (0..n).map(|_| r.uniform() * 2.0 - 1.0).collect()),
        ("huge", (0..n).map(|_| r.normal() * 1e37).collect()),
        ("tiny", (0..n).map(|_| r.normal() * 1e-39).collect()),
        ("bits", (0..n).map(|_| f32::from_bits(r.next() as u32)).collect()),
        ("specials", (0..n).map(|_| special[(r.next() % special.len() as u64) as usize]).collect()),
        ("ties", (0..n).map(|_| ((r.next() % 64) as f32 - 32.0) * 0.5).collect()),
    ]
}

fn first_diff<T: PartialEq + std::fmt::Debug>(a: &[T], b: &[T], x: &[f32]) -> Option<String> {
    a.iter()
        .zip(b)
        .position(|(p, q)| p != q)
        .map(|i| format!("element {i}: input {:?} ({:#010x}): simd {:?} vs ref {:?}", x[i], x[i].to_bits(), a[i], b[i]))
}

/// Bit-exact integer kernels: `$simd` and `$reference` take (values, scale, zp, qmin, qmax,
/// codes, dequantized) and return the clamped count; the macro runs every generator × length ×
/// parameter set and compares the code bytes, the dequantized bits and the count. Then the
/// dequantize kernels `$simd_de`/`$reference_de` on those codes, which must give the same bits.
macro_rules! quantize_kernel_tests {
    ($name:ident, $simd:path, $reference:path, $simd_de:path, $reference_de:path) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() {
            let params: [(f32, i32, i32, i32); 7] = [
                (0.02, 0, -127, 127),
                (2.0 / 255.0, 128, 0, 255),
                (0.5, 0, -7, 7),
                (1.0, 3, 0, 15),
                (1.0, 0, -1, 1),
                (1e-30, 0, -127, 127),
                (3e37, 7, 0, 15),
            ];
            // Beside the generators: values within a few ulps of `(k + ½)·scale` for every
            // parameter set, where a product by 1/scale and the division can round apart.
            let near_halves = |n: usize, scale: f32| -> Vec<f32> {
                (0..n)
                    .map(|i| {
                        let k = ((i * 7) % 600) as f32 - 300.0 + 0.5;
                        f32::from_bits((k * scale).to_bits().wrapping_add_signed((i % 9) as i32 - 4))
                    })
                    .collect()
            };
            let lengths = LENGTHS.iter().copied().chain([4099]);
            for n in lengths {
                let gens = inputs(n as u64 + 1, n).into_iter().chain(params.iter().map(|p| ("near halves", near_halves(n, p.0))));
                for (gen, x) in gens {
                    for &(scale, zp, qmin, qmax) in &params {
                        let what = format!("{} on {gen}, n = {n}, scale {scale} zp {zp} [{qmin}, {qmax}]", stringify!($simd));
                        let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                        let (mut da, mut db) = (vec![0f32; n], vec![0f32; n]);
                        let map = int::GroupMap { scale, zero_point: zp, qmin, qmax };
                        let ca = $simd(&x, map, &mut a, &mut da);
                        let cb = $reference(&x, map, &mut b, &mut db);
                        if let Some(d) = first_diff(&a, &b, &x) {
                            panic!("{what}: codes: {d}");
                        }
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        if let Some(d) = first_diff(&bits(&da), &bits(&db), &x) {
                            panic!("{what}: dequantized bits: {d}");
                        }
                        assert_eq!(ca, cb, "{what}: clipped count");
                        let signed = qmin < 0;
                        let (mut ea, mut eb) = (vec![0f32; n], vec![0f32; n]);
                        $simd_de(&a, signed, scale, zp, &mut ea);
                        $reference_de(&a, signed, scale, zp, &mut eb);
                        if let Some(d) = first_diff(&bits(&ea), &bits(&eb), &x) {
                            panic!("{what}: dequantize kernel: {d}");
                        }
                        assert_eq!(bits(&eb), bits(&db), "{what}: dequantizing the codes gives the quantizer's dequantized values");
                    }
                }
            }
        }
    };
}

/// Moments: counts and min/max exact (−0 == +0), the f64 sum within n·ε·Σ|x|.
macro_rules! moments_kernel_tests {
    ($name:ident, $simd:path, $reference:path) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() {
            for &n in &LENGTHS {
                for (gen, x) in inputs(n as u64 + 101, n) {
                    let (a, b) = ($simd(&x), $reference(&x));
                    let what = format!("{} on {gen}, n = {n}", stringify!($simd));
                    assert_eq!((a.finite, a.nan, a.inf), (b.finite, b.nan, b.inf), "{what}: counts");
                    assert!(a.min == b.min && a.max == b.max, "{what}: min/max {:?} vs {:?}", (a.min, a.max), (b.min, b.max));
                    let abs: f64 = x.iter().filter(|v| v.is_finite()).map(|&v| (v as f64).abs()).sum();
                    let tol = n as f64 * f64::EPSILON * abs;
                    assert!((a.sum - b.sum).abs() <= tol, "{what}: sum {} vs {} (tolerance {tol})", a.sum, b.sum);
                }
            }
        }
    };
}

/// Finite min/max: exact (−0 == +0), and equal to `moments`' range.
macro_rules! min_max_kernel_tests {
    ($name:ident, $simd:path, $reference:path) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() {
            for &n in &LENGTHS {
                for (gen, x) in inputs(n as u64 + 404, n) {
                    let (a, b) = ($simd(&x), $reference(&x));
                    let m = summary::reference::moments(&x);
                    let what = format!("{} on {gen}, n = {n}", stringify!($simd));
                    assert!(a.0 == b.0 && a.1 == b.1, "{what}: {a:?} vs {b:?}");
                    assert!(b.0 == m.min && b.1 == m.max, "{what}: reference {b:?} vs moments {:?}", (m.min, m.max));
                }
            }
        }
    };
}

/// Error-metric sums: `compared` and `max_abs` exact, every f64 sum within n·ε·Σ|term|.
macro_rules! sums_kernel_tests {
    ($name:ident, $simd:path, $reference:path) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() {
            for &n in &LENGTHS {
                let sets = inputs(n as u64 + 202, n);
                for (gx, x) in &sets {
                    for (gy, y) in &sets {
                        let (a, b) = ($simd(x, y), $reference(x, y));
                        let what = format!("{} on ({gx}, {gy}), n = {n}", stringify!($simd));
                        assert_eq!(a.compared, b.compared, "{what}: compared");
                        assert!(
                            a.max_abs == b.max_abs || (a.max_abs.is_nan() && b.max_abs.is_nan()),
                            "{what}: max_abs {} vs {}",
                            a.max_abs,
                            b.max_abs
                        );
                        // Tolerance from the magnitudes of the terms (the reference sums |terms|).
                        let mag = |f: &dyn Fn(f64, f64) -> f64| -> f64 {
                            x.iter().zip(y.iter()).filter(|(p, _)| p.is_finite()).map(|(&p, &q)| f(p as f64, q as f64).abs()).sum()
                        };
                        let close = |got: f64, want: f64, m: f64, field: &str| {
                            let ok = got == want || (got.is_nan() && want.is_nan()) || (got - want).abs() <= n as f64 * f64::EPSILON * m;
                            assert!(ok, "{what}: {field} {got} vs {want} (tolerance {})", n as f64 * f64::EPSILON * m);
                        };
                        close(a.signal, b.signal, mag(&|p, _| p * p), "signal");
                        close(a.noise, b.noise, mag(&|p, q| (p - q) * (p - q)), "noise");
                        close(a.abs_sum, b.abs_sum, mag(&|p, q| p - q), "abs_sum");
                        close(a.dot, b.dot, mag(&|p, q| p * q), "dot");
                        close(a.deq_sq, b.deq_sq, mag(&|_, q| q * q), "deq_sq");
                    }
                }
            }
        }
    };
}

/// Histogram binning: counts, below and above bit-identical.
macro_rules! bin_kernel_tests {
    ($name:ident, $simd:path, $reference:path) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() {
            for &n in &LENGTHS {
                for (gen, x) in inputs(n as u64 + 303, n) {
                    for &(bins, lo, hi) in &[
                        (1usize, -1.0f64, 1.0f64),
                        (7, -0.5, 2.0),
                        (64, -3.0, 3.0),
                        (4096, -1e38, 1e38),
                        (33, 1e-40, 1e-39),
                        (10, -f32::MAX as f64, f32::MAX as f64),
                    ] {
                        let (mut a, mut b) = (vec![0u64; bins], vec![0u64; bins]);
                        let ra = $simd(&x, lo, hi, &mut a);
                        let rb = $reference(&x, lo, hi, &mut b);
                        let what = format!("{} on {gen}, n = {n}, {bins} bins over [{lo}, {hi}]", stringify!($simd));
                        if let Some(i) = a.iter().zip(&b).position(|(p, q)| p != q) {
                            panic!("{what}: bin {i} has {} vs {}", a[i], b[i]);
                        }
                        assert_eq!(ra, rb, "{what}: (below, above)");
                    }
                }
            }
        }
    };
}

/// INT4/INT2 packing in place: the body bytes bit-identical, at every length around the
/// kernels' steps (32 and 64 codes), on arbitrary bytes (signed codes are any byte pattern).
macro_rules! pack_kernel_tests {
    ($name:ident, $simd:path, $reference:path) => {
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        fn $name() {
            let mut r = Rng(0x9AC4);
            for n in (0..260).chain([1000, 1023, 4097]) {
                let codes: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
                let (mut a, mut b) = (codes.clone(), codes.clone());
                let (la, lb) = ($simd(&mut a), $reference(&mut b));
                assert_eq!(la, lb, "{} n = {n}: body length", stringify!($simd));
                assert_eq!(a[..la], b[..lb], "{} n = {n}: body bytes of {codes:?}", stringify!($simd));
            }
        }
    };
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use super::*;
    pack_kernel_tests!(pack_nibbles_simd_matches_ref, int::simd128::pack_nibbles_in_place, int::reference::pack_nibbles_in_place);
    pack_kernel_tests!(pack_pairs_simd_matches_ref, int::simd128::pack_pairs_in_place, int::reference::pack_pairs_in_place);
    quantize_kernel_tests!(
        quantize_simd_matches_ref,
        int::simd128::quantize_group,
        int::reference::quantize_group,
        int::simd128::dequantize_group,
        int::reference::dequantize_group
    );
    moments_kernel_tests!(moments_simd_matches_ref, summary::simd128::moments, summary::reference::moments);
    min_max_kernel_tests!(min_max_simd_matches_ref, summary::simd128::finite_min_max, summary::reference::finite_min_max);
    sums_kernel_tests!(metric_sums_simd_match_ref, metrics::simd128::sums, metrics::reference::sums);
    bin_kernel_tests!(histogram_bin_simd_matches_ref, histogram::simd128::bin, histogram::reference::bin);
}

// The dispatching kernels against the references, on every target.
quantize_kernel_tests!(
    quantize_dispatch_matches_ref,
    int::quantize_group,
    int::reference::quantize_group,
    int::dequantize_group,
    int::reference::dequantize_group
);
pack_kernel_tests!(pack_nibbles_dispatch_matches_ref, int::pack_nibbles_in_place, int::reference::pack_nibbles_in_place);
pack_kernel_tests!(pack_pairs_dispatch_matches_ref, int::pack_pairs_in_place, int::reference::pack_pairs_in_place);
moments_kernel_tests!(moments_dispatch_matches_ref, summary::moments, summary::reference::moments);
min_max_kernel_tests!(min_max_dispatch_matches_ref, summary::min_max, summary::reference::finite_min_max);
sums_kernel_tests!(metric_sums_dispatch_match_ref, metrics::sums, metrics::reference::sums);
bin_kernel_tests!(histogram_bin_dispatch_matches_ref, histogram::bin, histogram::reference::bin);

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
// Constant within one build, and which build ran is the point.
#[allow(clippy::assertions_on_constants)]
fn simd_kernels_are_compiled_in_the_browser_build() {
    // The wasm test build uses +simd128 (.cargo/config.toml); make sure the SIMD side is live.
    #[cfg(target_arch = "wasm32")]
    assert!(cfg!(target_feature = "simd128"), "wasm tests must run with simd128");
}

/// K-quants' grid search (`make_qkx2_quants`): the dispatching function (four candidates per
/// SIMD128 pass in Chromium) against the reference's candidate-by-candidate loop, with each
/// caller's parameters and weights (Q2_K: 16 values, |x|, mean absolute error; Q4_K and Q5_K:
/// 32 values, rms + |x|), on finite inputs as the quantizers pass them. The codes and the bits
/// of the scale and min must be identical.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn kquant_grid_search_dispatch_matches_ref() {
    use quantscope_core::schemes::kquants::{make_qkx2_quants, reference, reference::Qkx2Params};
    // (values, nmax, rmin, nstep, use_mad): quantize_q2_k, quantize_q4_k, quantize_q5_k.
    let callers = [(16, 3, -0.5f32, 15, true), (32, 15, -1.0, 20, false), (32, 31, -0.5, 15, false)];
    let mut checked = 0;
    for seed in 0..40u64 {
        for (name, all) in inputs(seed, 32) {
            for &(n, nmax, rmin, nstep, use_mad) in &callers {
                let x: Vec<f32> = all[..n].iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect();
                let rms = (x.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
                let weights: Vec<f32> = x.iter().map(|v| if use_mad { v.abs() } else { rms + v.abs() }).collect();
                let (mut simd, mut reference_codes) = (vec![0u8; n], vec![0u8; n]);
                let params = Qkx2Params { nmax, rmin, rdelta: 0.1, nstep, use_mad };
                let got = make_qkx2_quants(params, &x, &weights, &mut simd);
                let want = reference::make_qkx2_quants(params, &x, &weights, &mut reference_codes);
                assert_eq!(
                    (got.0.to_bits(), got.1.to_bits()),
                    (want.0.to_bits(), want.1.to_bits()),
                    "{name} seed {seed} nmax {nmax}: scale, min"
                );
                assert_eq!(first_diff(&simd, &reference_codes, &x), None, "{name} seed {seed} nmax {nmax}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 40 * 7 * 3);
}

/// Q6_K's scale search (`make_qx_quants`, rmse_type 1): the dispatching function (four
/// candidates per SIMD128 pass in Chromium) against the reference, on groups of 16 finite
/// values as quantize_q6_k passes them. Codes and the scale's bits must be identical.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn kquant_q6_scale_search_dispatch_matches_ref() {
    use quantscope_core::schemes::kquants::{make_qx_quants_rmse1, reference};
    let mut checked = 0;
    for seed in 0..60u64 {
        for (name, all) in inputs(seed, 16) {
            let x: Vec<f32> = all.iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect();
            let (mut simd, mut reference_codes) = ([0i8; 16], [0i8; 16]);
            let got = make_qx_quants_rmse1(32, &x, &mut simd);
            let want = reference::make_qx_quants_rmse1(32, &x, &mut reference_codes);
            assert_eq!(got.to_bits(), want.to_bits(), "{name} seed {seed}: scale");
            assert_eq!(first_diff(&simd, &reference_codes, &x), None, "{name} seed {seed}");
            checked += 1;
        }
    }
    assert_eq!(checked, 60 * 7);
}

/// The FP8/FP4 encoders: `encode_slice` (eight lanes per SIMD128 step in Chromium) against the
/// scalar `FloatFormat::encode` on a sweep of the whole f32 bit space (every 4099th pattern:
/// NaNs, ±Inf, subnormals of both f32 and the targets, ties) and every generator at awkward
/// lengths.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn minifloat_encode_dispatch_matches_ref() {
    use quantscope_core::schemes::float::FloatFormat;
    let sweep: Vec<f32> = (0..=u32::MAX / 4099).map(|k| f32::from_bits(k * 4099)).collect();
    let mut cases: Vec<(String, Vec<f32>)> = vec![("sweep".into(), sweep)];
    for (k, &n) in LENGTHS.iter().enumerate() {
        for (name, x) in inputs(k as u64, n) {
            cases.push((format!("{name} × {n}"), x));
        }
    }
    for format in [FloatFormat::Fp8E4m3, FloatFormat::Fp8E5m2, FloatFormat::Fp4E2m1] {
        for (name, x) in &cases {
            let mut got = vec![0u16; x.len()];
            format.encode_slice(x, &mut got);
            let want: Vec<u16> = x.iter().map(|&v| format.encode(v)).collect();
            assert_eq!(first_diff(&got, &want, x), None, "{} on {name}", format.id());
        }
    }
}

/// IQ4_NL/IQ4_XS's trial-scale search: the dispatching function (four trials per SIMD128 pass in
/// Chromium, branch-free `best_index_int8`) against the reference's loop, on blocks of 32 finite
/// values with the signed largest magnitude as `max` (as the quantizer passes it), both weight
/// forms (x², and importance-weighted), and two starting bests. The chosen scale's bits must match.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn iq4_scale_search_dispatch_matches_ref() {
    use quantscope_core::schemes::ggml_extra::iq4::{scale_search, scale_search_reference};
    let mut checked = 0;
    for seed in 0..60u64 {
        for (name, all) in inputs(seed, 32) {
            let x: Vec<f32> = all.iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect();
            let max = x.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            if max.abs() < 1e-15 {
                continue;
            }
            let squares: [f32; 32] = core::array::from_fn(|j| x[j] * x[j]);
            let importance: [f32; 32] = core::array::from_fn(|j| (j % 7) as f32 * 0.3 * (0.5 + x[j].abs()).sqrt());
            for weight in [&squares, &importance] {
                for (d, best) in [(0.0, 0.0), (max / -127.0, 1e-3)] {
                    let got = scale_search(&x, weight, max, d, best);
                    let want = scale_search_reference(&x, weight, max, d, best);
                    assert_eq!(got.to_bits(), want.to_bits(), "{name} seed {seed}: {got} vs {want}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 60 * 5 * 4, "{checked} cases");
}

/// Q2_0, TQ2_0 and TQ1_0 blocks: the dispatching `ExtraType::quantize_block` (SIMD128 rounding
/// and packing in Chromium) against the references composed by hand (`binary::quantize_q2_0` +
/// `binary::pack`, `ternary::quantize_trits` + `pack_tq2_0` / `pack_tq1_0`), on finite blocks as
/// the quantizer passes them: every generator, exact halves of the scale (rounding ties), all
/// zeros, and blocks so small that `1/absmax` overflows (the kernels hand those back). Bytes
/// must be identical.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn ternary_and_q2_0_blocks_dispatch_match_ref() {
    use quantscope_core::schemes::ggml_extra::{binary, ternary, ExtraType};
    let mut checked = 0;
    for seed in 0..40u64 {
        let mut cases: Vec<(String, Vec<f32>)> = inputs(seed, 256)
            .into_iter()
            .map(|(name, x)| (name.to_string(), x.into_iter().map(|v| if v.is_finite() { v } else { 0.0 }).collect()))
            .collect();
        let mut r = Rng(seed + 1);
        // Multiples of absmax/4, so x·(1/absmax) lands on ±0.5 and ±0.25 (ties and non-ties).
        let step = [1.0f32, 3.0, 1e-3, 7e20][seed as usize % 4];
        let mut ties: Vec<f32> = (0..256).map(|_| ((r.next() % 9) as f32 - 4.0) * 0.25 * step).collect();
        ties[0] = step;
        cases.push(("quarter steps".into(), ties));
        cases.push(("zeros".into(), vec![if seed % 2 == 0 { 0.0 } else { -0.0 }; 256]));
        cases.push(("below 2^-128".into(), (0..256).map(|_| r.normal() * 1e-40).collect()));
        for (name, x) in &cases {
            for ty in [ExtraType::Q2_0, ExtraType::Tq2_0, ExtraType::Tq1_0] {
                for block in x.chunks_exact(ty.block()) {
                    let mut got = vec![0u8; ty.block_bytes()];
                    ty.quantize_block(block, None, &mut got);
                    let mut want = vec![0u8; ty.block_bytes()];
                    let mut codes = vec![0u8; block.len()];
                    match ty {
                        ExtraType::Q2_0 => binary::pack(binary::quantize_q2_0(block, &mut codes), 2, &codes, &mut want),
                        ExtraType::Tq2_0 => ternary::pack_tq2_0(ternary::quantize_trits(block, &mut codes), &codes, &mut want),
                        _ => ternary::pack_tq1_0(ternary::quantize_trits(block, &mut codes), &codes, &mut want),
                    }
                    assert_eq!(got, want, "{} on {name}, seed {seed}", ty.id());
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 40 * 10 * (4 + 1 + 1));
}
