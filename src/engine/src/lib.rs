//! A small ONNX inference engine: FP32 and real integer (int8/int4 weights, u8 activations,
//! i32 accumulation) execution of the ops small models use, with values in their own dtypes.
//!
//! * [`Model::from_onnx`] loads a model: unsupported ops and attributes, missing inputs and
//!   cycles are errors at load time ([`crate::error::EngineError`] names the node and op);
//!   constant subgraphs are folded and constant weights prepacked.
//! * [`Model::run`] runs it on named [`Value`]s (typed tensors), checking them against the
//!   declared inputs; shapes are checked op by op with errors naming the node.
//! * [`Model::quantize`] makes a quantized variant ([`QuantizeConfig`]): int8/int4 integer
//!   execution with dynamic or calibrated activations, or weight-only round trips through any
//!   scheme of [`quantscope_core::schemes`].
//!
//! Ops live in [`ops`], one file per family ([`op`] is what they share); [`ops::supported_ops`]
//! lists them. Matrix products go through [`quantscope_gemm`]. The conformance suite
//! (src/engine/tests/engine_conformance.rs) runs ONNX's own node tests for these ops;
//! src/engine/tests/engine_quantize.rs runs ONNX Runtime's quantized models and integer ops
//! against ORT's outputs.

pub mod attr;
pub mod builder;
mod error;
mod fuse;
mod graph;
pub mod importance;
pub mod mnist;
mod node;
pub mod op;
pub mod ops;
mod quantize;
mod quantize_config;
pub mod tensor_proto;
pub mod value;

pub use error::{EngineError, MissingOp};
pub use graph::{Dim, IoInfo, Model, NodeInfo, NodeTime};
pub use quantize::{QuantizeConfig, QuantizeKind, STATIC_PERCENTILE};
pub use value::{DType, Data, Value};

// Unit tests marked for wasm-bindgen-test run in headless Chromium, not Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
