//! The blocks the quantized matrix-vector products read, as the model holds them in memory (each
//! type's file layout and its unpacking at load are in `q8_0.rs`, `q4_0.rs`, `kquants.rs` and
//! `iq4.rs`). Apart
//! from those modules so that the kernels ([`crate::kernels`]) and the types' modules, which call
//! the kernels, both depend on this one and not on each other.

/// Values per Q8_0 / Q4_0 block.
pub const QK: usize = 32;

/// A Q8_0 block (`block_q8_0`, `ggml-common.h`): 32 codes and their scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_0 {
    /// The block's f16 scale, widened.
    pub d: f32,
    pub qs: [i8; QK],
}

/// A Q4_0 block (`block_q4_0`): the f16 scale widened, 16 bytes whose low nibbles are values 0..15
/// and high nibbles values 16..31.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_0 {
    pub d: f32,
    pub qs: [u8; QK / 2],
}

/// Values per K-quant super-block.
pub const QK_K: usize = 256;

/// A Q8_K activation block (`block_q8_K`): codes, scale, and the sums of each 16 codes.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    /// Sums of each 16 codes.
    pub bsums: [i16; QK_K / 16],
}

/// A Q4_K or Q5_K super-block (`block_q4_K`, `block_q5_K`) unpacked at load: each value's code
/// as a byte (0..15, or 0..31 with Q5_K's high bit), the packed 6-bit scales and mins unpacked
/// (`get_scale_min_k4`), value e = `d·scales[e / 32]·q[e] − dmin·mins[e / 32]`. 280 bytes in memory
/// for the file's 144 (Q4_K) or 176 (Q5_K): the kernels then load codes as Q8_0's, where splitting
/// nibbles and high bits per row and token cost wasm SIMD128 (no byte shifts on x86) more than the
/// products themselves (measured in the README's speed table).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ4K {
    pub q: [i8; QK_K],
    pub scales: [u8; 8],
    pub mins: [u8; 8],
    pub d: f32,
    pub dmin: f32,
}

/// Q5_K's super-block as the kernels hold it: Q4_K's, with codes 0..31.
pub type BlockQ5K = BlockQ4K;

/// A Q6_K or Q3_K super-block (`block_q6_K`, `block_q3_K`) unpacked at load: each value's code as
/// a byte (Q6_K's 6-bit code minus 32, −32..31; Q3_K's 2-bit code with its hmask bit, −4..3), the
/// sixteen scales (one per 16 values) widened to i16 so the kernels load two at once; value e is
/// `d·scales[e / 16]·q[e]`. 292 bytes in memory for the file's 210 (Q6_K) or 110 (Q3_K).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ6K {
    pub q: [i8; QK_K],
    pub scales: [i16; QK_K / 16],
    pub d: f32,
}

/// Q3_K's super-block as the kernels hold it: Q6_K's, with codes −4..3 and scales −32..31.
pub type BlockQ3K = BlockQ6K;

/// A Q2_K super-block (`block_q2_K`) unpacked at load: each value's 2-bit code already times its
/// sub-block's 4-bit scale (0..45, exact in a byte), so the kernel's integer sum Σ scale·q·x is a
/// plain byte dot product as Q8_0's; the 16 scale bytes as the file has them (scale in the low
/// nibble, min in the high), f16 d and dmin widened. 280 bytes in memory for the file's 84.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ2K {
    /// (scales[e / 16] & 15) · code e.
    pub q: [i8; QK_K],
    pub scales: [u8; QK_K / 16],
    pub d: f32,
    pub dmin: f32,
}

/// A Q4_1 or Q5_1 block (`block_q4_1`, `block_q5_1`) unpacked at load: its 32 codes (0..15 or
/// 0..31) as bytes, its f16 scale and min widened; a value is d·q + m (40 bytes in memory for the
/// file's 20 or 24). Multiplied by Q8_1 activations: Q8_0's codes and scale, and s = d·Σq.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8Min {
    pub d: f32,
    pub m: f32,
    pub qs: [i8; QK],
}

/// Value e of a Q2_K super-block (its code, 0..3): the scaled code over the scale; a code under
/// a zero scale is not kept, and any gives the same value there (0·d·q − min), so 0.
pub fn q2_k_value(b: &BlockQ2K, e: usize) -> i32 {
    let scale = (b.scales[e / 16] & 0x0f) as i32;
    if scale == 0 {
        0
    } else {
        b.q[e] as i32 / scale
    }
}

/// An IQ4_XS super-block (`block_iq4_xs`) unpacked at load: each value's `kvalues_iq4nl` level
/// (−127..113) as a byte, its sub-block's 6-bit scale minus 32 (−32..31) per 32 values, the f16 d
/// widened; value e is `d·scales[e / 32]·q[e]` (`dequantize_row_iq4_xs`). 268 bytes in memory for
/// the file's 136.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockIq4Xs {
    pub q: [i8; QK_K],
    pub scales: [i8; QK_K / 32],
    pub d: f32,
}
