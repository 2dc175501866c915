//! GGML / llama.cpp legacy block formats: `q8_0`, `q4_0`, `q4_1`, `q5_0`, `q5_1` and `mxfp4`.
//!
//! Every format cuts the tensor into blocks of 32 values, each with its own scale, stored byte
//! for byte as ggml's `block_*` structs (`ggml/src/ggml-common.h`). Quantization is llama.cpp's
//! `quantize_row_*_ref` (`ggml/src/ggml-quants.c`), the portable reference used to write model
//! files; dequantization is gguf-py's `gguf.quants.dequantize` (`gguf-py/gguf/quants.py`).
//! Per block of 32 values `x`, in f32, with `id = d ? 1/d : 0`:
//!
//! | id     | block (bytes)                          | bits/weight | codes                                        | x̂              |
//! |--------|----------------------------------------|-------------|----------------------------------------------|----------------|
//! | q8_0   | f16 d, i8 qs[32] (34)                  | 8.5         | `roundf(x·id)`, d = absmax/127               | d·q            |
//! | q4_0   | f16 d, u8 qs[16] (18)                  | 4.5         | `min(15, trunc(x·id + 8.5))`, d = max/−8     | d·(q − 8)      |
//! | q4_1   | f16 d, f16 m, u8 qs[16] (20)           | 5.0         | `min(15, trunc((x−min)·id + 0.5))`, d = (max−min)/15, m = min | d·q + m |
//! | q5_0   | f16 d, u8 qh[4], u8 qs[16] (22)        | 5.5         | `min(31, trunc(x·id + 16.5))`, d = max/−16   | d·(q − 16)     |
//! | q5_1   | f16 d, f16 m, u8 qh[4], u8 qs[16] (24) | 6.0         | `min(31, trunc((x−min)·id + 0.5))`, d = (max−min)/31, m = min | d·q + m |
//! | mxfp4  | u8 e (E8M0), u8 qs[16] (17)            | 4.25        | nearest of ±{0,½,1,1½,2,3,4,6}·2d (E2M1)     | d·kvalues[q]   |
//!
//! Here `max` (q4_0, q5_0) is the first value of largest magnitude, with its sign, so the
//! largest value maps to code 0 and the opposite extreme can saturate at 15/31 (counted as
//! clipped). `roundf` rounds half away from zero; `trunc` is the reference's `(int8_t)` cast.
//! For MXFP4, `e = floor(log2(absmax)) − 2 + 127` and `d = 2^(e−128)` (`GGML_E8M0_TO_FP32_HALF`);
//! the code is the first nearest `kvalues_mxfp4 = [0,1,2,3,4,6,8,12,0,−1,−2,−3,−4,−6,−8,−12]`.
//! f16 scales are rounded to nearest even (ggml's `GGML_FP32_TO_FP16`, `half::f16::from_f32`).
//!
//! Nibble layout: element `j < 16` of a block is the low nibble of `qs[j]`, element `j + 16`
//! the high nibble. For 5-bit codes, bit 4 of element `j` is bit `j` of `qh` read as a
//! little-endian u32. Blocks follow each other with no header: the packed tensor is exactly
//! `blocks × block bytes`, as in a GGUF tensor.
//!
//! # quantscope's rules where the reference has none
//!
//! * The tensor is flattened in C order and zero-padded to a whole number of blocks. The packed
//!   bytes include the padded last block (the padding takes part in its scale, e.g. q4_1's min
//!   includes 0); dequantization drops it, taking the element count from the shape.
//! * NaN and ±Inf are excluded from a block's scale (treated as 0 there), so one bad value never
//!   poisons the rest of the block. NaN encodes as 0.0 would (the code nearest 0); ±Inf saturates
//!   to the extreme code of its sign (for q8_0: 127 / −128; if the block's scale is 0, +Inf takes
//!   the highest code and −Inf the lowest). Neither counts as clipped.
//! * Where the reference converts an out-of-range float to an integer (undefined behaviour in C;
//!   NumPy gives platform garbage), quantscope saturates: a block whose absmax is so small that
//!   `1/d` overflows to +Inf gets saturated codes (its f16 scale is 0 anyway, so x̂ = ±0), and a
//!   finite `(x·id)` that is NaN (0·∞) encodes as 0 would. Such saturations of finite values
//!   count as clipped. MXFP4's exponent saturates at 0 when `absmax < 2^−125` (the reference
//!   would cast a negative float to `uint8_t`).
//! * An all-zero block gets `d = 0` with the reference's sign: q4_0/q5_0 keep `max = +0.0`, so
//!   `d = +0.0/−8 = −0.0` (f16 `0x8000`) and every code is 8/16; q4_1/q5_1 take the first zero
//!   as `min` (`m` may be −0.0). gguf-py differs here (it takes `argmax`/`np.min`, whose zero
//!   sign can differ); the fixtures apply the C rule.
//! * An empty tensor packs to zero bytes.
//!
//! `Quantized::params` holds every block's scale `d` (as f32; for MXFP4 the decoded `2^(e−128)`)
//! and, for q4_1/q5_1, `m`. `clipped` counts finite values whose code saturated (q4_0/q5_0's
//! opposite extreme, MXFP4 values beyond 12·d); `levels_used / levels_total` are the distinct
//! codes used over 2^bits (q8_0: 256, MXFP4: 16 indices, where 0 and 8 both mean 0).
//!
//! The scalar reference is [`reference`]; [`simd128`] (wasm32 + simd128 only) holds kernels
//! that must equal it bit for bit. [`quantize_row`] and [`dequantize_row`] pick the kernel.

pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

use super::{Decoding, Param, Quantized, Scheme};
use crate::error::{Error, Result};
use crate::ggml_types;

/// Values per block, for every legacy type (QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = QK_MXFP4).
pub const QK: usize = ggml_types::Q8_0.block as usize;

/// One of the GGML legacy block types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Mxfp4,
}

impl GgmlType {
    pub const ALL: [GgmlType; 6] = [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Mxfp4];

    pub fn id(self) -> &'static str {
        match self {
            GgmlType::Q8_0 => "q8_0",
            GgmlType::Q4_0 => "q4_0",
            GgmlType::Q4_1 => "q4_1",
            GgmlType::Q5_0 => "q5_0",
            GgmlType::Q5_1 => "q5_1",
            GgmlType::Mxfp4 => "mxfp4",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The type's row in the ggml type table (id, block, bytes, file type).
    pub fn facts(self) -> &'static ggml_types::GgmlType {
        match self {
            GgmlType::Q8_0 => &ggml_types::Q8_0,
            GgmlType::Q4_0 => &ggml_types::Q4_0,
            GgmlType::Q4_1 => &ggml_types::Q4_1,
            GgmlType::Q5_0 => &ggml_types::Q5_0,
            GgmlType::Q5_1 => &ggml_types::Q5_1,
            GgmlType::Mxfp4 => &ggml_types::MXFP4,
        }
    }

    /// Bytes per block of 32 values (`sizeof(block_*)`, from the ggml type table).
    pub fn block_bytes(self) -> usize {
        self.facts().bytes as usize
    }

    /// Bits of one code.
    pub fn code_bits(self) -> u32 {
        match self {
            GgmlType::Q8_0 => 8,
            GgmlType::Q5_0 | GgmlType::Q5_1 => 5,
            _ => 4,
        }
    }

    /// Bits per weight including the block header.
    pub fn bits_per_weight(self) -> f64 {
        (self.block_bytes() * 8) as f64 / QK as f64
    }
}

/// Every GGML legacy id.
pub fn ids() -> Vec<String> {
    GgmlType::ALL.iter().map(|t| t.id().to_string()).collect()
}

/// The GGML scheme with this id, if it is one.
pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    GgmlType::from_id(id).map(|ty| Box::new(GgmlScheme { ty }) as Box<dyn Scheme>)
}

/// The bytes a tensor of `shape` packs into under `id` (`None`: not this family's id), from the
/// layout alone; equal to `quantize(..).packed.len()`.
pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let ty = GgmlType::from_id(id)?;
    Some(super::element_count(shape).map(|n| n.div_ceil(QK as u64) * ty.block_bytes() as u64))
}

/// Quantizes whole blocks (`x.len()` a multiple of 32, `out.len()` = blocks × block bytes) and
/// returns how many finite values saturated. The one place the quantize kernel is chosen: the
/// SIMD128 kernel where there is one, else [`reference::quantize_row`].
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut [u8]) -> usize {
    assert!(x.len() % QK == 0 && out.len() == x.len() / QK * ty.block_bytes());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if let Some(clipped) = simd128::quantize_row(ty, x, out) {
        return clipped;
    }
    reference::quantize_row(ty, x, out)
}

/// [`quantize_row`] that also decodes every block into `deq` (`x.len()` values): what
/// [`dequantize_row`] gives for `out`, written in the same pass (SIMD128) where there is a kernel.
pub fn quantize_decode_row(ty: GgmlType, x: &[f32], out: &mut [u8], deq: &mut [f32]) -> usize {
    assert!(x.len() % QK == 0 && out.len() == x.len() / QK * ty.block_bytes() && deq.len() == x.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::quantize_decode_row(ty, x, out, deq)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let clipped = reference::quantize_row(ty, x, out);
        reference::dequantize_row(ty, out, deq);
        clipped
    }
}

/// [`quantize_decode_row`] writing `deq` through `MaybeUninit` (`fast-kernels`: into a kept
/// decoding's memory as it is): every element is written.
#[cfg(feature = "fast-kernels")]
pub fn quantize_decode_row_uninit(ty: GgmlType, x: &[f32], out: &mut [u8], deq: &mut [core::mem::MaybeUninit<f32>]) -> usize {
    assert!(x.len() % QK == 0 && out.len() == x.len() / QK * ty.block_bytes() && deq.len() == x.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::quantize_decode_row_uninit(ty, x, out, deq);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return quantize_decode_row(ty, x, out, super::zeroed(deq));
}

/// Dequantizes whole blocks. The one place the dequantize kernel is chosen.
pub fn dequantize_row(ty: GgmlType, packed: &[u8], out: &mut [f32]) {
    assert!(packed.len() % ty.block_bytes() == 0 && out.len() == packed.len() / ty.block_bytes() * QK);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if simd128::dequantize_row(ty, packed, out) {
        return;
    }
    reference::dequantize_row(ty, packed, out)
}

/// A GGML legacy block format as a [`Scheme`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgmlScheme {
    pub ty: GgmlType,
}

impl GgmlScheme {
    pub fn new(ty: GgmlType) -> Self {
        GgmlScheme { ty }
    }

    /// Packs `values` (zero-padded to whole blocks) and returns the bytes and the clip count.
    pub fn pack(&self, values: &[f32]) -> (Vec<u8>, usize) {
        let bb = self.ty.block_bytes();
        let full = values.len() / QK;
        let blocks = values.len().div_ceil(QK);
        let mut packed = vec![0u8; blocks * bb];
        let mut clipped = quantize_row(self.ty, &values[..full * QK], &mut packed[..full * bb]);
        if blocks > full {
            let mut last = [0.0f32; QK];
            last[..values.len() - full * QK].copy_from_slice(&values[full * QK..]);
            clipped += quantize_row(self.ty, &last, &mut packed[full * bb..]);
        }
        (packed, clipped)
    }
}

fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::InvalidArgument(format!("shape {shape:?} has too many elements")))
}

impl Scheme for GgmlScheme {
    fn id(&self) -> &str {
        self.ty.id()
    }

    fn description(&self) -> String {
        let what = match self.ty {
            GgmlType::Q8_0 => "8-bit symmetric, f16 scale = absmax/127",
            GgmlType::Q4_0 => "4-bit symmetric, f16 scale = max/−8",
            GgmlType::Q4_1 => "4-bit with f16 scale and f16 min",
            GgmlType::Q5_0 => "5-bit symmetric, f16 scale = max/−16",
            GgmlType::Q5_1 => "5-bit with f16 scale and f16 min",
            GgmlType::Mxfp4 => "OCP MX FP4 (E2M1) with a shared E8M0 power-of-two scale",
        };
        format!(
            "GGML {} ({} bits/weight): blocks of 32, {what}; llama.cpp reference quantizer",
            self.ty.id().to_ascii_uppercase(),
            self.ty.bits_per_weight()
        )
    }

    fn quantize_to(&self, values: &[f32], shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        let n = element_count(shape)?;
        if n != values.len() {
            return Err(Error::InvalidArgument(format!("shape {shape:?} holds {n} values, got {}", values.len())));
        }
        let bb = self.ty.block_bytes();
        // `fast-kernels`: reserved, and grown by each chunk's blocks just before they are
        // written (the zeros meet the codes in cache), where a zero-filled tensor-sized vector
        // was a pass of its own over memory (`calloc` of reused memory clears it).
        #[cfg(not(feature = "fast-kernels"))]
        let mut packed = vec![0u8; n.div_ceil(QK) * bb];
        #[cfg(feature = "fast-kernels")]
        let mut packed = Vec::with_capacity(n.div_ceil(QK) * bb);
        let mut clipped = 0;
        // Packs and decodes blocks `s / QK ..` in one pass; the last, partial block zero-padded.
        // `fast-kernels`: through `MaybeUninit`, every element of every block written (SAFETY
        // for `fill_uninit`).
        #[cfg(feature = "fast-kernels")]
        let (fill, quantize_decode_row) = (
            |out, values, block, decode: &mut dyn FnMut(usize, &mut [core::mem::MaybeUninit<f32>])| unsafe {
                super::fill_uninit(out, values, block, decode)
            },
            quantize_decode_row_uninit,
        );
        #[cfg(not(feature = "fast-kernels"))]
        let fill = super::fill;
        fill(out, values, QK, &mut |s, o| {
            let end = n.min(s + o.len());
            let full = (end - s) / QK;
            #[cfg(feature = "fast-kernels")]
            packed.resize((s + o.len()) / QK * bb, 0);
            let (p, p_last) = packed[s / QK * bb..][..o.len() / QK * bb].split_at_mut(full * bb);
            let (o, o_last) = o.split_at_mut(full * QK);
            clipped += quantize_decode_row(self.ty, &values[s..s + full * QK], p, o);
            if !o_last.is_empty() {
                let mut last = [0.0f32; QK];
                last[..end - s - full * QK].copy_from_slice(&values[s + full * QK..end]);
                clipped += quantize_decode_row(self.ty, &last, p_last, o_last);
            }
        });
        Ok(self.finish(values, packed, &[], clipped))
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n = element_count(shape)?;
        let expected = n.div_ceil(QK) * self.ty.block_bytes();
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} data for shape {shape:?} is {expected} bytes, got {}",
                self.ty.id(),
                packed.len()
            )));
        }
        #[cfg(feature = "fast-kernels")]
        {
            let bb = self.ty.block_bytes();
            Ok(super::decode_chunked(n, QK, &mut |start, out| {
                dequantize_row(self.ty, &packed[start / QK * bb..][..out.len() / QK * bb], out)
            }))
        }
        #[cfg(not(feature = "fast-kernels"))]
        {
            let mut out = vec![0.0f32; n.div_ceil(QK) * QK];
            dequantize_row(self.ty, packed, &mut out);
            out.truncate(n);
            Ok(out)
        }
    }
}

impl GgmlScheme {
    /// Quantizes with llama.cpp's importance matrix (Q4_0, Q4_1, Q5_0, Q5_1:
    /// `quantize_row_*_impl`, ported in `kquants::weighted`): one non-negative weight per column
    /// of the innermost dimension (rows of whole blocks), the same for every row. Those
    /// quantizers mix every value of a row into each block's weights (σ² of the row), so a NaN or
    /// ±Inf is refused here rather than given a rule. Q8_0 and MXFP4 ignore the vector in
    /// llama.cpp and are refused. See [`crate::schemes::quantize_with_importance`].
    pub fn quantize_with_importance(&self, values: &[f32], shape: &[usize], importance: &[f32]) -> Result<Quantized> {
        use super::kquants::weighted::{quantize_legacy_row, Legacy};
        let legacy = match self.ty {
            GgmlType::Q4_0 => Legacy::Q4_0,
            GgmlType::Q4_1 => Legacy::Q4_1,
            GgmlType::Q5_0 => Legacy::Q5_0,
            GgmlType::Q5_1 => Legacy::Q5_1,
            GgmlType::Q8_0 | GgmlType::Mxfp4 => return Err(super::importance_rules::not_used(self.ty.id())),
        };
        let n_per_row = super::check_importance(self.ty.id(), QK, values, shape, importance)?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "value {i} is {}: {} with an importance vector needs finite values (llama.cpp's weighted quantizer mixes a whole row into every block's weights)",
                values[i],
                self.ty.id()
            )));
        }
        let row_bytes = n_per_row / QK * self.ty.block_bytes();
        let mut packed = vec![0u8; values.len() / QK * self.ty.block_bytes()];
        for (row, out) in values.chunks_exact(n_per_row).zip(packed.chunks_exact_mut(row_bytes)) {
            quantize_legacy_row(legacy, row, importance, out);
        }
        let mut dequantized = vec![0.0f32; values.len()];
        dequantize_row(self.ty, &packed, &mut dequantized);
        // Codes at an end of their range are what this quantizer can clip; counted in `finish`.
        let q = self.finish(values, packed, &dequantized, usize::MAX);
        Ok(Quantized { dequantized, ..q })
    }

    /// Counts: the [`Quantized`] of `packed` and its decoding. `clipped` is the quantizer's
    /// count, or `usize::MAX` to count values more than half a step from their decoding here.
    fn finish(&self, values: &[f32], packed: Vec<u8>, dequantized: &[f32], clipped: usize) -> Quantized {
        let n = values.len();

        let bb = self.ty.block_bytes();
        // Codes of the real elements only (the padding of the last block is not counted). Q8_0
        // writes −127..=127 (255 of its 256 codes, see `reference::quantize_block`), the others
        // all of theirs.
        let writable = match self.ty {
            GgmlType::Q8_0 => 255,
            ty => 1 << ty.code_bits(),
        };
        let codes = packed
            .chunks_exact(bb)
            .enumerate()
            .flat_map(|(i, b)| reference::block_codes(self.ty, b).into_iter().take(n - i * QK))
            .map(|q| (q & 0xFF) as usize);
        let levels_used = super::distinct_codes(codes, 256, writable);
        #[cfg(not(feature = "fast-kernels"))]
        let half = |i: usize| -> Vec<f64> {
            packed.chunks_exact(bb).map(|b| reference::fp16_value(u16::from_le_bytes([b[i], b[i + 1]])) as f64).collect()
        };
        // `fast-kernels`: every block's f16 at once through the FP16 decode kernel (equal to
        // `fp16_value`, `half`'s conversion, bit for bit), not one software conversion a block.
        // `fast-kernels`: one pass, each block's f16 by `fp16_value_fast` (equal to
        // `fp16_value` bit for bit, a few integer operations for a normal code).
        #[cfg(feature = "fast-kernels")]
        let half = |i: usize| -> Vec<f64> {
            packed.chunks_exact(bb).map(|b| reference::fp16_value_fast(u16::from_le_bytes([b[i], b[i + 1]])) as f64).collect()
        };
        let d = match self.ty {
            GgmlType::Mxfp4 => packed.chunks_exact(bb).map(|b| reference::e8m0_to_fp32_half(b[0]) as f64).collect(),
            _ => half(0),
        };
        let mut params = vec![Param { name: "d", values: d }];
        if matches!(self.ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
            params.push(Param { name: "m", values: half(2) });
        }
        let clipped = if clipped != usize::MAX {
            clipped
        } else {
            let d = &params[0].values;
            values.iter().zip(dequantized).enumerate().filter(|(i, (x, q))| (**x as f64 - **q as f64).abs() > d[i / QK].abs() / 2.0).count()
        };
        Quantized { packed, dequantized: Vec::new(), params, clipped, levels_used, levels_total: 1 << self.ty.code_bits() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(ty: GgmlType, x: &[f32]) -> Quantized {
        GgmlScheme::new(ty).quantize(x, &[x.len()]).unwrap()
    }

    #[test]
    fn block_sizes_match_ggml_common() {
        let bpw: Vec<f64> = GgmlType::ALL.iter().map(|t| t.bits_per_weight()).collect();
        assert_eq!(bpw, vec![8.5, 4.5, 5.0, 5.5, 6.0, 4.25]);
    }

    #[test]
    fn levels_used_counts_every_code_written_even_when_the_scan_stops_early() {
        // The count against a full decode of every block, on values that reach every code
        // early (the scan stops) and on values that do not (it runs to the end).
        let wide: Vec<f32> = (0..4096).map(|i| ((i * 7919 % 4096) as f32 / 2048.0 - 1.0) * (1.0 + (i % 5) as f32)).collect();
        let narrow: Vec<f32> = (0..4096).map(|i| if i % 32 == 0 { 1.0 } else { 0.01 * (i % 3) as f32 }).collect();
        for ty in GgmlType::ALL {
            for x in [&wide, &narrow] {
                let r = q(ty, x);
                let mut seen = [false; 256];
                for b in r.packed.chunks_exact(ty.block_bytes()) {
                    for c in reference::block_codes(ty, b) {
                        seen[(c & 0xFF) as usize] = true;
                    }
                }
                assert_eq!(r.levels_used, seen.iter().filter(|&&s| s).count(), "{ty:?}");
            }
        }
    }

    #[test]
    fn q8_0_hand_checked() {
        // absmax 127 → d = 1: 0.5 → 1 and −0.5 → −1 (half away from zero), 2.5 → 3.
        let mut x = [0.0f32; 32];
        x[..5].copy_from_slice(&[127.0, 0.5, -0.5, 2.5, -126.5]);
        let r = q(GgmlType::Q8_0, &x);
        assert_eq!(&r.packed[..2], &0x3c00u16.to_le_bytes());
        let codes: Vec<i8> = r.packed[2..7].iter().map(|&b| b as i8).collect();
        assert_eq!(codes, vec![127, 1, -1, 3, -127]);
        assert_eq!(r.dequantized[..5], [127.0, 1.0, -1.0, 3.0, -127.0]);
        assert_eq!((r.clipped, r.levels_used, r.levels_total), (0, 6, 256));
    }

    #[test]
    fn q4_0_hand_checked_and_clips_the_opposite_extreme() {
        // max = 8 (first largest magnitude) → d = −1, id = −1: 8 → trunc(−8 + 8.5) = 0;
        // −8 → trunc(16.5) = 16 → 15 (clipped); 1 → trunc(7.5) = 7.
        let r = q(GgmlType::Q4_0, &[8.0, -8.0, 1.0]);
        assert_eq!(r.packed.len(), 18);
        assert_eq!(&r.packed[..2], &0xbc00u16.to_le_bytes());
        assert_eq!(r.packed[2], 8 << 4); // element 0 (code 0) and element 16 (padding 0 → code 8)
        assert_eq!(r.packed[3] & 0x0F, 15);
        assert_eq!(r.packed[4] & 0x0F, 7);
        assert_eq!(r.dequantized, vec![8.0, -7.0, 1.0]);
        assert_eq!(r.clipped, 1);
        assert_eq!((r.levels_used, r.levels_total), (3, 16), "the padding's code 8 is not counted");
    }

    #[test]
    fn all_zero_q4_0_block_has_negative_zero_scale() {
        let r = q(GgmlType::Q4_0, &[0.0; 32]);
        assert_eq!(&r.packed[..2], &0x8000u16.to_le_bytes());
        assert!(r.packed[2..].iter().all(|&b| b == 0x88));
    }

    #[test]
    fn non_finite_values_do_not_poison_the_block() {
        let mut x = [0.0f32; 32];
        x[..4].copy_from_slice(&[f32::NAN, 127.0, f32::INFINITY, f32::NEG_INFINITY]);
        let r = q(GgmlType::Q8_0, &x);
        assert_eq!(&r.packed[..2], &0x3c00u16.to_le_bytes());
        let codes: Vec<i8> = r.packed[2..6].iter().map(|&b| b as i8).collect();
        assert_eq!(codes, vec![0, 127, 127, -128]);
        assert_eq!(r.clipped, 0);
        for ty in GgmlType::ALL {
            let r = q(ty, &x);
            assert!(r.dequantized[1] > 90.0, "{ty:?}: {:?}", &r.dequantized[..4]);
            assert_eq!(r.dequantized[0], 0.0, "{ty:?}: NaN encodes as 0");
        }
    }

    #[test]
    fn empty_tensor_packs_to_nothing() {
        for ty in GgmlType::ALL {
            let r = q(ty, &[]);
            assert!(r.packed.is_empty() && r.dequantized.is_empty());
            assert_eq!(GgmlScheme::new(ty).dequantize(&[], &[0]).unwrap(), Vec::<f32>::new());
        }
    }

    #[test]
    fn dequantize_checks_the_length() {
        assert!(GgmlScheme::new(GgmlType::Q4_0).dequantize(&[0; 17], &[32]).is_err());
        assert!(GgmlScheme::new(GgmlType::Q4_0).dequantize(&[0; 36], &[33]).is_ok());
    }

    #[test]
    fn registry_round_trips() {
        for id in ids() {
            assert_eq!(by_id(&id).unwrap().id(), id);
        }
        assert!(by_id("q4_2").is_none());
    }
}
