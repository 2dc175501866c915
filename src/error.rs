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

/// Errors reading GGUF files (see `formats::gguf`). Each variant names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GgufError {
    /// The file does not start with the magic `GGUF`.
    BadMagic,
    /// The file ends inside the part named here.
    Truncated { what: String, offset: u64, needed: u64, available: u64 },
    /// A version other than 2 or 3 (version 1 used 32-bit counts; a big-endian file reads as 2^24·n).
    UnsupportedVersion(u32),
    /// The tensor or metadata count exceeds quantscope's cap.
    TooMany { what: &'static str, count: u64, limit: u64 },
    /// A string (key, value, tensor name) longer than the cap.
    StringTooLong { what: String, len: u64, limit: u64 },
    /// A key or tensor name that is not UTF-8.
    BadUtf8 { what: String },
    /// A metadata value type outside `gguf_type` (0..=12).
    UnknownValueType { key: String, value_type: u32 },
    /// The same metadata key twice.
    DuplicateKey(String),
    /// Arrays nested deeper than the cap.
    NestedTooDeep { key: String, limit: usize },
    /// An array with more elements than the cap.
    ArrayTooLong { key: String, len: u64, limit: u64 },
    /// `general.alignment` is not a u32 power of two (the value as displayed).
    BadAlignment(String),
    /// A tensor with more dims than the cap.
    TooManyDims { name: String, n_dims: u32, limit: u32 },
    /// A ggml type id ggml does not define (or has removed).
    UnknownType { name: String, type_id: u32 },
    /// A tensor whose element count or byte size overflows 64 bits.
    ShapeOverflow { name: String, dims: Vec<u64> },
    /// A row length (`ne[0]`) that is not a whole number of the type's blocks.
    RowNotBlockMultiple { name: String, row: u64, type_name: &'static str, block: u64 },
    /// The same tensor name twice.
    DuplicateTensor(String),
    /// A tensor offset that is not a multiple of the alignment.
    MisalignedTensor { name: String, offset: u64, alignment: u64 },
    /// A tensor whose data runs past the end of the data section.
    TensorOutOfBounds { name: String, offset: u64, size: u64, data_len: u64 },
    /// Two tensors whose data overlap.
    OverlappingTensors { first: String, second: String },
    /// The header (metadata and tensor infos) is longer than a lazy reader reads to find the data.
    HeaderTooLarge { limit: u64 },
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufError::BadMagic => write!(f, "not a GGUF file: it does not start with 'GGUF'"),
            GgufError::Truncated { what, offset, needed, available } => write!(
                f,
                "truncated GGUF file: the {what} at byte {offset} needs {needed} bytes but only {available} are left"
            ),
            GgufError::UnsupportedVersion(v) if matches!(v.swap_bytes(), 2 | 3) => {
                write!(f, "big-endian GGUF file (version {}): only little-endian GGUF is read", v.swap_bytes())
            }
            GgufError::UnsupportedVersion(v) => write!(f, "unsupported GGUF version {v} (versions 2 and 3 are read)"),
            GgufError::TooMany { what, count, limit } => {
                write!(f, "GGUF file declares {count} {what}, more than the limit of {limit}")
            }
            GgufError::StringTooLong { what, len, limit } => {
                write!(f, "GGUF {what} is {len} bytes long, more than the limit of {limit}")
            }
            GgufError::BadUtf8 { what } => write!(f, "GGUF {what} is not valid UTF-8"),
            GgufError::UnknownValueType { key, value_type } => {
                write!(f, "GGUF metadata '{key}' has unknown value type {value_type}")
            }
            GgufError::DuplicateKey(key) => write!(f, "GGUF metadata key '{key}' appears twice"),
            GgufError::NestedTooDeep { key, limit } => {
                write!(f, "GGUF metadata '{key}' nests arrays more than {limit} deep")
            }
            GgufError::ArrayTooLong { key, len, limit } => {
                write!(f, "GGUF metadata '{key}' is an array of {len} elements, more than the limit of {limit}")
            }
            GgufError::BadAlignment(v) => write!(f, "GGUF general.alignment must be a u32 power of two, not {v}"),
            GgufError::TooManyDims { name, n_dims, limit } => {
                write!(f, "GGUF tensor '{name}' has {n_dims} dims, more than the limit of {limit}")
            }
            GgufError::UnknownType { name, type_id } => {
                write!(f, "GGUF tensor '{name}' has unknown ggml type {type_id}")
            }
            GgufError::ShapeOverflow { name, dims } => {
                write!(f, "GGUF tensor '{name}' dims {dims:?} overflow: its size does not fit in 64 bits")
            }
            GgufError::RowNotBlockMultiple { name, row, type_name, block } => write!(
                f,
                "GGUF tensor '{name}' has rows of {row} values, not a multiple of {type_name}'s block size {block}"
            ),
            GgufError::DuplicateTensor(name) => write!(f, "GGUF tensor name '{name}' appears twice"),
            GgufError::MisalignedTensor { name, offset, alignment } => write!(
                f,
                "GGUF tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}"
            ),
            GgufError::TensorOutOfBounds { name, offset, size, data_len } => write!(
                f,
                "GGUF tensor '{name}' data (offset {offset}, {size} bytes) runs past the end of the {data_len}-byte data section"
            ),
            GgufError::OverlappingTensors { first, second } => {
                write!(f, "GGUF tensors '{first}' and '{second}' overlap in the data section")
            }
            GgufError::HeaderTooLarge { limit } => {
                write!(f, "GGUF header runs past its first {} MiB, more than quantscope reads to find the data", limit >> 20)
            }
        }
    }
}

/// Errors reading safetensors files (and sharded sets of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafetensorsError {
    /// The file is shorter than the 8-byte header length every safetensors file starts with.
    Truncated { needed: u64, available: u64 },
    /// The header length is below 2 (the size of `{}`) or above the 100 MB cap.
    BadHeaderLength(u64),
    /// The header length points past the end of the file.
    HeaderPastEnd { header_len: u64, available: u64 },
    /// The header is not UTF-8 JSON of the form the format describes.
    BadHeader(String),
    /// Two header entries name the same tensor.
    DuplicateTensor(String),
    /// A tensor's dtype is one quantscope does not decode (or no dtype at all).
    UnsupportedDtype { tensor: String, dtype: String },
    /// A tensor's element count overflows, or exceeds the element cap.
    ShapeTooLarge { tensor: String, shape: Vec<u64> },
    /// A tensor's `data_offsets` are reversed or end past the data section.
    OffsetsOutOfBounds { tensor: String, start: u64, end: u64, data_len: u64 },
    /// A tensor's byte range is not its shape times its dtype's size.
    DataLengthMismatch { tensor: String, expected: u64, actual: u64 },
    /// Two tensors' byte ranges overlap.
    Overlap { first: String, second: String },
    /// Bytes of the data section that no tensor claims (a gap or trailing bytes).
    UnclaimedBytes { start: u64, end: u64 },
    /// The safetensors crate rejected a file our own checks passed (its message).
    Rejected(String),
    /// The shard index is not the JSON of a `*.safetensors.index.json` (needs a `weight_map`).
    BadIndex(String),
    /// The index maps a tensor to a shard file that was not given.
    MissingShard { shard: String, tensor: String },
    /// The index maps a tensor to a shard that does not hold it.
    TensorNotInShard { tensor: String, shard: String },
    /// A shard of a sharded set failed to parse.
    InShard { shard: String, error: Box<SafetensorsError> },
}

impl fmt::Display for SafetensorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SafetensorsError::*;
        match self {
            Truncated { needed, available } => {
                write!(f, "truncated safetensors file: the header length needs {needed} bytes but only {available} are there")
            }
            BadHeaderLength(n) => write!(
                f,
                "safetensors header length {n} is not plausible (2 to {} bytes)",
                crate::formats::safetensors::MAX_HEADER_LEN
            ),
            HeaderPastEnd { header_len, available } => write!(
                f,
                "truncated safetensors file: the header is {header_len} bytes but only {available} follow the length"
            ),
            BadHeader(why) => write!(f, "malformed safetensors header: {why}"),
            DuplicateTensor(name) => write!(f, "safetensors header lists tensor '{name}' twice"),
            UnsupportedDtype { tensor, dtype } => write!(
                f,
                "tensor '{tensor}' has unsupported safetensors dtype '{dtype}' (quantscope reads {})",
                crate::formats::safetensors::SUPPORTED_DTYPES
            ),
            ShapeTooLarge { tensor, shape } => write!(
                f,
                "tensor '{tensor}': shape {shape:?} has too many elements (the limit is {} elements)",
                crate::tensor::MAX_ELEMENTS
            ),
            OffsetsOutOfBounds { tensor, start, end, data_len } => write!(
                f,
                "tensor '{tensor}': data_offsets [{start}, {end}] fall outside the {data_len}-byte data section"
            ),
            DataLengthMismatch { tensor, expected, actual } => write!(
                f,
                "tensor '{tensor}': data_offsets span {actual} bytes but its shape and dtype need {expected}"
            ),
            Overlap { first, second } => write!(f, "tensors '{first}' and '{second}' overlap in the data section"),
            UnclaimedBytes { start, end } => {
                write!(f, "bytes {start}..{end} of the safetensors data section belong to no tensor")
            }
            Rejected(why) => write!(f, "the safetensors crate rejects this file: {why}"),
            BadIndex(why) => write!(f, "malformed safetensors index: {why}"),
            MissingShard { shard, tensor } => {
                write!(f, "shard '{shard}' (holding tensor '{tensor}') is listed in the index but was not given")
            }
            TensorNotInShard { tensor, shard } => {
                write!(f, "the index puts tensor '{tensor}' in shard '{shard}', which does not hold it")
            }
            InShard { shard, error } => write!(f, "shard '{shard}': {error}"),
        }
    }
}

/// Errors reading `.npz` archives (zips of .npy files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpzError {
    /// The bytes are not a readable zip archive (the zip crate's complaint).
    BadArchive(String),
    /// The archive holds no `.npy` member (non-.npy members are skipped).
    NoArrays,
    /// A member uses a compression method or encryption other than stored/deflate.
    UnsupportedMember { member: String, why: String },
    /// A member declares an uncompressed size above the per-member cap.
    MemberTooLarge { member: String, declared: u64, cap: u64 },
    /// The members' declared uncompressed sizes add up to more than the archive cap.
    TotalTooLarge { declared: u64, cap: u64 },
    /// A member over 1 MB expands more than 1000 times (a zip bomb's signature).
    CompressionRatio { member: String, compressed: u64, declared: u64 },
    /// A member's compressed data is damaged (bad deflate stream or CRC).
    Corrupt { member: String, why: String },
    /// A member inflates to a size other than the one it declares.
    SizeMismatch { member: String, declared: u64, actual: u64 },
    /// A `.npy` member is itself malformed.
    Npy { member: String, error: NpyError },
}

impl fmt::Display for NpzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NpzError::*;
        match self {
            BadArchive(why) => write!(f, "not a readable .npz (zip) archive: {why}"),
            NoArrays => write!(f, "the .npz archive holds no .npy arrays"),
            UnsupportedMember { member, why } => write!(f, ".npz member '{member}': {why} (stored and deflate are read)"),
            MemberTooLarge { member, declared, cap } => {
                write!(f, ".npz member '{member}' declares {declared} bytes uncompressed, over the {cap}-byte cap")
            }
            TotalTooLarge { declared, cap } => {
                write!(f, ".npz members declare {declared} bytes uncompressed in all, over the {cap}-byte cap")
            }
            CompressionRatio { member, compressed, declared } => write!(
                f,
                ".npz member '{member}' claims {declared} bytes from {compressed} compressed: a ratio over 1000:1 looks like a zip bomb"
            ),
            Corrupt { member, why } => write!(f, ".npz member '{member}' is corrupt: {why}"),
            SizeMismatch { member, declared, actual } if actual > declared => write!(
                f,
                ".npz member '{member}' declares {declared} bytes but inflates to more (reading stopped there)"
            ),
            SizeMismatch { member, declared, actual } => {
                write!(f, ".npz member '{member}' declares {declared} bytes but inflates to only {actual}")
            }
            Npy { member, error } => write!(f, ".npz member '{member}': {error}"),
        }
    }
}

/// Errors reading ONNX models (see `formats::onnx`). Each variant names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnnxError {
    /// The bytes are not a protobuf ModelProto (or are truncated); prost's description.
    Decode(String),
    /// A ModelProto without a graph.
    MissingGraph,
    /// An initializer with a negative dim, or dims whose product overflows 64 bits.
    BadDims { name: String, dims: Vec<i64> },
    /// An initializer `data_type` that ONNX does not define.
    UnknownDataType { name: String, data_type: i32 },
    /// An initializer whose data (bytes of `raw_data`, else elements of the typed field) disagrees with its dims.
    DataLengthMismatch { name: String, field: &'static str, expected: u64, actual: u64 },
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxError::Decode(why) => {
                write!(f, "not a valid ONNX model (truncated, or not a protobuf ModelProto): {why}")
            }
            OnnxError::MissingGraph => write!(f, "not an ONNX model: the ModelProto has no graph"),
            OnnxError::BadDims { name, dims } => {
                write!(f, "ONNX initializer '{name}' has dims {dims:?}: negative or their product overflows")
            }
            OnnxError::UnknownDataType { name, data_type } => {
                write!(f, "ONNX initializer '{name}' has unknown data_type {data_type}")
            }
            OnnxError::DataLengthMismatch { name, field, expected, actual } => {
                let unit = if *field == "raw_data" { "bytes" } else { "elements" };
                write!(f, "ONNX initializer '{name}' {field} has {actual} {unit} but its dims need {expected}")
            }
        }
    }
}

/// Errors of the model engine (`crate::engine`): loading a graph, running it, quantizing it.
/// Every message names the node (its name, or `#index` when it has none) and its op type
/// where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The bytes are not an ONNX model (the ONNX reader's message).
    Decode(String),
    /// An initializer, a Constant or a tensor attribute whose data cannot be decoded.
    BadTensor { name: String, why: String },
    /// An op type the engine does not implement (checked when the model loads).
    UnsupportedOp { node: String, op: String, domain: String },
    /// An attribute value, dtype combination or mode the op implementation does not support.
    Unsupported { node: String, op: String, why: String },
    /// An attribute that is required and missing, of the wrong type, or out of range.
    BadAttribute { node: String, op: String, attribute: String, why: String },
    /// A node input that no initializer, graph input or node output provides.
    MissingInput { node: String, op: String, input: String },
    /// A value name that two nodes (or a node and an initializer/input) both produce.
    DuplicateOutput { node: String, op: String, output: String },
    /// The nodes cannot be ordered: these nodes depend on each other in a cycle.
    Cycle { nodes: Vec<String> },
    /// A graph output that nothing produces.
    MissingGraphOutput { output: String },
    /// `run` was given an input the model does not have (the model's inputs are listed).
    UnknownInput { name: String, expected: Vec<String> },
    /// `run` was not given one of the model's inputs.
    InputNotGiven { name: String },
    /// An input (given to `run`) whose dtype or shape contradicts the model's declaration.
    InputMismatch { name: String, why: String },
    /// A node input of the wrong rank.
    Rank { node: String, op: String, input: String, expected: String, got: usize },
    /// Shapes that do not fit together (broadcasting, inner dimensions, element counts).
    ShapeMismatch { node: String, op: String, why: String },
    /// An input dtype the op does not accept.
    Dtype { node: String, op: String, why: String },
    /// A value the op cannot compute with (index out of range, zero divisor, bad axis).
    InvalidValue { node: String, op: String, why: String },
    /// Quantization settings that cannot be applied to this model.
    Quantize(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EngineError::*;
        match self {
            Decode(why) => write!(f, "cannot load the model: {why}"),
            BadTensor { name, why } => write!(f, "tensor '{name}' cannot be read: {why}"),
            UnsupportedOp { node, op, domain } if domain.is_empty() || domain == "ai.onnx" => {
                write!(f, "node '{node}': op '{op}' is not supported by the engine")
            }
            UnsupportedOp { node, op, domain } => {
                write!(f, "node '{node}': op '{domain}.{op}' is not supported by the engine (only the default ONNX domain is)")
            }
            Unsupported { node, op, why } => write!(f, "node '{node}' ({op}): not supported: {why}"),
            BadAttribute { node, op, attribute, why } => write!(f, "node '{node}' ({op}): attribute '{attribute}' {why}"),
            MissingInput { node, op, input } => {
                write!(f, "node '{node}' ({op}): input '{input}' is not produced by any node, initializer or graph input")
            }
            DuplicateOutput { node, op, output } => write!(f, "node '{node}' ({op}): output '{output}' is already defined"),
            Cycle { nodes } => write!(f, "the graph has a cycle through nodes {}", nodes.join(", ")),
            MissingGraphOutput { output } => write!(f, "graph output '{output}' is not produced by any node"),
            UnknownInput { name, expected } => {
                write!(f, "the model has no input '{name}' (its inputs: {})", expected.join(", "))
            }
            InputNotGiven { name } => write!(f, "model input '{name}' was not given"),
            InputMismatch { name, why } => write!(f, "model input '{name}': {why}"),
            Rank { node, op, input, expected, got } => {
                write!(f, "node '{node}' ({op}): input '{input}' has rank {got}, expected {expected}")
            }
            ShapeMismatch { node, op, why } => write!(f, "node '{node}' ({op}): shape mismatch: {why}"),
            Dtype { node, op, why } => write!(f, "node '{node}' ({op}): {why}"),
            InvalidValue { node, op, why } => write!(f, "node '{node}' ({op}): {why}"),
            Quantize(why) => write!(f, "cannot quantize the model: {why}"),
        }
    }
}

/// Every error quantscope reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Npy(NpyError),
    Safetensors(SafetensorsError),
    Npz(NpzError),
    Gguf(GgufError),
    Onnx(OnnxError),
    Engine(EngineError),
    /// A scheme id that is not in the registry.
    UnknownScheme(String),
    /// A tensor name that is not in the file.
    UnknownTensor(String),
    /// The file is in no format quantscope recognises.
    UnknownFormat,
    /// An argument out of its allowed range (bin count, axis, ...).
    InvalidArgument(String),
    /// Reading a file's bytes failed (an I/O error, or a range past its end).
    Read(String),
    /// A tensor too large for an operation that needs all its values in memory at once
    /// (`operation` says which, e.g. "the scheme comparison").
    TensorTooLarge { tensor: String, elements: u64, limit: u64, operation: &'static str },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Npy(e) => e.fmt(f),
            Error::Safetensors(e) => e.fmt(f),
            Error::Npz(e) => e.fmt(f),
            Error::Gguf(e) => e.fmt(f),
            Error::Onnx(e) => e.fmt(f),
            Error::Engine(e) => e.fmt(f),
            Error::UnknownScheme(id) => write!(f, "unknown scheme '{id}'"),
            Error::UnknownTensor(name) => write!(f, "no tensor named '{name}' in the file"),
            Error::UnknownFormat => write!(f, "unrecognised file format (quantscope reads .npy, .npz, .safetensors, .gguf and .onnx files)"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::Read(why) => write!(f, "could not read the file: {why}"),
            Error::TensorTooLarge { tensor, elements, limit, operation } => write!(
                f,
                "tensor '{tensor}' has {elements} elements, too many for {operation}, which holds at most {limit} values of one tensor in memory"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<NpyError> for Error {
    fn from(e: NpyError) -> Self {
        Error::Npy(e)
    }
}

impl From<SafetensorsError> for Error {
    fn from(e: SafetensorsError) -> Self {
        Error::Safetensors(e)
    }
}

impl From<NpzError> for Error {
    fn from(e: NpzError) -> Self {
        Error::Npz(e)
    }
}

impl From<GgufError> for Error {
    fn from(e: GgufError) -> Self {
        Error::Gguf(e)
    }
}

impl From<OnnxError> for Error {
    fn from(e: OnnxError) -> Self {
        Error::Onnx(e)
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        Error::Engine(e)
    }
}

impl std::error::Error for EngineError {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
