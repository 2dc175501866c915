//! The Learn view's exports, one file per panel over `quantscope_learn`'s module of the same name.

mod clipping;
mod compare;
pub(crate) mod granularity;
mod mapping;
mod memory;
mod number_formats;
