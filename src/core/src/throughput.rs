//! Scheme throughput, shared by the native bench (`benches/throughput.rs`) and the wasm
//! bench page (`www/bench.html`): the same operations, timed by the caller's clock.

use crate::error::Result;
use crate::report::{scheme_metrics_with, scheme_report_with};
use crate::schemes::Scheme;
use crate::stats::metrics::error_metrics;
use crate::tensor::Tensor;
use serde::Serialize;

/// Throughput of one scheme, in MB/s of f32 input (n · 4 bytes / seconds / 10^6).
#[derive(Debug, Clone, Serialize)]
pub struct SchemeThroughput {
    pub scheme: String,
    pub elements: usize,
    /// `Scheme::quantize`: packs the bytes and also produces the dequantized copy (for the types
    /// that quantize only with an importance vector, IQ2_XXS, IQ2_XS and IQ1_S,
    /// `quantize_with_importance` with every weight 1).
    pub quantize_mb_s: f64,
    /// `Scheme::dequantize` of the packed bytes.
    pub dequantize_mb_s: f64,
    /// `error_metrics` of the original against the dequantized values.
    pub metrics_mb_s: f64,
    /// One scheme's row of the page's compare, as it was: `report::scheme_report_with`
    /// (quantize with the dequantized copy, then the metrics over it). `null` for the types that
    /// need an importance vector (the compare refuses them).
    pub compare_kept_mb_s: Option<f64>,
    /// The same row from the fused path, `report::scheme_metrics_with` (no dequantized copy).
    pub compare_fused_mb_s: Option<f64>,
}

/// Times `scheme` on `values` with `now_ms` (a monotonic clock in milliseconds). Each operation
/// runs `reps` times and the fastest run counts, so a stray pause does not skew the figure.
pub fn bench_scheme(
    scheme: &dyn Scheme,
    values: &[f32],
    shape: &[usize],
    reps: usize,
    now_ms: &dyn Fn() -> f64,
) -> Result<SchemeThroughput> {
    let mb = values.len() as f64 * 4.0 / 1e6;
    let fastest = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) {
            let t0 = now_ms();
            f()?;
            best = best.min(now_ms() - t0);
        }
        Ok(best.max(1e-3) / 1e3)
    };
    let mut quantized = None;
    let ones = vec![1.0f32; shape.last().copied().unwrap_or(0)];
    let needs = crate::schemes::requires_importance(scheme.id());
    let q_s = fastest(&mut || {
        quantized = Some(if needs {
            crate::schemes::quantize_with_importance(scheme.id(), values, shape, &ones)?
        } else {
            scheme.quantize(values, shape)?
        });
        Ok(())
    })?;
    let q = quantized.expect("quantize ran at least once");
    let mut sink = 0usize;
    let d_s = fastest(&mut || {
        sink ^= scheme.dequantize(&q.packed, shape)?.len();
        Ok(())
    })?;
    let m_s = fastest(&mut || {
        sink ^= error_metrics(values, &q.dequantized).compared;
        Ok(())
    })?;
    // The compare's two paths, interleaved rep by rep so both see the same machine state.
    let (mut kept_s, mut fused_s) = (None, None);
    if !needs {
        let t = Tensor::new("bench", shape.to_vec(), "float32", values.to_vec());
        let (mut kept, mut fused) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..reps.max(1) {
            let t0 = now_ms();
            sink ^= scheme_report_with(&t, scheme)?.0.bytes;
            let t1 = now_ms();
            sink ^= scheme_metrics_with(&t, scheme)?.bytes;
            (kept, fused) = (kept.min(t1 - t0), fused.min(now_ms() - t1));
        }
        (kept_s, fused_s) = (Some(mb / (kept.max(1e-3) / 1e3)), Some(mb / (fused.max(1e-3) / 1e3)));
    }
    std::hint::black_box(sink);
    Ok(SchemeThroughput {
        compare_kept_mb_s: kept_s,
        compare_fused_mb_s: fused_s,
        scheme: scheme.id().to_string(),
        elements: values.len(),
        quantize_mb_s: mb / q_s,
        dequantize_mb_s: mb / d_s,
        metrics_mb_s: mb / m_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_base_scheme_is_timed_those_needing_an_importance_vector_with_one() {
        let clock = std::cell::Cell::new(0.0);
        let now = || {
            clock.set(clock.get() + 1.0);
            clock.get()
        };
        let values: Vec<f32> = (0..512).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        for id in ["iq2_xxs", "iq3_s", "q4_k"].into_iter().filter(|id| crate::schemes::by_id(id).is_ok()) {
            let s = crate::schemes::by_id(id).unwrap();
            let r = bench_scheme(s.as_ref(), &values, &[2, 256], 2, &now).unwrap();
            assert_eq!((r.scheme.as_str(), r.elements), (id, 512));
            assert!(r.quantize_mb_s > 0.0 && r.dequantize_mb_s > 0.0);
        }
    }
}
