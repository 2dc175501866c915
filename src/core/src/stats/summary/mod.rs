//! Summary statistics of a tensor's values.

use serde::Serialize;

// The kernels, the single pass of `summarize` and `StreamingSummary::add` (`moments`) and
// `min_max` (`finite_min_max`): `reference` is their definition, `simd128` must equal it
// (src/core/tests/kernels.rs holds them to each other), and `moments` and `min_max` below are
// the places that pick.
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

pub use reference::Moments;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// All elements, finite or not.
    pub count: usize,
    pub nan_count: usize,
    pub inf_count: usize,
    /// Over finite elements; `null` in JSON when there are none.
    #[serde(serialize_with = "super::finite_or_null")]
    pub min: f64,
    #[serde(serialize_with = "super::finite_or_null")]
    pub max: f64,
    #[serde(serialize_with = "super::finite_or_null")]
    pub mean: f64,
    /// Population standard deviation (numpy's `std` with ddof=0).
    #[serde(serialize_with = "super::finite_or_null")]
    pub std: f64,
    /// Largest |x| over finite elements (0 when there are none).
    pub abs_max: f64,
}

/// `(min, max)` over the finite `values`; `(+Inf, −Inf)` when there are none. The kernel the
/// integer schemes and calibration use for their per-group ranges.
#[inline]
pub fn min_max(values: &[f32]) -> (f32, f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::finite_min_max(values);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::finite_min_max(values);
}

/// The kernel the crate uses.
#[inline]
pub fn moments(values: &[f32]) -> Moments {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::moments(values);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::moments(values);
}

/// Summarises `values`. Sums are taken in f64, in two passes for the variance (the one-pass
/// formula loses everything on tensors with a large mean).
pub fn summarize(values: &[f32]) -> Summary {
    let Moments { min, max, sum, finite, nan: nan_count, inf: inf_count } = moments(values);
    if finite == 0 {
        let nan = f64::NAN;
        return Summary { count: values.len(), nan_count, inf_count, min: nan, max: nan, mean: nan, std: nan, abs_max: 0.0 };
    }
    let mean = sum / finite as f64;
    let sq: f64 = values.iter().filter(|v| v.is_finite()).map(|&v| (v as f64 - mean).powi(2)).sum();
    Summary {
        count: values.len(),
        nan_count,
        inf_count,
        min: min as f64,
        max: max as f64,
        mean,
        std: (sq / finite as f64).sqrt(),
        abs_max: (min.abs().max(max.abs())) as f64,
    }
}

/// [`Summary`] accumulated chunk by chunk, for tensors streamed from a file rather than held
/// whole. Counts and range come from the same kernel as [`summarize`]; the variance is merged
/// with Chan, Golub & LeVeque's pairwise update (`M2 = M2a + M2b + δ²·na·nb/n`), each chunk's
/// own M2 taken in two passes around the chunk's mean, so it stays stable with a large mean.
/// The result agrees with [`summarize`] on the same values to rounding (≈ 1e-12 relative).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamingSummary {
    count: u64,
    nan: u64,
    inf: u64,
    finite: u64,
    min: f32,
    max: f32,
    mean: f64,
    m2: f64,
}

impl Default for StreamingSummary {
    fn default() -> Self {
        StreamingSummary { count: 0, nan: 0, inf: 0, finite: 0, min: f32::INFINITY, max: f32::NEG_INFINITY, mean: 0.0, m2: 0.0 }
    }
}

impl StreamingSummary {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one chunk of values.
    pub fn add(&mut self, values: &[f32]) {
        let m = moments(values);
        let mut chunk = StreamingSummary {
            count: values.len() as u64,
            nan: m.nan as u64,
            inf: m.inf as u64,
            finite: m.finite as u64,
            min: m.min,
            max: m.max,
            mean: 0.0,
            m2: 0.0,
        };
        if m.finite > 0 {
            chunk.mean = m.sum / m.finite as f64;
            chunk.m2 = values.iter().filter(|v| v.is_finite()).map(|&v| (v as f64 - chunk.mean).powi(2)).sum();
        }
        self.merge(&chunk);
    }

    /// Adds everything `other` has seen (chunks may be summarised separately and merged).
    pub fn merge(&mut self, other: &StreamingSummary) {
        let n = self.finite + other.finite;
        if other.finite > 0 {
            let delta = other.mean - self.mean;
            let (na, nb) = (self.finite as f64, other.finite as f64);
            self.mean += delta * nb / n as f64;
            self.m2 += other.m2 + delta * delta * na * nb / n as f64;
        }
        self.finite = n;
        self.count += other.count;
        self.nan += other.nan;
        self.inf += other.inf;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Elements seen so far, finite or not.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The summary of everything added.
    pub fn finish(&self) -> Summary {
        let count = usize::try_from(self.count).unwrap_or(usize::MAX);
        let nan_count = usize::try_from(self.nan).unwrap_or(usize::MAX);
        let inf_count = usize::try_from(self.inf).unwrap_or(usize::MAX);
        if self.finite == 0 {
            let nan = f64::NAN;
            return Summary { count, nan_count, inf_count, min: nan, max: nan, mean: nan, std: nan, abs_max: 0.0 };
        }
        Summary {
            count,
            nan_count,
            inf_count,
            min: self.min as f64,
            max: self.max as f64,
            mean: self.mean,
            std: (self.m2 / self.finite as f64).sqrt(),
            abs_max: (self.min.abs().max(self.max.abs())) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_on_small_input() {
        // numpy: a=[1,2,3,4]; a.mean()=2.5, a.std()=1.118033988749895
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
        assert!((s.std - 1.118033988749895).abs() < 1e-15);
    }

    #[test]
    fn non_finite_values_are_counted_not_summed() {
        let s = summarize(&[f32::NAN, 1.0, f32::INFINITY, -3.0, f32::NEG_INFINITY]);
        assert_eq!((s.count, s.nan_count, s.inf_count), (5, 1, 2));
        assert_eq!((s.min, s.max, s.mean, s.abs_max), (-3.0, 1.0, -1.0, 3.0));
    }

    #[test]
    fn empty_and_all_nan_tensors_have_no_range() {
        for values in [&[][..], &[f32::NAN, f32::NAN][..]] {
            let s = summarize(values);
            assert!(s.min.is_nan() && s.mean.is_nan());
            assert_eq!(s.abs_max, 0.0);
        }
    }

    #[test]
    fn streaming_agrees_with_the_two_pass_summary() {
        let values: Vec<f32> =
            (0..10_007).map(|i| if i % 997 == 0 { f32::NAN } else { 1e4 + ((i * 7919) % 1000) as f32 * 0.013 }).collect();
        let whole = summarize(&values);
        for chunk in [1, 7, 1000, 4096, 20_000] {
            let mut s = StreamingSummary::new();
            values.chunks(chunk).for_each(|c| s.add(c));
            let got = s.finish();
            assert_eq!(
                (got.count, got.nan_count, got.inf_count, got.min, got.max),
                (whole.count, whole.nan_count, whole.inf_count, whole.min, whole.max)
            );
            assert!((got.mean - whole.mean).abs() <= 1e-12 * whole.mean.abs(), "chunk {chunk}: {} vs {}", got.mean, whole.mean);
            assert!((got.std - whole.std).abs() <= 1e-9 * whole.std, "chunk {chunk}: {} vs {}", got.std, whole.std);
        }
        let mut empty = StreamingSummary::new();
        empty.add(&[f32::NAN, f32::INFINITY]);
        empty.add(&[]);
        let e = empty.finish();
        assert!(e.mean.is_nan() && e.min.is_nan());
        assert_eq!((e.count, e.nan_count, e.inf_count), (2, 1, 1));
    }

    #[test]
    fn std_is_stable_with_a_large_mean() {
        let s = summarize(&[1e6 + 1.0, 1e6 - 1.0, 1e6 + 1.0, 1e6 - 1.0]);
        assert!((s.std - 1.0).abs() < 1e-9, "std = {}", s.std);
    }
}
