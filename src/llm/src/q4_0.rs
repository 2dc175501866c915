//! Q4_0 weights × Q8_0 activations, as ggml-cpu's `ggml_vec_dot_q4_0_q8_0`: per block of 32 the
//! nibbles minus 8 times the Q8_0 activations, the exact integer sums times d_w·d_x accumulated in
//! the four lanes of ggml's wasm SIMD128 body ([`crate::kernels`]). A block: f16 d, 16 bytes whose
//! low nibbles are values 0..15 and high nibbles values 16..31 (`block_q4_0`, `ggml-common.h`).
//!
//! On AVX2 llama.cpp repacks Q4_0 matrices of a multiple of 8 rows (`ggml-cpu/repack.cpp`,
//! q4_0_8x8) and multiplies them with other kernels: the integers are the same, the float sums'
//! order is not, so the logits agree within float rounding rather than bit for bit.

pub use crate::blocks::BlockQ4_0;
use crate::q8_0::{BlockQ8_0, QK};
use half::f16;

pub const BLOCK_BYTES: usize = 18;

pub fn blocks_from_bytes(bytes: &[u8]) -> Vec<BlockQ4_0> {
    bytes
        .chunks_exact(BLOCK_BYTES)
        .map(|b| BlockQ4_0 { d: f16::from_le_bytes([b[0], b[1]]).to_f32(), qs: b[2..18].try_into().expect("16 bytes") })
        .collect()
}

/// The block's 32 values minus 8, in order.
fn values(b: &BlockQ4_0) -> [i32; QK] {
    let mut v = [0i32; QK];
    for j in 0..QK / 2 {
        v[j] = (b.qs[j] & 0x0f) as i32 - 8;
        v[j + QK / 2] = (b.qs[j] >> 4) as i32 - 8;
    }
    v
}

/// The block unpacked at load: its 32 values minus 8 as i8 codes with the same scale. Its
/// Q8_0 × Q8_0 product ([`crate::kernels::q8_0_matvec`]) is the Q4_0 one
/// ([`crate::kernels::reference::q4_0_dot`]) bit for bit — the same integers in the same lanes,
/// the same d_w·d_x — and the SIMD kernel then loads bytes instead of splitting nibbles (36 bytes
/// in memory per block for the file's 18).
pub fn unpack(b: &BlockQ4_0) -> BlockQ8_0 {
    let v = values(b);
    BlockQ8_0 { d: b.d, qs: std::array::from_fn(|j| v[j] as i8) }
}

/// One row's `ggml_vec_dot_q4_0_q8_0`.
pub fn vec_dot(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let w: Vec<BlockQ8_0> = w.iter().map(unpack).collect();
    crate::q8_0::vec_dot(&w, x)
}

/// `dequantize_row_q4_0`: (q − 8) · d.
pub fn dequantize(blocks: &[BlockQ4_0], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK)) {
        for (o, q) in chunk.iter_mut().zip(values(b)) {
            *o = q as f32 * b.d;
        }
    }
}
