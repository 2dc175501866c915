//! The scheme library: every quantization scheme behind one trait, looked up by id.
//!
//! A scheme turns f32 values into packed bytes in its documented layout and back. Bits per
//! weight are measured from the packed bytes, so scale and zero-point overhead is counted.

pub mod bnb;
pub mod float;
pub mod ggml;
pub mod ggml_extra;
pub mod importance;
mod importance_rules;
pub mod int;
#[cfg(feature = "iq-grids")]
pub mod iquants;
/// Without the `iq-grids` feature the grid family is empty (see src/core/Cargo.toml).
#[cfg(not(feature = "iq-grids"))]
mod iquants {
    pub fn ids() -> Vec<String> {
        Vec::new()
    }
    pub fn by_id(_: &str) -> Option<Box<dyn super::Scheme>> {
        None
    }
    pub fn packed_len(_: &str, _: &[usize]) -> Option<crate::error::Result<u64>> {
        None
    }
}
pub mod kmeans;
pub mod kquants;

use crate::error::{Error, Result};
use crate::stats::metrics::Accumulator;
#[cfg(feature = "fast-kernels")]
use core::mem::MaybeUninit;
pub use importance::{quantize_with_importance, requires_importance, takes_importance, weighted_mse, REQUIRES_IMPORTANCE_IDS};
pub(crate) use importance_rules::check_importance;
use serde::Serialize;

/// One named parameter of a quantized tensor, for display (e.g. `scale`, `zero_point`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: &'static str,
    /// Per group (one entry for per-tensor schemes); the page shows the first few.
    pub values: Vec<f64>,
}

/// The result of quantizing a tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// The tensor in the scheme's packed layout, byte for byte.
    pub packed: Vec<u8>,
    /// `dequantize(packed)`, kept because every statistic needs it.
    pub dequantized: Vec<f32>,
    pub params: Vec<Param>,
    /// Finite inputs that fell outside the representable range and were clamped.
    pub clipped: usize,
    /// Distinct quantization levels (integer codes) that occur, and how many exist.
    pub levels_used: usize,
    pub levels_total: usize,
}

/// How many distinct codes `codes` holds (each below `space`), for [`Quantized::levels_used`].
/// The scan stops once all `writable` codes the scheme can write have been seen — on real
/// weights within the first few hundred values — so counting costs almost nothing where every
/// code occurs, instead of a second pass over the tensor.
pub(crate) fn distinct_codes(codes: impl IntoIterator<Item = usize>, space: usize, writable: usize) -> usize {
    let mut seen = vec![false; space];
    let mut used = 0;
    for c in codes {
        if !seen[c] {
            seen[c] = true;
            used += 1;
            if used == writable {
                break;
            }
        }
    }
    used
}

/// [`distinct_codes`] of byte codes (`space` 256), for codes that hold only writable values:
/// the set is filled a chunk at a time with one store per byte (no branch), and the count is
/// taken between chunks, so the scan stops within one chunk of where `distinct_codes` would.
/// Where some writable code never occurs — the far tail of a per-tensor INT8 range, say — the
/// whole tensor is read, and this is several times faster than the branch per byte.
pub(crate) fn distinct_bytes(codes: &[u8], writable: usize) -> usize {
    let mut levels = ByteLevels::new(writable);
    for chunk in codes.chunks(1 << 14) {
        if levels.add(chunk) {
            break;
        }
    }
    levels.used()
}

/// [`distinct_bytes`] fed a chunk at a time, so that a quantizer counts each chunk's codes
/// while they are in cache instead of reading the whole code tensor again afterwards.
pub(crate) struct ByteLevels {
    seen: [bool; 256],
    used: usize,
    writable: usize,
    /// SIMD128: the codes around the first one that are all seen, `start ..= start + width`
    /// (mod 256: signed codes around 0 wrap), grown as codes are seen; a step of sixteen codes
    /// all inside it cannot add a code and is skipped with three operations, instead of sixteen
    /// stores. On a tensor's codes nearly every step is inside once the dense middle is seen
    /// (`fast-kernels`: the modules held to their sizes keep the store per byte). `None` until
    /// the first code.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
    run: Option<(u8, u8)>,
}

impl ByteLevels {
    pub(crate) fn new(writable: usize) -> Self {
        ByteLevels {
            seen: [false; 256],
            used: 0,
            writable,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
            run: None,
        }
    }

    /// The distinct codes seen so far (every one once all writable codes are seen).
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Adds `codes` to the set; true once every writable code has been seen (later calls
    /// then read nothing). Out of line: linked once for its callers.
    #[inline(never)]
    pub(crate) fn add(&mut self, codes: &[u8]) -> bool {
        if self.used >= self.writable {
            return true;
        }
        let seen = &mut self.seen;
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
        let codes = {
            use core::arch::wasm32::*;
            let (mut start, mut width) = match (self.run, codes.first()) {
                (Some(run), _) => run,
                (None, Some(&c)) => {
                    seen[c as usize] = true;
                    (c, 0)
                }
                (None, None) => return false,
            };
            let steps = codes.chunks_exact(16);
            let rest = steps.remainder();
            for step in steps {
                let v = crate::simd128_io::load16(step);
                if v128_any_true(u8x16_gt(i8x16_sub(v, u8x16_splat(start)), u8x16_splat(width))) {
                    for &c in step {
                        seen[c as usize] = true;
                    }
                    while width < 255 && seen[start.wrapping_add(width).wrapping_add(1) as usize] {
                        width += 1;
                    }
                    while width < 255 && seen[start.wrapping_sub(1) as usize] {
                        (start, width) = (start.wrapping_sub(1), width + 1);
                    }
                }
            }
            self.run = Some((start, width));
            rest
        };
        for &c in codes {
            seen[c as usize] = true;
        }
        self.used = seen.iter().filter(|&&s| s).count();
        self.used >= self.writable
    }
}

/// Where a quantizer puts its decoding, through [`fill`]: kept whole ([`Kept`], what
/// [`Scheme::quantize`] returns for the histogram or an export), or measured against the original
/// a chunk at a time and dropped ([`Measured`]: the compare's metrics, no tensor-sized copy). A
/// trait object, so a module that never measures links no measuring code.
pub trait Decoding {
    /// Elements per call of the decoder, for `padded` elements decoded in `block`s.
    fn chunk(&mut self, padded: usize, block: usize) -> usize;
    /// Where the decoder writes elements `start .. start + len`.
    fn buffer(&mut self, start: usize, len: usize) -> &mut [f32];
    /// The buffer holds the decoding of elements `start ..`; `original` is their originals (the
    /// real ones: a padded last block's padding is not among them).
    fn decoded(&mut self, original: &[f32], start: usize);
    /// `fast-kernels`, for [`fill_uninit`]: where the decoding is kept, the memory of elements
    /// `start .. start + len` as it is (reserved, not zero-filled first); `None` (the default:
    /// a measured decoding reuses one initialized chunk) to take [`Self::buffer`].
    #[cfg(feature = "fast-kernels")]
    fn spare(&mut self, start: usize, len: usize) -> Option<&mut [MaybeUninit<f32>]> {
        let _ = (start, len);
        None
    }
    /// `fast-kernels`: the first `written` elements of the last [`Self::spare`] hold values.
    ///
    /// # Safety
    /// They must all have been written.
    #[cfg(feature = "fast-kernels")]
    unsafe fn spare_written(&mut self, start: usize, written: usize) {
        let _ = (start, written);
    }
}

/// Elements per call of the decoder (whole blocks, at least one): about 16 KB, in L1 beside
/// its originals.
pub(crate) fn chunk_elements(block: usize) -> usize {
    4096usize.div_ceil(block) * block
}

/// The whole decoding (`.0`). With `fast-kernels` the decoder writes a chunk at a time straight
/// into the vector, reserved once, which grows by one zero-filled chunk just before the decoder
/// overwrites it: the zeros and the values meet in cache and the tensor-sized copy goes to
/// memory once. Without it (the modules held to their sizes) the decoder writes the whole copy
/// in one call, after the whole vector is zero-filled (a `&mut [f32]` must be initialized): an
/// extra pass over memory. (Before, a reused chunk buffer was appended to the vector: one more
/// buffer and a copy out of it. Interleaved A/B in Chromium, 16M values: INT8, FP8 and FP16
/// quantize within ±6% of it — this machine's noise — so this form stays for being simpler.)
/// The INT and float quantizers skip the zero fill: through [`fill_uninit`] they write the
/// chunk into the vector's reserved memory as it is ([`Decoding::spare`]); that zero fill, a
/// pass of its own, cost them 13–26 % of their time (session 26).
#[derive(Debug, Default)]
pub struct Kept(pub Vec<f32>);

impl Decoding for Kept {
    fn chunk(&mut self, padded: usize, block: usize) -> usize {
        #[cfg(feature = "fast-kernels")]
        {
            self.0.reserve_exact(padded);
            chunk_elements(block)
        }
        #[cfg(not(feature = "fast-kernels"))]
        {
            let _ = block;
            padded
        }
    }
    fn buffer(&mut self, start: usize, len: usize) -> &mut [f32] {
        self.0.resize(start + len, 0.0);
        &mut self.0[start..]
    }
    fn decoded(&mut self, original: &[f32], start: usize) {
        self.0.truncate(start + original.len());
    }
    #[cfg(feature = "fast-kernels")]
    fn spare(&mut self, start: usize, len: usize) -> Option<&mut [MaybeUninit<f32>]> {
        if self.0.len() != start {
            return None;
        }
        self.0.reserve(len);
        Some(&mut self.0.spare_capacity_mut()[..len])
    }
    #[cfg(feature = "fast-kernels")]
    unsafe fn spare_written(&mut self, start: usize, written: usize) {
        assert!(self.0.len() == start && self.0.capacity() >= start + written);
        // SAFETY: the caller's: elements `start .. start + written` were written by the decoder.
        unsafe { self.0.set_len(start + written) }
    }
}

/// The decoding's error sums, a chunk of whole blocks (about 4096 elements: 16 KB, in L1 beside
/// its originals) at a time; the chunk is reused. The sums run in the order [`error_metrics`]
/// runs them over a whole copy (see [`Accumulator`]), so the metrics are the same bit for bit.
///
/// [`error_metrics`]: crate::stats::metrics::error_metrics
#[derive(Default)]
pub struct Measured {
    pub sums: Accumulator,
    chunk: Vec<f32>,
}

impl Decoding for Measured {
    fn chunk(&mut self, _padded: usize, block: usize) -> usize {
        chunk_elements(block)
    }
    fn buffer(&mut self, _start: usize, len: usize) -> &mut [f32] {
        self.chunk.resize(len, 0.0);
        &mut self.chunk
    }
    fn decoded(&mut self, original: &[f32], _start: usize) {
        self.sums.push(original, &self.chunk[..original.len()]);
    }
}

/// Runs `decode(start, out)` over `original` into `decoding`: `out` takes the decoding of the
/// elements from `start` (a multiple of `block`) in whole blocks, a last partial block padded
/// (what the decoder writes past the end is dropped).
/// Not generic, so the loop is linked once and not once per family.
pub(crate) fn fill(decoding: &mut dyn Decoding, original: &[f32], block: usize, decode: &mut dyn FnMut(usize, &mut [f32])) {
    let n = original.len();
    let padded = n.div_ceil(block) * block;
    let chunk = decoding.chunk(padded, block);
    let mut start = 0;
    while start < padded {
        let len = chunk.min(padded - start);
        decode(start, decoding.buffer(start, len));
        decoding.decoded(&original[start..n.min(start + len)], start);
        start += len;
    }
}

/// [`fill`] for a decoder that writes every real element of its chunk (those below
/// `original.len()`; what it writes past them is dropped) through `&mut [MaybeUninit<f32>]`: a
/// kept decoding gives it the vector's reserved memory as it is, with no zero fill first — the
/// fill was a pass of its own over the tensor-sized copy, serial with the decoder, where the
/// decoder's stores overlap that memory's latency with its arithmetic (session 26: INT8 and
/// BF16 quantize 15–26 % faster without it in Node, 16M values by CPU time). A measured
/// decoding gives its initialized chunk.
///
/// # Safety
/// `decode(start, out)` must write every element of `out` below `original.len() − start`.
#[cfg(feature = "fast-kernels")]
pub(crate) unsafe fn fill_uninit(
    decoding: &mut dyn Decoding,
    original: &[f32],
    block: usize,
    decode: &mut dyn FnMut(usize, &mut [MaybeUninit<f32>]),
) {
    let n = original.len();
    let padded = n.div_ceil(block) * block;
    let chunk = decoding.chunk(padded, block);
    let mut start = 0;
    while start < padded {
        let len = chunk.min(padded - start);
        let real = n.min(start + len) - start;
        match decoding.spare(start, len) {
            Some(out) => {
                decode(start, out);
                // SAFETY: the caller's: `decode` wrote the `real` elements.
                unsafe { decoding.spare_written(start, real) };
            }
            None => decode(start, as_uninit(decoding.buffer(start, len))),
        }
        decoding.decoded(&original[start..start + real], start);
        start += len;
    }
}

/// An initialized buffer as one that a decoder writes through `MaybeUninit` (`fast-kernels`):
/// sound because the decoders write only values, never an uninitialized one.
#[cfg(feature = "fast-kernels")]
pub(crate) fn as_uninit(b: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: the same layout; nothing uninitialized is ever written through the result.
    unsafe { &mut *(b as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// `out` with every element set to 0 first, as an initialized buffer (`fast-kernels`: where a
/// decoder that writes through `MaybeUninit` calls a kernel that takes `&mut [f32]`).
#[cfg(feature = "fast-kernels")]
pub(crate) fn zeroed(out: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    out.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was just written.
    unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// The decoding of `n` values, written once: `decode(start, out)` fills `out` with the values
/// from `start` (a multiple of `block`) on, in whole blocks (the last one padded: what is
/// written past `n` is dropped), a chunk at a time straight into the result, which grows by a
/// zero-filled chunk in cache just before it is overwritten — as [`Kept`] does for a quantizer,
/// instead of a zero-filled tensor-sized vector that is then overwritten (`fast-kernels`; the
/// modules held to their sizes keep the one-call decode).
#[cfg(feature = "fast-kernels")]
pub(crate) fn decode_chunked(n: usize, block: usize, decode: &mut dyn FnMut(usize, &mut [f32])) -> Vec<f32> {
    let mut out = Kept(Vec::new());
    let padded = n.div_ceil(block) * block;
    let chunk = out.chunk(padded, block);
    let mut start = 0;
    while start < n {
        let len = chunk.min(padded - start);
        decode(start, out.buffer(start, len));
        out.0.truncate(n.min(start + len));
        start += len;
    }
    out.0
}

/// Runs `quantize` with a [`Kept`] decoding and returns it in [`Quantized::dequantized`].
pub(crate) fn keep(quantize: &mut dyn FnMut(&mut dyn Decoding) -> Result<Quantized>) -> Result<Quantized> {
    let mut kept = Kept::default();
    let q = quantize(&mut kept)?;
    Ok(Quantized { dequantized: kept.0, ..q })
}

/// A quantization scheme.
pub trait Scheme: Send + Sync {
    /// The lowercase id used by the CLI, the page and the JSON, e.g. `int8_sym`.
    fn id(&self) -> &str;
    /// One line saying what the scheme does, for the page and `--help`.
    fn description(&self) -> String;
    /// Quantizes `values` (C order, of `shape`) to packed bytes and back.
    fn quantize(&self, values: &[f32], shape: &[usize]) -> Result<Quantized> {
        keep(&mut |out| self.quantize_to(values, shape, out))
    }
    /// [`Self::quantize`] with the decoding given to `out` (kept or measured); the returned
    /// [`Quantized::dequantized`] is empty.
    fn quantize_to(&self, values: &[f32], shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized>;
    /// Decodes packed bytes of a tensor of `shape`.
    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>>;
}

/// Every scheme id, in the order the page lists them. Each family adds its ids here.
pub fn all_ids() -> Vec<String> {
    let mut ids = Vec::new();
    ids.extend(float::ids());
    ids.extend(int::ids());
    ids.extend(ggml::ids());
    ids.extend(kquants::ids());
    ids.extend(ggml_extra::ids());
    ids.extend(iquants::ids());
    ids.extend(bnb::ids());
    ids.extend(kmeans::ids());
    ids
}

/// Every listed scheme without a calibration suffix: the Inspect view's default comparison and
/// the bench's list (a calibrated variant runs the same quantizer after a range search, so its
/// extra cost is the search).
pub fn base_ids() -> Vec<String> {
    all_ids().into_iter().filter(|id| !is_calibrated(id)).collect()
}

/// True for a listed id with a calibration suffix (`_p99.9`, `_p99.99`, `_mse`, `_entropy`).
pub fn is_calibrated(id: &str) -> bool {
    id.ends_with("_mse") || id.ends_with("_entropy") || id.contains("_p9")
}

/// One family of schemes, for grouping a picker (the page's `<optgroup>`s).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Family {
    pub label: &'static str,
    pub ids: Vec<String>,
}

/// Every listed id, grouped by family in [`all_ids`] order; the integer family is two groups,
/// min-max ranges and calibrated ranges.
pub fn families() -> Vec<Family> {
    let (calibrated, min_max): (Vec<String>, Vec<String>) = int::ids().into_iter().partition(|id| is_calibrated(id));
    let all = vec![
        Family { label: "Float casts (no scale)", ids: float::ids() },
        Family { label: "Integer, min-max range (ONNX Runtime)", ids: min_max },
        Family { label: "Integer, calibrated range (percentile, MSE, entropy)", ids: calibrated },
        Family { label: "GGML blocks of 32 (llama.cpp)", ids: ggml::ids() },
        Family { label: "GGML k-quants, super-blocks of 256 (llama.cpp)", ids: kquants::ids() },
        Family { label: "GGML IQ4, ternary, FP4 and 1-2 bit types (llama.cpp)", ids: ggml_extra::ids() },
        Family { label: "GGML IQ1-IQ3 grid types, super-blocks of 256 (llama.cpp)", ids: iquants::ids() },
        Family { label: "bitsandbytes 4-bit", ids: bnb::ids() },
        Family { label: "Weight sharing, k-means codebooks (Deep Compression, coremltools)", ids: kmeans::ids() },
    ];
    // The grid family is empty without the `iq-grids` feature.
    all.into_iter().filter(|f| !f.ids.is_empty()).collect()
}

/// The bytes a tensor of `shape` packs into under `id`, from the scheme's documented layout
/// (what the memory panel needs for shapes it never quantizes); equal to
/// `by_id(id)?.quantize(..).packed.len()`. Each family answers for its own ids, as for `by_id`.
/// A free function rather than a `Scheme` method: a trait method would be linked into every
/// module that holds a `dyn Scheme`, the Run view's among them, which never asks.
pub fn packed_len(id: &str, shape: &[usize]) -> Result<u64> {
    let found = float::packed_len(id, shape)
        .or_else(|| int::packed_len(id, shape))
        .or_else(|| ggml::packed_len(id, shape))
        .or_else(|| kquants::packed_len(id, shape))
        .or_else(|| ggml_extra::packed_len(id, shape))
        .or_else(|| iquants::packed_len(id, shape))
        .or_else(|| bnb::packed_len(id, shape))
        .or_else(|| kmeans::packed_len(id, shape));
    found.unwrap_or_else(|| Err(Error::UnknownScheme(id.to_string())))
}

/// The element count of `shape`, or an error when it overflows.
pub(crate) fn element_count(shape: &[usize]) -> Result<u64> {
    shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .ok_or_else(|| Error::InvalidArgument(format!("shape {shape:?} has too many elements")))
}

/// The scheme with this id. Each family's `by_id` answers for its own ids.
pub fn by_id(id: &str) -> Result<Box<dyn Scheme>> {
    let found = float::by_id(id)
        .or_else(|| int::by_id(id))
        .or_else(|| ggml::by_id(id))
        .or_else(|| kquants::by_id(id))
        .or_else(|| ggml_extra::by_id(id))
        .or_else(|| iquants::by_id(id))
        .or_else(|| bnb::by_id(id))
        .or_else(|| kmeans::by_id(id));
    found.ok_or_else(|| Error::UnknownScheme(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::{distinct_bytes, distinct_codes};

    #[test]
    fn distinct_codes_stops_only_when_every_writable_code_is_seen() {
        // All 4 writable codes by the 5th value: the rest (code 9 included) is not read.
        assert_eq!(distinct_codes([0, 1, 1, 2, 3, 9, 9], 16, 4), 4);
        // Not all writable: every code counts, to the end.
        assert_eq!(distinct_codes([5, 5, 7, 1, 7, 0], 16, 16), 4);
        assert_eq!(distinct_codes([], 16, 16), 0);
        // The byte version counts the same where the codes are writable ones.
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 200) as u8).collect();
        assert_eq!(distinct_bytes(&bytes, 256), 200);
        assert_eq!(distinct_bytes(&bytes, 200), 200);
        assert_eq!(distinct_bytes(&[], 16), 0);
        assert_eq!(distinct_bytes(&[3, 3, 250], 255), 2);
        // An iterator that would panic past the stop is never read that far.
        assert_eq!(distinct_codes((0..3).chain(std::iter::from_fn(|| panic!("read past the stop"))), 8, 3), 3);
    }
}
