//! Rewriting a model's main graph without losing what quantscope does not read.
//!
//! The prost messages in [`super::proto`] cover only the fields quantscope uses, so a model
//! decoded and encoded again would lose its doc strings, value_info, functions, training info
//! and any field a newer ONNX adds. A rewrite (a quantized copy for download) therefore works at
//! the protobuf wire level: the model's fields and its graph's fields are kept as the bytes they
//! were, in their order, except the ones the rewrite replaces — the graph's nodes and
//! initializers (edited as a list where each entry keeps its original bytes until it is
//! changed), and the producer name and version. Fields are written back in the order they came;
//! protobuf readers accept any order.

use super::proto::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use super::OnnxError;
use prost::Message;

/// `ModelProto` field numbers (onnx.proto).
const MODEL_PRODUCER_NAME: u32 = 2;
const MODEL_PRODUCER_VERSION: u32 = 3;
const MODEL_GRAPH: u32 = 7;
/// `GraphProto` field numbers.
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const GRAPH_VALUE_INFO: u32 = 13;
/// `ValueInfoProto.type` → `TypeProto.tensor_type` → `TypeProto.Tensor.elem_type`.
const ELEM_TYPE_PATH: [u32; 3] = [2, 1, 1];

/// A message kept as the bytes it came in, decoded for reading; `raw` is dropped (and the
/// message re-encoded) once it is changed or when it is new.
#[derive(Debug, Clone)]
pub struct Kept<T> {
    pub message: T,
    raw: Option<Vec<u8>>,
}

impl<T: Message> Kept<T> {
    /// A message the rewrite made.
    pub fn new(message: T) -> Kept<T> {
        Kept { message, raw: None }
    }

    /// The whole field (key, length and message) as it stood in the file, if it is unchanged.
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    /// The message, to change: it will be encoded anew.
    pub fn edit(&mut self) -> &mut T {
        self.raw = None;
        &mut self.message
    }

    /// The message's own bytes (without its field key and length): as it came, or encoded.
    pub fn payload(&self) -> Vec<u8> {
        self.payload_ref().into_owned()
    }

    /// Appends `extra` (whole fields) to the message's bytes, written as field `number`, and
    /// `update`s the decoded message to match (what decoding the longer bytes would give):
    /// one copy of the bytes, where [`Kept::payload`] and [`Kept::replace_payload`] make four.
    pub fn append_to_payload(&mut self, number: u32, extra: &[u8], update: impl FnOnce(&mut T)) {
        let payload = self.payload_ref();
        let mut whole = Vec::with_capacity(payload.len() + extra.len() + 12);
        put_varint(&mut whole, (u64::from(number) << 3) | 2);
        put_varint(&mut whole, (payload.len() + extra.len()) as u64);
        whole.extend_from_slice(&payload);
        whole.extend_from_slice(extra);
        update(&mut self.message);
        self.raw = Some(whole);
    }

    /// [`Kept::payload`], borrowed when the message is kept as it came.
    pub fn payload_ref(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.raw {
            Some(whole) => fields(whole).ok().and_then(|f| f.first().map(|f| f.payload)).unwrap_or_default().into(),
            None => self.message.encode_to_vec().into(),
        }
    }

    /// Replaces the message with `payload` (its bytes, written as field `number`), which is
    /// kept as it is: fields quantscope does not decode survive a [`rewrite_fields`].
    pub fn replace_payload(&mut self, number: u32, payload: &[u8]) -> Result<(), OnnxError>
    where
        T: Default,
    {
        self.message = decode(payload, "a rewritten message")?;
        self.raw = Some(length_delimited(number, payload));
        Ok(())
    }
}

/// What [`rewrite_fields`] does with one field of a message.
pub enum FieldEdit {
    Keep,
    Drop,
    /// The field's whole bytes (key included): see [`varint_field`] and [`bytes_field`].
    Replace(Vec<u8>),
}

/// A message's bytes with each field kept, dropped or replaced as `edit(number, payload)` says,
/// in their order (the wire-level edit that keeps every field quantscope does not decode).
pub fn rewrite_fields(message: &[u8], mut edit: impl FnMut(u32, &[u8]) -> FieldEdit) -> Result<Vec<u8>, OnnxError> {
    let mut out = Vec::with_capacity(message.len());
    for f in fields(message)? {
        match edit(f.number, f.payload) {
            FieldEdit::Keep => out.extend_from_slice(f.whole),
            FieldEdit::Drop => {}
            FieldEdit::Replace(whole) => out.extend(whole),
        }
    }
    Ok(out)
}

/// A varint field (wire type 0).
pub fn varint_field(number: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, u64::from(number) << 3);
    put_varint(&mut out, value);
    out
}

/// A length-delimited field (wire type 2): bytes, a string, a message or a packed list.
pub fn bytes_field(number: u32, payload: &[u8]) -> Vec<u8> {
    length_delimited(number, payload)
}

/// Decodes a varint payload (what [`rewrite_fields`] hands over for wire type 0).
pub fn read_varint(payload: &[u8]) -> Option<u64> {
    varint(payload, &mut 0).ok()
}

/// A `ValueInfoProto`'s bytes with its tensor element type set to `to` (the nested
/// `type.tensor_type.elem_type`), everything else as it was.
fn set_elem_type(value_info: &[u8], to: i32) -> Result<Vec<u8>, OnnxError> {
    fn at(message: &[u8], path: &[u32], to: i32) -> Result<Vec<u8>, OnnxError> {
        rewrite_fields(message, |number, payload| match path {
            [last] if number == *last => FieldEdit::Replace(varint_field(number, to as i64 as u64)),
            [first, rest @ ..] if number == *first && !rest.is_empty() => match at(payload, rest, to) {
                Ok(inner) => FieldEdit::Replace(length_delimited(number, &inner)),
                Err(_) => FieldEdit::Keep,
            },
            _ => FieldEdit::Keep,
        })
    }
    at(value_info, &ELEM_TYPE_PATH, to)
}

/// The main graph of a model, opened for a rewrite: its nodes, initializers and inputs as
/// editable lists; everything else as it was.
#[derive(Debug, Clone)]
pub struct GraphEdit {
    pub nodes: Vec<Kept<NodeProto>>,
    pub initializers: Vec<Kept<TensorProto>>,
    pub inputs: Vec<Kept<ValueInfoProto>>,
    /// The graph's other fields (name, outputs, value_info, ...), decoded for reading only.
    pub rest: GraphProto,
    /// Where each field goes when the graph is written again.
    layout: Vec<Slot>,
}

/// A place in the graph's field order: another field's bytes, or where a list is written
/// (where its first item stood; where a canonical writer puts it, if it had none).
#[derive(Debug, Clone)]
enum Slot {
    Other(u32, Vec<u8>),
    List(u32),
}

/// A model opened for a rewrite of its main graph.
#[derive(Debug, Clone)]
pub struct ModelEdit {
    pub graph: GraphEdit,
    /// The model's fields but the graph, decoded for reading (opsets, IR version, ...).
    pub model: ModelProto,
    /// Set to replace the producer name and version.
    pub producer: Option<(String, String)>,
    /// Every field of the model as (field number, whole field bytes), in order.
    fields: Vec<(u32, Vec<u8>)>,
}

/// One field: its number, its whole bytes (key included) and its payload.
struct Field<'a> {
    number: u32,
    whole: &'a [u8],
    payload: &'a [u8],
}

fn bad(why: impl Into<String>) -> OnnxError {
    OnnxError::Decode(why.into())
}

fn varint(bytes: &[u8], pos: &mut usize) -> Result<u64, OnnxError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos).ok_or_else(|| bad("the file ends inside a varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("a varint longer than ten bytes"))
}

/// Splits a message's bytes into its fields (wire types 0, 1, 2 and 5; groups are refused).
fn fields(bytes: &[u8]) -> Result<Vec<Field<'_>>, OnnxError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let key = varint(bytes, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| bad("a field number out of range"))?;
        let payload_start;
        match key & 7 {
            0 => {
                payload_start = pos;
                varint(bytes, &mut pos)?;
            }
            1 | 5 => {
                payload_start = pos;
                pos += if key & 7 == 1 { 8 } else { 4 };
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut pos)?).map_err(|_| bad("a field length out of range"))?;
                payload_start = pos;
                pos = pos.checked_add(len).ok_or_else(|| bad("a field length out of range"))?;
            }
            wire => return Err(bad(format!("field {number} has wire type {wire}, which ONNX does not use"))),
        }
        if pos > bytes.len() {
            return Err(bad(format!("field {number} runs past the end of its message")));
        }
        out.push(Field { number, whole: &bytes[start..pos], payload: &bytes[payload_start..pos] });
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field with this number and payload.
fn length_delimited(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    put_varint(&mut out, (u64::from(number) << 3) | 2);
    put_varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

fn decode<T: Message + Default>(bytes: &[u8], what: &str) -> Result<T, OnnxError> {
    T::decode(bytes).map_err(|e| bad(format!("{what}: {e}")))
}

impl ModelEdit {
    /// Opens `bytes` (a whole `.onnx` file) for a rewrite of its main graph.
    pub fn open(bytes: &[u8]) -> Result<ModelEdit, OnnxError> {
        // The graph (nearly all of a model's bytes) is neither copied here nor decoded whole:
        // GraphEdit takes it field by field, and `encode` writes it anew.
        let mut fields_out = Vec::new();
        let mut graph_bytes = None;
        let mut others = Vec::new();
        for f in fields(bytes)? {
            if f.number == MODEL_GRAPH {
                graph_bytes = Some(f.payload);
                fields_out.push((f.number, Vec::new()));
            } else {
                others.extend_from_slice(f.whole);
                fields_out.push((f.number, f.whole.to_vec()));
            }
        }
        let graph_bytes = graph_bytes.ok_or(OnnxError::MissingGraph)?;
        // A message decoded from some of its fields is the message without the others.
        let model: ModelProto = decode(&others, "the model")?;
        Ok(ModelEdit { graph: GraphEdit::open(graph_bytes)?, model, producer: None, fields: fields_out })
    }

    /// The rewritten model's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut graph_written = false;
        let mut producer_written = false;
        for (number, whole) in &self.fields {
            match (*number, &self.producer) {
                (MODEL_GRAPH, _) => {
                    // A (malformed) second graph field would be merged by readers; write one.
                    if !graph_written {
                        out.extend(length_delimited(MODEL_GRAPH, &self.graph.encode()));
                        graph_written = true;
                    }
                }
                (MODEL_PRODUCER_NAME | MODEL_PRODUCER_VERSION, Some(_)) => {
                    if !producer_written {
                        out.extend(self.producer_fields());
                        producer_written = true;
                    }
                }
                _ => out.extend_from_slice(whole),
            }
        }
        if !producer_written && self.producer.is_some() {
            out.extend(self.producer_fields());
        }
        out
    }

    fn producer_fields(&self) -> Vec<u8> {
        let (name, version) = self.producer.as_ref().expect("called with a producer");
        let mut out = length_delimited(MODEL_PRODUCER_NAME, name.as_bytes());
        out.extend(length_delimited(MODEL_PRODUCER_VERSION, version.as_bytes()));
        out
    }
}

impl GraphEdit {
    fn open(bytes: &[u8]) -> Result<GraphEdit, OnnxError> {
        let (mut nodes, mut initializers, mut inputs, mut layout) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut others = Vec::new();
        for f in fields(bytes)? {
            let list = matches!(f.number, GRAPH_NODE | GRAPH_INITIALIZER | GRAPH_INPUT);
            if list && !layout.iter().any(|s| matches!(s, Slot::List(n) if *n == f.number)) {
                layout.push(Slot::List(f.number));
            }
            let raw = Some(f.whole.to_vec());
            match f.number {
                GRAPH_NODE => nodes.push(Kept { message: decode(f.payload, "a node")?, raw }),
                GRAPH_INITIALIZER => initializers.push(Kept { message: decode(f.payload, "an initializer")?, raw }),
                GRAPH_INPUT => inputs.push(Kept { message: decode(f.payload, "a graph input")?, raw }),
                _ => {
                    others.extend_from_slice(f.whole);
                    layout.push(Slot::Other(f.number, f.whole.to_vec()));
                }
            }
        }
        for number in [GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT] {
            if !layout.iter().any(|s| matches!(s, Slot::List(n) if *n == number)) {
                let at = layout.iter().position(|s| matches!(s, Slot::Other(n, _) if *n > number)).unwrap_or(layout.len());
                layout.insert(at, Slot::List(number));
            }
        }
        // the other fields alone: the lists are decoded above, item by item
        let rest: GraphProto = decode(&others, "the graph")?;
        Ok(GraphEdit { nodes, initializers, inputs, rest, layout })
    }

    /// The graph's bytes, its fields in their order; a kept item is written as it came.
    fn encode(&self) -> Vec<u8> {
        fn put<T: Message>(out: &mut Vec<u8>, number: u32, items: &[Kept<T>]) {
            for item in items {
                match &item.raw {
                    Some(whole) => out.extend_from_slice(whole),
                    None => out.extend(length_delimited(number, &item.message.encode_to_vec())),
                }
            }
        }
        let mut out = Vec::new();
        for slot in &self.layout {
            match slot {
                Slot::Other(_, whole) => out.extend_from_slice(whole),
                Slot::List(GRAPH_NODE) => put(&mut out, GRAPH_NODE, &self.nodes),
                Slot::List(GRAPH_INITIALIZER) => put(&mut out, GRAPH_INITIALIZER, &self.initializers),
                Slot::List(_) => put(&mut out, GRAPH_INPUT, &self.inputs),
            }
        }
        out
    }

    /// The graph's `value_info` entries, decoded (the types an exporter or shape inference
    /// recorded for values inside the graph).
    pub fn value_info(&self) -> Result<Vec<ValueInfoProto>, OnnxError> {
        let mut out = Vec::new();
        for slot in &self.layout {
            if let Slot::Other(GRAPH_VALUE_INFO, whole) = slot {
                let f = fields(whole)?;
                out.push(decode(f.first().map_or(&[][..], |f| f.payload), "a value_info entry")?);
            }
        }
        Ok(out)
    }

    /// Sets the element type of the `value_info` entries and graph inputs `retype(name,
    /// elem_type)` picks (it returns the new type) at the wire level, keeping their shapes, doc
    /// strings and every other field as they were. Returns how many were changed.
    pub fn retype_values(&mut self, mut retype: impl FnMut(&str, i32) -> Option<i32>) -> Result<usize, OnnxError> {
        let mut changed = 0;
        let mut new_type = |v: &ValueInfoProto| {
            let elem = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).and_then(|t| t.elem_type)?;
            retype(v.name.as_deref().unwrap_or(""), elem)
        };
        for slot in &mut self.layout {
            if let Slot::Other(GRAPH_VALUE_INFO, whole) = slot {
                let payload = fields(whole)?.first().map_or(Vec::new(), |f| f.payload.to_vec());
                let v: ValueInfoProto = decode(&payload, "a value_info entry")?;
                if let Some(to) = new_type(&v) {
                    *whole = length_delimited(GRAPH_VALUE_INFO, &set_elem_type(&payload, to)?);
                    changed += 1;
                }
            }
        }
        for input in &mut self.inputs {
            if let Some(to) = new_type(&input.message) {
                let payload = set_elem_type(&input.payload(), to)?;
                input.replace_payload(GRAPH_INPUT, &payload)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// The initializer named `name`, if there is one.
    pub fn initializer(&self, name: &str) -> Option<&TensorProto> {
        self.initializers.iter().map(|t| &t.message).find(|t| t.name.as_deref() == Some(name))
    }
}
