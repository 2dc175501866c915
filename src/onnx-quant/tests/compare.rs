//! What the ONNX Runtime comparisons share: a node and an initializer as they are compared with
//! the reference's file, and the static options a fixture case names. Native only, as the
//! comparisons are (they read their fixtures from disk).
#![cfg(not(target_arch = "wasm32"))]

use prost::Message;
use quantscope_formats::onnx::proto::NodeProto;
use quantscope_formats::onnx::splice::ModelEdit;
use quantscope_onnx_quant::static_qdq::StaticOptions;
use quantscope_onnx_quant::weights::QType;

/// A node as the comparisons print it: op, name, inputs, outputs, attributes, domain.
pub fn describe(n: &NodeProto) -> String {
    format!("{:?} {:?} {:?} -> {:?} {:?} {:?}", n.op_type, n.name, n.input, n.output, n.attribute, n.domain)
}

/// Every initializer's stored bytes (raw data, or the whole message when it has none).
pub fn initializer_fields(bytes: &[u8]) -> Vec<Vec<u8>> {
    ModelEdit::open(bytes)
        .unwrap()
        .graph
        .initializers
        .iter()
        .map(|t| t.raw().map_or_else(|| t.message.encode_to_vec(), <[u8]>::to_vec))
        .collect()
}

/// `quantize_static`'s options from a fixture case's `activation_type`, `per_channel` and
/// `force_quantize_no_input_check` (absent: false).
pub fn static_options(o: &serde_json::Value) -> StaticOptions {
    StaticOptions {
        activation_type: if o["activation_type"] == "QInt8" { QType::Int8 } else { QType::Uint8 },
        per_channel: o["per_channel"].as_bool().unwrap(),
        force_quantize_no_input_check: o["force_quantize_no_input_check"].as_bool().unwrap_or(false),
    }
}
