//! A tensor as the schemes see it: a name, a shape, the dtype it was stored as, and its values
//! widened (or narrowed, for float64) to f32, in C (row-major) order.

use serde::Serialize;

/// The largest tensor quantscope loads, in elements. 2^28 f32 values are 1 GiB, which is
/// already most of what a browser tab's wasm memory can hold alongside a dequantized copy.
pub const MAX_ELEMENTS: u64 = 1 << 28;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// The dtype as stored in the file, e.g. `float16`; the values below are f32 whatever it was.
    pub dtype: String,
    #[serde(skip)]
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(name: impl Into<String>, shape: Vec<usize>, dtype: impl Into<String>, data: Vec<f32>) -> Self {
        Tensor { name: name.into(), shape, dtype: dtype.into(), data }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The element count of `shape`, or `None` if it overflows or exceeds [`MAX_ELEMENTS`], or any
/// one dimension does (`[2^40, 0]` holds no elements, but code walking its axes would not know).
pub fn checked_element_count(shape: &[u64]) -> Option<u64> {
    if shape.iter().any(|&d| d > MAX_ELEMENTS) {
        return None;
    }
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS)
}

/// Bits per element as stored in a file, for the dtype names the readers use (numpy names,
/// safetensors names in lowercase, ggml type names); `None` for a name it does not know.
pub fn stored_bits(dtype: &str) -> Option<f64> {
    Some(match dtype {
        "float64" | "f64" | "int64" | "i64" | "uint64" | "u64" => 64.0,
        "float32" | "f32" | "int32" | "i32" | "uint32" | "u32" => 32.0,
        "float16" | "f16" | "bfloat16" | "bf16" | "int16" | "i16" | "uint16" | "u16" => 16.0,
        "int8" | "i8" | "uint8" | "u8" | "bool" => 8.0,
        d if d.starts_with("float8") || d.starts_with("f8") => 8.0,
        "int4" | "uint4" | "float4_e2m1" => 4.0,
        "int2" | "uint2" => 2.0,
        // Block types: as stored, scales included.
        other => return crate::ggml_types::by_name(other).map(|t| t.bits_per_weight()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_counts_are_checked() {
        assert_eq!(checked_element_count(&[]), Some(1));
        assert_eq!(checked_element_count(&[3, 0, 5]), Some(0));
        assert_eq!(checked_element_count(&[1 << 20, 1 << 20]), None);
        assert_eq!(checked_element_count(&[u64::MAX, 2]), None);
    }

    #[test]
    fn stored_bits_know_the_reader_dtypes() {
        assert_eq!(stored_bits("float16"), Some(16.0));
        assert_eq!(stored_bits("float8_e4m3fn"), Some(8.0));
        assert_eq!(stored_bits("q4_k"), Some(4.5));
        assert_eq!((stored_bits("int4"), stored_bits("float4_e2m1"), stored_bits("uint2")), (Some(4.0), Some(4.0), Some(2.0)));
        assert_eq!(stored_bits("complex64"), None);
    }
}
