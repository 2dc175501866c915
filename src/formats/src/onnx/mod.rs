//! ONNX model reader: every weight becomes a tensor, the graph becomes a summary.
//!
//! The protobuf is decoded with `prost` into hand-written messages covering only what
//! quantscope shows (no protoc, no build script). Field numbers are those of `onnx/onnx.proto`
//! (ONNX 1.17+, `syntax = "proto2"`, so scalars are `Option`s); fields not declared here
//! (doc strings, training info, functions) are skipped by prost as unknown fields.
//!
//! The weights are the initializers and the values of `Constant` nodes, in the main graph and
//! in every subgraph (`If`, `Loop`, `Scan`, ...), found by [`weights`]; each tensor has a
//! [`weights::WeightInfo`] in `LoadedFile::weights` (same order) saying where it lives, which
//! ops read it and in what role, and a name a person recognises ("Conv 'conv1' weight").
//! Tensors keep their ONNX names. Functions (`ModelProto.functions`) are not searched.
//!
//! Weights are decoded by [`tensor::decode`], the decoder the model engine uses too, and
//! widened to f32: every type with a [`tensor::DType`] — FLOAT, FLOAT16, BFLOAT16, DOUBLE, the
//! 8/16/32/64-bit integers, BOOL, FLOAT8E4M3FN, FLOAT8E5M2, FLOAT4E2M1, INT4, UINT4, INT2 and
//! UINT2 (codes decoded exactly) — from `raw_data` or the typed field the spec assigns.
//! `Tensor::dtype` is the NumPy-style name (`float32`, `bfloat16`, `int4`, `float8_e4m3fn`, ...).
//!
//! Like the GGUF reader, a model loads even when some weights cannot be decoded; these are
//! named in the metadata instead (`<kind>` is `initializer` or `Constant`):
//! * external data (`data_location = EXTERNAL`): `external <kind> <name>` →
//!   `external data is not supported (stored in '<location>')` — a browser has only the one file;
//! * a data type ONNX defines but quantscope does not decode (STRING, COMPLEX*, the FNUZ
//!   floats, FLOAT8E8M0): `unsupported <kind> <name>` → `data type <NAME> (<n>)`; likewise
//!   sparse tensors (`sparse_initializer`, `sparse_value`) and `value_string(s)`;
//! * more than [`MAX_ELEMENTS`] elements (alone or in total): `skipped <kind> <name>`.
//!
//! Errors: bytes that are not a protobuf ModelProto (including truncation), a model without a
//! graph, negative or overflowing dims, a data type id ONNX does not define, data whose
//! length disagrees with the dims, a `Constant` without a value, a subgraph attribute that is
//! not a GraphProto, and subgraphs nested too deep.
//!
//! # Sniffing
//!
//! ONNX has no magic number. Every ONNX writer serialises `ModelProto.ir_version` (field 1,
//! varint: tag byte `0x08`) first, as protobuf serialisers emit fields in field-number order,
//! and IR versions are small. [`sniff`] therefore accepts `08 vv tt` where `vv` is a one-byte
//! varint 1..=127 and `tt` is the tag of a ModelProto field that can follow (producer_name,
//! graph, opset_import, ...). That is cheap and rarely matches other formats; a file that
//! does not sniff but is named `*.onnx` is still parsed, so its specific error is shown.

use super::{Format, LoadedFile};
use crate::error::Error;
use prost::Message;
use quantscope_core::tensor::{checked_element_count, Tensor, MAX_ELEMENTS};
use std::fmt;

/// The subset of `onnx.proto` quantscope reads.
pub mod proto;
pub mod roles;
pub mod splice;
pub mod tensor;
pub mod weights;

use tensor::{DType, Data, TensorError};

use proto::*;

/// Errors reading ONNX models (see `formats::onnx`). Each variant names what is wrong; `what`
/// is `initializer` or `Constant` (the weight's kind), `name` its ONNX name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnnxError {
    /// The bytes are not a protobuf ModelProto (or are truncated); prost's description.
    Decode(String),
    /// A ModelProto without a graph.
    MissingGraph,
    /// A weight with a negative dim, or dims whose product overflows 64 bits.
    BadDims { what: &'static str, name: String, dims: Vec<i64> },
    /// A weight `data_type` that ONNX does not define.
    UnknownDataType { what: &'static str, name: String, data_type: i32 },
    /// A weight whose data (bytes of `raw_data`, else elements of the typed field) disagrees with its dims.
    DataLengthMismatch { what: &'static str, name: String, field: &'static str, expected: u64, actual: u64 },
    /// A `Constant` node with none of the value attributes (`value`, `value_float(s)`,
    /// `value_int(s)`, `value_string(s)`, `sparse_value`), or one without its value.
    ConstantWithoutValue { name: String, graph: String },
    /// A graph-valued attribute (`If`'s `then_branch`, `Loop`'s `body`, ...) whose bytes are
    /// not a GraphProto; `path` names it, `why` is prost's description.
    SubgraphDecode { path: String, why: String },
    /// Subgraphs nested more than `limit` deep (see `weights::MAX_SUBGRAPH_DEPTH`).
    SubgraphsTooDeep { path: String, limit: usize },
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxError::Decode(why) => {
                write!(f, "not a valid ONNX model (truncated, or not a protobuf ModelProto): {why}")
            }
            OnnxError::MissingGraph => write!(f, "not an ONNX model: the ModelProto has no graph"),
            OnnxError::BadDims { what, name, dims } => {
                write!(f, "ONNX {what} '{name}' has dims {dims:?}: negative or their product overflows")
            }
            OnnxError::UnknownDataType { what, name, data_type } => {
                write!(f, "ONNX {what} '{name}' has unknown data_type {data_type}")
            }
            OnnxError::DataLengthMismatch { what, name, field, expected, actual } => {
                let unit = if *field == "raw_data" { "bytes" } else { "elements" };
                write!(f, "ONNX {what} '{name}' {field} has {actual} {unit} but its dims need {expected}")
            }
            OnnxError::ConstantWithoutValue { name, graph } => write!(
                f,
                "ONNX Constant '{name}' ({graph}) has no value: none of value, value_float(s), value_int(s), value_string(s), sparse_value is set"
            ),
            OnnxError::SubgraphDecode { path, why } => write!(f, "ONNX subgraph {path} is not a valid GraphProto: {why}"),
            OnnxError::SubgraphsTooDeep { path, limit } => {
                write!(f, "ONNX subgraph {path} is nested more than {limit} deep (quantscope reads {limit} levels)")
            }
        }
    }
}

/// True when `bytes` starts like an ONNX ModelProto (see the module docs).
pub fn sniff(bytes: &[u8]) -> bool {
    match bytes {
        // ir_version, then a length-delimited field 2,3,4,6,7,8 or 14, or model_version (5, varint).
        [0x08, 1..=0x7f, tag, ..] => matches!(tag, 0x12 | 0x1a | 0x22 | 0x28 | 0x32 | 0x3a | 0x42 | 0x72),
        _ => false,
    }
}

/// The NumPy-style name of an element type, for graph input/output summaries.
fn elem_name(id: i32) -> String {
    match DType::from_onnx(id) {
        Some(dtype) => dtype.name().to_string(),
        None if DType::onnx_defined(id) => DType::onnx_name(id).to_ascii_lowercase(),
        None => format!("type {id}"),
    }
}

/// `float32[N, 3, 224, 224]` for a graph input or output.
fn value_info_text(v: &ValueInfoProto) -> String {
    let Some(t) = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()) else {
        return "(not a tensor)".to_string();
    };
    let elem = elem_name(t.elem_type.unwrap_or(0));
    let Some(shape) = &t.shape else { return format!("{elem} (unknown shape)") };
    let dims: Vec<String> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(DimensionValue::DimValue(n)) => n.to_string(),
            Some(DimensionValue::DimParam(p)) => p.clone(),
            None => "?".to_string(),
        })
        .collect();
    format!("{elem}[{}]", dims.join(", "))
}

/// Parses a whole `.onnx` file.
pub fn parse(bytes: &[u8]) -> Result<LoadedFile, Error> {
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
    let graph = model.graph.as_ref().ok_or(OnnxError::MissingGraph)?;

    let mut metadata = Vec::new();
    let producer = [model.producer_name.as_deref(), model.producer_version.as_deref()];
    let producer: Vec<&str> = producer.into_iter().flatten().filter(|s| !s.is_empty()).collect();
    if !producer.is_empty() {
        metadata.push(("producer".to_string(), producer.join(" ")));
    }
    if let Some(v) = model.ir_version {
        metadata.push(("ir_version".to_string(), v.to_string()));
    }
    let opsets: Vec<String> = model
        .opset_import
        .iter()
        .map(|o| {
            let domain = o.domain.as_deref().filter(|d| !d.is_empty()).unwrap_or("ai.onnx");
            format!("{domain} {}", o.version.unwrap_or(0))
        })
        .collect();
    metadata.push(("opsets".to_string(), opsets.join(", ")));
    if let Some(name) = graph.name.as_deref().filter(|n| !n.is_empty()) {
        metadata.push(("graph".to_string(), name.to_string()));
    }
    for p in &model.metadata_props {
        metadata.push((p.key.clone().unwrap_or_default(), p.value.clone().unwrap_or_default()));
    }
    // Before IR 4 initializers were also listed as graph inputs; show only the real inputs.
    let initializer_names: std::collections::HashSet<&str> = graph.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    for v in graph.input.iter().filter(|v| !initializer_names.contains(v.name.as_deref().unwrap_or(""))) {
        metadata.push((format!("input {}", v.name.as_deref().unwrap_or("")), value_info_text(v)));
    }
    for v in &graph.output {
        metadata.push((format!("output {}", v.name.as_deref().unwrap_or("")), value_info_text(v)));
    }
    metadata.push(("nodes".to_string(), graph.node.len().to_string()));
    metadata.push(("ops".to_string(), op_counts(&graph.node)));
    metadata.push(("initializers".to_string(), graph.initializer.len().to_string()));

    let scopes = weights::collect_graphs(graph)?;
    let found = weights::find(&scopes)?;
    let readers = weights::consumers(&scopes);
    let constants = found.iter().filter(|w| w.what == "Constant").count();
    if constants > 0 {
        metadata.push(("Constant weights".to_string(), constants.to_string()));
    }
    if scopes.len() > 1 {
        let paths: Vec<&str> = scopes[1..].iter().map(|s| s.path.as_str()).collect();
        metadata.push(("subgraphs".to_string(), format!("{}: {}", paths.len(), paths.join("; "))));
    }

    let mut tensors = Vec::new();
    let mut infos = Vec::new();
    let mut taken = std::collections::HashSet::new();
    let mut decoded_total = 0u64;
    for w in &found {
        let (what, name) = (w.what, w.onnx_name.clone());
        let t = match &w.value {
            weights::Value::Tensor(t) => t,
            weights::Value::Unsupported(why) => {
                metadata.push((format!("unsupported {what} {name}"), why.clone()));
                continue;
            }
        };
        let dims: Option<Vec<u64>> = t.dims.iter().map(|&d| u64::try_from(d).ok()).collect();
        let dims = dims.filter(|d| d.iter().try_fold(1u64, |a, &x| a.checked_mul(x)).is_some());
        let Some(dims) = dims else {
            return Err(OnnxError::BadDims { what, name, dims: t.dims.clone() }.into());
        };
        let type_id = t.data_type.unwrap_or(0);
        if !DType::onnx_defined(type_id) {
            return Err(OnnxError::UnknownDataType { what, name, data_type: type_id }.into());
        }
        if t.data_location == Some(1) || !t.external_data.is_empty() {
            let location = t.external_data.iter().find(|e| e.key.as_deref() == Some("location"));
            let location = location.and_then(|e| e.value.as_deref()).unwrap_or("?");
            metadata.push((format!("external {what} {name}"), format!("external data is not supported (stored in '{location}')")));
            continue;
        }
        let Some(dtype) = DType::from_onnx(type_id) else {
            metadata.push((format!("unsupported {what} {name}"), format!("data type {} ({type_id})", DType::onnx_name(type_id))));
            continue;
        };
        let numpy = dtype.name();
        let total = checked_element_count(&dims).and_then(|n| decoded_total.checked_add(n)).filter(|&n| n <= MAX_ELEMENTS);
        let Some(total) = total else {
            metadata.push((
                format!("skipped {what} {name}"),
                format!("{dims:?} {numpy}: more than the {MAX_ELEMENTS} elements quantscope decodes per file"),
            ));
            continue;
        };
        decoded_total = total;
        let decoded = match tensor::decode(t) {
            Ok(d) => d,
            Err(TensorError::Length { field, actual, expected }) => {
                return Err(OnnxError::DataLengthMismatch { what, name, field, expected, actual }.into())
            }
            // Type, location, dims and size were checked above.
            Err(e) => unreachable!("{what} {name}: {e} after the checks"),
        };
        let values = match decoded.data {
            Data::F32(v) => v,
            other => other.to_f32(dtype),
        };
        let info = weights::describe(w, &scopes, &readers);
        // Subgraphs may reuse a name; the tensor list and exports want one tensor per name.
        let unique = if taken.contains(&name) { format!("{name} ({})", info.graph) } else { name };
        taken.insert(unique.clone());
        tensors.push(Tensor::new(unique, decoded.shape, numpy, values));
        infos.push(info);
    }
    Ok(LoadedFile { format: Format::Onnx, metadata, tensors, weights: infos })
}

/// `Gemm ×3, Relu ×2`: op types by count (most first, then by name), with their domain when
/// it is not the default one.
fn op_counts(nodes: &[NodeProto]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for n in nodes {
        let op = weights::op_name(n);
        match counts.iter_mut().find(|(o, _)| *o == op) {
            Some((_, c)) => *c += 1,
            None => counts.push((op, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.iter().map(|(op, c)| format!("{op} ×{c}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, dims: &[i64], data_type: i32) -> TensorProto {
        TensorProto { name: Some(name.into()), dims: dims.to_vec(), data_type: Some(data_type), ..Default::default() }
    }

    fn model(initializer: Vec<TensorProto>, node: Vec<NodeProto>) -> Vec<u8> {
        ModelProto {
            ir_version: Some(9),
            producer_name: Some("test".into()),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
            graph: Some(GraphProto { name: Some("g".into()), node, initializer, ..Default::default() }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn err(bytes: &[u8]) -> OnnxError {
        match parse(bytes) {
            Err(Error::Onnx(e)) => e,
            other => panic!("expected an ONNX error, got {other:?}"),
        }
    }

    fn node(op: &str) -> NodeProto {
        NodeProto { op_type: Some(op.into()), ..Default::default() }
    }

    #[test]
    fn reads_raw_and_typed_initializers() {
        let mut a = tensor("a", &[2, 2], 1);
        a.raw_data = Some([1f32, 2., 3., 4.].iter().flat_map(|x| x.to_le_bytes()).collect());
        let mut b = tensor("b", &[3], 10);
        b.int32_data = vec![0x3c00, 0xc000, 0x3800];
        let mut c = tensor("c", &[2], 7);
        c.int64_data = vec![-5, 1 << 40];
        let mut s = tensor("s", &[], 11);
        s.double_data = vec![0.25];
        let bytes = model(vec![a, b, c, s], vec![node("Relu"), node("Gemm"), node("Gemm")]);
        assert!(sniff(&bytes));
        let f = parse(&bytes).unwrap();
        assert_eq!(f.tensors[0].data, vec![1., 2., 3., 4.]);
        assert_eq!(f.tensors[0].shape, vec![2, 2]);
        assert_eq!((f.tensors[1].dtype.as_str(), f.tensors[1].data.clone()), ("float16", vec![1., -2., 0.5]));
        assert_eq!(f.tensors[2].data, vec![-5., (1u64 << 40) as f32]);
        assert_eq!((f.tensors[3].shape.clone(), f.tensors[3].data.clone()), (vec![], vec![0.25]));
        let m: std::collections::HashMap<_, _> = f.metadata.into_iter().collect();
        assert_eq!(m["ops"], "Gemm ×2, Relu ×1");
        assert_eq!(m["opsets"], "ai.onnx 17");
        assert_eq!(m["producer"], "test");
    }

    #[test]
    fn external_and_unsupported_initializers_are_listed() {
        let mut e = tensor("e", &[4], 1);
        e.data_location = Some(1);
        e.external_data = vec![StringStringEntryProto { key: Some("location".into()), value: Some("w.bin".into()) }];
        let mut s = tensor("s", &[1], 8);
        s.raw_data = Some(vec![]);
        let f = parse(&model(vec![e, s], vec![])).unwrap();
        assert!(f.tensors.is_empty());
        let m: std::collections::HashMap<_, _> = f.metadata.into_iter().collect();
        assert_eq!(m["external initializer e"], "external data is not supported (stored in 'w.bin')");
        assert_eq!(m["unsupported initializer s"], "data type STRING (8)");
    }

    #[test]
    fn narrow_initializers_are_widened_exactly() {
        let raw = |name: &str, dims: &[i64], data_type: i32, bytes: &[u8]| TensorProto {
            raw_data: Some(bytes.to_vec()),
            ..tensor(name, dims, data_type)
        };
        let f = parse(&model(
            vec![
                raw("i4", &[3], 22, &[0x8f, 0x01]),
                raw("u4", &[2], 21, &[0xf3]),
                raw("f8", &[2], 17, &[0x38, 0xb8]),
                raw("f4", &[2], 23, &[0xf2]),
                raw("u2", &[3], 25, &[0b10_00_11]),
            ],
            vec![],
        ))
        .unwrap();
        let got: Vec<(&str, &str, Vec<f32>)> = f.tensors.iter().map(|t| (t.name.as_str(), t.dtype.as_str(), t.data.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("i4", "int4", vec![-1.0, -8.0, 1.0]),
                ("u4", "uint4", vec![3.0, 15.0]),
                ("f8", "float8_e4m3fn", vec![1.0, -1.0]),
                ("f4", "float4_e2m1", vec![1.0, -6.0]),
                ("u2", "uint2", vec![3.0, 0.0, 2.0]),
            ]
        );
    }

    #[test]
    fn every_error_variant_is_reachable() {
        assert!(matches!(err(b"\x08\x09\x3a\xff\xff"), OnnxError::Decode(_)));
        assert_eq!(err(&ModelProto { ir_version: Some(9), ..Default::default() }.encode_to_vec()), OnnxError::MissingGraph);
        assert!(matches!(err(&model(vec![tensor("t", &[-1], 1)], vec![])), OnnxError::BadDims { .. }));
        assert!(matches!(err(&model(vec![tensor("t", &[1 << 40, 1 << 40], 1)], vec![])), OnnxError::BadDims { .. }));
        assert_eq!(
            err(&model(vec![tensor("t", &[1], 99)], vec![])),
            OnnxError::UnknownDataType { what: "initializer", name: "t".into(), data_type: 99 }
        );
        let mut t = tensor("t", &[3], 1);
        t.raw_data = Some(vec![0; 8]);
        assert_eq!(
            err(&model(vec![t], vec![])),
            OnnxError::DataLengthMismatch { what: "initializer", name: "t".into(), field: "raw_data", expected: 12, actual: 8 }
        );
        let mut t = tensor("t", &[3], 6);
        t.int32_data = vec![1];
        assert_eq!(
            err(&model(vec![t], vec![])),
            OnnxError::DataLengthMismatch { what: "initializer", name: "t".into(), field: "int32_data", expected: 3, actual: 1 }
        );
    }

    /// A node holding `graph` as its `body` attribute.
    fn holder(graph: GraphProto) -> NodeProto {
        let body = AttributeProto { name: Some("body".into()), r#type: Some(5), g: Some(graph.encode_to_vec()), ..Default::default() };
        NodeProto { op_type: Some("Loop".into()), name: Some("l".into()), attribute: vec![body], ..Default::default() }
    }

    #[test]
    fn subgraphs_nested_too_deep_are_refused() {
        let nest = |levels: usize| {
            let mut g = GraphProto::default();
            for _ in 0..levels {
                g = GraphProto { node: vec![holder(g)], ..Default::default() };
            }
            model(vec![], g.node)
        };
        assert!(parse(&nest(weights::MAX_SUBGRAPH_DEPTH)).is_ok());
        let e = err(&nest(weights::MAX_SUBGRAPH_DEPTH + 1));
        assert!(matches!(e, OnnxError::SubgraphsTooDeep { limit: weights::MAX_SUBGRAPH_DEPTH, .. }), "{e:?}");
        assert!(e.to_string().contains("Loop 'l' body / Loop 'l' body"), "{e}");
    }

    #[test]
    fn a_name_reused_in_a_subgraph_gets_its_graph_and_its_own_readers() {
        let mut w = tensor("w", &[1], 1);
        w.float_data = vec![2.0];
        let mut inner = w.clone();
        inner.float_data = vec![3.0];
        let reader = |op: &str| NodeProto { op_type: Some(op.into()), input: vec!["x".into(), "w".into()], ..Default::default() };
        let body = GraphProto { initializer: vec![inner], node: vec![reader("Mul")], ..Default::default() };
        let mut sparse = SparseTensorProto { dims: vec![4], ..Default::default() };
        sparse.values = Some(tensor("sp", &[1], 1));
        let bytes = ModelProto {
            ir_version: Some(9),
            graph: Some(GraphProto {
                initializer: vec![w],
                sparse_initializer: vec![sparse],
                node: vec![reader("Add"), holder(body)],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let f = parse(&bytes).unwrap();
        let got: Vec<(&str, f32, &str, &str)> =
            f.tensors.iter().zip(&f.weights).map(|(t, w)| (t.name.as_str(), t.data[0], w.label.as_str(), w.graph.as_str())).collect();
        assert_eq!(got, vec![("w", 2.0, "Add '#0' B", "main graph"), ("w (Loop 'l' body)", 3.0, "Mul '#0' B", "Loop 'l' body")]);
        let m: std::collections::HashMap<_, _> = f.metadata.into_iter().collect();
        assert_eq!(m["unsupported initializer sp"], "sparse tensor of dims [4]: sparse tensors are not supported");
    }

    #[test]
    fn truncation_anywhere_is_an_error_not_a_panic() {
        let mut a = tensor("a", &[2], 1);
        a.float_data = vec![1., 2.];
        let bytes = model(vec![a], vec![node("Relu")]);
        assert!(parse(&bytes).is_ok());
        for cut in 0..bytes.len() {
            // Some prefixes are themselves valid protobufs (a message may end between fields);
            // what matters is that none panics.
            let _ = parse(&bytes[..cut]);
        }
        assert!(parse(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn sniff_is_cheap_and_specific() {
        assert!(!sniff(b"GGUF"));
        assert!(!sniff(b"\x93NUMPY"));
        assert!(!sniff(b"\x08\x00\x12"));
        assert!(sniff(b"\x08\x07\x12\x07pytorch"));
    }
}
