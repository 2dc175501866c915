//! Packing throughput beside llama.cpp's `ggml_quantize_chunk`, for `npm run bench`: the native
//! bench (`benches/throughput.rs`) and the bench page (src/bench) time [`bench_pack`] on the
//! input of [`pack_input`], and `scripts/bench-llama.py` times `ggml_quantize_chunk` of the
//! llama.cpp build on the same values (written by the native bench, checked by [`fnv1a64`] on
//! every side) with the same importance vector.
//!
//! Like for like: `ggml_quantize_chunk` only packs (rows of finite values, whole blocks), so
//! [`pack`] runs only the block quantizers `Scheme::quantize` runs — not its NaN/Inf rules, its
//! decode of the packed bytes or its level counts (the `quantize` column of the scheme table
//! times all of that). The packed bytes' CRC-32 is reported on both sides, so the bench also
//! shows that both wrote the same bytes.

use crate::error::{Error, Result};
use crate::ggml_types;
use crate::samples;
use crate::schemes::{ggml, ggml_extra, kquants};
use serde::Serialize;

/// Values per row, as in the page's tensors and in llama.cpp's `n_per_row`.
pub const ROW: usize = 4096;

/// The types compared with llama.cpp, in the bench's order: every type `ggml_quantize_chunk`
/// writes that quantscope writes. `true`: timed with the importance vector (the IQ grid types,
/// as llama.cpp quantizes them; IQ2_XXS, IQ2_XS and IQ1_S cannot quantize without one); the
/// others without one (the plain `quantize_row_*_ref` paths, what `Scheme::quantize` ports).
pub const PACK_TYPES: [(&str, bool); 25] = [
    ("q8_0", false),
    ("q5_1", false),
    ("q5_0", false),
    ("q4_1", false),
    ("q4_0", false),
    ("mxfp4", false),
    ("q6_k", false),
    ("q5_k", false),
    ("q4_k", false),
    ("q3_k", false),
    ("q2_k", false),
    ("iq4_nl", false),
    ("iq4_xs", false),
    ("nvfp4", false),
    ("q2_0", false),
    ("tq2_0", false),
    ("tq1_0", false),
    ("q1_0", false),
    ("iq3_s", true),
    ("iq3_xxs", true),
    ("iq2_s", true),
    ("iq2_xs", true),
    ("iq2_xxs", true),
    ("iq1_m", true),
    ("iq1_s", true),
];

/// The bench's input: `elements / ROW` rows of `normal` values (seed 1, as the scheme table's
/// sample) and one importance weight per column, uniform in [0, 1) from an integer generator
/// (exact on every target). Errors when fewer than one row is asked for.
pub fn pack_input(elements: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let rows = elements / ROW;
    if rows == 0 {
        return Err(Error::InvalidArgument(format!("the pack bench needs at least one row of {ROW} values, got {elements}")));
    }
    let values = samples::generate("normal", rows, ROW, 1)?.data;
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let importance = (0..ROW)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Ok((values, importance))
}

/// FNV-1a 64 of the values' little-endian f32 bytes, in hex: shows that two builds (or the
/// llama.cpp timing script, reading the file the native bench wrote) timed the same input.
pub fn fnv1a64(values: &[f32]) -> String {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    for v in values {
        for b in v.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
    }
    format!("{h:016x}")
}

/// CRC-32 (IEEE, as Python's `zlib.crc32`) of the packed bytes.
pub fn crc32(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32).map(|i| (0..8).fold(i, |c, _| if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 })).collect();
    !bytes.iter().fold(!0u32, |c, &b| table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8))
}

/// `ggml_quantize_chunk(type, values, dst, 0, nrows, importance.len() or ROW, importance)`:
/// the packed bytes of rows of finite values (`values.len()` a whole number of blocks), with the
/// kernels `Scheme::quantize` chooses (SIMD128 where there is one). `importance` is one weight
/// per column of a row; it is passed only to the types that take one.
pub fn pack(id: &str, values: &[f32], importance: Option<&[f32]>) -> Result<Vec<u8>> {
    let mut out = vec![0u8; packed_len(id, values, importance)?];
    pack_into(id, values, importance, &mut out)?;
    Ok(out)
}

/// The bytes [`pack`] writes for `values`, after checking the lengths.
fn packed_len(id: &str, values: &[f32], importance: Option<&[f32]>) -> Result<usize> {
    let facts = ggml_types::by_name(id).ok_or_else(|| Error::UnknownScheme(id.to_string()))?;
    let block = facts.block as usize;
    if values.len() % block != 0 || importance.is_some_and(|w| w.is_empty() || w.len() % block != 0 || values.len() % w.len() != 0) {
        return Err(Error::InvalidArgument(format!("{id}: {} values are not whole rows of whole blocks of {block}", values.len())));
    }
    Ok(values.len() / block * facts.bytes as usize)
}

/// [`pack`] into `out` (as `ggml_quantize_chunk` writes into its caller's buffer, so the timing
/// holds no allocation), `out.len()` the packed length.
pub fn pack_into(id: &str, values: &[f32], importance: Option<&[f32]>, out: &mut [u8]) -> Result<()> {
    if out.len() != packed_len(id, values, importance)? {
        return Err(Error::InvalidArgument(format!("{id}: the output buffer is {} bytes, not the packed length", out.len())));
    }
    let facts = ggml_types::by_name(id).expect("checked by packed_len");
    let (block, bb) = (facts.block as usize, facts.bytes as usize);
    // The weights of block `b`, as each family's quantize_with_importance slices them.
    let weights = |b: usize| importance.map(|w| &w[(b * block) % w.len()..][..block]);
    if let Some(ty) = ggml::GgmlType::from_id(id) {
        if importance.is_some() {
            return Err(Error::InvalidArgument(format!("{id}: the pack bench times the legacy types without an importance vector")));
        }
        ggml::quantize_row(ty, values, out);
    } else if let Some(k) = kquants::KQuant::from_id(id) {
        for (b, (x, o)) in values.chunks_exact(block).zip(out.chunks_exact_mut(bb)).enumerate() {
            let x: &[f32; kquants::QK_K] = x.try_into().expect("a super-block");
            match weights(b) {
                Some(w) => k.quantize_block_weighted(x, w, o),
                None => k.quantize_block(x, o),
            }
        }
    } else if let Some(t) = ggml_extra::ExtraType::from_id(id) {
        for (b, (x, o)) in values.chunks_exact(block).zip(out.chunks_exact_mut(bb)).enumerate() {
            t.quantize_block(x, weights(b).filter(|_| t.takes_importance()), o);
        }
    } else {
        // The grid types' kernel allocates its own bytes (a copy of a few MB against seconds
        // of search).
        out.copy_from_slice(&pack_grid(id, values, importance)?);
    }
    Ok(())
}

#[cfg(feature = "iq-grids")]
fn pack_grid(id: &str, values: &[f32], importance: Option<&[f32]>) -> Result<Vec<u8>> {
    let t = crate::schemes::iquants::IqType::from_id(id).ok_or_else(|| Error::UnknownScheme(id.to_string()))?;
    t.pack(values, importance)
}

#[cfg(not(feature = "iq-grids"))]
fn pack_grid(id: &str, _: &[f32], _: Option<&[f32]>) -> Result<Vec<u8>> {
    Err(Error::UnknownScheme(id.to_string()))
}

/// Packing throughput of one type on one input.
#[derive(Debug, Clone, Serialize)]
pub struct PackThroughput {
    pub scheme: String,
    /// `enum ggml_type`, for the llama.cpp timing script.
    pub ggml_type: u32,
    /// Timed with the importance vector.
    pub importance: bool,
    pub elements: usize,
    /// Seconds of the fastest run.
    pub seconds: f64,
    /// MB/s of f32 input.
    pub pack_mb_s: f64,
    /// CRC-32 of the packed bytes.
    pub crc32: u32,
}

/// Times [`pack_into`] of `id` on `values`: one untimed run first (it builds the IQ grids'
/// tables, as llama.cpp's `ggml_quantize_init` does before its first use, and gives the bytes
/// whose CRC-32 is reported), then the fastest of `reps` into the same buffer.
pub fn bench_pack(id: &str, values: &[f32], importance: &[f32], reps: usize, now_ms: &dyn Fn() -> f64) -> Result<PackThroughput> {
    let with = PACK_TYPES.iter().find(|(t, _)| *t == id).map(|&(_, w)| w).ok_or_else(|| Error::UnknownScheme(id.to_string()))?;
    let w = with.then_some(importance);
    let facts = ggml_types::by_name(id).ok_or_else(|| Error::UnknownScheme(id.to_string()))?;
    let mut packed = pack(id, values, w)?;
    let crc = crc32(&packed);
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t0 = now_ms();
        pack_into(id, values, w, &mut packed)?;
        best = best.min(now_ms() - t0);
    }
    let seconds = best.max(1e-3) / 1e3;
    Ok(PackThroughput {
        scheme: id.to_string(),
        ggml_type: facts.id,
        importance: with,
        elements: values.len(),
        seconds,
        pack_mb_s: values.len() as f64 * 4.0 / 1e6 / seconds,
        crc32: crc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_writes_the_bytes_quantize_writes_for_every_compared_type() {
        let (values, importance) = pack_input(2 * ROW).unwrap();
        let shape = [2, ROW];
        for (id, with) in PACK_TYPES {
            let Ok(scheme) = crate::schemes::by_id(id) else { continue }; // grid types without iq-grids
            let want = if with {
                crate::schemes::quantize_with_importance(id, &values, &shape, &importance).unwrap().packed
            } else {
                scheme.quantize(&values, &shape).unwrap().packed
            };
            let got = pack(id, &values, with.then_some(&importance[..])).unwrap();
            assert!(got == want, "{id}: pack and quantize wrote different bytes");
        }
    }

    #[test]
    fn crc32_and_fnv_match_their_standard_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(fnv1a64(&[]), "cbf29ce484222325");
    }

    #[test]
    fn bad_lengths_and_ids_are_refused() {
        assert!(pack("q4_k", &[0.0; 100], None).is_err());
        assert!(pack("no_such", &[0.0; 256], None).is_err());
        assert!(pack("q4_0", &[0.0; 64], Some(&[1.0; 32])).is_err());
        assert!(pack("q4_0", &[0.0; 64], Some(&[])).is_err());
        assert!(pack_into("q4_0", &[0.0; 32], None, &mut [0u8; 10]).is_err());
        assert!(pack_input(ROW - 1).is_err());
        let clock = std::cell::Cell::new(0.0);
        let now = || {
            clock.set(clock.get() + 1.0);
            clock.get()
        };
        assert!(bench_pack("int8_sym", &[0.0; ROW], &[1.0; ROW], 1, &now).is_err());
        let r = bench_pack("q2_k", &[0.5; ROW], &[1.0; ROW], 2, &now).unwrap();
        assert_eq!((r.ggml_type, r.importance, r.elements), (10, false, ROW));
    }
}
