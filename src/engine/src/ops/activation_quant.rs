//! The per-element loops around the integer GEMM of the quantized ops: the activation range of
//! DynamicQuantizeLinear, quantization to u8, and the rescale of the i32 accumulators to f32.
//! Each has a scalar reference (the definition, in [`reference`]), a SIMD128 kernel that must
//! equal it bit for bit, and a dispatching function here that picks between them — the only
//! place that does. `src/engine/tests/engine_kernels.rs` holds the kernels to the references in Chromium.
//!
//! Why they have kernels at all: at batch 256 the MNIST MLP's first layer quantizes 200,704
//! activations per run. Scalar, the range and the quantization took about as long as the int8
//! GEMM itself (batch-256 INT8 ran at 144k inferences/s against 206k for FP32 in the same
//! Chromium run).

/// The scalar definitions.
pub mod reference {
    /// `(min(0, min x), max(0, max x))` over the non-NaN values: DynamicQuantizeLinear's range,
    /// which always includes 0. NaN never wins a comparison, so it does not move the range.
    pub fn range(x: &[f32]) -> (f32, f32) {
        let (mut lo, mut hi) = (0.0f32, 0.0f32);
        for &v in x {
            if v < lo {
                lo = v;
            }
            if v > hi {
                hi = v;
            }
        }
        (lo, hi)
    }

    /// `out[i] = clamp(round_half_even(x[i] / scale) + zp, 0, 255)`, the DynamicQuantizeLinear
    /// and QuantizeLinear formula in f32; NaN → 0, as MLAS's conversion of a NaN lane gives.
    pub fn quantize_u8(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
        let z = zp as f32;
        for (o, &v) in out.iter_mut().zip(x) {
            let q = (v / scale).round_ties_even() + z;
            *o = q.clamp(0.0, 255.0) as u8;
        }
    }

    /// `out = acc as f32 · multiplier[j] (+ bias[j])` for rows of `multiplier.len()` columns:
    /// the Cast, Mul and Add of ONNX Runtime's dynamic graph, each rounded separately.
    pub fn rescale(acc: &[i32], multiplier: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let n = multiplier.len().max(1);
        for (row, orow) in acc.chunks(n).zip(out.chunks_mut(n)) {
            for (j, (&a, o)) in row.iter().zip(orow.iter_mut()).enumerate() {
                let v = a as f32 * multiplier[j];
                *o = match bias {
                    Some(b) => v + b[j],
                    None => v,
                };
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    /// [`super::reference::range`]: `f32x4_pmin(lo, v)` is `v < lo ? v : lo`, the reference's
    /// comparison lane by lane (NaN never replaces), and min/max of non-NaN values do not depend
    /// on the order the lanes are combined in.
    pub fn range(x: &[f32]) -> (f32, f32) {
        let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
        let n4 = x.len() / 4 * 4;
        for c in x[..n4].chunks_exact(4) {
            // SAFETY: a chunk of exactly four f32; unaligned loads are allowed.
            let v = unsafe { v128_load(c.as_ptr() as *const v128) };
            lo = f32x4_pmin(lo, v);
            hi = f32x4_pmax(hi, v);
        }
        let lanes =
            |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
        let (tail_lo, tail_hi) = super::reference::range(&x[n4..]);
        let lo = lanes(lo).into_iter().fold(tail_lo, |m, v| if v < m { v } else { m });
        let hi = lanes(hi).into_iter().fold(tail_hi, |m, v| if v > m { v } else { m });
        (lo, hi)
    }

    /// [`super::reference::quantize_u8`], 16 values a step: `f32x4_div`, `f32x4_nearest`
    /// (round half to even), `+ zp`, `pmax`/`pmin` clamping (a NaN lane stays NaN), then
    /// `i32x4_trunc_sat_f32x4` (NaN → 0, as `as u8` gives) and two saturating narrows, exact
    /// for values already in 0..=255.
    pub fn quantize_u8(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
        let n = x.len().min(out.len());
        let (vs, vz, v0, v255) = (f32x4_splat(scale), f32x4_splat(zp as f32), f32x4_splat(0.0), f32x4_splat(255.0));
        let q = |p: *const f32| {
            // SAFETY: callers pass a pointer with four readable f32.
            let v = unsafe { v128_load(p as *const v128) };
            let q = f32x4_add(f32x4_nearest(f32x4_div(v, vs)), vz);
            i32x4_trunc_sat_f32x4(f32x4_pmin(f32x4_pmax(q, v0), v255))
        };
        let n16 = n / 16 * 16;
        for i in (0..n16).step_by(16) {
            let p = x[i..i + 16].as_ptr();
            // SAFETY: i + 16 ≤ n, so all sixteen f32 are in `x` and sixteen bytes in `out`.
            unsafe {
                let lo = u16x8_narrow_i32x4(q(p), q(p.add(4)));
                let hi = u16x8_narrow_i32x4(q(p.add(8)), q(p.add(12)));
                v128_store(out[i..i + 16].as_mut_ptr() as *mut v128, u8x16_narrow_i16x8(lo, hi));
            }
        }
        super::reference::quantize_u8(&x[n16..n], scale, zp, &mut out[n16..n]);
    }

    /// [`super::reference::rescale`]: the same separately rounded `f32x4_mul` and `f32x4_add`,
    /// four columns at a time along each row.
    pub fn rescale(acc: &[i32], multiplier: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let n = multiplier.len();
        if n == 0 {
            return;
        }
        let n4 = n / 4 * 4;
        let load = |s: &[f32], j: usize| unsafe { v128_load(s[j..j + 4].as_ptr() as *const v128) };
        for (row, orow) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            for j in (0..n4).step_by(4) {
                // SAFETY: j + 4 ≤ n4 ≤ n, the length of the row, of `multiplier` and of `bias`.
                let a = f32x4_convert_i32x4(unsafe { v128_load(row[j..j + 4].as_ptr() as *const v128) });
                let mut v = f32x4_mul(a, load(multiplier, j));
                if let Some(b) = bias {
                    v = f32x4_add(v, load(b, j));
                }
                unsafe { v128_store(orow[j..j + 4].as_mut_ptr() as *mut v128, v) };
            }
            super::reference::rescale(&row[n4..], &multiplier[n4..], bias.map(|b| &b[n4..]), &mut orow[n4..]);
        }
    }
}

/// [`reference::range`], with the SIMD128 kernel where there is one.
pub fn range(x: &[f32]) -> (f32, f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::range(x);
    #[allow(unreachable_code)]
    reference::range(x)
}

/// [`reference::quantize_u8`] (`out` at least as long as `x`), with the SIMD128 kernel where
/// there is one.
pub fn quantize_u8(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    assert!(out.len() >= x.len(), "quantize_u8: out is shorter than x");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::quantize_u8(x, scale, zp, &mut out[..x.len()]);
    #[allow(unreachable_code)]
    reference::quantize_u8(x, scale, zp, out)
}

/// [`reference::rescale`]: `acc` is whole rows of `multiplier.len()` columns, `bias` (if any)
/// one value per column, `out` as long as `acc`. With the SIMD128 kernel where there is one.
pub fn rescale(acc: &[i32], multiplier: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let n = multiplier.len();
    assert!(n > 0 || acc.is_empty(), "rescale: no multiplier");
    assert!(n == 0 || acc.len() % n == 0, "rescale: {} values are not rows of {n} columns", acc.len());
    assert!(bias.map_or(true, |b| b.len() == n), "rescale: one bias per column");
    assert_eq!(out.len(), acc.len(), "rescale: out and acc differ in length");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::rescale(acc, multiplier, bias, out);
    #[allow(unreachable_code)]
    reference::rescale(acc, multiplier, bias, out)
}
