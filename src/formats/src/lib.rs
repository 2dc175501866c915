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

/// The element count of a header's dims, or `None` when the product of its *non-zero* dims
/// overflows 64 bits. Checking only the product in file order is not enough: `[0, 2^40, 2^40]`
/// is 0 that way, but the same dims multiplied in another order (a reversed GGUF shape) overflow.
/// With this check every partial product, in any order, fits.
pub(crate) fn checked_dims_product(dims: &[u64]) -> Option<u64> {
    dims.iter().filter(|&&d| d != 0).try_fold(1u64, |a, &d| a.checked_mul(d))?;
    Some(dims.iter().product())
}
use quantscope_core::tensor::Tensor;
use serde::Serialize;

/// The formats quantscope reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Npy,
    Safetensors,
    Npz,
    Gguf,
    Onnx,
}

impl Format {
    /// The file name extension, `.npz` for `Npz`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Npy => ".npy",
            Format::Safetensors => ".safetensors",
            Format::Npz => ".npz",
            Format::Gguf => ".gguf",
            Format::Onnx => ".onnx",
        }
    }
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

/// A whole-file parser: what [`load_file`] runs for one format (`file_name` names the tensor of
/// a single-tensor format).
pub type Reader = fn(&str, &[u8]) -> Result<LoadedFile>;

/// Every format's whole-file parser, for [`load_file_with`] and `lazy::open_with`. A page module
/// passes only the ones it needs instead, so that the linker leaves the others out: the
/// workbench has no zip, inflate or protobuf decoder ([`NPZ_AND_ONNX`] are the reader module's,
/// `src/reader`).
pub const READERS: &[(Format, Reader)] = &[
    (Format::Npy, read_npy),
    (Format::Safetensors, read_safetensors),
    (Format::Npz, read_npz),
    (Format::Gguf, read_gguf),
    (Format::Onnx, read_onnx),
];

/// The formats without a zip, inflate or protobuf decoder: .npy, .safetensors, .gguf.
pub const NPY_SAFETENSORS_GGUF: &[(Format, Reader)] =
    &[(Format::Npy, read_npy), (Format::Safetensors, read_safetensors), (Format::Gguf, read_gguf)];

/// The formats that need a zip reader with inflate (.npz) or a protobuf decoder (.onnx).
pub const NPZ_AND_ONNX: &[(Format, Reader)] = &[(Format::Npz, read_npz), (Format::Onnx, read_onnx)];

fn read_npy(file_name: &str, bytes: &[u8]) -> Result<LoadedFile> {
    let tensor = npy::parse(stem(file_name, ".npy"), bytes)?;
    Ok(LoadedFile { format: Format::Npy, metadata: Vec::new(), tensors: vec![tensor], weights: Vec::new() })
}

fn read_safetensors(_: &str, bytes: &[u8]) -> Result<LoadedFile> {
    safetensors::load(bytes)
}

fn read_npz(_: &str, bytes: &[u8]) -> Result<LoadedFile> {
    npz::load(bytes)
}

fn read_gguf(_: &str, bytes: &[u8]) -> Result<LoadedFile> {
    gguf::parse(bytes)
}

fn read_onnx(_: &str, bytes: &[u8]) -> Result<LoadedFile> {
    onnx::parse(bytes)
}

/// Reads a whole file. `file_name` names the tensor of single-tensor formats and, when the
/// bytes do not sniff as any format, picks the parser whose specific complaint is shown.
pub fn load_file(file_name: &str, bytes: &[u8]) -> Result<LoadedFile> {
    load_file_with(file_name, bytes, READERS)
}

/// [`load_file`] with only `readers`' formats: another format is refused naming it
/// ([`Error::reader_elsewhere`]).
pub fn load_file_with(file_name: &str, bytes: &[u8], readers: &[(Format, Reader)]) -> Result<LoadedFile> {
    let format = match sniff(bytes) {
        Some(f) => f,
        None if file_name.ends_with(".npy") => Format::Npy,
        None if file_name.ends_with(".safetensors") => Format::Safetensors,
        None if file_name.ends_with(".npz") => Format::Npz,
        None if file_name.ends_with(".gguf") => Format::Gguf,
        None if file_name.ends_with(".onnx") => Format::Onnx,
        None => return Err(Error::UnknownFormat),
    };
    read_with(file_name, bytes, format, readers)
}

/// `bytes` parsed as `format` by its reader in `readers`.
pub(crate) fn read_with(file_name: &str, bytes: &[u8], format: Format, readers: &[(Format, Reader)]) -> Result<LoadedFile> {
    let (_, read) = readers.iter().find(|(f, _)| *f == format).ok_or_else(|| Error::reader_elsewhere(format))?;
    read(file_name, bytes)
}

/// Reads every tensor in a file (see [`load_file`]).
pub fn load(file_name: &str, bytes: &[u8]) -> Result<Vec<Tensor>> {
    load_file(file_name, bytes).map(|f| f.tensors)
}
