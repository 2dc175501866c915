//! ONNX tensors: the one table of `TensorProto.DataType` element types ([`DType`]), their
//! storage ([`Data`]), and the one `TensorProto` decoder and encoder — shared by this crate's
//! model reader (which widens to f32 for the Inspect view) and the engine (which keeps every
//! element in its own type).
//!
//! Storage: most dtypes are stored as themselves; the sub-byte and 8-bit float types are stored
//! one element per byte: INT4/INT2 as `i8` values in [-8, 7] / [-2, 1], UINT4/UINT2 as `u8`
//! values in [0, 15] / [0, 3], FLOAT8 and FLOAT4 as their bit codes in `u8`.
//!
//! Decoding follows `onnx/onnx.proto`: `raw_data` holds the elements little-endian (4-bit
//! types two per byte, first element in the low nibble); otherwise the typed field the spec
//! assigns to the type: `float_data` (FLOAT), `double_data` (DOUBLE), `int64_data` (INT64),
//! `uint64_data` (UINT32, UINT64) and `int32_data` for everything else (FLOAT16/BFLOAT16 as
//! bit patterns, FLOAT8 codes one per entry, 4-bit types one packed byte per entry).

use super::proto::TensorProto;
use half::{bf16, f16};
use quantscope_core::tensor::MAX_ELEMENTS;
use std::fmt;

/// The element type of a value, as ONNX's `TensorProto.DataType` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    /// 4-bit signed integer, stored as `i8` in [-8, 7].
    I4,
    /// 4-bit unsigned integer, stored as `u8` in [0, 15].
    U4,
    /// 2-bit signed integer, stored as `i8` in [-2, 1].
    I2,
    /// 2-bit unsigned integer, stored as `u8` in [0, 3].
    U2,
    /// OCP FP8 E4M3FN, stored as its bit code in `u8`.
    F8E4M3FN,
    /// OCP FP8 E5M2, stored as its bit code in `u8`.
    F8E5M2,
    /// OCP FP4 E2M1, stored as its 4-bit code in `u8`.
    F4E2M1,
}

impl DType {
    /// The dtype of ONNX `TensorProto.DataType` `id`, if the engine has it.
    pub fn from_onnx(id: i32) -> Option<DType> {
        Some(match id {
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            4 => DType::U16,
            5 => DType::I16,
            6 => DType::I32,
            7 => DType::I64,
            9 => DType::Bool,
            10 => DType::F16,
            11 => DType::F64,
            12 => DType::U32,
            13 => DType::U64,
            16 => DType::BF16,
            17 => DType::F8E4M3FN,
            19 => DType::F8E5M2,
            21 => DType::U4,
            22 => DType::I4,
            23 => DType::F4E2M1,
            25 => DType::U2,
            26 => DType::I2,
            _ => return None,
        })
    }

    /// The ONNX `TensorProto.DataType` id.
    pub fn onnx_id(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::U16 => 4,
            DType::I16 => 5,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::Bool => 9,
            DType::F16 => 10,
            DType::F64 => 11,
            DType::U32 => 12,
            DType::U64 => 13,
            DType::BF16 => 16,
            DType::F8E4M3FN => 17,
            DType::F8E5M2 => 19,
            DType::U4 => 21,
            DType::I4 => 22,
            DType::F4E2M1 => 23,
            DType::U2 => 25,
            DType::I2 => 26,
        }
    }

    /// The NumPy-style name (`float32`, `int8`, `float8_e4m3fn`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::I4 => "int4",
            DType::U4 => "uint4",
            DType::I2 => "int2",
            DType::U2 => "uint2",
            DType::F8E4M3FN => "float8_e4m3fn",
            DType::F8E5M2 => "float8_e5m2",
            DType::F4E2M1 => "float4_e2m1",
        }
    }

    /// True for the ids `TensorProto.DataType` defines (1 to 26; 0 is UNDEFINED), whether or
    /// not they have a [`DType`].
    pub fn onnx_defined(id: i32) -> bool {
        (1..=26).contains(&id)
    }

    /// The name of ONNX `TensorProto.DataType` `id`, for errors about types without a [`DType`].
    pub fn onnx_name(id: i32) -> String {
        const NAMES: [&str; 27] = [
            "UNDEFINED",
            "FLOAT",
            "UINT8",
            "INT8",
            "UINT16",
            "INT16",
            "INT32",
            "INT64",
            "STRING",
            "BOOL",
            "FLOAT16",
            "DOUBLE",
            "UINT32",
            "UINT64",
            "COMPLEX64",
            "COMPLEX128",
            "BFLOAT16",
            "FLOAT8E4M3FN",
            "FLOAT8E4M3FNUZ",
            "FLOAT8E5M2",
            "FLOAT8E5M2FNUZ",
            "UINT4",
            "INT4",
            "FLOAT4E2M1",
            "FLOAT8E8M0",
            "UINT2",
            "INT2",
        ];
        usize::try_from(id).ok().and_then(|i| NAMES.get(i)).map_or_else(|| format!("type {id}"), |n| n.to_string())
    }

    /// Bits per element as stored in a file (4 for the 4-bit types).
    pub fn bits(self) -> u32 {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 64,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 16,
            DType::I8 | DType::U8 | DType::Bool | DType::F8E4M3FN | DType::F8E5M2 => 8,
            DType::I4 | DType::U4 | DType::F4E2M1 => 4,
            DType::I2 | DType::U2 => 2,
        }
    }

    /// True for the float types (including the 8- and 4-bit ones).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16 | DType::F8E4M3FN | DType::F8E5M2 | DType::F4E2M1)
    }

    /// The minifloat format of the 8- and 4-bit float types.
    pub fn minifloat(self) -> Option<quantscope_core::schemes::float::FloatFormat> {
        use quantscope_core::schemes::float::FloatFormat;
        match self {
            DType::F8E4M3FN => Some(FloatFormat::Fp8E4m3),
            DType::F8E5M2 => Some(FloatFormat::Fp8E5m2),
            DType::F4E2M1 => Some(FloatFormat::Fp4E2m1),
            _ => None,
        }
    }

    /// The integer range of the integer dtypes that quantized values use, as i64.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::I8 => (i8::MIN as i64, i8::MAX as i64),
            DType::U8 => (0, u8::MAX as i64),
            DType::I16 => (i16::MIN as i64, i16::MAX as i64),
            DType::U16 => (0, u16::MAX as i64),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::U32 => (0, u32::MAX as i64),
            DType::I4 => (-8, 7),
            DType::U4 => (0, 15),
            DType::I2 => (-2, 1),
            DType::U2 => (0, 3),
            _ => return None,
        })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The physical storage of a value's elements (see the module docs for the narrow types).
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

/// `map_data!(data, v => expr)`: applies a generic expression to whichever vector `data` holds
/// and wraps the resulting vector in the same variant.
#[macro_export]
macro_rules! map_data {
    ($data:expr, $v:ident => $e:expr) => {
        match $data {
            $crate::onnx::tensor::Data::F32($v) => $crate::onnx::tensor::Data::F32($e),
            $crate::onnx::tensor::Data::F64($v) => $crate::onnx::tensor::Data::F64($e),
            $crate::onnx::tensor::Data::F16($v) => $crate::onnx::tensor::Data::F16($e),
            $crate::onnx::tensor::Data::BF16($v) => $crate::onnx::tensor::Data::BF16($e),
            $crate::onnx::tensor::Data::I8($v) => $crate::onnx::tensor::Data::I8($e),
            $crate::onnx::tensor::Data::U8($v) => $crate::onnx::tensor::Data::U8($e),
            $crate::onnx::tensor::Data::I16($v) => $crate::onnx::tensor::Data::I16($e),
            $crate::onnx::tensor::Data::U16($v) => $crate::onnx::tensor::Data::U16($e),
            $crate::onnx::tensor::Data::I32($v) => $crate::onnx::tensor::Data::I32($e),
            $crate::onnx::tensor::Data::U32($v) => $crate::onnx::tensor::Data::U32($e),
            $crate::onnx::tensor::Data::I64($v) => $crate::onnx::tensor::Data::I64($e),
            $crate::onnx::tensor::Data::U64($v) => $crate::onnx::tensor::Data::U64($e),
            $crate::onnx::tensor::Data::Bool($v) => $crate::onnx::tensor::Data::Bool($e),
        }
    };
}

/// `with_data!(data, v => expr)`: evaluates a generic expression on whichever vector `data`
/// holds (the expression's type must not depend on the element type).
#[macro_export]
macro_rules! with_data {
    ($data:expr, $v:ident => $e:expr) => {
        match $data {
            $crate::onnx::tensor::Data::F32($v) => $e,
            $crate::onnx::tensor::Data::F64($v) => $e,
            $crate::onnx::tensor::Data::F16($v) => $e,
            $crate::onnx::tensor::Data::BF16($v) => $e,
            $crate::onnx::tensor::Data::I8($v) => $e,
            $crate::onnx::tensor::Data::U8($v) => $e,
            $crate::onnx::tensor::Data::I16($v) => $e,
            $crate::onnx::tensor::Data::U16($v) => $e,
            $crate::onnx::tensor::Data::I32($v) => $e,
            $crate::onnx::tensor::Data::U32($v) => $e,
            $crate::onnx::tensor::Data::I64($v) => $e,
            $crate::onnx::tensor::Data::U64($v) => $e,
            $crate::onnx::tensor::Data::Bool($v) => $e,
        }
    };
}

impl Data {
    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` elements picked by index, in the same dtype: `order(start, block)` fills `block`
    /// with the indices (into this vector) of output elements `start..start + block.len()`.
    /// The one per-dtype loop of the ops that only move elements; the indices come a block at
    /// a time, so they take little memory whatever the tensor's size.
    pub fn pick(&self, len: usize, mut order: impl FnMut(usize, &mut [usize])) -> Data {
        const BLOCK: usize = 1 << 14;
        let mut block = vec![0usize; BLOCK.min(len)];
        map_data!(self, v => {
            let mut out = Vec::with_capacity(len);
            for start in (0..len).step_by(BLOCK) {
                let indices = &mut block[..BLOCK.min(len - start)];
                order(start, indices);
                out.extend(indices.iter().map(|&i| v[i]));
            }
            out
        })
    }

    /// Every element of a `dtype` tensor widened to f32: integers and bools by value (64-bit
    /// ones rounded to nearest), FLOAT8/FLOAT4 codes decoded exactly.
    pub fn to_f32(&self, dtype: DType) -> Vec<f32> {
        if let (Some(format), Data::U8(codes)) = (dtype.minifloat(), self) {
            return codes.iter().map(|&c| format.decode(c as u16)).collect();
        }
        match self {
            Data::F32(v) => v.clone(),
            Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            Data::BF16(v) => v.iter().map(|x| x.to_f32()).collect(),
            Data::I8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U8(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I16(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U16(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U32(v) => v.iter().map(|&x| x as f32).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::U64(v) => v.iter().map(|&x| x as f32).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as u8 as f32).collect(),
        }
    }

    /// An all-zero vector of `n` elements in the storage of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> Data {
        match dtype {
            DType::F32 => Data::F32(vec![0.0; n]),
            DType::F64 => Data::F64(vec![0.0; n]),
            DType::F16 => Data::F16(vec![f16::ZERO; n]),
            DType::BF16 => Data::BF16(vec![bf16::ZERO; n]),
            DType::I8 | DType::I4 | DType::I2 => Data::I8(vec![0; n]),
            DType::U8 | DType::U4 | DType::U2 | DType::F8E4M3FN | DType::F8E5M2 | DType::F4E2M1 => Data::U8(vec![0; n]),
            DType::I16 => Data::I16(vec![0; n]),
            DType::U16 => Data::U16(vec![0; n]),
            DType::I32 => Data::I32(vec![0; n]),
            DType::U32 => Data::U32(vec![0; n]),
            DType::I64 => Data::I64(vec![0; n]),
            DType::U64 => Data::U64(vec![0; n]),
            DType::Bool => Data::Bool(vec![false; n]),
        }
    }

    /// The dtype this storage holds when it is not a narrow type.
    pub fn natural_dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::F16(_) => DType::F16,
            Data::BF16(_) => DType::BF16,
            Data::I8(_) => DType::I8,
            Data::U8(_) => DType::U8,
            Data::I16(_) => DType::I16,
            Data::U16(_) => DType::U16,
            Data::I32(_) => DType::I32,
            Data::U32(_) => DType::U32,
            Data::I64(_) => DType::I64,
            Data::U64(_) => DType::U64,
            Data::Bool(_) => DType::Bool,
        }
    }
}

/// Why a `TensorProto` cannot be decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorError {
    /// A `data_type` without a [`DType`] (STRING, COMPLEX*, FNUZ floats, ids ONNX does not define).
    UnsupportedType(i32),
    /// `data_location = EXTERNAL` or `external_data` entries.
    External,
    /// A negative dimension.
    NegativeDims(Vec<i64>),
    /// More elements than [`MAX_ELEMENTS`] (or an overflowing product).
    TooManyElements(Vec<i64>),
    /// The data field's length disagrees with the dims: bytes for `raw_data`, entries otherwise.
    Length { field: &'static str, actual: u64, expected: u64 },
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorError::UnsupportedType(id) => write!(f, "data type {} ({id}) is not supported", DType::onnx_name(*id)),
            TensorError::External => f.write_str("external data is not supported (a browser has only the one file)"),
            TensorError::NegativeDims(dims) => write!(f, "dims {dims:?} has a negative dimension"),
            TensorError::TooManyElements(dims) => write!(f, "dims {dims:?} has too many elements"),
            TensorError::Length { field: "raw_data", actual, expected } => {
                write!(f, "raw_data has {actual} bytes but its dims need {expected}")
            }
            TensorError::Length { field, actual, expected } => write!(f, "{field} has {actual} elements but its dims need {expected}"),
        }
    }
}

impl std::error::Error for TensorError {}

/// A decoded tensor: its element type, shape and elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Data,
}

/// The element count of a shape, or `None` when it, or any one dimension, is more than
/// [`MAX_ELEMENTS`]. Each dimension is bounded too: a shape such as `[0, 2^60]` holds no elements,
/// but code that walks its axes (Pad's per-axis source tables, Resize's coordinate tables) would
/// still allocate one entry per coordinate.
pub fn checked_count(shape: &[usize]) -> Option<usize> {
    if shape.iter().any(|&d| d as u64 > MAX_ELEMENTS) {
        return None;
    }
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n as u64 <= MAX_ELEMENTS)
}

/// Decodes a tensor's type, dims and elements.
pub fn decode(t: &TensorProto) -> Result<Decoded, TensorError> {
    let type_id = t.data_type.unwrap_or(0);
    let dtype = DType::from_onnx(type_id).ok_or(TensorError::UnsupportedType(type_id))?;
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(TensorError::External);
    }
    let shape: Option<Vec<usize>> = t.dims.iter().map(|&d| usize::try_from(d).ok()).collect();
    let shape = shape.ok_or_else(|| TensorError::NegativeDims(t.dims.clone()))?;
    let n = checked_count(&shape).ok_or_else(|| TensorError::TooManyElements(t.dims.clone()))?;
    let data = match &t.raw_data {
        Some(raw) => from_raw(raw, dtype, n)?,
        None => from_typed(t, dtype, n)?,
    };
    Ok(Decoded { dtype, shape, data })
}

fn from_raw(raw: &[u8], dtype: DType, n: usize) -> Result<Data, TensorError> {
    let expected = (n as u64 * dtype.bits() as u64).div_ceil(8);
    if raw.len() as u64 != expected {
        return Err(TensorError::Length { field: "raw_data", actual: raw.len() as u64, expected });
    }
    fn each<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        raw.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact yields N bytes"))).collect()
    }
    Ok(match dtype {
        DType::F32 => Data::F32(each(raw, f32::from_le_bytes)),
        DType::F64 => Data::F64(each(raw, f64::from_le_bytes)),
        DType::F16 => Data::F16(each(raw, f16::from_le_bytes)),
        DType::BF16 => Data::BF16(each(raw, bf16::from_le_bytes)),
        DType::I8 => Data::I8(raw.iter().map(|&b| b as i8).collect()),
        DType::U8 | DType::F8E4M3FN | DType::F8E5M2 => Data::U8(raw.to_vec()),
        DType::I16 => Data::I16(each(raw, i16::from_le_bytes)),
        DType::U16 => Data::U16(each(raw, u16::from_le_bytes)),
        DType::I32 => Data::I32(each(raw, i32::from_le_bytes)),
        DType::U32 => Data::U32(each(raw, u32::from_le_bytes)),
        DType::I64 => Data::I64(each(raw, i64::from_le_bytes)),
        DType::U64 => Data::U64(each(raw, u64::from_le_bytes)),
        DType::Bool => Data::Bool(raw.iter().map(|&b| b != 0).collect()),
        DType::I4 | DType::U4 | DType::F4E2M1 | DType::I2 | DType::U2 => unpack_bits(raw, dtype, n),
    })
}

/// 8/bits elements per byte (4-bit: two, 2-bit: four), the first in the lowest bits; the
/// signed types are sign-extended.
fn unpack_bits(bytes: &[u8], dtype: DType, n: usize) -> Data {
    let bits = dtype.bits();
    let mask = (1u8 << bits) - 1;
    let codes = bytes.iter().flat_map(|&b| (0..8 / bits).map(move |k| (b >> (k * bits)) & mask)).take(n);
    if matches!(dtype, DType::I4 | DType::I2) {
        let shift = 8 - bits;
        Data::I8(codes.map(|x| ((x << shift) as i8) >> shift).collect())
    } else {
        Data::U8(codes.collect())
    }
}

fn from_typed(t: &TensorProto, dtype: DType, n: usize) -> Result<Data, TensorError> {
    fn check<T>(field: &'static str, v: &[T], n: usize) -> Result<(), TensorError> {
        if v.len() != n {
            return Err(TensorError::Length { field, actual: v.len() as u64, expected: n as u64 });
        }
        Ok(())
    }
    let i32s = &t.int32_data;
    Ok(match dtype {
        DType::F32 => {
            check("float_data", &t.float_data, n)?;
            Data::F32(t.float_data.clone())
        }
        DType::F64 => {
            check("double_data", &t.double_data, n)?;
            Data::F64(t.double_data.clone())
        }
        DType::I64 => {
            check("int64_data", &t.int64_data, n)?;
            Data::I64(t.int64_data.clone())
        }
        DType::U32 | DType::U64 => {
            check("uint64_data", &t.uint64_data, n)?;
            if dtype == DType::U32 {
                Data::U32(t.uint64_data.iter().map(|&x| x as u32).collect())
            } else {
                Data::U64(t.uint64_data.clone())
            }
        }
        DType::I4 | DType::U4 | DType::F4E2M1 | DType::I2 | DType::U2 => {
            check("int32_data", i32s, n.div_ceil(8 / dtype.bits() as usize))?;
            let bytes: Vec<u8> = i32s.iter().map(|&x| x as u8).collect();
            unpack_bits(&bytes, dtype, n)
        }
        _ => {
            check("int32_data", i32s, n)?;
            match dtype {
                DType::F16 => Data::F16(i32s.iter().map(|&x| f16::from_bits(x as u16)).collect()),
                DType::BF16 => Data::BF16(i32s.iter().map(|&x| bf16::from_bits(x as u16)).collect()),
                DType::I8 => Data::I8(i32s.iter().map(|&x| x as i8).collect()),
                DType::U8 | DType::F8E4M3FN | DType::F8E5M2 => Data::U8(i32s.iter().map(|&x| x as u8).collect()),
                DType::I16 => Data::I16(i32s.iter().map(|&x| x as i16).collect()),
                DType::U16 => Data::U16(i32s.iter().map(|&x| x as u16).collect()),
                DType::I32 => Data::I32(i32s.clone()),
                DType::Bool => Data::Bool(i32s.iter().map(|&x| x != 0).collect()),
                _ => unreachable!("the other dtypes have their own fields"),
            }
        }
    })
}

/// Encodes a tensor as a `TensorProto` with `raw_data` (what `numpy_helper.from_array` writes).
pub fn encode(name: &str, dtype: DType, shape: &[usize], data: &Data) -> TensorProto {
    let raw: Vec<u8> = match (data, dtype) {
        (Data::I8(x), DType::I4 | DType::I2) => pack_bits(x.iter().map(|&e| e as u8), dtype.bits()),
        (Data::U8(x), DType::U4 | DType::F4E2M1 | DType::U2) => pack_bits(x.iter().copied(), dtype.bits()),
        (Data::F32(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::F64(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::F16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::BF16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::I8(x), _) => x.iter().map(|&e| e as u8).collect(),
        (Data::U8(x), _) => x.clone(),
        (Data::I16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::U16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::I32(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::U32(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::I64(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::U64(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::Bool(x), _) => x.iter().map(|&e| e as u8).collect(),
    };
    TensorProto {
        name: Some(name.to_string()),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: Some(dtype.onnx_id()),
        raw_data: Some(raw),
        ..Default::default()
    }
}

fn pack_bits(x: impl Iterator<Item = u8>, bits: u32) -> Vec<u8> {
    let x: Vec<u8> = x.collect();
    let mask = (1u8 << bits) - 1;
    x.chunks(8 / bits as usize).map(|c| c.iter().enumerate().fold(0u8, |b, (k, &e)| b | (e & mask) << (k as u32 * bits))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(dtype: DType, shape: &[usize], data: Data) {
        let t = encode("t", dtype, shape, &data);
        assert_eq!(decode(&t).unwrap(), Decoded { dtype, shape: shape.to_vec(), data });
    }

    #[test]
    fn round_trips_every_storage() {
        round_trip(DType::F32, &[2], Data::F32(vec![1.5, -2.0]));
        round_trip(DType::F16, &[3], Data::F16(vec![f16::ONE, f16::NEG_ONE, f16::MAX]));
        round_trip(DType::I64, &[2, 1], Data::I64(vec![-7, 1 << 40]));
        round_trip(DType::U8, &[3], Data::U8(vec![0, 128, 255]));
        round_trip(DType::Bool, &[2], Data::Bool(vec![true, false]));
        round_trip(DType::I4, &[3], Data::I8(vec![-8, 7, -1]));
        round_trip(DType::U4, &[2, 2], Data::U8(vec![0, 15, 3, 9]));
        round_trip(DType::F8E4M3FN, &[1], Data::U8(vec![0x38]));
        round_trip(DType::I2, &[5], Data::I8(vec![-2, -1, 0, 1, -2]));
        round_trip(DType::U2, &[3], Data::U8(vec![3, 0, 2]));
    }

    #[test]
    fn typed_fields_decode() {
        let t = TensorProto { dims: vec![3], data_type: Some(22), int32_data: vec![0x8f, 0x01], ..Default::default() };
        assert_eq!(decode(&t).unwrap().data, Data::I8(vec![-1, -8, 1]));
        let t = TensorProto { dims: vec![2], data_type: Some(12), uint64_data: vec![1, 4_000_000_000], ..Default::default() };
        assert_eq!(decode(&t).unwrap().data, Data::U32(vec![1, 4_000_000_000]));
    }

    #[test]
    fn every_error_is_specific() {
        let t = TensorProto { dims: vec![2], data_type: Some(1), raw_data: Some(vec![0; 4]), ..Default::default() };
        assert_eq!(decode(&t).unwrap_err(), TensorError::Length { field: "raw_data", actual: 4, expected: 8 });
        assert_eq!(decode(&t).unwrap_err().to_string(), "raw_data has 4 bytes but its dims need 8");
        let t = TensorProto { dims: vec![3], data_type: Some(7), int64_data: vec![1], ..Default::default() };
        assert_eq!(decode(&t).unwrap_err().to_string(), "int64_data has 1 elements but its dims need 3");
        let t = TensorProto { dims: vec![1], data_type: Some(8), ..Default::default() };
        assert_eq!(decode(&t).unwrap_err().to_string(), "data type STRING (8) is not supported");
        let t = TensorProto { dims: vec![-1], data_type: Some(1), ..Default::default() };
        assert_eq!(decode(&t).unwrap_err(), TensorError::NegativeDims(vec![-1]));
        let t = TensorProto { dims: vec![1 << 40, 1 << 40], data_type: Some(1), ..Default::default() };
        assert_eq!(decode(&t).unwrap_err(), TensorError::TooManyElements(vec![1 << 40, 1 << 40]));
        let t = TensorProto { dims: vec![1], data_type: Some(1), data_location: Some(1), ..Default::default() };
        assert_eq!(decode(&t).unwrap_err(), TensorError::External);
    }
}
