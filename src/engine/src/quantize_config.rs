//! What a quantized variant of a model is to be (`Model::quantize`'s settings): its own module,
//! so that the op interface (`op::Subgraph::quantized`) can name it without depending on the
//! quantizer.

use crate::value::Value;
use quantscope_core::schemes::int::calibration::Calibration;

/// What to turn the model into.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantizeKind {
    /// The model unchanged.
    Fp32,
    /// int8 weights, u8 activations quantized per run.
    Int8Dynamic { per_channel: bool },
    /// int8 weights, u8 activations with calibrated scales. `inputs` is a list of batches,
    /// each the model's inputs by name.
    Int8Static { per_channel: bool, calibration: Calibration, inputs: Vec<Vec<(String, Value)>> },
    /// int4 weights (codes in [−7, 7]), u8 activations per run.
    Int4Dynamic { per_channel: bool },
    /// Weights through a `quantscope_core::schemes` id and back; float execution.
    WeightOnly { scheme: String },
}

/// Quantization settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeConfig {
    pub kind: QuantizeKind,
    /// Only these nodes (by name); `None` for every quantizable node.
    pub only_nodes: Option<Vec<String>>,
}

impl QuantizeConfig {
    pub fn new(kind: QuantizeKind) -> Self {
        QuantizeConfig { kind, only_nodes: None }
    }
}
