//! The op registry: one file per op family, each op a struct built from a node's attributes at
//! load time (so a bad attribute fails the load, not the first run) and run on typed values.
//! What every op is built on ([`Op`], [`Inputs`], [`OpError`]) is `crate::op`.

pub mod activation;
pub mod activation_quant;
pub mod attention;
pub mod bias_gelu;
pub mod cast;
pub mod control;
pub mod conv;
mod conv_fuse;
mod depthwise_f32;
mod depthwise_int;
pub mod einsum;
pub mod elementwise;
pub mod embed_norm;
pub mod layout;
pub mod logic;
pub mod matmul;
pub mod minmax;
pub mod ml;
pub mod nbits;
pub mod norm;
pub mod pool;
pub mod quant;
pub mod quant_lstm;
pub mod quantized;
pub mod recurrent;
pub mod reduce;
pub mod resize;
pub mod scan;
pub mod shape;
pub mod skip_norm;
pub mod slice;
pub mod unary;
pub mod window;
mod winograd;

use crate::attr::Attrs;
pub use crate::op::{BuildCtx, Input, Inputs, Op, OpError};
use std::sync::Arc;

type Builder = fn(&Attrs, &BuildCtx) -> Result<Arc<dyn Op>, OpError>;

/// A table of op types; the loader is given the sets it may use ([`BUILT_IN`] or [`ALL`]).
pub type OpSet = &'static [OpSpec];

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

/// The ops of the built-in MNIST models and their quantized variants (www/models: Gemm, MatMul,
/// the elementwise and activation ops, Cast and the integer ops): what the runner module
/// (www/pkg-run) carries. An op set only the models module names is dropped from the runner by
/// the linker, which is why the loader takes its op sets as an argument.
pub static BASIC: OpSet = &[
    spec("Add", 2, (2, 2), (1, 1), elementwise::build_add),
    spec("Sub", 2, (2, 2), (1, 1), elementwise::build_sub),
    spec("Mul", 2, (2, 2), (1, 1), elementwise::build_mul),
    spec("Div", 2, (2, 2), (1, 1), elementwise::build_div),
    spec("Relu", 1, (1, 1), (1, 1), activation::build_relu),
    spec("Sigmoid", 1, (1, 1), (1, 1), activation::build_sigmoid),
    spec("Tanh", 1, (1, 1), (1, 1), activation::build_tanh),
    spec("Softmax", 1, (1, 1), (1, 1), activation::build_softmax),
    spec("Gemm", 2, (2, 3), (1, 1), matmul::build_gemm),
    spec("MatMul", 2, (2, 2), (1, 1), matmul::build_matmul),
    spec("Flatten", 1, (1, 1), (1, 1), shape::build_flatten),
    spec("Reshape", 2, (2, 2), (1, 1), shape::build_reshape),
    spec("Identity", 1, (1, 1), (1, 1), shape::build_identity),
    spec("Cast", 1, (1, 1), (1, 1), cast::build_cast),
    spec("QuantizeLinear", 2, (2, 3), (1, 1), quant::build_quantize_linear),
    spec("DequantizeLinear", 2, (2, 3), (1, 1), quant::build_dequantize_linear),
    spec("DynamicQuantizeLinear", 1, (1, 1), (3, 3), quant::build_dynamic_quantize_linear),
    spec("MatMulInteger", 2, (2, 4), (1, 1), quant::build_matmul_integer),
    spec("QLinearMatMul", 8, (8, 8), (1, 1), quant::build_qlinear_matmul),
];

/// Every other op, for a person's own model (the models module, www/pkg-models).
pub static EXTRA: OpSet = &[
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
    spec("Conv", 2, (2, 3), (1, 1), build_conv),
    spec("MaxPool", 1, (1, 1), (1, 2), pool::build_maxpool),
    spec("AveragePool", 1, (1, 1), (1, 1), pool::build_averagepool),
    spec("GlobalAveragePool", 1, (1, 1), (1, 1), pool::build_global_averagepool),
    spec("BatchNormalization", 5, (5, 5), (1, 3), norm::build_batchnorm),
    spec("Transpose", 1, (1, 1), (1, 1), shape::build_transpose),
    spec("Shape", 1, (1, 1), (1, 1), shape::build_shape),
    spec("Gather", 2, (2, 2), (1, 1), shape::build_gather),
    spec("Concat", 1, (1, usize::MAX), (1, 1), shape::build_concat),
    spec("Unsqueeze", 1, (1, 2), (1, 1), shape::build_unsqueeze),
    spec("Squeeze", 1, (1, 2), (1, 1), shape::build_squeeze),
    spec("Slice", 1, (1, 5), (1, 1), slice::build_slice),
    spec("Split", 1, (1, 2), (1, usize::MAX), slice::build_split),
    spec("Expand", 2, (2, 2), (1, 1), slice::build_expand),
    spec("Tile", 2, (2, 2), (1, 1), slice::build_tile),
    spec("ConstantOfShape", 1, (1, 1), (1, 1), slice::build_constant_of_shape),
    spec("Range", 3, (3, 3), (1, 1), slice::build_range),
    spec("ConvInteger", 2, (2, 4), (1, 1), conv::build_conv_integer),
    spec("QLinearConv", 8, (8, 9), (1, 1), conv::build_qlinear_conv),
    spec("ReduceSum", 1, (1, 2), (1, 1), reduce::build_reduce_sum),
    spec("ReduceMean", 1, (1, 2), (1, 1), reduce::build_reduce_mean),
    spec("ReduceMax", 1, (1, 2), (1, 1), reduce::build_reduce_max),
    spec("ReduceMin", 1, (1, 2), (1, 1), reduce::build_reduce_min),
    spec("ReduceProd", 1, (1, 2), (1, 1), reduce::build_reduce_prod),
    spec("ReduceL1", 1, (1, 2), (1, 1), reduce::build_reduce_l1),
    spec("ReduceL2", 1, (1, 2), (1, 1), reduce::build_reduce_l2),
    spec("ReduceSumSquare", 1, (1, 2), (1, 1), reduce::build_reduce_sum_square),
    spec("ReduceLogSum", 1, (1, 2), (1, 1), reduce::build_reduce_log_sum),
    spec("ReduceLogSumExp", 1, (1, 2), (1, 1), reduce::build_reduce_log_sum_exp),
    spec("ArgMax", 1, (1, 1), (1, 1), reduce::build_argmax),
    spec("ArgMin", 1, (1, 1), (1, 1), reduce::build_argmin),
    spec("CumSum", 2, (2, 2), (1, 1), reduce::build_cumsum),
    spec("TopK", 1, (1, 2), (2, 2), reduce::build_topk),
    spec("Pad", 1, (1, 4), (1, 1), layout::build_pad),
    spec("DepthToSpace", 1, (1, 1), (1, 1), layout::build_depth_to_space),
    spec("SpaceToDepth", 1, (1, 1), (1, 1), layout::build_space_to_depth),
    spec("GatherElements", 2, (2, 2), (1, 1), layout::build_gather_elements),
    spec("GatherND", 2, (2, 2), (1, 1), layout::build_gather_nd),
    spec("ScatterND", 3, (3, 3), (1, 1), layout::build_scatter_nd),
    spec("NonZero", 1, (1, 1), (1, 1), layout::build_non_zero),
    spec("OneHot", 3, (3, 3), (1, 1), layout::build_one_hot),
    spec("Size", 1, (1, 1), (1, 1), shape::build_size),
    // Other domains are named `domain.op` (graph.rs, `qualified_op`).
    spec("ai.onnx.ml.ArrayFeatureExtractor", 2, (2, 2), (1, 1), ml::build_array_feature_extractor),
    spec("com.microsoft.MatMulNBits", 3, (3, 6), (1, 1), nbits::build_matmul_nbits),
    spec("com.microsoft.GatherBlockQuantized", 3, (3, 4), (1, 1), nbits::build_gather_block_quantized),
    spec("com.microsoft.DynamicQuantizeLSTM", 3, (3, 12), (0, 3), quant_lstm::build_dynamic_quantize_lstm),
    // What ONNX Runtime's transformer optimizer fuses a BERT-like encoder into, and what its
    // quantize_dynamic makes of that (ops/attention.rs, embed_norm.rs, skip_norm.rs, bias_gelu.rs)
    spec("com.microsoft.Attention", 3, (3, 7), (1, 2), attention::build_attention),
    spec("com.microsoft.QAttention", 5, (5, 9), (1, 2), attention::build_qattention),
    spec("com.microsoft.EmbedLayerNormalization", 1, (7, 9), (1, 3), embed_norm::build_embed_layer_norm),
    spec("com.microsoft.QEmbedLayerNormalization", 1, (13, 18), (1, 2), embed_norm::build_qembed_layer_norm),
    spec("com.microsoft.SkipLayerNormalization", 3, (3, 5), (1, 4), skip_norm::build_skip_layer_norm),
    spec("com.microsoft.BiasGelu", 2, (2, 2), (1, 1), bias_gelu::build_bias_gelu),
    spec("com.microsoft.FastGelu", 1, (1, 2), (1, 1), bias_gelu::build_fast_gelu),
    spec("com.microsoft.Gelu", 1, (1, 1), (1, 1), bias_gelu::build_ms_gelu),
    spec("Einsum", 1, (1, usize::MAX), (1, 1), einsum::build_einsum),
    spec("If", 1, (1, 1), (1, usize::MAX), control::build_if),
    spec("Loop", 0, (2, usize::MAX), (1, usize::MAX), control::build_loop),
    // no input is required at load: Scan-8's first (sequence_lens) may be left out, and that
    // form is refused by its builder with its opset; Scan-9's are all read as required at run time
    spec("Scan", 0, (1, usize::MAX), (1, usize::MAX), scan::build_scan),
    spec("RNN", 3, (3, 6), (0, 2), recurrent::build_rnn),
    spec("GRU", 3, (3, 6), (0, 2), recurrent::build_gru),
    spec("LSTM", 3, (3, 8), (0, 3), recurrent::build_lstm),
    spec("LayerNormalization", 2, (2, 3), (1, 3), norm::build_layer_norm),
    spec("InstanceNormalization", 3, (3, 3), (1, 1), norm::build_instance_norm),
    spec("GroupNormalization", 3, (3, 3), (1, 1), norm::build_group_norm),
    spec("ConvTranspose", 2, (2, 3), (1, 1), conv::build_conv_transpose),
    spec("Resize", 1, (1, 4), (1, 1), resize::build_resize),
    spec("Upsample", 1, (1, 2), (1, 1), resize::build_upsample),
];

/// What the built-in models need.
pub static BUILT_IN: &[OpSet] = &[BASIC];

/// Every op the engine runs (default ONNX domain).
pub static ALL: &[OpSet] = &[BASIC, EXTRA];

/// `Constant` is evaluated when the model loads (see `graph.rs`), so it is not in the table.
pub const CONSTANT: &str = "Constant";

/// The float Conv, whose int8 form fuses the BatchNormalization and activation after it as
/// ops::quantized says: named here, in the op table, so that conv.rs need not name the int8 ops.
fn build_conv(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    conv::build_conv(a, quantized::fuse_quant_conv)
}

/// The op types of `sets`, sorted.
pub fn supported_ops(sets: &[OpSet]) -> Vec<&'static str> {
    let mut ops: Vec<&str> = sets.iter().flat_map(|s| s.iter()).map(|s| s.op_type).chain([CONSTANT]).collect();
    ops.sort();
    ops
}

pub fn lookup(sets: &[OpSet], op_type: &str) -> Option<&'static OpSpec> {
    sets.iter().flat_map(|s| s.iter()).find(|s| s.op_type == op_type)
}

impl OpSpec {
    pub fn build(&self, attrs: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
        (self.build)(attrs, ctx)
    }
}

impl std::fmt::Debug for OpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.op_type)
    }
}
