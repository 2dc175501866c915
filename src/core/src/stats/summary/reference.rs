//! The scalar references of the single pass of `summarize` and `StreamingSummary::add`
//! (`moments`) and of `min_max` (`finite_min_max`): the definitions the SIMD128 kernels must equal.

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

pub fn moments(values: &[f32]) -> Moments {
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

/// `(min, max)` over the finite `values` (`(+Inf, −Inf)` when there are none): [`moments`]'s
/// range without its counts and sum.
pub fn finite_min_max(values: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in values {
        if v.is_finite() {
            min = min.min(v);
            max = max.max(v);
        }
    }
    (min, max)
}
