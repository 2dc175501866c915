//! Learn panel 2, "Scale and zero point": a tensor under `int{8,4,2}_sym` and `int{8,4,2}_asym`
//! side by side — the float range each covers, its integer grid, where 0 lands, a few values
//! traced through quantize → integer → dequantize with the real scale and zero point, the MSE
//! of each, and a sentence saying which wins and why, computed from those numbers.
//!
//! The schemes are the library's own (`schemes::int`, ONNX Runtime semantics): the scale and
//! zero point are the ones `IntScheme::quantize` reports, each traced value goes through
//! [`quantize_value`], and the MSE is the `stats::metrics` error sums of the scheme's round
//! trip — the numbers the Inspect view shows for the same tensor.

use quantscope_core::error::{Error, Result};
use quantscope_core::schemes::int::{quantize_value, Granularity, IntScheme};
use quantscope_core::schemes::{Measured, Scheme};
use quantscope_core::stats::histogram::{histogram, Histogram};
use quantscope_core::stats::metrics::from_sums;
use quantscope_core::stats::summary::min_max;
use serde::Serialize;

/// One value's trip: `x / scale` (f32, as the quantizer divides), rounded half to even, plus the
/// zero point, clamped to the code range, then `x̂ = (q − zero_point) · scale`.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub label: &'static str,
    pub x: f64,
    pub divided: f64,
    pub rounded: f64,
    /// rounded + zero point, before clamping.
    pub shifted: f64,
    pub code: i32,
    /// True when `shifted` was outside [qmin, qmax].
    pub clamped: bool,
    pub dequantized: f64,
    /// x̂ − x.
    pub error: f64,
}

/// One integer mapping of the tensor.
#[derive(Debug, Clone, Serialize)]
pub struct Mapping {
    pub scheme: String,
    pub symmetric: bool,
    pub qmin: i32,
    pub qmax: i32,
    pub scale: f64,
    pub zero_point: i32,
    /// The float range the scale was computed from: [min, max] widened to include 0, and
    /// mirrored to ±max|x| when symmetric.
    pub range: (f64, f64),
    /// The float value of every code, qmin first: the grid values snap to.
    pub grid: Vec<f64>,
    pub mse: f64,
    #[serde(serialize_with = "quantscope_core::stats::finite_or_null")]
    pub sqnr_db: f64,
    pub max_abs_error: f64,
    pub levels_used: usize,
    pub levels_total: usize,
    pub traces: Vec<Trace>,
}

/// Both mappings of one tensor at one bit width.
#[derive(Debug, Clone, Serialize)]
pub struct MappingReport {
    pub bits: u32,
    /// Finite values, their range and the fraction below 0.
    pub count: usize,
    pub min: f64,
    pub max: f64,
    pub negative_fraction: f64,
    pub symmetric: Mapping,
    pub asymmetric: Mapping,
    /// The number line both mappings are drawn on (the symmetric range, which holds the
    /// asymmetric one) and a histogram of the values over it.
    pub axis: (f64, f64),
    pub histogram: Histogram,
    /// Which mapping wins and why, in one sentence.
    pub verdict: String,
}

/// The values the panel traces: min, max, 0, a typical value (the element whose |x| is the
/// median |x| of the non-zero values, so that half-zero ReLU outputs still show a real one), and
/// the learner's own value when given.
fn traced_values(finite: &[f32], min: f32, max: f32, own: Option<f32>) -> Vec<(&'static str, f32)> {
    let mut by_abs: Vec<f32> = finite.iter().copied().filter(|&x| x != 0.0).collect();
    let typical = if by_abs.is_empty() {
        0.0
    } else {
        let mid = by_abs.len() / 2;
        *by_abs.select_nth_unstable_by(mid, |a, b| a.abs().total_cmp(&b.abs())).1
    };
    let mut values = vec![("min", min), ("max", max), ("zero", 0.0), ("typical", typical)];
    if let Some(v) = own {
        values.push(("yours", v));
    }
    values
}

fn map(values: &[f32], bits: u32, symmetric: bool, traced: &[(&'static str, f32)]) -> Result<Mapping> {
    let scheme = IntScheme::new(bits, symmetric, Granularity::Tensor);
    // Only the metrics are shown: measured without a dequantized copy (`schemes::Measured`).
    let mut measured = Measured::default();
    let q = scheme.quantize_to(values, &[values.len()], &mut measured)?;
    let param = |name: &str| q.params.iter().find(|p| p.name == name).and_then(|p| p.values.first().copied());
    let scale = param("scale").ok_or_else(|| Error::InvalidArgument("the tensor is empty".into()))? as f32;
    let zero_point = param("zero_point").unwrap_or(0.0) as i32;
    let (qmin, qmax) = scheme.qrange();
    let (lo, hi) = min_max(values);
    let range = quantscope_core::schemes::int::effective_range(lo, hi, symmetric);
    let metrics = from_sums(measured.sums.finish());
    let traces = traced
        .iter()
        .map(|&(label, x)| {
            let divided = x / scale;
            let rounded = divided.round_ties_even();
            let shifted = rounded + zero_point as f32;
            let (code, clamped) = quantize_value(x, scale, zero_point, qmin, qmax);
            let dequantized = (code - zero_point) as f32 * scale;
            Trace {
                label,
                x: x as f64,
                divided: divided as f64,
                rounded: rounded as f64,
                shifted: shifted as f64,
                code,
                clamped,
                dequantized: dequantized as f64,
                error: dequantized as f64 - x as f64,
            }
        })
        .collect();
    Ok(Mapping {
        scheme: scheme.id().to_string(),
        symmetric,
        qmin,
        qmax,
        scale: scale as f64,
        zero_point,
        range: (range.0 as f64, range.1 as f64),
        grid: (qmin..=qmax).map(|c| ((c - zero_point) as f32 * scale) as f64).collect(),
        mse: metrics.mse,
        sqnr_db: metrics.sqnr_db,
        max_abs_error: metrics.max_abs_error,
        levels_used: q.levels_used,
        levels_total: q.levels_total,
        traces,
    })
}

/// Both per-tensor mappings of `values` at `bits` (8, 4 or 2), tracing `own` too when given.
pub fn mapping(values: &[f32], bits: u32, own: Option<f64>) -> Result<MappingReport> {
    if ![8, 4, 2].contains(&bits) {
        return Err(Error::InvalidArgument(format!("bit width must be 8, 4 or 2, got {bits}")));
    }
    let own = match own {
        Some(v) if !v.is_finite() || (v as f32).is_infinite() => {
            return Err(Error::InvalidArgument(format!("the value to trace must be a finite f32, got {v}")))
        }
        other => other.map(|v| v as f32),
    };
    let finite: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.is_empty() {
        return Err(Error::InvalidArgument("the tensor has no finite values to map".into()));
    }
    let (min, max) = min_max(&finite);
    let traced = traced_values(&finite, min, max, own);
    let symmetric = map(values, bits, true, &traced)?;
    let asymmetric = map(values, bits, false, &traced)?;
    let axis = symmetric.range;
    let negative = finite.iter().filter(|&&x| x < 0.0).count();
    let verdict = verdict(min as f64, max as f64, negative, &symmetric, &asymmetric);
    Ok(MappingReport {
        bits,
        count: finite.len(),
        min: min as f64,
        max: max as f64,
        negative_fraction: negative as f64 / finite.len() as f64,
        histogram: histogram(&finite, 96, axis.0, axis.1),
        axis,
        symmetric,
        asymmetric,
        verdict,
    })
}

/// A number with 3 significant digits and a true minus sign, for sentences.
pub(crate) fn short(x: f64) -> String {
    short_ascii(x).replace('-', "−")
}

fn short_ascii(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if (1e-3..1e5).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.2e}")
    }
}

fn times(ratio: f64) -> String {
    if ratio >= 100.0 {
        format!("{ratio:.0}")
    } else {
        format!("{ratio:.1}")
    }
}

/// Which mapping wins on this tensor and why, from the numbers (5 % counts as a tie).
fn verdict(min: f64, max: f64, negative: usize, sym: &Mapping, asym: &Mapping) -> String {
    let step = sym.scale / asym.scale;
    if asym.mse == 0.0 && sym.mse == 0.0 {
        return "Both mappings store every value exactly here, so neither loses anything.".into();
    }
    if asym.mse * 1.05 < sym.mse {
        let ratio = if asym.mse == 0.0 { "infinitely".to_string() } else { format!("{}×", times(sym.mse / asym.mse)) };
        let why = if negative == 0 {
            format!(
                "every value is ≥ 0, so symmetric's negative codes are never used — it uses {} of its {} codes — while \
                 asymmetric puts 0 at code {} and spreads its {} codes over [0, {}], using {}; its step is {}× finer ({} vs {})",
                sym.levels_used,
                sym.levels_total,
                asym.zero_point,
                asym.levels_total,
                short(max),
                asym.levels_used,
                times(step),
                short(asym.scale),
                short(sym.scale),
            )
        } else {
            format!(
                "the range is not centred on 0 ([{}, {}]): symmetric must cover ±{}, so its step is {}× asymmetric's ({} vs {}), \
                 and it uses {} of its {} codes against asymmetric's {} of {}",
                short(min),
                short(max),
                short(min.abs().max(max.abs())),
                times(step),
                short(sym.scale),
                short(asym.scale),
                sym.levels_used,
                sym.levels_total,
                asym.levels_used,
                asym.levels_total,
            )
        };
        format!("Asymmetric MSE is {ratio} lower here because {why}.")
    } else if sym.mse * 1.05 < asym.mse {
        format!(
            "Symmetric MSE is {} lower here: the values are nearly centred on 0 ([{}, {}]), so both steps are about the same \
             ({} vs {}) and symmetric's grid, with 0 at code 0, happens to fit these values better.",
            if sym.mse == 0.0 { "infinitely".to_string() } else { format!("{}×", times(asym.mse / sym.mse)) },
            short(min),
            short(max),
            short(sym.scale),
            short(asym.scale),
        )
    } else {
        format!(
            "The two MSEs are within 5 % here ({} vs {}): the values are roughly centred on 0 ([{}, {}]), so the zero point \
             buys little — asymmetric's step is only {}× finer — and symmetric keeps 0 at code 0 with no zero point to \
             store or subtract.",
            short(sym.mse),
            short(asym.mse),
            short(min),
            short(max),
            times(step),
        )
    }
}
