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

/// The element count of `shape`, or `None` if it overflows or exceeds [`MAX_ELEMENTS`].
pub fn checked_element_count(shape: &[u64]) -> Option<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}
