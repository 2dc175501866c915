//! Relu, Sigmoid, Tanh and Softmax. Float dtypes (FLOAT16/BFLOAT16 computed in f32 and
//! rounded once); Relu also takes signed integers (opset 14). Each works in place when the
//! node owns its input.

use crate::attr::Attrs;
use crate::op::{dtype_err, norm_axis, BuildCtx, Inputs, Op, OpError};
use crate::value::{Data, Value};
use half::{bf16, f16};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryKind {
    Relu,
    Sigmoid,
    Tanh,
}

/// An elementwise activation.
#[derive(Debug)]
pub struct Unary {
    pub kind: UnaryKind,
}

pub fn build_relu(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Unary { kind: UnaryKind::Relu }))
}
pub fn build_sigmoid(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Unary { kind: UnaryKind::Sigmoid }))
}
pub fn build_tanh(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Unary { kind: UnaryKind::Tanh }))
}

/// `e^x` in f32 without a call, so a loop over it vectorizes (SIMD128 in the page): Cephes'
/// `expf` (cephes/single/expf.c) — `x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`, its degree-6 polynomial
/// for `e^r`, `2^n` put straight into the exponent bits. Within 2 ulp of the exact value on
/// [−87.3, 88.7]; above, +∞ (n = 128 makes the exponent field all ones); below, ≈ 2⁻¹²⁶ where
/// the exact value is smaller still (subnormal or 0), which no `1 / (1 + e^x)` notices. NaN
/// stays NaN. Sigmoid on libm's `expf` was 6 % of a YOLO detector's run (nudenet).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.73);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // ln 2 in two parts (C1 exact in few bits), so n·C1 is exact.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// erf in f32 without a call, so a loop over it vectorizes as [`exp_f32`]'s does: ONNX
/// Runtime's `MlasErfKernel` (onnxruntime/core/mlas/lib/erf.cpp, after Norbert Juffa's
/// faithfully rounded `erff`): below |x| = 0.921875 the odd polynomial `x + x·P(x²)`, above it
/// `1 − e^(−Q(t))` with `t = min(|x|, 3.925)` and x's sign. Without a fused multiply-add the
/// polynomials round at each step: a few ulp. NaN stays NaN; ±∞ gives ±1. libm's `erff` was a
/// sixth of magika's run (its three exact Gelus).
#[inline(always)]
pub(crate) fn erf_f32(x: f32) -> f32 {
    let t = x.abs();
    let s = x * x;
    let p = -5.991_049_7e-4;
    let p = p * s + 4.993_396e-3;
    let p = p * s - 2.676_673_4e-2;
    let p = p * s + 1.128_180_3e-1;
    let p = p * s - 3.761_248_6e-1;
    let p = p * s + 1.283_791_5e-1;
    let small = p * x + x;
    let u = t.min(3.925);
    let q = 1.729_489_3e-5;
    let q = q * u - 3.832_086_8e-4;
    let q = q * u + 3.883_934_4e-3;
    let q = q * u - 2.425_456e-2;
    let q = q * u + 1.067_778_5e-1;
    let q = q * u + 6.348_467e-1;
    let q = q * u + 1.287_175_1e-1;
    let q = q * u + u;
    let big = (1.0 - exp_f32(-q)).copysign(x);
    // NaN fails `t < 0.921875` and `min` would drop it: the small branch keeps it.
    if t < 0.921_875 || x.is_nan() {
        small
    } else {
        big
    }
}

pub(crate) fn sigmoid32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

// NaN stays NaN (not `max`, which would give 0).
pub(crate) fn relu32(x: f32) -> f32 {
    if x > 0.0 || x.is_nan() {
        x
    } else {
        0.0
    }
}

fn relu64(x: f64) -> f64 {
    if x > 0.0 || x.is_nan() {
        x
    } else {
        0.0
    }
}

/// `f` on every element, in place. Generic, so each activation is its own inlined loop: through
/// a `fn` pointer, Relu cost an indirect call per element (a quarter of the MNIST MLP's batch-256
/// time in Chromium).
fn map_in_place<T: Copy>(x: &mut [T], f: impl Fn(T) -> T) {
    x.iter_mut().for_each(|e| *e = f(*e));
}

impl Unary {
    fn f32_on(&self, x: &mut [f32]) {
        match self.kind {
            UnaryKind::Relu => map_in_place(x, relu32),
            UnaryKind::Sigmoid => map_in_place(x, sigmoid32),
            UnaryKind::Tanh => map_in_place(x, f32::tanh),
        }
    }

    fn f64_on(&self, x: &mut [f64]) {
        match self.kind {
            UnaryKind::Relu => map_in_place(x, relu64),
            UnaryKind::Sigmoid => map_in_place(x, sigmoid64),
            UnaryKind::Tanh => map_in_place(x, f64::tanh),
        }
    }

    /// The f32 function, for half-precision elements (computed in f32, rounded once).
    fn f32_fn(&self) -> fn(f32) -> f32 {
        match self.kind {
            UnaryKind::Relu => relu32,
            UnaryKind::Sigmoid => sigmoid32,
            UnaryKind::Tanh => f32::tanh,
        }
    }

    /// Applies the activation to `v`'s elements in place.
    pub fn apply_in_place(&self, v: &mut Value) -> Result<(), OpError> {
        let dtype = v.dtype();
        if v.dtype().minifloat().is_some() {
            return Err(dtype_err(format!("{:?} does not accept {dtype}", self.kind)));
        }
        let f = self.f32_fn();
        let relu = self.kind == UnaryKind::Relu;
        match v.data_mut() {
            Data::F32(x) => self.f32_on(x),
            Data::F64(x) => self.f64_on(x),
            Data::F16(x) => map_in_place(x, |e| f16::from_f32(f(e.to_f32()))),
            Data::BF16(x) => map_in_place(x, |e| bf16::from_f32(f(e.to_f32()))),
            Data::I8(x) if relu => map_in_place(x, |e| e.max(0)),
            Data::I16(x) if relu => map_in_place(x, |e| e.max(0)),
            Data::I32(x) if relu => map_in_place(x, |e| e.max(0)),
            Data::I64(x) if relu => map_in_place(x, |e| e.max(0)),
            _ => return Err(dtype_err(format!("{:?} does not accept {dtype}", self.kind))),
        }
        Ok(())
    }
}

impl Op for Unary {
    fn op_type(&self) -> &'static str {
        match self.kind {
            UnaryKind::Relu => "Relu",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::Tanh => "Tanh",
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let mut v = inputs.take_or_clone(0)?;
        self.apply_in_place(&mut v)?;
        Ok(vec![v])
    }
}

/// Softmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and each row
/// normalised; from opset 13 only `axis` (default −1) is normalised.
#[derive(Debug)]
pub struct Softmax {
    pub axis: i64,
    pub coerce_2d: bool,
}

pub fn build_softmax(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis"])?;
    let coerce_2d = ctx.opset < 13;
    let axis = a.int("axis", if coerce_2d { 1 } else { -1 })?;
    Ok(Arc::new(Softmax { axis, coerce_2d }))
}

/// Softmax's `e^d` for `d = x − max ≤ 0`: [`exp_f32`] (vectorizable), and an exact 0 below its
/// range (where the value is subnormal or 0: −∞, a masked position, must give 0).
#[inline(always)]
fn softmax_exp(d: f32) -> f32 {
    if d < -87.3 {
        0.0
    } else {
        exp_f32(d)
    }
}

/// Each row along the axis: the max, `e^(x − max)` ([`softmax_exp`], within 2 ulp of libm's
/// `expf`), the sum, and each value divided by it. A contiguous row (`inner` = 1, the last axis: attention, a
/// classifier) is summed in 8 lanes then across them, as ONNX Runtime's MLAS sums it in
/// vectors (`MlasComputeSoftmax`): not the order of a plain loop, so within `n·ε` of it. libm's
/// `expf` per element had cost ppocr_rec's 40 × 6625 Softmax 1.4 ms, 4 % of its run.
fn softmax_f32(x: &mut [f32], outer: usize, n: usize, inner: usize) {
    if inner == 1 {
        for row in x.chunks_exact_mut(n.max(1)).take(outer) {
            let mut lanes = [f32::NEG_INFINITY; 8];
            let mut chunks = row.chunks_exact(8);
            for c in &mut chunks {
                lanes.iter_mut().zip(c).for_each(|(m, &v)| *m = m.max(v));
            }
            let max = chunks.remainder().iter().chain(&lanes).fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            row.iter_mut().for_each(|v| *v = softmax_exp(*v - max));
            let mut lanes = [0.0f32; 8];
            let mut chunks = row.chunks_exact(8);
            for c in &mut chunks {
                lanes.iter_mut().zip(c).for_each(|(s, &v)| *s += v);
            }
            let [a, b, c, d, e, f, g, h] = lanes;
            let sum = chunks.remainder().iter().fold(((a + b) + (c + d)) + ((e + f) + (g + h)), |s, &v| s + v);
            row.iter_mut().for_each(|v| *v /= sum);
        }
        return;
    }
    // Another axis: each position i of the inner block sums its n values in order, the
    // positions side by side (a row of the axis at a time, so each pass vectorizes over i).
    let (mut max, mut sum) = (vec![0.0f32; inner], vec![0.0f32; inner]);
    for block in x.chunks_exact_mut((n * inner).max(1)).take(outer) {
        max.fill(f32::NEG_INFINITY);
        for row in block.chunks_exact(inner) {
            max.iter_mut().zip(row).for_each(|(m, &v)| *m = m.max(v));
        }
        sum.fill(0.0);
        for row in block.chunks_exact_mut(inner) {
            for ((v, s), &m) in row.iter_mut().zip(&mut sum).zip(&max) {
                *v = softmax_exp(*v - m);
                *s += *v;
            }
        }
        for row in block.chunks_exact_mut(inner) {
            row.iter_mut().zip(&sum).for_each(|(v, s)| *v /= s);
        }
    }
}

fn softmax_f64(x: &mut [f64], outer: usize, n: usize, inner: usize) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| o * n * inner + k * inner + i;
            let max = (0..n).map(|k| x[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for k in 0..n {
                let e = (x[at(k)] - max).exp();
                x[at(k)] = e;
                sum += e;
            }
            for k in 0..n {
                x[at(k)] /= sum;
            }
        }
    }
}

impl Op for Softmax {
    fn op_type(&self) -> &'static str {
        "Softmax"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let mut v = inputs.take_or_clone(0)?;
        let shape = v.shape().to_vec();
        let axis = norm_axis(self.axis, shape.len().max(1))?;
        let (outer, n, inner) = if shape.is_empty() {
            (1, 1, 1)
        } else if self.coerce_2d {
            (shape[..axis].iter().product(), shape[axis..].iter().product(), 1)
        } else {
            (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
        };
        let dtype = v.dtype();
        match v.data_mut() {
            Data::F32(x) => softmax_f32(x, outer, n, inner),
            Data::F64(x) => softmax_f64(x, outer, n, inner),
            Data::F16(x) => {
                let mut y: Vec<f32> = x.iter().map(|e| e.to_f32()).collect();
                softmax_f32(&mut y, outer, n, inner);
                x.iter_mut().zip(y).for_each(|(e, y)| *e = f16::from_f32(y));
            }
            _ => return Err(dtype_err(format!("Softmax does not accept {dtype}"))),
        }
        Ok(vec![v])
    }
}

#[cfg(test)]
mod tests {
    use super::erf_f32;

    /// Within 4 ulp of f64 erf (rounded to f32) over every 97th float in [−5, 5] and the
    /// branch edges; the special values as IEEE erf gives them.
    #[test]
    fn erf_f32_is_within_a_few_ulp() {
        let ulp = |a: f32, b: f32| (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs();
        let mut worst = 0;
        let (lo, hi) = ((-5.0f32).to_bits(), 5.0f32.to_bits());
        let negatives = (0x8000_0001u32..=lo).step_by(97);
        let positives = (1u32..=hi).step_by(97);
        for bits in negatives.chain(positives).chain([0.921_875f32.to_bits(), 0.921_874_94f32.to_bits(), 3.925f32.to_bits()]) {
            let x = f32::from_bits(bits);
            let want = libm::erf(x as f64) as f32;
            let d = ulp(erf_f32(x), want);
            assert!(d <= 4, "erf({x:e}) = {:e}, want {want:e} ({d} ulp)", erf_f32(x));
            worst = worst.max(d);
        }
        assert!(worst >= 1, "a no-op comparison");
        assert_eq!(erf_f32(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(erf_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf_f32(1e30), 1.0);
        assert!(erf_f32(f32::NAN).is_nan());
    }
}
