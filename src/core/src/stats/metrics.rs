//! The error a scheme introduces: original vs dequantized values.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorMetrics {
    /// Elements compared: those whose original value is finite.
    pub compared: usize,
    pub mse: f64,
    pub rmse: f64,
    /// Signal-to-quantization-noise ratio, 10·log10(Σx² / Σ(x−x̂)²). Infinite (JSON `null`) when
    /// the round trip is exact.
    #[serde(serialize_with = "super::finite_or_null")]
    pub sqnr_db: f64,
    pub max_abs_error: f64,
    pub mean_abs_error: f64,
    /// cos(x, x̂); 1 when both are all zeros.
    pub cosine_similarity: f64,
}

/// Compares `original` with `dequantized` over the elements whose original is finite. A finite
/// original that dequantizes to a non-finite value makes the error infinite, which is the truth.
pub fn error_metrics(original: &[f32], dequantized: &[f32]) -> ErrorMetrics {
    assert_eq!(original.len(), dequantized.len(), "error_metrics needs equal lengths");
    let kernels::Sums { compared, signal, noise, abs_sum, max_abs, dot, deq_sq } = kernels::sums(original, dequantized);
    if compared == 0 {
        return ErrorMetrics {
            compared,
            mse: 0.0,
            rmse: 0.0,
            sqnr_db: f64::INFINITY,
            max_abs_error: 0.0,
            mean_abs_error: 0.0,
            cosine_similarity: 1.0,
        };
    }
    let mse = noise / compared as f64;
    let sqnr_db = if noise == 0.0 { f64::INFINITY } else { 10.0 * (signal / noise).log10() };
    let cosine_similarity = if signal == 0.0 && deq_sq == 0.0 { 1.0 } else { (dot / (signal.sqrt() * deq_sq.sqrt())).clamp(-1.0, 1.0) };
    ErrorMetrics {
        compared,
        mse,
        rmse: mse.sqrt(),
        sqnr_db,
        max_abs_error: max_abs,
        mean_abs_error: abs_sum / compared as f64,
        cosine_similarity,
    }
}

/// The reduction behind [`error_metrics`]: scalar reference, SIMD128 kernel, one dispatch.
pub mod kernels {
    /// Sums over the pairs whose original is finite, all in f64.
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct Sums {
        pub compared: usize,
        /// Σx², Σ(x−x̂)², Σ|x−x̂|, max|x−x̂|, Σx·x̂, Σx̂².
        pub signal: f64,
        pub noise: f64,
        pub abs_sum: f64,
        pub max_abs: f64,
        pub dot: f64,
        pub deq_sq: f64,
    }

    pub fn sums_ref(original: &[f32], dequantized: &[f32]) -> Sums {
        let mut s = Sums::default();
        for (&x, &y) in original.iter().zip(dequantized) {
            if !x.is_finite() {
                continue;
            }
            s.compared += 1;
            let (x, y) = (x as f64, y as f64);
            let e = x - y;
            s.signal += x * x;
            s.noise += e * e;
            s.abs_sum += e.abs();
            s.max_abs = s.max_abs.max(e.abs());
            s.dot += x * y;
            s.deq_sq += y * y;
        }
        s
    }

    /// SIMD128 [`sums_ref`], two f64 lanes at a time. `compared` is identical, and so is
    /// `max_abs` (each |x−x̂| is computed exactly as in the reference; a NaN error, from a NaN
    /// x̂, is skipped by both since f64::max and f64x2_pmax ignore it); the sums differ only by
    /// reordering: |Δ| ≤ n·ε₆₄·Σ|terms|.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub fn sums_simd(original: &[f32], dequantized: &[f32]) -> Sums {
        use core::arch::wasm32::*;
        let n = original.len().min(dequantized.len());
        let n2 = n / 2 * 2;
        let z = f64x2_splat(0.0);
        let inf = f64x2_splat(f64::INFINITY);
        let (mut signal, mut noise, mut abs_sum, mut max_abs, mut dot, mut deq_sq) = (z, z, z, z, z, z);
        let mut compared = 0usize;
        for i in (0..n2).step_by(2) {
            let x = f64x2(original[i] as f64, original[i + 1] as f64);
            let y = f64x2(dequantized[i] as f64, dequantized[i + 1] as f64);
            let fin = f64x2_lt(f64x2_abs(x), inf);
            compared += i64x2_bitmask(fin).count_ones() as usize;
            // Lanes with a non-finite original contribute +0 to every sum.
            let x = v128_and(x, fin);
            let y = v128_and(y, fin);
            let e = f64x2_sub(x, y);
            let ae = f64x2_abs(e);
            signal = f64x2_add(signal, f64x2_mul(x, x));
            noise = f64x2_add(noise, f64x2_mul(e, e));
            abs_sum = f64x2_add(abs_sum, ae);
            // pmax(a, b) = a < b ? b : a, so a NaN |e| leaves the maximum alone, like f64::max.
            max_abs = f64x2_pmax(max_abs, ae);
            dot = f64x2_add(dot, f64x2_mul(x, y));
            deq_sq = f64x2_add(deq_sq, f64x2_mul(y, y));
        }
        let t = sums_ref(&original[n2..n], &dequantized[n2..n]);
        let h = |v: v128| f64x2_extract_lane::<0>(v) + f64x2_extract_lane::<1>(v);
        Sums {
            compared: compared + t.compared,
            signal: h(signal) + t.signal,
            noise: h(noise) + t.noise,
            abs_sum: h(abs_sum) + t.abs_sum,
            max_abs: f64x2_extract_lane::<0>(max_abs).max(f64x2_extract_lane::<1>(max_abs)).max(t.max_abs),
            dot: h(dot) + t.dot,
            deq_sq: h(deq_sq) + t.deq_sq,
        }
    }

    /// The kernel [`super::error_metrics`] uses.
    #[inline]
    pub fn sums(original: &[f32], dequantized: &[f32]) -> Sums {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return sums_simd(original, dequantized);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        return sums_ref(original, dequantized);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_values() {
        // x = [1, -2, 3, 4], x̂ = [1, -2, 2.5, 4.5]: errors 0, 0, 0.5, -0.5.
        let m = error_metrics(&[1.0, -2.0, 3.0, 4.0], &[1.0, -2.0, 2.5, 4.5]);
        assert_eq!(m.mse, 0.125);
        assert_eq!(m.max_abs_error, 0.5);
        assert_eq!(m.mean_abs_error, 0.25);
        // Σx² = 30, Σe² = 0.5 → 10·log10(60) = 17.781512503836437
        assert!((m.sqnr_db - 10.0 * 60f64.log10()).abs() < 1e-12 && (m.sqnr_db - 17.781_512_503_836_44).abs() < 1e-12);
    }

    #[test]
    fn exact_round_trip_has_infinite_sqnr() {
        let m = error_metrics(&[0.5, 0.25], &[0.5, 0.25]);
        assert_eq!((m.mse, m.sqnr_db), (0.0, f64::INFINITY));
        assert!((m.cosine_similarity - 1.0).abs() < 1e-15);
    }

    #[test]
    fn non_finite_originals_are_skipped() {
        let m = error_metrics(&[f32::NAN, 1.0, f32::INFINITY], &[0.0, 0.5, 127.0]);
        assert_eq!((m.compared, m.mse), (1, 0.25));
    }
}
