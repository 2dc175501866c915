//! The element type of each value of a model's main graph, as far as ONNX's own type
//! inference (`onnx.shape_inference.infer_shapes`, which `onnxconverter_common`'s FP16
//! converter runs first) would know it: graph inputs, initializers, the types the file records
//! (`value_info`, graph outputs), `Constant` values, then each node's outputs from its inputs
//! and attributes by the op's type rule (`onnx/defs/*/defs.cc`). A value of an op ONNX does
//! not define (a custom domain) has no type, and neither have the values made from it, as in
//! ONNX's inference.

use quantscope_formats::onnx::proto::{AttributeProto, NodeProto};
use quantscope_formats::onnx::splice::GraphEdit;
use std::collections::HashMap;

/// `TensorProto.DataType` ids used here.
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const STRING: i32 = 8;
pub const BOOL: i32 = 9;
pub const FLOAT16: i32 = 10;
pub const BFLOAT16: i32 = 16;

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

fn int_attr(n: &NodeProto, name: &str) -> Option<i32> {
    attr(n, name).and_then(|a| a.i).map(|i| i as i32)
}

/// The output types of `n` given the types known so far (`None`: not known).
fn output_types(n: &NodeProto, types: &HashMap<String, i32>) -> Vec<Option<i32>> {
    let input = |i: usize| n.input.get(i).filter(|s| !s.is_empty()).and_then(|s| types.get(s).copied());
    let outs = n.output.len();
    let all = |t: Option<i32>| vec![t; outs];
    let first_then = |t: Option<i32>, rest: i32| (0..outs).map(|k| if k == 0 { t } else { Some(rest) }).collect();
    let op = n.op_type.as_deref().unwrap_or("");
    match n.domain.as_deref().unwrap_or("") {
        "" | "ai.onnx" => {}
        "ai.onnx.ml" => {
            return match op {
                "ArrayFeatureExtractor" | "Binarizer" | "Imputer" => all(input(0)),
                "LinearClassifier" | "SVMClassifier" | "TreeEnsembleClassifier" => {
                    let label = if attr(n, "classlabels_strings").is_some_and(|a| !a.strings.is_empty()) { STRING } else { INT64 };
                    (0..outs).map(|k| Some(if k == 0 { label } else { FLOAT })).collect()
                }
                "LinearRegressor"
                | "SVMRegressor"
                | "TreeEnsembleRegressor"
                | "Normalizer"
                | "Scaler"
                | "FeatureVectorizer"
                | "OneHotEncoder" => all(Some(FLOAT)),
                _ => all(None),
            };
        }
        _ => return all(None),
    }
    match op {
        "Constant" => {
            let t = n.attribute.first().and_then(|a| match a.name.as_deref()? {
                "value" => a.t.as_ref()?.data_type,
                "value_float" | "value_floats" => Some(FLOAT),
                "value_int" | "value_ints" => Some(INT64),
                "value_string" | "value_strings" => Some(STRING),
                _ => None,
            });
            all(t)
        }
        "Cast" => all(int_attr(n, "to")),
        "CastLike" => all(input(1)),
        "Shape" | "Size" | "NonZero" | "ArgMax" | "ArgMin" | "NonMaxSuppression" => all(Some(INT64)),
        "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or" | "Xor" | "IsNaN" | "IsInf" => {
            all(Some(BOOL))
        }
        "ConstantOfShape" => all(Some(attr(n, "value").and_then(|a| a.t.as_ref()?.data_type).unwrap_or(FLOAT))),
        "TopK" | "MaxPool" | "Unique" => first_then(input(0), INT64),
        "Dropout" => first_then(input(0), BOOL),
        "DynamicQuantizeLinear" => vec![Some(UINT8), Some(FLOAT), Some(UINT8)].into_iter().take(outs).collect(),
        "QuantizeLinear" => all(input(2).or(int_attr(n, "output_dtype").filter(|&t| t != 0)).or(Some(UINT8))),
        "DequantizeLinear" => all(input(1)),
        "MatMulInteger" | "ConvInteger" => all(Some(INT32)),
        "QLinearMatMul" | "QLinearConv" => all(input(7)),
        "Where" => all(input(1)),
        "OneHot" => all(input(2)),
        "RandomNormal" | "RandomUniform" => all(Some(int_attr(n, "dtype").unwrap_or(FLOAT))),
        "RandomNormalLike" | "RandomUniformLike" | "EyeLike" | "Bernoulli" => all(int_attr(n, "dtype").or(input(0))),
        "Multinomial" => all(Some(int_attr(n, "dtype").unwrap_or(INT32))),
        "If" | "Loop" | "Scan" | "SequenceConstruct" | "SplitToSequence" | "SequenceAt" | "Optional" | "OptionalGetElement" => all(None),
        // Every other standard op gives its first input's type (Add, MatMul, Conv, Reshape,
        // Gather, Concat, Resize, Range, ...), which is what their type constraints say.
        _ => all(input(0)),
    }
}

/// The element type of every value of the main graph that can be known (see the module docs).
pub fn elem_types(graph: &GraphEdit) -> Result<HashMap<String, i32>, quantscope_formats::onnx::OnnxError> {
    let mut types: HashMap<String, i32> = HashMap::new();
    let recorded = graph.value_info()?;
    let values = graph.inputs.iter().map(|v| &v.message).chain(&graph.rest.output).chain(&recorded);
    for v in values {
        if let (Some(name), Some(t)) = (&v.name, v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).and_then(|t| t.elem_type)) {
            types.insert(name.clone(), t);
        }
    }
    for t in graph.initializers.iter().map(|t| &t.message) {
        if let (Some(name), Some(dt)) = (&t.name, t.data_type) {
            types.insert(name.clone(), dt);
        }
    }
    // Nodes in file order are usually sorted; a few passes reach the nodes that are not.
    for _ in 0..4 {
        let mut changed = false;
        for n in graph.nodes.iter().map(|n| &n.message) {
            for (name, t) in n.output.iter().zip(output_types(n, &types)) {
                if let Some(t) = t {
                    if !name.is_empty() && !types.contains_key(name) {
                        types.insert(name.clone(), t);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    Ok(types)
}
