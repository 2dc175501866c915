//! Learn panel 5, memory: how big a model is at each precision, and whether it fits a GPU.
//!
//! Memory to run a model ≈ parameters × bits per weight / 8 × 1.2: the weights, plus about a
//! fifth for activations, the KV cache at short contexts, buffers and the runtime (the same
//! rule of thumb the Inspect view's model summary uses).
//!
//! Bits per weight include every scale, zero point and block header. They depend on the
//! tensors' shapes (a per-channel scale costs 32 bits per row; a K-quant super-block is 256
//! values), so [`packed_bytes`] asks the scheme library for a packed size from the documented
//! layout (`schemes::packed_len`) for any shape, and the tests hold it equal to the bytes the scheme actually writes. The presets
//! (7B, 8B, 13B, 70B) assume square 4096 × 4096 layers ([`TYPICAL_LAYER`]); "this model" uses
//! the loaded tensors' own shapes.

use quantscope_core::error::{Error, Result};
use quantscope_core::schemes;
use quantscope_core::schemes::int::calibration::Calibration;
use quantscope_core::schemes::int::IntScheme;
use serde::Serialize;

/// Activations, cache and runtime on top of the weights.
pub const OVERHEAD: f64 = 1.2;
/// The model sizes the panel offers, in parameters (nominal: "7B" is 7·10⁹).
pub const PRESETS: [(&str, f64); 4] = [("7B", 7e9), ("8B", 8e9), ("13B", 13e9), ("70B", 70e9)];
/// GPU memory sizes the table checks against, in GB (10⁹ bytes).
pub const GPU_GB: [f64; 4] = [8.0, 16.0, 24.0, 80.0];
/// The layer shape the presets assume for shape-dependent overhead (per-channel scales).
pub const TYPICAL_LAYER: [usize; 2] = [4096, 4096];

/// Memory to run `parameters` weights at `bits_per_weight`, in bytes.
pub fn memory_bytes(parameters: f64, bits_per_weight: f64) -> f64 {
    parameters * bits_per_weight / 8.0 * OVERHEAD
}

/// The bytes `id` packs a tensor of `shape` into, from the scheme's documented layout (see the
/// README's tables); equal to `scheme.quantize(..).packed.len()`.
pub fn packed_bytes(id: &str, shape: &[usize]) -> Result<u64> {
    schemes::packed_len(id, shape)
}

/// Bits per weight of `id` over tensors of the given shapes: Σ packed bits / Σ elements.
pub fn layout_bits_per_weight(id: &str, shapes: &[Vec<usize>]) -> Result<f64> {
    let (mut bytes, mut elements) = (0u64, 0u64);
    for shape in shapes {
        bytes += packed_bytes(id, shape)?;
        elements += shape.iter().map(|&d| d as u64).product::<u64>();
    }
    Ok(if elements == 0 { 0.0 } else { bytes as f64 * 8.0 / elements as f64 })
}

/// Every scheme id with a distinct layout: the registry without the calibrated integer
/// variants (`_p99.9`, `_mse`, ...), which pack exactly like their min-max base.
pub fn layout_ids() -> Vec<String> {
    schemes::all_ids().into_iter().filter(|id| IntScheme::from_id(id).map_or(true, |s| s.calibration == Calibration::MinMax)).collect()
}

/// One precision in the memory table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemoryRow {
    /// A scheme id, or `fp32` for the unquantized baseline.
    pub scheme: String,
    pub bits_per_weight: f64,
    /// The weights alone: parameters × bits / 8.
    pub size_bytes: f64,
    /// × [`OVERHEAD`].
    pub memory_bytes: f64,
    /// Whether it fits each of [`GPU_GB`].
    pub fits: Vec<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryTable {
    pub parameters: f64,
    pub overhead: f64,
    pub gpu_gb: Vec<f64>,
    /// The shapes the bits per weight were computed for, in words.
    pub shapes_note: String,
    pub rows: Vec<MemoryRow>,
}

/// Size and memory of `parameters` weights at FP32 and at every scheme of [`layout_ids`], bits
/// per weight computed for `shapes` (empty: [`TYPICAL_LAYER`]).
pub fn memory_table(parameters: f64, shapes: &[Vec<usize>]) -> Result<MemoryTable> {
    if !(parameters.is_finite() && parameters > 0.0 && parameters <= 1e15) {
        return Err(Error::InvalidArgument(format!("a parameter count must be a number between 1 and 10¹⁵, got {parameters}")));
    }
    let typical = [TYPICAL_LAYER.to_vec()];
    let (shapes, shapes_note) = if shapes.is_empty() {
        (&typical[..], format!("bits per weight for {}×{} layers", TYPICAL_LAYER[0], TYPICAL_LAYER[1]))
    } else {
        (shapes, format!("bits per weight for the {} loaded tensor{}' shapes", shapes.len(), if shapes.len() == 1 { "" } else { "s" }))
    };
    let row = |scheme: String, bits: f64| {
        let memory = memory_bytes(parameters, bits);
        MemoryRow {
            scheme,
            bits_per_weight: bits,
            size_bytes: parameters * bits / 8.0,
            memory_bytes: memory,
            fits: GPU_GB.iter().map(|&gb| memory <= gb * 1e9).collect(),
        }
    };
    let mut rows = vec![row("fp32".into(), 32.0)];
    for id in layout_ids() {
        // Shapes a scheme cannot take (a per-channel axis past a 1-D tensor) are left out.
        match layout_bits_per_weight(&id, shapes) {
            Ok(bits) => rows.push(row(id, bits)),
            Err(Error::InvalidArgument(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(MemoryTable { parameters, overhead: OVERHEAD, gpu_gb: GPU_GB.to_vec(), shapes_note, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_billion_at_q4_0() {
        let t = memory_table(7e9, &[]).unwrap();
        let q4 = t.rows.iter().find(|r| r.scheme == "q4_0").unwrap();
        assert_eq!(q4.bits_per_weight, 4.5);
        assert_eq!(q4.size_bytes, 7e9 * 4.5 / 8.0);
        assert!((q4.memory_bytes - 4.725e9).abs() < 1.0);
        assert_eq!(q4.fits, vec![true, true, true, true]);
        let fp32 = &t.rows[0];
        assert_eq!((fp32.scheme.as_str(), fp32.memory_bytes), ("fp32", 33.6e9));
        assert_eq!(fp32.fits, vec![false, false, false, true]);
        assert!(!t.rows.iter().any(|r| r.scheme.ends_with("_mse")), "calibrated variants pack like their base");
    }

    #[test]
    fn per_channel_overhead_depends_on_the_shape() {
        assert_eq!(layout_bits_per_weight("int8_sym_channel", &[vec![4096, 4096]]).unwrap(), 8.0 + 32.0 / 4096.0);
        assert_eq!(layout_bits_per_weight("int4_asym_g32", &[vec![64, 64]]).unwrap(), 5.25);
        assert_eq!(layout_bits_per_weight("q4_k", &[vec![256]]).unwrap(), 4.5);
        assert!(packed_bytes("int8_sym_channel3", &[4, 4]).is_err());
        assert!(memory_table(-1.0, &[]).is_err());
        assert!(memory_table(f64::NAN, &[]).is_err());
    }
}
