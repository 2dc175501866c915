//! Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), logic (And, Or, Xor, Not)
//! and Where, with numpy broadcasting, as the ONNX spec defines them (`onnx/defs/logical/`):
//! comparisons take two inputs of one numeric dtype (Equal also bool) and give bool; NaN
//! compares unequal to everything. FLOAT16/BFLOAT16 compare by value.

use super::elementwise::zip_broadcast;
use crate::attr::Attrs;
use crate::op::{dtype_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

impl Compare {
    #[inline(always)]
    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Compare::Equal => a == b,
            Compare::Less => a < b,
            Compare::Greater => a > b,
            Compare::LessOrEqual => a <= b,
            Compare::GreaterOrEqual => a >= b,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compare::Equal => "Equal",
            Compare::Less => "Less",
            Compare::Greater => "Greater",
            Compare::LessOrEqual => "LessOrEqual",
            Compare::GreaterOrEqual => "GreaterOrEqual",
        }
    }
}

#[derive(Debug)]
pub struct Comparison {
    pub kind: Compare,
}

macro_rules! compare_builders {
    ($($f:ident => $k:ident),*) => {$(
        pub fn $f(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
            a.only(&[])?;
            Ok(Arc::new(Comparison { kind: Compare::$k }))
        }
    )*};
}
compare_builders!(build_equal => Equal, build_less => Less, build_greater => Greater,
    build_less_or_equal => LessOrEqual, build_greater_or_equal => GreaterOrEqual);

/// Both inputs of one dtype (and a natural storage: no sub-byte or 8-bit float codes).
fn same_dtype(op: &str, a: &Value, b: &Value) -> Result<DType, OpError> {
    if a.dtype() != b.dtype() {
        return Err(dtype_err(format!("{op} needs inputs of one dtype, not {} and {}", a.dtype(), b.dtype())));
    }
    if a.data().natural_dtype() != a.dtype() {
        return Err(dtype_err(format!("{op} does not accept {}", a.dtype())));
    }
    Ok(a.dtype())
}

impl Op for Comparison {
    fn op_type(&self) -> &'static str {
        self.kind.name()
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (a, b) = (inputs.req(0)?, inputs.req(1)?);
        let dtype = same_dtype(self.kind.name(), a, b)?;
        let k = self.kind;
        let (sa, sb) = (a.shape(), b.shape());
        let (shape, out) = match (a.data(), b.data()) {
            // Every float type in one f64 loop: widening is exact, so order, equality and NaN are
            // as in the input's own precision.
            (Data::F64(_), Data::F64(_)) | (Data::F32(_), Data::F32(_)) | (Data::F16(_), Data::F16(_)) | (Data::BF16(_), Data::BF16(_)) => {
                zip_broadcast(&a.to_f64_vec(), sa, &b.to_f64_vec(), sb, |p, q| k.test(p, q))?
            }
            (Data::Bool(_), _) if k != Compare::Equal => return Err(dtype_err(format!("{} does not accept bool", k.name()))),
            // Every integer type (and bool, for Equal) in one i64 loop: the narrower ones widen
            // exactly, and u64 with its top bit flipped keeps its order and equality as i64.
            _ => {
                let (Some(x), Some(y)) = (a.to_i64_vec(), b.to_i64_vec()) else {
                    return Err(dtype_err(format!("{} does not accept {dtype}", k.name())));
                };
                let flip = if dtype == DType::U64 { i64::MIN } else { 0 };
                zip_broadcast(&x, sa, &y, sb, |p, q| k.test(p ^ flip, q ^ flip))?
            }
        };
        Ok(vec![Value::new(shape, Data::Bool(out))])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicKind {
    And,
    Or,
    Xor,
}

#[derive(Debug)]
pub struct Logic {
    pub kind: LogicKind,
}

pub fn build_and(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Logic { kind: LogicKind::And }))
}
pub fn build_or(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Logic { kind: LogicKind::Or }))
}
pub fn build_xor(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Logic { kind: LogicKind::Xor }))
}

fn bools<'v>(op: &str, v: &'v Value) -> Result<&'v [bool], OpError> {
    match v.data() {
        Data::Bool(x) => Ok(x),
        _ => Err(dtype_err(format!("{op} takes bool inputs, not {}", v.dtype()))),
    }
}

impl Op for Logic {
    fn op_type(&self) -> &'static str {
        match self.kind {
            LogicKind::And => "And",
            LogicKind::Or => "Or",
            LogicKind::Xor => "Xor",
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (a, b) = (inputs.req(0)?, inputs.req(1)?);
        let (x, y) = (bools(self.op_type(), a)?, bools(self.op_type(), b)?);
        let kind = self.kind;
        let (shape, out) = zip_broadcast(x, a.shape(), y, b.shape(), |p, q| match kind {
            LogicKind::And => p && q,
            LogicKind::Or => p || q,
            LogicKind::Xor => p != q,
        })?;
        Ok(vec![Value::new(shape, Data::Bool(out))])
    }
}

/// Not: elementwise negation of a bool tensor.
#[derive(Debug)]
pub struct Not;

pub fn build_not(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Not))
}

impl Op for Not {
    fn op_type(&self) -> &'static str {
        "Not"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let mut v = inputs.take_or_clone(0)?;
        let dtype = v.dtype();
        match v.data_mut() {
            Data::Bool(x) => x.iter_mut().for_each(|e| *e = !*e),
            _ => return Err(dtype_err(format!("Not takes a bool input, not {dtype}"))),
        }
        Ok(vec![v])
    }
}

/// Where(condition, X, Y): X where the condition holds, else Y; all three broadcast together.
#[derive(Debug)]
pub struct Where;

pub fn build_where(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Where))
}

impl Op for Where {
    fn op_type(&self) -> &'static str {
        "Where"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (c, x, y) = (inputs.req(0)?, inputs.req(1)?, inputs.req(2)?);
        let cond = bools("Where's condition", c)?;
        if x.dtype() != y.dtype() {
            return Err(dtype_err(format!("Where needs X and Y of one dtype, not {} and {}", x.dtype(), y.dtype())));
        }
        // Broadcast the condition against X and Y by index: pick an index into X or Y per
        // output element, then gather in the dtype (Data::pick works on every dtype).
        let (xy_shape, from_x) = {
            let xi: Vec<usize> = (0..x.len()).collect();
            let yi: Vec<usize> = (0..y.len()).map(|i| i + x.len()).collect();
            zip_broadcast(&xi, x.shape(), &yi, y.shape(), |p, q| (p, q))?
        };
        let (shape, chosen) = zip_broadcast(cond, c.shape(), &from_x, &xy_shape, |k, (p, q)| if k { p } else { q })?;
        // X then Y in one storage, through Concat's own per-dtype copy (flattened clones: Where's
        // operands are masks and small tensors in the models that use it).
        let flat = |v: &Value| v.clone().reshaped(vec![v.len()]);
        let (fx, fy) = (flat(x), flat(y));
        let both = super::shape::Concat { axis: 0 }.run(&mut Inputs::refs(&[Some(&fx), Some(&fy)]))?.remove(0);
        let data = both.data().pick(chosen.len(), |start, block| block.copy_from_slice(&chosen[start..start + block.len()]));
        Ok(vec![Value::with_dtype(x.dtype(), shape, data)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn less(a: Value, b: Value) -> Vec<bool> {
        let out = Comparison { kind: Compare::Less }.run(&mut Inputs::refs(&[Some(&a), Some(&b)])).unwrap().remove(0);
        match out.into_data() {
            Data::Bool(v) => v,
            _ => unreachable!(),
        }
    }

    #[test]
    fn u64_beyond_2_63_and_half_precision_compare_by_value() {
        let u = |v: Vec<u64>| Value::new(vec![v.len()], Data::U64(v));
        assert_eq!(less(u(vec![1, u64::MAX, 1 << 63]), u(vec![1 << 63, 1 << 63, u64::MAX])), vec![true, false, true]);
        let h = |v: Vec<f32>| Value::new(vec![v.len()], Data::F16(v.into_iter().map(half::f16::from_f32).collect()));
        assert_eq!(less(h(vec![-1.0, f32::NAN, 0.5]), h(vec![1.0, 1.0, 0.25])), vec![true, false, false]);
    }
}
