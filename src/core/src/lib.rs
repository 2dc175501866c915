//! quantscope's core: tensors, every quantization scheme behind one trait ([`schemes`]), the
//! statistics that measure what a scheme costs ([`stats`]) and the per-tensor [`report`] that
//! the page and the CLI both show. Plain Rust: it depends on `half` and `serde` only, and the
//! compiler keeps it that way (nothing of the web, the file formats or the engine is in reach).

pub mod error;
pub mod ggml_dequant;
pub mod ggml_types;
pub mod pack_bench;
pub mod report;
pub mod samples;
pub mod schemes;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128_io;
pub mod stats;
pub mod tensor;
pub mod throughput;

pub use error::{Error, Result};
pub use tensor::Tensor;
