//! The compare's fused path (`report::scheme_metrics`: quantize, decode a chunk, add it to the
//! error sums, drop it) against the path that keeps the whole dequantized copy
//! (`report::scheme_report`, and `error_metrics` of an independent `dequantize(packed)`): every
//! number of every scheme's report is the same bit for bit, natively and in Chromium (where the
//! sums run in SIMD128 lanes), on random, special-valued, constant, tiny and odd-length tensors
//! that cross the 4096-element chunks at no block boundary. The accumulator itself is held to a
//! one-call reduction over arbitrary splits.

use quantscope_core::report::{scheme_metrics, scheme_report, SchemeReport};
use quantscope_core::schemes::{self, Kept, Measured, Scheme};
use quantscope_core::stats::metrics::{self, error_metrics, Accumulator, ErrorMetrics};
use quantscope_core::Tensor;

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = crate::common::Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..n)
        .map(|_| {
            let s = rng.next();
            // Heavy-ish tails: a cube spreads the magnitudes over several octaves.
            let u = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            4.0 * u * u * u + 0.01 * u
        })
        .collect()
}

/// The tensors: (what, shape, values).
fn tensors() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    let mut special = noise(1001, 3);
    for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -1e-45, 0.0, -0.0, f32::MAX, -3e38].into_iter().enumerate() {
        special[i * 97 + 5] = v;
    }
    vec![
        ("empty", vec![0], vec![]),
        ("one", vec![1], vec![0.75]),
        ("three", vec![3], noise(3, 1)),
        ("33", vec![33], noise(33, 2)),
        ("special values", vec![1001], special),
        ("constant", vec![7, 41], vec![0.3; 287]),
        ("subnormal", vec![65], (0..65).map(|i| f32::from_bits(i * 1001 + 1)).collect()),
        // 3 rows of 3001: channel runs, group runs and blocks all straddle the 4096 chunks.
        ("random 3x3001", vec![3, 3001], noise(9003, 4)),
    ]
}

fn metric_bits(m: &ErrorMetrics) -> [u64; 7] {
    [
        m.compared as u64,
        m.mse.to_bits(),
        m.rmse.to_bits(),
        m.sqnr_db.to_bits(),
        m.max_abs_error.to_bits(),
        m.mean_abs_error.to_bits(),
        m.cosine_similarity.to_bits(),
    ]
}

/// A report's fields: names, metrics, scalars and parameters, the floats as bits.
type ReportBits = (String, [u64; 7], Vec<u64>, Vec<(&'static str, Vec<u64>)>);

/// Every field of a report, the floats as bits (NaN payloads included: both paths run the same
/// operations on the same machine).
fn report_bits(r: &SchemeReport) -> ReportBits {
    let scalars = vec![
        r.bits_per_weight.to_bits(),
        r.bytes as u64,
        r.compression_ratio.to_bits(),
        r.clipped_fraction.to_bits(),
        r.levels_used as u64,
        r.levels_total as u64,
    ];
    let params = r.params.iter().map(|p| (p.name, p.values.iter().map(|v| v.to_bits()).collect())).collect();
    (format!("{} / {}", r.scheme, r.description), metric_bits(&r.metrics), scalars, params)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fused_metrics_equal_the_kept_copys_bit_for_bit_for_every_scheme() {
    let mut checked = 0;
    for (what, shape, values) in tensors() {
        let t = Tensor::new("t", shape.clone(), "float32", values.clone());
        for id in schemes::all_ids() {
            let kept = scheme_report(&t, &id);
            let fused = scheme_metrics(&t, &id);
            let (kept, deq) = match (kept, fused.as_ref()) {
                (Ok(k), Ok(_)) => k,
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "{id} on {what}: the same refusal");
                    continue;
                }
                (k, f) => panic!("{id} on {what}: kept {:?}, fused {:?}", k.err(), f.as_ref().err()),
            };
            let fused = fused.unwrap();
            assert_eq!(report_bits(&fused), report_bits(&kept), "{id} on {what}");
            // Today's numbers from an independent decoding of the packed bytes, and the packed
            // bytes themselves unchanged by measuring instead of keeping.
            let s = schemes::by_id(&id).unwrap();
            let q = s.quantize(&values, &shape).unwrap();
            assert_eq!(q.dequantized.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), deq.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            let back = s.dequantize(&q.packed, &shape).unwrap();
            assert_eq!(
                metric_bits(&fused.metrics),
                metric_bits(&error_metrics(&values, &back)),
                "{id} on {what}: against dequantize(packed)"
            );
            let m = s.quantize_to(&values, &shape, &mut Measured::default()).unwrap();
            assert!(m.dequantized.is_empty(), "{id}: nothing kept");
            assert_eq!(m.packed, q.packed, "{id} on {what}: packed bytes");
            let mut kept = Kept::default();
            s.quantize_to(&values, &shape, &mut kept).unwrap();
            assert_eq!(kept.0.len(), values.len(), "{id} on {what}: the kept copy without its padding");
            checked += 1;
        }
    }
    assert!(checked > 100 * 6, "{checked} (scheme, tensor) pairs");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn per_channel_axes_other_than_0_fuse_too() {
    let values = noise(5 * 7 * 131, 9);
    let t = Tensor::new("t", vec![5, 7, 131], "float32", values);
    for axis in 0..3 {
        for base in ["int8_sym", "int4_asym", "int2_sym"] {
            let s = schemes::int::IntScheme::from_id(&format!("{base}_channel")).unwrap().with_axis(axis);
            let q = s.quantize(&t.data, &t.shape).unwrap();
            let mut out = Measured::default();
            let m = s.quantize_to(&t.data, &t.shape, &mut out).unwrap();
            assert_eq!(m.packed, q.packed);
            assert_eq!(
                metric_bits(&metrics::from_sums(out.sums.finish())),
                metric_bits(&error_metrics(&t.data, &q.dequantized)),
                "{base} axis {axis}"
            );
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_accumulator_gives_one_calls_sums_over_any_split() {
    let mut x = noise(777, 5);
    let y: Vec<f32> = x.iter().map(|v| v * 0.97 + 0.001).collect();
    x[10] = f32::NAN;
    x[11] = f32::INFINITY;
    let whole = metrics::sums(&x, &y);
    // Pieces of odd, even, empty and single lengths, in several orders.
    for pieces in [vec![1usize, 0, 2, 3, 5, 0, 1], vec![777], vec![0, 776, 1], vec![13, 64, 1, 1, 1, 300], vec![2; 5]] {
        let mut acc = Accumulator::default();
        let mut at = 0;
        for p in pieces.iter().cycle() {
            let end = (at + p).min(x.len());
            acc.push(&x[at..end], &y[at..end]);
            at = end;
            if at == x.len() {
                break;
            }
        }
        let s = acc.finish();
        let bits = |s: &metrics::Sums| {
            [
                s.compared as u64,
                s.signal.to_bits(),
                s.noise.to_bits(),
                s.abs_sum.to_bits(),
                s.max_abs.to_bits(),
                s.dot.to_bits(),
                s.deq_sq.to_bits(),
            ]
        };
        assert_eq!(bits(&s), bits(&whole), "pieces {pieces:?}");
    }
}

/// The SIMD128 sums as they were before the accumulator (commit 37c98134,
/// src/core/src/stats/metrics/simd128.rs), verbatim: the accumulator, fed whole or in pieces,
/// must give their bits, so the compare's numbers in the page are today's.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn sums_before(original: &[f32], dequantized: &[f32]) -> metrics::Sums {
    use core::arch::wasm32::*;
    let n = original.len().min(dequantized.len());
    let n2 = n / 2 * 2;
    let z = f64x2_splat(0.0);
    let inf = f64x2_splat(f64::INFINITY);
    let (mut signal, mut noise, mut abs_sum, mut max_abs, mut dot, mut deq_sq) = (z, z, z, z, z, z);
    let mut compared = 0usize;
    for i in (0..n2).step_by(2) {
        let x = f64x2(original[i] as f64, original[i + 1] as f64);
        let y = f64x2(dequantized[i] as f64, dequantized[i + 1] as f64);
        let fin = f64x2_lt(f64x2_abs(x), inf);
        compared += i64x2_bitmask(fin).count_ones() as usize;
        let x = v128_and(x, fin);
        let y = v128_and(y, fin);
        let e = f64x2_sub(x, y);
        let ae = f64x2_abs(e);
        signal = f64x2_add(signal, f64x2_mul(x, x));
        noise = f64x2_add(noise, f64x2_mul(e, e));
        abs_sum = f64x2_add(abs_sum, ae);
        max_abs = f64x2_pmax(max_abs, ae);
        dot = f64x2_add(dot, f64x2_mul(x, y));
        deq_sq = f64x2_add(deq_sq, f64x2_mul(y, y));
    }
    let t = metrics::reference::sums(&original[n2..n], &dequantized[n2..n]);
    let h = |v: v128| f64x2_extract_lane::<0>(v) + f64x2_extract_lane::<1>(v);
    metrics::Sums {
        compared: compared + t.compared,
        signal: h(signal) + t.signal,
        noise: h(noise) + t.noise,
        abs_sum: h(abs_sum) + t.abs_sum,
        max_abs: f64x2_extract_lane::<0>(max_abs).max(f64x2_extract_lane::<1>(max_abs)).max(t.max_abs),
        dot: h(dot) + t.dot,
        deq_sq: h(deq_sq) + t.deq_sq,
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[wasm_bindgen_test::wasm_bindgen_test]
fn the_simd128_accumulator_gives_the_sums_as_they_were() {
    let bits = |s: &metrics::Sums| {
        [
            s.compared as u64,
            s.signal.to_bits(),
            s.noise.to_bits(),
            s.abs_sum.to_bits(),
            s.max_abs.to_bits(),
            s.dot.to_bits(),
            s.deq_sq.to_bits(),
        ]
    };
    for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 4095, 4096, 4097, 10_001] {
        let mut x = noise(n, n as u64 + 11);
        let mut y: Vec<f32> = x.iter().map(|v| v * 1.01 - 0.002).collect();
        for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-42].into_iter().enumerate() {
            if let Some(x) = x.get_mut(i * 3 + 1) {
                *x = v;
            }
        }
        // A finite original decoded to ±Inf or a subnormal, far from the non-finite originals
        // (inside steps whose originals are all finite).
        for (at, v) in [(20, f32::INFINITY), (4099, f32::NEG_INFINITY), (9001, 1e-42)] {
            if let Some(y) = y.get_mut(at) {
                *y = v;
            }
        }
        let before = bits(&sums_before(&x, &y));
        assert_eq!(bits(&metrics::sums(&x, &y)), before, "whole, n = {n}");
        let mut acc = Accumulator::default();
        for (x, y) in x.chunks(333).zip(y.chunks(333)) {
            acc.push(x, y);
        }
        assert_eq!(bits(&acc.finish()), before, "pieces of 333, n = {n}");
    }
}
