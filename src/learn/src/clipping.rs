//! Learn panel 3, "Clipping and calibration": the MSE of symmetric INT8/INT4 quantization as a
//! function of the clipping range `[−c, c]`, and the clip each calibration method picks.
//!
//! Clipping to `c` means `scale = 2c / (qmax − qmin) = c / qmax` (the restricted symmetric
//! range), `q = clamp(rint(x / scale), −qmax, qmax)` and `x̂ = q · scale`: a smaller `c` gives
//! finer steps (less rounding error) but clamps every |x| > c (clipping error). [`clip_point`]
//! computes exactly what `int{bits}_sym` with a calibrated range `[−c, c]` computes — the same
//! `schemes::int::scale_zero_point`, the same quantize kernel, the same `error_metrics` — so the
//! curve and the calibration markers (which run the `int{bits}_sym{,_p99.9,_p99.99,_mse,_entropy}`
//! schemes themselves, see `stats::calibration`) agree exactly where they meet.

use quantscope_core::error::{Error, Result};
use quantscope_core::schemes::int::{qrange, quantize_group, scale_zero_point, GroupMap, IntScheme};
use quantscope_core::schemes::{Measured, Scheme};
use quantscope_core::stats::histogram::{histogram, Histogram};
use quantscope_core::stats::metrics::{error_metrics, from_sums};
use quantscope_core::stats::summary::min_max;
use serde::Serialize;

/// The most points a curve may have (each is a pass over the tensor).
pub const MAX_POINTS: usize = 1000;

/// Symmetric quantization of the tensor with the clip `c`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipPoint {
    pub clip: f64,
    pub scale: f64,
    pub mse: f64,
    #[serde(serialize_with = "quantscope_core::stats::finite_or_null")]
    pub sqnr_db: f64,
    /// Finite values with |x| beyond the clip (clamped), as a fraction of the finite values.
    pub clipped_fraction: f64,
}

/// What one calibration method picks for `int{bits}_sym`.
#[derive(Debug, Clone, Serialize)]
pub struct Marker {
    pub method: &'static str,
    pub scheme: String,
    pub clip: f64,
    pub mse: f64,
    pub clipped_fraction: f64,
}

/// Everything the panel draws before the curve: the histogram over [−max|x|, max|x|], the clips
/// the curve is computed at, the calibration markers and a sentence comparing them.
#[derive(Debug, Clone, Serialize)]
pub struct ClipSetup {
    pub bits: u32,
    pub qmax: i32,
    pub count: usize,
    pub absmax: f64,
    pub histogram: Histogram,
    pub clips: Vec<f32>,
    pub markers: Vec<Marker>,
    pub verdict: String,
    /// Why a percentile method barely clamps (if one does): one sentence each.
    pub notes: Vec<String>,
}

fn check_bits(bits: u32) -> Result<()> {
    if [8, 4, 2].contains(&bits) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("bit width must be 8, 4 or 2, got {bits}")))
    }
}

/// The finite values' max |x|, or an error when there are none (or all are 0).
fn absmax(values: &[f32]) -> Result<f32> {
    let (lo, hi) = min_max(values);
    if lo > hi {
        return Err(Error::InvalidArgument("the tensor has no finite values to clip".into()));
    }
    let m = lo.abs().max(hi.abs());
    if m == 0.0 {
        return Err(Error::InvalidArgument("every value is 0: there is nothing to clip".into()));
    }
    Ok(m)
}

/// `int{bits}_sym` with its range calibrated to `[−clip, clip]`.
pub fn clip_point(values: &[f32], bits: u32, clip: f32) -> Result<ClipPoint> {
    let mut codes = vec![0u8; values.len()];
    let mut dequantized = vec![0f32; values.len()];
    clip_point_with(values, bits, clip, &mut codes, &mut dequantized)
}

fn clip_point_with(values: &[f32], bits: u32, clip: f32, codes: &mut [u8], dequantized: &mut [f32]) -> Result<ClipPoint> {
    check_bits(bits)?;
    if !(clip.is_finite() && clip > 0.0) {
        return Err(Error::InvalidArgument(format!("the clip must be a positive finite number, got {clip}")));
    }
    let (qmin, qmax) = qrange(bits, true);
    // What `IntScheme::quantize` does for a group whose calibrated range is (−clip, clip).
    let (scale, zp) = scale_zero_point(-clip, clip, qmin, qmax, true);
    let clipped = quantize_group(values, GroupMap { scale, zero_point: zp, qmin, qmax }, codes, dequantized);
    let m = error_metrics(values, dequantized);
    Ok(ClipPoint {
        clip: clip as f64,
        scale: scale as f64,
        mse: m.mse,
        sqnr_db: m.sqnr_db,
        clipped_fraction: if m.compared == 0 { 0.0 } else { clipped as f64 / m.compared as f64 },
    })
}

/// [`clip_point`] at each of `clips` (the worker calls it a slice at a time for progress).
pub fn curve(values: &[f32], bits: u32, clips: &[f32]) -> Result<Vec<ClipPoint>> {
    let mut codes = vec![0u8; values.len()];
    let mut dequantized = vec![0f32; values.len()];
    clips.iter().map(|&c| clip_point_with(values, bits, c, &mut codes, &mut dequantized)).collect()
}

/// The calibration methods the panel marks, as `int{bits}_sym` id suffixes.
pub const METHODS: [(&str, &str); 5] =
    [("min-max", ""), ("percentile 99.9", "_p99.9"), ("percentile 99.99", "_p99.99"), ("MSE search", "_mse"), ("entropy (KL)", "_entropy")];

/// Runs each calibrated scheme of [`METHODS`] on the tensor: its clip (the range its scale was
/// computed from) and its MSE.
pub fn markers(values: &[f32], bits: u32) -> Result<Vec<Marker>> {
    check_bits(bits)?;
    let absmax = absmax(values)?;
    let compared = values.iter().filter(|x| x.is_finite()).count();
    METHODS
        .iter()
        .map(|&(method, suffix)| {
            let id = format!("int{bits}_sym{suffix}");
            let scheme = IntScheme::from_id(&id).ok_or_else(|| Error::UnknownScheme(id.clone()))?;
            // Only the MSE is shown: measured without a dequantized copy (`schemes::Measured`, the
            // same sums as `error_metrics` over the copy, bit for bit).
            let mut measured = Measured::default();
            let q = scheme.quantize_to(values, &[values.len()], &mut measured)?;
            // Min-max has no clip parameter: its range is ±max|x|.
            let clip = q.params.iter().find(|p| p.name == "clip_hi").and_then(|p| p.values.first().copied()).unwrap_or(absmax as f64);
            Ok(Marker {
                method,
                scheme: id,
                clip,
                mse: from_sums(measured.sums.finish()).mse,
                clipped_fraction: if compared == 0 { 0.0 } else { q.clipped as f64 / compared as f64 },
            })
        })
        .collect()
}

/// `points` clips evenly spaced over (0, max|x|]: `max|x| · k / points`, k = 1..=points.
pub fn clip_grid(absmax: f32, points: usize) -> Vec<f32> {
    (1..=points).map(|k| (absmax as f64 * k as f64 / points as f64) as f32).collect()
}

/// The histogram, clips and markers of the panel for `int{bits}_sym` with a `points`-point curve.
pub fn setup(values: &[f32], bits: u32, points: usize) -> Result<ClipSetup> {
    check_bits(bits)?;
    if !(2..=MAX_POINTS).contains(&points) {
        return Err(Error::InvalidArgument(format!("the curve needs between 2 and {MAX_POINTS} points, got {points}")));
    }
    let absmax = absmax(values)?;
    let markers = markers(values, bits)?;
    let verdict = verdict(&markers, absmax as f64);
    let notes = percentile_notes(values, &markers, absmax as f64);
    Ok(ClipSetup {
        bits,
        qmax: qrange(bits, true).1,
        count: values.iter().filter(|x| x.is_finite()).count(),
        absmax: absmax as f64,
        histogram: histogram(values, 96, -(absmax as f64), absmax as f64),
        clips: clip_grid(absmax, points),
        markers,
        verdict,
        notes,
    })
}

/// The percentile methods of [`METHODS`] and the fraction of |x| each may clamp.
const PERCENTILES: [(&str, f64, &str); 2] = [("percentile 99.9", 0.001, "0.1"), ("percentile 99.99", 0.0001, "0.01")];

/// For each percentile marker whose clip stays within 10 % of max|x| (its step barely finer
/// than min-max's), why: a percentile clamps at most the largest `1 − p` of the values, and
/// when more values than that lie far out (beyond max|x| / 2), its clip lands among them.
/// On `normal_outliers` the outliers are 0.1 % of the values, so p99.9 clamps none of them.
/// (On fewer than 1 / (1 − p) values a percentile may clamp none at all, and says so.)
pub fn percentile_notes(values: &[f32], markers: &[Marker], absmax: f64) -> Vec<String> {
    // One pass: the finite values, those beyond max|x| / 2 and the smallest |x| among them.
    let (mut n, mut far, mut nearest_far) = (0usize, 0usize, f64::INFINITY);
    for x in values.iter().filter(|x| x.is_finite()) {
        n += 1;
        let m = x.abs() as f64;
        if m > absmax / 2.0 {
            far += 1;
            nearest_far = nearest_far.min(m);
        }
    }
    if n == 0 || absmax <= 0.0 {
        return Vec::new();
    }
    let mut notes = Vec::new();
    for m in markers {
        let Some(&(_, tail, tail_percent)) = PERCENTILES.iter().find(|(method, ..)| *method == m.method) else { continue };
        if m.clip < 0.9 * absmax {
            continue;
        }
        // How many values the percentile may clamp.
        let may = (tail * n as f64).floor() as usize;
        if may == 0 {
            notes.push(format!(
                "{} clamps nothing here: the largest {tail_percent} % of {} values is less than one value, so its clip is max|x|.",
                capitalise(m.method),
                grouped(n),
            ));
            continue;
        }
        let clamped = (m.clipped_fraction * n as f64).round() as usize;
        let clamps = if clamped == 0 { "clamps nothing".to_string() } else { format!("clamps only {} values", grouped(clamped)) };
        notes.push(format!(
            "{} {clamps} here: it may clamp at most the largest {tail_percent} % of |x| ({} of {} values), but {} values \
             ({:.3} %) lie beyond half of max|x| (±{}), every one with |x| ≥ {}. With more far-out values than it may clamp, \
             its clip lands among them, so its step is nearly min-max's.",
            capitalise(m.method),
            grouped(may),
            grouped(n),
            grouped(far),
            100.0 * far as f64 / n as f64,
            super::mapping::short(absmax / 2.0),
            super::mapping::short(nearest_far),
        ));
    }
    notes
}

/// Min-max against the best calibrated clip, in one sentence.
fn verdict(markers: &[Marker], absmax: f64) -> String {
    use super::mapping::short;
    let minmax = &markers[0];
    let best = markers.iter().min_by(|a, b| a.mse.total_cmp(&b.mse)).unwrap_or(minmax);
    if minmax.mse == 0.0 {
        return "Min-max stores every value exactly here (MSE 0): each one sits on its grid, so no clip can do better.".into();
    }
    if best.mse * 1.05 >= minmax.mse {
        // Illustrate with the method that clips hardest.
        let tightest = markers.iter().min_by(|a, b| a.clip.total_cmp(&b.clip)).unwrap_or(minmax);
        return format!(
            "Min-max is as good as any calibration here (MSE {}): a finer step does not pay for clamping the largest \
             values — {} clips at {} ({:.1} % of max|x|), clamps {:.3} % of the values and ends with {}× min-max's MSE.",
            short(minmax.mse),
            tightest.method,
            short(tightest.clip),
            100.0 * tightest.clip / absmax,
            100.0 * tightest.clipped_fraction,
            short(tightest.mse / minmax.mse),
        );
    }
    let ratio = minmax.mse / best.mse;
    format!(
        "{} clips at {} ({:.1} % of max|x|) and clamps {:.3} % of the values, yet its MSE is {}× lower than min-max's: \
         min-max stretches the step to cover ±{}, so the many small values are rounded {}× more coarsely.",
        capitalise(best.method),
        short(best.clip),
        100.0 * best.clip / absmax,
        100.0 * best.clipped_fraction,
        if ratio >= 100.0 { format!("{ratio:.0}") } else { format!("{ratio:.1}") },
        short(absmax),
        short(absmax / best.clip),
    )
}

/// 65536 → "65,536".
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
