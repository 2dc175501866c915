//! Learn → Granularity's block decoder for llama.cpp's grid types (IQ2_XXS, IQ2_XS, IQ2_S,
//! IQ3_XXS, IQ3_S, IQ1_S, IQ1_M), and "what an importance matrix changes": one block quantized
//! with and without the importance vector, side by side.
//!
//! A grid type stores, per group of 8 values (IQ3: 4), an index into a table of lattice points
//! (`iq2xxs_grid` … `iq1s_grid` in llama.cpp's `ggml/src/ggml-common.h`), signs (the `_xxs`/`_xs`
//! types: 7 stored bits whose 8th is even parity, looked up in `ksigns_iq2xs`; the `_s` types: 8
//! explicit bits), and a small scale per 16 or 32 values under the super-block's f16 `d`. IQ1
//! has no signs: its points are −1, 0, 1, shifted by ±1/8 (`IQ1S_DELTA`). [`grid_block_decode`]
//! takes each of these out of a block's bytes and decodes every value from them in
//! `dequantize_row_iq*`'s operation order (`ggml/src/ggml-quants.c`), with core's own grid
//! tables ([`quantscope_core::ggml_dequant::grids`]); the tests hold the values to core's
//! dequantizer bit for bit. The words (layout, formula, where each bit is) are the page's
//! (www/learn/iq-blocks.js): formatted here they would double this code's size in the module
//! that carries it.
//!
//! [`quantize_block_of`] quantizes the block that holds an element, with or without an
//! importance vector, and measures its error with one. It needs core's `iq-grids` feature for
//! the grid types, which the tutor module cannot afford: the page calls both from the mixer
//! module (`src/mixer/src/learn.rs`), which has it, and the tutor never links them. The page
//! sends only the 256-value window that holds the element (a [`Window`]): every quantizer here
//! treats each block on its own (llama.cpp's `quantize_row_*` loops over blocks with nothing
//! carried between them), so the block quantized alone is the whole tensor's block byte for
//! byte; the tests check that too.

use quantscope_core::error::{Error, Result};
use quantscope_core::ggml_dequant::grids;
use quantscope_core::ggml_dequant::iquants::IQ1S_DELTA;
use quantscope_core::schemes::kquants::reference::fp16_to_fp32;
use quantscope_core::schemes::{self, Quantized};

use serde::Serialize;

/// The grid types, in the page's order.
pub const GRID_IDS: [&str; 7] = ["iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"];

/// Whether `id` is one of the grid types [`grid_block_view`] decodes.
pub fn is_grid(id: &str) -> bool {
    GRID_IDS.contains(&id)
}

/// A stretch of a tensor: `values` are elements `first..first + values.len()` (C order) of a
/// tensor of `total` values whose rows have `row_length` values.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub values: &'a [f32],
    pub first: usize,
    pub total: usize,
    pub row_length: usize,
}

/// One group of a grid block: its grid point, signs and scale, as numbers (the page writes
/// them out: a formatted string per field would double this decoder's size in the mixer module).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GridGroup {
    /// Position of its first value in the block, and how many values it has (8; IQ3: 4).
    pub position: u32,
    pub len: u32,
    /// The scale's sub-block (of 16 or 32 values).
    pub sub_block: u32,
    /// The grid index: its low 8 bits are byte `index_byte` of the block; the rest, if any,
    /// `high_bits` bits from bit `high_bit` of the little-endian word at byte `high_byte`.
    pub index: u32,
    pub index_byte: u32,
    pub high_byte: Option<u32>,
    pub high_bit: u32,
    pub high_bits: u32,
    /// The grid point it names: `len` values (IQ2/IQ3: magnitudes; IQ1: −1, 0 or 1).
    pub point: Vec<i32>,
    /// ±1 for each value (IQ1: none). The sign byte is stored whole (`_s` types: byte
    /// `sign_byte`, the group's signs its bits from `sign_bit`) or as 7 bits from bit `sign_bit`
    /// of the word at byte `sign_byte` whose value `sign_index` names `ksigns_iq2xs[sign_index]`,
    /// the 8th bit making the parity even.
    pub signs: Vec<i32>,
    pub sign_byte: Option<u32>,
    pub sign_bit: u32,
    pub sign_index: Option<u32>,
    /// The stored scale `s` and the factor the point is multiplied by (`db`, `dl`).
    pub scale_code: u32,
    pub scale: f32,
    /// IQ1: the shift added to each point value (±1/8).
    pub delta: Option<f32>,
    /// The group's values decoded, as `dequantize_row_iq*` forms them: `scale · point · sign`,
    /// or `scale · (point + delta)`.
    pub values: Vec<f32>,
}

/// One field of a grid block: its name (`d`, `qs`, `signs`, `qh`, `scales` …), where it is in
/// the packed tensor and its bytes. The page names its kind (www/learn/iq-blocks.js).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GridField {
    pub name: &'static str,
    pub offset: u32,
    pub bytes: Vec<u8>,
}

/// A grid block decoded: where it is, its fields, its `d` and its groups, which hold every
/// value. The page lists the elements from the groups and writes the words (a block view of
/// strings and elements would cost this decoder's module its serializer, for nothing the groups
/// do not say).
#[derive(Debug, Clone, Serialize)]
pub struct GridBlock {
    pub scheme: &'static str,
    pub block: u32,
    pub first_element: u32,
    pub elements_in_block: u32,
    pub block_offset: u32,
    pub block_len: u32,
    /// The super-block's f16 `d` (IQ1_M: the one spread over its scales' top nibbles).
    pub d: f32,
    pub fields: Vec<GridField>,
    pub groups: Vec<GridGroup>,
}

/// `element` must be among the values given.
fn check_window(w: &Window, element: usize) -> Result<()> {
    let end = w.first + w.values.len();
    if element < w.first || element >= end || w.row_length == 0 || w.total % w.row_length != 0 || end > w.total {
        return Err(Error::InvalidArgument(format!(
            "element {element} is not among the values given ({}..{end} of {} in rows of {})",
            w.first, w.total, w.row_length
        )));
    }
    Ok(())
}

/// Values per block of `id` as the views here open it (IQ4_NL: 32; the rest 256).
fn unit(id: &str) -> usize {
    if id == "iq4_nl" {
        32
    } else {
        256
    }
}

/// The block of `id` holding `element` quantized alone, with `importance` (one weight per column
/// of the tensor's rows) or without: `(block index, its values, the quantized block)`. Its
/// packed bytes are the whole tensor's for that block (see the module's comment).
fn quantize_block(id: &str, w: &Window, element: usize, importance: Option<&[f32]>) -> Result<(usize, Vec<f32>, Quantized)> {
    check_window(w, element)?;
    let unit = unit(id);
    let block = element / unit;
    let from = (block * unit).max(w.first) - w.first;
    let to = ((block + 1) * unit).min(w.first + w.values.len()) - w.first;
    if block * unit < w.first || to + w.first < ((block + 1) * unit).min(w.total) {
        return Err(Error::InvalidArgument(format!(
            "the values given ({}..{}) do not hold all of block {block}",
            w.first,
            w.first + w.values.len()
        )));
    }
    let x = w.values[from..to].to_vec();
    let q = match importance {
        Some(imp) => {
            // llama.cpp's checks (check_importance) on the tensor's rows, then this block's weights.
            if imp.len() != w.row_length {
                return Err(Error::InvalidArgument(format!(
                    "the importance vector has {} weights but rows have {} values",
                    imp.len(),
                    w.row_length
                )));
            }
            if w.row_length % unit != 0 {
                return Err(Error::InvalidArgument(format!(
                    "{id}: rows of {} values are not a whole number of {unit}-value blocks, which an importance vector needs",
                    w.row_length
                )));
            }
            let col = (block * unit) % w.row_length;
            schemes::quantize_with_importance(id, &x, &[1, x.len()], &imp[col..col + x.len()])?
        }
        None => schemes::by_id(id)?.quantize(&x, &[x.len()])?,
    };
    Ok((block, x, q))
}

fn not_grid(id: &str) -> Error {
    Error::InvalidArgument(format!("the grid block view opens iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s and iq1_m, not '{id}'"))
}

/// Grid block `block` of type `id` decoded from its packed bytes `b` (one block); `values` is
/// how many of the tensor's values it holds (at most 256: the tensor's last block may be short).
pub fn grid_block_decode(id: &str, b: &[u8], values: usize, block: usize) -> Result<GridBlock> {
    let Some(&scheme) = GRID_IDS.iter().find(|&&g| g == id) else {
        return Err(not_grid(id));
    };
    let bb = quantscope_core::ggml_types::by_name(id).map_or(0, |t| t.bytes as usize);
    if b.len() != bb || values == 0 || values > 256 {
        return Err(Error::InvalidArgument(format!("a {id} block is {bb} bytes and up to 256 values, got {} and {values}", b.len())));
    }
    Ok(decode_grid_block(scheme, b, values, block))
}

/// One block quantized alone: what the with-and-without comparison shows of each side.
#[derive(Debug, Clone, Serialize)]
pub struct BlockQuantized {
    pub block: u32,
    pub first_element: u32,
    /// The block's original values, its packed bytes (`ggml_quantize_chunk`'s) and its values
    /// decoded.
    pub originals: Vec<f32>,
    pub packed: Vec<u8>,
    pub decoded: Vec<f32>,
    /// Each value's weight in the measuring vector (its column's), if one was given.
    pub weights: Vec<f32>,
    /// Σ (x − x̂)² over the block, and Σ w·(x − x̂)² with those weights.
    pub sse: f64,
    pub weighted_sse: Option<f64>,
}

/// The block of `id` (a K-quant, IQ4_NL/XS or a grid type) holding `element`, quantized with the
/// importance vector `importance` (one weight per column of the tensor's rows) or without it,
/// and its squared error, plain and weighted by `measure` (another such vector, or the same).
/// The comparison asks for it twice: without and with the imatrix, both measured with it. The
/// bytes are `ggml_quantize_chunk`'s with and without an imatrix (core's
/// `quantize_with_importance` and plain `quantize`); llama.cpp's refusal for IQ2_XXS, IQ2_XS and
/// IQ1_S without one.
pub fn quantize_block_of(
    id: &str,
    w: &Window,
    element: usize,
    importance: Option<&[f32]>,
    measure: Option<&[f32]>,
) -> Result<BlockQuantized> {
    // The types whose llama.cpp quantizer takes an imatrix, but the legacy blocks (q4_0 … q5_1).
    if !schemes::takes_importance(id) || id.ends_with("_0") || id.ends_with("_1") {
        return Err(Error::InvalidArgument(format!(
            "a block with and without an importance matrix is one of the K-quants q2_k…q6_k, iq4_nl, iq4_xs or the grid types iq2_xxs … iq1_m, not '{id}'"
        )));
    }
    if let Some(m) = measure.filter(|m| m.len() != w.row_length) {
        return Err(Error::InvalidArgument(format!("the importance vector has {} weights but rows have {} values", m.len(), w.row_length)));
    }
    let (block, x, q) = quantize_block(id, w, element, importance)?;
    let first_element = block * unit(id);
    let weights: Vec<f32> = measure.map_or_else(Vec::new, |m| (0..x.len()).map(|i| m[(first_element + i) % w.row_length]).collect());
    let (mut sse, mut weighted_sse) = (0.0f64, 0.0f64);
    for (i, (&a, &b)) in x.iter().zip(&q.dequantized).enumerate() {
        let e = (a as f64 - b as f64).powi(2);
        sse += e;
        weighted_sse += weights.get(i).map_or(0.0, |&wt| wt as f64 * e);
    }
    Ok(BlockQuantized {
        block: block as u32,
        first_element: first_element as u32,
        originals: x,
        packed: q.packed,
        decoded: q.dequantized,
        weighted_sse: measure.map(|_| weighted_sse),
        weights,
        sse,
    })
}

// ------------------------------------------------------------------------------ the decoder

fn f16_at(b: &[u8], i: usize) -> f32 {
    fp16_to_fp32(u16_at(b, i) as u16)
}

/// Byte `i` of the block (0 past its end, which the length check before decoding rules out):
/// one read without a panic path, where indexing at every site would carry one each.
#[inline(never)]
fn byte_at(b: &[u8], i: usize) -> usize {
    b.get(i).copied().unwrap_or(0) as usize
}

fn u16_at(b: &[u8], i: usize) -> usize {
    byte_at(b, i) | byte_at(b, i + 1) << 8
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    (u16_at(b, i) | u16_at(b, i + 2) << 16) as u32
}

/// Where a group's signs come from.
enum Signs {
    /// 7 bits from bit `bit` of the word at byte `at`, naming `ksigns_iq2xs[k]`; the group uses
    /// its bits from `first`.
    Parity { at: usize, bit: u32, k: u32, first: usize },
    /// 8 bits stored whole in byte `at`; the group uses its bits from `first`.
    Explicit { at: usize, first: usize },
    /// IQ1: a shift of ±1/8 instead.
    Delta(f32),
}

/// Grid block `block`: its fields and groups from its packed bytes `b`, each value decoded from
/// them as `dequantize_row_iq*` forms it.
fn decode_grid_block(id: &'static str, b: &[u8], values: usize, block: usize) -> GridBlock {
    let start = block * b.len();
    let d = f16_at(b, 0);
    // IQ1_M: d is spread over the top nibbles of the four u16 scales.
    let sc: [usize; 4] = std::array::from_fn(|k| u16_at(b, 48 + 2 * k));
    let d_m = fp16_to_fp32(((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000)) as u16);
    // The type as its place in GRID_IDS: iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m.
    let t = GRID_IDS.iter().position(|&g| g == id).unwrap_or(6);
    let len = if t == 3 || t == 4 { 4 } else { 8 };
    let ksigns = grids::ksigns_iq2xs();
    // The type's grid, asked for once (one lookup below, not one per type).
    let grid: &[u64] = match t {
        0 => grids::iq2xxs(),
        1 => grids::iq2xs(),
        2 => grids::iq2s(),
        3 => grids::iq3xxs(),
        4 => grids::iq3s(),
        _ => grids::iq1s(),
    };
    let mut groups = Vec::with_capacity(256 / len);
    for g in 0..256 / len {
        // (sub-block, scale code, scale, index, high bits (byte, bit, count), signs)
        let (sub_block, s, scale, index, high, signs) = match t {
            0 => {
                let (ib32, l, o) = (g / 4, g % 4, 2 + 8 * (g / 4));
                let aux = u32_at(b, o + 4);
                let s = aux >> 28;
                let k = (aux >> (7 * l as u32)) & 127;
                let signs = Signs::Parity { at: o + 4, bit: 7 * l as u32, k, first: 0 };
                (ib32, s, d * (0.5 + s as f32) * 0.25, byte_at(b, o + l), None, signs)
            }
            1 => {
                let (ib32, l, at) = (g / 4, g % 4, 2 + 2 * g);
                let s = ((byte_at(b, 66 + ib32) >> (4 * (l / 2))) & 0xf) as u32;
                let q = u16_at(b, at);
                let signs = Signs::Parity { at, bit: 9, k: (q >> 9) as u32, first: 0 };
                (2 * ib32 + l / 2, s, d * (0.5 + s as f32) * 0.25, q & 511, Some((at, 8, 1)), signs)
            }
            2 => {
                let (ib32, l) = (g / 4, g % 4);
                let s = ((byte_at(b, 74 + ib32) >> (4 * (l / 2))) & 0xf) as u32;
                let idx = byte_at(b, 2 + g) | ((byte_at(b, 66 + ib32) << (8 - 2 * l)) & 0x300);
                let signs = Signs::Explicit { at: 34 + g, first: 0 };
                (2 * ib32 + l / 2, s, d * (0.5 + s as f32) * 0.25, idx, Some((66 + ib32, 2 * l as u32, 2)), signs)
            }
            3 => {
                let (ib32, l, h, at) = (g / 8, (g % 8) / 2, g % 2, 66 + 4 * (g / 8));
                let aux = u32_at(b, at);
                let s = aux >> 28;
                let signs = Signs::Parity { at, bit: 7 * l as u32, k: (aux >> (7 * l as u32)) & 127, first: 4 * h };
                (ib32, s, d * (0.5 + s as f32) * 0.5, byte_at(b, 2 + g), None, signs)
            }
            4 => {
                let (ib, l, half) = (g / 8, (g % 8) / 2, g % 2);
                let s = ((byte_at(b, 106 + ib / 2) >> (4 * (ib % 2))) & 0xf) as u32;
                let idx = byte_at(b, 2 + g) | ((byte_at(b, 66 + ib) << (8 - 2 * l - half)) & 256);
                let signs = Signs::Explicit { at: 74 + 4 * ib + l, first: 4 * half };
                let high = Some((66 + ib, (2 * l + half) as u32, 1));
                (ib, s, d * (1 + 2 * s as i32) as f32, idx, high, signs)
            }
            5 => {
                let (ib, l, at) = (g / 4, g % 4, 34 + 2 * (g / 4));
                let qh = u16_at(b, at);
                let s = ((qh >> 12) & 7) as u32;
                let idx = byte_at(b, 2 + g) | (((qh >> (3 * l)) & 7) << 8);
                let delta = if qh & 0x8000 != 0 { -IQ1S_DELTA } else { IQ1S_DELTA };
                (ib, s, d * (2 * s + 1) as f32, idx, Some((at, 3 * l as u32, 3)), Signs::Delta(delta))
            }
            _ => {
                // iq1_m
                let (ib, l) = (g / 4, g % 4);
                let s = ((sc[ib / 2] >> (6 * (ib % 2) + 3 * (l / 2))) & 7) as u32;
                let hat = 32 + 2 * ib + l / 2;
                let hb = byte_at(b, hat);
                let idx = byte_at(b, g) | ((hb << if l % 2 == 0 { 8 } else { 4 }) & 0x700);
                let delta = if hb & if l % 2 == 0 { 0x08 } else { 0x80 } != 0 { -IQ1S_DELTA } else { IQ1S_DELTA };
                let high = Some((hat, 4 * (l % 2) as u32, 3));
                (2 * ib + l / 2, s, d_m * (2 * s + 1) as f32, idx, high, Signs::Delta(delta))
            }
        };
        let entry = grid.get(index).copied().unwrap_or(0);
        let iq1 = matches!(signs, Signs::Delta(_));
        // Value j of the entry is its byte j (IQ1: an i8 of −1, 0 or 1).
        let point: Vec<i32> =
            (0..len).map(|j| if iq1 { (entry >> (8 * j)) as u8 as i8 as i32 } else { (entry >> (8 * j)) as u8 as i32 }).collect();
        let (sign_byte, sign_bit, sign_index, bits, first, delta) = match signs {
            Signs::Parity { at: i, bit, k, first } => (Some(i), bit, Some(k), ksigns[k as usize & 127], first, None),
            Signs::Explicit { at: i, first } => (Some(i), first as u32, None, byte_at(b, i) as u8, first, None),
            Signs::Delta(delta) => (None, 0, None, 0, 0, Some(delta)),
        };
        let sign_of = |j: usize| if bits & (1 << j) != 0 { -1 } else { 1 };
        // In dequantize_row_iq*'s order: db · grid · sign, or dl · (grid + delta).
        let values = (0..len)
            .map(|j| match delta {
                Some(delta) => scale * (point[j] as f32 + delta),
                None => scale * point[j] as f32 * sign_of(first + j) as f32,
            })
            .collect();
        groups.push(GridGroup {
            position: (g * len) as u32,
            len: len as u32,
            sub_block: sub_block as u32,
            index: index as u32,
            index_byte: match t {
                6 => g,
                1 => 2 + 2 * g,
                0 => 2 + 8 * (g / 4) + g % 4,
                _ => 2 + g,
            } as u32,
            high_byte: high.map(|h| h.0 as u32),
            high_bit: high.map_or(0, |h| h.1),
            high_bits: high.map_or(0, |h| h.2),
            point,
            // kmask_iq2xs: bit j set, value j negative.
            signs: if iq1 { Vec::new() } else { (first..first + len).map(sign_of).collect() },
            sign_byte: sign_byte.map(|v| v as u32),
            sign_bit,
            sign_index,
            scale_code: s,
            scale,
            delta,
            values,
        });
    }
    // The block's fields: (name, offset, bytes). Their kinds, the layout and the formula are
    // words the page writes (www/learn/iq-blocks.js GRID_TEXT): kept out of this module's size.
    let layout: &[(&'static str, usize, usize)] = match t {
        0 => &[("d", 0, 2), ("qs", 2, 64)],
        1 => &[("d", 0, 2), ("qs", 2, 64), ("scales", 66, 8)],
        2 => &[("d", 0, 2), ("qs", 2, 32), ("signs", 34, 32), ("qh", 66, 8), ("scales", 74, 8)],
        3 => &[("d", 0, 2), ("qs", 2, 64), ("scales_and_signs", 66, 32)],
        4 => &[("d", 0, 2), ("qs", 2, 64), ("qh", 66, 8), ("signs", 74, 32), ("scales", 106, 4)],
        5 => &[("d", 0, 2), ("qs", 2, 32), ("qh", 34, 16)],
        _ => &[("qs", 0, 32), ("qh", 32, 16), ("scales", 48, 8)],
    };
    let fields =
        layout.iter().map(|&(name, i, len)| GridField { name, offset: (start + i) as u32, bytes: b[i..i + len].to_vec() }).collect();
    GridBlock {
        scheme: id,
        block: block as u32,
        first_element: (block * 256) as u32,
        elements_in_block: values as u32,
        block_offset: start as u32,
        block_len: b.len() as u32,
        d: if id == "iq1_m" { d_m } else { d },
        fields,
        groups,
    }
}
