use crate::Lesson;
use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Lesson {
    /// Learn panel 4: `int{bits}_{sym|asym}` per tensor, per channel and per group of
    /// 32/64/128 on the lesson's tensor. Returns `{bits, symmetric, shape, choices: [{scheme,
    /// label, mse, sqnr_db, bits_per_weight, groups, element_stride, grid_columns,
    /// grid_caption, scales: Float32Array, zero_points: Float32Array}]}`.
    pub fn learn_granularity(&self, bits: u32, symmetric: bool) -> Result<JsValue, JsError> {
        let t = self.tensor()?;
        let r = quantscope_learn::granularity::granularity_report(&t, bits, symmetric).map_err(js_err)?;
        let out = to_js(&r)?;
        let choices = js_sys::Reflect::get(&out, &"choices".into()).map_err(|_| JsError::new("no choices"))?;
        for (k, c) in r.choices.iter().enumerate() {
            let obj = js_sys::Reflect::get(&choices, &(k as u32).into()).map_err(|_| JsError::new("no choice"))?;
            let set = |name: &str, v: &[f32]| js_sys::Reflect::set(&obj, &name.into(), &js_sys::Float32Array::from(v).into());
            set("scales", &c.scales).and(set("zero_points", &c.zero_points)).map_err(|_| JsError::new("could not attach the scales"))?;
        }
        Ok(out)
    }

    /// Learn panel 4: the packed bytes of the block (GGML) or group (integer scheme) of
    /// `scheme` that holds element `element` of the lesson's tensor, decoded field by field.
    pub fn learn_block_view(&self, scheme: &str, element: usize) -> Result<JsValue, JsError> {
        let t = self.tensor()?;
        to_js(&quantscope_learn::granularity::block_view(&t, scheme, element).map_err(js_err)?)
    }
}

/// Learn panel 4, "with and without an importance matrix": block `block` of `scheme` (a K-quant,
/// IQ4_NL, IQ4_XS …) decoded field by field from its packed bytes alone, with its original
/// values. The mixer module quantizes the block (it has the weighted quantizers); this module
/// has the decoders.
#[wasm_bindgen]
pub fn learn_decode_block(scheme: &str, packed: &[u8], originals: &[f32], block: usize) -> Result<JsValue, JsError> {
    to_js(&quantscope_learn::granularity::decode_block(scheme, packed, originals, block).map_err(js_err)?)
}
