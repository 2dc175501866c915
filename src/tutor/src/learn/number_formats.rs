use crate::Lesson;
use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

/// Learn view: the typed number in every float format (`formats::NumberReport`).
#[wasm_bindgen]
pub fn learn_number(text: &str) -> Result<JsValue, JsError> {
    to_js(&quantscope_learn::number_formats::explain_number(text).map_err(js_err)?)
}

/// Learn view: one code of a float format taken apart (`formats::Stored`), compared with
/// `typed` when given.
#[wasm_bindgen]
pub fn learn_decode_bits(format: &str, code: u32, typed: Option<f64>) -> Result<JsValue, JsError> {
    to_js(&quantscope_learn::number_formats::decode_code(format, code, typed).map_err(js_err)?)
}

/// Learn view: every float and integer format's layout and range (`formats::Facts`).
#[wasm_bindgen]
pub fn learn_format_facts() -> Result<JsValue, JsError> {
    to_js(&quantscope_learn::number_formats::facts())
}

#[wasm_bindgen]
impl Lesson {
    /// Learn view: a histogram of the lesson's tensor whose bins carry one of their values.
    pub fn learn_pick_histogram(&self, bins: usize) -> Result<JsValue, JsError> {
        to_js(&quantscope_learn::number_formats::pick_histogram(&self.tensor()?.data, bins).map_err(js_err)?)
    }
}
