//! Calibration: choosing the clipping range `[lo, hi]` an integer scheme quantizes over.
//!
//! Every method works on one group's finite values (NaN and ±Inf are excluded before the
//! method sees them, as for min-max) and returns the raw range; the integer scheme then feeds
//! it to the same `compute_scale_zp` path as min-max (range widened to include 0, mirrored when
//! symmetric). Values outside the range are clamped to qmin/qmax and counted as `clipped`.
//!
//! * **min-max** (no id suffix): `[min, max]` of the finite values. The default.
//! * **percentile** (`_p<P>`, e.g. `_p99.9`): ONNX Runtime's `HistogramCollector.compute_percentile`
//!   (`onnxruntime/python/tools/quantization/calibrate.py`, ORT 1.32) with
//!   [`PERCENTILE_BINS`] = 2048 bins, ORT's default for the percentile method:
//!   - symmetric: a `numpy.histogram` of `|x|` over `[min|x|, max|x|]`; `cdf = cumsum(hist/total)`;
//!     `t = edges[searchsorted(cdf, P/100)]` (the *left* edge of the bin where the cdf reaches
//!     P/100, as ORT does); range `[-t, t]`;
//!   - asymmetric: a histogram of `x` over `[-T, T]`, `T = max|x|`; with `c = (100 − P)/200`,
//!     range `[edges[searchsorted(cdf, c)], edges[searchsorted(cdf, 1 − c)]]` (both tails);
//!   - then, as ORT, the range is clamped to `[min, max]` of the values, so `|clip| ≤ absmax`.
//!
//!   Because the clip is a bin's left edge, even `p100` clips the largest value to the left
//!   edge of its bin (ORT does the same).
//! * **mse** (`_mse`): a grid search over the clip. With `[rmin, rmax]` the min-max range widened
//!   to include 0 (mirrored to `[−absmax, absmax]` when symmetric), candidate `k`
//!   (k = 1..=[`MSE_GRID`], 100) is `[rmin·k/100, rmax·k/100]` (computed in f64, rounded to f32;
//!   k = 100 gives exactly min-max's scale and zero point). Each candidate quantizes the
//!   group with the scheme's own scale/zero-point/rounding and the one with the smallest sum of
//!   squared errors (f64) wins; ties go to the larger k. Min-max is a candidate, so the result
//!   is never worse than min-max on the same data.
//! * **entropy** (`_entropy`): ONNX Runtime's `HistogramCollector.get_entropy_threshold` (the
//!   TensorRT KL-divergence method) on a histogram of `x` over `[-T, T]`, `T = max|x|`, with
//!   [`ENTROPY_BINS`] = 2048 bins and `2^(bits−1)` quantized bins (128 for INT8, ORT's default
//!   `num_quantized_bins`; ORT's default `num_bins` of 128 would leave a single candidate, so
//!   quantscope uses TensorRT's 2048, i.e. ORT with `extra_options={"num_bins": 2048}`). Each
//!   window `[edges[1024−i], edges[1024+i+1]]`, i = 2^(bits−2)..=1024, is scored by KL(p‖q) with
//!   ORT's merging, integer-truncated expansion and `smooth_distribution` (eps 1e-4, in f32);
//!   the divergence itself is summed in f64 (ORT sums in f32), so a near-tie could in principle
//!   pick a neighbouring window. The winner is clamped to `[min, max]` as ORT does.
//!   Cost: O(bins²) ≈ 10⁶ operations per group, whatever the group size.
//!
//! The histograms reproduce `numpy.histogram` bit for bit for f32 data: edges from
//! `numpy.linspace` in f32, bins by numpy's edge-corrected index computation.

/// How an integer scheme chooses its clipping range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Calibration {
    /// `[min, max]` of the finite values.
    MinMax,
    /// A percentile in millionths of a percent (99.9 % = 99_900_000), in (0, 100].
    Percentile { micro: u32 },
    /// The clip minimizing the quantization MSE on a grid of [`MSE_GRID`] candidates.
    Mse,
    /// KL-divergence (TensorRT / ONNX Runtime `entropy`).
    Entropy,
}

pub const PERCENTILE_BINS: usize = 2048;
pub const ENTROPY_BINS: usize = 2048;
pub const MSE_GRID: u32 = 100;

impl Calibration {
    /// The percentile in percent, as an f64 equal to parsing its decimal text.
    pub fn percentile(&self) -> Option<f64> {
        match *self {
            // Both are exact integers, so the quotient is the correctly rounded decimal.
            Calibration::Percentile { micro } => Some(micro as f64 / 1e6),
            _ => None,
        }
    }

    /// The id suffix without its underscore: "" for min-max, `p99.9`, `mse`, `entropy`.
    pub fn suffix(&self) -> String {
        match *self {
            Calibration::MinMax => String::new(),
            Calibration::Percentile { micro } => {
                let (int, frac) = (micro / 1_000_000, micro % 1_000_000);
                if frac == 0 {
                    format!("p{int}")
                } else {
                    let f = format!("{frac:06}");
                    format!("p{int}.{}", f.trim_end_matches('0'))
                }
            }
            Calibration::Mse => "mse".into(),
            Calibration::Entropy => "entropy".into(),
        }
    }

    /// How the range is chosen, in words, for a scheme's description (`symmetric`: the
    /// percentile is of |x|, else of x at both tails): what tells `int8_sym_p99.9` from
    /// `int8_sym` on the page.
    pub fn describe(&self, symmetric: bool) -> String {
        match *self {
            Calibration::MinMax => "range min to max of the values (no calibration)".into(),
            Calibration::Percentile { micro } if symmetric => {
                format!("range clipped at the {}th percentile of |x| (percentile calibration, {PERCENTILE_BINS} bins)", micro as f64 / 1e6)
            }
            Calibration::Percentile { micro } => {
                // Both tails: (100 − P)/2 percent each, as percentile_range cuts them.
                let (lo, hi) = ((100_000_000 - micro) as f64 / 2e6, (100_000_000 + micro) as f64 / 2e6);
                format!("range clipped at the {lo}th and {hi}th percentiles of x (percentile calibration, {PERCENTILE_BINS} bins)")
            }
            Calibration::Mse => {
                format!(
                    "range clipped where the quantization MSE is least (MSE calibration, {MSE_GRID} clips from 1 % to 100 % of min-max)"
                )
            }
            Calibration::Entropy => {
                format!("range clipped where the KL divergence is least (entropy calibration as TensorRT, {ENTROPY_BINS} bins)")
            }
        }
    }

    /// Parses a suffix (`p99.9`, `mse`, `entropy`); only the canonical spelling of a
    /// percentile is accepted (`p99.9`, not `p99.90` or `p099.9`), with at most 6 decimals.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mse" => return Some(Calibration::Mse),
            "entropy" => return Some(Calibration::Entropy),
            _ => {}
        }
        let num = s.strip_prefix('p')?;
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() || int.len() > 3 || frac.len() > 6 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let micro = int.parse::<u32>().ok()? * 1_000_000 + format!("{frac:0<6}").parse::<u32>().ok()?;
        let c = Calibration::Percentile { micro };
        (micro > 0 && micro <= 100_000_000 && c.suffix() == s).then_some(c)
    }

    /// The raw clipping range of one group. `finite` holds the group's finite values; `bits`
    /// and `symmetric` describe the integer scheme (used by `mse` and `entropy`). A group
    /// without finite values gets `(+Inf, −Inf)`, which the scale computation treats as empty.
    pub fn range(&self, finite: &[f32], bits: u32, symmetric: bool) -> (f32, f32) {
        let (lo, hi) = crate::stats::summary::min_max(finite);
        if finite.is_empty() {
            return (lo, hi);
        }
        let clip = match *self {
            Calibration::MinMax => None,
            Calibration::Percentile { .. } => percentile_range(finite, lo, hi, self.percentile().unwrap(), symmetric),
            Calibration::Mse => Some(mse_range(finite, lo, hi, bits, symmetric)),
            Calibration::Entropy => entropy_range(finite, lo, hi, 1usize << (bits - 1)),
        };
        clip.unwrap_or((lo, hi))
    }
}

/// `numpy.histogram(values, bins, range=(first, last))` for f32 values, with numpy's f32 bin
/// type: `(counts, edges)`. `None` when the width overflows f32 (numpy raises there; callers
/// fall back to min-max). Values outside `[first, last]` (and NaN) are not counted.
pub fn np_histogram_f32(values: &[f32], bins: usize, first: f32, last: f32) -> Option<(Vec<u64>, Vec<f32>)> {
    // numpy's _get_outer_edges: an empty range is widened by 0.5 either way.
    let (first, last) = if first == last { (first - 0.5, last + 0.5) } else { (first, last) };
    let delta = last - first;
    if !delta.is_finite() {
        return None;
    }
    // numpy.linspace(first, last, bins + 1, dtype=float32): y = arange·step + start, y[-1] = stop.
    let div = bins as f32;
    let step = delta / div;
    let mut edges: Vec<f32> =
        (0..=bins).map(|i| if step == 0.0 { (i as f32 / div) * delta + first } else { i as f32 * step + first }).collect();
    edges[bins] = last;
    let mut counts = vec![0u64; bins];
    for &x in values {
        if !(x >= first && x <= last) {
            continue;
        }
        let f = ((x - first) / delta) * div;
        let mut idx = (f as usize).min(bins);
        if idx == bins {
            idx -= 1;
        }
        if x < edges[idx] {
            idx -= 1;
        }
        if x >= edges[idx + 1] && idx != bins - 1 {
            idx += 1;
        }
        counts[idx] += 1;
    }
    Some((counts, edges))
}

/// `numpy.searchsorted(a, v)` (side='left'): the first index with `a[i] >= v`.
fn searchsorted_left(a: &[f64], v: f64) -> usize {
    a.partition_point(|&x| x < v)
}

/// `np.cumsum(hist / total)`: each term divided first, then summed left to right.
fn cdf(hist: &[u64]) -> Vec<f64> {
    let total = hist.iter().sum::<u64>() as f64;
    let mut acc = 0.0;
    hist.iter()
        .map(|&h| {
            acc += h as f64 / total;
            acc
        })
        .collect()
}

fn percentile_range(finite: &[f32], lo: f32, hi: f32, percentile: f64, symmetric: bool) -> Option<(f32, f32)> {
    let (mut clip_lo, mut clip_hi) = if symmetric {
        let abs: Vec<f32> = finite.iter().map(|x| x.abs()).collect();
        let (amin, amax) = crate::stats::summary::min_max(&abs);
        let (hist, edges) = np_histogram_f32(&abs, PERCENTILE_BINS, amin, amax)?;
        let t = edges[searchsorted_left(&cdf(&hist), percentile / 100.0)];
        (-t, t)
    } else {
        let t = lo.abs().max(hi.abs());
        let (hist, edges) = np_histogram_f32(finite, PERCENTILE_BINS, -t, t)?;
        let cdf = cdf(&hist);
        let cut = (100.0 - percentile) / 200.0;
        (edges[searchsorted_left(&cdf, cut)], edges[searchsorted_left(&cdf, 1.0 - cut)])
    };
    if clip_lo < lo {
        clip_lo = lo;
    }
    if clip_hi > hi {
        clip_hi = hi;
    }
    Some((clip_lo, clip_hi))
}

fn mse_range(finite: &[f32], lo: f32, hi: f32, bits: u32, symmetric: bool) -> (f32, f32) {
    use super::{qrange, quantize_value, scale_zero_point};
    let (qmin, qmax) = qrange(bits, symmetric);
    let (rmin, rmax) = super::effective_range(lo, hi, symmetric);
    let (rmin, rmax) = (rmin as f64, rmax as f64);
    let mut best = (f64::INFINITY, lo, hi);
    for k in (1..=MSE_GRID).rev() {
        let t = k as f64 / MSE_GRID as f64;
        let (clo, chi) = ((rmin * t) as f32, (rmax * t) as f32);
        let (scale, zp) = scale_zero_point(clo, chi, qmin, qmax, symmetric);
        let mut se = 0.0f64;
        for &x in finite {
            let (q, _) = quantize_value(x, scale, zp, qmin, qmax);
            let e = x as f64 - ((q - zp) as f32 * scale) as f64;
            se += e * e;
        }
        if se < best.0 {
            best = (se, clo, chi);
        }
    }
    (best.1, best.2)
}

/// ORT's `smooth_distribution(p, eps=1e-4)` in f32, or `None` when every entry is zero.
fn smooth(p: &[i64]) -> Option<Vec<f32>> {
    let zeros = p.iter().filter(|&&v| v == 0).count();
    let nonzeros = p.len() - zeros;
    if nonzeros == 0 {
        return None;
    }
    let eps = 1e-4f64;
    let eps1 = eps * zeros as f64 / nonzeros as f64;
    let (add_zero, add_nonzero) = (eps as f32, -eps1 as f32);
    Some(p.iter().map(|&v| v as f32 + if v == 0 { add_zero } else { add_nonzero }).collect())
}

/// KL(p‖q) of two smoothed distributions, each normalised to sum 1, in f64.
fn kl_divergence(p: &[f32], q: &[f32]) -> f64 {
    let (sp, sq) = (p.iter().map(|&v| v as f64).sum::<f64>(), q.iter().map(|&v| v as f64).sum::<f64>());
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (a, b) = (a as f64 / sp, b as f64 / sq);
            a * (a / b).ln()
        })
        .sum()
}

/// The window ORT's `get_entropy_threshold` picks, clamped to `[lo, hi]`.
fn entropy_range(finite: &[f32], lo: f32, hi: f32, num_quantized_bins: usize) -> Option<(f32, f32)> {
    let t = lo.abs().max(hi.abs());
    let (hist, edges) = np_histogram_f32(finite, ENTROPY_BINS, -t, t)?;
    let num_bins = hist.len();
    let zero_bin = num_bins / 2;
    let half_q = num_quantized_bins / 2;
    // prefix[i] = Σ hist[..i], so the outlier counts are O(1).
    let mut prefix = vec![0u64; num_bins + 1];
    for i in 0..num_bins {
        prefix[i + 1] = prefix[i] + hist[i];
    }
    let mut best = (f64::INFINITY, (edges[0], edges[num_bins]));
    let mut first = true;
    let mut p = Vec::with_capacity(num_bins);
    for i in half_q..=zero_bin {
        let start = zero_bin - i;
        let end = (zero_bin + i + 1).min(num_bins);
        let sliced = &hist[start..end];
        p.clear();
        p.extend(sliced.iter().map(|&v| v as i64));
        p[0] += prefix[start] as i64;
        *p.last_mut().unwrap() += (prefix[num_bins] - prefix[end]) as i64;
        let merged = sliced.len() / num_quantized_bins;
        let mut quantized = vec![0i64; num_quantized_bins];
        for (index, qb) in quantized.iter_mut().enumerate() {
            *qb = sliced[index * merged..(index + 1) * merged].iter().sum::<u64>() as i64;
        }
        *quantized.last_mut().unwrap() += sliced[num_quantized_bins * merged..].iter().sum::<u64>() as i64;
        // Expand back to p's length: each merged bin's count spread over its non-zero p bins,
        // truncated to an integer (ORT stores into an int64 array). ORT leaves the remainder
        // bins past num_quantized_bins·merged at zero.
        let mut q = vec![0i64; p.len()];
        for (index, &qb) in quantized.iter().enumerate() {
            let (s, e) = (index * merged, (index + 1) * merged);
            let norm = p[s..e].iter().filter(|&&v| v != 0).count() as i64;
            if norm != 0 {
                q[s..e].fill(qb / norm);
            }
        }
        let div = match (smooth(&p), smooth(&q)) {
            (Some(p), Some(q)) => kl_divergence(&p, &q),
            _ => f64::INFINITY,
        };
        // ORT keeps each divergence as f32 and takes np.argmin (the first minimum); rounding
        // ours to f32 reproduces its ties.
        let div = div as f32 as f64;
        if first || div < best.0 {
            best = (div, (edges[start], edges[end]));
            first = false;
        }
    }
    let (mut clip_lo, mut clip_hi) = best.1;
    if clip_lo < lo {
        clip_lo = lo;
    }
    if clip_hi > hi {
        clip_hi = hi;
    }
    Some((clip_lo, clip_hi))
}
