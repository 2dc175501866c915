//! "Fit a size" (src/formats/src/gguf_fit.rs) on two models: the tiny language model of
//! tests/fixtures/tiny_lm (F32, llama architecture) and the synthetic model of
//! tests/fixtures/gguf_mixes (F16, eight layers, rows that are not whole k-quant blocks), the
//! latter with and without llama-imatrix's importance matrix. The fitted file is written by the
//! mix writer, read back with quantscope's reader and checked: its types are the fit's, it is
//! no larger than the target, and its error — recomputed here from the file's values, not the
//! fit's table — is no more than that of any named llama.cpp mix of no larger size.
//! scripts/fixtures/check_gguf_fit.py loads such a file with llama.cpp itself.
//!
//! Native only: the page's e2e test (tests/e2e/gguf-fit.test.mjs) runs the same code in wasm.
#![cfg(not(target_arch = "wasm32"))]

use quantscope_formats::gguf_fit::{self, FitTable, Measure, Target};
use quantscope_formats::gguf_mix::{FileType, MixImatrix, MixOptions};
use quantscope_formats::gguf_writer;
use quantscope_formats::imatrix::Imatrix;
use quantscope_formats::lazy::{self, LazyFile};
use std::rc::Rc;

const TINY_LM: &[u8] = fixture_bytes!("tiny_lm/tiny-lm-f32.gguf");
const SYNTHETIC: &[u8] = fixture_bytes!("gguf_mixes/source.gguf");
const IMATRIX: &[u8] = fixture_bytes!("gguf_mixes/imatrix.gguf");
/// An entry for every layer's matrix (the one the IQ1/IQ2 mixes are checked with in gguf_mixes.rs).
const IMATRIX_FULL: &[u8] = fixture_bytes!("gguf_mixes/imatrix_full.gguf");

fn open(name: &str, bytes: &[u8]) -> LazyFile {
    lazy::open(name, Rc::new(bytes.to_vec())).unwrap()
}

fn imatrix() -> MixImatrix {
    MixImatrix { file_name: "imatrix.gguf".into(), imatrix: Rc::new(quantscope_formats::imatrix::parse(IMATRIX).unwrap()) }
}

fn imatrix_full() -> MixImatrix {
    MixImatrix { file_name: "imatrix_full.gguf".into(), imatrix: Rc::new(quantscope_formats::imatrix::parse(IMATRIX_FULL).unwrap()) }
}

fn table(file: &LazyFile, imatrix: Option<MixImatrix>) -> FitTable {
    Measure::new(file, imatrix, quantscope_core::schemes::quantize_with_importance).unwrap().run(file, |_, _| {}).unwrap()
}

/// The error of a written file against the source, from the values read back: per tensor,
/// Σ (x − x̂)², or with an imatrix entry of the row length n · weighted_mse (core's), as the fit
/// defines it; and the plain Σ (x − x̂)².
fn file_error(source: &LazyFile, written: &LazyFile, imatrix: Option<&Imatrix>) -> (f64, f64) {
    let (mut error, mut sse) = (0.0, 0.0);
    for (k, t) in written.tensors.iter().enumerate() {
        let s = source.tensors.iter().position(|x| x.name == t.name).unwrap();
        assert_eq!(source.tensors[s].shape, t.shape, "{}", t.name);
        let n = t.elements() as usize;
        let (x, q) = (source.read_values(s, 0, n).unwrap(), written.read_values(k, 0, n).unwrap());
        let e: f64 = x.iter().zip(&q).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
        sse += e;
        let row = *t.shape.last().unwrap() as usize;
        error += match imatrix.and_then(|m| m.get(&t.name)).filter(|e| e.values.len() == row && t.shape.len() >= 2) {
            Some(entry) => n as f64 * quantscope_core::schemes::weighted_mse(&x, &q, &entry.values).unwrap(),
            None => e,
        };
    }
    (error, sse)
}

fn write(file: &LazyFile, ftype: FileType, options: &MixOptions) -> Vec<u8> {
    let mut out = Vec::new();
    gguf_writer::write_mix(file, ftype, options, &mut out, |_, _| {}).unwrap();
    out
}

/// Every named mix quantscope writes for `file` (with `imatrix`): its size and its error read
/// back from the file.
fn named_mixes(file: &LazyFile, imatrix: Option<&MixImatrix>) -> Vec<(FileType, u64, f64)> {
    let mut out = Vec::new();
    for ftype in FileType::ALL {
        let options = MixOptions { imatrix: imatrix.cloned(), ..MixOptions::default() };
        if gguf_writer::plan_mix(file, ftype, &options).is_err() {
            continue; // refused (needs an imatrix, or a type quantscope cannot write yet)
        }
        let bytes = write(file, ftype, &options);
        let (error, _) = file_error(file, &open("mix.gguf", &bytes), imatrix.map(|m| &*m.imatrix));
        out.push((ftype, bytes.len() as u64, error));
    }
    out
}

/// Fits each target, writes the file, reads it back and checks the claim.
fn check_fits(name: &str, bytes: &[u8], imatrix: Option<MixImatrix>) {
    let file = open(name, bytes);
    let table = table(&file, imatrix.clone());
    // The fit chooses among the types the table measures: with an importance matrix every grid
    // type is among them (for the tensors it has entries for), so every IQ mix is a rival too;
    // without one, the mixes that need one are not written at all.
    let options = MixOptions { imatrix: imatrix.clone(), ..MixOptions::default() };
    let representable = |ftype: &FileType| table.assignment_of(&gguf_writer::plan_mix(&file, *ftype, &options).unwrap()).is_some();
    let mixes: Vec<_> = named_mixes(&file, imatrix.as_ref()).into_iter().filter(|m| representable(&m.0)).collect();
    assert!(mixes.len() >= 15, "{name}: {} named mixes written", mixes.len());
    // Every mix llama.cpp's rules can write here is a rival: the IQ1-IQ3 ones included (the
    // grid types are candidates; with this imatrix, where it has entries).
    let writable: Vec<&str> =
        FileType::ALL.into_iter().filter(|f| gguf_writer::plan_mix(&file, *f, &options).is_ok()).map(|f| f.name()).collect();
    let rival_names: Vec<&str> = mixes.iter().map(|m| m.0.name()).collect();
    for f in &writable {
        assert!(rival_names.contains(f), "{name}: {f} is written but not among the rivals");
    }
    if imatrix.is_some() {
        for grid in ["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M"] {
            assert!(writable.contains(&grid), "{name}: {grid} is not written with {writable:?}");
        }
    }
    // Each named mix's error from the table agrees with the one read back from its file.
    for (ftype, size, error) in &mixes {
        let choice = table.assignment_of(&gguf_writer::plan_mix(&file, *ftype, &options).unwrap()).unwrap();
        let t = table.totals(&choice);
        assert_eq!(t.bytes, *size, "{name} {}", ftype.name());
        assert!((t.error - error).abs() <= 1e-6 * error.max(1e-12), "{name} {}: table {} file {error}", ftype.name(), t.error);
    }
    let elements = table.elements() as f64;
    let mut targets: Vec<u64> = mixes.iter().map(|m| m.1).collect();
    for bpw in [2.5, 3.3, 4.5, 5.2, 6.0, 7.0] {
        if let Ok(b) = Target::Bpw(bpw).bytes_for(&table) {
            targets.push(b);
        }
    }
    // The named mixes' assignments, as the CLI and the page give them to the fit.
    let rivals: Vec<(String, Vec<usize>)> = mixes
        .iter()
        .map(|(ftype, _, _)| {
            let options = MixOptions { imatrix: imatrix.clone(), ..MixOptions::default() };
            (ftype.name().to_string(), table.assignment_of(&gguf_writer::plan_mix(&file, *ftype, &options).unwrap()).unwrap())
        })
        .collect();
    let mut grown_from_a_mix = 0;
    let n_targets = targets.len();
    for target in targets {
        let fitted = gguf_fit::fit(&table, target, &rivals).unwrap();
        grown_from_a_mix += usize::from(fitted.from.is_some());
        let choice = fitted.choice;
        let (ftype, options, plan) = gguf_fit::plan_fit(&file, &table, &choice, imatrix.clone()).unwrap();
        let out = write(&file, ftype, &options);
        assert!(out.len() as u64 <= target, "{name}: {} bytes for a target of {target}", out.len());
        assert_eq!(out.len() as u64, plan.len);
        let back = open("fit.gguf", &out);
        for (t, (ft, &k)) in back.tensors.iter().zip(table.tensors.iter().zip(&choice)) {
            assert_eq!((t.name.as_str(), t.dtype.as_str()), (ft.name.as_str(), ft.candidates[k].ty.id()));
        }
        let (error, _) = file_error(&file, &back, imatrix.as_ref().map(|m| &*m.imatrix));
        let fit = table.totals(&choice);
        assert!((fit.error - error).abs() <= 1e-6 * error.max(1e-12), "{name}: table {} file {error}", fit.error);
        for (ftype, size, mix_error) in &mixes {
            if *size <= target {
                assert!(
                    error <= *mix_error * (1.0 + 1e-9),
                    "{name}: the fit to {target} bytes ({:.3} bpw) has error {error}, more than {} ({size} bytes) with {mix_error}",
                    8.0 * target as f64 / elements,
                    ftype.name()
                );
            }
        }
    }
    eprintln!("{name}: {grown_from_a_mix} of {n_targets} fits grown from a named mix");
}

#[test]
fn fits_of_the_tiny_lm_beat_every_named_mix_of_no_larger_size() {
    check_fits("tiny-lm-f32.gguf", TINY_LM, None);
}

#[test]
fn fits_of_the_synthetic_model_beat_every_named_mix_of_no_larger_size() {
    check_fits("source.gguf", SYNTHETIC, None);
}

#[test]
fn fits_with_an_importance_matrix_beat_every_named_mix_by_the_weighted_error() {
    check_fits("source.gguf", SYNTHETIC, Some(imatrix_full()));
}

#[test]
fn targets_outside_the_possible_sizes_are_refused() {
    let file = open("source.gguf", SYNTHETIC);
    let table = table(&file, None);
    let (min, max) = table.size_range();
    let below = Target::Bytes(min - 1).bytes_for(&table).unwrap_err().to_string();
    assert!(below.contains("below the smallest file these tensors can be written in"), "{below}");
    assert!(below.contains(&format!("{min} bytes")), "{below}");
    let above = Target::Bpw(33.0).bytes_for(&table).unwrap_err().to_string();
    assert!(above.contains("above the model in F32") && above.contains(&format!("{max} bytes")), "{above}");
    assert_eq!(Target::Bytes(min).bytes_for(&table).unwrap(), min);
    assert_eq!(Target::Bytes(max).bytes_for(&table).unwrap(), max);
    // The extremes: every tensor in its smallest type, and every tensor exact.
    let smallest = gguf_fit::solve(&table, min).unwrap();
    assert_eq!(table.totals(&smallest).bytes, min);
    let largest = gguf_fit::solve(&table, max).unwrap();
    assert_eq!(table.totals(&largest).error, 0.0);
}

#[test]
fn the_table_keeps_norms_as_stored_and_lists_only_whole_block_types() {
    let file = open("source.gguf", SYNTHETIC);
    let table = table(&file, None);
    let norm = table.tensors.iter().find(|t| t.name == "blk.0.attn_norm.weight").unwrap();
    assert!(norm.kept.is_some());
    assert_eq!(norm.candidates.len(), 1);
    assert_eq!(norm.candidates[0].ty.id(), "f32");
    // ffn_down's rows are 48 values: no 32-value block type fits, only the float types.
    let down = table.tensors.iter().find(|t| t.name == "blk.7.ffn_down.weight").unwrap();
    let ids: Vec<&str> = down.candidates.iter().map(|c| c.ty.id()).collect();
    assert_eq!(ids, ["bf16", "f16", "f32"]);
    // F16 of an F16 source is exact.
    assert_eq!(down.candidates[1].error, 0.0);
    let q = table.tensors.iter().find(|t| t.name == "blk.0.attn_q.weight").unwrap();
    assert!(q.candidates.iter().any(|c| c.ty.id() == "q4_k") && q.candidates.iter().any(|c| c.ty.id() == "q2_k"));
    assert!(q.candidates.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    let grids = |t: &gguf_fit::FitTensor| -> Vec<&str> {
        t.candidates.iter().map(|c| c.ty.id()).filter(|id| id.starts_with("iq") && !id.starts_with("iq4")).collect()
    };
    // A layer's matrix with rows of 256: of the grid types, without an importance matrix only the
    // ones llama.cpp writes without one (IQ3_S; llama-quantize refuses IQ1-IQ2 and IQ3_XXS for
    // them, tensor_requires_imatrix). output.weight and token_embd are exempt from that rule; of
    // them core's quantizers refuse IQ2_XXS, IQ2_XS and IQ1_S without weights.
    let output = table.tensors.iter().find(|t| t.name == "output.weight").unwrap();
    assert_eq!(grids(output), ["iq1_m", "iq2_s", "iq3_xxs", "iq3_s"]);
    let wide = table.tensors.iter().find(|t| t.name.starts_with("blk.") && !grids(t).is_empty()).unwrap();
    assert_eq!(grids(wide), ["iq3_s"], "{}", wide.name);
    // With one, a tensor it has an entry for takes every grid type.
    let weighted = table_with_entries();
    let t = weighted.tensors.iter().find(|t| t.name == wide.name).unwrap();
    assert!(t.weighted, "{}", t.name);
    let mut ids = grids(t);
    ids.sort_unstable();
    assert_eq!(ids, ["iq1_m", "iq1_s", "iq2_s", "iq2_xs", "iq2_xxs", "iq3_s", "iq3_xxs"], "{}", t.name);
}

fn table_with_entries() -> FitTable {
    let file = open("source.gguf", SYNTHETIC);
    table(&file, Some(imatrix()))
}
