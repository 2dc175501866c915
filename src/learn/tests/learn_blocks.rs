//! The numbers behind the Learn view's panels 4–6 (granularity, memory, compare schemes):
//!
//! 1. the block view's bytes and decoded values against gguf-py (tests/fixtures/ggml) for every
//!    GGML legacy type and block, and against ONNX Runtime (tests/fixtures/int) for every
//!    integer scheme and group;
//! 2. the granularity panel's scales and errors equal the schemes' own parameters and reports;
//! 3. the memory panel's layout-computed bytes equal the bytes every scheme writes, on awkward
//!    shapes, and the headline numbers (7B at q4_0);
//! 4. the NF4 levels against bitsandbytes' table (tests/fixtures/bnb) and the normal quantiles
//!    they are built from; the 4-bit grids against the schemes.

use crate::common::{f32s, hex_bytes, json};
use quantscope_core::report::{scheme_report, MAX_PARAMS_SHOWN};
use quantscope_core::schemes;
use quantscope_core::schemes::ggml::{GgmlType, QK};
use quantscope_core::{samples, Tensor};
use quantscope_learn::compare::{grid_comparison, nf4_chart, nf4_levels, normal_quantile, NF4_OFFSET};
use quantscope_learn::granularity::{block_view, ggml_block_view, granularity_report, MAX_ELEMENTS_SHOWN};
use quantscope_learn::memory::{layout_bits_per_weight, layout_ids, memory_table, packed_bytes, GPU_GB};

fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn hex_f32s(hex: &str) -> Vec<f32> {
    (0..hex.len()).step_by(8).map(|i| f32::from_bits(u32::from_str_radix(&hex[i..i + 8], 16).unwrap())).collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn ggml_block_view_shows_gguf_py_bytes_and_decodes_them() {
    let fixtures = json(fixture_str!("ggml/ggml.json"));
    let mut blocks_checked = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        let (input, id) = (case["input"].as_str().unwrap(), case["type"].as_str().unwrap());
        let ty = GgmlType::from_id(id).unwrap();
        let values = f32s(&fixtures["inputs"][input]["values"]);
        let want = hex_bytes(case["packed"].as_str().unwrap());
        let want_deq = hex_f32s(case["dequantized"].as_str().unwrap());
        let t = Tensor::new(input, vec![values.len()], "float32", values.clone());
        for block in 0..values.len().div_ceil(QK) {
            let what = format!("{id} on {input}, block {block}");
            // Through the page's path (quantize with the library, then open the block) ...
            let v = block_view(&t, id, (block * QK + 5).min(values.len() - 1)).unwrap();
            // ... and straight from gguf-py's bytes: the two must agree.
            let direct = ggml_block_view(ty, &want, &values, block);
            // (Compared as text: a NaN decoded value is equal to itself there.)
            assert_eq!(format!("{:?}", v.fields), format!("{:?}", direct.fields), "{what}");
            assert_eq!(format!("{:?}", v.elements), format!("{:?}", direct.elements), "{what}");
            let bb = ty.block_bytes();
            assert_eq!((v.block, v.block_offset, v.block_len), (block, Some(block * bb), Some(bb)), "{what}");
            // Every header field's bytes are the block's bytes at its offset.
            for f in &v.fields {
                assert_eq!(f.bytes[..], want[f.offset..f.offset + f.bytes.len()], "{what}: field {}", f.name);
            }
            // The d field's value is the f16 it holds.
            if ty != GgmlType::Mxfp4 {
                let d = half::f16::from_le_bytes([want[block * bb], want[block * bb + 1]]).to_f32();
                assert!(same_f32(v.fields[0].value as f32, d), "{what}: d");
            }
            assert_eq!(v.elements.len(), (values.len() - block * QK).min(QK), "{what}: elements in the block");
            for e in &v.elements {
                assert_eq!(e.byte, want[e.byte_offset], "{what}: element {} byte", e.index);
                assert!(same_f32(e.original, values[e.index]), "{what}");
                assert!(
                    same_f32(e.decoded, want_deq[e.index]),
                    "{what}: element {} decodes to {} but gguf-py gives {} (code {}, {})",
                    e.index,
                    e.decoded,
                    want_deq[e.index],
                    e.code,
                    e.place
                );
                // ggml's nibble order: elements 0..15 low nibbles, 16..31 high nibbles.
                if matches!(ty, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Mxfp4) {
                    assert_eq!(e.shift, if e.position < 16 { 0 } else { 4 }, "{what}");
                    assert_eq!(e.byte_offset - v.fields.last().unwrap().offset - v.fields.last().unwrap().bytes.len(), e.position % 16);
                }
            }
            blocks_checked += 1;
        }
    }
    assert!(blocks_checked > 300, "only {blocks_checked} blocks checked");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn int_group_view_matches_onnx_runtime_scales_and_codes() {
    let fixtures = json(fixture_str!("int/ort_int.json"));
    let mut groups_checked = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        let (input, id) = (case["input"].as_str().unwrap(), case["scheme"].as_str().unwrap());
        let shape: Vec<usize> = case["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let values = f32s(&fixtures["inputs"][input]["values"]);
        if values.is_empty() {
            continue;
        }
        let scales = f32s(&case["scales"]);
        let zero_points: Vec<i64> = case["zero_points"].as_array().unwrap().iter().map(|z| z.as_i64().unwrap()).collect();
        let codes: Vec<i64> = case["codes"].as_array().unwrap().iter().map(|z| z.as_i64().unwrap()).collect();
        let want_deq = f32s(&case["dequantized"]);
        let t = Tensor::new(input, shape.clone(), "float32", values.clone());
        // Open the group of every element once (each group at least once).
        let mut seen = std::collections::BTreeSet::new();
        for element in 0..values.len() {
            let v = block_view(&t, id, element).unwrap();
            if !seen.insert(v.block) {
                continue;
            }
            let what = format!("{id} on {input} {shape:?}, group {}", v.block);
            assert!(v.elements.iter().any(|e| e.index == element) || v.elements.len() == MAX_ELEMENTS_SHOWN, "{what}");
            assert_eq!(v.fields[0].name, "scale");
            assert_eq!(v.fields[0].bytes, scales[v.block].to_le_bytes().to_vec(), "{what}: scale bytes");
            let zp = if id.contains("asym") {
                assert_eq!(v.fields[1].value as i64, zero_points[v.block], "{what}: zero point");
                zero_points[v.block]
            } else {
                0
            };
            for e in &v.elements {
                assert_eq!(e.code as i64, codes[e.index], "{what}: element {} code", e.index);
                assert!(
                    same_f32(e.decoded, want_deq[e.index]),
                    "{what}: element {} decodes to {}, ORT {}",
                    e.index,
                    e.decoded,
                    want_deq[e.index]
                );
                assert!(same_f32(e.decoded, (e.code as i64 - zp) as f32 * scales[v.block]), "{what}");
            }
            groups_checked += 1;
        }
        assert_eq!(seen.len(), scales.len(), "{id} on {input}: every group opened");
    }
    assert!(groups_checked > 1000, "only {groups_checked} groups checked");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn int_group_view_decodes_the_packed_bytes_of_every_layout() {
    // Axis 1 channels are strided, INT2 packs four per byte, groups end mid-byte.
    let data: Vec<f32> = (0..3 * 5 * 7).map(|i| ((i * 53 % 31) as f32 - 15.0) * 0.07).collect();
    let t = Tensor::new("t", vec![3, 5, 7], "float32", data);
    for id in ["int2_sym_g32", "int2_asym_channel1", "int4_asym_g64", "int8_sym_channel2", "int4_sym", "int8_asym_g128_mse"] {
        let q = schemes::by_id(id).unwrap().quantize(&t.data, &t.shape).unwrap();
        let mut covered = vec![false; t.data.len()];
        for element in 0..t.data.len() {
            let v = block_view(&t, id, element).unwrap();
            for e in &v.elements {
                covered[e.index] = true;
                assert!(same_f32(e.decoded, q.dequantized[e.index]), "{id}: element {}", e.index);
                assert_eq!(e.byte, q.packed[e.byte_offset]);
            }
            assert_eq!(v.fields[0].value as f32, q.params[0].values[v.block] as f32, "{id}: scale of group {}", v.block);
        }
        assert!(covered.iter().all(|&c| c), "{id}: every element is shown in its group");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn granularity_scales_and_errors_are_the_schemes_own() {
    let t = samples::generate("laplace", 64, 256, 7).unwrap();
    for (bits, symmetric) in [(4, true), (8, false), (2, true)] {
        let r = granularity_report(&t, bits, symmetric).unwrap();
        let ids: Vec<&str> = r.choices.iter().map(|c| c.scheme.as_str()).collect();
        let base = format!("int{bits}_{}", if symmetric { "sym" } else { "asym" });
        assert_eq!(ids, [base.clone(), format!("{base}_channel"), format!("{base}_g32"), format!("{base}_g64"), format!("{base}_g128")]);
        for c in &r.choices {
            let q = schemes::by_id(&c.scheme).unwrap().quantize(&t.data, &t.shape).unwrap();
            let scales: Vec<f32> = q.params[0].values.iter().map(|&v| v as f32).collect();
            assert_eq!(c.scales, scales, "{}", c.scheme);
            // The f32 scales lead the packed bytes.
            let packed: Vec<f32> = q.packed[..4 * c.groups].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            assert_eq!(c.scales, packed, "{}", c.scheme);
            let (report, _) = scheme_report(&t, &c.scheme).unwrap();
            assert_eq!(c.mse, report.metrics.mse, "{}", c.scheme);
            assert_eq!(c.sqnr_db, report.metrics.sqnr_db, "{}", c.scheme);
            assert_eq!(c.bits_per_weight, report.bits_per_weight, "{}", c.scheme);
            let shown: Vec<f32> = report.params[0].values.iter().map(|&v| v as f32).collect();
            assert_eq!(c.scales[..shown.len()], shown[..], "{}", c.scheme);
            assert_eq!(shown.len(), c.groups.min(MAX_PARAMS_SHOWN));
            if !symmetric {
                assert_eq!(c.zero_points.len(), c.groups);
            }
            // Heat-map geometry: 64 rows of 256 values.
            let rows = c.groups.div_ceil(c.grid_columns);
            match c.groups {
                1 => assert_eq!((c.grid_columns, c.element_stride), (1, 64 * 256)),
                64 => assert_eq!((rows, c.element_stride), (64, 256)),
                g => assert_eq!((rows, c.grid_columns * c.element_stride, g * c.element_stride), (64, 256, 64 * 256)),
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn layout_bytes_equal_what_every_scheme_writes() {
    let shapes: [&[usize]; 6] = [&[256, 512], &[3, 100], &[33], &[2, 3, 5], &[1], &[300, 7]];
    for shape in shapes {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 0.1).collect();
        let t = Tensor::new("t", shape.to_vec(), "float32", data);
        for id in schemes::all_ids() {
            // Calibrated ids pack like their base; the entropy ones are slow, so a sample of them.
            if id.ends_with("_entropy") && shape[0] > 3 {
                continue;
            }
            // IQ2_XXS, IQ2_XS and IQ1_S quantize only with an importance matrix (refused here).
            if schemes::requires_importance(&id) {
                assert!(scheme_report(&t, &id).unwrap_err().to_string().contains("needs an importance matrix"), "{id}");
                continue;
            }
            let (r, _) = scheme_report(&t, &id).unwrap();
            assert_eq!(packed_bytes(&id, shape).unwrap(), r.bytes as u64, "{id} on {shape:?}");
            assert_eq!(layout_bits_per_weight(&id, &[shape.to_vec()]).unwrap(), r.bits_per_weight, "{id} on {shape:?}");
        }
    }
    // Several tensors: Σ bytes / Σ elements.
    let two = layout_bits_per_weight("int8_sym_channel", &[vec![4, 8], vec![2, 16]]).unwrap();
    // [4, 8]: 4 scales (16 bytes) + 32 code bytes; [2, 16]: 8 + 32; 88 bytes over 64 values.
    assert_eq!(two, 88.0 * 8.0 / 64.0);
    assert!(packed_bytes("nope", &[4]).is_err());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn memory_table_numbers() {
    let t = memory_table(7e9, &[]).unwrap();
    let row = |id: &str| t.rows.iter().find(|r| r.scheme == id).unwrap_or_else(|| panic!("{id}"));
    // parameters × bits / 8 × 1.2, in bytes.
    assert!((row("q4_0").memory_bytes - 4.725e9).abs() < 1.0);
    assert!((row("fp16").memory_bytes - 16.8e9).abs() < 1.0);
    assert!((row("q8_0").size_bytes - 7.4375e9).abs() < 1.0);
    assert_eq!(row("fp16").fits, vec![false, false, true, true]);
    assert_eq!(row("int8_sym").fits, vec![false, true, true, true]);
    assert_eq!(row("q4_k").fits, vec![true, true, true, true]);
    assert_eq!(row("int8_sym_channel").bits_per_weight, 8.0 + 32.0 / 4096.0);
    assert_eq!(t.gpu_gb, GPU_GB.to_vec());
    // One row per layout, and the calibrated variants are not repeated.
    assert_eq!(t.rows.len(), 1 + layout_ids().len());
    // float, int, ggml, kquants, ggml_extra, bnb, kmeans, and the IQ1-IQ3 grid types where core
    // has its `iq-grids` feature (a workspace build; not the tutor module's).
    let grids = ["iq3_s", "iq3_xxs", "iq2_s", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s"].iter().filter(|id| schemes::by_id(id).is_ok()).count();
    assert!(grids == 0 || grids == 7, "{grids}");
    assert_eq!(layout_ids().len(), 5 + 30 + 6 + 5 + 7 + 4 + 8 + grids);
    let big = memory_table(70e9, &[]).unwrap();
    let fp16 = big.rows.iter().find(|r| r.scheme == "fp16").unwrap();
    assert_eq!(fp16.fits, vec![false; 4], "70B at FP16 is 168 GB");
    // "This model": the loaded shapes set the overhead (a per-channel scale per row of 8).
    let mine = memory_table(64.0, &[vec![8, 8]]).unwrap();
    let ch = mine.rows.iter().find(|r| r.scheme == "int8_sym_channel").unwrap();
    assert_eq!(ch.bits_per_weight, 12.0);
    assert!(memory_table(0.0, &[]).unwrap_err().to_string().contains("parameter count"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn nf4_levels_are_bitsandbytes_table_and_normal_quantiles() {
    let fixtures = json(fixture_str!("bnb/bnb4.json"));
    let want = f32s(&fixtures["tables"]["nf4"]);
    assert_eq!(nf4_levels().to_vec(), want);
    let chart = nf4_chart();
    assert!((chart.z_max - normal_quantile(NF4_OFFSET).unwrap()).abs() < 1e-12);
    assert!((chart.z_max - 1.848).abs() < 1e-3, "Φ⁻¹(0.9677) ≈ 1.848, got {}", chart.z_max);
    // create_normal_map: positive levels at p = linspace(offset, 0.5, 9)[:-1], negative at
    // 1 − linspace(offset, 0.5, 8)[:-1], then zero.
    for l in &chart.levels {
        let k = l.code as f64;
        let p = match l.code {
            0..=6 => 1.0 - (NF4_OFFSET - k * (NF4_OFFSET - 0.5) / 7.0),
            7 => 0.5,
            _ => NF4_OFFSET - (15.0 - k) * (NF4_OFFSET - 0.5) / 8.0,
        };
        assert!((l.quantile - p).abs() < 2e-6, "code {}: level {} sits at p = {}, expected {p}", l.code, l.value, l.quantile);
    }
    assert_eq!(chart.levels.len(), 16);
    assert!(chart.curve.len() > 100);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn four_bit_grids_over_a_normal_tensor() {
    let t = samples::generate("normal", 128, 256, 3).unwrap();
    let g = grid_comparison(&t, 64).unwrap();
    let absmax = t.data.iter().fold(0.0f32, |m, x| m.max(x.abs())) as f64;
    assert_eq!(g.absmax, absmax);
    assert_eq!(g.histogram.counts.len(), 64);
    assert_eq!(g.histogram.counts.iter().sum::<u64>(), t.data.len() as u64);
    let ids: Vec<&str> = g.grids.iter().map(|x| x.id).collect();
    assert_eq!(ids, ["int4", "nf4", "fp4_e2m1"]);
    let counts: Vec<usize> = g.grids.iter().map(|x| x.levels.len()).collect();
    assert_eq!(counts, [15, 16, 15]);
    for grid in &g.grids {
        assert!(grid.levels.windows(2).all(|w| w[0] < w[1]), "{} ascending", grid.id);
        let top = *grid.levels.last().unwrap();
        assert!((top - absmax).abs() <= absmax * 1e-6, "{}: top level {top} vs absmax {absmax}", grid.id);
    }
    // INT4 is the library's int4_sym on this tensor.
    let (r, _) = scheme_report(&t, "int4_sym").unwrap();
    assert_eq!(g.grids[0].mse, r.metrics.mse);
    // On Gaussian weights with one scale per tensor, NF4's quantile grid beats the uniform one.
    assert!(g.grids[1].sqnr_db > g.grids[0].sqnr_db + 1.0, "NF4 {} vs INT4 {}", g.grids[1].sqnr_db, g.grids[0].sqnr_db);
    // The fp4_e2m1 scheme casts without a scale: every weight (|x| < 0.25) becomes 0, so its
    // SQNR is 0 dB — the figures are the scheme's own, beside a scaled grid that does far better.
    let (cast, _) = scheme_report(&t, "fp4_e2m1").unwrap();
    assert_eq!(g.fp4_cast.mse, cast.metrics.mse);
    assert_eq!(g.fp4_cast.sqnr_db, cast.metrics.sqnr_db);
    assert_eq!(g.fp4_cast.sqnr_db, 0.0);
    let nonzero = t.data.iter().filter(|x| **x != 0.0).count() as f64 / t.data.len() as f64;
    assert_eq!(g.fp4_cast.zeroed_fraction, nonzero);
    assert!(g.grids[2].sqnr_db > 10.0, "the scaled FP4 grid: {} dB", g.grids[2].sqnr_db);
    // Values of order 1 survive the cast: only |x| ≤ 0.25 become 0.
    let wide = Tensor::new("w", vec![4], "float32", vec![0.25, -0.26, 1.0, 6.0]);
    let w = grid_comparison(&wide, 8).unwrap();
    assert_eq!(w.fp4_cast.zeroed_fraction, 0.25);
    assert!(w.fp4_cast.sqnr_db > 10.0, "{}", w.fp4_cast.sqnr_db);
    let zeros = Tensor::new("z", vec![4], "float32", vec![0.0; 4]);
    assert!(grid_comparison(&zeros, 8).unwrap_err().to_string().contains("no nonzero"));
}
