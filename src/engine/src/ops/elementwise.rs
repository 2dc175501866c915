//! Add, Sub, Mul, Div with numpy (multidirectional) broadcasting, on every numeric dtype.
//!
//! Integers wrap on overflow (as numpy does); integer Div truncates toward zero and a zero
//! divisor is an error. FLOAT16/BFLOAT16 compute each element in f32 and round once, as numpy
//! does for float16. When the node owns its first input and the output has its shape, the
//! result is written over it (no allocation).
//!
//! Only f32, the dtype models compute in, has a loop per op and broadcast pattern (so each one
//! vectorizes) and an in-place path. f64, i64 and u64 share one strided loop per dtype that picks
//! the op per element: in models they carry shapes and indices, a few elements each. FLOAT16/
//! BFLOAT16 are widened to f32 and rounded back (what their own `+` does element by element),
//! and the narrower integers to i64 and truncated back: wrapping add, sub and mul commute with
//! truncation, and a truncated i64 quotient is the narrow type's wrapping quotient (i32::MIN / −1
//! included). Twelve instantiations of every loop were an eighth of the whole .wasm.

use crate::attr::Attrs;
use crate::op::{broadcast_shapes, dtype_err, strides, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{Data, Value};
use half::{bf16, f16};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
}

/// One of the four arithmetic ops.
#[derive(Debug)]
pub struct Binary {
    pub kind: BinaryKind,
}

fn build(kind: BinaryKind, attrs: &Attrs) -> Result<Arc<dyn Op>, OpError> {
    attrs.only(&[])?;
    Ok(Arc::new(Binary { kind }))
}

pub fn build_add(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build(BinaryKind::Add, a)
}
pub fn build_sub(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build(BinaryKind::Sub, a)
}
pub fn build_mul(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build(BinaryKind::Mul, a)
}
pub fn build_div(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build(BinaryKind::Div, a)
}

/// Element arithmetic for one dtype.
pub trait Arith: Copy + Send + Sync + 'static {
    const INTEGER: bool;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Integer division truncates; the caller has checked for zero divisors.
    fn div(self, o: Self) -> Self;
    fn is_zero(self) -> bool;
}

macro_rules! float_arith {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            const INTEGER: bool = false;
            #[inline(always)] fn add(self, o: Self) -> Self { self + o }
            #[inline(always)] fn sub(self, o: Self) -> Self { self - o }
            #[inline(always)] fn mul(self, o: Self) -> Self { self * o }
            #[inline(always)] fn div(self, o: Self) -> Self { self / o }
            #[inline(always)] fn is_zero(self) -> bool { false }
        }
    )*};
}
float_arith!(f32, f64);

macro_rules! int_arith {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            const INTEGER: bool = true;
            #[inline(always)] fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)] fn sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            #[inline(always)] fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[inline(always)] fn div(self, o: Self) -> Self { self.wrapping_div(o) }
            #[inline(always)] fn is_zero(self) -> bool { self == 0 }
        }
    )*};
}
int_arith!(i64, u64);

/// Calls `f(a_offset, b_offset, out_offset, len, a_step, b_step)` for every innermost run of
/// the broadcast of `a_shape` and `b_shape` to `out` (steps are 0 for a broadcast axis, else 1).
pub(crate) fn broadcast_runs(
    out: &[usize],
    a_shape: &[usize],
    b_shape: &[usize],
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize),
) {
    let rank = out.len();
    if rank == 0 {
        f(0, 0, 0, 1, 0, 0);
        return;
    }
    if out.contains(&0) {
        return;
    }
    let bstrides = |s: &[usize]| -> Vec<usize> {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        let st = strides(&p);
        (0..rank).map(|i| if p[i] == 1 { 0 } else { st[i] }).collect()
    };
    let (sa, sb) = (bstrides(a_shape), bstrides(b_shape));
    let inner = out[rank - 1];
    let outer: usize = out[..rank - 1].iter().product();
    let mut idx = vec![0; rank - 1];
    let (mut ao, mut bo) = (0, 0);
    for o in 0..outer {
        f(ao, bo, o * inner, inner, sa[rank - 1], sb[rank - 1]);
        for d in (0..rank - 1).rev() {
            idx[d] += 1;
            ao += sa[d];
            bo += sb[d];
            if idx[d] < out[d] {
                break;
            }
            ao -= sa[d] * out[d];
            bo -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

/// `f(a, b)` over the numpy broadcast of two shapes, in output order: the generic loop of the
/// comparison, logic and min/max ops (their tensors are masks and small operands, so one
/// strided loop serves every dtype).
pub(crate) fn zip_broadcast<A: Copy, B: Copy, U>(
    a: &[A],
    a_shape: &[usize],
    b: &[B],
    b_shape: &[usize],
    f: impl Fn(A, B) -> U,
) -> Result<(Vec<usize>, Vec<U>), OpError> {
    let shape = broadcast_shapes(a_shape, b_shape)?;
    let mut out = Vec::with_capacity(shape.iter().product());
    broadcast_runs(&shape, a_shape, b_shape, |ao, bo, _, len, sa, sb| {
        out.extend((0..len).map(|k| f(a[ao + k * sa], b[bo + k * sb])));
    });
    Ok((shape, out))
}

/// `out = op(a, b)` broadcast; `out` is preallocated to the broadcast shape.
fn apply_into<T: Copy>(a: &[T], ash: &[usize], b: &[T], bsh: &[usize], oshape: &[usize], out: &mut [T], op: impl Fn(T, T) -> T) {
    broadcast_runs(oshape, ash, bsh, |ao, bo, oo, len, sa, sb| {
        let o = &mut out[oo..oo + len];
        match (sa, sb) {
            (1, 1) => o.iter_mut().zip(&a[ao..ao + len]).zip(&b[bo..bo + len]).for_each(|((o, &x), &y)| *o = op(x, y)),
            (1, _) => {
                let y = b[bo];
                o.iter_mut().zip(&a[ao..ao + len]).for_each(|(o, &x)| *o = op(x, y));
            }
            (_, 1) => {
                let x = a[ao];
                o.iter_mut().zip(&b[bo..bo + len]).for_each(|(o, &y)| *o = op(x, y));
            }
            _ => o.fill(op(a[ao], b[bo])),
        }
    });
}

/// `a = op(a, b)` where `b` broadcasts to `a`'s shape.
fn apply_in_place<T: Copy>(a: &mut [T], ash: &[usize], b: &[T], bsh: &[usize], op: impl Fn(T, T) -> T) {
    broadcast_runs(ash, ash, bsh, |ao, bo, _, len, _, sb| {
        let o = &mut a[ao..ao + len];
        if sb == 1 {
            o.iter_mut().zip(&b[bo..bo + len]).for_each(|(x, &y)| *x = op(*x, y));
        } else {
            let y = b[bo];
            o.iter_mut().for_each(|x| *x = op(*x, y));
        }
    });
}

/// `a op b` for the dtypes without their own loops: one strided loop (step 0 on a broadcast
/// axis), the op picked per element.
fn compute_strided<T: Arith + Default>(
    kind: BinaryKind,
    a: &[T],
    ash: &[usize],
    b: &[T],
    bsh: &[usize],
    oshape: &[usize],
) -> Result<Vec<T>, OpError> {
    if T::INTEGER && kind == BinaryKind::Div && b.iter().any(|y| y.is_zero()) {
        return Err(value_err("integer division by zero"));
    }
    let mut out = vec![T::default(); oshape.iter().product()];
    broadcast_runs(oshape, ash, bsh, |ao, bo, oo, len, sa, sb| {
        for (i, o) in out[oo..oo + len].iter_mut().enumerate() {
            let (x, y) = (a[ao + i * sa], b[bo + i * sb]);
            *o = match kind {
                BinaryKind::Add => x.add(y),
                BinaryKind::Sub => x.sub(y),
                BinaryKind::Mul => x.mul(y),
                BinaryKind::Div => x.div(y),
            };
        }
    });
    Ok(out)
}

fn compute<T: Arith + Default>(
    kind: BinaryKind,
    a: &[T],
    ash: &[usize],
    b: &[T],
    bsh: &[usize],
    oshape: &[usize],
    in_place: Option<&mut Vec<T>>,
) -> Result<Option<Vec<T>>, OpError> {
    if T::INTEGER && kind == BinaryKind::Div && b.iter().any(|y| y.is_zero()) {
        return Err(value_err("integer division by zero"));
    }
    macro_rules! go {
        ($f:expr) => {
            match in_place {
                Some(buf) => {
                    apply_in_place(buf, ash, b, bsh, $f);
                    Ok(None)
                }
                None => {
                    let mut out = vec![T::default(); oshape.iter().product()];
                    apply_into(a, ash, b, bsh, oshape, &mut out, $f);
                    Ok(Some(out))
                }
            }
        };
    }
    match kind {
        BinaryKind::Add => go!(|x: T, y: T| x.add(y)),
        BinaryKind::Sub => go!(|x: T, y: T| x.sub(y)),
        BinaryKind::Mul => go!(|x: T, y: T| x.mul(y)),
        BinaryKind::Div => go!(|x: T, y: T| x.div(y)),
    }
}

fn check(a: &Value, b: &Value) -> Result<Vec<usize>, OpError> {
    if a.dtype() != b.dtype() {
        return Err(dtype_err(format!("inputs have different dtypes: {} and {}", a.dtype(), b.dtype())));
    }
    if a.dtype().minifloat().is_some() || a.dtype().bits() < 8 || a.dtype() == crate::value::DType::Bool {
        return Err(dtype_err(format!("dtype {} is not supported for arithmetic", a.dtype())));
    }
    broadcast_shapes(a.shape(), b.shape())
}

/// Widens a narrow integer or half-float operand to the type its loops run in, and back.
macro_rules! widened {
    ($self:ident, $x:ident, $y:ident, $ash:ident, $bsh:ident, $oshape:ident, $compute:ident, $wide:ty, $var:ident, $to:expr, $from:expr) => {{
        let (x, y): (Vec<$wide>, Vec<$wide>) = ($x.iter().map($to).collect(), $y.iter().map($to).collect());
        let out = $compute($self.kind, &x, $ash, &y, $bsh, &$oshape)?;
        Data::$var(out.into_iter().map($from).collect())
    }};
}

/// The f32 loops with a fresh output (what the half floats widen to).
fn compute_f32(kind: BinaryKind, a: &[f32], ash: &[usize], b: &[f32], bsh: &[usize], oshape: &[usize]) -> Result<Vec<f32>, OpError> {
    Ok(compute(kind, a, ash, b, bsh, oshape, None)?.expect("fresh output"))
}

impl Binary {
    /// `a op b`, broadcast, in a new value.
    pub fn apply(&self, a: &Value, b: &Value) -> Result<Value, OpError> {
        let oshape = check(a, b)?;
        let (ash, bsh) = (a.shape(), b.shape());
        let data = match (a.data(), b.data()) {
            (Data::F32(x), Data::F32(y)) => Data::F32(compute_f32(self.kind, x, ash, y, bsh, &oshape)?),
            (Data::F64(x), Data::F64(y)) => Data::F64(compute_strided(self.kind, x, ash, y, bsh, &oshape)?),
            (Data::I64(x), Data::I64(y)) => Data::I64(compute_strided(self.kind, x, ash, y, bsh, &oshape)?),
            (Data::U64(x), Data::U64(y)) => Data::U64(compute_strided(self.kind, x, ash, y, bsh, &oshape)?),
            (Data::F16(x), Data::F16(y)) => widened!(self, x, y, ash, bsh, oshape, compute_f32, f32, F16, |v| v.to_f32(), f16::from_f32),
            (Data::BF16(x), Data::BF16(y)) => {
                widened!(self, x, y, ash, bsh, oshape, compute_f32, f32, BF16, |v| v.to_f32(), bf16::from_f32)
            }
            (Data::I8(x), Data::I8(y)) => widened!(self, x, y, ash, bsh, oshape, compute_strided, i64, I8, |&v| v as i64, |v| v as i8),
            (Data::U8(x), Data::U8(y)) => widened!(self, x, y, ash, bsh, oshape, compute_strided, i64, U8, |&v| v as i64, |v| v as u8),
            (Data::I16(x), Data::I16(y)) => widened!(self, x, y, ash, bsh, oshape, compute_strided, i64, I16, |&v| v as i64, |v| v as i16),
            (Data::U16(x), Data::U16(y)) => widened!(self, x, y, ash, bsh, oshape, compute_strided, i64, U16, |&v| v as i64, |v| v as u16),
            (Data::I32(x), Data::I32(y)) => widened!(self, x, y, ash, bsh, oshape, compute_strided, i64, I32, |&v| v as i64, |v| v as i32),
            (Data::U32(x), Data::U32(y)) => widened!(self, x, y, ash, bsh, oshape, compute_strided, i64, U32, |&v| v as i64, |v| v as u32),
            _ => unreachable!("check() accepted only matching arithmetic dtypes"),
        };
        Ok(Value::new(oshape, data))
    }

    /// `a op b` written over `a` when the broadcast shape is `a`'s own (f32; other dtypes get a
    /// new value).
    pub fn apply_in_place(&self, mut a: Value, b: &Value) -> Result<Value, OpError> {
        let oshape = check(&a, b)?;
        if oshape != a.shape() {
            return self.apply(&a, b);
        }
        let bsh = b.shape();
        match (a.data_mut(), b.data()) {
            (Data::F32(x), Data::F32(y)) => _ = compute(self.kind, &[], &oshape, y, bsh, &oshape, Some(x))?,
            _ => return self.apply(&a, b),
        }
        Ok(a)
    }
}

impl Op for Binary {
    fn op_type(&self) -> &'static str {
        match self.kind {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let out = match inputs.take(0) {
            Some(a) => self.apply_in_place(a, inputs.req(1)?)?,
            None => self.apply(inputs.req(0)?, inputs.req(1)?)?,
        };
        Ok(vec![out])
    }
}
