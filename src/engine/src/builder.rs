//! Building ONNX models in code (for tests, benches and generated examples): a graph of
//! nodes, initializers and typed inputs/outputs, serialised as a `ModelProto`.
//!
//! ```
//! use quantscope_engine::builder::{attr_int, GraphBuilder};
//! use quantscope_engine::{DType, Model, Value};
//! let mut g = GraphBuilder::new(17);
//! g.input("x", DType::F32, &[Some(1), Some(2)]);
//! g.initializer("w", &Value::f32(vec![2, 2], vec![1., 0., 0., 1.]));
//! g.node("Gemm", "fc", &["x", "w"], &["y"], vec![attr_int("transB", 1)]);
//! g.output("y", DType::F32, &[Some(1), Some(2)]);
//! let model = Model::from_onnx(&g.build()).unwrap();
//! ```

use super::tensor_proto;
use super::value::{DType, Value};
use prost::Message;
use quantscope_formats::onnx::proto::*;

/// A graph under construction.
#[derive(Debug, Clone, Default)]
pub struct GraphBuilder {
    opset: i64,
    graph: GraphProto,
}

fn value_info(name: &str, dtype: DType, shape: &[Option<usize>]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => DimensionValue::DimValue(*n as i64),
                None => DimensionValue::DimParam("N".into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor { elem_type: Some(dtype.onnx_id()), shape: Some(TensorShapeProto { dim }) }),
        }),
    }
}

impl GraphBuilder {
    /// An empty graph importing `opset` of the default domain.
    pub fn new(opset: i64) -> Self {
        GraphBuilder { opset, graph: GraphProto { name: Some("graph".into()), ..Default::default() } }
    }

    /// A graph input; `None` dims are symbolic (`N`).
    pub fn input(&mut self, name: &str, dtype: DType, shape: &[Option<usize>]) -> &mut Self {
        self.graph.input.push(value_info(name, dtype, shape));
        self
    }

    /// A graph input with a dtype but no declared shape (any rank).
    pub fn input_unshaped(&mut self, name: &str, dtype: DType) -> &mut Self {
        let mut v = value_info(name, dtype, &[]);
        if let Some(t) = v.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) {
            t.shape = None;
        }
        self.graph.input.push(v);
        self
    }

    /// A graph output; `None` dims are symbolic (`N`).
    pub fn output(&mut self, name: &str, dtype: DType, shape: &[Option<usize>]) -> &mut Self {
        self.graph.output.push(value_info(name, dtype, shape));
        self
    }

    pub fn initializer(&mut self, name: &str, value: &Value) -> &mut Self {
        self.graph.initializer.push(tensor_proto::encode(name, value));
        self
    }

    /// A node of the default domain.
    pub fn node(&mut self, op: &str, name: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) -> &mut Self {
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(name.into()),
            op_type: Some(op.into()),
            domain: None,
            attribute: attributes,
        });
        self
    }

    /// A node in another domain (to test that such nodes are rejected).
    pub fn node_in_domain(&mut self, domain: &str, op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> &mut Self {
        self.node(op, name, inputs, outputs, vec![]);
        self.graph.node.last_mut().expect("just pushed").domain = Some(domain.into());
        self
    }

    /// The serialised `ModelProto`.
    pub fn build(&self) -> Vec<u8> {
        ModelProto {
            ir_version: Some(9),
            producer_name: Some("quantscope".into()),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(self.opset) }],
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
        .encode_to_vec()
    }
}

fn attr(name: &str, ty: i32) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(ty), ..Default::default() }
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { i: Some(v), ..attr(name, 2) }
}

pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { f: Some(v), ..attr(name, 1) }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { ints: v.to_vec(), ..attr(name, 7) }
}

pub fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto { s: Some(v.as_bytes().to_vec()), ..attr(name, 3) }
}

/// A graph attribute (If's branches, Loop's body): `g`'s graph.
pub fn attr_graph(name: &str, g: &GraphBuilder) -> AttributeProto {
    AttributeProto { g: Some(g.graph.encode_to_vec()), ..attr(name, 5) }
}

pub fn attr_tensor(name: &str, v: &Value) -> AttributeProto {
    AttributeProto { t: Some(tensor_proto::encode("", v)), ..attr(name, 4) }
}
