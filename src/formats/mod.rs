//! File formats: a cheap [`sniff`] on the first bytes, then the format's full parser.

pub mod npy;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The formats quantscope reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Npy,
}

/// Recognises a format from the first bytes of a file (a few dozen bytes suffice).
pub fn sniff(first_bytes: &[u8]) -> Option<Format> {
    if npy::sniff(first_bytes) {
        Some(Format::Npy)
    } else {
        None
    }
}

/// Reads every tensor in a file. `file_name` names the tensors of single-tensor formats.
pub fn load(file_name: &str, bytes: &[u8]) -> Result<Vec<Tensor>> {
    let stem = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = stem.strip_suffix(".npy").unwrap_or(stem);
    match sniff(bytes) {
        Some(Format::Npy) => Ok(vec![npy::parse(stem, bytes)?]),
        // A file named .npy that does not sniff as one gets the parser's specific complaint.
        None if file_name.ends_with(".npy") => Ok(vec![npy::parse(stem, bytes)?]),
        None => Err(Error::UnknownFormat),
    }
}
