//! Post-training weight quantization that looks at calibration activations, not just at the
//! weights: GPTQ ([`gptq`], Frantar et al. 2022, ported from the IST-DASLab reference) and AWQ
//! ([`awq`], Lin et al. 2023, ported from the llm-awq reference). Plain Rust over row-major f32 matrices
//! (a row is one output's weights, as `nn.Linear.weight` and ggml store them); the language
//! model that feeds them its layer inputs (and, for AWQ, runs its blocks) is `quantscope-llm`'s.
//!
//! Both quantize onto a [`grid::Grid`]: the references' own integer grids (b bits, groups of g
//! columns: GPTQ's min-max, llm-awq's zero-point) or llama.cpp's Q4_0, so that the result is a
//! tensor llama.cpp runs.

pub mod awq;
pub mod gptq;
pub mod grid;
pub mod hessian;
pub mod linalg;
pub mod settings;

pub use awq::{search_clip, search_scales, AwqConfig, ClipResult, Linear, ScaleResult, ScaleSearch};
pub use gptq::{gptq, round_to_nearest, GptqConfig, GptqResult};
pub use grid::Grid;
pub use hessian::Hessian;
pub use settings::{awq_config, gptq_grid};

/// Why a quantization could not be made.
#[derive(Debug, Clone, PartialEq)]
pub enum PtqError {
    /// A setting the algorithm cannot use, with the reason.
    Setting(String),
    /// The calibration statistics cannot be used (no rows, a non-finite value, ...).
    Calibration(String),
    /// The weights' and the statistics' shapes disagree.
    Shape(String),
}

impl std::fmt::Display for PtqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PtqError::Setting(s) => write!(f, "{s}"),
            PtqError::Calibration(s) => write!(f, "calibration: {s}"),
            PtqError::Shape(s) => write!(f, "shape: {s}"),
        }
    }
}

impl std::error::Error for PtqError {}

pub type Result<T> = std::result::Result<T, PtqError>;
