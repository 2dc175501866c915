//! Typed tensors: the values that flow through a graph, each in its own element type (the
//! formats' [`crate::Tensor`] widens everything to f32, which integer execution cannot use).
//!
//! A [`Value`] is a logical [`DType`], a shape and [`Data`], the physical storage. Most dtypes
//! are stored as themselves; the sub-byte and 8-bit float types are stored one element per
//! byte: INT4/INT2 as `i8` values in [-8, 7] / [-2, 1], UINT4/UINT2 as `u8` values in
//! [0, 15] / [0, 3], FLOAT8 and FLOAT4 as their bit codes in `u8`. Data-movement ops (Reshape, Transpose, Gather, ...) therefore
//! work on every dtype without knowing it.

use half::{bf16, f16};

// The element types and their storage are the ONNX format's, shared with the model reader
// (quantscope_formats::onnx::tensor); `map_data!`/`with_data!` match on every storage.
pub(crate) use quantscope_formats::map_data;
pub use quantscope_formats::onnx::tensor::{DType, Data};
#[allow(unused_imports)]
pub(crate) use quantscope_formats::with_data;

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
        self.data.to_f32(self.dtype)
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

pub(crate) use quantscope_formats::onnx::tensor::checked_count;

/// The most bytes one value an op makes from its inputs' *contents* (ConstantOfShape, Expand,
/// Tile, Pad, Resize, OneHot) may take. A wasm tab has at most 4 GiB in all; a value past this is
/// refused with the op's error instead of an allocation that fails and traps.
#[cfg(not(fuzzing))]
pub(crate) const MAX_VALUE_BYTES: u64 = 1 << 30;
/// Under libFuzzer (`cargo fuzz` sets `--cfg fuzzing`) 16 MiB: filling a legal 1 GiB value under
/// AddressSanitizer takes over a minute, which stalled the onnx_model campaign on inputs that are
/// slow, not wrong; the refusal path is the same one, reached sooner.
#[cfg(fuzzing)]
pub(crate) const MAX_VALUE_BYTES: u64 = 1 << 24;

/// The element count of a `dtype` value of `shape`, or `None` when [`checked_count`] refuses it
/// or it would take more than [`MAX_VALUE_BYTES`].
pub(crate) fn checked_len(shape: &[usize], dtype: DType) -> Option<usize> {
    checked_count(shape).filter(|&n| (n as u64 * dtype.bits() as u64).div_ceil(8) <= MAX_VALUE_BYTES)
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
