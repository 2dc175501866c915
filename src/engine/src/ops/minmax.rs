//! Min, Max, Sum and Mean over any number of inputs, Pow and PRelu, with numpy broadcasting,
//! as the ONNX spec defines them and its reference evaluator computes them
//! (`onnx/reference/ops/op_{min,max,sum,mean,pow,prelu}.py`): inputs are folded left to right,
//! one broadcast pair at a time, in the inputs' dtype (integers wrap; FLOAT16/BFLOAT16 are
//! computed in f32 and rounded once); Min and Max propagate NaN.

use super::elementwise::zip_broadcast;
use crate::attr::Attrs;
use crate::op::{dtype_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
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
            // Half precision folds in f32 and rounds once (numpy rounds after every step; the
            // two differ only for a Sum or Mean of three or more inputs, in the last bit).
            Data::F16(_) | Data::BF16(_) => {
                let wide: Vec<Value> = values.iter().map(|v| Value::f32(v.shape().to_vec(), v.to_f32_vec())).collect();
                let out = fold::<f32>(k, &wide.iter().collect::<Vec<_>>())?;
                let shape = out.shape().to_vec();
                Value::from_f32(dtype, shape, out.as_f32().expect("fold keeps f32")).map_err(|_| refuse())?
            }
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
        // One loop per precision: f32 ^ f32 in f32 (numpy's float32 power); a float base with
        // any other exponent in f64 (numpy promotes), rounded to the base's dtype; half
        // precision through f32; integers in i64.
        let (shape, data) = match x.data() {
            // x² as x·x, as ONNX Runtime's Pow does for a scalar exponent of 2
            // (`onnxruntime/core/providers/cpu/math/element_wise_ops.cc`, PowImpl) and numpy's
            // `power` (its fast scalar power): the correctly rounded square, without a `powf`
            // call per element (silero's STFT magnitudes).
            Data::F32(b) if y.dtype() == x.dtype() && y.as_f32().is_some_and(|e| e == [2.0]) => {
                let (s, v) = zip_broadcast(b, x.shape(), y.as_f32().expect("f32"), y.shape(), |a, _| a * a)?;
                (s, Data::F32(v))
            }
            Data::F32(b) if y.dtype() == x.dtype() => {
                let (s, v) = zip_broadcast(b, x.shape(), y.as_f32().expect("same dtype"), y.shape(), f32::powf)?;
                (s, Data::F32(v))
            }
            Data::F16(_) | Data::BF16(_) if y.dtype().is_float() && y.dtype() != DType::F64 => {
                let (s, v) = zip_broadcast(&x.to_f32_vec(), x.shape(), &y.to_f32_vec(), y.shape(), f32::powf)?;
                (s, Value::from_f32(x.dtype(), vec![v.len()], &v).map_err(|_| refuse())?.into_data())
            }
            Data::F32(_) | Data::F64(_) | Data::F16(_) | Data::BF16(_) => {
                let (s, v) = zip_broadcast(&x.to_f64_vec(), x.shape(), &e, y.shape(), f64::powf)?;
                let data = match x.dtype() {
                    DType::F64 => Data::F64(v),
                    _ => Value::from_f32(x.dtype(), vec![v.len()], &v.iter().map(|&p| p as f32).collect::<Vec<_>>())
                        .map_err(|_| refuse())?
                        .into_data(),
                };
                (s, data)
            }
            Data::I32(_) | Data::I64(_) => {
                let base = x.to_i64_vec().expect("an integer dtype");
                let float = y.dtype().is_float();
                let (s, v) = zip_broadcast(&base, x.shape(), &e, y.shape(), |p, q| int_pow(p, q, float))?;
                (s, if x.dtype() == DType::I32 { Data::I32(v.iter().map(|&p| p as i32).collect()) } else { Data::I64(v) })
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
        // f32 and f64 in their own loop; half precision through the f32 one, integers in i64.
        let prelu32 = |p: f32, q: f32| if p < 0.0 { q * p } else { p };
        let (shape, data) = match (x.data(), s.data()) {
            (Data::F32(a), Data::F32(b)) => {
                let (sh, v) = zip_broadcast(a, x.shape(), b, s.shape(), prelu32)?;
                (sh, Data::F32(v))
            }
            (Data::F64(a), Data::F64(b)) => {
                let (sh, v) = zip_broadcast(a, x.shape(), b, s.shape(), |p, q| if p < 0.0 { q * p } else { p })?;
                (sh, Data::F64(v))
            }
            (Data::F16(_), Data::F16(_)) | (Data::BF16(_), Data::BF16(_)) => {
                let (sh, v) = zip_broadcast(&x.to_f32_vec(), x.shape(), &s.to_f32_vec(), s.shape(), prelu32)?;
                (sh, Value::from_f32(x.dtype(), vec![v.len()], &v).map_err(dtype_err)?.into_data())
            }
            (Data::I32(_), Data::I32(_)) | (Data::I64(_), Data::I64(_)) => {
                let (a, b) = (x.to_i64_vec().expect("integer"), s.to_i64_vec().expect("integer"));
                let (sh, v) = zip_broadcast(&a, x.shape(), &b, s.shape(), |p, q| if p < 0 { q.wrapping_mul(p) } else { p })?;
                (sh, if x.dtype() == DType::I32 { Data::I32(v.iter().map(|&p| p as i32).collect()) } else { Data::I64(v) })
            }
            _ => return Err(dtype_err(format!("PRelu does not accept {}", x.dtype()))),
        };
        if shape != x.shape() {
            return Err(crate::op::shape_err(format!("PRelu's slope {:?} does not broadcast to X {:?}", s.shape(), x.shape())));
        }
        Ok(vec![Value::new(shape, data)])
    }
}
