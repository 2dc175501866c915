use crate::Lesson;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use quantscope_wasm_common::HistogramIn;
use quantscope_wasm_common::{js_err, to_js};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Lesson {
    /// Learn panel 6: INT4, NF4 and FP4 grids scaled to the lesson's tensor, over a `bins`-bin
    /// histogram: `{absmax, histogram, grids: [{id, name, formula, scale, levels, mse,
    /// sqnr_db}]}`.
    pub fn learn_grid_comparison(&self, bins: usize) -> Result<JsValue, JsError> {
        let t = self.tensor()?;
        to_js(&quantscope_learn::compare::grid_comparison(&t, bins).map_err(js_err)?)
    }
}

/// Learn panel 6: the NF4 levels with their z and quantile, and the normal curve:
/// `{z_max, levels: [{code, value, z, quantile}], curve: [[z, pdf]]}`.
#[wasm_bindgen]
pub fn learn_nf4_chart() -> Result<JsValue, JsError> {
    to_js(&quantscope_learn::compare::nf4_chart())
}

/// The Pareto front of `[{scheme, bits_per_weight, sqnr_db}]` (fewest bits first).
#[wasm_bindgen]
pub fn learn_pareto_front(points: JsValue) -> Result<JsValue, JsError> {
    let points: Vec<quantscope_learn::compare::TradeOff> =
        serde_wasm_bindgen::from_value(points).map_err(|e| JsError::new(&format!("scheme points are malformed: {e}")))?;
    to_js(&quantscope_learn::compare::pareto_front(&points))
}

#[derive(Deserialize)]
struct Nf4ChartIn {
    z_max: f64,
    levels: Vec<LevelIn>,
    curve: Vec<(f64, f64)>,
}

#[derive(Deserialize)]
struct LevelIn {
    value: f64,
    z: f64,
}

#[derive(Deserialize)]
struct GridsIn {
    histogram: HistogramIn,
    grids: Vec<GridIn>,
}

#[derive(Deserialize)]
struct GridIn {
    name: String,
    levels: Vec<f64>,
    sqnr_db: Option<f64>,
}

const BLUE: RGBColor = RGBColor(37, 99, 235);
const ORANGE: RGBColor = RGBColor(234, 88, 12);
const GREEN: RGBColor = RGBColor(22, 163, 74);
const BARS: RGBColor = RGBColor(148, 163, 184);

fn err<E: std::fmt::Debug>(e: E) -> JsError {
    JsError::new(&format!("drawing failed: {e:?}"))
}

fn backend(canvas: web_sys::HtmlCanvasElement) -> Result<CanvasBackend, JsError> {
    CanvasBackend::with_canvas_object(canvas).ok_or_else(|| JsError::new("the canvas has no 2D context"))
}

/// Draws the normal density with NF4's levels as stems (at z = level · z_max), and INT4's
/// 15 evenly spaced levels over the same range as ticks beneath, for contrast.
#[wasm_bindgen]
pub fn learn_draw_nf4_chart(canvas: web_sys::HtmlCanvasElement, chart: JsValue) -> Result<(), JsError> {
    let c: Nf4ChartIn = serde_wasm_bindgen::from_value(chart).map_err(|e| JsError::new(&format!("NF4 chart data is malformed: {e}")))?;
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut ctx = ChartBuilder::on(&root)
        .caption("NF4 levels on the normal curve", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(-3.5f64..3.5f64, -0.06f64..0.45f64)
        .map_err(err)?;
    ctx.configure_mesh()
        .x_desc("z (standard deviations)")
        .y_desc("density φ(z)")
        .light_line_style(BLACK.mix(0.05))
        .y_label_formatter(&|v| if *v < 0.0 { String::new() } else { format!("{v:.2}") })
        .draw()
        .map_err(err)?;
    ctx.draw_series(LineSeries::new(c.curve.iter().copied(), BLACK.mix(0.6).stroke_width(2)))
        .map_err(err)?
        .label("N(0, 1)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.mix(0.6).stroke_width(2)));
    let pdf = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    ctx.draw_series(c.levels.iter().map(|l| PathElement::new([(l.z, 0.0), (l.z, pdf(l.z))], BLUE.stroke_width(2))))
        .map_err(err)?
        .label("NF4: 16 levels at normal quantiles")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], BLUE.filled()));
    ctx.draw_series(c.levels.iter().map(|l| Circle::new((l.z, pdf(l.z)), 3, BLUE.filled()))).map_err(err)?;
    ctx.draw_series(
        c.levels
            .iter()
            .filter(|l| l.value.abs() == 1.0 || l.value == 0.0)
            .map(|l| Text::new(format!("{:+.0}", l.value), (l.z, pdf(l.z) + 0.035), ("sans-serif", 11).into_font().color(&BLUE))),
    )
    .map_err(err)?;
    ctx.draw_series((-7..=7).map(|q| {
        let z = q as f64 / 7.0 * c.z_max;
        PathElement::new([(z, -0.05), (z, -0.015)], ORANGE.stroke_width(2))
    }))
    .map_err(err)?
    .label("INT4: 15 evenly spaced levels")
    .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], ORANGE.filled()));
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Draws the tensor's histogram three times, stacked, each with one grid's levels as
/// vertical lines.
#[wasm_bindgen]
pub fn learn_draw_grid_comparison(canvas: web_sys::HtmlCanvasElement, data: JsValue) -> Result<(), JsError> {
    let d: GridsIn = serde_wasm_bindgen::from_value(data).map_err(|e| JsError::new(&format!("grid data is malformed: {e}")))?;
    let h = &d.histogram;
    // NaN bounds fail too: only lo < hi is a range.
    if h.counts.is_empty() || h.lo.partial_cmp(&h.hi) != Some(std::cmp::Ordering::Less) {
        return Err(JsError::new("the histogram has no bins"));
    }
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let ymax = h.counts.iter().cloned().fold(1.0, f64::max) * 1.08;
    let width = (h.hi - h.lo) / h.counts.len() as f64;
    let panels = root.split_evenly((d.grids.len().max(1), 1));
    for (k, (area, g)) in panels.iter().zip(&d.grids).enumerate() {
        let color = [BLUE, ORANGE, GREEN][k % 3];
        let sqnr = g.sqnr_db.map_or("∞".to_string(), |v| format!("{v:.1}"));
        let last = k + 1 == d.grids.len();
        let mut ctx = ChartBuilder::on(area)
            .caption(format!("{}: {} levels, SQNR {sqnr} dB", g.name, g.levels.len()), ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(if last { 28 } else { 14 })
            .y_label_area_size(48)
            .build_cartesian_2d(h.lo..h.hi, 0.0..ymax)
            .map_err(err)?;
        ctx.configure_mesh()
            .disable_mesh()
            .y_labels(3)
            .x_label_formatter(&|v| if last { format!("{v:.3}") } else { String::new() })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        ctx.draw_series(h.counts.iter().enumerate().filter(|(_, &c)| c > 0.0).map(|(i, &c)| {
            let x0 = h.lo + i as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, c)], BARS.mix(0.7).filled())
        }))
        .map_err(err)?;
        ctx.draw_series(g.levels.iter().map(|&x| PathElement::new([(x, 0.0), (x, ymax)], color.mix(0.9).stroke_width(2)))).map_err(err)?;
    }
    root.present().map_err(err)
}
