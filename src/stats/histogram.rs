//! Histograms on a range the caller may fix, so two schemes can share axes.

use serde::Serialize;

pub const MAX_BINS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
    /// Finite values below `lo` / above `hi` (not in any bin).
    pub below: u64,
    pub above: u64,
}

impl Histogram {
    pub fn bin_width(&self) -> f64 {
        (self.hi - self.lo) / self.counts.len() as f64
    }
}

/// Counts the finite `values` into `bins` equal bins over [lo, hi]; `hi` itself falls in the
/// last bin, as numpy.histogram does. A degenerate range (lo == hi) is widened by ±0.5 so a
/// constant tensor still gets a visible bar.
pub fn histogram(values: &[f32], bins: usize, lo: f64, hi: f64) -> Histogram {
    let bins = bins.clamp(1, MAX_BINS);
    let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    let mut counts = vec![0u64; bins];
    let (mut below, mut above) = (0, 0);
    let scale = bins as f64 / (hi - lo);
    for &v in values {
        if !v.is_finite() {
            continue;
        }
        let v = v as f64;
        if v < lo {
            below += 1;
        } else if v > hi {
            above += 1;
        } else {
            let bin = (((v - lo) * scale) as usize).min(bins - 1);
            counts[bin] += 1;
        }
    }
    Histogram { lo, hi, counts, below, above }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_like_numpy() {
        // numpy.histogram([0, 0.5, 1, 1.5, 2, 2], bins=4, range=(0, 2)) -> [1, 1, 1, 3]
        let h = histogram(&[0.0, 0.5, 1.0, 1.5, 2.0, 2.0], 4, 0.0, 2.0);
        assert_eq!(h.counts, vec![1, 1, 1, 3]);
    }

    #[test]
    fn out_of_range_and_non_finite_values() {
        let h = histogram(&[-1.0, 0.5, 3.0, f32::NAN, f32::INFINITY], 2, 0.0, 1.0);
        assert_eq!((h.counts.clone(), h.below, h.above), (vec![0, 1], 1, 1));
    }

    #[test]
    fn constant_range_is_widened() {
        let h = histogram(&[2.0, 2.0], 3, 2.0, 2.0);
        assert_eq!((h.lo, h.hi, h.counts.iter().sum::<u64>()), (1.5, 2.5, 2));
    }
}
