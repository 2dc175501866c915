//! llama.cpp's quantization mixes: which ggml type `llama-quantize` gives each tensor of a model
//! for a file type (`Q4_K_M`, `Q3_K_S`, ...), as the pinned llama.cpp (llama-cpp-python 0.3.36's
//! vendored copy) decides it in `src/llama-quant.cpp`:
//!
//! * tensors are taken in the order `llama_model_loader::weights_map` keeps them — by layer
//!   number (`blk.N.`; other tensors first), then by name (`weight_name_comparer`) — which is
//!   also the order of the output file, and the order the per-category counters advance in;
//! * `tensor_allows_quantization`: only 2-D+ tensors whose names end in `weight` and are not
//!   norms, expert gates, positional embeddings, ... are converted; the rest keep their type;
//! * `llama_tensor_get_type`: `--token-embedding-type` / `--output-tensor-type`, then
//!   `--tensor-type` patterns, then (unless `--pure`) the file type's rules
//!   (`llama_tensor_get_type_impl`: attn_v / attn_k / attn_output / ffn_down ... by layer,
//!   `use_more_bits`, GQA and expert counts), then `tensor_type_fallback` for rows that are not a
//!   whole number of the type's blocks;
//! * `tensor_requires_imatrix`: the IQ1/IQ2/IQ3_XXS types (and Q2_K in a `Q2_K_S` file) are
//!   refused without an importance matrix, naming the first tensor that needs one.
//!
//! Pure: names, shapes and metadata in, one [`TensorChoice`] per tensor out, with the rule that
//! decided it. `gguf_writer::plan_mix` lays the file out from these.

use super::gguf::RawKv;
use crate::error::{Error, Result};
use quantscope_core::ggml_types;

/// `enum ggml_type` ids the rules name (`ggml/include/ggml.h`).
pub mod ty {
    pub const F32: u32 = 0;
    pub const F16: u32 = 1;
    pub const Q4_0: u32 = 2;
    pub const Q4_1: u32 = 3;
    pub const Q5_0: u32 = 6;
    pub const Q5_1: u32 = 7;
    pub const Q8_0: u32 = 8;
    pub const Q2_K: u32 = 10;
    pub const Q3_K: u32 = 11;
    pub const Q4_K: u32 = 12;
    pub const Q5_K: u32 = 13;
    pub const Q6_K: u32 = 14;
    pub const IQ2_XXS: u32 = 16;
    pub const IQ2_XS: u32 = 17;
    pub const IQ3_XXS: u32 = 18;
    pub const IQ1_S: u32 = 19;
    pub const IQ4_NL: u32 = 20;
    pub const IQ3_S: u32 = 21;
    pub const IQ2_S: u32 = 22;
    pub const IQ4_XS: u32 = 23;
    pub const IQ1_M: u32 = 29;
    pub const BF16: u32 = 30;
    pub const TQ1_0: u32 = 34;
    pub const TQ2_0: u32 = 35;
    pub const MXFP4: u32 = 39;
    pub const Q1_0: u32 = 41;
    pub const Q2_0: u32 = 42;
}

/// ggml's name of a type id ("q4_k"), or its number.
pub fn type_name(id: u32) -> String {
    ggml_types::by_id(id).map_or_else(|| format!("type {id}"), |t| t.name.to_string())
}

fn block_of(id: u32) -> u64 {
    ggml_types::by_id(id).map_or(1, |t| t.block)
}

/// `ggml_is_quantized`: every type but the plain float and integer ones.
fn is_quantized(id: u32) -> bool {
    !matches!(id, 0 | 1 | 24..=28 | 30)
}

/// A `llama_ftype` (`include/llama.h`) that `llama-quantize` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    F32,
    F16,
    Bf16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q1_0,
    Q2_0,
    Mxfp4Moe,
    Tq1_0,
    Tq2_0,
    Q2K,
    Q2KS,
    Q3KS,
    Q3KM,
    Q3KL,
    Q4KS,
    Q4KM,
    Q5KS,
    Q5KM,
    Q6K,
    Iq4Nl,
    Iq4Xs,
    Iq3S,
    Iq3M,
    Iq3Xs,
    Iq3Xxs,
    Iq2Xxs,
    Iq2Xs,
    Iq2S,
    Iq2M,
    Iq1S,
    Iq1M,
}

use FileType as F;

impl FileType {
    /// Every file type, in `QUANT_OPTIONS`' order (`tools/quantize/quantize.cpp`).
    pub const ALL: [FileType; 35] = [
        F::Q1_0,
        F::Q2_0,
        F::Q4_0,
        F::Q4_1,
        F::Mxfp4Moe,
        F::Q5_0,
        F::Q5_1,
        F::Iq2Xxs,
        F::Iq2Xs,
        F::Iq2S,
        F::Iq2M,
        F::Iq1S,
        F::Iq1M,
        F::Tq1_0,
        F::Tq2_0,
        F::Q2K,
        F::Q2KS,
        F::Iq3Xxs,
        F::Iq3S,
        F::Iq3M,
        F::Iq3Xs,
        F::Q3KS,
        F::Q3KM,
        F::Q3KL,
        F::Iq4Nl,
        F::Iq4Xs,
        F::Q4KS,
        F::Q4KM,
        F::Q5KS,
        F::Q5KM,
        F::Q6K,
        F::Q8_0,
        F::F16,
        F::Bf16,
        F::F32,
    ];

    /// `llama-quantize`'s name, its `llama_ftype` (`general.file_type`) and the default tensor
    /// type (`llama_ftype_get_default_type`).
    fn facts(self) -> (&'static str, u32, u32) {
        match self {
            F::F32 => ("F32", 0, ty::F32),
            F::F16 => ("F16", 1, ty::F16),
            F::Q4_0 => ("Q4_0", 2, ty::Q4_0),
            F::Q4_1 => ("Q4_1", 3, ty::Q4_1),
            F::Q8_0 => ("Q8_0", 7, ty::Q8_0),
            F::Q5_0 => ("Q5_0", 8, ty::Q5_0),
            F::Q5_1 => ("Q5_1", 9, ty::Q5_1),
            F::Q2K => ("Q2_K", 10, ty::Q2_K),
            F::Q3KS => ("Q3_K_S", 11, ty::Q3_K),
            F::Q3KM => ("Q3_K_M", 12, ty::Q3_K),
            F::Q3KL => ("Q3_K_L", 13, ty::Q3_K),
            F::Q4KS => ("Q4_K_S", 14, ty::Q4_K),
            F::Q4KM => ("Q4_K_M", 15, ty::Q4_K),
            F::Q5KS => ("Q5_K_S", 16, ty::Q5_K),
            F::Q5KM => ("Q5_K_M", 17, ty::Q5_K),
            F::Q6K => ("Q6_K", 18, ty::Q6_K),
            F::Iq2Xxs => ("IQ2_XXS", 19, ty::IQ2_XXS),
            F::Iq2Xs => ("IQ2_XS", 20, ty::IQ2_XS),
            F::Q2KS => ("Q2_K_S", 21, ty::Q2_K),
            F::Iq3Xs => ("IQ3_XS", 22, ty::IQ3_S),
            F::Iq3Xxs => ("IQ3_XXS", 23, ty::IQ3_XXS),
            F::Iq1S => ("IQ1_S", 24, ty::IQ1_S),
            F::Iq4Nl => ("IQ4_NL", 25, ty::IQ4_NL),
            F::Iq3S => ("IQ3_S", 26, ty::IQ3_S),
            F::Iq3M => ("IQ3_M", 27, ty::IQ3_S),
            F::Iq2S => ("IQ2_S", 28, ty::IQ2_XS),
            F::Iq2M => ("IQ2_M", 29, ty::IQ2_S),
            F::Iq4Xs => ("IQ4_XS", 30, ty::IQ4_XS),
            F::Iq1M => ("IQ1_M", 31, ty::IQ1_M),
            F::Bf16 => ("BF16", 32, ty::BF16),
            F::Tq1_0 => ("TQ1_0", 36, ty::TQ1_0),
            F::Tq2_0 => ("TQ2_0", 37, ty::TQ2_0),
            F::Mxfp4Moe => ("MXFP4_MOE", 38, ty::MXFP4),
            F::Q1_0 => ("Q1_0", 40, ty::Q1_0),
            F::Q2_0 => ("Q2_0", 41, ty::Q2_0),
        }
    }

    /// The name `llama-quantize` takes ("Q4_K_M").
    pub fn name(self) -> &'static str {
        self.facts().0
    }

    /// `enum llama_ftype`, written as `general.file_type`.
    pub fn id(self) -> u32 {
        self.facts().1
    }

    /// The type most tensors get.
    pub fn default_type(self) -> u32 {
        self.facts().2
    }

    /// The file type with this name, case-insensitively, with `llama-quantize`'s aliases
    /// (`Q3_K`, `Q4_K`, `Q5_K` are the `_M` mixes; `try_parse_ftype`). NVFP4 (ftype 39) has no
    /// default tensor type in the pinned llama.cpp, which refuses it ("invalid output file type").
    pub fn from_name(name: &str) -> Result<FileType> {
        let upper = name.to_ascii_uppercase();
        let alias = match upper.as_str() {
            "Q3_K" => Some(F::Q3KM),
            "Q4_K" => Some(F::Q4KM),
            "Q5_K" => Some(F::Q5KM),
            _ => None,
        };
        alias.or_else(|| Self::ALL.into_iter().find(|f| f.name() == upper)).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
            Error::invalid(format!("unknown file type '{name}': llama-quantize's are {}", names.join(", ")))
        })
    }
}

/// What the rules need to know of the model: `llama_model::load_hparams` reads these keys.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFacts {
    /// `general.architecture`.
    pub arch: String,
    /// `{arch}.block_count` (`n_layer_all`).
    pub n_layer: u32,
    /// `{arch}.attention.head_count`, layer 0's when it is an array (`n_gqa()` reads layer 0).
    pub n_head: u32,
    /// `{arch}.attention.head_count_kv` (the head count when absent).
    pub n_head_kv: u32,
    /// `{arch}.expert_count` (0 when absent).
    pub n_expert: u32,
}

/// An integer metadata value (or an array's first element) as u64.
fn kv_integer(kv: &RawKv) -> Option<u64> {
    fn scalar(vtype: u32, b: &[u8]) -> Option<u64> {
        let take = |n: usize| b.get(..n).map(|s| s.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64));
        match vtype {
            0 | 1 | 7 => take(1),
            2 | 3 => take(2),
            4 | 5 => take(4),
            10 | 11 => take(8),
            _ => None,
        }
    }
    match kv.value_type {
        9 => {
            let et = u32::from_le_bytes(kv.value.get(..4)?.try_into().ok()?);
            let n = u64::from_le_bytes(kv.value.get(4..12)?.try_into().ok()?);
            if n == 0 {
                return None;
            }
            scalar(et, kv.value.get(12..)?)
        }
        t => scalar(t, &kv.value),
    }
}

fn kv_string(kv: &RawKv) -> Option<String> {
    if kv.value_type != 8 {
        return None;
    }
    let n = u64::from_le_bytes(kv.value.get(..8)?.try_into().ok()?) as usize;
    String::from_utf8(kv.value.get(8..8usize.checked_add(n)?)?.to_vec()).ok()
}

impl ModelFacts {
    /// From a GGUF file's metadata; llama.cpp refuses a model without an architecture or a
    /// block count, and so does this.
    pub fn from_kvs(kvs: &[RawKv]) -> Result<ModelFacts> {
        let find = |key: &str| kvs.iter().find(|kv| kv.key == key);
        let arch = find("general.architecture").and_then(kv_string).ok_or_else(|| {
            Error::invalid("a mix needs a GGUF model with llama.cpp's metadata: 'general.architecture' is missing".into())
        })?;
        let int = |key: String| find(&key).and_then(kv_integer).map(|v| v.min(u32::MAX as u64) as u32);
        let n_layer = int(format!("{arch}.block_count"))
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::invalid(format!("a mix needs the model's layer count: key '{arch}.block_count' is missing")))?;
        let n_head = int(format!("{arch}.attention.head_count")).unwrap_or(0);
        let n_head_kv = int(format!("{arch}.attention.head_count_kv")).unwrap_or(n_head);
        let n_expert = int(format!("{arch}.expert_count")).unwrap_or(0);
        Ok(ModelFacts { arch, n_layer, n_head, n_head_kv, n_expert })
    }

    /// `llama_hparams::n_gqa(0)`.
    fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    /// `llama_model::type == LLM_TYPE_70B`, as each architecture's `load_arch_hparams` sets it
    /// (`src/models/{llama,qwen2,deci,olmo,jais2}.cpp`).
    fn is_70b(&self) -> bool {
        match self.arch.as_str() {
            "llama" => self.n_expert != 8 && self.n_layer == 80 && self.n_head != self.n_head_kv,
            "qwen2" | "deci" | "olmo" => self.n_layer == 80,
            "jais2" => self.n_layer == 68,
            _ => false,
        }
    }
}

/// A tensor of the source model.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTensor {
    pub name: String,
    /// Numpy order (ggml's `ne` reversed).
    pub shape: Vec<u64>,
    /// Its ggml type id.
    pub ggml_type: u32,
}

impl SourceTensor {
    /// ggml's `ne`: innermost first, padded with 1s to 4 dims.
    pub fn ne(&self) -> [u64; 4] {
        let mut ne = [1u64; 4];
        for (i, &d) in self.shape.iter().rev().take(4).enumerate() {
            ne[i] = d;
        }
        ne
    }

    /// `ggml_n_dims`: trailing 1s do not count.
    pub fn n_dims(&self) -> usize {
        let ne = self.ne();
        (1..4).rev().find(|&i| ne[i] > 1).map_or(1, |i| i + 1)
    }
}

/// The tensors of a llama-shaped model of F16 matrices and F32 norms, as converted checkpoints
/// hold them (numpy shapes, in llama.cpp's file order by layer): token_embd, output_norm, output
/// (unless `tied`), then per layer q/k/v/o, gate/up/down and the norm. For previews of a model
/// one does not have, as "7B-shaped" in the Learn view.
pub fn llama_shaped(n_layer: u32, n_embd: u64, n_ff: u64, n_kv_embd: u64, n_vocab: u64, tied: bool) -> Vec<SourceTensor> {
    let t = |name: String, shape: Vec<u64>| {
        let ggml_type = if shape.len() == 1 { ty::F32 } else { ty::F16 };
        SourceTensor { name, shape, ggml_type }
    };
    let mut v = vec![t("token_embd.weight".into(), vec![n_vocab, n_embd]), t("output_norm.weight".into(), vec![n_embd])];
    if !tied {
        v.push(t("output.weight".into(), vec![n_vocab, n_embd]));
    }
    for i in 0..n_layer {
        v.push(t(format!("blk.{i}.attn_q.weight"), vec![n_embd, n_embd]));
        v.push(t(format!("blk.{i}.attn_k.weight"), vec![n_kv_embd, n_embd]));
        v.push(t(format!("blk.{i}.attn_v.weight"), vec![n_kv_embd, n_embd]));
        v.push(t(format!("blk.{i}.attn_output.weight"), vec![n_embd, n_embd]));
        v.push(t(format!("blk.{i}.ffn_gate.weight"), vec![n_ff, n_embd]));
        v.push(t(format!("blk.{i}.ffn_up.weight"), vec![n_ff, n_embd]));
        v.push(t(format!("blk.{i}.ffn_down.weight"), vec![n_embd, n_ff]));
        v.push(t(format!("blk.{i}.attn_norm.weight"), vec![n_embd]));
    }
    v
}

/// `llama-quantize`'s options that change the types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MixOptions {
    /// `--pure`: the file type's default type for every tensor (no mix rules).
    pub pure: bool,
    /// `--output-tensor-type`.
    pub output_tensor_type: Option<u32>,
    /// `--token-embedding-type`.
    pub token_embedding_type: Option<u32>,
    /// `--leave-output-tensor`: output.weight keeps its type.
    pub leave_output_tensor: bool,
    /// `--tensor-type PATTERN=TYPE`, in order (the first pattern found in a name wins).
    pub tensor_types: Vec<(String, u32)>,
    /// `--imatrix FILE`: the importance matrix, which changes some rules (`qs.has_imatrix`),
    /// lifts the refusal of the types that need one, and is passed to the quantizers.
    pub imatrix: Option<MixImatrix>,
}

/// An importance matrix given to a mix, with the file name as given (`llama-quantize` writes it
/// into the file's metadata as `quantize.imatrix.file`).
#[derive(Debug, Clone, PartialEq)]
pub struct MixImatrix {
    pub file_name: String,
    pub imatrix: std::rc::Rc<crate::imatrix::Imatrix>,
}

/// The type chosen for one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorChoice {
    /// Index in the source's tensor list.
    pub source: usize,
    pub name: String,
    /// The ggml type written.
    pub ggml_type: u32,
    /// Which rule decided it, in words.
    pub rule: String,
    /// `tensor_requires_imatrix`: quantizing it without importance weights is refused.
    pub requires_imatrix: bool,
}

/// `tensor_category` (`tensor_get_category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttnQ,
    AttnV,
    AttnK,
    AttnQkv,
    AttnKvB,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

fn category(name: &str) -> Category {
    use Category as C;
    if name == "output.weight" {
        return C::Output;
    }
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        return C::TokenEmbd;
    }
    let table = [
        ("attn_qkv.weight", C::AttnQkv),
        ("attn_kv_b.weight", C::AttnKvB),
        ("attn_v.weight", C::AttnV),
        ("attn_k.weight", C::AttnK),
        ("attn_q.weight", C::AttnQ),
        ("attn_output.weight", C::AttnOutput),
        ("ffn_up", C::FfnUp),
        ("ffn_gate", C::FfnGate),
        ("ffn_down", C::FfnDown),
    ];
    table.into_iter().find(|(s, _)| name.contains(s)).map_or(C::Other, |(_, c)| c)
}

fn is_attn_v_like(c: Category) -> bool {
    matches!(c, Category::AttnV | Category::AttnQkv | Category::AttnKvB)
}

/// Whether `llama-quantize` converts `t` at all (`tensor_allows_quantization`): 2-D+ weights
/// that are not norms, expert gates, positional embeddings, ...; the rest keep their type.
pub fn allows_quantization_of(t: &SourceTensor, arch: &str, options: &MixOptions) -> bool {
    allows_quantization(t, arch, options)
}

/// `tensor_allows_quantization` (no `--leave-output-tensor` unless asked; the GLM5-next list
/// for that architecture).
fn allows_quantization(t: &SourceTensor, arch: &str, options: &MixOptions) -> bool {
    if t.n_dims() < 2 {
        return false;
    }
    let name = t.name.as_str();
    let not = |s: &str| !name.contains(s);
    let mut q = name.ends_with("weight") && not("_norm.weight");
    q &= !options.leave_output_tensor || name != "output.weight";
    q &= not("ffn_gate_inp.weight") && not("ffn_gate_tid2eid.weight");
    q &= not("altup") && not("laurel") && not("per_layer_model_proj");
    q &= name != "position_embd.weight" && name != "token_types.weight";
    q &= not("ssm_conv1d") && not("shortconv.conv.weight");
    q &= not("indexer.k_proj.weight") && not("indexer.q_proj.weight");
    if arch == "glm5-next" {
        let glm = [
            "hc_",
            "indexer.attn_q_b",
            "indexer.attn_k",
            "indexer.proj",
            "indexer_compressor_gate",
            "indexer_compressor_ape",
            "ssm_f_a.weight",
            "ssm_f_b.weight",
            "ssm_g_a.weight",
            "ssm_g_b.weight",
            "ssm_beta.weight",
            "attn_kv_a_mqa.weight",
            "attn_k_b.weight",
            "attn_v_b.weight",
        ];
        q &= glm.iter().all(|s| not(s));
    }
    let rwkv = ["first", "w0", "w1", "w2", "v0", "v1", "v2", "a0", "a1", "a2", "g1", "g2", "decay_w1", "decay_w2", "lerp_fused"];
    q &= rwkv.iter().all(|s| not(&format!("time_mix_{s}.weight")));
    q &= not("attn_rel_b.weight");
    let multimodal = [
        ".position_embd",
        "sam.pos_embd",
        "sam.neck.",
        "sam.net_",
        ".rel_pos",
        ".patch_embd",
        ".patch_merger",
        "a.rvq.codebook",
        "mm.a.code_embd",
    ];
    q && multimodal.iter().all(|s| not(s))
}

/// The layer number of a `blk.N.` name (`sscanf(name, "blk.%d.")`).
fn parse_layer(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("blk.")?;
    let (sign, digits) = match rest.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, rest.strip_prefix('+').unwrap_or(rest)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

/// The layer a tensor sorts under: its `blk.N.`, -1 for the rest.
fn layer_of(name: &str) -> i64 {
    parse_layer(name).unwrap_or(-1)
}

/// The order `llama_model_loader::weights_map` keeps (`weight_name_comparer`): by layer, then
/// by name; the output file has its tensors in this order.
pub fn file_order(names: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| (layer_of(names[a]), names[a].as_bytes()).cmp(&(layer_of(names[b]), names[b].as_bytes())));
    order
}

/// A `--tensor-type` pattern: llama.cpp runs `std::regex_search`; quantscope matches the plain
/// subset people write (`attn_q`, `blk.0.ffn_down`): literal characters, `.` for any one,
/// `\.` for a dot, `^` and `$` anchors.
#[derive(Debug, Clone)]
struct Pattern {
    atoms: Vec<Option<char>>, // None: any character
    start: bool,
    end: bool,
}

impl Pattern {
    fn parse(p: &str) -> Result<Pattern> {
        let mut chars = p.chars().peekable();
        let start = chars.next_if_eq(&'^').is_some();
        let mut atoms = Vec::new();
        let mut end = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => atoms.push(Some(chars.next().ok_or_else(|| Error::invalid(format!("--tensor-type pattern '{p}' ends with '\\'")))?)),
                '.' => atoms.push(None),
                '$' if chars.peek().is_none() => end = true,
                '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' => {
                    return Err(Error::invalid(format!(
                        "--tensor-type pattern '{p}' uses '{c}': quantscope matches plain names (with '.' for any character, '^' and '$'), not full regular expressions"
                    )))
                }
                c => atoms.push(Some(c)),
            }
        }
        Ok(Pattern { atoms, start, end })
    }

    fn found_in(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        let n = self.atoms.len();
        if n > chars.len() {
            return false;
        }
        let at = |i: usize| self.atoms.iter().zip(&chars[i..]).all(|(a, c)| a.map_or(true, |a| a == *c));
        let last = chars.len() - n;
        let starts: Vec<usize> = match (self.start, self.end) {
            (true, true) => (n == chars.len()).then_some(0).into_iter().collect(),
            (true, false) => vec![0],
            (false, true) => vec![last],
            (false, false) => (0..=last).collect(),
        };
        starts.into_iter().any(at)
    }
}

/// The running state of one pass (`quantize_state_impl`).
struct State<'a> {
    facts: &'a ModelFacts,
    ftype: FileType,
    has_tied_embeddings: bool,
    n_attention_wv: i64,
    n_layer: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
    has_imatrix: bool,
}

/// `use_more_bits`: the first and last eighth of the layers and every third one between.
/// (Rust's `/` and `%` truncate as C's do.)
fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2
}

impl State<'_> {
    /// `layer_info`: the counter, or for a mixture of experts the layer in the name.
    fn layer_info(&self, counter: i64, name: &str) -> Result<(i64, i64)> {
        let n_expert = self.facts.n_expert.max(1);
        if n_expert > 1 {
            let i = parse_layer(name).ok_or_else(|| Error::invalid(format!("Failed to determine layer for tensor {name}")))?;
            if i < 0 || i >= self.n_layer {
                return Err(Error::invalid(format!("Bad layer {i} for tensor {name}. Must be in [0, {})", self.n_layer)));
            }
            return Ok((i, self.n_layer));
        }
        Ok((counter, self.n_layer))
    }

    /// `llama_tensor_get_type_impl`: the file type's rules. Returns the type and the rule.
    fn rules(&mut self, t: &SourceTensor, cat: Category, default: u32, options: &MixOptions) -> Result<(u32, String)> {
        use Category as C;
        let f = self.ftype;
        let facts = self.facts;
        let arch = facts.arch.as_str();
        let falcon = arch == "falcon";
        let gqa = facts.n_gqa();
        let n_expert = facts.n_expert;
        let mut new = default;
        let mut why = String::from("the file type's default");
        macro_rules! set {
            ($ty:expr, $rule:expr) => {{
                new = $ty;
                why = $rule;
            }};
        }
        let name = t.name.as_str();
        if arch == "glm5-next"
            && (name.contains("attn_q_a") || name.contains("attn_q_b") || name.contains("nextn.eh_proj"))
            && !matches!(new, ty::F32 | ty::BF16 | ty::F16)
        {
            return Ok((ty::Q8_0, "GLM5-next: never below Q8_0".into()));
        }
        let iq_low = matches!(f, F::Iq2Xxs | F::Iq2Xs | F::Iq1S | F::Iq2S | F::Iq2M | F::Iq1M);
        if cat == C::Output || (self.has_tied_embeddings && cat == C::TokenEmbd) {
            let what = if cat == C::Output { "output" } else { "token embedding tied to the output" };
            if let Some(o) = options.output_tensor_type {
                set!(o, format!("{what}: --output-tensor-type"));
            } else {
                let nx = t.ne()[0];
                if f == F::Mxfp4Moe {
                    set!(ty::Q8_0, format!("{what}: Q8_0 in MXFP4_MOE"));
                } else if falcon || nx % block_of(new) != 0 {
                    set!(ty::Q8_0, format!("{what}: Q8_0 (rows not whole blocks of the default)"));
                } else if matches!(f, F::Iq2Xxs | F::Iq2Xs | F::Iq3Xxs | F::Iq1S | F::Iq2S | F::Iq2M | F::Iq1M) {
                    set!(ty::Q5_K, format!("{what}: Q5_K in the IQ1-IQ3_XXS files"));
                } else if new != ty::Q8_0 {
                    set!(ty::Q6_K, format!("{what}: Q6_K"));
                }
            }
        } else if f == F::Mxfp4Moe {
            let bailing_expert = arch == "bailingmoe3" && matches!(cat, C::FfnUp | C::FfnGate | C::FfnDown);
            if t.ne()[2] > 1 && (arch != "bailingmoe3" || bailing_expert) {
                set!(ty::MXFP4, "expert tensor: MXFP4".into());
            } else {
                set!(ty::Q8_0, "not an expert tensor: Q8_0".into());
            }
        } else if cat == C::TokenEmbd {
            if let Some(e) = options.token_embedding_type {
                set!(e, "token embedding: --token-embedding-type".into());
            } else if matches!(f, F::Iq2Xxs | F::Iq2Xs | F::Iq1S | F::Iq1M) {
                set!(ty::Q2_K, "token embedding: Q2_K".into());
            } else if matches!(f, F::Iq2S | F::Iq2M | F::Iq3Xxs) {
                set!(ty::IQ3_S, "token embedding: IQ3_S".into());
            } else if matches!(f, F::Tq1_0 | F::Tq2_0 | F::Q2_0) {
                set!(ty::Q4_K, "token embedding: Q4_K".into());
            }
        } else if iq_low {
            let iq2s = matches!(f, F::Iq2S | F::Iq2M);
            if is_attn_v_like(cat) {
                if gqa >= 4 || n_expert >= 4 {
                    set!(ty::Q4_K, format!("attn_v: Q4_K (GQA {gqa}, {n_expert} experts)"));
                } else {
                    set!(if iq2s { ty::IQ3_S } else { ty::Q2_K }, "attn_v: more bits".into());
                }
                self.i_attention_wv += 1;
            } else if n_expert == 8 && cat == C::AttnK {
                set!(ty::Q4_K, "attn_k of an 8-expert model: Q4_K".into());
            } else if cat == C::FfnDown {
                if self.i_ffn_down < self.n_layer / 8 {
                    set!(if iq2s { ty::IQ3_S } else { ty::Q2_K }, "ffn_down, first eighth of the layers: more bits".into());
                }
                self.i_ffn_down += 1;
            } else if cat == C::AttnOutput {
                if n_expert == 8 {
                    set!(ty::Q5_K, "attn_output of an 8-expert model: Q5_K".into());
                } else if matches!(f, F::Iq1S | F::Iq1M) {
                    set!(ty::IQ2_XXS, "attn_output: IQ2_XXS".into());
                } else if iq2s {
                    set!(ty::IQ3_S, "attn_output: IQ3_S".into());
                }
            }
        } else if is_attn_v_like(cat) {
            let i = self.i_attention_wv;
            let n = self.n_attention_wv;
            let layer = format!("attn_v #{i} of {n}");
            match f {
                F::Q2K => set!(if gqa >= 4 { ty::Q4_K } else { ty::Q3_K }, format!("{layer}: Q2_K gives attn_v more bits (GQA {gqa})")),
                F::Q2KS if gqa >= 4 => set!(ty::Q4_K, format!("{layer}: GQA {gqa} ≥ 4")),
                F::Iq3Xxs => {
                    let t = if gqa >= 4 {
                        ty::Q4_K
                    } else if !self.has_imatrix {
                        ty::IQ3_S
                    } else {
                        ty::IQ3_XXS
                    };
                    set!(t, format!("{layer}: GQA {gqa}, {}", if self.has_imatrix { "importance matrix" } else { "no importance matrix" }));
                }
                F::Iq3Xs | F::Iq3S if gqa >= 4 => set!(ty::Q4_K, format!("{layer}: GQA {gqa} ≥ 4")),
                F::Iq3M => set!(ty::Q4_K, format!("{layer}: Q4_K")),
                F::Q3KM => set!(
                    if i < 2 { ty::Q5_K } else { ty::Q4_K },
                    format!("{layer}: {} in Q3_K_M", if i < 2 { "first two Q5_K" } else { "Q4_K" })
                ),
                F::Q3KL => set!(ty::Q5_K, format!("{layer}: Q5_K")),
                F::Iq4Nl | F::Iq4Xs if gqa >= 4 => set!(ty::Q5_K, format!("{layer}: GQA {gqa} ≥ 4")),
                F::Q4KM | F::Q5KM if use_more_bits(i, n) => set!(ty::Q6_K, format!("{layer}: use_more_bits")),
                F::Q4KS if i < 4 => set!(ty::Q5_K, format!("{layer}: the first four Q5_K")),
                _ => {}
            }
            if facts.is_70b() && matches!(new, ty::Q3_K | ty::Q4_K) {
                set!(ty::Q5_K, format!("{layer}: 70B (8 heads share attn_v): Q5_K"));
            }
            if n_expert == 8 {
                set!(ty::Q8_0, format!("{layer}: 8-expert model: Q8_0"));
            }
            self.i_attention_wv += 1;
        } else if cat == C::AttnK {
            if n_expert == 8 {
                set!(ty::Q8_0, "attn_k of an 8-expert model: Q8_0".into());
            } else if f == F::Iq3Xs {
                set!(ty::IQ3_XXS, "attn_k: IQ3_XXS".into());
            } else if f == F::Iq3Xxs {
                set!(ty::IQ2_S, "attn_k: IQ2_S".into());
            }
        } else if cat == C::AttnQ {
            if f == F::Iq3Xs {
                set!(ty::IQ3_XXS, "attn_q: IQ3_XXS".into());
            } else if f == F::Iq3Xxs {
                set!(ty::IQ2_S, "attn_q: IQ2_S".into());
            }
        } else if cat == C::FfnDown {
            let (i, n) = self.layer_info(self.i_ffn_down, name)?;
            let layer = format!("ffn_down, layer {i} of {n}");
            let more = use_more_bits(i, n);
            match f {
                F::Q2K => set!(ty::Q3_K, format!("{layer}: Q3_K")),
                F::Q2KS if i < n / 8 => set!(ty::Q4_K, format!("{layer}: first eighth, Q4_K")),
                F::Iq3Xxs if !self.has_imatrix => {
                    set!(if i < n / 8 { ty::Q4_K } else { ty::Q3_K }, format!("{layer}: no importance matrix"))
                }
                F::Q3KM => {
                    let t = if i < n / 16 {
                        ty::Q5_K
                    } else if !falcon || more {
                        ty::Q4_K
                    } else {
                        ty::Q3_K
                    };
                    set!(t, format!("{layer}: Q3_K_M"));
                }
                F::Iq3M if i < n / 8 || (n_expert == 8 && more) => set!(ty::Q4_K, format!("{layer}: Q4_K")),
                F::Iq3M => {}
                F::Q3KL => set!(if falcon { ty::Q4_K } else { ty::Q5_K }, format!("{layer}: Q3_K_L")),
                F::Q4KM => {
                    if falcon {
                        let t = if i < n / 16 {
                            ty::Q6_K
                        } else if more {
                            ty::Q5_K
                        } else {
                            ty::Q4_K
                        };
                        set!(t, format!("{layer}: Falcon"));
                    } else if more {
                        set!(ty::Q6_K, format!("{layer}: use_more_bits"));
                    }
                }
                F::Iq4Nl | F::Iq4Xs if i < n / 8 && !self.has_imatrix => {
                    set!(ty::Q5_K, format!("{layer}: first eighth, no importance matrix"))
                }
                F::Q5KM if more => set!(ty::Q6_K, format!("{layer}: use_more_bits")),
                F::Q4KS if !falcon && i < n / 8 => set!(ty::Q5_K, format!("{layer}: first eighth")),
                // "Guard against craziness in the first few ffn_down layers": only with an imatrix.
                F::Q4_0 | F::Q5_0 if self.has_imatrix && i < n / 8 => {
                    set!(if f == F::Q4_0 { ty::Q4_1 } else { ty::Q5_1 }, format!("{layer}: first eighth with an importance matrix"))
                }
                _ => {}
            }
            self.i_ffn_down += 1;
        } else if cat == C::AttnOutput {
            if !falcon {
                if n_expert == 8 {
                    if matches!(
                        f,
                        F::Q2K | F::Iq3Xs | F::Iq3Xxs | F::Q3KS | F::Q3KM | F::Iq4Nl | F::Q4KS | F::Q4KM | F::Iq3S | F::Iq3M | F::Iq4Xs
                    ) {
                        set!(ty::Q5_K, "attn_output of an 8-expert model: Q5_K".into());
                    }
                } else {
                    match f {
                        F::Q2K => set!(ty::Q3_K, "attn_output: Q3_K".into()),
                        F::Iq3Xxs => set!(ty::IQ3_S, "attn_output: IQ3_S".into()),
                        F::Q3KM | F::Iq3M => set!(ty::Q4_K, "attn_output: Q4_K".into()),
                        F::Q3KL => set!(ty::Q5_K, "attn_output: Q5_K".into()),
                        _ => {}
                    }
                }
            } else if f == F::Q3KL {
                set!(ty::Q4_K, "attn_output (Falcon): Q4_K".into());
            }
        } else if cat == C::AttnQkv {
            // unreachable: attn_qkv is attn_v-like above (kept as llama.cpp has it)
        } else if cat == C::FfnGate || cat == C::FfnUp {
            let counter = if cat == C::FfnGate { self.i_ffn_gate } else { self.i_ffn_up };
            let (i, n) = self.layer_info(counter, name)?;
            if f == F::Iq3Xs && i >= n / 8 && i < 7 * n / 8 {
                set!(ty::IQ3_XXS, format!("{}, middle layers: IQ3_XXS", if cat == C::FfnGate { "ffn_gate" } else { "ffn_up" }));
            }
            if cat == C::FfnGate {
                self.i_ffn_gate += 1;
            } else {
                self.i_ffn_up += 1;
            }
        }
        Ok((new, why))
    }
}

/// `tensor_type_fallback`: a type whose blocks fit the rows.
fn fallback(t: &SourceTensor, target: u32) -> Result<(u32, Option<String>)> {
    let ncols = t.ne()[0];
    let qk = block_of(target);
    if ncols % qk == 0 {
        return Ok((target, None));
    }
    let mut ret = match target {
        ty::IQ1_S | ty::IQ1_M | ty::IQ2_XXS | ty::IQ2_XS | ty::IQ2_S | ty::IQ3_XXS | ty::IQ3_S | ty::IQ4_XS => ty::IQ4_NL,
        ty::Q2_0 | ty::Q2_K | ty::Q3_K | ty::TQ1_0 | ty::TQ2_0 => ty::Q4_0,
        ty::Q4_K => ty::Q5_0,
        ty::Q5_K => ty::Q5_1,
        ty::Q6_K => ty::Q8_0,
        _ if qk <= 32 => target,
        _ => return Err(Error::invalid(format!("no tensor type fallback is defined for type {}", type_name(target)))),
    };
    if ncols % block_of(ret) != 0 {
        ret = ty::F16;
    }
    Ok((ret, Some(format!("rows of {ncols} are not whole {qk}-value blocks of {}: falls back to {}", type_name(target), type_name(ret)))))
}

/// `tensor_requires_imatrix`.
pub(crate) fn requires_imatrix(name: &str, ty_: u32, ftype: FileType) -> bool {
    if matches!(category(name), Category::TokenEmbd | Category::Output) {
        return false;
    }
    match ty_ {
        ty::IQ3_XXS | ty::IQ2_XXS | ty::IQ2_XS | ty::IQ2_S | ty::IQ1_M | ty::IQ1_S => true,
        ty::Q2_K => ftype == F::Q2KS,
        _ => false,
    }
}

/// The type of every tensor of a model quantized as `ftype` (with `options.imatrix` or without),
/// in file order. Errors as llama.cpp stops: a shape with no fallback, a
/// type that needs an importance matrix (naming the first tensor), a layer it cannot find.
pub fn choose(facts: &ModelFacts, tensors: &[SourceTensor], ftype: FileType, options: &MixOptions) -> Result<Vec<TensorChoice>> {
    let patterns =
        options.tensor_types.iter().map(|(p, t)| Ok((Pattern::parse(&p.to_ascii_lowercase())?, *t))).collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let order = file_order(&names);
    let cats: Vec<Category> = tensors.iter().map(|t| category(&t.name)).collect();
    let mut state = State {
        facts,
        ftype,
        has_tied_embeddings: !cats.contains(&Category::Output),
        n_attention_wv: cats.iter().filter(|c| is_attn_v_like(**c)).count() as i64,
        n_layer: facts.n_layer as i64,
        i_attention_wv: 0,
        i_ffn_down: 0,
        i_ffn_gate: 0,
        i_ffn_up: 0,
        has_imatrix: options.imatrix.is_some(),
    };
    let default = ftype.default_type();
    let mut out = Vec::with_capacity(tensors.len());
    for k in order {
        let t = &tensors[k];
        let cat = cats[k];
        let (ggml_type, rule) = if !allows_quantization(t, &facts.arch, options) {
            (
                t.ggml_type,
                if t.n_dims() < 2 { "1-D: kept as stored".to_string() } else { "not quantized by llama.cpp: kept as stored".to_string() },
            )
        } else if let (Some(e), Category::TokenEmbd) = (options.token_embedding_type, cat) {
            let named = t.name == "per_layer_token_embd.weight" && patterns.iter().any(|(p, _)| p.found_in(&t.name));
            if named {
                choose_quantized(&mut state, t, cat, default, options, &patterns)?
            } else {
                (e, "token embedding: --token-embedding-type".to_string())
            }
        } else if let (Some(o), Category::Output) = (options.output_tensor_type, cat) {
            (o, "output: --output-tensor-type".to_string())
        } else {
            choose_quantized(&mut state, t, cat, default, options, &patterns)?
        };
        let requires = allows_quantization(t, &facts.arch, options) && requires_imatrix(&t.name, ggml_type, ftype);
        if requires && options.imatrix.is_none() {
            return Err(Error::invalid(format!(
                "this quantization requires an imatrix! (offending tensor: {}, target type: {}); give one with --imatrix",
                t.name,
                type_name(ggml_type)
            )));
        }
        out.push(TensorChoice { source: k, name: t.name.clone(), ggml_type, rule, requires_imatrix: requires });
    }
    Ok(out)
}

/// `llama_tensor_get_type` after the two type options: overrides, rules, fallback.
fn choose_quantized(
    state: &mut State,
    t: &SourceTensor,
    cat: Category,
    default: u32,
    options: &MixOptions,
    patterns: &[(Pattern, u32)],
) -> Result<(u32, String)> {
    if !is_quantized(default) {
        return Ok((default, "the file type's type".into()));
    }
    let manual = patterns.iter().find(|(p, _)| p.found_in(&t.name)).map(|(_, ty_)| *ty_);
    let (chosen, rule) = match manual {
        Some(m) => (m, "--tensor-type".to_string()),
        None if options.pure => (default, "--pure".to_string()),
        None => state.rules(t, cat, default, options)?,
    };
    let (ty_, note) = fallback(t, chosen)?;
    Ok((ty_, note.map_or(rule.clone(), |n| format!("{rule}; {n}"))))
}

/// `general.*` keys `llama-quantize` sets, in its order: the source's key/values are copied,
/// then `general.quantization_version` (2) and `general.file_type` are removed and appended,
/// and the split keys removed (`llama_model_quantize_impl`).
///
/// With an importance matrix, `llama-quantize` also sets (as key overrides, after those) the
/// `quantize.imatrix.*` keys (`tools/quantize/quantize.cpp`): the file name as given and the first
/// dataset (each cut to 127 bytes, as its `strncpy` does), the number of entries and, when
/// positive, the chunk count.
pub fn metadata(source: &[RawKv], ftype: FileType, imatrix: Option<&MixImatrix>) -> Vec<RawKv> {
    const SET: [&str; 9] = [
        "general.quantization_version",
        "general.file_type",
        "split.no",
        "split.count",
        "split.tensors.count",
        "quantize.imatrix.file",
        "quantize.imatrix.dataset",
        "quantize.imatrix.entries_count",
        "quantize.imatrix.chunks_count",
    ];
    let u32_kv = |key: &str, v: u32| RawKv { key: key.into(), value_type: 4, value: v.to_le_bytes().to_vec() };
    let str_kv = |key: &str, v: &str| {
        let mut b = v.as_bytes();
        b = &b[..b.len().min(127)];
        b = b.split(|&c| c == 0).next().unwrap_or(b);
        let mut value = (b.len() as u64).to_le_bytes().to_vec();
        value.extend_from_slice(b);
        RawKv { key: key.into(), value_type: 8, value }
    };
    let keep = |key: &str| !SET.contains(&key) || (imatrix.is_none() && key.starts_with("quantize.imatrix."));
    let mut out: Vec<RawKv> = source.iter().filter(|kv| keep(&kv.key)).cloned().collect();
    out.push(u32_kv("general.quantization_version", ggml_types::QUANTIZATION_VERSION));
    out.push(u32_kv("general.file_type", ftype.id()));
    if let Some(m) = imatrix {
        out.push(str_kv("quantize.imatrix.file", &m.file_name));
        if let Some(d) = m.imatrix.datasets.first() {
            out.push(str_kv("quantize.imatrix.dataset", d));
        }
        out.push(u32_kv("quantize.imatrix.entries_count", m.imatrix.entries.len() as u32));
        if m.imatrix.chunk_count > 0 {
            out.push(u32_kv("quantize.imatrix.chunks_count", m.imatrix.chunk_count as u32));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(n_layer: u32, n_head: u32, n_head_kv: u32, n_expert: u32) -> ModelFacts {
        ModelFacts { arch: "llama".into(), n_layer, n_head, n_head_kv, n_expert }
    }

    /// A llama-shaped model: token_embd, output, and per layer q/k/v/o/gate/up/down + norms.
    fn model(n_layer: u32, n_embd: u64, n_ff: u64, kv: u64, tied: bool) -> Vec<SourceTensor> {
        llama_shaped(n_layer, n_embd, n_ff, kv, 1000, tied)
    }

    fn type_of<'a>(c: &'a [TensorChoice], name: &str) -> &'a TensorChoice {
        c.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn names_and_aliases_parse_as_llama_quantize_does() {
        assert_eq!(FileType::from_name("q4_k_m").unwrap(), F::Q4KM);
        assert_eq!(FileType::from_name("Q4_K").unwrap(), F::Q4KM);
        assert_eq!(FileType::from_name("Q3_K").unwrap(), F::Q3KM);
        assert_eq!(FileType::from_name("Q5_K").unwrap().id(), 17);
        for f in FileType::ALL {
            assert_eq!(FileType::from_name(f.name()).unwrap(), f);
        }
        let e = FileType::from_name("NVFP4").unwrap_err().to_string();
        assert!(e.contains("unknown file type 'NVFP4'") && e.contains("Q4_K_M"), "{e}");
    }

    #[test]
    fn order_is_by_layer_then_name() {
        let names = ["blk.10.a", "blk.2.b", "output.weight", "blk.2.a", "token_embd.weight", "blk.1x"];
        let order: Vec<&str> = file_order(&names).into_iter().map(|i| names[i]).collect();
        // "blk.1x" is layer 1 to sscanf("blk.%d."), as to llama.cpp.
        assert_eq!(order, ["output.weight", "token_embd.weight", "blk.1x", "blk.2.a", "blk.2.b", "blk.10.a"]);
    }

    #[test]
    fn use_more_bits_matches_llama_cpp() {
        // 32 layers: the first 4, the last 4, and every third from layer 6.
        let more: Vec<i64> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
        assert_eq!(more, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
        // C's % keeps the sign: with 4 layers, i - 0 never negative; with n/8 = 1, i = 0 is first.
        assert_eq!((0..8).filter(|&i| use_more_bits(i, 8)).collect::<Vec<_>>(), [0, 3, 6, 7]);
    }

    #[test]
    fn q4_k_m_on_a_7b_shape() {
        let m = model(32, 4096, 11008, 4096, false);
        let c = choose(&facts(32, 32, 32, 0), &m, F::Q4KM, &MixOptions::default()).unwrap();
        assert_eq!(type_of(&c, "output.weight").ggml_type, ty::Q6_K);
        assert_eq!(type_of(&c, "token_embd.weight").ggml_type, ty::Q4_K);
        assert_eq!(type_of(&c, "blk.0.attn_v.weight").ggml_type, ty::Q6_K);
        assert_eq!(type_of(&c, "blk.4.attn_v.weight").ggml_type, ty::Q4_K);
        assert_eq!(type_of(&c, "blk.6.ffn_down.weight").ggml_type, ty::Q6_K);
        assert_eq!(type_of(&c, "blk.7.ffn_down.weight").ggml_type, ty::Q4_K);
        assert_eq!(type_of(&c, "blk.7.attn_norm.weight").ggml_type, ty::F32, "1-D keeps its type");
        // 11040 is not a multiple of 256: ffn_down rows fall back.
        let m = model(32, 4096, 11040, 4096, false);
        let c2 = choose(&facts(32, 32, 32, 0), &m, F::Q4KS, &MixOptions::default()).unwrap();
        assert_eq!(type_of(&c2, "blk.0.ffn_down.weight").ggml_type, ty::Q5_1, "Q5_K -> Q5_1 for rows of 11008");
        assert!(type_of(&c2, "blk.0.ffn_down.weight").rule.contains("falls back"));
        assert_eq!(type_of(&c2, "blk.8.ffn_down.weight").ggml_type, ty::Q5_0);
    }

    #[test]
    fn gqa_experts_and_tied_embeddings_change_the_rules() {
        let m = model(8, 256, 256, 64, true);
        let c = choose(&facts(8, 8, 2, 0), &m, F::Q2K, &MixOptions::default()).unwrap();
        assert_eq!(type_of(&c, "blk.0.attn_v.weight").ggml_type, ty::Q4_K, "GQA 4: attn_v Q4_K");
        assert_eq!(type_of(&c, "token_embd.weight").ggml_type, ty::Q6_K, "tied: the output's rule");
        let c = choose(&facts(8, 8, 4, 0), &m, F::Q2K, &MixOptions::default()).unwrap();
        assert_eq!(type_of(&c, "blk.0.attn_v.weight").ggml_type, ty::Q3_K, "GQA 2: attn_v Q3_K");
        let c = choose(&facts(8, 8, 8, 8), &m, F::Q4KM, &MixOptions::default()).unwrap();
        assert_eq!(type_of(&c, "blk.3.attn_v.weight").ggml_type, ty::Q8_0, "8 experts: attn_v Q8_0");
        assert_eq!(type_of(&c, "blk.3.attn_k.weight").ggml_type, ty::Q8_0);
        let seventy = facts(80, 64, 8, 0);
        assert!(seventy.is_70b());
        let m = model(80, 256, 256, 256, false);
        let c = choose(&seventy, &m, F::Q3KS, &MixOptions::default()).unwrap();
        assert_eq!(type_of(&c, "blk.40.attn_v.weight").ggml_type, ty::Q5_K, "70B: attn_v Q3_K -> Q5_K");
    }

    #[test]
    fn options_override_the_rules() {
        let m = model(8, 256, 256, 256, false);
        let f = facts(8, 8, 8, 0);
        let pure = MixOptions { pure: true, ..Default::default() };
        let c = choose(&f, &m, F::Q4KM, &pure).unwrap();
        assert!(c.iter().filter(|c| c.name.ends_with("weight") && !c.name.contains("norm")).all(|c| c.ggml_type == ty::Q4_K));
        let o = MixOptions { output_tensor_type: Some(ty::Q8_0), token_embedding_type: Some(ty::Q4_0), ..Default::default() };
        let c = choose(&f, &m, F::Q4KM, &o).unwrap();
        assert_eq!(type_of(&c, "output.weight").ggml_type, ty::Q8_0);
        assert_eq!(type_of(&c, "token_embd.weight").ggml_type, ty::Q4_0);
        let tt =
            MixOptions { tensor_types: vec![("attn_q".into(), ty::Q8_0), ("^blk\\.1\\.ffn_up".into(), ty::Q5_0)], ..Default::default() };
        let c = choose(&f, &m, F::Q4KM, &tt).unwrap();
        assert_eq!(type_of(&c, "blk.3.attn_q.weight").ggml_type, ty::Q8_0);
        assert_eq!(type_of(&c, "blk.1.ffn_up.weight").ggml_type, ty::Q5_0);
        assert_eq!(type_of(&c, "blk.2.ffn_up.weight").ggml_type, ty::Q4_K);
        let bad = MixOptions { tensor_types: vec![("attn_(q|k)".into(), ty::Q8_0)], ..Default::default() };
        assert!(choose(&f, &m, F::Q4KM, &bad).unwrap_err().to_string().contains("uses '('"));
    }

    #[test]
    fn refusals_are_llama_cpp_s() {
        let m = model(8, 256, 256, 256, false);
        let f = facts(8, 8, 8, 0);
        for ft in [F::Iq2Xxs, F::Iq2Xs, F::Iq2S, F::Iq2M, F::Iq1S, F::Iq1M, F::Iq3Xxs, F::Iq3Xs, F::Q2KS] {
            let e = choose(&f, &m, ft, &MixOptions::default()).unwrap_err().to_string();
            assert!(e.contains("this quantization requires an imatrix!"), "{}: {e}", ft.name());
            assert!(e.contains("offending tensor: blk.0."), "{}: {e}", ft.name());
        }
        let m = model(8, 256, 96, 256, false);
        let e = choose(&f, &m, F::Q1_0, &MixOptions::default()).unwrap_err().to_string();
        assert!(e.ends_with("no tensor type fallback is defined for type q1_0"), "{e}");
    }

    #[test]
    fn facts_come_from_the_metadata() {
        let s = |k: &str, v: &str| {
            let mut value = (v.len() as u64).to_le_bytes().to_vec();
            value.extend_from_slice(v.as_bytes());
            RawKv { key: k.into(), value_type: 8, value }
        };
        let u = |k: &str, v: u32| RawKv { key: k.into(), value_type: 4, value: v.to_le_bytes().to_vec() };
        let mut arr = 4u32.to_le_bytes().to_vec();
        arr.extend_from_slice(&2u64.to_le_bytes());
        arr.extend_from_slice(&[32, 0, 0, 0, 16, 0, 0, 0]);
        let kvs = [
            s("general.architecture", "llama"),
            u("llama.block_count", 8),
            RawKv { key: "llama.attention.head_count".into(), value_type: 9, value: arr },
        ];
        let f = ModelFacts::from_kvs(&kvs).unwrap();
        assert_eq!(f, ModelFacts { arch: "llama".into(), n_layer: 8, n_head: 32, n_head_kv: 32, n_expert: 0 });
        let e = ModelFacts::from_kvs(&kvs[..1]).unwrap_err().to_string();
        assert!(e.contains("'llama.block_count' is missing"), "{e}");
        assert!(ModelFacts::from_kvs(&[]).unwrap_err().to_string().contains("general.architecture"));
    }

    #[test]
    fn metadata_moves_the_keys_llama_quantize_sets_to_the_end() {
        let u = |k: &str, v: u32| RawKv { key: k.into(), value_type: 4, value: v.to_le_bytes().to_vec() };
        let src = [u("general.file_type", 1), u("a", 1), u("split.count", 2), u("general.quantization_version", 2), u("b", 3)];
        let keys: Vec<String> = metadata(&src, F::Q4KM, None).into_iter().map(|k| k.key).collect();
        assert_eq!(keys, ["a", "b", "general.quantization_version", "general.file_type"]);
        assert_eq!(metadata(&src, F::Q4KM, None)[3].value, 15u32.to_le_bytes());
    }
}
