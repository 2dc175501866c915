//! safetensors reader (<https://github.com/huggingface/safetensors>, format in its README):
//! an 8-byte little-endian header length N, N bytes of JSON
//! `{"__metadata__": {str: str}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ..}`,
//! then the data section, whose byte ranges the offsets index.
//!
//! The header is parsed here first (to keep `__metadata__` and the tensors in file order, and to
//! say exactly which tensor is wrong and how); every length is checked against the element cap
//! and the bytes present before anything is allocated. The file is then handed to the
//! `safetensors` crate, the reference parser, which re-validates it and yields the data slices.
//! Sharded checkpoints (`model.safetensors.index.json` + shards) are read by [`load_sharded`].

use super::{Format, LoadedFile};
use crate::error::Result;
use half::{bf16, f16};
use quantscope_core::tensor::{Tensor, MAX_ELEMENTS};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::collections::HashMap;
use std::fmt;

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
            BadHeaderLength(n) => write!(f, "safetensors header length {n} is not plausible (2 to {} bytes)", MAX_HEADER_LEN),
            HeaderPastEnd { header_len, available } => {
                write!(f, "truncated safetensors file: the header is {header_len} bytes but only {available} follow the length")
            }
            BadHeader(why) => write!(f, "malformed safetensors header: {why}"),
            DuplicateTensor(name) => write!(f, "safetensors header lists tensor '{name}' twice"),
            UnsupportedDtype { tensor, dtype } => {
                write!(f, "tensor '{tensor}' has unsupported safetensors dtype '{dtype}' (quantscope reads {})", SUPPORTED_DTYPES)
            }
            ShapeTooLarge { tensor, shape } => write!(
                f,
                "tensor '{tensor}': shape {shape:?} has too many elements (the limit is {} elements)",
                quantscope_core::tensor::MAX_ELEMENTS
            ),
            OffsetsOutOfBounds { tensor, start, end, data_len } => {
                write!(f, "tensor '{tensor}': data_offsets [{start}, {end}] fall outside the {data_len}-byte data section")
            }
            DataLengthMismatch { tensor, expected, actual } => {
                write!(f, "tensor '{tensor}': data_offsets span {actual} bytes but its shape and dtype need {expected}")
            }
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

/// The safetensors crate's cap on the header (`MAX_HEADER_SIZE` in `safetensors/src/tensor.rs`).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Element types quantscope decodes from safetensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    F64,
    F32,
    F16,
    BF16,
    F8E4M3,
    F8E5M2,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

impl Kind {
    /// The dtype as the header spells it.
    fn from_header(dtype: &str) -> Option<Kind> {
        Some(match dtype {
            "F64" => Kind::F64,
            "F32" => Kind::F32,
            "F16" => Kind::F16,
            "BF16" => Kind::BF16,
            "F8_E4M3" => Kind::F8E4M3,
            "F8_E5M2" => Kind::F8E5M2,
            "I8" => Kind::I8,
            "U8" => Kind::U8,
            "I16" => Kind::I16,
            "U16" => Kind::U16,
            "I32" => Kind::I32,
            "U32" => Kind::U32,
            "I64" => Kind::I64,
            "U64" => Kind::U64,
            "BOOL" => Kind::Bool,
            _ => return None,
        })
    }

    pub(crate) fn size(self) -> u64 {
        match self {
            Kind::F8E4M3 | Kind::F8E5M2 | Kind::I8 | Kind::U8 | Kind::Bool => 1,
            Kind::F16 | Kind::BF16 | Kind::I16 | Kind::U16 => 2,
            Kind::F32 | Kind::I32 | Kind::U32 => 4,
            Kind::F64 | Kind::I64 | Kind::U64 => 8,
        }
    }

    /// The NumPy / ml_dtypes name, which is what [`Tensor::dtype`] holds for every format.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::F64 => "float64",
            Kind::F32 => "float32",
            Kind::F16 => "float16",
            Kind::BF16 => "bfloat16",
            Kind::F8E4M3 => "float8_e4m3fn",
            Kind::F8E5M2 => "float8_e5m2",
            Kind::I8 => "int8",
            Kind::U8 => "uint8",
            Kind::I16 => "int16",
            Kind::U16 => "uint16",
            Kind::I32 => "int32",
            Kind::U32 => "uint32",
            Kind::I64 => "int64",
            Kind::U64 => "uint64",
            Kind::Bool => "bool",
        }
    }
}

/// The dtypes [`parse`] reads, as the header spells them (for error messages).
pub const SUPPORTED_DTYPES: &str = "F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I8, U8, I16, U16, I32, U32, I64, U64, BOOL";

/// A JSON object read into a list, keeping document order (serde_json's maps sort their keys).
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V_<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V_(std::marker::PhantomData))
    }
}

/// One tensor entry of the header, as written.
#[derive(serde::Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The header in file order.
struct Header {
    metadata: Vec<(String, String)>,
    tensors: Vec<(String, RawInfo)>,
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = Header;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of tensor entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Header, A::Error> {
                let mut header = Header { metadata: Vec::new(), tensors: Vec::new() };
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        // str -> str, or null, as the safetensors crate accepts.
                        let m: Option<Ordered<String>> = map.next_value()?;
                        header.metadata = m.map(|m| m.0).unwrap_or_default();
                    } else {
                        header.tensors.push((key, map.next_value::<RawInfo>()?));
                    }
                }
                Ok(header)
            }
        }
        d.deserialize_map(HeaderVisitor)
    }
}

/// The header length field, if `bytes` holds one.
fn header_len(bytes: &[u8]) -> Option<u64> {
    bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// True when `bytes` (the whole file) starts like a safetensors file: a sane header length that
/// fits in the file, followed by `{`.
pub fn sniff(bytes: &[u8]) -> bool {
    sniff_with_len(bytes, bytes.len() as u64)
}

/// [`sniff`] on the first bytes of a file of `file_len` bytes (9 bytes are enough).
pub fn sniff_with_len(first_bytes: &[u8], file_len: u64) -> bool {
    match header_len(first_bytes) {
        Some(n) => (2..=MAX_HEADER_LEN).contains(&n) && n <= file_len.saturating_sub(8) && first_bytes.get(8) == Some(&b'{'),
        None => false,
    }
}

/// The byte range of one tensor, validated: `start..end` within the data section (which begins
/// at byte `8 + header length` of the file).
pub(crate) struct Span {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) shape: Vec<u64>,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// `__metadata__` entries in file order.
pub type Metadata = Vec<(String, String)>;

/// Where the data section starts (8 + the header length), from the first 8 bytes of a file of
/// `file_len` bytes: the length field must be plausible and the header must fit in the file.
pub(crate) fn data_start(first_bytes: &[u8], file_len: u64) -> Result<u64, SafetensorsError> {
    let n = header_len(first_bytes).ok_or(SafetensorsError::Truncated { needed: 8, available: file_len.min(8) })?;
    if !(2..=MAX_HEADER_LEN).contains(&n) {
        return Err(SafetensorsError::BadHeaderLength(n));
    }
    let data_start = 8 + n; // n <= 100 MB: cannot overflow
    if data_start > file_len {
        return Err(SafetensorsError::HeaderPastEnd { header_len: n, available: file_len - 8 });
    }
    Ok(data_start)
}

/// Parses and checks the header of a file of `file_len` bytes from `prefix`, its first
/// [`data_start`] bytes (or more). Tensors of more than `max_elements` elements are refused
/// (the whole-file reader caps them at [`quantscope_core::tensor::MAX_ELEMENTS`]; the lazy reader, which
/// streams them, only at what the file can hold). Returns the metadata and the tensors' spans
/// in header order; the spans are checked to tile the data section exactly.
pub(crate) fn parse_header(prefix: &[u8], file_len: u64, max_elements: u64) -> Result<(Metadata, Vec<Span>), SafetensorsError> {
    let data_start = data_start(prefix, file_len)?;
    let header_bytes = prefix
        .get(8..data_start as usize)
        .ok_or(SafetensorsError::HeaderPastEnd { header_len: data_start - 8, available: prefix.len() as u64 - 8 })?;
    let header: Header = serde_json::from_slice(header_bytes).map_err(|e| SafetensorsError::BadHeader(e.to_string()))?;
    let data_len = file_len - data_start;

    let mut spans = Vec::with_capacity(header.tensors.len());
    let mut seen = std::collections::HashSet::new();
    for (name, info) in header.tensors {
        if !seen.insert(name.clone()) {
            return Err(SafetensorsError::DuplicateTensor(name));
        }
        let kind = Kind::from_header(&info.dtype)
            .ok_or_else(|| SafetensorsError::UnsupportedDtype { tensor: name.clone(), dtype: info.dtype.clone() })?;
        let expected = crate::checked_dims_product(&info.shape).filter(|&n| n <= max_elements).and_then(|n| n.checked_mul(kind.size()));
        let Some(expected) = expected else {
            return Err(SafetensorsError::ShapeTooLarge { tensor: name, shape: info.shape });
        };
        let (start, end) = info.data_offsets;
        if start > end || end > data_len {
            return Err(SafetensorsError::OffsetsOutOfBounds { tensor: name, start, end, data_len });
        }
        if end - start != expected {
            return Err(SafetensorsError::DataLengthMismatch { tensor: name, expected, actual: end - start });
        }
        spans.push(Span { name, kind, shape: info.shape, start, end });
    }

    // The format requires the ranges to tile the data section exactly; say which rule is broken.
    let mut order: Vec<&Span> = spans.iter().collect();
    order.sort_by_key(|s| (s.start, s.end));
    let mut covered = 0u64;
    let mut previous: Option<&Span> = None;
    for s in &order {
        if s.start < covered {
            let first = previous.map(|p| p.name.clone()).unwrap_or_default();
            return Err(SafetensorsError::Overlap { first, second: s.name.clone() });
        }
        if s.start > covered {
            return Err(SafetensorsError::UnclaimedBytes { start: covered, end: s.start });
        }
        covered = s.end;
        previous = Some(s);
    }
    if covered != data_len {
        return Err(SafetensorsError::UnclaimedBytes { start: covered, end: data_len });
    }
    Ok((header.metadata, spans))
}

/// Parses a whole safetensors file: its `__metadata__` (in file order) and its tensors (in
/// header order, values widened to f32).
pub fn parse(bytes: &[u8]) -> Result<(Metadata, Vec<Tensor>), SafetensorsError> {
    let (metadata, spans) = parse_header(bytes, bytes.len() as u64, MAX_ELEMENTS)?;
    // The reference parser must agree; its data views are what we decode.
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| SafetensorsError::Rejected(e.to_string()))?;
    let mut tensors = Vec::with_capacity(spans.len());
    for s in spans {
        let view = st.tensor(&s.name).map_err(|e| SafetensorsError::Rejected(e.to_string()))?;
        let data = view.data();
        if data.len() as u64 != s.end - s.start {
            return Err(SafetensorsError::Rejected(format!("tensor '{}': the crate's view disagrees with the header", s.name)));
        }
        let shape = s.shape.iter().map(|&d| d as usize).collect();
        tensors.push(Tensor::new(s.name, shape, s.kind.name(), decode(s.kind, data)));
    }
    Ok((metadata, tensors))
}

/// Reads a whole safetensors file (see [`parse`]).
pub fn load(bytes: &[u8]) -> Result<LoadedFile> {
    let (metadata, tensors) = parse(bytes)?;
    Ok(LoadedFile { format: Format::Safetensors, metadata, tensors, weights: Vec::new() })
}

/// float8 E4M3FN (OCP FP8, "fn": finite, NaN only): 1 sign, 4 exponent (bias 7), 3 mantissa bits,
/// no infinities, S.1111.111 is NaN. Matches `ml_dtypes.float8_e4m3fn` and torch.float8_e4m3fn.
pub fn f8_e4m3fn_to_f32(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0f32 } else { 1.0 };
    let exp = (b >> 3) & 0x0f;
    let man = (b & 0x07) as u32;
    if exp == 0x0f && man == 0x07 {
        return f32::NAN.copysign(sign);
    }
    if exp == 0 {
        // Subnormal: man/8 * 2^(1-7), exact in f32.
        return sign * man as f32 * (1.0 / 512.0);
    }
    let bits = ((exp as u32 + 127 - 7) << 23) | (man << 20);
    sign * f32::from_bits(bits)
}

/// float8 E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits, IEEE-like with Inf and NaN. It is
/// exactly the high byte of an IEEE binary16, so the f16 conversion decodes it exactly.
pub fn f8_e5m2_to_f32(b: u8) -> f32 {
    f16::from_bits((b as u16) << 8).to_f32()
}

/// Decodes little-endian elements to f32. Integers wider than 24 bits and float64 lose precision,
/// as in the .npy reader.
pub(crate) fn decode(kind: Kind, data: &[u8]) -> Vec<f32> {
    fn each<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
        data.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact yields N bytes"))).collect()
    }
    match kind {
        Kind::F64 => each(data, |b| f64::from_le_bytes(b) as f32),
        Kind::F32 => each(data, f32::from_le_bytes),
        Kind::F16 => each(data, |b| f16::from_le_bytes(b).to_f32()),
        Kind::BF16 => each(data, |b| bf16::from_le_bytes(b).to_f32()),
        Kind::F8E4M3 => data.iter().map(|&b| f8_e4m3fn_to_f32(b)).collect(),
        Kind::F8E5M2 => data.iter().map(|&b| f8_e5m2_to_f32(b)).collect(),
        Kind::I8 => data.iter().map(|&b| b as i8 as f32).collect(),
        Kind::U8 => data.iter().map(|&b| b as f32).collect(),
        Kind::Bool => data.iter().map(|&b| if b != 0 { 1.0 } else { 0.0 }).collect(),
        Kind::I16 => each(data, |b| i16::from_le_bytes(b) as f32),
        Kind::U16 => each(data, |b| u16::from_le_bytes(b) as f32),
        Kind::I32 => each(data, |b| i32::from_le_bytes(b) as f32),
        Kind::U32 => each(data, |b| u32::from_le_bytes(b) as f32),
        Kind::I64 => each(data, |b| i64::from_le_bytes(b) as f32),
        Kind::U64 => each(data, |b| u64::from_le_bytes(b) as f32),
    }
}

/// `model.safetensors.index.json`, as transformers writes it.
#[derive(serde::Deserialize)]
struct Index {
    #[serde(default)]
    metadata: Option<Ordered<serde_json::Value>>,
    weight_map: Ordered<String>,
}

/// The file name without directories.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A parsed shard index: its metadata for display, the `weight_map` in file order (tensor,
/// shard), and each shard it names once with the first tensor mapped to it.
pub(crate) struct ShardIndex {
    pub(crate) metadata: Metadata,
    pub(crate) weight_map: Vec<(String, String)>,
    pub(crate) shards: Vec<(String, String)>,
}

/// Parses `model.safetensors.index.json` and checks that every shard it names is among
/// `given` (file names, directories ignored), so the first complaint is a missing file rather
/// than whatever a later shard happens to contain.
pub(crate) fn parse_index(index_json: &[u8], given: &[&str]) -> Result<ShardIndex, SafetensorsError> {
    let index: Index = serde_json::from_slice(index_json).map_err(|e| SafetensorsError::BadIndex(e.to_string()))?;
    let metadata = index
        .metadata
        .map(|m| {
            m.0.into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut shards: Vec<(String, String)> = Vec::new(); // (shard, first tensor mapped to it)
    for (tensor, shard) in &index.weight_map.0 {
        if !shards.iter().any(|(s, _)| s == shard) {
            shards.push((shard.clone(), tensor.clone()));
        }
    }
    for (shard, tensor) in &shards {
        if !given.iter().any(|name| base_name(name) == base_name(shard)) {
            return Err(SafetensorsError::MissingShard { shard: shard.clone(), tensor: tensor.clone() });
        }
    }
    Ok(ShardIndex { metadata, weight_map: index.weight_map.0, shards })
}

/// Reads a sharded checkpoint: the index JSON (`weight_map`: tensor name -> shard file name) and
/// the shard files as `(file name, bytes)`. Every shard the index names must be given (matched by
/// file name, directories ignored); the tensors come back in the index's order, and the metadata
/// is the index's `metadata` object (non-string values shown as JSON). Shards are parsed whole,
/// so a tensor a shard holds but the index does not list is not returned.
pub fn load_sharded(index_json: &[u8], shards: &[(&str, &[u8])]) -> Result<LoadedFile> {
    let names: Vec<&str> = shards.iter().map(|(n, _)| *n).collect();
    let index = parse_index(index_json, &names)?;
    let find = |shard: &str| shards.iter().find(|(name, _)| base_name(name) == base_name(shard));
    let mut by_shard: HashMap<&str, HashMap<String, Tensor>> = HashMap::new();
    for (shard, _) in &index.shards {
        let (_, bytes) = find(shard).expect("checked above");
        let (_, tensors) = parse(bytes).map_err(|e| SafetensorsError::InShard { shard: shard.to_string(), error: Box::new(e) })?;
        by_shard.insert(shard.as_str(), tensors.into_iter().map(|t| (t.name.clone(), t)).collect());
    }
    let mut tensors = Vec::with_capacity(index.weight_map.len());
    for (tensor, shard) in &index.weight_map {
        let t = by_shard
            .get_mut(shard.as_str())
            .and_then(|m| m.remove(tensor))
            .ok_or_else(|| SafetensorsError::TensorNotInShard { tensor: tensor.clone(), shard: shard.clone() })?;
        tensors.push(t);
    }
    Ok(LoadedFile { format: Format::Safetensors, metadata: index.metadata, tensors, weights: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file from (name, dtype, shape, offsets) entries and a data section.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn err(bytes: &[u8]) -> SafetensorsError {
        match parse(bytes) {
            Err(e) => e,
            Ok(_) => panic!("parse should fail"),
        }
    }

    const TWO: &str = r#"{"__metadata__":{"z":"1","a":"2"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]}}"#;

    fn two_data() -> Vec<u8> {
        let mut d = f32_bytes(&[1.5, -2.0]);
        d.extend(bf16::from_f32(0.5).to_le_bytes());
        d.extend(bf16::from_f32(-3.0).to_le_bytes());
        d
    }

    #[test]
    fn reads_tensors_and_metadata_in_file_order() {
        let bytes = file(TWO, &two_data());
        assert!(sniff(&bytes));
        let (meta, tensors) = parse(&bytes).unwrap();
        assert_eq!(meta, vec![("z".into(), "1".into()), ("a".into(), "2".into())]);
        assert_eq!(tensors[0].name, "w");
        assert_eq!(tensors[0].data, vec![1.5, -2.0]);
        assert_eq!((tensors[1].dtype.as_str(), tensors[1].shape.clone()), ("bfloat16", vec![1, 2]));
        assert_eq!(tensors[1].data, vec![0.5, -3.0]);
    }

    #[test]
    fn null_metadata_and_no_tensors_are_fine() {
        let (meta, tensors) = parse(&file(r#"{"__metadata__":null}"#, &[])).unwrap();
        assert!(meta.is_empty() && tensors.is_empty());
        let err = parse(&file(r#"{"__metadata__":{"n":1}}"#, &[])).unwrap_err();
        assert!(matches!(err, SafetensorsError::BadHeader(_)), "{err}");
    }

    #[test]
    fn float8_decoding_is_exact() {
        // E4M3FN: max 448, min normal 2^-6, min subnormal 2^-9, 0x7f/0xff NaN, no Inf.
        assert_eq!(f8_e4m3fn_to_f32(0x7e), 448.0);
        assert_eq!(f8_e4m3fn_to_f32(0xfe), -448.0);
        assert_eq!(f8_e4m3fn_to_f32(0x08), 2f32.powi(-6));
        assert_eq!(f8_e4m3fn_to_f32(0x01), 2f32.powi(-9));
        assert_eq!(f8_e4m3fn_to_f32(0x38), 1.0);
        assert_eq!(f8_e4m3fn_to_f32(0x80).to_bits(), (-0.0f32).to_bits());
        assert!(f8_e4m3fn_to_f32(0x7f).is_nan() && f8_e4m3fn_to_f32(0xff).is_nan());
        assert_eq!(f8_e4m3fn_to_f32(0x78), 256.0); // exponent 15 with mantissa != 7 is finite
                                                   // E5M2: max 57344, Inf at 0x7c, NaN above, min subnormal 2^-16.
        assert_eq!(f8_e5m2_to_f32(0x7b), 57344.0);
        assert_eq!(f8_e5m2_to_f32(0x7c), f32::INFINITY);
        assert_eq!(f8_e5m2_to_f32(0xfc), f32::NEG_INFINITY);
        assert!(f8_e5m2_to_f32(0x7d).is_nan());
        assert_eq!(f8_e5m2_to_f32(0x01), 2f32.powi(-16));
        assert_eq!(f8_e5m2_to_f32(0x3c), 1.0);
    }

    #[test]
    fn every_error_variant_is_reachable() {
        let good = file(TWO, &two_data());
        assert_eq!(err(&good[..5]), SafetensorsError::Truncated { needed: 8, available: 5 });
        assert_eq!(err(&file("{", &[])), SafetensorsError::BadHeaderLength(1));
        let mut huge = good.clone();
        huge[..8].copy_from_slice(&(MAX_HEADER_LEN + 1).to_le_bytes());
        assert_eq!(err(&huge), SafetensorsError::BadHeaderLength(MAX_HEADER_LEN + 1));
        assert!(matches!(err(&good[..40]), SafetensorsError::HeaderPastEnd { available: 32, .. }));
        assert!(matches!(err(&file("{\"w\": 3}", &[])), SafetensorsError::BadHeader(_)));
        assert!(matches!(err(&file("[1, 2]", &[])), SafetensorsError::BadHeader(_)));
        let dup = r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
        assert_eq!(err(&file(dup, &[1, 2])), SafetensorsError::DuplicateTensor("w".into()));
        let q4 = r#"{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}}"#;
        assert_eq!(err(&file(q4, &[0])), SafetensorsError::UnsupportedDtype { tensor: "w".into(), dtype: "Q4".into() });
        let big = r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
        assert!(matches!(err(&file(big, &[0; 4])), SafetensorsError::ShapeTooLarge { .. }));
        // Empty, but its non-zero dims overflow: another order of the product would too.
        let empty_big = r#"{"w":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#;
        assert!(matches!(err(&file(empty_big, &[])), SafetensorsError::ShapeTooLarge { .. }));
        let past = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert_eq!(err(&file(past, &[0; 4])), SafetensorsError::OffsetsOutOfBounds { tensor: "w".into(), start: 0, end: 8, data_len: 4 });
        let reversed = r#"{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#;
        assert!(matches!(err(&file(reversed, &[0; 4])), SafetensorsError::OffsetsOutOfBounds { .. }));
        let short = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
        assert_eq!(err(&file(short, &[0; 4])), SafetensorsError::DataLengthMismatch { tensor: "w".into(), expected: 8, actual: 4 });
        let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert_eq!(err(&file(overlap, &[0; 8])), SafetensorsError::Overlap { first: "a".into(), second: "b".into() });
        let gap = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert_eq!(err(&file(gap, &[0; 8])), SafetensorsError::UnclaimedBytes { start: 0, end: 4 });
        let trailing = file(TWO, &[two_data(), vec![0; 3]].concat());
        assert_eq!(err(&trailing), SafetensorsError::UnclaimedBytes { start: 12, end: 15 });
        // Rejected: the crate's own checks are a second line our checks make unreachable; its
        // message is passed through.
        let e = SafetensorsError::Rejected(safetensors::SafeTensorError::MetadataIncompleteBuffer.to_string());
        assert!(e.to_string().contains("safetensors crate"));
    }

    #[test]
    fn header_claiming_huge_tensor_does_not_allocate() {
        // 2^28 f32 elements claimed with 4 bytes present: rejected on length alone.
        let h = r#"{"w":{"dtype":"F32","shape":[268435456],"data_offsets":[0,1073741824]}}"#;
        assert!(matches!(err(&file(h, &[0; 4])), SafetensorsError::OffsetsOutOfBounds { .. }));
    }

    #[test]
    fn sharded_sets_check_their_shards() {
        let a = file(r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, &f32_bytes(&[1.0]));
        let b = file(r#"{"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, &f32_bytes(&[2.0]));
        let index = br#"{"metadata":{"total_size":8},"weight_map":{"y":"m-2.safetensors","x":"m-1.safetensors"}}"#;
        let f = load_sharded(index, &[("dir/m-1.safetensors", &a), ("m-2.safetensors", &b)]).unwrap();
        assert_eq!(f.metadata, vec![("total_size".into(), "8".into())]);
        assert_eq!(f.tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["y", "x"]);
        let missing = load_sharded(index, &[("m-1.safetensors", &a)]).unwrap_err();
        assert_eq!(missing, SafetensorsError::MissingShard { shard: "m-2.safetensors".into(), tensor: "y".into() }.into());
        assert!(missing.to_string().contains("m-2.safetensors"));
        let wrong = br#"{"weight_map":{"z":"m-1.safetensors"}}"#;
        assert_eq!(
            load_sharded(wrong, &[("m-1.safetensors", &a)]).unwrap_err(),
            SafetensorsError::TensorNotInShard { tensor: "z".into(), shard: "m-1.safetensors".into() }.into()
        );
        assert!(matches!(load_sharded(b"{}", &[]).unwrap_err(), crate::Error::Safetensors(SafetensorsError::BadIndex(_))));
        let broken = load_sharded(index, &[("m-1.safetensors", &a), ("m-2.safetensors", &b[..10])]).unwrap_err();
        assert!(matches!(broken, crate::Error::Safetensors(SafetensorsError::InShard { .. })), "{broken}");
    }
}
