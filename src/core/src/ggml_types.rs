//! One table of ggml type facts — id, name, values per block, bytes per block, and the
//! `llama_ftype` of a model written mostly in the type — for everything that needs them: the
//! GGUF reader and writer, lazy decoding, stored bits per weight, and the ggml schemes' own
//! block sizes.
//!
//! Ids: `enum ggml_type` (`ggml/include/ggml.h`); block and bytes: `type_traits` in
//! `ggml/src/ggml.c`; file types: `enum llama_ftype` (`include/llama.h`), the `_S` (uniform)
//! variant for the K types, since one type for every tensor is what the file says. Ids 4, 5,
//! 31–33 and 36–38 were removed from ggml and are not listed.

/// Facts about one ggml type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgmlType {
    /// `enum ggml_type`.
    pub id: u32,
    /// ggml's lowercase name (also the scheme id where quantscope has the scheme).
    pub name: &'static str,
    /// Values per block (1 for the plain number types).
    pub block: u64,
    /// Bytes per block.
    pub bytes: u64,
    /// `general.file_type` of a model in this type, for the types quantscope writes (checked
    /// against gguf-py's files in src/formats/tests/gguf_export.rs).
    pub file_type: Option<u32>,
}

impl GgmlType {
    /// Bits per weight as stored, scales included.
    pub fn bits_per_weight(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.block as f64
    }
}

const fn t(id: u32, name: &'static str, block: u64, bytes: u64, file_type: Option<u32>) -> GgmlType {
    GgmlType { id, name, block, bytes, file_type }
}

// The types quantscope has schemes for, by name, so the schemes read their block sizes from
// this table at compile time (schemes::ggml::GgmlType::facts, schemes::kquants::KQuant::facts,
// schemes::ggml_extra::ExtraType::facts). `file_type` is `enum llama_ftype` (NVFP4's is 39,
// Q1_0's 40, Q2_0's 41 in the pinned llama.cpp).
pub const Q4_0: GgmlType = t(2, "q4_0", 32, 18, Some(2));
pub const Q4_1: GgmlType = t(3, "q4_1", 32, 20, Some(3));
pub const Q5_0: GgmlType = t(6, "q5_0", 32, 22, Some(8));
pub const Q5_1: GgmlType = t(7, "q5_1", 32, 24, Some(9));
pub const Q8_0: GgmlType = t(8, "q8_0", 32, 34, Some(7));
pub const Q2_K: GgmlType = t(10, "q2_k", 256, 84, Some(10));
pub const Q3_K: GgmlType = t(11, "q3_k", 256, 110, Some(11));
pub const Q4_K: GgmlType = t(12, "q4_k", 256, 144, Some(14));
pub const Q5_K: GgmlType = t(13, "q5_k", 256, 176, Some(16));
pub const Q6_K: GgmlType = t(14, "q6_k", 256, 210, Some(18));
pub const MXFP4: GgmlType = t(39, "mxfp4", 32, 17, Some(38));
pub const IQ4_NL: GgmlType = t(20, "iq4_nl", 32, 18, Some(25));
pub const IQ4_XS: GgmlType = t(23, "iq4_xs", 256, 136, Some(30));
pub const IQ2_XXS: GgmlType = t(16, "iq2_xxs", 256, 66, None);
pub const IQ2_XS: GgmlType = t(17, "iq2_xs", 256, 74, None);
pub const IQ3_XXS: GgmlType = t(18, "iq3_xxs", 256, 98, None);
pub const IQ1_S: GgmlType = t(19, "iq1_s", 256, 50, None);
pub const IQ3_S: GgmlType = t(21, "iq3_s", 256, 110, None);
pub const IQ2_S: GgmlType = t(22, "iq2_s", 256, 82, None);
pub const IQ1_M: GgmlType = t(29, "iq1_m", 256, 56, None);
pub const TQ1_0: GgmlType = t(34, "tq1_0", 256, 54, Some(36));
pub const TQ2_0: GgmlType = t(35, "tq2_0", 256, 66, Some(37));
pub const NVFP4: GgmlType = t(40, "nvfp4", 64, 36, Some(39));
pub const Q1_0: GgmlType = t(41, "q1_0", 128, 18, Some(40));
pub const Q2_0: GgmlType = t(42, "q2_0", 64, 18, Some(41));

/// Every ggml type, by id.
pub static GGML_TYPES: &[GgmlType] = &[
    t(0, "f32", 1, 4, Some(0)),
    t(1, "f16", 1, 2, Some(1)),
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    // block_q8_1 is ggml_half2 ds + 32 × i8 (gguf-py's table still says 40, from an older f32 layout).
    t(9, "q8_1", 32, 36, None),
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    t(15, "q8_k", 256, 292, None),
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    t(24, "i8", 1, 1, None),
    t(25, "i16", 1, 2, None),
    t(26, "i32", 1, 4, None),
    t(27, "i64", 1, 8, None),
    t(28, "f64", 1, 8, None),
    IQ1_M,
    t(30, "bf16", 1, 2, Some(32)),
    TQ1_0,
    TQ2_0,
    MXFP4,
    NVFP4,
    Q1_0,
    Q2_0,
];

/// The type with this id.
pub fn by_id(id: u32) -> Option<&'static GgmlType> {
    GGML_TYPES.iter().find(|t| t.id == id)
}

/// The type with this name.
pub fn by_name(name: &str) -> Option<&'static GgmlType> {
    GGML_TYPES.iter().find(|t| t.name == name)
}

/// `GGML_QNT_VERSION` (ggml.h): the quantization format version a GGUF records as
/// `general.quantization_version`.
pub const QUANTIZATION_VERSION: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_blocks_whole() {
        for (i, a) in GGML_TYPES.iter().enumerate() {
            assert!(a.block >= 1 && a.bytes >= 1, "{}", a.name);
            for b in &GGML_TYPES[i + 1..] {
                assert!(a.id != b.id && a.name != b.name, "{} and {}", a.name, b.name);
            }
        }
        assert_eq!(by_name("q4_k").map(GgmlType::bits_per_weight), Some(4.5));
        assert_eq!(by_id(39).map(|t| t.name), Some("mxfp4"));
        assert!(by_id(4).is_none(), "removed ids stay unknown");
    }

    #[test]
    fn each_scheme_reads_its_own_row() {
        use crate::schemes::{ggml, kquants};
        for t in ggml::GgmlType::ALL {
            assert_eq!((t.facts().name, t.facts().block as usize), (t.id(), ggml::QK));
            assert_eq!(by_name(t.id()), Some(t.facts()));
        }
        for k in kquants::KQuant::ALL {
            assert_eq!((k.facts().name, k.facts().block as usize), (k.id(), kquants::QK_K));
            assert_eq!(by_name(k.id()), Some(k.facts()));
        }
        for e in crate::schemes::ggml_extra::ExtraType::ALL {
            assert_eq!(by_name(e.id()), Some(e.facts()));
        }
    }
}
