//! The scalar definitions the SIMD128 kernels must equal (see `mod.rs`).

/// Dot product of two f32 slices in eight interleaved partial sums (the shape of ggml's AVX
/// `ggml_vec_dot_f32`), then added pairwise.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut tail = 0f32;
    for i in chunks * 8..a.len() {
        tail += a[i] * b[i];
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

pub fn q8_0_sums(w: &[i8; 32], x: &[i8; 32]) -> [i32; 8] {
    let mut s = [0i32; 8];
    for (l, s) in s.iter_mut().enumerate() {
        *s = (4 * l..4 * l + 4).map(|j| w[j] as i32 * x[j] as i32).sum();
    }
    s
}

pub fn q4_0_sums(w: &[u8; 16], x: &[i8; 32]) -> [i32; 8] {
    let q = |j: usize| if j < 16 { (w[j] & 0x0f) as i32 - 8 } else { (w[j - 16] >> 4) as i32 - 8 };
    let mut s = [0i32; 8];
    for (l, s) in s.iter_mut().enumerate() {
        *s = (4 * l..4 * l + 4).map(|j| q(j) * x[j] as i32).sum();
    }
    s
}
