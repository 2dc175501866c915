//! The engine's error type.

use std::fmt;

/// Errors of the model engine (`crate::engine`): loading a graph, running it, quantizing it.
/// Every message names the node (its name, or `#index` when it has none) and its op type
/// where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The bytes are not an ONNX model (the ONNX reader's message).
    Decode(String),
    /// An initializer, a Constant or a tensor attribute whose data cannot be decoded.
    BadTensor { name: String, why: String },
    /// Op types the engine does not implement, checked over the whole graph when the model
    /// loads: every one of them, in the order the graph first uses them.
    UnsupportedOps(Vec<MissingOp>),
    /// An attribute value, dtype combination or mode the op implementation does not support.
    Unsupported { node: String, op: String, why: String },
    /// An attribute that is required and missing, of the wrong type, or out of range.
    BadAttribute { node: String, op: String, attribute: String, why: String },
    /// A node input that no initializer, graph input or node output provides.
    MissingInput { node: String, op: String, input: String },
    /// A value name that two nodes (or a node and an initializer/input) both produce.
    DuplicateOutput { node: String, op: String, output: String },
    /// The nodes cannot be ordered: these nodes depend on each other in a cycle.
    Cycle { nodes: Vec<String> },
    /// A graph output that nothing produces.
    MissingGraphOutput { output: String },
    /// `run` was given an input the model does not have (the model's inputs are listed).
    UnknownInput { name: String, expected: Vec<String> },
    /// `run` was not given one of the model's inputs.
    InputNotGiven { name: String },
    /// An input (given to `run`) whose dtype or shape contradicts the model's declaration.
    InputMismatch { name: String, why: String },
    /// A node input of the wrong rank.
    Rank { node: String, op: String, input: String, expected: String, got: usize },
    /// Shapes that do not fit together (broadcasting, inner dimensions, element counts).
    ShapeMismatch { node: String, op: String, why: String },
    /// An input dtype the op does not accept.
    Dtype { node: String, op: String, why: String },
    /// A value the op cannot compute with (index out of range, zero divisor, bad axis).
    InvalidValue { node: String, op: String, why: String },
    /// Quantization settings that cannot be applied to this model.
    Quantize(String),
}

/// One op type a model uses that the engine does not implement, and how many nodes use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingOp {
    /// The op type, `domain.Op` outside the default ONNX domain (op types have no dots).
    pub op: String,
    pub count: usize,
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EngineError::*;
        match self {
            Decode(why) => write!(f, "cannot load the model: {why}"),
            BadTensor { name, why } => write!(f, "tensor '{name}' cannot be read: {why}"),
            UnsupportedOps(ops) => {
                f.write_str("ops the engine does not run:")?;
                for (i, m) in ops.iter().enumerate() {
                    write!(f, "{} {} ×{}", if i == 0 { "" } else { "," }, m.op, m.count)?;
                }
                Ok(())
            }
            Unsupported { node, op, why } => write!(f, "node '{node}' ({op}): not supported: {why}"),
            BadAttribute { node, op, attribute, why } => write!(f, "node '{node}' ({op}): attribute '{attribute}' {why}"),
            MissingInput { node, op, input } => {
                write!(f, "node '{node}' ({op}): input '{input}' is not produced by any node, initializer or graph input")
            }
            DuplicateOutput { node, op, output } => write!(f, "node '{node}' ({op}): output '{output}' is already defined"),
            Cycle { nodes } => write!(f, "the graph has a cycle through nodes {}", nodes.join(", ")),
            MissingGraphOutput { output } => write!(f, "graph output '{output}' is not produced by any node"),
            UnknownInput { name, expected } => {
                write!(f, "the model has no input '{name}' (its inputs: {})", expected.join(", "))
            }
            InputNotGiven { name } => write!(f, "model input '{name}' was not given"),
            InputMismatch { name, why } => write!(f, "model input '{name}': {why}"),
            Rank { node, op, input, expected, got } => {
                write!(f, "node '{node}' ({op}): input '{input}' has rank {got}, expected {expected}")
            }
            ShapeMismatch { node, op, why } => write!(f, "node '{node}' ({op}): shape mismatch: {why}"),
            Dtype { node, op, why } => write!(f, "node '{node}' ({op}): {why}"),
            InvalidValue { node, op, why } => write!(f, "node '{node}' ({op}): {why}"),
            Quantize(why) => write!(f, "cannot quantize the model: {why}"),
        }
    }
}

impl std::error::Error for EngineError {}
