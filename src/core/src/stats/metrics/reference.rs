//! The scalar reference of the reduction behind `error_metrics`: the definition the SIMD128 kernel
//! must equal.

/// Sums over the pairs whose original is finite, all in f64.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sums {
    pub compared: usize,
    /// Σx², Σ(x−x̂)², Σ|x−x̂|, max|x−x̂|, Σx·x̂, Σx̂².
    pub signal: f64,
    pub noise: f64,
    pub abs_sum: f64,
    pub max_abs: f64,
    pub dot: f64,
    pub deq_sq: f64,
}

pub fn sums(original: &[f32], dequantized: &[f32]) -> Sums {
    let mut a = Accumulator::default();
    a.push(original, dequantized);
    a.finish()
}

/// [`sums`] fed a piece at a time (the compare's fused path decodes a chunk, pushes it and drops
/// it): the sums run in element order whatever the pieces, so pushing a tensor in any split gives
/// what one call on the whole gives, bit for bit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accumulator(Sums);

impl Accumulator {
    pub fn push(&mut self, original: &[f32], dequantized: &[f32]) {
        let s = &mut self.0;
        for (&x, &y) in original.iter().zip(dequantized) {
            if !x.is_finite() {
                continue;
            }
            s.compared += 1;
            let (x, y) = (x as f64, y as f64);
            let e = x - y;
            s.signal += x * x;
            s.noise += e * e;
            s.abs_sum += e.abs();
            s.max_abs = s.max_abs.max(e.abs());
            s.dot += x * y;
            s.deq_sq += y * y;
        }
    }

    pub fn finish(self) -> Sums {
        self.0
    }
}
