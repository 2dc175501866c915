//! File formats: a cheap [`sniff`] on the first bytes, then the format's full parser.
//! Each parser returns a [`LoadedFile`]: the tensors (values as f32) and what else the file
//! says about itself (metadata key/values, a model's graph summary).

pub mod bytesource;
pub mod error;
pub mod gguf;
pub mod gguf_fit;
pub mod gguf_mix;
pub mod gguf_writer;
pub mod imatrix;
pub mod imatrix_writer;
pub mod lazy;
pub mod npy;
pub mod npz;
pub mod onnx;
pub mod safetensors;

pub use error::{Error, Result};
use quantscope_core::tensor::Tensor;
use serde::Serialize;

/// The formats quantscope reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Npy,
    Safetensors,
    Npz,
    Gguf,
    Onnx,
}

/// Everything read from one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedFile {
    pub format: Format,
    /// Key/value metadata as display strings, in file order (e.g. GGUF keys, safetensors
    /// `__metadata__`); empty when the format has none.
    pub metadata: Vec<(String, String)>,
    #[serde(skip)]
    pub tensors: Vec<Tensor>,
    /// ONNX models only (empty otherwise): for each tensor, in the same order, where it lives,
    /// which ops read it and the name a person recognises (see `onnx::weights`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<onnx::weights::WeightInfo>,
}

/// Recognises a format from the first bytes of a file (a few dozen bytes suffice).
pub fn sniff(first_bytes: &[u8]) -> Option<Format> {
    if npy::sniff(first_bytes) {
        Some(Format::Npy)
    } else if gguf::sniff(first_bytes) {
        Some(Format::Gguf)
    } else if npz::sniff(first_bytes) {
        // Any zip sniffs as .npz: other zip-based formats (.pth, .keras) are not read here.
        Some(Format::Npz)
    } else if safetensors::sniff(first_bytes) {
        // A weak signature (a length then `{`), so after the magic-number formats; it checks the
        // length against the whole file, so it wants all the bytes, not just the first few.
        Some(Format::Safetensors)
    } else if onnx::sniff(first_bytes) {
        // No magic at all (a protobuf's first field tag and a small version), so after the rest.
        Some(Format::Onnx)
    } else {
        None
    }
}

/// The file name without directories and without `extension`.
fn stem<'a>(file_name: &'a str, extension: &str) -> &'a str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    base.strip_suffix(extension).unwrap_or(base)
}

/// Reads a whole file. `file_name` names the tensor of single-tensor formats and, when the
/// bytes do not sniff as any format, picks the parser whose specific complaint is shown.
pub fn load_file(file_name: &str, bytes: &[u8]) -> Result<LoadedFile> {
    let format = match sniff(bytes) {
        Some(f) => f,
        None if file_name.ends_with(".npy") => Format::Npy,
        None if file_name.ends_with(".safetensors") => Format::Safetensors,
        None if file_name.ends_with(".npz") => Format::Npz,
        None if file_name.ends_with(".gguf") => Format::Gguf,
        None if file_name.ends_with(".onnx") => Format::Onnx,
        None => return Err(Error::UnknownFormat),
    };
    match format {
        Format::Npy => {
            let tensor = npy::parse(stem(file_name, ".npy"), bytes)?;
            Ok(LoadedFile { format, metadata: Vec::new(), tensors: vec![tensor], weights: Vec::new() })
        }
        Format::Safetensors => safetensors::load(bytes),
        Format::Npz => npz::load(bytes),
        Format::Gguf => gguf::parse(bytes),
        Format::Onnx => onnx::parse(bytes),
    }
}

/// Reads every tensor in a file (see [`load_file`]).
pub fn load(file_name: &str, bytes: &[u8]) -> Result<Vec<Tensor>> {
    load_file(file_name, bytes).map(|f| f.tensors)
}
