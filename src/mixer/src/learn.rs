//! The Learn view's exports that quantize with llama.cpp's grid types or an importance vector:
//! Granularity's block decoder for IQ2_XXS … IQ1_M and "what an importance matrix changes"
//! (quantscope-learn's iq_blocks.rs). They live in this module because it links core's
//! `iq-grids` and every weighted quantizer already; the tutor module has no room for them. The
//! K-quant and IQ4 blocks of the comparison are decoded field by field by the tutor, which has
//! those decoders (granularity.rs `decode_block`); only the grid decoder is here. The worker
//! (www/learn/ops.js) sends the 256 values around the element, not the tensor.

use quantscope_learn::iq_blocks::{self, Window};
use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

/// The block of `id` holding `element` quantized alone, with `importance` (one weight per
/// column) or without: `{block, first_element, originals, packed, decoded, weights, sse,
/// weighted_sse}`, its error weighted by `measure`. `values` are elements `first..` of a tensor
/// of `total` values in rows of `row_length`. IQ2_XXS, IQ2_XS and IQ1_S without `importance`:
/// llama.cpp's refusal.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn learn_quantize_block(
    id: &str,
    values: &[f32],
    first: usize,
    total: usize,
    row_length: usize,
    element: usize,
    importance: Option<Vec<f32>>,
    measure: Option<Vec<f32>>,
) -> Result<JsValue, JsError> {
    let w = Window { values, first, total, row_length };
    to_js(&iq_blocks::quantize_block_of(id, &w, element, importance.as_deref(), measure.as_deref()).map_err(js_err)?)
}

/// Grid block `block` of type `id` (holding `values` of the tensor's values) decoded from its bytes
/// `packed`: `{scheme, block, first_element, elements_in_block, block_offset, block_len, d, fields, groups}`.
#[wasm_bindgen]
pub fn learn_grid_decode(id: &str, packed: &[u8], values: usize, block: usize) -> Result<JsValue, JsError> {
    to_js(&iq_blocks::grid_block_decode(id, packed, values, block).map_err(js_err)?)
}
