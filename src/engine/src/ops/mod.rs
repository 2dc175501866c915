//! The op registry: one file per op family, each op a struct built from a node's attributes at
//! load time (so a bad attribute fails the load, not the first run) and run on typed values.
//!
//! An op gets its inputs through [`Inputs`]: borrowed values, or owned ones when this node is
//! the value's last user, which elementwise ops use to work in place instead of allocating.
//! An op whose inputs include constants may [`Op::specialize`] itself at load time (Gemm keeps
//! a transposed copy of a constant `B`, so the run does not transpose it again).

pub mod act_kernels;
pub mod activation;
pub mod cast;
pub mod conv;
pub mod elementwise;
pub mod fused;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod quant;
pub mod shape;

use super::attr::Attrs;
use super::value::Value;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// What went wrong inside an op; the executor adds the node's name and op type.
#[derive(Debug, Clone, PartialEq)]
pub enum OpError {
    /// Input number `input` has rank `got`; `expected` says what was wanted.
    Rank { input: usize, expected: String, got: usize },
    Shape(String),
    Dtype(String),
    Value(String),
    Unsupported(String),
    Attribute { name: String, why: String },
}

pub(crate) fn shape_err(why: impl Into<String>) -> OpError {
    OpError::Shape(why.into())
}

pub(crate) fn dtype_err(why: impl Into<String>) -> OpError {
    OpError::Dtype(why.into())
}

pub(crate) fn value_err(why: impl Into<String>) -> OpError {
    OpError::Value(why.into())
}

pub(crate) fn attr_err(name: &str, why: impl Into<String>) -> OpError {
    OpError::Attribute { name: name.to_string(), why: why.into() }
}

/// One input of a node at run time.
pub enum Input<'a> {
    /// An optional input left out (empty name).
    Absent,
    Ref(&'a Value),
    /// This node is the value's last user: the op may reuse its buffer.
    Owned(Value),
}

/// A node's inputs, in order.
pub struct Inputs<'a> {
    list: Vec<Input<'a>>,
}

impl<'a> Inputs<'a> {
    pub fn new(list: Vec<Input<'a>>) -> Self {
        Inputs { list }
    }

    /// Borrowed inputs (tests and load-time folding).
    pub fn refs(values: &[Option<&'a Value>]) -> Self {
        Inputs { list: values.iter().map(|v| v.map_or(Input::Absent, Input::Ref)).collect() }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Input `i`, or `None` when it is absent or beyond the inputs given.
    pub fn get(&self, i: usize) -> Option<&Value> {
        match self.list.get(i)? {
            Input::Absent => None,
            Input::Ref(v) => Some(v),
            Input::Owned(v) => Some(v),
        }
    }

    /// A required input (the loader checks required inputs exist, so this fails only when an
    /// op is run directly with too few).
    pub fn req(&self, i: usize) -> Result<&Value, OpError> {
        self.get(i).ok_or_else(|| value_err(format!("required input {i} is missing")))
    }

    /// Input `i` by value if this node owns it (its last user), else `None`.
    pub fn take(&mut self, i: usize) -> Option<Value> {
        match self.list.get_mut(i)? {
            slot @ Input::Owned(_) => match std::mem::replace(slot, Input::Absent) {
                Input::Owned(v) => Some(v),
                _ => unreachable!(),
            },
            _ => None,
        }
    }

    /// Input `i` by value: moved when owned, cloned when borrowed.
    pub fn take_or_clone(&mut self, i: usize) -> Result<Value, OpError> {
        match self.take(i) {
            Some(v) => Ok(v),
            None => self.req(i).cloned(),
        }
    }
}

/// `&dyn Op` → `&dyn Any`, for the quantizer to read an op's parameters.
pub trait AsAny {
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An op, built from a node's attributes.
pub trait Op: Send + Sync + fmt::Debug + AsAny {
    /// The ONNX op type (or the engine's name for a fused op).
    fn op_type(&self) -> &'static str;

    /// Runs the op; returns one value per output.
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError>;

    /// Called at load time with the inputs that are constants (initializers): returns a
    /// specialised op when that helps (prepacked weights), or `None` to keep this one.
    fn specialize(&self, _constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        Ok(None)
    }

    /// Bytes of weights the op holds itself (quantized codes, scales), for the model size.
    fn own_bytes(&self) -> u64 {
        0
    }
}

/// What a builder knows about the node besides its attributes.
#[derive(Debug, Clone, Copy)]
pub struct BuildCtx {
    /// The model's opset version for the default domain.
    pub opset: i64,
    pub n_inputs: usize,
    pub n_outputs: usize,
}

type Builder = fn(&Attrs, &BuildCtx) -> Result<Arc<dyn Op>, OpError>;

/// An op type: its input count range, its output count range and its builder.
pub struct OpSpec {
    pub op_type: &'static str,
    pub inputs: (usize, usize),
    pub outputs: (usize, usize),
    /// Inputs that must be present (non-empty names): the first `required`.
    pub required: usize,
    build: Builder,
}

const fn spec(op_type: &'static str, required: usize, inputs: (usize, usize), outputs: (usize, usize), build: Builder) -> OpSpec {
    OpSpec { op_type, inputs, outputs, required, build }
}

/// Every op the engine runs (default ONNX domain).
pub static REGISTRY: &[OpSpec] = &[
    spec("Add", 2, (2, 2), (1, 1), elementwise::build_add),
    spec("Sub", 2, (2, 2), (1, 1), elementwise::build_sub),
    spec("Mul", 2, (2, 2), (1, 1), elementwise::build_mul),
    spec("Div", 2, (2, 2), (1, 1), elementwise::build_div),
    spec("Relu", 1, (1, 1), (1, 1), activation::build_relu),
    spec("Sigmoid", 1, (1, 1), (1, 1), activation::build_sigmoid),
    spec("Tanh", 1, (1, 1), (1, 1), activation::build_tanh),
    spec("Softmax", 1, (1, 1), (1, 1), activation::build_softmax),
    spec("Gemm", 2, (2, 3), (1, 1), matmul::build_gemm),
    spec("MatMul", 2, (2, 2), (1, 1), matmul::build_matmul),
    spec("Conv", 2, (2, 3), (1, 1), conv::build_conv),
    spec("MaxPool", 1, (1, 1), (1, 2), pool::build_maxpool),
    spec("AveragePool", 1, (1, 1), (1, 1), pool::build_averagepool),
    spec("GlobalAveragePool", 1, (1, 1), (1, 1), pool::build_global_averagepool),
    spec("BatchNormalization", 5, (5, 5), (1, 3), norm::build_batchnorm),
    spec("Flatten", 1, (1, 1), (1, 1), shape::build_flatten),
    spec("Reshape", 2, (2, 2), (1, 1), shape::build_reshape),
    spec("Transpose", 1, (1, 1), (1, 1), shape::build_transpose),
    spec("Shape", 1, (1, 1), (1, 1), shape::build_shape),
    spec("Gather", 2, (2, 2), (1, 1), shape::build_gather),
    spec("Concat", 1, (1, usize::MAX), (1, 1), shape::build_concat),
    spec("Unsqueeze", 1, (1, 2), (1, 1), shape::build_unsqueeze),
    spec("Squeeze", 1, (1, 2), (1, 1), shape::build_squeeze),
    spec("Identity", 1, (1, 1), (1, 1), shape::build_identity),
    spec("Cast", 1, (1, 1), (1, 1), cast::build_cast),
    spec("QuantizeLinear", 2, (2, 3), (1, 1), quant::build_quantize_linear),
    spec("DequantizeLinear", 2, (2, 3), (1, 1), quant::build_dequantize_linear),
    spec("DynamicQuantizeLinear", 1, (1, 1), (3, 3), quant::build_dynamic_quantize_linear),
    spec("MatMulInteger", 2, (2, 4), (1, 1), quant::build_matmul_integer),
    spec("QLinearMatMul", 8, (8, 8), (1, 1), quant::build_qlinear_matmul),
    spec("ConvInteger", 2, (2, 4), (1, 1), conv::build_conv_integer),
    spec("QLinearConv", 8, (8, 9), (1, 1), conv::build_qlinear_conv),
];

/// `Constant` is evaluated when the model loads (see `graph.rs`), so it is not in the table.
pub const CONSTANT: &str = "Constant";

/// The op types the engine supports, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut ops: Vec<&str> = REGISTRY.iter().map(|s| s.op_type).chain([CONSTANT]).collect();
    ops.sort();
    ops
}

pub fn lookup(op_type: &str) -> Option<&'static OpSpec> {
    REGISTRY.iter().find(|s| s.op_type == op_type)
}

impl OpSpec {
    pub fn build(&self, attrs: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
        (self.build)(attrs, ctx)
    }
}

// ------------------------------------------------------------------------ shared helpers

/// An axis in `[-rank, rank)` as an index.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Result<usize, OpError> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(value_err(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The numpy broadcast of two shapes.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, OpError> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(shape_err(format!("shapes {a:?} and {b:?} cannot be broadcast together"))),
        };
    }
    Ok(out)
}

/// The f32 elements of input `i`, or a dtype error naming what the op accepts.
pub(crate) fn f32_input<'v>(v: &'v Value, what: &str) -> Result<&'v [f32], OpError> {
    v.as_f32().ok_or_else(|| dtype_err(format!("{what} must be float32, not {}", v.dtype())))
}

/// Input `i` must have rank `rank`.
pub(crate) fn expect_rank(v: &Value, i: usize, rank: usize) -> Result<(), OpError> {
    if v.rank() != rank {
        return Err(OpError::Rank { input: i, expected: rank.to_string(), got: v.rank() });
    }
    Ok(())
}
