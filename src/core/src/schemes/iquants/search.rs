//! The scale search the IQ2 and IQ3 quantizers share (`quantize_row_iq2_xxs_impl`,
//! `quantize_row_iq2_xs_impl`, `quantize_row_iq2_s_impl`, `quantize_row_iq3_xxs_impl`,
//! `quantize_row_iq3_s_impl` in `ggml/src/ggml-quants.c`): for a block of sign-stripped values
//! `xval`, try scales `(2·kMaxQ − 1 + is·step)/max`, round each value to a level, snap each group
//! of `width` levels to the grid (or its best neighbour), keep the trial with the best weighted
//! fit, then re-snap at the fitted scale. Every float operation is C's, in C's order.

use super::lattice::{find_best_neighbour, Lattice, Lookup};
use super::Abort;
use crate::schemes::kquants::reference::nearest_int;

/// Which groups the pass after the trials re-snaps at the fitted scale.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Refine {
    /// Every group, whenever the scale is positive (IQ2_XXS).
    All,
    /// The groups the best trial left off the grid (IQ2_XS, IQ2_S, IQ3_XXS).
    OffGrid,
    /// Every group, when the best trial left any off the grid (IQ3_S, whose `continue` is
    /// commented out upstream; its groups also start as off-grid before any trial wins).
    AllIfAnyOffGrid,
}

pub(super) struct Search {
    pub lattice: &'static Lattice,
    /// `kMaxQ`: levels are `0..kMaxQ`.
    pub kmax: i32,
    /// Trials `is` in `-trials..=trials`.
    pub trials: i32,
    /// `0.1f` (IQ2) or `0.2f` (IQ3).
    pub step: f32,
    pub refine: Refine,
}

/// `nearest_int(0.5f*(id*x-1))` clamped to `0..=lmax`.
#[inline(always)]
pub(super) fn level(id: f32, x: f32, lmax: i32) -> i8 {
    nearest_int(0.5 * (id * x - 1.0)).clamp(0, lmax) as i8
}

/// `Σ w·x·q` and `Σ w·q·q` with `q = 2·L + 1`.
#[inline]
pub(super) fn fit(weight: &[f32], xval: &[f32], l: &[i8]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for ((&w, &x), &li) in weight.iter().zip(xval).zip(l) {
        let q = (2 * li as i32 + 1) as f32;
        sumqx += w * x * q;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

impl Search {
    /// Snaps the levels of each group in `l` to the grid at `scale` (a neighbour where they are
    /// off it); returns whether each group was on the grid as rounded.
    fn snap(&self, xval: &[f32], waux: &[f32], scale: f32, l: &mut [i8], group: usize, on_grid: &mut bool) -> Result<(), Abort> {
        let w = self.lattice.width;
        let at = w * group;
        match self.lattice.lookup(self.lattice.pack(&l[at..at + w])) {
            Lookup::OnGrid(_) => *on_grid = true,
            Lookup::Off(n) => {
                *on_grid = false;
                if find_best_neighbour(self.lattice, n, &xval[at..], &waux[at..], scale, &mut l[at..at + w]) == usize::MAX {
                    return Err(Abort::NoNeighbour);
                }
            }
            Lookup::Invalid => return Err(Abort::OffGrid),
        }
        Ok(())
    }

    /// The trials and the re-snap. `l` holds the starting levels and `scale` the starting scale
    /// (IQ2_XXS: `make_qp_quants`'; the others: zeros and `max/(2·kMaxQ − 1)`); `on_grid` the
    /// groups' starting state. Returns the scale; `l` ends with the levels chosen.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        xval: &[f32],
        weight: &[f32],
        waux: &[f32],
        max: f32,
        mut scale: f32,
        l: &mut [i8],
        on_grid: &mut [bool],
    ) -> Result<f32, Abort> {
        let n = xval.len();
        let groups = n / self.lattice.width;
        let lmax = self.kmax - 1;
        let mut laux = [0i8; 32];
        let laux = &mut laux[..n];
        let mut on_grid_aux = [false; 8];
        let mut best = 0.0f32;
        for is in -self.trials..=self.trials {
            let id = ((2 * self.kmax - 1) as f32 + is as f32 * self.step) / max;
            let this_scale = 1.0 / id;
            for (la, &x) in laux.iter_mut().zip(xval) {
                *la = level(id, x, lmax);
            }
            for (k, og) in on_grid_aux[..groups].iter_mut().enumerate() {
                self.snap(xval, waux, this_scale, laux, k, og)?;
            }
            let (sumqx, sumq2) = fit(weight, xval, laux);
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                scale = sumqx / sumq2;
                best = scale * sumqx;
                l.copy_from_slice(laux);
                on_grid.copy_from_slice(&on_grid_aux[..groups]);
            }
        }
        let any_off = on_grid.iter().any(|&g| !g);
        let refine = match self.refine {
            Refine::All => scale > 0.0,
            Refine::OffGrid | Refine::AllIfAnyOffGrid => any_off && scale > 0.0,
        };
        if refine {
            let id = 1.0 / scale;
            let w = self.lattice.width;
            for k in 0..groups {
                if self.refine == Refine::OffGrid && on_grid[k] {
                    continue;
                }
                for i in w * k..w * (k + 1) {
                    l[i] = level(id, xval[i], lmax);
                }
                let mut ignored = false;
                self.snap(xval, waux, scale, l, k, &mut ignored)?;
            }
            let (sumqx, sumq2) = fit(weight, xval, l);
            if sumq2 > 0.0 {
                scale = sumqx / sumq2;
            }
        }
        Ok(scale)
    }

    /// The grid index of each group of the final levels (C aborts on one off the grid).
    pub fn indices(&self, l: &[i8], out: &mut [u16]) -> Result<(), Abort> {
        let w = self.lattice.width;
        for (k, o) in out.iter_mut().enumerate() {
            match self.lattice.lookup(self.lattice.pack(&l[w * k..w * (k + 1)])) {
                Lookup::OnGrid(g) => *o = g as u16,
                _ => return Err(Abort::OffGrid),
            }
        }
        Ok(())
    }
}

/// `GGML_ASSERT(scale >= 0)`: false for NaN too.
#[inline]
pub(super) fn check_scale(scale: f32) -> Result<(), Abort> {
    if scale >= 0.0 {
        Ok(())
    } else {
        Err(Abort::Scale)
    }
}

/// `MAX(a, b)` as the C macro takes it: `a > b ? a : b`.
#[inline(always)]
pub(super) fn c_max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// `Σ x²` over a super-block, in C's order.
#[inline]
pub(super) fn sum_sq(x: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &v in x {
        s += v * v;
    }
    s
}

/// The sign handling of IQ2_XXS, IQ2_XS and IQ3_XXS: `xval = |x|` for 8 values and their sign
/// bits, made even in number by flipping back the value of least `weight·x²` (the grids' sign
/// indices hold 7 bits; the 8th is the parity). Returns the 7 stored bits.
pub(super) fn even_signs(xb: &[f32], weight: &[f32], xval: &mut [f32]) -> u8 {
    let mut nflip = 0;
    let mut s = 0u8;
    for i in 0..8 {
        if xb[i] >= 0.0 {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            nflip += 1;
            s |= 1 << i;
        }
    }
    if nflip % 2 == 1 {
        let mut imin = 0;
        let mut min = weight[0] * xb[0] * xb[0];
        for i in 1..8 {
            let ax = weight[i] * xb[i] * xb[i];
            if ax < min {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        s ^= 1 << imin;
    }
    s & 127
}

/// All 8 sign bits (IQ2_S, IQ3_S): `xval = |x|`.
pub(super) fn plain_signs(xb: &[f32], xval: &mut [f32]) -> u8 {
    let mut s = 0u8;
    for i in 0..8 {
        if xb[i] >= 0.0 {
            xval[i] = xb[i];
        } else {
            xval[i] = -xb[i];
            s |= 1 << i;
        }
    }
    s
}
