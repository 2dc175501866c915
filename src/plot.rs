//! Charts drawn with plotters onto a page `<canvas>` (main thread only; the numbers come from
//! the worker).

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use serde::Deserialize;

/// A histogram as it arrives from JS (the serialized `stats::histogram::Histogram`).
#[derive(Debug, Deserialize)]
pub struct HistogramIn {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<f64>,
}

#[derive(Debug, Deserialize)]
pub struct HistogramPairIn {
    pub original: HistogramIn,
    pub dequantized: HistogramIn,
}

const ORIGINAL: RGBColor = RGBColor(37, 99, 235);
const DEQUANTIZED: RGBColor = RGBColor(234, 88, 12);

/// Original values as filled bars, dequantized values as bars on top, sharing axes.
pub fn draw_histogram_pair(canvas: web_sys::HtmlCanvasElement, pair: &HistogramPairIn, title: &str) -> Result<(), String> {
    let (o, d) = (&pair.original, &pair.dequantized);
    if o.counts.is_empty() || !(o.lo < o.hi) || !o.lo.is_finite() || !o.hi.is_finite() {
        return Err("histogram has no bins or no finite range".into());
    }
    let backend = CanvasBackend::with_canvas_object(canvas).ok_or("the canvas has no 2D context")?;
    let root = backend.into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("drawing failed: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let ymax = o.counts.iter().chain(&d.counts).cloned().fold(1.0, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(o.lo..o.hi, 0.0..ymax)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("value")
        .y_desc("count")
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&|v| format!("{v:.3}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(e)?;
    for (h, color, label) in [(o, ORIGINAL, "original"), (d, DEQUANTIZED, "dequantized")] {
        let width = (h.hi - h.lo) / h.counts.len() as f64;
        chart
            .draw_series(h.counts.iter().enumerate().filter(|(_, &c)| c > 0.0).map(|(i, &c)| {
                let x0 = h.lo + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, c)], color.mix(0.55).filled())
            }))
            .map_err(e)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.55).filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
