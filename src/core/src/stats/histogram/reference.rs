//! The scalar reference of the binning loop of `histogram` and `Histogram::add`: the definition the
//! SIMD128 kernel must equal.

/// Adds the finite `values` into `counts` (equal bins over `[lo, hi]`, `lo < hi`, `hi` in the
/// last bin) and returns `(below, above)`. The bin is `⌊(v − lo)·(bins/(hi − lo))⌋` in f64,
/// capped at the last bin.
pub fn bin(values: &[f32], lo: f64, hi: f64, counts: &mut [u64]) -> (u64, u64) {
    let bins = counts.len();
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
    (below, above)
}
