//! GGUF writer: a whole model quantized to one ggml type, in the layout llama.cpp and gguf-py
//! read (`docs/gguf.md`; byte for byte what gguf-py's `GGUFWriter` writes for the same
//! metadata and tensors, which `src/formats/tests/gguf_export.rs` checks):
//!
//! ```text
//! "GGUF" | u32 3 | u64 tensor_count | u64 kv_count | kvs | tensor infos | zero padding to 32
//! tensor data, each tensor's bytes followed by zero padding to a multiple of 32
//! ```
//!
//! A tensor info's dims are ggml's `ne`, innermost first: the numpy shape reversed. Offsets are
//! relative to the data section. The packed bytes come from the scheme library, whose GGML
//! layouts are exactly gguf's tensor bytes; a tensor is quantized a chunk of whole blocks at a
//! time, so a model of any size is written in bounded memory.
//!
//! # Which type each tensor gets ([`choose_type`])
//!
//! Following llama.cpp's `llama-quantize` (`src/llama-quant.cpp`) and `convert_hf_to_gguf.py`:
//! * tensors with fewer than 2 dims (norms, biases) are written as F32 whatever was asked for,
//!   as the converter and `llama-quantize` keep them;
//! * a 2-D+ tensor whose rows (`ne[0]`) are not a whole number of the type's blocks falls back
//!   as `tensor_type_fallback` does: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, IQ4_XS → IQ4_NL,
//!   Q2_K, Q3_K, Q2_0, TQ1_0 and TQ2_0 → Q4_0, and if the rows are not a multiple of 32 either
//!   (or the type was a 32-block one), F16. llama.cpp defines no fallback for Q1_0 (128) and
//!   NVFP4 (64) and stops; quantscope writes such tensors as F16. Each fallback is reported in
//!   [`PlannedTensor::note`].
//!
//! # Metadata ([`metadata_for`])
//!
//! A GGUF source's key/values are copied unchanged, in order, except `general.alignment` (this
//! writer always aligns to 32), `general.file_type`, `general.quantization_version` and
//! `general.quantized_by`, which are written at the end: the llama.cpp file type of the chosen
//! scheme, ggml's quantization version 2 and `quantscope`. `general.name` is added from the file
//! name when the source has none (safetensors files carry no architecture: such a GGUF reads
//! with gguf-py but llama.cpp also needs `general.architecture` and its hyperparameters).

use super::gguf::{self, RawKv};
use super::gguf_mix::{self, FileType, MixOptions, ModelFacts, SourceTensor};
use super::lazy::{LazyFile, CHUNK_ELEMENTS};
use crate::error::{Error, Result};
use quantscope_core::ggml_types::{self, GgmlType};
use std::io::Write;

/// Data alignment (`GGUF_DEFAULT_ALIGNMENT`).
pub const ALIGNMENT: u64 = 32;
/// `GGML_QNT_VERSION`, written as `general.quantization_version` (kept in the ggml facts table).
pub use quantscope_core::ggml_types::QUANTIZATION_VERSION;

/// GGUF metadata value types used here (`enum gguf_type`).
const TYPE_U32: u32 = 4;
const TYPE_STRING: u32 = 8;

/// A ggml type the writer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutType {
    F32,
    F16,
    Bf16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Mxfp4,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Iq4Nl,
    Iq4Xs,
    Nvfp4,
    Q2_0,
    Tq2_0,
    Tq1_0,
    Q1_0,
    Iq3S,
    Iq3Xxs,
    Iq2S,
    Iq2Xs,
    Iq2Xxs,
    Iq1M,
    Iq1S,
}

impl OutType {
    /// Every type, in the order the page lists them.
    pub const ALL: [OutType; 21] = [
        OutType::Q8_0,
        OutType::Q6K,
        OutType::Q5_1,
        OutType::Q5_0,
        OutType::Q5K,
        OutType::Q4_1,
        OutType::Q4_0,
        OutType::Q4K,
        OutType::Iq4Nl,
        OutType::Nvfp4,
        OutType::Mxfp4,
        OutType::Iq4Xs,
        OutType::Q3K,
        OutType::Q2K,
        OutType::Q2_0,
        OutType::Tq2_0,
        OutType::Tq1_0,
        OutType::Q1_0,
        OutType::Bf16,
        OutType::F16,
        OutType::F32,
    ];

    /// The IQ1/IQ2/IQ3 grid types: written only inside a llama.cpp mix ([`plan_mix`], whose
    /// rules pick them and whose importance matrix IQ2_XXS, IQ2_XS and IQ1_S need), not offered
    /// for a uniform export (`ALL`): llama.cpp has no `llama_ftype` meaning "all IQ2_S", and most
    /// of them are poor choices for every tensor.
    pub const MIX_ONLY: [OutType; 7] =
        [OutType::Iq3S, OutType::Iq3Xxs, OutType::Iq2S, OutType::Iq2Xs, OutType::Iq2Xxs, OutType::Iq1M, OutType::Iq1S];

    /// The id (lowercase ggml type name; the scheme id for the quantized types).
    pub fn id(self) -> &'static str {
        match self {
            OutType::F32 => "f32",
            OutType::F16 => "f16",
            OutType::Bf16 => "bf16",
            OutType::Q8_0 => "q8_0",
            OutType::Q4_0 => "q4_0",
            OutType::Q4_1 => "q4_1",
            OutType::Q5_0 => "q5_0",
            OutType::Q5_1 => "q5_1",
            OutType::Mxfp4 => "mxfp4",
            OutType::Q2K => "q2_k",
            OutType::Q3K => "q3_k",
            OutType::Q4K => "q4_k",
            OutType::Q5K => "q5_k",
            OutType::Q6K => "q6_k",
            OutType::Iq4Nl => "iq4_nl",
            OutType::Iq4Xs => "iq4_xs",
            OutType::Nvfp4 => "nvfp4",
            OutType::Q2_0 => "q2_0",
            OutType::Tq2_0 => "tq2_0",
            OutType::Tq1_0 => "tq1_0",
            OutType::Q1_0 => "q1_0",
            OutType::Iq3S => "iq3_s",
            OutType::Iq3Xxs => "iq3_xxs",
            OutType::Iq2S => "iq2_s",
            OutType::Iq2Xs => "iq2_xs",
            OutType::Iq2Xxs => "iq2_xxs",
            OutType::Iq1M => "iq1_m",
            OutType::Iq1S => "iq1_s",
        }
    }

    /// The type with this id; the scheme ids `fp16` and `fp32` are accepted too.
    pub fn from_id(id: &str) -> Option<OutType> {
        let id = match id {
            "fp16" => "f16",
            "fp32" => "f32",
            other => other,
        };
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The type with this id among every type a mix may write (`ALL` and [`Self::MIX_ONLY`]);
    /// the grid types only where this build has their quantizers (core's `iq-grids` feature).
    pub fn in_a_mix(id: &str) -> Option<OutType> {
        Self::from_id(id).or_else(|| Self::MIX_ONLY.into_iter().find(|t| t.id() == id).filter(|t| t.built()))
    }

    /// Whether this build has the type's quantizer (only the grid types may lack it).
    pub(crate) fn built(self) -> bool {
        quantscope_core::schemes::packed_len(self.id(), &[256]).is_ok()
    }

    fn facts(self) -> &'static GgmlType {
        ggml_types::by_name(self.id()).expect("every OutType is in the ggml type table")
    }

    /// `enum ggml_type`.
    pub fn ggml_type(self) -> u32 {
        self.facts().id
    }

    /// `llama_ftype` of a model mostly in this type (`general.file_type`). quantscope writes
    /// every 2-D tensor in one type, so the K types get the `_S` (uniform) variant. Only for the
    /// types of `ALL` (a mix's file type is its own).
    pub fn file_type(self) -> u32 {
        self.facts().file_type.expect("every OutType has a file type in the table")
    }

    /// Values per block (1 for F32/F16/BF16).
    pub fn block(self) -> u64 {
        self.facts().block
    }

    /// Bytes of `elements` values (a whole number of blocks).
    pub fn size_of(self, elements: u64) -> Option<u64> {
        // From core's type table, not the reader's: that one names each type's decoder, which
        // would link every dequantizer into a module that only writes (the runner's imatrix).
        let facts = self.facts();
        (elements / facts.block).checked_mul(facts.bytes)
    }

    /// The scheme whose packed bytes are this type's tensor bytes (`None` for F32).
    pub fn scheme_id(self) -> Option<&'static str> {
        match self {
            OutType::F32 => None,
            OutType::F16 => Some("fp16"),
            other => Some(other.id()),
        }
    }

    /// What llama.cpp writes instead when rows are not a whole number of blocks
    /// (`tensor_type_fallback` in `src/llama-quant.cpp`; F16 where it has none).
    fn fallback(self) -> OutType {
        match self {
            OutType::Iq4Xs => OutType::Iq4Nl,
            OutType::Q2K | OutType::Q3K | OutType::Q2_0 | OutType::Tq1_0 | OutType::Tq2_0 => OutType::Q4_0,
            OutType::Q4K => OutType::Q5_0,
            OutType::Q5K => OutType::Q5_1,
            OutType::Q6K => OutType::Q8_0,
            _ => OutType::F16,
        }
    }
}

/// The type a tensor of `shape` (numpy order) is written in when `requested` was asked for, and
/// why it differs, if it does (see the module docs).
pub fn choose_type(shape: &[u64], requested: OutType) -> (OutType, Option<String>) {
    if shape.len() < 2 {
        return if requested == OutType::F32 {
            (OutType::F32, None)
        } else {
            (OutType::F32, Some("1-D: kept in f32, as llama.cpp does".to_string()))
        };
    }
    let row = *shape.last().expect("2 dims or more");
    let mut ty = requested;
    while row % ty.block() != 0 {
        let next = ty.fallback();
        if next == ty {
            break; // F16 has blocks of 1: unreachable
        }
        ty = next;
    }
    if ty == requested {
        (ty, None)
    } else {
        (ty, Some(format!("rows of {row} are not a multiple of {}'s {} values: written as {}", requested.id(), requested.block(), ty.id())))
    }
}

/// A metadata value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U32(u32),
    Str(String),
    /// Copied from a source file: its `gguf_type` and value bytes.
    Raw {
        value_type: u32,
        bytes: Vec<u8>,
    },
}

/// The metadata for a model exported as `requested`: `source`'s key/values (a GGUF source;
/// empty otherwise) and the `general.*` keys this writer sets. `name` is `general.name` when
/// the source has none.
pub fn metadata_for(source: &[RawKv], name: &str, requested: OutType) -> Vec<(String, Value)> {
    const SET_HERE: [&str; 4] = ["general.alignment", "general.file_type", "general.quantization_version", "general.quantized_by"];
    let mut out: Vec<(String, Value)> = source
        .iter()
        .filter(|kv| !SET_HERE.contains(&kv.key.as_str()))
        .map(|kv| (kv.key.clone(), Value::Raw { value_type: kv.value_type, bytes: kv.value.clone() }))
        .collect();
    if !out.iter().any(|(k, _)| k == "general.name") {
        out.push(("general.name".into(), Value::Str(name.to_string())));
    }
    out.push(("general.file_type".into(), Value::U32(requested.file_type())));
    out.push(("general.quantization_version".into(), Value::U32(QUANTIZATION_VERSION)));
    out.push(("general.quantized_by".into(), Value::Str("quantscope".into())));
    out
}

/// One tensor as it will be written.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTensor {
    pub name: String,
    /// Numpy order (the file stores it reversed).
    pub shape: Vec<u64>,
    pub ty: OutType,
    /// Why `ty` is not the requested type, if it is not (for a mix: the rule that chose it).
    pub note: Option<String>,
    /// Copied from the source as stored (a mix keeps a tensor already in its chosen type, as
    /// `llama-quantize` does) rather than encoded from its values.
    pub copy: bool,
    /// Which source tensor it is written from (the index the [`Export`]'s readers are given).
    pub source: usize,
    /// The importance weights it is quantized with (a mix given an imatrix): one per column, for
    /// each expert in turn (`ne[0] · ne[2]` values), as `llama_tensor_quantize_impl` passes them.
    pub importance: Option<std::rc::Rc<[f32]>>,
    /// Byte offset in the output file (absolute).
    pub offset: u64,
    /// Bytes of data, before the padding.
    pub size: u64,
}

/// Where everything goes: the header bytes (padded to the data section) and each tensor.
#[derive(Debug, Clone)]
pub struct Plan {
    pub header: Vec<u8>,
    pub tensors: Vec<PlannedTensor>,
    /// Bytes of the whole file.
    pub len: u64,
}

pub(crate) fn padded(n: u64) -> u64 {
    n.div_ceil(ALIGNMENT) * ALIGNMENT
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Lays out a file of these tensors (name, numpy shape), each in the type [`choose_type`] picks.
pub fn plan(metadata: &[(String, Value)], tensors: &[(String, Vec<u64>)], requested: OutType) -> Result<Plan> {
    let planned = tensors
        .iter()
        .enumerate()
        .map(|(source, (name, shape))| {
            let (ty, note) = choose_type(shape, requested);
            PlannedTensor { name: name.clone(), shape: shape.clone(), ty, note, offset: 0, size: 0, copy: false, source, importance: None }
        })
        .collect();
    layout(metadata, planned)
}

/// Lays out a file of these tensors (types chosen; `offset` and `size` are filled in here), in
/// this order: the header bytes, each tensor's offset (aligned to [`ALIGNMENT`]) and size.
pub fn layout(metadata: &[(String, Value)], mut planned: Vec<PlannedTensor>) -> Result<Plan> {
    let mut names = std::collections::HashSet::new();
    let mut offset = 0u64; // within the data section, for now
    for t in &mut planned {
        if !names.insert(t.name.clone()) {
            return Err(Error::invalid(format!("two tensors are named '{}'; a GGUF file needs distinct names", t.name)));
        }
        let elements = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let size = elements.and_then(|n| t.ty.size_of(n));
        t.size = size.ok_or_else(|| Error::invalid(format!("tensor '{}' shape {:?} overflows", t.name, t.shape)))?;
        t.offset = offset;
        offset = offset.checked_add(padded(t.size)).ok_or_else(|| Error::invalid("the model's size overflows".into()))?;
    }

    let mut h = Vec::new();
    h.extend_from_slice(gguf::MAGIC);
    h.extend_from_slice(&3u32.to_le_bytes());
    h.extend_from_slice(&(planned.len() as u64).to_le_bytes());
    h.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_string(&mut h, key);
        match value {
            Value::U32(v) => {
                h.extend_from_slice(&TYPE_U32.to_le_bytes());
                h.extend_from_slice(&v.to_le_bytes());
            }
            Value::Str(s) => {
                h.extend_from_slice(&TYPE_STRING.to_le_bytes());
                put_string(&mut h, s);
            }
            Value::Raw { value_type, bytes } => {
                h.extend_from_slice(&value_type.to_le_bytes());
                h.extend_from_slice(bytes);
            }
        }
    }
    for t in &planned {
        put_string(&mut h, &t.name);
        // ggml tensors have at least one dim; a scalar is [1].
        let dims: Vec<u64> = if t.shape.is_empty() { vec![1] } else { t.shape.iter().rev().copied().collect() };
        h.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| h.extend_from_slice(&d.to_le_bytes()));
        h.extend_from_slice(&t.ty.ggml_type().to_le_bytes());
        h.extend_from_slice(&t.offset.to_le_bytes());
    }
    h.resize(padded(h.len() as u64) as usize, 0);
    let data_start = h.len() as u64;
    for t in &mut planned {
        t.offset += data_start;
    }
    Ok(Plan { header: h, tensors: planned, len: data_start + offset })
}

/// `values` (a whole number of `ty`'s blocks, or a tensor's last chunk) as `ty`'s bytes.
pub fn encode(ty: OutType, values: &[f32]) -> Result<Vec<u8>> {
    match ty.scheme_id() {
        None => Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Some(id) => Ok(quantscope_core::schemes::by_id(id)?.quantize(values, &[values.len()])?.packed),
    }
}

/// The zeros that follow a tensor of `size` bytes.
pub fn padding(size: u64) -> Vec<u8> {
    vec![0; (padded(size) - size) as usize]
}

/// A model's tensors in `file` planned as `requested`, with its metadata kept (see
/// [`metadata_for`]); `name` is `general.name` when the file has none.
pub fn plan_file(file: &LazyFile, name: &str, requested: OutType) -> Result<Plan> {
    let metadata = metadata_for(&file.gguf_kvs, name, requested);
    let tensors: Vec<(String, Vec<u64>)> = file.tensors.iter().map(|t| (t.name.clone(), t.shape.clone())).collect();
    plan(&metadata, &tensors, requested)
}

/// A GGUF model in `file` planned as llama.cpp's `llama-quantize` would write it for `ftype`:
/// each tensor's type by [`gguf_mix::choose`] (its rule in [`PlannedTensor::note`]), tensors in
/// llama.cpp's order, the source's metadata with `general.quantization_version` and
/// `general.file_type` moved to the end ([`gguf_mix::metadata`]); tensors already in their
/// type are copied. Byte for byte what the pinned `llama-quantize` writes for F32/F16/BF16
/// sources (`src/formats/tests/gguf_mixes.rs`).
pub fn plan_mix(file: &LazyFile, ftype: FileType, options: &MixOptions) -> Result<Plan> {
    if file.format != crate::Format::Gguf {
        return Err(Error::invalid(format!("a llama.cpp mix needs a GGUF model (with llama.cpp's metadata); {} is not one", file.name)));
    }
    let facts = ModelFacts::from_kvs(&file.gguf_kvs)?;
    let sources = source_tensors(file)?;
    if let Some(m) = &options.imatrix {
        // llama_model_quantize_impl: "check imatrix for nans or infs"
        if let Some(v) = m.imatrix.entries.iter().flat_map(|e| e.values.iter()).find(|v| !v.is_finite()) {
            return Err(Error::invalid(format!("imatrix contains non-finite value {v}")));
        }
    }
    let choices = gguf_mix::choose(&facts, &sources, ftype, options)?;
    // The imatrix's checks first, for every tensor: they name what the person can fix.
    let mut weights = Vec::with_capacity(choices.len());
    for c in &choices {
        let src = &sources[c.source];
        weights.push(match &options.imatrix {
            Some(m) if src.ggml_type != c.ggml_type => importance_for(m, src, c)?,
            _ => (None, c.rule.clone()),
        });
    }
    let mut planned = Vec::with_capacity(choices.len());
    for (c, (importance, note)) in choices.into_iter().zip(weights) {
        let src = &sources[c.source];
        let name = gguf_mix::type_name(c.ggml_type);
        let ty = OutType::in_a_mix(&name).ok_or_else(|| {
            if OutType::MIX_ONLY.iter().any(|t| t.id() == name) {
                // core without `iq-grids` (the plain www/pkg-mix; the page sends these mixes to
                // www/pkg-mix-iq, which has them).
                return Error::invalid(format!(
                    "{} gives '{}' the type {name}, which this build of quantscope cannot write: llama.cpp's IQ1-IQ3 \
                     grid quantizers are core's iq-grids feature (the CLI and the page's grid mixer module have it)",
                    ftype.name(),
                    c.name
                ));
            }
            Error::invalid(format!("{} gives '{}' the type {name}, which quantscope cannot write yet", ftype.name(), c.name))
        })?;
        let copy = src.ggml_type == c.ggml_type;
        if !copy && !matches!(src.ggml_type, gguf_mix::ty::F32 | gguf_mix::ty::F16 | gguf_mix::ty::BF16) {
            // llama-quantize's words (it has --allow-requantize; quantscope does not)
            return Err(Error::invalid(format!(
                "requantizing from type {} is disabled (tensor '{}')",
                gguf_mix::type_name(src.ggml_type),
                c.name
            )));
        }
        planned.push(PlannedTensor {
            name: c.name,
            shape: src.shape.clone(),
            ty,
            note: Some(note),
            offset: 0,
            size: 0,
            copy,
            source: c.source,
            importance,
        });
    }
    let metadata: Vec<(String, Value)> = gguf_mix::metadata(&file.gguf_kvs, ftype, options.imatrix.as_ref())
        .into_iter()
        .map(|kv| (kv.key, Value::Raw { value_type: kv.value_type, bytes: kv.value }))
        .collect();
    layout(&metadata, planned)
}

/// A GGUF model's tensors as the mix rules see them (names, ggml types, shapes without the
/// trailing 1s ggml does not write), in the file's order.
pub fn source_tensors(file: &LazyFile) -> Result<Vec<SourceTensor>> {
    let mut sources = Vec::with_capacity(file.tensors.len());
    for t in &file.tensors {
        let ggml_type = ggml_types::by_name(&t.dtype)
            .ok_or_else(|| Error::invalid(format!("tensor '{}' is stored as {}, which quantscope cannot convert", t.name, t.dtype)))?
            .id;
        // As ggml_n_dims: trailing 1s (numpy's leading ones) are not written.
        let keep = t.shape.iter().position(|&d| d != 1).unwrap_or(t.shape.len().saturating_sub(1));
        sources.push(SourceTensor { name: t.name.clone(), shape: t.shape[keep..].to_vec(), ggml_type });
    }
    Ok(sources)
}

/// The importance weights of a tensor `llama-quantize` converts (`llama_model_quantize_impl`):
/// the entry of its name, if the imatrix has one of `ne[0] · ne[2]` values; a size that differs
/// is an error (except for the token embedding, quantized without); a tensor whose type requires
/// an imatrix and has none is refused. Returns the weights to pass (`None` where the quantizer
/// ignores them) and the tensor's note.
fn importance_for(
    m: &gguf_mix::MixImatrix,
    src: &SourceTensor,
    c: &gguf_mix::TensorChoice,
) -> Result<(Option<std::rc::Rc<[f32]>>, String)> {
    let found = imatrix_entry(m, src)?;
    if found.is_none() && c.requires_imatrix {
        return Err(Error::invalid(format!("Missing importance matrix for tensor {} in a very low-bit quantization", c.name)));
    }
    // The scheme ids of the quantized types are ggml's names.
    let ty = gguf_mix::type_name(c.ggml_type);
    let used = quantscope_core::schemes::takes_importance(&ty);
    let note = match (found, used) {
        (Some(_), true) => format!("{}; importance-weighted", c.rule),
        (Some(_), false) => format!("{}; {ty} ignores the importance matrix", c.rule),
        (None, _) => format!("{}; no importance matrix entry", c.rule),
    };
    Ok((found.filter(|_| used).map(|e| std::rc::Rc::from(e.values.as_slice())), note))
}

/// The imatrix entry `llama-quantize` uses for `src`: the one of its name, if it has `ne[0] ·
/// ne[2]` values; one of another size is an error, except for the token embedding (llama.cpp
/// only logs it: token embeddings never match).
pub fn imatrix_entry<'m>(m: &'m gguf_mix::MixImatrix, src: &SourceTensor) -> Result<Option<&'m crate::imatrix::ImatrixEntry>> {
    let ne = src.ne();
    let want = ne[0] * ne[2];
    match m.imatrix.get(&src.name) {
        None => Ok(None),
        Some(e) if e.values.len() as u64 == want => Ok(Some(e)),
        Some(_) if src.name == "token_embd.weight" || src.name == "per_layer_token_embd.weight" => Ok(None),
        Some(e) => Err(Error::invalid(format!("imatrix size {} is different from tensor size {want} for {}", e.values.len(), src.name))),
    }
}

/// Writes `file` as llama.cpp's `ftype` mix (see [`plan_mix`]) to `out`, a chunk at a time;
/// calls `progress(tensors done, tensors)` after each piece. Returns the plan.
pub fn write_mix(
    file: &LazyFile,
    ftype: FileType,
    options: &MixOptions,
    mut out: impl Write,
    mut progress: impl FnMut(usize, usize),
) -> Result<Plan> {
    let mut export = Export::with_importance(plan_mix(file, ftype, options)?, quantscope_core::schemes::quantize_with_importance);
    let io = |e: std::io::Error| Error::Read(format!("could not write the GGUF file: {e}"));
    let mut read = |k: usize, start: u64, count: usize| file.read_values(k, start, count);
    let mut stored = |k: usize, start: u64, len: usize| file.read_stored(k, start, len);
    while let Some(piece) = export.next_piece_copying(&mut read, &mut stored)? {
        out.write_all(&piece).map_err(io)?;
        progress(export.tensors_done(), export.plan.tensors.len());
    }
    out.flush().map_err(io)?;
    Ok(export.plan)
}

/// Values `start .. start + count` of source tensor `k` ([`PlannedTensor::source`]), cut at its
/// end: how an [`Export`] reads the model.
pub type ReadValues<'a> = dyn FnMut(usize, u64, usize) -> Result<Vec<f32>> + 'a;

/// A quantizer with importance weights: `(scheme id, values, shape, weights)` → the quantized
/// tensor, as [`quantscope_core::schemes::quantize_with_importance`].
pub type WeightedQuantizer = fn(&str, &[f32], &[usize], &[f32]) -> quantscope_core::Result<quantscope_core::schemes::Quantized>;

/// Bytes `start .. start + len` of source tensor `k` as stored, cut at its end: how an
/// [`Export`] copies a tensor it keeps ([`PlannedTensor::copy`]).
pub type ReadStored<'a> = dyn FnMut(usize, u64, usize) -> Result<Vec<u8>> + 'a;

/// A file being written a piece at a time: the header, then each tensor in chunks of
/// [`CHUNK_ELEMENTS`] values (its last chunk followed by its padding). The page's worker sends
/// each piece on as it comes, so no more than a chunk is in wasm memory.
#[derive(Debug, Clone)]
pub struct Export {
    pub plan: Plan,
    /// How tensors with importance weights are quantized ([`Export::with_importance`]); a
    /// function the caller passes, so a module that never exports with an imatrix (the page's)
    /// does not link the weighted quantizers.
    weighted: Option<WeightedQuantizer>,
    tensor: usize,
    next: u64,
    header_sent: bool,
    /// Bytes produced so far.
    pub written: u64,
}

impl Export {
    /// Starts writing `plan`.
    pub fn new(plan: Plan) -> Export {
        Export { plan, weighted: None, tensor: 0, next: 0, header_sent: false, written: 0 }
    }

    /// Starts writing `plan`, quantizing the tensors that carry importance weights with
    /// `quantize` (normally [`quantscope_core::schemes::quantize_with_importance`]).
    pub fn with_importance(plan: Plan, quantize: WeightedQuantizer) -> Export {
        Export { weighted: Some(quantize), ..Export::new(plan) }
    }

    /// Tensors finished so far.
    pub fn tensors_done(&self) -> usize {
        self.tensor
    }

    /// The next piece of the file, or `None` when it is complete (a plan with no copied tensors).
    pub fn next_piece(&mut self, read: &mut ReadValues) -> Result<Option<Vec<u8>>> {
        let mut no_copies = |_: usize, _: u64, _: usize| Err(Error::invalid("this export copies no stored bytes".into()));
        self.next_piece_copying(read, &mut no_copies)
    }

    /// The next piece of the file, or `None` when it is complete; tensors the plan keeps as
    /// stored are copied a chunk at a time through `stored`.
    pub fn next_piece_copying(&mut self, read: &mut ReadValues, stored: &mut ReadStored) -> Result<Option<Vec<u8>>> {
        match self.next_work(read, stored)? {
            None => Ok(None),
            Some(Work::Ready(bytes)) => Ok(Some(bytes)),
            Some(Work::Encode(job)) => job.encode(self.weighted).map(Some),
        }
    }

    /// The next piece of the file as work: bytes ready to write (the header, a copied chunk) or
    /// a chunk of values still to encode. The encoding is a pure function of the [`EncodeJob`],
    /// so the page hands it to a pool of workers and writes the results in this order
    /// (www/inspect/pieces.js); [`Export::next_piece_copying`] encodes it at once.
    pub fn next_work(&mut self, read: &mut ReadValues, stored: &mut ReadStored) -> Result<Option<Work>> {
        if !self.header_sent {
            self.header_sent = true;
            self.written += self.plan.header.len() as u64;
            return Ok(Some(Work::Ready(self.plan.header.clone())));
        }
        let Some(t) = self.plan.tensors.get(self.tensor) else {
            return Ok(None);
        };
        debug_assert!(self.next > 0 || self.written == t.offset);
        if t.copy {
            // `next` counts bytes here.
            let chunk = CHUNK_ELEMENTS.min(usize::try_from(t.size - self.next).unwrap_or(CHUNK_ELEMENTS));
            let mut bytes = stored(t.source, self.next, chunk)?;
            if bytes.len() != chunk {
                return Err(Error::Read(format!(
                    "tensor '{}' ended after {} of its {} bytes",
                    t.name,
                    self.next + bytes.len() as u64,
                    t.size
                )));
            }
            self.next += chunk as u64;
            if self.next == t.size {
                bytes.extend_from_slice(&padding(t.size));
                self.tensor += 1;
                self.next = 0;
            }
            self.written += bytes.len() as u64;
            return Ok(Some(Work::Ready(bytes)));
        }
        let n: u64 = t.shape.iter().product();
        let (values, importance) = match &t.importance {
            None => (read(t.source, self.next, CHUNK_ELEMENTS)?, None),
            Some(w) => {
                // Whole rows of one expert at a time, each expert with its slice of the
                // weights (`imatrix_for_row` in llama_tensor_quantize_impl).
                let n_per_row = *t.shape.last().unwrap_or(&1);
                let rows_per_expert = if t.shape.len() >= 2 { t.shape[t.shape.len() - 2] } else { 1 };
                let row = self.next / n_per_row;
                let (expert, in_expert) = (row / rows_per_expert, row % rows_per_expert);
                let rows = ((CHUNK_ELEMENTS as u64 / n_per_row).max(1)).min(rows_per_expert - in_expert);
                let values = read(t.source, self.next, (rows * n_per_row) as usize)?;
                let slice = w[(expert * n_per_row) as usize..][..n_per_row as usize].to_vec();
                (values, Some(slice))
            }
        };
        let job = EncodeJob { tensor: t.name.clone(), ty: t.ty, values, importance, padding: 0 };
        self.next += job.values.len() as u64;
        let last = self.next >= n || job.values.is_empty();
        let job = if last {
            if self.next != n {
                return Err(Error::Read(format!("tensor '{}' ended after {} of its {n} values", t.name, self.next)));
            }
            self.tensor += 1;
            self.next = 0;
            EncodeJob { padding: (padded(t.size) - t.size) as usize, ..job }
        } else {
            job
        };
        self.written += job.encoded_len()?;
        Ok(Some(Work::Encode(job)))
    }
}

/// A piece of an [`Export`]: bytes to write as they are, or a chunk to encode first.
#[derive(Debug, Clone)]
pub enum Work {
    Ready(Vec<u8>),
    Encode(EncodeJob),
}

/// A chunk of one tensor's values to encode as `ty`, followed by `padding` zeros (the tensor's
/// last chunk): everything [`EncodeJob::encode`] needs, so any worker can do it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeJob {
    /// The tensor's name, for errors.
    pub tensor: String,
    pub ty: OutType,
    pub values: Vec<f32>,
    /// A mix with an imatrix: the importance of each column of the chunk's rows (one expert's
    /// slice), so the rows have `importance.len()` values each.
    pub importance: Option<Vec<f32>>,
    pub padding: usize,
}

impl EncodeJob {
    /// Bytes [`EncodeJob::encode`] gives, padding included.
    pub fn encoded_len(&self) -> Result<u64> {
        let size = self
            .ty
            .size_of(self.values.len() as u64)
            .ok_or_else(|| Error::invalid(format!("tensor '{}' is too large to encode", self.tensor)))?;
        Ok(size + self.padding as u64)
    }

    /// The chunk's bytes and padding; `weighted` quantizes a chunk with importance weights
    /// ([`Export::with_importance`]).
    pub fn encode(&self, weighted: Option<WeightedQuantizer>) -> Result<Vec<u8>> {
        let mut bytes = match &self.importance {
            None => encode(self.ty, &self.values)?,
            Some(w) => {
                let (id, quantize) = match (self.ty.scheme_id(), weighted) {
                    (Some(id), Some(quantize)) => (id, quantize),
                    (None, _) => {
                        return Err(Error::invalid(format!(
                            "tensor '{}' is {}: importance weights apply to quantized types only",
                            self.tensor,
                            self.ty.id()
                        )))
                    }
                    (_, None) => {
                        return Err(Error::invalid(format!(
                            "tensor '{}' has importance weights but this export has no weighted quantizer",
                            self.tensor
                        )))
                    }
                };
                let n_per_row = w.len().max(1);
                if self.values.len() % n_per_row != 0 {
                    return Err(Error::invalid(format!(
                        "tensor '{}': a chunk of {} values is not whole rows of {n_per_row}",
                        self.tensor,
                        self.values.len()
                    )));
                }
                quantize(id, &self.values, &[self.values.len() / n_per_row, n_per_row], w)?.packed
            }
        };
        if bytes.len() as u64 + self.padding as u64 != self.encoded_len()? {
            return Err(Error::invalid(format!("tensor '{}' encoded to an unexpected size", self.tensor)));
        }
        bytes.resize(bytes.len() + self.padding, 0);
        Ok(bytes)
    }
}

/// Writes `file`'s tensors as a GGUF of `requested` to `out`, a chunk at a time; calls
/// `progress(tensors done, tensors)` after each piece. Returns the plan (types and notes).
pub fn write_file(
    file: &LazyFile,
    name: &str,
    requested: OutType,
    mut out: impl Write,
    mut progress: impl FnMut(usize, usize),
) -> Result<Plan> {
    let mut export = Export::new(plan_file(file, name, requested)?);
    let io = |e: std::io::Error| Error::Read(format!("could not write the GGUF file: {e}"));
    let mut read = |k: usize, start: u64, count: usize| file.read_values(k, start, count);
    while let Some(piece) = export.next_piece(&mut read)? {
        out.write_all(&piece).map_err(io)?;
        progress(export.tensors_done(), export.plan.tensors.len());
    }
    out.flush().map_err(io)?;
    debug_assert_eq!(export.written, export.plan.len);
    Ok(export.plan)
}

/// A whole GGUF in memory (tests; small models).
pub fn write_to_vec(file: &LazyFile, name: &str, requested: OutType) -> Result<(Vec<u8>, Plan)> {
    let mut out = Vec::new();
    let plan = write_file(file, name, requested, &mut out, |_, _| {})?;
    Ok((out, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_fall_back_as_llama_quantize_does() {
        assert_eq!(choose_type(&[4, 256], OutType::Q4K), (OutType::Q4K, None));
        assert_eq!(choose_type(&[4, 64], OutType::Q4K).0, OutType::Q5_0);
        assert_eq!(choose_type(&[4, 64], OutType::Q6K).0, OutType::Q8_0);
        assert_eq!(choose_type(&[4, 64], OutType::Q5K).0, OutType::Q5_1);
        assert_eq!(choose_type(&[4, 64], OutType::Q2K).0, OutType::Q4_0);
        assert_eq!(choose_type(&[4, 48], OutType::Q3K).0, OutType::F16);
        assert_eq!(choose_type(&[4, 48], OutType::Q8_0).0, OutType::F16);
        assert_eq!(choose_type(&[4, 48], OutType::Bf16), (OutType::Bf16, None));
        assert_eq!(choose_type(&[4, 64], OutType::Iq4Xs).0, OutType::Iq4Nl);
        assert_eq!(choose_type(&[4, 48], OutType::Iq4Xs).0, OutType::F16);
        assert_eq!(choose_type(&[4, 48], OutType::Iq4Nl).0, OutType::F16);
        for t in [OutType::Q2_0, OutType::Tq1_0, OutType::Tq2_0] {
            assert_eq!(choose_type(&[4, 32], t).0, OutType::Q4_0, "{}", t.id());
        }
        assert_eq!(choose_type(&[4, 64], OutType::Q2_0), (OutType::Q2_0, None));
        assert_eq!(choose_type(&[4, 64], OutType::Nvfp4), (OutType::Nvfp4, None));
        assert_eq!(choose_type(&[4, 32], OutType::Nvfp4).0, OutType::F16, "llama.cpp has no NVFP4 fallback");
        assert_eq!(choose_type(&[4, 64], OutType::Q1_0).0, OutType::F16, "llama.cpp has no Q1_0 fallback");
        let (ty, note) = choose_type(&[64], OutType::Q4_0);
        assert_eq!(ty, OutType::F32);
        assert!(note.unwrap().contains("1-D"));
        assert_eq!(choose_type(&[64], OutType::F32), (OutType::F32, None));
    }

    #[test]
    fn ids_round_trip_and_match_the_reader() {
        for t in OutType::ALL {
            assert_eq!(OutType::from_id(t.id()), Some(t));
            assert_eq!(gguf::ggml_type(t.ggml_type()).unwrap().name, t.id());
        }
        assert_eq!(OutType::from_id("fp16"), Some(OutType::F16));
        assert_eq!(OutType::from_id("int8_sym"), None);
        // The grid types: in a mix only, each with its scheme and the reader's block size.
        for t in OutType::MIX_ONLY {
            assert_eq!((OutType::from_id(t.id()), OutType::in_a_mix(t.id())), (None, Some(t)));
            assert_eq!(gguf::ggml_type(t.ggml_type()).unwrap().name, t.id());
            assert!(quantscope_core::schemes::by_id(t.scheme_id().unwrap()).is_ok());
            assert_eq!(t.size_of(512), Some(2 * gguf::ggml_type(t.ggml_type()).unwrap().bytes));
        }
    }

    #[test]
    fn metadata_replaces_the_keys_it_sets_and_keeps_the_rest_in_order() {
        let raw = |key: &str| RawKv { key: key.into(), value_type: TYPE_U32, value: 7u32.to_le_bytes().to_vec() };
        let source = [raw("general.architecture"), raw("general.file_type"), raw("llama.context_length"), raw("general.alignment")];
        let m = metadata_for(&source, "m", OutType::Q4_0);
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "general.architecture",
                "llama.context_length",
                "general.name",
                "general.file_type",
                "general.quantization_version",
                "general.quantized_by"
            ]
        );
        assert_eq!(m[3].1, Value::U32(2));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let t = vec![("a".to_string(), vec![2u64, 32]), ("a".to_string(), vec![32u64])];
        assert!(plan(&[], &t, OutType::Q8_0).unwrap_err().to_string().contains("'a'"));
    }

    /// An expert-stacked tensor (ne = [256, 4, 3]) with importance weights: each expert's rows are
    /// quantized with that expert's slice (`imatrix_for_row` in llama_tensor_quantize_impl), and
    /// an export without a weighted quantizer refuses such a tensor rather than drop the weights.
    #[test]
    fn each_expert_gets_its_slice_of_the_importance_weights() {
        use quantscope_core::schemes::quantize_with_importance;
        let values: Vec<f32> = (0..3 * 4 * 256).map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 300.0).collect();
        let weights: Vec<f32> = (0..3 * 256).map(|i| if (i / 256 + i) % 3 == 0 { 0.0 } else { 1.0 + (i % 17) as f32 }).collect();
        let tensor = PlannedTensor {
            name: "blk.0.ffn_up_exps.weight".into(),
            shape: vec![3, 4, 256],
            ty: OutType::Q4K,
            note: None,
            copy: false,
            source: 0,
            offset: 0,
            size: 0,
            importance: Some(std::rc::Rc::from(weights.as_slice())),
        };
        let plan = layout(&[], vec![tensor]).unwrap();
        let data_start = plan.tensors[0].offset as usize;
        let mut read = |_: usize, start: u64, count: usize| Ok(values[start as usize..(start as usize + count).min(values.len())].to_vec());
        let mut export = Export::with_importance(plan.clone(), quantize_with_importance);
        let mut bytes = Vec::new();
        while let Some(piece) = export.next_piece(&mut read).unwrap() {
            bytes.extend_from_slice(&piece);
        }
        let mut want = Vec::new();
        for e in 0..3 {
            let rows = &values[e * 1024..(e + 1) * 1024];
            want.extend(quantize_with_importance("q4_k", rows, &[4, 256], &weights[e * 256..(e + 1) * 256]).unwrap().packed);
        }
        assert_eq!(&bytes[data_start..data_start + want.len()], want.as_slice());
        // The first expert's slice for all three gives other bytes: the slices matter.
        let same = quantize_with_importance("q4_k", &values, &[12, 256], &weights[..256]).unwrap().packed;
        assert_ne!(same, want);

        let mut plain = Export::new(plan);
        let e = loop {
            match plain.next_piece(&mut read) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("an export without a weighted quantizer wrote weighted tensors"),
                Err(e) => break e,
            }
        };
        assert!(e.to_string().contains("no weighted quantizer"), "{e}");
    }
}
