//! Blocked 4-bit quantization of a MatMul's B `[K, N]` along K, as ONNX Runtime's MLAS does it
//! (`onnxruntime/core/mlas/lib/q4_dq.cpp`, reached from Python through
//! `onnxruntime_pybind_quant.cc`): [`matmul_nbits`] is `MlasQuantizeBlockwise<float, 4>` with
//! columnwise blocks (`quantize_matmul_4bits`, the packed B of com.microsoft MatMulNBits) and
//! [`qdq`] is `MlasQDQQuantizeBlockwise<float, 4>` (`quantize_qdq_matmul_4bits`, the int4/uint4
//! weight of a blocked opset-21 DequantizeLinear). The two round differently — MatMulNBits
//! rounds `v / scale + zero_point`, QDQ rounds `v / scale` and then adds the zero point — and
//! both are kept here as MLAS has them, so the bytes are ONNX Runtime's.

/// How one block's range becomes a scale (and zero point): `range2scale` /
/// `range2scalezp` of q4_dq.cpp.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BlockParams {
    scale: f32,
    zero_point: u8,
}

/// `BitsTraits<bits, signed>` of q4_dq.cpp: the code range of a `bits`-bit type.
#[derive(Debug, Clone, Copy)]
struct Bits {
    min: i32,
    max: i32,
    /// The unsigned middle, `2^(bits-1)`: the zero point of a block without one.
    mid: i32,
}

impl Bits {
    fn new(bits: u32, signed: bool) -> Bits {
        let half = 1i32 << (bits - 1);
        if signed {
            Bits { min: -half, max: half - 1, mid: 0 }
        } else {
            Bits { min: 0, max: (1 << bits) - 1, mid: half }
        }
    }
}

/// The block's min and max as MLAS scans them (`v < min`, `v > max`: a NaN never enters).
fn range(values: impl Iterator<Item = f32>) -> (f32, f32) {
    values.fold((f32::MAX, -f32::MAX), |(lo, hi), v| (if v < lo { v } else { lo }, if v > hi { v } else { hi }))
}

/// `range2scalezp<float, bits, signed>`: the range widened to hold 0, `2^bits - 1` steps, the
/// zero point rounded (half away from zero, `roundf`) and clamped to the type's range.
fn scale_zero_point(min: f32, max: f32, t: Bits) -> BlockParams {
    let (k_min, k_max) = (t.min as f32, t.max as f32);
    let (min, max) = (min.min(0.0), max.max(0.0));
    let scale = (max - min) / (k_max - k_min);
    let zero_point_fp = if scale != 0.0 { k_min - min / scale } else { min };
    let zero_point = if zero_point_fp < k_min {
        k_min
    } else if zero_point_fp > k_max {
        k_max
    } else {
        zero_point_fp.round()
    };
    BlockParams { scale, zero_point: zero_point as i32 as u8 }
}

/// `range2scale`: the extreme with the larger magnitude (the minimum on a tie) maps to the
/// lowest code (−8 for 4 bits), so the wider half of the range gets the code that has no
/// positive twin.
fn symmetric_scale(min: f32, max: f32, t: Bits) -> f32 {
    let extreme = if max.abs() > min.abs() { max } else { min };
    -extreme / (t.mid - t.min) as f32
}

/// The scale as the weight's own type stores it (`ScaleT(scale_f)`): a float16 B's scales are
/// float16, and MLAS quantizes with the reciprocal of that rounded scale.
fn stored(scale: f32, half_scales: bool) -> f32 {
    if half_scales {
        half::f16::from_f32(scale).to_f32()
    } else {
        scale
    }
}

/// `scale ? 1.0f / scale : 0.0f`.
fn reciprocal(scale: f32) -> f32 {
    if scale != 0.0 {
        1.0 / scale
    } else {
        0.0
    }
}

/// MatMulNBits' B: the packed codes `[N, k_blocks, block_size · bits / 8]`, the scales
/// `[N, k_blocks]` and the zero points `[N, ceil(k_blocks · bits / 8)]` (`8 / bits` per byte,
/// from the low bits up).
#[derive(Debug, Clone, PartialEq)]
pub struct NBitsWeight {
    pub packed: Vec<u8>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<u8>,
}

/// `BlockwiseQuantizer<float, block_size, bits, true>::quantizeAndTranspose` on `b` (`[k, n]`,
/// row major), `bits` 2, 4 or 8. Its thread blocks are `8 / bits` quantization blocks of one
/// column; within one, the codes of a last partial byte of an odd K are packed beside the
/// previous byte's codes (MLAS keeps its `vi[]` between bytes), which ONNX Runtime's file holds,
/// so this does too. Without zero points (`symmetric`) every block's zero point is the middle
/// code `2^(bits-1)` and the returned `zero_points` are those middles packed (ONNX Runtime does
/// not write them then).
pub fn matmul_nbits(b: &[f32], k: usize, n: usize, block_size: usize, bits: u32, symmetric: bool, half_scales: bool) -> NBitsWeight {
    debug_assert_eq!(b.len(), k * n);
    debug_assert!(matches!(bits, 2 | 4 | 8));
    let t = Bits::new(bits, false);
    let per_byte = (8 / bits) as usize;
    let pack = |codes: &[u8]| codes.iter().enumerate().fold(0u8, |byte, (l, &c)| byte | (c << (l as u32 * bits)));
    let k_blocks = k.div_ceil(block_size);
    let q_rows = k_blocks * block_size / per_byte;
    let zp_cols = k_blocks.div_ceil(per_byte);
    let mut packed = vec![0u8; n * q_rows];
    let mut scales = vec![0f32; n * k_blocks];
    let mut zero_points = vec![0u8; n * zp_cols];
    let thread_rows = per_byte * block_size;
    for j in 0..n {
        for r in (0..k).step_by(thread_rows) {
            let r_end = (r + thread_rows).min(k);
            let meta_row = r / block_size;
            // zp_bytes: filled with the unsigned middle before the blocks are scanned
            let mut zp_bytes = [t.mid as u8; 4];
            for (kpack, zp) in zp_bytes.iter_mut().enumerate().take(per_byte) {
                let row_start = r + kpack * block_size;
                let row_end = (row_start + block_size).min(r_end);
                if row_start >= row_end {
                    continue;
                }
                let (min, max) = range((row_start..row_end).map(|i| b[i * n + j]));
                let meta = j * k_blocks + meta_row + kpack;
                if symmetric {
                    scales[meta] = stored(symmetric_scale(min, max, t), half_scales);
                } else {
                    let p = scale_zero_point(min, max, t);
                    scales[meta] = stored(p.scale, half_scales);
                    *zp = p.zero_point;
                }
            }
            if !symmetric {
                zero_points[j * zp_cols + meta_row / per_byte] = pack(&zp_bytes[..per_byte]);
            }
            let mut vi = [0u8; 4];
            for i in (r..r_end).step_by(per_byte) {
                for (l, code) in vi.iter_mut().enumerate().take((r_end - i).min(per_byte)) {
                    let meta_r = (i + l) / block_size;
                    let recip = reciprocal(scales[j * k_blocks + meta_r]);
                    let zp = f32::from(zp_bytes[meta_r % per_byte]);
                    // roundf(v * reciprocal_scale + zp), clamped to [0, 2^bits - 1]
                    *code = (b[(i + l) * n + j] * recip + zp).round().clamp(0.0, t.max as f32) as u8;
                }
                packed[j * q_rows + i / per_byte] = pack(&vi[..per_byte]);
            }
        }
    }
    NBitsWeight { packed, scales, zero_points }
}

/// A blocked DequantizeLinear's weight: codes in B's own `[K, N]` layout packed two per byte
/// (low nibble first, over the flattened index), scales `[k_blocks, N]`, zero points (uint4,
/// packed the same way) when not symmetric.
#[derive(Debug, Clone, PartialEq)]
pub struct QdqWeight {
    pub packed: Vec<u8>,
    pub scales: Vec<f32>,
    pub zero_points: Option<Vec<u8>>,
}

/// `BlockwiseQDQQuantizer<float, 4, signed>::QuantizeColumnWise` on `b` (`[k, n]`, row major):
/// symmetric gives int4 codes (zero point 0), otherwise uint4 codes with zero points.
/// `QuantizeV` rounds `v * reciprocal_scale` first and then adds the zero point.
pub fn qdq(b: &[f32], k: usize, n: usize, block_size: usize, symmetric: bool, half_scales: bool) -> QdqWeight {
    debug_assert_eq!(b.len(), k * n);
    let k_blocks = k.div_ceil(block_size);
    let mut scales = vec![0f32; k_blocks * n];
    let mut zps = vec![0u8; k_blocks * n];
    let mut codes = vec![0u8; k * n];
    let t = Bits::new(4, symmetric);
    let (lo, hi) = (t.min, t.max);
    for blk in 0..k_blocks {
        let rows = blk * block_size..((blk + 1) * block_size).min(k);
        for j in 0..n {
            let (min, max) = range(rows.clone().map(|i| b[i * n + j]));
            let p =
                if symmetric { BlockParams { scale: symmetric_scale(min, max, t), zero_point: 0 } } else { scale_zero_point(min, max, t) };
            let scale = stored(p.scale, half_scales);
            scales[blk * n + j] = scale;
            zps[blk * n + j] = p.zero_point;
            let recip = reciprocal(scale);
            for i in rows.clone() {
                let q = ((b[i * n + j] * recip).round() as i32 + i32::from(p.zero_point)).clamp(lo, hi);
                codes[i * n + j] = (q as u8) & 0xf;
            }
        }
    }
    QdqWeight { packed: pack_nibbles(&codes), scales, zero_points: (!symmetric).then(|| pack_nibbles(&zps)) }
}

/// Two 4-bit codes per byte, the first in the low nibble; an odd count leaves the last high
/// nibble 0 (ONNX Runtime's buffers start zeroed).
pub(crate) fn pack_nibbles(codes: &[u8]) -> Vec<u8> {
    codes.chunks(2).map(|c| (c[0] & 0xf) | (c.get(1).copied().unwrap_or(0) << 4)).collect()
}

/// `quantize_ndarray`'s blocks along axis 1 of `data` `[m, k, n]` (m = shape[0], n the rest):
/// numpy's float32 arithmetic, round half to even. Returns the codes as 4-bit nibbles (int4 in
/// two's complement) in data's order, the scales `[m, k_blocks, n]` and the zero points
/// (asymmetric), ready for [`crate::blockwise::pack_nibbles`] (`pack_int8_to_int4`).
pub(crate) fn gather_blocks(shape: &[usize], values: &[f32], block: usize, symmetric: bool) -> (Vec<u8>, Vec<f32>, Vec<u8>) {
    let (m, k) = (shape[0], shape[1]);
    let n: usize = shape[2..].iter().product();
    let k_blocks = k.div_ceil(block);
    let nibble = |q: f32| (q as i32 as u8) & 0xf;
    let mut codes = vec![0u8; values.len()];
    let (mut scales, mut zps) = (vec![0f32; m * k_blocks * n], vec![0u8; m * k_blocks * n]);
    for i in 0..m {
        for blk in 0..k_blocks {
            let rows = blk * block..((blk + 1) * block).min(k);
            for j in 0..n {
                let at = |r: usize| (i * k + r) * n + j;
                let (lo, hi) =
                    rows.clone().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), r| (lo.min(values[at(r)]), hi.max(values[at(r)])));
                let meta = (i * k_blocks + blk) * n + j;
                if symmetric {
                    // quant_slice_symmetric: the extreme of larger magnitude (max on a tie) over -8
                    let extreme = if hi.abs() > lo.abs() { hi } else { lo };
                    let scale = extreme / -8.0;
                    scales[meta] = scale;
                    for r in rows.clone() {
                        let q = if scale == 0.0 { 0.0 } else { (values[at(r)] / scale).round_ties_even().clamp(-8.0, 7.0) };
                        codes[at(r)] = nibble(q);
                    }
                } else {
                    // quant_slice_asymmetric
                    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
                    let scale = (hi - lo) / 15.0;
                    let zp = if scale == 0.0 { 8.0 } else { (-lo / scale).round_ties_even().clamp(0.0, 15.0) };
                    scales[meta] = scale;
                    zps[meta] = nibble(zp);
                    for r in rows.clone() {
                        let q = if scale == 0.0 { 8.0 } else { (values[at(r)] / scale + zp).round_ties_even().clamp(0.0, 15.0) };
                        codes[at(r)] = nibble(q);
                    }
                }
            }
        }
    }
    (codes, scales, zps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_block_has_scale_zero_and_codes_at_the_zero_point() {
        let w = matmul_nbits(&[0.0; 16], 16, 1, 16, 4, false, false);
        assert_eq!(w.scales, vec![0.0]);
        // zero point 0 (min = max = 0), codes round(0 * 0 + 0) = 0; the unused high nibble is 8
        assert_eq!(w.zero_points, vec![0x80]);
        assert!(w.packed.iter().all(|&b| b == 0));
        let s = matmul_nbits(&[0.0; 16], 16, 1, 16, 4, true, false);
        assert!(s.packed.iter().all(|&b| b == 0x88));
    }

    #[test]
    fn qdq_rounds_before_adding_the_zero_point() {
        // v / scale = -2.5 exactly: QDQ rounds to -3 then adds zp; MatMulNBits rounds -2.5 + zp.
        let b = [-2.5f32, 12.5];
        let q = qdq(&b, 2, 1, 16, false, false);
        let m = matmul_nbits(&b, 2, 1, 16, 4, false, false);
        assert_eq!(q.scales[0], 1.0);
        assert_eq!(q.zero_points.as_deref(), Some(&[3u8][..]));
        // QDQ: round(-2.5) + 3 = 0, round(12.5) + 3 = 16 → 15; MatMulNBits: round(0.5) = 1, round(15.5) → 15
        assert_eq!(q.packed, vec![15 << 4]);
        assert_eq!(m.packed[0], 0x01 | (15 << 4));
    }
}
