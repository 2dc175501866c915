//! GPTQ's Hessian of a layer's reconstruction error, H = 2 XᵀX / n_samples over the calibration
//! rows X that reach the layer (`gptq.py`, `GPTQ.add_batch`: each batch is one sample and rescales
//! the running sum, which is the same H up to rounding).

use crate::{PtqError, Result};

/// Σ x xᵀ over the rows seen, in f64 (the reference's float32 sum would lose the small columns
/// next to loud ones).
#[derive(Clone, Debug)]
pub struct Hessian {
    cols: usize,
    /// The upper triangle is summed; [`Hessian::matrix`] mirrors it.
    sum: Vec<f64>,
    rows: usize,
    samples: usize,
}

impl Hessian {
    pub fn new(cols: usize) -> Hessian {
        Hessian { cols, sum: vec![0.0; cols * cols], rows: 0, samples: 0 }
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Calibration rows added so far (tokens, for a language model).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds one sample (a batch: a text chunk, for a language model) of `x.len() / cols` rows.
    pub fn add_sample(&mut self, x: &[f32]) -> Result<()> {
        if x.len() % self.cols != 0 {
            return Err(PtqError::Shape(format!("{} values are not rows of {}", x.len(), self.cols)));
        }
        if let Some(bad) = x.iter().find(|v| !v.is_finite()) {
            return Err(PtqError::Calibration(format!("a layer input is {bad}")));
        }
        let n = self.cols;
        for row in x.chunks_exact(n) {
            for (i, &a) in row.iter().enumerate() {
                if a == 0.0 {
                    continue;
                }
                let a = a as f64;
                let acc = &mut self.sum[i * n + i..(i + 1) * n];
                for (s, &b) in acc.iter_mut().zip(&row[i..]) {
                    *s += a * b as f64;
                }
            }
        }
        self.rows += x.len() / n;
        self.samples += 1;
        Ok(())
    }

    /// H = 2 Σ x xᵀ / samples, the full symmetric matrix (row-major).
    pub fn matrix(&self) -> Result<Vec<f64>> {
        if self.samples == 0 {
            return Err(PtqError::Calibration("no calibration rows reached this layer".into()));
        }
        let n = self.cols;
        let scale = 2.0 / self.samples as f64;
        let mut h = vec![0.0; n * n];
        for i in 0..n {
            for j in i..n {
                let v = self.sum[i * n + j] * scale;
                h[i * n + j] = v;
                h[j * n + i] = v;
            }
        }
        Ok(h)
    }
}
