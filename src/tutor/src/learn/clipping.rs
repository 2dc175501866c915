use crate::Lesson;
use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Lesson {
    /// Learn view: histogram, curve clips and calibration markers (`clipping::ClipSetup`).
    pub fn learn_clip_setup(&self, bits: u32, points: usize) -> Result<JsValue, JsError> {
        to_js(&quantscope_learn::clipping::setup(&self.tensor()?.data, bits, points).map_err(js_err)?)
    }

    /// Learn view: `int{bits}_sym` clipped at each of `clips` (`[clipping::ClipPoint]`).
    pub fn learn_clip_curve(&self, bits: u32, clips: Vec<f32>) -> Result<JsValue, JsError> {
        to_js(&quantscope_learn::clipping::curve(&self.tensor()?.data, bits, &clips).map_err(js_err)?)
    }

    /// Learn view: `int{bits}_sym` clipped at `clip` (`clipping::ClipPoint`).
    pub fn learn_clip_at(&self, bits: u32, clip: f32) -> Result<JsValue, JsError> {
        to_js(&quantscope_learn::clipping::clip_point(&self.tensor()?.data, bits, clip).map_err(js_err)?)
    }
}
