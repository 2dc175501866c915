//! Learn panel 6, compare schemes: where each scheme puts its levels, and what that costs.
//!
//! * [`nf4_chart`]: bitsandbytes' 16 NormalFloat4 levels (the table [`Code4::Nf4`] quantizes
//!   with) against the standard normal curve. NF4 is built (`create_normal_map` in
//!   `bitsandbytes/functional.py`) from quantiles of N(0, 1): 8 positive levels at
//!   `Φ⁻¹(p)` for `p` evenly spaced from [`NF4_OFFSET`] down to ½, 7 negative ones likewise, and
//!   0, all divided by `Φ⁻¹(NF4_OFFSET)` so the largest is 1. Each level's `z` and `p` here are
//!   recovered from the table, and the tests check they are those quantiles.
//! * [`grid_comparison`]: INT4, NF4 and FP4 (E2M1) levels scaled to one tensor (one scale for
//!   the whole tensor, so the three grids' shapes can be compared on the same histogram), and
//!   the error of rounding every value to the nearest level of each.
//! * [`pareto_front`]: the schemes no other scheme beats on both size and SQNR.
//!
//! The charts are drawn with plotters on the page's main thread (wasm only, at the end).

use quantscope_core::error::{Error, Result};
use quantscope_core::schemes::bnb::Code4;
use quantscope_core::schemes::int::IntScheme;
use quantscope_core::schemes::{Measured, Scheme};
use quantscope_core::stats::finite_or_null;
use quantscope_core::stats::histogram::{histogram, Histogram};
use quantscope_core::stats::metrics::{error_metrics, from_sums};
use quantscope_core::stats::summary::summarize;
use quantscope_core::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The outermost quantile of NF4 (`create_normal_map(offset=0.9677083)`): the level 1.0.
pub const NF4_OFFSET: f64 = 0.9677083;

/// The OCP FP4 E2M1 magnitudes (sign separate): ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
pub const E2M1_MAGNITUDES: [f64; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// The standard normal density φ(z).
pub fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The standard normal CDF Φ(z), as ½ + ∫₀^z φ by composite Simpson's rule (4096 intervals:
/// error below 10⁻¹³ for |z| ≤ 8; beyond that Φ is 0 or 1 to f64 precision anyway).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    let a = z.abs().min(8.0);
    const N: usize = 4096;
    let h = a / N as f64;
    let mut s = normal_pdf(0.0) + normal_pdf(a);
    for i in 1..N {
        s += normal_pdf(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    let half_area = s * h / 3.0;
    if z >= 0.0 {
        0.5 + half_area
    } else {
        0.5 - half_area
    }
}

/// Φ⁻¹(p) for p in (0, 1), by bisection on [`normal_cdf`] (to ~10⁻¹² in z).
pub fn normal_quantile(p: f64) -> Result<f64> {
    if !(p > 0.0 && p < 1.0) {
        return Err(Error::InvalidArgument(format!("a probability must be strictly between 0 and 1, got {p}")));
    }
    let (mut lo, mut hi) = (-8.0f64, 8.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// One NF4 level.
#[derive(Debug, Clone, Serialize)]
pub struct Nf4Level {
    /// The 4-bit code (NF4's table is sorted, so code order is value order).
    pub code: u8,
    /// The level, in [−1, 1].
    pub value: f32,
    /// The level in standard deviations of N(0, 1): `value · Φ⁻¹(NF4_OFFSET)`.
    pub z: f64,
    /// Φ(z): the quantile this level sits at.
    pub quantile: f64,
}

/// NF4's levels against the normal curve.
#[derive(Debug, Clone, Serialize)]
pub struct Nf4Chart {
    /// Φ⁻¹(NF4_OFFSET) ≈ 1.848: how many σ the level 1.0 stands for.
    pub z_max: f64,
    pub levels: Vec<Nf4Level>,
    /// (z, φ(z)) from −3.5 to 3.5.
    pub curve: Vec<(f64, f64)>,
}

/// bitsandbytes' NF4 table (code → value).
pub fn nf4_levels() -> [f32; 16] {
    Code4::Nf4.table()
}

/// The NF4 levels, each with its z and quantile, and the normal curve to draw them against.
pub fn nf4_chart() -> Nf4Chart {
    let z_max = normal_quantile(NF4_OFFSET).expect("NF4_OFFSET is a probability");
    let levels = nf4_levels()
        .iter()
        .enumerate()
        .map(|(code, &value)| {
            let z = value as f64 * z_max;
            Nf4Level { code: code as u8, value, z, quantile: normal_cdf(z) }
        })
        .collect();
    let curve = (0..=140).map(|i| -3.5 + i as f64 * 0.05).map(|z| (z, normal_pdf(z))).collect();
    Nf4Chart { z_max, levels, curve }
}

/// One 4-bit grid scaled to a tensor.
#[derive(Debug, Clone, Serialize)]
pub struct Grid {
    /// `int4`, `nf4` or `fp4_e2m1`.
    pub id: &'static str,
    pub name: &'static str,
    /// How the levels were scaled, in words and as a formula.
    pub formula: &'static str,
    /// The factor the unit grid was multiplied by.
    pub scale: f64,
    /// The distinct levels, ascending, in the tensor's units.
    pub levels: Vec<f64>,
    pub mse: f64,
    #[serde(serialize_with = "finite_or_null")]
    pub sqnr_db: f64,
}

/// Three 4-bit grids over one tensor's histogram.
#[derive(Debug, Clone, Serialize)]
pub struct GridComparison {
    /// The largest finite |x|; every grid's outermost level sits there.
    pub absmax: f64,
    /// The tensor's values on [−absmax, absmax].
    pub histogram: Histogram,
    pub grids: Vec<Grid>,
    /// The `fp4_e2m1` scheme itself, a cast with no scale, on the same tensor.
    pub fp4_cast: CastFigures,
}

/// What a plain cast to FP4 E2M1 (the `fp4_e2m1` scheme: no scale) does to a tensor, to set
/// beside the grid scaled to the tensor's absmax. E2M1's smallest nonzero magnitude is 0.5, so
/// every |x| ≤ 0.25 (0.25 itself ties to the even code, 0) becomes 0: trained weights, with
/// |x| well below that, all vanish — SQNR 0 dB, the error is the whole signal.
#[derive(Debug, Clone, Serialize)]
pub struct CastFigures {
    pub scheme: &'static str,
    pub mse: f64,
    #[serde(serialize_with = "finite_or_null")]
    pub sqnr_db: f64,
    /// Nonzero finite values the cast turns into 0, as a fraction of the finite values.
    pub zeroed_fraction: f64,
    /// The largest |x| that casts to 0.
    pub zero_below: f64,
}

/// The `fp4_e2m1` scheme's round trip of `t`, measured as the Inspect view measures it.
pub fn fp4_cast(t: &Tensor) -> Result<CastFigures> {
    let q = quantscope_core::schemes::by_id("fp4_e2m1")?.quantize(&t.data, &t.shape)?;
    let m = error_metrics(&t.data, &q.dequantized);
    let zeroed = t.data.iter().zip(&q.dequantized).filter(|(x, d)| x.is_finite() && **x != 0.0 && **d == 0.0).count();
    Ok(CastFigures {
        scheme: "fp4_e2m1",
        mse: m.mse,
        sqnr_db: m.sqnr_db,
        zeroed_fraction: if m.compared == 0 { 0.0 } else { zeroed as f64 / m.compared as f64 },
        zero_below: 0.25,
    })
}

/// Rounds every value to the nearest of `levels` (ascending, distinct; ties go to the lower
/// level). NaN becomes the level nearest 0; ±Inf the extreme level of its sign.
pub fn round_to_levels(values: &[f32], levels: &[f64]) -> Vec<f32> {
    let mids: Vec<f64> = levels.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    let nearest = |x: f64| levels[mids.partition_point(|&m| m < x)] as f32;
    values.iter().map(|&x| if x.is_nan() { nearest(0.0) } else { nearest(x as f64) }).collect()
}

/// INT4 (symmetric, one scale for the tensor: ONNX Runtime semantics, codes −7..7), NF4 and
/// FP4 E2M1 (each scaled so its largest level is the tensor's absmax), over a `bins`-bin
/// histogram of the tensor.
pub fn grid_comparison(t: &Tensor, bins: usize) -> Result<GridComparison> {
    let s = summarize(&t.data);
    let absmax = s.abs_max;
    if absmax <= 0.0 || absmax.is_nan() {
        return Err(Error::InvalidArgument(format!(
            "tensor '{}' has no nonzero finite value, so there is no range to lay a grid over",
            t.name
        )));
    }
    let mut grids = Vec::with_capacity(3);

    // INT4: the library's own per-tensor symmetric scheme; its levels are q · scale.
    let int4 = IntScheme::from_id("int4_sym").expect("int4_sym is registered");
    let mut measured = Measured::default();
    let q = int4.quantize_to(&t.data, &t.shape, &mut measured)?;
    let scale = q.params.iter().find(|p| p.name == "scale").map_or(1.0, |p| p.values[0]);
    let m = from_sums(measured.sums.finish());
    grids.push(Grid {
        id: "int4",
        name: "INT4 (symmetric)",
        formula: "x̂ = q · scale, q ∈ −7…7, scale = absmax / 7: evenly spaced",
        scale,
        levels: (-7..=7).map(|q| (q as f32 * scale as f32) as f64).collect(),
        mse: m.mse,
        sqnr_db: m.sqnr_db,
    });

    // NF4: bnb's table times the absmax (here one absmax for the tensor, not per 64 values).
    let mut nf4: Vec<f64> = nf4_levels().iter().map(|&v| (v * absmax as f32) as f64).collect();
    nf4.dedup();
    let m = error_metrics(&t.data, &round_to_levels(&t.data, &nf4));
    grids.push(Grid {
        id: "nf4",
        name: "NF4",
        formula: "x̂ = NF4[q] · absmax: normal quantiles, dense near 0",
        scale: absmax,
        levels: nf4,
        mse: m.mse,
        sqnr_db: m.sqnr_db,
    });

    // FP4 E2M1 with a scale absmax / 6 (as MXFP4/NVFP4 scale their blocks).
    let step = absmax / 6.0;
    let mut fp4: Vec<f64> =
        E2M1_MAGNITUDES.iter().rev().map(|&v| -v * step).chain(E2M1_MAGNITUDES[1..].iter().map(|&v| v * step)).collect();
    fp4.dedup();
    let m = error_metrics(&t.data, &round_to_levels(&t.data, &fp4));
    grids.push(Grid {
        id: "fp4_e2m1",
        name: "FP4 (E2M1)",
        formula: "x̂ = E2M1[q] · absmax / 6, E2M1 = ±{0, ½, 1, 1½, 2, 3, 4, 6}: finer near 0, coarser out",
        scale: step,
        levels: fp4,
        mse: m.mse,
        sqnr_db: m.sqnr_db,
    });

    Ok(GridComparison { absmax, histogram: histogram(&t.data, bins, -absmax, absmax), grids, fp4_cast: fp4_cast(t)? })
}

/// A point of the size/accuracy trade-off.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TradeOff {
    pub scheme: String,
    pub bits_per_weight: f64,
    /// `None` for an exact round trip (infinite SQNR).
    pub sqnr_db: Option<f64>,
}

/// The schemes on the Pareto front, fewest bits first: none of them is beaten by another that
/// is at most as large and at least as accurate (strictly better in one).
pub fn pareto_front(points: &[TradeOff]) -> Vec<TradeOff> {
    let sqnr = |p: &TradeOff| p.sqnr_db.unwrap_or(f64::INFINITY);
    let mut sorted: Vec<&TradeOff> = points.iter().filter(|p| p.bits_per_weight.is_finite() && !sqnr(p).is_nan()).collect();
    // Fewest bits first; at equal bits the most accurate first, so it alone can enter.
    sorted.sort_by(|a, b| a.bits_per_weight.total_cmp(&b.bits_per_weight).then(sqnr(b).total_cmp(&sqnr(a))));
    let mut front: Vec<TradeOff> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for p in sorted {
        if sqnr(p) > best {
            best = sqnr(p);
            front.push(p.clone());
        }
    }
    front
}

// ------------------------------------------------------------------------------ wasm exports

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_and_quantile_agree_with_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-12);
        assert!((normal_cdf(-1.959_963_984_540_054) - 0.025).abs() < 1e-12);
        assert!((normal_quantile(0.975).unwrap() - 1.959_963_984_540_054).abs() < 1e-9);
        assert!(normal_quantile(1.0).is_err() && normal_quantile(f64::NAN).is_err());
    }

    #[test]
    fn rounding_to_levels_picks_the_nearest() {
        let levels = [-1.0, 0.0, 0.5, 2.0];
        let x = [-3.0, -0.5, 0.2, 0.3, 1.25, 1.3, f32::NAN, f32::INFINITY];
        assert_eq!(round_to_levels(&x, &levels), vec![-1.0, -1.0, 0.0, 0.5, 0.5, 2.0, 0.0, 2.0]);
    }

    #[test]
    fn pareto_front_drops_dominated_points() {
        let p = |s: &str, b: f64, q: Option<f64>| TradeOff { scheme: s.into(), bits_per_weight: b, sqnr_db: q };
        let points =
            vec![p("a", 4.5, Some(20.0)), p("b", 4.5, Some(22.0)), p("c", 5.0, Some(21.0)), p("d", 8.0, Some(40.0)), p("e", 16.0, None)];
        let names: Vec<String> = pareto_front(&points).into_iter().map(|t| t.scheme).collect();
        assert_eq!(names, vec!["b", "d", "e"]);
    }
}
