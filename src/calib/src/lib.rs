//! The calibration module (www/pkg-calib): ONNX Runtime's histogram calibrations of a person's
//! model for static QDQ (`quantscope_onnx_quant::calibrate`, a port of onnxruntime's
//! `calibrate.py`: Percentile, Entropy, Distribution), loaded by the Run worker beside the static
//! QDQ module (www/pkg-qdq) when one of them is chosen. The worker runs the model in the models
//! module's engine, which hands each tensor of the QDQ module's histogram calibration model's
//! list to a [`StaticCalibration`] as it is made (`observe_tensors`), and gives the ranges to the
//! QDQ module's writer. A module
//! of its own: in the QDQ module it would take that from 97,3xx to 108,1xx B gzipped (its
//! ceiling is 100,000), and MinMax (the default) does not need it. wasm32 only: on other targets
//! the crate is empty.
#![cfg(target_arch = "wasm32")]

use quantscope_onnx_quant::calibrate::{Calibration, Calibrator, Method};
use quantscope_onnx_quant::QuantizeError;
use wasm_bindgen::prelude::*;

/// The calibration's own reason; its other errors (a model's) never come from here, and
/// formatting them would link the ONNX reader's messages into this module.
fn js_err(e: QuantizeError) -> JsError {
    match e {
        QuantizeError::Calibration(why) => JsError::new(&format!("calibration: {why}")),
        _ => JsError::new("calibration failed"),
    }
}

pub use quantscope_wasm_common::wasm_memory_bytes;

/// One of ONNX Runtime's histogram calibrations, fed tensor by tensor.
#[wasm_bindgen]
pub struct StaticCalibration(Calibrator);

#[wasm_bindgen]
impl StaticCalibration {
    /// `method`: "percentile", "entropy" or "distribution" (or "minmax"); `bins` and
    /// `percentile` as ONNX Runtime's `num_bins` and `CalibPercentile`; `symmetric`:
    /// Percentile's `CalibTensorRangeSymmetric`. Options ONNX Runtime would refuse are refused.
    #[wasm_bindgen(constructor)]
    pub fn new(method: &str, bins: u32, percentile: f64, symmetric: bool) -> Result<StaticCalibration, JsError> {
        let method = Method::parse(method).map_err(js_err)?;
        let c = Calibration { num_bins: bins as usize, percentile, symmetric, ..Calibration::new(method) };
        Ok(StaticCalibration(Calibrator::new(c).map_err(js_err)?))
    }

    /// All the calibration runs' values of `tensor` (one `collect_data`).
    pub fn collect(&mut self, tensor: &str, values: &[f32]) -> Result<(), JsError> {
        self.0.collect(tensor, values).map_err(js_err)
    }

    /// `[lowest, highest]` of each of `tensors` in turn (NaN for one not collected).
    pub fn ranges(&self, tensors: Vec<String>) -> Result<Vec<f32>, JsError> {
        let ranges = self.0.ranges().map_err(js_err)?;
        Ok(tensors.iter().flat_map(|t| ranges.get(t).map_or([f32::NAN; 2], |r| [r.0, r.1])).collect())
    }
}
