//! numpy's float sums as numpy computes them (`pairwise_sum`, `numpy/_core/src/umath/loops_utils.h.src`),
//! for the ONNX Runtime quantizers whose results depend on their rounding: entropy calibration
//! (float32 `np.sum`) and GPTQ (float64 `np.add.reduce`).

use std::ops::Add;

/// `np.sum` of a contiguous 1-D array: eight running sums over blocks of up to 128 values,
/// halves (multiples of 8) above that.
pub(crate) fn pairwise_sum<T: Copy + Default + Add<Output = T>>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(T::default(), |s, &v| s + v);
    }
    if n <= 128 {
        let mut r: [T; 8] = std::array::from_fn(|k| a[k]);
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (r, &v) in r.iter_mut().zip(chunk) {
                *r = *r + v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res = res + v;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
}
