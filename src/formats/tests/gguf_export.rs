//! The GGUF writer (src/formats/src/gguf_writer.rs) against gguf-py: for every ggml type, the model
//! in tests/fixtures/gguf_export/source.gguf exported by quantscope must be byte for byte the
//! file gguf-py's GGUFWriter writes with llama.cpp's quantization
//! (scripts/fixtures/make_gguf_export_check.py), so gguf-py's GGUFReader and llama.cpp read it
//! back bit-exact. Also: quantscope's own reader round-trips the writer (values equal the
//! schemes' dequantization, metadata kept), exports of a safetensors source, chunked writing of
//! tensors larger than one chunk. The CLI's `export` is tested with the CLI (src/cli/tests/cli.rs).

use quantscope_formats::gguf_writer::{self, OutType};
use quantscope_formats::{self as formats, lazy};
use std::rc::Rc;

const SOURCE: &[u8] = fixture_bytes!("gguf_export/source.gguf");

const EXPECTED: &[(&str, &[u8])] = &[
    ("q8_0", fixture_bytes!("gguf_export/expected/q8_0.gguf")),
    ("q6_k", fixture_bytes!("gguf_export/expected/q6_k.gguf")),
    ("q5_1", fixture_bytes!("gguf_export/expected/q5_1.gguf")),
    ("q5_0", fixture_bytes!("gguf_export/expected/q5_0.gguf")),
    ("q5_k", fixture_bytes!("gguf_export/expected/q5_k.gguf")),
    ("q4_1", fixture_bytes!("gguf_export/expected/q4_1.gguf")),
    ("q4_0", fixture_bytes!("gguf_export/expected/q4_0.gguf")),
    ("q4_k", fixture_bytes!("gguf_export/expected/q4_k.gguf")),
    ("mxfp4", fixture_bytes!("gguf_export/expected/mxfp4.gguf")),
    ("q3_k", fixture_bytes!("gguf_export/expected/q3_k.gguf")),
    ("q2_k", fixture_bytes!("gguf_export/expected/q2_k.gguf")),
    ("iq4_nl", fixture_bytes!("gguf_export/expected/iq4_nl.gguf")),
    ("iq4_xs", fixture_bytes!("gguf_export/expected/iq4_xs.gguf")),
    ("nvfp4", fixture_bytes!("gguf_export/expected/nvfp4.gguf")),
    ("tq2_0", fixture_bytes!("gguf_export/expected/tq2_0.gguf")),
    ("tq1_0", fixture_bytes!("gguf_export/expected/tq1_0.gguf")),
    ("q1_0", fixture_bytes!("gguf_export/expected/q1_0.gguf")),
    ("bf16", fixture_bytes!("gguf_export/expected/bf16.gguf")),
    ("f16", fixture_bytes!("gguf_export/expected/f16.gguf")),
    ("f32", fixture_bytes!("gguf_export/expected/f32.gguf")),
];

fn open(name: &str, bytes: &[u8]) -> lazy::LazyFile {
    lazy::open(name, Rc::new(bytes.to_vec())).unwrap()
}

/// Where two byte strings first differ, described by the region of the GGUF it falls in.
fn first_difference(ours: &[u8], want: &[u8], plan: &gguf_writer::Plan) -> String {
    let at = ours.iter().zip(want).position(|(a, b)| a != b).unwrap_or(ours.len().min(want.len()));
    let region = plan
        .tensors
        .iter()
        .find(|t| (t.offset..t.offset + t.size.max(1)).contains(&(at as u64)))
        .map(|t| format!("data of tensor '{}' ({}), byte {}", t.name, t.ty.id(), at as u64 - t.offset))
        .unwrap_or_else(|| if (at as u64) < plan.header.len() as u64 { "the header".into() } else { "padding".into() });
    format!("lengths {} vs {}; first difference at byte {at}, in {region}", ours.len(), want.len())
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn exports_equal_gguf_py_files_for_every_type() {
    let source = open("source.gguf", SOURCE);
    // Every type but q2_0, which gguf-py 0.19 does not know (its bytes are the scheme's, held to
    // llama.cpp in src/core/tests/ggml_extra_fixtures.rs, and our reader reads it back below).
    let without_gguf_py: Vec<_> = OutType::ALL.iter().filter(|t| !EXPECTED.iter().any(|(id, _)| *id == t.id())).collect();
    assert_eq!(without_gguf_py, [&OutType::Q2_0], "one expected file per type");
    for (id, want) in EXPECTED {
        let ty = OutType::from_id(id).unwrap();
        let (ours, plan) = gguf_writer::write_to_vec(&source, "source", ty).unwrap();
        assert!(ours == *want, "{id}: {}", first_difference(&ours, want, &plan));
        assert_eq!(plan.len, ours.len() as u64);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn our_reader_round_trips_our_writer() {
    let source = open("source.gguf", SOURCE);
    let original = formats::load_file("source.gguf", SOURCE).unwrap();
    for ty in OutType::ALL {
        let (bytes, plan) = gguf_writer::write_to_vec(&source, "source", ty).unwrap();
        let back = formats::load_file("x.gguf", &bytes).unwrap();
        let meta: std::collections::HashMap<_, _> = back.metadata.iter().cloned().collect();
        assert_eq!(meta["general.architecture"], "llama");
        assert_eq!(meta["tokenizer.ggml.tokens"], r#"["<s>", "</s>", "a", "b"]"#);
        assert_eq!(meta["general.file_type"], ty.file_type().to_string());
        assert_eq!(meta["general.quantization_version"], "2");
        assert_eq!(meta["general.quantized_by"], "quantscope");
        for ((t, p), o) in back.tensors.iter().zip(&plan.tensors).zip(&original.tensors) {
            assert_eq!((&t.name, &t.shape, t.dtype.as_str()), (&o.name, &o.shape, p.ty.id()));
            // The values are the round trip of the chosen type (F32: the values themselves).
            let want = match p.ty {
                OutType::F32 => o.data.clone(),
                other => {
                    let id = if other == OutType::F16 { "fp16" } else { other.id() };
                    quantscope_core::schemes::by_id(id).unwrap().quantize(&o.data, &o.shape).unwrap().dequantized
                }
            };
            assert_eq!(crate::common::bits(&t.data), crate::common::bits(&want), "{} as {}", t.name, p.ty.id());
        }
        let notes: Vec<_> = plan.tensors.iter().filter_map(|t| t.note.as_deref()).collect();
        if ty != OutType::F32 {
            assert!(notes.iter().any(|n| n.contains("1-D")), "{}: the norm stays f32 and says so", ty.id());
        }
    }
}

/// A safetensors source: no GGUF metadata to keep, so general.name comes from the file; bf16
/// values in, q8_0 out; a tensor with a dim past one chunk is written in several chunks.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn safetensors_models_export_in_chunks() {
    let rows = lazy::CHUNK_ELEMENTS / 1024 + 3; // just over one chunk of 1024-value rows
    let n = rows * 1024;
    let values: Vec<f32> = (0..n as u64).map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0).collect();
    let bf: Vec<u8> = values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
    let json =
        format!(r#"{{"__metadata__":{{"format":"pt"}},"w":{{"dtype":"BF16","shape":[{rows},1024],"data_offsets":[0,{}]}}}}"#, bf.len());
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend(json.as_bytes());
    file.extend(&bf);
    let source = open("m.safetensors", &file);
    let (bytes, plan) = gguf_writer::write_to_vec(&source, "my-model", OutType::Q8_0).unwrap();
    assert_eq!(plan.tensors[0].ty, OutType::Q8_0);
    let back = formats::load_file("x.gguf", &bytes).unwrap();
    assert!(back.metadata.contains(&("general.name".into(), "my-model".into())));
    let whole = formats::load_file("m.safetensors", &file).unwrap();
    let want = quantscope_core::schemes::by_id("q8_0").unwrap().quantize(&whole.tensors[0].data, &[n]).unwrap().dequantized;
    assert_eq!(crate::common::bits(&back.tensors[0].data), crate::common::bits(&want));
}
