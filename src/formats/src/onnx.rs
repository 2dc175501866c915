//! ONNX model reader: the initializers become tensors, the graph becomes a summary.
//!
//! The protobuf is decoded with `prost` into hand-written messages covering only what
//! quantscope shows (no protoc, no build script). Field numbers are those of `onnx/onnx.proto`
//! (ONNX 1.17+, `syntax = "proto2"`, so scalars are `Option`s); fields not declared here
//! (attribute subgraphs, doc strings, training info, functions, sparse initializers) are
//! skipped by prost as unknown fields. Node attributes are declared for the model engine
//! (`quantscope-engine`); this reader does not use them.
//!
//! Initializers decoded to f32: FLOAT, FLOAT16, BFLOAT16, DOUBLE, INT8, UINT8, INT16, UINT16,
//! INT32, UINT32, INT64, UINT64 and BOOL, from `raw_data` (little-endian, as the spec fixes it)
//! or from the typed field the spec assigns to the type (`float_data`, `int32_data` — which
//! holds FLOAT16/BFLOAT16 as bit patterns —, `int64_data`, `double_data`, `uint64_data`).
//! `Tensor::dtype` is the NumPy name (`float32`, `float16`, `bfloat16`, `int8`, ...).
//!
//! Like the GGUF reader, a model loads even when some initializers cannot be decoded; these are
//! named in the metadata instead:
//! * external data (`data_location = EXTERNAL`): `external initializer <name>` →
//!   `external data is not supported (stored in '<location>')` — a browser has only the one file;
//! * a data type ONNX defines but quantscope does not decode (STRING, COMPLEX*, FLOAT8*, INT4,
//!   UINT4, FLOAT4E2M1, ...): `unsupported initializer <name>` → `data type <NAME> (<n>)`;
//! * more than [`MAX_ELEMENTS`] elements (alone or in total): `skipped initializer <name>`.
//!
//! Errors: bytes that are not a protobuf ModelProto (including truncation), a model without a
//! graph, negative or overflowing dims, a data type id ONNX does not define, and data whose
//! length disagrees with the dims.
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
use half::{bf16, f16};
use prost::Message;
use quantscope_core::tensor::{checked_element_count, Tensor, MAX_ELEMENTS};
use std::fmt;

/// The subset of `onnx.proto` quantscope reads. Field numbers cite onnx.proto.
pub mod proto {
    /// `message ModelProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, optional, tag = "1")]
        pub ir_version: Option<i64>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(string, optional, tag = "2")]
        pub producer_name: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub producer_version: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub domain: Option<String>,
        #[prost(int64, optional, tag = "5")]
        pub model_version: Option<i64>,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "14")]
        pub metadata_props: Vec<StringStringEntryProto>,
    }

    /// `message OperatorSetIdProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, optional, tag = "1")]
        pub domain: Option<String>,
        #[prost(int64, optional, tag = "2")]
        pub version: Option<i64>,
    }

    /// `message StringStringEntryProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntryProto {
        #[prost(string, optional, tag = "1")]
        pub key: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub value: Option<String>,
    }

    /// `message GraphProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    /// `message NodeProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, optional, tag = "3")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub op_type: Option<String>,
        #[prost(string, optional, tag = "7")]
        pub domain: Option<String>,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    /// `message AttributeProto`, without its graph, sparse-tensor and type-proto arms (the
    /// engine runs no subgraphs; those fields are skipped as unknown).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        /// `AttributeType`: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 5 GRAPH, 6 FLOATS, 7 INTS,
        /// 8 STRINGS, 9 TENSORS, 10 GRAPHS, 11 SPARSE_TENSOR, 12 SPARSE_TENSORS, 13 TYPE_PROTO,
        /// 14 TYPE_PROTOS.
        #[prost(int32, optional, tag = "20")]
        pub r#type: Option<i32>,
        /// Set when the attribute refers to an attribute of an enclosing function.
        #[prost(string, optional, tag = "21")]
        pub ref_attr_name: Option<String>,
        #[prost(float, optional, tag = "2")]
        pub f: Option<f32>,
        #[prost(int64, optional, tag = "3")]
        pub i: Option<i64>,
        #[prost(bytes = "vec", optional, tag = "4")]
        pub s: Option<Vec<u8>>,
        #[prost(message, optional, tag = "5")]
        pub t: Option<TensorProto>,
        #[prost(float, repeated, packed = "false", tag = "7")]
        pub floats: Vec<f32>,
        #[prost(int64, repeated, packed = "false", tag = "8")]
        pub ints: Vec<i64>,
        #[prost(bytes = "vec", repeated, tag = "9")]
        pub strings: Vec<Vec<u8>>,
        #[prost(message, repeated, tag = "10")]
        pub tensors: Vec<TensorProto>,
    }

    /// `message TensorProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, optional, tag = "2")]
        pub data_type: Option<i32>,
        #[prost(float, repeated, tag = "4")]
        pub float_data: Vec<f32>,
        #[prost(int32, repeated, tag = "5")]
        pub int32_data: Vec<i32>,
        #[prost(int64, repeated, tag = "7")]
        pub int64_data: Vec<i64>,
        #[prost(string, optional, tag = "8")]
        pub name: Option<String>,
        #[prost(bytes = "vec", optional, tag = "9")]
        pub raw_data: Option<Vec<u8>>,
        #[prost(double, repeated, tag = "10")]
        pub double_data: Vec<f64>,
        #[prost(uint64, repeated, tag = "11")]
        pub uint64_data: Vec<u64>,
        #[prost(message, repeated, tag = "13")]
        pub external_data: Vec<StringStringEntryProto>,
        /// `DataLocation`: 0 DEFAULT, 1 EXTERNAL.
        #[prost(int32, optional, tag = "14")]
        pub data_location: Option<i32>,
    }

    /// `message ValueInfoProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
    }

    /// `message TypeProto`: only the `tensor_type` (1) arm of its `value` oneof.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TypeProtoTensor>,
    }

    /// `message TypeProto.Tensor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProtoTensor {
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    /// `message TensorShapeProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    /// `message TensorShapeProto.Dimension`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(oneof = "DimensionValue", tags = "1, 2")]
        pub value: Option<DimensionValue>,
    }

    /// The `value` oneof of `Dimension`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum DimensionValue {
        #[prost(int64, tag = "1")]
        DimValue(i64),
        #[prost(string, tag = "2")]
        DimParam(String),
    }
}

use proto::*;

/// Errors reading ONNX models (see `formats::onnx`). Each variant names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnnxError {
    /// The bytes are not a protobuf ModelProto (or are truncated); prost's description.
    Decode(String),
    /// A ModelProto without a graph.
    MissingGraph,
    /// An initializer with a negative dim, or dims whose product overflows 64 bits.
    BadDims { name: String, dims: Vec<i64> },
    /// An initializer `data_type` that ONNX does not define.
    UnknownDataType { name: String, data_type: i32 },
    /// An initializer whose data (bytes of `raw_data`, else elements of the typed field) disagrees with its dims.
    DataLengthMismatch { name: String, field: &'static str, expected: u64, actual: u64 },
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxError::Decode(why) => {
                write!(f, "not a valid ONNX model (truncated, or not a protobuf ModelProto): {why}")
            }
            OnnxError::MissingGraph => write!(f, "not an ONNX model: the ModelProto has no graph"),
            OnnxError::BadDims { name, dims } => {
                write!(f, "ONNX initializer '{name}' has dims {dims:?}: negative or their product overflows")
            }
            OnnxError::UnknownDataType { name, data_type } => {
                write!(f, "ONNX initializer '{name}' has unknown data_type {data_type}")
            }
            OnnxError::DataLengthMismatch { name, field, expected, actual } => {
                let unit = if *field == "raw_data" { "bytes" } else { "elements" };
                write!(f, "ONNX initializer '{name}' {field} has {actual} {unit} but its dims need {expected}")
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

/// `TensorProto.DataType`: its name, and the NumPy dtype name and element size when decoded.
fn data_type(id: i32) -> Option<(&'static str, Option<(&'static str, usize)>)> {
    Some(match id {
        1 => ("FLOAT", Some(("float32", 4))),
        2 => ("UINT8", Some(("uint8", 1))),
        3 => ("INT8", Some(("int8", 1))),
        4 => ("UINT16", Some(("uint16", 2))),
        5 => ("INT16", Some(("int16", 2))),
        6 => ("INT32", Some(("int32", 4))),
        7 => ("INT64", Some(("int64", 8))),
        8 => ("STRING", None),
        9 => ("BOOL", Some(("bool", 1))),
        10 => ("FLOAT16", Some(("float16", 2))),
        11 => ("DOUBLE", Some(("float64", 8))),
        12 => ("UINT32", Some(("uint32", 4))),
        13 => ("UINT64", Some(("uint64", 8))),
        14 => ("COMPLEX64", None),
        15 => ("COMPLEX128", None),
        16 => ("BFLOAT16", Some(("bfloat16", 2))),
        17 => ("FLOAT8E4M3FN", None),
        18 => ("FLOAT8E4M3FNUZ", None),
        19 => ("FLOAT8E5M2", None),
        20 => ("FLOAT8E5M2FNUZ", None),
        21 => ("UINT4", None),
        22 => ("INT4", None),
        23 => ("FLOAT4E2M1", None),
        24 => ("FLOAT8E8M0", None),
        25 => ("UINT2", None),
        26 => ("INT2", None),
        _ => return None,
    })
}

/// The NumPy-style name of an element type, for graph input/output summaries.
fn elem_name(id: i32) -> String {
    match data_type(id) {
        Some((_, Some((numpy, _)))) => numpy.to_string(),
        Some((name, None)) => name.to_ascii_lowercase(),
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

    let mut tensors = Vec::new();
    let mut decoded_total = 0u64;
    for (i, t) in graph.initializer.iter().enumerate() {
        let name = t.name.clone().unwrap_or_else(|| format!("initializer #{i}"));
        let dims: Option<Vec<u64>> = t.dims.iter().map(|&d| u64::try_from(d).ok()).collect();
        let dims = dims.filter(|d| d.iter().try_fold(1u64, |a, &x| a.checked_mul(x)).is_some());
        let Some(dims) = dims else {
            return Err(OnnxError::BadDims { name, dims: t.dims.clone() }.into());
        };
        let type_id = t.data_type.unwrap_or(0);
        let Some((type_name, decoded)) = data_type(type_id) else {
            return Err(OnnxError::UnknownDataType { name, data_type: type_id }.into());
        };
        if t.data_location == Some(1) || !t.external_data.is_empty() {
            let location = t.external_data.iter().find(|e| e.key.as_deref() == Some("location"));
            let location = location.and_then(|e| e.value.as_deref()).unwrap_or("?");
            metadata.push((format!("external initializer {name}"), format!("external data is not supported (stored in '{location}')")));
            continue;
        }
        let Some((numpy, size)) = decoded else {
            metadata.push((format!("unsupported initializer {name}"), format!("data type {type_name} ({type_id})")));
            continue;
        };
        let total = checked_element_count(&dims).and_then(|n| decoded_total.checked_add(n)).filter(|&n| n <= MAX_ELEMENTS);
        let Some(total) = total else {
            metadata.push((
                format!("skipped initializer {name}"),
                format!("{dims:?} {numpy}: more than the {MAX_ELEMENTS} elements quantscope decodes per file"),
            ));
            continue;
        };
        let count = total - decoded_total;
        decoded_total = total;
        let values = decode(t, type_id, size, count).map_err(|(field, actual)| OnnxError::DataLengthMismatch {
            name: name.clone(),
            field,
            expected: if field == "raw_data" { count * size as u64 } else { count },
            actual,
        })?;
        let shape = dims.iter().map(|&d| d as usize).collect();
        tensors.push(Tensor::new(name, shape, numpy, values));
    }
    Ok(LoadedFile { format: Format::Onnx, metadata, tensors })
}

/// `Gemm ×3, Relu ×2`: op types by count (most first, then by name), with their domain when
/// it is not the default one.
fn op_counts(nodes: &[NodeProto]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for n in nodes {
        let op = n.op_type.as_deref().unwrap_or("?");
        let op = match n.domain.as_deref() {
            Some(d) if !d.is_empty() && d != "ai.onnx" => format!("{d}.{op}"),
            _ => op.to_string(),
        };
        match counts.iter_mut().find(|(o, _)| *o == op) {
            Some((_, c)) => *c += 1,
            None => counts.push((op, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.iter().map(|(op, c)| format!("{op} ×{c}")).collect::<Vec<_>>().join(", ")
}

/// Decodes an initializer's `count` values of type `type_id` (element size `size`) from
/// `raw_data` or the typed field. On a length mismatch, returns the field and its length
/// (bytes for `raw_data`, elements otherwise).
fn decode(t: &TensorProto, type_id: i32, size: usize, count: u64) -> Result<Vec<f32>, (&'static str, u64)> {
    fn each<const N: usize>(raw: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
        raw.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact yields N bytes"))).collect()
    }
    if let Some(raw) = &t.raw_data {
        if raw.len() as u64 != count * size as u64 {
            return Err(("raw_data", raw.len() as u64));
        }
        return Ok(match type_id {
            1 => each(raw, f32::from_le_bytes),
            2 => raw.iter().map(|&b| b as f32).collect(),
            3 => raw.iter().map(|&b| b as i8 as f32).collect(),
            4 => each(raw, |b| u16::from_le_bytes(b) as f32),
            5 => each(raw, |b| i16::from_le_bytes(b) as f32),
            6 => each(raw, |b| i32::from_le_bytes(b) as f32),
            7 => each(raw, |b| i64::from_le_bytes(b) as f32),
            9 => raw.iter().map(|&b| (b != 0) as u8 as f32).collect(),
            10 => each(raw, |b| f16::from_le_bytes(b).to_f32()),
            11 => each(raw, |b| f64::from_le_bytes(b) as f32),
            12 => each(raw, |b| u32::from_le_bytes(b) as f32),
            13 => each(raw, |b| u64::from_le_bytes(b) as f32),
            16 => each(raw, |b| bf16::from_le_bytes(b).to_f32()),
            _ => unreachable!("only decodable types reach decode"),
        });
    }
    fn typed<T: Copy>(field: &'static str, v: &[T], count: u64, f: impl Fn(T) -> f32) -> Result<Vec<f32>, (&'static str, u64)> {
        if v.len() as u64 != count {
            return Err((field, v.len() as u64));
        }
        Ok(v.iter().map(|&x| f(x)).collect())
    }
    match type_id {
        1 => typed("float_data", &t.float_data, count, |x| x),
        11 => typed("double_data", &t.double_data, count, |x| x as f32),
        7 => typed("int64_data", &t.int64_data, count, |x| x as f32),
        12 | 13 => typed("uint64_data", &t.uint64_data, count, |x| x as f32),
        10 => typed("int32_data", &t.int32_data, count, |x| f16::from_bits(x as u16).to_f32()),
        16 => typed("int32_data", &t.int32_data, count, |x| bf16::from_bits(x as u16).to_f32()),
        9 => typed("int32_data", &t.int32_data, count, |x| (x != 0) as u8 as f32),
        _ => typed("int32_data", &t.int32_data, count, |x| x as f32),
    }
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
    fn every_error_variant_is_reachable() {
        assert!(matches!(err(b"\x08\x09\x3a\xff\xff"), OnnxError::Decode(_)));
        assert_eq!(err(&ModelProto { ir_version: Some(9), ..Default::default() }.encode_to_vec()), OnnxError::MissingGraph);
        assert!(matches!(err(&model(vec![tensor("t", &[-1], 1)], vec![])), OnnxError::BadDims { .. }));
        assert!(matches!(err(&model(vec![tensor("t", &[1 << 40, 1 << 40], 1)], vec![])), OnnxError::BadDims { .. }));
        assert_eq!(err(&model(vec![tensor("t", &[1], 99)], vec![])), OnnxError::UnknownDataType { name: "t".into(), data_type: 99 });
        let mut t = tensor("t", &[3], 1);
        t.raw_data = Some(vec![0; 8]);
        assert_eq!(
            err(&model(vec![t], vec![])),
            OnnxError::DataLengthMismatch { name: "t".into(), field: "raw_data", expected: 12, actual: 8 }
        );
        let mut t = tensor("t", &[3], 6);
        t.int32_data = vec![1];
        assert_eq!(
            err(&model(vec![t], vec![])),
            OnnxError::DataLengthMismatch { name: "t".into(), field: "int32_data", expected: 3, actual: 1 }
        );
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
