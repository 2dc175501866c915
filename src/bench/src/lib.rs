//! The bench pages' module (`www/pkg-bench`, and `www/pkg-nosimd` built without SIMD128): both
//! page modules' exports (this crate links the workbench and the runner) plus what only the
//! bench pages time — schemes, the GEMM kernels, and models against onnxruntime-web. Never
//! shipped to the page. wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

mod gemm;
mod mnist;
mod schemes;

// Linked for their exports: the bench pages call the workbench's and the runner's functions.
pub use quantscope_runner as runner;
pub use quantscope_workbench as workbench;
