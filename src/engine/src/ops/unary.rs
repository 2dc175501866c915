//! Elementwise math with one input: Abs, Neg, Floor, Ceil, Round, Sqrt, Reciprocal, Exp, Log,
//! Erf, Sign, the parameterised activations (LeakyRelu, Elu, Selu, Celu, HardSigmoid,
//! HardSwish, Softplus, Softsign, Mish, Gelu, ThresholdedRelu), and Clip. Semantics are the ONNX
//! spec's (`onnx/defs/math/defs.cc`) as its reference evaluator computes them
//! (`onnx/reference/ops/op_*.py`): float32 in f32, float64 in f64, FLOAT16/BFLOAT16 computed in
//! f32 and rounded once; Abs, Neg, Sign and Clip also take integers. Each works in place when
//! the node owns its input.

use crate::attr::Attrs;
use crate::op::{dtype_err, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use half::{bf16, f16};
use std::sync::Arc;

/// The float functions of this family, with their parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FloatFn {
    Floor,
    Ceil,
    /// Half to even, as numpy's `round`.
    Round,
    Sqrt,
    Reciprocal,
    Exp,
    Log,
    Erf,
    LeakyRelu(f32),
    Elu(f32),
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Celu(f32),
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Softplus,
    Softsign,
    Mish,
    /// `approximate = "none"` (erf) or `"tanh"`.
    Gelu {
        tanh: bool,
    },
    ThresholdedRelu(f32),
}

/// Generic over f32/f64 so both precisions share one definition.
pub(crate) trait Float:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    fn c(x: f64) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn round_even(self) -> Self;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn erf(self) -> Self;
    fn abs(self) -> Self;
}

macro_rules! float_impl {
    ($t:ty, $erf:path) => {
        impl Float for $t {
            #[inline(always)]
            fn c(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline(always)]
            fn ceil(self) -> Self {
                <$t>::ceil(self)
            }
            #[inline(always)]
            fn round_even(self) -> Self {
                <$t>::round_ties_even(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
        }
    };
}
float_impl!(f32, super::activation::erf_f32);
float_impl!(f64, libm::erf);

impl FloatFn {
    #[inline(always)]
    fn eval<T: Float>(self, x: T) -> T {
        let (zero, one) = (T::c(0.0), T::c(1.0));
        match self {
            FloatFn::Floor => x.floor(),
            FloatFn::Ceil => x.ceil(),
            FloatFn::Round => x.round_even(),
            FloatFn::Sqrt => x.sqrt(),
            FloatFn::Reciprocal => one / x,
            FloatFn::Exp => x.exp(),
            FloatFn::Log => x.ln(),
            FloatFn::Erf => x.erf(),
            // `x < 0 ? alpha·x : x`, so NaN passes through.
            FloatFn::LeakyRelu(a) => {
                if x < zero {
                    T::c(a as f64) * x
                } else {
                    x
                }
            }
            FloatFn::Elu(a) => {
                if x < zero {
                    T::c(a as f64) * (x.exp() - one)
                } else {
                    x
                }
            }
            FloatFn::Selu { alpha, gamma } => {
                let g = T::c(gamma as f64);
                if x <= zero {
                    g * (T::c(alpha as f64) * x.exp() - T::c(alpha as f64))
                } else {
                    g * x
                }
            }
            // max(0, x) + min(0, alpha·(exp(x/alpha) − 1))
            FloatFn::Celu(a) => {
                let a = T::c(a as f64);
                let neg = a * ((x / a).exp() - one);
                let pos = if x > zero { x } else { zero };
                pos + if neg < zero { neg } else { zero }
            }
            FloatFn::HardSigmoid { alpha, beta } => clamp01(T::c(alpha as f64) * x + T::c(beta as f64)),
            FloatFn::HardSwish => x * clamp01(x / T::c(6.0) + T::c(0.5)),
            // log(exp(x) + 1), as the reference computes it (it overflows to Inf for large x).
            FloatFn::Softplus => (x.exp() + one).ln(),
            FloatFn::Softsign => x / (one + x.abs()),
            FloatFn::Mish => x * (x.exp() + one).ln().tanh(),
            FloatFn::Gelu { tanh: false } => T::c(0.5) * x * (one + (x / T::c(std::f64::consts::SQRT_2)).erf()),
            FloatFn::Gelu { tanh: true } => {
                let k = T::c((2.0 / std::f64::consts::PI).sqrt());
                T::c(0.5) * x * (one + (k * (x + T::c(0.044715) * x * x * x)).tanh())
            }
            FloatFn::ThresholdedRelu(a) => {
                if x > T::c(a as f64) {
                    x
                } else {
                    zero
                }
            }
        }
    }
}

/// `min(max(x, 0), 1)`, NaN kept (also the fused Conv epilogues', ops/conv_fuse.rs).
#[inline(always)]
pub(crate) fn clamp01<T: Float>(x: T) -> T {
    if x < T::c(0.0) {
        T::c(0.0)
    } else if x > T::c(1.0) {
        T::c(1.0)
    } else {
        x
    }
}

/// What one node computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryMath {
    Float(FloatFn),
    Abs,
    Neg,
    Sign,
}

#[derive(Debug)]
pub struct Unary {
    pub op_type: &'static str,
    pub f: UnaryMath,
}

/// The op type's function, from its attributes (defaults as the spec gives them).
fn function(op_type: &str, a: &Attrs) -> Result<UnaryMath, OpError> {
    use FloatFn::*;
    let float = |name: &str, default: f32| a.float(name, default);
    Ok(UnaryMath::Float(match op_type {
        "Abs" => return Ok(UnaryMath::Abs),
        "Neg" => return Ok(UnaryMath::Neg),
        "Sign" => return Ok(UnaryMath::Sign),
        "Floor" => Floor,
        "Ceil" => Ceil,
        "Round" => Round,
        "Sqrt" => Sqrt,
        "Reciprocal" => Reciprocal,
        "Exp" => Exp,
        "Log" => Log,
        "Erf" => Erf,
        "LeakyRelu" => LeakyRelu(float("alpha", 0.01)?),
        "Elu" => Elu(float("alpha", 1.0)?),
        "Selu" => Selu { alpha: float("alpha", 1.673_263_2)?, gamma: float("gamma", 1.050_701)? },
        "Celu" => Celu(float("alpha", 1.0)?),
        "HardSigmoid" => HardSigmoid { alpha: float("alpha", 0.2)?, beta: float("beta", 0.5)? },
        "HardSwish" => HardSwish,
        "Softplus" => Softplus,
        "Softsign" => Softsign,
        "Mish" => Mish,
        "Gelu" => match a.string("approximate")?.as_deref() {
            None | Some("none") => Gelu { tanh: false },
            Some("tanh") => Gelu { tanh: true },
            Some(other) => return Err(crate::op::attr_err("approximate", format!("'{other}' is not 'none' or 'tanh'"))),
        },
        "ThresholdedRelu" => ThresholdedRelu(float("alpha", 1.0)?),
        other => unreachable!("{other} is not registered to the unary family"),
    }))
}

/// The attributes each op type takes.
fn attributes(op_type: &str) -> &'static [&'static str] {
    match op_type {
        "LeakyRelu" | "Elu" | "Celu" | "ThresholdedRelu" => &["alpha"],
        "Selu" => &["alpha", "gamma"],
        "HardSigmoid" => &["alpha", "beta"],
        "Gelu" => &["approximate"],
        _ => &[],
    }
}

macro_rules! builders {
    ($($f:ident => $t:literal),* $(,)?) => {$(
        pub fn $f(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
            a.only(attributes($t))?;
            Ok(Arc::new(Unary { op_type: $t, f: function($t, a)? }))
        }
    )*};
}
builders!(build_abs => "Abs", build_neg => "Neg", build_sign => "Sign", build_floor => "Floor", build_ceil => "Ceil",
    build_round => "Round", build_sqrt => "Sqrt", build_reciprocal => "Reciprocal", build_exp => "Exp", build_log => "Log",
    build_erf => "Erf", build_leaky_relu => "LeakyRelu", build_elu => "Elu", build_selu => "Selu", build_celu => "Celu",
    build_hard_sigmoid => "HardSigmoid", build_hard_swish => "HardSwish", build_softplus => "Softplus",
    build_softsign => "Softsign", build_mish => "Mish", build_gelu => "Gelu", build_thresholded_relu => "ThresholdedRelu");

fn each<T: Copy>(x: &mut [T], f: impl Fn(T) -> T) {
    x.iter_mut().for_each(|e| *e = f(*e));
}

/// `|x|`, `−x` and `sign(x)` of an integer type (wrapping, as numpy: `abs(i8::MIN)` is itself).
macro_rules! int_unary {
    ($f:expr, $x:expr) => {
        match $f {
            UnaryMath::Abs => each($x, |e| e.wrapping_abs()),
            UnaryMath::Neg => each($x, |e| e.wrapping_neg()),
            _ => each($x, |e| e.signum()),
        }
    };
}

impl Unary {
    pub fn apply_in_place(&self, v: &mut Value) -> Result<(), OpError> {
        let dtype = v.dtype();
        let refuse = || dtype_err(format!("{} does not accept {dtype}", self.op_type));
        if v.data().natural_dtype() != dtype {
            return Err(refuse());
        }
        let on_f32 = |x: f32| match self.f {
            UnaryMath::Float(f) => f.eval(x),
            UnaryMath::Abs => x.abs(),
            UnaryMath::Neg => -x,
            UnaryMath::Sign => sign(x),
        };
        match v.data_mut() {
            // Erf alone, so its loop is the vectorizable kernel with no per-element match.
            Data::F32(x) if self.f == UnaryMath::Float(FloatFn::Erf) => each(x, super::activation::erf_f32),
            Data::F32(x) => each(x, on_f32),
            Data::F64(x) => each(x, |e| match self.f {
                UnaryMath::Float(f) => f.eval(e),
                UnaryMath::Abs => e.abs(),
                UnaryMath::Neg => -e,
                UnaryMath::Sign => sign64(e),
            }),
            Data::F16(x) => each(x, |e| f16::from_f32(on_f32(e.to_f32()))),
            Data::BF16(x) => each(x, |e| bf16::from_f32(on_f32(e.to_f32()))),
            _ if matches!(self.f, UnaryMath::Float(_)) => return Err(refuse()),
            Data::I8(x) => int_unary!(self.f, x),
            Data::I16(x) => int_unary!(self.f, x),
            Data::I32(x) => int_unary!(self.f, x),
            Data::I64(x) => int_unary!(self.f, x),
            // Unsigned: Abs is the identity, Sign is 0 or 1, Neg is not defined.
            Data::U8(x) if self.f == UnaryMath::Sign => each(x, |e| e.min(1)),
            Data::U16(x) if self.f == UnaryMath::Sign => each(x, |e| e.min(1)),
            Data::U32(x) if self.f == UnaryMath::Sign => each(x, |e| e.min(1)),
            Data::U64(x) if self.f == UnaryMath::Sign => each(x, |e| e.min(1)),
            Data::U8(_) | Data::U16(_) | Data::U32(_) | Data::U64(_) if self.f == UnaryMath::Abs => {}
            _ => return Err(refuse()),
        }
        Ok(())
    }
}

/// numpy's `sign`: −1, 0 or 1, NaN kept (−0 gives 0).
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

fn sign64(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

impl Op for Unary {
    fn op_type(&self) -> &'static str {
        self.op_type
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let mut v = inputs.take_or_clone(0)?;
        self.apply_in_place(&mut v)?;
        Ok(vec![v])
    }
}

/// Clip: `min(max(x, lo), hi)` with the bounds as inputs 1 and 2 (opset 11+, each optional,
/// scalars of x's dtype) or as `min`/`max` attributes (before 11). NaN stays NaN.
#[derive(Debug)]
pub struct Clip {
    /// Bounds from the attributes (opset < 11).
    pub attr_bounds: Option<(f32, f32)>,
}

pub fn build_clip(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    if ctx.opset < 11 {
        a.only(&["min", "max"])?;
        return Ok(Arc::new(Clip { attr_bounds: Some((a.float("min", f32::MIN)?, a.float("max", f32::MAX)?)) }));
    }
    a.only(&[])?;
    Ok(Arc::new(Clip { attr_bounds: None }))
}

/// A scalar bound input as f64 (exact for every dtype Clip takes but 64-bit integers beyond
/// 2^53, which is far outside any bound a model sets).
fn bound(inputs: &Inputs<'_>, i: usize, dtype: DType) -> Result<Option<f64>, OpError> {
    let Some(b) = inputs.get(i) else { return Ok(None) };
    if b.dtype() != dtype {
        return Err(dtype_err(format!("Clip's bound {i} is {} but its input is {dtype}", b.dtype())));
    }
    if b.len() != 1 {
        return Err(value_err(format!("Clip's bound {i} must be a scalar, not shape {:?}", b.shape())));
    }
    Ok(Some(b.to_f64_vec()[0]))
}

macro_rules! clip_int {
    ($x:expr, $lo:expr, $hi:expr, $t:ty) => {{
        let lo = $lo.map_or(<$t>::MIN, |b| b as $t);
        let hi = $hi.map_or(<$t>::MAX, |b| b as $t);
        each($x, |e| e.max(lo).min(hi))
    }};
}

/// Clip's order (the spec's): `max` with the low bound, then `min` with the high one; NaN passes.
/// Also the fused Conv epilogues' (ops/conv_fuse.rs).
#[inline(always)]
pub(crate) fn clip<T: PartialOrd>(e: T, lo: Option<T>, hi: Option<T>) -> T {
    let e = match lo {
        Some(l) if e < l => l,
        _ => e,
    };
    match hi {
        Some(h) if e > h => h,
        _ => e,
    }
}

impl Op for Clip {
    fn op_type(&self) -> &'static str {
        "Clip"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let dtype = inputs.req(0)?.dtype();
        let (lo, hi) = match self.attr_bounds {
            Some((lo, hi)) => (Some(lo as f64), Some(hi as f64)),
            None => (bound(inputs, 1, dtype)?, bound(inputs, 2, dtype)?),
        };
        let mut v = inputs.take_or_clone(0)?;
        if v.data().natural_dtype() != dtype {
            return Err(dtype_err(format!("Clip does not accept {dtype}")));
        }
        let (lo32, hi32) = (lo.map(|l| l as f32), hi.map(|h| h as f32));
        let clip32 = |e: f32| clip(e, lo32, hi32);
        match v.data_mut() {
            Data::F32(x) => each(x, clip32),
            Data::F64(x) => each(x, |e| clip(e, lo, hi)),
            Data::F16(x) => each(x, |e| f16::from_f32(clip32(e.to_f32()))),
            Data::BF16(x) => each(x, |e| bf16::from_f32(clip32(e.to_f32()))),
            Data::I8(x) => clip_int!(x, lo, hi, i8),
            Data::U8(x) => clip_int!(x, lo, hi, u8),
            Data::I16(x) => clip_int!(x, lo, hi, i16),
            Data::U16(x) => clip_int!(x, lo, hi, u16),
            Data::I32(x) => clip_int!(x, lo, hi, i32),
            Data::U32(x) => clip_int!(x, lo, hi, u32),
            Data::I64(x) => clip_int!(x, lo, hi, i64),
            Data::U64(x) => clip_int!(x, lo, hi, u64),
            Data::Bool(_) => return Err(dtype_err("Clip does not accept bool")),
        }
        Ok(vec![v])
    }
}
