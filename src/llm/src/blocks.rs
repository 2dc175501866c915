//! The blocks the quantized matrix-vector products read, as the model holds them in memory (each
//! type's file layout and its unpacking at load are in `q8_0.rs`, `q4_0.rs` and `kquants.rs`). Apart
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

/// A Q4_K super-block (`block_q4_K`) with its packed 6-bit scales and mins unpacked at load.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ4K {
    pub d: f32,
    pub dmin: f32,
    /// The eight 6-bit scales and mins, unpacked (`get_scale_min_k4`).
    pub scales: [u8; 8],
    pub mins: [u8; 8],
    pub qs: [u8; QK_K / 2],
}

/// A Q6_K super-block with its 6-bit values unpacked at load (the kernels then read them as
/// bytes; 276 bytes in memory for the file's 210).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ6K {
    /// The 256 values in order, each its 6-bit code minus 32 (−32..31).
    pub q: [i8; QK_K],
    /// One scale per 16 values.
    pub scales: [i8; QK_K / 16],
    pub d: f32,
}

/// A Q2_K super-block (`block_q2_K`) as the file lays it out, its f16 scales widened (88 bytes in
/// memory for the file's 84). Value e = 128n + 32j + l (l < 32) is (qs[32n + l] >> 2j) & 3; its
/// sub-block of 16 is e / 16, whose scale is the low nibble of scales[e / 16] and min the high.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: f32,
    pub dmin: f32,
}

/// A Q3_K super-block (`block_q3_K`) with its sixteen 6-bit scales unpacked at load, minus 32
/// (116 bytes in memory for the file's 110). Value e = 128n + 32j + l (l < 32) is
/// ((qs[32n + l] >> 2j) & 3) − 4, plus 4 when bit 4n + j of hmask[l] is set.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    /// One scale per 16 values, −32..31.
    pub scales: [i8; QK_K / 16],
    pub d: f32,
}

/// A Q5_K super-block (`block_q5_K`) with its 6-bit scales and mins unpacked at load as Q4_K's
/// (184 bytes in memory for the file's 176). Value e = 64j + 32h + l (l < 32) is the low (h = 0)
/// or high (h = 1) nibble of qs[32j + l], plus 16 when bit 2j + h of qh[l] is set.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ5K {
    pub d: f32,
    pub dmin: f32,
    pub scales: [u8; 8],
    pub mins: [u8; 8],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
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

/// Value e of a Q2_K super-block (0..3).
pub fn q2_k_value(b: &BlockQ2K, e: usize) -> i32 {
    let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
    ((b.qs[32 * n + l] >> (2 * j)) & 3) as i32
}

/// Value e of a Q3_K super-block (−4..3).
pub fn q3_k_value(b: &BlockQ3K, e: usize) -> i32 {
    let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
    let low = ((b.qs[32 * n + l] >> (2 * j)) & 3) as i32;
    let high = (b.hmask[l] >> (4 * n + j)) & 1;
    low - if high == 0 { 4 } else { 0 }
}

/// Value e of a Q5_K super-block (0..31).
pub fn q5_k_value(b: &BlockQ5K, e: usize) -> i32 {
    let (j, h, l) = (e / 64, e % 64 / 32, e % 32);
    let byte = b.qs[32 * j + l];
    let low = if h == 0 { byte & 0x0f } else { byte >> 4 };
    let high = (b.qh[l] >> (2 * j + h)) & 1;
    (low | (high << 4)) as i32
}
