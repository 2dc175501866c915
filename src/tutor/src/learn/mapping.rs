use crate::Lesson;
use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Lesson {
    /// Learn view: the lesson's tensor under `int{bits}_sym` and `int{bits}_asym`
    /// (`mapping::MappingReport`), tracing `value` too when given.
    pub fn learn_mapping(&self, bits: u32, value: Option<f64>) -> Result<JsValue, JsError> {
        to_js(&quantscope_learn::mapping::mapping(&self.tensor()?.data, bits, value).map_err(js_err)?)
    }
}
