use crate::Workspace;
use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Workspace {
    /// Learn view: tensor `index` under `int{bits}_sym` and `int{bits}_asym`
    /// (`mapping::MappingReport`), tracing `value` too when given.
    pub fn learn_mapping(&self, index: usize, bits: u32, value: Option<f64>) -> Result<JsValue, JsError> {
        to_js(&quantscope_learn::mapping::mapping(&self.tensor(index)?.data, bits, value).map_err(js_err)?)
    }
}
