//! The tensors one page worker holds: samples and small-file tensors in memory for good, and
//! tensors of lazily opened files ([`quantscope_formats::lazy`]) decoded when first asked for and
//! kept under a memory budget, the least recently used dropped first. Every tensor has a stable
//! index for the life of the store; closing a file (a cancelled open, or a file dropped again,
//! which replaces it) leaves its indices empty and frees its values, resident ones included.

use quantscope_core::report::TensorReport;
use quantscope_core::stats::summary::{summarize, Summary};
use quantscope_core::tensor::Tensor;
use quantscope_formats::lazy::LazyFile;
use quantscope_formats::{Error, Result};
use std::rc::Rc;

/// Bytes of decoded f32 values the store keeps from lazily opened files by default: room for a
/// few large tensors while a 4 GiB wasm memory still has space for a comparison's copies.
pub const DEFAULT_BUDGET: u64 = 512 << 20;

#[derive(Debug)]
enum Values {
    /// In memory for good (samples, formats read whole).
    Owned(Rc<Tensor>),
    /// Tensor `tensor` of file `file`, decoded while in the cache.
    InFile { file: usize, tensor: usize, cached: Option<Rc<Tensor>>, last_used: u64 },
    /// Its file was closed.
    Closed,
}

/// One tensor of the store.
#[derive(Debug)]
struct Slot {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    stored_bytes: Option<u64>,
    summary: Option<Summary>,
    values: Values,
    /// The file it came from (resident tensors of a file too), for [`TensorStore::close_file`].
    file: Option<usize>,
}

/// Every loaded tensor, by index.
#[derive(Debug)]
pub struct TensorStore {
    files: Vec<Option<Rc<LazyFile>>>,
    slots: Vec<Slot>,
    budget: u64,
    cached_bytes: u64,
    clock: u64,
}

impl Default for TensorStore {
    fn default() -> Self {
        TensorStore { files: Vec::new(), slots: Vec::new(), budget: DEFAULT_BUDGET, cached_bytes: 0, clock: 0 }
    }
}

impl TensorStore {
    /// An empty store with the [`DEFAULT_BUDGET`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the budget (bytes of f32 values from lazily opened files) and evicts down to it.
    pub fn set_budget(&mut self, bytes: u64) {
        self.budget = bytes;
        self.evict_to(bytes);
    }

    /// Bytes of f32 values cached from lazily opened files now.
    pub fn cached_bytes(&self) -> u64 {
        self.cached_bytes
    }

    /// How many indices have been handed out (closed ones included).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds tensors held in memory; returns their indices.
    pub fn add_owned(&mut self, tensors: Vec<Tensor>) -> Vec<usize> {
        let start = self.slots.len();
        for t in tensors {
            let summary = Some(summarize(&t.data));
            let stored_bytes = quantscope_core::tensor::stored_bits(&t.dtype).map(|b| (b * t.data.len() as f64 / 8.0).ceil() as u64);
            self.slots.push(Slot {
                name: t.name.clone(),
                dtype: t.dtype.clone(),
                shape: t.shape.iter().map(|&d| d as u64).collect(),
                stored_bytes,
                summary,
                values: Values::Owned(Rc::new(t)),
                file: None,
            });
        }
        (start..self.slots.len()).collect()
    }

    /// Adds a file's tensors (none is read yet; resident ones are owned); returns the file's
    /// id and the tensors' indices. Their summaries are unknown until [`Self::set_summary`].
    pub fn add_file(&mut self, file: LazyFile) -> (usize, Vec<usize>) {
        let file = Rc::new(file);
        let id = self.files.len();
        let start = self.slots.len();
        for (i, t) in file.tensors.iter().enumerate() {
            let values = if t.is_resident() {
                Values::Owned(file.materialize(i).expect("resident tensors are in memory"))
            } else {
                Values::InFile { file: id, tensor: i, cached: None, last_used: 0 }
            };
            self.slots.push(Slot {
                name: t.name.clone(),
                dtype: t.dtype.clone(),
                shape: t.shape.clone(),
                stored_bytes: t.stored_bytes(),
                summary: None,
                values,
                file: Some(id),
            });
        }
        self.files.push(Some(file));
        (id, (start..self.slots.len()).collect())
    }

    /// File `id`, if still open.
    pub fn file(&self, id: usize) -> Result<Rc<LazyFile>> {
        self.files.get(id).cloned().flatten().ok_or_else(|| Error::invalid(format!("no open file {id}")))
    }

    /// The file a lazily read tensor came from and its index there (`None` for samples and for
    /// tensors of formats read whole).
    pub fn source_of(&self, index: usize) -> Option<(usize, usize)> {
        match self.slots.get(index)?.values {
            Values::InFile { file, tensor, .. } => Some((file, tensor)),
            _ => None,
        }
    }

    /// Forgets file `id` and its tensors, cached, resident or not (their indices stay taken, and
    /// say they were closed).
    pub fn close_file(&mut self, id: usize) {
        if let Some(f) = self.files.get_mut(id) {
            *f = None;
        }
        let mut freed = 0;
        for slot in self.slots.iter_mut().filter(|s| s.file == Some(id)) {
            if let Values::InFile { cached: Some(t), .. } = &slot.values {
                freed += t.data.len() as u64 * 4;
            }
            slot.values = Values::Closed;
        }
        self.cached_bytes -= freed;
    }

    fn slot(&self, index: usize) -> Result<&Slot> {
        match self.slots.get(index) {
            Some(Slot { values: Values::Closed, name, .. }) => {
                Err(Error::invalid(format!("tensor {index} ('{name}') was closed with its file")))
            }
            Some(s) => Ok(s),
            None => Err(Error::invalid(format!("no tensor at index {index}"))),
        }
    }

    /// Element count of tensor `index`, without reading it.
    pub fn elements(&self, index: usize) -> Result<u64> {
        Ok(self.slot(index)?.shape.iter().product())
    }

    /// Name of tensor `index`.
    pub fn name(&self, index: usize) -> Result<&str> {
        Ok(&self.slot(index)?.name)
    }

    /// Records tensor `index`'s summary (streamed from its file).
    pub fn set_summary(&mut self, index: usize, summary: Summary) -> Result<()> {
        self.slot(index)?;
        self.slots[index].summary = Some(summary);
        Ok(())
    }

    /// The report the page lists, without reading the values (`stats` as recorded).
    pub fn report(&self, index: usize) -> Result<TensorReport> {
        let s = self.slot(index)?;
        let stats = s.summary.clone().ok_or_else(|| Error::invalid(format!("tensor '{}' has no statistics yet", s.name)))?;
        Ok(TensorReport {
            name: s.name.clone(),
            dtype: s.dtype.clone(),
            shape: s.shape.iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect(),
            stored_bytes: s.stored_bytes,
            stats,
        })
    }

    /// Tensor `index`'s values, decoded from its file if they are not cached. Decoding evicts the
    /// least recently used cached tensors to stay within the budget; a tensor larger than the
    /// whole budget is returned without being cached.
    pub fn get(&mut self, index: usize) -> Result<Rc<Tensor>> {
        self.slot(index)?;
        self.clock += 1;
        let clock = self.clock;
        let (file_id, tensor) = match &mut self.slots[index].values {
            Values::Owned(t) => return Ok(Rc::clone(t)),
            Values::InFile { cached: Some(t), last_used, .. } => {
                *last_used = clock;
                return Ok(Rc::clone(t));
            }
            Values::InFile { file, tensor, .. } => (*file, *tensor),
            Values::Closed => unreachable!("slot() refuses closed slots"),
        };
        let file = self.file(file_id)?;
        let bytes = file.tensor(tensor)?.elements().saturating_mul(4);
        // Make room first, so the old values can be freed before the new ones are allocated.
        if bytes <= self.budget {
            self.evict_to(self.budget - bytes);
        }
        let t = file.materialize(tensor)?;
        if bytes <= self.budget {
            if let Values::InFile { cached, last_used, .. } = &mut self.slots[index].values {
                *cached = Some(Rc::clone(&t));
                *last_used = clock;
                self.cached_bytes += bytes;
            }
        }
        Ok(t)
    }

    /// Values `start .. start + count` of tensor `index` (cut at its end), from memory when they
    /// are there, else decoded from its file without caching (see [`LazyFile::read_values`] for
    /// the block alignment a file's chunk needs).
    pub fn read_values(&self, index: usize, start: u64, count: usize) -> Result<Vec<f32>> {
        match &self.slot(index)?.values {
            Values::Owned(t) | Values::InFile { cached: Some(t), .. } => {
                let n = t.data.len();
                let from = usize::try_from(start).unwrap_or(usize::MAX).min(n);
                Ok(t.data[from..from.saturating_add(count).min(n)].to_vec())
            }
            Values::InFile { file, tensor, .. } => self.file(*file)?.read_values(*tensor, start, count),
            Values::Closed => unreachable!("slot() refuses closed slots"),
        }
    }

    /// Drops cached tensors, least recently used first, until at most `target` bytes remain.
    fn evict_to(&mut self, target: u64) {
        while self.cached_bytes > target {
            let oldest = self
                .slots
                .iter_mut()
                .filter_map(|s| match &mut s.values {
                    Values::InFile { cached: c @ Some(_), last_used, .. } => Some((*last_used, c)),
                    _ => None,
                })
                .min_by_key(|(used, _)| *used);
            let Some((_, cached)) = oldest else { break };
            let t = cached.take().expect("filtered on Some");
            self.cached_bytes -= t.data.len() as u64 * 4;
        }
    }

    /// Indices of the cached (decoded) lazily read tensors, for tests and the bench.
    pub fn cached_indices(&self) -> Vec<usize> {
        self.slots.iter().enumerate().filter(|(_, s)| matches!(s.values, Values::InFile { cached: Some(_), .. })).map(|(i, _)| i).collect()
    }
}
