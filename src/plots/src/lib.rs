//! The plot module (`www/pkg-plot`): the only wasm the page's main thread loads. It draws the
//! Inspect view's histograms and SQNR chart (and the Learn view's SQNR chart) with plotters,
//! from numbers the workbench's worker sent; chart label placement ([`labels`]) is plain Rust,
//! tested natively. Kept apart from the workbench (`www/pkg`) so that the worker's module
//! carries no drawing code and the main thread no file readers or quantizers.

pub mod labels;

#[cfg(target_arch = "wasm32")]
mod plot;

#[cfg(target_arch = "wasm32")]
pub use exports::*;

#[cfg(target_arch = "wasm32")]
mod exports {
    use crate::plot;
    use quantscope_wasm_common::to_js;
    use wasm_bindgen::prelude::*;

    /// Draws bar histograms (`plot::HistogramChart`: `{title, x_label, series: [{label,
    /// histogram}], markers: [{x, label}]}`) onto `canvas` with plotters.
    #[wasm_bindgen]
    pub fn draw_histograms(canvas: web_sys::HtmlCanvasElement, chart: JsValue) -> Result<(), JsError> {
        let chart: plot::HistogramChart =
            serde_wasm_bindgen::from_value(chart).map_err(|e| JsError::new(&format!("histogram chart is malformed: {e}")))?;
        plot::draw_histograms(canvas, &chart).map_err(|e| JsError::new(&e))
    }

    /// Draws SQNR against bits per weight for scheme reports (`[{scheme, bits_per_weight,
    /// sqnr_db, mse}]`); returns every point as drawn, `[{scheme, x, y, text, label: {x0, y0,
    /// x1, y1} or null}]` in canvas pixels (for the page's hover).
    #[wasm_bindgen]
    pub fn draw_sqnr_chart(canvas: web_sys::HtmlCanvasElement, reports: JsValue, selected: &str) -> Result<JsValue, JsError> {
        let points: Vec<plot::SchemePoint> =
            serde_wasm_bindgen::from_value(reports).map_err(|e| JsError::new(&format!("scheme points are malformed: {e}")))?;
        to_js(&plot::draw_sqnr_chart(canvas, &points, selected).map_err(|e| JsError::new(&e))?)
    }
}

// Unit tests marked for wasm-bindgen-test run in headless Chromium, not Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
