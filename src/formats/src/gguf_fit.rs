//! "Fit a size": given a target file size (or bits per weight), the ggml type of each tensor of
//! a GGUF model that minimises the model's total (importance-weighted) squared error within it.
//! Beyond llama.cpp, whose mixes (`gguf_mix`) are fixed rules; the result is written by the same
//! writer as a mix with one `--tensor-type` override per tensor, so llama.cpp loads it as it loads
//! any `llama-quantize --tensor-type` file (`src/formats/tests/gguf_fit.rs` reads it back;
//! `scripts/fixtures/check_gguf_fit.py` runs llama.cpp on one).
//!
//! Two steps. [`Measure`] quantizes every tensor with every type the writer can give it (whole
//! blocks per row; tensors llama.cpp keeps as stored have one choice) a chunk at a time, and
//! keeps each candidate's exact bytes and error — the slow part, stepped so the page shows
//! progress and can stop it. [`solve`] then picks one candidate per tensor: a multiple-choice
//! knapsack, solved by the Lagrangian / convex-hull greedy method (see [`solve`]). The same
//! table gives every named mix's error ([`FitTable::assignment_of`]), so the page and the CLI
//! can set the fit beside them.

use crate::error::{Error, Result};
use crate::gguf_mix::{self, FileType, MixImatrix, MixOptions};
use crate::gguf_writer::{self, padded, OutType, Plan, WeightedQuantizer};
use crate::lazy::LazyFile;

/// Values measured per step (whole rows): each is quantized in every candidate type, so a step
/// is ~20 quantizations of this many values — short enough for the page's Cancel to answer.
pub const MEASURE_CHUNK: u64 = 1 << 18;

/// One type a tensor can be written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub ty: OutType,
    /// Bytes in the file, padding to the next tensor included.
    pub bytes: u64,
    /// What the fit minimises: Σ (x − x̂)², or with importance weights `n · Σ w (x − x̂)² / Σ w`
    /// (the weights scaled to mean 1 within the tensor, so a tensor the imatrix has no entry for
    /// is on the same scale as one it has).
    pub error: f64,
    /// Σ (x − x̂)² over the finite values, unweighted (for SQNR).
    pub sse: f64,
}

/// One tensor of the model and the types it can be written in (sorted by bytes, then by the
/// writer's order of types).
#[derive(Debug, Clone, PartialEq)]
pub struct FitTensor {
    pub name: String,
    /// Index in the source file's tensor list.
    pub source: usize,
    pub elements: u64,
    /// Σ x² over the finite values.
    pub signal: f64,
    /// Measured with importance weights (the imatrix has an entry for it).
    pub weighted: bool,
    /// Why it has one candidate only (kept as stored), if it does.
    pub kept: Option<String>,
    pub candidates: Vec<Candidate>,
}

/// Every tensor's candidates, in the file's order, and the header's size.
#[derive(Debug, Clone, PartialEq)]
pub struct FitTable {
    pub tensors: Vec<FitTensor>,
    /// Bytes before the first tensor (the same whatever the types: a type is a u32).
    pub header_bytes: u64,
    /// An importance matrix weighted the errors.
    pub imatrix: bool,
}

/// One type per tensor: an index into each [`FitTensor::candidates`].
pub type Assignment = Vec<usize>;

/// An assignment's totals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Totals {
    /// The whole file.
    pub bytes: u64,
    /// Σ of the candidates' [`Candidate::error`].
    pub error: f64,
    /// Σ (x − x̂)² over every weight.
    pub sse: f64,
    /// Σ x² over every weight.
    pub signal: f64,
}

impl Totals {
    /// Signal-to-quantization-noise ratio over every weight, in dB (`None` for an exact file).
    pub fn sqnr_db(&self) -> Option<f64> {
        (self.sse > 0.0).then(|| 10.0 * (self.signal / self.sse).log10())
    }
}

impl FitTable {
    /// Every weight in the file.
    pub fn elements(&self) -> u64 {
        self.tensors.iter().map(|t| t.elements).sum()
    }

    /// The totals of `choice`.
    pub fn totals(&self, choice: &[usize]) -> Totals {
        let mut t = Totals { bytes: self.header_bytes, error: 0.0, sse: 0.0, signal: 0.0 };
        for (tensor, &k) in self.tensors.iter().zip(choice) {
            let c = &tensor.candidates[k];
            t.bytes += c.bytes;
            t.error += c.error;
            t.sse += c.sse;
            t.signal += tensor.signal;
        }
        t
    }

    /// The smallest and the largest file these candidates make.
    pub fn size_range(&self) -> (u64, u64) {
        let sum = |pick: fn(&FitTensor) -> u64| self.header_bytes + self.tensors.iter().map(pick).sum::<u64>();
        (sum(|t| t.candidates.iter().map(|c| c.bytes).min().unwrap_or(0)), sum(|t| t.candidates.iter().map(|c| c.bytes).max().unwrap_or(0)))
    }

    /// The candidates a planned file (a named mix's [`Plan`]) uses, or `None` if it uses a type
    /// that is not a candidate (a tensor kept in another type).
    pub fn assignment_of(&self, plan: &Plan) -> Option<Assignment> {
        if plan.tensors.len() != self.tensors.len() {
            return None;
        }
        self.tensors
            .iter()
            .zip(&plan.tensors)
            .map(|(t, p)| if t.name == p.name { t.candidates.iter().position(|c| c.ty == p.ty) } else { None })
            .collect()
    }
}

/// A target size as a person gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Bits per weight of the whole file (its bytes · 8 / its weights, as the preview shows it).
    Bpw(f64),
    /// Bytes of the whole file.
    Bytes(u64),
}

impl Target {
    /// `"4.5"` as bits per weight.
    pub fn parse_bpw(text: &str) -> Result<Target> {
        Target::bpw(text.trim().parse::<f64>().unwrap_or(f64::NAN), text)
    }

    /// `value` bits per weight (the page parses the number: parsing floats here would carry
    /// the parser into the page's module), `text` as the person typed it, for the error.
    pub fn bpw(value: f64, text: &str) -> Result<Target> {
        if value.is_finite() && value > 0.0 {
            Ok(Target::Bpw(value))
        } else {
            Err(Error::invalid(format!("'{text}' is not a number of bits per weight (a positive number, e.g. 4.5)")))
        }
    }

    /// `value` megabytes (10⁶ bytes), as the page's size field gives it.
    pub fn megabytes(value: f64, text: &str) -> Result<Target> {
        let bytes = value * 1e6;
        if bytes.is_finite() && bytes >= 1.0 && bytes < 2f64.powi(63) {
            Ok(Target::Bytes(bytes.floor() as u64))
        } else {
            Err(Error::invalid(format!("'{text}' is not a file size (e.g. 12MB, 700KiB, 1.5GB or a number of bytes)")))
        }
    }

    /// `"12MB"`, `"12 MiB"`, `"700KB"`, `"1.5GB"` or a byte count, as a file size (KB, MB, GB
    /// are powers of 1000; KiB, MiB, GiB of 1024).
    pub fn parse_size(text: &str) -> Result<Target> {
        let bad = || Error::invalid(format!("'{text}' is not a file size (e.g. 12MB, 700KiB, 1.5GB or a number of bytes)"));
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let bytes = number.parse::<f64>().map_err(|_| bad())? * scale;
        if !(bytes.is_finite() && bytes >= 1.0 && bytes < 2f64.powi(63)) {
            return Err(bad());
        }
        Ok(Target::Bytes(bytes.floor() as u64))
    }

    /// The file size this target allows for `table`'s model, or why none fits: a target below
    /// the smallest file these tensors can be written in, or above the model in F32 (every
    /// tensor in its largest type: nothing left to choose).
    pub fn bytes_for(self, table: &FitTable) -> Result<u64> {
        let elements = table.elements().max(1);
        let bpw = |bytes: u64| 8.0 * bytes as f64 / elements as f64;
        let (bytes, said) = match self {
            Target::Bpw(b) => (((b * elements as f64) / 8.0).floor() as u64, format!("{b} bits/weight")),
            Target::Bytes(n) => (n, format!("{n} bytes")),
        };
        let (min, max) = table.size_range();
        if bytes < min {
            return Err(Error::invalid(format!(
                "a target of {said} is below the smallest file these tensors can be written in: {min} bytes ({:.3} bits/weight), every tensor in its smallest type",
                bpw(min)
            )));
        }
        if bytes > max {
            return Err(Error::invalid(format!(
                "a target of {said} is above the model in F32 ({max} bytes, {:.3} bits/weight): every tensor fits in its largest type, nothing to choose",
                bpw(max)
            )));
        }
        Ok(bytes)
    }
}

/// The lower convex hull of one tensor's candidates in the (bytes, error) plane, smallest first:
/// the only candidates a Lagrangian solution can pick. A candidate with no fewer bytes and no
/// less error than another is dropped, and so is one on or above the segment between its
/// neighbours (buying it costs more per unit of error removed than going on to the next).
fn hull(cands: &[Candidate]) -> Vec<usize> {
    let mut h: Vec<usize> = Vec::new();
    // `cands` is sorted by bytes: of equal sizes the first with the least error is kept.
    debug_assert!(cands.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    for p in 0..cands.len() {
        if let Some(&last) = h.last() {
            if cands[p].error >= cands[last].error {
                continue;
            }
            if cands[p].bytes == cands[last].bytes {
                h.pop(); // the same size with less error
            }
        }
        while h.len() >= 2 {
            let (a, b) = (&cands[h[h.len() - 2]], &cands[h[h.len() - 1]]);
            let c = &cands[p];
            // b is kept only if the error removed per byte from a to b beats that from b to c.
            let ab = (a.error - b.error) * (c.bytes - b.bytes) as f64;
            let bc = (b.error - c.error) * (b.bytes - a.bytes) as f64;
            if ab <= bc {
                h.pop();
            } else {
                break;
            }
        }
        h.push(p);
    }
    h
}

/// An assignment whose file is at most `target` bytes, of least total error for the size it
/// reaches at each Lagrangian point (below); [`Target::bytes_for`] checks the target first, and
/// [`fit`] closes the gap to the target.
///
/// A multiple-choice knapsack, solved by the Lagrangian relaxation's greedy on the convex hulls
/// (how rate-distortion bit allocation is done): every tensor starts at
/// its smallest candidate; each step along a tensor's hull is an upgrade that buys
/// `Δerror / Δbytes` per byte, and along a convex hull those rates fall, so sorting every
/// upgrade of every tensor by rate keeps each tensor's steps in order (Sinha & Zoltners, "The
/// multiple-choice knapsack problem", Operations Research 27(3), 1979). Taking the upgrades in
/// that order gives, after each one, the minimiser of `error + λ·bytes` for λ equal to that
/// upgrade's rate (every tensor sits where its hull's slope crosses λ) — and a minimiser of the
/// Lagrangian is optimal among all assignments of no more bytes: for any y,
/// `e(y) + λ b(y) ≥ e(x) + λ b(x)`, so `b(y) ≤ b(x)` gives `e(y) ≥ e(x)`. Points off the hull
/// are never such a minimiser. When the next upgrade does not fit, the solution is optimal for
/// its own size; the upgrades after it that still fit are taken too (each only lowers the
/// error), which leaves the result at most one upgrade from the optimum for the target.
/// Deterministic: ties are broken by tensor and step order.
pub fn solve(table: &FitTable, target: u64) -> Result<Assignment> {
    let hulls: Vec<Vec<usize>> = table.tensors.iter().map(|t| hull(&t.candidates)).collect();
    let mut level = vec![0usize; hulls.len()];
    let mut bytes = table.header_bytes;
    for (t, h) in table.tensors.iter().zip(&hulls) {
        bytes += t.candidates[h[0]].bytes;
    }
    if bytes > target {
        return Err(Error::invalid(format!("no assignment fits {target} bytes: the smallest is {bytes}")));
    }
    // The next upgrade is the best rate among every tensor's next hull step (the lowest tensor
    // on a tie): the order a sort of all upgrades by rate gives, since along a hull the rates
    // fall, without a sort's code in the page's module. A tensor whose next step does not fit
    // is blocked; the others go on.
    let rate = |i: usize, s: usize| {
        let t = &table.tensors[i];
        let (a, b) = (&t.candidates[hulls[i][s]], &t.candidates[hulls[i][s + 1]]);
        (a.error - b.error) / (b.bytes - a.bytes) as f64
    };
    let mut blocked = vec![false; hulls.len()];
    loop {
        let mut best: Option<(f64, usize)> = None;
        for i in 0..hulls.len() {
            if !blocked[i] && level[i] + 1 < hulls[i].len() {
                let r = rate(i, level[i]);
                if best.map_or(true, |(b, _)| r > b) {
                    best = Some((r, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        let t = &table.tensors[i];
        let extra = t.candidates[hulls[i][level[i] + 1]].bytes - t.candidates[hulls[i][level[i]]].bytes;
        if bytes + extra <= target {
            bytes += extra;
            level[i] += 1;
        } else {
            blocked[i] = true;
        }
    }
    Ok(level.iter().zip(&hulls).map(|(&l, h)| h[l]).collect())
}

/// Lowers `choice`'s error within `target` bytes, one tensor at a time: the change of type that
/// removes the most error per extra byte (a change that removes error and frees bytes first),
/// while one fits. Each change lowers the error, so it ends.
fn fill(table: &FitTable, choice: &mut [usize], target: u64) {
    let mut bytes = table.totals(choice).bytes;
    loop {
        // (rate, tensor, candidate); an infinite rate for a change that costs no bytes.
        let mut best: Option<(f64, usize, usize)> = None;
        for (i, t) in table.tensors.iter().enumerate() {
            let now = &t.candidates[choice[i]];
            for (k, c) in t.candidates.iter().enumerate() {
                if c.error >= now.error || (c.bytes > now.bytes && bytes + (c.bytes - now.bytes) > target) {
                    continue;
                }
                let rate = if c.bytes <= now.bytes { f64::INFINITY } else { (now.error - c.error) / (c.bytes - now.bytes) as f64 };
                if best.map_or(true, |(r, _, _)| rate > r) {
                    best = Some((rate, i, k));
                }
            }
        }
        let Some((_, i, k)) = best else { return };
        let (now, c) = (&table.tensors[i].candidates[choice[i]], &table.tensors[i].candidates[k]);
        bytes = bytes + c.bytes - now.bytes;
        choice[i] = k;
    }
}

/// A fitted assignment, and the named mix it was grown from if that did better than the greedy.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub choice: Assignment,
    pub from: Option<String>,
}

/// The fit for `target` bytes: [`solve`]'s assignment, then [`fill`]ed. The greedy is optimal
/// for the size it stops at, not always for the target; so each of `rivals` (the named mixes'
/// assignments, [`FitTable::assignment_of`]) that fits is filled too, and the least error wins
/// (the greedy on a tie). The result is never worse than a named mix that fits.
pub fn fit(table: &FitTable, target: u64, rivals: &[(String, Assignment)]) -> Result<Fit> {
    let mut best = Fit { choice: solve(table, target)?, from: None };
    fill(table, &mut best.choice, target);
    let mut best_error = table.totals(&best.choice).error;
    for (name, rival) in rivals {
        if rival.len() != table.tensors.len() || table.totals(rival).bytes > target {
            continue;
        }
        let mut choice = rival.clone();
        fill(table, &mut choice, target);
        let error = table.totals(&choice).error;
        if error < best_error {
            best = Fit { choice, from: Some(name.clone()) };
            best_error = error;
        }
    }
    Ok(best)
}

/// `^NAME$` with every character of `name` the `--tensor-type` patterns read specially escaped.
fn exact_pattern(name: &str) -> String {
    let mut p = String::from("^");
    for c in name.chars() {
        if matches!(c, '.' | '\\' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('$');
    p
}

/// The mix that writes `choice`: llama-quantize's options with one `--tensor-type ^NAME$=TYPE`
/// per converted tensor, on the file type of the quantized type most weights are in (which is
/// only what `general.file_type` says; the overrides decide every type).
pub fn mix_for(table: &FitTable, choice: &[usize], imatrix: Option<MixImatrix>) -> (FileType, MixOptions) {
    let mut by_type: Vec<(u32, u64)> = Vec::new();
    let mut tensor_types = Vec::new();
    for (t, &k) in table.tensors.iter().zip(choice) {
        let ty = t.candidates[k].ty.ggml_type();
        if t.kept.is_none() {
            tensor_types.push((exact_pattern(&t.name), ty));
        }
        match by_type.iter_mut().find(|(id, _)| *id == ty) {
            Some((_, n)) => *n += t.elements,
            None => by_type.push((ty, t.elements)),
        }
    }
    let quantized_ftype = |ty: u32| {
        FileType::ALL.into_iter().find(|f| f.default_type() == ty && !matches!(f, FileType::F32 | FileType::F16 | FileType::Bf16))
    };
    // The most weights (then the lower type id) among the types a quantized file type has.
    let ftype = by_type
        .iter()
        .filter_map(|&(ty, n)| Some((n, std::cmp::Reverse(ty), quantized_ftype(ty)?)))
        .max_by_key(|&(n, ty, _)| (n, ty))
        .map_or(FileType::Q8_0, |(_, _, f)| f);
    (ftype, MixOptions { tensor_types, imatrix, ..MixOptions::default() })
}

/// The plan of the fitted file, checked against the table (the same types and size).
pub fn plan_fit(file: &LazyFile, table: &FitTable, choice: &[usize], imatrix: Option<MixImatrix>) -> Result<(FileType, MixOptions, Plan)> {
    let (ftype, options) = mix_for(table, choice, imatrix);
    let plan = gguf_writer::plan_mix(file, ftype, &options)?;
    let want = table.totals(choice).bytes;
    let types_agree = plan.tensors.iter().zip(table.tensors.iter().zip(choice)).all(|(p, (t, &k))| p.ty == t.candidates[k].ty);
    if plan.len != want || !types_agree {
        return Err(Error::invalid(format!("the fitted plan ({} bytes) does not match its table ({want} bytes)", plan.len)));
    }
    Ok((ftype, options, plan))
}

/// Running sums of one candidate over a tensor.
#[derive(Debug, Clone, Default)]
struct Sums {
    sse: f64,
    /// Σ w (x − x̂)².
    weighted: f64,
}

/// The candidate table being measured, a chunk of one tensor at a time.
pub struct Measure {
    table: FitTable,
    /// The tensor being measured (index into `table.tensors`) and its next value.
    tensor: usize,
    next: u64,
    sums: Vec<Sums>,
    /// Σ w over the tensor's finite values so far.
    weight_sum: f64,
    /// The tensor's importance weights (experts one after another), if the imatrix has them.
    weights: Option<Vec<f32>>,
    imatrix: Option<MixImatrix>,
    quantize: WeightedQuantizer,
    /// Values measured so far, over all tensors.
    pub done: u64,
    pub total: u64,
}

impl Measure {
    /// Lists every tensor's candidates (nothing quantized yet). `quantize` quantizes with
    /// importance weights ([`quantscope_core::schemes::quantize_with_importance`]), as the
    /// mixes do; errors as [`gguf_writer::plan_mix`] refuses the file.
    pub fn new(file: &LazyFile, imatrix: Option<MixImatrix>, quantize: WeightedQuantizer) -> Result<Measure> {
        let facts = gguf_mix::ModelFacts::from_kvs(&file.gguf_kvs)?;
        let sources = gguf_writer::source_tensors(file)?;
        let names: Vec<&str> = sources.iter().map(|t| t.name.as_str()).collect();
        let options = MixOptions::default();
        let mut tensors = Vec::with_capacity(sources.len());
        for k in gguf_mix::file_order(&names) {
            let src = &sources[k];
            let elements: u64 = src.shape.iter().product();
            let stored = gguf_mix::type_name(src.ggml_type);
            let float = matches!(src.ggml_type, gguf_mix::ty::F32 | gguf_mix::ty::F16 | gguf_mix::ty::BF16);
            let kept = if !gguf_mix::allows_quantization_of(src, &facts.arch, &options) {
                Some("kept as stored (llama.cpp does not quantize it)".to_string())
            } else if !float {
                Some(format!("kept as stored: already {stored} (requantizing is disabled)"))
            } else {
                None
            };
            if kept.is_none() && src.name.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(Error::invalid(format!(
                    "tensor '{}' has capitals in its name; a per-tensor type is a --tensor-type pattern, which llama-quantize lowercases",
                    src.name
                )));
            }
            let weighted = match (&imatrix, &kept) {
                (Some(m), None) => gguf_writer::imatrix_entry(m, src)?.is_some(),
                _ => false,
            };
            let n_per_row = src.ne()[0];
            let types: Vec<OutType> = match &kept {
                Some(_) => vec![OutType::from_id(&stored).ok_or_else(|| {
                    Error::invalid(format!("tensor '{}' is stored as {stored}, which quantscope cannot write", src.name))
                })?],
                // Every type a mix can write that this build quantizes, in whole blocks per row;
                // the ones llama.cpp writes only with an importance matrix (IQ1–IQ3_XXS,
                // `tensor_requires_imatrix`, and core's `requires_importance`) only for a tensor the
                // imatrix has an entry for.
                None => OutType::ALL
                    .into_iter()
                    .chain(OutType::MIX_ONLY.into_iter().filter(|t| t.built()))
                    .filter(|t| n_per_row % t.block() == 0)
                    .filter(|t| {
                        weighted
                            || !(quantscope_core::schemes::requires_importance(t.id())
                                || gguf_mix::requires_imatrix(&src.name, t.ggml_type(), FileType::Q8_0))
                    })
                    .collect(),
            };
            let mut candidates: Vec<Candidate> = types
                .into_iter()
                .map(|ty| {
                    let size = ty.size_of(elements).ok_or_else(|| Error::invalid(format!("tensor '{}' is too large", src.name)))?;
                    Ok(Candidate { ty, bytes: padded(size), error: 0.0, sse: 0.0 })
                })
                .collect::<Result<_>>()?;
            // By size; equal sizes keep the writer's order of types (an insertion sort: a few
            // candidates, and no sort's code in the page's module).
            for k in 1..candidates.len() {
                let mut j = k;
                while j > 0 && candidates[j - 1].bytes > candidates[j].bytes {
                    candidates.swap(j - 1, j);
                    j -= 1;
                }
            }
            tensors.push(FitTensor { name: src.name.clone(), source: k, elements, signal: 0.0, weighted, kept, candidates });
        }
        // The header: a plan of every tensor in its first candidate (the types do not change it).
        let first: Assignment = vec![0; tensors.len()];
        let mut table = FitTable { tensors, header_bytes: 0, imatrix: imatrix.is_some() };
        let (_, options) = mix_for(&table, &first, imatrix.clone());
        let plan = gguf_writer::plan_mix(file, FileType::Q8_0, &options)?;
        table.header_bytes = plan.header.len() as u64;
        let total = table.elements();
        let mut m =
            Measure { table, tensor: 0, next: 0, sums: Vec::new(), weight_sum: 0.0, weights: None, imatrix, quantize, done: 0, total };
        m.start_tensor()?;
        Ok(m)
    }

    /// The table as listed so far: every candidate's bytes are exact from the start (for
    /// [`Target::bytes_for`] before anything is quantized); the errors fill in as it is measured.
    pub fn candidates(&self) -> &FitTable {
        &self.table
    }

    fn start_tensor(&mut self) -> Result<()> {
        self.next = 0;
        self.weight_sum = 0.0;
        let Some(t) = self.table.tensors.get(self.tensor) else { return Ok(()) };
        self.sums = vec![Sums::default(); t.candidates.len()];
        self.weights = match (&self.imatrix, t.weighted) {
            (Some(m), true) => m.imatrix.get(&t.name).map(|e| e.values.clone()),
            _ => None,
        };
        Ok(())
    }

    /// Measures the next chunk (whole rows of one expert); returns false once every tensor is
    /// measured.
    pub fn step(&mut self, file: &LazyFile) -> Result<bool> {
        let Some(t) = self.table.tensors.get(self.tensor) else { return Ok(false) };
        let lt = file.tensor(t.source)?;
        let n_per_row = (*lt.shape.last().unwrap_or(&1)).max(1);
        let rows_per_expert = if lt.shape.len() >= 2 { lt.shape[lt.shape.len() - 2] } else { 1 }.max(1);
        let row = self.next / n_per_row;
        let (expert, in_expert) = (row / rows_per_expert, row % rows_per_expert);
        let rows = (MEASURE_CHUNK / n_per_row).max(1).min(rows_per_expert - in_expert);
        let values = file.read_values(t.source, self.next, (rows * n_per_row) as usize)?;
        let w = self.weights.as_ref().map(|w| &w[(expert * n_per_row) as usize..][..n_per_row as usize]);
        let t = &mut self.table.tensors[self.tensor];
        for (j, x) in values.iter().enumerate() {
            if x.is_finite() {
                t.signal += (*x as f64) * (*x as f64);
                if let Some(w) = w {
                    self.weight_sum += w[j % n_per_row as usize] as f64;
                }
            }
        }
        if t.kept.is_none() {
            let shape = [values.len() / n_per_row as usize, n_per_row as usize];
            for (c, sums) in t.candidates.iter().zip(&mut self.sums) {
                let Some(id) = c.ty.scheme_id() else { continue }; // F32: exact
                let dequantized = match w {
                    Some(w) if quantscope_core::schemes::takes_importance(id) => (self.quantize)(id, &values, &shape, w)?.dequantized,
                    _ => quantscope_core::schemes::by_id(id)?.quantize(&values, &[values.len()])?.dequantized,
                };
                for (j, (x, q)) in values.iter().zip(&dequantized).enumerate() {
                    if x.is_finite() {
                        let e = *x as f64 - *q as f64;
                        sums.sse += e * e;
                        if let Some(w) = w {
                            sums.weighted += w[j % n_per_row as usize] as f64 * e * e;
                        }
                    }
                }
            }
        }
        self.next += values.len() as u64;
        self.done += values.len() as u64;
        if self.next >= t.elements || values.is_empty() {
            let n = t.elements as f64;
            let weighted = self.weights.is_some() && self.weight_sum > 0.0;
            t.weighted = weighted;
            for (c, s) in t.candidates.iter_mut().zip(&self.sums) {
                c.sse = s.sse;
                // n · the importance-weighted MSE (core::schemes::weighted_mse's Σ w e² / Σ w).
                c.error = if weighted { n * s.weighted / self.weight_sum } else { s.sse };
            }
            self.tensor += 1;
            self.start_tensor()?;
        }
        Ok(self.tensor < self.table.tensors.len())
    }

    /// The table, once [`Measure::step`] has returned false.
    pub fn finish(self) -> Result<FitTable> {
        if self.tensor < self.table.tensors.len() {
            return Err(Error::invalid("the candidate table is not measured yet".into()));
        }
        Ok(self.table)
    }

    /// Measures the whole table (the CLI; the page steps it).
    pub fn run(mut self, file: &LazyFile, mut progress: impl FnMut(u64, u64)) -> Result<FitTable> {
        while self.step(file)? {
            progress(self.done, self.total);
        }
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(bytes: u64, error: f64) -> Candidate {
        Candidate { ty: OutType::F32, bytes, error, sse: error }
    }

    fn table(cands: Vec<Vec<Candidate>>) -> FitTable {
        FitTable {
            tensors: cands
                .into_iter()
                .enumerate()
                .map(|(i, candidates)| FitTensor {
                    name: format!("t{i}"),
                    source: i,
                    elements: 1,
                    signal: 1.0,
                    weighted: false,
                    kept: None,
                    candidates,
                })
                .collect(),
            header_bytes: 0,
            imatrix: false,
        }
    }

    #[test]
    fn the_hull_drops_dominated_and_concave_points() {
        // (10, 100) (20, 40) (30, 35) (40, 0): (30, 35) is above the segment (20, 40)–(40, 0);
        // (25, 50) is dominated by (20, 40).
        let c = vec![cand(10, 100.0), cand(20, 40.0), cand(25, 50.0), cand(30, 35.0), cand(40, 0.0)];
        assert_eq!(hull(&c), vec![0, 1, 4]);
        // Equal sizes: the smaller error.
        assert_eq!(hull(&[cand(10, 5.0), cand(10, 3.0)]), vec![1]);
    }

    /// Every assignment, by brute force: the least error within `target`.
    fn brute(t: &FitTable, target: u64) -> f64 {
        let mut best = f64::INFINITY;
        let n = t.tensors.len();
        let mut idx = vec![0usize; n];
        loop {
            let tot = t.totals(&idx);
            if tot.bytes <= target {
                best = best.min(tot.error);
            }
            let mut i = 0;
            loop {
                if i == n {
                    return best;
                }
                idx[i] += 1;
                if idx[i] < t.tensors[i].candidates.len() {
                    break;
                }
                idx[i] = 0;
                i += 1;
            }
        }
    }

    #[test]
    fn the_greedy_is_optimal_at_its_lagrangian_points_and_never_exceeds_the_target() {
        // Convex error curves (as quantization's are): 2^-bits scaled per tensor.
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..40 {
            let cands: Vec<Vec<Candidate>> = (0..4)
                .map(|_| {
                    let scale = 1.0 + (next() % 100) as f64;
                    let size = 1 + next() % 5;
                    (1..=5).map(|b| cand(b * size * 8, scale * 0.25f64.powi(b as i32))).collect()
                })
                .collect();
            let t = table(cands);
            let (min, max) = t.size_range();
            // The most one hull step removes: the greedy's distance from the optimum is below it.
            let step_gain = t
                .tensors
                .iter()
                .flat_map(|x| {
                    let h = hull(&x.candidates);
                    (1..h.len()).map(move |s| x.candidates[h[s - 1]].error - x.candidates[h[s]].error).collect::<Vec<_>>()
                })
                .fold(0.0, f64::max);
            let mut exact = 0;
            for target in (min..=max).step_by(3) {
                let choice = solve(&t, target).unwrap();
                let got = t.totals(&choice);
                assert!(got.bytes <= target);
                let best = brute(&t, target);
                assert!(got.error >= best - 1e-12 && got.error - best <= step_gain + 1e-12);
                exact += usize::from(got.error <= best + 1e-12);
            }
            assert!(exact > 0);
            // At the largest size every tensor is at its least error: the optimum.
            let all = solve(&t, max).unwrap();
            assert!((t.totals(&all).error - brute(&t, max)).abs() < 1e-12);
        }
    }

    #[test]
    fn targets_parse_and_bad_ones_say_why() {
        assert_eq!(Target::parse_bpw(" 4.5 ").unwrap(), Target::Bpw(4.5));
        assert_eq!(Target::parse_size("12MB").unwrap(), Target::Bytes(12_000_000));
        assert_eq!(Target::parse_size("1.5 MiB").unwrap(), Target::Bytes(1_572_864));
        assert_eq!(Target::parse_size("700kb").unwrap(), Target::Bytes(700_000));
        assert_eq!(Target::parse_size("123456").unwrap(), Target::Bytes(123_456));
        assert_eq!(Target::megabytes(1.5, "1.5").unwrap(), Target::Bytes(1_500_000));
        assert!(Target::megabytes(f64::NAN, "x").unwrap_err().to_string().contains("'x' is not a file size"));
        assert!(Target::bpw(-1.0, "-1").unwrap_err().to_string().contains("'-1' is not a number of bits per weight"));
        for bad in ["", "abc", "-1", "0", "nan", "inf"] {
            assert!(Target::parse_bpw(bad).unwrap_err().to_string().contains("not a number of bits per weight"), "{bad}");
        }
        for bad in ["", "12XB", "MB", "-3MB", "0", "1e400"] {
            assert!(Target::parse_size(bad).unwrap_err().to_string().contains("not a file size"), "{bad}");
        }
        let t = table(vec![vec![cand(32, 1.0), cand(64, 0.0)]]);
        assert!(Target::Bytes(31).bytes_for(&t).unwrap_err().to_string().contains("below the smallest file"));
        assert!(Target::Bytes(65).bytes_for(&t).unwrap_err().to_string().contains("above the model in F32"));
        assert_eq!(Target::Bpw(300.0).bytes_for(&t).unwrap(), 37);
    }

    #[test]
    fn exact_patterns_escape_the_dots() {
        assert_eq!(exact_pattern("blk.0.attn_q.weight"), r"^blk\.0\.attn_q\.weight$");
    }
}
