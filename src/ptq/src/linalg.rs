//! The three factorizations GPTQ needs (`torch.linalg.cholesky`, `torch.cholesky_inverse`,
//! `torch.linalg.cholesky(upper=True)`), for a symmetric positive definite matrix in f64.

use crate::{PtqError, Result};

/// L with L Lᵀ = A (row-major n × n, lower triangle; the rest zero). Fails when A is not
/// positive definite (GPTQ's dampening is meant to prevent it).
pub fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    // (the pivot is not printed: float formatting would add ~10 KB to the page
                    // modules that factor a Hessian)
                    return Err(PtqError::Calibration(format!("the Hessian is not positive definite at column {i}: raise the dampening")));
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// A⁻¹ from A's Cholesky factor L: (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹.
pub fn cholesky_inverse(l: &[f64], n: usize) -> Vec<f64> {
    // M = L⁻¹ (lower triangular), by forward substitution one column at a time; kept transposed
    // (mt[c][k] = M[k][c]) so that every sum below walks memory in order.
    let mut mt = vec![0.0; n * n];
    for c in 0..n {
        mt[c * n + c] = 1.0 / l[c * n + c];
        for i in c + 1..n {
            let s: f64 = (c..i).map(|k| l[i * n + k] * mt[c * n + k]).sum();
            mt[c * n + i] = -s / l[i * n + i];
        }
    }
    // (Mᵀ M)[i][j] = Σ_k M[k][i] M[k][j], k ≥ max(i, j).
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            let s: f64 = (j..n).map(|k| mt[i * n + k] * mt[j * n + k]).sum();
            inv[i * n + j] = s;
            inv[j * n + i] = s;
        }
    }
    inv
}

/// U with Uᵀ U = A (upper triangle, row-major).
pub fn cholesky_upper(a: &[f64], n: usize) -> Result<Vec<f64>> {
    let l = cholesky(a, n)?;
    let mut u = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = l[i * n + j];
        }
    }
    Ok(u)
}
