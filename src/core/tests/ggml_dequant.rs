//! The dequantizers of the types quantscope only reads (IQ*, TQ*, NVFP4, Q1_0, Q2_0, Q8_1,
//! Q8_K) against llama.cpp's `dequantize_row_*` (and gguf-py 0.19, which agrees): fixtures from
//! scripts/fixtures/make_ggml_dequant.py. The input blocks are regenerated here with the
//! script's xorshift64, so only their first values and an FNV-1a hash of all of them are
//! committed; 4096 blocks use every grid entry.

use quantscope_core::ggml_dequant;
use quantscope_core::ggml_types;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Fixture {
    seed: String,
    blocks: usize,
    first: Vec<String>,
    fnv1a64: String,
}

#[derive(Deserialize)]
struct File {
    types: BTreeMap<String, Fixture>,
}

/// The script's `sane_f16`: a finite f16 in ±[2^-4, 2^2).
fn sane_f16(r: &mut crate::common::Xorshift) -> u16 {
    let v = r.next();
    (((v & 1) << 15) | (0x2c00 + (v >> 1) % 0x1800)) as u16
}

/// The script's `blocks()`: generator bytes with every scale field set to a sane value.
fn blocks(name: &str, seed: u64, count: usize) -> Vec<u8> {
    let size = ggml_types::by_name(name).unwrap().bytes as usize;
    let mut r = crate::common::Xorshift(seed);
    let mut raw: Vec<u8> = (0..count * size).map(|_| r.next() as u8).collect();
    for b in 0..count {
        let o = b * size;
        match name {
            "q8_k" => {
                let v = r.next();
                let bits = ((v & 1) << 31) as u32 | (0x3c00_0000 + ((v >> 1) % 0x80_0000) as u32);
                raw[o..o + 4].copy_from_slice(&bits.to_le_bytes());
            }
            "iq1_m" => {
                let d = sane_f16(&mut r);
                for k in 0..4 {
                    let i = o + 48 + 2 * k + 1;
                    raw[i] = (raw[i] & 0x0f) | ((((d >> (4 * k)) & 0xf) as u8) << 4);
                }
            }
            _ => {
                let offsets: &[usize] = match name {
                    "q8_1" => &[0, 2],
                    "tq1_0" => &[52],
                    "tq2_0" => &[64],
                    "nvfp4" => &[],
                    _ => &[0],
                };
                for &off in offsets {
                    let d = sane_f16(&mut r);
                    raw[o + off..o + off + 2].copy_from_slice(&d.to_le_bytes());
                }
            }
        }
    }
    raw
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_type_equals_llama_cpp_bit_for_bit() {
    let file: File = serde_json::from_str(fixture_str!("ggml_dequant/ggml_dequant.json")).unwrap();
    assert_eq!(file.types.len(), 16, "every type the script covers");
    for (name, f) in &file.types {
        let t = ggml_types::by_name(name).unwrap_or_else(|| panic!("{name} is in the ggml type table"));
        let raw = blocks(name, u64::from_str_radix(&f.seed, 16).unwrap(), f.blocks);
        let mut out = vec![0f32; f.blocks * t.block as usize];
        ggml_dequant::dequantize(name, &raw, &mut out).unwrap_or_else(|| panic!("{name} has a dequantizer"));
        for (i, want) in f.first.iter().enumerate() {
            let want = u32::from_str_radix(want, 16).unwrap();
            assert_eq!(out[i].to_bits(), want, "{name} value {i}: {} vs {}", out[i], f32::from_bits(want));
        }
        assert_eq!(format!("{:016x}", crate::common::fnv1a64(&out)), f.fnv1a64, "{name}: the hash of all {} values", out.len());
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn partial_blocks_and_unknown_types_are_refused() {
    let mut out = vec![0f32; 256];
    assert!(ggml_dequant::dequantize("iq2_xxs", &[0; 65], &mut out).is_none());
    assert!(ggml_dequant::dequantize("iq2_xxs", &[0; 66], &mut out[..255]).is_none());
    assert!(ggml_dequant::dequantize("q4_0", &[0; 18], &mut out[..32]).is_none(), "q4_0 is a scheme, not here");
    assert!(ggml_dequant::dequantize("iq2_xxs", &[0; 66], &mut out).is_some());
    assert!(out.iter().all(|&v| v == 0.0));
}

/// The IQ schemes' `dequantize` (with `fast-kernels` in SIMD128, IQ2_* and IQ3_*'s
/// `schemes/iquants/simd128.rs`) equals the block references bit for bit on arbitrary bytes,
/// with f16 scales that are NaN, ±Inf, subnormal or ±0 in some blocks.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn iq_dequantize_equals_the_block_references() {
    let mut rng = crate::common::Xorshift(0x2545_F491_4F6C_DD1D);
    let mut next = move || (rng.next() >> 32) as u8;
    let scales: [[u8; 2]; 6] = [[0x00, 0x7e], [0x00, 0x7c], [0x00, 0xfc], [0x01, 0x00], [0x00, 0x80], [0x55, 0x3c]];
    for name in ["iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"] {
        let bb = ggml_types::by_name(name).unwrap().bytes as usize;
        let reference = ggml_dequant::dequantizer(name).unwrap();
        let scheme = quantscope_core::schemes::by_id(name).unwrap();
        for blocks in [1usize, 3] {
            let mut packed: Vec<u8> = (0..bb * blocks).map(|_| next()).collect();
            for (b, bytes) in packed.chunks_exact_mut(bb).enumerate() {
                if name != "iq1_m" {
                    bytes[..2].copy_from_slice(&scales[(b + blocks) % scales.len()]);
                }
            }
            let got = scheme.dequantize(&packed, &[blocks * 256]).unwrap();
            let mut want = vec![0f32; blocks * 256];
            for (b, y) in packed.chunks_exact(bb).zip(want.chunks_exact_mut(256)) {
                reference(b, y);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{name}: {blocks} blocks");
        }
    }
}
