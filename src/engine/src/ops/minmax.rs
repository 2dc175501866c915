//! Min, Max, Sum and Mean over any number of inputs, Pow and PRelu, with numpy broadcasting,
//! as the ONNX spec defines them and its reference evaluator computes them
//! (`onnx/reference/ops/op_{min,max,sum,mean,pow,prelu}.py`): inputs are folded left to right,
//! one broadcast pair at a time, in the inputs' dtype (integers wrap; FLOAT16/BFLOAT16 are
//! computed in f32 and rounded at each step, as numpy does); Min and Max propagate NaN.

use super::elementwise::zip_broadcast;
use crate::attr::Attrs;
use crate::op::{dtype_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{Data, Value};
use half::{bf16, f16};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    Min,
    Max,
    Sum,
    Mean,
}

#[derive(Debug)]
pub struct Variadic {
    pub kind: Fold,
}

macro_rules! fold_builders {
    ($($f:ident => $k:ident),*) => {$(
        pub fn $f(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
            a.only(&[])?;
            Ok(Arc::new(Variadic { kind: Fold::$k }))
        }
    )*};
}
fold_builders!(build_min => Min, build_max => Max, build_sum => Sum, build_mean => Mean);

/// A number type of this family: wrapping arithmetic for integers, IEEE for floats.
trait Num: Copy + PartialOrd {
    fn plus(self, o: Self) -> Self;
    fn div_count(self, n: usize) -> Self;
    fn nan(self) -> bool;
}

macro_rules! num_float {
    ($($t:ty),*) => {$(
        impl Num for $t {
            #[inline(always)] fn plus(self, o: Self) -> Self { self + o }
            #[inline(always)] fn div_count(self, n: usize) -> Self { self / n as $t }
            #[inline(always)] fn nan(self) -> bool { self.is_nan() }
        }
    )*};
}
num_float!(f32, f64);

macro_rules! num_int {
    ($($t:ty),*) => {$(
        impl Num for $t {
            #[inline(always)] fn plus(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)] fn div_count(self, n: usize) -> Self { self / n as $t }
            #[inline(always)] fn nan(self) -> bool { false }
        }
    )*};
}
num_int!(i64, u64);

impl Fold {
    #[inline(always)]
    fn step<T: Num>(self, a: T, b: T) -> T {
        match self {
            // np.minimum / np.maximum: a NaN on either side wins.
            Fold::Min if a.nan() || b.nan() => {
                if a.nan() {
                    a
                } else {
                    b
                }
            }
            Fold::Max if a.nan() || b.nan() => {
                if a.nan() {
                    a
                } else {
                    b
                }
            }
            Fold::Min => {
                if b < a {
                    b
                } else {
                    a
                }
            }
            Fold::Max => {
                if b > a {
                    b
                } else {
                    a
                }
            }
            Fold::Sum | Fold::Mean => a.plus(b),
        }
    }
}

/// Folds `values` (one dtype) with `step`, then `finish` on the result.
fn fold<T: Num + crate::value::Elem>(kind: Fold, values: &[&Value]) -> Result<Value, OpError> {
    let slice = |v: &Value| T::slice(v.data()).expect("checked to be one dtype").to_vec();
    let (mut shape, mut acc) = (values[0].shape().to_vec(), slice(values[0]));
    for v in &values[1..] {
        let b = T::slice(v.data()).expect("checked to be one dtype");
        (shape, acc) = zip_broadcast(&acc, &shape, b, v.shape(), |p, q| kind.step(p, q))?;
    }
    if kind == Fold::Mean {
        acc.iter_mut().for_each(|e| *e = e.div_count(values.len()));
    }
    Ok(Value::new(shape, T::wrap(acc)))
}

/// FLOAT16/BFLOAT16: each step in f32, rounded back, as numpy's half-precision ufuncs do.
fn fold_half<H: Copy + crate::value::Elem>(kind: Fold, values: &[&Value], to: fn(H) -> f32, from: fn(f32) -> H) -> Result<Value, OpError> {
    fn slice<H: crate::value::Elem>(v: &Value) -> &[H] {
        H::slice(v.data()).expect("checked to be one dtype")
    }
    let (mut shape, mut acc) = (values[0].shape().to_vec(), slice::<H>(values[0]).to_vec());
    for v in &values[1..] {
        (shape, acc) = zip_broadcast(&acc, &shape, slice::<H>(v), v.shape(), |p, q| from(kind.step(to(p), to(q))))?;
    }
    if kind == Fold::Mean {
        acc.iter_mut().for_each(|e| *e = from(to(*e) / values.len() as f32));
    }
    Ok(Value::new(shape, H::wrap(acc)))
}

impl Op for Variadic {
    fn op_type(&self) -> &'static str {
        match self.kind {
            Fold::Min => "Min",
            Fold::Max => "Max",
            Fold::Sum => "Sum",
            Fold::Mean => "Mean",
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let values: Vec<&Value> = (0..inputs.len()).map(|i| inputs.req(i)).collect::<Result<_, _>>()?;
        let dtype = values[0].dtype();
        if let Some(v) = values.iter().find(|v| v.dtype() != dtype) {
            return Err(dtype_err(format!("{} needs inputs of one dtype, not {dtype} and {}", self.op_type(), v.dtype())));
        }
        let refuse = || dtype_err(format!("{} does not accept {dtype}", self.op_type()));
        if values[0].data().natural_dtype() != dtype {
            return Err(refuse());
        }
        let integer_mean = self.kind == Fold::Mean && !dtype.is_float();
        if integer_mean {
            return Err(refuse());
        }
        let k = self.kind;
        let out = match values[0].data() {
            Data::F32(_) => fold::<f32>(k, &values)?,
            Data::F64(_) => fold::<f64>(k, &values)?,
            Data::F16(_) => fold_half::<f16>(k, &values, f16::to_f32, f16::from_f32)?,
            Data::BF16(_) => fold_half::<bf16>(k, &values, bf16::to_f32, bf16::from_f32)?,
            Data::I64(_) => fold::<i64>(k, &values)?,
            Data::U64(_) => fold::<u64>(k, &values)?,
            Data::Bool(_) => return Err(refuse()),
            // The narrower integers in i64: min and max are the same, and a wrapping sum
            // truncated back is the narrow type's wrapping sum.
            _ => {
                let wide: Vec<Value> =
                    values.iter().map(|v| Value::i64(v.shape().to_vec(), v.to_i64_vec().expect("an integer dtype"))).collect();
                let refs: Vec<&Value> = wide.iter().collect();
                let out = fold::<i64>(k, &refs)?;
                let shape = out.shape().to_vec();
                let Data::I64(x) = out.into_data() else { unreachable!("fold keeps i64") };
                Value::new(shape, narrow(dtype, x).ok_or_else(refuse)?)
            }
        };
        Ok(vec![out])
    }
}

/// i64 values truncated to a narrower integer dtype.
fn narrow(dtype: crate::value::DType, x: Vec<i64>) -> Option<Data> {
    use crate::value::DType::*;
    Some(match dtype {
        I8 => Data::I8(x.into_iter().map(|v| v as i8).collect()),
        U8 => Data::U8(x.into_iter().map(|v| v as u8).collect()),
        I16 => Data::I16(x.into_iter().map(|v| v as i16).collect()),
        U16 => Data::U16(x.into_iter().map(|v| v as u16).collect()),
        I32 => Data::I32(x.into_iter().map(|v| v as i32).collect()),
        U32 => Data::U32(x.into_iter().map(|v| v as u32).collect()),
        _ => return None,
    })
}

/// Pow(X, Y): X's dtype out; a float X is raised in its precision (f32 `powf`, or f64), an
/// integer X by an exponent cast to f64 and the result truncated back, as the reference's
/// `np.power(x, y).astype(x.dtype)` does.
#[derive(Debug)]
pub struct Pow;

pub fn build_pow(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Pow))
}

impl Op for Pow {
    fn op_type(&self) -> &'static str {
        "Pow"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, y) = (inputs.req(0)?, inputs.req(1)?);
        let refuse = || dtype_err(format!("Pow does not accept {} ^ {}", x.dtype(), y.dtype()));
        if x.data().natural_dtype() != x.dtype() || y.data().natural_dtype() != y.dtype() || matches!(x.data(), Data::Bool(_)) {
            return Err(refuse());
        }
        let e = y.to_f64_vec();
        let (shape, data) = match x.data() {
            Data::F32(b) if y.dtype() == x.dtype() => {
                let (s, v) = zip_broadcast(b, x.shape(), y.as_f32().expect("same dtype"), y.shape(), f32::powf)?;
                (s, Data::F32(v))
            }
            Data::F32(b) => {
                let (s, v) = zip_broadcast(b, x.shape(), &e, y.shape(), |p, q| (p as f64).powf(q) as f32)?;
                (s, Data::F32(v))
            }
            Data::F64(b) => {
                let (s, v) = zip_broadcast(b, x.shape(), &e, y.shape(), f64::powf)?;
                (s, Data::F64(v))
            }
            Data::F16(b) => {
                let (s, v) = zip_broadcast(b, x.shape(), &e, y.shape(), |p, q| f16::from_f32(p.to_f32().powf(q as f32)))?;
                (s, Data::F16(v))
            }
            Data::I32(b) => {
                let (s, v) = zip_broadcast(b, x.shape(), &e, y.shape(), |p, q| int_pow(p as i64, q, y.dtype().is_float()) as i32)?;
                (s, Data::I32(v))
            }
            Data::I64(b) => {
                let (s, v) = zip_broadcast(b, x.shape(), &e, y.shape(), |p, q| int_pow(p, q, y.dtype().is_float()))?;
                (s, Data::I64(v))
            }
            _ => return Err(refuse()),
        };
        Ok(vec![Value::new(shape, data)])
    }
}

/// An integer base: raised exactly (wrapping) by an integer exponent, as numpy's integer
/// `power`; through f64 and truncated toward zero by a float one (numpy promotes to float64,
/// then `astype`). A negative integer exponent gives 0 unless the base is ±1 (numpy refuses it).
fn int_pow(base: i64, exponent: f64, float_exponent: bool) -> i64 {
    if float_exponent {
        return (base as f64).powf(exponent) as i64;
    }
    let e = exponent as i64;
    match (base, e) {
        (_, e) if e >= 0 => base.wrapping_pow(e.min(u32::MAX as i64) as u32),
        (1, _) => 1,
        (-1, e) => {
            if e % 2 == 0 {
                1
            } else {
                -1
            }
        }
        _ => 0,
    }
}

/// PRelu(X, slope): `x < 0 ? slope·x : x`, the slope broadcast to X (unidirectionally).
#[derive(Debug)]
pub struct PRelu;

pub fn build_prelu(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(PRelu))
}

impl Op for PRelu {
    fn op_type(&self) -> &'static str {
        "PRelu"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, s) = (inputs.req(0)?, inputs.req(1)?);
        if x.dtype() != s.dtype() {
            return Err(dtype_err(format!("PRelu needs X and slope of one dtype, not {} and {}", x.dtype(), s.dtype())));
        }
        let (shape, data) = match (x.data(), s.data()) {
            (Data::F32(a), Data::F32(b)) => {
                let (sh, v) = zip_broadcast(a, x.shape(), b, s.shape(), |p, q| if p < 0.0 { q * p } else { p })?;
                (sh, Data::F32(v))
            }
            (Data::F64(a), Data::F64(b)) => {
                let (sh, v) = zip_broadcast(a, x.shape(), b, s.shape(), |p, q| if p < 0.0 { q * p } else { p })?;
                (sh, Data::F64(v))
            }
            (Data::F16(a), Data::F16(b)) => {
                let (sh, v) =
                    zip_broadcast(
                        a,
                        x.shape(),
                        b,
                        s.shape(),
                        |p, q| if p.to_f32() < 0.0 { f16::from_f32(q.to_f32() * p.to_f32()) } else { p },
                    )?;
                (sh, Data::F16(v))
            }
            (Data::I32(a), Data::I32(b)) => {
                let (sh, v) = zip_broadcast(a, x.shape(), b, s.shape(), |p, q| if p < 0 { q.wrapping_mul(p) } else { p })?;
                (sh, Data::I32(v))
            }
            (Data::I64(a), Data::I64(b)) => {
                let (sh, v) = zip_broadcast(a, x.shape(), b, s.shape(), |p, q| if p < 0 { q.wrapping_mul(p) } else { p })?;
                (sh, Data::I64(v))
            }
            _ => return Err(dtype_err(format!("PRelu does not accept {}", x.dtype()))),
        };
        if shape != x.shape() {
            return Err(crate::op::shape_err(format!("PRelu's slope {:?} does not broadcast to X {:?}", s.shape(), x.shape())));
        }
        Ok(vec![Value::new(shape, data)])
    }
}
