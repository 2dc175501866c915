//! IQ4_NL and IQ4_XS weights (`block_iq4_nl`, `block_iq4_xs` in `ggml-common.h`): 4-bit indices
//! into the 16 non-linear levels `kvalues_iq4nl`, looked up once at load so the kernels multiply
//! the levels as bytes, as ggml-cpu's `ggml_vec_dot_iq4_nl_q8_0` and `ggml_vec_dot_iq4_xs_q8_K`
//! multiply them (their x86 bodies look the levels up with `_mm_shuffle_epi8` per block and row
//! instead). IQ4_NL becomes Q8_0 codes with the block's scale, multiplied by the Q8_0 kernel
//! with Q8_0 activations (36 bytes in memory per 32 weights for the file's 18); IQ4_XS becomes
//! [`BlockIq4Xs`], multiplied with Q8_K activations (`crate::kernels::iq4_xs_matvec`).

pub use crate::blocks::BlockIq4Xs;
use crate::blocks::{BlockQ8_0, QK, QK_K};
use half::f16;
use quantscope_core::schemes::ggml_extra::iq4::KVALUES_IQ4NL;

pub const IQ4_NL_BYTES: usize = 18;
pub const IQ4_XS_BYTES: usize = 136;

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// The levels of 32 values from their 16 index bytes: value j < 16 the low nibble of byte j,
/// value j ≥ 16 the high nibble of byte j − 16.
fn levels(qs: &[u8]) -> [i8; QK] {
    std::array::from_fn(|j| KVALUES_IQ4NL[(if j < QK / 2 { qs[j] & 0x0f } else { qs[j - QK / 2] >> 4 }) as usize])
}

/// IQ4_NL blocks (f16 d, 16 index bytes) as Q8_0 codes: its levels and scale (d·level is
/// `dequantize_row_iq4_nl`'s value). The integer sums are ggml's; the Q8_0 kernel's float
/// operations are its own (four lanes per block) where ggml's generic body adds d·Σ per block.
pub fn iq4_nl_unpack(bytes: &[u8]) -> Vec<BlockQ8_0> {
    bytes.chunks_exact(IQ4_NL_BYTES).map(|b| BlockQ8_0 { d: f16_at(b, 0), qs: levels(&b[2..18]) }).collect()
}

/// IQ4_XS super-blocks: f16 d, u16 scales_h (2 high bits of each of 8 scales), 4 bytes scales_l
/// (4 low bits each, sub-block 2i in the low nibble of byte i), 128 index bytes (8 sub-blocks of
/// 32 laid out as IQ4_NL's).
pub fn iq4_xs_from_bytes(bytes: &[u8]) -> Vec<BlockIq4Xs> {
    bytes
        .chunks_exact(IQ4_XS_BYTES)
        .map(|b| {
            let scales_h = u16::from_le_bytes([b[2], b[3]]);
            let mut q = [0i8; QK_K];
            for (ib, chunk) in q.chunks_exact_mut(QK).enumerate() {
                chunk.copy_from_slice(&levels(&b[8 + 16 * ib..8 + 16 * ib + 16]));
            }
            BlockIq4Xs {
                q,
                scales: std::array::from_fn(|ib| {
                    let low = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
                    let high = ((scales_h >> (2 * ib)) & 3) as u8;
                    (low | (high << 4)) as i8 - 32
                }),
                d: f16_at(b, 0),
            }
        })
        .collect()
}

/// `dequantize_row_iq4_xs`: (d·(ls − 32))·level.
pub fn iq4_xs_dequantize(blocks: &[BlockIq4Xs], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK_K)) {
        for (e, o) in chunk.iter_mut().enumerate() {
            *o = b.d * b.scales[e / 32] as f32 * b.q[e] as f32;
        }
    }
}
