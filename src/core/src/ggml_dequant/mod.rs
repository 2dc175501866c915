//! Dequantizers for the ggml types outside the legacy and K-quant schemes: the IQ types
//! (grids of lattice points, [`iquants`]), the ternary TQ1_0/TQ2_0, NVFP4, Q1_0, Q2_0, Q8_1
//! and Q8_K ([`blocks`]). quantscope reads all of them; IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, NVFP4,
//! Q1_0 and Q2_0 it also writes (`schemes::ggml_extra`, which decodes through these), and the
//! IQ1/IQ2/IQ3 grid types (`schemes::iquants`). Each ports llama.cpp's `dequantize_row_*` (`ggml/src/ggml-quants.c`)
//! operation for operation, in f32, so the values are bit-identical to the C library's (and to
//! gguf-py 0.19's, which agrees where it has the type): `src/core/tests/ggml_dequant.rs` holds
//! them to fixtures from `scripts/fixtures/make_ggml_dequant.py`. Q8_1 has no dequantizer
//! upstream (ggml only quantizes to it, for dot products); its values are `d·q`, as the block's
//! definition says (`block_q8_1`, whose second f16 `s = d·Σq` is not needed).
//!
//! Block sizes come from the ggml type table ([`crate::ggml_types`]).

pub mod blocks;
#[rustfmt::skip] // generated: scripts/fixtures/make_ggml_dequant.py writes it as it is
pub(crate) mod grid_codes;
pub mod grids;
pub mod iquants;

use crate::ggml_types;

/// Dequantizes one block (`raw` exactly the type's bytes per block) into its values.
pub type BlockDequantizer = fn(raw: &[u8], out: &mut [f32]);

/// The block dequantizer of the type named `name` (ggml's lowercase name), if it is one of
/// these.
pub fn dequantizer(name: &str) -> Option<BlockDequantizer> {
    Some(match name {
        "q1_0" => blocks::q1_0,
        "q2_0" => blocks::q2_0,
        "q8_1" => blocks::q8_1,
        "q8_k" => blocks::q8_k,
        "tq1_0" => blocks::tq1_0,
        "tq2_0" => blocks::tq2_0,
        "nvfp4" => blocks::nvfp4,
        "iq2_xxs" => iquants::iq2_xxs,
        "iq2_xs" => iquants::iq2_xs,
        "iq2_s" => iquants::iq2_s,
        "iq3_xxs" => iquants::iq3_xxs,
        "iq3_s" => iquants::iq3_s,
        "iq1_s" => iquants::iq1_s,
        "iq1_m" => iquants::iq1_m,
        "iq4_nl" => iquants::iq4_nl,
        "iq4_xs" => iquants::iq4_xs,
        _ => return None,
    })
}

/// Dequantizes whole blocks of the type `name` from `raw` into `out` (as many values as the
/// blocks hold). `None` when the type has no dequantizer here or the lengths are not whole
/// blocks of each other.
pub fn dequantize(name: &str, raw: &[u8], out: &mut [f32]) -> Option<()> {
    let f = dequantizer(name)?;
    let t = ggml_types::by_name(name)?;
    let (block, bytes) = (t.block as usize, t.bytes as usize);
    if raw.len() % bytes != 0 || out.len() != raw.len() / bytes * block {
        return None;
    }
    for (b, y) in raw.chunks_exact(bytes).zip(out.chunks_exact_mut(block)) {
        f(b, y);
    }
    Some(())
}

/// The little-endian f16 at `o`, as f32 (`GGML_FP16_TO_FP32`).
#[inline]
fn f16_at(b: &[u8], o: usize) -> f32 {
    half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32()
}

#[inline]
fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

#[inline]
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
