//! MinMax calibration (`MinMaxCalibrater`, onnxruntime's `calibrate.py`): each tensor's least
//! and greatest value over every run, as the ReduceMin/ReduceMax pairs of ONNX Runtime's
//! augmented model give them; the CLI, the page (the models module's `observe_ranges`) and the
//! histogram calibrator's MinMax method all take their ranges here.

use std::collections::HashMap;

/// Each tensor's calibrated (min, max).
pub type Ranges = HashMap<String, (f32, f32)>;

/// One batch's MinMax range: its least and greatest value, NaN skipped, infinities kept (as
/// ReduceMin/ReduceMax over data without NaN); `None` when it has no other values.
pub fn minmax_range(values: &[f32]) -> Option<(f32, f32)> {
    let (lo, hi) = range_skipping_nan(values);
    (lo <= hi).then_some((lo, hi))
}

/// MinMax calibration (`MinMaxCalibrater`, `calibrate.py`): the least and greatest value of
/// each tensor over every run (NaN ignored, as ReduceMin/ReduceMax over finite data).
#[derive(Debug, Clone, Default)]
pub struct RangeCollector {
    pub ranges: Ranges,
    pub runs: usize,
}

impl RangeCollector {
    pub fn observe(&mut self, name: &str, values: &[f32]) {
        let Some((lo, hi)) = minmax_range(values) else { return };
        let e = self.ranges.entry(name.to_string()).or_insert((lo, hi));
        e.0 = e.0.min(lo);
        e.1 = e.1.max(hi);
    }
}

/// Values [`range_skipping_nan`] compares at once (two SIMD128 vectors).
const LANES: usize = 8;

/// MinMax's range of a batch ([`RangeCollector::observe`]): the least and greatest value, NaN
/// skipped, infinities kept (as ReduceMin/ReduceMax over data without NaN); `(+∞, −∞)` when
/// every value is NaN or there are none. The fold `lo.min(v)` over the values, LANES lanes at a
/// time (`pmin(acc, x)` is `x < acc ? x : acc`: a NaN `x` is never taken), which gives the same
/// value but for the sign of a zero at a ±0 tie, which no scale or zero point can tell.
fn range_skipping_nan(values: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let whole = values.len() / LANES * LANES;
    range_lanes(&values[..whole], &mut lo, &mut hi);
    for (j, &v) in values[whole..].iter().enumerate() {
        lo[j] = if v < lo[j] { v } else { lo[j] };
        hi[j] = if v > hi[j] { v } else { hi[j] };
    }
    let lo = lo.iter().fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
    let hi = hi.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    (lo, hi)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn range_lanes(values: &[f32], lo: &mut [f32; LANES], hi: &mut [f32; LANES]) {
    for chunk in values.chunks_exact(LANES) {
        for j in 0..LANES {
            let v = chunk[j];
            lo[j] = if v < lo[j] { v } else { lo[j] };
            hi[j] = if v > hi[j] { v } else { hi[j] };
        }
    }
}

/// SIMD128 `range_lanes`: eight values a step in two accumulators each.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn range_lanes(values: &[f32], lo: &mut [f32; LANES], hi: &mut [f32; LANES]) {
    use core::arch::wasm32::*;
    // SAFETY (loads and stores): each array holds LANES = 8 f32, each chunk exactly 8.
    let load2 = |a: &[f32]| unsafe { (v128_load(a.as_ptr() as *const v128), v128_load(a.as_ptr().add(4) as *const v128)) };
    let (mut l, mut h) = (load2(lo), load2(hi));
    for x8 in values.chunks_exact(LANES) {
        let (x, y) = load2(x8);
        l = (f32x4_pmin(l.0, x), f32x4_pmin(l.1, y));
        h = (f32x4_pmax(h.0, x), f32x4_pmax(h.1, y));
    }
    let store2 = |a: &mut [f32; LANES], (x, y): (v128, v128)| unsafe {
        v128_store(a.as_mut_ptr() as *mut v128, x);
        v128_store(a.as_mut_ptr().add(4) as *mut v128, y);
    };
    store2(lo, l);
    store2(hi, h);
}

#[cfg(test)]
mod tests {
    use super::*;

    // The SIMD128 form runs in Chromium too (`wasm-pack test src/onnx-quant --lib`).
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn minmax_range_skips_nan_and_keeps_infinities() {
        let fold =
            |x: &[f32]| x.iter().filter(|v| !v.is_nan()).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        for len in [0usize, 1, 7, 8, 9, 100, 1027] {
            let v: Vec<f32> = (0..len).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.01).collect();
            assert_eq!(range_skipping_nan(&v), fold(&v), "{len}");
            for (k, bad) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY].into_iter().enumerate() {
                let mut w = v.clone();
                for i in (k..len).step_by(5) {
                    w[i] = bad;
                }
                assert_eq!(range_skipping_nan(&w), fold(&w), "{len}: {bad}");
            }
        }
        assert_eq!(range_skipping_nan(&[f32::NAN; 11]), (f32::INFINITY, f32::NEG_INFINITY));
    }
}
