//! AWQ against the torch transcription of llm-awq (scripts/fixtures/make_awq.py →
//! tests/fixtures/ptq/awq.npz, awq.json), on a lone linear and on an MLP (gate/up/down with
//! SiLU) for three grids: the same chosen exponents, the same scales and loss curves (float
//! tolerance: the blocks' sums run in another order), the same clip maxima and the identical
//! integer codes of the scaled, clipped weights.

use quantscope_ptq::awq::{apply_clip, divide_columns, divide_rows, scale_columns};
use quantscope_ptq::{round_to_nearest, search_clip, search_scales, AwqConfig, Grid, Linear, PtqError, ScaleSearch};
use std::collections::HashMap;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

struct Fixture {
    arrays: HashMap<String, (Vec<usize>, Vec<f32>)>,
    meta: serde_json::Value,
}

fn fixture() -> Fixture {
    let tensors = quantscope_formats::npz::parse(include_bytes!("../../../tests/fixtures/ptq/awq.npz")).expect("fixture npz");
    let meta = serde_json::from_str(include_str!("../../../tests/fixtures/ptq/awq.json")).expect("fixture json");
    Fixture { arrays: tensors.into_iter().map(|t| (t.name, (t.shape, t.data))).collect(), meta }
}

impl Fixture {
    fn get(&self, name: &str) -> &[f32] {
        &self.arrays.get(name).unwrap_or_else(|| panic!("no array {name}")).1
    }
    fn rows(&self, name: &str) -> usize {
        self.arrays[name].0[0]
    }
}

fn config_of(c: &serde_json::Value) -> AwqConfig {
    let grid = match c["grid"].as_str().unwrap() {
        "q4_0" => Grid::Q4_0,
        _ => Grid::ZeroPoint { bits: c["bits"].as_u64().unwrap() as u32 },
    };
    let g = c["groupsize"].as_i64().unwrap();
    AwqConfig {
        grid,
        groupsize: (g > 0).then_some(g as usize),
        clip_samples: c["n_sample_token"].as_u64().unwrap() as usize,
        ..AwqConfig::llm_awq()
    }
}

/// x Wᵀ in f64, rounded to f32 (the fixture's blocks are computed so).
fn linear(x: &[f32], w: &[f32], cols: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len() / cols * w.len() / cols);
    for xr in x.chunks_exact(cols) {
        for wr in w.chunks_exact(cols) {
            out.push(xr.iter().zip(wr).map(|(&a, &b)| a as f64 * b as f64).sum());
        }
    }
    out
}

/// down(silu(gate x) · up x), in f64.
fn mlp(x: &[f32], gate: &[f32], up: &[f32], down: &[f32], d: usize) -> Vec<f32> {
    let g = linear(x, gate, d);
    let u = linear(x, up, d);
    let ff = gate.len() / d;
    let act: Vec<f64> = g.iter().zip(&u).map(|(&g, &u)| g / (1.0 + (-g).exp()) * u).collect();
    let mut out = Vec::new();
    for ar in act.chunks_exact(ff) {
        for wr in down.chunks_exact(ff) {
            out.push(ar.iter().zip(wr).map(|(&a, &b)| a * b as f64).sum::<f64>() as f32);
        }
    }
    out
}

fn to_f32(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|v| v as f32).collect()
}

fn assert_close(what: &str, ours: &[f32], theirs: &[f32], rel: f32) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= rel * b.abs(), "{what} [{i}]: {a} here, {b} in the reference");
    }
}

fn check_search(f: &Fixture, c: &serde_json::Value, search: &str, r: &quantscope_ptq::ScaleResult) {
    let name = c["name"].as_str().unwrap();
    let what = format!("{name}.{search}");
    assert_eq!(r.best as u64, c[format!("{search}_best")].as_u64().unwrap(), "{what}: chosen exponent");
    // x̄ ** α in f64 then f32 on both sides: at most an ulp apart.
    assert_close(&format!("{what} scales"), &r.scales, f.get(&format!("{what}.scales")), 4e-7);
    let losses: Vec<f64> = c[format!("{search}_losses")].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(r.losses.len(), losses.len());
    for (i, (&a, &b)) in r.losses.iter().zip(&losses).enumerate() {
        assert!((a - b).abs() <= 1e-6 * b, "{what} loss {i}: {a} here, {b} in the reference");
    }
}

/// The clip of `w` on `x`, applied, then the codes: all held to the fixture's.
fn check_clip(f: &Fixture, config: &AwqConfig, what: &str, w: &[f32], rows: usize, x: &[f32]) {
    let clip = search_clip(w, rows, x, config).unwrap_or_else(|e| panic!("{what}: {e}"));
    let theirs = f.get(&format!("{what}.max"));
    if let Some(i) = (0..theirs.len()).find(|&i| clip.max[i].to_bits() != theirs[i].to_bits()) {
        panic!("{what}: clip of row {} group {}: {} here, {} in the reference", i / clip.groups, i % clip.groups, clip.max[i], theirs[i]);
    }
    assert!(clip.error_clipped <= clip.error_unclipped, "{what}: clipping made it worse");
    let mut clipped = w.to_vec();
    apply_clip(&mut clipped, &clip);
    let codes = round_to_nearest(&clipped, rows, config.grid, config.groupsize).unwrap().codes;
    let theirs = f.get(&format!("{what}.codes"));
    let cols = w.len() / rows;
    if let Some(i) = (0..codes.len()).find(|&i| codes[i] as f32 != theirs[i]) {
        panic!("{what}: code of row {} column {} is {} here, {} in the reference", i / cols, i % cols, codes[i], theirs[i]);
    }
}

#[test]
fn a_linear_equals_the_reference() {
    let f = fixture();
    let (x, w) = (f.get("linear.x"), f.get("linear.w"));
    let rows = f.rows("linear.w");
    let cols = w.len() / rows;
    for c in f.meta["configs"].as_array().unwrap() {
        let config = config_of(c);
        let name = c["name"].as_str().unwrap();
        let mut block = |ws: &[Vec<f32>]| to_f32(linear(x, &ws[0], cols));
        let r = search_scales(x, cols, vec![Linear { w: w.to_vec(), rows }], config, &mut block).unwrap();
        check_search(&f, c, "linear", &r);
        // apply_scale: W·diag(s) and x / s, then the clip on them.
        let (mut ws, mut xs) = (w.to_vec(), x.to_vec());
        scale_columns(&mut ws, &r.scales);
        divide_columns(&mut xs, &r.scales);
        check_clip(&f, &config, &format!("{name}.linear"), &ws, rows, &xs);
    }
}

#[test]
fn an_mlp_equals_the_reference() {
    let f = fixture();
    let (x, gate, up, down, act) = (f.get("mlp.x"), f.get("mlp.gate"), f.get("mlp.up"), f.get("mlp.down"), f.get("mlp.act"));
    let ff = f.rows("mlp.gate");
    let d = gate.len() / ff;
    for c in f.meta["configs"].as_array().unwrap() {
        let config = config_of(c);
        let name = c["name"].as_str().unwrap();
        // gate and up, inspected through the whole MLP (down as it is).
        let mut block = |ws: &[Vec<f32>]| mlp(x, &ws[0], &ws[1], down, d);
        let linears = vec![Linear { w: gate.to_vec(), rows: ff }, Linear { w: up.to_vec(), rows: ff }];
        let s_in = search_scales(x, d, linears, config, &mut block).unwrap();
        check_search(&f, c, "mlp", &s_in);
        // down on its own input, one exponent per call as the page runs it.
        let mut block = |ws: &[Vec<f32>]| to_f32(linear(act, &ws[0], ff));
        let mut search = ScaleSearch::new(act, ff, vec![Linear { w: down.to_vec(), rows: d }], config, &mut block).unwrap();
        while !search.finished() {
            let before = search.done();
            search.next(&mut block).unwrap();
            assert_eq!(search.done(), before + 1);
        }
        let s_down = search.result().unwrap();
        check_search(&f, c, "down", &s_down);

        // apply_scale: the norm before gate and up is not in this block; up's rows carry
        // down's scales.
        let (mut g, mut u, mut dn) = (gate.to_vec(), up.to_vec(), down.to_vec());
        scale_columns(&mut g, &s_in.scales);
        scale_columns(&mut u, &s_in.scales);
        divide_rows(&mut u, d, &s_down.scales);
        scale_columns(&mut dn, &s_down.scales);
        let (mut xs, mut acts) = (x.to_vec(), act.to_vec());
        divide_columns(&mut xs, &s_in.scales);
        divide_columns(&mut acts, &s_down.scales);
        check_clip(&f, &config, &format!("{name}.gate"), &g, ff, &xs);
        check_clip(&f, &config, &format!("{name}.up"), &u, ff, &xs);
        check_clip(&f, &config, &format!("{name}.down"), &dn, d, &acts);
    }
}

/// Scaling is exact algebra before rounding: the scaled MLP with its input divided computes the
/// same function (up to f32 rounding).
#[test]
fn scaling_alone_keeps_the_function() {
    let f = fixture();
    let (x, gate, up, down) = (f.get("mlp.x"), f.get("mlp.gate"), f.get("mlp.up"), f.get("mlp.down"));
    let ff = f.rows("mlp.gate");
    let d = gate.len() / ff;
    let s_in = quantscope_ptq::awq::scales_for_ratio(&quantscope_ptq::awq::activation_scale(x, d).unwrap(), 10, 20);
    let s_down: Vec<f32> = (0..ff).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
    let (mut g, mut u, mut dn, mut xs) = (gate.to_vec(), up.to_vec(), down.to_vec(), x.to_vec());
    scale_columns(&mut g, &s_in);
    scale_columns(&mut u, &s_in);
    divide_rows(&mut u, d, &s_down);
    scale_columns(&mut dn, &s_down);
    divide_columns(&mut xs, &s_in);
    let (a, b) = (mlp(x, gate, up, down, d), mlp(&xs, &g, &u, &dn, d));
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
        assert!((p - q).abs() <= 1e-5 * scale, "output {i}: {p} against {q}");
    }
}

#[test]
fn bad_settings_and_shapes_are_refused() {
    let w = vec![0.1f32; 4 * 96];
    let x = vec![1.0f32; 8 * 96];
    let mut block = |ws: &[Vec<f32>]| ws[0].clone();
    let linear = || vec![Linear { w: w.clone(), rows: 4 }];
    // 96 columns are not groups of 64 (llm-awq asserts they divide), nor of Q4_0's 32 with another size.
    let g64 = AwqConfig { groupsize: Some(64), ..AwqConfig::llm_awq() };
    match search_scales(&x, 96, linear(), g64, &mut block) {
        Err(PtqError::Setting(why)) => assert!(why.contains("64") && why.contains("96"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let q4 = AwqConfig { groupsize: Some(64), ..AwqConfig::q4_0() };
    assert!(matches!(search_clip(&w, 4, &x, &q4), Err(PtqError::Setting(_))));
    let ok = AwqConfig { groupsize: Some(32), ..AwqConfig::llm_awq() };
    // A linear whose rows do not take the input's columns.
    match search_scales(&x[..8 * 64], 64, linear(), ok, &mut block) {
        Err(PtqError::Shape(_)) => {}
        other => panic!("expected a shape error, got {other:?}"),
    }
    // A non-finite input.
    let mut bad = x.clone();
    bad[5] = f32::NAN;
    assert!(matches!(search_clip(&w, 4, &bad, &ok), Err(PtqError::Calibration(_))));
    // A block whose output changes length between calls.
    let mut calls = 0;
    let mut shifty = |ws: &[Vec<f32>]| {
        calls += 1;
        ws[0][..if calls == 1 { 8 } else { 4 }].to_vec()
    };
    match search_scales(&x, 96, linear(), ok, &mut shifty) {
        Err(PtqError::Shape(why)) => assert!(why.contains("8") && why.contains("4"), "{why}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    // A block that only ever gives NaN: no exponent can be chosen.
    let mut nan = |ws: &[Vec<f32>]| if ws[0][0] == 0.1 { vec![1.0; 4] } else { vec![f32::NAN; 4] };
    let mut search = ScaleSearch::new(&x, 96, linear(), ok, &mut nan).unwrap();
    while !search.finished() {
        search.next(&mut nan).unwrap();
    }
    assert!(matches!(search.result(), Err(PtqError::Calibration(_))));
    assert!(matches!(search.next(&mut nan), Err(PtqError::Setting(_))));
    assert!(matches!(search_clip(&w, 4, &x, &AwqConfig { n_grid: 0, ..ok }), Err(PtqError::Setting(_))));
    assert!(matches!(search_clip(&w, 4, &x, &AwqConfig { grid: Grid::ZeroPoint { bits: 9 }, ..ok }), Err(PtqError::Setting(_))));
}
