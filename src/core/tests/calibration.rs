//! Calibration (src/core/src/schemes/int/calibration.rs): ONNX Runtime's own HistogramCollector
//! (scripts/fixtures/make_calibration.py) for percentile and entropy, bit-exact, plus hand-checked
//! cases and properties.

// The bin edges below are exact f32 values written in full (e.g. 202·1000/2048).
#![allow(clippy::excessive_precision)]
use crate::common::{bits, f32s, json};
use quantscope_core::schemes::int::calibration::Calibration;
use quantscope_core::schemes::{int::IntScheme, Scheme};
use quantscope_core::stats::metrics::error_metrics;

fn param<'a>(q: &'a quantscope_core::schemes::Quantized, name: &str) -> &'a [f64] {
    &q.params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}")).values
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn percentile_and_entropy_match_onnx_runtime() {
    let fixtures = json(fixture_str!("calibration/ort_calibration.json"));
    let inputs = &fixtures["inputs"];
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 200, "fixture file looks truncated");
    let mut near_ties = Vec::new();
    'cases: for case in cases {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        let what = format!("{id} on {input}");
        let values = f32s(&inputs[input]["values"]);
        let shape: Vec<usize> = case["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let scheme = IntScheme::from_id(id).unwrap_or_else(|| panic!("{id} does not parse"));
        assert_eq!(scheme.id(), id);
        let q = scheme.quantize(&values, &shape).unwrap();
        let (want_lo, want_hi) = (f32s(&case["lo"]), f32s(&case["hi"]));
        let groups = want_lo.len();
        // The raw calibrated range, recomputed per group from the group's values.
        let group_values = split_groups(&values, &shape, id, groups);
        for (g, vals) in group_values.iter().enumerate() {
            let (lo, hi) = scheme.calibration.range(vals, scheme.bits, scheme.symmetric);
            if (lo.to_bits(), hi.to_bits()) != (want_lo[g].to_bits(), want_hi[g].to_bits()) {
                // Entropy only: a window whose ORT divergence ties ORT's minimum to 1e-6
                // (ORT scores in f32, quantscope in f64); then codes follow a different range.
                let ties = case["near_ties"][g].as_array().map(|t| t.iter().map(f32s).collect::<Vec<_>>()).unwrap_or_default();
                if ties.iter().any(|t| (t[0].to_bits(), t[1].to_bits()) == (lo.to_bits(), hi.to_bits())) {
                    near_ties.push(format!("{what} group {g}: ({lo}, {hi}) vs ORT ({}, {})", want_lo[g], want_hi[g]));
                    continue 'cases;
                }
            }
            assert_eq!(
                (lo.to_bits(), hi.to_bits()),
                (want_lo[g].to_bits(), want_hi[g].to_bits()),
                "{what}: group {g} range ({lo}, {hi}) vs ORT ({}, {})",
                want_lo[g],
                want_hi[g]
            );
        }
        let want_scales = f32s(&case["scales"]);
        let got_scales: Vec<f32> = q.packed[..groups * 4].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(bits(&got_scales), bits(&want_scales), "{what}: scales");
        if !scheme.symmetric {
            let zps: Vec<u64> = q.packed[groups * 4..groups * 5].iter().map(|&z| z as u64).collect();
            let want: Vec<u64> = case["zero_points"].as_array().unwrap().iter().map(|z| z.as_u64().unwrap()).collect();
            assert_eq!(zps, want, "{what}: zero points");
        }
        let codes: Vec<i64> = case["codes"].as_array().unwrap().iter().map(|c| c.as_i64().unwrap()).collect();
        let deq = q.dequantized.iter().zip(0..).map(|(&v, i)| {
            let g = group_of(i, &shape, id);
            let s = got_scales[g];
            let zp = if scheme.symmetric { 0.0 } else { q.packed[groups * 4 + g] as f32 };
            (v / s + zp).round() as i64
        });
        for (i, (got, want)) in deq.zip(&codes).enumerate() {
            assert_eq!(got, *want, "{what}: code {i} (input {})", values[i]);
        }
        assert_eq!(param(&q, "clip_lo").len(), groups, "{what}");
    }
    // Report the near ties; they must stay rare.
    for t in &near_ties {
        println!("entropy near tie (accepted): {t}");
    }
    assert!(near_ties.len() <= 4, "{} entropy near ties: {near_ties:?}", near_ties.len());
}

fn group_of(i: usize, shape: &[usize], id: &str) -> usize {
    if id.contains("_channel") {
        let inner: usize = shape[1..].iter().product::<usize>().max(1);
        (i / inner) % shape[0]
    } else if id.contains("_g128") {
        i / 128
    } else {
        0
    }
}

fn split_groups(values: &[f32], shape: &[usize], id: &str, groups: usize) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); groups];
    for (i, &v) in values.iter().enumerate() {
        out[group_of(i, shape, id)].push(v);
    }
    out
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn ids_parse_and_round_trip() {
    for (id, cal) in [
        ("int8_sym_p99.9", Calibration::Percentile { micro: 99_900_000 }),
        ("int8_sym_p99.99", Calibration::Percentile { micro: 99_990_000 }),
        ("int8_asym_p100", Calibration::Percentile { micro: 100_000_000 }),
        ("int4_asym_channel_mse", Calibration::Mse),
        ("int8_sym_g32_entropy", Calibration::Entropy),
        ("int2_sym_channel1_p99.999999", Calibration::Percentile { micro: 99_999_999 }),
        ("int8_sym", Calibration::MinMax),
    ] {
        let s = IntScheme::from_id(id).unwrap_or_else(|| panic!("{id}"));
        assert_eq!((s.id(), s.calibration), (id, cal));
        assert_eq!(s.with_axis(1).calibration, cal);
    }
    for bad in [
        "int8_sym_p99.90",
        "int8_sym_p0",
        "int8_sym_p100.5",
        "int8_sym_p",
        "int8_sym_p.9",
        "int8_sym_p099",
        "int8_sym_mse_mse",
        "int8_mse",
        "int8_sym_minmax",
        "int8_sym_p99.9999999",
        "int8_sym_p1e2",
    ] {
        assert!(IntScheme::from_id(bad).is_none(), "{bad} should not parse");
    }
    for id in quantscope_core::schemes::int::ids() {
        assert_eq!(IntScheme::from_id(&id).unwrap().id(), id);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn percentile_hand_checked() {
    // |x| = 0..=99 (and one 1000): 2048 bins over [0, 1000], each ≈ 0.488 wide. The cdf reaches
    // 0.99 at the bin holding 98 (99 of 101 values ≤ 98 ... 100/101 = 0.990 first at value 99):
    // the bin of 99 is index floor(99·2048/1000) = 202 and the clip is its left edge,
    // 202·(1000/2048) = 98.6328125.
    let mut v: Vec<f32> = (0..100).map(|i| i as f32).collect();
    v.push(1000.0);
    let (lo, hi) = Calibration::parse("p99").unwrap().range(&v, 8, true);
    assert_eq!((lo, hi), (0.0, 98.6328125));
    // Asymmetric, two tails of 1 % each: 2048 bins over [−1000, 1000], width 0.9765625. The
    // cdf first reaches 0.01 at the bin holding 1 (2/101): lower clip = its left edge 0.9765625.
    // It reaches 0.99 at the bin holding 99 (100/101): bin 1024 + 101, left edge 98.6328125.
    let (lo, hi) = Calibration::parse("p98").unwrap().range(&v, 8, false);
    assert_eq!((lo, hi), (0.9765625, 98.6328125));
    // ORT takes the *left* edge of the bin where the cdf reaches P/100, so even p100 clips to
    // the left edge of the last bin: 2047·(1000/2048).
    assert_eq!(Calibration::parse("p100").unwrap().range(&v, 8, true), (0.0, 999.51171875));
    // The scheme clamps the outlier and counts it.
    let q = IntScheme::from_id("int8_sym_p99").unwrap().quantize(&v, &[101]).unwrap();
    assert_eq!(q.clipped, 1);
    assert_eq!(param(&q, "clip_hi"), &[98.6328125]);
    assert_eq!(param(&q, "clip_lo"), &[-98.6328125], "symmetric: mirrored");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mse_hand_checked() {
    // INT2 symmetric has codes {-1, 0, 1}. Data: 50 × 1, 50 × −1 and one 10; clip c = 10·k/100
    // gives scale c. Min-max (c = 10): every ±1 becomes 0, SE = 100. c = 1: ±1 exact, the 10
    // clamps to 1, SE = 81. c = 1.1: ±1 → ±1.1 (100 × 0.01) and 10 → 1.1 (79.21), SE = 80.21.
    // c = 1.2: 100 × 0.04 + 8.8² = 81.44. So k = 11 wins.
    let mut v = vec![1.0f32; 50];
    v.extend([-1.0f32; 50]);
    v.push(10.0);
    let (lo, hi) = Calibration::Mse.range(&v, 2, true);
    assert_eq!((lo, hi), (-1.1, 1.1));
    let q = IntScheme::from_id("int2_sym_mse").unwrap().quantize(&v, &[101]).unwrap();
    let mse = error_metrics(&v, &q.dequantized).mse;
    assert!((mse - 80.21 / 101.0).abs() < 1e-6, "{mse}");
    assert_eq!(q.clipped, 1);
}

/// A seeded xorshift for the properties.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform() as f64, self.uniform() as f64);
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

fn datasets() -> Vec<(String, Vec<f32>, Vec<usize>)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for (n, shape) in [(1usize, vec![1usize]), (17, vec![17]), (256, vec![4, 64]), (1000, vec![10, 100])] {
        out.push((format!("normal{n}"), (0..n).map(|_| rng.normal()).collect(), shape.clone()));
        out.push((format!("uniform{n}"), (0..n).map(|_| rng.uniform() * 4.0 - 1.0).collect(), shape.clone()));
        let mut v: Vec<f32> = (0..n).map(|_| rng.normal() * 0.1).collect();
        v[n / 2] = 25.0;
        out.push((format!("outlier{n}"), v, shape.clone()));
        let mut v: Vec<f32> = (0..n).map(|_| rng.normal().abs()).collect();
        v[0] = f32::NAN;
        if n > 2 {
            v[2] = f32::NEG_INFINITY;
        }
        out.push((format!("nonfinite{n}"), v, shape));
    }
    out
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mse_calibration_is_never_worse_than_min_max() {
    for (name, v, shape) in datasets() {
        for base in ["int8_sym", "int8_asym", "int4_sym", "int4_asym_channel", "int2_sym_g32", "int2_asym"] {
            let minmax = IntScheme::from_id(base).unwrap().quantize(&v, &shape).unwrap();
            let mse = IntScheme::from_id(&format!("{base}_mse")).unwrap().quantize(&v, &shape).unwrap();
            let (a, b) = (error_metrics(&v, &minmax.dequantized).mse, error_metrics(&v, &mse.dequantized).mse);
            assert!(b <= a * (1.0 + 1e-12), "{base}_mse on {name}: {b} > min-max {a}");
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn percentile_clip_never_exceeds_absmax() {
    for (name, v, _) in datasets() {
        let finite: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if finite.is_empty() {
            continue;
        }
        let absmax = finite.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let (min, max) = finite.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        for p in ["p50", "p99.9", "p99.99", "p100"] {
            for sym in [true, false] {
                let (lo, hi) = Calibration::parse(p).unwrap().range(&finite, 8, sym);
                assert!(lo.abs() <= absmax && hi.abs() <= absmax, "{p} sym={sym} on {name}: ({lo}, {hi}) vs absmax {absmax}");
                assert!(lo >= min && hi <= max, "{p} sym={sym} on {name}: ({lo}, {hi}) outside [{min}, {max}]");
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn entropy_clips_the_outliers_of_a_gaussian() {
    let mut rng = Rng(42);
    let mut v: Vec<f32> = (0..4096).map(|_| rng.normal()).collect();
    for (i, o) in [40.0f32, -35.0, 50.0, 45.0].into_iter().enumerate() {
        v[i * 1000] = o;
    }
    let (lo, hi) = Calibration::Entropy.range(&v, 8, true);
    assert!(hi < 20.0 && lo > -20.0 && hi > 2.0, "entropy kept the outliers: ({lo}, {hi})");
    let q = IntScheme::from_id("int8_sym_entropy").unwrap().quantize(&v, &[4096]).unwrap();
    assert!(q.clipped >= 4, "clipped {}", q.clipped);
    let minmax = IntScheme::from_id("int8_sym").unwrap().quantize(&v, &[4096]).unwrap();
    assert_eq!(minmax.clipped, 0);
    assert!(minmax.params.iter().all(|p| p.name != "clip_lo"), "min-max output is unchanged");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn calibrated_schemes_round_trip_and_handle_edge_cases() {
    for id in ["int8_sym_p99.9", "int4_asym_channel_entropy", "int2_sym_g32_mse", "int8_asym_g64_p95"] {
        let s = IntScheme::from_id(id).unwrap();
        for (v, shape) in [
            (vec![], vec![0usize, 3]),
            (vec![f32::NAN; 6], vec![2, 3]),
            (vec![0.0; 6], vec![2, 3]),
            (vec![f32::MAX, -f32::MAX, 1.0, f32::INFINITY, 0.5, -2.0], vec![2, 3]),
        ] {
            let q = s.quantize(&v, &shape).unwrap();
            assert_eq!(s.dequantize(&q.packed, &shape).unwrap(), q.dequantized, "{id} {v:?}");
            for (x, y) in v.iter().zip(&q.dequantized) {
                if x.is_nan() {
                    assert_eq!(*y, 0.0, "{id}: NaN encodes as the zero point");
                }
            }
        }
    }
}
