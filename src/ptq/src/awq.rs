//! AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM Compression and
//! Acceleration", 2023) as the llm-awq reference does it (github.com/mit-han-lab/llm-awq,
//! `awq/quantize/auto_scale.py` and `auto_clip.py`). Two searches, both judged by the output on
//! calibration inputs rather than by the weights:
//!
//! - **scales** ([`ScaleSearch`], `_search_module_scale`): the input columns of one or more
//!   linears that share an input are multiplied by s and the input divided by s (folded into the
//!   op before: a norm's weight, or the previous linear's rows), so that loud input channels get
//!   finer steps. s = x̄^α per column (x̄ the mean |x|, `get_act_scale`), normalized by
//!   √(max s · min s); α = 0, 1/20, …, 19/20 are tried, each by rounding W·diag(s) onto the grid,
//!   dividing by s again and running the block (the linears and what follows them up to a
//!   chosen module: the caller's closure), and the α with the least mean squared output
//!   difference from the unquantized block wins.
//! - **clipping** ([`search_clip`], `auto_clip_layer`): per row and group of columns, the
//!   weights clamped to ±(1 − i/20)·max|w| for i = 0..10 are rounded and the clamp whose
//!   rounded group gives the output closest to the unclamped weights' on sampled calibration
//!   rows is kept.
//!
//! The reference runs on f16 tensors on a GPU; this port does the weight arithmetic in f32 (as
//! llm-awq does on f32 tensors) and the two things a choice hangs on in f64: x̄'s sums and the
//! exponentiation (then rounded to f32), and the errors compared. scripts/fixtures/make_awq.py
//! keeps the torch transcription these are held to (src/ptq/tests/awq.rs).

use crate::gptq::round_to_nearest;
use crate::grid::Grid;
use crate::{PtqError, Result};

/// The reference's `n_grid`: exponents i / 20 for the scales, shrinks of 1/20 for the clip.
pub const N_GRID: usize = 20;

/// What the searches round with, and their grids of candidates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AwqConfig {
    /// The grid the candidates are rounded onto (`w_quantize_func`).
    pub grid: Grid,
    /// Columns per group of scales (`q_group_size`); `None`: one group per row (the reference's −1).
    pub groupsize: Option<usize>,
    /// Exponents tried: 0, 1/n_grid, …, (n_grid − 1)/n_grid; clip shrinks in steps of 1/n_grid.
    pub n_grid: usize,
    /// The largest clip shrink tried (`max_shrink`): int(max_shrink · n_grid) clamps in all.
    pub max_shrink: f64,
    /// Calibration rows the clip search looks at (`n_sample_token`): every
    /// (rows / clip_samples)-th row, from the first.
    pub clip_samples: usize,
}

impl AwqConfig {
    /// llm-awq's own setting (`entry.py --w_bit 4 --q_group_size 128`, zero point on): 4-bit codes
    /// with a zero point in groups of 128 columns.
    pub fn llm_awq() -> AwqConfig {
        AwqConfig { grid: Grid::ZeroPoint { bits: 4 }, groupsize: Some(128), n_grid: N_GRID, max_shrink: 0.5, clip_samples: 512 }
    }

    /// The same searches rounding onto llama.cpp's Q4_0 (groups of 32): they then optimize the
    /// rounding a Q4_0 file will do.
    pub fn q4_0() -> AwqConfig {
        AwqConfig { grid: Grid::Q4_0, groupsize: Some(32), ..AwqConfig::llm_awq() }
    }

    /// The clip's shrinks: int(max_shrink · n_grid).
    pub fn clip_steps(&self) -> usize {
        (self.max_shrink * self.n_grid as f64) as usize
    }

    /// Whether rows of `cols` can be searched with these settings.
    pub fn check(&self, cols: usize) -> Result<()> {
        if self.n_grid == 0 {
            return Err(PtqError::Setting("a grid of 0 exponents".into()));
        }
        if !(0.0..1.0).contains(&self.max_shrink) {
            return Err(PtqError::Setting(format!("a clip shrink of {} (from 0 up to, not including, 1)", self.max_shrink)));
        }
        if self.clip_samples == 0 {
            return Err(PtqError::Setting("a clip search on 0 sampled rows".into()));
        }
        if let Grid::MinMax { bits, .. } | Grid::ZeroPoint { bits } = self.grid {
            if !(2..=8).contains(&bits) {
                return Err(PtqError::Setting(format!("{bits}-bit codes (2 to 8 bits are offered)")));
            }
        }
        match (self.groupsize, self.grid.fixed_group()) {
            (Some(0), _) => Err(PtqError::Setting("groups of 0 columns".into())),
            (g, Some(fixed)) if g != Some(fixed) || cols % fixed != 0 => Err(PtqError::Setting(format!(
                "{} needs groups of {fixed} columns and rows a multiple of {fixed} long ({cols} here)",
                self.grid.label()
            ))),
            (Some(g), _) if cols % g != 0 => {
                Err(PtqError::Setting(format!("groups of {g} columns do not divide rows of {cols} (llm-awq asserts they do)")))
            }
            _ => Ok(()),
        }
    }

    /// W (row-major, `rows` rows) rounded onto the grid group by group: the reference's
    /// `w_quantize_func` (`pseudo_quantize_tensor`).
    pub fn quantize(&self, w: &[f32], rows: usize) -> Result<Vec<f32>> {
        Ok(round_to_nearest(w, rows, self.grid, self.groupsize)?.values)
    }

    fn group_of(&self, cols: usize) -> usize {
        self.groupsize.unwrap_or(cols)
    }
}

/// Each input column's mean |x| over the calibration rows (`get_act_scale`), summed in f64.
pub fn activation_scale(x: &[f32], cols: usize) -> Result<Vec<f32>> {
    if cols == 0 || x.is_empty() || x.len() % cols != 0 {
        return Err(PtqError::Shape(format!("{} input values are not rows of {cols}", x.len())));
    }
    if let Some(bad) = x.iter().find(|v| !v.is_finite()) {
        return Err(PtqError::Calibration(format!("an input is {bad}")));
    }
    let mut sum = vec![0f64; cols];
    for row in x.chunks_exact(cols) {
        sum.iter_mut().zip(row).for_each(|(s, &v)| *s += v.abs() as f64);
    }
    let n = (x.len() / cols) as f64;
    Ok(sum.iter().map(|&s| (s / n) as f32).collect())
}

/// The scales of exponent `index / n_grid`: s = max(x̄^α, 1e-4), then s / √(max s · min s)
/// (`_search_module_scale`; the power in f64, the rest in f32).
pub fn scales_for_ratio(act_scale: &[f32], index: usize, n_grid: usize) -> Vec<f32> {
    let ratio = index as f64 / n_grid as f64;
    let s: Vec<f32> = act_scale.iter().map(|&a| ((a as f64).powf(ratio) as f32).max(1e-4)).collect();
    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min = s.iter().copied().fold(f32::INFINITY, f32::min);
    let norm = (max * min).sqrt();
    s.iter().map(|&v| v / norm).collect()
}

/// W·diag(s): each column multiplied by its scale (`fc.weight.mul_(scales.view(1, -1))`).
pub fn scale_columns(w: &mut [f32], s: &[f32]) {
    for row in w.chunks_exact_mut(s.len()) {
        row.iter_mut().zip(s).for_each(|(v, &k)| *v *= k);
    }
}

/// W·diag(s)⁻¹ (and an input row x / s): each column divided by its scale.
pub fn divide_columns(w: &mut [f32], s: &[f32]) {
    for row in w.chunks_exact_mut(s.len()) {
        row.iter_mut().zip(s).for_each(|(v, &k)| *v /= k);
    }
}

/// diag(s)⁻¹·W: each row divided by its scale (`scale_fc_fc`'s `fc1.weight.div_(scales.view(-1, 1))`,
/// the linear whose outputs are the scaled linear's inputs).
pub fn divide_rows(w: &mut [f32], cols: usize, s: &[f32]) {
    for (row, &k) in w.chunks_exact_mut(cols).zip(s) {
        row.iter_mut().for_each(|v| *v /= k);
    }
}

/// The weights a block sees for scales `s`: Q(W·diag(s))·diag(s)⁻¹.
pub fn scaled_quantized(w: &[f32], rows: usize, s: &[f32], config: &AwqConfig) -> Result<Vec<f32>> {
    let mut scaled = w.to_vec();
    scale_columns(&mut scaled, s);
    let mut q = config.quantize(&scaled, rows)?;
    divide_columns(&mut q, s);
    Ok(q)
}

/// A linear's weights: row-major, `rows` outputs by the block input's columns.
#[derive(Clone, Debug)]
pub struct Linear {
    pub w: Vec<f32>,
    pub rows: usize,
}

/// The scale search of linears sharing one input, one exponent per [`ScaleSearch::next`] call
/// (the page draws the loss curve as it grows). The block is the caller's: given each linear's
/// candidate weights (in the order given), it returns the block's output on the calibration
/// inputs; the search compares it with the output for the unquantized weights.
pub struct ScaleSearch {
    config: AwqConfig,
    linears: Vec<Linear>,
    act_scale: Vec<f32>,
    reference: Vec<f32>,
    losses: Vec<f64>,
}

/// What a scale search chose.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleResult {
    /// The exponent's index: α = best / n_grid.
    pub best: usize,
    /// The chosen scales, one per input column.
    pub scales: Vec<f32>,
    /// The mean squared output difference at every exponent (the error-versus-α curve).
    pub losses: Vec<f64>,
    /// Each input column's mean |x|.
    pub act_scale: Vec<f32>,
}

impl ScaleResult {
    pub fn ratio(&self) -> f64 {
        self.best as f64 / self.losses.len() as f64
    }
}

/// A block function: the block's output for the linears' candidate weights.
pub type Block<'a> = dyn FnMut(&[Vec<f32>]) -> Vec<f32> + 'a;

impl ScaleSearch {
    /// A search over the calibration inputs `x` (rows of `cols`) of `linears`; `block` is run
    /// once here on the unquantized weights for the reference output.
    pub fn new(x: &[f32], cols: usize, linears: Vec<Linear>, config: AwqConfig, block: &mut Block) -> Result<ScaleSearch> {
        config.check(cols)?;
        if linears.is_empty() {
            return Err(PtqError::Setting("a scale search with no linear to scale".into()));
        }
        for l in &linears {
            if l.rows == 0 || l.w.len() != l.rows * cols {
                return Err(PtqError::Shape(format!("a {}-row linear of {} weights does not take inputs of {cols}", l.rows, l.w.len())));
            }
            if let Some(bad) = l.w.iter().find(|v| !v.is_finite()) {
                return Err(PtqError::Calibration(format!("a weight is {bad}")));
            }
        }
        let act_scale = activation_scale(x, cols)?;
        let originals: Vec<Vec<f32>> = linears.iter().map(|l| l.w.clone()).collect();
        let reference = block(&originals);
        if reference.is_empty() {
            return Err(PtqError::Shape("the block gave no output".into()));
        }
        if let Some(bad) = reference.iter().find(|v| !v.is_finite()) {
            return Err(PtqError::Calibration(format!("the unquantized block's output holds {bad}")));
        }
        Ok(ScaleSearch { config, linears, act_scale, reference, losses: Vec::new() })
    }

    /// Exponents tried so far.
    pub fn done(&self) -> usize {
        self.losses.len()
    }

    pub fn finished(&self) -> bool {
        self.losses.len() == self.config.n_grid
    }

    /// Tries the next exponent; returns its loss.
    pub fn next(&mut self, block: &mut Block) -> Result<f64> {
        if self.finished() {
            return Err(PtqError::Setting("every exponent has been tried".into()));
        }
        let s = scales_for_ratio(&self.act_scale, self.losses.len(), self.config.n_grid);
        let candidates = self.linears.iter().map(|l| scaled_quantized(&l.w, l.rows, &s, &self.config)).collect::<Result<Vec<_>>>()?;
        let out = block(&candidates);
        if out.len() != self.reference.len() {
            return Err(PtqError::Shape(format!("the block gave {} outputs, then {}", self.reference.len(), out.len())));
        }
        // `(org_out - out).float().pow(2).mean()`; a non-finite loss is kept on the curve and
        // never chosen, as `loss < best_error` never holds for it.
        let sum: f64 = self.reference.iter().zip(&out).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
        let loss = sum / out.len() as f64;
        self.losses.push(loss);
        Ok(loss)
    }

    /// The exponent with the least loss (the first of equals).
    pub fn result(&self) -> Result<ScaleResult> {
        if !self.finished() {
            return Err(PtqError::Setting(format!("{} of {} exponents tried", self.losses.len(), self.config.n_grid)));
        }
        let mut best: Option<usize> = None;
        for (i, &l) in self.losses.iter().enumerate() {
            if l < best.map_or(f64::INFINITY, |b| self.losses[b]) {
                best = Some(i);
            }
        }
        let best = best.ok_or_else(|| PtqError::Calibration(format!("no exponent gave a finite loss: {:?}", self.losses)))?;
        Ok(ScaleResult {
            best,
            scales: scales_for_ratio(&self.act_scale, best, self.config.n_grid),
            losses: self.losses.clone(),
            act_scale: self.act_scale.clone(),
        })
    }
}

/// The whole scale search at once.
pub fn search_scales(x: &[f32], cols: usize, linears: Vec<Linear>, config: AwqConfig, block: &mut Block) -> Result<ScaleResult> {
    let mut search = ScaleSearch::new(x, cols, linears, config, block)?;
    while !search.finished() {
        search.next(block)?;
    }
    search.result()
}

/// What a clip search chose.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipResult {
    pub rows: usize,
    /// Groups per row.
    pub groups: usize,
    /// Each row's groups' clamp, row-major: weights are clamped to ±max.
    pub max: Vec<f32>,
    /// Each group's chosen shrink i (max = (1 − i / n_grid) · max|w|).
    pub shrink: Vec<u8>,
    /// Σ over groups of the mean squared output difference on the sampled rows, for the
    /// unclamped weights rounded and for the chosen clamps.
    pub error_unclipped: f64,
    pub error_clipped: f64,
}

/// The clip search of one linear (`auto_clip_layer`) on its calibration inputs `x` (rows of the
/// matrix's column count, already divided by any AWQ scales, as `apply_scale` divides the
/// reference's `input_feat`). Every (rows / clip_samples)-th row is used, from the first
/// (the reference's `0 :: n_token // n_sample_token`; with fewer rows than `clip_samples`, where
/// that step would be 0 and the slice fail, all rows). `oc_batch_size` only bounds the
/// reference's memory and does not change the result.
pub fn search_clip(w: &[f32], rows: usize, x: &[f32], config: &AwqConfig) -> Result<ClipResult> {
    if rows == 0 || w.is_empty() || w.len() % rows != 0 {
        return Err(PtqError::Shape(format!("{} weights are not {rows} rows", w.len())));
    }
    let cols = w.len() / rows;
    config.check(cols)?;
    if x.is_empty() || x.len() % cols != 0 {
        return Err(PtqError::Shape(format!("{} input values are not rows of {cols}", x.len())));
    }
    if let Some(bad) = w.iter().chain(x).find(|v| !v.is_finite()) {
        return Err(PtqError::Calibration(format!("a weight or input is {bad}")));
    }
    let n_rows = x.len() / cols;
    let step = (n_rows / config.clip_samples).max(1);
    let sampled: Vec<&[f32]> = x.chunks_exact(cols).step_by(step).collect();
    let n = sampled.len() as f64;
    let g = config.group_of(cols);
    let groups = cols / g;
    let steps = config.clip_steps();
    let factors: Vec<f32> = (0..steps).map(|i| (1.0 - i as f64 / config.n_grid as f64) as f32).collect();

    let mut max = vec![0f32; rows * groups];
    let mut shrink = vec![0u8; rows * groups];
    let (mut error_unclipped, mut error_clipped) = (0.0, 0.0);
    // err(d) = mean over sampled rows of (x · d)², d = rounded − original over one group: as
    // dᵀ G d / n with the group's Gram matrix G = Σ x xᵀ when that is cheaper (a group narrower
    // than the sample), else row by row as the reference sums it.
    let use_gram = g <= sampled.len();
    let mut gram = vec![0f64; if use_gram { g * g } else { 0 }];
    let mut original = vec![0f64; g];
    let mut clamped = vec![0f64; g];
    let mut diff = vec![0f64; g];
    for gi in 0..groups {
        let c0 = gi * g;
        if use_gram {
            gram.fill(0.0);
            for xr in &sampled {
                let xg = &xr[c0..c0 + g];
                for (i, &a) in xg.iter().enumerate() {
                    let a = a as f64;
                    for (gv, &b) in gram[i * g..(i + 1) * g].iter_mut().zip(xg) {
                        *gv += a * b as f64;
                    }
                }
            }
        }
        let error = |d: &[f64]| -> f64 {
            if use_gram {
                let mut s = 0.0;
                for (i, &di) in d.iter().enumerate() {
                    s += di * gram[i * g..(i + 1) * g].iter().zip(d).map(|(a, b)| a * b).sum::<f64>();
                }
                s / n
            } else {
                sampled.iter().map(|xr| xr[c0..c0 + g].iter().zip(d).map(|(&a, b)| a as f64 * b).sum::<f64>().powi(2)).sum::<f64>() / n
            }
        };
        for r in 0..rows {
            let wg = &w[r * cols + c0..r * cols + c0 + g];
            original.iter_mut().zip(wg).for_each(|(o, &v)| *o = v as f64);
            let org_max = wg.iter().fold(0f32, |m, v| m.max(v.abs()));
            // `min_errs` starts at 1e9, as the reference's does.
            let (mut best_err, mut best_max, mut best_i) = (1e9f64, org_max, 0usize);
            for (i, &f) in factors.iter().enumerate() {
                let m = org_max * f;
                // torch.clamp(w, −m, m), without f32::clamp's panic on a NaN bound.
                clamped.iter_mut().zip(wg).for_each(|(c, &v)| *c = v.max(-m).min(m) as f64);
                let p = config.grid.params_of(&clamped);
                for ((d, &c), &o) in diff.iter_mut().zip(&clamped).zip(&original) {
                    *d = config.grid.value(&p, config.grid.code(&p, c)) - o;
                }
                let err = error(&diff);
                if i == 0 {
                    error_unclipped += err;
                }
                if err < best_err {
                    (best_err, best_max, best_i) = (err, m, i);
                }
            }
            max[r * groups + gi] = best_max;
            shrink[r * groups + gi] = best_i as u8;
            error_clipped += if best_err < 1e9 { best_err } else { 0.0 };
        }
    }
    Ok(ClipResult { rows, groups, max, shrink, error_unclipped, error_clipped })
}

/// Clamps each row's groups to ± their chosen maxima (`apply_clip`).
pub fn apply_clip(w: &mut [f32], clip: &ClipResult) {
    let cols = w.len() / clip.rows;
    let g = cols / clip.groups;
    for (r, row) in w.chunks_exact_mut(cols).enumerate() {
        for (gi, group) in row.chunks_exact_mut(g).enumerate() {
            let m = clip.max[r * clip.groups + gi];
            group.iter_mut().for_each(|v| *v = v.max(-m).min(m));
        }
    }
}
