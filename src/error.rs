//! The crate's error type. Every fallible path returns one of these, with a message a person
//! can act on; nothing in the core panics on bad input.

use std::fmt;

/// Errors reading `.npy` files. Each variant names what is wrong so the page can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpyError {
    /// The file does not start with the magic string `\x93NUMPY`.
    BadMagic,
    /// The file ends before the part named here is complete.
    Truncated { what: &'static str, needed: u64, available: u64 },
    /// A format version other than 1.0, 2.0 or 3.0.
    UnsupportedVersion { major: u8, minor: u8 },
    /// The header is not the Python dict literal NumPy writes.
    BadHeader(String),
    /// The header's `descr` names a dtype quantscope does not read.
    UnsupportedDtype(String),
    /// The shape's element count overflows, or exceeds the element cap.
    ShapeTooLarge { shape: Vec<u64> },
    /// The data section is shorter or longer than the shape and dtype say.
    DataLengthMismatch { expected: u64, actual: u64 },
    /// Memory for the decoded values could not be allocated (a browser tab's wasm memory is
    /// limited to a few GiB).
    OutOfMemory { bytes: u64 },
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyError::BadMagic => write!(f, "not a .npy file: it does not start with \\x93NUMPY"),
            NpyError::Truncated { what, needed, available } => {
                write!(f, "truncated .npy file: the {what} needs {needed} bytes but only {available} are there")
            }
            NpyError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are read)")
            }
            NpyError::BadHeader(why) => write!(f, "malformed .npy header: {why}"),
            NpyError::UnsupportedDtype(d) => write!(f, "unsupported .npy dtype '{d}'"),
            NpyError::ShapeTooLarge { shape } => {
                write!(f, "shape {shape:?} has too many elements (the limit is {} elements)", crate::tensor::MAX_ELEMENTS)
            }
            NpyError::DataLengthMismatch { expected, actual } => {
                write!(f, ".npy data is {actual} bytes but the header's shape and dtype need {expected}")
            }
            NpyError::OutOfMemory { bytes } => {
                write!(f, "not enough memory to decode the tensor ({} MiB of f32 values)", bytes >> 20)
            }
        }
    }
}

/// Every error quantscope reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Npy(NpyError),
    /// A scheme id that is not in the registry.
    UnknownScheme(String),
    /// A tensor name that is not in the file.
    UnknownTensor(String),
    /// The file is in no format quantscope recognises.
    UnknownFormat,
    /// An argument out of its allowed range (bin count, axis, ...).
    InvalidArgument(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Npy(e) => e.fmt(f),
            Error::UnknownScheme(id) => write!(f, "unknown scheme '{id}'"),
            Error::UnknownTensor(name) => write!(f, "no tensor named '{name}' in the file"),
            Error::UnknownFormat => write!(f, "unrecognised file format (quantscope reads .npy files)"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<NpyError> for Error {
    fn from(e: NpyError) -> Self {
        Error::Npy(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
