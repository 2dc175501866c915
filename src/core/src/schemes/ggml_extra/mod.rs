//! The further ggml types llama.cpp writes, beyond the legacy and K-quants: IQ4_NL and IQ4_XS
//! (non-linear 4-bit levels, [`iq4`]), NVFP4 ([`nvfp4`]), the ternary TQ2_0 and TQ1_0
//! ([`ternary`]) and Q2_0 and Q1_0 ([`binary`]). Each quantizer ports what llama.cpp's
//! `ggml_quantize_chunk` runs (`ggml/src/ggml-quants.c`), float operation for float operation, so
//! the packed bytes are ggml's `block_*` structs byte for byte; dequantization is
//! [`crate::ggml_dequant`] (llama.cpp's `dequantize_row_*`, bit for bit). Both are held to
//! fixtures from `scripts/fixtures/make_ggml_extra.py` in `src/core/tests/ggml_extra_fixtures.rs`.
//!
//! | id       | block | bytes | bits/weight | levels | scale(s)                                   |
//! |----------|-------|-------|-------------|--------|--------------------------------------------|
//! | `iq4_nl` | 32    | 18    | 4.5         | 16     | f16 d, searched (15 trial scales)          |
//! | `iq4_xs` | 256   | 136   | 4.25        | 16     | f16 d × 6-bit scale per 32                 |
//! | `nvfp4`  | 64    | 36    | 4.5         | 16 (E2M1) | UE4M3 per 16 = absmax/6                 |
//! | `q2_0`   | 64    | 18    | 2.25        | 4      | f16 d = absmax; levels −d, 0, d, 2d        |
//! | `tq2_0`  | 256   | 66    | 2.0625      | 3      | f16 d = absmax; levels −d, 0, d            |
//! | `tq1_0`  | 256   | 54    | 1.6875      | 3      | f16 d = absmax; 5 trits per byte           |
//! | `q1_0`   | 128   | 18    | 1.125       | 2      | f16 d = mean absolute value; levels ±d     |
//!
//! IQ4_NL and IQ4_XS also take llama.cpp's importance matrix (one weight per column of a row),
//! which changes the scale search: [`ExtraType::quantize_with_importance`]; the [`Scheme`] trait
//! has no importance argument; [`crate::schemes::quantize_with_importance`] is the entry point
//! for every type that takes one. The other types ignore an importance vector in llama.cpp, and
//! quantscope refuses one for them.
//!
//! # quantscope's rules where the reference has none (as for the K-quants)
//!
//! * The tensor is flattened in C order and zero-padded to whole blocks; the packed bytes
//!   include the padded last block and dequantize drops the padding (count from `shape`).
//! * NaN and ±Inf are replaced by 0 before the reference runs, so they never enter a scale.
//!   NaN then keeps the code the reference gives 0; +Inf (−Inf) gets the code whose value is
//!   largest (smallest) at its place (unchanged if every code decodes alike there).
//! * Finite values follow ggml exactly, including scales beyond f16's range (the block decodes
//!   to Inf/NaN, as in llama.cpp) and blocks so small that `1/d` overflows (see [`ternary`] and
//!   [`binary`] for the float→int conversion C leaves unspecified there).
//!
//! `Quantized::params` holds each block's `d` (NVFP4: each sub-block's decoded scale; IQ4_XS
//! also `dl`, each block of 32's effective scale); `clipped` counts finite values beyond their
//! place's extreme level by more than half the step to the next level; `levels_*` count codes.

pub mod binary;
pub mod iq4;
pub mod nvfp4;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "extra-simd"))]
pub mod simd128_pack;
pub mod ternary;

use super::{Decoding, Param, Quantized, Scheme};
use crate::error::{Error, Result};
use crate::{ggml_dequant, ggml_types};

/// One of these ggml types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraType {
    Iq4Nl,
    Iq4Xs,
    Nvfp4,
    Q2_0,
    Tq2_0,
    Tq1_0,
    Q1_0,
}

/// Every id of this family, most bits first.
pub fn ids() -> Vec<String> {
    ExtraType::ALL.iter().map(|t| t.id().to_string()).collect()
}

/// The scheme with this id, if it is one of this family's.
pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    ExtraType::from_id(id).map(|t| Box::new(t) as Box<dyn Scheme>)
}

/// The bytes a tensor of `shape` packs into under `id` (`None`: not this family's id), from the
/// layout alone; equal to `quantize(..).packed.len()`.
pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let t = ExtraType::from_id(id)?;
    Some(super::element_count(shape).map(|n| n.div_ceil(t.block() as u64) * t.block_bytes() as u64))
}

impl ExtraType {
    pub const ALL: [ExtraType; 7] =
        [ExtraType::Iq4Nl, ExtraType::Iq4Xs, ExtraType::Nvfp4, ExtraType::Q2_0, ExtraType::Tq2_0, ExtraType::Tq1_0, ExtraType::Q1_0];

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    pub fn id(self) -> &'static str {
        self.facts().name
    }

    /// The type's row in the ggml type table (id, block, bytes, file type).
    pub fn facts(self) -> &'static ggml_types::GgmlType {
        match self {
            ExtraType::Iq4Nl => &ggml_types::IQ4_NL,
            ExtraType::Iq4Xs => &ggml_types::IQ4_XS,
            ExtraType::Nvfp4 => &ggml_types::NVFP4,
            ExtraType::Q2_0 => &ggml_types::Q2_0,
            ExtraType::Tq2_0 => &ggml_types::TQ2_0,
            ExtraType::Tq1_0 => &ggml_types::TQ1_0,
            ExtraType::Q1_0 => &ggml_types::Q1_0,
        }
    }

    /// Values per block.
    pub fn block(self) -> usize {
        self.facts().block as usize
    }

    /// Bytes per block (`sizeof(block_*)`).
    pub fn block_bytes(self) -> usize {
        self.facts().bytes as usize
    }

    /// How many codes a value can take.
    pub fn levels(self) -> usize {
        match self {
            ExtraType::Iq4Nl | ExtraType::Iq4Xs | ExtraType::Nvfp4 => 16,
            ExtraType::Q2_0 => 4,
            ExtraType::Tq2_0 | ExtraType::Tq1_0 => 3,
            ExtraType::Q1_0 => 2,
        }
    }

    /// Whether llama.cpp's quantizer uses an importance vector for this type.
    pub fn takes_importance(self) -> bool {
        matches!(self, ExtraType::Iq4Nl | ExtraType::Iq4Xs)
    }

    /// Quantizes one block of finite values (`x.len() == block()`) into `out`
    /// (`block_bytes()` long; other lengths panic, as this is the kernel under
    /// [`Scheme::quantize`], which pads and checks); `importance` is the block's columns of the
    /// imatrix, used by IQ4 only (the other types ignore it, as in llama.cpp). The one place
    /// this family's block kernels are chosen: SIMD128 for Q2_0, TQ2_0 and TQ1_0
    /// (`simd128_pack.rs`, with the `extra-simd` feature), the references otherwise.
    pub fn quantize_block(self, x: &[f32], importance: Option<&[f32]>, out: &mut [u8]) {
        assert!(x.len() == self.block() && out.len() == self.block_bytes(), "{}: one block in, one block out", self.id());
        let mut codes = [0u8; 256];
        let codes = &mut codes[..x.len()];
        match self {
            ExtraType::Iq4Nl | ExtraType::Iq4Xs => {
                let (dh, sh, sl) = iq4::quantize_super_block(x, importance, codes);
                iq4::pack(dh, sh, sl, codes, out);
            }
            ExtraType::Nvfp4 => {
                let mut scales = [0u8; 4];
                nvfp4::quantize_nvfp4(x, &mut scales, codes);
                nvfp4::pack(scales, codes, out);
            }
            ExtraType::Q2_0 => {
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "extra-simd"))]
                if simd128_pack::q2_0_block(x, out) {
                    return;
                }
                let d = binary::quantize_q2_0(x, codes);
                binary::pack(d, 2, codes, out);
            }
            ExtraType::Q1_0 => {
                let d = binary::quantize_q1_0(x, codes);
                binary::pack(d, 1, codes, out);
            }
            ExtraType::Tq2_0 => {
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "extra-simd"))]
                if simd128_pack::tq2_0_block(x, out) {
                    return;
                }
                let d = ternary::quantize_trits(x, codes);
                ternary::pack_tq2_0(d, codes, out);
            }
            ExtraType::Tq1_0 => {
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "extra-simd"))]
                if simd128_pack::tq1_0_block(x, out) {
                    return;
                }
                let d = ternary::quantize_trits(x, codes);
                ternary::pack_tq1_0(d, codes, out);
            }
        }
    }

    /// Where value `i`'s code sits in a block: (byte, shift, mask). Not TQ1_0, whose bytes hold
    /// five base-3 digits each (`ternary::tq1_0_location`).
    pub fn bit_field(self, i: usize) -> (usize, u32, u8) {
        match self {
            ExtraType::Iq4Nl | ExtraType::Iq4Xs => {
                let (at, shift) = iq4::nibble_at(i);
                (if self == ExtraType::Iq4Nl { 2 } else { 8 } + at, shift, 0xf)
            }
            ExtraType::Nvfp4 => {
                let (at, shift) = nvfp4::nibble_at(i);
                (at, shift, 0xf)
            }
            ExtraType::Q2_0 => (2 + i / 4, 2 * (i % 4) as u32, 3),
            ExtraType::Q1_0 => (2 + i / 8, (i % 8) as u32, 1),
            ExtraType::Tq2_0 => {
                let (at, shift) = ternary::tq2_0_location(i);
                (at, shift, 3)
            }
            ExtraType::Tq1_0 => unreachable!("TQ1_0 packs five trits per byte"),
        }
    }

    /// The code of value `i` (0..block) of a block.
    pub fn code(self, b: &[u8], i: usize) -> u8 {
        if self == ExtraType::Tq1_0 {
            let (at, n) = ternary::tq1_0_location(i);
            return ternary::tq1_0_trits(b[at])[n];
        }
        let (at, shift, mask) = self.bit_field(i);
        (b[at] >> shift) & mask
    }

    fn set_code(self, b: &mut [u8], i: usize, c: u8) {
        if self == ExtraType::Tq1_0 {
            let (at, n) = ternary::tq1_0_location(i);
            let mut t = ternary::tq1_0_trits(b[at]);
            t[n] = c;
            b[at] = ternary::tq1_0_byte(t);
            return;
        }
        let (at, shift, mask) = self.bit_field(i);
        b[at] = (b[at] & !(mask << shift)) | ((c & mask) << shift);
    }

    /// Sets every value of a block to code `c`, keeping its scales.
    fn fill_codes(self, b: &mut [u8], c: u8) {
        let (range, byte) = match self {
            ExtraType::Iq4Nl => (2..18, c | c << 4),
            ExtraType::Iq4Xs => (8..136, c | c << 4),
            ExtraType::Nvfp4 => (4..36, c | c << 4),
            ExtraType::Q2_0 => (2..18, c * 0x55),
            ExtraType::Q1_0 => (2..18, if c == 1 { 0xff } else { 0 }),
            ExtraType::Tq2_0 => (0..64, c * 0x55),
            ExtraType::Tq1_0 => {
                b[..48].fill(ternary::tq1_0_byte([c; 5]));
                b[48..52].fill(ternary::tq1_0_byte([c, c, c, c, 0]));
                return;
            }
        };
        b[range].fill(byte);
    }

    /// llama.cpp's `dequantize_row_*` for one block of this type (ported in [`ggml_dequant`]).
    fn block_dequantizer(self) -> ggml_dequant::BlockDequantizer {
        match self {
            ExtraType::Iq4Nl => ggml_dequant::iquants::iq4_nl,
            ExtraType::Iq4Xs => ggml_dequant::iquants::iq4_xs,
            ExtraType::Nvfp4 => ggml_dequant::blocks::nvfp4,
            ExtraType::Q2_0 => ggml_dequant::blocks::q2_0,
            ExtraType::Tq2_0 => ggml_dequant::blocks::tq2_0,
            ExtraType::Tq1_0 => ggml_dequant::blocks::tq1_0,
            ExtraType::Q1_0 => ggml_dequant::blocks::q1_0,
        }
    }

    /// Decodes whole blocks (`y.len()` = block × the number of blocks in `packed`) with
    /// llama.cpp's `dequantize_row_*` port.
    pub fn dequantize_blocks(self, packed: &[u8], y: &mut [f32]) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
        match self {
            ExtraType::Q1_0 => simd128::dequantize_q1_0(packed, y),
            ExtraType::Iq4Nl => simd128::dequantize_iq4_nl(packed, y),
            ExtraType::Iq4Xs => simd128::dequantize_iq4_xs(packed, y),
            ExtraType::Nvfp4 => simd128::dequantize_nvfp4(packed, y),
            ExtraType::Q2_0 => simd128::dequantize_q2_0(packed, y),
            ExtraType::Tq2_0 => simd128::dequantize_tq2_0(packed, y),
            ExtraType::Tq1_0 => simd128::dequantize_tq1_0(packed, y),
        }
        // Every type has a kernel there; elsewhere the block references.
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels")))]
        {
            let f = self.block_dequantizer();
            for (b, out) in packed.chunks_exact(self.block_bytes()).zip(y.chunks_exact_mut(self.block())) {
                f(b, out);
            }
        }
    }

    /// Quantizes with llama.cpp's importance matrix (IQ4_NL, IQ4_XS): `importance` holds one
    /// non-negative weight per column of the innermost dimension (`n_per_row = shape.last()`,
    /// a whole number of blocks, as `quantize_iq4_nl`/`quantize_iq4_xs` assert), the same for
    /// every row — what `ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix)` does.
    pub fn quantize_with_importance(self, values: &[f32], shape: &[usize], importance: &[f32]) -> Result<Quantized> {
        if !self.takes_importance() {
            return Err(super::importance_rules::not_used(self.id()));
        }
        let n_per_row = super::check_importance(self.id(), self.block(), values, shape, importance)?;
        super::keep(&mut |d| Ok(self.quantize_impl(values, Some((importance, n_per_row)), d)))
    }

    /// The codes of the two extreme levels, each paired with the code of the next level inward.
    /// Every type here decodes a code as its place's scale times a fixed table (ascending, or
    /// E2M1's sign-split one), so these are the extremes at every place; which of the two is the
    /// top depends on the scale's sign (IQ4's may be negative).
    fn extreme_codes(self) -> [(u8, u8); 2] {
        match self {
            ExtraType::Iq4Nl | ExtraType::Iq4Xs => [(0, 1), (15, 14)],
            ExtraType::Nvfp4 => [(15, 14), (7, 6)], // −12·d, −8·d and 12·d, 8·d
            ExtraType::Q2_0 => [(0, 1), (3, 2)],
            ExtraType::Tq2_0 | ExtraType::Tq1_0 => [(0, 1), (2, 1)],
            ExtraType::Q1_0 => [(0, 1), (1, 0)],
        }
    }

    /// Quantizes, applies the NaN/Inf rules, decodes and counts (see the module docs).
    fn quantize_impl(self, values: &[f32], importance: Option<(&[f32], usize)>, out: &mut dyn Decoding) -> Quantized {
        let (bs, bb, nl) = (self.block(), self.block_bytes(), self.levels());
        let blocks = values.len().div_ceil(bs);
        let mut packed = vec![0u8; blocks * bb];
        let mut buf = vec![0.0f32; bs];
        let mut scratch = vec![0u8; bb];
        let [(ca, ca_in), (cb, cb_in)] = self.extreme_codes();
        let decode = self.block_dequantizer();
        // ext[k·bs + i]: what value i of the current block decodes to under code ca, ca_in, cb, cb_in.
        let mut ext = vec![0.0f32; 4 * bs];
        let mut seen = vec![false; nl];
        let mut clipped = 0;
        // Blocks `s / bs ..`: packed, counted, then decoded into `deq`.
        super::fill(out, values, bs, &mut |s, deq| {
            let packed = &mut packed[s / bs * bb..][..deq.len() / bs * bb];
            for (k, out) in packed.chunks_exact_mut(bb).enumerate() {
                let b = s / bs + k;
                let chunk = &values[b * bs..values.len().min((b + 1) * bs)];
                buf.fill(0.0);
                for (d, &v) in buf.iter_mut().zip(chunk) {
                    *d = if v.is_finite() { v } else { 0.0 };
                }
                let weights = importance.map(|(w, n_per_row)| &w[(b * bs) % n_per_row..][..bs]);
                self.quantize_block(&buf, weights, out);
                for (k, c) in [ca, ca_in, cb, cb_in].into_iter().enumerate() {
                    scratch.copy_from_slice(out);
                    self.fill_codes(&mut scratch, c);
                    decode(&scratch, &mut ext[k * bs..(k + 1) * bs]);
                }
                for (i, &v) in chunk.iter().enumerate() {
                    let (va, va_in, vb, vb_in) = (ext[i], ext[bs + i], ext[2 * bs + i], ext[3 * bs + i]);
                    let ((top, below_top, hi), (bottom, above_bottom, lo)) =
                        if vb >= va { ((vb, vb_in, cb), (va, va_in, ca)) } else { ((va, va_in, ca), (vb, vb_in, cb)) };
                    if v.is_infinite() {
                        if top != bottom {
                            self.set_code(out, i, if v > 0.0 { hi } else { lo });
                        }
                    } else if top > bottom {
                        let (v, top, bottom) = (v as f64, top as f64, bottom as f64);
                        if v > top + (top - below_top as f64) / 2.0 || v < bottom - (above_bottom as f64 - bottom) / 2.0 {
                            clipped += 1;
                        }
                    }
                    seen[self.code(out, i) as usize] = true;
                }
            }
            self.dequantize_blocks(packed, deq);
        });
        Quantized {
            params: self.params(&packed),
            packed,
            dequantized: Vec::new(),
            clipped,
            levels_used: seen.iter().filter(|&&s| s).count(),
            levels_total: nl,
        }
    }

    /// Each block's scales, decoded.
    fn params(self, packed: &[u8]) -> Vec<Param> {
        let bb = self.block_bytes();
        let f16 = |b: &[u8], at: usize| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f64();
        let d_at = match self {
            ExtraType::Tq1_0 => 52,
            ExtraType::Tq2_0 => 64,
            _ => 0,
        };
        if self == ExtraType::Nvfp4 {
            let d = packed.chunks_exact(bb).flat_map(|b| b[..4].iter().map(|&u| nvfp4::ue4m3_to_fp32(u) as f64)).collect();
            return vec![Param { name: "d", values: d }];
        }
        let mut params = vec![Param { name: "d", values: packed.chunks_exact(bb).map(|b| f16(b, d_at)).collect() }];
        if self == ExtraType::Iq4Xs {
            // dequantize_row_iq4_xs: dl = d·(ls − 32), ls = low 4 bits | high 2 bits << 4.
            let dl = packed
                .chunks_exact(bb)
                .flat_map(|b| {
                    let (d, sh) = (half::f16::from_le_bytes([b[0], b[1]]).to_f32(), u16::from_le_bytes([b[2], b[3]]));
                    (0..8).map(move |ib| {
                        let ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) as i32 | ((((sh >> (2 * ib)) & 3) as i32) << 4);
                        (d * (ls - 32) as f32) as f64
                    })
                })
                .collect();
            params.push(Param { name: "dl", values: dl });
        }
        params
    }
}

fn check_count(values: &[f32], shape: &[usize]) -> Result<usize> {
    let n = super::element_count(shape)?;
    if n != values.len() as u64 {
        return Err(Error::InvalidArgument(format!("shape {shape:?} holds {n} values, got {}", values.len())));
    }
    Ok(n as usize)
}

impl Scheme for ExtraType {
    fn id(&self) -> &str {
        ExtraType::id(*self)
    }

    fn description(&self) -> String {
        let what = match self {
            ExtraType::Iq4Nl => "blocks of 32, 4-bit indices into 16 non-linear levels, f16 scale searched over 15 trials",
            ExtraType::Iq4Xs => "super-blocks of 256, IQ4_NL's levels with a 6-bit scale per 32 and one f16 d",
            ExtraType::Nvfp4 => "blocks of 64, E2M1 (FP4) values with a UE4M3 scale per 16",
            ExtraType::Q2_0 => "blocks of 64, 2-bit codes for −d, 0, d, 2d, f16 d = absmax",
            ExtraType::Tq2_0 => "ternary super-blocks of 256, 2 bits per trit, f16 d = absmax",
            ExtraType::Tq1_0 => "ternary super-blocks of 256, 5 trits per byte, f16 d = absmax",
            ExtraType::Q1_0 => "blocks of 128, one sign bit per value, f16 d = mean |x|",
        };
        format!(
            "GGML {} ({} bits/weight): {what}; llama.cpp's ggml_quantize_chunk",
            self.id().to_ascii_uppercase(),
            self.facts().bits_per_weight()
        )
    }

    fn quantize_to(&self, values: &[f32], shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        check_count(values, shape)?;
        Ok(self.quantize_impl(values, None, out))
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n = usize::try_from(super::element_count(shape)?)
            .map_err(|_| Error::InvalidArgument(format!("shape {shape:?} has too many elements")))?;
        let blocks = n.div_ceil(self.block());
        let expected = blocks * self.block_bytes();
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} data for shape {shape:?} is {expected} bytes ({blocks} blocks of {}), got {}",
                self.id(),
                self.block_bytes(),
                packed.len()
            )));
        }
        // `fast-kernels`: a chunk at a time into the result (no zero-filled tensor-sized vector
        // first), as the legacy types decode.
        #[cfg(feature = "fast-kernels")]
        {
            let (block, bb) = (self.block(), self.block_bytes());
            Ok(super::decode_chunked(n, block, &mut |start, out| {
                self.dequantize_blocks(&packed[start / block * bb..][..out.len() / block * bb], out)
            }))
        }
        #[cfg(not(feature = "fast-kernels"))]
        {
            let mut y = vec![0.0f32; blocks * self.block()];
            self.dequantize_blocks(packed, &mut y);
            y.truncate(n);
            Ok(y)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    #[test]
    fn ids_sizes_and_bits_per_weight() {
        let got: Vec<(&str, usize, usize, f64)> =
            ExtraType::ALL.iter().map(|t| (t.id(), t.block(), t.block_bytes(), t.facts().bits_per_weight())).collect();
        assert_eq!(
            got,
            [
                ("iq4_nl", 32, 18, 4.5),
                ("iq4_xs", 256, 136, 4.25),
                ("nvfp4", 64, 36, 4.5),
                ("q2_0", 64, 18, 2.25),
                ("tq2_0", 256, 66, 2.0625),
                ("tq1_0", 256, 54, 1.6875),
                ("q1_0", 128, 18, 1.125)
            ]
        );
        for t in ExtraType::ALL {
            assert_eq!(ExtraType::from_id(t.id()), Some(t));
            assert!(t.facts().file_type.is_some(), "{}: writable types have a llama_ftype", t.id());
        }
    }

    #[test]
    fn code_accessors_agree_with_the_packing_and_the_dequantizer() {
        for t in ExtraType::ALL {
            let q = t.quantize(&values(512, 7), &[512]).unwrap();
            let bb = t.block_bytes();
            for (b, block) in q.packed.chunks_exact(bb).enumerate() {
                let mut copy = block.to_vec();
                for i in 0..t.block() {
                    let c = t.code(block, i);
                    assert!((c as usize) < t.levels(), "{} code {c}", t.id());
                    t.set_code(&mut copy, i, c);
                }
                assert_eq!(copy, block, "{}: set_code(code) changed block {b}", t.id());
                // Every code decodes, at every place, to what fill_codes says.
                for c in 0..t.levels() as u8 {
                    let mut filled = block.to_vec();
                    t.fill_codes(&mut filled, c);
                    let mut one_by_one = block.to_vec();
                    for i in 0..t.block() {
                        t.set_code(&mut one_by_one, i, c);
                    }
                    assert_eq!(filled, one_by_one, "{} code {c}", t.id());
                }
            }
        }
    }

    #[test]
    fn block_dequantizer_is_ggml_dequants_for_the_type() {
        for t in ExtraType::ALL {
            let raw: Vec<u8> = (0..t.block_bytes() * 3).map(|i| (i * 37 % 251) as u8).collect();
            let (mut ours, mut theirs) = (vec![0.0f32; 3 * t.block()], vec![0.0f32; 3 * t.block()]);
            t.dequantize_blocks(&raw, &mut ours);
            ggml_dequant::dequantize(t.id(), &raw, &mut theirs).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ours), bits(&theirs), "{}", t.id());
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // `i` is a place in every code's decoding
    fn extreme_codes_are_the_extremes_at_every_place() {
        // Against every code's decoding, on blocks of either scale sign (IQ4 picks negative
        // scales for blocks whose largest magnitude is negative).
        for t in ExtraType::ALL {
            for seed in 0..6 {
                let mut x = values(t.block(), seed);
                if seed % 2 == 1 {
                    x.iter_mut().for_each(|v| *v = -*v);
                }
                let q = t.quantize(&x, &[x.len()]).unwrap();
                let decoded: Vec<Vec<f32>> = (0..t.levels() as u8)
                    .map(|c| {
                        let mut b = q.packed.clone();
                        t.fill_codes(&mut b, c);
                        t.dequantize(&b, &[x.len()]).unwrap()
                    })
                    .collect();
                let [(ca, ca_in), (cb, cb_in)] = t.extreme_codes();
                for i in 0..t.block() {
                    let at = |c: u8| decoded[c as usize][i];
                    let all: Vec<f32> = (0..t.levels() as u8).map(at).collect();
                    let (min, max) = all.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                    let (top, top_in, bottom, bottom_in) =
                        if at(cb) >= at(ca) { (at(cb), at(cb_in), at(ca), at(ca_in)) } else { (at(ca), at(ca_in), at(cb), at(cb_in)) };
                    assert_eq!((top, bottom), (max, min), "{} seed {seed} place {i}", t.id());
                    let next_below = all.iter().copied().filter(|&v| v < max).fold(f32::MIN, f32::max);
                    let next_above = all.iter().copied().filter(|&v| v > min).fold(f32::MAX, f32::min);
                    if max > min {
                        assert_eq!((top_in, bottom_in), (next_below, next_above), "{} seed {seed} place {i}", t.id());
                    }
                }
            }
        }
    }

    #[test]
    fn infinities_take_the_extreme_levels_and_nan_encodes_like_zero() {
        for t in ExtraType::ALL {
            let clean = values(256, 3);
            let (mut dirty, mut zeroed) = (clean.clone(), clean.clone());
            for (i, v) in [(5, f32::NAN), (40, f32::INFINITY), (77, f32::NEG_INFINITY)] {
                dirty[i] = v;
                zeroed[i] = 0.0;
            }
            let (qd, qz) = (t.quantize(&dirty, &[256]).unwrap(), t.quantize(&zeroed, &[256]).unwrap());
            for i in (0..256).filter(|&i| i != 40 && i != 77) {
                assert_eq!(qd.dequantized[i].to_bits(), qz.dequantized[i].to_bits(), "{} element {i}", t.id());
            }
            let block_max = |i: usize| qd.dequantized[i - i % t.block()..][..t.block()].iter().copied().fold(f32::MIN, f32::max);
            assert!(qd.dequantized[40] > 0.0 && qd.dequantized[40] >= qz.dequantized[40], "{}: +Inf", t.id());
            assert!(qd.dequantized[77] < 0.0 && qd.dequantized[77] <= qz.dequantized[77], "{}: −Inf", t.id());
            if t != ExtraType::Iq4Xs {
                // One scale per block (NVFP4: per 16): +Inf takes the block's top.
                let span = if t == ExtraType::Nvfp4 { 16 } else { t.block() };
                let top = qd.dequantized[40 - 40 % span..][..span].iter().copied().fold(f32::MIN, f32::max);
                assert!(qd.dequantized[40] >= top, "{}: +Inf below its block's top {}", t.id(), block_max(40));
            }
        }
    }

    #[test]
    fn importance_is_checked_and_used() {
        let x = values(512, 11);
        let w: Vec<f32> = (0..256).map(|i| (i % 7) as f32).collect();
        for t in [ExtraType::Iq4Nl, ExtraType::Iq4Xs] {
            let plain = t.quantize(&x, &[2, 256]).unwrap();
            let weighted = t.quantize_with_importance(&x, &[2, 256], &w).unwrap();
            assert_eq!(plain.packed.len(), weighted.packed.len());
            assert_ne!(plain.packed, weighted.packed, "{}: the importance changed nothing", t.id());
            assert!(t.quantize_with_importance(&x, &[2, 256], &w[..255]).is_err());
            assert!(t.quantize_with_importance(&x, &[512], &[1.0; 512]).is_ok());
            let mut bad = w.clone();
            bad[3] = -1.0;
            assert!(t.quantize_with_importance(&x, &[2, 256], &bad).unwrap_err().to_string().contains("weight 3"));
            bad[3] = f32::NAN;
            assert!(t.quantize_with_importance(&x, &[2, 256], &bad).is_err());
        }
        assert!(ExtraType::Iq4Xs
            .quantize_with_importance(&x[..320], &[10, 32], &[1.0; 32])
            .unwrap_err()
            .to_string()
            .contains("whole number"));
        assert!(ExtraType::Iq4Nl.quantize_with_importance(&x[..320], &[10, 32], &[1.0; 32]).is_ok());
        assert!(ExtraType::Tq1_0.quantize_with_importance(&x, &[2, 256], &w).unwrap_err().to_string().contains("does not use"));
        assert!(ExtraType::Iq4Nl.quantize(&x, &[3, 256]).is_err(), "shape and values disagree");
    }

    #[test]
    fn params_name_each_blocks_scales() {
        let q = ExtraType::Iq4Xs.quantize(&values(512, 5), &[512]).unwrap();
        assert_eq!(q.params.iter().map(|p| (p.name, p.values.len())).collect::<Vec<_>>(), [("d", 2), ("dl", 16)]);
        let q = ExtraType::Nvfp4.quantize(&values(100, 5), &[100]).unwrap();
        assert_eq!(q.params[0].values.len(), 8);
        let q = ExtraType::Tq1_0.quantize(&[0.5, -2.0, 1.0], &[3]).unwrap();
        assert_eq!(q.params[0].values, [2.0]);
        assert_eq!(q.dequantized, [0.0, -2.0, 2.0], "0.25 rounds to the zero trit, 0.5 away from zero");
        assert_eq!((q.levels_used, q.levels_total, q.clipped), (3, 3, 0));
    }

    #[test]
    fn q1_0_counts_values_beyond_twice_the_mean_as_clipped() {
        let mut x = vec![1.0f32; 128];
        x[0] = 100.0; // d = (127 + 100)/128 ≈ 1.77: 100 is far beyond d + (d − (−d))/2
        let q = ExtraType::Q1_0.quantize(&x, &[128]).unwrap();
        assert_eq!(q.clipped, 1);
    }
}
