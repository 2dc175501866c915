//! The scalar references of the bitsandbytes 4-bit hot paths: the definitions the SIMD128
//! kernels in simd128.rs must equal bit for bit.

use super::{Code4, Scaling, BLOCK};

/// The largest |x| over the block's finite values (0 if none).
pub fn block_absmax(block: &[f32]) -> f32 {
    block.iter().filter(|x| x.is_finite()).fold(0.0f32, |m, x| m.max(x.abs()))
}

/// Codes (one per byte, unpacked) of one block: the nearest table entry by `Code4::encode_scaled`.
pub fn encode_block(code: Code4, block: &[f32], scaling: Scaling, out: &mut [u8]) {
    let bounds = code.bounds();
    for (o, &x) in out.iter_mut().zip(block) {
        *o = code.encode_scaled(&bounds, scaling.apply(x));
    }
}

/// `table[code] · absmax` per value, codes high nibble first, one absmax per 64-block.
pub fn decode_codes(table: &[f32; 16], packed: &[u8], absmax: &[f32], out: &mut [f32]) {
    for (i, o) in out.iter_mut().enumerate() {
        let c = (packed[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0xf;
        *o = table[c as usize] * absmax[i / BLOCK];
    }
}
