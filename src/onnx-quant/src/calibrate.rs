//! ONNX Runtime's calibration methods, ported from `onnxruntime/python/tools/quantization/
//! calibrate.py` (onnxruntime 1.32): MinMax (`MinMaxCalibrater`, via [`RangeCollector`]) and the
//! three of `HistogramCollector`: Percentile, Entropy and Distribution. Each gives the
//! (lowest, highest) range per tensor that `quantize_static` turns into a scale and zero point
//! ([`crate::static_qdq::quantize_static`]).
//!
//! One [`Calibrator::collect`] call per tensor is one `collect_data` call of ONNX Runtime's: its
//! values are every calibration run of that call at once (`quantize_static` makes exactly one,
//! over all runs, unless `CalibStridedMinMax` splits them). A second call merges into the
//! histogram the way `HistogramCollector` does, re-binning when the range grows.
//!
//! The arithmetic is numpy's (2.4), in the same types, so the thresholds are the same bits:
//! `np.histogram`'s float32 `linspace` edges and its bin search, `np.arange`'s float64 edges
//! when `collect_absolute_value` extends a histogram, float32 `//`, float64 `cumsum`, and for
//! the entropy the float32 pairwise `np.sum` and numpy's float32 `np.log` kernel (the SIMD one
//! of x86-64 builds, `loops_exponent_log.dispatch`), whose last bit differs from a correctly
//! rounded log for about one value in ten.

use crate::minmax::{RangeCollector, Ranges};
use crate::numpy_sum::pairwise_sum;
use crate::{QuantizeError, Result};

/// `CalibrationMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    MinMax,
    Percentile,
    Entropy,
    Distribution,
}

impl Method {
    /// `minmax`, `percentile`, `entropy` or `distribution`.
    pub fn parse(name: &str) -> Result<Method> {
        Ok(match name {
            "minmax" => Method::MinMax,
            "percentile" => Method::Percentile,
            "entropy" => Method::Entropy,
            "distribution" => Method::Distribution,
            other => return Err(bad(format!("calibration is minmax, percentile, entropy or distribution, not '{other}'"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::MinMax => "minmax",
            Method::Percentile => "percentile",
            Method::Entropy => "entropy",
            Method::Distribution => "distribution",
        }
    }
}

/// A calibration method and the options `create_calibrator` takes for it (`extra_options`:
/// `num_bins`, `num_quantized_bins`, `percentile`, `symmetric`; through `quantize_static`,
/// `CalibPercentile` and `CalibTensorRangeSymmetric`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub method: Method,
    /// Bins of a new histogram (it grows when later batches range wider).
    pub num_bins: usize,
    /// Entropy: the bins of the quantized distribution the KL search compares against.
    pub num_quantized_bins: usize,
    /// Percentile: the share of values (in %) the range keeps.
    pub percentile: f64,
    /// Percentile: a histogram of |x| and the range ±its percentile (ONNX Runtime's default
    /// for Percentile); otherwise of x, cutting (100 − percentile) / 2 % off each side.
    pub symmetric: bool,
}

impl Calibration {
    /// `create_calibrator`'s defaults for `method`.
    pub fn new(method: Method) -> Calibration {
        let num_bins = if method == Method::Entropy { 128 } else { 2048 };
        Calibration { method, num_bins, num_quantized_bins: 128, percentile: 99.999, symmetric: method == Method::Percentile }
    }

    /// The options ONNX Runtime would refuse (or fail on later), refused here with the reason.
    pub fn check(&self) -> Result<()> {
        if self.method == Method::MinMax {
            return Ok(());
        }
        if self.num_bins == 0 {
            return Err(bad("the histogram needs at least 1 bin (num_bins is 0)".into()));
        }
        if self.num_bins > MAX_BINS {
            return Err(bad(format!("{} bins is more than quantscope keeps per tensor ({MAX_BINS})", self.num_bins)));
        }
        match self.method {
            Method::Percentile if !(self.percentile > 0.0 && self.percentile <= 100.0) => {
                Err(bad("the percentile must be in (0, 100]: it is the share of values the range keeps".into()))
            }
            Method::Entropy if self.num_quantized_bins == 0 => Err(bad("entropy needs at least 1 quantized bin".into())),
            // get_entropy_threshold searches num_bins/2 − num_quantized_bins/2 + 1 thresholds.
            Method::Entropy if self.num_quantized_bins / 2 > self.num_bins / 2 => Err(bad(format!(
                "entropy compares {} quantized bins against a histogram of {}: num_quantized_bins must not exceed num_bins",
                self.num_quantized_bins, self.num_bins
            ))),
            Method::Distribution if self.num_bins < 512 => {
                Err(bad(format!("distribution needs at least 512 bins (compute_distribution), not {}", self.num_bins)))
            }
            _ => Ok(()),
        }
    }
}

/// A histogram may grow to this many bins (ONNX Runtime has no limit; a tab has memory).
const MAX_BINS: usize = 1 << 22;

const TOO_MANY: &str = "its histogram would need more bins than quantscope keeps (4,194,304)";

fn bad(why: String) -> QuantizeError {
    QuantizeError::Calibration(why)
}

/// `HistogramCollector.histogram_dict[tensor]`.
#[derive(Debug, Clone)]
struct Histogram {
    hist: Vec<i64>,
    edges: Vec<f32>,
    min: f32,
    max: f32,
    /// `collect_value`'s threshold (the histogram spans ±it).
    threshold: f32,
}

/// Collects calibration values tensor by tensor and gives their ranges.
#[derive(Debug, Clone)]
pub struct Calibrator {
    calibration: Calibration,
    minmax: RangeCollector,
    /// In the order first collected (a few hundred tensors: a list is smaller code than a map).
    histograms: Vec<(String, Histogram)>,
}

impl Calibrator {
    pub fn new(calibration: Calibration) -> Result<Calibrator> {
        calibration.check()?;
        Ok(Calibrator { calibration, minmax: RangeCollector::default(), histograms: Vec::new() })
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// One `collect_data` call's values of `tensor` (all its runs, in any order).
    pub fn collect(&mut self, tensor: &str, values: &[f32]) -> Result<()> {
        if self.calibration.method == Method::MinMax {
            self.minmax.observe(tensor, values);
            return Ok(());
        }
        let what = || format!("'{tensor}'");
        if values.is_empty() {
            // An empty tensor (paddle2onnx's zero-length Resize roi in ppocr_det): ONNX Runtime
            // bins nothing into a histogram of zeros whose range no quantized node reads. Like
            // MinMax, quantscope keeps no range for it, and a node that needed one is refused
            // by name ("no calibrated range for ...") instead of given a made-up scale.
            return Ok(());
        }
        let stats = ValueStats::of(values);
        if !stats.all_finite {
            let v = values.iter().find(|v| !v.is_finite()).expect("a non-finite value");
            // named without float formatting (the calibration module has no other use for it)
            let v = if v.is_nan() {
                "NaN"
            } else if *v > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            return Err(bad(format!(
                "{} took the value {v} in the calibration runs: a histogram needs finite values (check the inputs)",
                what()
            )));
        }
        let at = self.histograms.iter().position(|(t, _)| t == tensor);
        let old = at.map(|i| self.histograms.swap_remove(i).1);
        let c = &self.calibration;
        let h = if c.method == Method::Percentile && c.symmetric {
            collect_absolute_value(old, values, &stats, c.num_bins)
        } else {
            collect_value(old, values, &stats, c.num_bins)
        }
        .map_err(|why| bad(format!("{}: {why}", what())))?;
        self.histograms.push((tensor.to_string(), h));
        Ok(())
    }

    /// `compute_data`: each collected tensor's (lowest, highest).
    pub fn ranges(&self) -> Result<Ranges> {
        if self.calibration.method == Method::MinMax {
            return Ok(self.minmax.ranges.clone());
        }
        let c = &self.calibration;
        self.histograms
            .iter()
            .map(|(name, h)| {
                let range = match c.method {
                    Method::Percentile => Ok(percentile_range(h, c.percentile, c.symmetric)),
                    Method::Entropy => entropy_range(h, c.num_quantized_bins),
                    _ => Ok(distribution_range(h)),
                };
                range.map(|r| (name.clone(), r)).map_err(|why| bad(format!("'{name}': {why}")))
            })
            .collect()
    }
}

/// `np.linspace(first, last, num, endpoint=True, dtype=float32)`: `i * step + first` in float32
/// (`(i / div) * delta` when the step underflows), the last edge set to `last`.
fn linspace(first: f32, last: f32, num: usize) -> Vec<f32> {
    let div = (num - 1) as f32;
    let delta = last - first;
    let step = delta / div;
    let mut y: Vec<f32> = (0..num).map(|i| if step == 0.0 { i as f32 / div * delta } else { i as f32 * step } + first).collect();
    y[num - 1] = last;
    y
}

/// `np.histogram(values, bins, range=(first, last))` of float32 values (of their magnitudes
/// when `ABS`), as its uniform-bins path computes it: the bin from
/// `(v - first) / (last - first) * bins` in float32, corrected by one against the edges. Values
/// outside the range are left out.
///
/// This is every histogram calibration's time (a 10 MB model on 32 inputs makes 1.6 G values),
/// so the loop is laid out for speed, each step still numpy's: eight values' bin positions at a
/// time (the division vectorizes: SIMD128 in the page), and the counts spread over four
/// interleaved sub-histograms so that a run of values in one bin does not wait on its own
/// read-add-write ([`histogram_reference`] is the plain loop the tests hold it to).
fn histogram<const ABS: bool>(values: &[f32], bins: usize, first: f32, last: f32) -> std::result::Result<(Vec<i64>, Vec<f32>), String> {
    let (first, last) = if first == last { (first - 0.5, last + 0.5) } else { (first, last) };
    if bins > MAX_BINS {
        return Err(TOO_MANY.into());
    }
    let edges = linspace(first, last, bins + 1);
    if edges.windows(2).any(|w| w[0] >= w[1]) {
        // np.histogram: "Too many bins for data range"
        return Err("its bins are narrower than float32 can tell apart (a near-constant tensor: use fewer bins or minmax)".into());
    }
    let denom = last - first;
    let n = bins as f32;
    let margin = sure_margin(first, last, bins);
    // Every exact zero (±0) has the same computed position, so numpy's bin of it is found once
    // (ReLU's zeros at the centre of ±max|x| sit on an edge, where the sure test never holds).
    let zero = bin_of(0.0, (0.0 - first) / denom * n, first, last, &edges).map(|b| b as u32);
    let mut hist = vec![0i64; bins];
    let mut ways = vec![0u32; bins * WAYS];
    // u32 sub-counts, emptied into the i64 counts before they could overflow
    for block in values.chunks(1 << 30) {
        let whole = block.len() / LANES * LANES;
        count_bins::<ABS>(&block[..whole], first, last, n, margin, zero, &edges, &mut ways);
        for &x in &block[whole..] {
            let v = if ABS { x.abs() } else { x };
            if let Some(i) = bin_of(v, (v - first) / denom * n, first, last, &edges) {
                ways[i * WAYS] += 1;
            }
        }
        for (h, w) in hist.iter_mut().zip(ways.chunks_exact_mut(WAYS)) {
            *h += w.iter().map(|&c| c as i64).sum::<i64>();
            w.fill(0);
        }
    }
    Ok((hist, edges))
}

/// [`histogram`]'s loop over whole chunks of [`LANES`] values: numpy's bin of each (see
/// [`bin_of`]) counted into `ways[bin * WAYS + lane % WAYS]`, branch-free (a value outside
/// [first, last] adds 0 to a bin that exists). `n` is the bin count as float32; `zero` is
/// numpy's bin of 0 (`None` when 0 is outside the range), which an exact zero takes at once.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[allow(clippy::too_many_arguments)]
fn count_bins<const ABS: bool>(
    values: &[f32],
    first: f32,
    last: f32,
    n: f32,
    margin: Option<f32>,
    zero: Option<u32>,
    edges: &[f32],
    ways: &mut [u32],
) {
    let denom = last - first;
    let top = edges.len() as u32 - 2;
    for chunk in values.chunks_exact(LANES) {
        let mut v = [0f32; LANES];
        let mut f = [0f32; LANES];
        let mut i = [0u32; LANES];
        for j in 0..LANES {
            v[j] = if ABS { chunk[j].abs() } else { chunk[j] };
            f[j] = (v[j] - first) / denom * n;
            // `as u32` saturates (NaN and negatives to 0): the bin always exists
            i[j] = (f[j] as u32).min(top);
        }
        if let Some(m) = margin {
            // (a value on the first edge is bin 0: f is exactly 0 and edges[1] > first)
            let sure = |j: usize| {
                v[j] == first
                    || (zero.is_some() && v[j] == 0.0)
                    || (v[j] > first && v[j] <= last && f[j] - f[j].floor() > m && f[j] - f[j].floor() < 1.0 - m)
            };
            if (0..LANES).all(sure) {
                for j in 0..LANES {
                    let bin = match zero {
                        Some(z) if v[j] == 0.0 => z,
                        _ => i[j],
                    };
                    ways[bin as usize * WAYS + j % WAYS] += 1;
                }
                continue;
            }
        }
        for j in 0..LANES {
            let (lo, hi) = (edges[i[j] as usize], edges[i[j] as usize + 1]);
            let inside = v[j] >= first && v[j] <= last;
            let down = i[j] > 0 && v[j] < lo;
            let up = !down && v[j] >= hi && i[j] != top;
            let bin = i[j] - down as u32 + up as u32;
            ways[bin as usize * WAYS + j % WAYS] += inside as u32;
        }
    }
}

/// SIMD128 [`count_bins`]. A sure group of four (the common case) takes its bins from a
/// position computed with a product by `bins / (last − first)` instead of numpy's quotient —
/// four roundings too, so within the same 4.01·u·bins of the exact position that
/// [`sure_margin`] allows for — rounded with the 2²³ trick (no float-to-int conversion); any
/// other group computes numpy's positions, reads the edges and counts lane by lane.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[allow(clippy::too_many_arguments)]
fn count_bins<const ABS: bool>(
    values: &[f32],
    first: f32,
    last: f32,
    n: f32,
    margin: Option<f32>,
    zero: Option<u32>,
    edges: &[f32],
    ways: &mut [u32],
) {
    use core::arch::wasm32::*;
    let top = edges.len() as u32 - 2;
    // exact zeros take numpy's bin of 0 (when 0 is in the range: then the mask test below can hold)
    let (vzero_bin, zero_ok) = (u32x4_splat(zero.unwrap_or(0)), u32x4_splat(if zero.is_some() { u32::MAX } else { 0 }));
    let (vfirst, vlast, vdenom, vn) = (f32x4_splat(first), f32x4_splat(last), f32x4_splat(last - first), f32x4_splat(n));
    let (vtop, zero, one) = (u32x4_splat(top), u32x4_splat(0), u32x4_splat(1));
    // bins / (last − first): finite when there is a margin (the step is then at least 1e-30)
    let vscale = f32x4_splat(n / (last - first));
    // 2²³: g + 2²³ rounds g (0 ≤ g < 2²²: MAX_BINS) to a whole number in its low mantissa bits
    let (magic, low23) = (f32x4_splat(8_388_608.0), u32x4_splat(0x007F_FFFF));
    // without a margin no position is sure: every lane takes the edges' look
    let sure = f32x4_splat(margin.unwrap_or(1.0));
    for x4 in values.chunks_exact(4) {
        // SAFETY: a chunk of exactly 4 f32; unaligned loads are allowed.
        let x = unsafe { v128_load(x4.as_ptr() as *const v128) };
        let v = if ABS { f32x4_abs(x) } else { x };
        let inside = v128_and(f32x4_ge(v, vfirst), f32x4_le(v, vlast));
        let is_zero = v128_and(f32x4_eq(v, f32x4_splat(0.0)), zero_ok);
        // the position g, its nearest whole number r (in t's low bits) and g − r (exact:
        // Sterbenz), whose sign says whether floor(g) is r or r − 1
        let g = f32x4_mul(f32x4_sub(v, vfirst), vscale);
        let t = f32x4_add(g, magic);
        let d = f32x4_sub(g, f32x4_sub(t, magic));
        // (a value on the first edge is bin 0: g is exactly 0 and edges[1] > first; ReLU's
        // zeros in a histogram of |x|)
        let on_first = v128_or(f32x4_eq(v, vfirst), is_zero);
        if i32x4_all_true(v128_or(on_first, v128_and(inside, f32x4_gt(f32x4_abs(d), sure)))) {
            // the masks are −1 where true: r − (d < 0); exact zeros take numpy's bin of 0
            let b = v128_bitselect(vzero_bin, i32x4_add(v128_and(t, low23), f32x4_lt(d, f32x4_splat(0.0))), is_zero);
            ways[u32x4_extract_lane::<0>(b) as usize * WAYS] += 1;
            ways[u32x4_extract_lane::<1>(b) as usize * WAYS + 1] += 1;
            ways[u32x4_extract_lane::<2>(b) as usize * WAYS + 2] += 1;
            ways[u32x4_extract_lane::<3>(b) as usize * WAYS + 3] += 1;
            continue;
        }
        // numpy's position and bin: i32x4.trunc_sat (cheaper than its unsigned form) gives the
        // same bin for a value inside [first, last] (0 ≤ f ≤ bins); outside, a negative becomes
        // a huge u32, then `top`
        let f = f32x4_mul(f32x4_div(f32x4_sub(v, vfirst), vdenom), vn);
        let i = u32x4_min(i32x4_trunc_sat_f32x4(f), vtop);
        let at = [
            u32x4_extract_lane::<0>(i) as usize,
            u32x4_extract_lane::<1>(i) as usize,
            u32x4_extract_lane::<2>(i) as usize,
            u32x4_extract_lane::<3>(i) as usize,
        ];
        let lo = f32x4(edges[at[0]], edges[at[1]], edges[at[2]], edges[at[3]]);
        let hi = f32x4(edges[at[0] + 1], edges[at[1] + 1], edges[at[2] + 1], edges[at[3] + 1]);
        let down = v128_and(u32x4_gt(i, zero), f32x4_lt(v, lo));
        let up = v128_andnot(v128_and(f32x4_ge(v, hi), i32x4_ne(i, vtop)), down);
        // the masks are −1 where true: i + down − up
        let bin = i32x4_sub(i32x4_add(i, down), up);
        let add = v128_and(inside, one);
        ways[u32x4_extract_lane::<0>(bin) as usize * WAYS] += u32x4_extract_lane::<0>(add);
        ways[u32x4_extract_lane::<1>(bin) as usize * WAYS + 1] += u32x4_extract_lane::<1>(add);
        ways[u32x4_extract_lane::<2>(bin) as usize * WAYS + 2] += u32x4_extract_lane::<2>(add);
        ways[u32x4_extract_lane::<3>(bin) as usize * WAYS + 3] += u32x4_extract_lane::<3>(add);
    }
}

/// How far from a whole number a value's computed bin position `f` (numpy's, in float32) must
/// lie for its bin to be `floor(f)` with no look at the edges: then neither of numpy's
/// corrections can apply. `f` is within 4.01·u·bins of the exact position (four roundings:
/// last − first, v − first, the division, the product; u = 2⁻²⁴), and each linspace edge
/// `k·step + first` within bins·(3.01·u + 1.01·u·max(|first|, |last|) / (last − first)) bins of
/// its exact place (three roundings of the step's product, one of the sum); a position further
/// than both from every whole number lies strictly between its bin's two edges. Twice that sum
/// plus 2⁻¹⁶; `None` when it is not small (a range far from zero for its width), and the
/// edges are read for every value.
fn sure_margin(first: f32, last: f32, bins: usize) -> Option<f32> {
    let u = (2f64).powi(-24);
    let (first, last, bins) = (first as f64, last as f64, bins as f64);
    // the bounds are relative ones: not for steps near float32's subnormals
    if (last - first) / bins < 1e-30 {
        return None;
    }
    let far = first.abs().max(last.abs()) / (last - first);
    let err = bins * (4.01 * u) + bins * (3.01 * u + 1.01 * u * far);
    let margin = 2.0 * err + (2f64).powi(-16);
    (margin < 0.25).then_some(margin as f32)
}

/// Values whose bin positions [`count_bins`] computes at once (a multiple of four: SIMD128).
const LANES: usize = 8;
/// Interleaved sub-histograms in [`histogram`].
const WAYS: usize = 4;

/// numpy's bin of `v` from its computed position `f`: `None` outside [first, last].
#[inline(always)]
fn bin_of(v: f32, f: f32, first: f32, last: f32, edges: &[f32]) -> Option<usize> {
    if !(v >= first && v <= last) {
        return None;
    }
    let bins = edges.len() - 1;
    let mut i = (f as usize).min(bins - 1);
    if i > 0 && v < edges[i] {
        i -= 1;
    }
    if v >= edges[i + 1] && i != bins - 1 {
        i += 1;
    }
    Some(i)
}

/// The plain loop of [`histogram`] (without its magnitudes), which the tests compare it to.
#[cfg(test)]
fn histogram_reference(values: &[f32], bins: usize, first: f32, last: f32) -> (Vec<i64>, Vec<f32>) {
    let (first, last) = if first == last { (first - 0.5, last + 0.5) } else { (first, last) };
    let edges = linspace(first, last, bins + 1);
    let denom = last - first;
    let n = bins as f32;
    let mut hist = vec![0i64; bins];
    for &v in values {
        if !(v >= first && v <= last) {
            continue;
        }
        let f = (v - first) / denom * n;
        let mut i = (f as usize).min(bins - 1);
        if i > 0 && v < edges[i] {
            i -= 1;
        }
        if v >= edges[i + 1] && i != bins - 1 {
            i += 1;
        }
        hist[i] += 1;
    }
    (hist, edges)
}

/// `np.histogram(values, bins=edges)` for explicit (sorted) edges: bin i holds
/// `edges[i] <= v < edges[i + 1]`, the last one also `v == edges[-1]`.
fn histogram_with_edges(values: &[f32], edges: &[f64]) -> Vec<i64> {
    let bins = edges.len() - 1;
    let mut hist = vec![0i64; bins];
    let (lo, hi) = (edges[0], edges[bins]);
    for &v in values {
        let v = v as f64;
        if !(v >= lo && v <= hi) {
            continue;
        }
        let i = edges.partition_point(|&e| e <= v).saturating_sub(1).min(bins - 1);
        hist[i] += 1;
    }
    hist
}

/// What the collectors need from a batch before binning it, in one pass: whether every value
/// is finite, the lowest and highest value and the lowest and highest magnitude (for finite
/// values; a ±0 tie may come out either way, which no scale or zero point can tell).
struct ValueStats {
    all_finite: bool,
    min: f32,
    max: f32,
    abs_min: f32,
    abs_max: f32,
}

impl ValueStats {
    fn of(values: &[f32]) -> ValueStats {
        let mut s = Lanes::new();
        let whole = values.len() / LANES * LANES;
        s.take_chunks(&values[..whole]);
        for (j, &v) in values[whole..].iter().enumerate() {
            s.take(j, v);
        }
        s.finish()
    }
}

/// [`ValueStats`]' accumulators, LANES of each (independent chains; the page's build takes
/// whole chunks with SIMD128).
struct Lanes {
    /// v · 0 is ±0 for a finite v and NaN otherwise: a lane's sum stays 0 while its values
    /// are finite
    nonfinite: [f32; LANES],
    lo: [f32; LANES],
    hi: [f32; LANES],
    abs_lo: [f32; LANES],
    abs_hi: [f32; LANES],
}

impl Lanes {
    fn new() -> Lanes {
        let (inf, ninf) = ([f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
        Lanes { nonfinite: [0.0; LANES], lo: inf, hi: ninf, abs_lo: inf, abs_hi: ninf }
    }

    #[inline(always)]
    fn take(&mut self, j: usize, v: f32) {
        let a = v.abs();
        self.nonfinite[j] += v * 0.0;
        self.lo[j] = if v < self.lo[j] { v } else { self.lo[j] };
        self.hi[j] = if v > self.hi[j] { v } else { self.hi[j] };
        self.abs_lo[j] = if a < self.abs_lo[j] { a } else { self.abs_lo[j] };
        self.abs_hi[j] = if a > self.abs_hi[j] { a } else { self.abs_hi[j] };
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn take_chunks(&mut self, values: &[f32]) {
        for chunk in values.chunks_exact(LANES) {
            for (j, &v) in chunk.iter().enumerate() {
                self.take(j, v);
            }
        }
    }

    /// SIMD128 `take` of eight values a step: `pmin(acc, x)` is `x < acc ? x : acc`, the
    /// scalar step's comparison.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn take_chunks(&mut self, values: &[f32]) {
        use core::arch::wasm32::*;
        // SAFETY (loads and stores): each array holds LANES = 8 f32, each chunk exactly 8.
        let load2 = |a: &[f32]| unsafe { (v128_load(a.as_ptr() as *const v128), v128_load(a.as_ptr().add(4) as *const v128)) };
        let zero = f32x4_splat(0.0);
        let (mut nf, mut lo, mut hi, mut alo, mut ahi) =
            (load2(&self.nonfinite), load2(&self.lo), load2(&self.hi), load2(&self.abs_lo), load2(&self.abs_hi));
        for x8 in values.chunks_exact(LANES) {
            let (x, y) = load2(x8);
            let (ax, ay) = (f32x4_abs(x), f32x4_abs(y));
            nf = (f32x4_add(nf.0, f32x4_mul(x, zero)), f32x4_add(nf.1, f32x4_mul(y, zero)));
            lo = (f32x4_pmin(lo.0, x), f32x4_pmin(lo.1, y));
            hi = (f32x4_pmax(hi.0, x), f32x4_pmax(hi.1, y));
            alo = (f32x4_pmin(alo.0, ax), f32x4_pmin(alo.1, ay));
            ahi = (f32x4_pmax(ahi.0, ax), f32x4_pmax(ahi.1, ay));
        }
        let store2 = |a: &mut [f32; LANES], (x, y): (v128, v128)| unsafe {
            v128_store(a.as_mut_ptr() as *mut v128, x);
            v128_store(a.as_mut_ptr().add(4) as *mut v128, y);
        };
        store2(&mut self.nonfinite, nf);
        store2(&mut self.lo, lo);
        store2(&mut self.hi, hi);
        store2(&mut self.abs_lo, alo);
        store2(&mut self.abs_hi, ahi);
    }

    fn finish(&self) -> ValueStats {
        let min = |x: &[f32; LANES]| x.iter().copied().fold(f32::INFINITY, |a, b| if b < a { b } else { a });
        let max = |x: &[f32; LANES]| x.iter().copied().fold(f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
        ValueStats {
            all_finite: self.nonfinite.iter().all(|&s| s == 0.0),
            min: min(&self.lo),
            max: max(&self.hi),
            abs_min: min(&self.abs_lo),
            abs_max: max(&self.abs_hi),
        }
    }
}

/// numpy's float32 `a // b` (`npy_divmodf`): `(a - fmod(a, b)) / b`, floored and snapped.
fn floor_divide(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    // fmod's remainder takes a's sign, Python's b's
    if m != 0.0 && (b < 0.0) != (m < 0.0) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0f32.copysign(a / b);
    }
    let f = div.floor();
    if div - f > 0.5 {
        f + 1.0
    } else {
        f
    }
}

/// `HistogramCollector.collect_value` (+ `merge_histogram`): a histogram of x over ±max|x|; a
/// later batch that ranges wider widens it by whole old bins on each side.
fn collect_value(old: Option<Histogram>, values: &[f32], stats: &ValueStats, num_bins: usize) -> std::result::Result<Histogram, String> {
    let (min, max) = (stats.min, stats.max);
    let threshold = if min.abs() >= max.abs() { min.abs() } else { max.abs() };
    let Some(old) = old else {
        let (hist, edges) = histogram::<false>(values, num_bins, -threshold, threshold)?;
        return Ok(Histogram { hist, edges, min, max, threshold });
    };
    let (min, max) = (old.min.min(min), old.max.max(max));
    let bins = old.hist.len();
    if threshold <= old.threshold {
        let (mut hist, _) = histogram::<false>(values, bins, -old.threshold, old.threshold)?;
        hist.iter_mut().zip(&old.hist).for_each(|(a, b)| *a += b);
        return Ok(Histogram { hist, edges: old.edges, min, max, threshold: old.threshold });
    }
    if old.threshold == 0.0 {
        let (mut hist, edges) = histogram::<false>(values, bins, -threshold, threshold)?;
        hist.iter_mut().zip(&old.hist).for_each(|(a, b)| *a += b);
        return Ok(Histogram { hist, edges, min, max, threshold });
    }
    let stride = 2.0 * old.threshold / bins as f32;
    let half = (floor_divide(threshold - old.threshold, stride) + 1.0) as usize;
    let new_bins = bins.saturating_add(half.saturating_mul(2));
    let threshold = half as f32 * stride + old.threshold;
    let (mut hist, edges) = histogram::<false>(values, new_bins, -threshold, threshold)?;
    hist[half..new_bins - half].iter_mut().zip(&old.hist).for_each(|(a, b)| *a += b);
    Ok(Histogram { hist, edges, min, max, threshold })
}

/// `np.arange(start, stop, step)` of float32 scalars: a float64 array whose length is
/// `ceil((stop - start) / step)` in float32, its second value `start + step` in float32 and the
/// rest `start + i * (second - start)` in float64.
fn arange(start: f32, stop: f32, step: f32) -> std::result::Result<Vec<f64>, String> {
    let span = stop - start;
    if span == 0.0 {
        return Ok(Vec::new());
    }
    let len = ((span / step) as f64).ceil();
    if len <= 0.0 {
        return Ok(Vec::new());
    }
    if len > MAX_BINS as f64 {
        return Err(TOO_MANY.into());
    }
    let len = len as usize;
    let (first, second) = (start as f64, (start + step) as f64);
    let delta = second - first;
    Ok((0..len).map(|i| if i == 1 { second } else { first + i as f64 * delta }).collect())
}

/// `HistogramCollector.collect_absolute_value`: a histogram of |x| over [min|x|, max|x|]; a later
/// batch beyond its last edge extends it by bins of the same width.
fn collect_absolute_value(
    old: Option<Histogram>,
    values: &[f32],
    stats: &ValueStats,
    num_bins: usize,
) -> std::result::Result<Histogram, String> {
    let (min, max, amax) = (stats.min, stats.max, stats.abs_max);
    let Some(old) = old else {
        let (hist, edges) = histogram::<true>(values, num_bins, stats.abs_min, amax)?;
        return Ok(Histogram { hist, edges, min, max, threshold: 0.0 });
    };
    let abs: Vec<f32> = values.iter().map(|v| v.abs()).collect();
    let mut edges: Vec<f64> = old.edges.iter().map(|&e| e as f64).collect();
    let last = old.edges[old.edges.len() - 1];
    if amax > last {
        let width = old.edges[1] - old.edges[0];
        edges.extend(arange(last + width, amax + width, width)?);
    }
    let mut hist = histogram_with_edges(&abs, &edges);
    hist.iter_mut().zip(&old.hist).for_each(|(a, b)| *a += b);
    let edges = edges.iter().map(|&e| e as f32).collect();
    Ok(Histogram { hist, edges, min: old.min.min(min), max: old.max.max(max), threshold: 0.0 })
}

/// Clamps a threshold pair to the values actually seen.
fn clamp(h: &Histogram, (lo, hi): (f32, f32)) -> (f32, f32) {
    (if lo < h.min { h.min } else { lo }, if hi > h.max { h.max } else { hi })
}

/// `HistogramCollector.compute_percentile`: the edges where the float64 cumulative share
/// first reaches the percentile (`np.searchsorted`, left).
fn percentile_range(h: &Histogram, percentile: f64, symmetric: bool) -> (f32, f32) {
    let total = h.hist.iter().sum::<i64>() as f64;
    let mut cdf = Vec::with_capacity(h.hist.len());
    let mut acc = 0f64;
    for &c in &h.hist {
        acc += c as f64 / total;
        cdf.push(acc);
    }
    let search = |v: f64| cdf.iter().position(|&c| c >= v).unwrap_or(cdf.len());
    let range = if symmetric {
        let e = h.edges[search(percentile / 100.0)];
        (-e, e)
    } else {
        let cut = (100.0 - percentile) / 200.0;
        (h.edges[search(cut)], h.edges[search(1.0 - cut)])
    };
    clamp(h, range)
}

/// `compute_distribution` for integer types: ONNX Runtime keeps the histogram's outer edges.
fn distribution_range(h: &Histogram) -> (f32, f32) {
    h.edges.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &e| (lo.min(e), hi.max(e)))
}

/// `HistogramCollector.get_entropy_threshold`: for each symmetric window around the middle bin,
/// from num_quantized_bins wide to the whole histogram, the KL divergence between the window
/// (outliers folded into its end bins) and its num_quantized_bins-bin quantization; the window
/// of least divergence (the first on ties) gives the range.
fn entropy_range(h: &Histogram, num_quantized_bins: usize) -> std::result::Result<(f32, f32), String> {
    let hist = &h.hist;
    let num_bins = hist.len();
    let zero = num_bins / 2;
    let half_q = num_quantized_bins / 2;
    if half_q > zero {
        return Err(format!("{num_quantized_bins} quantized bins are more than the histogram's {num_bins}"));
    }
    let mut best: Option<(f64, (f32, f32))> = None;
    for i in half_q..=zero {
        let start = zero - i;
        let end = (zero + i + 1).min(num_bins);
        let thresholds = (h.edges[start], h.edges[end]);
        let sliced = &hist[start..end];
        let mut p = sliced.to_vec();
        p[0] += hist[..start].iter().sum::<i64>();
        let last = p.len() - 1;
        p[last] += hist[end..].iter().sum::<i64>();
        let merged = sliced.len() / num_quantized_bins;
        let mut quantized = vec![0i64; num_quantized_bins];
        for (k, q) in quantized.iter_mut().enumerate() {
            *q = sliced[k * merged..k * merged + merged].iter().sum();
        }
        quantized[num_quantized_bins - 1] += sliced[num_quantized_bins * merged..].iter().sum::<i64>();
        let mut q = vec![0i64; p.len()];
        for (k, &count) in quantized.iter().enumerate() {
            let (s, e) = (k * merged, k * merged + merged);
            let norm = p[s..e].iter().filter(|&&v| v != 0).count();
            if norm != 0 {
                // float64 quotient stored in an int64 array: truncated
                let v = (count as f64 / norm as f64) as i64;
                q[s..e].iter_mut().for_each(|x| *x = v);
            }
        }
        let div = match (smooth_distribution(&p)?, smooth_distribution(&q)?) {
            (Some(p), Some(q)) => entropy(&p, &q),
            _ => f32::INFINITY,
        } as f64;
        // np.argmin: the first least value (a NaN, if any, wins)
        let better = match best {
            None => true,
            Some((b, _)) => !b.is_nan() && (div.is_nan() || div < b),
        };
        if better {
            best = Some((div, thresholds));
        }
    }
    let (_, range) = best.ok_or_else(|| "no threshold to search".to_string())?;
    Ok(clamp(h, range))
}

/// `quant_utils.smooth_distribution(p, eps=0.0001)`: zeros raised to eps, the same total taken
/// off the other bins, in float32; `None` when every bin is 0.
fn smooth_distribution(p: &[i64]) -> std::result::Result<Option<Vec<f32>>, String> {
    let n_zeros = p.iter().filter(|&&v| v == 0).count() as f32;
    let n_nonzeros = p.len() as f32 - n_zeros;
    if n_nonzeros == 0.0 {
        return Ok(None);
    }
    let eps1 = 0.0001 * n_zeros as f64 / n_nonzeros as f64;
    if eps1 >= 1.0 {
        // ONNX Runtime asserts here
        return Err("the entropy search cannot smooth a window with so few non-empty bins".into());
    }
    let (eps, eps1) = (0.0001f32, -eps1 as f32);
    let out: Vec<f32> = p.iter().map(|&v| v as f32 + if v == 0 { eps } else { eps1 }).collect();
    if out.iter().any(|&v| v <= 0.0) {
        return Err("the entropy search's smoothing left a bin at or below 0".into());
    }
    Ok(Some(out))
}

/// `calibrate.entropy(p, q)`: Σ p·log(p/q) of both normalised, in float32.
fn entropy(p: &[f32], q: &[f32]) -> f32 {
    let (ps, qs) = (pairwise_sum(p), pairwise_sum(q));
    let terms: Vec<f32> = p
        .iter()
        .zip(q)
        .map(|(&p, &q)| {
            let (pk, qk) = (1.0 * p / ps, q / qs);
            if pk > 0.0 && qk > 0.0 {
                pk * numpy_log_f32(pk / qk)
            } else {
                f32::INFINITY
            }
        })
        .collect();
    pairwise_sum(&terms)
}

/// numpy's float32 `np.log` on x86-64 (`simd_log_FLOAT`, `loops_exponent_log.dispatch`):
/// x = m·2^e with m in (√½, √2], then e·ln2 + P(m−1)/Q(m−1), two degree-5 polynomials in
/// fused multiply-adds (constants `NPY_COEFF_{P,Q}*_LOGf` of `npy_simd_data.h`).
// The constants as numpy writes them (more digits than an f32 holds; they round to its values).
#[allow(clippy::excessive_precision)]
pub fn numpy_log_f32(x: f32) -> f32 {
    const P: [f32; 6] = [
        0.0,
        9.999999999999998702752e-01,
        2.112677543073053063722e+00,
        1.480000633576506585156e+00,
        3.808837741388407920751e-01,
        2.589979117907922693523e-02,
    ];
    const Q: [f32; 6] = [
        1.0,
        2.612677543073109236779e+00,
        2.453006071784736363091e+00,
        9.864942958519418960339e-01,
        1.546476374983906719538e-01,
        5.875095403124574342950e-03,
    ];
    if x.is_nan() {
        return f32::NAN;
    }
    if x < 0.0 {
        return -f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return f32::INFINITY;
    }
    // subnormals: scaled by 2^100 first (the AVX2 kernel's way; AVX-512's getexp agrees)
    let (x, bias) = if x < f32::MIN_POSITIVE { (x * f32::from_bits(0x7180_0000), 100.0) } else { (x, 0.0) };
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32 - 126) as f32 - bias;
    let mut m = f32::from_bits((bits & 0x007F_FFFF) | 0x3F00_0000);
    if m <= std::f32::consts::FRAC_1_SQRT_2 {
        m += m;
        e -= 1.0;
    }
    let y = m - 1.0;
    let mut num = P[5].mul_add(y, P[4]);
    let mut den = Q[5].mul_add(y, Q[4]);
    for k in (0..4).rev() {
        num = num.mul_add(y, P[k]);
        den = den.mul_add(y, Q[k]);
    }
    e.mul_add(std::f32::consts::LN_2, num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_and_histogram_follow_numpy_on_exact_cases() {
        assert_eq!(linspace(-1.0, 1.0, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        let (hist, edges) = histogram::<false>(&[-1.0, -0.5, 0.0, 0.49, 1.0, 2.0], 4, -1.0, 1.0).unwrap();
        assert_eq!(hist, vec![1, 1, 2, 1]);
        assert_eq!(edges.len(), 5);
        // a zero range widens to ±0.5
        let (hist, edges) = histogram::<false>(&[0.0, 0.0], 2, 0.0, 0.0).unwrap();
        assert_eq!((hist, edges), (vec![0, 2], vec![-0.5, 0.0, 0.5]));
        assert_eq!(histogram_with_edges(&[0.0, 1.0, 1.5, 3.0, 3.5], &[0.0, 1.0, 2.0, 3.0]), vec![1, 2, 1]);
    }

    /// xorshift64*: the tests' values without a dependency.
    fn values(seed: u64, len: usize, spread: f32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
                (u * 2.0 - 1.0) * spread
            })
            .collect()
    }

    // The two kernels with a SIMD128 form run in Chromium too (`wasm-pack test src/onnx-quant --lib`).
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_fast_histogram_counts_as_the_plain_loop() {
        for (seed, len) in [(1u64, 0usize), (2, 1), (3, 7), (4, 8), (5, 9), (6, 1000), (7, 4099), (8, 65_537)] {
            for bins in [1usize, 2, 7, 128, 2048] {
                let mut v = values(seed, len, 3.0);
                // values on the edges, at both ends, outside, ±0 and runs in one bin
                let (first, last) = (-2.0f32, 2.5f32);
                let edges = linspace(first, last, bins + 1);
                for (k, e) in edges.iter().enumerate().take(len / 3) {
                    v[3 * k] = *e;
                }
                if len > 20 {
                    v[..8].copy_from_slice(&[first, last, -0.0, 0.0, 2.5000002, -2.0000002, 1.0, 1.0]);
                }
                let what = format!("seed {seed}, {len} values, {bins} bins");
                assert_eq!(histogram::<false>(&v, bins, first, last).unwrap(), histogram_reference(&v, bins, first, last), "{what}");
                let abs: Vec<f32> = v.iter().map(|x| x.abs()).collect();
                assert_eq!(histogram::<true>(&v, bins, 0.0, last).unwrap(), histogram_reference(&abs, bins, 0.0, last), "{what}, |x|");
                // numpy's zero-width range
                assert_eq!(histogram::<false>(&v, bins, 1.0, 1.0).unwrap(), histogram_reference(&v, bins, 1.0, 1.0), "{what}, ±0.5");
                // ranges far from zero for their width (sure_margin's bound at work, or refusing),
                // and tiny ones
                for (first, last, scale) in [(1000.0f32, 1000.5f32, 0.25f32), (-3e-36, 5e-36, 4e-36), (0.0, 1e-40, 1e-40)] {
                    let w: Vec<f32> = v.iter().map(|x| (first + last) / 2.0 + x / 3.0 * scale).collect();
                    if let Ok(fast) = histogram::<false>(&w, bins, first, last) {
                        assert_eq!(fast, histogram_reference(&w, bins, first, last), "{what}, [{first}, {last}]");
                    }
                }
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn exact_zeros_take_numpys_bin_at_once() {
        // numpy: np.histogram([0.], 2048, (-1, 1)) counts the zero in bin 1024 (on its lower edge)
        let (hist, _) = histogram::<false>(&[0.0; 9], 2048, -1.0, 1.0).unwrap();
        assert_eq!((hist[1024], hist.iter().sum::<i64>()), (9, 9));
        // ReLU-like tensors (half their values ±0, in runs and scattered) over ±max|x| and over
        // ranges where 0 is not on an edge or is outside, against the plain loop
        for (seed, len) in [(11u64, 9usize), (12, 64), (13, 1001), (14, 20_003)] {
            let mut v = values(seed, len, 1.7);
            for (k, x) in v.iter_mut().enumerate() {
                if k % 3 != 1 || (k / 8) % 2 == 0 {
                    *x = if k % 5 == 0 { -0.0 } else { 0.0 };
                }
            }
            for bins in [1usize, 2, 3, 7, 100, 128, 2047, 2048] {
                for (first, last) in [(-1.7f32, 1.7f32), (-1.0, 1.7), (-0.3, 7.1), (-1e-3, 1e-3), (0.0, 1.7), (0.25, 1.7)] {
                    let what = format!("seed {seed}, {len} values, {bins} bins, [{first}, {last}]");
                    assert_eq!(histogram::<false>(&v, bins, first, last).unwrap(), histogram_reference(&v, bins, first, last), "{what}");
                    if first >= 0.0 {
                        let abs: Vec<f32> = v.iter().map(|x| x.abs()).collect();
                        let fast = histogram::<true>(&v, bins, first, last).unwrap();
                        assert_eq!(fast, histogram_reference(&abs, bins, first, last), "{what}, |x|");
                    }
                }
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn value_stats_in_one_pass() {
        for len in [1usize, 5, 8, 13, 1001] {
            let v = values(len as u64, len, 4.0);
            let s = ValueStats::of(&v);
            let fold = |x: &[f32]| x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let abs: Vec<f32> = v.iter().map(|x| x.abs()).collect();
            assert!(s.all_finite);
            assert_eq!((s.min, s.max), fold(&v), "{len}");
            assert_eq!((s.abs_min, s.abs_max), fold(&abs), "{len}");
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut w = v.clone();
                w[len / 2] = bad;
                assert!(!ValueStats::of(&w).all_finite, "{len}: {bad}");
            }
        }
    }

    #[test]
    fn floor_divide_and_arange_as_numpy() {
        assert_eq!(floor_divide(7.0, 2.0), 3.0);
        assert_eq!(floor_divide(6.0, 2.0), 3.0);
        assert_eq!(floor_divide(0.5, 2.0), 0.0);
        assert_eq!(arange(1.0, 2.0, 0.25).unwrap(), vec![1.0, 1.25, 1.5, 1.75]);
        assert!(arange(2.0, 2.0, 0.25).unwrap().is_empty());
    }

    #[test]
    fn pairwise_sum_is_exact_on_integers_and_log_on_powers_of_two() {
        let v: Vec<f32> = (1..=300).map(|i| i as f32).collect();
        assert_eq!(pairwise_sum(&v), 45150.0);
        assert_eq!(numpy_log_f32(1.0), 0.0);
        assert_eq!(numpy_log_f32(2.0), std::f32::consts::LN_2);
        assert_eq!(numpy_log_f32(0.0), f32::NEG_INFINITY);
        assert!(numpy_log_f32(-1.0).is_nan());
        assert!((numpy_log_f32(10.0) - 10f32.ln()).abs() <= 4.0 * f32::EPSILON * 10f32.ln());
        assert!((numpy_log_f32(1e-40) - (1e-40f64).ln() as f32).abs() < 1e-4);
    }
}
