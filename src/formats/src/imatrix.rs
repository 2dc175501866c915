//! llama.cpp's importance matrices (`llama-imatrix`'s output), in both layouts the pinned llama.cpp
//! reads (`common/imatrix-loader.cpp`, `common_imatrix_load`), and the per-column weights
//! `llama-quantize` derives from them (`tools/quantize/quantize.cpp`, `load_imatrix`).
//!
//! * **GGUF** (what `llama-imatrix` writes now, `tools/imatrix/imatrix.cpp` `save_imatrix`): keys
//!   `general.type` = "imatrix", `imatrix.datasets` (array of strings), `imatrix.chunk_count` and
//!   `imatrix.chunk_size` (u32); per weight tensor `W` two F32 tensors, `W.in_sum2` (ne = [columns,
//!   experts]: the sum of x² per input column) and `W.counts` (ne = [1, experts]: the rows summed,
//!   rounded with `lround` on reading). The weight `llama-quantize` uses is `in_sum2 / count` per
//!   expert, and 1 for every column of an expert whose count is 0 (never routed to). Files without
//!   the three `imatrix.*` keys are refused, as `load_imatrix` refuses them ("missing imatrix
//!   metadata"); tensors with neither suffix are ignored; a sum without its count (or the reverse)
//!   and non-F32 tensors are errors.
//! * **Legacy `.dat`** (`--output-format dat`, `save_imatrix_legacy`): i32 entry count (≥ 1), then
//!   per entry i32 name length, the name (up to its first NUL, as `std::string(char*)` reads it),
//!   i32 `ncall`, i32 value count (≥ 1) and the f32 values (already `mean x² · ncall`); then,
//!   optionally, i32 chunk count, i32 length and the dataset name. The weight is `value / ncall`
//!   (`ncall` ≤ 0: the value as stored). A later entry of the same name replaces an earlier one
//!   (`std::map::operator[]`). A trailer cut short is ignored, as llama.cpp reads it.
//!
//! Entries are kept in name order (llama.cpp's `std::map`). All arithmetic is f32, as in C++, so
//! [`ImatrixEntry::values`] are bit for bit what `llama-quantize` passes to the quantizers
//! (`src/formats/tests/imatrix_files.rs`; the whole-file proof is the `--imatrix` exports in
//! `src/formats/tests/gguf_mixes.rs`).

use crate::error::{Error, Result};
use crate::gguf;
use std::fmt;

/// Which layout a file was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImatrixFormat {
    Gguf,
    Legacy,
}

/// One weight tensor's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ImatrixEntry {
    /// The weight tensor's name (`blk.0.attn_q.weight`).
    pub name: String,
    /// As stored: Σx² per column (GGUF) or `mean x² · ncall` (legacy), experts one after another.
    pub sums: Vec<f32>,
    /// Rows summed per expert (GGUF), or `[ncall]` (legacy).
    pub counts: Vec<i64>,
    /// What `llama-quantize` loads: one weight per column, experts one after another.
    pub values: Vec<f32>,
}

impl ImatrixEntry {
    /// The entry of GGUF statistics: `sums` (Σx², experts one after another) and `counts` (one
    /// per expert; `sums.len()` a multiple of it), with the weights `load_imatrix` derives: per
    /// expert, sums / (float) count, or 1 where the count is 0.
    pub fn from_sums(name: String, sums: Vec<f32>, counts: Vec<i64>) -> ImatrixEntry {
        let ne0 = sums.len() / counts.len().max(1);
        let mut values = vec![0.0f32; sums.len()];
        for (j, &c) in counts.iter().enumerate() {
            let count = c as f32;
            for i in 0..ne0 {
                values[j * ne0 + i] = if count > 0.0 { sums[j * ne0 + i] / count } else { 1.0 };
            }
        }
        ImatrixEntry { name, sums, counts, values }
    }

    /// Experts (GGUF: one count each; legacy files keep one count for all).
    pub fn experts(&self) -> usize {
        self.counts.len().max(1)
    }

    /// Columns per expert (the weight tensor's `ne[0]`, its input width).
    pub fn columns(&self) -> usize {
        self.values.len() / self.experts()
    }

    /// The largest count (for a dense tensor, the tokens it saw).
    pub fn count(&self) -> i64 {
        self.counts.iter().copied().max().unwrap_or(0)
    }

    /// The `k` columns with the largest weights (of the whole vector), largest first; ties by index.
    pub fn top_columns(&self, k: usize) -> Vec<(usize, f32)> {
        let mut idx: Vec<usize> = (0..self.values.len()).collect();
        idx.sort_by(|&a, &b| self.values[b].total_cmp(&self.values[a]).then(a.cmp(&b)));
        idx.into_iter().take(k).map(|i| (i, self.values[i])).collect()
    }
}

/// A whole importance matrix file.
#[derive(Debug, Clone, PartialEq)]
pub struct Imatrix {
    pub format: ImatrixFormat,
    /// In name order.
    pub entries: Vec<ImatrixEntry>,
    /// The calibration files named in the file.
    pub datasets: Vec<String>,
    /// Chunks of text it was computed on (`imatrix.chunk_count`, or the legacy trailer's).
    pub chunk_count: i32,
    /// Tokens per chunk (GGUF only; 0 in legacy files).
    pub chunk_size: i32,
}

impl Imatrix {
    /// Statistics gathered by quantscope as llama-imatrix saves them: each entry's Σx² per
    /// column and rows seen (one expert), over `chunk_count` chunks of `chunk_size` rows of
    /// `dataset`. Entries are put in name order.
    pub fn gathered(dataset: &str, chunk_count: i32, chunk_size: i32, entries: Vec<(String, Vec<f32>, i64)>) -> Imatrix {
        let mut entries: Vec<ImatrixEntry> =
            entries.into_iter().map(|(name, sums, count)| ImatrixEntry::from_sums(name, sums, vec![count])).collect();
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Imatrix { format: ImatrixFormat::Gguf, entries, datasets: vec![dataset.to_string()], chunk_count, chunk_size }
    }

    /// The entry for a weight tensor, if the file has one.
    pub fn get(&self, name: &str) -> Option<&ImatrixEntry> {
        self.entries.binary_search_by(|e| e.name.as_str().cmp(name)).ok().map(|i| &self.entries[i])
    }
}

/// What is wrong with an imatrix file.
#[derive(Debug, Clone, PartialEq)]
pub enum ImatrixError {
    /// A GGUF file that is not an importance matrix, or has no entries.
    NoEntries,
    /// A GGUF imatrix without `imatrix.datasets`, `imatrix.chunk_count` or `imatrix.chunk_size`.
    MissingMetadata { key: &'static str },
    /// A metadata key of the wrong type.
    BadKey { key: &'static str, value_type: u32 },
    /// `W.in_sum2` without `W.counts`, or the reverse.
    Unpaired { name: String, missing: &'static str },
    /// A sums or counts tensor that is not F32.
    NotF32 { tensor: String, ty: String },
    /// A sums tensor whose size is not the counts' times a whole number of columns.
    BadShape { name: String, sums: u64, counts: u64 },
    /// A legacy file shorter than its fields say.
    Truncated { what: String },
    /// A legacy count or length that cannot be.
    BadCount { what: String, value: i64 },
}

impl fmt::Display for ImatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImatrixError::NoEntries => write!(f, "imatrix: no data in the file (no '.in_sum2' / '.counts' tensors)"),
            ImatrixError::MissingMetadata { key } => {
                write!(f, "imatrix: missing imatrix metadata ('{key}'); llama-quantize refuses such a file")
            }
            ImatrixError::BadKey { key, value_type } => {
                write!(f, "imatrix: key '{key}' has GGUF value type {value_type}, not the one llama.cpp writes")
            }
            ImatrixError::Unpaired { name, missing } => write!(f, "imatrix: mismatched sums and counts for {name} (no '{name}{missing}')"),
            ImatrixError::NotF32 { tensor, ty } => write!(f, "imatrix: sums and counts must be F32; '{tensor}' is {ty}"),
            ImatrixError::BadShape { name, sums, counts } => {
                write!(f, "imatrix: {name} has {sums} sums for {counts} counts, not a whole number of columns per count")
            }
            ImatrixError::Truncated { what } => write!(f, "imatrix (legacy .dat): the file ends inside {what}"),
            ImatrixError::BadCount { what, value } => write!(f, "imatrix (legacy .dat): {what} is {value}"),
        }
    }
}

impl From<ImatrixError> for Error {
    fn from(e: ImatrixError) -> Self {
        Error::invalid(e.to_string())
    }
}

/// Reads an importance matrix: GGUF if the bytes start with GGUF's magic, else the legacy layout
/// (llama.cpp tries GGUF first and falls back the same way).
pub fn parse(bytes: &[u8]) -> Result<Imatrix> {
    if gguf::sniff(bytes) {
        parse_gguf(bytes)
    } else {
        Ok(parse_legacy(bytes)?)
    }
}

fn u32_value(raw: &gguf::RawKv, key: &'static str) -> Result<u32, ImatrixError> {
    match (raw.value_type, raw.value.as_slice()) {
        (4, &[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        (t, _) => Err(ImatrixError::BadKey { key, value_type: t }),
    }
}

/// An array of strings' value bytes: element type 8, u64 count, then strings.
fn string_array(raw: &gguf::RawKv, key: &'static str) -> Result<Vec<String>, ImatrixError> {
    let bad = || ImatrixError::BadKey { key, value_type: raw.value_type };
    let v = &raw.value;
    if raw.value_type != 9 || v.len() < 12 || u32::from_le_bytes(v[0..4].try_into().unwrap()) != 8 {
        return Err(bad());
    }
    let n = u64::from_le_bytes(v[4..12].try_into().unwrap());
    let mut at = 12usize;
    let mut out = Vec::new();
    for _ in 0..n {
        // The GGUF reader has checked every length against the value's bytes.
        let len = u64::from_le_bytes(v.get(at..at + 8).ok_or_else(bad)?.try_into().unwrap()) as usize;
        let s = v.get(at + 8..at + 8 + len).ok_or_else(bad)?;
        out.push(String::from_utf8_lossy(s).into_owned());
        at += 8 + len;
    }
    Ok(out)
}

fn parse_gguf(bytes: &[u8]) -> Result<Imatrix> {
    let header = gguf::parse_header(bytes, bytes.len() as u64)?;
    let find = |key: &str| header.raw.iter().find(|kv| kv.key == key);
    if header.infos.is_empty() {
        return Err(ImatrixError::NoEntries.into());
    }
    const DATASETS: &str = "imatrix.datasets";
    const CHUNK_COUNT: &str = "imatrix.chunk_count";
    const CHUNK_SIZE: &str = "imatrix.chunk_size";
    // load_imatrix: has_metadata needs all three keys.
    for key in [DATASETS, CHUNK_COUNT, CHUNK_SIZE] {
        if find(key).is_none() {
            return Err(ImatrixError::MissingMetadata { key }.into());
        }
    }
    // common_imatrix_load reads the datasets only when they are an array of strings.
    let datasets = string_array(find(DATASETS).unwrap(), DATASETS).unwrap_or_default();
    let chunk_count = u32_value(find(CHUNK_COUNT).unwrap(), CHUNK_COUNT)? as i32;
    let chunk_size = u32_value(find(CHUNK_SIZE).unwrap(), CHUNK_SIZE)? as i32;

    // name → (sums tensor, counts tensor), in name order.
    let mut pairs: std::collections::BTreeMap<String, (Option<usize>, Option<usize>)> = Default::default();
    for (i, t) in header.infos.iter().enumerate() {
        if let Some(name) = t.name.strip_suffix(".in_sum2") {
            pairs.entry(name.to_string()).or_default().0 = Some(i);
        } else if let Some(name) = t.name.strip_suffix(".counts") {
            pairs.entry(name.to_string()).or_default().1 = Some(i);
        }
    }
    if pairs.is_empty() {
        return Err(ImatrixError::NoEntries.into());
    }
    let data = &bytes[header.data_start as usize..];
    let f32s = |i: usize| -> Result<Vec<f32>, ImatrixError> {
        let t = &header.infos[i];
        if t.ty.name != "f32" {
            return Err(ImatrixError::NotF32 { tensor: t.name.clone(), ty: t.ty.name.to_string() });
        }
        // parse_header checked every tensor's range against the file.
        let raw = &data[t.offset as usize..(t.offset + t.size) as usize];
        Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
    };
    let mut entries = Vec::with_capacity(pairs.len());
    for (name, (sums_at, counts_at)) in pairs {
        let (Some(sums_at), Some(counts_at)) = (sums_at, counts_at) else {
            let missing = if sums_at.is_none() { ".in_sum2" } else { ".counts" };
            return Err(ImatrixError::Unpaired { name, missing }.into());
        };
        let sums = f32s(sums_at)?;
        // std::lround: half away from zero (f32 → f64 is exact).
        let counts: Vec<i64> = f32s(counts_at)?.iter().map(|&c| (c as f64).round() as i64).collect();
        if counts.is_empty() || sums.len() % counts.len() != 0 {
            return Err(ImatrixError::BadShape { name, sums: sums.len() as u64, counts: counts.len() as u64 }.into());
        }
        entries.push(ImatrixEntry::from_sums(name, sums, counts));
    }
    Ok(Imatrix { format: ImatrixFormat::Gguf, entries, datasets, chunk_count, chunk_size })
}

/// A little-endian cursor over a legacy file.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8], ImatrixError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| ImatrixError::Truncated { what: what() })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn i32(&mut self, what: &dyn Fn() -> String) -> Result<i32, ImatrixError> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
}

fn parse_legacy(bytes: &[u8]) -> Result<Imatrix, ImatrixError> {
    let mut r = Cursor { bytes, at: 0 };
    let n_entries = r.i32(&|| "the entry count".into())?;
    if n_entries < 1 {
        return Err(ImatrixError::BadCount { what: "the entry count (no data in the file)".into(), value: n_entries as i64 });
    }
    let mut map: std::collections::BTreeMap<String, ImatrixEntry> = Default::default();
    for i in 1..=n_entries {
        let len = r.i32(&|| format!("entry {i}'s name length"))?;
        if len < 0 {
            return Err(ImatrixError::BadCount { what: format!("entry {i}'s name length"), value: len as i64 });
        }
        let raw = r.take(len as usize, &|| format!("entry {i}'s name"))?;
        let name = String::from_utf8_lossy(raw.split(|&b| b == 0).next().unwrap_or(raw)).into_owned();
        let ncall = r.i32(&|| format!("the call count of '{name}'"))?;
        let nval = r.i32(&|| format!("the value count of '{name}'"))?;
        if nval < 1 {
            return Err(ImatrixError::BadCount { what: format!("the value count of '{name}'"), value: nval as i64 });
        }
        let raw = r.take(nval as usize * 4, &|| format!("the {nval} values of '{name}'"))?;
        let sums: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        // load_imatrix: sums / ncall (int64 → float) when ncall > 0, else as stored.
        let values = if ncall > 0 { sums.iter().map(|&s| s / ncall as i64 as f32).collect() } else { sums.clone() };
        map.insert(name.clone(), ImatrixEntry { name, sums, counts: vec![ncall as i64], values });
    }
    let (mut chunk_count, mut datasets) = (0, Vec::new());
    if r.at < bytes.len() {
        if let Ok(n) = r.i32(&String::new) {
            chunk_count = n;
            if let Ok(len) = r.i32(&String::new) {
                if len > 0 {
                    if let Ok(raw) = r.take(len as usize, &String::new) {
                        datasets.push(String::from_utf8_lossy(raw.split(|&b| b == 0).next().unwrap_or(raw)).into_owned());
                    }
                }
            }
        }
    }
    Ok(Imatrix { format: ImatrixFormat::Legacy, entries: map.into_values().collect(), datasets, chunk_count, chunk_size: 0 })
}
