//! What an op's input is called: ONNX's own input names for the ops whose weights people look
//! for (from the operator schemas, `onnx/docs/Operators.md`), and a plainer word for the few
//! single letters that mean a weight or a bias ("Conv 'conv1' weight" rather than "W").
//! com.microsoft's ops that ONNX Runtime's transformer optimizer and quantizers write have their
//! names from its schemas (`docs/ContribOperators.md`). Ops not in the tables, variadic inputs
//! and other domains' ops get `input <k>`.

/// ONNX's input names by position, for ops of the default domain.
const INPUT_NAMES: &[(&str, &[&str])] = &[
    ("Conv", &["X", "W", "B"]),
    ("ConvTranspose", &["X", "W", "B"]),
    ("ConvInteger", &["x", "w", "x_zero_point", "w_zero_point"]),
    ("QLinearConv", &["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "B"]),
    ("Gemm", &["A", "B", "C"]),
    ("MatMul", &["A", "B"]),
    ("MatMulInteger", &["A", "B", "a_zero_point", "b_zero_point"]),
    ("QLinearMatMul", &["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"]),
    ("BatchNormalization", &["X", "scale", "B", "input_mean", "input_var"]),
    ("InstanceNormalization", &["input", "scale", "B"]),
    ("LayerNormalization", &["X", "Scale", "B"]),
    ("GroupNormalization", &["X", "scale", "bias"]),
    ("LSTM", &["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]),
    ("GRU", &["X", "W", "R", "B", "sequence_lens", "initial_h"]),
    ("RNN", &["X", "W", "R", "B", "sequence_lens", "initial_h"]),
    ("Add", &["A", "B"]),
    ("Sub", &["A", "B"]),
    ("Mul", &["A", "B"]),
    ("Div", &["A", "B"]),
    ("Pow", &["X", "Y"]),
    ("PRelu", &["X", "slope"]),
    ("Gather", &["data", "indices"]),
    ("GatherElements", &["data", "indices"]),
    ("Reshape", &["data", "shape"]),
    ("Expand", &["input", "shape"]),
    ("Tile", &["input", "repeats"]),
    ("Squeeze", &["data", "axes"]),
    ("Unsqueeze", &["data", "axes"]),
    ("Clip", &["input", "min", "max"]),
    ("Pad", &["data", "pads", "constant_value", "axes"]),
    ("Slice", &["data", "starts", "ends", "axes", "steps"]),
    ("Resize", &["X", "roi", "scales", "sizes"]),
    ("Where", &["condition", "X", "Y"]),
    ("QuantizeLinear", &["x", "y_scale", "y_zero_point"]),
    ("DequantizeLinear", &["x", "x_scale", "x_zero_point"]),
    ("If", &["cond"]),
    ("Loop", &["M", "cond"]),
];

/// com.microsoft's input names by position (ONNX Runtime's `docs/ContribOperators.md`).
const MS_INPUT_NAMES: &[(&str, &[&str])] = &[
    ("Attention", &["input", "weights", "bias", "mask_index", "past", "attention_bias", "past_sequence_length"]),
    (
        "QAttention",
        &["input", "weight", "bias", "input_scale", "weight_scale", "mask_index", "input_zero_point", "weight_zero_point", "past"],
    ),
    (
        "EmbedLayerNormalization",
        &["input_ids", "segment_ids", "word_embedding", "position_embedding", "segment_embedding", "gamma", "beta", "mask", "position_ids"],
    ),
    (
        "QEmbedLayerNormalization",
        &[
            "input_ids",
            "segment_ids",
            "word_embedding",
            "position_embedding",
            "segment_embedding",
            "gamma",
            "beta",
            "mask",
            "word_embedding_scale",
            "position_embedding_scale",
            "segment_embedding_scale",
            "gamma_scale",
            "beta_scale",
            "word_embedding_zero_point",
            "position_embedding_zero_point",
            "segment_embedding_zero_point",
            "gamma_zero_point",
            "beta_zero_point",
        ],
    ),
    ("SkipLayerNormalization", &["input", "skip", "gamma", "beta", "bias"]),
    ("BiasGelu", &["A", "B"]),
    ("FastGelu", &["X", "bias"]),
    ("MatMulNBits", &["A", "B", "scales", "zero_points", "g_idx", "bias"]),
    ("GatherBlockQuantized", &["data", "indices", "scales", "zero_points"]),
    (
        "DynamicQuantizeLSTM",
        &["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P", "W_scale", "W_zero_point", "R_scale", "R_zero_point"],
    ),
];

/// Ops whose input `B` is a bias added to the output (in Gemm and MatMul `B` is a matrix).
const B_IS_BIAS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "QLinearConv",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "LSTM",
    "GRU",
    "RNN",
    "com.microsoft.BiasGelu",
    "com.microsoft.DynamicQuantizeLSTM",
];

/// ONNX's name for input `k` of `op` (`domain` empty or `ai.onnx` for the default domain), or
/// `input <k>` when the table does not know it.
pub fn input_name(domain: &str, op: &str, k: usize) -> String {
    let table = match domain {
        "" | "ai.onnx" => INPUT_NAMES,
        "com.microsoft" => MS_INPUT_NAMES,
        _ => &[],
    };
    let known = table.iter().find(|(o, _)| *o == op).and_then(|(_, names)| names.get(k));
    known.map_or_else(|| format!("input {k}"), |n| n.to_string())
}

/// What a person calls input `name` of `op`: `weight`, `bias`, `recurrence weight`, `mean`,
/// `variance`; otherwise ONNX's name itself.
pub fn role(op: &str, name: &str) -> String {
    match name {
        "W" | "w" => "weight",
        "R" => "recurrence weight",
        "B" if B_IS_BIAS.contains(&op) => "bias",
        "input_mean" => "mean",
        "input_var" => "variance",
        other => other,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_operator_schemas() {
        assert_eq!((input_name("", "Conv", 1), role("Conv", "W")), ("W".to_string(), "weight".to_string()));
        assert_eq!(role("Conv", &input_name("ai.onnx", "Conv", 2)), "bias");
        assert_eq!(role("Gemm", &input_name("", "Gemm", 1)), "B");
        assert_eq!(role("Gemm", &input_name("", "Gemm", 2)), "C");
        assert_eq!(role("LSTM", &input_name("", "LSTM", 2)), "recurrence weight");
        assert_eq!(role("BatchNormalization", &input_name("", "BatchNormalization", 4)), "variance");
        assert_eq!(input_name("", "Concat", 3), "input 3");
        assert_eq!(input_name("", "Conv", 7), "input 7");
        assert_eq!(input_name("com.microsoft", "Conv", 1), "input 1");
        assert_eq!(input_name("com.microsoft", "EmbedLayerNormalization", 2), "word_embedding");
        assert_eq!(role("com.microsoft.Attention", &input_name("com.microsoft", "Attention", 1)), "weights");
        assert_eq!(role("com.microsoft.BiasGelu", &input_name("com.microsoft", "BiasGelu", 1)), "bias");
        assert_eq!(input_name("other.domain", "Attention", 1), "input 1");
    }
}
