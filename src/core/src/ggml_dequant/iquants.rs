//! The IQ types, one 256-value super-block at a time (IQ4_NL: 32), following `dequantize_row_iq*`
//! in llama.cpp's `ggml/src/ggml-quants.c`. The "i-quants" store indices into grids of lattice
//! points (`iq2xxs_grid` ..., expanded in grids.rs) with signs and small block scales under one f16 `d`.
//! Every product is taken in the C code's order (`db · grid · ±1`), so the values are its bits.

use super::grids::{self, KSIGNS_IQ2XS, KVALUES_IQ4NL};
use super::{f16_at, u16_at, u32_at};

/// `IQ1S_DELTA` (`ggml-common.h`): the shift of the IQ1 grids.
pub const IQ1S_DELTA: f32 = 0.125;

/// Byte `j` of a grid entry (first value in the lowest byte).
#[inline]
fn byte(entry: u64, j: usize) -> u8 {
    (entry >> (8 * j)) as u8
}

/// `signs & kmask_iq2xs[j] ? −1 : 1`.
#[inline]
fn sign(signs: u8, j: usize) -> f32 {
    if signs & (1 << j) != 0 {
        -1.0
    } else {
        1.0
    }
}

/// Eight values `db · grid[j] · sign` of one grid entry.
#[inline]
fn put8(y: &mut [f32], db: f32, entry: u64, signs: u8) {
    for (j, v) in y[..8].iter_mut().enumerate() {
        *v = db * byte(entry, j) as f32 * sign(signs, j);
    }
}

/// `block_iq2_xxs` (66 bytes): f16 `d`, then per 32 values two u32: four 8-bit grid indices,
/// and four 7-bit sign indices with a 4-bit scale on top.
pub fn iq2_xxs(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for ib32 in 0..8 {
        let o = 2 + 8 * ib32;
        let aux1 = u32_at(b, o + 4);
        let db = d * (0.5 + (aux1 >> 28) as f32) * 0.25;
        for l in 0..4 {
            let signs = KSIGNS_IQ2XS[((aux1 >> (7 * l)) & 127) as usize];
            put8(&mut y[32 * ib32 + 8 * l..], db, grids::iq2xxs()[b[o + l] as usize], signs);
        }
    }
}

/// `block_iq2_xs` (74 bytes): f16 `d`, 32 × u16 (9-bit grid index, 7-bit sign index), 8 bytes
/// of two 4-bit scales.
pub fn iq2_xs(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for ib32 in 0..8 {
        let sc = b[66 + ib32];
        let db = [d * (0.5 + (sc & 0xf) as f32) * 0.25, d * (0.5 + (sc >> 4) as f32) * 0.25];
        for l in 0..4 {
            let q = u16_at(b, 2 + 2 * (4 * ib32 + l));
            put8(&mut y[32 * ib32 + 8 * l..], db[l / 2], grids::iq2xs()[(q & 511) as usize], KSIGNS_IQ2XS[(q >> 9) as usize]);
        }
    }
}

/// `block_iq2_s` (82 bytes): f16 `d`, 32 low index bytes, 32 sign bytes, 8 bytes of high index
/// bits, 8 bytes of two 4-bit scales.
pub fn iq2_s(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let (qs, signs, qh, scales) = (&b[2..34], &b[34..66], &b[66..74], &b[74..82]);
    for ib32 in 0..8 {
        let db = [d * (0.5 + (scales[ib32] & 0xf) as f32) * 0.25, d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25];
        for l in 0..4 {
            let idx = qs[4 * ib32 + l] as usize | (((qh[ib32] as usize) << (8 - 2 * l)) & 0x300);
            put8(&mut y[32 * ib32 + 8 * l..], db[l / 2], grids::iq2s()[idx], signs[4 * ib32 + l]);
        }
    }
}

/// Four values `db · grid[j] · sign` of one IQ3 grid entry, signs `kmask_iq2xs[first..]`.
#[inline]
fn put4(y: &mut [f32], db: f32, entry: u64, signs: u8, first: usize) {
    for (j, v) in y[..4].iter_mut().enumerate() {
        *v = db * byte(entry, j) as f32 * sign(signs, first + j);
    }
}

/// `block_iq3_xxs` (98 bytes): f16 `d`, 64 grid indices, then per 32 values a u32 of four 7-bit
/// sign indices and a 4-bit scale.
pub fn iq3_xxs(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qs = &b[2..66];
    for ib32 in 0..8 {
        let aux = u32_at(b, 66 + 4 * ib32);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for l in 0..4 {
            let signs = KSIGNS_IQ2XS[((aux >> (7 * l)) & 127) as usize];
            let q = &qs[8 * ib32 + 2 * l..];
            let yl = &mut y[32 * ib32 + 8 * l..];
            put4(yl, db, grids::iq3xxs()[q[0] as usize], signs, 0);
            put4(&mut yl[4..], db, grids::iq3xxs()[q[1] as usize], signs, 4);
        }
    }
}

/// `block_iq3_s` (110 bytes): f16 `d`, 64 low index bytes, 8 bytes of high index bits, 32 sign
/// bytes, 4 bytes of two 4-bit scales (`1 + 2·s`).
pub fn iq3_s(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let (qs, qh, signs, scales) = (&b[2..66], &b[66..74], &b[74..106], &b[106..110]);
    for ib32 in (0..8).step_by(2) {
        let db = [d * (1 + 2 * (scales[ib32 / 2] & 0xf) as i32) as f32, d * (1 + 2 * (scales[ib32 / 2] >> 4) as i32) as f32];
        for (half, &dl) in db.iter().enumerate() {
            let ib = ib32 + half;
            let (q, h, s) = (&qs[8 * ib..], qh[ib] as usize, &signs[4 * ib..]);
            for l in 0..4 {
                let i1 = q[2 * l] as usize | ((h << (8 - 2 * l)) & 256);
                let i2 = q[2 * l + 1] as usize | ((h << (7 - 2 * l)) & 256);
                let yl = &mut y[32 * ib + 8 * l..];
                put4(yl, dl, grids::iq3s()[i1], s[l], 0);
                put4(&mut yl[4..], dl, grids::iq3s()[i2], s[l], 4);
            }
        }
    }
}

/// Eight values `dl · (grid[j] + delta)` of one IQ1 grid entry (bytes are i8: −1, 0, 1).
#[inline]
fn put8_iq1(y: &mut [f32], dl: f32, entry: u64, delta: f32) {
    for (j, v) in y[..8].iter_mut().enumerate() {
        *v = dl * (byte(entry, j) as i8 as f32 + delta);
    }
}

/// `block_iq1_s` (50 bytes): f16 `d`, 32 low index bytes, 8 × u16 of four 3-bit high index
/// parts, a 3-bit scale and the delta's sign.
pub fn iq1_s(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for ib in 0..8 {
        let qh = u16_at(b, 34 + 2 * ib) as usize;
        let dl = d * (2 * ((qh >> 12) & 7) + 1) as f32;
        let delta = if qh & 0x8000 != 0 { -IQ1S_DELTA } else { IQ1S_DELTA };
        for l in 0..4 {
            let idx = b[2 + 4 * ib + l] as usize | (((qh >> (3 * l)) & 7) << 8);
            put8_iq1(&mut y[32 * ib + 8 * l..], dl, grids::iq1s()[idx], delta);
        }
    }
}

/// `block_iq1_m` (56 bytes): 32 low index bytes, 16 bytes of 3-bit high index parts and delta
/// signs, 4 × u16 of 3-bit scales whose top nibbles together are the f16 `d`.
pub fn iq1_m(b: &[u8], y: &mut [f32]) {
    let (qs, qh) = (&b[..32], &b[32..48]);
    let sc: [usize; 4] = std::array::from_fn(|k| u16_at(b, 48 + 2 * k) as usize);
    let d_bits = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
    let d = half::f16::from_bits(d_bits as u16).to_f32();
    for ib in 0..8 {
        let s = sc[ib / 2] >> (6 * (ib % 2));
        let dl = [d * (2 * (s & 7) + 1) as f32, d * (2 * ((s >> 3) & 7) + 1) as f32];
        let (q, h) = (&qs[4 * ib..], [qh[2 * ib] as usize, qh[2 * ib + 1] as usize]);
        let idx = [
            q[0] as usize | ((h[0] << 8) & 0x700),
            q[1] as usize | ((h[0] << 4) & 0x700),
            q[2] as usize | ((h[1] << 8) & 0x700),
            q[3] as usize | ((h[1] << 4) & 0x700),
        ];
        let delta = [h[0] & 0x08, h[0] & 0x80, h[1] & 0x08, h[1] & 0x80].map(|m| if m != 0 { -IQ1S_DELTA } else { IQ1S_DELTA });
        for l in 0..4 {
            put8_iq1(&mut y[32 * ib + 8 * l..], dl[l / 2], grids::iq1s()[idx[l]], delta[l]);
        }
    }
}

/// `block_iq4_nl` (18 bytes, 32 values): f16 `d`, 16 bytes of two 4-bit indices into the
/// non-linear table `kvalues_iq4nl` (low nibbles the first 16 values).
pub fn iq4_nl(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = d * KVALUES_IQ4NL[(q & 0xf) as usize] as f32;
        y[j + 16] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
    }
}

/// `block_iq4_xs` (136 bytes): f16 `d`, u16 of 2-bit high scale parts, 4 bytes of 4-bit low
/// parts (scale − 32 per 32 values), 128 bytes of `kvalues_iq4nl` indices.
pub fn iq4_xs(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let scales_h = u16_at(b, 2) as i32;
    for ib in 0..8 {
        let ls = ((b[4 + ib / 2] as i32 >> (4 * (ib % 2))) & 0xf) | (((scales_h >> (2 * ib)) & 3) << 4);
        let dl = d * (ls - 32) as f32;
        for (j, &q) in b[8 + 16 * ib..8 + 16 * ib + 16].iter().enumerate() {
            y[32 * ib + j] = dl * KVALUES_IQ4NL[(q & 0xf) as usize] as f32;
            y[32 * ib + j + 16] = dl * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
        }
    }
}
