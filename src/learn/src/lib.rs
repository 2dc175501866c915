//! The numbers behind the Learn view's panels, one module per panel: plain Rust over
//! `quantscope-core`, tested natively against the same references as the scheme library. The
//! page's exports for them are the workbench's (`src/workbench/src/learn/`).

pub mod clipping;
pub mod compare;
pub mod granularity;
/// The grid (IQ1–IQ3) block decoder and the with-and-without-imatrix comparison; the mixer
/// module exports them (they quantize with core's `iq-grids`).
pub mod iq_blocks;
pub mod mapping;
pub mod memory;
/// How numbers are stored: the bits of FP32/FP16/BF16/FP8/FP4 and the integer ranges.
pub mod number_formats;
