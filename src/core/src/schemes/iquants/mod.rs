//! llama.cpp's grid ("i-quant") types below 4 bits: IQ2_XXS, IQ2_XS, IQ2_S ([`iq2`]), IQ3_XXS,
//! IQ3_S ([`iq3`]), IQ1_S and IQ1_M ([`iq1`]). Each quantizer ports `quantize_row_iq*_impl`
//! (`ggml/src/ggml-quants.c`) float operation for float operation, with the grids' lookup tables
//! built once ([`lattice`], `iq2xs_init_impl` / `iq3xs_init_impl`), so the packed bytes are
//! `ggml_quantize_chunk`'s byte for byte; decoding is [`crate::ggml_dequant::iquants`]. Both are
//! held to fixtures from `scripts/fixtures/make_imatrix_quants.py` in
//! `src/core/tests/imatrix_quants_fixtures.rs`.
//!
//! | id        | bytes/256 | bits/weight | grid | sub-block scale       | importance vector |
//! |-----------|-----------|-------------|------|-----------------------|-------------------|
//! | `iq3_s`   | 110       | 3.4375      | 512 × 4 | 4 bits per 32      | optional          |
//! | `iq3_xxs` | 98        | 3.0625      | 256 × 4 | 4 bits per 32      | optional          |
//! | `iq2_s`   | 82        | 2.5625      | 1024 × 8 | 4 bits per 16     | optional          |
//! | `iq2_xs`  | 74        | 2.3125      | 512 × 8 | 4 bits per 16      | required          |
//! | `iq2_xxs` | 66        | 2.0625      | 256 × 8 | 4 bits per 32      | required          |
//! | `iq1_m`   | 56        | 1.75        | 2048 × 8 | 3 bits per 16     | optional          |
//! | `iq1_s`   | 50        | 1.5625      | 2048 × 8 | 3 bits per 32     | required          |
//!
//! "Required" is `ggml_quantize_requires_imatrix`: llama.cpp asserts an importance matrix for
//! IQ2_XXS, IQ2_XS and IQ1_S, and quantscope's plain [`Scheme::quantize`] refuses them with an
//! error naming [`crate::schemes::quantize_with_importance`]; the others quantize without one as
//! `quantize_iq3_xxs(…, NULL)` etc. do (weights from the values alone).
//!
//! quantscope's rules where the reference has none: rows are whole 256-value super-blocks with an
//! importance vector (as llama.cpp asserts); without one the tensor is flattened and zero-padded
//! to whole super-blocks (padding decodes and is dropped, as for the K-quants). Values must be
//! finite: NaN or ±Inf is refused naming the value (the searches would carry it into every scale).
//! Finite values so large that llama.cpp aborts (a scale that is NaN, a point off the grid) or
//! reads out of bounds (`iq1_find_best_neighbour2`'s fallback) are refused naming the block.
//!
//! `Quantized::params` holds each super-block's `d` (IQ1_M: the one spread over its scales);
//! `levels_*` count grid points used of the grid's; `clipped` counts values whose magnitude is
//! beyond every decoded magnitude of their super-block.

// The ports index their loops as the C code does, so they can be read beside it line by line.
#![allow(clippy::needless_range_loop)]

mod iq1;
mod iq2;
mod iq3;
mod lattice;
mod search;
// IQ2_XXS/IQ2_XS/IQ2_S/IQ3_XXS/IQ3_S dequantize, eight values a step; the references they equal are
// `ggml_dequant::iquants`'s.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
mod simd128;

use super::{Decoding, Param, Quantized, Scheme};
use crate::error::{Error, Result};
use crate::{ggml_dequant, ggml_types};

/// One of these types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqType {
    Iq3S,
    Iq3Xxs,
    Iq2S,
    Iq2Xs,
    Iq2Xxs,
    Iq1M,
    Iq1S,
}

/// Where llama.cpp's quantizer aborts (`GGML_ASSERT`, `GGML_ABORT`) or reads out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// A scale that is not ≥ 0 (NaN): `GGML_ASSERT(scale >= 0)`.
    Scale,
    /// Levels that are not a grid point after the search: "Oops: found point not on grid".
    OffGrid,
    /// No neighbour at a finite distance (`GGML_ASSERT(grid_index >= 0)`, or IQ1's fallback
    /// that reads past its values).
    NoNeighbour,
}

impl Abort {
    fn why(self) -> &'static str {
        match self {
            Abort::Scale => "its scale comes out NaN (GGML_ASSERT(scale >= 0))",
            Abort::OffGrid => "its levels fall off the grid (\"Oops: found point not on grid\")",
            Abort::NoNeighbour => "no grid point is at a finite distance from its values",
        }
    }
}

/// Every id of this family, most bits first.
pub fn ids() -> Vec<String> {
    IqType::ALL.iter().map(|t| t.id().to_string()).collect()
}

/// The scheme with this id, if it is one of this family's.
pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    IqType::from_id(id).map(|t| Box::new(t) as Box<dyn Scheme>)
}

/// The bytes a tensor of `shape` packs into under `id` (`None`: not this family's id).
pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let t = IqType::from_id(id)?;
    Some(super::element_count(shape).map(|n| n.div_ceil(256) * t.block_bytes() as u64))
}

impl IqType {
    pub const ALL: [IqType; 7] = [IqType::Iq3S, IqType::Iq3Xxs, IqType::Iq2S, IqType::Iq2Xs, IqType::Iq2Xxs, IqType::Iq1M, IqType::Iq1S];

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    pub fn id(self) -> &'static str {
        self.facts().name
    }

    /// The type's row in the ggml type table.
    pub fn facts(self) -> &'static ggml_types::GgmlType {
        match self {
            IqType::Iq2Xxs => &ggml_types::IQ2_XXS,
            IqType::Iq2Xs => &ggml_types::IQ2_XS,
            IqType::Iq2S => &ggml_types::IQ2_S,
            IqType::Iq3Xxs => &ggml_types::IQ3_XXS,
            IqType::Iq3S => &ggml_types::IQ3_S,
            IqType::Iq1S => &ggml_types::IQ1_S,
            IqType::Iq1M => &ggml_types::IQ1_M,
        }
    }

    /// Bytes per 256-value super-block.
    pub fn block_bytes(self) -> usize {
        self.facts().bytes as usize
    }

    /// `ggml_quantize_requires_imatrix`: llama.cpp refuses to quantize without one.
    pub fn requires_importance(self) -> bool {
        super::requires_importance(self.id())
    }

    /// Grid points (the "levels" a group of values can take).
    fn grid_points(self) -> usize {
        match self {
            IqType::Iq2Xxs | IqType::Iq3Xxs => 256,
            IqType::Iq2Xs | IqType::Iq3S => 512,
            IqType::Iq2S => 1024,
            IqType::Iq1S | IqType::Iq1M => 2048,
        }
    }

    /// Quantizes one super-block of 256 finite values into `out` (`block_bytes()` long) with
    /// the block's 256 importance weights (`None` only for the types that allow it).
    fn quantize_block(self, x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) -> std::result::Result<(), Abort> {
        let need = || qw.expect("checked by pack: this type requires importance weights");
        match self {
            IqType::Iq2Xxs => iq2::iq2_xxs(x, need(), out),
            IqType::Iq2Xs => iq2::iq2_xs(x, need(), out),
            IqType::Iq2S => iq2::iq2_s(x, qw, out),
            IqType::Iq3Xxs => iq3::iq3_xxs(x, qw, out),
            IqType::Iq3S => iq3::iq3_s(x, qw, out),
            IqType::Iq1S => iq1::iq1_s(x, need(), out),
            IqType::Iq1M => iq1::iq1_m(x, qw, out),
        }
    }

    /// Quantizes with llama.cpp's importance vector (one weight per column; rows whole
    /// super-blocks): `ggml_quantize_chunk(type, …, imatrix)`.
    pub fn quantize_with_importance(self, values: &[f32], shape: &[usize], importance: &[f32]) -> Result<Quantized> {
        super::check_importance(self.id(), 256, values, shape, importance)?;
        super::keep(&mut |d| self.quantize_impl(values, Some(importance), d))
    }

    /// The packed bytes alone (`ggml_quantize_chunk`'s output, what the GGUF writer stores):
    /// `values` zero-padded to whole super-blocks, `importance` one weight per column of rows of
    /// its length (a whole number of super-blocks; the caller checks, as
    /// [`Self::quantize_with_importance`] does). Errors for non-finite values and where
    /// llama.cpp aborts.
    pub fn pack(self, values: &[f32], importance: Option<&[f32]>) -> Result<Vec<u8>> {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "{}: value {i} is {}; llama.cpp's grid quantizers take finite values only",
                self.id(),
                values[i]
            )));
        }
        if importance.is_none() && self.requires_importance() {
            return Err(self.needs_importance());
        }
        let bb = self.block_bytes();
        let blocks = values.len().div_ceil(256);
        let mut packed = vec![0u8; blocks * bb];
        let mut buf = [0.0f32; 256];
        for (b, out) in packed.chunks_exact_mut(bb).enumerate() {
            let chunk = &values[256 * b..values.len().min(256 * (b + 1))];
            buf.fill(0.0);
            buf[..chunk.len()].copy_from_slice(chunk);
            let qw = importance.map(|w| &w[(256 * b) % w.len()..][..256]);
            self.quantize_block(&buf, qw, out).map_err(|a| {
                Error::InvalidArgument(format!(
                    "{}: llama.cpp cannot quantize super-block {b} (values {}..{}): {}",
                    self.id(),
                    256 * b,
                    256 * b + chunk.len(),
                    a.why()
                ))
            })?;
        }
        Ok(packed)
    }

    /// The error of a plain quantize of a type that needs an importance vector.
    fn needs_importance(self) -> Error {
        Error::InvalidArgument(format!(
            "{} needs an importance matrix (llama.cpp's ggml_quantize_requires_imatrix): quantize it with one \
             (an imatrix file from llama-imatrix)",
            self.id()
        ))
    }

    fn quantize_impl(self, values: &[f32], importance: Option<&[f32]>, out: &mut dyn Decoding) -> Result<Quantized> {
        let packed = self.pack(values, importance)?;
        let bb = self.block_bytes();
        let mut clipped = 0;
        super::fill(out, values, 256, &mut |s, deq| {
            ggml_dequant::dequantize(self.id(), &packed[s / 256 * bb..][..deq.len() / 256 * bb], deq)
                .expect("whole blocks of a type with a dequantizer");
            clipped += values[s..values.len().min(s + deq.len())]
                .chunks(256)
                .zip(deq.chunks(256))
                .map(|(x, y)| {
                    let top = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    x.iter().filter(|v| v.abs() > top).count()
                })
                .sum::<usize>();
        });
        Ok(Quantized {
            params: vec![Param { name: "d", values: packed.chunks_exact(bb).map(|b| self.block_d(b)).collect() }],
            levels_used: self.points_used(&packed),
            levels_total: self.grid_points(),
            packed,
            dequantized: Vec::new(),
            clipped,
        })
    }

    /// A super-block's `d`, decoded.
    fn block_d(self, b: &[u8]) -> f64 {
        let bits = match self {
            // dequantize_row_iq1_m: the f16 spread over the top nibbles of the 4 scale u16s.
            IqType::Iq1M => {
                let sc = |i: usize| u16::from_le_bytes([b[48 + 2 * i], b[49 + 2 * i]]);
                (sc(0) >> 12) | ((sc(1) >> 8) & 0x00f0) | ((sc(2) >> 4) & 0x0f00) | (sc(3) & 0xf000)
            }
            _ => u16::from_le_bytes([b[0], b[1]]),
        };
        half::f16::from_bits(bits).to_f64()
    }

    /// How many distinct grid points the packed blocks use.
    fn points_used(self, packed: &[u8]) -> usize {
        let bb = self.block_bytes();
        let indices = packed.chunks_exact(bb).flat_map(move |b| {
            let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
            (0..256 / self.values_per_point()).map(move |g| match self {
                IqType::Iq2Xxs => b[2 + 8 * (g / 4) + g % 4] as usize,
                IqType::Iq2Xs => u16_at(2 + 2 * g) & 511,
                IqType::Iq2S => b[2 + g] as usize | (((b[66 + g / 4] >> (2 * (g % 4))) & 3) as usize) << 8,
                IqType::Iq3Xxs => b[2 + g] as usize,
                IqType::Iq3S => b[2 + g] as usize | (((b[66 + g / 8] >> (g % 8)) & 1) as usize) << 8,
                IqType::Iq1S => b[2 + g] as usize | ((u16_at(34 + 2 * (g / 4)) >> (3 * (g % 4))) & 7) << 8,
                IqType::Iq1M => b[g] as usize | (((b[32 + g / 2] >> (4 * (g % 2))) & 7) as usize) << 8,
            })
        });
        super::distinct_codes(indices, self.grid_points(), self.grid_points())
    }

    /// Values per grid point.
    fn values_per_point(self) -> usize {
        match self {
            IqType::Iq3Xxs | IqType::Iq3S => 4,
            _ => 8,
        }
    }
}

fn check_count(values: &[f32], shape: &[usize]) -> Result<()> {
    let n = super::element_count(shape)?;
    if n != values.len() as u64 {
        return Err(Error::InvalidArgument(format!("shape {shape:?} holds {n} values, got {}", values.len())));
    }
    Ok(())
}

impl Scheme for IqType {
    fn id(&self) -> &str {
        IqType::id(*self)
    }

    fn description(&self) -> String {
        let what = match self {
            IqType::Iq3S => "groups of 4 on a 512-point grid, signs, 4-bit scale per 32",
            IqType::Iq3Xxs => "groups of 4 on a 256-point grid, even-parity signs, 4-bit scale per 32",
            IqType::Iq2S => "groups of 8 on a 1024-point grid, signs, 4-bit scale per 16",
            IqType::Iq2Xs => "groups of 8 on a 512-point grid, even-parity signs, 4-bit scale per 16; needs an importance matrix",
            IqType::Iq2Xxs => "groups of 8 on a 256-point grid, even-parity signs, 4-bit scale per 32; needs an importance matrix",
            IqType::Iq1M => "groups of 8 of −1, 0, 1 (shifted ±1/8) on a 2048-point grid, 3-bit scale per 16",
            IqType::Iq1S => "groups of 8 of −1, 0, 1 (shifted ±1/8) on a 2048-point grid, 3-bit scale per 32; needs an importance matrix",
        };
        format!(
            "GGML {} ({} bits/weight): super-blocks of 256, {what}; llama.cpp's ggml_quantize_chunk",
            self.id().to_ascii_uppercase(),
            self.facts().bits_per_weight()
        )
    }

    fn quantize_to(&self, values: &[f32], shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        check_count(values, shape)?;
        if self.requires_importance() {
            return Err(self.needs_importance());
        }
        self.quantize_impl(values, None, out)
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n = usize::try_from(super::element_count(shape)?)
            .map_err(|_| Error::InvalidArgument(format!("shape {shape:?} has too many elements")))?;
        let blocks = n.div_ceil(256);
        let expected = blocks * self.block_bytes();
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{} data for shape {shape:?} is {expected} bytes ({blocks} blocks of {}), got {}",
                self.id(),
                self.block_bytes(),
                packed.len()
            )));
        }
        let mut y = vec![0.0f32; blocks * 256];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
        match self {
            IqType::Iq2Xxs => simd128::dequantize_iq2_xxs(packed, &mut y),
            IqType::Iq2Xs => simd128::dequantize_iq2_xs(packed, &mut y),
            IqType::Iq2S => simd128::dequantize_iq2_s(packed, &mut y),
            IqType::Iq3Xxs => simd128::dequantize_iq3_xxs(packed, &mut y),
            IqType::Iq3S => simd128::dequantize_iq3_s(packed, &mut y),
            _ => ggml_dequant::dequantize(self.id(), packed, &mut y).expect("whole blocks of a type with a dequantizer"),
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels")))]
        ggml_dequant::dequantize(self.id(), packed, &mut y).expect("whole blocks of a type with a dequantizer");
        y.truncate(n);
        Ok(y)
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
        let got: Vec<(&str, usize, f64, bool)> =
            IqType::ALL.iter().map(|t| (t.id(), t.block_bytes(), t.facts().bits_per_weight(), t.requires_importance())).collect();
        assert_eq!(
            got,
            [
                ("iq3_s", 110, 3.4375, false),
                ("iq3_xxs", 98, 3.0625, false),
                ("iq2_s", 82, 2.5625, false),
                ("iq2_xs", 74, 2.3125, true),
                ("iq2_xxs", 66, 2.0625, true),
                ("iq1_m", 56, 1.75, false),
                ("iq1_s", 50, 1.5625, true)
            ]
        );
        for t in IqType::ALL {
            assert_eq!(IqType::from_id(t.id()), Some(t));
            assert_eq!(packed_len(t.id(), &[3, 100]).unwrap().unwrap(), 2 * t.block_bytes() as u64);
        }
    }

    #[test]
    fn types_that_need_an_importance_matrix_refuse_without_one() {
        let x = values(512, 1);
        for t in IqType::ALL {
            let plain = t.quantize(&x, &[2, 256]);
            if t.requires_importance() {
                let e = plain.unwrap_err().to_string();
                assert!(e.contains("needs an importance matrix") && e.contains(t.id()), "{e}");
            } else {
                let q = plain.unwrap();
                assert_eq!(q.packed.len(), 2 * t.block_bytes());
                assert_eq!(q.dequantized, t.dequantize(&q.packed, &[2, 256]).unwrap());
            }
            assert!(t.quantize_with_importance(&x, &[2, 256], &[1.0; 256]).is_ok(), "{}", t.id());
        }
    }

    #[test]
    fn bad_input_gets_a_clear_error() {
        let x = values(512, 2);
        let w = vec![1.0f32; 256];
        for t in IqType::ALL {
            let id = t.id();
            let e = t.quantize_with_importance(&x, &[2, 256], &w[..200]).unwrap_err().to_string();
            assert!(e.contains("200 weights but rows have 256"), "{id}: {e}");
            let e = t.quantize_with_importance(&x, &[4, 128], &w[..128]).unwrap_err().to_string();
            assert!(e.contains("not a whole number of 256-value blocks"), "{id}: {e}");
            let e = t.quantize_with_importance(&x, &[3, 256], &w).unwrap_err().to_string();
            assert!(e.contains("holds 768 values"), "{id}: {e}");
            let mut bad_w = w.clone();
            bad_w[9] = f32::NAN;
            assert!(t.quantize_with_importance(&x, &[2, 256], &bad_w).unwrap_err().to_string().contains("weight 9"));
            for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut bad = x.clone();
                bad[300] = v;
                let e = t.quantize_with_importance(&bad, &[2, 256], &w).unwrap_err().to_string();
                assert!(e.contains("value 300 is") && e.contains("finite values only"), "{id}: {e}");
                if !t.requires_importance() {
                    assert!(t.quantize(&bad, &[512]).unwrap_err().to_string().contains("value 300 is"));
                }
            }
            assert!(t.dequantize(&[0; 3], &[256]).unwrap_err().to_string().contains("bytes"));
        }
    }

    #[test]
    fn values_so_large_that_llama_cpp_aborts_are_refused_not_panicked_on() {
        // Σx² overflows to +Inf: the weights go Inf/NaN and the searches cannot fit a scale.
        let mut x = values(256, 3);
        x.iter_mut().for_each(|v| *v *= 1e37);
        for t in IqType::ALL {
            match t.quantize_with_importance(&x, &[256], &[1.0; 256]) {
                Ok(q) => assert_eq!(q.packed.len(), t.block_bytes(), "{}", t.id()),
                Err(e) => assert!(e.to_string().contains("llama.cpp cannot quantize super-block 0"), "{}: {e}", t.id()),
            }
        }
    }

    #[test]
    fn zeros_pad_and_counts() {
        for t in IqType::ALL {
            let z = t.quantize_with_importance(&[0.0; 512], &[2, 256], &[1.0; 256]).unwrap();
            assert!(z.packed.iter().all(|&b| b == 0) || t == IqType::Iq1M, "{}: zeros pack to zero bytes", t.id());
            assert!(z.dequantized.iter().all(|&v| v == 0.0 || t == IqType::Iq1M));
            assert_eq!(z.params[0].values, [0.0, 0.0], "{}", t.id());
            if !t.requires_importance() {
                // 300 values: two super-blocks, the second zero-padded; the padding is dropped.
                let q = t.quantize(&values(300, 4), &[300]).unwrap();
                assert_eq!((q.packed.len(), q.dequantized.len()), (2 * t.block_bytes(), 300));
                assert!(q.levels_used > 1 && q.levels_used <= q.levels_total, "{}", t.id());
                assert_eq!(q.levels_total, t.grid_points());
            }
        }
    }
}
