//! Files opened without reading them whole. `.safetensors` and `.gguf` files keep their tensor
//! data in the file: only the header is parsed (from a prefix, read again longer when the
//! header says it is), and each tensor is a byte range decoded on demand, whole
//! ([`LazyFile::materialize`]) or a chunk of values at a time ([`LazyFile::read_values`]), so
//! a 2 GB model is summarised ([`StatsScan`]) and exported in bounded memory. Other formats
//! (.npy, .npz, .onnx) are read whole through [`super::load_file`], as before, and their tensors
//! are simply resident.
//!
//! The same checks as the whole-file readers apply (the header parsers are shared), except that
//! a tensor over [`quantscope_core::tensor::MAX_ELEMENTS`] is listed rather than refused: it can be
//! streamed for statistics even if it can never be held whole.

use super::bytesource::ByteSource;
use super::{gguf, safetensors, Format};
use crate::error::{Error, GgufError, Result};
use quantscope_core::stats::histogram::Histogram;
use quantscope_core::stats::summary::{StreamingSummary, Summary};
use quantscope_core::tensor::{Tensor, MAX_ELEMENTS};
use std::rc::Rc;

/// Values decoded per chunk when streaming: 4 Mi values are 16 MB of f32 (plus at most 32 MB of
/// raw f64 bytes), a multiple of every block size (32 and 256 values).
pub const CHUNK_ELEMENTS: usize = 1 << 22;

/// Files larger than this that are not .safetensors or .gguf are refused rather than read whole.
pub const MAX_WHOLE_FILE: u64 = 1 << 30;

/// How a tensor's bytes encode its values.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encoding {
    Safetensors(safetensors::Kind),
    Ggml(gguf::GgmlTypeInfo),
}

impl Encoding {
    /// Values per block (1 for plain element types).
    fn block(self) -> u64 {
        match self {
            Encoding::Safetensors(_) => 1,
            Encoding::Ggml(t) => t.block,
        }
    }

    /// Bytes per block.
    fn block_bytes(self) -> u64 {
        match self {
            Encoding::Safetensors(k) => k.size(),
            Encoding::Ggml(t) => t.bytes,
        }
    }

    /// Decodes `raw` (whole blocks) holding `count` values.
    fn decode(self, raw: &[u8], count: usize) -> Result<Vec<f32>> {
        match self {
            Encoding::Safetensors(k) => Ok(safetensors::decode(k, raw)),
            Encoding::Ggml(t) => gguf::decode(t, raw, &[count]),
        }
    }
}

/// Where a tensor's values are.
#[derive(Debug, Clone)]
enum Storage {
    /// Decoded already (formats read whole).
    Resident(Rc<Tensor>),
    /// `size` bytes at `offset` in source `source` of the file (a shard of a sharded checkpoint).
    InFile { source: usize, offset: u64, size: u64, encoding: Encoding },
}

/// One tensor of a [`LazyFile`]: what it is, and where its values are.
#[derive(Debug, Clone)]
pub struct LazyTensor {
    pub name: String,
    /// As [`Tensor::dtype`]: numpy names for safetensors, ggml type names for GGUF.
    pub dtype: String,
    /// Row-major.
    pub shape: Vec<u64>,
    storage: Storage,
}

impl LazyTensor {
    /// Element count (the header parsers checked that it fits in 64 bits).
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Bytes the values take in the file (`None` for a resident tensor of unknown dtype size).
    pub fn stored_bytes(&self) -> Option<u64> {
        match &self.storage {
            Storage::InFile { size, .. } => Some(*size),
            Storage::Resident(t) => quantscope_core::tensor::stored_bits(&t.dtype).map(|b| (b * t.data.len() as f64 / 8.0).ceil() as u64),
        }
    }

    /// True when the values are in memory already (no read, no budget).
    pub fn is_resident(&self) -> bool {
        matches!(self.storage, Storage::Resident(_))
    }

    /// The shape as `usize`s (a tensor that can be materialized fits).
    fn shape_usize(&self) -> Vec<usize> {
        self.shape.iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect()
    }
}

/// A file whose tensors are read on demand.
pub struct LazyFile {
    pub name: String,
    pub format: Format,
    /// As [`super::LoadedFile::metadata`].
    pub metadata: Vec<(String, String)>,
    /// A GGUF file's metadata as stored, for a writer that keeps it; empty for other formats.
    pub gguf_kvs: Vec<gguf::RawKv>,
    pub tensors: Vec<LazyTensor>,
    /// As [`super::LoadedFile::weights`]: an ONNX model's weight descriptions, empty otherwise.
    pub weights: Vec<super::onnx::weights::WeightInfo>,
    /// The file, or the shards of a sharded checkpoint.
    sources: Vec<Rc<dyn ByteSource>>,
}

impl std::fmt::Debug for LazyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyFile").field("name", &self.name).field("format", &self.format).field("tensors", &self.tensors.len()).finish()
    }
}

/// The format to read `source` as: by its first bytes, else by `name`'s extension (so a broken
/// file gets its format's specific complaint).
/// A GGUF file, its header read (tensors lazily), and nothing else: a module that opens files
/// only through this (the mixer, the language model) links no other format's reader. Another
/// format is refused naming it ([`detect`] tells which beforehand).
pub fn open_gguf_file(name: &str, source: Rc<dyn ByteSource>) -> Result<LazyFile> {
    let format = detect(name, source.as_ref())?;
    if format != Format::Gguf {
        return Err(Error::invalid(format!("{name} is a {format:?} file, not GGUF")));
    }
    let mut file = LazyFile::empty(name, format, source);
    open_gguf(&mut file)?;
    Ok(file)
}

impl LazyFile {
    /// Takes a whole-read file's metadata and tensors (kept in memory).
    fn set_resident(&mut self, loaded: super::LoadedFile) {
        self.metadata = loaded.metadata;
        self.weights = loaded.weights;
        self.tensors = loaded
            .tensors
            .into_iter()
            .map(|t| LazyTensor {
                name: t.name.clone(),
                dtype: t.dtype.clone(),
                shape: t.shape.iter().map(|&d| d as u64).collect(),
                storage: Storage::Resident(Rc::new(t)),
            })
            .collect();
    }

    fn empty(name: &str, format: Format, source: Rc<dyn ByteSource>) -> LazyFile {
        LazyFile {
            name: name.to_string(),
            format,
            metadata: Vec::new(),
            gguf_kvs: Vec::new(),
            tensors: Vec::new(),
            weights: Vec::new(),
            sources: vec![source],
        }
    }
}

/// The format of a file, from its first bytes (and its name where the bytes cannot tell).
pub fn detect(name: &str, source: &dyn ByteSource) -> Result<Format> {
    let first = source.read_at(0, source.len().min(16) as usize)?;
    let by_bytes = if super::npy::sniff(&first) {
        Some(Format::Npy)
    } else if gguf::sniff(&first) {
        Some(Format::Gguf)
    } else if super::npz::sniff(&first) {
        Some(Format::Npz)
    } else if safetensors::sniff_with_len(&first, source.len()) {
        Some(Format::Safetensors)
    } else if super::onnx::sniff(&first) {
        Some(Format::Onnx)
    } else {
        None
    };
    let by_name = [
        (".npy", Format::Npy),
        (".safetensors", Format::Safetensors),
        (".npz", Format::Npz),
        (".gguf", Format::Gguf),
        (".onnx", Format::Onnx),
    ]
    .into_iter()
    .find(|(ext, _)| name.ends_with(ext))
    .map(|(_, f)| f);
    by_bytes.or(by_name).ok_or(Error::UnknownFormat)
}

/// Opens a file: safetensors and GGUF lazily (header only), every other format read whole.
pub fn open(name: &str, source: Rc<dyn ByteSource>) -> Result<LazyFile> {
    open_with(name, source, super::READERS)
}

/// [`open`], reading whole only the formats of `readers` (see [`super::load_file_with`]);
/// another such format is refused naming it ([`Error::reader_elsewhere`]).
pub fn open_with(name: &str, source: Rc<dyn ByteSource>, readers: &[(Format, super::Reader)]) -> Result<LazyFile> {
    let format = detect(name, source.as_ref())?;
    let mut file = LazyFile::empty(name, format, source);
    match format {
        Format::Safetensors => (file.metadata, file.tensors) = safetensors_header(file.sources[0].as_ref(), 0)?,
        Format::Gguf => open_gguf(&mut file)?,
        _ => {
            let loaded = read_whole(name, file.sources[0].as_ref(), format, readers)?;
            file.set_resident(loaded);
        }
    }
    Ok(file)
}

/// A file of `format` (one [`open`] reads whole) read whole from `source` and parsed by its
/// reader in `readers`: the reader module's half of [`open`] (`src/reader`).
pub fn read_whole(name: &str, source: &dyn ByteSource, format: Format, readers: &[(Format, super::Reader)]) -> Result<super::LoadedFile> {
    if !readers.iter().any(|(f, _)| *f == format) {
        return Err(Error::reader_elsewhere(format));
    }
    let len = source.len();
    if len > MAX_WHOLE_FILE {
        return Err(Error::Read(format!(
            "{len} bytes is too large to read whole ({} MiB at most); only .safetensors and .gguf files are read piece by piece",
            MAX_WHOLE_FILE >> 20
        )));
    }
    let bytes = source.read_at(0, len as usize)?;
    super::read_with(name, &bytes, format, readers)
}

/// A file another module read whole (`read_whole` in the reader module), its tensors in memory;
/// `source` is the file itself, as [`open`] keeps it.
pub fn resident(name: &str, loaded: super::LoadedFile, source: Rc<dyn ByteSource>) -> LazyFile {
    let mut file = LazyFile::empty(name, loaded.format, source);
    file.set_resident(loaded);
    file
}

/// The metadata and tensors of a safetensors file, source `k` of the file being opened.
fn safetensors_header(source: &dyn ByteSource, k: usize) -> Result<(safetensors::Metadata, Vec<LazyTensor>)> {
    let len = source.len();
    let first = source.read_at(0, len.min(8) as usize)?;
    let data_start = safetensors::data_start(&first, len)?;
    let prefix = source.read_at(0, data_start as usize)?;
    // No element cap: the data must fit in the file, and big tensors are streamed.
    let (metadata, spans) = safetensors::parse_header(&prefix, len, u64::MAX)?;
    let tensors = spans
        .into_iter()
        .map(|s| LazyTensor {
            name: s.name,
            dtype: s.kind.name().to_string(),
            shape: s.shape,
            storage: Storage::InFile {
                source: k,
                offset: data_start + s.start,
                size: s.end - s.start,
                encoding: Encoding::Safetensors(s.kind),
            },
        })
        .collect();
    Ok((metadata, tensors))
}

/// Opens a sharded safetensors checkpoint lazily: the index JSON (`model.safetensors.index.json`)
/// and its shards as (file name, source). The same checks and errors as
/// [`safetensors::load_sharded`] (a missing shard is named before any shard is read; a shard's
/// own error names it), but only the shards' headers are read. Tensors come in the index's order.
pub fn open_sharded(index_name: &str, index_json: &[u8], shards: Vec<(String, Rc<dyn ByteSource>)>) -> Result<LazyFile> {
    use crate::error::SafetensorsError;
    let names: Vec<&str> = shards.iter().map(|(n, _)| n.as_str()).collect();
    let index = safetensors::parse_index(index_json, &names)?;
    let mut file = LazyFile {
        name: index_name.to_string(),
        format: Format::Safetensors,
        metadata: index.metadata,
        gguf_kvs: Vec::new(),
        tensors: Vec::new(),
        weights: Vec::new(),
        sources: Vec::new(),
    };
    let mut by_shard: std::collections::HashMap<&str, std::collections::HashMap<String, LazyTensor>> = Default::default();
    for (shard, _) in &index.shards {
        let (_, source) =
            shards.iter().find(|(n, _)| safetensors::base_name(n) == safetensors::base_name(shard)).expect("parse_index checked");
        let k = file.sources.len();
        file.sources.push(Rc::clone(source));
        let (_, tensors) = safetensors_header(source.as_ref(), k).map_err(|e| match e {
            Error::Safetensors(e) => SafetensorsError::InShard { shard: shard.clone(), error: Box::new(e) }.into(),
            other => other,
        })?;
        by_shard.insert(shard, tensors.into_iter().map(|t| (t.name.clone(), t)).collect());
    }
    for (tensor, shard) in &index.weight_map {
        let t = by_shard
            .get_mut(shard.as_str())
            .and_then(|m| m.remove(tensor))
            .ok_or_else(|| SafetensorsError::TensorNotInShard { tensor: tensor.clone(), shard: shard.clone() })?;
        file.tensors.push(t);
    }
    Ok(file)
}

fn open_gguf(file: &mut LazyFile) -> Result<()> {
    let source = Rc::clone(&file.sources[0]);
    let len = source.len();
    // Most headers fit in 1 MiB; a long vocabulary needs a few more reads, 4× longer each time.
    let mut want = len.min(1 << 20);
    let header = loop {
        let prefix = source.read_at(0, want as usize)?;
        match gguf::parse_header(&prefix, len) {
            Err(Error::Gguf(GgufError::Truncated { .. })) if want < len => {
                if want >= gguf::MAX_HEADER_BYTES {
                    return Err(GgufError::HeaderTooLarge { limit: gguf::MAX_HEADER_BYTES }.into());
                }
                want = len.min(want * 4).min(gguf::MAX_HEADER_BYTES);
            }
            other => break other?,
        }
    };
    file.metadata = header.metadata;
    file.gguf_kvs = header.raw;
    for t in header.infos {
        file.tensors.push(LazyTensor {
            storage: Storage::InFile { source: 0, offset: header.data_start + t.offset, size: t.size, encoding: Encoding::Ggml(t.ty) },
            name: t.name,
            dtype: t.ty.name.to_string(),
            shape: t.shape,
        });
    }
    Ok(())
}

impl LazyFile {
    /// Values `start .. start + count` of tensor `index` (C order) as f32; `count` is cut at the
    /// tensor's end. Both ends must fall on the type's block boundaries (any multiple of 256,
    /// such as [`CHUNK_ELEMENTS`], does for every type).
    pub fn read_values(&self, index: usize, start: u64, count: usize) -> Result<Vec<f32>> {
        let t = self.tensor(index)?;
        let n = t.elements();
        let count = (count as u64).min(n.saturating_sub(start));
        match &t.storage {
            Storage::Resident(r) => Ok(r.data[start as usize..(start + count) as usize].to_vec()),
            Storage::InFile { source, offset, encoding, .. } => {
                let block = encoding.block();
                if start % block != 0 || (count % block != 0 && start + count != n) {
                    return Err(Error::invalid(format!(
                        "values {start}..{} of '{}' do not start and end on its {block}-value blocks",
                        start + count,
                        t.name
                    )));
                }
                let first_byte = offset + start / block * encoding.block_bytes();
                let bytes = count.div_ceil(block) * encoding.block_bytes();
                let raw = self.sources[*source].read_at(first_byte, usize::try_from(bytes).map_err(|_| too_large(t, "one read"))?)?;
                encoding.decode(&raw, count as usize)
            }
        }
    }

    /// Bytes `start .. start + len` of tensor `index` as stored in the file (cut at its end), for
    /// a writer that copies a tensor unchanged, as `llama-quantize` copies the ones it keeps.
    pub fn read_stored(&self, index: usize, start: u64, len: usize) -> Result<Vec<u8>> {
        let t = self.tensor(index)?;
        match &t.storage {
            Storage::InFile { source, offset, size, .. } => {
                let len = (len as u64).min(size.saturating_sub(start));
                self.sources[*source].read_at(offset + start, len as usize)
            }
            Storage::Resident(_) => Err(Error::invalid(format!("tensor '{}' was read whole: its stored bytes are not kept", t.name))),
        }
    }

    /// Tensor `index` decoded whole (refused over [`MAX_ELEMENTS`] values). Read a chunk at a
    /// time, so the raw bytes are never all in memory beside the values.
    pub fn materialize(&self, index: usize) -> Result<Rc<Tensor>> {
        let t = self.tensor(index)?;
        if let Storage::Resident(r) = &t.storage {
            return Ok(Rc::clone(r));
        }
        let n = t.elements();
        if n > MAX_ELEMENTS {
            return Err(too_large(t, "loading it whole"));
        }
        let mut data = Vec::new();
        data.try_reserve_exact(n as usize).map_err(|_| out_of_memory(t))?;
        let mut start = 0;
        while start < n {
            data.extend_from_slice(&self.read_values(index, start, CHUNK_ELEMENTS)?);
            start += CHUNK_ELEMENTS as u64;
        }
        Ok(Rc::new(Tensor::new(t.name.clone(), t.shape_usize(), t.dtype.clone(), data)))
    }

    /// Tensor `index`'s description.
    pub fn tensor(&self, index: usize) -> Result<&LazyTensor> {
        self.tensors.get(index).ok_or_else(|| Error::invalid(format!("no tensor {index} in {}", self.name)))
    }

    /// Every tensor's summary, streamed chunk by chunk (see [`StatsScan`] to do it in steps).
    pub fn summaries(&self) -> Result<Vec<Summary>> {
        let mut scan = StatsScan::new(self);
        while !scan.step(self, usize::MAX)? {}
        Ok(scan.summaries)
    }

    /// A histogram of tensor `index` streamed chunk by chunk (finite values, `bins` bins over
    /// [lo, hi]); for a tensor too big to hold whole.
    pub fn histogram(&self, index: usize, bins: usize, lo: f64, hi: f64) -> Result<Histogram> {
        let mut h = Histogram::empty(bins, lo, hi);
        let n = self.tensor(index)?.elements();
        let mut start = 0;
        while start < n {
            h.add(&self.read_values(index, start, CHUNK_ELEMENTS)?);
            start += CHUNK_ELEMENTS as u64;
        }
        Ok(h)
    }
}

fn too_large(t: &LazyTensor, operation: &'static str) -> Error {
    Error::TensorTooLarge { tensor: t.name.clone(), elements: t.elements(), limit: MAX_ELEMENTS, operation }
}

fn out_of_memory(t: &LazyTensor) -> Error {
    Error::Read(format!("not enough memory to hold tensor '{}' ({} MiB of f32 values)", t.name, (t.elements() * 4) >> 20))
}

/// Summary statistics of every tensor of a file, computed a chunk at a time so a caller (the
/// page's worker) can report progress and stop between two steps.
#[derive(Debug, Clone)]
pub struct StatsScan {
    tensor: usize,
    next: u64,
    current: StreamingSummary,
    /// One per tensor finished so far, in file order.
    pub summaries: Vec<Summary>,
    /// Values summarised so far, over all tensors.
    pub done: u64,
    /// Values in the file's tensors.
    pub total: u64,
}

impl StatsScan {
    /// A scan of `file`'s tensors, none done yet.
    pub fn new(file: &LazyFile) -> StatsScan {
        let total = file.tensors.iter().map(LazyTensor::elements).fold(0u64, u64::saturating_add);
        StatsScan { tensor: 0, next: 0, current: StreamingSummary::new(), summaries: Vec::new(), done: 0, total }
    }

    /// Summarises at least one chunk (about `budget` values: whole resident tensors, chunks of
    /// [`CHUNK_ELEMENTS`] from the file); returns true when every tensor is done.
    pub fn step(&mut self, file: &LazyFile, budget: usize) -> Result<bool> {
        let mut spent = 0u64;
        while self.tensor < file.tensors.len() {
            if spent > 0 && spent >= budget as u64 {
                return Ok(false);
            }
            let t = &file.tensors[self.tensor];
            let n = t.elements();
            let before = self.next;
            if let Storage::Resident(r) = &t.storage {
                self.current.add(&r.data);
                self.next = n;
            } else if self.next < n {
                let values = file.read_values(self.tensor, self.next, CHUNK_ELEMENTS)?;
                if values.is_empty() {
                    return Err(Error::Read(format!("tensor '{}' decoded to no values at {}", t.name, self.next)));
                }
                self.current.add(&values);
                self.next += values.len() as u64;
            }
            spent += self.next - before;
            self.done += self.next - before;
            if self.next >= n {
                self.summaries.push(std::mem::take(&mut self.current).finish());
                self.tensor += 1;
                self.next = 0;
            }
        }
        Ok(true)
    }
}
