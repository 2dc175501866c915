//! The error a scheme introduces: original vs dequantized values.

use serde::Serialize;

// The kernel, the reduction behind `error_metrics`: `reference` is its definition, `simd128` must
// equal it (src/core/tests/kernels.rs holds them to each other), and `sums` below is the one place
// that picks.
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub use reference::Accumulator;
pub use reference::Sums;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd128::Accumulator;

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
    /// cos(x, x̂); 1 when both are all zeros, 0 when only one is (an unscaled cast that flushes
    /// every value to zero: no direction is kept; the 0/0 would be NaN).
    pub cosine_similarity: f64,
}

/// Compares `original` with `dequantized` over the elements whose original is finite. A finite
/// original that dequantizes to a non-finite value makes the error infinite, which is the truth.
pub fn error_metrics(original: &[f32], dequantized: &[f32]) -> ErrorMetrics {
    assert_eq!(original.len(), dequantized.len(), "error_metrics needs equal lengths");
    from_sums(sums(original, dequantized))
}

/// The metrics of sums from [`sums`] or an [`Accumulator`] (the compare's fused path).
pub fn from_sums(s: Sums) -> ErrorMetrics {
    let Sums { compared, signal, noise, abs_sum, max_abs, dot, deq_sq } = s;
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
    let cosine_similarity = match (signal == 0.0, deq_sq == 0.0) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        (false, false) => (dot / (signal.sqrt() * deq_sq.sqrt())).clamp(-1.0, 1.0),
    };
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

/// The kernel [`error_metrics`] uses.
#[inline]
pub fn sums(original: &[f32], dequantized: &[f32]) -> Sums {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::sums(original, dequantized);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::sums(original, dequantized);
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
    fn everything_flushed_to_zero_has_a_defined_cosine() {
        // fp4_e2m1 on trained weights: every |x| < 0.25 rounds to 0. SQNR is 0 dB (noise = signal).
        let m = error_metrics(&[0.01, -0.02, 0.03], &[0.0, -0.0, 0.0]);
        assert_eq!((m.sqnr_db, m.cosine_similarity), (0.0, 0.0));
        assert_eq!(error_metrics(&[0.0, 0.0], &[0.5, 0.0]).cosine_similarity, 0.0);
    }

    #[test]
    fn non_finite_originals_are_skipped() {
        let m = error_metrics(&[f32::NAN, 1.0, f32::INFINITY], &[0.0, 0.5, 127.0]);
        assert_eq!((m.compared, m.mse), (1, 0.25));
    }
}
