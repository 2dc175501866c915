//! Float formats: each f32 is cast to a narrower float with round-to-nearest-even. There is no
//! scale, no zero point and no grouping: these are plain per-tensor casts, so the packed bytes
//! are exactly the elements and bits per weight are exactly 16, 16, 8, 8 and 4.
//!
//! | id         | format                          | max finite | NaN in        | ±Inf in     | reference |
//! |------------|---------------------------------|-----------:|---------------|-------------|-----------|
//! | `fp16`     | IEEE binary16 (1-5-10)          | 65504      | quiet NaN     | ±Inf        | `half::f16::from_f32`, ml_dtypes / numpy `float16` |
//! | `bf16`     | bfloat16 (1-8-7)                | 3.39e38    | quiet NaN     | ±Inf        | `half::bf16::from_f32`, ml_dtypes `bfloat16` |
//! | `fp8_e4m3` | OCP FP8 E4M3FN (1-4-3, bias 7)  | 448        | 0x7f / 0xff   | ±448        | ONNX `Cast`/`QuantizeLinear`, saturate=1 |
//! | `fp8_e5m2` | OCP FP8 E5M2 (1-5-2, bias 15)   | 57344      | 0x7e / 0xfe   | ±57344      | ONNX `Cast`/`QuantizeLinear`, saturate=1 |
//! | `fp4_e2m1` | OCP FP4 E2M1 (1-2-1, bias 1)    | 6          | +6 (0x7)      | ±6          | ONNX FLOAT4E2M1 (docs/technical/float4.md) |
//!
//! Rounding is RNE everywhere; a finite value beyond max finite becomes ±max for the FP8 and
//! FP4 formats (ONNX `saturate=1`: `numpy_helper.saturate_cast` clips to ±max before the
//! cast) and ±Inf for FP16/BF16 (IEEE overflow, as `half` and numpy do). ±0 keeps its sign.
//!
//! NaN: FP16/BF16 follow the `half` crate bit for bit (sign and the top mantissa bits kept,
//! quiet bit set; numpy/ml_dtypes may give other NaN payloads, never a non-NaN). FP8 NaN keeps
//! its sign: E4M3FN 0x7f/0xff, E5M2 0x7e/0xfe (ml_dtypes' quiet NaN). FP4 has no NaN: the
//! ONNX spec's Cast table (onnx `docs/docsgen/source/technical/float4.md`) maps NaN → +6 and
//! ±Inf → ±6, which quantscope follows. (onnx 1.23.2's reference evaluator casts through
//! ml_dtypes 0.6 and gives ∓0 for NaN instead; the fixtures record that divergence.)
//!
//! `clipped` counts finite inputs with |x| > max finite. `levels_used` counts distinct codes
//! (−0 and +0 are different codes), `levels_total` is 2^bits.
//!
//! Packed layout: the raw elements, little-endian: FP16/BF16 two bytes each; FP8 one byte
//! each; FP4 two per byte, first element in the low nibble (ONNX FLOAT4E2M1 packing), an odd
//! count padded with a zero nibble. An empty tensor packs to zero bytes.
//!
//! Hot paths: FP16 and BF16 conversion in both directions go through [`f32_to_f16_bits`],
//! [`f16_bits_to_f32`], [`f32_to_bf16_bits`] and [`bf16_bits_to_f32`], which pick the SIMD128
//! kernel (float/simd128.rs) on wasm32+simd128 and the scalar reference otherwise.

pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

use super::{Decoding, Quantized, Scheme};
use crate::error::{Error, Result};

/// One of the narrow float formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatFormat {
    Fp16,
    Bf16,
    Fp8E4m3,
    Fp8E5m2,
    Fp4E2m1,
}

/// A sign-exponent-mantissa layout narrower than f32 (FP8/FP4), with saturation.
#[derive(Debug, Clone, Copy)]
struct Minifloat {
    mbits: u32,
    ebits: u32,
    bias: i32,
    /// The largest finite magnitude's code (sign bit clear).
    max_code: u32,
    /// The code NaN encodes to (sign bit clear); its sign is kept if `nan_keeps_sign`.
    nan_code: u32,
    nan_keeps_sign: bool,
    /// E4M3FN: only S.1111.111 is NaN. E5M2: exponent all ones is Inf/NaN. FP4: no specials.
    specials: Specials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Specials {
    None,
    E4m3fn,
    Ieee,
}

const E4M3: Minifloat =
    Minifloat { mbits: 3, ebits: 4, bias: 7, max_code: 0x7e, nan_code: 0x7f, nan_keeps_sign: true, specials: Specials::E4m3fn };
const E5M2: Minifloat =
    Minifloat { mbits: 2, ebits: 5, bias: 15, max_code: 0x7b, nan_code: 0x7e, nan_keeps_sign: true, specials: Specials::Ieee };
const E2M1: Minifloat =
    Minifloat { mbits: 1, ebits: 2, bias: 1, max_code: 0x7, nan_code: 0x7, nan_keeps_sign: false, specials: Specials::None };

impl Minifloat {
    fn sign_bit(&self) -> u32 {
        1 << (self.mbits + self.ebits)
    }

    /// f32 → code with RNE and saturation to ±max; NaN per the format's rule.
    fn encode(&self, x: f32) -> u32 {
        let bits = x.to_bits();
        let sign = if bits >> 31 == 1 { self.sign_bit() } else { 0 };
        let a = bits & 0x7fff_ffff;
        if a > 0x7f80_0000 {
            return self.nan_code | if self.nan_keeps_sign { sign } else { 0 };
        }
        let e = (a >> 23) as i32 - 127; // unbiased f32 exponent (f32 subnormals: −127, far below)
        let emin = 1 - self.bias; // the target's smallest normal exponent
        let code = if e < emin {
            // Target subnormal: k = RNE(|x| / 2^(emin − mbits)) = RNE(m >> shift), with m the
            // 24-bit significand. k may reach 2^mbits, which is the smallest normal's code.
            let m = (a & 0x7f_ffff) | 0x80_0000;
            let shift = (23 + emin - self.mbits as i32 - e) as u32;
            if shift >= 25 {
                0 // |x| < 2^(emin − mbits − 1): below half the smallest subnormal
            } else {
                rne_shift(m, shift)
            }
        } else {
            // Normal: rebias the exponent, drop 23 − mbits mantissa bits with RNE; the carry
            // may run into the exponent (and past max, which saturates below).
            let drop = 23 - self.mbits;
            let biased = ((e + self.bias) as u32) << self.mbits;
            let kept = (a & 0x7f_ffff) >> drop;
            rne_round(biased | kept, a & ((1 << drop) - 1), drop)
        };
        sign | code.min(self.max_code)
    }

    fn decode(&self, code: u32) -> f32 {
        let negative = code & self.sign_bit() != 0;
        let mag = code & (self.sign_bit() - 1);
        let emask = (1 << self.ebits) - 1;
        let (e, m) = ((mag >> self.mbits) & emask, mag & ((1 << self.mbits) - 1));
        let nan = f32::from_bits(0x7fc0_0000 | if negative { 0x8000_0000 } else { 0 });
        match self.specials {
            Specials::E4m3fn if mag == 0x7f => return nan,
            Specials::Ieee if e == emask => {
                return if m == 0 {
                    if negative {
                        f32::NEG_INFINITY
                    } else {
                        f32::INFINITY
                    }
                } else {
                    nan
                }
            }
            _ => {}
        }
        // Exact in f32: every FP8/FP4 value is.
        let v = if e == 0 {
            m as f32 * pow2(1 - self.bias - self.mbits as i32)
        } else {
            (((1 << self.mbits) | m) as f32) * pow2(e as i32 - self.bias - self.mbits as i32)
        };
        if negative {
            -v
        } else {
            v
        }
    }
}

/// `value >> shift` rounded to nearest, ties to even (shift in 1..=24).
fn rne_shift(value: u32, shift: u32) -> u32 {
    let kept = value >> shift;
    rne_round(kept, value & ((1 << shift) - 1), shift)
}

/// Rounds `kept` up by one if the dropped `rest` (of `drop` bits) is above half, or exactly
/// half and `kept` is odd.
fn rne_round(kept: u32, rest: u32, drop: u32) -> u32 {
    let half = 1 << (drop - 1);
    if rest > half || (rest == half && kept & 1 == 1) {
        kept + 1
    } else {
        kept
    }
}

fn pow2(e: i32) -> f32 {
    f32::from_bits(((e + 127) as u32) << 23)
}

impl FloatFormat {
    pub const ALL: [FloatFormat; 5] =
        [FloatFormat::Fp16, FloatFormat::Bf16, FloatFormat::Fp8E4m3, FloatFormat::Fp8E5m2, FloatFormat::Fp4E2m1];

    pub fn id(self) -> &'static str {
        match self {
            FloatFormat::Fp16 => "fp16",
            FloatFormat::Bf16 => "bf16",
            FloatFormat::Fp8E4m3 => "fp8_e4m3",
            FloatFormat::Fp8E5m2 => "fp8_e5m2",
            FloatFormat::Fp4E2m1 => "fp4_e2m1",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.id() == id)
    }

    pub fn bits(self) -> u32 {
        match self {
            FloatFormat::Fp16 | FloatFormat::Bf16 => 16,
            FloatFormat::Fp8E4m3 | FloatFormat::Fp8E5m2 => 8,
            FloatFormat::Fp4E2m1 => 4,
        }
    }

    /// The largest finite value.
    pub fn max_finite(self) -> f32 {
        match self {
            FloatFormat::Fp16 => 65504.0,
            FloatFormat::Bf16 => f32::from_bits(0x7f7f_0000),
            FloatFormat::Fp8E4m3 => 448.0,
            FloatFormat::Fp8E5m2 => 57344.0,
            FloatFormat::Fp4E2m1 => 6.0,
        }
    }

    fn minifloat(self) -> Option<Minifloat> {
        match self {
            FloatFormat::Fp8E4m3 => Some(E4M3),
            FloatFormat::Fp8E5m2 => Some(E5M2),
            FloatFormat::Fp4E2m1 => Some(E2M1),
            _ => None,
        }
    }

    /// The scalar reference: one f32 → its code (in the low `bits` bits).
    pub fn encode(self, x: f32) -> u16 {
        match self {
            FloatFormat::Fp16 => half::f16::from_f32(x).to_bits(),
            FloatFormat::Bf16 => half::bf16::from_f32(x).to_bits(),
            _ => self.minifloat().unwrap().encode(x) as u16,
        }
    }

    /// The scalar reference: one code → its f32 value (exact).
    pub fn decode(self, code: u16) -> f32 {
        match self {
            FloatFormat::Fp16 => half::f16::from_bits(code).to_f32(),
            FloatFormat::Bf16 => half::bf16::from_bits(code).to_f32(),
            _ => self.minifloat().unwrap().decode(code as u32),
        }
    }

    /// Encodes a slice (hot-path dispatch for FP16/BF16).
    pub fn encode_slice(self, src: &[f32], dst: &mut [u16]) {
        match self {
            FloatFormat::Fp16 => f32_to_f16_bits(src, dst),
            FloatFormat::Bf16 => f32_to_bf16_bits(src, dst),
            _ => f32_to_minifloat(&self.minifloat().unwrap(), src, dst),
        }
    }

    /// Decodes a slice (hot-path dispatch for FP16/BF16).
    pub fn decode_slice(self, src: &[u16], dst: &mut [f32]) {
        match self {
            FloatFormat::Fp16 => f16_bits_to_f32(src, dst),
            FloatFormat::Bf16 => bf16_bits_to_f32(src, dst),
            _ => {
                // 256 entries cover every FP8 and FP4 code.
                let table: Vec<f32> = (0..1u16 << self.bits()).map(|c| self.decode(c)).collect();
                for (d, &c) in dst.iter_mut().zip(src) {
                    *d = table[c as usize];
                }
            }
        }
    }
}

// ------------------------------------------------------------------ hot paths: kernel choice
// Each function below is the one place its kernel is chosen. The scalar references are in
// reference.rs (`half`'s conversions); the SIMD128 kernels must equal them bit for bit
// (src/core/tests/float_fixtures.rs checks every f32 bit-pattern class and awkward lengths).

/// f32 → FP16 bits (RNE, `half::f16::from_f32`). `dst.len()` must equal `src.len()`.
pub fn f32_to_f16_bits(src: &[f32], dst: &mut [u16]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::f32_to_f16_bits(src, dst);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::f32_to_f16_bits(src, dst);
}

/// f32 → FP8/FP4 codes (RNE, saturating; `Minifloat::encode` is the reference).
fn f32_to_minifloat(mf: &Minifloat, src: &[f32], dst: &mut [u16]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::f32_to_minifloat(mf, src, dst);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = mf.encode(x) as u16;
    }
}

/// FP16 bits → f32 (exact, `half::f16::to_f32`).
pub fn f16_bits_to_f32(src: &[u16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::f16_bits_to_f32(src, dst);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::f16_bits_to_f32(src, dst);
}

/// f64 → FP16, rounded once to nearest even, as numpy's `astype(float16)` and the ONNX spec
/// round. `half`'s `f16::from_f64` cannot be used: its software path drops the low 32 bits of
/// the f64 first, and on x86 it converts through f32, so both can round a value just past a
/// tie the wrong way. Here the f32 step rounds to odd (truncate, then set the last bit when
/// anything was dropped), which keeps every bit the final f32 → f16 rounding needs (24 ≥ 2·11
/// + 2), and `f16::from_f32` rounds correctly.
pub fn f64_to_f16(x: f64) -> half::f16 {
    let nearest = x as f32;
    if !nearest.is_finite() || nearest as f64 == x {
        return half::f16::from_f32(nearest);
    }
    let mut bits = nearest.to_bits();
    if (nearest as f64).abs() > x.abs() {
        bits -= 1; // one step toward zero: the truncated value
    }
    half::f16::from_f32(f32::from_bits(bits | 1))
}

/// f32 → BF16 bits (RNE, `half::bf16::from_f32`).
pub fn f32_to_bf16_bits(src: &[f32], dst: &mut [u16]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::f32_to_bf16_bits(src, dst);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::f32_to_bf16_bits(src, dst);
}

/// BF16 bits → f32 (exact, `half::bf16::to_f32`).
pub fn bf16_bits_to_f32(src: &[u16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::bf16_bits_to_f32(src, dst);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    reference::bf16_bits_to_f32(src, dst);
}

// ------------------------------------------------------------------------------ the scheme

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatScheme {
    pub format: FloatFormat,
}

/// Every float-format id, in the order the page lists them.
pub fn ids() -> Vec<String> {
    FloatFormat::ALL.iter().map(|f| f.id().to_string()).collect()
}

/// The float scheme with this id, if it is one.
pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    FloatFormat::from_id(id).map(|format| Box::new(FloatScheme { format }) as Box<dyn Scheme>)
}

/// The bytes a tensor of `shape` packs into under `id` (`None`: not this family's id), from the
/// layout alone; equal to `quantize(..).packed.len()`.
pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let format = FloatFormat::from_id(id)?;
    Some(super::element_count(shape).map(|n| (n * format.bits() as u64).div_ceil(8)))
}

impl FloatScheme {
    /// Codes → packed bytes (little-endian elements; FP4 low nibble first).
    #[cfg(not(feature = "fast-kernels"))]
    fn pack(&self, codes: &[u16]) -> Vec<u8> {
        match self.format.bits() {
            16 => codes.iter().flat_map(|c| c.to_le_bytes()).collect(),
            8 => codes.iter().map(|&c| c as u8).collect(),
            _ => codes.chunks(2).map(|p| (p[0] as u8 & 0xf) | (p.get(1).map_or(0, |&c| c as u8 & 0xf) << 4)).collect(),
        }
    }

    #[cfg(not(feature = "fast-kernels"))]
    fn unpack(&self, packed: &[u8], n: usize) -> Result<Vec<u16>> {
        let expected = (n * self.format.bits() as usize).div_ceil(8);
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} data for {n} elements is {expected} bytes, got {}",
                self.format.id(),
                packed.len()
            )));
        }
        Ok(match self.format.bits() {
            16 => packed.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect(),
            8 => packed.iter().map(|&b| b as u16).collect(),
            _ => {
                // Two codes per byte, the first in the low nibble.
                let mut codes: Vec<u16> = packed.iter().flat_map(|&b| [(b & 0xf) as u16, (b >> 4) as u16]).collect();
                codes.truncate(n);
                codes
            }
        })
    }
}

/// The `fast-kernels` quantize and FP16/BF16 dequantize: the same bytes and values as the plain
/// path (`quantize_to` without the feature: whole-tensor passes over a u16 code per element),
/// a chunk of [`CHUNK`] elements at a time while its codes are in cache — encode, decode, count
/// clips and levels, pack — instead of writing and rereading 2 bytes of codes per element
/// three times.
#[cfg(feature = "fast-kernels")]
const CHUNK: usize = 4096;

#[cfg(feature = "fast-kernels")]
impl FloatScheme {
    fn quantize_chunked(&self, values: &[f32], out: &mut dyn Decoding) -> Result<Quantized> {
        let format = self.format;
        let bits = format.bits() as usize;
        let max = format.max_finite();
        // FP8/FP4 decode through every code's value (at most 256).
        let table: Vec<f32> = if bits <= 8 { (0..1u16 << bits).map(|c| format.decode(c)).collect() } else { Vec::new() };
        // Reserved, then a chunk at a time from `chunk_bytes` (in cache): written once, not
        // zero-filled first.
        let mut packed = Vec::with_capacity((values.len() * bits).div_ceil(8));
        let mut chunk_bytes = vec![0u8; CHUNK * 2];
        let mut codes = vec![0u16; CHUNK];
        // Indexed by a code (FP4: by a byte of two codes, at 256 + byte), the packed bytes a
        // chunk at a time.
        let mut seen: Box<[bool; 1 << 16]> = vec![false; 1 << 16].into_boxed_slice().try_into().expect("2^16 entries");
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let mut run = simd128::LevelRun::new();
        let mut clipped = 0;
        // `fill` in pairs, so FP4's two codes a byte never straddle two calls; inside a call,
        // CHUNK (even) elements at a time. Every real element is written (SAFETY for
        // `fill_uninit`: the loop runs to `real`; the SIMD steps, then the rest).
        let decode = &mut |s: usize, o: &mut [core::mem::MaybeUninit<f32>]| {
            let real = (values.len() - s).min(o.len());
            let mut at = 0;
            while at < real {
                let len = CHUNK.min(real - at);
                let (x, d) = (&values[s + at..s + at + len], &mut o[at..at + len]);
                let p = &mut chunk_bytes[..(len * bits).div_ceil(8)];
                // SIMD128: whole steps of 16 in one pass (encode, pack, decode, count clips);
                // the rest of the chunk below.
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                let done = {
                    let (c, done) = simd128::quantize_chunk(format, x, p, d, &mut seen[..], &mut run);
                    clipped += c;
                    done
                };
                #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
                let done = 0;
                let (x, c, d) = (&x[done..], &mut codes[..len - done], super::zeroed(&mut d[done..]));
                format.encode_slice(x, c);
                if table.is_empty() {
                    format.decode_slice(c, d);
                } else {
                    for (d, &c) in d.iter_mut().zip(c.iter()) {
                        *d = table[c as usize];
                    }
                }
                // `is_finite() && abs() > max` without branches, so that it vectorizes.
                clipped += x.iter().map(|v| (v.abs() > max && v.abs() < f32::INFINITY) as usize).sum::<usize>();
                match bits {
                    16 => p[2 * done..].chunks_exact_mut(2).zip(c.iter()).for_each(|(p, c)| p.copy_from_slice(&c.to_le_bytes())),
                    8 => p[done..].iter_mut().zip(c.iter()).for_each(|(p, &c)| *p = c as u8),
                    _ => p[done / 2..]
                        .iter_mut()
                        .zip(c.chunks(2))
                        .for_each(|(p, c)| *p = (c[0] as u8 & 0xf) | (c.get(1).map_or(0, |&c| c as u8 & 0xf) << 4)),
                }
                // The levels, from the packed codes (in cache): one store per code, no branch
                // (SIMD128 marked FP16/BF16/FP8's first `done`).
                match bits {
                    16 => p[2 * done..].chunks_exact(2).for_each(|b| seen[u16::from_le_bytes([b[0], b[1]]) as usize] = true),
                    8 => p[done..].iter().for_each(|&b| seen[b as usize] = true),
                    // Two codes a byte; an odd chunk's last byte has one (the rest is padding).
                    _ => {
                        p[..len / 2].iter().for_each(|&b| seen[256 + b as usize] = true);
                        if len % 2 == 1 {
                            seen[(p[len / 2] & 0xf) as usize] = true;
                        }
                    }
                }
                packed.extend_from_slice(p);
                at += len;
            }
        };
        // SAFETY: see `decode`.
        unsafe { super::fill_uninit(out, values, 2, decode) };
        if bits == 4 {
            // Each byte seen is a pair of codes seen.
            for b in 0..256 {
                if seen[256 + b] {
                    seen[b & 0xf] = true;
                    seen[b >> 4] = true;
                }
            }
            seen[16..].fill(false);
        }
        Ok(Quantized {
            packed,
            dequantized: Vec::new(),
            params: Vec::new(),
            clipped,
            levels_used: seen.iter().filter(|&&s| s).count(),
            levels_total: 1 << bits,
        })
    }

    /// Bytes → values a chunk at a time (`decode_chunked`: no tensor-sized code vector, and the
    /// result written once); SIMD128 decodes straight from the bytes.
    fn dequantize_chunked(&self, packed: &[u8], n: usize) -> Result<Vec<f32>> {
        let format = self.format;
        let bits = format.bits() as usize;
        let expected = (n * bits).div_ceil(8);
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!("{} data for {n} elements is {expected} bytes, got {}", format.id(), packed.len())));
        }
        let table: Vec<f32> = if bits <= 8 { (0..1u16 << bits).map(|c| format.decode(c)).collect() } else { Vec::new() };
        let mut codes = vec![0u16; CHUNK];
        // Pairs, so an FP4 chunk starts on a byte.
        Ok(super::decode_chunked(n, 2, &mut |start, out| {
            let bytes = &packed[start * bits / 8..];
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            let done = simd128::decode_bytes(format, bytes, out);
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            let done = 0;
            let (bytes, out) = (&bytes[done * bits / 8..], &mut out[done..]);
            match bits {
                16 => {
                    let c = &mut codes[..out.len().min(bytes.len() / 2)];
                    c.iter_mut().zip(bytes.chunks_exact(2)).for_each(|(c, b)| *c = u16::from_le_bytes([b[0], b[1]]));
                    format.decode_slice(c, &mut out[..c.len()]);
                }
                8 => out.iter_mut().zip(bytes).for_each(|(o, &b)| *o = table[b as usize]),
                _ => out.iter_mut().zip(bytes.iter().flat_map(|&b| [b & 0xf, b >> 4])).for_each(|(o, c)| *o = table[c as usize]),
            }
        }))
    }
}

impl Scheme for FloatScheme {
    fn id(&self) -> &str {
        self.format.id()
    }

    fn description(&self) -> String {
        let what = match self.format {
            FloatFormat::Fp16 => "IEEE half precision (1-5-10), overflow to ±Inf",
            FloatFormat::Bf16 => "bfloat16 (1-8-7), overflow to ±Inf",
            FloatFormat::Fp8E4m3 => "FP8 E4M3FN (1-4-3), saturating to ±448 as ONNX saturate=1",
            FloatFormat::Fp8E5m2 => "FP8 E5M2 (1-5-2), saturating to ±57344 as ONNX saturate=1",
            FloatFormat::Fp4E2m1 => "FP4 E2M1 (1-2-1, values 0..6), saturating, ONNX FLOAT4E2M1 packing",
        };
        format!("{what}; per-element cast with round-to-nearest-even, no scale")
    }

    #[cfg(feature = "fast-kernels")]
    fn quantize_to(&self, values: &[f32], _shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        self.quantize_chunked(values, out)
    }

    #[cfg(not(feature = "fast-kernels"))]
    fn quantize_to(&self, values: &[f32], _shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        let mut codes = vec![0u16; values.len()];
        super::fill(out, values, 1, &mut |s, o| {
            let codes = &mut codes[s..s + o.len()];
            self.format.encode_slice(&values[s..s + o.len()], codes);
            self.format.decode_slice(codes, o);
        });
        let max = self.format.max_finite();
        let clipped = values.iter().filter(|x| x.is_finite() && x.abs() > max).count();
        let mut seen = vec![false; 1 << self.format.bits()];
        for &c in &codes {
            seen[c as usize] = true;
        }
        Ok(Quantized {
            packed: self.pack(&codes),
            dequantized: Vec::new(),
            params: Vec::new(),
            clipped,
            levels_used: seen.iter().filter(|&&s| s).count(),
            levels_total: seen.len(),
        })
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n: usize = shape.iter().product();
        #[cfg(feature = "fast-kernels")]
        return self.dequantize_chunked(packed, n);
        #[cfg(not(feature = "fast-kernels"))]
        {
            let codes = self.unpack(packed, n)?;
            let mut out = vec![0f32; n];
            self.format.decode_slice(&codes, &mut out);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: FloatFormat, x: f32) -> u16 {
        f.encode(x)
    }

    #[test]
    fn f64_to_f16_rounds_once() {
        let p = |e: i32| 2f64.powi(e);
        let cases = [
            (1.0 + p(-11) + p(-40), 0x3c01), // just past the tie: up (through f32 it would tie and go to 1)
            (1.0 + p(-11), 0x3c00),          // the tie itself: to even
            (1.0 + 3.0 * p(-11), 0x3c02),    // a tie whose lower neighbour is odd: up
            (1.0 + 3.0 * p(-11) - p(-40), 0x3c01),
            (-(1.0 + p(-11) + p(-40)), 0xbc01),
            (65519.999, 0x7bff), // below the rounding boundary of the largest half
            (65520.0, 0x7c00),   // at it: infinity
            (p(-25), 0x0000),    // half the smallest subnormal: a tie, to even (zero)
            (p(-25) + p(-60), 0x0001),
            (f64::INFINITY, 0x7c00),
            (-0.0, 0x8000),
        ];
        for (x, bits) in cases {
            assert_eq!(f64_to_f16(x).to_bits(), bits, "{x:e}");
        }
        assert!(f64_to_f16(f64::NAN).is_nan());
    }

    #[test]
    fn fp8_e4m3_hand_checked() {
        let f = FloatFormat::Fp8E4m3;
        assert_eq!(enc(f, 448.0), 0x7e);
        assert_eq!(enc(f, 464.0), 0x7e); // the tie between 448 and (missing) 480 saturates
        assert_eq!(enc(f, 1e6), 0x7e);
        assert_eq!(enc(f, f32::INFINITY), 0x7e);
        assert_eq!(enc(f, f32::NEG_INFINITY), 0xfe);
        assert_eq!(enc(f, f32::NAN), 0x7f);
        assert_eq!(enc(f, -f32::NAN), 0xff);
        assert_eq!(enc(f, -0.0), 0x80);
        assert_eq!(enc(f, 2f32.powi(-9)), 0x01); // smallest subnormal
        assert_eq!(enc(f, 2f32.powi(-10)), 0x00); // half of it: tie to even → 0
        assert_eq!(enc(f, 1.0625), 0x38); // 1 + 1/16: tie between 1 and 1.125 → even (1.0)
        assert_eq!(enc(f, 1.1875), 0x3a); // 1 + 3/16: tie between 1.125 and 1.25 → 1.25
        assert_eq!(f.decode(0x7e), 448.0);
        assert!(f.decode(0x7f).is_nan());
    }

    #[test]
    fn fp8_e5m2_and_fp4_hand_checked() {
        let f = FloatFormat::Fp8E5m2;
        assert_eq!(enc(f, 57344.0), 0x7b);
        assert_eq!(enc(f, 61440.0), 0x7b); // tie with the (missing) 65536 saturates
        assert_eq!(enc(f, f32::NEG_INFINITY), 0xfb);
        assert_eq!(enc(f, f32::NAN), 0x7e);
        assert_eq!(enc(f, 2f32.powi(-16)), 0x01);
        assert_eq!(f.decode(0x7c), f32::INFINITY);
        let f = FloatFormat::Fp4E2m1;
        let want = [(0.25, 0), (0.75, 2), (1.25, 2), (1.75, 4), (2.5, 4), (3.5, 6), (5.0, 6), (6.0, 7), (7.0, 7)];
        for (x, c) in want {
            assert_eq!(enc(f, x), c, "{x}");
            assert_eq!(enc(f, -x), c | 8, "-{x}");
        }
        assert_eq!(enc(f, f32::NAN), 7);
        assert_eq!(enc(f, -f32::NAN), 7);
        assert_eq!(enc(f, f32::NEG_INFINITY), 0xf);
        let values: Vec<f32> = (0..16).map(|c| f.decode(c)).collect();
        assert_eq!(values[..8], [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
    }

    #[test]
    fn fp4_packs_low_nibble_first() {
        let s = FloatScheme { format: FloatFormat::Fp4E2m1 };
        let q = s.quantize(&[1.0, -6.0, 0.5], &[3]).unwrap();
        assert_eq!(q.packed, vec![0xf2, 0x01]);
        assert_eq!(s.dequantize(&q.packed, &[3]).unwrap(), vec![1.0, -6.0, 0.5]);
        assert_eq!((q.levels_used, q.levels_total), (3, 16));
    }

    #[test]
    fn every_code_round_trips() {
        for f in FloatFormat::ALL {
            for c in 0..(1u32 << f.bits()) {
                let v = f.decode(c as u16);
                if v.is_finite() {
                    assert_eq!(f.encode(v), c as u16, "{} code {c:#x} = {v}", f.id());
                }
            }
        }
    }

    #[test]
    fn empty_tensor_packs_to_nothing() {
        for f in FloatFormat::ALL {
            let q = FloatScheme { format: f }.quantize(&[], &[0]).unwrap();
            assert!(q.packed.is_empty() && q.dequantized.is_empty());
        }
    }
}
