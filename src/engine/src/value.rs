//! Typed tensors: the values that flow through a graph, each in its own element type (the
//! formats' [`crate::Tensor`] widens everything to f32, which integer execution cannot use).
//!
//! A [`Value`] is a logical [`DType`], a shape and [`Data`], the physical storage. Most dtypes
//! are stored as themselves; the sub-byte and 8-bit float types are stored one element per
//! byte: INT4/INT2 as `i8` values in [-8, 7] / [-2, 1], UINT4/UINT2 as `u8` values in
//! [0, 15] / [0, 3], FLOAT8 and FLOAT4 as their bit codes in `u8`. Data-movement ops (Reshape, Transpose, Gather, ...) therefore
//! work on every dtype without knowing it.

use half::{bf16, f16};

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

    /// The name of ONNX `TensorProto.DataType` `id`, for errors about types the engine lacks.
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
    pub(crate) fn minifloat(self) -> Option<quantscope_core::schemes::float::FloatFormat> {
        use quantscope_core::schemes::float::FloatFormat;
        match self {
            DType::F8E4M3FN => Some(FloatFormat::Fp8E4m3),
            DType::F8E5M2 => Some(FloatFormat::Fp8E5m2),
            DType::F4E2M1 => Some(FloatFormat::Fp4E2m1),
            _ => None,
        }
    }

    /// The integer range of the integer dtypes that quantized values use, as i64.
    pub(crate) fn int_range(self) -> Option<(i64, i64)> {
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
macro_rules! map_data {
    ($data:expr, $v:ident => $e:expr) => {
        match $data {
            $crate::value::Data::F32($v) => $crate::value::Data::F32($e),
            $crate::value::Data::F64($v) => $crate::value::Data::F64($e),
            $crate::value::Data::F16($v) => $crate::value::Data::F16($e),
            $crate::value::Data::BF16($v) => $crate::value::Data::BF16($e),
            $crate::value::Data::I8($v) => $crate::value::Data::I8($e),
            $crate::value::Data::U8($v) => $crate::value::Data::U8($e),
            $crate::value::Data::I16($v) => $crate::value::Data::I16($e),
            $crate::value::Data::U16($v) => $crate::value::Data::U16($e),
            $crate::value::Data::I32($v) => $crate::value::Data::I32($e),
            $crate::value::Data::U32($v) => $crate::value::Data::U32($e),
            $crate::value::Data::I64($v) => $crate::value::Data::I64($e),
            $crate::value::Data::U64($v) => $crate::value::Data::U64($e),
            $crate::value::Data::Bool($v) => $crate::value::Data::Bool($e),
        }
    };
}
pub(crate) use map_data;

/// `with_data!(data, v => expr)`: evaluates a generic expression on whichever vector `data`
/// holds (the expression's type must not depend on the element type).
macro_rules! with_data {
    ($data:expr, $v:ident => $e:expr) => {
        match $data {
            $crate::value::Data::F32($v) => $e,
            $crate::value::Data::F64($v) => $e,
            $crate::value::Data::F16($v) => $e,
            $crate::value::Data::BF16($v) => $e,
            $crate::value::Data::I8($v) => $e,
            $crate::value::Data::U8($v) => $e,
            $crate::value::Data::I16($v) => $e,
            $crate::value::Data::U16($v) => $e,
            $crate::value::Data::I32($v) => $e,
            $crate::value::Data::U32($v) => $e,
            $crate::value::Data::I64($v) => $e,
            $crate::value::Data::U64($v) => $e,
            $crate::value::Data::Bool($v) => $e,
        }
    };
}
#[allow(unused_imports)]
pub(crate) use with_data;

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
    fn natural_dtype(&self) -> DType {
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

/// A typed tensor: dtype, shape (row-major) and its elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    dtype: DType,
    shape: Vec<usize>,
    data: Data,
}

impl Value {
    /// A value whose storage is the natural one of its variant (f32 data is FLOAT, ...).
    /// Panics if the element count disagrees with the shape (a programming error).
    pub fn new(shape: Vec<usize>, data: Data) -> Value {
        let dtype = data.natural_dtype();
        Value::with_dtype(dtype, shape, data)
    }

    /// A value of a narrow dtype over its storage (e.g. INT4 over i8 data). Panics if the
    /// storage is not the dtype's or the element count disagrees with the shape.
    pub fn with_dtype(dtype: DType, shape: Vec<usize>, data: Data) -> Value {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "Value: shape {shape:?} does not match {} elements", data.len());
        assert_eq!(
            std::mem::discriminant(&Data::zeros(dtype, 0)),
            std::mem::discriminant(&data),
            "Value: {dtype} cannot be stored in {:?}",
            data.natural_dtype()
        );
        Value { dtype, shape, data }
    }

    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Value {
        Value::new(shape, Data::F32(data))
    }

    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Value {
        Value::new(shape, Data::I64(data))
    }

    pub fn i32(shape: Vec<usize>, data: Vec<i32>) -> Value {
        Value::new(shape, Data::I32(data))
    }

    pub fn u8(shape: Vec<usize>, data: Vec<u8>) -> Value {
        Value::new(shape, Data::U8(data))
    }

    pub fn i8(shape: Vec<usize>, data: Vec<i8>) -> Value {
        Value::new(shape, Data::I8(data))
    }

    /// A scalar f32.
    pub fn scalar_f32(x: f32) -> Value {
        Value::f32(vec![], vec![x])
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn into_data(self) -> Data {
        self.data
    }

    pub(crate) fn data_mut(&mut self) -> &mut Data {
        &mut self.data
    }

    /// The same elements under another shape of the same element count.
    pub fn reshaped(mut self, shape: Vec<usize>) -> Value {
        assert_eq!(shape.iter().product::<usize>(), self.len(), "reshaped: element count changes");
        self.shape = shape;
        self
    }

    pub fn as_f32(&self) -> Option<&[f32]> {
        match (&self.data, self.dtype) {
            (Data::F32(v), DType::F32) => Some(v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<&[i32]> {
        match &self.data {
            Data::I32(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_u8(&self) -> Option<&[u8]> {
        match (&self.data, self.dtype) {
            (Data::U8(v), DType::U8) => Some(v),
            _ => None,
        }
    }

    pub fn as_i8(&self) -> Option<&[i8]> {
        match (&self.data, self.dtype) {
            (Data::I8(v), DType::I8) => Some(v),
            _ => None,
        }
    }

    /// Every element as f32 (integers converted, FP8/FP4 codes decoded, bool as 0/1).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        if let Some(mf) = self.dtype.minifloat() {
            let Data::U8(codes) = &self.data else { unreachable!("minifloat values are stored as u8 codes") };
            return codes.iter().map(|&c| mf.decode(c as u16)).collect();
        }
        match &self.data {
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

    /// Every element as f64 (exact for all but 64-bit integers beyond 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            Data::F64(v) => v.clone(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as f64).collect(),
            _ => self.to_f32_vec().into_iter().map(f64::from).collect(),
        }
    }

    /// Integer elements as i64 (for shapes, axes, indices and zero points); `None` for floats.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        if self.dtype.is_float() {
            return None;
        }
        Some(match &self.data {
            Data::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I16(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U16(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::U32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
            Data::U64(v) => v.iter().map(|&x| x as i64).collect(),
            Data::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            _ => return None,
        })
    }

    /// Bytes the elements take as stored in a file (4-bit types packed two per byte).
    pub fn stored_bytes(&self) -> u64 {
        (self.len() as u64 * self.dtype.bits() as u64).div_ceil(8)
    }
}

/// The element count of a shape, or `None` when it overflows.
pub(crate) fn checked_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// An element type with its own [`Data`] variant: lets generic code get typed slices of
/// several values at once (Concat, Gather, Where-like ops).
pub trait Elem: Copy + Default + Send + Sync + 'static {
    fn slice(d: &Data) -> Option<&[Self]>;
    fn wrap(v: Vec<Self>) -> Data;
}

macro_rules! elem {
    ($($t:ty => $var:ident),*) => {$(
        impl Elem for $t {
            fn slice(d: &Data) -> Option<&[Self]> {
                match d {
                    Data::$var(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> Data {
                Data::$var(v)
            }
        }
    )*};
}
elem!(f32 => F32, f64 => F64, f16 => F16, bf16 => BF16, i8 => I8, u8 => U8, i16 => I16, u16 => U16,
      i32 => I32, u32 => U32, i64 => I64, u64 => U64, bool => Bool);

impl Value {
    /// A value of `dtype` from f32 numbers (what the page and .npy files give): floats are
    /// rounded to the dtype, integers must be whole and in range, bool is `x != 0`.
    pub fn from_f32(dtype: DType, shape: Vec<usize>, x: &[f32]) -> Result<Value, String> {
        if checked_count(&shape) != Some(x.len()) {
            return Err(format!("shape {shape:?} does not hold {} values", x.len()));
        }
        let ints = |lo: f64, hi: f64| -> Result<Vec<f64>, String> {
            x.iter()
                .map(|&v| {
                    let v = v as f64;
                    if v.fract() == 0.0 && v >= lo && v <= hi {
                        Ok(v)
                    } else {
                        Err(format!("{v} is not a {dtype} value"))
                    }
                })
                .collect()
        };
        let data = match dtype {
            DType::F32 => Data::F32(x.to_vec()),
            DType::F64 => Data::F64(x.iter().map(|&v| v as f64).collect()),
            DType::F16 => Data::F16(x.iter().map(|&v| f16::from_f32(v)).collect()),
            DType::BF16 => Data::BF16(x.iter().map(|&v| bf16::from_f32(v)).collect()),
            DType::Bool => Data::Bool(x.iter().map(|&v| v != 0.0).collect()),
            DType::I64 => Data::I64(ints(i64::MIN as f64, i64::MAX as f64)?.into_iter().map(|v| v as i64).collect()),
            DType::U64 => Data::U64(ints(0.0, u64::MAX as f64)?.into_iter().map(|v| v as u64).collect()),
            DType::I32 => Data::I32(ints(i32::MIN as f64, i32::MAX as f64)?.into_iter().map(|v| v as i32).collect()),
            DType::U32 => Data::U32(ints(0.0, u32::MAX as f64)?.into_iter().map(|v| v as u32).collect()),
            DType::I16 => Data::I16(ints(i16::MIN as f64, i16::MAX as f64)?.into_iter().map(|v| v as i16).collect()),
            DType::U16 => Data::U16(ints(0.0, u16::MAX as f64)?.into_iter().map(|v| v as u16).collect()),
            DType::I8 | DType::I4 | DType::I2 => {
                let (lo, hi) = dtype.int_range().expect("integer dtype");
                Data::I8(ints(lo as f64, hi as f64)?.into_iter().map(|v| v as i8).collect())
            }
            DType::U8 | DType::U4 | DType::U2 => {
                let (lo, hi) = dtype.int_range().expect("integer dtype");
                Data::U8(ints(lo as f64, hi as f64)?.into_iter().map(|v| v as u8).collect())
            }
            DType::F8E4M3FN | DType::F8E5M2 | DType::F4E2M1 => {
                let fmt = dtype.minifloat().expect("minifloat dtype");
                Data::U8(x.iter().map(|&v| fmt.encode(v) as u8).collect())
            }
        };
        Ok(Value::with_dtype(dtype, shape, data))
    }
}
