//! Uniform integer quantization (INT8/INT4/INT2), symmetric and asymmetric, per tensor, per
//! channel or per group, with ONNX Runtime's semantics:
//! `onnxruntime/python/tools/quantization/quant_utils.py`, `compute_scale_zp` and
//! `quantize_nparray`. In short, for each group:
//!
//! * the range is widened to include 0: `rmin = min(min, 0)`, `rmax = max(max, 0)`;
//! * symmetric: `[qmin, qmax] = [-(2^(b-1)-1), 2^(b-1)-1]` (restricted, e.g. ±127),
//!   `scale = 2·max(|rmin|, |rmax|) / (qmax − qmin)`, zero point 0;
//! * asymmetric: `[qmin, qmax] = [0, 2^b − 1]`, `scale = (rmax − rmin) / (qmax − qmin)`,
//!   `zero_point = round(qmin − rmin / scale)` with the scale still in f64;
//! * the scale is computed in f64 and rounded once to f32; a scale below f32's smallest normal
//!   becomes 1 with zero point 0 (all-zero groups);
//! * `q = clamp(rint(x / scale) + zero_point, qmin, qmax)` in f32, rint rounding half to even;
//!   dequantized `x̂ = (q − zero_point) · scale` in f32.
//!
//! ORT restricts the symmetric range only for INT8/INT16; its INT4 "symmetric" uses [−8, 7]
//! with scale 2·absmax/15. quantscope restricts every symmetric range ([−7, 7] for INT4,
//! [−1, 1] for INT2) so that symmetric means symmetric; INT2 has no ORT type at all. The
//! fixtures run ORT's own `compute_scale_zp` with these ranges.
//!
//! quantscope's rules where the reference has none: NaN is excluded from the range and encodes
//! as the zero point (x̂ = 0); ±Inf is excluded from the range and saturates to qmax/qmin (ORT would give −128 for
//! −Inf in INT8); a value whose dequantized product exceeds f32::MAX becomes ±Inf, as in f32; an
//! empty tensor has no groups and packs to zero bytes.
//!
//! Calibration: an id may end in a calibration suffix, `_p<P>` (percentile, e.g. `_p99.9`),
//! `_mse` or `_entropy` (see [`crate::stats::calibration`] for the exact definitions). The
//! calibrated range of each group replaces its min/max and goes through the same scale and
//! zero-point computation; values outside it are clamped (and counted in `clipped`). Calibrated
//! schemes also report, per group, `clip_lo` and `clip_hi`: the range the scale was computed
//! from (widened to include 0, mirrored when symmetric). Without a suffix (min-max) nothing
//! changes. Id grammar:
//! `int{8,4,2}_{sym,asym}[_channel[<axis>]|_g{32,64,128}][_p<P>|_mse|_entropy]`.
//!
//! Packed layout (little-endian): the f32 scale of every group, then (asymmetric only) the
//! zero point of every group as one byte, then the codes: INT8 one byte each (i8 two's
//! complement when symmetric, u8 when asymmetric); INT4 two per byte and INT2 four per byte,
//! first element in the lowest bits (ONNX's int4 order), signed codes as two's complement.

pub mod calibration;
// The per-element quantize and dequantize loops: `reference` is their definition, `simd128` must
// equal it bit for bit (src/core/tests/kernels.rs), and `quantize_group`/`dequantize_group` below
// are the one place that picks.
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

use super::{Decoding, Param, Quantized, Scheme};
use crate::error::{Error, Result};
use crate::stats::summary::min_max;
use calibration::Calibration;
pub use reference::GroupMap;

/// How values are grouped to share one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Tensor,
    /// One scale per index along an axis (for weights, axis 0 = output channels).
    Channel {
        axis: usize,
    },
    /// Contiguous groups of this many elements in C order; the last may be shorter.
    Group {
        size: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntScheme {
    id: String,
    pub bits: u32,
    pub symmetric: bool,
    pub granularity: Granularity,
    pub calibration: Calibration,
}

const BITS: [u32; 3] = [8, 4, 2];
const GROUP_SIZES: [usize; 3] = [32, 64, 128];

/// The calibration suffixes [`ids`] lists for per-tensor schemes, and for per-channel ones
/// (any suffix parses on any id).
pub const LISTED_CALIBRATIONS: [&str; 4] = ["p99.9", "p99.99", "mse", "entropy"];
pub const LISTED_CHANNEL_CALIBRATIONS: [&str; 2] = ["p99.9", "mse"];

/// Every listed integer scheme id: `int{8,4,2}_{sym,asym}` with suffix ``, `_channel`,
/// `_g{32,64,128}`; then the per-tensor ids with each of [`LISTED_CALIBRATIONS`] and the
/// per-channel ids with each of [`LISTED_CHANNEL_CALIBRATIONS`].
pub fn ids() -> Vec<String> {
    let mut ids = Vec::new();
    for bits in BITS {
        for kind in ["sym", "asym"] {
            ids.push(format!("int{bits}_{kind}"));
            ids.push(format!("int{bits}_{kind}_channel"));
            for g in GROUP_SIZES {
                ids.push(format!("int{bits}_{kind}_g{g}"));
            }
        }
    }
    for bits in BITS {
        for kind in ["sym", "asym"] {
            for cal in LISTED_CALIBRATIONS {
                ids.push(format!("int{bits}_{kind}_{cal}"));
            }
            // Entropy costs ~10^6 operations per group: per channel it takes seconds on a
            // large matrix (13 s for 256 channels in Chromium, measured), so it is not listed.
            for cal in LISTED_CHANNEL_CALIBRATIONS {
                ids.push(format!("int{bits}_{kind}_channel_{cal}"));
            }
        }
    }
    ids
}

/// The code range of a `bits`-wide scheme: `[-(2^(b-1)-1), 2^(b-1)-1]` when symmetric,
/// `[0, 2^b - 1]` otherwise.
pub fn qrange(bits: u32, symmetric: bool) -> (i32, i32) {
    if symmetric {
        let m = (1i32 << (bits - 1)) - 1;
        (-m, m)
    } else {
        (0, (1i32 << bits) - 1)
    }
}

/// The integer scheme with this id, if it is one.
pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    IntScheme::from_id(id).map(|s| Box::new(s) as Box<dyn Scheme>)
}

/// The bytes a tensor of `shape` packs into under `id` (`None`: not this family's id), from the
/// layout alone; equal to `quantize(..).packed.len()`.
pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let s = IntScheme::from_id(id)?;
    Some(super::element_count(shape).and_then(|n| {
        let groups = match s.granularity {
            Granularity::Tensor => u64::from(n > 0),
            Granularity::Channel { axis } => match shape.get(axis) {
                Some(&d) if n > 0 => d as u64,
                Some(_) => 0,
                None => {
                    return Err(Error::InvalidArgument(format!("per-channel axis {axis} is out of range for a tensor of shape {shape:?}")))
                }
            },
            Granularity::Group { size } => n.div_ceil(size as u64),
        };
        // f32 scale per group, a zero-point byte per group when asymmetric, packed codes.
        let header = groups * if s.symmetric { 4 } else { 5 };
        Ok(header + (n * s.bits as u64).div_ceil(8))
    }))
}

impl IntScheme {
    pub fn new(bits: u32, symmetric: bool, granularity: Granularity) -> Self {
        let suffix = match granularity {
            Granularity::Tensor => String::new(),
            Granularity::Channel { axis: 0 } => "_channel".into(),
            Granularity::Channel { axis } => format!("_channel{axis}"),
            Granularity::Group { size } => format!("_g{size}"),
        };
        let id = format!("int{bits}_{}{suffix}", if symmetric { "sym" } else { "asym" });
        IntScheme { id, bits, symmetric, granularity, calibration: Calibration::MinMax }
    }

    /// The same scheme with another calibration (its id gains the suffix).
    pub fn with_calibration(&self, calibration: Calibration) -> Self {
        let mut s = Self::new(self.bits, self.symmetric, self.granularity);
        if calibration != Calibration::MinMax {
            s.id = format!("{}_{}", s.id, calibration.suffix());
        }
        s.calibration = calibration;
        s
    }

    /// Parses ids such as `int8_sym`, `int4_asym_channel`, `int2_sym_g64`, `int8_sym_p99.9`,
    /// `int4_asym_channel_mse`.
    pub fn from_id(id: &str) -> Option<Self> {
        match id.rsplit_once('_') {
            Some((base, suffix)) => match Calibration::parse(suffix) {
                Some(c) => Self::from_base_id(base).map(|s| s.with_calibration(c)),
                None => Self::from_base_id(id),
            },
            None => None,
        }
    }

    fn from_base_id(id: &str) -> Option<Self> {
        let rest = id.strip_prefix("int")?;
        let (bits, rest) = rest.split_once('_')?;
        let bits: u32 = bits.parse().ok().filter(|b| BITS.contains(b))?;
        let (kind, suffix) = rest.split_once('_').map_or((rest, ""), |(k, s)| (k, s));
        let symmetric = match kind {
            "sym" => true,
            "asym" => false,
            _ => return None,
        };
        let granularity = match suffix {
            "" => Granularity::Tensor,
            "channel" => Granularity::Channel { axis: 0 },
            s => {
                if let Some(axis) = s.strip_prefix("channel") {
                    Granularity::Channel { axis: axis.parse().ok()? }
                } else {
                    let size: usize = s.strip_prefix('g')?.parse().ok()?;
                    if !GROUP_SIZES.contains(&size) {
                        return None;
                    }
                    Granularity::Group { size }
                }
            }
        };
        Some(Self::new(bits, symmetric, granularity))
    }

    /// The same scheme with per-channel scales along `axis`.
    pub fn with_axis(&self, axis: usize) -> Self {
        Self::new(self.bits, self.symmetric, Granularity::Channel { axis }).with_calibration(self.calibration)
    }

    pub fn qrange(&self) -> (i32, i32) {
        qrange(self.bits, self.symmetric)
    }
}

/// Maps element index → group index for a granularity over a tensor of `shape`. The elements
/// form contiguous chunks of `inner` elements, chunk `c` belonging to group `c % modulus`
/// (`c` for groups), which is how the kernels walk them.
#[derive(Debug, Clone, Copy)]
struct Grouping {
    groups: usize,
    /// group = (i / inner) % modulus for channels; i / size for groups; 0 for the tensor.
    inner: usize,
    modulus: usize,
}

impl Grouping {
    fn new(granularity: Granularity, shape: &[usize], n: usize) -> Result<Self> {
        Ok(match granularity {
            Granularity::Tensor => Grouping { groups: usize::from(n > 0), inner: n.max(1), modulus: 1 },
            Granularity::Group { size } => Grouping { groups: n.div_ceil(size), inner: size, modulus: usize::MAX },
            Granularity::Channel { axis } => {
                let dim = *shape.get(axis).ok_or_else(|| {
                    Error::InvalidArgument(format!("per-channel axis {axis} is out of range for a tensor of shape {shape:?}"))
                })?;
                let inner = shape[axis + 1..].iter().product::<usize>().max(1);
                Grouping { groups: if n == 0 { 0 } else { dim }, inner, modulus: dim.max(1) }
            }
        })
    }

    /// The group of chunk `c` (elements `c·inner ..`).
    #[inline]
    fn of_chunk(&self, c: usize) -> usize {
        if self.modulus == usize::MAX {
            c
        } else {
            c % self.modulus
        }
    }
}

/// The scale and zero point of one group, as `compute_scale_zp` computes them.
/// `rmin`/`rmax` are the group's finite min/max (or +Inf/−Inf if it has no finite value).
pub fn scale_zero_point(rmin: f32, rmax: f32, qmin: i32, qmax: i32, symmetric: bool) -> (f32, i32) {
    let rmin = if rmin.is_finite() { rmin.min(0.0) } else { 0.0 };
    let rmax = if rmax.is_finite() { rmax.max(0.0) } else { 0.0 };
    let (rmin, rmax) = if symmetric {
        let absmax = rmin.abs().max(rmax.abs());
        (-absmax, absmax)
    } else {
        (rmin, rmax)
    };
    // ORT (1.32) widens both ends to f64 before subtracting, so |values| near f32::MAX work.
    let scale = (rmax as f64 - rmin as f64) / (qmax - qmin) as f64;
    if scale < f32::MIN_POSITIVE as f64 {
        return (1.0, 0);
    }
    let zero_point = if symmetric {
        // round((qmin + qmax) / 2): 0 for the restricted signed ranges.
        ((qmin + qmax) as f64 / 2.0).round_ties_even() as i32
    } else {
        (qmin as f64 - rmin as f64 / scale).round_ties_even() as i32
    };
    (scale as f32, zero_point)
}

/// Quantizes one value: `clamp(rint(x / scale) + zp, qmin, qmax)`; the bool is true when a
/// finite value was clamped. NaN maps to the zero point.
#[inline]
pub fn quantize_value(x: f32, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> (i32, bool) {
    if x.is_nan() {
        return (zero_point, false);
    }
    let q = (x / scale).round_ties_even() + zero_point as f32;
    if q < qmin as f32 {
        (qmin, x.is_finite())
    } else if q > qmax as f32 {
        (qmax, x.is_finite())
    } else {
        (q as i32, false)
    }
}

impl Scheme for IntScheme {
    fn id(&self) -> &str {
        &self.id
    }

    fn description(&self) -> String {
        let (qmin, qmax) = self.qrange();
        let kind = if self.symmetric { "symmetric" } else { "asymmetric (zero point)" };
        let per = match self.granularity {
            Granularity::Tensor => "per tensor".to_string(),
            Granularity::Channel { axis } => format!("per channel (axis {axis})"),
            Granularity::Group { size } => format!("per group of {size}"),
        };
        let range = self.calibration.describe(self.symmetric);
        format!("INT{} {kind}, {per}, codes [{qmin}, {qmax}], {range}; ONNX Runtime semantics", self.bits)
    }

    fn quantize_to(&self, values: &[f32], shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        let (qmin, qmax) = self.qrange();
        let grouping = Grouping::new(self.granularity, shape, values.len())?;
        #[cfg(feature = "fast-kernels")]
        if self.calibration == Calibration::MinMax {
            if let Some(size) = self.contiguous_groups(shape) {
                return Ok(self.quantize_groups(values, size, out));
            }
        }
        let ranges = self.ranges(values, &grouping);
        let params: Vec<(f32, i32)> = ranges.iter().map(|&(lo, hi)| scale_zero_point(lo, hi, qmin, qmax, self.symmetric)).collect();
        // One pass per group writes each code's byte and its dequantized value into the packed
        // buffer's body, where the bytes are INT8's packed body as they stand; INT4/INT2 pack
        // them in place (the packed body is shorter, so the write never passes the read).
        let header = params.len() * if self.symmetric { 4 } else { 5 };
        #[cfg(not(feature = "fast-kernels"))]
        let mut packed = vec![0u8; header + values.len()];
        // `fast-kernels`: the body grows a chunk at a time just before the chunk's codes are
        // written (zeros and codes meet in cache: no tensor-sized zero fill first), and the
        // levels are counted from each chunk's codes while they are in cache.
        #[cfg(feature = "fast-kernels")]
        let (mut packed, mut levels) = {
            let mut packed = Vec::with_capacity(header + values.len());
            packed.resize(header, 0);
            (packed, super::ByteLevels::new((qmax - qmin + 1) as usize))
        };
        let mut clipped = 0;
        // Elements `s..` in runs that stay inside one group's chunk (`fast-kernels`: written
        // through `MaybeUninit`, every element: SAFETY for `fill_uninit`).
        #[cfg(feature = "fast-kernels")]
        let fill = |out, values, block, decode: &mut dyn FnMut(usize, &mut [core::mem::MaybeUninit<f32>])| unsafe {
            super::fill_uninit(out, values, block, decode)
        };
        #[cfg(not(feature = "fast-kernels"))]
        let fill = super::fill;
        fill(out, values, 1, &mut |s, mut o| {
            #[cfg(feature = "fast-kernels")]
            packed.resize(header + s + o.len(), 0);
            let codes = &mut packed[header..];
            let mut i = s;
            while !o.is_empty() {
                let c = i / grouping.inner;
                let run = ((c + 1) * grouping.inner - i).min(o.len());
                let (scale, zp) = params[grouping.of_chunk(c)];
                let (head, rest) = o.split_at_mut(run);
                clipped +=
                    quantize_group_out(&values[i..i + run], GroupMap { scale, zero_point: zp, qmin, qmax }, &mut codes[i..i + run], head);
                (i, o) = (i + run, rest);
            }
            #[cfg(feature = "fast-kernels")]
            levels.add(&codes[s..i]);
        });
        #[cfg(not(feature = "fast-kernels"))]
        let levels_used = None;
        #[cfg(feature = "fast-kernels")]
        let levels_used = Some(levels.used());
        Ok(self.finish(params, &ranges, packed, clipped, levels_used, false))
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n: usize = shape.iter().product();
        let grouping = Grouping::new(self.granularity, shape, n)?;
        let header = grouping.groups * if self.symmetric { 4 } else { 5 };
        let expected = header + (n * self.bits as usize).div_ceil(8);
        if packed.len() != expected {
            return Err(Error::InvalidArgument(format!("{} data for shape {shape:?} is {expected} bytes, got {}", self.id, packed.len())));
        }
        let scales: Vec<f32> =
            packed[..grouping.groups * 4].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let zero_points: Vec<i32> =
            if self.symmetric { vec![0; grouping.groups] } else { packed[grouping.groups * 4..header].iter().map(|&z| z as i32).collect() };
        let body = &packed[header..];
        let per_byte = 8 / self.bits as usize;
        #[cfg(not(feature = "fast-kernels"))]
        {
            let codes = if per_byte == 1 {
                body[..n].to_vec()
            } else {
                let mut codes = vec![0u8; n];
                self.unpack_into(body, &mut codes);
                codes
            };
            let mut out = vec![0f32; n];
            for (c, (codes, out)) in codes.chunks(grouping.inner).zip(out.chunks_mut(grouping.inner)).enumerate() {
                let g = grouping.of_chunk(c);
                dequantize_group(codes, self.symmetric, scales[g], zero_points[g], out);
            }
            Ok(out)
        }
        // `fast-kernels`: a chunk (whole bytes of codes: `decode_chunked`'s chunks are multiples
        // of 4096) at a time, in runs that stay inside one group.
        #[cfg(feature = "fast-kernels")]
        {
            let mut unpacked = Vec::new();
            Ok(super::decode_chunked(n, 1, &mut |start, out| {
                let codes: &[u8] = if per_byte == 1 {
                    &body[start..start + out.len()]
                } else {
                    unpacked.resize(out.len(), 0);
                    self.unpack_into(&body[start / per_byte..(start + out.len()).div_ceil(per_byte)], &mut unpacked);
                    &unpacked
                };
                let mut i = 0;
                while i < out.len() {
                    let c = (start + i) / grouping.inner;
                    let run = ((c + 1) * grouping.inner - (start + i)).min(out.len() - i);
                    let g = grouping.of_chunk(c);
                    dequantize_group(&codes[i..i + run], self.symmetric, scales[g], zero_points[g], &mut out[i..i + run]);
                    i += run;
                }
            }))
        }
    }
}

impl IntScheme {
    /// The packed header (scales, zero points), the INT4/INT2 body packed in place, the level
    /// count and the parameters, from each group's `params`, the calibrated `ranges` (unused for
    /// min-max) and `packed` holding the header's room and one code byte per value.
    /// `levels_used`: the distinct codes if the caller counted them, else counted here.
    fn finish(
        &self,
        params: Vec<(f32, i32)>,
        ranges: &[(f32, f32)],
        mut packed: Vec<u8>,
        clipped: usize,
        levels_used: Option<usize>,
        body_packed: bool,
    ) -> Quantized {
        let (qmin, qmax) = self.qrange();
        let header = params.len() * if self.symmetric { 4 } else { 5 };
        let codes = &mut packed[header..];
        let n = codes.len();
        let levels_used = levels_used.unwrap_or_else(|| super::distinct_bytes(codes, (qmax - qmin + 1) as usize));
        let body = match self.bits {
            8 => n,
            _ if body_packed => (n * self.bits as usize).div_ceil(8),
            4 => pack_nibbles_in_place(codes),
            _ => pack_pairs_in_place(codes),
        };
        packed.truncate(header + body);
        for (i, p) in params.iter().enumerate() {
            packed[4 * i..4 * i + 4].copy_from_slice(&p.0.to_le_bytes());
        }
        if !self.symmetric {
            for (z, p) in packed[4 * params.len()..header].iter_mut().zip(&params) {
                *z = p.1 as u8;
            }
        }
        let mut out_params = vec![Param { name: "scale", values: params.iter().map(|p| p.0 as f64).collect() }];
        if !self.symmetric {
            out_params.push(Param { name: "zero_point", values: params.iter().map(|p| p.1 as f64).collect() });
        }
        if self.calibration != Calibration::MinMax {
            let clips: Vec<(f32, f32)> = ranges.iter().map(|&(lo, hi)| effective_range(lo, hi, self.symmetric)).collect();
            out_params.push(Param { name: "clip_lo", values: clips.iter().map(|c| c.0 as f64).collect() });
            out_params.push(Param { name: "clip_hi", values: clips.iter().map(|c| c.1 as f64).collect() });
        }
        Quantized { packed, dequantized: Vec::new(), params: out_params, clipped, levels_used, levels_total: (qmax - qmin + 1) as usize }
    }

    /// The `fast-kernels` quantizer of min-max groups: one pass, each group's range, scale and
    /// codes while its values are in cache (the plain path reads the tensor once for the ranges
    /// and again for the codes, and finds each run's group by a division), and the levels
    /// counted from each chunk's codes while they are in cache. The same kernels on the same
    /// values in the same order: the same bytes and values.
    #[cfg(feature = "fast-kernels")]
    fn quantize_groups(&self, values: &[f32], size: usize, out: &mut dyn Decoding) -> Quantized {
        let (qmin, qmax) = self.qrange();
        let groups = values.len().div_ceil(size);
        let header = groups * if self.symmetric { 4 } else { 5 };
        // Grown a chunk at a time just before its codes are written (see `quantize_to`).
        let mut packed = Vec::with_capacity(header + values.len());
        packed.resize(header, 0);
        let mut levels = super::ByteLevels::new((qmax - qmin + 1) as usize);
        let mut params = Vec::with_capacity(groups);
        // INT4/INT2 pack each chunk (`fill_uninit`'s chunks are whole groups of about 4096
        // values) where every chunk starts on a whole byte of codes.
        let pack_chunks = self.bits < 8 && super::chunk_elements(size) % (8 / self.bits as usize) == 0;
        let mut clipped = 0;
        // `fill` in whole groups; its last group may be short. Every real element is written
        // (SAFETY for `fill_uninit`): each group's `x.len()` values.
        let decode = &mut |s: usize, o: &mut [core::mem::MaybeUninit<f32>]| {
            let end = values.len().min(s + o.len());
            packed.resize(header + end, 0);
            let codes = &mut packed[header + s..];
            // Four groups at a time: their ranges, then their scales, then their codes, so
            // that the four independent chains of range → f64 scale → codes overlap (one
            // group's chain is mostly latency: a reduction, an f64 and an f32 division).
            let runs = values[s..end].chunks(4 * size).zip(codes.chunks_mut(4 * size)).zip(o.chunks_mut(4 * size));
            for ((x4, c4), d4) in runs {
                let group = |g: usize| &x4[(g * size).min(x4.len())..((g + 1) * size).min(x4.len())];
                let ranges: [(f32, f32); 4] = core::array::from_fn(|g| min_max(group(g)));
                let maps = ranges.map(|(lo, hi)| {
                    let (scale, zero_point) = scale_zero_point(lo, hi, qmin, qmax, self.symmetric);
                    GroupMap { scale, zero_point, qmin, qmax }
                });
                let runs = x4.chunks(size).zip(c4.chunks_mut(size)).zip(d4.chunks_mut(size)).zip(maps);
                for (((x, c), d), map) in runs {
                    params.push((map.scale, map.zero_point));
                    clipped += quantize_group_uninit(x, map, c, &mut d[..x.len()]);
                }
            }
            levels.add(codes);
            if pack_chunks {
                // INT4/INT2: this chunk's codes packed while in cache, to their place in the
                // body (`s` is a multiple of the codes a byte, so the bytes are the whole
                // body's), not in a pass over the whole tensor's codes afterwards.
                let per = 8 / self.bits as usize;
                assert_eq!(s % per, 0, "a chunk starts on a whole byte of codes");
                let codes = &mut packed[header + s..header + end];
                let bytes = if self.bits == 4 { pack_nibbles_in_place(codes) } else { pack_pairs_in_place(codes) };
                packed.copy_within(header + s..header + s + bytes, header + s / per);
            }
        };
        // SAFETY: see `decode`.
        unsafe { super::fill_uninit(out, values, size, decode) };
        self.finish(params, &[], packed, clipped, Some(levels.used()), pack_chunks)
    }

    /// The element count of each group when the groups are contiguous runs of the tensor in C
    /// order (per group; per channel when every axis before the channel axis has length 1, as
    /// for axis 0), and small enough to stay in cache between their range and their codes.
    /// `None` for per-tensor schemes (one group: its range is read first, then its codes a
    /// chunk at a time) and an axis out of range.
    #[cfg(feature = "fast-kernels")]
    fn contiguous_groups(&self, shape: &[usize]) -> Option<usize> {
        match self.granularity {
            Granularity::Tensor => None,
            Granularity::Group { size } => Some(size),
            Granularity::Channel { axis } => {
                let inner = shape.get(axis + 1..)?.iter().product::<usize>().max(1);
                (shape[..axis].iter().all(|&d| d == 1) && inner <= 1 << 16).then_some(inner)
            }
        }
    }
}

/// The range `scale_zero_point` computes the scale from: `[lo, hi]` widened to include 0 and,
/// when symmetric, mirrored to `[-absmax, absmax]` (`[0, 0]` for a group without finite values).
pub fn effective_range(lo: f32, hi: f32, symmetric: bool) -> (f32, f32) {
    let lo = if lo.is_finite() { lo.min(0.0) } else { 0.0 };
    let hi = if hi.is_finite() { hi.max(0.0) } else { 0.0 };
    if symmetric {
        let m = lo.abs().max(hi.abs());
        (-m, m)
    } else {
        (lo, hi)
    }
}

impl IntScheme {
    /// Each group's range: the finite min/max, or the calibrated clipping range.
    fn ranges(&self, values: &[f32], grouping: &Grouping) -> Vec<(f32, f32)> {
        if self.calibration == Calibration::MinMax {
            let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); grouping.groups];
            for (c, chunk) in values.chunks(grouping.inner).enumerate() {
                let (lo, hi) = min_max(chunk);
                let r = &mut ranges[grouping.of_chunk(c)];
                r.0 = r.0.min(lo);
                r.1 = r.1.max(hi);
            }
            return ranges;
        }
        let mut finite = vec![Vec::new(); grouping.groups];
        for (c, chunk) in values.chunks(grouping.inner).enumerate() {
            finite[grouping.of_chunk(c)].extend(chunk.iter().copied().filter(|x| x.is_finite()));
        }
        finite.iter().map(|v| self.calibration.range(v, self.bits, self.symmetric)).collect()
    }

    /// INT4/INT2 codes of the packed `body` back to one byte each in `codes` (i8 two's
    /// complement when symmetric, u8 otherwise), as [`dequantize_group`] reads them: as many as
    /// `codes` holds.
    fn unpack_into(&self, body: &[u8], codes: &mut [u8]) {
        let bits = self.bits;
        // A `bits`-wide two's complement field c sign-extends to the byte as (c ^ half) − half.
        let half = if self.symmetric { 1u8 << (bits - 1) } else { 0 };
        let widen = |c: u8| (c ^ half).wrapping_sub(half);
        let per_byte = (8 / bits) as usize;
        let whole = codes.len() / per_byte * per_byte;
        // A last byte only partly used: its codes one by one, low bits first.
        for i in whole..codes.len() {
            let shift = (i % per_byte) as u32 * bits;
            codes[i] = widen((body[i / per_byte] >> shift) & ((1u8 << bits) - 1));
        }
        let codes = &mut codes[..whole];
        if bits == 4 {
            for (pair, &b) in codes.chunks_exact_mut(2).zip(body) {
                pair[0] = widen(b & 0x0f);
                pair[1] = widen(b >> 4);
            }
        } else {
            for (quad, &b) in codes.chunks_exact_mut(4).zip(body) {
                quad[0] = widen(b & 0b11);
                quad[1] = widen((b >> 2) & 0b11);
                quad[2] = widen((b >> 4) & 0b11);
                quad[3] = widen(b >> 6);
            }
        }
    }
}

/// Packs one byte per code into INT4's body in place: two codes a byte, the first in the low
/// nibble (an odd last code alone in its byte); returns the body's length. The kernel choice
/// for [`reference::pack_nibbles_in_place`].
pub fn pack_nibbles_in_place(codes: &mut [u8]) -> usize {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::pack_nibbles_in_place(codes);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::pack_nibbles_in_place(codes);
}

/// Packs one byte per code into INT2's body in place, four codes a byte, the first in the
/// lowest bits; returns the body's length. The kernel choice for
/// [`reference::pack_pairs_in_place`].
pub fn pack_pairs_in_place(codes: &mut [u8]) -> usize {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::pack_pairs_in_place(codes);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::pack_pairs_in_place(codes);
}

/// The per-group quantize kernel the schemes use (see [`reference::quantize_group`]).
#[inline]
pub fn quantize_group(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [f32]) -> usize {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::quantize_group(values, map, codes, dequantized);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::quantize_group(values, map, codes, dequantized);
}

/// [`quantize_group`] writing `dequantized` through `MaybeUninit` (`fast-kernels`: into a kept
/// decoding's memory as it is): every element is written.
#[cfg(feature = "fast-kernels")]
#[inline]
pub fn quantize_group_uninit(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [core::mem::MaybeUninit<f32>]) -> usize {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::quantize_group_uninit(values, map, codes, dequantized);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::quantize_group(values, map, codes, super::zeroed(dequantized));
}

#[cfg(not(feature = "fast-kernels"))]
use quantize_group as quantize_group_out;
/// The kernel for `quantize_to`'s runs: through `MaybeUninit` with `fast-kernels`.
#[cfg(feature = "fast-kernels")]
use quantize_group_uninit as quantize_group_out;

/// The per-group dequantize kernel (see [`reference::dequantize_group`]).
#[inline]
pub fn dequantize_group(codes: &[u8], signed: bool, scale: f32, zero_point: i32, out: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::dequantize_group(codes, signed, scale, zero_point, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::dequantize_group(codes, signed, scale, zero_point, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed body by its definition: element i's code, masked to `bits`, at bit i·bits.
    fn packed_by_definition(bits: u32, codes: &[i32]) -> Vec<u8> {
        let mut body = vec![0u8; (codes.len() * bits as usize).div_ceil(8)];
        for (i, &q) in codes.iter().enumerate() {
            let at = i * bits as usize;
            body[at / 8] |= ((q as u32 & ((1 << bits) - 1)) << (at % 8)) as u8;
        }
        body
    }

    #[test]
    fn packed_codes_follow_the_definition_at_every_length() {
        let values: Vec<f32> = (0..37).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
        for bits in [8, 4, 2] {
            for kind in ["sym", "asym"] {
                let s = IntScheme::from_id(&format!("int{bits}_{kind}")).unwrap();
                for n in 0..values.len() {
                    let v = &values[..n];
                    let q = s.quantize(v, &[n]).unwrap();
                    let (qmin, qmax) = s.qrange();
                    let header = if n == 0 {
                        0
                    } else if s.symmetric {
                        4
                    } else {
                        5
                    };
                    let scale = f32::from_le_bytes(q.packed.get(..4).map_or([0; 4], |b| b.try_into().unwrap()));
                    let zp = if s.symmetric || n == 0 { 0 } else { q.packed[4] as i32 };
                    let codes: Vec<i32> = v.iter().map(|&x| quantize_value(x, scale, zp, qmin, qmax).0).collect();
                    assert_eq!(&q.packed[header..], packed_by_definition(bits, &codes), "int{bits}_{kind}, n = {n}");
                    assert_eq!(s.dequantize(&q.packed, &[n]).unwrap(), q.dequantized, "int{bits}_{kind}, n = {n}");
                }
            }
        }
    }

    fn int8_sym() -> IntScheme {
        IntScheme::from_id("int8_sym").unwrap()
    }

    #[test]
    fn int8_symmetric_hand_checked() {
        // max|x| = 2.54 → scale = 2.54/127 = 0.02 (in f32); 1.01/0.02 = 50.5 → 50 (half to even);
        // −0.03/0.02 = −1.5 → −2; 2.54 → 127.
        let q = int8_sym().quantize(&[1.01, -0.03, 2.54, 0.0], &[4]).unwrap();
        let scale = f32::from_le_bytes(q.packed[..4].try_into().unwrap());
        assert_eq!(scale, (2.54f32 as f64 * 2.0 / 254.0) as f32);
        let codes: Vec<i8> = q.packed[4..].iter().map(|&b| b as i8).collect();
        assert_eq!(codes, vec![50, -2, 127, 0]);
        assert_eq!(q.dequantized, vec![50.0 * scale, -2.0 * scale, 127.0 * scale, 0.0]);
        assert_eq!((q.clipped, q.levels_used, q.levels_total), (0, 4, 255));
    }

    #[test]
    fn ties_round_half_to_even() {
        // max = 127 → scale 1: 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → −0 → 0, −1.5 → −2.
        let q = int8_sym().quantize(&[127.0, 0.5, 1.5, 2.5, -0.5, -1.5], &[6]).unwrap();
        let codes: Vec<i8> = q.packed[4..].iter().map(|&b| b as i8).collect();
        assert_eq!(codes, vec![127, 0, 2, 2, 0, -2]);
    }

    #[test]
    fn all_zero_tensor_gets_scale_one() {
        let q = int8_sym().quantize(&[0.0; 5], &[5]).unwrap();
        assert_eq!(&q.packed[..4], &1.0f32.to_le_bytes());
        assert!(q.dequantized.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn nan_and_inf_do_not_poison_the_scale() {
        let q = int8_sym().quantize(&[f32::NAN, 1.27, f32::INFINITY, f32::NEG_INFINITY], &[4]).unwrap();
        let scale = f32::from_le_bytes(q.packed[..4].try_into().unwrap());
        assert_eq!(scale, (1.27f32 as f64 * 2.0 / 254.0) as f32);
        let codes: Vec<i8> = q.packed[4..].iter().map(|&b| b as i8).collect();
        assert_eq!(codes, vec![0, 127, 127, -127]);
        assert_eq!(q.clipped, 0, "infinities are not counted as clipped finite values");
    }

    #[test]
    fn asymmetric_uint8_matches_ort_formula() {
        // min 0 (widened), max 2.55 → scale 0.01, zero point 0. A ReLU-like tensor.
        let s = IntScheme::from_id("int8_asym").unwrap();
        let q = s.quantize(&[0.0, 1.0, 2.55], &[3]).unwrap();
        assert_eq!(q.packed[4], 0);
        assert_eq!(&q.packed[5..], &[0, 100, 255]);
        // min −1, max 1 → scale 2/255, zp = round(0 + 127.5) = 128 (half to even). In f32,
        // −1/scale = −127.49999 → −127, so −1 encodes as 1, not 0; ORT's quantize_data agrees:
        // (128, 0.00784314, [1, 255]).
        let q = s.quantize(&[-1.0, 1.0], &[2]).unwrap();
        assert_eq!(q.packed[4], 128);
        assert_eq!(&q.packed[5..], &[1, 255]);
    }

    #[test]
    fn huge_values_do_not_overflow_the_scale() {
        let q = int8_sym().quantize(&[f32::MAX, -f32::MAX, 1.0], &[3]).unwrap();
        let scale = f32::from_le_bytes(q.packed[..4].try_into().unwrap());
        assert!(scale.is_finite() && scale > 1e36);
        let codes: Vec<i8> = q.packed[4..].iter().map(|&b| b as i8).collect();
        assert_eq!(codes, vec![127, -127, 0]);
    }

    #[test]
    fn empty_tensor_packs_to_nothing() {
        let q = int8_sym().quantize(&[], &[0]).unwrap();
        assert!(q.packed.is_empty() && q.dequantized.is_empty());
    }

    #[test]
    fn every_id_parses_packs_and_round_trips() {
        let shape = [3usize, 45];
        let values: Vec<f32> = (0..135).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        for id in ids() {
            let s = IntScheme::from_id(&id).unwrap_or_else(|| panic!("{id} does not parse"));
            assert_eq!(s.id(), id);
            let q = s.quantize(&values, &shape).unwrap();
            let back = s.dequantize(&q.packed, &shape).unwrap();
            assert_eq!(back, q.dequantized, "{id}: dequantize(packed) differs from quantize's copy");
            assert!(q.levels_used <= q.levels_total);
        }
    }

    #[test]
    fn per_channel_gives_one_scale_per_row() {
        let s = IntScheme::from_id("int8_sym_channel").unwrap();
        let q = s.quantize(&[1.0, -1.0, 10.0, 5.0], &[2, 2]).unwrap();
        assert_eq!(q.params[0].values, vec![(2.0f64 / 254.0) as f32 as f64, (20.0f64 / 254.0) as f32 as f64]);
        let axis1 = s.with_axis(1).quantize(&[1.0, -1.0, 10.0, 5.0], &[2, 2]).unwrap();
        assert_eq!(axis1.params[0].values, vec![(20.0f64 / 254.0) as f32 as f64, (10.0f64 / 254.0) as f32 as f64]);
        assert!(matches!(s.with_axis(2).quantize(&[1.0], &[1, 1]), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn int4_packs_low_nibble_first() {
        let s = IntScheme::from_id("int4_sym").unwrap();
        let q = s.quantize(&[7.0, -7.0, 1.0], &[3]).unwrap();
        assert_eq!(&q.packed[4..], &[0x97, 0x01]);
    }

    #[test]
    fn unknown_ids_are_rejected() {
        for id in ["int3_sym", "int8", "int8_sym_g48", "int8_foo", "fp8"] {
            assert!(IntScheme::from_id(id).is_none(), "{id}");
        }
    }
}
