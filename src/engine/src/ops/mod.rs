//! The op registry: one file per op family, each op a struct built from a node's attributes at
//! load time (so a bad attribute fails the load, not the first run) and run on typed values.
//! What every op is built on ([`Op`], [`Inputs`], [`OpError`]) is `crate::op`.

pub mod activation;
pub mod activation_quant;
pub mod cast;
pub mod conv;
pub mod elementwise;
pub mod logic;
pub mod matmul;
pub mod minmax;
pub mod norm;
pub mod pool;
pub mod quant;
pub mod quantized;
pub mod shape;
pub mod slice;
pub mod unary;

use crate::attr::Attrs;
pub use crate::op::{BuildCtx, Input, Inputs, Op, OpError};
use std::sync::Arc;

type Builder = fn(&Attrs, &BuildCtx) -> Result<Arc<dyn Op>, OpError>;

/// An op type: its input count range, its output count range and its builder.
pub struct OpSpec {
    pub op_type: &'static str,
    pub inputs: (usize, usize),
    pub outputs: (usize, usize),
    /// Inputs that must be present (non-empty names): the first `required`.
    pub required: usize,
    build: Builder,
}

const fn spec(op_type: &'static str, required: usize, inputs: (usize, usize), outputs: (usize, usize), build: Builder) -> OpSpec {
    OpSpec { op_type, inputs, outputs, required, build }
}

/// Every op the engine runs (default ONNX domain).
pub static REGISTRY: &[OpSpec] = &[
    spec("Add", 2, (2, 2), (1, 1), elementwise::build_add),
    spec("Sub", 2, (2, 2), (1, 1), elementwise::build_sub),
    spec("Mul", 2, (2, 2), (1, 1), elementwise::build_mul),
    spec("Div", 2, (2, 2), (1, 1), elementwise::build_div),
    spec("Relu", 1, (1, 1), (1, 1), activation::build_relu),
    spec("Sigmoid", 1, (1, 1), (1, 1), activation::build_sigmoid),
    spec("Tanh", 1, (1, 1), (1, 1), activation::build_tanh),
    spec("Softmax", 1, (1, 1), (1, 1), activation::build_softmax),
    spec("Abs", 1, (1, 1), (1, 1), unary::build_abs),
    spec("Neg", 1, (1, 1), (1, 1), unary::build_neg),
    spec("Sign", 1, (1, 1), (1, 1), unary::build_sign),
    spec("Floor", 1, (1, 1), (1, 1), unary::build_floor),
    spec("Ceil", 1, (1, 1), (1, 1), unary::build_ceil),
    spec("Round", 1, (1, 1), (1, 1), unary::build_round),
    spec("Sqrt", 1, (1, 1), (1, 1), unary::build_sqrt),
    spec("Reciprocal", 1, (1, 1), (1, 1), unary::build_reciprocal),
    spec("Exp", 1, (1, 1), (1, 1), unary::build_exp),
    spec("Log", 1, (1, 1), (1, 1), unary::build_log),
    spec("Erf", 1, (1, 1), (1, 1), unary::build_erf),
    spec("LeakyRelu", 1, (1, 1), (1, 1), unary::build_leaky_relu),
    spec("Elu", 1, (1, 1), (1, 1), unary::build_elu),
    spec("Selu", 1, (1, 1), (1, 1), unary::build_selu),
    spec("Celu", 1, (1, 1), (1, 1), unary::build_celu),
    spec("HardSigmoid", 1, (1, 1), (1, 1), unary::build_hard_sigmoid),
    spec("HardSwish", 1, (1, 1), (1, 1), unary::build_hard_swish),
    spec("Softplus", 1, (1, 1), (1, 1), unary::build_softplus),
    spec("Softsign", 1, (1, 1), (1, 1), unary::build_softsign),
    spec("Mish", 1, (1, 1), (1, 1), unary::build_mish),
    spec("Gelu", 1, (1, 1), (1, 1), unary::build_gelu),
    spec("ThresholdedRelu", 1, (1, 1), (1, 1), unary::build_thresholded_relu),
    spec("Clip", 1, (1, 3), (1, 1), unary::build_clip),
    spec("Equal", 2, (2, 2), (1, 1), logic::build_equal),
    spec("Less", 2, (2, 2), (1, 1), logic::build_less),
    spec("Greater", 2, (2, 2), (1, 1), logic::build_greater),
    spec("LessOrEqual", 2, (2, 2), (1, 1), logic::build_less_or_equal),
    spec("GreaterOrEqual", 2, (2, 2), (1, 1), logic::build_greater_or_equal),
    spec("And", 2, (2, 2), (1, 1), logic::build_and),
    spec("Or", 2, (2, 2), (1, 1), logic::build_or),
    spec("Xor", 2, (2, 2), (1, 1), logic::build_xor),
    spec("Not", 1, (1, 1), (1, 1), logic::build_not),
    spec("Where", 3, (3, 3), (1, 1), logic::build_where),
    spec("Min", 1, (1, usize::MAX), (1, 1), minmax::build_min),
    spec("Max", 1, (1, usize::MAX), (1, 1), minmax::build_max),
    spec("Sum", 1, (1, usize::MAX), (1, 1), minmax::build_sum),
    spec("Mean", 1, (1, usize::MAX), (1, 1), minmax::build_mean),
    spec("Pow", 2, (2, 2), (1, 1), minmax::build_pow),
    spec("PRelu", 2, (2, 2), (1, 1), minmax::build_prelu),
    spec("Gemm", 2, (2, 3), (1, 1), matmul::build_gemm),
    spec("MatMul", 2, (2, 2), (1, 1), matmul::build_matmul),
    spec("Conv", 2, (2, 3), (1, 1), conv::build_conv),
    spec("MaxPool", 1, (1, 1), (1, 2), pool::build_maxpool),
    spec("AveragePool", 1, (1, 1), (1, 1), pool::build_averagepool),
    spec("GlobalAveragePool", 1, (1, 1), (1, 1), pool::build_global_averagepool),
    spec("BatchNormalization", 5, (5, 5), (1, 3), norm::build_batchnorm),
    spec("Flatten", 1, (1, 1), (1, 1), shape::build_flatten),
    spec("Reshape", 2, (2, 2), (1, 1), shape::build_reshape),
    spec("Transpose", 1, (1, 1), (1, 1), shape::build_transpose),
    spec("Shape", 1, (1, 1), (1, 1), shape::build_shape),
    spec("Gather", 2, (2, 2), (1, 1), shape::build_gather),
    spec("Concat", 1, (1, usize::MAX), (1, 1), shape::build_concat),
    spec("Unsqueeze", 1, (1, 2), (1, 1), shape::build_unsqueeze),
    spec("Squeeze", 1, (1, 2), (1, 1), shape::build_squeeze),
    spec("Identity", 1, (1, 1), (1, 1), shape::build_identity),
    spec("Slice", 1, (1, 5), (1, 1), slice::build_slice),
    spec("Split", 1, (1, 2), (1, usize::MAX), slice::build_split),
    spec("Expand", 2, (2, 2), (1, 1), slice::build_expand),
    spec("Tile", 2, (2, 2), (1, 1), slice::build_tile),
    spec("ConstantOfShape", 1, (1, 1), (1, 1), slice::build_constant_of_shape),
    spec("Range", 3, (3, 3), (1, 1), slice::build_range),
    spec("Cast", 1, (1, 1), (1, 1), cast::build_cast),
    spec("QuantizeLinear", 2, (2, 3), (1, 1), quant::build_quantize_linear),
    spec("DequantizeLinear", 2, (2, 3), (1, 1), quant::build_dequantize_linear),
    spec("DynamicQuantizeLinear", 1, (1, 1), (3, 3), quant::build_dynamic_quantize_linear),
    spec("MatMulInteger", 2, (2, 4), (1, 1), quant::build_matmul_integer),
    spec("QLinearMatMul", 8, (8, 8), (1, 1), quant::build_qlinear_matmul),
    spec("ConvInteger", 2, (2, 4), (1, 1), conv::build_conv_integer),
    spec("QLinearConv", 8, (8, 9), (1, 1), conv::build_qlinear_conv),
];

/// `Constant` is evaluated when the model loads (see `graph.rs`), so it is not in the table.
pub const CONSTANT: &str = "Constant";

/// The op types the engine supports, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops: Vec<&str> = REGISTRY.iter().map(|s| s.op_type).chain([CONSTANT]).collect();
    ops.sort();
    ops
}

pub fn lookup(op_type: &str) -> Option<&'static OpSpec> {
    REGISTRY.iter().find(|s| s.op_type == op_type)
}

impl OpSpec {
    pub fn build(&self, attrs: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
        (self.build)(attrs, ctx)
    }
}
