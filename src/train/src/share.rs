//! k-means weight sharing fine-tuned in training (Han, Mao & Dally, "Deep Compression", ICLR
//! 2016, §3.3): each layer's weights share a codebook of 2^b centroids and each weight keeps the
//! index of its centroid. The codebook starts as the library's `kmeans{b}` scheme stores the
//! layer (b = 2, 3, 4, 6, 8; the same fit at the other widths; `quantscope_core::schemes::kmeans::palettize`: linear initialisation, Lloyd's
//! iterations, f16 centroids, nearest-centroid codes); then the codes stay fixed and each centroid
//! learns from the sum of its members' gradients, ∂L/∂c_k = Σ_{i: code_i = k} ∂L/∂w_i, which is
//! what autograd gives for `weight = centroids[codes]` (scripts/fixtures/make_train_kmeans.py
//! trains exactly that in torch). The biases stay f32 and train as usual.
//!
//! Stored, per layer: the 2^b centroids as f16 and a b-bit code per weight (the library's packed
//! layout, so its bits per weight), and the biases as f32.

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
        Self::check_bits(bits)?;
        let layers = model
            .layers
            .iter()
            .map(|l| {
                let (stored, codes) = palettize(&l.weight, 1 << bits);
                SharedLayer { codes, centroids: stored.iter().map(|c| c.to_f32()).collect() }
            })
            .collect();
        let sharing = WeightSharing { bits, layers };
        sharing.write_weights(model, false);
        Ok(sharing)
    }

    /// Every weight becomes its centroid; with `stored`, its centroid rounded to f16 (to nearest
    /// even, as the library rounds its codebook).
    pub fn write_weights(&self, model: &mut Mlp, stored: bool) {
        for (layer, shared) in model.layers.iter_mut().zip(&self.layers) {
            for (w, &c) in layer.weight.iter_mut().zip(&shared.codes) {
                let centroid = shared.centroids[c];
                *w = if stored { f16::from_f32(centroid).to_f32() } else { centroid };
            }
        }
    }

    /// d loss / d centroid per layer: the sum of its members' weight gradients (in weight order,
    /// as torch's CPU `index` backward accumulates them).
    pub fn centroid_grads(&self, grads: &Grads) -> Vec<Vec<f32>> {
        self.layers
            .iter()
            .zip(grads)
            .map(|(shared, g)| {
                let mut sum = vec![0.0f32; shared.centroids.len()];
                for (&c, &gw) in shared.codes.iter().zip(&g.weight) {
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

    /// The model as stored: `model` with each weight its centroid rounded to f16.
    pub fn stored(&self, model: &Mlp) -> Mlp {
        let mut stored = model.clone();
        self.write_weights(&mut stored, true);
        stored
    }

    /// Bytes as stored: per layer the codebook (2 bytes per centroid) and the packed codes (the
    /// library's `kmeans{b}` packed length), plus the f32 biases of `model`.
    pub fn stored_bytes(&self, model: &Mlp) -> usize {
        let biases: usize = model.layers.iter().map(|l| l.bias.len() * 4).sum();
        let layers: usize = self.layers.iter().map(|s| s.centroids.len() * 2 + (s.codes.len() * self.bits as usize).div_ceil(8)).sum();
        layers + biases
    }
}
