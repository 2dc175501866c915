//! Summary statistics of a tensor's values.

use serde::Serialize;

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
    let m = kernels::moments(values);
    (m.min, m.max)
}

/// The single pass of [`summarize`] and [`min_max`]: scalar reference, SIMD128 kernel, and the
/// one place that picks between them.
pub mod kernels {
    /// Counts, range and sum of a slice. `min`/`max` are over finite values (`+Inf`/`−Inf` when
    /// there are none); `sum` is Σ finite values in f64.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Moments {
        pub min: f32,
        pub max: f32,
        pub sum: f64,
        pub finite: usize,
        pub nan: usize,
        pub inf: usize,
    }

    pub fn moments_ref(values: &[f32]) -> Moments {
        let mut m = Moments { min: f32::INFINITY, max: f32::NEG_INFINITY, sum: 0.0, finite: 0, nan: 0, inf: 0 };
        for &v in values {
            if v.is_nan() {
                m.nan += 1;
            } else if v.is_infinite() {
                m.inf += 1;
            } else {
                m.finite += 1;
                m.min = m.min.min(v);
                m.max = m.max.max(v);
                m.sum += v as f64;
            }
        }
        m
    }

    /// SIMD128 [`moments_ref`]: counts, min and max are identical (−0 and +0 compare equal, so
    /// either zero may be returned); the sum is accumulated in two f64x2 accumulators (lanes
    /// 0,1 and 2,3), so it differs from the sequential sum by at most the usual reordering
    /// bound, ≈ n·ε₆₄·Σ|x|.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub fn moments_simd(values: &[f32]) -> Moments {
        use core::arch::wasm32::*;
        let n4 = values.len() / 4 * 4;
        let (inf, ninf) = (f32x4_splat(f32::INFINITY), f32x4_splat(f32::NEG_INFINITY));
        let (mut vmin, mut vmax) = (inf, ninf);
        let (mut s_lo, mut s_hi) = (f64x2_splat(0.0), f64x2_splat(0.0));
        let (mut finite, mut nan) = (0usize, 0usize);
        for x4 in values[..n4].chunks_exact(4) {
            // SAFETY: a chunk of exactly 4 f32; unaligned loads are allowed.
            let x = unsafe { v128_load(x4.as_ptr() as *const v128) };
            let fin = f32x4_lt(f32x4_abs(x), inf);
            finite += i32x4_bitmask(fin).count_ones() as usize;
            nan += i32x4_bitmask(f32x4_ne(x, x)).count_ones() as usize;
            vmin = f32x4_pmin(vmin, v128_bitselect(x, inf, fin));
            vmax = f32x4_pmax(vmax, v128_bitselect(x, ninf, fin));
            let xz = v128_and(x, fin);
            s_lo = f64x2_add(s_lo, f64x2_promote_low_f32x4(xz));
            s_hi = f64x2_add(s_hi, f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(xz, xz)));
        }
        let tail = moments_ref(&values[n4..]);
        let lanes =
            |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
        let min = lanes(vmin).into_iter().fold(tail.min, f32::min);
        let max = lanes(vmax).into_iter().fold(tail.max, f32::max);
        let s = f64x2_add(s_lo, s_hi);
        Moments {
            min,
            max,
            sum: (f64x2_extract_lane::<0>(s) + f64x2_extract_lane::<1>(s)) + tail.sum,
            finite: finite + tail.finite,
            nan: nan + tail.nan,
            inf: (n4 - finite - nan) + tail.inf,
        }
    }

    /// The kernel the crate uses.
    #[inline]
    pub fn moments(values: &[f32]) -> Moments {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return moments_simd(values);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        return moments_ref(values);
    }
}

/// Summarises `values`. Sums are taken in f64, in two passes for the variance (the one-pass
/// formula loses everything on tensors with a large mean).
pub fn summarize(values: &[f32]) -> Summary {
    let kernels::Moments { min, max, sum, finite, nan: nan_count, inf: inf_count } = kernels::moments(values);
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
        let m = kernels::moments(values);
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
