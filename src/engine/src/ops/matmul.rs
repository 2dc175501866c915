//! Gemm and MatMul in float, through `quantscope_gemm::gemm_f32` (f32; FLOAT16/BFLOAT16 are
//! widened to f32 and the result rounded once; DOUBLE has its own f64 loop).
//!
//! MatMul follows numpy: 1-D operands are promoted (and the added axis removed afterwards),
//! leading batch axes broadcast. A constant `B` (Gemm's transposed once if `transB`) is packed
//! for `quantscope_gemm::gemm_f32_packed` when the model loads, so a run neither transposes nor
//! packs it.

use super::elementwise::broadcast_runs;
use crate::attr::Attrs;
use crate::op::{broadcast_shapes, dtype_err, expect_rank, shape_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use half::{bf16, f16};
use quantscope_gemm::PackedF32B;
use std::sync::Arc;

/// Row-major transpose of an `rows × cols` matrix.
pub(crate) fn transpose2<T: Copy + Default>(x: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::default(); x.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = x[r * cols + c];
        }
    }
    out
}

/// `C = A·B` for f64 (row-major, summing over k in order).
fn gemm_f64(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for l in 0..k {
            let x = a[i * k + l];
            row.iter_mut().zip(&b[l * n..(l + 1) * n]).for_each(|(c, &y)| *c += x * y);
        }
    }
}

fn widen(v: &Value) -> Option<Vec<f32>> {
    match v.data() {
        Data::F16(x) => Some(x.iter().map(|e| e.to_f32()).collect()),
        Data::BF16(x) => Some(x.iter().map(|e| e.to_f32()).collect()),
        _ => None,
    }
}

/// Rounds an f32 result back to the inputs' dtype.
fn narrow(dtype: DType, y: Vec<f32>) -> Data {
    match dtype {
        DType::F16 => Data::F16(y.into_iter().map(f16::from_f32).collect()),
        DType::BF16 => Data::BF16(y.into_iter().map(bf16::from_f32).collect()),
        _ => Data::F32(y),
    }
}

/// numpy `matmul` of two float values.
pub fn matmul(a: &Value, b: &Value) -> Result<Value, OpError> {
    if a.dtype() != b.dtype() {
        return Err(dtype_err(format!("inputs have different dtypes: {} and {}", a.dtype(), b.dtype())));
    }
    if a.rank() == 0 || b.rank() == 0 {
        return Err(OpError::Rank { input: if a.rank() == 0 { 0 } else { 1 }, expected: "at least 1".into(), got: 0 });
    }
    let dtype = a.dtype();
    let (plan, out_shape) = MatmulPlan::new(a.shape(), b.shape())?;
    let count = out_shape.iter().product();
    let data = match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) if dtype == DType::F32 => {
            let mut out = vec![0.0f32; count];
            plan.run(x, y, &mut out, quantscope_gemm::gemm_f32);
            Data::F32(out)
        }
        (Data::F64(x), Data::F64(y)) => {
            let mut out = vec![0.0f64; count];
            plan.run(x, y, &mut out, gemm_f64);
            Data::F64(out)
        }
        (Data::F16(_), _) | (Data::BF16(_), _) => {
            let mut out = vec![0.0f32; count];
            plan.run(&widen(a).unwrap(), &widen(b).unwrap(), &mut out, quantscope_gemm::gemm_f32);
            narrow(dtype, out)
        }
        _ => return Err(dtype_err(format!("MatMul accepts float32, float64, float16 and bfloat16, not {dtype}"))),
    };
    Ok(Value::new(out_shape, data))
}

/// The batch structure of a numpy matmul: `m×k` by `k×n` matrices over broadcast batches.
pub struct MatmulPlan {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
    out_batch: Vec<usize>,
}

impl MatmulPlan {
    /// The plan and the output shape (with promoted 1-D axes removed).
    pub fn new(ash: &[usize], bsh: &[usize]) -> Result<(MatmulPlan, Vec<usize>), OpError> {
        let a2: Vec<usize> = if ash.len() == 1 { vec![1, ash[0]] } else { ash.to_vec() };
        let b2: Vec<usize> = if bsh.len() == 1 { vec![bsh[0], 1] } else { bsh.to_vec() };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != kb {
            return Err(shape_err(format!("cannot multiply {ash:?} by {bsh:?}: inner dimensions {k} and {kb} differ")));
        }
        let a_batch = a2[..a2.len() - 2].to_vec();
        let b_batch = b2[..b2.len() - 2].to_vec();
        let out_batch = broadcast_shapes(&a_batch, &b_batch)
            .map_err(|_| shape_err(format!("batch dimensions of {ash:?} and {bsh:?} cannot be broadcast together")))?;
        let mut out_shape = out_batch.clone();
        if ash.len() > 1 {
            out_shape.push(m);
        }
        if bsh.len() > 1 {
            out_shape.push(n);
        }
        Ok((MatmulPlan { m, k, n, a_batch, b_batch, out_batch }, out_shape))
    }

    /// Calls `f(a_matrix_index, b_matrix_index, out_matrix_index)` for every batch.
    pub fn for_each_batch(&self, mut f: impl FnMut(usize, usize, usize)) {
        if self.out_batch.is_empty() {
            f(0, 0, 0);
            return;
        }
        broadcast_runs(&self.out_batch, &self.a_batch, &self.b_batch, |ao, bo, oo, len, sa, sb| {
            for i in 0..len {
                f(ao + i * sa, bo + i * sb, oo + i);
            }
        });
    }

    pub fn run<T: Copy>(&self, a: &[T], b: &[T], out: &mut [T], gemm: impl Fn(usize, usize, usize, &[T], &[T], &mut [T])) {
        let (m, k, n) = (self.m, self.k, self.n);
        self.for_each_batch(|ai, bi, oi| {
            gemm(m, k, n, &a[ai * m * k..(ai + 1) * m * k], &b[bi * k * n..(bi + 1) * k * n], &mut out[oi * m * n..(oi + 1) * m * n]);
        });
    }
}

/// `MatMul`. A constant 2-D f32 `B` is packed once at load time (`packed_b`); then every row
/// of every batch of `A` goes through one packed GEMM.
#[derive(Debug, Clone, Default)]
pub struct MatMul {
    pub packed_b: Option<Arc<PackedF32B>>,
}

pub fn build_matmul(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(MatMul::default()))
}

impl Op for MatMul {
    fn widens_half(&self) -> bool {
        true
    }

    fn op_type(&self) -> &'static str {
        "MatMul"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        match constants.get(1) {
            Some(Some(b)) if b.dtype() == DType::F32 && b.rank() == 2 => {
                let (k, n) = (b.shape()[0], b.shape()[1]);
                let packed = PackedF32B::new(k, n, b.as_f32().expect("f32 checked"));
                Ok(Some(Arc::new(MatMul { packed_b: Some(Arc::new(packed)) })))
            }
            _ => Ok(None),
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (a, b) = (inputs.req(0)?, inputs.req(1)?);
        match (&self.packed_b, a.as_f32()) {
            (Some(pb), Some(x)) if a.rank() >= 1 => {
                let (k, n) = (pb.k(), pb.n());
                if a.shape()[a.rank() - 1] != k {
                    return Err(shape_err(format!(
                        "cannot multiply {:?} by {:?}: inner dimensions {} and {k} differ",
                        a.shape(),
                        b.shape(),
                        a.shape()[a.rank() - 1]
                    )));
                }
                let m = x.len().checked_div(k).unwrap_or_else(|| a.shape()[..a.rank() - 1].iter().product());
                let mut y = vec![0.0f32; m * n];
                quantscope_gemm::gemm_f32_packed(m, x, pb, &mut y);
                let mut shape = a.shape()[..a.rank() - 1].to_vec();
                shape.push(n);
                Ok(vec![Value::f32(shape, y)])
            }
            _ => Ok(vec![matmul(a, b)?]),
        }
    }
}

/// `Gemm`: `Y = alpha·A'·B' + beta·C`, A' and B' optionally transposed, C broadcast to M×N.
#[derive(Debug, Clone)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
    /// A constant `B` (transposed first if `trans_b`), packed at load time.
    pub packed_b: Option<Arc<PackedF32B>>,
}

pub fn build_gemm(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["alpha", "beta", "transA", "transB", "broadcast"])?;
    Ok(Arc::new(Gemm {
        alpha: a.float("alpha", 1.0)?,
        beta: a.float("beta", 1.0)?,
        trans_a: a.int("transA", 0)? != 0,
        trans_b: a.int("transB", 0)? != 0,
        packed_b: None,
    }))
}

impl Gemm {
    /// B as K×N f32 (transposed when `trans_b`).
    fn b_matrix(&self, b: &Value) -> Result<(usize, usize, Vec<f32>), OpError> {
        expect_rank(b, 1, 2)?;
        let x = crate::op::f32_input(b, "Gemm's B")?;
        let (r, c) = (b.shape()[0], b.shape()[1]);
        Ok(if self.trans_b { (c, r, transpose2(x, r, c)) } else { (r, c, x.to_vec()) })
    }
}

impl Op for Gemm {
    fn widens_half(&self) -> bool {
        true
    }

    fn op_type(&self) -> &'static str {
        "Gemm"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        match constants.get(1) {
            Some(Some(b)) if b.dtype() == DType::F32 => {
                let (k, n, bm) = self.b_matrix(b)?;
                Ok(Some(Arc::new(Gemm { packed_b: Some(Arc::new(PackedF32B::new(k, n, &bm))), ..self.clone() })))
            }
            _ => Ok(None),
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let a = inputs.req(0)?;
        expect_rank(a, 0, 2)?;
        let ax = crate::op::f32_input(a, "Gemm's A")?;
        let (m, k) = if self.trans_a { (a.shape()[1], a.shape()[0]) } else { (a.shape()[0], a.shape()[1]) };
        let a_t;
        let am: &[f32] = if self.trans_a {
            a_t = transpose2(ax, k, m);
            &a_t
        } else {
            ax
        };
        let owned_b;
        let b: &PackedF32B = match &self.packed_b {
            Some(b) => b,
            None => {
                let (kb, n, bm) = self.b_matrix(inputs.req(1)?)?;
                owned_b = PackedF32B::new(kb, n, &bm);
                &owned_b
            }
        };
        let (kb, n) = (b.k(), b.n());
        if k != kb {
            return Err(shape_err(format!("A' is {m}×{k} but B' is {kb}×{n}")));
        }
        let mut y = vec![0.0f32; m * n];
        quantscope_gemm::gemm_f32_packed(m, am, b, &mut y);
        if self.alpha != 1.0 {
            y.iter_mut().for_each(|v| *v *= self.alpha);
        }
        if let Some(c) = inputs.get(2) {
            let cx = crate::op::f32_input(c, "Gemm's C")?;
            let out = [m, n];
            if broadcast_shapes(c.shape(), &out).ok().as_deref() != Some(&out[..]) {
                return Err(shape_err(format!("C of shape {:?} does not broadcast to {m}×{n}", c.shape())));
            }
            let beta = self.beta;
            broadcast_runs(&out, &out, c.shape(), |yo, co, _, len, _, sc| {
                let row = &mut y[yo..yo + len];
                if sc == 1 {
                    row.iter_mut().zip(&cx[co..co + len]).for_each(|(v, &c)| *v += beta * c);
                } else {
                    let c = beta * cx[co];
                    row.iter_mut().for_each(|v| *v += c);
                }
            });
        }
        Ok(vec![Value::f32(vec![m, n], y)])
    }
}
