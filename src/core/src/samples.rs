//! Built-in sample tensors, so a visitor can start without a file. Deterministic: a seeded
//! xorshift generator, so a sample is the same in the page, the CLI and the tests.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The sample kinds, in the order the page offers them: (id, description).
pub const KINDS: [(&str, &str); 4] = [
    ("normal", "Gaussian weights, N(0, 0.02²), like a trained linear layer"),
    ("laplace", "Laplace weights, scale 0.02: heavier tails than a Gaussian"),
    ("normal_outliers", "Gaussian with 0.1% outliers at ±20σ, as in LLM activations"),
    ("relu", "ReLU activations: |N(0,1)| with half of them zero (skewed, all ≥ 0)"),
];

/// The largest sample the page may ask for.
pub const MAX_SAMPLE_ELEMENTS: usize = 1 << 24;

/// A small, fast, seeded generator (xorshift64*); good enough for sample data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in (0, 1), never exactly 0 (so logs are finite).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Generates the sample `kind` as a 2-D tensor of `rows × cols`.
pub fn generate(kind: &str, rows: usize, cols: usize, seed: u64) -> Result<Tensor> {
    let n = rows
        .checked_mul(cols)
        .filter(|&n| n > 0 && n <= MAX_SAMPLE_ELEMENTS)
        .ok_or_else(|| Error::InvalidArgument(format!("sample size {rows}×{cols} must be between 1 and {MAX_SAMPLE_ELEMENTS} elements")))?;
    let mut rng = Rng::new(seed);
    let data: Vec<f32> = match kind {
        "normal" => (0..n).map(|_| (0.02 * rng.normal()) as f32).collect(),
        "laplace" => (0..n)
            .map(|_| {
                let u = rng.uniform() - 0.5;
                (-0.02 * u.signum() * (1.0 - 2.0 * u.abs()).ln()) as f32
            })
            .collect(),
        "normal_outliers" => (0..n)
            .map(|_| {
                let x = rng.normal();
                let x = if rng.uniform() < 0.001 { 20.0 * x.signum() } else { x };
                (0.02 * x) as f32
            })
            .collect(),
        "relu" => (0..n).map(|_| rng.normal().max(0.0) as f32).collect(),
        _ => {
            let known: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
            return Err(Error::InvalidArgument(format!("unknown sample '{kind}' (known: {})", known.join(", "))));
        }
    };
    Ok(Tensor::new(format!("sample:{kind}"), vec![rows, cols], "float32", data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::summary::summarize;

    #[test]
    fn samples_have_the_advertised_shape_of_distribution() {
        let normal = summarize(&generate("normal", 256, 256, 1).unwrap().data);
        assert!((normal.mean).abs() < 0.001 && (normal.std - 0.02).abs() < 0.001, "{normal:?}");
        let laplace = summarize(&generate("laplace", 256, 256, 1).unwrap().data);
        // A Laplace(b) has std b·√2.
        assert!((laplace.std - 0.02 * 2f64.sqrt()).abs() < 0.002, "{laplace:?}");
        let outliers = summarize(&generate("normal_outliers", 256, 256, 1).unwrap().data);
        assert!(outliers.abs_max > 0.35, "{outliers:?}");
        let relu = summarize(&generate("relu", 64, 64, 1).unwrap().data);
        assert_eq!(relu.min, 0.0);
    }

    #[test]
    fn same_seed_same_tensor() {
        assert_eq!(generate("normal", 4, 4, 7).unwrap(), generate("normal", 4, 4, 7).unwrap());
        assert_ne!(generate("normal", 4, 4, 7).unwrap(), generate("normal", 4, 4, 8).unwrap());
    }

    #[test]
    fn bad_requests_are_errors() {
        assert!(generate("cauchy", 4, 4, 1).is_err());
        assert!(generate("normal", 0, 4, 1).is_err());
        assert!(generate("normal", usize::MAX, 2, 1).is_err());
    }
}
