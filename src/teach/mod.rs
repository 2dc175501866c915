//! The numbers behind the Learn view's panels. Each panel's computation lives in its own module
//! and is plain Rust (tested natively against the same references as the scheme library); the
//! wasm exports sit beside them under `cfg(target_arch = "wasm32")`.

pub mod clipping;
pub mod compare;
pub mod formats;
pub mod granularity;
pub mod mapping;
pub mod memory;
