//! k-means weight sharing fine-tuned in training (Han, Mao & Dally, "Deep Compression", ICLR
//! 2016, §3.3): each layer's weights share a codebook of 2^b centroids and each weight keeps the
//! index of its centroid. The codebook starts as the library's `kmeans{b}` scheme stores the
//! layer (b = 2, 3, 4, 6, 8; the same fit at the other widths; `quantscope_core::schemes::kmeans::palettize`: linear initialisation, Lloyd's
//! iterations, f16 centroids, nearest-centroid codes); then the codes stay fixed and each centroid
//! learns from the sum of its members' gradients, ∂L/∂c_k = Σ_{i: code_i = k} ∂L/∂w_i, which is
//! what autograd gives for `weight = centroids[codes]` (scripts/fixtures/make_train_kmeans.py
//! trains exactly that in torch). The biases stay f32 and train as usual.
//!
//! A conv net ([`WeightSharing::cluster_conv`]) shares the same way: one codebook per Conv2d or
//! Linear weight tensor, the centroid gradients summed over each tensor's members.
//!
//! Stored, per layer: the 2^b centroids as f16 and a b-bit code per weight (the library's packed
//! layout, so its bits per weight), and the biases as f32.

use crate::conv::ConvNet;
use crate::mlp::{Grads, Mlp};
use crate::optim::Optimizer;
use crate::{Error, Result};
use half::f16;
use quantscope_core::schemes::kmeans::palettize;

/// One layer's codebook and its weights' codes.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedLayer {
    /// One per weight, in the weight's `[out, in]` order; fixed while fine-tuning.
    pub codes: Vec<usize>,
    /// The 2^b centroids, trained in f32 (stored as f16).
    pub centroids: Vec<f32>,
}

/// Every layer's codebook.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightSharing {
    pub bits: u32,
    pub layers: Vec<SharedLayer>,
}

impl WeightSharing {
    /// Refuses codebooks of fewer than 2 or more than 256 centroids (the codes are bytes).
    pub fn check_bits(bits: u32) -> Result<()> {
        if !(1..=8).contains(&bits) {
            return Err(Error::Config(format!("k-means weight sharing at {bits} bits: choose 1 to 8 bits (2 to 256 centroids per layer)")));
        }
        Ok(())
    }

    /// Clusters each layer's weights as the library's `kmeans{bits}` scheme does and sets every
    /// weight to its centroid.
    pub fn cluster(model: &mut Mlp, bits: u32) -> Result<Self> {
        Self::cluster_tensors(model.layers.iter_mut().map(|l| &mut l.weight).collect(), bits)
    }

    /// [`WeightSharing::cluster`] of a conv net: one codebook per Conv2d or Linear weight (each
    /// in torch's `[out, in, k, k]` / `[out, in]` order), the biases left in f32.
    pub fn cluster_conv(net: &mut ConvNet, bits: u32) -> Result<Self> {
        Self::cluster_tensors(net.params_mut().into_iter().step_by(2).collect(), bits)
    }

    /// One codebook per weight tensor of `weights`; every weight becomes its centroid.
    fn cluster_tensors(mut weights: Vec<&mut Vec<f32>>, bits: u32) -> Result<Self> {
        Self::check_bits(bits)?;
        let layers = weights
            .iter()
            .map(|w| {
                let (stored, codes) = palettize(w, 1 << bits);
                SharedLayer { codes, centroids: stored.iter().map(|c| c.to_f32()).collect() }
            })
            .collect();
        let sharing = WeightSharing { bits, layers };
        sharing.write_tensors(&mut weights, false);
        Ok(sharing)
    }

    /// Every weight becomes its centroid; with `stored`, its centroid rounded to f16 (to nearest
    /// even, as the library rounds its codebook).
    pub fn write_weights(&self, model: &mut Mlp, stored: bool) {
        self.write_tensors(&mut model.layers.iter_mut().map(|l| &mut l.weight).collect::<Vec<_>>(), stored);
    }

    fn write_tensors(&self, weights: &mut [&mut Vec<f32>], stored: bool) {
        for (weight, shared) in weights.iter_mut().zip(&self.layers) {
            for (w, &c) in weight.iter_mut().zip(&shared.codes) {
                let centroid = shared.centroids[c];
                *w = if stored { f16::from_f32(centroid).to_f32() } else { centroid };
            }
        }
    }

    /// d loss / d centroid per layer: the sum of its members' weight gradients (in weight order,
    /// as torch's CPU `index` backward accumulates them).
    pub fn centroid_grads(&self, grads: &Grads) -> Vec<Vec<f32>> {
        self.summed(grads.iter().map(|g| &g.weight))
    }

    /// [`WeightSharing::centroid_grads`] of a conv net: `grads` one per `ConvNet::params` tensor.
    pub fn centroid_grads_conv(&self, grads: &[Vec<f32>]) -> Vec<Vec<f32>> {
        self.summed(grads.iter().step_by(2))
    }

    fn summed<'a>(&self, weight_grads: impl Iterator<Item = &'a Vec<f32>>) -> Vec<Vec<f32>> {
        self.layers
            .iter()
            .zip(weight_grads)
            .map(|(shared, g)| {
                let mut sum = vec![0.0f32; shared.centroids.len()];
                for (&c, &gw) in shared.codes.iter().zip(g) {
                    sum[c] += gw;
                }
                sum
            })
            .collect()
    }

    /// One `optimizer.step()` over the parameters centroids₀, bias₀, centroids₁, bias₁, … with
    /// the weight gradients `grads` summed per centroid; then every weight is its centroid again.
    pub fn step(&mut self, model: &mut Mlp, grads: &Grads, optimizer: &mut Optimizer) {
        let summed = self.centroid_grads(grads);
        let mut params = Vec::with_capacity(2 * self.layers.len());
        let mut gs = Vec::with_capacity(2 * self.layers.len());
        for ((shared, layer), (c, g)) in self.layers.iter_mut().zip(model.layers.iter_mut()).zip(summed.iter().zip(grads)) {
            params.extend([&mut shared.centroids, &mut layer.bias]);
            gs.extend([c, &g.bias]);
        }
        optimizer.step_tensors(params, gs);
        self.write_weights(model, false);
    }

    /// [`WeightSharing::step`] of a conv net: `grads` one per [`ConvNet::params`] tensor (weight,
    /// bias, weight, …); the optimizer steps centroids₀, bias₀, centroids₁, bias₁, ….
    pub fn step_conv(&mut self, net: &mut ConvNet, grads: &[Vec<f32>], optimizer: &mut Optimizer) {
        let summed = self.centroid_grads_conv(grads);
        let mut params = Vec::with_capacity(2 * self.layers.len());
        let mut gs = Vec::with_capacity(2 * self.layers.len());
        let biases = net.params_mut().into_iter().skip(1).step_by(2);
        for ((shared, bias), (c, g)) in self.layers.iter_mut().zip(biases).zip(summed.iter().zip(grads.iter().skip(1).step_by(2))) {
            params.extend([&mut shared.centroids, bias]);
            gs.extend([c, g]);
        }
        optimizer.step_tensors(params, gs);
        self.write_tensors(&mut net.params_mut().into_iter().step_by(2).collect::<Vec<_>>(), false);
    }

    /// The model as stored: `model` with each weight its centroid rounded to f16.
    pub fn stored(&self, model: &Mlp) -> Mlp {
        let mut stored = model.clone();
        self.write_weights(&mut stored, true);
        stored
    }

    /// The conv net as stored: each weight its centroid rounded to f16.
    pub fn stored_conv(&self, net: &ConvNet) -> ConvNet {
        let mut stored = net.clone();
        self.write_tensors(&mut stored.params_mut().into_iter().step_by(2).collect::<Vec<_>>(), true);
        stored
    }

    /// Bytes as stored: per layer the codebook (2 bytes per centroid) and the packed codes (the
    /// library's `kmeans{b}` packed length), plus the f32 biases of `model`.
    pub fn stored_bytes(&self, model: &Mlp) -> usize {
        self.stored_bytes_with(model.layers.iter().map(|l| l.bias.len()).sum())
    }

    /// [`WeightSharing::stored_bytes`] with `biases` f32 biases (a conv net's).
    pub fn stored_bytes_with(&self, biases: usize) -> usize {
        let layers: usize = self.layers.iter().map(|s| s.centroids.len() * 2 + (s.codes.len() * self.bits as usize).div_ceil(8)).sum();
        layers + biases * 4
    }
}
