//! The wire-level rewrite of an ONNX model (`onnx::splice`), which the quantized downloads are
//! written with: opened and written again unchanged, every committed model comes back byte for
//! byte (so nothing quantscope does not read is lost); an edit changes only what it edits; and
//! bytes that are not a model fail with a clear error. Native only: it walks the fixture tree.
#![cfg(not(target_arch = "wasm32"))]

use prost::Message;
use quantscope_formats::onnx::proto::{ModelProto, NodeProto};
use quantscope_formats::onnx::splice::{Kept, ModelEdit};
use quantscope_formats::onnx::OnnxError;
use std::path::{Path, PathBuf};

fn onnx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            onnx_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "onnx") && !path.to_string_lossy().contains("malformed") {
            out.push(path);
        }
    }
}

#[test]
fn every_committed_model_comes_back_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut files = Vec::new();
    onnx_files(&root, &mut files);
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/models/mnist_mlp_int8_ort.onnx"));
    assert!(files.len() > 900, "found only {} models", files.len());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let edit = ModelEdit::open(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(edit.encode() == bytes, "{} changed", path.display());
    }
}

#[test]
fn an_edit_changes_only_what_it_edits() {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx_node/ort/mlp_fp32/model.onnx")).unwrap();
    let mut edit = ModelEdit::open(&bytes).unwrap();
    let before = ModelProto::decode(&bytes[..]).unwrap();
    edit.graph.nodes[0].edit().name = Some("renamed".into());
    edit.graph.nodes.push(Kept::new(NodeProto {
        op_type: Some("Identity".into()),
        input: vec!["y".into()],
        output: vec!["z".into()],
        ..Default::default()
    }));
    edit.graph.initializers.remove(0);
    edit.producer = Some(("quantscope".into(), "0.1.0".into()));
    let after = ModelProto::decode(&edit.encode()[..]).unwrap();
    let (g0, g1) = (before.graph.as_ref().unwrap(), after.graph.as_ref().unwrap());
    assert_eq!(g1.node.len(), g0.node.len() + 1);
    assert_eq!(g1.node[0].name.as_deref(), Some("renamed"));
    assert_eq!(g1.node[1..g0.node.len()], g0.node[1..]);
    assert_eq!(g1.node.last().unwrap().op_type.as_deref(), Some("Identity"));
    assert_eq!(g1.initializer[..], g0.initializer[1..]);
    assert_eq!((g1.input.clone(), g1.output.clone(), g1.name.clone()), (g0.input.clone(), g0.output.clone(), g0.name.clone()));
    assert_eq!(after.producer_name.as_deref(), Some("quantscope"));
    assert_eq!(after.opset_import, before.opset_import);
    assert_eq!(after.ir_version, before.ir_version);
}

#[test]
fn bytes_that_are_not_a_model_are_refused() {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx/tiny.onnx")).unwrap();
    let cut = &bytes[..bytes.len() - 3];
    assert!(matches!(ModelEdit::open(cut), Err(OnnxError::Decode(m)) if m.contains("past the end") || m.contains("ends inside")));
    assert!(matches!(ModelEdit::open(&[0x08, 0x07]), Err(OnnxError::MissingGraph)));
    assert!(matches!(ModelEdit::open(&[0x0b, 0x00]), Err(OnnxError::Decode(m)) if m.contains("wire type 3")));
}

/// Field-level rewrites (what the FP16 download uses): a field replaced, dropped or kept in its
/// place; value_info entries and graph inputs retyped in place, nothing else of them changed.
#[test]
fn field_rewrites_keep_every_other_field() {
    use quantscope_formats::onnx::proto::TensorProto;
    use quantscope_formats::onnx::splice::{bytes_field, read_varint, rewrite_fields, varint_field, FieldEdit};
    let t = TensorProto { dims: vec![2], data_type: Some(1), name: Some("w".into()), raw_data: Some(vec![0; 8]), ..Default::default() };
    let out = rewrite_fields(&t.encode_to_vec(), |number, payload| match number {
        2 => {
            assert_eq!(read_varint(payload), Some(1));
            FieldEdit::Replace(varint_field(2, 10))
        }
        9 => FieldEdit::Replace(bytes_field(9, &[1, 2, 3, 4])),
        8 => FieldEdit::Drop,
        _ => FieldEdit::Keep,
    })
    .unwrap();
    let u = TensorProto::decode(&out[..]).unwrap();
    assert_eq!((u.dims, u.data_type, u.name, u.raw_data), (vec![2], Some(10), None, Some(vec![1, 2, 3, 4])));

    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/real_models/silero_decoder_v5/model.onnx")).unwrap();
    let mut edit = ModelEdit::open(&bytes).unwrap();
    let before = edit.graph.value_info().unwrap();
    let first_input = edit.graph.inputs[0].message.name.clone().unwrap();
    let names: Vec<String> = before.iter().filter_map(|v| v.name.clone()).chain([first_input]).collect();
    let changed = edit.graph.retype_values(|name, t| (t == 1 && names.iter().any(|n| n == name)).then_some(10)).unwrap();
    assert_eq!(changed, before.len() + 1, "every value_info entry and the first input");
    let after = ModelEdit::open(&edit.encode()).unwrap();
    for (a, b) in before.iter().zip(after.graph.value_info().unwrap()) {
        let mut a = a.clone();
        a.r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().elem_type = Some(10);
        assert_eq!(a, b);
    }
    let input = &after.graph.inputs[0].message;
    assert_eq!(input.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().elem_type, Some(10));
    assert_eq!(after.graph.inputs[1].message, edit.graph.inputs[1].message);
}
