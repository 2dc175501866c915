//! NumPy `.npy` reader, following the format description in `numpy/lib/format.py`:
//! magic `\x93NUMPY`, a version byte pair, a little-endian header length (u16 for 1.0, u32 for
//! 2.0/3.0), a Python dict literal `{'descr': ..., 'fortran_order': ..., 'shape': (...)}`, then
//! the raw elements. Every length is checked against the bytes present before anything is
//! allocated, so a lying header cannot make us allocate what it claims.

use half::f16;
use quantscope_core::tensor::{checked_element_count, Tensor};
use std::fmt;

/// Errors reading `.npy` files. Each variant names what is wrong so the page can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpyError {
    /// The file does not start with the magic string `\x93NUMPY`.
    BadMagic,
    /// The file ends before the part named here is complete.
    Truncated { what: &'static str, needed: u64, available: u64 },
    /// A format version other than 1.0, 2.0 or 3.0.
    UnsupportedVersion { major: u8, minor: u8 },
    /// The header is not the Python dict literal NumPy writes.
    BadHeader(String),
    /// The header's `descr` names a dtype quantscope does not read.
    UnsupportedDtype(String),
    /// The shape's element count overflows, or exceeds the element cap.
    ShapeTooLarge { shape: Vec<u64> },
    /// The data section is shorter or longer than the shape and dtype say.
    DataLengthMismatch { expected: u64, actual: u64 },
    /// Memory for the decoded values could not be allocated (a browser tab's wasm memory is
    /// limited to a few GiB).
    OutOfMemory { bytes: u64 },
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyError::BadMagic => write!(f, "not a .npy file: it does not start with \\x93NUMPY"),
            NpyError::Truncated { what, needed, available } => {
                write!(f, "truncated .npy file: the {what} needs {needed} bytes but only {available} are there")
            }
            NpyError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are read)")
            }
            NpyError::BadHeader(why) => write!(f, "malformed .npy header: {why}"),
            NpyError::UnsupportedDtype(d) => write!(f, "unsupported .npy dtype '{d}'"),
            NpyError::ShapeTooLarge { shape } => {
                write!(f, "shape {shape:?} has too many elements (the limit is {} elements)", quantscope_core::tensor::MAX_ELEMENTS)
            }
            NpyError::DataLengthMismatch { expected, actual } => {
                write!(f, ".npy data is {actual} bytes but the header's shape and dtype need {expected}")
            }
            NpyError::OutOfMemory { bytes } => {
                write!(f, "not enough memory to decode the tensor ({} MiB of f32 values)", bytes >> 20)
            }
        }
    }
}

pub const MAGIC: &[u8] = b"\x93NUMPY";
/// NumPy itself refuses headers longer than this (`_MAX_HEADER_SIZE` in format.py).
const MAX_HEADER_LEN: usize = 10_000;

/// Element types quantscope reads from .npy, with their byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F16,
    F32,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::I8 | Kind::U8 => 1,
            Kind::F16 | Kind::I16 | Kind::U16 => 2,
            Kind::F32 | Kind::I32 | Kind::U32 => 4,
            Kind::F64 | Kind::I64 | Kind::U64 => 8,
        }
    }

    fn numpy_name(self) -> &'static str {
        match self {
            Kind::F16 => "float16",
            Kind::F32 => "float32",
            Kind::F64 => "float64",
            Kind::I8 => "int8",
            Kind::U8 => "uint8",
            Kind::I16 => "int16",
            Kind::U16 => "uint16",
            Kind::I32 => "int32",
            Kind::U32 => "uint32",
            Kind::I64 => "int64",
            Kind::U64 => "uint64",
        }
    }
}

/// Parses a `descr` such as `<f4`, `>i2`, `|u1`.
fn parse_descr(descr: &str) -> Result<(Kind, bool), NpyError> {
    let unsupported = || NpyError::UnsupportedDtype(descr.to_string());
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unsupported)?;
    let big_endian = match order {
        '<' | '|' | '=' => false,
        '>' => true,
        _ => return Err(unsupported()),
    };
    let kind = match chars.as_str() {
        "f2" => Kind::F16,
        "f4" => Kind::F32,
        "f8" => Kind::F64,
        "i1" => Kind::I8,
        "u1" => Kind::U8,
        "i2" => Kind::I16,
        "u2" => Kind::U16,
        "i4" => Kind::I32,
        "u4" => Kind::U32,
        "i8" => Kind::I64,
        "u8" => Kind::U64,
        _ => return Err(unsupported()),
    };
    Ok((kind, big_endian))
}

/// The three fields of the header dict.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// A tiny parser for the Python literal NumPy writes. It accepts exactly the subset NumPy
/// produces (quoted strings, True/False, tuples of integers) and nothing more.
struct HeaderParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> HeaderParser<'a> {
    fn skip_ws(&mut self) {
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), NpyError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(NpyError::BadHeader(format!("expected '{}' at byte {}", c as char, self.pos)))
        }
    }

    fn string(&mut self) -> Result<String, NpyError> {
        let quote = self.peek().filter(|&q| q == b'\'' || q == b'"');
        let quote = quote.ok_or_else(|| NpyError::BadHeader(format!("expected a quoted string at byte {}", self.pos)))?;
        self.pos += 1;
        let start = self.pos;
        while let Some(&c) = self.s.get(self.pos) {
            if c == quote {
                let text =
                    std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| NpyError::BadHeader("header string is not UTF-8".into()))?;
                self.pos += 1;
                return Ok(text.to_string());
            }
            self.pos += 1;
        }
        Err(NpyError::BadHeader("unterminated string".into()))
    }

    fn word(&mut self) -> &'a [u8] {
        self.skip_ws();
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn boolean(&mut self) -> Result<bool, NpyError> {
        match self.word() {
            b"True" => Ok(true),
            b"False" => Ok(false),
            other => Err(NpyError::BadHeader(format!("fortran_order must be True or False, not '{}'", String::from_utf8_lossy(other)))),
        }
    }

    fn shape(&mut self) -> Result<Vec<u64>, NpyError> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.peek() == Some(b')') {
                self.pos += 1;
                return Ok(dims);
            }
            let w = self.word();
            let text = std::str::from_utf8(w).unwrap_or("");
            let text = text.strip_suffix('L').unwrap_or(text); // Python 2 longs
            let dim: u64 = text
                .parse()
                .map_err(|_| NpyError::BadHeader(format!("shape entry '{}' is not a non-negative integer", String::from_utf8_lossy(w))))?;
            dims.push(dim);
            if dims.len() > 32 {
                return Err(NpyError::BadHeader("shape has more than 32 dimensions".into()));
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {}
                _ => return Err(NpyError::BadHeader(format!("expected ',' or ')' in shape at byte {}", self.pos))),
            }
        }
    }

    fn header(&mut self) -> Result<Header, NpyError> {
        self.expect(b'{')?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            let key = self.string()?;
            self.expect(b':')?;
            match key.as_str() {
                "descr" => {
                    if self.peek() != Some(b'\'') && self.peek() != Some(b'"') {
                        return Err(NpyError::UnsupportedDtype("structured dtype".into()));
                    }
                    descr = Some(self.string()?)
                }
                "fortran_order" => fortran = Some(self.boolean()?),
                "shape" => shape = Some(self.shape()?),
                other => return Err(NpyError::BadHeader(format!("unexpected key '{other}'"))),
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(NpyError::BadHeader(format!("expected ',' or '}}' at byte {}", self.pos))),
            }
        }
        Ok(Header {
            descr: descr.ok_or_else(|| NpyError::BadHeader("missing 'descr'".into()))?,
            fortran_order: fortran.ok_or_else(|| NpyError::BadHeader("missing 'fortran_order'".into()))?,
            shape: shape.ok_or_else(|| NpyError::BadHeader("missing 'shape'".into()))?,
        })
    }
}

/// True when `bytes` starts like a .npy file.
pub fn sniff(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Parses a whole .npy file into a tensor named `name`.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Tensor, NpyError> {
    let available = bytes.len() as u64;
    if bytes.len() < MAGIC.len() {
        return if MAGIC.starts_with(bytes) {
            Err(NpyError::Truncated { what: "magic string", needed: MAGIC.len() as u64, available })
        } else {
            Err(NpyError::BadMagic)
        };
    }
    if !sniff(bytes) {
        return Err(NpyError::BadMagic);
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err(NpyError::Truncated { what: "version", needed: 8, available }),
    };
    let (header_len, header_start) = match major {
        1 => match bytes.get(8..10) {
            Some(b) => (u16::from_le_bytes([b[0], b[1]]) as usize, 10usize),
            None => return Err(NpyError::Truncated { what: "header length", needed: 10, available }),
        },
        2 | 3 => match bytes.get(8..12) {
            Some(b) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12usize),
            None => return Err(NpyError::Truncated { what: "header length", needed: 12, available }),
        },
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    if minor != 0 {
        return Err(NpyError::UnsupportedVersion { major, minor });
    }
    if header_len > MAX_HEADER_LEN {
        return Err(NpyError::BadHeader(format!("header length {header_len} exceeds NumPy's limit of {MAX_HEADER_LEN}")));
    }
    let data_start = header_start + header_len;
    let header_bytes =
        bytes.get(header_start..data_start).ok_or(NpyError::Truncated { what: "header", needed: data_start as u64, available })?;
    let header = HeaderParser { s: header_bytes, pos: 0 }.header()?;
    let (kind, big_endian) = parse_descr(&header.descr)?;
    let count = checked_element_count(&header.shape).ok_or_else(|| NpyError::ShapeTooLarge { shape: header.shape.clone() })?;
    let expected = count * kind.size() as u64;
    let data = &bytes[data_start..];
    if (data.len() as u64) < expected {
        return Err(NpyError::Truncated { what: "data", needed: data_start as u64 + expected, available });
    }
    if data.len() as u64 != expected {
        return Err(NpyError::DataLengthMismatch { expected, actual: data.len() as u64 });
    }
    // Fail with a message, not an abort, when the tab cannot hold the decoded values.
    let mut values = Vec::new();
    values.try_reserve_exact(count as usize).map_err(|_| NpyError::OutOfMemory { bytes: count * 4 })?;
    decode(kind, big_endian, data, &mut values);
    let shape: Vec<usize> = header.shape.iter().map(|&d| d as usize).collect();
    let values = if header.fortran_order && shape.len() > 1 { fortran_to_c_order(&values, &shape) } else { values };
    Ok(Tensor::new(name, shape, kind.numpy_name(), values))
}

/// Decodes raw elements to f32. Integers wider than 24 bits and float64 lose precision here;
/// quantscope quantizes f32 values, as the reference quantizers do.
fn decode(kind: Kind, big_endian: bool, data: &[u8], out: &mut Vec<f32>) {
    fn each<const N: usize>(data: &[u8], big_endian: bool, out: &mut Vec<f32>, f: impl Fn([u8; N]) -> f32) {
        out.extend(data.chunks_exact(N).map(|c| {
            let mut b: [u8; N] = c.try_into().expect("chunks_exact yields N bytes");
            if big_endian {
                b.reverse();
            }
            f(b)
        }));
    }
    match kind {
        Kind::F16 => each(data, big_endian, out, |b: [u8; 2]| f16::from_le_bytes(b).to_f32()),
        Kind::F32 => each(data, big_endian, out, f32::from_le_bytes),
        Kind::F64 => each(data, big_endian, out, |b| f64::from_le_bytes(b) as f32),
        Kind::I8 => out.extend(data.iter().map(|&b| b as i8 as f32)),
        Kind::U8 => out.extend(data.iter().map(|&b| b as f32)),
        Kind::I16 => each(data, big_endian, out, |b| i16::from_le_bytes(b) as f32),
        Kind::U16 => each(data, big_endian, out, |b| u16::from_le_bytes(b) as f32),
        Kind::I32 => each(data, big_endian, out, |b| i32::from_le_bytes(b) as f32),
        Kind::U32 => each(data, big_endian, out, |b| u32::from_le_bytes(b) as f32),
        Kind::I64 => each(data, big_endian, out, |b| i64::from_le_bytes(b) as f32),
        Kind::U64 => each(data, big_endian, out, |b| u64::from_le_bytes(b) as f32),
    }
}

/// Reorders column-major values to row-major for the same shape.
fn fortran_to_c_order(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let n = values.len();
    let mut out = vec![0.0f32; n];
    // Column-major strides: the first axis varies fastest.
    let mut f_strides = vec![1usize; shape.len()];
    for axis in 1..shape.len() {
        f_strides[axis] = f_strides[axis - 1] * shape[axis - 1];
    }
    let mut index = vec![0usize; shape.len()];
    for slot in out.iter_mut() {
        let src: usize = index.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
        *slot = values[src];
        // Advance the row-major multi-index: the last axis varies fastest.
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Writes a float32 little-endian C-order .npy (version 1.0), as `numpy.save` would.
pub fn write_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad with spaces so the data starts on a 64-byte boundary, ending in a newline.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n", if fortran { "True" } else { "False" });
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_float32_c_order() {
        let t = parse("w", &npy("<f4", false, "(2, 3)", &f32_bytes(&[1., 2., 3., 4., 5., 6.]))).unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.dtype, "float32");
        assert_eq!(t.data, vec![1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn reads_fortran_order_as_row_major() {
        // The 2x3 matrix [[1,2,3],[4,5,6]] stored column by column.
        let t = parse("w", &npy("<f4", true, "(2, 3)", &f32_bytes(&[1., 4., 2., 5., 3., 6.]))).unwrap();
        assert_eq!(t.data, vec![1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn reads_big_endian_float16_and_float64() {
        let h: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|&x| f16::from_f32(x).to_be_bytes()).collect();
        assert_eq!(parse("h", &npy(">f2", false, "(2,)", &h)).unwrap().data, vec![1.5, -2.0]);
        let d: Vec<u8> = [0.25f64, 1e10].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(parse("d", &npy("<f8", false, "(2,)", &d)).unwrap().data, vec![0.25, 1e10]);
    }

    #[test]
    fn reads_scalars_and_empty_arrays() {
        assert_eq!(parse("s", &npy("<f4", false, "()", &f32_bytes(&[7.0]))).unwrap().data, vec![7.0]);
        let empty = parse("e", &npy("<f4", false, "(0, 5)", &[])).unwrap();
        assert_eq!((empty.shape, empty.data.len()), (vec![0, 5], 0));
    }

    #[test]
    fn every_error_variant_is_reachable() {
        assert_eq!(parse("x", b"PK\x03\x04 not npy"), Err(NpyError::BadMagic));
        assert!(matches!(parse("x", b"\x93NUM"), Err(NpyError::Truncated { what: "magic string", .. })));
        assert!(matches!(parse("x", b"\x93NUMPY\x01"), Err(NpyError::Truncated { what: "version", .. })));
        assert_eq!(parse("x", b"\x93NUMPY\x04\x00xx"), Err(NpyError::UnsupportedVersion { major: 4, minor: 0 }));
        let good = npy("<f4", false, "(4,)", &f32_bytes(&[1., 2., 3., 4.]));
        assert!(matches!(parse("x", &good[..20]), Err(NpyError::Truncated { what: "header", .. })));
        assert!(matches!(parse("x", &good[..good.len() - 3]), Err(NpyError::Truncated { what: "data", .. })));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(parse("x", &long), Err(NpyError::DataLengthMismatch { expected: 16, actual: 17 }));
        assert!(matches!(parse("x", &npy("<c8", false, "(1,)", &[0; 8])), Err(NpyError::UnsupportedDtype(_))));
        assert!(matches!(parse("x", &npy("<f4", false, "(a,)", &[])), Err(NpyError::BadHeader(_))));
        assert!(matches!(parse("x", &npy("<f4", false, "(4294967296, 4294967296)", &[])), Err(NpyError::ShapeTooLarge { .. })));
    }

    #[test]
    fn header_claiming_huge_data_does_not_allocate() {
        // 2^27 elements claimed, 4 bytes present: must fail fast on length, not allocate 512 MiB.
        let bytes = npy("<f4", false, "(134217728,)", &[0; 4]);
        assert!(matches!(parse("x", &bytes), Err(NpyError::Truncated { what: "data", .. })));
    }

    #[test]
    fn write_then_read_round_trips() {
        let values = [1.0f32, -0.5, f32::MIN_POSITIVE, 3.25, 0.0, -0.0];
        let bytes = write_f32(&[2, 3], &values);
        assert_eq!((bytes.len() - values.len() * 4) % 64, 0, "data must start 64-byte aligned");
        let t = parse("rt", &bytes).unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
}
