//! The Learn view's STE panel asks the trainer for a trace of one neuron's weights in a QAT run
//! (`quantscope_train::trace`): their float values, fake-quantized values, masks and gradients,
//! and their scale and zero point, per step, as the trainer's own forward and backward had them.

use quantscope_train::trace::Trace;
use quantscope_wasm_common::js_err;
use wasm_bindgen::prelude::*;

use crate::TrainingRun;

#[wasm_bindgen]
impl TrainingRun {
    /// Follows neuron `row` of layer `layer` (0: the first Linear) from the next step on, unless
    /// the run follows it already, and returns its records from `from` on in `Trace::to_f32`'s
    /// layout (www/train/trace.js reads it). One export for both, as the module's size is
    /// budgeted. Refused for FP32 and LSQ runs and a layer or neuron the model lacks.
    pub fn trace(&mut self, layer: usize, row: usize, from: usize) -> Result<Vec<f32>, JsError> {
        let t = &mut self.trainer;
        if !t.trace.as_ref().is_some_and(|x| (x.layer, x.row) == (layer, row)) {
            let steps = t.total_steps(&self.train) - t.step;
            t.trace = Some(Trace::new(&t.model, t.qat.as_ref(), layer, row, steps).map_err(js_err)?);
        }
        Ok(t.trace.as_ref().map(|x| x.to_f32(from)).unwrap_or_default())
    }
}
