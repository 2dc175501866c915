//! Histograms on a range the caller may fix, so two schemes can share axes.

use serde::Serialize;

// The kernel, the binning loop of `histogram` and `Histogram::add`: `reference` is its definition,
// `simd128` must equal it (src/core/tests/kernels.rs holds them to each other), and `bin` below is
// the one place that picks.
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

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

    /// No values yet in `bins` bins over [lo, hi] (clamped and widened as [`histogram`] does);
    /// [`Histogram::add`] counts values in, chunk by chunk for a tensor streamed from a file.
    pub fn empty(bins: usize, lo: f64, hi: f64) -> Histogram {
        let bins = bins.clamp(1, MAX_BINS);
        let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
        Histogram { lo, hi, counts: vec![0; bins], below: 0, above: 0 }
    }

    /// Counts the finite `values` in; adding a tensor in chunks gives the counts of one call.
    pub fn add(&mut self, values: &[f32]) {
        let (below, above) = bin(values, self.lo, self.hi, &mut self.counts);
        self.below += below;
        self.above += above;
    }
}

/// Counts the finite `values` into `bins` equal bins over [lo, hi]; `hi` itself falls in the
/// last bin, as numpy.histogram does. A degenerate range (lo == hi) is widened by ±0.5 so a
/// constant tensor still gets a visible bar.
pub fn histogram(values: &[f32], bins: usize, lo: f64, hi: f64) -> Histogram {
    let mut h = Histogram::empty(bins, lo, hi);
    h.add(values);
    h
}

/// The kernel [`histogram`] uses.
#[inline]
pub fn bin(values: &[f32], lo: f64, hi: f64, counts: &mut [u64]) -> (u64, u64) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::bin(values, lo, hi, counts);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::bin(values, lo, hi, counts);
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
    fn chunks_add_up_to_one_call() {
        let values: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 10.0 - 3.0).collect();
        let whole = histogram(&values, 17, -2.0, 6.0);
        let mut chunked = Histogram::empty(17, -2.0, 6.0);
        values.chunks(333).for_each(|c| chunked.add(c));
        assert_eq!(chunked, whole);
        assert!(whole.below > 0 && whole.above > 0);
    }

    #[test]
    fn constant_range_is_widened() {
        let h = histogram(&[2.0, 2.0], 3, 2.0, 2.0);
        assert_eq!((h.lo, h.hi, h.counts.iter().sum::<u64>()), (1.5, 2.5, 2));
    }
}
