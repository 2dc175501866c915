//! GGML's K-quants Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (ids `q2_k` … `q6_k`): super-blocks of 256
//! values split into sub-blocks of 16 or 32, each sub-block with its own small integer scale
//! (and, for Q2/Q4/Q5, an integer min), the sub-block scales themselves scaled by one f16 `d`
//! (and `dmin`) per super-block.
//!
//! * Quantization is llama.cpp's `quantize_row_q{2,3,4,5,6}_K_ref` (`ggml/src/ggml-quants.c`,
//!   the reference used when no importance matrix is given), ported float operation for float
//!   operation in [`reference`]; packed bytes equal ggml's `block_q{2..6}_K`
//!   (`ggml/src/ggml-common.h`) byte for byte.
//! * Dequantization equals gguf-py's `gguf.quants` (`Q{2..6}_K.dequantize_blocks`) and ggml's
//!   `dequantize_row_q{2..6}_K` bit for bit ([`dequant`]).
//!
//! | id     | sub-blocks        | code bits | block bytes | bits/weight |
//! |--------|-------------------|-----------|-------------|-------------|
//! | `q2_k` | 16×16, 4-bit scale+min | 2    | 84          | 2.625       |
//! | `q3_k` | 16×16, 6-bit scale     | 3    | 110         | 3.4375      |
//! | `q4_k` | 8×32, 6-bit scale+min  | 4    | 144         | 4.5         |
//! | `q5_k` | 8×32, 6-bit scale+min  | 5    | 176         | 5.5         |
//! | `q6_k` | 16×16, 8-bit scale     | 6    | 210         | 6.5625      |
//!
//! Input rules (quantscope's, where ggml has none):
//! * the tensor is flattened in C order and zero-padded to a whole number of super-blocks; the
//!   packed bytes include the padded last block, and dequantize takes the element count from
//!   `shape` and drops the padding. An empty tensor packs to zero bytes.
//! * NaN and ±Inf are replaced by 0 before the reference runs, so they never enter a range or a
//!   scale fit and one bad value never poisons its block. A NaN therefore gets the code the
//!   reference gives 0 (the code nearest 0); ±Inf then saturates to the code whose dequantized
//!   value is largest (+Inf) or smallest (−Inf) in its sub-block (unchanged if the sub-block's
//!   step is 0).
//! * finite values follow ggml exactly, including all-zero blocks (Q6_K writes an all-zero
//!   block; the others write d = dmin = 0) and values beyond f16's range (ggml's f16 `d`
//!   overflows to Inf and the block decodes to Inf/NaN, as in llama.cpp).
//!
//! `Quantized::params` holds `d` (and `dmin`) of every super-block; `clipped` counts finite
//! values that got an extreme code more than half a step beyond it; `levels_*` count raw codes
//! out of 2^bits.

pub mod dequant;
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;
pub mod weighted;

use super::{Decoding, Param, Quantized, Scheme};
use crate::error::{Error, Result};
use crate::ggml_types;

/// Values per super-block (ggml's `QK_K`).
pub const QK_K: usize = ggml_types::Q4_K.block as usize;

/// Some bits of a code inside a block: (byte offset, shift, mask).
/// Where bits of a code sit in a block: (byte offset, shift, mask).
pub type BitField = (usize, u32, u8);

/// One K-quant type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KQuant {
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

/// Every K-quant scheme id, lowest bits first.
pub fn ids() -> Vec<String> {
    KQuant::ALL.iter().map(|k| k.id().to_string()).collect()
}

/// The K-quant scheme with this id, if it is one.
pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    KQuant::from_id(id).map(|k| Box::new(k) as Box<dyn Scheme>)
}

/// The bytes a tensor of `shape` packs into under `id` (`None`: not this family's id), from the
/// layout alone; equal to `quantize(..).packed.len()`.
pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let k = KQuant::from_id(id)?;
    Some(super::element_count(shape).map(|n| n.div_ceil(QK_K as u64) * k.block_bytes() as u64))
}

/// `make_qkx2_quants` (see `reference::make_qkx2_quants`): the one place its grid search's
/// kernel is chosen — four candidate scales at a time in SIMD128, else the reference.
pub fn make_qkx2_quants(p: reference::Qkx2Params, x: &[f32], weights: &[f32], l_out: &mut [u8]) -> (f32, f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return match reference::qkx2_start(p, x, weights, l_out) {
        Err(done) => done,
        Ok(start) if p.nstep < 1 => (start.scale, -start.min),
        Ok(start) => simd128::qkx2_search(start, p, x, weights, l_out),
    };
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::make_qkx2_quants(p, x, weights, l_out)
}

/// `make_qx_quants` as Q6_K calls it (see `reference::make_qx_quants_rmse1`): the one place
/// its search's kernel is chosen — four candidate scales at a time in SIMD128, else the reference.
pub fn make_qx_quants_rmse1(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return match reference::qx_start(nmax, x, l_out) {
        Err(zero) => zero,
        Ok(start) => simd128::qx_search(start, nmax, x, l_out),
    };
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::make_qx_quants_rmse1(nmax, x, l_out)
}

impl KQuant {
    pub const ALL: [KQuant; 5] = [KQuant::Q2K, KQuant::Q3K, KQuant::Q4K, KQuant::Q5K, KQuant::Q6K];

    pub fn from_id(id: &str) -> Option<Self> {
        KQuant::ALL.into_iter().find(|k| k.id() == id)
    }

    pub fn id(self) -> &'static str {
        match self {
            KQuant::Q2K => "q2_k",
            KQuant::Q3K => "q3_k",
            KQuant::Q4K => "q4_k",
            KQuant::Q5K => "q5_k",
            KQuant::Q6K => "q6_k",
        }
    }

    /// Bits per code.
    pub fn bits(self) -> u32 {
        match self {
            KQuant::Q2K => 2,
            KQuant::Q3K => 3,
            KQuant::Q4K => 4,
            KQuant::Q5K => 5,
            KQuant::Q6K => 6,
        }
    }

    /// The type's row in the ggml type table (id, block, bytes, file type).
    pub fn facts(self) -> &'static ggml_types::GgmlType {
        match self {
            KQuant::Q2K => &ggml_types::Q2_K,
            KQuant::Q3K => &ggml_types::Q3_K,
            KQuant::Q4K => &ggml_types::Q4_K,
            KQuant::Q5K => &ggml_types::Q5_K,
            KQuant::Q6K => &ggml_types::Q6_K,
        }
    }

    /// `sizeof(block_qN_K)`, from the ggml type table.
    pub fn block_bytes(self) -> usize {
        self.facts().bytes as usize
    }

    /// Byte offsets of the f16 `d` and (if the type has one) `dmin` in a block.
    pub fn d_offsets(self) -> (usize, Option<usize>) {
        match self {
            KQuant::Q2K => (80, Some(82)),
            KQuant::Q3K => (108, None),
            KQuant::Q4K | KQuant::Q5K => (0, Some(2)),
            KQuant::Q6K => (208, None),
        }
    }

    /// Quantizes one super-block of finite values into `out` (`block_bytes` long).
    pub fn quantize_block(self, x: &[f32; QK_K], out: &mut [u8]) {
        match self {
            KQuant::Q2K => reference::quantize_q2_k(x, out),
            KQuant::Q3K => reference::quantize_q3_k(x, out),
            KQuant::Q4K => reference::quantize_q4_k(x, out),
            KQuant::Q5K => reference::quantize_q5_k(x, out),
            KQuant::Q6K => reference::quantize_q6_k(x, out),
        }
    }

    /// Quantizes one super-block of finite values with its 256 columns of an importance matrix
    /// (llama.cpp's `quantize_row_q*_K_impl`, ported in [`weighted`]).
    pub fn quantize_block_weighted(self, x: &[f32; QK_K], importance: &[f32], out: &mut [u8]) {
        match self {
            KQuant::Q2K => weighted::quantize_q2_k(x, importance, out),
            KQuant::Q3K => weighted::quantize_q3_k(x, importance, out),
            KQuant::Q4K => weighted::quantize_q4_k(x, importance, out),
            KQuant::Q5K => weighted::quantize_q5_k(x, importance, out),
            KQuant::Q6K => weighted::quantize_q6_k(x, importance, out),
        }
    }

    /// Quantizes with llama.cpp's importance matrix: `importance` holds one non-negative weight
    /// per column of the innermost dimension (rows of a whole number of super-blocks), the same
    /// for every row — `ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix)`. The
    /// input rules (NaN/±Inf) are the plain path's. See [`crate::schemes::quantize_with_importance`].
    pub fn quantize_with_importance(self, values: &[f32], shape: &[usize], importance: &[f32]) -> Result<Quantized> {
        let n_per_row = super::check_importance(self.id(), QK_K, values, shape, importance)?;
        super::keep(&mut |d| {
            Ok(self.quantize_impl(
                values,
                |b, x, out| self.quantize_block_weighted(x, &importance[(b * QK_K) % n_per_row..][..QK_K], out),
                d,
            ))
        })
    }

    /// Quantizes with `quantize_block(block index, finite values, out)`, applies the NaN/Inf
    /// rules, decodes and counts (see the module docs). Generic, so the plain path's code holds
    /// no weighted quantizer (the page's modules never link it).
    fn quantize_impl(self, values: &[f32], quantize_block: impl Fn(usize, &[f32; QK_K], &mut [u8]), out: &mut dyn Decoding) -> Quantized {
        let kind = self;
        let bb = kind.block_bytes();
        let blocks = values.len().div_ceil(QK_K);
        let mut packed = vec![0u8; blocks * bb];
        let mut buf = [0f32; QK_K];
        let top = (1usize << kind.bits()) - 1;
        let mut seen = vec![false; top + 1];
        let mut clipped = 0;
        // Super-blocks `s / QK_K ..`: packed, decoded into `deq`, then counted against the decoding.
        super::fill(out, values, QK_K, &mut |s, deq| {
            let end = values.len().min(s + deq.len());
            let packed = &mut packed[s / QK_K * bb..][..deq.len() / QK_K * bb];
            for (b, (chunk, out)) in values[s..end].chunks(QK_K).zip(packed.chunks_exact_mut(bb)).enumerate() {
                buf.fill(0.0);
                for (b, &v) in buf.iter_mut().zip(chunk) {
                    *b = if v.is_finite() { v } else { 0.0 };
                }
                quantize_block(s / QK_K + b, &buf, out);
                for (i, &v) in chunk.iter().enumerate() {
                    if v.is_infinite() {
                        let (dl, ml, bias) = kind.sub_affine(out, i);
                        let top = (1u32 << kind.bits()) as i32 - 1;
                        let (lo, hi) = (dl * (-bias) as f32 - ml, dl * (top - bias) as f32 - ml);
                        let want_top = if v > 0.0 { hi > lo } else { hi < lo };
                        if hi != lo {
                            kind.set_code(out, i, if want_top { top as u8 } else { 0 });
                        }
                    }
                }
            }
            kind.dequantize_blocks(packed, deq);
            for (i, (&x, &y)) in values[s..end].iter().zip(deq.iter()).enumerate() {
                let block = &packed[(i / QK_K) * bb..(i / QK_K + 1) * bb];
                let q = kind.code(block, i % QK_K) as usize;
                seen[q] = true;
                if x.is_finite() && (q == 0 || q == top) {
                    let (dl, _, _) = kind.sub_affine(block, i % QK_K);
                    if dl != 0.0 && (x as f64 - y as f64).abs() > (dl as f64).abs() / 2.0 {
                        clipped += 1;
                    }
                }
            }
        });
        let (d_at, dmin_at) = kind.d_offsets();
        let f16s = |at: usize| -> Vec<f64> {
            packed.chunks_exact(bb).map(|b| reference::fp16_to_fp32(u16::from_le_bytes([b[at], b[at + 1]])) as f64).collect()
        };
        let mut params = vec![Param { name: "d", values: f16s(d_at) }];
        if let Some(at) = dmin_at {
            params.push(Param { name: "dmin", values: f16s(at) });
        }
        Quantized {
            packed,
            dequantized: Vec::new(),
            params,
            clipped,
            levels_used: seen.iter().filter(|&&s| s).count(),
            levels_total: top + 1,
        }
    }

    /// Decodes whole blocks: `y.len()` is 256 × the number of blocks in `packed`.
    pub fn dequantize_blocks(self, packed: &[u8], y: &mut [f32]) {
        use dequant::*;
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
            KQuant::Q2K => simd128::dequantize_q2_k(packed, y),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
            KQuant::Q3K => simd128::dequantize_q3_k(packed, y),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
            KQuant::Q5K => simd128::dequantize_q5_k(packed, y),
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels")))]
            KQuant::Q2K => dequantize_blocks_scalar(dequantize_block_q2_k, 84, packed, y),
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels")))]
            KQuant::Q3K => dequantize_blocks_scalar(dequantize_block_q3_k, 110, packed, y),
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels")))]
            KQuant::Q5K => dequantize_blocks_scalar(dequantize_block_q5_k, 176, packed, y),
            KQuant::Q4K => dequantize_q4_k(packed, y),
            KQuant::Q6K => dequantize_q6_k(packed, y),
        }
    }

    /// Where the low bits of element `i` (0..256) live, plus the high bits for Q3/Q5/Q6.
    /// Where element `i`'s code sits in a block: its low bits, and its high bits when they are
    /// stored apart (Q3_K's hmask, Q5_K's qh, Q6_K's qh).
    pub fn code_location(self, i: usize) -> (BitField, Option<BitField>) {
        match self {
            KQuant::Q2K | KQuant::Q3K => {
                let base = if self == KQuant::Q2K { 16 } else { 32 };
                let (n, r) = (i / 128, i % 128);
                let low = (base + 32 * n + r % 32, 2 * (r / 32) as u32, 3);
                let high = (self == KQuant::Q3K).then_some((i % 32, (i / 32) as u32, 1));
                (low, high)
            }
            KQuant::Q4K | KQuant::Q5K => {
                let base = if self == KQuant::Q4K { 16 } else { 48 };
                let (c, r) = (i / 64, i % 64);
                let low = (base + 32 * c + r % 32, if r < 32 { 0 } else { 4 }, 0xF);
                let high = (self == KQuant::Q5K).then_some((16 + r % 32, (i / 32) as u32, 1));
                (low, high)
            }
            KQuant::Q6K => {
                let (c, r) = (i / 128, i % 128);
                let (g, k) = (r / 32, r % 32);
                let low = (64 * c + 32 * (g % 2) + k, if g < 2 { 0 } else { 4 }, 0xF);
                (low, Some((128 + 32 * c + k, 2 * g as u32, 3)))
            }
        }
    }

    /// The raw code (0..2^bits) of element `i` of a block.
    pub fn code(self, b: &[u8], i: usize) -> u8 {
        let ((at, shift, mask), high) = self.code_location(i);
        let low = (b[at] >> shift) & mask;
        match high {
            Some((hat, hshift, hmask)) => low | (((b[hat] >> hshift) & hmask) << mask.count_ones()),
            None => low,
        }
    }

    fn set_code(self, b: &mut [u8], i: usize, q: u8) {
        let ((at, shift, mask), high) = self.code_location(i);
        b[at] = (b[at] & !(mask << shift)) | ((q & mask) << shift);
        if let Some((hat, hshift, hmask)) = high {
            let h = (q >> mask.count_ones()) & hmask;
            b[hat] = (b[hat] & !(hmask << hshift)) | (h << hshift);
        }
    }

    /// Element `i`'s decoding as ggml computes it: `dl·(q − bias) − ml`, as `(dl, ml, bias)`.
    pub fn sub_affine(self, b: &[u8], i: usize) -> (f32, f32, i32) {
        let f16 = |at: usize| reference::fp16_to_fp32(u16::from_le_bytes([b[at], b[at + 1]]));
        let (d_at, dmin_at) = self.d_offsets();
        let d = f16(d_at);
        match self {
            KQuant::Q2K => {
                let sc = b[i / 16];
                (d * (sc & 0xF) as f32, f16(dmin_at.unwrap()) * (sc >> 4) as f32, 0)
            }
            KQuant::Q3K => (d * reference::q3_scale(&b[96..108], i / 16) as f32, 0.0, 4),
            KQuant::Q4K | KQuant::Q5K => {
                let (s, m) = reference::get_scale_min_k4(i / 32, &b[4..16]);
                (d * s as f32, f16(dmin_at.unwrap()) * m as f32, 0)
            }
            KQuant::Q6K => (d * b[192 + i / 16] as i8 as f32, 0.0, 32),
        }
    }
}

impl Scheme for KQuant {
    fn id(&self) -> &str {
        KQuant::id(*self)
    }

    fn description(&self) -> String {
        let what = match self {
            KQuant::Q2K => "16 sub-blocks of 16, 2-bit codes, 4-bit scales and mins, f16 d/dmin",
            KQuant::Q3K => "16 sub-blocks of 16, 3-bit symmetric codes, 6-bit scales, f16 d",
            KQuant::Q4K => "8 sub-blocks of 32, 4-bit codes, 6-bit scales and mins, f16 d/dmin",
            KQuant::Q5K => "8 sub-blocks of 32, 5-bit codes, 6-bit scales and mins, f16 d/dmin",
            KQuant::Q6K => "16 sub-blocks of 16, 6-bit symmetric codes, 8-bit scales, f16 d",
        };
        let bpw = self.block_bytes() as f64 * 8.0 / QK_K as f64;
        format!("GGML {} ({bpw} bits/weight): super-blocks of 256, {what}; llama.cpp reference quantizer", self.id().to_ascii_uppercase())
    }

    fn quantize_to(&self, values: &[f32], _shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        Ok(self.quantize_impl(values, |_, x, out| self.quantize_block(x, out), out))
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::InvalidArgument(format!("shape {shape:?} has too many elements")))?;
        let blocks = n.div_ceil(QK_K);
        let expected = blocks * self.block_bytes();
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} data for shape {shape:?} is {expected} bytes ({blocks} blocks of {}), got {}",
                self.id(),
                self.block_bytes(),
                packed.len()
            )));
        }
        #[cfg(feature = "fast-kernels")]
        {
            let bb = self.block_bytes();
            Ok(super::decode_chunked(n, QK_K, &mut |start, y| {
                self.dequantize_blocks(&packed[start / QK_K * bb..][..y.len() / QK_K * bb], y)
            }))
        }
        #[cfg(not(feature = "fast-kernels"))]
        {
            let mut y = vec![0f32; blocks * QK_K];
            self.dequantize_blocks(packed, &mut y);
            y.truncate(n);
            Ok(y)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(n: usize, seed: u64) -> Vec<f32> {
        // xorshift + Box-Muller, enough for unit tests.
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n).map(|_| ((-2.0 * next().ln()).sqrt() * (std::f64::consts::TAU * next()).cos()) as f32).collect()
    }

    #[test]
    fn ids_round_trip_and_block_sizes() {
        for k in KQuant::ALL {
            assert_eq!(KQuant::from_id(k.id()), Some(k));
            let q = k.quantize(&normal(300, 1), &[300]).unwrap();
            assert_eq!(q.packed.len(), 2 * k.block_bytes());
            assert_eq!(q.levels_total, 1 << k.bits());
        }
        assert_eq!(ids(), ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]);
    }

    #[test]
    fn code_accessors_agree_with_the_dequantizer() {
        for k in KQuant::ALL {
            let q = k.quantize(&normal(256, 7), &[256]).unwrap();
            for i in 0..QK_K {
                let (dl, ml, bias) = k.sub_affine(&q.packed, i);
                let want = dl * (k.code(&q.packed, i) as i32 - bias) as f32 - ml;
                assert_eq!(want.to_bits(), q.dequantized[i].to_bits(), "{} element {i}", k.id());
            }
            let mut b = q.packed.clone();
            for i in 0..QK_K {
                let c = k.code(&b, i);
                k.set_code(&mut b, i, c);
            }
            assert_eq!(b, q.packed);
        }
    }

    #[test]
    fn nan_and_inf_follow_the_rules_without_poisoning_the_block() {
        for k in KQuant::ALL {
            let clean = normal(256, 3);
            let mut dirty = clean.clone();
            let mut zeroed = clean.clone();
            for (i, v) in [(5, f32::NAN), (40, f32::INFINITY), (77, f32::NEG_INFINITY)] {
                dirty[i] = v;
                zeroed[i] = 0.0;
            }
            let qd = k.quantize(&dirty, &[256]).unwrap();
            let qz = k.quantize(&zeroed, &[256]).unwrap();
            let top = (1u8 << k.bits()) - 1;
            for i in 0..QK_K {
                let (cd, cz) = (k.code(&qd.packed, i), k.code(&qz.packed, i));
                if i != 40 && i != 77 {
                    assert_eq!(cd, cz, "{} element {i}", k.id());
                }
            }
            assert!(qd.dequantized.iter().all(|v| v.is_finite()), "{}", k.id());
            let (dl40, ml40, b40) = k.sub_affine(&qd.packed, 40);
            let v = |q: i32| dl40 * (q - b40) as f32 - ml40;
            assert_eq!(qd.dequantized[40], v(0).max(v(top as i32)), "{}: +Inf takes the largest level", k.id());
            let (dl77, ml77, b77) = k.sub_affine(&qd.packed, 77);
            let v = |q: i32| dl77 * (q - b77) as f32 - ml77;
            assert_eq!(qd.dequantized[77], v(0).min(v(top as i32)), "{}: −Inf takes the smallest level", k.id());
            assert_eq!(qd.dequantized[5], qz.dequantized[5], "{}: NaN encodes like 0", k.id());
        }
    }

    #[test]
    fn params_and_statistics() {
        let q = KQuant::Q4K.quantize(&normal(600, 5), &[600]).unwrap();
        assert_eq!(q.params.iter().map(|p| (p.name, p.values.len())).collect::<Vec<_>>(), [("d", 3), ("dmin", 3)]);
        let d = half::f16::from_le_bytes([q.packed[0], q.packed[1]]).to_f64();
        assert_eq!(q.params[0].values[0], d);
        assert!(q.levels_used > 8 && q.levels_used <= 16);
        let q = KQuant::Q6K.quantize(&[0.75; 256], &[256]).unwrap();
        assert_eq!(q.params.len(), 1);
        assert_eq!((q.levels_used, q.levels_total, q.clipped), (1, 64, 0));
        // An all-zero super-block: Q6_K writes zeros, the others d = dmin = 0.
        for k in KQuant::ALL {
            let q = k.quantize(&[0.0; 256], &[256]).unwrap();
            assert!(q.dequantized.iter().all(|&v| v == 0.0), "{}", k.id());
            assert!(q.params.iter().all(|p| p.values == [0.0]), "{}", k.id());
        }
    }

    #[test]
    fn empty_tensor_packs_to_nothing() {
        for k in KQuant::ALL {
            let q = k.quantize(&[], &[0]).unwrap();
            assert!(q.packed.is_empty() && q.dequantized.is_empty());
            assert_eq!(k.dequantize(&[], &[0, 3]).unwrap(), Vec::<f32>::new());
        }
    }

    #[test]
    fn wrong_length_is_an_error() {
        assert!(KQuant::Q4K.dequantize(&[0; 143], &[256]).is_err());
        assert!(KQuant::Q4K.dequantize(&[0; 144], &[257]).is_err());
    }
}
