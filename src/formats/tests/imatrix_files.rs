//! llama.cpp's importance matrices (src/formats/src/imatrix.rs) against files the pinned
//! `llama-imatrix` wrote, in both layouts (scripts/fixtures/make_imatrix_files.py): every entry's
//! name, counts and the weights `llama-quantize`'s `load_imatrix` computes, bit for bit; MoE
//! entries with an expert never routed to; and the files llama.cpp refuses, each with its reason.

use quantscope_formats::imatrix::{self, ImatrixFormat};
use quantscope_formats::imatrix_writer;

const EXPECTED: &str = fixture_str!("imatrix/expected.json");

fn file(name: &str) -> &'static [u8] {
    match name {
        "tiny.imatrix.gguf" => fixture_bytes!("imatrix/tiny.imatrix.gguf"),
        "tiny.imatrix.dat" => fixture_bytes!("imatrix/tiny.imatrix.dat"),
        "moe.imatrix.gguf" => fixture_bytes!("imatrix/moe.imatrix.gguf"),
        other => panic!("no fixture {other}"),
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn entries_and_weights_are_what_llama_quantize_loads() {
    let expected = crate::common::json(EXPECTED);
    let files = expected["files"].as_object().unwrap();
    assert_eq!(files.len(), 3);
    let mut compared = 0;
    for (name, want) in files {
        let m = imatrix::parse(file(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let format = if want["format"] == "gguf" { ImatrixFormat::Gguf } else { ImatrixFormat::Legacy };
        assert_eq!(m.format, format, "{name}");
        let datasets: Vec<String> = want["datasets"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
        assert_eq!(m.datasets, datasets, "{name}");
        assert_eq!(
            (m.chunk_count as i64, m.chunk_size as i64),
            (want["chunk_count"].as_i64().unwrap(), want["chunk_size"].as_i64().unwrap()),
            "{name}"
        );
        let entries = want["entries"].as_array().unwrap();
        assert_eq!(m.entries.len(), entries.len(), "{name}: entry count");
        for (ours, want) in m.entries.iter().zip(entries) {
            assert_eq!(ours.name, want["name"].as_str().unwrap(), "{name}: entries in name order");
            let counts: Vec<i64> = want["counts"].as_array().unwrap().iter().map(|c| c.as_i64().unwrap()).collect();
            assert_eq!(ours.counts, counts, "{name}: {}", ours.name);
            assert_eq!(
                crate::common::bits(&ours.values),
                crate::common::bits(&crate::common::f32s(&want["values"])),
                "{name}: weights of {}",
                ours.name
            );
            assert!(std::ptr::eq(m.get(&ours.name).unwrap(), ours), "get finds {}", ours.name);
            compared += 1;
        }
    }
    // 2 layers × 7 matrices in each llama-imatrix file (it skips output.weight), 2 in the MoE one.
    assert_eq!(compared, 14 + 14 + 2);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn columns_counts_experts_and_top_columns() {
    let m = imatrix::parse(file("tiny.imatrix.gguf")).unwrap();
    let down = m.get("blk.1.ffn_down.weight").unwrap();
    assert_eq!((down.columns(), down.experts(), down.count()), (128, 1, 192));
    assert_eq!(m.get("blk.0.attn_q.weight").unwrap().columns(), 64);
    assert!(m.get("token_embd.weight").is_none(), "llama-imatrix records matrix products only");
    let top = down.top_columns(3);
    assert_eq!(top.len(), 3);
    assert!(top[0].1 >= top[1].1 && top[1].1 >= top[2].1);
    assert!(down.values.iter().all(|&v| v <= top[0].1));
    assert_eq!(down.values[top[0].0], top[0].1);

    // MoE: 3 experts of 8 columns; expert 1 has count 0, so its weights are all 1.
    let moe = imatrix::parse(file("moe.imatrix.gguf")).unwrap();
    let e = moe.get("blk.0.ffn_up_exps.weight").unwrap();
    assert_eq!((e.columns(), e.experts(), e.counts.as_slice()), (8, 3, &[10, 0, 3][..]));
    assert!(e.values[8..16].iter().all(|&v| v == 1.0));
    assert_eq!(e.values[0], e.sums[0] / 10.0);
    assert_eq!(e.values[16], e.sums[16] / 3.0);
    // A dense entry whose count is 0: every weight 1.
    assert!(moe.get("blk.0.attn_q.weight").unwrap().values.iter().all(|&v| v == 1.0));
}

fn err(bytes: &[u8]) -> String {
    imatrix::parse(bytes).err().map(|e| e.to_string()).unwrap_or_else(|| "parsed".into())
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn files_llama_cpp_refuses_are_refused_with_the_reason() {
    assert!(err(fixture_bytes!("imatrix/bad/no_metadata.gguf")).contains("missing imatrix metadata ('imatrix.datasets')"));
    assert!(err(fixture_bytes!("imatrix/bad/f16_counts.gguf")).contains("must be F32; 'blk.0.attn_q.weight.counts' is f16"));
    assert!(err(fixture_bytes!("imatrix/bad/no_entries.gguf")).contains("no data in the file"));
    let e = err(fixture_bytes!("imatrix/bad/unpaired.gguf"));
    assert!(e.contains("mismatched sums and counts for blk.1.attn_q.weight (no 'blk.1.attn_q.weight.counts')"), "{e}");
    // A GGUF model is not an imatrix: no '.in_sum2' tensors (its metadata check comes first).
    let model = fixture_bytes!("gguf_mixes/source.gguf");
    assert!(err(model).contains("missing imatrix metadata"), "{}", err(model));
    // A GGUF cut short: the GGUF reader's error.
    let g = file("tiny.imatrix.gguf");
    let cut = imatrix::parse(&g[..g.len() / 2]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(cut.to_lowercase().contains("gguf"), "{cut}");

    // Legacy files: cut inside an entry, counts that cannot be, nothing at all.
    let d = file("tiny.imatrix.dat");
    let e = err(&d[..200]);
    assert!(e.contains("legacy .dat") && e.contains("ends inside"), "{e}");
    assert!(err(&[]).contains("ends inside the entry count"));
    assert!(err(&0i32.to_le_bytes()).contains("the entry count (no data in the file) is 0"));
    let mut neg = 1i32.to_le_bytes().to_vec();
    neg.extend_from_slice(&(-5i32).to_le_bytes());
    assert!(err(&neg).contains("entry 1's name length is -5"));
    let mut no_values = 1i32.to_le_bytes().to_vec();
    no_values.extend_from_slice(&1i32.to_le_bytes());
    no_values.push(b'w');
    no_values.extend_from_slice(&1i32.to_le_bytes());
    no_values.extend_from_slice(&0i32.to_le_bytes());
    assert!(err(&no_values).contains("the value count of 'w' is 0"));
    // The trailer (chunk count, dataset) is optional.
    let n = d.len();
    let without = imatrix::parse(&d[..n - 4 - 4 - "calib.txt".len()]).unwrap();
    assert_eq!((without.chunk_count, without.datasets.len(), without.entries.len()), (0, 0, 14));
}

/// quantscope writes llama-imatrix's GGUF layout: each file llama-imatrix wrote, read and written
/// again, is the same bytes (the keys, their order, the tensor names, dims and alignment).
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn gguf_imatrix_files_are_written_back_byte_for_byte() {
    for name in ["tiny.imatrix.gguf", "moe.imatrix.gguf"] {
        let bytes = file(name);
        let m = imatrix::parse(bytes).unwrap();
        let written = imatrix_writer::write_gguf(&m).unwrap();
        if let Some(at) = written.iter().zip(bytes).position(|(a, b)| a != b) {
            panic!("{name}: byte {at} differs");
        }
        assert_eq!(written.len(), bytes.len(), "{name}");
    }
    // A legacy file's values are means × ncall: written as raw sums they would mean something else.
    let legacy = imatrix::parse(file("tiny.imatrix.dat")).unwrap();
    assert!(imatrix_writer::write_gguf(&legacy).unwrap_err().to_string().contains("not raw sums"));
}
