//! The digits as the model takes them: pixels 0–255 scaled to [0, 1] (`v / 255` in f32, as the
//! built-in model was trained and as `quantscope_engine::mnist::TestSet` feeds it), labels 0–9,
//! and a seeded order of mini-batches per epoch.

use crate::rng::SplitMix64;
use crate::{Error, Result};

/// Images `[len, features]` in [0, 1] and their class labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub features: usize,
    pub classes: usize,
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Dataset {
    /// From uint8 pixels (`labels.len()` rows of `features`) and labels below `classes`.
    pub fn from_u8(pixels: &[u8], labels: &[u8], features: usize, classes: usize) -> Result<Self> {
        if features == 0 || labels.is_empty() {
            return Err(Error::Data("no digits to train on".into()));
        }
        if pixels.len() != labels.len() * features {
            return Err(Error::Data(format!("{} pixels for {} labels of {features} pixels each", pixels.len(), labels.len())));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
            return Err(Error::Data(format!("label {l} of digit {i} is not below {classes}")));
        }
        let images = pixels.iter().map(|&p| p as f32 / 255.0).collect();
        Ok(Dataset { features, classes, images, labels: labels.to_vec() })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Copies the rows `indices` into `x` / `y` (a mini-batch).
    pub fn gather(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<u8>) {
        x.clear();
        y.clear();
        for &i in indices {
            x.extend_from_slice(&self.images[i * self.features..(i + 1) * self.features]);
            y.push(self.labels[i]);
        }
    }
}

/// The order of one epoch: `0..len` shuffled by Fisher–Yates from the run's shuffle stream.
pub fn epoch_order(len: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    rng.shuffle(&mut order);
    order
}
