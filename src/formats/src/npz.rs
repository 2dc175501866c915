//! NumPy `.npz` reader: a zip archive of `.npy` members, as `numpy.savez` (stored) and
//! `numpy.savez_compressed` (deflated) write it (`numpy/lib/_npyio_impl.py`). Each member
//! `name.npy` becomes the tensor `name`; members not ending in `.npy` (numpy never writes any)
//! are skipped without being listed or inflated. An archive with no `.npy` member is an error.
//!
//! The zip is read with the `zip` crate (pure Rust, deflate through flate2's miniz_oxide backend).
//! Zip-bomb defence, all before anything is inflated: each member's declared uncompressed size
//! must be under [`MAX_MEMBER_BYTES`] (the largest .npy quantscope could load), their sum under
//! [`MAX_TOTAL_BYTES`], a member over 1 MiB may not claim more than 1000x its compressed size
//! (one deflate pass tops out near 1030:1, so a genuine member rarely gets there, and zlib makes
//! 2 MiB of zeros 983:1), and each member is read through a `Take` of its declared size plus one
//! byte, so a header that lies low cannot make us inflate more than it declared.

use super::{npy, Format, LoadedFile};
use crate::error::Result;
use crate::npy::NpyError;
use quantscope_core::tensor::MAX_ELEMENTS;
use std::fmt;
use std::io::{Cursor, Read};
use zip::CompressionMethod;

/// Errors reading `.npz` archives (zips of .npy files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpzError {
    /// The bytes are not a readable zip archive (the zip crate's complaint).
    BadArchive(String),
    /// The archive holds no `.npy` member (non-.npy members are skipped).
    NoArrays,
    /// A member uses a compression method or encryption other than stored/deflate.
    UnsupportedMember { member: String, why: String },
    /// A member declares an uncompressed size above the per-member cap.
    MemberTooLarge { member: String, declared: u64, cap: u64 },
    /// The members' declared uncompressed sizes add up to more than the archive cap.
    TotalTooLarge { declared: u64, cap: u64 },
    /// A member over 1 MB expands more than 1000 times (a zip bomb's signature).
    CompressionRatio { member: String, compressed: u64, declared: u64 },
    /// A member's compressed data is damaged (bad deflate stream or CRC).
    Corrupt { member: String, why: String },
    /// A member inflates to a size other than the one it declares.
    SizeMismatch { member: String, declared: u64, actual: u64 },
    /// A `.npy` member is itself malformed.
    Npy { member: String, error: NpyError },
}

impl fmt::Display for NpzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NpzError::*;
        match self {
            BadArchive(why) => write!(f, "not a readable .npz (zip) archive: {why}"),
            NoArrays => write!(f, "the .npz archive holds no .npy arrays"),
            UnsupportedMember { member, why } => write!(f, ".npz member '{member}': {why} (stored and deflate are read)"),
            MemberTooLarge { member, declared, cap } => {
                write!(f, ".npz member '{member}' declares {declared} bytes uncompressed, over the {cap}-byte cap")
            }
            TotalTooLarge { declared, cap } => {
                write!(f, ".npz members declare {declared} bytes uncompressed in all, over the {cap}-byte cap")
            }
            CompressionRatio { member, compressed, declared } => write!(
                f,
                ".npz member '{member}' claims {declared} bytes from {compressed} compressed: a ratio over 1000:1 looks like a zip bomb"
            ),
            Corrupt { member, why } => write!(f, ".npz member '{member}' is corrupt: {why}"),
            SizeMismatch { member, declared, actual } if actual > declared => {
                write!(f, ".npz member '{member}' declares {declared} bytes but inflates to more (reading stopped there)")
            }
            SizeMismatch { member, declared, actual } => {
                write!(f, ".npz member '{member}' declares {declared} bytes but inflates to only {actual}")
            }
            Npy { member, error } => write!(f, ".npz member '{member}': {error}"),
        }
    }
}

/// Room for a .npy member's magic, version, length and header (NumPy caps the header at 10,000).
const NPY_HEADER_ALLOWANCE: u64 = 16 * 1024;
/// The largest member worth inflating: [`MAX_ELEMENTS`] 8-byte elements plus a header.
pub const MAX_MEMBER_BYTES: u64 = MAX_ELEMENTS * 8 + NPY_HEADER_ALLOWANCE;
/// The most all members may declare together: wasm32's whole 4 GiB address space.
pub const MAX_TOTAL_BYTES: u64 = 4 << 30;
/// Members up to this size may compress arbitrarily well (small all-zero arrays do).
const RATIO_CHECK_ABOVE: u64 = 1 << 20;
const MAX_RATIO: u64 = 1000;

/// True when `bytes` starts with a zip local file header. Other zip-based formats (.pth, .keras,
/// .docx, ...) sniff the same and are then reported as .npz archives without arrays.
pub fn sniff(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// An .npy member, checked and ready to read.
struct Member {
    index: usize,
    name: String,
    declared: u64,
    compressed: u64,
}

fn corrupt(member: &str, e: impl std::fmt::Display) -> NpzError {
    NpzError::Corrupt { member: member.to_string(), why: e.to_string() }
}

/// Parses a whole .npz archive into its tensors, in archive order.
pub fn parse(bytes: &[u8]) -> Result<Vec<quantscope_core::tensor::Tensor>, NpzError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| NpzError::BadArchive(e.to_string()))?;

    // Pass 1: sizes and methods from the headers only.
    let mut members = Vec::new();
    let mut total = 0u64;
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index).map_err(|e| NpzError::BadArchive(e.to_string()))?;
        let name = file.name().to_string();
        if file.is_dir() || !name.ends_with(".npy") {
            continue;
        }
        if file.encrypted() {
            return Err(NpzError::UnsupportedMember { member: name, why: "it is encrypted".into() });
        }
        match file.compression() {
            CompressionMethod::Stored | CompressionMethod::Deflated => {}
            other => {
                return Err(NpzError::UnsupportedMember { member: name, why: format!("compression method {other:?}") });
            }
        }
        let (declared, compressed) = (file.size(), file.compressed_size());
        if declared > MAX_MEMBER_BYTES {
            return Err(NpzError::MemberTooLarge { member: name, declared, cap: MAX_MEMBER_BYTES });
        }
        if compressed > bytes.len() as u64 {
            return Err(corrupt(&name, format!("{compressed} compressed bytes declared in a {}-byte file", bytes.len())));
        }
        total = total.saturating_add(declared);
        members.push(Member { index, name, declared, compressed });
    }
    if members.is_empty() {
        return Err(NpzError::NoArrays);
    }
    if total > MAX_TOTAL_BYTES {
        return Err(NpzError::TotalTooLarge { declared: total, cap: MAX_TOTAL_BYTES });
    }
    if let Some(m) = members.iter().find(|m| m.declared > RATIO_CHECK_ABOVE && m.declared / m.compressed.max(1) > MAX_RATIO) {
        return Err(NpzError::CompressionRatio { member: m.name.clone(), compressed: m.compressed, declared: m.declared });
    }

    // Pass 2: inflate each member, at most one byte more than it declares.
    let mut tensors = Vec::with_capacity(members.len());
    for m in members {
        let file = archive.by_index(m.index).map_err(|e| corrupt(&m.name, e))?;
        // `declared` is capped and, above 1 MiB, within 1000x of bytes present in the file.
        let mut data = Vec::with_capacity(m.declared as usize);
        file.take(m.declared + 1).read_to_end(&mut data).map_err(|e| corrupt(&m.name, e))?;
        if data.len() as u64 != m.declared {
            return Err(NpzError::SizeMismatch { member: m.name, declared: m.declared, actual: data.len() as u64 });
        }
        let stem = m.name.strip_suffix(".npy").expect("filtered on .npy");
        let tensor = npy::parse(stem, &data).map_err(|error| NpzError::Npy { member: m.name.clone(), error })?;
        tensors.push(tensor);
    }
    Ok(tensors)
}

/// Reads a whole .npz archive (see [`parse`]).
pub fn load(bytes: &[u8]) -> Result<LoadedFile> {
    Ok(LoadedFile { format: Format::Npz, metadata: Vec::new(), tensors: parse(bytes)?, weights: Vec::new() })
}

/// Writes float32 arrays as an uncompressed `.npz` (what `numpy.savez` writes): one stored
/// member `name.npy` per array, in order.
pub fn write_f32(arrays: &[(&str, &[usize], &[f32])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(CompressionMethod::Stored).large_file(false);
    for (name, shape, values) in arrays {
        let npy = npy::write_f32(shape, values);
        // Writing into a Vec cannot fail; only a name the zip format cannot hold could.
        zip.start_file(format!("{name}.npy"), options).expect("a zip member name");
        zip.write_all(&npy).expect("writing to memory");
    }
    zip.finish().expect("writing to memory").into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::NpyError;

    /// A minimal zip writer (stored, or a raw deflate body supplied by the caller) so the unit
    /// tests can forge headers without a zip writer dependency.
    fn zip(members: &[(&str, u16, &[u8], u32, u32)]) -> Vec<u8> {
        // (name, method, body, declared uncompressed size, crc32)
        let mut out = Vec::new();
        let mut central = Vec::new();
        for &(name, method, body, size, crc) in members {
            let offset = out.len() as u32;
            let fields = |sig: &[u8], central: bool| {
                let mut h = sig.to_vec();
                if central {
                    h.extend(20u16.to_le_bytes()); // made by
                }
                h.extend(20u16.to_le_bytes()); // version needed
                h.extend(0u16.to_le_bytes()); // flags
                h.extend(method.to_le_bytes());
                h.extend([0u8; 4]); // time, date
                h.extend(crc.to_le_bytes());
                h.extend((body.len() as u32).to_le_bytes());
                h.extend(size.to_le_bytes());
                h.extend((name.len() as u16).to_le_bytes());
                h.extend(0u16.to_le_bytes()); // extra
                if central {
                    h.extend([0u8; 6]); // comment len, disk, internal attrs
                    h.extend(0u32.to_le_bytes()); // external attrs
                    h.extend(offset.to_le_bytes());
                }
                h.extend(name.as_bytes());
                h
            };
            out.extend(fields(b"PK\x03\x04", false));
            out.extend_from_slice(body);
            central.extend(fields(b"PK\x01\x02", true));
        }
        let cd_offset = out.len() as u32;
        out.extend(&central);
        out.extend(b"PK\x05\x06");
        out.extend([0u8; 4]);
        out.extend((members.len() as u16).to_le_bytes());
        out.extend((members.len() as u16).to_le_bytes());
        out.extend((central.len() as u32).to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    /// CRC-32 (IEEE, reflected), bit by bit.
    fn crc(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
        }
        !c
    }

    fn stored(name: &str, data: &[u8]) -> Vec<u8> {
        zip(&[(name, 0, data, data.len() as u32, crc(data))])
    }

    #[test]
    fn reads_stored_members_and_skips_others() {
        let npy = npy::write_f32(&[2], &[1.5, -2.0]);
        let bytes = zip(&[("notes.txt", 0, b"hi", 2, crc(b"hi")), ("sub/w.npy", 0, &npy, npy.len() as u32, crc(&npy))]);
        assert!(sniff(&bytes));
        let t = parse(&bytes).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].name.as_str(), t[0].data.clone()), ("sub/w", vec![1.5, -2.0]));
    }

    #[test]
    fn every_error_variant_is_reachable() {
        let npy = npy::write_f32(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let n = npy.len() as u32;
        assert!(matches!(parse(b"PK\x03\x04 not a zip"), Err(NpzError::BadArchive(_))));
        assert_eq!(parse(&zip(&[])), Err(NpzError::NoArrays));
        assert_eq!(parse(&stored("a.txt", b"x")), Err(NpzError::NoArrays));
        assert!(matches!(
            parse(&zip(&[("w.npy", 12, &npy, n, crc(&npy))])), // 12 = bzip2
            Err(NpzError::UnsupportedMember { .. })
        ));
        assert!(matches!(
            parse(&zip(&[("w.npy", 0, &npy, u32::MAX, crc(&npy))])),
            Err(NpzError::MemberTooLarge { declared: 4294967295, .. })
        ));
        let big = 2_000_000_000u32;
        assert!(matches!(
            parse(&zip(&[("a.npy", 0, &npy, big, 0), ("b.npy", 0, &npy, big, 0), ("c.npy", 0, &npy, big, 0)])),
            Err(NpzError::TotalTooLarge { declared: 6_000_000_000, .. })
        ));
        assert!(matches!(
            parse(&zip(&[("w.npy", 8, &npy, 5_000_000, crc(&npy))])),
            Err(NpzError::CompressionRatio { declared: 5_000_000, .. })
        ));
        // Stored data with a wrong CRC, and a deflate body that is not deflate.
        assert!(matches!(parse(&zip(&[("w.npy", 0, &npy, n, 1234)])), Err(NpzError::Corrupt { .. })));
        assert!(matches!(parse(&zip(&[("w.npy", 8, &[0xff; 40], n, 0)])), Err(NpzError::Corrupt { .. })));
        // A header that lies low: only declared + 1 bytes are read.
        assert_eq!(
            parse(&zip(&[("w.npy", 0, &npy, n - 8, crc(&npy))])),
            Err(NpzError::SizeMismatch { member: "w.npy".into(), declared: n as u64 - 8, actual: n as u64 - 7 })
        );
        assert_eq!(parse(&stored("w.npy", b"PK not npy")), Err(NpzError::Npy { member: "w.npy".into(), error: NpyError::BadMagic }));
    }

    #[test]
    fn loads_through_load_file() {
        let npy = npy::write_f32(&[1], &[7.0]);
        let f = crate::load_file("x.bin", &stored("v.npy", &npy)).unwrap();
        assert_eq!((f.format, f.tensors[0].name.as_str()), (Format::Npz, "v"));
    }

    #[test]
    fn written_archives_read_back() {
        let bytes = write_f32(&[("y", &[2, 2], &[1.0, -2.0, 3.5, 0.0]), ("z", &[], &[7.0])]);
        let t = parse(&bytes).unwrap();
        assert_eq!((t[0].name.as_str(), t[0].shape.clone(), t[0].data.clone()), ("y", vec![2, 2], vec![1.0, -2.0, 3.5, 0.0]));
        assert_eq!((t[1].name.as_str(), t[1].shape.clone(), t[1].data.clone()), ("z", vec![], vec![7.0]));
    }
}
