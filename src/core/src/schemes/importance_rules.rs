//! Which types take llama.cpp's importance vector, and the checks every weighted quantizer makes
//! of its input: a leaf the quantizer families (`ggml`, `ggml_extra`, `kquants`) and the entry
//! point (`importance.rs`) share, so that neither imports the other in a loop.

use crate::error::{Error, Result};

/// The scheme ids whose llama.cpp quantizer takes an importance vector.
pub const IMPORTANCE_IDS: [&str; 18] = [
    "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs", "iq3_s", "iq3_xxs", "iq2_s", "iq2_xs",
    "iq2_xxs", "iq1_m", "iq1_s",
];

/// The ids llama.cpp cannot quantize without an importance vector
/// (`ggml_quantize_requires_imatrix`): their plain `quantize` is refused.
pub const REQUIRES_IMPORTANCE_IDS: [&str; 3] = ["iq2_xxs", "iq2_xs", "iq1_s"];

/// Whether `id` can only be quantized with an importance vector.
pub fn requires_importance(id: &str) -> bool {
    REQUIRES_IMPORTANCE_IDS.contains(&id)
}

/// Whether llama.cpp's quantizer for `id` uses an importance vector.
pub fn takes_importance(id: &str) -> bool {
    IMPORTANCE_IDS.contains(&id)
}

/// The error for a type whose llama.cpp quantizer ignores the importance vector.
pub(crate) fn not_used(id: &str) -> Error {
    Error::InvalidArgument(format!(
        "{id} does not use an importance vector (llama.cpp ignores it); the types that do are {}",
        IMPORTANCE_IDS.join(", ")
    ))
}

/// The checks every weighted quantizer shares; returns the row length `n_per_row`.
pub(crate) fn check_importance(id: &str, block: usize, values: &[f32], shape: &[usize], importance: &[f32]) -> Result<usize> {
    let n = super::element_count(shape)?;
    if n != values.len() as u64 {
        return Err(Error::InvalidArgument(format!("shape {shape:?} holds {n} values, got {}", values.len())));
    }
    let n_per_row = *shape.last().ok_or_else(|| Error::InvalidArgument("an importance vector needs a shape with rows".into()))?;
    if n_per_row == 0 || n_per_row % block != 0 {
        return Err(Error::InvalidArgument(format!(
            "{id}: rows of {n_per_row} values are not a whole number of {block}-value blocks, which an importance vector needs"
        )));
    }
    if importance.len() != n_per_row {
        return Err(Error::InvalidArgument(format!(
            "the importance vector has {} weights but rows have {n_per_row} values",
            importance.len()
        )));
    }
    if let Some(i) = importance.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(Error::InvalidArgument(format!("importance weight {i} is {}; weights must be finite and ≥ 0", importance[i])));
    }
    Ok(n_per_row)
}
