//! The grids the IQ quantizers search, with llama.cpp's lookup tables: `iq2xs_init_impl` and
//! `iq3xs_init_impl` (`ggml/src/ggml-quants.c`), built once per grid (a `OnceLock` each, as
//! `ggml_quantize_init` does once per type).
//!
//! A grid point is 8 (IQ2, IQ1) or 4 (IQ3) small levels `l`, stored as `2·l + 1`. The map takes
//! the point's levels, packed `bits` per value, to its grid index; for a packed point that is not
//! on the grid it gives the list of grid points nearest to it: every point at the `nwant`
//! smallest squared distances, by distance then index (C sorts `(d2, j)` pairs, a total order).
//! C lists neighbours for every index below `kmap_size`; the quantizers clamp levels to
//! `0..=kMaxQ-1`, so quantscope builds the lists only for the points made of those levels (IQ2:
//! 3^8 of 4^8) and marks the rest unreachable.

use crate::ggml_dequant::grid_codes::{IQ1S_CODES, IQ2S_CODES, IQ2XS_CODES, IQ2XXS_CODES, IQ3S_CODES, IQ3XXS_CODES};
use std::sync::OnceLock;

/// A grid with its map and neighbour lists.
pub(super) struct Lattice {
    /// Values per grid point (8 or 4).
    pub width: usize,
    bits: u32,
    /// `grid[width·j + i]`: value i of point j, `2·l + 1`.
    grid: Vec<i8>,
    /// Packed levels → grid index (≥ 0), or `-(start + 1)` of its neighbour list in
    /// `neighbours` (C's `kmap_q2xs` / `kmap_q3xs`), or [`UNREACHABLE`].
    map: Vec<i32>,
    /// Each list: its length, then the grid indices.
    neighbours: Vec<u16>,
}

/// A map entry for packed levels the quantizers never form (a level beyond `kMaxQ - 1`).
const UNREACHABLE: i32 = i32::MIN;

/// Where packed levels fall on a lattice.
pub(super) enum Lookup<'a> {
    OnGrid(usize),
    /// Not a grid point: the neighbour list (grid indices).
    Off(&'a [u16]),
    /// Levels no quantizer forms (C would read an entry it never filled, or past the map).
    Invalid,
}

impl Lattice {
    /// `iq2xs_init_impl` / `iq3xs_init_impl`: `codes` are the grid's `kgrid_*` (levels packed
    /// `bits` per value, first value lowest), `nwant` how many distances the lists cover, and
    /// `reachable` the highest level a quantizer forms.
    fn build(codes: &[u16], width: usize, bits: u32, nwant: usize, reachable: u16) -> Lattice {
        let mask = (1u16 << bits) - 1;
        let levels = |c: usize| (0..width).map(move |i| ((c >> (bits as usize * i)) as u16 & mask) as i8);
        let grid: Vec<i8> = codes.iter().flat_map(|&c| levels(c as usize).map(|l| 2 * l + 1)).collect();
        let kmap_size = 1usize << (bits as usize * width);
        let mut map = vec![UNREACHABLE; kmap_size];
        for (j, &c) in codes.iter().enumerate() {
            map[c as usize] = j as i32;
        }
        let mut neighbours = Vec::new();
        let mut dist2 = vec![0i32; codes.len()];
        for (i, entry) in map.iter_mut().enumerate() {
            if *entry >= 0 || levels(i).any(|l| l as u16 > reachable) {
                continue;
            }
            let pos: Vec<i32> = levels(i).map(|l| 2 * l as i32 + 1).collect();
            for (j, d) in dist2.iter_mut().enumerate() {
                *d = grid[width * j..][..width].iter().zip(&pos).map(|(&g, &p)| (g as i32 - p) * (g as i32 - p)).sum();
            }
            // The points at the nwant smallest distinct distances, by distance then index: C's
            // qsort of (d2, j) pairs read until the (nwant+1)-th distance.
            *entry = -(neighbours.len() as i32 + 1);
            let start = neighbours.len();
            neighbours.push(0);
            let mut below = i32::MIN;
            for _ in 0..nwant {
                let Some(d) = dist2.iter().copied().filter(|&d| d > below).min() else { break };
                neighbours.extend(dist2.iter().enumerate().filter(|&(_, &e)| e == d).map(|(j, _)| j as u16));
                below = d;
            }
            neighbours[start] = (neighbours.len() - start - 1) as u16;
        }
        Lattice { width, bits, grid, map, neighbours }
    }

    /// Grid point `j`'s values (`2·l + 1`).
    #[inline]
    pub fn point(&self, j: usize) -> &[i8] {
        &self.grid[self.width * j..][..self.width]
    }

    /// The packed index of `levels` (C: `u |= L[i] << bits·i`, in a uint16_t), as C forms it:
    /// negative or large levels wrap and may land anywhere.
    #[inline]
    pub fn pack(&self, levels: &[i8]) -> usize {
        let mut u = 0u16;
        for (i, &l) in levels.iter().enumerate() {
            u |= ((l as i32) << (self.bits as usize * i)) as u16;
        }
        u as usize
    }

    /// Where packed levels `u` fall.
    #[inline]
    pub fn lookup(&self, u: usize) -> Lookup<'_> {
        match self.map.get(u) {
            Some(&g) if g >= 0 => Lookup::OnGrid(g as usize),
            Some(&g) if g != UNREACHABLE => {
                let start = (-(g + 1)) as usize;
                let n = self.neighbours[start] as usize;
                Lookup::Off(&self.neighbours[start + 1..][..n])
            }
            _ => Lookup::Invalid,
        }
    }

    /// How many grid points.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.grid.len() / self.width
    }
}

macro_rules! lattice {
    ($name:ident, $codes:expr, $width:literal, $bits:literal, $nwant:literal, $reach:literal) => {
        pub(super) fn $name() -> &'static Lattice {
            static L: OnceLock<Lattice> = OnceLock::new();
            L.get_or_init(|| Lattice::build(&$codes, $width, $bits, $nwant, $reach))
        }
    };
}

// iq2xs_init_impl: nwant 2 for IQ2_XXS and IQ2_XS, 1 for IQ2_S, 3 for IQ1_S/IQ1_M.
lattice!(iq2xxs, IQ2XXS_CODES, 8, 2, 2, 2);
lattice!(iq2xs, IQ2XS_CODES, 8, 2, 2, 2);
lattice!(iq2s, IQ2S_CODES, 8, 2, 1, 2);
lattice!(iq1s, iq1s_kgrid(), 8, 2, 3, 2);
// iq3xs_init_impl: nwant 2 for the 256-point grid (IQ3_XXS), 3 for the 512-point one (IQ3_S).
lattice!(iq3xxs, IQ3XXS_CODES, 4, 3, 2, 7);
lattice!(iq3s, IQ3S_CODES, 4, 3, 3, 7);

/// `kgrid_1bit_2048`: the IQ1 grid with levels 0, 1, 2 for −1, 0, +1. grid_codes.rs stores it by
/// the dequantizer's byte values (code 0 → 0, 1 → +1, 2 → −1), so the digits are renumbered.
fn iq1s_kgrid() -> [u16; 2048] {
    const TO_LEVEL: [u16; 3] = [1, 2, 0];
    std::array::from_fn(|k| (0..8).fold(0u16, |u, j| u | TO_LEVEL[((IQ1S_CODES[k] >> (2 * j)) & 3) as usize] << (2 * j)))
}

/// `iq2_find_best_neighbour` / `iq3_find_best_neighbour`: the neighbour nearest to `xval` at
/// `scale` under `weight` (the first of equals); writes its levels to `l`, returns its index.
pub(super) fn find_best_neighbour(lat: &Lattice, neighbours: &[u16], xval: &[f32], weight: &[f32], scale: f32, l: &mut [i8]) -> usize {
    let mut best_d2 = f32::MAX;
    let mut grid_index = None;
    for &j in neighbours {
        let pg = lat.point(j as usize);
        let mut d2 = 0.0f32;
        for i in 0..lat.width {
            let diff = scale * pg[i] as f32 - xval[i];
            d2 += weight[i] * diff * diff;
        }
        if d2 < best_d2 {
            best_d2 = d2;
            grid_index = Some(j as usize);
        }
    }
    // C asserts a neighbour was found; with NaN distances none is (the caller reports it).
    let g = grid_index.unwrap_or(usize::MAX);
    if g != usize::MAX {
        for (li, &p) in l.iter_mut().zip(lat.point(g)) {
            *li = (p - 1) / 2;
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_neighbour_lists_as_iq2xs_init_impl_builds_them() {
        let l = iq2xxs();
        assert_eq!(l.len(), 256);
        // Every grid point maps to itself.
        for j in 0..l.len() {
            let levels: Vec<i8> = l.point(j).iter().map(|p| (p - 1) / 2).collect();
            assert!(matches!(l.lookup(l.pack(&levels)), Lookup::OnGrid(g) if g == j));
        }
        // All-twos (levels 2 → value 5 everywhere) is not on the IQ2_XXS grid; its neighbours are
        // every point at the two smallest distances, in index order.
        let u = l.pack(&[2; 8]);
        let Lookup::Off(n) = l.lookup(u) else { panic!("all-twos on the grid") };
        let d2 = |j: u16| l.point(j as usize).iter().map(|&g| (g as i32 - 5).pow(2)).sum::<i32>();
        let mut all: Vec<i32> = (0..256).map(|j| d2(j as u16)).collect();
        all.sort_unstable();
        all.dedup();
        assert!(n.windows(2).all(|w| (d2(w[0]), w[0]) < (d2(w[1]), w[1])));
        assert_eq!(n.iter().map(|&j| d2(j)).max(), Some(all[1]));
        assert_eq!(n.len(), (0..256).filter(|&j| d2(j) <= all[1]).count());
        assert!(matches!(l.lookup(l.pack(&[3; 8])), Lookup::Invalid));
        assert!(matches!(l.lookup(60000), Lookup::Invalid));
        assert_eq!(iq1s().len(), 2048);
        assert_eq!(iq2s().len(), 1024);
        assert_eq!(iq3s().len(), 512);
        // IQ3: every packed point is reachable; 4096 − 256 lists.
        let l3 = iq3xxs();
        assert_eq!((0..4096).filter(|&u| matches!(l3.lookup(u), Lookup::Off(_))).count(), 4096 - 256);
    }

    #[test]
    fn the_iq1_grid_decodes_as_ggml_common_h_spells_it() {
        // iq1s_grid[0] is all −1 (level 0 → 2·0 + 1 = 1 → (1 − 3)/2 = −1).
        assert_eq!(iq1s().point(0), [1; 8]);
        assert_eq!(iq1s_kgrid()[0], 0);
    }
}
