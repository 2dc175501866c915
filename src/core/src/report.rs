//! What the page, the CLI and the JSON show: a tensor's statistics and, per scheme, what
//! quantizing it costs. One code path for all three, so they cannot disagree.

use crate::error::Result;
use crate::schemes::{self, Measured, Param, Quantized, Scheme};
use crate::stats::histogram::{histogram, Histogram};
use crate::stats::metrics::{error_metrics, from_sums, ErrorMetrics};
use crate::stats::summary::{summarize, Summary};
use crate::tensor::Tensor;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Bytes as stored in the file (from the dtype); `null` for a dtype of unknown size.
    pub stored_bytes: Option<u64>,
    pub stats: Summary,
}

pub fn tensor_report(t: &Tensor) -> TensorReport {
    let stored_bytes = crate::tensor::stored_bits(&t.dtype).map(|b| (b * t.data.len() as f64 / 8.0).ceil() as u64);
    TensorReport { name: t.name.clone(), dtype: t.dtype.clone(), shape: t.shape.clone(), stored_bytes, stats: summarize(&t.data) }
}

#[derive(Debug, Clone, Serialize)]
pub struct SchemeReport {
    pub scheme: String,
    pub description: String,
    #[serde(flatten)]
    pub metrics: ErrorMetrics,
    /// Packed bits per element, scales and zero points included.
    pub bits_per_weight: f64,
    pub bytes: usize,
    /// FP32 bytes / packed bytes.
    pub compression_ratio: f64,
    pub clipped_fraction: f64,
    pub levels_used: usize,
    pub levels_total: usize,
    pub params: Vec<Param>,
}

/// Histograms of one scheme's round trip: original and dequantized values on a shared range,
/// and the error x − x̂ on a range symmetric about 0.
#[derive(Debug, Clone, Serialize)]
pub struct HistogramPair {
    pub original: Histogram,
    pub dequantized: Histogram,
    pub error: Histogram,
}

/// Quantizes `t` with the scheme `id` and measures the result. Parameters are trimmed to the
/// first `max_params` groups so a per-group report stays small.
pub fn scheme_report(t: &Tensor, id: &str) -> Result<(SchemeReport, Vec<f32>)> {
    scheme_report_with(t, schemes::by_id(id)?.as_ref())
}

/// As [`scheme_report`], for a scheme already built (e.g. with a per-channel axis applied).
pub fn scheme_report_with(t: &Tensor, scheme: &dyn Scheme) -> Result<(SchemeReport, Vec<f32>)> {
    let mut q = scheme.quantize(&t.data, &t.shape)?;
    let metrics = error_metrics(&t.data, &q.dequantized);
    let dequantized = std::mem::take(&mut q.dequantized);
    Ok((build(t, scheme, q, metrics), dequantized))
}

/// [`scheme_report`] without the dequantized copy: the decoding is measured a chunk at a time
/// and dropped ([`Measured`]), for every scheme the page shows only as numbers. The
/// sums run in the same order as [`error_metrics`]' over the whole copy, so the report is the
/// same, bit for bit.
pub fn scheme_metrics(t: &Tensor, id: &str) -> Result<SchemeReport> {
    scheme_metrics_with(t, schemes::by_id(id)?.as_ref())
}

/// As [`scheme_metrics`], for a scheme already built.
pub fn scheme_metrics_with(t: &Tensor, scheme: &dyn Scheme) -> Result<SchemeReport> {
    let mut out = Measured::default();
    let q = scheme.quantize_to(&t.data, &t.shape, &mut out)?;
    Ok(build(t, scheme, q, from_sums(out.sums.finish())))
}

fn build(t: &Tensor, scheme: &dyn Scheme, q: Quantized, metrics: ErrorMetrics) -> SchemeReport {
    let n = t.data.len();
    let finite = metrics.compared;
    SchemeReport {
        scheme: scheme.id().to_string(),
        description: scheme.description(),
        metrics,
        bits_per_weight: if n == 0 { 0.0 } else { q.packed.len() as f64 * 8.0 / n as f64 },
        bytes: q.packed.len(),
        compression_ratio: if q.packed.is_empty() { 0.0 } else { (n * 4) as f64 / q.packed.len() as f64 },
        clipped_fraction: if finite == 0 { 0.0 } else { q.clipped as f64 / finite as f64 },
        levels_used: q.levels_used,
        levels_total: q.levels_total,
        params: q
            .params
            .into_iter()
            .map(|p| Param { name: p.name, values: p.values.into_iter().take(MAX_PARAMS_SHOWN).collect() })
            .collect(),
    }
}

/// How many per-group parameters a report carries.
pub const MAX_PARAMS_SHOWN: usize = 16;

/// Histograms of the original and the dequantized values over the original's finite range
/// (or `range` when given, so two schemes can share axes), `bins` bins each, and of the error.
pub fn histograms(original: &[f32], dequantized: &[f32], bins: usize, range: Option<(f64, f64)>) -> HistogramPair {
    let (lo, hi) = range.unwrap_or_else(|| {
        let s = summarize(original);
        if s.min.is_nan() {
            (0.0, 0.0)
        } else {
            (s.min, s.max)
        }
    });
    // Errors over the elements whose original is finite, as the metrics define them.
    let errors: Vec<f32> = original.iter().zip(dequantized).filter(|(x, _)| x.is_finite()).map(|(&x, &y)| x - y).collect();
    let reach = summarize(&errors).abs_max;
    HistogramPair {
        original: histogram(original, bins, lo, hi),
        dequantized: histogram(dequantized, bins, lo, hi),
        error: histogram(&errors, bins, -reach, reach),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_share_the_original_range_and_bin_the_error() {
        let h = histograms(&[0.0, 1.0, 2.0, f32::NAN], &[0.0, 1.5, 2.0, 0.0], 4, None);
        assert_eq!((h.original.lo, h.original.hi), (0.0, 2.0));
        assert_eq!((h.dequantized.lo, h.dequantized.hi), (0.0, 2.0));
        // Errors 0, −0.5, 0 on [−0.5, 0.5]: one in the first bin, two in the third.
        assert_eq!(h.error.counts, vec![1, 0, 2, 0]);
        let fixed = histograms(&[0.0, 1.0], &[0.0, 1.0], 2, Some((-4.0, 4.0)));
        assert_eq!((fixed.original.lo, fixed.original.hi), (-4.0, 4.0));
    }

    #[test]
    fn scheme_report_measures_bits_from_packed_bytes() {
        let t = Tensor::new("t", vec![2, 64], "float32", (0..128).map(|i| i as f32 / 64.0 - 1.0).collect());
        let (r, deq) = scheme_report(&t, "int4_asym_g32").unwrap();
        assert_eq!(r.bytes, 4 * 5 + 64);
        assert_eq!(r.bits_per_weight, 5.25);
        assert_eq!(deq.len(), 128);
        assert!(scheme_report(&t, "nope").is_err());
    }
}
