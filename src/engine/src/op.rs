//! What every op is built on: the [`Op`] trait, its [`Inputs`], [`OpError`], and the small
//! shape and dtype helpers the op families share. The registry of op types is `ops/mod.rs`.
//!
//! An op gets its inputs through [`Inputs`]: borrowed values, or owned ones when this node is
//! the value's last user, which elementwise ops use to work in place instead of allocating.
//! An op whose inputs include constants may [`Op::specialize`] itself at load time (Gemm keeps
//! a transposed copy of a constant `B`, so the run does not transpose it again).

use crate::error::EngineError;
use crate::quantize_config::QuantizeConfig;
use crate::value::{DType, Value};
use quantscope_formats::onnx::proto::GraphProto;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// What went wrong inside an op; the executor adds the node's name and op type.
#[derive(Debug, Clone, PartialEq)]
pub enum OpError {
    /// Input number `input` has rank `got`; `expected` says what was wanted.
    Rank {
        input: usize,
        expected: String,
        got: usize,
    },
    Shape(String),
    Dtype(String),
    Value(String),
    Unsupported(String),
    Attribute {
        name: String,
        why: String,
    },
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

    /// For a float Conv: the node of the run plan (`crate::fuse`) that replaces node `at` of
    /// `plan` with its epilogue fused, or `None` (every other op). Reached through the trait, so
    /// a module without Conv (the built-in op set, www/pkg-run) carries neither the matching
    /// nor the fused kernels.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn fuse_chain(&self, _plan: &dyn PlanView, _at: usize) -> Option<Fused> {
        None
    }

    /// For a float Conv: how the int8 op that `Model::quantize` puts in its place fuses the
    /// nodes after it (`QuantConv::fuse_chain`). Reached through the Conv's vtable, for the same
    /// reason as [`Op::fuse_chain`]: the runner module quantizes no Conv.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn quant_fuser(&self) -> Option<QuantFuser> {
        None
    }

    /// True for ops whose kernels are float32 only (Conv, ConvTranspose, MatMul, Gemm,
    /// BatchNormalization): the executor ([`run_op`]) widens their float16 / bfloat16 inputs
    /// to float32 and rounds their float32 outputs back, so a model exported in half precision
    /// runs (computed in float32 and rounded once per op, as ONNX Runtime's CPU kernels do).
    fn widens_half(&self) -> bool {
        false
    }

    /// Names of the enclosing graph's values the op reads besides its inputs (If: what its
    /// branches use); the loader resolves them and passes them after the node's own inputs.
    fn captures(&self) -> &[String] {
        &[]
    }

    /// For an op holding subgraphs (If, Loop, Scan): the same op with each subgraph replaced by
    /// `map`'s (the quantizer's variants of the branches and bodies); `None` for every other op.
    fn map_subgraphs(&self, _map: &mut SubgraphMap<'_>) -> Option<Result<Arc<dyn Op>, EngineError>> {
        None
    }
}

/// See [`Op::map_subgraphs`].
pub type SubgraphMap<'a> = dyn FnMut(&Arc<dyn Subgraph>) -> Result<Arc<dyn Subgraph>, EngineError> + 'a;

/// Runs `op` on `inputs`, through float32 when the op [`Op::widens_half`] and an input is
/// float16 or bfloat16. (Half-precision constant weights are then widened on every run and
/// not prepacked: the price of one f32 kernel per op.)
pub(crate) fn run_op(op: &dyn Op, mut inputs: Inputs<'_>) -> Result<Vec<Value>, OpError> {
    let half = (0..inputs.len()).filter_map(|i| inputs.get(i)).map(Value::dtype).find(|d| matches!(d, DType::F16 | DType::BF16));
    let Some(half) = half.filter(|_| op.widens_half()) else { return op.run(&mut inputs) };
    let widened: Vec<Input<'_>> = (0..inputs.len())
        .map(|i| match inputs.get(i) {
            None => Input::Absent,
            Some(v) if matches!(v.dtype(), DType::F16 | DType::BF16) => Input::Owned(Value::f32(v.shape().to_vec(), v.to_f32_vec())),
            Some(_) => match inputs.take(i) {
                Some(v) => Input::Owned(v),
                None => Input::Owned(inputs.req(i).expect("present").clone()),
            },
        })
        .collect();
    let outputs = op.run(&mut Inputs::new(widened))?;
    outputs
        .into_iter()
        .map(|v| match v.as_f32() {
            Some(x) => Value::from_f32(half, v.shape().to_vec(), x).map_err(value_err),
            None => Ok(v),
        })
        .collect()
}

/// What a builder knows about the node besides its attributes.
#[derive(Clone, Copy)]
pub struct BuildCtx<'a> {
    /// The model's opset version for the default domain.
    pub opset: i64,
    pub n_inputs: usize,
    pub n_outputs: usize,
    /// The node's output names (`""` for an output left out): com.microsoft DynamicQuantizeLSTM
    /// computes differently when its `Y` is left out, as ONNX Runtime's kernel does.
    pub output_names: &'a [String],
    /// Builds a subgraph (If's branches, Loop's body) with the model's opset and op sets, the
    /// names it reads from the enclosing graph becoming its inputs. The loader (graph.rs)
    /// provides it, so the ops that hold subgraphs never name the loader: ops depend on this
    /// file only, and the loader on the ops.
    pub subgraph: &'a SubgraphLoader<'a>,
}

/// What an op sees of the graph when it fuses the nodes after it into itself (the run plan,
/// `crate::fuse`): each node's op and slots, each slot's readers and constant value.
pub(crate) trait PlanView {
    fn op(&self, node: usize) -> &dyn Op;
    fn inputs(&self, node: usize) -> &[Option<usize>];
    fn outputs(&self, node: usize) -> &[Option<usize>];
    /// The nodes that read `slot`.
    fn readers(&self, slot: usize) -> &[usize];
    fn constant(&self, slot: usize) -> Option<&Value>;
    /// Whether `slot` is a graph output (its value must stay).
    fn is_output(&self, slot: usize) -> bool;
}

/// See [`Op::quant_fuser`]: `(the int8 Conv, plan, at) → its fused node`. The int8 Conv comes as
/// `Any` (ops::quantized downcasts it), so this layer names no op.
pub(crate) type QuantFuser = fn(&dyn std::any::Any, &dyn PlanView, usize) -> Option<Fused>;

/// A fused node of the run plan: its op, its inputs, its one output slot, and the nodes it
/// absorbs (they leave the plan).
pub(crate) struct Fused {
    pub op: Arc<dyn Op>,
    pub inputs: Vec<Option<usize>>,
    pub output: usize,
    pub absorbed: Vec<usize>,
}

/// See [`BuildCtx::subgraph`]: `(graph, names read from outside) → subgraph`, or the loader's
/// message.
pub type SubgraphLoader<'a> = dyn Fn(&GraphProto, &[String]) -> Result<Arc<dyn Subgraph>, String> + 'a;

/// A subgraph as the op holding it sees it: its declared inputs, its outputs, a run with named
/// inputs. `graph::Model` is the one implementation.
pub trait Subgraph: Send + Sync + fmt::Debug {
    fn input_names(&self) -> Vec<&str>;
    fn output_count(&self) -> usize;
    /// The outputs in the subgraph's order; an error is the engine's message.
    fn run_named(&self, inputs: &[(&str, Value)]) -> Result<Vec<Value>, String>;
    /// The subgraph's weights in bytes as stored (its own subgraphs' included): the model's
    /// size counts them, as the file holds them.
    fn stored_bytes(&self) -> u64;
    /// This subgraph quantized as `config` says (`Model::quantize`, its own subgraphs too), with
    /// how many of its MatMul/Gemm/Conv nodes were quantized and how many there are.
    fn quantized(&self, config: &QuantizeConfig) -> Result<(Arc<dyn Subgraph>, usize, usize), EngineError>;
}

// Shared helpers.

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

/// A zero point input: absent (0), a scalar, or (when `per_channel` is given) one per channel.
pub(crate) fn zero_points(v: Option<&Value>, per_channel: Option<usize>, what: &str, dtype: DType) -> Result<Vec<i32>, OpError> {
    let Some(v) = v else { return Ok(vec![0]) };
    if v.dtype() != dtype {
        return Err(dtype_err(format!("{what} is {} but the data it belongs to is {dtype}", v.dtype())));
    }
    let zp: Vec<i32> =
        v.to_i64_vec().ok_or_else(|| dtype_err(format!("{what} must be an integer")))?.into_iter().map(|z| z as i32).collect();
    match (zp.len(), per_channel) {
        (1, _) => Ok(zp),
        (n, Some(c)) if n == c && c > 0 => Ok(zp),
        (n, _) => Err(shape_err(format!(
            "{what} has {n} elements: it must be a scalar{}",
            per_channel.map_or(String::new(), |c| format!(" or have {c}"))
        ))),
    }
}

/// A scale input (float32, float16 or bfloat16, as f32): a scalar or (when `per_channel`) one
/// per channel.
pub(crate) fn scales(v: &Value, per_channel: Option<usize>, what: &str) -> Result<Vec<f32>, OpError> {
    if !matches!(v.dtype(), DType::F32 | DType::F16 | DType::BF16) {
        return Err(dtype_err(format!("{what} must be float32, float16 or bfloat16, not {}", v.dtype())));
    }
    let s = v.to_f32_vec();
    let ok_len = s.len() == 1 || per_channel == Some(s.len());
    if !ok_len {
        return Err(shape_err(format!(
            "{what} has {} elements: it must be a scalar{}",
            s.len(),
            per_channel.map_or(String::new(), |c| format!(" or have {c}"))
        )));
    }
    Ok(s.to_vec())
}

/// A value of a numeric `dtype` from f64 results (reductions and normalizations compute in
/// f64 and round once): floats rounded to the dtype, integers converted with Rust's
/// saturating `as` (the results of integer reductions are whole).
pub(crate) fn from_f64(dtype: DType, shape: Vec<usize>, x: Vec<f64>) -> Result<Value, OpError> {
    use crate::value::Data;
    use half::bf16;
    let data = match dtype {
        DType::F32 => Data::F32(x.into_iter().map(|v| v as f32).collect()),
        DType::F64 => Data::F64(x),
        // Rounded once: see `f64_to_f16` for why not `half`'s `from_f64`.
        DType::F16 => Data::F16(x.into_iter().map(quantscope_core::schemes::float::f64_to_f16).collect()),
        DType::BF16 => Data::BF16(x.into_iter().map(bf16::from_f64).collect()),
        DType::I64 => Data::I64(x.into_iter().map(|v| v as i64).collect()),
        DType::I32 => Data::I32(x.into_iter().map(|v| v as i32).collect()),
        DType::I16 => Data::I16(x.into_iter().map(|v| v as i16).collect()),
        DType::I8 => Data::I8(x.into_iter().map(|v| v as i8).collect()),
        DType::U64 => Data::U64(x.into_iter().map(|v| v as u64).collect()),
        DType::U32 => Data::U32(x.into_iter().map(|v| v as u32).collect()),
        DType::U16 => Data::U16(x.into_iter().map(|v| v as u16).collect()),
        DType::U8 => Data::U8(x.into_iter().map(|v| v as u8).collect()),
        DType::Bool => Data::Bool(x.into_iter().map(|v| v != 0.0).collect()),
        d => return Err(dtype_err(format!("{d} is not supported here (a float or integer type is)"))),
    };
    Ok(Value::with_dtype(dtype, shape, data))
}

/// The int64/int32 elements of an index-like input (axes, pads, k).
pub(crate) fn int_list(v: &Value, what: &str) -> Result<Vec<i64>, OpError> {
    match v.dtype() {
        DType::I64 | DType::I32 => Ok(v.to_i64_vec().expect("integer dtype")),
        d => Err(dtype_err(format!("{what} must be int64, not {d}"))),
    }
}

/// The input's numbers as f64, refusing what has no numeric meaning here (bool, FP8, FP4).
pub(crate) fn numbers(v: &Value, what: &str) -> Result<Vec<f64>, OpError> {
    if matches!(v.dtype(), DType::Bool | DType::F8E4M3FN | DType::F8E5M2 | DType::F4E2M1 | DType::I4 | DType::U4 | DType::I2 | DType::U2) {
        return Err(dtype_err(format!("{what} cannot be {}", v.dtype())));
    }
    Ok(v.to_f64_vec())
}
