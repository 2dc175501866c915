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

/// Summarises `values`. Sums are taken in f64, in two passes for the variance (the one-pass
/// formula loses everything on tensors with a large mean).
pub fn summarize(values: &[f32]) -> Summary {
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    let (mut nan_count, mut inf_count, mut finite) = (0usize, 0usize, 0usize);
    let mut sum = 0.0f64;
    for &v in values {
        if v.is_nan() {
            nan_count += 1;
        } else if v.is_infinite() {
            inf_count += 1;
        } else {
            finite += 1;
            min = min.min(v);
            max = max.max(v);
            sum += v as f64;
        }
    }
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
    fn std_is_stable_with_a_large_mean() {
        let s = summarize(&[1e6 + 1.0, 1e6 - 1.0, 1e6 + 1.0, 1e6 - 1.0]);
        assert!((s.std - 1.0).abs() < 1e-9, "std = {}", s.std);
    }
}
