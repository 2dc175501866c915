//! Learn panel 4, granularity: how many values share one scale, and what that buys.
//!
//! [`granularity_report`] quantizes a tensor with the same integer scheme at five
//! granularities — one scale per tensor, per output channel (axis 0), per group of 32, 64 and
//! 128 contiguous values — and returns each one's error and every group's scale, for the
//! page's heat map. The numbers are the scheme library's own ([`quantscope_core::schemes::int`]), measured
//! with the same error sums as [`quantscope_core::report::scheme_metrics`] (no dequantized copy).
//!
//! [`block_view`] opens one block of the packed bytes and decodes it field by field — the f16
//! scale of a Q4_0 block, its 16 bytes of nibbles (low nibble = element `j`, high nibble =
//! element `j + 16`), each code turned back into `d·(q − 8)` — so a learner can check the layout
//! the README documents against real bytes. The decoder here is written out for teaching, apart
//! from the library's kernels; tests hold it bit-exact to the schemes' dequantization and to
//! gguf-py's bytes in `tests/fixtures/ggml`.

use quantscope_core::error::{Error, Result};
use quantscope_core::schemes::bnb::{dynamic_code, BnbScheme, Code4, BLOCK as BNB_BLOCK, DQ_BLOCK};
use quantscope_core::schemes::ggml::{reference, GgmlType, QK};
use quantscope_core::schemes::ggml_extra::{iq4::KVALUES_IQ4NL, nvfp4::ue4m3_to_fp32, ternary::tq1_0_location, ExtraType};
use quantscope_core::schemes::int::{Granularity, IntScheme};
use quantscope_core::schemes::kquants::{reference as kref, KQuant, QK_K};
use quantscope_core::schemes::{self, Measured, Scheme};
use quantscope_core::stats::finite_or_null;
use quantscope_core::stats::metrics::from_sums;
use quantscope_core::tensor::Tensor;
use serde::Serialize;

/// The granularities the panel compares, as suffixes of an integer scheme id.
pub const GRANULARITIES: [(&str, &str); 5] = [
    ("", "per tensor"),
    ("_channel", "per channel"),
    ("_g32", "per group of 32"),
    ("_g64", "per group of 64"),
    ("_g128", "per group of 128"),
];

/// Widest heat-map row when the groups do not line up with the tensor's rows.
const WRAP_COLUMNS: usize = 64;

/// One granularity on one tensor: its error and all of its scales.
#[derive(Debug, Clone, Serialize)]
pub struct GranularityChoice {
    /// The scheme id, e.g. `int4_sym_g32`.
    pub scheme: String,
    /// "per tensor", "per channel", "per group of 32", ...
    pub label: &'static str,
    pub mse: f64,
    /// `null` when the round trip is exact.
    #[serde(serialize_with = "finite_or_null")]
    pub sqnr_db: f64,
    /// Packed bits per element, scales included.
    pub bits_per_weight: f64,
    /// Number of groups (= scales).
    pub groups: usize,
    /// Group `k` starts at element `k · element_stride` (C order).
    pub element_stride: usize,
    /// Heat-map layout: group `k` is drawn at row `k / grid_columns`, column `k % grid_columns`.
    pub grid_columns: usize,
    /// What a heat-map row and column are, e.g. "256 rows × 8 groups of 32".
    pub grid_caption: String,
    /// Every group's scale, in group order. (The wasm export sends these as a Float32Array.)
    #[serde(skip)]
    pub scales: Vec<f32>,
    /// Every group's zero point (asymmetric schemes only).
    #[serde(skip)]
    pub zero_points: Vec<f32>,
}

/// The five granularities of `int{bits}_{sym|asym}` on one tensor.
#[derive(Debug, Clone, Serialize)]
pub struct GranularityReport {
    pub bits: u32,
    pub symmetric: bool,
    pub shape: Vec<usize>,
    pub choices: Vec<GranularityChoice>,
}

/// Quantizes `t` with `int{bits}_{sym|asym}` at each of [`GRANULARITIES`].
pub fn granularity_report(t: &Tensor, bits: u32, symmetric: bool) -> Result<GranularityReport> {
    if ![8, 4, 2].contains(&bits) {
        return Err(Error::InvalidArgument(format!("bit width {bits} is not one of 8, 4, 2")));
    }
    if t.data.is_empty() {
        return Err(Error::InvalidArgument(format!("tensor '{}' is empty: there is nothing to group", t.name)));
    }
    let base = format!("int{bits}_{}", if symmetric { "sym" } else { "asym" });
    let n = t.data.len();
    let rows = t.shape.first().copied().unwrap_or(1).max(1);
    let inner = n / rows;
    let mut choices = Vec::with_capacity(GRANULARITIES.len());
    for (suffix, label) in GRANULARITIES {
        let scheme = IntScheme::from_id(&format!("{base}{suffix}")).ok_or_else(|| Error::UnknownScheme(format!("{base}{suffix}")))?;
        // Only the metrics are shown: measured a chunk at a time, no dequantized copy (the same
        // numbers as `error_metrics` over the copy, bit for bit: `schemes::Measured`).
        let mut measured = Measured::default();
        let q = scheme.quantize_to(&t.data, &t.shape, &mut measured)?;
        let metrics = from_sums(measured.sums.finish());
        let param = |name: &str| -> Vec<f32> {
            q.params.iter().find(|p| p.name == name).map(|p| p.values.iter().map(|&v| v as f32).collect()).unwrap_or_default()
        };
        let scales = param("scale");
        let groups = scales.len();
        let (element_stride, grid_columns, grid_caption) = match scheme.granularity {
            Granularity::Tensor => (n, 1, "one scale for all the tensor's values".to_string()),
            Granularity::Channel { .. } => (inner, 1, format!("{rows} channels (rows), one scale each")),
            Granularity::Group { size } if t.shape.len() >= 2 && inner % size == 0 => {
                (size, inner / size, format!("{rows} rows × {} groups of {size}", inner / size))
            }
            Granularity::Group { size } => {
                let cols = groups.min(WRAP_COLUMNS);
                (size, cols, format!("{groups} groups of {size} in C order, {cols} per heat-map row"))
            }
        };
        choices.push(GranularityChoice {
            scheme: scheme.id().to_string(),
            label,
            mse: metrics.mse,
            sqnr_db: metrics.sqnr_db,
            bits_per_weight: q.packed.len() as f64 * 8.0 / n as f64,
            groups,
            element_stride,
            grid_columns,
            grid_caption,
            zero_points: param("zero_point"),
            scales,
        });
    }
    Ok(GranularityReport { bits, symmetric, shape: t.shape.clone(), choices })
}

// ------------------------------------------------------------------------------ block view

/// Elements a block view lists at most (a whole group of 128; the first 128 of a channel).
pub const MAX_ELEMENTS_SHOWN: usize = 128;

/// One header field of a block: where it sits in the packed tensor and what it decodes to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Field {
    /// e.g. `d`, `m`, `qh`, `scale`, `zero_point`.
    pub name: &'static str,
    /// Its type as stored, e.g. `f16`, `f32`, `u8`, `u32`, `e8m0`.
    pub kind: &'static str,
    /// Byte offset in the packed tensor.
    pub offset: usize,
    pub bytes: Vec<u8>,
    pub value: f64,
    /// What the field decodes to when that is more than one number (a K-quant block's
    /// sub-block scales and mins); the page shows it instead of `value`.
    pub text: Option<String>,
}

/// One element of a block: its code's bits in the packed bytes and how it decodes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ElementView {
    /// Index in the tensor (C order).
    pub index: usize,
    /// Position inside the block or group.
    pub position: usize,
    pub original: f32,
    /// Byte offset (in the packed tensor) of the byte holding the code's low bits.
    pub byte_offset: usize,
    /// That byte.
    pub byte: u8,
    /// Bit position of the code inside the byte (0 = lowest; 4 = high nibble).
    pub shift: u32,
    /// Where the bits are, in words: "low nibble", "high nibble", "bits 2–3", "byte".
    pub place: String,
    /// The stored code (two's complement codes sign-extended; Q5's 5th bit included).
    pub code: i32,
    /// The decoded value, computed here step by step.
    pub decoded: f32,
    /// How many bits of the code are in `byte` at `shift` (the rest, if any, is named in `place`).
    pub low_bits: u32,
    /// The decoding with this element's numbers, when the view writes it out itself (the types
    /// beyond the legacy blocks and the K-quants), e.g. `0.0123 · kvalues_iq4nl[9] = 0.0123 · 13`.
    pub computed: Option<String>,
    /// K-quants: the element's sub-block and its factors as ggml forms them, `x̂ = scale·(q −
    /// bias) − min` with `scale = d·sc` and `min = dmin·m`.
    pub sub_block: Option<usize>,
    pub scale: Option<f32>,
    pub min: Option<f32>,
}

/// One block (GGML) or group (integer schemes) of a packed tensor, decoded.
#[derive(Debug, Clone, Serialize)]
pub struct BlockView {
    pub scheme: String,
    /// Block or group index.
    pub block: usize,
    /// First element of the block and how many of the tensor's elements it holds.
    pub first_element: usize,
    pub elements_in_block: usize,
    /// The block's layout in one line, e.g. `block_q4_0 = f16 d, u8 qs[16] (18 bytes)`.
    pub layout: String,
    /// How a code becomes a value, e.g. `x̂ = d · (q − 8)`.
    pub formula: String,
    /// Where the packed block's bytes start and how many there are, when they are contiguous
    /// (GGML blocks); integer schemes keep scales and codes apart.
    pub block_offset: Option<usize>,
    pub block_len: Option<usize>,
    pub fields: Vec<Field>,
    /// The first [`MAX_ELEMENTS_SHOWN`] elements.
    pub elements: Vec<ElementView>,
}

/// The schemes [`block_view`] can open: the GGML legacy types, the K-quants, the other ggml
/// types the library writes (IQ4_NL, IQ4_XS, NVFP4, TQ1_0, TQ2_0, Q1_0, Q2_0), bitsandbytes'
/// 4-bit blocks and every integer scheme.
pub fn can_view(id: &str) -> bool {
    GgmlType::from_id(id).is_some()
        || KQuant::from_id(id).is_some()
        || ExtraType::from_id(id).is_some()
        || BnbScheme::from_id(id).is_some()
        || IntScheme::from_id(id).is_some()
}

/// Quantizes `t` with `scheme_id` and decodes the block (GGML) or group (integer scheme) that
/// holds element `element`.
pub fn block_view(t: &Tensor, scheme_id: &str, element: usize) -> Result<BlockView> {
    if element >= t.data.len() {
        return Err(Error::InvalidArgument(format!("element {element} is outside tensor '{}' of {} values", t.name, t.data.len())));
    }
    if let Some(ty) = GgmlType::from_id(scheme_id) {
        let packed = schemes::by_id(scheme_id)?.quantize(&t.data, &t.shape)?.packed;
        return Ok(ggml_block_view(ty, &packed, &t.data, element / QK));
    }
    if let Some(kind) = KQuant::from_id(scheme_id) {
        let packed = kind.quantize(&t.data, &t.shape)?.packed;
        return Ok(kquant_block_view(kind, &packed, &t.data, element / QK_K));
    }
    if let Some(ty) = ExtraType::from_id(scheme_id) {
        let packed = ty.quantize(&t.data, &t.shape)?.packed;
        return Ok(extra_block_view(ty, &packed, &t.data, element / ty.block()));
    }
    if let Some(scheme) = BnbScheme::from_id(scheme_id) {
        let q = scheme.quantize(&t.data, &t.shape)?;
        return Ok(bnb_block_view(scheme, &q.packed, &q.dequantized, &t.data, &t.shape, element / BNB_BLOCK));
    }
    if let Some(scheme) = IntScheme::from_id(scheme_id) {
        let packed = scheme.quantize(&t.data, &t.shape)?.packed;
        return int_group_view(&scheme, &packed, &t.data, &t.shape, element);
    }
    Err(Error::InvalidArgument(format!(
        "the block view opens the GGML types q8_0, q4_0, q4_1, q5_0, q5_1, mxfp4, the K-quants q2_k…q6_k, iq4_nl, iq4_xs, nvfp4, tq1_0, tq2_0, q1_0, q2_0, bitsandbytes' nf4, fp4, nf4_dq, fp4_dq and the integer schemes, not '{scheme_id}'"
    )))
}

/// A view decoded from one block's bytes alone (as block 0) moved to where block `block` is in
/// the whole tensor: its first element `first`, its bytes at `block × block_len`.
pub fn place_view(mut v: BlockView, block: usize, first: usize) -> BlockView {
    let start = block * v.block_len.unwrap_or(0);
    v.block = block;
    v.first_element = first;
    v.block_offset = Some(start);
    for f in &mut v.fields {
        f.offset += start;
    }
    for e in &mut v.elements {
        e.index += first;
        e.byte_offset += start;
    }
    v
}

/// Block `block` of a K-quant or of IQ4_NL, IQ4_XS, NVFP4, TQ1_0, TQ2_0, Q1_0, Q2_0, decoded from
/// its packed bytes alone (`b`, one block) and its original values `x` (the tensor's last block
/// may be short): the view [`block_view`] gives of the whole tensor's block. The Learn view's
/// "with and without an importance matrix" quantizes one block in the mixer module and decodes
/// it here.
pub fn decode_block(id: &str, b: &[u8], x: &[f32], block: usize) -> Result<BlockView> {
    let (bb, n) = match (KQuant::from_id(id), ExtraType::from_id(id)) {
        (Some(kind), _) => (kind.block_bytes(), QK_K),
        (_, Some(ty)) => (ty.block_bytes(), ty.block()),
        _ => return Err(Error::InvalidArgument(format!("decode_block opens the K-quants and the other ggml types, not '{id}'"))),
    };
    if b.len() != bb || x.is_empty() || x.len() > n {
        return Err(Error::InvalidArgument(format!("a {id} block is {bb} bytes and up to {n} values, got {} and {}", b.len(), x.len())));
    }
    let view = match (KQuant::from_id(id), ExtraType::from_id(id)) {
        (Some(kind), _) => kquant_block_view(kind, b, x, 0),
        (_, Some(ty)) => extra_block_view(ty, b, x, 0),
        _ => unreachable!("checked above"),
    };
    Ok(place_view(view, block, block * n))
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    reference::fp16_value(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// Decodes GGML block `block` of `packed` (a whole tensor of `values.len()` elements).
pub fn ggml_block_view(ty: GgmlType, packed: &[u8], values: &[f32], block: usize) -> BlockView {
    let bb = ty.block_bytes();
    let start = block * bb;
    let b = &packed[start..start + bb];
    let field = |name, kind, at: usize, len: usize, value: f64| Field {
        name,
        kind,
        offset: start + at,
        bytes: b[at..at + len].to_vec(),
        value,
        text: None,
    };
    // (header fields, offset of qs, layout, formula)
    let (fields, qs_at, layout, formula) = match ty {
        GgmlType::Q8_0 => (
            vec![field("d", "f16", 0, 2, f16_at(b, 0) as f64)],
            2,
            "block_q8_0 = f16 d, i8 qs[32] (34 bytes)",
            "x̂ = d · q, q a signed byte",
        ),
        GgmlType::Q4_0 => {
            (vec![field("d", "f16", 0, 2, f16_at(b, 0) as f64)], 2, "block_q4_0 = f16 d, u8 qs[16] (18 bytes)", "x̂ = d · (q − 8)")
        }
        GgmlType::Q4_1 => (
            vec![field("d", "f16", 0, 2, f16_at(b, 0) as f64), field("m", "f16", 2, 2, f16_at(b, 2) as f64)],
            4,
            "block_q4_1 = f16 d, f16 m, u8 qs[16] (20 bytes)",
            "x̂ = d · q + m",
        ),
        GgmlType::Q5_0 => (
            vec![
                field("d", "f16", 0, 2, f16_at(b, 0) as f64),
                field("qh", "u32", 2, 4, u32::from_le_bytes([b[2], b[3], b[4], b[5]]) as f64),
            ],
            6,
            "block_q5_0 = f16 d, u8 qh[4], u8 qs[16] (22 bytes)",
            "q = nibble + 16 · (bit j of qh);  x̂ = d · (q − 16)",
        ),
        GgmlType::Q5_1 => (
            vec![
                field("d", "f16", 0, 2, f16_at(b, 0) as f64),
                field("m", "f16", 2, 2, f16_at(b, 2) as f64),
                field("qh", "u32", 4, 4, u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as f64),
            ],
            8,
            "block_q5_1 = f16 d, f16 m, u8 qh[4], u8 qs[16] (24 bytes)",
            "q = nibble + 16 · (bit j of qh);  x̂ = d · q + m",
        ),
        GgmlType::Mxfp4 => (
            vec![field("e", "e8m0", 0, 1, reference::e8m0_to_fp32_half(b[0]) as f64)],
            1,
            "block_mxfp4 = u8 e (E8M0), u8 qs[16] (17 bytes)",
            "x̂ = 2^(e−128) · kvalues[q], kvalues = 2·E2M1 = [0, 1, 2, 3, 4, 6, 8, 12, −0, −1, …, −12]",
        ),
    };
    let d = f16_at(b, 0);
    let m = if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) { f16_at(b, 2) } else { 0.0 };
    let qh = match ty {
        GgmlType::Q5_0 => u32::from_le_bytes([b[2], b[3], b[4], b[5]]),
        GgmlType::Q5_1 => u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        _ => 0,
    };
    let first = block * QK;
    let in_block = values.len().saturating_sub(first).min(QK);
    let elements = (0..in_block)
        .map(|j| {
            let (at, shift, place) = match ty {
                GgmlType::Q8_0 => (qs_at + j, 0, "byte".to_string()),
                _ if j < QK / 2 => (qs_at + j, 0, format!("low nibble of qs[{j}]")),
                _ => (qs_at + j - QK / 2, 4, format!("high nibble of qs[{}]", j - QK / 2)),
            };
            let byte = b[at];
            let (code, decoded) = match ty {
                GgmlType::Q8_0 => {
                    let q = byte as i8 as i32;
                    (q, q as f32 * d)
                }
                GgmlType::Q4_0 => {
                    let q = ((byte >> shift) & 0xF) as i32;
                    (q, d * (q - 8) as f32)
                }
                GgmlType::Q4_1 => {
                    let q = ((byte >> shift) & 0xF) as i32;
                    (q, d * q as f32 + m)
                }
                GgmlType::Q5_0 | GgmlType::Q5_1 => {
                    let q = (((byte >> shift) & 0xF) as u32 | (((qh >> j) & 1) << 4)) as i32;
                    if ty == GgmlType::Q5_0 {
                        (q, d * (q - 16) as f32)
                    } else {
                        (q, d * q as f32 + m)
                    }
                }
                GgmlType::Mxfp4 => {
                    let q = ((byte >> shift) & 0xF) as i32;
                    (q, reference::e8m0_to_fp32_half(b[0]) * reference::KVALUES_MXFP4[q as usize] as f32)
                }
            };
            let place = if matches!(ty, GgmlType::Q5_0 | GgmlType::Q5_1) { format!("{place} + bit {j} of qh") } else { place };
            ElementView {
                index: first + j,
                position: j,
                original: values[first + j],
                byte_offset: start + at,
                byte,
                shift,
                place,
                code,
                decoded,
                low_bits: if ty == GgmlType::Q8_0 { 8 } else { 4 },
                computed: None,
                sub_block: None,
                scale: None,
                min: None,
            }
        })
        .collect();
    BlockView {
        scheme: ty.id().to_string(),
        block,
        first_element: first,
        elements_in_block: in_block,
        layout: layout.to_string(),
        formula: formula.to_string(),
        block_offset: Some(start),
        block_len: Some(bb),
        fields,
        elements,
    }
}

/// Decodes K-quant super-block `block` of `packed` (a whole tensor of `values.len()` values):
/// `d` (and `dmin`), the packed sub-block scales (and mins) decoded, and each element's code
/// with the factors ggml forms for its sub-block (`KQuant::sub_affine`, the dequantizer's).
pub fn kquant_block_view(kind: KQuant, packed: &[u8], values: &[f32], block: usize) -> BlockView {
    let bb = kind.block_bytes();
    let start = block * bb;
    let b = &packed[start..start + bb];
    let f16 = |at: usize| kref::fp16_to_fp32(u16::from_le_bytes([b[at], b[at + 1]]));
    let (d_at, dmin_at) = kind.d_offsets();
    let mut fields = vec![Field {
        name: "d",
        kind: "f16",
        offset: start + d_at,
        bytes: b[d_at..d_at + 2].to_vec(),
        value: f16(d_at) as f64,
        text: None,
    }];
    if let Some(at) = dmin_at {
        fields.push(Field {
            name: "dmin",
            kind: "f16",
            offset: start + at,
            bytes: b[at..at + 2].to_vec(),
            value: f16(at) as f64,
            text: None,
        });
    }
    // The sub-block scales (and mins) as integers, in sub-block order.
    let (sub, scales_at, scales_len, kind_text): (usize, usize, usize, &'static str) = match kind {
        KQuant::Q2K => (16, 0, 16, "u8[16]: 4-bit scale | 4-bit min << 4"),
        KQuant::Q3K => (16, 96, 12, "u8[12]: 16 6-bit scales, stored + 32"),
        KQuant::Q4K | KQuant::Q5K => (32, 4, 12, "u8[12]: 8 6-bit scales and 8 6-bit mins"),
        KQuant::Q6K => (16, 192, 16, "i8[16]: one scale per sub-block"),
    };
    let per_sub: Vec<(i32, Option<i32>)> = (0..QK_K / sub)
        .map(|j| match kind {
            KQuant::Q2K => ((b[j] & 0xF) as i32, Some((b[j] >> 4) as i32)),
            KQuant::Q3K => (kref::q3_scale(&b[96..108], j) as i32, None),
            KQuant::Q4K | KQuant::Q5K => {
                let (s, m) = kref::get_scale_min_k4(j, &b[4..16]);
                (s as i32, Some(m as i32))
            }
            KQuant::Q6K => (b[192 + j] as i8 as i32, None),
        })
        .collect();
    let list = |v: Vec<i32>| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
    let mut text = format!("scales sc = [{}]", list(per_sub.iter().map(|p| p.0).collect()));
    if per_sub[0].1.is_some() {
        text.push_str(&format!("; mins m = [{}]", list(per_sub.iter().map(|p| p.1.unwrap_or(0)).collect())));
    }
    fields.push(Field {
        name: "scales",
        kind: kind_text,
        offset: start + scales_at,
        bytes: b[scales_at..scales_at + scales_len].to_vec(),
        value: per_sub.len() as f64,
        text: Some(text),
    });
    let (layout, formula) = match kind {
        KQuant::Q2K => (
            "block_q2_K = u8 scales[16], u8 qs[64], f16 d, f16 dmin (84 bytes): 256 values in 16 sub-blocks of 16",
            "x̂ = (d · sc) · q − (dmin · m), sc and m the sub-block's 4-bit scale and min; q 2 bits",
        ),
        KQuant::Q3K => (
            "block_q3_K = u8 hmask[32], u8 qs[64], u8 scales[12], f16 d (110 bytes): 256 values in 16 sub-blocks of 16",
            "x̂ = (d · sc) · (q − 4), sc the sub-block's 6-bit scale − 32; q = 2 bits of qs + 1 bit of hmask",
        ),
        KQuant::Q4K => (
            "block_q4_K = f16 d, f16 dmin, u8 scales[12], u8 qs[128] (144 bytes): 256 values in 8 sub-blocks of 32",
            "x̂ = (d · sc) · q − (dmin · m), sc and m the sub-block's 6-bit scale and min; q 4 bits",
        ),
        KQuant::Q5K => (
            "block_q5_K = f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128] (176 bytes): 256 values in 8 sub-blocks of 32",
            "x̂ = (d · sc) · q − (dmin · m); q = 4 bits of qs + 1 bit of qh",
        ),
        KQuant::Q6K => (
            "block_q6_K = u8 ql[128], u8 qh[64], i8 scales[16], f16 d (210 bytes): 256 values in 16 sub-blocks of 16",
            "x̂ = (d · sc) · (q − 32), sc the sub-block's 8-bit scale; q = 4 bits of ql + 2 bits of qh",
        ),
    };
    let first = block * QK_K;
    let in_block = values.len().saturating_sub(first).min(QK_K);
    let elements = (0..in_block.min(MAX_ELEMENTS_SHOWN))
        .map(|j| {
            let ((at, shift, mask), high) = kind.code_location(j);
            let code = kind.code(b, j) as i32;
            let (scale, min, bias) = kind.sub_affine(b, j);
            let low = match mask.count_ones() {
                4 if shift == 0 => format!("low nibble of byte {at}"),
                4 => format!("high nibble of byte {at}"),
                w => format!("bits {shift}–{} of byte {at}", shift + w - 1),
            };
            let place = match high {
                None => low,
                Some((hat, hshift, hmask)) if hmask.count_ones() == 1 => format!("{low} + bit {hshift} of byte {hat}"),
                Some((hat, hshift, hmask)) => format!("{low} + bits {hshift}–{} of byte {hat}", hshift + hmask.count_ones() - 1),
            };
            ElementView {
                index: first + j,
                position: j,
                original: values[first + j],
                byte_offset: start + at,
                byte: b[at],
                shift,
                place,
                code,
                // As the dequantizer forms it (kquants/dequant.rs): (d·sc)·(q − bias) − dmin·m.
                decoded: scale * (code - bias) as f32 - min,
                low_bits: mask.count_ones(),
                computed: None,
                sub_block: Some(j / sub),
                scale: Some(scale),
                min: Some(min),
            }
        })
        .collect();
    BlockView {
        scheme: kind.id().to_string(),
        block,
        first_element: first,
        elements_in_block: in_block,
        layout: layout.to_string(),
        formula: formula.to_string(),
        block_offset: Some(start),
        block_len: Some(bb),
        fields,
        elements,
    }
}

/// Decodes block `block` of a ggml type beyond the legacy blocks and the K-quants: its header
/// fields, and each code with the factor and level it decodes to. `decoded` is the dequantizer's
/// own value for the element (llama.cpp's `dequantize_row_*` port), and `computed` writes the
/// same product out with the element's numbers.
pub fn extra_block_view(ty: ExtraType, packed: &[u8], values: &[f32], block: usize) -> BlockView {
    let (bb, n) = (ty.block_bytes(), ty.block());
    let start = block * bb;
    let b = &packed[start..start + bb];
    let mut decoded = vec![0.0f32; n];
    ty.dequantize_blocks(b, &mut decoded);
    let f16 = |at: usize| kref::fp16_to_fp32(u16::from_le_bytes([b[at], b[at + 1]]));
    let field = |name, kind, at: usize, len: usize, value: f64, text: Option<String>| Field {
        name,
        kind,
        offset: start + at,
        bytes: b[at..at + len].to_vec(),
        value,
        text,
    };
    let list = |v: &[f32]| v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(", ");
    // IQ4_XS's per-32 scales: dl = d·(ls − 32), ls = 4 low bits | 2 high bits << 4.
    let iq4xs_ls =
        |ib: usize| ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) as i32 | ((((u16::from_le_bytes([b[2], b[3]]) >> (2 * ib)) & 3) as i32) << 4);
    let (fields, layout, formula) = match ty {
        ExtraType::Iq4Nl => (
            vec![field("d", "f16", 0, 2, f16(0) as f64, None)],
            "block_iq4_nl = f16 d, u8 qs[16] (18 bytes): 32 values",
            "x̂ = d · kvalues_iq4nl[q], kvalues_iq4nl = [−127, −104, −83, −65, −49, −35, −22, −10, 1, 13, 25, 38, 53, 69, 89, 113]",
        ),
        ExtraType::Iq4Xs => {
            let dl: Vec<f32> = (0..8).map(|ib| f16(0) * (iq4xs_ls(ib) - 32) as f32).collect();
            let ls: Vec<f32> = (0..8).map(|ib| iq4xs_ls(ib) as f32).collect();
            (
                vec![
                    field("d", "f16", 0, 2, f16(0) as f64, None),
                    field("scales_h", "u16: 2 high bits of each ls", 2, 2, u16::from_le_bytes([b[2], b[3]]) as f64, None),
                    field(
                        "scales_l",
                        "u8[4]: 4 low bits of each ls",
                        4,
                        4,
                        0.0,
                        Some(format!("ls = [{}]; dl = d·(ls − 32) = [{}]", list(&ls), list(&dl))),
                    ),
                ],
                "block_iq4_xs = f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128] (136 bytes): 256 values in 8 blocks of 32",
                "x̂ = d·(ls − 32) · kvalues_iq4nl[q], ls the block of 32's 6-bit scale",
            )
        }
        ExtraType::Nvfp4 => {
            let d: Vec<f32> = (0..4).map(|s| ue4m3_to_fp32(b[s])).collect();
            (
                vec![field("d", "ue4m3[4]", 0, 4, 0.0, Some(format!("one scale per 16 values (halved) = [{}]", list(&d))))],
                "block_nvfp4 = u8 d[4] (UE4M3), u8 qs[32] (36 bytes): 64 values in 4 sub-blocks of 16",
                "x̂ = d[sub-block] · kvalues[q], kvalues = 2·E2M1 = [0, 1, 2, 3, 4, 6, 8, 12, −0, −1, …, −12]",
            )
        }
        ExtraType::Tq2_0 => (
            vec![field("d", "f16", 64, 2, f16(64) as f64, None)],
            "block_tq2_0 = u8 qs[64], f16 d (66 bytes): 256 values, 2 bits each",
            "x̂ = d · (q − 1), q ∈ {0, 1, 2}: a ternary weight −d, 0 or d",
        ),
        ExtraType::Tq1_0 => (
            vec![field("d", "f16", 52, 2, f16(52) as f64, None)],
            "block_tq1_0 = u8 qs[48], u8 qh[4], f16 d (54 bytes): 256 values, five base-3 digits per byte (1.6875 bits each)",
            "x̂ = d · (q − 1), q ∈ {0, 1, 2} the value's base-3 digit",
        ),
        ExtraType::Q1_0 => (
            vec![field("d", "f16", 0, 2, f16(0) as f64, None)],
            "block_q1_0 = f16 d, u8 qs[16] (18 bytes): 128 values, 1 bit each",
            "x̂ = d if the bit is 1, −d if it is 0",
        ),
        ExtraType::Q2_0 => (
            vec![field("d", "f16", 0, 2, f16(0) as f64, None)],
            "block_q2_0 = f16 d, u8 qs[16] (18 bytes): 64 values, 2 bits each, lowest first",
            "x̂ = d · (q − 1), q ∈ {0, 1, 2, 3}",
        ),
    };
    let first = block * n;
    let in_block = values.len().saturating_sub(first).min(n);
    let elements = (0..in_block.min(MAX_ELEMENTS_SHOWN))
        .map(|j| {
            let code = ty.code(b, j);
            let (at, shift, low_bits, place) = if ty == ExtraType::Tq1_0 {
                let (at, digit) = tq1_0_location(j);
                (at, 0, 8, format!("base-3 digit {digit} of byte {at}"))
            } else {
                let (at, shift, mask) = ty.bit_field(j);
                let w = mask.count_ones();
                let place =
                    if w == 1 { format!("bit {shift} of byte {at}") } else { format!("bits {shift}–{} of byte {at}", shift + w - 1) };
                (at, shift, w, place)
            };
            let q = code as i32;
            let computed = match ty {
                ExtraType::Iq4Nl => format!("{} · kvalues_iq4nl[{q}] = {} · {}", f16(0), f16(0), KVALUES_IQ4NL[code as usize]),
                ExtraType::Iq4Xs => {
                    let ls = iq4xs_ls(j / 32);
                    format!(
                        "{} · ({ls} − 32) · kvalues_iq4nl[{q}] = {} · {}",
                        f16(0),
                        f16(0) * (ls - 32) as f32,
                        KVALUES_IQ4NL[code as usize]
                    )
                }
                ExtraType::Nvfp4 => format!(
                    "{} · kvalues[{q}] = {} · {}",
                    ue4m3_to_fp32(b[j / 16]),
                    ue4m3_to_fp32(b[j / 16]),
                    reference::KVALUES_MXFP4[code as usize]
                ),
                ExtraType::Tq2_0 => format!("{} · ({q} − 1)", f16(64)),
                ExtraType::Tq1_0 => format!("{} · ({q} − 1)", f16(52)),
                ExtraType::Q1_0 => format!("{}{}", if code == 1 { "" } else { "−" }, f16(0)),
                ExtraType::Q2_0 => format!("{} · ({q} − 1)", f16(0)),
            };
            ElementView {
                index: first + j,
                position: j,
                original: values[first + j],
                byte_offset: start + at,
                byte: b[at],
                shift,
                place,
                code: q,
                decoded: decoded[j],
                low_bits,
                computed: Some(computed),
                sub_block: None,
                scale: None,
                min: None,
            }
        })
        .collect();
    BlockView {
        scheme: ty.id().to_string(),
        block,
        first_element: first,
        elements_in_block: in_block,
        layout: layout.to_string(),
        formula: formula.to_string(),
        block_offset: Some(start),
        block_len: Some(bb),
        fields,
        elements,
    }
}

/// Decodes bitsandbytes block `block` (64 values) of a packed tensor. Its codes and its absmax
/// are stored apart (codes first, two per byte with the first value in the high nibble; then
/// one f32 absmax per block, or for `_dq` a u8 per block into bnb's dynamic code, an f32 per 256
/// blocks and one f32 offset), so the view names each field's offset. `dequantized` is the
/// scheme's own round trip, which `decoded` shows; `computed` writes out `absmax · table[q]`.
pub fn bnb_block_view(scheme: BnbScheme, packed: &[u8], dequantized: &[f32], values: &[f32], shape: &[usize], block: usize) -> BlockView {
    let n = values.len();
    let (codes_len, blocks) = (n.div_ceil(2), n.div_ceil(BNB_BLOCK));
    let f32_at = |at: usize| f32::from_le_bytes([packed[at], packed[at + 1], packed[at + 2], packed[at + 3]]);
    let table = scheme.code.dequant_table(shape);
    let (fields, absmax) = if scheme.double_quant {
        let q_at = codes_len + block;
        let a2_at = codes_len + blocks + 4 * (block / DQ_BLOCK);
        let off_at = codes_len + blocks + 4 * blocks.div_ceil(DQ_BLOCK);
        let (q, absmax2, offset) = (packed[q_at], f32_at(a2_at), f32_at(off_at));
        let absmax = dynamic_code()[q as usize] * absmax2 + offset;
        let field = |name, kind, at: usize, len: usize, value: f64| Field {
            name,
            kind,
            offset: at,
            bytes: packed[at..at + len].to_vec(),
            value,
            text: None,
        };
        (
            vec![
                Field {
                    text: Some(format!("index {q} into the dynamic code = {}", dynamic_code()[q as usize])),
                    ..field("absmax_q", "u8", q_at, 1, q as f64)
                },
                field("absmax2", "f32", a2_at, 4, absmax2 as f64),
                field("offset", "f32", off_at, 4, offset as f64),
            ],
            absmax,
        )
    } else {
        let at = codes_len + 4 * block;
        (
            vec![Field {
                name: "absmax",
                kind: "f32",
                offset: at,
                bytes: packed[at..at + 4].to_vec(),
                value: f32_at(at) as f64,
                text: None,
            }],
            f32_at(at),
        )
    };
    let short = match scheme.code {
        Code4::Nf4 => "nf4",
        Code4::Fp4 => "fp4",
    };
    let first = block * BNB_BLOCK;
    let in_block = n.saturating_sub(first).min(BNB_BLOCK);
    let elements = (0..in_block)
        .map(|j| {
            let i = first + j;
            let (at, shift) = (i / 2, if i % 2 == 0 { 4 } else { 0 });
            let code = (packed[at] >> shift) & 0xF;
            ElementView {
                index: i,
                position: j,
                original: values[i],
                byte_offset: at,
                byte: packed[at],
                shift,
                place: format!("{} nibble of byte {at}", if shift == 4 { "high" } else { "low" }),
                code: code as i32,
                decoded: dequantized[i],
                low_bits: 4,
                computed: Some(format!("{absmax} · {short}[{code}] = {absmax} · {}", table[code as usize])),
                sub_block: None,
                scale: None,
                min: None,
            }
        })
        .collect();
    let table_name = match scheme.code {
        Code4::Nf4 => "NF4's 16 normal quantiles",
        Code4::Fp4 => "bitsandbytes' FP4 table",
    };
    let (layout, formula) = if scheme.double_quant {
        (
            format!(
                "{codes_len} code bytes, then {blocks} × u8 absmax codes, {} × f32 absmax2, one f32 offset (bitsandbytes, blocks of 64)",
                blocks.div_ceil(DQ_BLOCK)
            ),
            format!("absmax = dynamic[absmax_q] · absmax2 + offset;  x̂ = absmax · table[q], table = {table_name}"),
        )
    } else {
        (
            format!("{codes_len} code bytes, then {blocks} × f32 absmax (bitsandbytes, blocks of 64)"),
            format!("x̂ = absmax · table[q], table = {table_name}"),
        )
    };
    BlockView {
        scheme: scheme.id().to_string(),
        block,
        first_element: first,
        elements_in_block: in_block,
        layout,
        formula,
        block_offset: None,
        block_len: None,
        fields,
        elements,
    }
}

/// Decodes the group of an integer scheme that holds `element`, from the packed tensor:
/// f32 scales of every group, then (asymmetric) one zero-point byte per group, then the codes.
pub fn int_group_view(scheme: &IntScheme, packed: &[u8], values: &[f32], shape: &[usize], element: usize) -> Result<BlockView> {
    let n = values.len();
    // Which group holds `element`, and the elements of that group in order.
    let (groups, group, members): (usize, usize, Box<dyn Iterator<Item = usize>>) = match scheme.granularity {
        Granularity::Tensor => (1, 0, Box::new(0..n)),
        Granularity::Group { size } => {
            let g = element / size;
            (n.div_ceil(size), g, Box::new(g * size..((g + 1) * size).min(n)))
        }
        Granularity::Channel { axis } => {
            let dim = *shape.get(axis).ok_or_else(|| {
                Error::InvalidArgument(format!("per-channel axis {axis} is out of range for a tensor of shape {shape:?}"))
            })?;
            let inner: usize = shape[axis + 1..].iter().product::<usize>().max(1);
            let c = (element / inner) % dim;
            // Chunks of `inner` elements, every `dim`-th one belonging to channel c.
            (dim, c, Box::new((0..n / inner).filter(move |k| k % dim == c).flat_map(move |k| k * inner..(k + 1) * inner)))
        }
    };
    let members: Vec<usize> = members.collect();
    let header = groups * if scheme.symmetric { 4 } else { 5 };
    let expected = header + (n * scheme.bits as usize).div_ceil(8);
    if packed.len() != expected {
        return Err(Error::InvalidArgument(format!("{} data is {expected} bytes, got {}", scheme.id(), packed.len())));
    }
    let at = 4 * group;
    let scale = f32::from_le_bytes([packed[at], packed[at + 1], packed[at + 2], packed[at + 3]]);
    let mut fields =
        vec![Field { name: "scale", kind: "f32", offset: at, bytes: packed[at..at + 4].to_vec(), value: scale as f64, text: None }];
    let zero_point = if scheme.symmetric {
        0
    } else {
        let at = 4 * groups + group;
        fields.push(Field { name: "zero_point", kind: "u8", offset: at, bytes: vec![packed[at]], value: packed[at] as f64, text: None });
        packed[at] as i32
    };
    let bits = scheme.bits;
    let per_byte = 8 / bits as usize;
    let elements = members
        .iter()
        .take(MAX_ELEMENTS_SHOWN)
        .enumerate()
        .map(|(position, &i)| {
            let byte_offset = header + i / per_byte;
            let shift = (i % per_byte) as u32 * bits;
            let byte = packed[byte_offset];
            let raw = (byte as u32 >> shift) & ((1 << bits) - 1);
            let code = if scheme.symmetric { ((raw << (32 - bits)) as i32) >> (32 - bits) } else { raw as i32 };
            let place = match bits {
                8 => "byte".to_string(),
                4 if shift == 0 => "low nibble".to_string(),
                4 => "high nibble".to_string(),
                _ => format!("bits {}–{}", shift, shift + 1),
            };
            ElementView {
                index: i,
                position,
                original: values[i],
                byte_offset,
                byte,
                shift,
                place,
                code,
                decoded: (code - zero_point) as f32 * scale,
                low_bits: bits,
                computed: None,
                sub_block: None,
                scale: None,
                min: None,
            }
        })
        .collect();
    let codes = match (bits, scheme.symmetric) {
        (8, true) => "one i8 per value",
        (8, false) => "one u8 per value",
        (4, _) => "two per byte, first value in the low nibble",
        _ => "four per byte, first value in the lowest bits",
    };
    let (layout, formula) = if scheme.symmetric {
        (format!("f32 scale × {groups} groups, then {bits}-bit codes ({codes}), two's complement"), "x̂ = scale · q".to_string())
    } else {
        (
            format!("f32 scale × {groups} groups, u8 zero point × {groups}, then {bits}-bit unsigned codes ({codes})"),
            "x̂ = scale · (q − zero_point)".to_string(),
        )
    };
    Ok(BlockView {
        scheme: scheme.id().to_string(),
        block: group,
        first_element: members.first().copied().unwrap_or(0),
        elements_in_block: members.len(),
        layout,
        formula,
        block_offset: None,
        block_len: None,
        fields,
        elements,
    })
}

// ------------------------------------------------------------------------------ wasm exports

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize) -> Tensor {
        // Row r has values of magnitude ~ (r + 1), so per-channel scales differ by row.
        let data = (0..rows * cols).map(|i| ((i % cols) as f32 / cols as f32 - 0.5) * ((i / cols) + 1) as f32).collect();
        Tensor::new("m", vec![rows, cols], "float32", data)
    }

    #[test]
    fn per_channel_scales_follow_each_row() {
        let t = matrix(4, 64);
        let r = granularity_report(&t, 4, true).unwrap();
        let channel = &r.choices[1];
        assert_eq!(channel.scheme, "int4_sym_channel");
        assert_eq!(channel.groups, 4);
        for (row, &s) in channel.scales.iter().enumerate() {
            // absmax of row r is 0.5·(r+1); symmetric INT4 scale = absmax / 7.
            assert!((s - 0.5 * (row + 1) as f32 / 7.0).abs() < 1e-6, "row {row}: {s}");
        }
        let g32 = &r.choices[2];
        assert_eq!((g32.groups, g32.grid_columns, g32.element_stride), (8, 2, 32));
        assert_eq!(g32.grid_caption, "4 rows × 2 groups of 32");
    }

    #[test]
    fn finer_groups_never_lose_to_coarser_ones_here() {
        let r = granularity_report(&matrix(8, 128), 4, true).unwrap();
        let mse: Vec<f64> = r.choices.iter().map(|c| c.mse).collect();
        assert!(mse[0] > mse[1], "per channel beats per tensor when rows differ: {mse:?}");
        assert!(mse[4] >= mse[3] && mse[3] >= mse[2], "g32 ≤ g64 ≤ g128: {mse:?}");
    }

    #[test]
    fn odd_shapes_wrap_the_heat_map_and_bad_input_is_refused() {
        let t = Tensor::new("v", vec![100], "float32", (0..100).map(|i| i as f32).collect());
        let r = granularity_report(&t, 8, false).unwrap();
        assert_eq!((r.choices[2].groups, r.choices[2].grid_columns), (4, 4));
        assert_eq!(r.choices[2].zero_points.len(), 4);
        assert!(granularity_report(&t, 3, true).unwrap_err().to_string().contains("bit width 3"));
        let empty = Tensor::new("e", vec![0], "float32", vec![]);
        assert!(granularity_report(&empty, 4, true).unwrap_err().to_string().contains("empty"));
        assert!(block_view(&t, "q4_0", 100).unwrap_err().to_string().contains("element 100"));
        assert!(block_view(&t, "fp16", 0).unwrap_err().to_string().contains("not 'fp16'"));
    }

    #[test]
    fn q4_0_block_view_reads_low_then_high_nibbles() {
        // One block, max = 8 → d = −1, so x = 8 − c encodes as code c: elements 0..15 get codes
        // 0..15 (low nibbles), elements 16..31 codes 15..0 (high nibbles).
        let x: Vec<f32> = (0..32).map(|j| 8.0 - if j < 16 { j } else { 31 - j } as f32).collect();
        let t = Tensor::new("b", vec![32], "float32", x);
        let v = block_view(&t, "q4_0", 5).unwrap();
        assert_eq!(v.fields[0].bytes, 0xbc00u16.to_le_bytes().to_vec());
        assert_eq!(v.fields[0].value, -1.0);
        assert_eq!(v.elements[3].place, "low nibble of qs[3]");
        assert_eq!((v.elements[3].byte_offset, v.elements[3].code, v.elements[3].decoded), (5, 3, 5.0));
        assert_eq!((v.elements[19].byte_offset, v.elements[19].shift, v.elements[19].code), (5, 4, 12));
        assert_eq!((v.elements[19].original, v.elements[19].decoded), (-4.0, -4.0));
        assert_eq!(v.elements[19].place, "high nibble of qs[3]");
    }

    #[test]
    fn kquant_block_views_decode_as_the_dequantizer_does() {
        // Two super-blocks and a short third: every shown element's decoded value is the
        // scheme's own dequantized value, bit for bit, and its code bits are where it says.
        let x: Vec<f32> = (0..600).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013 + if i % 64 == 7 { 2.5 } else { 0.0 }).collect();
        let t = Tensor::new("k", vec![600], "float32", x);
        for kind in KQuant::ALL {
            let q = kind.quantize(&t.data, &t.shape).unwrap();
            for element in [0, 300, 599] {
                let v = block_view(&t, kind.id(), element).unwrap();
                assert_eq!(v.block, element / QK_K);
                assert_eq!(v.elements_in_block, if element < 512 { 256 } else { 88 });
                assert_eq!(v.elements.len(), v.elements_in_block.min(MAX_ELEMENTS_SHOWN));
                for e in &v.elements {
                    assert_eq!(e.decoded.to_bits(), q.dequantized[e.index].to_bits(), "{} element {}", kind.id(), e.index);
                    assert_eq!(e.byte, q.packed[e.byte_offset]);
                    let low = (e.byte >> e.shift) as i32 & ((1 << e.low_bits) - 1);
                    assert_eq!(e.code & ((1 << e.low_bits) - 1), low, "{} element {}: low bits", kind.id(), e.index);
                }
                assert_eq!(v.fields[0].name, "d");
                assert!(v.fields.last().unwrap().text.as_ref().unwrap().starts_with("scales sc = ["));
            }
        }
        let v = block_view(&t, "q4_k", 40).unwrap();
        assert_eq!(v.elements[40].sub_block, Some(1));
        assert_eq!(v.elements[40].place, "high nibble of byte 24"); // elements 32–63: qs[0..32] high nibbles
        assert!(block_view(&t, "q4_k", 600).is_err());
    }

    #[test]
    fn other_ggml_block_views_decode_as_the_dequantizer_does() {
        let x: Vec<f32> = (0..700).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.011 + if i % 50 == 3 { -1.7 } else { 0.0 }).collect();
        let t = Tensor::new("e", vec![700], "float32", x);
        for ty in ExtraType::ALL {
            let q = ty.quantize(&t.data, &t.shape).unwrap();
            for element in [0, 333, 699] {
                let v = block_view(&t, ty.id(), element).unwrap();
                assert_eq!(v.block, element / ty.block(), "{}", ty.id());
                assert_eq!(v.block_len, Some(ty.block_bytes()));
                for e in &v.elements {
                    assert_eq!(e.decoded.to_bits(), q.dequantized[e.index].to_bits(), "{} element {}", ty.id(), e.index);
                    assert_eq!(e.byte, q.packed[e.byte_offset]);
                    if ty != ExtraType::Tq1_0 {
                        assert_eq!((e.byte >> e.shift) as i32 & ((1 << e.low_bits) - 1), e.code, "{} element {}", ty.id(), e.index);
                    }
                    assert!(e.computed.is_some());
                }
            }
        }
        // The written-out products are the decoded values: d · level.
        let v = block_view(&t, "iq4_nl", 40).unwrap();
        let d = v.fields[0].value as f32;
        for e in &v.elements {
            assert_eq!((d * KVALUES_IQ4NL[e.code as usize] as f32).to_bits(), e.decoded.to_bits());
        }
        let v = block_view(&t, "nvfp4", 64).unwrap();
        for e in &v.elements {
            let d = ue4m3_to_fp32(q_byte(&t, "nvfp4", v.block_offset.unwrap() + e.position / 16));
            assert_eq!((reference::KVALUES_MXFP4[e.code as usize] as f32 * d).to_bits(), e.decoded.to_bits(), "nvfp4 element {}", e.index);
        }
    }

    fn q_byte(t: &Tensor, id: &str, at: usize) -> u8 {
        schemes::by_id(id).unwrap().quantize(&t.data, &t.shape).unwrap().packed[at]
    }

    #[test]
    fn bitsandbytes_block_views_decode_as_the_scheme_does() {
        let x: Vec<f32> = (0..(64 * 300 + 7)).map(|i| ((i * 29 % 83) as f32 - 41.0) * 0.007).collect();
        let t = Tensor::new("b", vec![x.len()], "float32", x);
        for id in ["nf4", "fp4", "nf4_dq", "fp4_dq"] {
            let scheme = BnbScheme::from_id(id).unwrap();
            let q = scheme.quantize(&t.data, &t.shape).unwrap();
            let table = scheme.code.dequant_table(&t.shape);
            for element in [0, 64 * 257 + 3, t.data.len() - 1] {
                let v = block_view(&t, id, element).unwrap();
                assert_eq!(v.block, element / 64);
                // The absmax as the page decodes it from the fields.
                let absmax = if scheme.double_quant {
                    dynamic_code()[v.fields[0].value as usize] * v.fields[1].value as f32 + v.fields[2].value as f32
                } else {
                    v.fields[0].value as f32
                };
                for e in &v.elements {
                    assert_eq!(e.decoded.to_bits(), q.dequantized[e.index].to_bits(), "{id} element {}", e.index);
                    assert_eq!((table[e.code as usize] * absmax).to_bits(), e.decoded.to_bits(), "{id} element {}", e.index);
                    assert_eq!(e.code as u8, (q.packed[e.byte_offset] >> e.shift) & 0xF);
                }
            }
        }
    }
}
