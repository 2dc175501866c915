//! Weight sharing (palettization): each group of values shares a codebook of 2^b centroids found
//! by k-means, and each value is stored as the index of its centroid — Deep Compression's
//! weight sharing (Han et al. 2016, §3) and coremltools' `palettize_weights` (mode "kmeans").
//!
//! Ids: `kmeans{2,3,4,6,8}` (one codebook for the whole tensor) and `kmeans{2,3,4}_g128` (one
//! per 128 contiguous values in C order, the last group possibly shorter, as the integer
//! schemes' `_g128`).
//!
//! The fit, deterministic so that a result can be checked (scripts/fixtures/make_kmeans.py runs
//! the same steps in numpy, src/core/tests/kmeans_fixtures.rs compares the bytes):
//! 1. Linear initialisation, which Deep Compression found best for weights (it keeps the rare
//!    large values, which matter most, their own centroids): `c_j = lo + (hi − lo)·j/(k − 1)` in
//!    f64 over the group's [min, max].
//! 2. Lloyd's iterations, at most [`MAX_ITERATIONS`]: each value goes to its nearest centroid (a
//!    value exactly half-way goes to the lower one), then each centroid becomes the mean of its
//!    values (an f64 sum in ascending order of the values); a centroid with no values stays where
//!    it was. The fit stops when no value changes centroid.
//! 3. The centroids are stored as f16, rounded to f32 first (the codebook's cost counts in bits per weight), and every
//!    value is assigned once more to its nearest stored centroid, so the codes are the best ones
//!    for the codebook that is actually kept.
//!
//! Only finite values take part in the fit. Stored, +∞ and −∞ take the largest and smallest
//! centroid and NaN the centroid nearest 0, so that a bad value never poisons its group. A
//! centroid beyond f16's range is stored as ±65504, and the values beyond it count as clipped.
//!
//! Packed layout (little-endian): the k f16 centroids of every group (ascending), then every
//! value's code as a b-bit field, all in one bit stream, least significant bit first.

use super::{distinct_codes, Decoding, Param, Quantized, Scheme};
use crate::error::{Error, Result};
use half::f16;

// The 2- and 4-bit dequantization sixteen codes a step; the definition it equals is the scalar
// `centroid(g, read_code(..))` in `dequantize`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "fast-kernels"))]
mod simd128;

/// Lloyd's iterations at most; on weights the assignments settle well before.
pub const MAX_ITERATIONS: usize = 100;

/// The codebook sizes listed (bits per index) and the grouped ones.
const TENSOR_BITS: [u32; 5] = [2, 3, 4, 6, 8];
const GROUP_BITS: [u32; 3] = [2, 3, 4];
const GROUP: usize = 128;
/// The largest finite f16, where a stored centroid saturates.
const F16_MAX: f64 = 65504.0;

pub fn ids() -> Vec<String> {
    let tensor = TENSOR_BITS.iter().map(|b| format!("kmeans{b}"));
    tensor.chain(GROUP_BITS.iter().map(|b| format!("kmeans{b}_g{GROUP}"))).collect()
}

pub fn by_id(id: &str) -> Option<Box<dyn Scheme>> {
    KmeansScheme::from_id(id).map(|s| Box::new(s) as Box<dyn Scheme>)
}

pub fn packed_len(id: &str, shape: &[usize]) -> Option<Result<u64>> {
    let s = KmeansScheme::from_id(id)?;
    Some(super::element_count(shape).map(|n| s.packed_len(n)))
}

/// A k-means scheme: `bits` per index, one codebook per `group` values (None: per tensor).
#[derive(Debug, Clone, PartialEq)]
pub struct KmeansScheme {
    id: String,
    bits: u32,
    group: Option<usize>,
}

impl KmeansScheme {
    pub fn from_id(id: &str) -> Option<KmeansScheme> {
        let rest = id.strip_prefix("kmeans")?;
        let (bits, group) = match rest.split_once("_g") {
            Some((b, g)) => (b, Some(g.parse::<usize>().ok().filter(|&g| g == GROUP)?)),
            None => (rest, None),
        };
        let bits: u32 = bits.parse().ok()?;
        let listed = if group.is_some() { &GROUP_BITS[..] } else { &TENSOR_BITS[..] };
        listed.contains(&bits).then(|| KmeansScheme { id: id.to_string(), bits, group })
    }

    fn k(&self) -> usize {
        1 << self.bits
    }

    fn groups(&self, n: u64) -> u64 {
        match self.group {
            Some(g) => n.div_ceil(g as u64),
            None => u64::from(n > 0),
        }
    }

    fn packed_len(&self, n: u64) -> u64 {
        self.groups(n) * self.k() as u64 * 2 + (n * self.bits as u64).div_ceil(8)
    }

    fn group_len(&self, n: usize) -> usize {
        self.group.unwrap_or(n).max(1)
    }
}

/// The k-means fit of one group (steps 1 and 2 of the module's description): the centroids in
/// f64, ascending. In one dimension a cluster is a run of the sorted values, so each iteration
/// finds the k − 1 boundaries by binary search and sums each run in sorted order: the same
/// assignment as value by value, in O(k log n) plus one pass of additions.
pub fn fit(values: &[f32], k: usize) -> Vec<f64> {
    let sorted = sorted_finite(values);
    let (lo, hi) = match (sorted.first(), sorted.last()) {
        (Some(&lo), Some(&hi)) => (lo as f64, hi as f64),
        _ => return vec![0.0; k],
    };
    let mut centroids: Vec<f64> = (0..k).map(|j| lo + (hi - lo) * j as f64 / (k - 1) as f64).collect();
    let mut bounds: Vec<usize> = Vec::new();
    for _ in 0..MAX_ITERATIONS {
        // Cluster j is sorted[b_j..b_{j+1}]: the values above half-way point j − 1 and at or
        // below half-way point j (see `nearest`).
        let new_bounds: Vec<usize> = std::iter::once(0)
            .chain(midpoints(&centroids).into_iter().map(|m| sorted.partition_point(|&x| x as f64 <= m)))
            .chain(std::iter::once(sorted.len()))
            .collect();
        if new_bounds == bounds {
            break;
        }
        bounds = new_bounds;
        for (c, run) in centroids.iter_mut().zip(bounds.windows(2)) {
            let members = &sorted[run[0]..run[1]];
            if !members.is_empty() {
                *c = members.iter().fold(0f64, |s, &x| s + x as f64) / members.len() as f64;
            }
        }
        // A centroid left without values keeps its place, which its neighbours may pass: put
        // the few centroids back in order (an insertion sort; the library sorts cost the page
        // module kilobytes).
        for i in 1..k {
            let mut j = i;
            while j > 0 && centroids[j - 1] > centroids[j] {
                centroids.swap(j - 1, j);
                j -= 1;
            }
        }
    }
    centroids
}

/// One group as the scheme stores it (step 3 of the module's description): the fitted centroids
/// as f16 (ascending) and each value's code, the index of its nearest stored centroid. The
/// trainer's weight sharing (src/train/src/share.rs) starts from exactly this codebook.
pub fn palettize(group: &[f32], k: usize) -> (Vec<f16>, Vec<usize>) {
    // f64 → f32 → f16, each round to nearest even: `half`'s direct `from_f64` rounds
    // differently on x86 (F16C, via f32) and in wasm (software), so the stored codebook
    // would depend on the machine.
    let stored: Vec<f16> = fit(group, k).into_iter().map(|c| f16::from_f32(c.clamp(-F16_MAX, F16_MAX) as f32)).collect();
    let midpoints = midpoints(&stored.iter().map(|c| c.to_f64()).collect::<Vec<_>>());
    let codes = group.iter().map(|&x| nearest(&midpoints, if x.is_nan() { 0.0 } else { x as f64 })).collect();
    (stored, codes)
}

/// The finite values in ascending order, by an LSD radix sort on their bits made monotonic (sign
/// bit flipped for positives, every bit for negatives): four byte passes, O(n), and far less
/// code than a comparison sort.
fn sorted_finite(values: &[f32]) -> Vec<f32> {
    let key = |x: f32| x.to_bits() ^ if x.is_sign_negative() { u32::MAX } else { 1 << 31 };
    let mut keys: Vec<u32> = values.iter().filter(|x| x.is_finite()).map(|&x| key(x)).collect();
    let mut spare = vec![0u32; keys.len()];
    for shift in (0..32).step_by(8) {
        let mut starts = [0usize; 257];
        for &k in &keys {
            starts[((k >> shift) & 0xff) as usize + 1] += 1;
        }
        for b in 0..256 {
            starts[b + 1] += starts[b];
        }
        for &k in &keys {
            let b = ((k >> shift) & 0xff) as usize;
            spare[starts[b]] = k;
            starts[b] += 1;
        }
        std::mem::swap(&mut keys, &mut spare);
    }
    keys.into_iter().map(|k| f32::from_bits(k ^ if k >> 31 == 1 { 1 << 31 } else { u32::MAX })).collect()
}

/// The half-way points between neighbouring centroids.
fn midpoints<T: Copy + Into<f64>>(centroids: &[T]) -> Vec<f64> {
    centroids.windows(2).map(|w| (w[0].into() + w[1].into()) / 2.0).collect()
}

/// The index of the nearest centroid: how many half-way points lie strictly below `x` (a value
/// exactly half-way goes to the lower centroid).
fn nearest(midpoints: &[f64], x: f64) -> usize {
    midpoints.partition_point(|&m| m < x)
}

/// Appends `bits`-bit fields to a little-endian bit stream.
struct BitWriter {
    bytes: Vec<u8>,
    used: usize,
}

impl BitWriter {
    fn push(&mut self, code: u32, bits: u32) {
        for b in 0..bits as usize {
            let at = self.used + b;
            if at % 8 == 0 {
                self.bytes.push(0);
            }
            self.bytes[at / 8] |= (((code >> b) & 1) as u8) << (at % 8);
        }
        self.used += bits as usize;
    }
}

/// Code `index` of the stream, bit by bit (without `fast-kernels`; see `dequantize`).
#[cfg(not(feature = "fast-kernels"))]
fn read_code(stream: &[u8], index: usize, bits: u32) -> usize {
    (0..bits as usize).fold(0, |code, b| {
        let at = index * bits as usize + b;
        code | ((((stream[at / 8] >> (at % 8)) & 1) as usize) << b)
    })
}

impl Scheme for KmeansScheme {
    fn id(&self) -> &str {
        &self.id
    }

    fn description(&self) -> String {
        let scope = match self.group {
            Some(g) => format!("each group of {g} values"),
            None => "the whole tensor".to_string(),
        };
        format!(
            "weight sharing: k-means (linear init, ≤ {MAX_ITERATIONS} Lloyd iterations) finds {} f16 centroids for {scope}; each value stores its centroid's {}-bit index",
            self.k(),
            self.bits
        )
    }

    fn quantize_to(&self, values: &[f32], _shape: &[usize], out: &mut dyn Decoding) -> Result<Quantized> {
        let k = self.k();
        let mut codebooks = Vec::with_capacity(self.groups(values.len() as u64) as usize * k * 2);
        let mut stream = BitWriter { bytes: Vec::with_capacity((values.len() * self.bits as usize).div_ceil(8)), used: 0 };
        let mut codes = Vec::with_capacity(values.len());
        let mut first_codebook = Vec::new();
        let mut clipped = 0;
        let group_len = self.group_len(values.len());
        for group in values.chunks(group_len) {
            let (stored, group_codes) = palettize(group, k);
            for (&x, &c) in group.iter().zip(&group_codes) {
                clipped += (x.is_finite() && (x as f64).abs() > F16_MAX) as usize;
                stream.push(c as u32, self.bits);
            }
            codes.extend(group_codes);
            if first_codebook.is_empty() {
                first_codebook = stored.iter().map(|c| c.to_f64()).collect();
            }
            codebooks.extend(stored.iter().flat_map(|c| c.to_le_bytes()));
        }
        super::fill(out, values, 1, &mut |s, deq| {
            for (i, d) in (s..).zip(deq) {
                let at = (i / group_len * k + codes[i]) * 2;
                *d = f16::from_le_bytes([codebooks[at], codebooks[at + 1]]).to_f32();
            }
        });
        codebooks.extend(stream.bytes);
        Ok(Quantized {
            packed: codebooks,
            dequantized: Vec::new(),
            params: vec![Param { name: "centroids", values: first_codebook }],
            clipped,
            levels_used: distinct_codes(codes, k, k),
            levels_total: k,
        })
    }

    fn dequantize(&self, packed: &[u8], shape: &[usize]) -> Result<Vec<f32>> {
        let n = super::element_count(shape)?;
        let expected = self.packed_len(n);
        if packed.len() as u64 != expected {
            return Err(Error::InvalidArgument(format!("{} data for {n} elements is {expected} bytes, got {}", self.id, packed.len())));
        }
        let n = n as usize;
        let (k, group) = (self.k(), self.group_len(n));
        let (books, stream) = packed.split_at(self.groups(n as u64) as usize * k * 2);
        #[cfg(not(feature = "fast-kernels"))]
        {
            let centroid = |g: usize, c: usize| f16::from_le_bytes([books[(g * k + c) * 2], books[(g * k + c) * 2 + 1]]).to_f32();
            Ok((0..n).map(|i| centroid(i / group, read_code(stream, i, self.bits))).collect())
        }
        #[cfg(feature = "fast-kernels")]
        {
            // About 0.9 KB gzipped more than bit by bit (the modules held to their sizes keep
            // that): every codebook decoded once (the f16 conversion a value took before), then
            // the codes read from the stream a word at a time: `acc` holds the next `have` bits,
            // refilled by whole bytes. The same values; bit by bit ran at 0.4–0.7 GB/s.
            // The codebooks by `float::f16_bits_to_f32` (eight a step in SIMD128, exactly
            // `half`'s `to_f32`): per group of 128 at 2 or 4 bits, `half`'s software conversion
            // of each entry cost more than the lookups (session 28).
            let bits16: Vec<u16> = books.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
            let mut table = vec![0f32; bits16.len()];
            super::float::f16_bits_to_f32(&bits16, &mut table);
            // SIMD128: 2- and 4-bit codes sixteen a step (`simd128::decode_group`), a group at a
            // time (each group's codes start on a whole byte: 128 or all of them, at 2 or 4 bits).
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            if matches!(self.bits, 2 | 4) {
                let bits = self.bits as usize;
                let mut out: Vec<f32> = Vec::with_capacity(n);
                for (g, start) in (0..n).step_by(group).enumerate() {
                    let len = group.min(n - start);
                    // SAFETY: elements start .. start + len of the reserved n.
                    unsafe {
                        simd128::decode_group(
                            &table[g * k..(g + 1) * k],
                            self.bits,
                            &stream[start * bits / 8..],
                            out.as_mut_ptr().add(start),
                            len,
                        )
                    };
                }
                // SAFETY: every group's elements, 0 .. n, were written.
                unsafe { out.set_len(n) };
                return Ok(out);
            }
            let bits = self.bits as usize;
            let mask = (1u64 << bits) - 1;
            let (mut acc, mut have, mut next) = (0u64, 0usize, 0usize);
            let mut out = Vec::with_capacity(n);
            for (g, start) in (0..n).step_by(group).enumerate() {
                let book = &table[g * k..(g + 1) * k];
                out.extend((start..n.min(start + group)).map(|_| {
                    if have < bits {
                        // The stream holds every code's bits (checked above), so this refill
                        // brings at least `bits`.
                        while have <= 56 && next < stream.len() {
                            acc |= (stream[next] as u64) << have;
                            (have, next) = (have + 8, next + 1);
                        }
                    }
                    let c = book[(acc & mask) as usize];
                    (acc, have) = (acc >> bits, have - bits);
                    c
                }));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_unlisted_ones_do_not() {
        for id in ids() {
            assert_eq!(KmeansScheme::from_id(&id).unwrap().id, id);
        }
        for bad in ["kmeans", "kmeans1", "kmeans5", "kmeans8_g128", "kmeans4_g64", "kmeans4_g", "kmeansx"] {
            assert!(KmeansScheme::from_id(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn two_clusters_settle_on_their_means() {
        // Linear init puts the 2 centroids at −1 and 5; the values split {−1, 0, 1} / {4, 5}.
        let c = fit(&[-1.0, 0.0, 1.0, 4.0, 5.0], 2);
        assert_eq!(c, vec![0.0, 4.5]);
    }

    #[test]
    fn the_radix_sort_orders_as_total_cmp_without_non_finite_values() {
        let v = [3.5, -0.0, 0.0, -1e-40, 1e-40, f32::NAN, -2.0, f32::INFINITY, 7.0, -f32::INFINITY, -2.5, 1e30];
        let mut want: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
        want.sort_by(f32::total_cmp);
        let got = sorted_finite(&v);
        assert_eq!(got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn a_half_way_value_goes_to_the_lower_centroid() {
        assert_eq!(nearest(&midpoints(&[0.0f64, 2.0]), 1.0), 0);
        assert_eq!(nearest(&midpoints(&[0.0f64, 2.0]), 1.0000001), 1);
    }

    #[test]
    fn round_trip_bytes_and_refusals() {
        let s = KmeansScheme::from_id("kmeans3_g128").unwrap();
        let values: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let q = s.quantize(&values, &[300]).unwrap();
        assert_eq!(q.packed.len() as u64, s.packed_len(300));
        assert_eq!(q.packed.len(), 3 * 8 * 2 + (300 * 3usize).div_ceil(8));
        assert_eq!(s.dequantize(&q.packed, &[300]).unwrap(), q.dequantized);
        assert!(s.dequantize(&q.packed[1..], &[300]).is_err());
        // Non-finite values stay out of the fit and take the nearest stored centroid to ±∞ or 0.
        let q = KmeansScheme::from_id("kmeans2").unwrap().quantize(&[1.0, f32::NAN, 2.0, f32::INFINITY, -3.0, 0.2], &[6]).unwrap();
        // 4 centroids: −3, −1.33 (left empty), the mean of {0.2, 1} and 2; NaN takes the third.
        assert_eq!(q.dequantized[1], f16::from_f32(((0.2f32 as f64 + 1.0) / 2.0) as f32).to_f32());
        assert_eq!(q.dequantized[3], 2.0);
        // Beyond f16: the centroid saturates and the value counts as clipped.
        let q = KmeansScheme::from_id("kmeans2").unwrap().quantize(&[1e6, 0.0, 1.0, -1.0], &[4]).unwrap();
        assert_eq!((q.dequantized[0], q.clipped), (65504.0, 1));
        // A constant group: every centroid is the value, every code 0.
        let q = KmeansScheme::from_id("kmeans2").unwrap().quantize(&[0.5; 10], &[10]).unwrap();
        assert_eq!(q.dequantized, vec![0.5; 10]);
        assert_eq!(q.levels_used, 1);
    }
}
