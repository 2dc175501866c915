//! Pruning, as `torch.nn.utils.prune` (torch 1.13, `torch/nn/utils/prune.py`) defines it: a
//! 0/1 mask per weight, the weight used being `weight_orig · mask`, so training goes on with the
//! pruned weights held at zero.
//!
//! - [`l1_unstructured`]: in one layer, the `round(amount · n)` weights of smallest |w|
//!   (`L1Unstructured`: `topk(|w|, k, largest=False)`).
//! - [`global_unstructured`]: the same over every layer's weights at once
//!   (`global_unstructured(..., pruning_method=L1Unstructured)`; biases are not pruned).
//! - [`ln_structured`]: whole output neurons (rows), the `round(amount · rows)` of smallest
//!   L1 or L2 norm (`LnStructured(amount, n, dim=0)`, which keeps the `rows − k` largest).
//! - [`two_of_four`]: 2:4 semi-structured sparsity, in each run of 4 weights along a row the 2
//!   of smallest |w| (the lower index first among equals). torch 1.13 has no CPU reference for it.
//!
//! A conv net prunes the same way through [`conv_layers`]: each Conv2d's weight as its rows
//! `[out_channels, in_channels·k·k]`, so the unstructured masks are torch's on the 4-D weight
//! element for element and `ln_structured` removes whole output channels (torch's
//! `ln_structured(dim=0)` takes each channel's norm over (C, k, k)).
//!
//! Ties: torch's `topk` does not promise which of equal values it picks; here the lower index
//! goes first, and the fixtures (scripts/fixtures/make_train.py) use weights without ties.

use crate::conv::{ConvNet, Layer};
use crate::mlp::{Linear, Mlp};
use crate::{Error, Result};

/// How many of `n` weights `amount` prunes: torch's `_compute_nparams_toprune` for a float
/// amount, `round(amount · n)` (Python's round: half to even).
pub fn count_to_prune(amount: f64, n: usize) -> Result<usize> {
    if !(0.0..1.0).contains(&amount) {
        return Err(Error::Config(format!("a sparsity of {} % leaves nothing: choose 0 to less than 100 %", amount * 100.0)));
    }
    let x = amount * n as f64;
    let r = x.round();
    // Python rounds halves to even.
    let r = if (x - x.trunc()) == 0.5 && r % 2.0 != 0.0 { r - 1.0 } else { r };
    Ok(r as usize)
}

/// Indices of the `k` smallest `keys`, the lower index first among equals.
fn smallest(keys: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// The mask of one layer's weights with `pruned` set to 0.
fn mask_without(len: usize, pruned: impl IntoIterator<Item = usize>) -> Vec<f32> {
    let mut mask = vec![1.0; len];
    for i in pruned {
        mask[i] = 0.0;
    }
    mask
}

pub fn l1_unstructured(layer: &Linear, amount: f64) -> Result<Vec<f32>> {
    let k = count_to_prune(amount, layer.weight.len())?;
    let magnitudes: Vec<f32> = layer.weight.iter().map(|w| w.abs()).collect();
    Ok(mask_without(layer.weight.len(), smallest(&magnitudes, k)))
}

pub fn global_unstructured(model: &Mlp, amount: f64) -> Result<Vec<Vec<f32>>> {
    let magnitudes: Vec<f32> = model.layers.iter().flat_map(|l| l.weight.iter().map(|w| w.abs())).collect();
    let k = count_to_prune(amount, magnitudes.len())?;
    let mut masks: Vec<Vec<f32>> = model.layers.iter().map(|l| vec![1.0; l.weight.len()]).collect();
    for mut i in smallest(&magnitudes, k) {
        let mut layer = 0;
        while i >= masks[layer].len() {
            i -= masks[layer].len();
            layer += 1;
        }
        masks[layer][i] = 0.0;
    }
    Ok(masks)
}

/// `norm` is 1 or 2. The norms are summed in f64 (torch's `torch.norm` reduces in higher precision too).
pub fn ln_structured(layer: &Linear, amount: f64, norm: u32) -> Result<Vec<f32>> {
    if norm != 1 && norm != 2 {
        return Err(Error::Config(format!("L{norm} structured pruning: choose the L1 or L2 norm")));
    }
    let rows = layer.out_features;
    let k = count_to_prune(amount, rows)?;
    if k == rows {
        return Err(Error::Config(format!("pruning all {rows} neurons of a layer leaves nothing")));
    }
    let norms: Vec<f32> = layer
        .weight
        .chunks(layer.in_features)
        .map(|row| match norm {
            1 => row.iter().map(|&w| (w as f64).abs()).sum::<f64>() as f32,
            _ => row.iter().map(|&w| (w as f64) * (w as f64)).sum::<f64>().sqrt() as f32,
        })
        .collect();
    let pruned_rows = smallest(&norms, k);
    Ok(mask_without(layer.weight.len(), pruned_rows.into_iter().flat_map(|r| r * layer.in_features..(r + 1) * layer.in_features)))
}

pub fn two_of_four(layer: &Linear) -> Result<Vec<f32>> {
    if layer.in_features % 4 != 0 {
        return Err(Error::Config(format!("2:4 sparsity needs rows of a multiple of 4 weights, this layer's have {}", layer.in_features)));
    }
    let mut mask = vec![1.0; layer.weight.len()];
    for (g, group) in layer.weight.chunks(4).enumerate() {
        let magnitudes: Vec<f32> = group.iter().map(|w| w.abs()).collect();
        for i in smallest(&magnitudes, 2) {
            mask[g * 4 + i] = 0.0;
        }
    }
    Ok(mask)
}

/// A pruning method as the Train view names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// [`global_unstructured`].
    GlobalL1,
    /// [`l1_unstructured`] in each layer.
    LayerL1,
    /// [`ln_structured`] (L2) on every layer but the last (the output keeps its classes).
    NeuronsL2,
    /// [`two_of_four`]: always 50 %.
    TwoFour,
}

impl Method {
    /// "global_l1", "layer_l1", "neurons_l2" or "two_four".
    pub fn parse(name: &str) -> Result<Method> {
        Ok(match name {
            "global_l1" => Method::GlobalL1,
            "layer_l1" => Method::LayerL1,
            "neurons_l2" => Method::NeuronsL2,
            "two_four" => Method::TwoFour,
            other => return Err(Error::Config(format!("unknown pruning method '{other}' (global_l1, layer_l1, neurons_l2 or two_four)"))),
        })
    }

    /// The method's masks of `model`'s weights at `amount` (2:4 ignores it).
    pub fn masks(self, model: &Mlp, amount: f64) -> Result<Vec<Vec<f32>>> {
        let last = model.layers.len() - 1;
        match self {
            Method::GlobalL1 => global_unstructured(model, amount),
            Method::LayerL1 => model.layers.iter().map(|l| l1_unstructured(l, amount)).collect(),
            Method::NeuronsL2 => model
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| if i == last { Ok(vec![1.0; l.weight.len()]) } else { ln_structured(l, amount, 2) })
                .collect(),
            Method::TwoFour => model.layers.iter().map(two_of_four).collect(),
        }
    }
}

/// `fresh` masks on top of `before`: a weight pruned before stays pruned (its weight_orig is
/// kept, as torch keeps it, and must not come back).
pub fn combine(mut fresh: Vec<Vec<f32>>, before: Option<&[Vec<f32>]>) -> Vec<Vec<f32>> {
    if let Some(before) = before {
        for (m, b) in fresh.iter_mut().zip(before) {
            m.iter_mut().zip(b).for_each(|(m, b)| *m *= b);
        }
    }
    fresh
}

/// The weights `weight_orig · mask` as torch's pruned forward uses them.
pub fn apply(model: &Mlp, masks: &[Vec<f32>]) -> Mlp {
    let mut pruned = model.clone();
    for (layer, mask) in pruned.layers.iter_mut().zip(masks) {
        for (w, m) in layer.weight.iter_mut().zip(mask) {
            *w *= m;
        }
    }
    pruned
}

/// A conv net's Conv2d and Linear layers, in order, as the pruning functions take them (see the
/// module doc); their masks fit [`apply_conv`].
pub fn conv_layers(net: &ConvNet) -> Mlp {
    let layers = net
        .layers
        .iter()
        .filter_map(|layer| match layer {
            Layer::Conv2d(c) => {
                Some(Linear { in_features: c.fan_in(), out_features: c.out_channels, weight: c.weight.clone(), bias: c.bias.clone() })
            }
            Layer::Linear(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    Mlp { layers }
}

/// The conv net with its weights `weight_orig · mask` (one mask per Conv2d or Linear, in order).
pub fn apply_conv(net: &ConvNet, masks: &[Vec<f32>]) -> ConvNet {
    let mut pruned = net.clone();
    let weights = pruned.params_mut().into_iter().step_by(2);
    for (w, mask) in weights.zip(masks) {
        w.iter_mut().zip(mask).for_each(|(w, m)| *w *= m);
    }
    pruned
}

/// The fraction of weights a set of masks removes.
pub fn sparsity(masks: &[Vec<f32>]) -> f64 {
    let total: usize = masks.iter().map(Vec::len).sum();
    let zeros: usize = masks.iter().map(|m| m.iter().filter(|&&v| v == 0.0).count()).sum();
    zeros as f64 / total.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(weight: Vec<f32>, in_features: usize) -> Linear {
        let out_features = weight.len() / in_features;
        Linear { in_features, out_features, weight, bias: vec![0.0; out_features] }
    }

    #[test]
    fn counts_round_half_to_even_and_refuse_everything() {
        assert_eq!(count_to_prune(0.5, 5).unwrap(), 2); // round(2.5) = 2 in Python
        assert_eq!(count_to_prune(0.3, 5).unwrap(), 2); // round(1.5) = 2
        assert_eq!(count_to_prune(0.7, 5).unwrap(), 4); // round(3.5) = 4
        assert!(count_to_prune(1.0, 5).unwrap_err().to_string().contains("100 %"));
        assert!(count_to_prune(-0.1, 5).is_err());
    }

    #[test]
    fn structured_and_two_of_four_masks() {
        let l = layer(vec![1.0, -1.0, 0.1, 0.1, 3.0, 0.0, -2.0, 0.5], 4);
        // Row norms L1: 2.2 and 5.5: half the rows pruned → the first.
        assert_eq!(ln_structured(&l, 0.5, 1).unwrap(), vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        // 2:4: the two smallest of each 4 (ties: the lower index).
        assert_eq!(two_of_four(&l).unwrap(), vec![1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert!(two_of_four(&layer(vec![0.0; 6], 3)).is_err());
        assert!(ln_structured(&l, 0.9, 1).unwrap_err().to_string().contains("all 2 neurons"));
    }
}
