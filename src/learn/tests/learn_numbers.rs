//! The Learn view's first three panels (src/learn/src/{formats,mapping,clipping}.rs) against the
//! references the scheme library is tested with: the float casts against numpy / ml_dtypes /
//! ONNX (tests/fixtures/float), the integer mappings against ONNX Runtime
//! (tests/fixtures/int, tests/fixtures/calibration), and hand-known constants. Every test runs
//! natively and in headless Chromium.

use crate::common::{bits, f32s, json};
use quantscope_core::schemes::{self, int::IntScheme, Scheme};
use quantscope_core::stats::metrics::error_metrics;
use quantscope_learn::clipping::{self, clip_point};
use quantscope_learn::mapping::mapping;
use quantscope_learn::number_formats::{self, decode_code, exact_decimal, explain_number, Kind};

fn in_format<'a>(r: &'a number_formats::NumberReport, id: &str) -> &'a number_formats::Stored {
    r.formats.iter().find(|s| s.format == id).unwrap_or_else(|| panic!("no {id} row"))
}

fn field_bits(s: &number_formats::Stored) -> String {
    format!("{} {} {}", s.sign, s.exponent, s.mantissa)
}

// ------------------------------------------------------------------ panel 1: formats

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_tenth_in_every_format() {
    // Codes and values from ml_dtypes 0.6.0 / numpy 2.4.6: np.float32(0.1).astype(t).
    let r = explain_number("0.1").unwrap();
    assert_eq!(r.typed, 0.1);
    let want = [
        ("fp32", 0x3dcc_cccd, "0 01111011 10011001100110011001101", "0.100000001490116119384765625"),
        ("fp16", 0x2e66, "0 01011 1001100110", "0.0999755859375"),
        ("bf16", 0x3dcd, "0 01111011 1001101", "0.10009765625"),
        ("fp8_e4m3", 0x1d, "0 0011 101", "0.1015625"),
        ("fp8_e5m2", 0x2e, "0 01011 10", "0.09375"),
        ("fp4_e2m1", 0x0, "0 00 0", "0"),
    ];
    for (id, code, fields, exact) in want {
        let s = in_format(&r, id);
        assert_eq!(s.code, code, "{id} code");
        assert_eq!(field_bits(s), fields, "{id} bits");
        assert_eq!(s.exact, exact, "{id} exact value");
        assert_eq!(s.value, exact.parse::<f64>().unwrap(), "{id} value");
        assert_eq!(s.abs_error, Some(s.value - 0.1), "{id} error");
    }
    let fp16 = in_format(&r, "fp16");
    assert_eq!(fp16.kind, Kind::Normal);
    assert_eq!(fp16.formula, "(−1)^0 × 2^(11 − 15) × (1 + 614/1024)");
    // 0.1 is in [2^-4, 2^-3): fp16 spacing there is 2^(-4-10) (numpy.spacing(float16(0.1))).
    assert_eq!((fp16.below, fp16.above, fp16.gap), (Some(0.0999755859375), Some(0.10003662109375), Some(2f64.powi(-14))));
    let rel = fp16.rel_error.unwrap();
    assert!((rel - (0.1 - 0.0999755859375) / 0.1).abs() < 1e-15, "{rel}");
    // bf16 rounds 0.1 up: the neighbours are the value below and the stored one (ml_dtypes spacing 2^-11).
    let bf16 = in_format(&r, "bf16");
    assert_eq!((bf16.above, bf16.gap), (Some(0.10009765625), Some(2f64.powi(-11))));
    assert_eq!(in_format(&r, "fp8_e4m3").gap, Some(0.0078125));
    assert_eq!(in_format(&r, "fp8_e5m2").gap, Some(0.015625));
    let fp4 = in_format(&r, "fp4_e2m1");
    assert_eq!((fp4.kind, fp4.below, fp4.above), (Kind::Zero, Some(0.0), Some(0.5)));
    assert!(fp4.note.as_deref().unwrap().contains("underflows to 0"), "{:?}", fp4.note);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn format_ranges_are_the_known_constants() {
    // ml_dtypes 0.6.0 finfo(t).max / smallest_normal / smallest_subnormal.
    let want: [(&str, f64, f64, f64, u32, u32, i32); 6] = [
        ("fp32", f32::MAX as f64, 2f64.powi(-126), 2f64.powi(-149), 8, 23, 127),
        ("fp16", 65504.0, 2f64.powi(-14), 2f64.powi(-24), 5, 10, 15),
        ("bf16", 3.3895313892515355e38, 2f64.powi(-126), 2f64.powi(-133), 8, 7, 127),
        ("fp8_e4m3", 448.0, 2f64.powi(-6), 2f64.powi(-9), 4, 3, 7),
        ("fp8_e5m2", 57344.0, 2f64.powi(-14), 2f64.powi(-16), 5, 2, 15),
        ("fp4_e2m1", 6.0, 1.0, 0.5, 2, 1, 1),
    ];
    let facts = number_formats::facts();
    assert_eq!(facts.floats.len(), want.len());
    for ((id, max, normal, sub, e, m, bias), f) in want.into_iter().zip(&facts.floats) {
        assert_eq!(f.format, id);
        assert_eq!((f.max, f.min_normal, f.min_subnormal), (max, normal, sub), "{id}");
        assert_eq!((f.exponent_bits, f.mantissa_bits, f.bias, f.bits), (e, m, bias, 1 + e + m), "{id}");
    }
    assert_eq!(exact_decimal(facts.floats[2].max as f32), "338953138925153547590470800371487866880");
    // FP4 E2M1: the 8 magnitudes and their negatives, every code a number.
    let fp4: Vec<f64> = (0..16).map(|c| decode_code("fp4_e2m1", c, None).unwrap().value).collect();
    assert_eq!(fp4[..8], [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
    assert_eq!(fp4[8..], [-0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn integer_ranges_and_quantscopes_restricted_symmetric_range() {
    let ints = number_formats::facts().ints;
    let want =
        [(8, (0, 255), (-128, 127), 256, (-127, 127), 255), (4, (0, 15), (-8, 7), 16, (-7, 7), 15), (2, (0, 3), (-2, 1), 4, (-1, 1), 3)];
    assert_eq!(ints.len(), 3);
    for ((bits, unsigned, signed, distinct, sym, sym_distinct), f) in want.into_iter().zip(&ints) {
        assert_eq!(f.bits, bits);
        assert_eq!((f.unsigned, f.signed, f.distinct), (unsigned, signed, distinct), "int{bits}");
        assert_eq!((f.symmetric, f.symmetric_distinct), (sym, sym_distinct), "int{bits} symmetric");
        assert_eq!(f.asymmetric, (unsigned.0 as i32, unsigned.1 as i32), "int{bits} asymmetric");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn exact_decimals_match_pythons_decimal() {
    // decimal.Decimal(float(np.float32(v))).
    assert_eq!(exact_decimal(0.1), "0.100000001490116119384765625");
    assert_eq!(exact_decimal(2.71), "2.71000003814697265625");
    assert_eq!(exact_decimal(-2.5), "-2.5");
    assert_eq!(exact_decimal(-0.0), "-0");
    assert_eq!(exact_decimal(65504.0), "65504");
    assert_eq!(exact_decimal(2f32.powi(-24)), "0.000000059604644775390625");
    let tiny = exact_decimal(f32::from_bits(1));
    assert!(
        tiny.starts_with("0.00000000000000000000000000000000000000000000140129846432481707092372958328991613128026194187651577"),
        "{tiny}"
    );
    assert!(tiny.ends_with("836212158203125") && tiny.len() == 2 + 149, "{tiny}");
    assert_eq!(exact_decimal(f32::MAX), "340282346638528859811704183484516925440");
    assert_eq!(
        (exact_decimal(f32::INFINITY), exact_decimal(f32::NEG_INFINITY), exact_decimal(f32::NAN)),
        ("+∞".into(), "−∞".into(), "NaN".into())
    );
}

/// Every value of every float fixture: the panel's code and value are the reference's, and the
/// neighbours bracket the value with the stored one the nearer.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_float_fixture_value_reads_as_the_reference_stores_it() {
    let fixtures = json(fixture_str!("float/casts.json"));
    let mut checked = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        let (id, input) = (case["scheme"].as_str().unwrap(), case["input"].as_str().unwrap());
        let values = f32s(&fixtures["inputs"][input]);
        let codes: Vec<u32> = case["codes"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as u32).collect();
        let deq = f32s(&case["dequantized"]);
        let max = number_formats::facts().floats.iter().find(|f| f.format == id).unwrap().max;
        for ((&x, &code), &want) in values.iter().zip(&codes).zip(&deq) {
            if x.is_nan() {
                continue; // the text "NaN" loses the payload; NaN handling is checked by hand below
            }
            let what = format!("{id}: {x:e} ({:#010x})", x.to_bits());
            // `{}` of the f64 prints the shortest text that reads back as exactly this f64 = f32.
            let r = explain_number(&format!("{}", x as f64)).unwrap();
            let s = in_format(&r, id);
            assert_eq!(s.code, code, "{what}: code");
            assert_eq!((s.value as f32).to_bits(), want.to_bits(), "{what}: value");
            let again = decode_code(id, code, Some(x as f64)).unwrap();
            assert_eq!(again.value.to_bits(), s.value.to_bits(), "{what}: decode");
            let t = x as f64;
            if x.is_finite() && t.abs() <= max {
                let (below, above, gap) = (s.below.unwrap(), s.above.unwrap(), s.gap.unwrap());
                assert!(below <= t && t <= above, "{what}: {below} ≤ x ≤ {above}");
                assert_eq!(gap, above - below, "{what}: gap");
                assert!(s.value == below || s.value == above, "{what}: stored {} is a neighbour", s.value);
                let other = if s.value == below { above } else { below };
                assert!((s.value - t).abs() <= (other - t).abs(), "{what}: stored is the nearer neighbour");
                assert_eq!(s.abs_error, Some(s.value - t), "{what}: error");
            }
            checked += 1;
        }
    }
    assert!(checked > 5000, "only {checked} values checked");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn overflow_saturation_underflow_and_specials_are_explained() {
    let r = explain_number("500").unwrap();
    let e4m3 = in_format(&r, "fp8_e4m3");
    assert_eq!((e4m3.value, e4m3.below, e4m3.above, e4m3.gap), (448.0, Some(416.0), Some(448.0), Some(32.0)));
    assert!(e4m3.note.as_deref().unwrap().contains("saturates to 448"), "{:?}", e4m3.note);
    let r = explain_number("1e5").unwrap();
    let fp16 = in_format(&r, "fp16");
    assert_eq!((fp16.kind, fp16.exact.as_str(), fp16.abs_error, fp16.gap), (Kind::Infinity, "+∞", None, None));
    assert!(fp16.note.as_deref().unwrap().contains("overflows to ∞"), "{:?}", fp16.note);
    assert_eq!(in_format(&r, "fp8_e5m2").value, 57344.0);
    let r = explain_number("-1e-6").unwrap();
    let fp16 = in_format(&r, "fp16");
    assert_eq!(fp16.kind, Kind::Subnormal);
    assert_eq!(fp16.sign, "1");
    assert!(fp16.formula.starts_with("(−1)^1 × 2^(1 − 15) × (17/1024)"), "{}", fp16.formula);
    assert!(fp16.below.unwrap() < -1e-6 && fp16.above.unwrap() > -1e-6 && fp16.gap == Some(2f64.powi(-24)));
    let r = explain_number("nan").unwrap();
    assert_eq!(in_format(&r, "fp4_e2m1").value, 6.0);
    assert_eq!(in_format(&r, "fp8_e4m3").kind, Kind::Nan);
    assert!(in_format(&r, "fp4_e2m1").note.as_deref().unwrap().contains("no NaN"));
    let r = explain_number(" −2 ").unwrap();
    assert_eq!(r.typed, -2.0);
    assert_eq!(in_format(&r, "fp4_e2m1").code, 0b1100);
    for bad in ["", "abc", "0.1.2", "1,5"] {
        assert!(explain_number(bad).is_err(), "'{bad}' should be refused");
    }
    assert!(explain_number("abc").unwrap_err().to_string().contains("'abc' is not a number"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn toggled_bits_decode_like_the_scheme_library() {
    // 0.1 in FP16 with the exponent's lowest bit flipped: 2^(10−15)·(1 + 614/1024) = 0.04998779296875.
    let s = decode_code("fp16", 0x2e66 ^ (1 << 10), Some(0.1)).unwrap();
    assert_eq!((field_bits(&s).as_str(), s.value), ("0 01010 1001100110", 0.04998779296875));
    assert_eq!(s.abs_error, Some(0.04998779296875 - 0.1));
    // Flipping the sign.
    assert_eq!(decode_code("fp16", 0x2e66 | 0x8000, None).unwrap().value, -0.0999755859375);
    // Without a typed number the neighbours are this value and the next one away from 0.
    let one = decode_code("fp16", 0x3c00, None).unwrap();
    assert_eq!((one.below, one.above, one.gap), (Some(1.0), Some(1.0 + 2f64.powi(-10)), Some(2f64.powi(-10))));
    // Specials, by format.
    assert_eq!(decode_code("fp16", 0x7c00, None).unwrap().kind, Kind::Infinity);
    assert_eq!(decode_code("fp16", 0x7e00, None).unwrap().kind, Kind::Nan);
    assert_eq!(decode_code("fp8_e4m3", 0x7f, None).unwrap().kind, Kind::Nan);
    assert_eq!(decode_code("fp8_e4m3", 0x78, None).unwrap().value, 256.0); // exponent all ones is a number in E4M3FN
    assert_eq!(decode_code("fp8_e5m2", 0xfc, None).unwrap().exact, "−∞");
    assert_eq!(decode_code("fp32", 0x0000_0001, None).unwrap().kind, Kind::Subnormal);
    // Every FP8/FP4 code against the scheme library's decoder.
    for (id, format) in [
        ("fp8_e4m3", schemes::float::FloatFormat::Fp8E4m3),
        ("fp8_e5m2", schemes::float::FloatFormat::Fp8E5m2),
        ("fp4_e2m1", schemes::float::FloatFormat::Fp4E2m1),
    ] {
        for code in 0..(1u32 << format.bits()) {
            let s = decode_code(id, code, None).unwrap();
            let want = format.decode(code as u16);
            assert!(
                s.value.to_bits() == (want as f64).to_bits()
                    || (want.is_nan() && s.kind == Kind::Nan)
                    || (want.is_infinite() && s.kind == Kind::Infinity),
                "{id} {code:#x}"
            );
            assert_eq!(u32::from_str_radix(&field_bits(&s).replace(' ', ""), 2).unwrap(), code, "{id} {code:#x} fields");
        }
    }
    assert!(decode_code("fp16", 0x1_0000, None).unwrap_err().to_string().contains("does not fit in FP16's 16 bits"));
    assert!(decode_code("fp12", 0, None).unwrap_err().to_string().contains("unknown float format 'fp12'"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn histogram_bins_offer_a_value_from_inside_them() {
    let t = quantscope_core::samples::generate("laplace", 64, 64, 3).unwrap();
    let h = number_formats::pick_histogram(&t.data, 40).unwrap();
    let reference = quantscope_core::stats::histogram::histogram(&t.data, 40, h.lo, h.hi);
    assert_eq!(h.counts, reference.counts);
    let width = (h.hi - h.lo) / 40.0;
    for (i, (&count, pick)) in h.counts.iter().zip(&h.picks).enumerate() {
        match pick {
            None => assert_eq!(count, 0, "bin {i}"),
            Some(v) => {
                assert!(count > 0 && t.data.contains(v), "bin {i}");
                let (lo, hi) = (h.lo + i as f64 * width, h.lo + (i + 1) as f64 * width);
                assert!(*v as f64 >= lo - 1e-12 && *v as f64 <= hi + 1e-12, "bin {i}: {v} outside [{lo}, {hi}]");
            }
        }
    }
    assert!(number_formats::pick_histogram(&t.data, 0).is_err());
    assert!(number_formats::pick_histogram(&[f32::NAN], 8).is_err());
}

// ------------------------------------------------------------------ panel 2: mapping

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mappings_match_onnx_runtime_and_the_inspect_view() {
    let fixtures = json(fixture_str!("int/ort_int.json"));
    let mut checked = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        let id = case["scheme"].as_str().unwrap();
        let Some(kind) = id.strip_prefix("int").and_then(|r| r.split_once('_')).filter(|(_, k)| *k == "sym" || *k == "asym") else {
            continue;
        };
        let bits: u32 = kind.0.parse().unwrap();
        let values = f32s(&fixtures["inputs"][case["input"].as_str().unwrap()]["values"]);
        if !values.iter().any(|x| x.is_finite()) {
            continue;
        }
        let what = format!("{id} on {}", case["input"]);
        let r = mapping(&values, bits, Some(0.3)).unwrap();
        let m = if kind.1 == "sym" { &r.symmetric } else { &r.asymmetric };
        assert_eq!(m.scheme, id);
        assert_eq!((m.scale as f32).to_bits(), f32s(&case["scales"])[0].to_bits(), "{what}: scale");
        assert_eq!(m.zero_point as i64, case["zero_points"][0].as_i64().unwrap(), "{what}: zero point");
        // The min and max traces are elements: their codes and round trips are ORT's.
        let codes = case["codes"].as_array().unwrap();
        let deq = f32s(&case["dequantized"]);
        for t in m.traces.iter().filter(|t| t.label == "min" || t.label == "max" || t.label == "typical") {
            let i = values.iter().position(|&v| v as f64 == t.x).unwrap();
            assert_eq!(t.code as i64, codes[i].as_i64().unwrap(), "{what}: {} code", t.label);
            assert_eq!((t.dequantized as f32).to_bits(), deq[i].to_bits(), "{what}: {} round trip", t.label);
            assert_eq!(t.error, t.dequantized - t.x);
        }
        // Zero always lands on the zero point and comes back exactly.
        let zero = m.traces.iter().find(|t| t.label == "zero").unwrap();
        assert_eq!((zero.code, zero.dequantized), (m.zero_point, 0.0), "{what}: zero");
        assert_eq!(m.grid.len(), (m.qmax - m.qmin + 1) as usize);
        assert_eq!(m.grid[(m.zero_point - m.qmin) as usize], 0.0);
        // The MSE the Inspect view shows for the same scheme.
        let (report, _) =
            quantscope_core::report::scheme_report(&quantscope_core::Tensor::new("t", vec![values.len()], "float32", values.clone()), id)
                .unwrap();
        assert_eq!(m.mse.to_bits(), report.metrics.mse.to_bits(), "{what}: MSE");
        assert_eq!(m.levels_used, report.levels_used);
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} cases");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn traced_arithmetic_is_written_out_step_by_step() {
    // int8_sym of max|x| = 2.54: scale 0.02 (in f32); 1.01 / 0.02 = 50.5 → 50 (half to even).
    let r = mapping(&[1.01, -0.03, 2.54, 0.0], 8, Some(1.01)).unwrap();
    let s = &r.symmetric;
    let yours = s.traces.iter().find(|t| t.label == "yours").unwrap();
    assert_eq!((yours.rounded, yours.shifted, yours.code, yours.clamped), (50.0, 50.0, 50, false));
    assert_eq!(yours.dequantized, (50.0 * s.scale as f32) as f64);
    assert!((yours.divided - 50.5).abs() < 1e-4);
    // A value beyond the range is clamped: 5 → 250 → 127.
    let r = mapping(&[1.01, -0.03, 2.54, 0.0], 8, Some(5.0)).unwrap();
    let yours = r.symmetric.traces.iter().find(|t| t.label == "yours").unwrap();
    assert_eq!((yours.code, yours.clamped), (127, true));
    assert!(yours.shifted > 127.0);
    // Asymmetric, min −1, max 1: zp = 128, −1 → 1 (see schemes::int's hand-checked test).
    let r = mapping(&[-1.0, 1.0], 8, None).unwrap();
    let a = &r.asymmetric;
    assert_eq!((a.zero_point, a.traces[0].label, a.traces[0].code), (128, "min", 1));
    assert_eq!(a.traces.len(), 4, "no 'yours' trace without a value");
    assert!(mapping(&[1.0], 3, None).is_err());
    assert!(mapping(&[f32::NAN, f32::INFINITY], 8, None).unwrap_err().to_string().contains("no finite values"));
    assert!(mapping(&[1.0], 8, Some(f64::NAN)).is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn asymmetric_wins_on_relu_and_ties_on_a_gaussian() {
    let relu = quantscope_core::samples::generate("relu", 128, 128, 42).unwrap();
    for bits in [8, 4, 2] {
        let r = mapping(&relu.data, bits, None).unwrap();
        assert!(r.asymmetric.mse * 2.0 < r.symmetric.mse, "int{bits}: asym {} vs sym {}", r.asymmetric.mse, r.symmetric.mse);
        assert_eq!(r.negative_fraction, 0.0);
        assert!(r.verdict.starts_with("Asymmetric MSE is"), "{}", r.verdict);
        assert!(r.verdict.contains("every value is ≥ 0"), "{}", r.verdict);
        // Symmetric uses at most the zero code and the positive ones.
        assert!(r.symmetric.levels_used <= (r.symmetric.qmax + 1) as usize);
        assert_eq!(r.asymmetric.zero_point, 0);
        assert_eq!(r.axis, (-r.max, r.max));
        // Half the values are 0; the typical one traced is a real, non-zero one.
        let typical = r.asymmetric.traces.iter().find(|t| t.label == "typical").unwrap();
        assert!(typical.x > 0.0 && relu.data.contains(&(typical.x as f32)));
    }
    let normal = quantscope_core::samples::generate("normal", 128, 128, 42).unwrap();
    let r = mapping(&normal.data, 8, None).unwrap();
    assert!(r.verdict.starts_with("The two MSEs are within 5 %"), "{}", r.verdict);
    assert_eq!(r.histogram.counts.iter().sum::<u64>(), normal.data.len() as u64);
}

// ------------------------------------------------------------------ panel 3: clipping

fn sample(kind: &str) -> Vec<f32> {
    quantscope_core::samples::generate(kind, 64, 128, 7).unwrap().data
}

/// The MSE at a clip is what `int{bits}_sym` gives with that clip: checked against the scheme
/// itself on the tensor clamped to ±clip (whose min-max range is then exactly ±clip).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mse_at_a_clip_is_int_sym_with_that_clip() {
    for kind in ["normal", "normal_outliers"] {
        let values = sample(kind);
        let absmax = values.iter().fold(0f32, |m, x| m.max(x.abs()));
        for bits in [8, 4] {
            let scheme = IntScheme::from_id(&format!("int{bits}_sym")).unwrap();
            for clip in [absmax, absmax * 0.5, absmax * 0.123, values[5].abs()] {
                let clamped: Vec<f32> = values.iter().map(|x| x.clamp(-clip, clip)).collect();
                let q = scheme.quantize(&clamped, &[clamped.len()]).unwrap();
                let p = clip_point(&values, bits, clip).unwrap();
                let what = format!("int{bits}_sym on {kind} at {clip}");
                assert_eq!((p.scale as f32).to_bits(), (q.params[0].values[0] as f32).to_bits(), "{what}: scale");
                assert_eq!(p.mse.to_bits(), error_metrics(&values, &q.dequantized).mse.to_bits(), "{what}: MSE");
                // Clamped values: beyond the clip, and surely those a step beyond it.
                let qmax = ((1 << (bits - 1)) - 1) as f32;
                let beyond = values.iter().filter(|x| x.abs() > clip).count() as f64;
                let surely = values.iter().filter(|x| x.abs() > clip * (1.0 + 1.0 / qmax)).count() as f64;
                let clipped = (p.clipped_fraction * values.len() as f64).round();
                assert!(surely <= clipped && clipped <= beyond, "{what}: clipped {clipped}, between {surely} and {beyond}");
            }
        }
    }
    assert!(clip_point(&[1.0], 8, 0.0).is_err());
    assert!(clip_point(&[1.0], 8, f32::NAN).is_err());
    assert!(clip_point(&[1.0], 5, 1.0).is_err());
}

/// Each marker is the calibrated scheme's own clip and MSE, and the curve at that clip agrees.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn calibration_markers_sit_on_the_curve() {
    for kind in ["normal", "normal_outliers"] {
        let values = sample(kind);
        for bits in [8, 4] {
            let setup = clipping::setup(&values, bits, 100).unwrap();
            assert_eq!(setup.markers.len(), 5);
            assert_eq!(setup.clips.len(), 100);
            assert_eq!(*setup.clips.last().unwrap() as f64, setup.absmax, "the last clip is max|x|");
            for m in &setup.markers {
                let what = format!("{} on {kind}", m.scheme);
                let scheme = schemes::by_id(&m.scheme).unwrap();
                let q = scheme.quantize(&values, &[values.len()]).unwrap();
                assert_eq!(m.mse.to_bits(), error_metrics(&values, &q.dequantized).mse.to_bits(), "{what}");
                let p = clip_point(&values, bits, m.clip as f32).unwrap();
                assert_eq!(p.mse.to_bits(), m.mse.to_bits(), "{what}: curve at the marker's clip");
                assert_eq!((p.scale as f32).to_bits(), (q.params[0].values[0] as f32).to_bits(), "{what}: scale");
                assert!(m.clip > 0.0 && m.clip <= setup.absmax, "{what}: clip {}", m.clip);
            }
            assert_eq!(setup.markers[0].clip, setup.absmax, "min-max clips at max|x|");
            // The MSE search is the best of its 100-point grid, which the 100-point curve is (to an ulp of the clip).
            let curve = clipping::curve(&values, bits, &setup.clips).unwrap();
            let best = curve.iter().map(|p| p.mse).fold(f64::INFINITY, f64::min);
            let mse_marker = setup.markers.iter().find(|m| m.scheme.ends_with("_mse")).unwrap();
            assert!(mse_marker.mse <= best * (1.0 + 1e-6), "{kind} int{bits}: MSE search {} vs curve minimum {best}", mse_marker.mse);
            assert_eq!(curve.last().unwrap().mse.to_bits(), setup.markers[0].mse.to_bits());
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn percentile_and_entropy_markers_are_onnx_runtimes_clips() {
    let fixtures = json(fixture_str!("calibration/ort_calibration.json"));
    let mut checked = 0;
    for input in ["normal_4096", "outliers_8x128", "laplace_777"] {
        let values = f32s(&fixtures["inputs"][input]["values"]);
        for bits in [8, 4] {
            let markers = clipping::markers(&values, bits).unwrap();
            for suffix in ["p99.9", "p99.99", "entropy"] {
                let id = format!("int{bits}_sym_{suffix}");
                let Some(case) = fixtures["cases"].as_array().unwrap().iter().find(|c| c["scheme"] == id.as_str() && c["input"] == input)
                else {
                    continue;
                };
                let (lo, hi) = (f32s(&case["lo"])[0], f32s(&case["hi"])[0]);
                let m = markers.iter().find(|m| m.scheme == id).unwrap();
                assert_eq!(m.clip as f32, lo.abs().max(hi.abs()), "{id} on {input}: clip");
                let p = clip_point(&values, bits, m.clip as f32).unwrap();
                assert_eq!(bits_of(p.scale), f32s(&case["scales"])[0].to_bits(), "{id} on {input}: scale");
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "only {checked} ORT cases");
}

fn bits_of(x: f64) -> u32 {
    (x as f32).to_bits()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn outliers_stretch_min_max() {
    let setup = |kind, bits| clipping::setup(&sample(kind), bits, 50).unwrap();
    let mse = |s: &clipping::ClipSetup, suffix: &str| s.markers.iter().find(|m| m.scheme.ends_with(suffix)).unwrap().mse;
    let (normal, outliers) = (setup("normal", 4), setup("normal_outliers", 4));
    // ±20σ outliers make max|x| several times larger, and min-max's INT4 step with it.
    assert!(outliers.absmax > 3.0 * normal.absmax, "{} vs {}", outliers.absmax, normal.absmax);
    assert!(mse(&outliers, "int4_sym") > 2.0 * mse(&outliers, "_mse"), "INT4: min-max should lose clearly");
    assert!(outliers.verdict.contains("lower than min-max's"), "{}", outliers.verdict);
    // At INT8 the step is fine enough that clamping the 0.1 % of outliers costs more than it saves.
    let int8 = setup("normal_outliers", 8);
    assert!(mse(&int8, "int8_sym") < 1.05 * mse(&int8, "_mse"));
    assert!(int8.verdict.starts_with("Min-max is as good as any calibration here"), "{}", int8.verdict);
    // On the page's sample (256×256, seed 42) the outliers are a little more than 0.1 % of the
    // values: the 99.9th percentile of |x| is one of them, so percentile 99.9 clamps nothing, and
    // a note says why, with the counts.
    let page = quantscope_core::samples::generate("normal_outliers", 256, 256, 42).unwrap().data;
    let far = page.iter().filter(|x| x.abs() > 0.2).count();
    assert_eq!(far, 77, "77 of 65,536 values are outliers");
    for bits in [8, 4] {
        let s = clipping::setup(&page, bits, 50).unwrap();
        let p999 = s.markers.iter().find(|m| m.method == "percentile 99.9").unwrap();
        assert_eq!(p999.clipped_fraction, 0.0);
        let note = s.notes.iter().find(|t| t.starts_with("Percentile 99.9 clamps nothing here")).expect("a note on percentile 99.9");
        assert!(note.contains("(65 of 65,536 values), but 77 values (0.117 %) lie beyond half of max|x| (±0.2)"), "{note}");
        assert!(note.contains("every one with |x| ≥ 0.4"), "{note}");
    }
    // With fewer outliers than 0.1 % (4 of 8,192 here) percentile 99.9 clamps them, and no note.
    let p999 = outliers.markers.iter().find(|m| m.method == "percentile 99.9").unwrap();
    assert!(p999.clipped_fraction > 0.0 && p999.clip < 0.5 * outliers.absmax, "{p999:?}");
    assert!(!outliers.notes.iter().any(|t| t.starts_with("Percentile 99.9 ")), "{:?}", outliers.notes);
    // 0.01 % of 8,192 values is less than one: percentile 99.99 may clamp none, and says so.
    assert_eq!(
        normal.notes,
        ["Percentile 99.99 clamps nothing here: the largest 0.01 % of 8,192 values is less than one value, so its clip is max|x|."]
    );
    assert!(bits(&outliers.clips).windows(2).all(|w| f32::from_bits(w[0]) < f32::from_bits(w[1])));
    assert!(clipping::setup(&[0.0; 4], 8, 50).unwrap_err().to_string().contains("every value is 0"));
    assert!(clipping::setup(&[1.0], 8, 1).is_err());
}

/// A tensor that a grid stores exactly (MSE 0) gets sentences with numbers in them, never
/// `NaN`, `inf` or `∞×`: the verdicts say "exactly" or "infinitely" instead of dividing by 0.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn exact_round_trips_get_sentences_without_nan_or_infinity() {
    // ±1 and 0: symmetric INT8 stores them exactly (codes ±127, 0); asymmetric does not.
    let values = [-1.0f32, 0.0, 1.0, 1.0, -1.0, 0.0];
    let clean = |text: &str| !["NaN", "inf", "∞"].iter().any(|bad| text.replace("infinitely", "").contains(bad));
    let m = mapping(&values, 8, None).unwrap();
    assert!(m.verdict.starts_with("Symmetric MSE is infinitely lower"), "{}", m.verdict);
    for bits in [8, 4] {
        let s = clipping::setup(&values, bits, 10).unwrap();
        assert!(s.verdict.starts_with("Min-max stores every value exactly here"), "{}", s.verdict);
        for text in s.notes.iter().chain([&s.verdict, &m.verdict]) {
            assert!(clean(text), "{text}");
        }
    }
}
