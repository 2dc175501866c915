//! The scalar references of the FP16/BF16 conversions: `half`'s own, element by element. The
//! SIMD128 kernels in simd128.rs must equal them bit for bit.

/// f32 → FP16 bits, `half::f16::from_f32` (round to nearest even).
pub fn f32_to_f16_bits(src: &[f32], dst: &mut [u16]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = half::f16::from_f32(x).to_bits();
    }
}

/// FP16 bits → f32, `half::f16::to_f32` (exact).
pub fn f16_bits_to_f32(src: &[u16], dst: &mut [f32]) {
    for (d, &h) in dst.iter_mut().zip(src) {
        *d = half::f16::from_bits(h).to_f32();
    }
}

/// f32 → BF16 bits, `half::bf16::from_f32` (round to nearest even).
pub fn f32_to_bf16_bits(src: &[f32], dst: &mut [u16]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = half::bf16::from_f32(x).to_bits();
    }
}

/// BF16 bits → f32, `half::bf16::to_f32` (exact).
pub fn bf16_bits_to_f32(src: &[u16], dst: &mut [f32]) {
    for (d, &h) in dst.iter_mut().zip(src) {
        *d = half::bf16::from_bits(h).to_f32();
    }
}
