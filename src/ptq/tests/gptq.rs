//! GPTQ against the numpy transcription of the IST-DASLab reference
//! (scripts/fixtures/make_gptq.py → tests/fixtures/ptq/gptq.npz, gptq.json): identical codes,
//! the same dequantized weights, the same per-column losses; and with no error feedback (a
//! diagonal Hessian) the Q4_0 grid gives llama.cpp's own Q4_0 bytes.

use quantscope_ptq::{gptq, GptqConfig, Grid, Hessian, PtqError};
use std::collections::HashMap;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

struct Fixture {
    arrays: HashMap<String, Vec<f32>>,
    meta: serde_json::Value,
}

fn fixture() -> Fixture {
    let tensors = quantscope_formats::npz::parse(include_bytes!("../../../tests/fixtures/ptq/gptq.npz")).expect("fixture npz");
    let meta = serde_json::from_str(include_str!("../../../tests/fixtures/ptq/gptq.json")).expect("fixture json");
    Fixture { arrays: tensors.into_iter().map(|t| (t.name, t.data)).collect(), meta }
}

impl Fixture {
    fn get(&self, name: &str) -> &[f32] {
        self.arrays.get(name).unwrap_or_else(|| panic!("no array {name}"))
    }
    fn dim(&self, key: &str) -> usize {
        self.meta[key].as_u64().unwrap() as usize
    }
    /// The reference's H: one sample per `hessian_batch` rows.
    fn hessian(&self) -> Hessian {
        let (cols, batch) = (self.dim("cols"), self.dim("hessian_batch"));
        let mut h = Hessian::new(cols);
        for sample in self.get("x").chunks(batch * cols) {
            h.add_sample(sample).unwrap();
        }
        h
    }
}

fn config_of(c: &serde_json::Value) -> (Grid, GptqConfig) {
    let grid = match c["grid"].as_str().unwrap() {
        "q4_0" => Grid::Q4_0,
        _ => Grid::MinMax { bits: c["bits"].as_u64().unwrap() as u32, symmetric: c["sym"].as_bool().unwrap() },
    };
    let g = c["groupsize"].as_i64().unwrap();
    let config = GptqConfig {
        blocksize: c["blocksize"].as_u64().unwrap() as usize,
        percdamp: 0.01,
        groupsize: (g > 0).then_some(g as usize),
        act_order: c["actorder"].as_bool().unwrap(),
        static_groups: c["static_groups"].as_bool().unwrap(),
    };
    (grid, config)
}

#[test]
fn every_configuration_equals_the_reference() {
    let f = fixture();
    let (rows, cols) = (f.dim("rows"), f.dim("cols"));
    let h = f.hessian();
    let w = f.get("w");
    for c in f.meta["configs"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let (grid, config) = config_of(c);
        let r = gptq(w, rows, &h, grid, &config).unwrap_or_else(|e| panic!("{name}: {e}"));
        let codes: Vec<u8> = f.get(&format!("{name}.codes")).iter().map(|&v| v as u8).collect();
        if let Some(i) = (0..codes.len()).find(|&i| codes[i] != r.codes[i]) {
            panic!("{name}: code of row {} column {} is {} here, {} in the reference", i / cols, i % cols, r.codes[i], codes[i]);
        }
        let q = f.get(&format!("{name}.q"));
        for (i, (&a, &b)) in r.values.iter().zip(q).enumerate() {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{name}: value {i}: {a} here, {b} in the reference");
        }
        let losses = f.get(&format!("{name}.losses"));
        for (i, (&a, &b)) in r.column_losses.iter().zip(losses).enumerate() {
            assert!((a as f32 - b).abs() <= 1e-4 * b.abs().max(1e-6), "{name}: loss of column {i}: {a} here, {b} in the reference");
        }
        // And GPTQ did what it is for: a smaller output error on the calibration rows than
        // round-to-nearest on the same grid.
        let (gptq_err, rtn_err) = (c["output_error"].as_f64().unwrap(), c["rtn_output_error"].as_f64().unwrap());
        assert!(gptq_err < rtn_err, "{name}");
        assert!((output_error(w, &r.values, f.get("x"), cols) - gptq_err).abs() <= 1e-6 * gptq_err, "{name}: output error");
    }
}

fn output_error(w: &[f32], q: &[f32], x: &[f32], cols: usize) -> f64 {
    let mut e = 0.0;
    for x in x.chunks_exact(cols) {
        for (wr, qr) in w.chunks_exact(cols).zip(q.chunks_exact(cols)) {
            let d: f64 = wr.iter().zip(qr).zip(x).map(|((&a, &b), &x)| (a as f64 - b as f64) * x as f64).sum();
            e += d * d;
        }
    }
    e
}

/// A diagonal Hessian leaves no error to push: GPTQ on the Q4_0 grid is then round-to-nearest,
/// which must be llama.cpp's Q4_0 itself, byte for byte (core's quantize_row_q4_0_ref port).
#[test]
fn with_no_feedback_the_q4_0_grid_is_llama_cpps_q4_0() {
    let f = fixture();
    let (rows, cols) = (f.dim("rows"), f.dim("cols"));
    let mut w = f.get("w").to_vec();
    w[5] = 0.0; // an exact tie in magnitude cannot happen twice here, but a zero can
    let mut h = Hessian::new(cols);
    // One calibration row per column, each a multiple of a unit vector: H is diagonal.
    let mut x = vec![0f32; cols * cols];
    for i in 0..cols {
        x[i * cols + i] = 1.0 + i as f32 / 8.0;
    }
    h.add_sample(&x).unwrap();
    let config = GptqConfig { groupsize: Some(32), ..Default::default() };
    let ours = gptq(&w, rows, &h, Grid::Q4_0, &config).unwrap().q4_0_blocks().unwrap();
    let llama = quantscope_core::schemes::by_id("q4_0").unwrap().quantize(&w, &[rows, cols]).unwrap().packed;
    assert_eq!(ours, llama);
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let f = fixture();
    let (rows, cols) = (f.dim("rows"), f.dim("cols"));
    let (h, w) = (f.hessian(), f.get("w"));
    let refused = |grid, c: GptqConfig| match gptq(w, rows, &h, grid, &c) {
        Err(PtqError::Setting(s)) => s,
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.rows)),
    };
    let int4 = Grid::MinMax { bits: 4, symmetric: false };
    assert!(refused(int4, GptqConfig { blocksize: 0, ..Default::default() }).contains("block"));
    assert!(refused(int4, GptqConfig { percdamp: 0.0, ..Default::default() }).contains("dampening"));
    assert!(refused(Grid::MinMax { bits: 1, symmetric: false }, GptqConfig::default()).contains("1-bit"));
    assert!(refused(Grid::Q4_0, GptqConfig { groupsize: Some(64), ..Default::default() }).contains("groups of 32"));
    assert!(refused(int4, GptqConfig { static_groups: true, ..Default::default() }).contains("static groups"));
    // A Hessian of other inputs, and calibration that is not a number.
    assert!(matches!(gptq(&w[..cols * 2], 3, &h, int4, &GptqConfig::default()), Err(PtqError::Shape(_))));
    let mut bad = Hessian::new(cols);
    assert!(matches!(bad.add_sample(&vec![f32::NAN; cols]), Err(PtqError::Calibration(_))));
    assert!(matches!(gptq(w, rows, &bad, int4, &GptqConfig::default()), Err(PtqError::Calibration(_))));
    // Act-order with groups found on the fly leaves a Q4_0 block with several scales.
    let act = GptqConfig { groupsize: Some(32), act_order: true, ..Default::default() };
    let r = gptq(w, rows, &h, Grid::Q4_0, &act).unwrap();
    assert!(r.q4_0_blocks().unwrap_err().to_string().contains("static groups"));
}

/// Round-to-nearest is GPTQ with nothing pushed onward: a diagonal Hessian gives the same codes.
#[test]
fn round_to_nearest_is_gptq_without_feedback() {
    let f = fixture();
    let (rows, cols) = (f.dim("rows"), f.dim("cols"));
    let mut h = Hessian::new(cols);
    let mut x = vec![0f32; cols * cols];
    (0..cols).for_each(|i| x[i * cols + i] = 1.0);
    h.add_sample(&x).unwrap();
    for (grid, g) in
        [(Grid::MinMax { bits: 3, symmetric: false }, Some(32)), (Grid::MinMax { bits: 4, symmetric: true }, None), (Grid::Q4_0, Some(32))]
    {
        let config = GptqConfig { groupsize: g, ..Default::default() };
        let a = gptq(f.get("w"), rows, &h, grid, &config).unwrap();
        let b = quantscope_ptq::round_to_nearest(f.get("w"), rows, grid, g).unwrap();
        assert_eq!(a.codes, b.codes, "{grid:?}");
        assert_eq!(a.values, b.values, "{grid:?}");
    }
}
