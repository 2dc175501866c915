//! The `FakeQuantize` module of torch.ao (`torch/ao/quantization/fake_quantize.py`, torch 1.13):
//! an observer and a fake-quant step, each switched on or off (`enable_observer` /
//! `disable_observer`, `enable_fake_quant` / `disable_fake_quant`). Forward, as torch's:
//! observe the input if the observer is on and take the new qparams, then fake-quantize if
//! fake quant is on; the backward is the straight-through estimator over the saved mask.

use crate::fake_quant::{self, QRange};
use crate::observer::{Granularity, Observer, QuantSpec};
use crate::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct FakeQuantize {
    pub observer: Observer,
    pub observer_enabled: bool,
    pub fake_quant_enabled: bool,
    /// The qparams in use (torch's `scale` / `zero_point` buffers; 1 and 0 until observed).
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
}

impl FakeQuantize {
    pub fn new(spec: QuantSpec) -> Result<Self> {
        Ok(FakeQuantize {
            observer: Observer::new(spec)?,
            observer_enabled: true,
            fake_quant_enabled: true,
            scale: vec![1.0],
            zero_point: vec![0],
        })
    }

    pub fn range(&self) -> QRange {
        self.observer.range
    }

    /// Forward of a row-major `[channels, inner]` tensor (`channels` matters per channel only):
    /// writes the output and the STE mask (all true when fake quant is off).
    pub fn forward(&mut self, x: &[f32], channels: usize, out: &mut [f32], mask: &mut [bool]) {
        if self.observer_enabled {
            self.observer.observe(x, channels);
            (self.scale, self.zero_point) = self.observer.qparams();
        }
        if !self.fake_quant_enabled {
            out.copy_from_slice(x);
            mask.fill(true);
            return;
        }
        match self.observer.spec.granularity {
            Granularity::PerTensor => fake_quant::per_tensor(x, self.scale[0], self.zero_point[0], self.range(), out, mask),
            Granularity::PerChannel if self.scale.len() == channels => {
                fake_quant::per_channel(x, &self.scale, &self.zero_point, self.range(), out, mask)
            }
            // Never observed (scale [1.0]): torch broadcasts the one default scale.
            Granularity::PerChannel => fake_quant::per_tensor(x, self.scale[0], self.zero_point[0], self.range(), out, mask),
        }
    }
}
