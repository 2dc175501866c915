//! Quantized copies of an ONNX model, written as files ONNX Runtime runs.
//!
//! [`dynamic::quantize_dynamic`] is ONNX Runtime's `quantize_dynamic` (onnxruntime 1.32,
//! `onnxruntime/quantization/quantize.py` with `onnx_quantizer.py`, `operators/matmul.py` and
//! `operators/conv.py`) ported for the main graph: every MatMul with a constant B becomes
//! DynamicQuantizeLinear → MatMulInteger → Cast → Mul, every Conv becomes ConvInteger the same
//! way, and each Gemm that can be is first split into MatMul + Add as ONNX Runtime splits it.
//! Weight initializers, scales and zero points are the ones ONNX Runtime writes, byte for byte
//! (same names, same TensorProto fields); the nodes are the same, in the same (topologically
//! sorted) order. The model is rewritten at the protobuf wire level
//! (`quantscope_formats::onnx::splice`), so everything quantscope does not touch is kept as it
//! was.
//!
//! [`static_qdq::quantize_static`] is ONNX Runtime's `quantize_static(quant_format=QDQ)` for
//! calibrated MinMax ranges (`qdq_quantizer.py`): QuantizeLinear/DequantizeLinear around every
//! activation, int8 weights per tensor or per channel, int32 biases, byte for byte ONNX Runtime's
//! for the same ranges; [`static_qdq::calibration_model`] is its augmented calibration model.
//! [`calibrate`] gives those ranges as ONNX Runtime's calibraters do: MinMax, Percentile,
//! Entropy and Distribution (`calibrate.py`).
//!
//! [`nbits::quantize_nbits`] is ONNX Runtime's weight-only `MatMulNBitsQuantizer` (RTN,
//! `matmul_nbits_quantizer.py`): 4-bit blocked MatMul weights as com.microsoft MatMulNBits or as
//! blocked int4 DequantizeLinear, packed by [`blockwise`] as MLAS packs them, byte for byte;
//! [`nbits::NBitsWork`] cuts it into one [`work::WeightJob`] per weight, so the page's pool of
//! workers writes the same file.
//!
//! [`float16::convert_to_half`] is onnxconverter-common's `convert_float_to_float16(model,
//! keep_io_types=True)` ported for the main graph, to FP16 or BF16 (see that module for where
//! it differs from the reference, each time to write a file ONNX Runtime loads).
//!
//! [`mlp::mlp_onnx`] writes an MLP trained with fake quantization (the Train view's runs) as
//! the QDQ graph of its training forward, or an FP32 MLP as plain MatMul/Add/Relu;
//! [`convnet::convnet_onnx`] the same for the Train view's conv net (Conv, MaxPool, Flatten).
//!
//! An LSTM becomes com.microsoft DynamicQuantizeLSTM as in ONNX Runtime ([`lstm`]); a Gather of
//! an embedding table reads the table's uint8 codes, which a Transpose moves and a MatMul reads
//! as they are; the com.microsoft Attention and EmbedLayerNormalization that ONNX Runtime's
//! transformer optimizer writes become QAttention and QEmbedLayerNormalization
//! (`dynamic/transformer.rs`). With `enable_subgraph` (ONNX Runtime's `EnableSubgraph`) the
//! nodes inside If/Loop/Scan subgraphs are quantized too. Not ported (the nodes stay as they
//! are, and the [`dynamic::Report`] names them with the reason): weights that are not FLOAT
//! (but a float16 Gather table), and an Attention whose weight is computed rather than an
//! initializer (ONNX Runtime quantizes that at run time).

mod bf16_opsets;
pub mod blockwise;
pub mod calibrate;
pub mod convnet;
pub mod dynamic;
pub mod float16;
mod gemm;
pub mod gptq;
mod graph;
pub mod hqq;
pub mod lstm;
pub mod minmax;
pub mod mlp;
pub mod nbits;
mod nbits_options;
mod numpy_sum;
pub mod static_qdq;
pub mod types;
pub mod weights;
pub mod work;

use quantscope_formats::onnx::OnnxError;
use std::fmt;

/// Why a model could not be quantized.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantizeError {
    /// The bytes are not a model quantscope can rewrite.
    Model(OnnxError),
    /// A weight's data cannot be read (external data, a type quantscope does not decode, ...).
    Weight { name: String, why: String },
    /// The model cannot take the quantized ops (its opset is too old, ...).
    Unsupported(String),
    /// The calibration options or the calibration values cannot give ranges (a percentile
    /// outside (0, 100], 0 bins, NaN values, ...).
    Calibration(String),
}

impl fmt::Display for QuantizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantizeError::Model(e) => e.fmt(f),
            QuantizeError::Weight { name, why } => write!(f, "weight '{name}': {why}"),
            QuantizeError::Unsupported(why) => f.write_str(why),
            QuantizeError::Calibration(why) => write!(f, "calibration: {why}"),
        }
    }
}

impl std::error::Error for QuantizeError {}

impl From<OnnxError> for QuantizeError {
    fn from(e: OnnxError) -> Self {
        QuantizeError::Model(e)
    }
}

pub type Result<T> = std::result::Result<T, QuantizeError>;
