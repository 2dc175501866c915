//! Every error of reading (or writing) a file. Each format's own errors are declared beside its
//! parser (`npy::NpyError`, `gguf::GgufError`, ...); this enum gathers them with what any file
//! can hit.

use std::fmt;

pub use crate::gguf::GgufError;
pub use crate::npy::NpyError;
pub use crate::npz::NpzError;
pub use crate::onnx::OnnxError;
pub use crate::safetensors::SafetensorsError;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Npy(NpyError),
    Safetensors(SafetensorsError),
    Npz(NpzError),
    Gguf(GgufError),
    Onnx(OnnxError),
    /// A scheme or argument the core refused (an export's type, a bin count, ...).
    Core(quantscope_core::Error),
    /// A tensor name that is not in the file.
    UnknownTensor(String),
    /// The file is in no format quantscope recognises.
    UnknownFormat,
    /// Reading a file's bytes failed (an I/O error, or a range past its end).
    Read(String),
    /// A tensor too large for an operation that needs all its values in memory at once
    /// (`operation` says which, e.g. "the scheme comparison").
    TensorTooLarge {
        tensor: String,
        elements: u64,
        limit: u64,
        operation: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Npy(e) => e.fmt(f),
            Error::Safetensors(e) => e.fmt(f),
            Error::Npz(e) => e.fmt(f),
            Error::Gguf(e) => e.fmt(f),
            Error::Onnx(e) => e.fmt(f),
            Error::Core(e) => e.fmt(f),
            Error::UnknownTensor(name) => write!(f, "no tensor named '{name}' in the file"),
            Error::UnknownFormat => write!(f, "unrecognised file format (quantscope reads .npy, .npz, .safetensors, .gguf and .onnx files)"),
            Error::Read(why) => write!(f, "could not read the file: {why}"),
            Error::TensorTooLarge { tensor, elements, limit, operation } => write!(
                f,
                "tensor '{tensor}' has {elements} elements, too many for {operation}, which holds at most {limit} values of one tensor in memory"
            ),
        }
    }
}

impl Error {
    /// An argument the caller should change (`quantscope_core::Error::InvalidArgument`).
    pub fn invalid(why: String) -> Self {
        Error::Core(quantscope_core::Error::InvalidArgument(why))
    }

    /// A format this module has no reader for: a page module links only some (the workbench's
    /// worker sends .npz and .onnx files to the reader module, `src/reader`). An argument error,
    /// not a variant of its own: a new variant grew every module that matches on `Error`
    /// (the language-model module by 2 KB gzipped).
    pub fn reader_elsewhere(format: crate::Format) -> Self {
        Error::invalid(format!("this module has no {} reader (the page reads such files with its reader module)", format.extension()))
    }
}

impl std::error::Error for Error {}

macro_rules! from_error {
    ($($source:ty => $variant:ident),*) => {$(
        impl From<$source> for Error {
            fn from(e: $source) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}
from_error!(NpyError => Npy, SafetensorsError => Safetensors, NpzError => Npz, GgufError => Gguf, OnnxError => Onnx, quantscope_core::Error => Core);

pub type Result<T, E = Error> = std::result::Result<T, E>;
