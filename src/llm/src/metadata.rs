//! Typed access to a GGUF file's metadata (the formats crate keeps each key/value as stored:
//! its `gguf_type` and bytes). Value types are `gguf_type` of llama.cpp's `ggml/include/gguf.h`;
//! the formats crate has already checked that every value is complete and well formed.

use crate::error::{LlmError, Result};
use quantscope_formats::gguf::{vt, RawKv};
use std::collections::HashMap;

/// The metadata of one GGUF file, by key.
pub struct Metadata {
    kvs: HashMap<String, (u32, Vec<u8>)>,
}

fn bad(key: &str, why: impl Into<String>) -> LlmError {
    LlmError::BadKey { key: key.to_string(), why: why.into() }
}

/// One scalar of type `t` at the start of `b` as an i128 (every GGUF integer fits), or None.
fn integer(t: u32, b: &[u8]) -> Option<i128> {
    let n = |k: usize| b.get(..k);
    Some(match t {
        vt::U8 => n(1)?[0] as i128,
        vt::I8 => n(1)?[0] as i8 as i128,
        vt::U16 => u16::from_le_bytes(n(2)?.try_into().ok()?) as i128,
        vt::I16 => i16::from_le_bytes(n(2)?.try_into().ok()?) as i128,
        vt::U32 => u32::from_le_bytes(n(4)?.try_into().ok()?) as i128,
        vt::I32 => i32::from_le_bytes(n(4)?.try_into().ok()?) as i128,
        vt::U64 => u64::from_le_bytes(n(8)?.try_into().ok()?) as i128,
        vt::I64 => i64::from_le_bytes(n(8)?.try_into().ok()?) as i128,
        _ => return None,
    })
}

fn scalar_size(t: u32) -> Option<usize> {
    Some(match t {
        vt::U8 | vt::I8 | vt::BOOL => 1,
        vt::U16 | vt::I16 => 2,
        vt::U32 | vt::I32 | vt::F32 => 4,
        vt::U64 | vt::I64 | vt::F64 => 8,
        _ => return None,
    })
}

/// A GGUF string (u64 length, bytes) at `*pos`, advancing it.
fn read_string<'a>(b: &'a [u8], pos: &mut usize) -> Option<&'a str> {
    let len = u64::from_le_bytes(b.get(*pos..*pos + 8)?.try_into().ok()?);
    let start = *pos + 8;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    *pos = end;
    std::str::from_utf8(b.get(start..end)?).ok()
}

impl Metadata {
    pub fn new(raw: &[RawKv]) -> Metadata {
        Metadata { kvs: raw.iter().map(|kv| (kv.key.clone(), (kv.value_type, kv.value.clone()))).collect() }
    }

    pub fn has(&self, key: &str) -> bool {
        self.kvs.contains_key(key)
    }

    /// A string value; None when the key is absent.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        if *t != vt::STRING {
            return Err(bad(key, "expected a string"));
        }
        read_string(b, &mut 0).map(|s| Some(s.to_string())).ok_or_else(|| bad(key, "malformed string"))
    }

    /// A non-negative integer of any GGUF integer type; None when the key is absent.
    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        let v = integer(*t, b).ok_or_else(|| bad(key, "expected an integer"))?;
        usize::try_from(v).map(Some).map_err(|_| bad(key, format!("{v} is not a valid count")))
    }

    /// A non-negative integer, or an array of them (llama.cpp's per-layer values, such as
    /// `llama.feed_forward_length`); None when the key is absent.
    pub fn usize_or_array(&self, key: &str) -> Result<Option<Vec<usize>>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        if *t != vt::ARRAY {
            return Ok(self.usize(key)?.map(|v| vec![v]));
        }
        let (et, n, body) = self.array_parts(key, b)?;
        let size = scalar_size(et).filter(|_| integer(et, &[0; 8]).is_some()).ok_or_else(|| bad(key, "expected an array of integers"))?;
        (0..n)
            .map(|i| {
                let v = body.get(i * size..).and_then(|x| integer(et, x)).ok_or_else(|| bad(key, "malformed array"))?;
                usize::try_from(v).map_err(|_| bad(key, format!("{v} is not a valid count")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An f32 (stored as f32 or f64); None when the key is absent.
    pub fn f32(&self, key: &str) -> Result<Option<f32>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        let v = match *t {
            vt::F32 => b.get(..4).map(|x| f32::from_le_bytes(x.try_into().unwrap())),
            vt::F64 => b.get(..8).map(|x| f64::from_le_bytes(x.try_into().unwrap()) as f32),
            _ => return Err(bad(key, "expected a float")),
        };
        v.map(Some).ok_or_else(|| bad(key, "malformed float"))
    }

    /// A bool; None when the key is absent.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        if *t != vt::BOOL {
            return Err(bad(key, "expected a bool"));
        }
        b.first().map(|&v| Some(v != 0)).ok_or_else(|| bad(key, "malformed bool"))
    }

    /// An array of strings; None when the key is absent.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        if *t != vt::ARRAY {
            return Err(bad(key, "expected an array of strings"));
        }
        let (et, n, body) = self.array_parts(key, b)?;
        if et != vt::STRING {
            return Err(bad(key, "expected an array of strings"));
        }
        let mut pos = 0;
        (0..n)
            .map(|_| read_string(body, &mut pos).map(str::to_string).ok_or_else(|| bad(key, "malformed string in the array")))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An array of i32 (llama.cpp's `tokenizer.ggml.token_type`); None when the key is absent.
    pub fn i32s(&self, key: &str) -> Result<Option<Vec<i32>>> {
        Ok(self.words(key, vt::I32, "int32")?.map(|w| w.into_iter().map(i32::from_le_bytes).collect()))
    }

    /// An array of bools (gemma3's per-layer `attention.sliding_window_pattern`); None when the
    /// key is absent or not a bool array.
    pub fn bools(&self, key: &str) -> Result<Option<Vec<bool>>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        if *t != vt::ARRAY {
            return Ok(None);
        }
        let (et, n, body) = self.array_parts(key, b)?;
        if et != vt::BOOL {
            return Ok(None);
        }
        body.get(..n).map(|v| Some(v.iter().map(|&x| x != 0).collect())).ok_or_else(|| bad(key, "malformed array"))
    }

    /// An array of f32 (llama.cpp's `tokenizer.ggml.scores`); None when the key is absent.
    pub fn f32s(&self, key: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.words(key, vt::F32, "float32")?.map(|w| w.into_iter().map(f32::from_le_bytes).collect()))
    }

    /// The 4-byte elements of an array of `elem_type`; None when the key is absent.
    fn words(&self, key: &str, elem_type: u32, what: &str) -> Result<Option<Vec<[u8; 4]>>> {
        let Some((t, b)) = self.kvs.get(key) else { return Ok(None) };
        let (et, n, body) = if *t == vt::ARRAY { self.array_parts(key, b)? } else { (u32::MAX, 0, &b[..0]) };
        if et != elem_type {
            return Err(bad(key, format!("expected an array of {what}")));
        }
        (0..n)
            .map(|i| body.get(i * 4..i * 4 + 4).map(|x| x.try_into().unwrap()).ok_or_else(|| bad(key, "malformed array")))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An array's element type, length and element bytes.
    fn array_parts<'a>(&self, key: &str, b: &'a [u8]) -> Result<(u32, usize, &'a [u8])> {
        let head = b.get(..12).ok_or_else(|| bad(key, "malformed array"))?;
        let et = u32::from_le_bytes(head[..4].try_into().unwrap());
        let n = u64::from_le_bytes(head[4..12].try_into().unwrap());
        let n = usize::try_from(n).map_err(|_| bad(key, "array too long"))?;
        Ok((et, n, &b[12..]))
    }
}
