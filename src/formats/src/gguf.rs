//! GGUF reader (versions 2 and 3, little-endian), following the layout in llama.cpp's
//! `ggml/src/gguf.cpp` and `docs/gguf.md`, as candle's `quantized/gguf_file.rs` reads it:
//!
//! ```text
//! "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//! kv_count × (string key | u32 value_type | value)
//! tensor_count × (string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset)
//! padding to `general.alignment` (default 32) | data section
//! ```
//!
//! Strings are a u64 length and that many UTF-8 bytes; an array value is a u32 element type,
//! a u64 length and the elements (arrays may nest). GGUF dims are innermost-first (ggml's
//! `ne[0]` is the row length), so the row-major shape is the dims reversed.
//!
//! Every tensor of every type ggml defines is decoded to f32: `f32`, `f16`, `bf16`, `f64`,
//! `i8`, `i16`, `i32`, `i64` directly; the block types the scheme library implements (`q4_0`,
//! `q4_1`, `q5_0`, `q5_1`, `q8_0`, `mxfp4`, `q2_k` … `q6_k`) through
//! [`quantscope_core::schemes::by_id`], bit-exact with gguf-py; and the rest (IQ1_S … IQ4_XS,
//! TQ1_0, TQ2_0, NVFP4, Q1_0, Q2_0, Q8_1, Q8_K) through [`quantscope_core::ggml_dequant`],
//! bit-exact with llama.cpp. `Tensor::dtype` is the ggml type name in lowercase; a type id
//! ggml does not define (or has removed) is an error naming the id.
//!
//! # What is skipped rather than refused
//!
//! A whole model should load even if a few of its tensors cannot be decoded, so these tensors
//! are left out of [`LoadedFile::tensors`] and named in the metadata instead:
//!
//! * a tensor of more than [`MAX_ELEMENTS`] elements, or one that would take the decoded total
//!   past [`MAX_ELEMENTS`] (a browser tab cannot hold more as f32): key `skipped tensor <name>`.
//!
//! Their infos are still validated (sizes, bounds, overlap) like every other tensor's.
//!
//! # Defences
//!
//! Nothing is allocated from a declared count: strings are capped at [`MAX_STRING_LEN`] bytes,
//! arrays at [`MAX_ARRAY_LEN`] elements and [`MAX_DEPTH`] levels of nesting, the file at
//! [`MAX_TENSORS`] tensors and [`MAX_KVS`] key/values, tensors at [`MAX_DIMS`] dims; every
//! offset and size is checked arithmetic, checked against the bytes present, the alignment
//! and the other tensors (overlapping data is an error). Row lengths must be a whole number of
//! the type's blocks, as ggml requires.

use super::{Format, LoadedFile};
use crate::error::Error;
use half::{bf16, f16};
use quantscope_core::tensor::{checked_element_count, Tensor, MAX_ELEMENTS};
use std::fmt;

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
            GgufError::Truncated { what, offset, needed, available } => {
                write!(f, "truncated GGUF file: the {what} at byte {offset} needs {needed} bytes but only {available} are left")
            }
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
                write!(
                    f,
                    "GGUF tensor '{name}' has unknown ggml type {type_id} (not an id of ggml.h's enum ggml_type, or one ggml removed)"
                )
            }
            GgufError::ShapeOverflow { name, dims } => {
                write!(f, "GGUF tensor '{name}' dims {dims:?} overflow: its size does not fit in 64 bits")
            }
            GgufError::RowNotBlockMultiple { name, row, type_name, block } => {
                write!(f, "GGUF tensor '{name}' has rows of {row} values, not a multiple of {type_name}'s block size {block}")
            }
            GgufError::DuplicateTensor(name) => write!(f, "GGUF tensor name '{name}' appears twice"),
            GgufError::MisalignedTensor { name, offset, alignment } => {
                write!(f, "GGUF tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}")
            }
            GgufError::TensorOutOfBounds { name, offset, size, data_len } => {
                write!(f, "GGUF tensor '{name}' data (offset {offset}, {size} bytes) runs past the end of the {data_len}-byte data section")
            }
            GgufError::OverlappingTensors { first, second } => {
                write!(f, "GGUF tensors '{first}' and '{second}' overlap in the data section")
            }
            GgufError::HeaderTooLarge { limit } => {
                write!(f, "GGUF header runs past its first {} MiB, more than quantscope reads to find the data", limit >> 20)
            }
        }
    }
}

pub const MAGIC: &[u8; 4] = b"GGUF";
/// Longest string (key, value, tensor name) read, in bytes. Chat templates are a few KB;
/// ggml itself has no cap.
pub const MAX_STRING_LEN: u64 = 1 << 20;
/// Most elements in one metadata array (a 256k-token vocabulary is 2.6% of this).
pub const MAX_ARRAY_LEN: u64 = 10_000_000;
/// Deepest array nesting (an array of arrays is depth 2).
pub const MAX_DEPTH: usize = 4;
/// Most tensors in one file (the largest published models have a few thousand).
pub const MAX_TENSORS: u64 = 1 << 20;
/// Most metadata key/values in one file.
pub const MAX_KVS: u64 = 1 << 20;
/// Most dims of one tensor (ggml's `GGML_MAX_DIMS` is 4; a little slack for other writers).
pub const MAX_DIMS: u32 = 8;
/// `general.alignment` when the file does not set it (`GGUF_DEFAULT_ALIGNMENT`).
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Array elements shown in a metadata value before it is summarised.
const ARRAY_PREVIEW: usize = 8;
/// Elements shown in a summarised array.
const ARRAY_SUMMARY: usize = 3;
/// Characters of a string shown in a metadata value.
const STRING_PREVIEW: usize = 1000;

/// True when `bytes` starts like a GGUF file.
pub fn sniff(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// How quantscope handles one ggml type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decode {
    F32,
    F16,
    Bf16,
    F64,
    I8,
    I16,
    I32,
    I64,
    /// Through the scheme with this id.
    Scheme,
    /// Through `quantscope_core::ggml_dequant` (the types quantscope reads but does not write).
    Dequant,
}

/// A ggml type: name, values per block, bytes per block (`type_traits` in `ggml/src/ggml.c`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GgmlTypeInfo {
    pub(crate) name: &'static str,
    pub(crate) block: u64,
    pub(crate) bytes: u64,
    pub(crate) decode: Decode,
}

/// The ggml type with this id, from `quantscope_core::ggml_types` (ids ggml removed are unknown
/// here too), and how this reader decodes it.
pub(crate) fn ggml_type(id: u32) -> Option<GgmlTypeInfo> {
    use Decode::*;
    let t = quantscope_core::ggml_types::by_id(id)?;
    let decode = match t.name {
        "f32" => F32,
        "f16" => F16,
        "bf16" => Bf16,
        "f64" => F64,
        "i8" => I8,
        "i16" => I16,
        "i32" => I32,
        "i64" => I64,
        "q4_0" | "q4_1" | "q5_0" | "q5_1" | "q8_0" | "q2_k" | "q3_k" | "q4_k" | "q5_k" | "q6_k" | "mxfp4" => Scheme,
        name if quantscope_core::ggml_dequant::dequantizer(name).is_some() => Dequant,
        // Every type in the table decodes (a test says so); a new one is unknown until it does.
        _ => return None,
    };
    Some(GgmlTypeInfo { name: t.name, block: t.block, bytes: t.bytes, decode })
}

/// A cursor over the file that never reads past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let truncated =
            || GgufError::Truncated { what: what(), offset: self.pos as u64, needed: n, available: (self.bytes.len() - self.pos) as u64 };
        let n = usize::try_from(n).map_err(|_| truncated())?;
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let out = self.bytes.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        Ok(self.take(N as u64, what)?.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A length-prefixed string's bytes (not yet checked as UTF-8).
    fn string_bytes(&mut self, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let len = self.u64(&|| format!("length of {}", what()))?;
        if len > MAX_STRING_LEN {
            return Err(GgufError::StringTooLong { what: what(), len, limit: MAX_STRING_LEN });
        }
        self.take(len, what)
    }

    /// A string that must be UTF-8 (keys and tensor names).
    fn utf8(&mut self, what: &dyn Fn() -> String) -> Result<&'a str, GgufError> {
        let b = self.string_bytes(what)?;
        std::str::from_utf8(b).map_err(|_| GgufError::BadUtf8 { what: what() })
    }
}

/// Metadata value types (`enum gguf_type` of llama.cpp's `ggml/include/gguf.h`).
pub mod vt {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// The plural noun for a summarised array of this value type.
fn type_plural(t: u32) -> &'static str {
    match t {
        vt::U8 => "u8s",
        vt::I8 => "i8s",
        vt::U16 => "u16s",
        vt::I16 => "i16s",
        vt::U32 => "u32s",
        vt::I32 => "i32s",
        vt::F32 => "f32s",
        vt::BOOL => "bools",
        vt::STRING => "strings",
        vt::ARRAY => "arrays",
        vt::U64 => "u64s",
        vt::I64 => "i64s",
        _ => "f64s",
    }
}

/// A string for display: at most [`STRING_PREVIEW`] characters, lossy for bad UTF-8.
fn display_string(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    match s.char_indices().nth(STRING_PREVIEW) {
        Some((cut, _)) => format!("{}… ({} bytes)", &s[..cut], b.len()),
        None => s.into_owned(),
    }
}

/// A float for display: Rust's shortest round-trip text, in exponent form when that would be
/// long (`1e-300`, not 300 zeros).
fn display_float<T: std::fmt::Display + std::fmt::LowerExp + Into<f64> + Copy>(v: T) -> String {
    let x: f64 = v.into();
    if x != 0.0 && x.is_finite() && (x.abs() < 1e-5 || x.abs() >= 1e16) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// Reads one metadata value of type `t` and returns its display text, or `None` when
/// `display` is false (an array element past the preview: read and checked, not formatted).
/// `quoted` puts strings in quotes (inside arrays). `depth` counts enclosing arrays.
fn read_value(r: &mut Reader, t: u32, key: &str, depth: usize, display: bool, quoted: bool) -> Result<Option<String>, GgufError> {
    let what = || format!("value of '{key}'");
    macro_rules! num {
        ($ty:ty) => {{
            let v = <$ty>::from_le_bytes(r.array(&what)?);
            display.then(|| v.to_string())
        }};
    }
    Ok(match t {
        vt::U8 => num!(u8),
        vt::I8 => num!(i8),
        vt::U16 => num!(u16),
        vt::I16 => num!(i16),
        vt::U32 => num!(u32),
        vt::I32 => num!(i32),
        vt::F32 => {
            let v = f32::from_le_bytes(r.array(&what)?);
            display.then(|| display_float(v))
        }
        vt::U64 => num!(u64),
        vt::I64 => num!(i64),
        vt::F64 => {
            let v = f64::from_le_bytes(r.array(&what)?);
            display.then(|| display_float(v))
        }
        vt::BOOL => {
            let [b] = r.array::<1>(&what)?;
            display.then(|| (b != 0).to_string())
        }
        vt::STRING => {
            let b = r.string_bytes(&what)?;
            display.then(|| {
                let s = display_string(b);
                if quoted {
                    format!("\"{}\"", s.escape_debug())
                } else {
                    s
                }
            })
        }
        vt::ARRAY => {
            if depth + 1 > MAX_DEPTH {
                return Err(GgufError::NestedTooDeep { key: key.to_string(), limit: MAX_DEPTH });
            }
            let elem = r.u32(&|| format!("array type of '{key}'"))?;
            if elem > vt::F64 {
                return Err(GgufError::UnknownValueType { key: key.to_string(), value_type: elem });
            }
            let len = r.u64(&|| format!("array length of '{key}'"))?;
            if len > MAX_ARRAY_LEN {
                return Err(GgufError::ArrayTooLong { key: key.to_string(), len, limit: MAX_ARRAY_LEN });
            }
            let size = match elem {
                vt::U8 | vt::I8 | vt::BOOL => Some(1u64),
                vt::U16 | vt::I16 => Some(2),
                vt::U32 | vt::I32 | vt::F32 => Some(4),
                vt::U64 | vt::I64 | vt::F64 => Some(8),
                _ => None,
            };
            let summarise = len as usize > ARRAY_PREVIEW;
            let shown = if summarise { ARRAY_SUMMARY } else { ARRAY_PREVIEW };
            let mut items = Vec::new();
            for i in 0..len {
                let show = display && (i as usize) < shown;
                if !show {
                    if let Some(size) = size {
                        // Fixed-size elements past the preview: skip them all at once.
                        let rest = (len - i).saturating_mul(size);
                        r.take(rest, &what)?;
                        break;
                    }
                }
                if let Some(s) = read_value(r, elem, key, depth + 1, show, true)? {
                    items.push(s);
                }
            }
            display.then(|| {
                if summarise {
                    format!("[{len} {}: {}, …]", type_plural(elem), items.join(", "))
                } else {
                    format!("[{}]", items.join(", "))
                }
            })
        }
        other => return Err(GgufError::UnknownValueType { key: key.to_string(), value_type: other }),
    })
}

/// One tensor's header, validated.
pub(crate) struct TensorInfo {
    pub(crate) name: String,
    /// Row-major (dims reversed).
    pub(crate) shape: Vec<u64>,
    pub(crate) ty: GgmlTypeInfo,
    /// Within the data section.
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

/// One metadata key/value as stored: the key, its `gguf_type` and the value's bytes (for an
/// array: element type, length and elements), so a writer can copy it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKv {
    pub key: String,
    pub value_type: u32,
    pub value: Vec<u8>,
}

/// Everything before the data section, validated against the file's length.
pub(crate) struct Header {
    /// Display strings, starting with `gguf.version`.
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) raw: Vec<RawKv>,
    pub(crate) data_start: u64,
    pub(crate) infos: Vec<TensorInfo>,
}

/// The most header bytes [`super::lazy`] reads to find the data section (a header with a
/// 256k-token vocabulary is a few MB).
pub const MAX_HEADER_BYTES: u64 = 256 << 20;

/// Parses the header of a GGUF file of `file_len` bytes from `prefix`, its first bytes. When the
/// prefix ends inside the header the error is [`GgufError::Truncated`]; a caller holding only a
/// prefix of the file reads more and tries again. Tensor sizes, alignment, bounds and overlaps
/// are checked against `file_len`.
pub(crate) fn parse_header(bytes: &[u8], file_len: u64) -> Result<Header, Error> {
    let mut r = Reader { bytes, pos: 0 };
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            GgufError::Truncated { what: "magic".into(), offset: 0, needed: 4, available: bytes.len() as u64 }.into()
        } else {
            GgufError::BadMagic.into()
        });
    }
    if !sniff(bytes) {
        return Err(GgufError::BadMagic.into());
    }
    r.pos = 4;
    let version = r.u32(&|| "version".into())?;
    if version != 2 && version != 3 {
        return Err(GgufError::UnsupportedVersion(version).into());
    }
    let tensor_count = r.u64(&|| "tensor count".into())?;
    if tensor_count > MAX_TENSORS {
        return Err(GgufError::TooMany { what: "tensors", count: tensor_count, limit: MAX_TENSORS }.into());
    }
    let kv_count = r.u64(&|| "metadata count".into())?;
    if kv_count > MAX_KVS {
        return Err(GgufError::TooMany { what: "metadata key/values", count: kv_count, limit: MAX_KVS }.into());
    }

    let mut metadata = vec![("gguf.version".to_string(), version.to_string())];
    let mut raw = Vec::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    let mut keys = std::collections::HashSet::new();
    for i in 0..kv_count {
        let key = r.utf8(&|| format!("key #{i}"))?;
        if !keys.insert(key) {
            return Err(GgufError::DuplicateKey(key.to_string()).into());
        }
        let t = r.u32(&|| format!("value type of '{key}'"))?;
        let start = r.pos;
        let text = read_value(&mut r, t, key, 0, true, false)?.expect("displayed");
        if key == "general.alignment" {
            // gguf.cpp: a u32, non-zero power of two.
            let value = (t == vt::U32).then(|| u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap()));
            match value {
                Some(a) if a.is_power_of_two() => alignment = a as u64,
                _ => return Err(GgufError::BadAlignment(text).into()),
            }
        }
        raw.push(RawKv { key: key.to_string(), value_type: t, value: bytes[start..r.pos].to_vec() });
        metadata.push((key.to_string(), text));
    }

    let mut infos = Vec::new();
    let mut names = std::collections::HashSet::new();
    for i in 0..tensor_count {
        let name = r.utf8(&|| format!("name of tensor #{i}"))?.to_string();
        let what = |part: &str| format!("{part} of tensor '{name}'");
        let n_dims = r.u32(&|| what("n_dims"))?;
        if n_dims > MAX_DIMS {
            return Err(GgufError::TooManyDims { name, n_dims, limit: MAX_DIMS }.into());
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64(&|| what("dims"))?);
        }
        let type_id = r.u32(&|| what("type"))?;
        let offset = r.u64(&|| what("offset"))?;
        let Some(ty) = ggml_type(type_id) else {
            return Err(GgufError::UnknownType { name, type_id }.into());
        };
        let elements = crate::checked_dims_product(&dims);
        let size = elements.and_then(|n| (n / ty.block).checked_mul(ty.bytes));
        let Some(size) = size else {
            return Err(GgufError::ShapeOverflow { name, dims }.into());
        };
        let row = dims.first().copied().unwrap_or(1);
        if row % ty.block != 0 {
            return Err(GgufError::RowNotBlockMultiple { name, row, type_name: ty.name, block: ty.block }.into());
        }
        if !names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor(name).into());
        }
        let shape = dims.into_iter().rev().collect();
        infos.push(TensorInfo { name, shape, ty, offset, size });
    }

    // The data section starts at the next multiple of the alignment.
    let data_start = (r.pos as u64).div_ceil(alignment).saturating_mul(alignment);
    let data_len = file_len.saturating_sub(data_start);
    for t in &infos {
        if t.offset % alignment != 0 {
            return Err(GgufError::MisalignedTensor { name: t.name.clone(), offset: t.offset, alignment }.into());
        }
        let end = t.offset.checked_add(t.size);
        if !matches!(end, Some(end) if end <= data_len) {
            return Err(GgufError::TensorOutOfBounds { name: t.name.clone(), offset: t.offset, size: t.size, data_len }.into());
        }
    }
    let mut by_offset: Vec<&TensorInfo> = infos.iter().filter(|t| t.size > 0).collect();
    by_offset.sort_by_key(|t| t.offset);
    for pair in by_offset.windows(2) {
        if pair[0].offset + pair[0].size > pair[1].offset {
            return Err(GgufError::OverlappingTensors { first: pair[0].name.clone(), second: pair[1].name.clone() }.into());
        }
    }
    Ok(Header { metadata, raw, data_start, infos })
}

/// Parses a whole GGUF file.
pub fn parse(bytes: &[u8]) -> Result<LoadedFile, Error> {
    let Header { mut metadata, data_start, infos, .. } = parse_header(bytes, bytes.len() as u64)?;
    let data = bytes.get(data_start as usize..).unwrap_or(&[]);
    let mut tensors = Vec::new();
    let mut decoded_total = 0u64;
    for t in infos {
        let count = checked_element_count(&t.shape);
        let within_total = count.and_then(|n| decoded_total.checked_add(n)).filter(|&total| total <= MAX_ELEMENTS);
        let Some(total) = within_total else {
            metadata.push((
                format!("skipped tensor {}", t.name),
                format!("{:?} {}: more than the {MAX_ELEMENTS} elements quantscope decodes per file", t.shape, t.ty.name),
            ));
            continue;
        };
        decoded_total = total;
        let raw = &data[t.offset as usize..(t.offset + t.size) as usize];
        let shape: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
        let values = decode(t.ty, raw, &shape)?;
        tensors.push(Tensor::new(t.name, shape, t.ty.name, values));
    }
    Ok(LoadedFile { format: Format::Gguf, metadata, tensors, weights: Vec::new() })
}

/// Decodes one tensor's bytes (already checked to be exactly its size) to f32.
pub(crate) fn decode(ty: GgmlTypeInfo, raw: &[u8], shape: &[usize]) -> Result<Vec<f32>, Error> {
    fn each<const N: usize>(raw: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
        raw.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact yields N bytes"))).collect()
    }
    Ok(match ty.decode {
        Decode::F32 => each(raw, f32::from_le_bytes),
        Decode::F16 => each(raw, |b| f16::from_le_bytes(b).to_f32()),
        Decode::Bf16 => each(raw, |b| bf16::from_le_bytes(b).to_f32()),
        Decode::F64 => each(raw, |b| f64::from_le_bytes(b) as f32),
        Decode::I8 => raw.iter().map(|&b| b as i8 as f32).collect(),
        Decode::I16 => each(raw, |b| i16::from_le_bytes(b) as f32),
        Decode::I32 => each(raw, |b| i32::from_le_bytes(b) as f32),
        Decode::I64 => each(raw, |b| i64::from_le_bytes(b) as f32),
        Decode::Scheme => quantscope_core::schemes::by_id(ty.name)?.dequantize(raw, shape)?,
        Decode::Dequant => {
            let mut out = vec![0f32; raw.len() / ty.bytes as usize * ty.block as usize];
            quantscope_core::ggml_dequant::dequantize(ty.name, raw, &mut out).expect("the size was checked against the type's blocks");
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds GGUF files for the tests.
    #[derive(Default)]
    pub(crate) struct Builder {
        pub version: u32,
        pub kvs: Vec<Vec<u8>>,
        pub infos: Vec<Vec<u8>>,
        pub data: Vec<u8>,
        pub alignment: usize,
    }

    pub(crate) fn s(text: &[u8]) -> Vec<u8> {
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(text);
        out
    }

    impl Builder {
        fn new() -> Self {
            Builder { version: 3, alignment: 32, ..Default::default() }
        }
        fn kv(mut self, key: &[u8], t: u32, value: &[u8]) -> Self {
            let mut b = s(key);
            b.extend_from_slice(&t.to_le_bytes());
            b.extend_from_slice(value);
            self.kvs.push(b);
            self
        }
        fn tensor(mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
            let mut b = s(name.as_bytes());
            b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
            self.infos.push(b);
            self
        }
        fn data(mut self, d: &[u8]) -> Self {
            self.data.extend_from_slice(d);
            self
        }
        fn build(&self) -> Vec<u8> {
            let mut out = MAGIC.to_vec();
            out.extend_from_slice(&self.version.to_le_bytes());
            out.extend_from_slice(&(self.infos.len() as u64).to_le_bytes());
            out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
            self.kvs.iter().chain(&self.infos).for_each(|b| out.extend_from_slice(b));
            while out.len() % self.alignment != 0 {
                out.push(0);
            }
            out.extend_from_slice(&self.data);
            out
        }
    }

    fn err(bytes: &[u8]) -> GgufError {
        match parse(bytes) {
            Err(Error::Gguf(e)) => e,
            other => panic!("expected a GGUF error, got {other:?}"),
        }
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn arr(t: u32, items: &[Vec<u8>]) -> Vec<u8> {
        let mut b = t.to_le_bytes().to_vec();
        b.extend_from_slice(&(items.len() as u64).to_le_bytes());
        items.iter().for_each(|i| b.extend_from_slice(i));
        b
    }

    #[test]
    fn reads_tensors_and_reverses_dims() {
        let f = Builder::new()
            .kv(b"general.name", vt::STRING, &s(b"tiny"))
            .tensor("w", &[3, 2], 0, 0)
            .tensor("h", &[2], 1, 32)
            .data(&f32_bytes(&[1., 2., 3., 4., 5., 6.]))
            .data(&[0; 8])
            .data(&[0x00, 0x3c, 0x00, 0xc0])
            .build();
        let file = parse(&f).unwrap();
        assert_eq!(file.format, Format::Gguf);
        assert_eq!(file.metadata[1], ("general.name".to_string(), "tiny".to_string()));
        assert_eq!(file.tensors[0].shape, vec![2, 3]);
        assert_eq!(file.tensors[0].data, vec![1., 2., 3., 4., 5., 6.]);
        assert_eq!((file.tensors[1].dtype.as_str(), file.tensors[1].data.clone()), ("f16", vec![1.0, -2.0]));
    }

    #[test]
    fn metadata_of_every_type_displays() {
        let many: Vec<Vec<u8>> = (0..20u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let strings: Vec<Vec<u8>> = ["a", "\"", "c", "d", "e", "f", "g", "h", "i"].iter().map(|t| s(t.as_bytes())).collect();
        let nested = arr(vt::ARRAY, &[arr(vt::I8, &[vec![0xff], vec![1]]), arr(vt::BOOL, &[vec![1]])]);
        let f = Builder::new()
            .kv(b"u8", vt::U8, &[200])
            .kv(b"i16", vt::I16, &(-3i16).to_le_bytes())
            .kv(b"f32", vt::F32, &0.5f32.to_le_bytes())
            .kv(b"f64", vt::F64, &(-1.25f64).to_le_bytes())
            .kv(b"bool", vt::BOOL, &[0])
            .kv(b"i64", vt::I64, &(-9i64).to_le_bytes())
            .kv(b"u32s", vt::ARRAY, &arr(vt::U32, &many))
            .kv(b"strs", vt::ARRAY, &arr(vt::STRING, &strings))
            .kv(b"nested", vt::ARRAY, &nested)
            .build();
        let m: std::collections::HashMap<_, _> = parse(&f).unwrap().metadata.into_iter().collect();
        assert_eq!(m["u8"], "200");
        assert_eq!(m["i16"], "-3");
        assert_eq!(m["f32"], "0.5");
        assert_eq!(m["f64"], "-1.25");
        assert_eq!(m["bool"], "false");
        assert_eq!(m["i64"], "-9");
        assert_eq!(m["u32s"], "[20 u32s: 0, 1, 2, …]");
        assert_eq!(m["strs"], r#"[9 strings: "a", "\"", "c", …]"#);
        assert_eq!(m["nested"], "[[-1, 1], [true]]");
    }

    #[test]
    fn every_type_in_the_table_decodes() {
        for t in quantscope_core::ggml_types::GGML_TYPES {
            assert!(ggml_type(t.id).is_some(), "{} has a decoder", t.name);
        }
        // An IQ tensor loads: an all-zero iq2_xxs block has d = 0, so every value is 0.
        let f = Builder::new().tensor("iq", &[256], 16, 0).data(&[0; 66]).build();
        let file = parse(&f).unwrap();
        assert_eq!((file.tensors[0].dtype.as_str(), file.tensors[0].data.len()), ("iq2_xxs", 256));
        assert!(file.tensors[0].data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn custom_alignment_moves_the_data_section() {
        let mut b = Builder::new().kv(b"general.alignment", vt::U32, &64u32.to_le_bytes()).tensor("w", &[1], 0, 0);
        b.alignment = 64;
        let f = b.data(&2.5f32.to_le_bytes()).build();
        assert_eq!(f.len(), 132, "header of 90 bytes padded to 128, not 96");
        assert_eq!(parse(&f).unwrap().tensors[0].data, vec![2.5]);
    }

    #[test]
    fn every_error_variant_is_reachable() {
        assert_eq!(err(b"GGML\x03\0\0\0"), GgufError::BadMagic);
        assert!(matches!(err(b"GG"), GgufError::Truncated { .. }));
        let mut v1 = Builder::new();
        v1.version = 1;
        assert_eq!(err(&v1.build()), GgufError::UnsupportedVersion(1));
        assert_eq!(err(b"GGUF\0\0\0\x03"), GgufError::UnsupportedVersion(3 << 24));
        let mut huge = Builder::new().build();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(err(&huge), GgufError::TooMany { what: "tensors", .. }));
        let long = [&u64::MAX.to_le_bytes()[..], b"x"].concat();
        let mut f = Builder::new().build();
        f[16..24].copy_from_slice(&1u64.to_le_bytes());
        f.truncate(24);
        f.extend_from_slice(&long);
        assert!(matches!(err(&f), GgufError::StringTooLong { .. }));
        assert!(matches!(err(&Builder::new().kv(b"\xff", vt::U8, &[1]).build()), GgufError::BadUtf8 { .. }));
        assert!(matches!(err(&Builder::new().kv(b"k", 13, &[1]).build()), GgufError::UnknownValueType { value_type: 13, .. }));
        let dup = Builder::new().kv(b"k", vt::U8, &[1]).kv(b"k", vt::U8, &[2]).build();
        assert_eq!(err(&dup), GgufError::DuplicateKey("k".into()));
        let mut deep = arr(vt::U8, &[]);
        for _ in 0..MAX_DEPTH {
            deep = arr(vt::ARRAY, &[deep]);
        }
        assert!(matches!(err(&Builder::new().kv(b"deep", vt::ARRAY, &deep).build()), GgufError::NestedTooDeep { .. }));
        let mut big_array = vt::U8.to_le_bytes().to_vec();
        big_array.extend_from_slice(&(MAX_ARRAY_LEN + 1).to_le_bytes());
        assert!(matches!(err(&Builder::new().kv(b"a", vt::ARRAY, &big_array).build()), GgufError::ArrayTooLong { .. }));
        let bad_align = Builder::new().kv(b"general.alignment", vt::U32, &48u32.to_le_bytes()).build();
        assert_eq!(err(&bad_align), GgufError::BadAlignment("48".into()));
        assert!(matches!(err(&Builder::new().tensor("t", &[1; 9], 0, 0).build()), GgufError::TooManyDims { n_dims: 9, .. }));
        assert!(matches!(err(&Builder::new().tensor("t", &[1], 4, 0).build()), GgufError::UnknownType { type_id: 4, .. }));
        let overflow = Builder::new().tensor("t", &[1 << 32, 1 << 32], 0, 0).build();
        assert!(matches!(err(&overflow), GgufError::ShapeOverflow { .. }));
        // Empty in file order, but the non-zero dims overflow (found by the `lazy` fuzz target:
        // the reversed shape's product panicked).
        let empty_overflow = Builder::new().tensor("t", &[0, 1 << 40, 1 << 40], 0, 0).build();
        assert!(matches!(err(&empty_overflow), GgufError::ShapeOverflow { .. }));
        assert!(matches!(err(&Builder::new().tensor("t", &[33], 2, 0).build()), GgufError::RowNotBlockMultiple { row: 33, .. }));
        let dup = Builder::new().tensor("t", &[1], 0, 0).tensor("t", &[1], 0, 32).data(&[0; 36]).build();
        assert_eq!(err(&dup), GgufError::DuplicateTensor("t".into()));
        let misaligned = Builder::new().tensor("t", &[1], 0, 4).data(&[0; 8]).build();
        assert!(matches!(err(&misaligned), GgufError::MisalignedTensor { offset: 4, .. }));
        let past_end = Builder::new().tensor("t", &[4], 0, 0).data(&[0; 12]).build();
        assert!(matches!(err(&past_end), GgufError::TensorOutOfBounds { size: 16, data_len: 12, .. }));
        let overlap = Builder::new().tensor("a", &[16], 0, 0).tensor("b", &[8], 0, 32).data(&[0; 64]).build();
        assert_eq!(err(&overlap), GgufError::OverlappingTensors { first: "a".into(), second: "b".into() });
    }

    #[test]
    fn truncation_anywhere_is_an_error_not_a_panic() {
        let f = Builder::new()
            .kv(b"general.name", vt::STRING, &s(b"tiny"))
            .kv(b"arr", vt::ARRAY, &arr(vt::STRING, &[s(b"x"), s(b"y")]))
            .tensor("w", &[32], 8, 0)
            .data(&[0; 34])
            .build();
        assert!(parse(&f).is_ok());
        for cut in 0..f.len() {
            assert!(parse(&f[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        // A string array of MAX_ARRAY_LEN claimed with nothing after it fails on the first read.
        let mut a = vt::STRING.to_le_bytes().to_vec();
        a.extend_from_slice(&MAX_ARRAY_LEN.to_le_bytes());
        assert!(matches!(err(&Builder::new().kv(b"a", vt::ARRAY, &a).build()), GgufError::Truncated { .. }));
        let mut n = vt::U64.to_le_bytes().to_vec();
        n.extend_from_slice(&MAX_ARRAY_LEN.to_le_bytes());
        assert!(matches!(err(&Builder::new().kv(b"a", vt::ARRAY, &n).build()), GgufError::Truncated { .. }));
    }
}
