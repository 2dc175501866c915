//! Typed access to a node's attributes, with errors naming the attribute.

use super::tensor_proto;
use super::value::Value;
use crate::op::OpError;
use quantscope_formats::onnx::proto::AttributeProto;

/// `AttributeProto.AttributeType` values the engine reads.
const FLOAT: i32 = 1;
const INT: i32 = 2;
const STRING: i32 = 3;
const TENSOR: i32 = 4;
const FLOATS: i32 = 6;
const INTS: i32 = 7;
const STRINGS: i32 = 8;
const GRAPH: i32 = 5;

/// The attributes of one node.
#[derive(Clone, Copy)]
pub struct Attrs<'a> {
    list: &'a [AttributeProto],
}

fn wrong(name: &str, want: &str) -> OpError {
    OpError::Attribute { name: name.to_string(), why: format!("must be {want}") }
}

impl<'a> Attrs<'a> {
    pub fn new(list: &'a [AttributeProto]) -> Self {
        Attrs { list }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.list.iter().find(|a| a.name.as_deref() == Some(name))
    }

    /// True when the attribute is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every attribute must be one of `known`; any other is reported as unsupported, so a
    /// model never silently runs with an attribute the implementation ignores.
    pub fn only(&self, known: &[&str]) -> Result<(), OpError> {
        for a in self.list {
            let name = a.name.as_deref().unwrap_or("");
            if !known.contains(&name) {
                return Err(OpError::Unsupported(format!("attribute '{name}' is not supported")));
            }
        }
        Ok(())
    }

    /// Checks the declared type when there is one (older writers leave it unset).
    fn typed(&self, name: &str, ty: i32, want: &str) -> Result<Option<&'a AttributeProto>, OpError> {
        match self.get(name) {
            Some(a) if a.r#type.is_some_and(|t| t != ty) => Err(wrong(name, want)),
            other => Ok(other),
        }
    }

    pub fn int_opt(&self, name: &str) -> Result<Option<i64>, OpError> {
        match self.typed(name, INT, "an int")? {
            Some(a) => a.i.map(Some).ok_or_else(|| wrong(name, "an int")),
            None => Ok(None),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, OpError> {
        Ok(self.int_opt(name)?.unwrap_or(default))
    }

    /// A 0/1 int attribute (keepdims, select_last_index, ...) as a bool; any other value is an error.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, OpError> {
        match self.int(name, default as i64)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(crate::op::attr_err(name, format!("must be 0 or 1, not {v}"))),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, OpError> {
        match self.typed(name, FLOAT, "a float")? {
            Some(a) => a.f.ok_or_else(|| wrong(name, "a float")),
            None => Ok(default),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OpError> {
        Ok(self.typed(name, INTS, "a list of ints")?.map(|a| a.ints.clone()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, OpError> {
        Ok(self.typed(name, FLOATS, "a list of floats")?.map(|a| a.floats.clone()))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, OpError> {
        match self.typed(name, STRING, "a string")? {
            Some(a) => {
                let bytes = a.s.as_deref().ok_or_else(|| wrong(name, "a string"))?;
                String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| wrong(name, "UTF-8 text"))
            }
            None => Ok(None),
        }
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, OpError> {
        match self.typed(name, STRINGS, "a list of strings")? {
            Some(a) => a
                .strings
                .iter()
                .map(|b| String::from_utf8(b.clone()).map_err(|_| wrong(name, "UTF-8 text")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            None => Ok(None),
        }
    }

    /// A GRAPH attribute's encoded GraphProto (If's branches).
    pub fn graph_bytes(&self, name: &str) -> Result<Option<&'a [u8]>, OpError> {
        match self.typed(name, GRAPH, "a graph")? {
            Some(a) => a.g.as_deref().map(Some).ok_or_else(|| wrong(name, "a graph")),
            None => Ok(None),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Value>, OpError> {
        match self.typed(name, TENSOR, "a tensor")? {
            Some(a) => {
                let t = a.t.as_ref().ok_or_else(|| wrong(name, "a tensor"))?;
                tensor_proto::decode(t, name)
                    .map(Some)
                    .map_err(|e| OpError::Attribute { name: name.to_string(), why: format!("cannot be decoded: {e}") })
            }
            None => Ok(None),
        }
    }

    /// A non-negative list of per-spatial-axis values (strides, dilations), `n` long.
    pub fn spatial(&self, name: &str, n: usize, default: usize) -> Result<Vec<usize>, OpError> {
        match self.ints(name)? {
            None => Ok(vec![default; n]),
            Some(v) if v.len() == n && v.iter().all(|&x| x >= 1) => Ok(v.iter().map(|&x| x as usize).collect()),
            Some(v) => Err(OpError::Attribute { name: name.to_string(), why: format!("is {v:?}: it needs {n} values, each at least 1") }),
        }
    }
}
