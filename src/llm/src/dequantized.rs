//! Matrices of the ggml types without a ported ggml-cpu kernel (the IQ1–IQ3 and TQ types,
//! MXFP4, F16, BF16 ...): the weights dequantized to f32 once at load (exact: ggml's dequantizers, `quantscope_core::ggml_dequant`), the activations rounded
//! through the weight type's `vec_dot_type` as ggml-cpu does (`ggml-cpu.c`, `type_traits_cpu`:
//! Q8_K for the K-quants, IQ1–IQ3, IQ4_XS and TQ; Q8_0 (or Q8_1, the same codes) for the legacy
//! types, IQ4_NL, MXFP4, NVFP4, Q1_0, Q2_0; F16 and BF16 for themselves), then an f32 dot product.
//!
//! In exact arithmetic this is ggml's product: every `ggml_vec_dot_*` computes
//! Σ dequant(w)·dequant(x̃) blockwise, with integer sums inside a block. Only the order and
//! rounding of the float sums differ, so logits agree with llama.cpp's to the float tolerance of
//! a ~1e-6 relative perturbation rather than bit for bit (the ported kernels: [`crate::q8_0`],
//! [`crate::q4_0`], [`crate::legacy`], [`crate::kquants`], [`crate::iq4`]). Memory: 4 bytes per weight.

use crate::kquants::{self, QK_K};
use crate::q8_0;
use half::{bf16, f16};

/// How ggml-cpu rounds the activations before the dot product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationRounding {
    Q8K,
    Q8_0,
    F16,
    BF16,
}

impl ActivationRounding {
    /// The `vec_dot_type` of a ggml weight type (by gguf-py's lower-case name), or None for a type
    /// no matrix is stored in.
    pub fn of(ty: &str) -> Option<ActivationRounding> {
        Some(match ty {
            "q2_k" | "q3_k" | "q4_k" | "q5_k" | "q6_k" | "iq2_xxs" | "iq2_xs" | "iq2_s" | "iq3_xxs" | "iq3_s" | "iq1_s" | "iq1_m"
            | "iq4_xs" | "tq1_0" | "tq2_0" => ActivationRounding::Q8K,
            "q4_0" | "q4_1" | "q5_0" | "q5_1" | "q8_0" | "iq4_nl" | "mxfp4" | "nvfp4" | "q1_0" | "q2_0" => ActivationRounding::Q8_0,
            "f16" => ActivationRounding::F16,
            "bf16" => ActivationRounding::BF16,
            _ => return None,
        })
    }

    /// `x` as the dot product sees it: quantized to the activation type and back.
    pub fn round(self, x: &[f32]) -> Vec<f32> {
        match self {
            ActivationRounding::Q8K => {
                kquants::quantize_activations(x).iter().flat_map(|b| b.qs.iter().map(move |&q| b.d * q as f32)).collect()
            }
            ActivationRounding::Q8_0 => {
                q8_0::quantize_activations(x).iter().flat_map(|b| b.qs.iter().map(move |&q| b.d * q as f32)).collect()
            }
            ActivationRounding::F16 => x.iter().map(|&v| f16::from_f32(v).to_f32()).collect(),
            ActivationRounding::BF16 => x.iter().map(|&v| bf16::from_f32(v).to_f32()).collect(),
        }
    }

    /// The block the activation type quantizes (a row must be a whole number of them).
    pub fn block(self) -> usize {
        match self {
            ActivationRounding::Q8K => QK_K,
            ActivationRounding::Q8_0 => q8_0::QK,
            ActivationRounding::F16 | ActivationRounding::BF16 => 1,
        }
    }
}
