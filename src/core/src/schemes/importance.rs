//! Quantizing with llama.cpp's importance matrix (`llama-imatrix`'s per-column mean of x²): one
//! entry point for every type whose llama.cpp quantizer uses it, and the importance-weighted error.
//!
//! llama.cpp passes the imatrix to `ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row,
//! imatrix)`: one weight per column of the innermost dimension, the same for every row. These
//! types use it (`ggml/src/ggml-quants.c`): Q4_0, Q4_1, Q5_0, Q5_1 (`quantize_row_*_impl`),
//! Q2_K … Q6_K (`quantize_row_q*_K_impl`), IQ4_NL, IQ4_XS and the IQ1/IQ2/IQ3 grid types
//! (`quantize_row_iq*_impl`; IQ2_XXS, IQ2_XS and IQ1_S cannot quantize without one). The rest (Q8_0, MXFP4, NVFP4, TQ1_0, TQ2_0, Q1_0,
//! Q2_0, the float types) ignore it, and quantscope refuses one for them rather than pretend.

use super::{ggml, ggml_extra, kquants, Quantized};
use crate::error::{Error, Result};

use super::importance_rules::not_used;
pub use super::importance_rules::{requires_importance, takes_importance, IMPORTANCE_IDS, REQUIRES_IMPORTANCE_IDS};

/// Quantizes `values` (C order, of `shape`) as `id` with `importance` (one weight per column of
/// the innermost dimension): the bytes of `ggml_quantize_chunk(type, …, imatrix)`. Errors for an
/// id that does not use one, a row that is not whole blocks, a vector of the wrong length, or a
/// negative or non-finite weight.
pub fn quantize_with_importance(id: &str, values: &[f32], shape: &[usize], importance: &[f32]) -> Result<Quantized> {
    if let Some(k) = kquants::KQuant::from_id(id) {
        return k.quantize_with_importance(values, shape, importance);
    }
    if let Some(t) = ggml_extra::ExtraType::from_id(id) {
        return t.quantize_with_importance(values, shape, importance);
    }
    #[cfg(feature = "iq-grids")]
    if let Some(t) = super::iquants::IqType::from_id(id) {
        return t.quantize_with_importance(values, shape, importance);
    }
    if let Some(t) = ggml::GgmlType::from_id(id) {
        return ggml::GgmlScheme::new(t).quantize_with_importance(values, shape, importance);
    }
    super::by_id(id)?; // an unknown id says so
    Err(not_used(id))
}

/// The importance-weighted mean squared error of a quantized tensor: Σ w_j (x − x̂)² / Σ w_j,
/// summed over every row, `w_j` the weight of the value's column (`importance.len()` = the row
/// length). Values whose original is not finite are left out, as in the plain metrics. Errors for
/// lengths that disagree or weights that are negative, not finite, or all zero.
pub fn weighted_mse(original: &[f32], dequantized: &[f32], importance: &[f32]) -> Result<f64> {
    if original.len() != dequantized.len() {
        return Err(Error::InvalidArgument(format!("{} values against {} dequantized", original.len(), dequantized.len())));
    }
    let n_per_row = importance.len();
    if n_per_row == 0 || original.len() % n_per_row != 0 {
        return Err(Error::InvalidArgument(format!(
            "{} values are not whole rows of the importance vector's {n_per_row} columns",
            original.len()
        )));
    }
    if let Some(i) = importance.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(Error::InvalidArgument(format!("importance weight {i} is {}; weights must be finite and ≥ 0", importance[i])));
    }
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (row_x, row_q) in original.chunks_exact(n_per_row).zip(dequantized.chunks_exact(n_per_row)) {
        for ((&x, &q), &w) in row_x.iter().zip(row_q).zip(importance) {
            if x.is_finite() {
                let e = x as f64 - q as f64;
                num += w as f64 * e * e;
                den += w as f64;
            }
        }
    }
    if den == 0.0 {
        return Err(Error::InvalidArgument("every importance weight is 0 (or falls on a non-finite value): no weighted error".into()));
    }
    Ok(num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_mse_hand_checked() {
        // Two rows of 3: errors (0, 1, 2) and (1, 0, -1); weights (1, 0, 3).
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let q = [1.0f32, 1.0, 1.0, 3.0, 5.0, 7.0];
        // Σ w e² = 1·0 + 0·1 + 3·4 + 1·1 + 0·0 + 3·1 = 16; Σ w = 2·(1 + 0 + 3) = 8.
        assert_eq!(weighted_mse(&x, &q, &[1.0, 0.0, 3.0]).unwrap(), 2.0);
        // Equal weights: the plain MSE (0 + 1 + 4 + 1 + 0 + 1) / 6.
        assert_eq!(weighted_mse(&x, &q, &[2.0; 3]).unwrap(), 7.0 / 6.0);
        // A NaN original is left out with its weight.
        let mut xn = x;
        xn[2] = f32::NAN;
        assert_eq!(weighted_mse(&xn, &q, &[1.0, 0.0, 3.0]).unwrap(), 4.0 / 5.0);
        assert!(weighted_mse(&x, &q, &[1.0; 4]).unwrap_err().to_string().contains("whole rows"));
        assert!(weighted_mse(&x, &q, &[0.0; 3]).unwrap_err().to_string().contains("every importance weight is 0"));
        assert!(weighted_mse(&x, &q, &[1.0, -1.0, 1.0]).unwrap_err().to_string().contains("weight 1"));
        assert!(weighted_mse(&x, &q[..5], &[1.0; 3]).is_err());
    }

    #[test]
    fn every_listed_id_takes_importance_and_the_others_are_refused() {
        let x: Vec<f32> = (0..512).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let w: Vec<f32> = (0..256).map(|i| 1.0 + (i % 5) as f32).collect();
        for id in IMPORTANCE_IDS {
            let weighted = quantize_with_importance(id, &x, &[2, 256], &w).unwrap();
            let plain = super::super::packed_len(id, &[2, 256]).unwrap();
            assert_eq!(weighted.packed.len() as u64, plain, "{id}");
            assert_eq!(weighted.dequantized.len(), 512, "{id}");
        }
        for id in ["q8_0", "mxfp4", "tq1_0", "nvfp4", "fp16"] {
            let e = quantize_with_importance(id, &x, &[2, 256], &w).unwrap_err().to_string();
            assert!(e.contains("does not use an importance vector"), "{id}: {e}");
        }
        assert!(quantize_with_importance("nonsense", &x, &[2, 256], &w).is_err());
        let e = quantize_with_importance("q4_k", &x, &[4, 128], &w[..128]).unwrap_err().to_string();
        assert!(e.contains("not a whole number of 256-value blocks"), "{e}");
        assert!(quantize_with_importance("q4_0", &x, &[4, 128], &w[..128]).is_ok());
        assert!(quantize_with_importance("q4_0", &x, &[2, 256], &w[..255]).unwrap_err().to_string().contains("255 weights"));
    }
}
