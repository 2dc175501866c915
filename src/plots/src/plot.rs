//! Charts drawn with plotters onto a page `<canvas>` (main thread only; the numbers come from
//! the worker, serialized, and are read back here).

use crate::labels::{self, Rect};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
pub use quantscope_wasm_common::HistogramIn;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;

/// What `draw_histograms` draws: bar series sharing one x axis, and vertical markers.
#[derive(Debug, Deserialize)]
pub struct HistogramChart {
    pub title: String,
    pub x_label: String,
    pub series: Vec<Series>,
    #[serde(default)]
    pub markers: Vec<Marker>,
    /// Counts on a log axis: a heavy-tailed tensor's few far values (±5 against a std of 0.06)
    /// are bars of height 0 on a linear one.
    #[serde(default)]
    pub log_counts: bool,
}

#[derive(Debug, Deserialize)]
pub struct Series {
    pub label: String,
    pub histogram: HistogramIn,
}

/// A vertical line at `x` (e.g. a calibration clip).
#[derive(Debug, Deserialize)]
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// One point of the SQNR-vs-bits chart. A null SQNR is +∞ when the MSE is 0 (an exact round
/// trip) and −∞ otherwise (an overflow to ±Inf: the error is infinite).
#[derive(Debug, Deserialize)]
pub struct SchemePoint {
    pub scheme: String,
    pub bits_per_weight: f64,
    pub sqnr_db: Option<f64>,
    #[serde(default)]
    pub mse: Option<f64>,
}

/// A point of the SQNR chart as drawn, in canvas pixels, with its label's box (`None`: left
/// unlabelled, as there was no free place): for the page's hover and the tests.
#[derive(Debug, Serialize)]
pub struct DrawnPoint {
    pub scheme: String,
    pub x: f64,
    pub y: f64,
    pub text: String,
    pub label: Option<Rect>,
}

const PALETTE: [RGBColor; 3] = [RGBColor(37, 99, 235), RGBColor(234, 88, 12), RGBColor(22, 163, 74)];
const MARKER: RGBColor = RGBColor(190, 18, 60);

type DrawResult<T> = Result<T, String>;

/// A tick label with as many decimals as the axis span needs (an error axis spans 1e-3, a
/// weight axis 0.3, a count axis thousands); scientific notation outside [1e-2, 1e5].
fn tick(v: f64, span: f64) -> String {
    if v.abs() <= span.abs() * 1e-9 {
        return "0".into();
    }
    if span <= 0.0 || !span.is_finite() || !(1e-2..1e5).contains(&span) {
        return format!("{v:.1e}");
    }
    let decimals = (2.0 - span.log10().floor()).clamp(0.0, 6.0) as usize;
    let text = format!("{v:.decimals$}");
    // "-0.000" reads as a sign error; show it as 0.
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        "0".into()
    } else {
        text
    }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing failed: {e:?}")
}

fn backend(canvas: web_sys::HtmlCanvasElement) -> DrawResult<CanvasBackend> {
    CanvasBackend::with_canvas_object(canvas).ok_or_else(|| "the canvas has no 2D context".to_string())
}

/// Bar series over a shared x range (the first series' range), translucent so overlaps show;
/// counts on a linear axis from 0, or with `log_counts` on a log axis from 0.5 (a bin of 1 is a
/// visible bar, an empty bin none).
pub fn draw_histograms(canvas: web_sys::HtmlCanvasElement, chart: &HistogramChart) -> DrawResult<()> {
    let first = &chart.series.first().ok_or("no series to draw")?.histogram;
    let (lo, hi) = (first.lo, first.hi);
    if !(lo < hi && lo.is_finite() && hi.is_finite()) {
        return Err("the histogram has no finite range".into());
    }
    for s in &chart.series {
        // NaN bounds fail too: only lo < hi is a range.
        if s.histogram.counts.is_empty() || s.histogram.lo.partial_cmp(&s.histogram.hi) != Some(std::cmp::Ordering::Less) {
            return Err(format!("series '{}' has no bins", s.label));
        }
    }
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let peak = chart.series.iter().flat_map(|s| s.histogram.counts.iter()).cloned().fold(1.0, f64::max);
    if chart.log_counts {
        // Half a decade of headroom above the tallest bar, as the linear axis has 5 %.
        draw_bars(&root, chart, lo..hi, (LOG_BASE..peak * 3.0).log_scale(), LOG_BASE, peak * 3.0, "count (log)", |v| {
            if v < 1.0 {
                String::new()
            } else {
                format!("{v:.0}")
            }
        })?;
    } else {
        let ymax = peak * 1.05;
        draw_bars(
            &root,
            chart,
            lo..hi,
            0.0..ymax,
            0.0,
            ymax,
            "count",
            |v| if ymax < 20.0 { format!("{v:.1}") } else { format!("{v:.0}") },
        )?;
    }
    root.present().map_err(err)
}

/// Where the bars of a log-count histogram start: below 1, so a bin of one value has height.
const LOG_BASE: f64 = 0.5;

/// The bars, markers and legend of [`draw_histograms`] on a y axis `y` (linear or log) whose
/// bars rise from `base` and whose markers reach `top`.
#[allow(clippy::too_many_arguments)]
fn draw_bars<Y>(
    root: &DrawingArea<CanvasBackend, Shift>,
    chart: &HistogramChart,
    x: std::ops::Range<f64>,
    y: Y,
    base: f64,
    top: f64,
    y_desc: &str,
    y_label: impl Fn(f64) -> String,
) -> DrawResult<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (lo, hi) = (x.start, x.end);
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(y_desc)
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&|v| tick(*v, hi - lo))
        .y_label_formatter(&|v| y_label(*v))
        .draw()
        .map_err(err)?;
    for (k, s) in chart.series.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let h = &s.histogram;
        let width = (h.hi - h.lo) / h.counts.len() as f64;
        ctx.draw_series(h.counts.iter().enumerate().filter(|(_, &c)| c > 0.0).map(|(i, &c)| {
            let x0 = h.lo + i as f64 * width;
            Rectangle::new([(x0, base), (x0 + width, c)], color.mix(0.55).filled())
        }))
        .map_err(err)?
        .label(s.label.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.55).filled()));
    }
    for m in chart.markers.iter().filter(|m| m.x >= lo && m.x <= hi) {
        ctx.draw_series(LineSeries::new([(m.x, base), (m.x, top)], MARKER.stroke_width(2)))
            .map_err(err)?
            .label(m.label.as_str())
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], MARKER.stroke_width(2)));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The labels' font, and the height of its line box in pixels.
const LABEL_FONT: (&str, u32) = ("sans-serif", 11);
const LABEL_HEIGHT: f64 = 13.0;
/// Marker radius of a point, and of the selected one.
const POINT: i32 = 4;
const SELECTED_POINT: i32 = 6;

/// SQNR (dB) against bits per weight, one point per scheme; `selected` is ringed. Exact round
/// trips (SQNR +∞) sit at the top edge and overflows (−∞) at the bottom, labelled so. Labels
/// never overlap each other or a point ([`labels::place`]): the selected scheme's is placed
/// first, then the plain schemes', then the group, channel and calibrated variants' where room
/// is left. Returns every point as drawn.
pub fn draw_sqnr_chart(canvas: web_sys::HtmlCanvasElement, points: &[SchemePoint], selected: &str) -> DrawResult<Vec<DrawnPoint>> {
    let finite: Vec<f64> = points.iter().filter_map(|p| p.sqnr_db).filter(|v| v.is_finite()).collect();
    if points.is_empty() {
        return Err("no schemes to plot".into());
    }
    let ymax = finite.iter().cloned().fold(10.0, f64::max) + 8.0;
    let ymin = finite.iter().cloned().fold(0.0, f64::min).min(0.0);
    let xmax = points.iter().map(|p| p.bits_per_weight).fold(1.0, f64::max) * 1.08;
    let measure = text_measurer(&canvas)?;
    let root = backend(canvas)?.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut ctx = ChartBuilder::on(&root)
        .caption("SQNR against bits per weight", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..xmax, ymin..ymax)
        .map_err(err)?;
    ctx.configure_mesh()
        .x_desc("bits per weight (scales included)")
        .y_desc("SQNR (dB)")
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(err)?;
    let exact = |p: &SchemePoint| p.sqnr_db.is_none() && p.mse == Some(0.0);
    let y_of = |p: &SchemePoint| match p.sqnr_db.filter(|v| v.is_finite()) {
        Some(v) => v,
        None if exact(p) => ymax - 2.0,
        None => ymin + 1.0,
    };
    let text_of = |p: &SchemePoint| match p.sqnr_db.filter(|v| v.is_finite()) {
        Some(_) => p.scheme.clone(),
        None if exact(p) => format!("{} (∞, exact)", p.scheme),
        None => format!("{} (−∞)", p.scheme),
    };
    // The selected point last, on top.
    ctx.draw_series(
        points
            .iter()
            .filter(|p| p.scheme != selected)
            .map(|p| Circle::new((p.bits_per_weight, y_of(p)), POINT, PALETTE[0].mix(0.7).filled())),
    )
    .map_err(err)?;
    ctx.draw_series(
        points.iter().filter(|p| p.scheme == selected).map(|p| Circle::new((p.bits_per_weight, y_of(p)), SELECTED_POINT, MARKER.filled())),
    )
    .map_err(err)?;

    let centres: Vec<(f64, f64)> = points
        .iter()
        .map(|p| {
            let (x, y) = ctx.backend_coord(&(p.bits_per_weight, y_of(p)));
            (x as f64, y as f64)
        })
        .collect();
    let texts: Vec<String> = points.iter().map(text_of).collect();
    let sizes: Vec<Option<(f64, f64)>> = texts.iter().map(|t| Some((measure(t), LABEL_HEIGHT))).collect();
    // Selected first, then plain ids, then variants: the labels a reader looks for first.
    let variant = |id: &str| id.contains("_g") || id.contains("_channel") || quantscope_core::schemes::is_calibrated(id);
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].scheme != selected, variant(&points[i].scheme)));
    let (xs, ys) = ctx.plotting_area().get_pixel_range();
    let area = Rect { x0: xs.start as f64, y0: ys.start as f64, x1: xs.end as f64, y1: ys.end as f64 };
    let placed = labels::place(&centres, &sizes, &order, area, SELECTED_POINT as f64);
    let font = LABEL_FONT.into_font().color(&BLACK.mix(0.8));
    for (text, r) in texts.iter().zip(&placed) {
        if let Some(r) = r {
            root.draw(&Text::new(text.as_str(), (r.x0.round() as i32, r.y0.round() as i32), font.clone())).map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(points
        .iter()
        .zip(centres)
        .zip(texts.into_iter().zip(placed))
        .map(|((p, (x, y)), (text, label))| DrawnPoint { scheme: p.scheme.clone(), x, y, text, label })
        .collect())
}

/// The width in pixels of a label in [`LABEL_FONT`], measured by the canvas itself (its
/// `measureText`, the metrics `fillText` draws with).
fn text_measurer(canvas: &web_sys::HtmlCanvasElement) -> DrawResult<impl Fn(&str) -> f64> {
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or_else(|| "the canvas has no 2D context".to_string())?;
    let (family, size) = LABEL_FONT;
    Ok(move |text: &str| {
        context.set_font(&format!("{size}px {family}"));
        // Rounded up, plus a pixel: plotters draws at whole pixels.
        context.measure_text(text).map(|m| m.width().ceil() + 1.0).unwrap_or(text.chars().count() as f64 * size as f64 * 0.6)
    })
}

#[cfg(test)]
mod tests {
    use super::tick;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn tick_labels_follow_the_axis_span() {
        assert_eq!(tick(0.05, 0.3), "0.050");
        assert_eq!(tick(-0.0001, 0.3), "0");
        assert_eq!(tick(0.0012, 0.004), "1.2e-3");
        assert_eq!(tick(1500.0, 4000.0), "1500");
        assert_eq!(tick(0.0, 0.004), "0");
    }
}
