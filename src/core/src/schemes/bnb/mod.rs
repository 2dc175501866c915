//! bitsandbytes 4-bit quantization: `nf4`, `fp4`, and the double-quantized `nf4_dq`, `fp4_dq`,
//! bit for bit as bitsandbytes 0.50.2 on CPU (`bitsandbytes.functional.quantize_4bit` with
//! `blocksize=64`, `compress_statistics=False/True`).
//!
//! **Blocks.** The tensor is flattened in C order and cut into blocks of 64; the last block may
//! be shorter (bnb keeps it partial; for the absmax this is the same as zero padding).
//!
//! **4-bit codes** (`bitsandbytes/backends/default/ops.py`, the `quantize_4bit` kernel
//! bitsandbytes runs on CPU): per block `absmax = max |x|`; a full block is scaled as
//! `x · (1 / max(absmax, 1e-38))` (f32 reciprocal, then f32 product), the last partial block as
//! `x / max(absmax, 1e-38)`, and for it the *clamped* absmax is the one stored. The scaled
//! value is clamped to [−1, 1] and bucketized (`torch.bucketize`, right=False: a value on a
//! midpoint goes to the lower bucket) on the f32 midpoints `(a + b) / 2` of the sorted
//! 16-entry table; for FP4 the bucket is mapped back through the table's argsort. The tables
//! (`functional.get_4bit_type`):
//! * NF4: the 16 normal-quantile values of QLoRA, −1 … 0 … 1 (sorted already);
//! * FP4: bnb's own sign-2-bit-exponent-1-bit-mantissa table `[0, 0.0625, 8, 12, 4, 6, 2, 3,
//!   −0, −0.0625, −8, −12, −4, −6, −2, −3] / 12` in bit-pattern order (both zeros are +0 in
//!   f32 there). This is not OCP FP4 E2M1 (`fp4_e2m1` in the float family).
//!
//! Two codes per byte, the first element in the high nibble (`(q[2i] << 4) | q[2i+1]`); an odd
//! count is padded with the code of 0.0. Dequantized `x̂ = table[code] · absmax` in f32.
//! bnb's CUDA kernel (`csrc/kernels.cu`, `dQuantizeNF4`/`dQuantizeFP4`) decides with a tree
//! of decimal thresholds instead, which may differ at exact midpoints; quantscope follows the
//! CPU path, which is what the fixtures come from.
//!
//! **Double quantization** (`_dq`, bnb's `compress_statistics=True`): `offset = mean(absmax)`
//! (torch's f32 `mean` on CPU = ATen's cascade sum with the 8-lane AVX2 layout, divided by the
//! count; see [`torch_sum_f32`]), then `absmax − offset` is quantized with bnb's signed 8-bit
//! dynamic code (`functional.create_dynamic_map(signed=True)`) in blocks of 256 by the C++ CPU
//! kernel (`csrc/cpu_ops.cpp` `quantize_cpu`, `csrc/common.cpp` `quantize_block`): per
//! 256-block `absmax2 = max |v|`, `v / absmax2` (f32 division), the largest code entry ≤ it
//! (the search runs with entry 0 set to −1.0, as `quantize_cpu` does), then the right
//! neighbour if it is strictly closer in f32. The absmax used to dequantize is
//! `dyn[q] · absmax2 + offset` (f32). When a 256-block's values are all equal (e.g. a tensor of
//! one 64-block) `v / absmax2` is 0/0; bnb's kernel yields index 0 there and so does
//! quantscope (the decoded absmax is then exactly `offset`).
//!
//! **quantscope's rules where bnb has none** (bnb lets a NaN poison its block): NaN and ±Inf
//! are left out of the block's absmax; NaN encodes as the code of 0.0 (x̂ = 0); ±Inf as the
//! table's extreme code of its sign (±absmax). An all-zero block has absmax 0 (a partial one
//! stores 1e-38, as bnb) and every value encodes as the code of 0, dequantizing to 0. An empty
//! tensor packs to zero bytes. Nothing is ever clipped (`clipped` = 0).
//!
//! **Packed layout** (little-endian), for n values in B = ⌈n/64⌉ blocks:
//! * `nf4`, `fp4`: ⌈n/2⌉ code bytes, then B × f32 absmax.
//!   Bits per weight → 4 + 32/64 = 4.5.
//! * `nf4_dq`, `fp4_dq`: ⌈n/2⌉ code bytes, B × u8 quantized absmax, ⌈B/256⌉ × f32 second-level
//!   absmax, one f32 offset (nothing at all when n = 0).
//!   Bits per weight → 4 + 8/64 + 32/(64·256) ≈ 4.127.
//!
//! Hot paths ([`block_absmax`], [`encode_block`], [`decode_codes`]) pick the SIMD128 kernel
//! (bnb/simd128.rs) on wasm32+simd128 and the scalar reference (bnb/reference.rs) otherwise.

pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

use super::{Decoding, Param, Quantized, Scheme};
use crate::error::{Error, Result};

/// Elements per 4-bit block (bnb's default `blocksize=64`).
pub const BLOCK: usize = 64;
/// Absmax values per second-level block in double quantization.
pub const DQ_BLOCK: usize = 256;
/// bnb clamps the absmax divisor to at least this (`absmax.clamp(min=1e-38)`, an f32 subnormal).
pub const ABSMAX_FLOOR: f32 = 1e-38;

/// NF4 (`get_4bit_type("nf4")`), as f32 bit patterns.
const NF4_BITS: [u32; 16] = [
    0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000, 0x3da2faff, 0x3e24cae3, 0x3e7c04dd,
    0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000,
];
/// bnb's FP4 (`get_4bit_type("fp4")`: the table / 12 in f32), as f32 bit patterns.
const FP4_BITS: [u32; 16] = [
    0x00000000, 0x3baaaaab, 0x3f2aaaab, 0x3f800000, 0x3eaaaaab, 0x3f000000, 0x3e2aaaab, 0x3e800000, 0x00000000, 0xbbaaaaab, 0xbf2aaaab,
    0xbf800000, 0xbeaaaaab, 0xbf000000, 0xbe2aaaab, 0xbe800000,
];
/// `torch.argsort(fp4)` as bnb computes it (the +0 at index 0 sorts before the one at 8).
const FP4_ORDER: [u8; 16] = [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3];
const IDENTITY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// bnb's signed 8-bit dynamic code (`create_dynamic_map(signed=True)`, sorted), as the
/// dequantizer uses it, f32 bit patterns. The quantizer searches it with entry 0 = −1.0.
#[rustfmt::skip]
const DYNAMIC_BITS: [u32; 256] = [
    0xbf7e3333, 0xbf7a999a, 0xbf770000, 0xbf736666, 0xbf6fcccd, 0xbf6c3333, 0xbf68999a, 0xbf650000,
    0xbf616666, 0xbf5dcccd, 0xbf5a3333, 0xbf56999a, 0xbf530000, 0xbf4f6666, 0xbf4bcccd, 0xbf483333,
    0xbf44999a, 0xbf410000, 0xbf3d6666, 0xbf39cccd, 0xbf363334, 0xbf32999a, 0xbf2f0000, 0xbf2b6666,
    0xbf27cccd, 0xbf243334, 0xbf20999a, 0xbf1d0000, 0xbf196666, 0xbf15cccd, 0xbf123334, 0xbf0e999a,
    0xbf0b0000, 0xbf076666, 0xbf03cccc, 0xbf003333, 0xbef93332, 0xbef20000, 0xbeeacccc, 0xbee3999a,
    0xbedc6666, 0xbed53333, 0xbece0000, 0xbec6cccc, 0xbebf999a, 0xbeb86666, 0xbeb13333, 0xbeaa0000,
    0xbea2cccc, 0xbe9b999a, 0xbe946666, 0xbe8d3334, 0xbe860000, 0xbe7d9999, 0xbe6f3333, 0xbe60cccd,
    0xbe526666, 0xbe440000, 0xbe35999a, 0xbe273333, 0xbe18cccd, 0xbe0a6666, 0xbdf80000, 0xbddb3334,
    0xbdc9eb85, 0xbdc428f7, 0xbdbe6667, 0xbdb8a3d7, 0xbdb2e148, 0xbdad1eb8, 0xbda75c2a, 0xbda1999a,
    0xbd9bd70a, 0xbd96147b, 0xbd9051eb, 0xbd8a8f5d, 0xbd84cccd, 0xbd7e147b, 0xbd728f5d, 0xbd670a3d,
    0xbd5b851f, 0xbd500000, 0xbd447ae1, 0xbd38f5c3, 0xbd2d70a3, 0xbd21eb85, 0xbd166667, 0xbd0ae148,
    0xbcfeb852, 0xbce7ae15, 0xbcd0a3d7, 0xbcb9999a, 0xbca28f5d, 0xbc8b851f, 0xbc68f5c3, 0xbc3ae148,
    0xbc1f3b64, 0xbc160418, 0xbc0ccccd, 0xbc039581, 0xbbf4bc6a, 0xbbe24dd3, 0xbbcfdf3b, 0xbbbd70a4,
    0xbbab020d, 0xbb989374, 0xbb8624dd, 0xbb676c8a, 0xbb428f5c, 0xbb1db22d, 0xbaf1a9fc, 0xbaa7ef9d,
    0xba7765ff, 0xba59e83e, 0xba3c6a80, 0xba1eecc1, 0xba016f01, 0xb9c7e283, 0xb98ce705, 0xb923d70b,
    0xb8ba1f4b, 0xb88aefb3, 0xb8378034, 0xb7b24206, 0xb70205ff, 0xb65a1a94, 0xb513a3b7, 0x00000000,
    0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206, 0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b,
    0x398ce705, 0x39c7e283, 0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d,
    0x3af1a9fc, 0x3b1db22d, 0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374, 0x3bab020d, 0x3bbd70a4,
    0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a, 0x3c039581, 0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148,
    0x3c68f5c3, 0x3c8b851f, 0x3ca28f5d, 0x3cb9999a, 0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148,
    0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1, 0x3d500000, 0x3d5b851f, 0x3d670a3d,
    0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d, 0x3d9051eb, 0x3d96147b, 0x3d9bd70a, 0x3da1999a,
    0x3da75c2a, 0x3dad1eb8, 0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85, 0x3ddb3334,
    0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000, 0x3e526666, 0x3e60cccd,
    0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334, 0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000,
    0x3eb13333, 0x3eb86666, 0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a,
    0x3eeacccc, 0x3ef20000, 0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666, 0x3f0b0000, 0x3f0e999a,
    0x3f123334, 0x3f15cccd, 0x3f196666, 0x3f1d0000, 0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666,
    0x3f2f0000, 0x3f32999a, 0x3f363334, 0x3f39cccd, 0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333,
    0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333, 0x3f5dcccd, 0x3f616666, 0x3f650000,
    0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666, 0x3f770000, 0x3f7a999a, 0x3f7e3333, 0x3f800000,
];

/// The signed 8-bit dynamic code (256 sorted entries), as dequantization uses it.
pub fn dynamic_code() -> [f32; 256] {
    DYNAMIC_BITS.map(f32::from_bits)
}

/// Which 16-entry table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code4 {
    Nf4,
    Fp4,
}

impl Code4 {
    /// The table in code order (index = the 4-bit code).
    pub fn table(self) -> [f32; 16] {
        match self {
            Code4::Nf4 => NF4_BITS.map(f32::from_bits),
            Code4::Fp4 => FP4_BITS.map(f32::from_bits),
        }
    }

    /// The table dequantization uses for a tensor of `shape`. bitsandbytes dequantizes on CPU
    /// with the C++ kernel (`dequantizeBlockwise4bitCpu`, `dDequantizeFP4`), whose FP4 code 8
    /// is −0.0, except when the last dimension is odd, where it falls back to the Python table
    /// (`_dequantize_4bit_compute`), whose code 8 is +0.0. Only the sign of zero differs.
    pub fn dequant_table(self, shape: &[usize]) -> [f32; 16] {
        let mut t = self.table();
        if self == Code4::Fp4 && shape.last().is_some_and(|d| d % 2 == 0) {
            t[8] = -0.0;
        }
        t
    }

    /// Sorted position → code.
    pub fn order(self) -> [u8; 16] {
        match self {
            Code4::Nf4 => IDENTITY,
            Code4::Fp4 => FP4_ORDER,
        }
    }

    /// The 15 f32 midpoints of the sorted table, `(a + b) / 2` as torch computes them.
    pub fn bounds(self) -> [f32; 15] {
        let (t, o) = (self.table(), self.order());
        std::array::from_fn(|i| (t[o[i] as usize] + t[o[i + 1] as usize]) / 2.0)
    }

    /// The sorted position 0.0 falls in; NaN encodes there.
    pub fn zero_position(self) -> usize {
        self.bounds().iter().filter(|&&b| b < 0.0).count()
    }

    /// The code of one already-scaled value (the scalar reference): clamp to [−1, 1], count the
    /// midpoints strictly below (= `torch.bucketize(right=False)`), map through the argsort.
    #[inline]
    pub fn encode_scaled(self, bounds: &[f32; 15], s: f32) -> u8 {
        let k = if s.is_nan() { self.zero_position() } else { bounds.iter().filter(|&&b| b < s.clamp(-1.0, 1.0)).count() };
        self.order()[k]
    }
}

/// How a block is scaled: bnb multiplies full blocks by a reciprocal but divides the last
/// partial block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// `x · r`, r = 1 / max(absmax, 1e-38).
    Mul(f32),
    /// `x / d`, d = max(absmax, 1e-38).
    Div(f32),
}

impl Scaling {
    #[inline]
    fn apply(self, x: f32) -> f32 {
        match self {
            Scaling::Mul(r) => x * r,
            Scaling::Div(d) => x / d,
        }
    }
}

// ------------------------------------------------------------------ hot paths: kernel choice

/// The largest |x| over the block's finite values (0 if none).
pub fn block_absmax(block: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::block_absmax(block);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::block_absmax(block)
}

/// Codes (one per byte, unpacked) of one block.
pub fn encode_block(code: Code4, block: &[f32], scaling: Scaling, out: &mut [u8]) {
    assert_eq!(block.len(), out.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::encode_block(code, block, scaling, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::encode_block(code, block, scaling, out);
}

/// Dequantizes n values from packed codes (high nibble first), `table[code] · absmax` with one
/// absmax per 64-block.
pub fn decode_codes(table: &[f32; 16], packed: &[u8], absmax: &[f32], out: &mut [f32]) {
    assert!(packed.len() * 2 >= out.len() && absmax.len() * BLOCK >= out.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::decode_codes(table, packed, absmax, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::decode_codes(table, packed, absmax, out);
}

// --------------------------------------------------------------------- the reference steps

/// A block's stored absmax and how its values are scaled to [-1, 1]: a whole block multiplies by
/// the reciprocal of its absmax, the last partial one divides by the floored absmax, which is
/// also what it stores.
fn block_scaling(block: &[f32]) -> (f32, Scaling) {
    let m = block_absmax(block);
    if block.len() == BLOCK {
        (m, Scaling::Mul(1.0 / m.max(ABSMAX_FLOOR)))
    } else {
        let d = m.max(ABSMAX_FLOOR);
        (d, Scaling::Div(d))
    }
}

/// 4-bit codes (unpacked, one per element) and the stored absmax of every 64-block.
pub fn quantize_4bit(code: Code4, values: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let mut codes = vec![0u8; values.len()];
    let mut absmax = Vec::with_capacity(values.len().div_ceil(BLOCK));
    for (block, out) in values.chunks(BLOCK).zip(codes.chunks_mut(BLOCK)) {
        let (stored, scaling) = block_scaling(block);
        encode_block(code, block, scaling, out);
        absmax.push(stored);
    }
    (codes, absmax)
}

/// `fast-kernels`: [`quantize_4bit`] and [`pack_codes`] in one pass — each block's codes in a
/// buffer in cache, packed from there — instead of a byte per element written and read back.
/// The packed code bytes (room reserved for the absmax after them) and each block's absmax.
#[cfg(feature = "fast-kernels")]
fn quantize_4bit_packed(code: Code4, values: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let blocks = values.len().div_ceil(BLOCK);
    let mut packed = Vec::with_capacity(values.len().div_ceil(2) + 4 * blocks);
    let mut absmax = Vec::with_capacity(blocks);
    let mut codes = [0u8; BLOCK];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let lanes = simd128::Lanes4::new(code);
    for block in values.chunks(BLOCK) {
        let (stored, scaling) = block_scaling(block);
        let codes = &mut codes[..block.len()];
        // SIMD128: a whole block with the tensor's lanes, sixteen values a step.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if block.len() == BLOCK {
            simd128::encode_16s(&lanes, block, scaling, codes);
        } else {
            encode_block(code, block, scaling, codes);
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        encode_block(code, block, scaling, codes);
        absmax.push(stored);
        if let Ok(codes) = <&[u8; BLOCK]>::try_from(&*codes) {
            let pairs: [u8; BLOCK / 2] = core::array::from_fn(|j| (codes[2 * j] << 4) | codes[2 * j + 1]);
            packed.extend_from_slice(&pairs);
        } else {
            packed.extend_from_slice(&pack_codes(code, codes));
        }
    }
    (packed, absmax)
}

/// Two codes per byte, high nibble first; an odd count padded with the code of 0.0.
fn pack_codes(code: Code4, codes: &[u8]) -> Vec<u8> {
    let pad = code.order()[code.zero_position()];
    #[cfg(feature = "fast-kernels")]
    {
        // Pairs by `chunks_exact` into a sized buffer, which the compiler vectorizes.
        let mut packed = vec![0u8; codes.len().div_ceil(2)];
        for (o, p) in packed.iter_mut().zip(codes.chunks_exact(2)) {
            *o = (p[0] << 4) | p[1];
        }
        if codes.len() % 2 == 1 {
            packed[codes.len() / 2] = (codes[codes.len() - 1] << 4) | pad;
        }
        packed
    }
    #[cfg(not(feature = "fast-kernels"))]
    codes.chunks(2).map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(pad)).collect()
}

/// `torch.sum` of a contiguous f32 vector on CPU (ATen `SumKernel.cpp`, `cascade_sum` →
/// `vectorized_inner_sum` / `row_sum` / `multi_row_sum`) with `Vectorized<float>` of 8 lanes
/// (AVX2), f32 accumulators. Checked against torch 2.15 on AVX2 for 1..300 and larger sizes.
pub fn torch_sum_f32(x: &[f32]) -> f32 {
    const W: usize = 8;
    let n = x.len();
    if n < W {
        let v = row_sum::<1>(&|i| [x[i]], n);
        return v[0];
    }
    let vec_count = n / W;
    let lanes = row_sum::<W>(&|i| std::array::from_fn(|l| x[i * W + l]), vec_count);
    let mut acc = 0.0f32;
    for &v in &x[vec_count * W..] {
        acc += v;
    }
    for l in lanes {
        acc += l;
    }
    acc
}

fn add<const L: usize>(a: &mut [f32; L], b: &[f32; L]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// ATen `row_sum` (ilp_factor 4) over `size` vector items.
// The rows are indexed as ATen's loop indexes them, so the order of additions (and so
// every bit of the result) is ATen's.
#[allow(clippy::needless_range_loop)]
fn row_sum<const L: usize>(item: &dyn Fn(usize) -> [f32; L], size: usize) -> [f32; L] {
    const ROWS: usize = 4;
    let size_ilp = size / ROWS;
    // multi_row_sum: 4 levels of partial sums, flushed upward every 2^level_power items.
    let ceil_log2 = if size_ilp <= 2 { 1 } else { usize::BITS - (size_ilp - 1).leading_zeros() } as usize;
    let level_power = (ceil_log2 / 4).max(4);
    let (step, mask) = (1usize << level_power, (1usize << level_power) - 1);
    let mut acc = [[[0.0f32; L]; ROWS]; 4];
    let mut i = 0;
    while i + step <= size_ilp {
        for _ in 0..step {
            for k in 0..ROWS {
                add(&mut acc[0][k], &item(i * ROWS + k));
            }
            i += 1;
        }
        for j in 1..4 {
            for k in 0..ROWS {
                let lower = acc[j - 1][k];
                add(&mut acc[j][k], &lower);
                acc[j - 1][k] = [0.0; L];
            }
            if i & (mask << (j * level_power)) != 0 {
                break;
            }
        }
    }
    while i < size_ilp {
        for k in 0..ROWS {
            add(&mut acc[0][k], &item(i * ROWS + k));
        }
        i += 1;
    }
    for j in 1..4 {
        for k in 0..ROWS {
            let upper = acc[j][k];
            add(&mut acc[0][k], &upper);
        }
    }
    let mut partial = acc[0];
    for i in size_ilp * ROWS..size {
        add(&mut partial[0], &item(i));
    }
    for k in 1..ROWS {
        let p = partial[k];
        add(&mut partial[0], &p);
    }
    partial[0]
}

/// The second level of double quantization: bnb's C++ `quantize_block` with the dynamic code
/// over blocks of 256. Returns the u8 codes and the absmax of every 256-block.
pub fn quantize_dynamic_8bit(values: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let dynamic = dynamic_code();
    let mut search = dynamic;
    search[0] = -1.0; // quantize_cpu: "the default code has range [-0.993, 1.0]"
    let mut codes = Vec::with_capacity(values.len());
    let mut absmax = Vec::with_capacity(values.len().div_ceil(DQ_BLOCK));
    for block in values.chunks(DQ_BLOCK) {
        let m = block.iter().fold(-f32::MAX, |m, v| m.max(v.abs()));
        absmax.push(m);
        for &v in block {
            let normed = v / m;
            let mut idx = if normed.is_nan() { 0 } else { search.partition_point(|&c| c <= normed).saturating_sub(1) };
            if idx < 255 {
                let (left, right) = ((normed - search[idx]).abs(), (normed - search[idx + 1]).abs());
                if right < left {
                    idx += 1;
                }
            }
            codes.push(idx as u8);
        }
    }
    (codes, absmax)
}

// ------------------------------------------------------------------------------ the scheme

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BnbScheme {
    pub code: Code4,
    pub double_quant: bool,
}

const ALL: [BnbScheme; 4] = [
    BnbScheme { code: Code4::Nf4, double_quant: false },
    BnbScheme { code: Code4::Fp4, double_quant: false },
    BnbScheme { code: Code4::Nf4, double_quant: true },
    BnbScheme { code: Code4::Fp4, double_quant: true },
];

/// Every bitsandbytes id: `nf4`, `fp4`, `nf4_dq`, `fp4_dq`.
pub fn ids() -> Vec<String> {
    ALL.iter().map(|s| s.name().to_string()).collect()
}

/// The bitsandbytes scheme with this id, if it is one.
pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    BnbScheme::from_id(id).map(|s| Box::new(s) as Box<dyn Scheme>)
}

/// The bytes a tensor of `shape` packs into under `id` (`None`: not this family's id), from the
/// layout alone; equal to `quantize(..).packed.len()`.
pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let b = BnbScheme::from_id(id)?;
    Some(super::element_count(shape).map(|n| {
        if n == 0 {
            return 0;
        }
        let (codes, blocks) = (n.div_ceil(2), n.div_ceil(BLOCK as u64));
        // Codes, then f32 absmax per block — or, double-quantized, a u8 per block, an f32 per
        // 256 blocks and one f32 offset.
        if b.double_quant {
            codes + blocks + 4 * blocks.div_ceil(DQ_BLOCK as u64) + 4
        } else {
            codes + 4 * blocks
        }
    }))
}

/// The pieces of a packed tensor.
struct Layout {
    codes: usize,
    blocks: usize,
    blocks2: usize,
}

impl BnbScheme {
    pub fn from_id(id: &str) -> Option<Self> {
        ALL.into_iter().find(|s| s.name() == id)
    }

    fn name(&self) -> &'static str {
        match (self.code, self.double_quant) {
            (Code4::Nf4, false) => "nf4",
            (Code4::Fp4, false) => "fp4",
            (Code4::Nf4, true) => "nf4_dq",
            (Code4::Fp4, true) => "fp4_dq",
        }
    }

    fn layout(&self, n: usize) -> (Layout, usize) {
        let l = Layout { codes: n.div_ceil(2), blocks: n.div_ceil(BLOCK), blocks2: n.div_ceil(BLOCK).div_ceil(DQ_BLOCK) };
        let total = if n == 0 {
            0
        } else if self.double_quant {
            l.codes + l.blocks + 4 * l.blocks2 + 4
        } else {
            l.codes + 4 * l.blocks
        };
        (l, total)
    }

    /// Double quantization of the absmax values: (u8 codes, absmax2, offset, decoded absmax).
    fn compress(absmax: &[f32]) -> (Vec<u8>, Vec<f32>, f32, Vec<f32>) {
        let offset = torch_sum_f32(absmax) / absmax.len() as f32;
        let centred: Vec<f32> = absmax.iter().map(|&a| a - offset).collect();
        let (q, absmax2) = quantize_dynamic_8bit(&centred);
        let decoded = Self::decompress(&q, &absmax2, offset);
        (q, absmax2, offset, decoded)
    }

    fn decompress(q: &[u8], absmax2: &[f32], offset: f32) -> Vec<f32> {
        let dynamic = dynamic_code();
        q.iter().enumerate().map(|(i, &c)| dynamic[c as usize] * absmax2[i / DQ_BLOCK] + offset).collect()
    }
}

fn f32s_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

impl Scheme for BnbScheme {
    fn id(&self) -> &str {
        self.name()
    }

    fn description(&self) -> String {
        let table = match self.code {
            Code4::Nf4 => "NF4 (normal-quantile table)",
            Code4::Fp4 => "bitsandbytes FP4 table",
        };
        let dq = if self.double_quant { ", absmax double-quantized to 8 bits per 256 blocks" } else { "" };
        format!("bitsandbytes 4-bit {table}, absmax per block of 64{dq}")
    }

    fn quantize_to(&self, values: &[f32], shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        #[cfg(not(feature = "fast-kernels"))]
        let (codes, absmax) = quantize_4bit(self.code, values);
        #[cfg(not(feature = "fast-kernels"))]
        let mut packed = pack_codes(self.code, &codes);
        #[cfg(feature = "fast-kernels")]
        let (mut packed, absmax) = quantize_4bit_packed(self.code, values);
        let mut params = Vec::new();
        let used_absmax = if values.is_empty() {
            packed.clear();
            Vec::new()
        } else if self.double_quant {
            let (q, absmax2, offset, decoded) = Self::compress(&absmax);
            packed.extend_from_slice(&q);
            packed.extend(absmax2.iter().flat_map(|a| a.to_le_bytes()));
            packed.extend_from_slice(&offset.to_le_bytes());
            params.push(Param { name: "offset", values: vec![offset as f64] });
            decoded
        } else {
            packed.extend(absmax.iter().flat_map(|a| a.to_le_bytes()));
            absmax
        };
        params.insert(0, Param { name: "absmax", values: used_absmax.iter().map(|&a| a as f64).collect() });
        let table = self.code.dequant_table(shape);
        // Blocks `s / BLOCK ..`: two codes a byte, one absmax a block.
        super::fill(out, values, BLOCK, &mut |s, deq| {
            let real = (values.len() - s).min(deq.len());
            decode_codes(&table, &packed[s / 2..], &used_absmax[s / BLOCK..], &mut deq[..real]);
        });
        debug_assert_eq!(packed.len(), self.layout(shape.iter().product()).1);
        #[cfg(not(feature = "fast-kernels"))]
        let levels_used = super::distinct_codes(codes.iter().map(|&c| c as usize), 16, 16);
        // The codes from the packed bytes, high nibble first (not the padding of an odd count).
        #[cfg(feature = "fast-kernels")]
        let levels_used =
            super::distinct_codes(packed.iter().flat_map(|&b| [(b >> 4) as usize, (b & 0xf) as usize]).take(values.len()), 16, 16);
        Ok(Quantized { packed, dequantized: Vec::new(), params, clipped: 0, levels_used, levels_total: 16 })
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n: usize = shape.iter().product();
        let (l, expected) = self.layout(n);
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} data for shape {shape:?} is {expected} bytes, got {}",
                self.name(),
                packed.len()
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let (codes, rest) = packed.split_at(l.codes);
        let absmax = if self.double_quant {
            let (q, rest) = rest.split_at(l.blocks);
            let (absmax2, offset) = rest.split_at(4 * l.blocks2);
            Self::decompress(q, &f32s_le(absmax2), f32s_le(offset)[0])
        } else {
            f32s_le(rest)
        };
        let table = self.code.dequant_table(shape);
        // `fast-kernels`: chunks of whole 64-blocks (two codes a byte, one absmax a block).
        #[cfg(feature = "fast-kernels")]
        return Ok(super::decode_chunked(n, BLOCK, &mut |start, out| {
            let real = (n - start).min(out.len());
            decode_codes(&table, &codes[start / 2..], &absmax[start / BLOCK..], &mut out[..real]);
        }));
        #[cfg(not(feature = "fast-kernels"))]
        {
            let mut out = vec![0f32; n];
            decode_codes(&table, codes, &absmax, &mut out);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str, values: &[f32]) -> Quantized {
        BnbScheme::from_id(id).unwrap().quantize(values, &[values.len()]).unwrap()
    }

    #[test]
    fn nf4_hand_checked() {
        // absmax 2 → scaled [1, −1, 0, 0.25]: codes 15, 0, 7 and 0.25 lies between the
        // midpoints 0.2035 and 0.2920 → code 10 (0.2461).
        let r = q("nf4", &[2.0, -2.0, 0.0, 0.5]);
        assert_eq!(&r.packed[..2], &[0xf0, 0x7a]);
        assert_eq!(f32::from_le_bytes(r.packed[2..6].try_into().unwrap()), 2.0);
        assert_eq!(r.dequantized, vec![2.0, -2.0, 0.0, f32::from_bits(0x3e7c04dd) * 2.0]);
        assert_eq!((r.levels_used, r.levels_total, r.clipped), (4, 16, 0));
    }

    #[test]
    fn nan_and_inf_rules() {
        for id in ["nf4", "fp4"] {
            let s = BnbScheme::from_id(id).unwrap();
            let zero = s.code.order()[s.code.zero_position()];
            let r = q(id, &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5, -1.0]);
            let absmax = f32::from_le_bytes(r.packed[3..7].try_into().unwrap());
            assert_eq!(absmax, 1.0, "{id}: non-finite values stay out of the absmax");
            assert_eq!(r.packed[0] >> 4, zero, "{id}: NaN → the code of 0");
            assert_eq!(r.dequantized[0], 0.0);
            assert_eq!(r.dequantized[1], 1.0, "{id}: +Inf → +absmax");
            assert_eq!(r.dequantized[2], -1.0, "{id}: −Inf → −absmax");
        }
    }

    #[test]
    fn all_zero_and_empty_tensors() {
        for id in ["nf4", "fp4", "nf4_dq", "fp4_dq"] {
            let r = q(id, &[0.0; 130]);
            assert!(r.dequantized.iter().all(|&v| v == 0.0), "{id}");
            let e = q(id, &[]);
            assert!(e.packed.is_empty() && e.dequantized.is_empty(), "{id}");
            assert_eq!(BnbScheme::from_id(id).unwrap().dequantize(&[], &[0]).unwrap(), Vec::<f32>::new());
        }
    }

    #[test]
    fn bits_per_weight() {
        let n = 64 * 256 * 4;
        let values: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let bpw = |id: &str| q(id, &values).packed.len() as f64 * 8.0 / n as f64;
        assert_eq!(bpw("nf4"), 4.5);
        assert!((bpw("nf4_dq") - 4.127).abs() < 0.001, "{}", bpw("nf4_dq"));
    }

    #[test]
    fn every_id_round_trips() {
        let values: Vec<f32> = (0..333).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        for id in ids() {
            let s = BnbScheme::from_id(&id).unwrap();
            let r = s.quantize(&values, &[3, 111]).unwrap();
            assert_eq!(s.dequantize(&r.packed, &[3, 111]).unwrap(), r.dequantized, "{id}");
            assert!(s.dequantize(&r.packed[1..], &[3, 111]).is_err());
        }
    }

    #[test]
    fn torch_sum_small_cases() {
        assert_eq!(torch_sum_f32(&[]), 0.0);
        assert_eq!(torch_sum_f32(&[1.5]), 1.5);
        assert_eq!(torch_sum_f32(&[1.0; 1000]), 1000.0);
    }
}
