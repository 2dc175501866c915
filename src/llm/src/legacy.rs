//! Q5_0, Q4_1 and Q5_1 weights (`block_q5_0`, `block_q4_1`, `block_q5_1` in `ggml-common.h`),
//! unpacked at load to one byte per code as Q4_0 is ([`crate::q4_0::unpack`]): Q5_0 to Q8_0 codes
//! (−16..15), multiplied by the Q8_0 kernel as ggml's wasm `ggml_vec_dot_q5_0_q8_0` (the same
//! lanes and float operations as Q8_0's); Q4_1 and Q5_1 to codes and their block min
//! ([`BlockQ8Min`]), multiplied by Q8_1 activations ([`quantize_activations_q8_1`]) as ggml's wasm
//! `ggml_vec_dot_q4_1_q8_1` / `ggml_vec_dot_q5_1_q8_1` (src/llm/src/kernels).

pub use crate::blocks::BlockQ8Min;
use crate::blocks::{BlockQ8_0, QK};
use half::f16;

pub const Q5_0_BYTES: usize = 22;
pub const Q4_1_BYTES: usize = 20;
pub const Q5_1_BYTES: usize = 24;

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Code j of a block's 16 nibble bytes `qs` and 32 high bits `qh` (`dequantize_row_q5_0`:
/// j < 16 the low nibble of byte j, else the high nibble of byte j − 16; bit j of qh is bit 4).
fn code(qs: &[u8], qh: u32, j: usize) -> u8 {
    let nibble = if j < QK / 2 { qs[j] & 0x0f } else { qs[j - QK / 2] >> 4 };
    nibble | (((qh >> j) & 1) << 4) as u8
}

/// Q5_0 blocks (f16 d, 4 bytes of high bits, 16 nibble bytes) as Q8_0 codes q − 16.
pub fn q5_0_unpack(bytes: &[u8]) -> Vec<BlockQ8_0> {
    bytes
        .chunks_exact(Q5_0_BYTES)
        .map(|b| {
            let qh = u32::from_le_bytes(b[2..6].try_into().expect("4 bytes"));
            BlockQ8_0 { d: f16_at(b, 0), qs: std::array::from_fn(|j| code(&b[6..22], qh, j) as i8 - 16) }
        })
        .collect()
}

/// Q4_1 blocks (f16 d, f16 m, 16 nibble bytes) unpacked.
pub fn q4_1_unpack(bytes: &[u8]) -> Vec<BlockQ8Min> {
    bytes
        .chunks_exact(Q4_1_BYTES)
        .map(|b| BlockQ8Min { d: f16_at(b, 0), m: f16_at(b, 2), qs: std::array::from_fn(|j| code(&b[4..20], 0, j) as i8) })
        .collect()
}

/// Q5_1 blocks (f16 d, f16 m, 4 bytes of high bits, 16 nibble bytes) unpacked.
pub fn q5_1_unpack(bytes: &[u8]) -> Vec<BlockQ8Min> {
    bytes
        .chunks_exact(Q5_1_BYTES)
        .map(|b| {
            let qh = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes"));
            BlockQ8Min { d: f16_at(b, 0), m: f16_at(b, 2), qs: std::array::from_fn(|j| code(&b[8..24], qh, j) as i8) }
        })
        .collect()
}

/// `dequantize_row_q4_1` / `_q5_1`: q·d + m.
pub fn dequantize(blocks: &[BlockQ8Min], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK)) {
        for (o, &q) in chunk.iter_mut().zip(&b.qs) {
            *o = q as f32 * b.d + b.m;
        }
    }
}

/// Q8_1 activations as ggml-cpu's x86 `quantize_row_q8_1` makes them: Q8_0's codes and f16
/// scale ([`crate::kernels::quantize_q8_0`]), and each block's s = f16(d·Σq) with d the unrounded
/// amax / 127 (as [`crate::dequantized`] documents).
pub fn quantize_activations_q8_1(x: &[f32]) -> (Vec<BlockQ8_0>, Vec<f32>) {
    let mut blocks = Vec::with_capacity(x.len() / QK);
    crate::kernels::quantize_q8_0(x, &mut blocks);
    let s = blocks
        .iter()
        .zip(x.chunks_exact(QK))
        .map(|(b, v)| {
            let sum = b.qs.iter().map(|&q| q as i32).sum::<i32>() as f32;
            // max |a| from 0, NaN skipped, as `f32::max` would: on the bits (non-negative, so
            // ordered as the values), because a `+relaxed-simd` build vectorizes a float max to
            // `f32x4.relaxed_max`, whose NaN result is the engine's (see kernels::simd128's amax).
            let amax = f32::from_bits(v.iter().map(|a| a.to_bits() & 0x7fff_ffff).filter(|&b| b <= 0x7f80_0000).fold(0, u32::max));
            f16::from_f32(amax / 127.0 * sum).to_f32()
        })
        .collect();
    (blocks, s)
}
