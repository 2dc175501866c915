//! Training in the page: a small MLP (Linear + ReLU layers) on the shipped MNIST digits, with
//! PyTorch's semantics wherever PyTorch defines them, so a run here can be checked against one there.
//!
//! - [`rng`]: the one PRNG (SplitMix64) behind initialisation and shuffling.
//! - [`mlp`]: the network, its seeded `nn.Linear` initialisation, forward and backward.
//! - [`conv`]: a small conv net as a sequence of layers (Conv2d, ReLU, MaxPool2d, Flatten, Linear)
//!   in torch's NCHW layout, forward and backward; its forward convolutions as GEMMs
//!   (`conv_gemm.rs`), its backward over the output gradient's nonzeros (`conv_sparse.rs`).
//! - [`loss`]: softmax cross-entropy (`torch.nn.functional.cross_entropy`, mean reduction).
//! - [`optim`]: `torch.optim.SGD` (momentum, dampening, Nesterov, weight decay) and `torch.optim.Adam`.
//! - [`fake_quant`]: `torch.fake_quantize_per_{tensor,channel}_affine` forward and its
//!   straight-through backward.
//! - [`observer`]: `MinMaxObserver`, `MovingAverageMinMaxObserver` and their per-channel twins,
//!   with `_calculate_qparams`.
//! - [`fake_quantize`]: the `FakeQuantize` module (observer + fake quant, each enabled by step).
//! - [`lsq`]: LSQ, torch.ao's `_LearnableFakeQuantize`: the scale and zero point learned (MLP and conv net).
//! - [`ptq`]: dynamic post-training quantization (each input quantized with its own range).
//! - [`share`]: k-means weight sharing (Deep Compression §3.3): the library's codebook per layer,
//!   each centroid fine-tuned by the summed gradients of its weights (a conv net: per weight tensor).
//! - [`distill`]: knowledge distillation's loss (soft targets at a temperature, and the labels)
//!   and its teacher, an MLP or the conv net.
//! - [`data`]: the digits as the model takes them, seeded shuffling into batches.
//! - [`convert`]: a trained fake-quant model as the integer model it simulates (codes, scales,
//!   zero points), for the QDQ `.onnx` export.
//! - [`trace`]: a few weights followed through QAT (float, fake-quantized, gradient per step).
//! - [`trainer`]: a run: configuration, steps, evaluation, divergence detection.
//!
//! Plain Rust: no wasm-bindgen; the page's facade is a separate crate.

// The unit tests (the conv kernels') run in headless Chromium too, on the SIMD128 paths.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

pub mod conv;
mod conv_gemm;
mod conv_sparse;
pub mod convert;
pub mod data;
pub mod distill;
pub mod fake_quant;
pub mod fake_quantize;
pub mod gradual;
pub mod loss;
pub mod lsq;
pub mod mlp;
pub mod observer;
pub mod optim;
pub mod prune;
pub mod ptq;
pub mod rng;
pub mod share;
pub mod trace;
pub mod trainer;

use std::fmt;

/// What a training setting or input can be refused for.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A setting that makes no sense (a layer of width 0, a learning rate ≤ 0, 1-bit affine, ...).
    Config(String),
    /// Data that does not fit (pixel count, label out of range, shapes that disagree).
    Data(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(why) => write!(f, "invalid training setting: {why}"),
            Error::Data(why) => write!(f, "invalid training data: {why}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
