//! The tokenizer of a GGUF file: SentencePiece (`tokenizer.ggml.model` = "llama", [`spm`]) or
//! byte-level BPE ("gpt2"), as llama.cpp's `llm_tokenizer_bpe_session::tokenize` runs it
//! (`src/llama-vocab.cpp`):
//!
//! 1. user-defined tokens are cut out of the text first (`tokenizer_st_partition`; control tokens
//!    such as `<|endoftext|>` only with parse-special, which [`Tokenizer::encode`] does not do);
//! 2. the pre-tokenizer cuts the rest into words ([`pretokenize`]: GPT-2's, Llama 3's, Qwen2's
//!    and SmolLM's); with Llama 3's, a word that is a token as a whole is that token
//!    (`ignore_merges`);
//! 3. each word's UTF-8 bytes become GPT-2's byte characters ([`byte_level`]), one symbol per
//!    character, and the adjacent pair with the lowest merge rank is merged, the leftmost first
//!    on a tie, until no pair has a rank (llama.cpp's priority queue orders by rank, then left
//!    index, which this loop reproduces by scanning);
//! 4. each symbol's token id; a symbol not in the vocabulary falls back to one token per byte,
//!    looked up as a raw one-byte string (what llama.cpp does; with every byte character in the
//!    vocabulary, as in a `tokenizers` byte-level BPE, it never happens).

pub mod byte_level;
pub mod pretokenize;
pub mod spm;

use crate::error::{LlmError, Result};
use crate::metadata::Metadata;
use std::collections::HashMap;

/// llama.cpp's token types (`llama_token_type` in `include/llama.h`).
pub mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
    pub const BYTE: i32 = 6;
}

pub use pretokenize::PreTokenizer;

/// The `tokenizer.ggml.pre` families implemented, for an error message and the page.
pub const PRE_TOKENIZERS: &str = "gpt-2 (and its aliases), llama-bpe (Llama 3), qwen2, smollm";

/// The `tokenizer.ggml.model` values implemented, for an error message.
pub const TOKENIZER_MODELS: &str = "\"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece)";

pub struct Tokenizer {
    tokens: Vec<String>,
    types: Vec<i32>,
    ids: HashMap<String, u32>,
    /// User-defined tokens, longest first (the order llama.cpp's partition tries them).
    user_defined: Vec<u32>,
    kind: Kind,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// `tokenizer.ggml.add_bos_token` (llama.cpp's default: true for "llama" and for Llama 3's
    /// pre-tokenizer, false for the other "gpt2" ones).
    pub add_bos: bool,
    /// `tokenizer.ggml.add_eos_token` (llama.cpp's default: false for "gpt2" and "llama").
    pub add_eos: bool,
    /// What llama.cpp warns about and goes on without (an explicit BOS or EOS id outside the
    /// vocabulary), in its words; the page shows them with the model.
    pub warnings: Vec<String>,
}

/// The id of every token text, as llama.cpp's `llama_vocab::impl::load` builds `token_to_id`
/// (src/llama-vocab.cpp): an empty token is renamed "[EMPTY_<id>]" first, and a text that two
/// ids share is refused — llama.cpp aborts on it (`GGML_ASSERT(id_to_token.size() ==
/// token_to_id.size())`), so no id could be said to be the one llama.cpp gives that text.
fn token_ids(tokens: &mut [String]) -> Result<HashMap<String, u32>> {
    let mut ids = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter_mut().enumerate() {
        if t.is_empty() {
            *t = format!("[EMPTY_{i}]");
        }
        if let Some(first) = ids.insert(t.clone(), i as u32) {
            return Err(LlmError::BadKey {
                key: "tokenizer.ggml.tokens".into(),
                why: format!("token '{t}' appears twice, as ids {first} and {i}; llama.cpp refuses a vocabulary with a repeated token"),
            });
        }
    }
    Ok(ids)
}

/// A vocabulary that adds BOS (or EOS) to every text but has no such token: no id key, and
/// llama.cpp's default id out of its range, which `llama_vocab::impl::load` then disables
/// ("default special token ... out of vocab range, disabling", src/llama-vocab.cpp:2619-2623).
/// llama.cpp loads it, then aborts on the first text its tools tokenize (`llama_tokenize` with
/// add_special = true: `GGML_ASSERT(vocab.token_bos() != LLAMA_TOKEN_NULL)` in
/// `llm_tokenizer_bpe_session::append_bos` and `append_eos`, src/llama-vocab.cpp:588 and 597).
/// Refused here when the model is read, rather than adding nothing and running on ids llama.cpp
/// never gives. (SentencePiece's twins, :3443 and :3480, cannot fire here: [`spm::Spm::new`]
/// requires the 256 byte tokens, so its defaults 1 and 2 are always in range.)
fn refuse_missing_special(
    meta: &Metadata,
    which: &str,
    add: bool,
    id: Option<u32>,
    default_id: u32,
    spm: bool,
    n_vocab: usize,
) -> Result<()> {
    if !add || id.is_some() {
        return Ok(());
    }
    let name = which.to_ascii_lowercase(); // ASCII: no Unicode case tables in the page (as model.rs)
    let add_key = format!("tokenizer.ggml.add_{name}_token");
    let set = if meta.bool(&add_key)?.is_some() { "is true" } else { "is absent, so true (llama.cpp's default)" };
    let model = if spm { "llama" } else { "gpt2" };
    let id_key = format!("tokenizer.ggml.{name}_token_id");
    // the key absent, or naming a token outside the vocabulary (then llama.cpp falls back to
    // the default too: the warning, in the tokenizer's warnings)
    let given = match meta.usize(&id_key)? {
        Some(v) => format!("'{id_key}' is {v}, outside the vocabulary"),
        None => format!("no '{id_key}'"),
    };
    Err(LlmError::BadKey {
        key: add_key,
        why: format!(
            "{set}, but the vocabulary has no {which} token: {given}, and llama.cpp's default \
             {which} id for a \"{model}\" vocabulary, {default_id}, is outside its {n_vocab} tokens; llama.cpp aborts on every \
             text it tokenizes with this model (GGML_ASSERT(vocab.token_{name}() != LLAMA_TOKEN_NULL))"
        ),
    })
}

enum Kind {
    Bpe(Bpe),
    Spm(spm::Spm),
}

struct Bpe {
    /// Merge ranks by left symbol, then right symbol (nested so a lookup borrows `&str`s).
    ranks: HashMap<String, HashMap<String, usize>>,
    byte_chars: [char; 256],
    pre: PreTokenizer,
}

impl Tokenizer {
    pub fn from_metadata(meta: &Metadata) -> Result<Tokenizer> {
        let model = meta.string("tokenizer.ggml.model")?.ok_or_else(|| LlmError::MissingKey("tokenizer.ggml.model".into()))?;
        let spm = match model.as_str() {
            "gpt2" => false,
            "llama" => true,
            _ => {
                return Err(LlmError::UnsupportedTokenizer(format!("tokenizer.ggml.model '{model}' (quantscope reads {TOKENIZER_MODELS})")))
            }
        };
        let mut tokens = meta.strings("tokenizer.ggml.tokens")?.ok_or_else(|| LlmError::MissingKey("tokenizer.ggml.tokens".into()))?;
        if tokens.is_empty() {
            return Err(LlmError::BadKey { key: "tokenizer.ggml.tokens".into(), why: "no tokens".into() });
        }
        let types = match meta.i32s("tokenizer.ggml.token_type")? {
            Some(t) if t.len() == tokens.len() => t,
            Some(t) => {
                return Err(LlmError::BadKey {
                    key: "tokenizer.ggml.token_type".into(),
                    why: format!("{} types for {} tokens", t.len(), tokens.len()),
                })
            }
            None => vec![token_type::NORMAL; tokens.len()],
        };
        let ids = token_ids(&mut tokens)?;
        // Without the keys, "llama" defaults to BOS 1 and EOS 2 and "gpt2" to 11 for both
        // (`llama_vocab::impl::load`). A key naming a token outside the vocabulary is not an
        // error there: it warns "bad special token: '<key>' = <id>, using default id <default>"
        // and keeps the default (src/llama-vocab.cpp, the `special_token_types` loop).
        let (default_bos, default_eos) = if spm { (1, 2) } else { (11, 11) };
        let in_vocab = |id: u32| ((id as usize) < tokens.len()).then_some(id);
        let mut warnings = Vec::new();
        let mut id_key = |key: &str, default: u32| -> Result<Option<u32>> {
            match meta.usize(key)? {
                Some(id) if id < tokens.len() => Ok(Some(id as u32)),
                Some(id) => {
                    warnings.push(format!("bad special token: '{key}' = {id}, using default id {default}"));
                    Ok(in_vocab(default))
                }
                None => Ok(in_vocab(default)),
            }
        };
        let bos = id_key("tokenizer.ggml.bos_token_id", default_bos)?;
        let eos = id_key("tokenizer.ggml.eos_token_id", default_eos)?;
        let kind = if spm {
            // An SPM vocabulary: no pre-tokenizer (llama.cpp's pre-type is DEFAULT whatever the key says).
            let add_space_prefix = meta.bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
            Kind::Spm(spm::Spm::new(&tokens, &ids, meta.f32s("tokenizer.ggml.scores")?, add_space_prefix)?)
        } else {
            Kind::Bpe(Bpe::from_metadata(meta)?)
        };
        let default_add_bos = match &kind {
            Kind::Spm(_) => true,
            Kind::Bpe(b) => b.pre.default_add_bos(),
        };
        let add_bos = meta.bool("tokenizer.ggml.add_bos_token")?.unwrap_or(default_add_bos);
        // llama.cpp's default is false for both "gpt2" and "llama" vocabularies.
        let add_eos = meta.bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        refuse_missing_special(meta, "BOS", add_bos, bos, default_bos, spm, tokens.len())?;
        refuse_missing_special(meta, "EOS", add_eos, eos, default_eos, spm, tokens.len())?;
        // (No token is empty now: an empty one is "[EMPTY_<id>]", cut out as llama.cpp cuts it.)
        let mut user_defined: Vec<u32> = (0..tokens.len() as u32).filter(|&i| types[i as usize] == token_type::USER_DEFINED).collect();
        user_defined.sort_by_key(|&i| std::cmp::Reverse(tokens[i as usize].len()));
        Ok(Tokenizer { tokens, types, ids, user_defined, kind, bos, eos, add_bos, add_eos, warnings })
    }

    /// The pre-tokenizer of a byte-level BPE vocabulary (None for SentencePiece).
    pub fn pre(&self) -> Option<PreTokenizer> {
        match &self.kind {
            Kind::Bpe(b) => Some(b.pre),
            Kind::Spm(_) => None,
        }
    }

    /// SentencePiece's `add_space_prefix` (None for byte-level BPE).
    pub fn add_space_prefix(&self) -> Option<bool> {
        match &self.kind {
            Kind::Spm(s) => Some(s.add_space_prefix),
            Kind::Bpe(_) => None,
        }
    }

    pub fn n_vocab(&self) -> usize {
        self.tokens.len()
    }

    /// The token's string as stored (byte characters for byte-level tokens).
    pub fn token(&self, id: u32) -> Result<&str> {
        self.tokens.get(id as usize).map(String::as_str).ok_or(LlmError::TokenOutOfRange { token: id, n_vocab: self.tokens.len() })
    }

    pub fn token_type(&self, id: u32) -> Option<i32> {
        self.types.get(id as usize).copied()
    }

    /// The ids of `text` without BOS, as `llama_tokenize(text, add_special = false,
    /// parse_special = false)` gives them.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        if text.is_empty() {
            return out; // llama.cpp makes no fragment of an empty text (so SPM adds no space either).
        }
        // SPM: a fragment at the start or after a user-defined token gets the space prefix.
        let mut after_special = true;
        for (fragment, special) in self.partition(text) {
            match (special, &self.kind) {
                (Some(id), _) => {
                    out.push(id);
                    after_special = true;
                }
                (None, Kind::Spm(spm)) => {
                    spm.encode_fragment(&self.ids, fragment, after_special, &mut out);
                    after_special = false;
                }
                (None, Kind::Bpe(bpe)) => {
                    for word in bpe.pre.split(fragment) {
                        let word = byte_level::encode(&bpe.byte_chars, word);
                        // as_str: the same HashMap lookup as encode_word's (one copy in the wasm module).
                        match self.ids.get(word.as_str()) {
                            Some(&id) if bpe.pre.ignore_merges() => out.push(id),
                            _ => self.encode_word(bpe, &word, &mut out),
                        }
                    }
                }
            }
        }
        out
    }

    /// `encode` with the special tokens the model asks for, as `llama_tokenize(text, add_special =
    /// true, parse_special = false)` (what llama.cpp's tools tokenize a prompt or a text file
    /// with): BOS first when `add_bos`, EOS last when `add_eos` (`llama_vocab::impl::tokenize`; a
    /// vocabulary that asks for a token it does not have is refused by `from_metadata`).
    pub fn encode_special(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        if let (true, Some(bos)) = (self.add_bos, self.bos) {
            ids.push(bos);
        }
        ids.extend(self.encode(text));
        if let (true, Some(eos)) = (self.add_eos, self.eos) {
            ids.push(eos);
        }
        ids
    }

    /// The bytes of the ids' text (a token may end inside a UTF-8 character, so bytes, not str).
    /// Control tokens decode to nothing, as `llama_token_to_piece` with special = false. (An SPM
    /// text's first token keeps the space prefix: llama.cpp strips it only in `llama_detokenize`.)
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for &id in ids {
            let t = self.token(id)?;
            let ty = self.types[id as usize];
            match &self.kind {
                Kind::Spm(spm) => spm.decode_token(t, ty, &mut out),
                Kind::Bpe(bpe) => match ty {
                    token_type::CONTROL => {}
                    token_type::USER_DEFINED => out.extend_from_slice(t.as_bytes()),
                    _ => byte_level::decode(&bpe.byte_chars, t, &mut out),
                },
            }
        }
        Ok(out)
    }

    /// The text cut at user-defined tokens, each piece with its token id when it is one.
    fn partition<'a>(&self, text: &'a str) -> Vec<(&'a str, Option<u32>)> {
        let mut pieces = vec![(text, None)];
        for &id in &self.user_defined {
            let needle = self.tokens[id as usize].as_str();
            let mut next = Vec::with_capacity(pieces.len());
            for (piece, special) in pieces {
                if special.is_some() {
                    next.push((piece, special));
                    continue;
                }
                let mut rest = piece;
                while let Some(at) = rest.find(needle) {
                    if at > 0 {
                        next.push((&rest[..at], None));
                    }
                    next.push((&rest[at..at + needle.len()], Some(id)));
                    rest = &rest[at + needle.len()..];
                }
                if !rest.is_empty() {
                    next.push((rest, None));
                }
            }
            pieces = next;
        }
        pieces
    }

    /// BPE on one byte-encoded word.
    fn encode_word(&self, bpe: &Bpe, word: &str, out: &mut Vec<u32>) {
        let mut symbols: Vec<&str> = word.char_indices().map(|(i, c)| &word[i..i + c.len_utf8()]).collect();
        loop {
            let mut best: Option<(usize, usize)> = None; // (rank, left index)
            for i in 0..symbols.len().saturating_sub(1) {
                let Some(&rank) = bpe.ranks.get(symbols[i]).and_then(|r| r.get(symbols[i + 1])) else { continue };
                if best.map_or(true, |(r, _)| rank < r) {
                    best = Some((rank, i));
                }
            }
            let Some((_, i)) = best else { break };
            // Symbols are adjacent slices of `word`: the merge is the slice spanning both.
            let start = symbols[i].as_ptr() as usize - word.as_ptr() as usize;
            let end = start + symbols[i].len() + symbols[i + 1].len();
            symbols[i] = &word[start..end];
            symbols.remove(i + 1);
        }
        for s in symbols {
            match self.ids.get(s) {
                Some(&id) => out.push(id),
                None => out.extend(s.bytes().filter_map(|b| {
                    let raw = [b];
                    std::str::from_utf8(&raw).ok().and_then(|one| self.ids.get(one).copied())
                })),
            }
        }
    }
}

impl Bpe {
    fn from_metadata(meta: &Metadata) -> Result<Bpe> {
        // llama.cpp treats a missing pre-type as "default" (GPT-2's regex too, with a warning).
        let pre_name = meta.string("tokenizer.ggml.pre")?.unwrap_or_else(|| "default".into());
        let pre = PreTokenizer::from_name(&pre_name)
            .ok_or_else(|| LlmError::UnsupportedTokenizer(format!("pre-tokenizer '{pre_name}' (implemented: {PRE_TOKENIZERS})")))?;
        let merges = meta.strings("tokenizer.ggml.merges")?.ok_or_else(|| LlmError::MissingKey("tokenizer.ggml.merges".into()))?;
        let mut ranks: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (rank, m) in merges.iter().enumerate() {
            // llama.cpp splits at the first space after the first byte (`word.find(' ', 1)`).
            let Some(at) = m.as_bytes().iter().skip(1).position(|&b| b == b' ').map(|i| i + 1) else {
                return Err(LlmError::BadKey { key: "tokenizer.ggml.merges".into(), why: format!("merge #{rank} '{m}' has no space") });
            };
            ranks.entry(m[..at].to_string()).or_default().entry(m[at + 1..].to_string()).or_insert(rank);
        }
        Ok(Bpe { ranks, byte_chars: byte_level::byte_chars(), pre })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantscope_formats::gguf::RawKv;

    fn string(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(s.as_bytes());
        b
    }

    fn kv_string(key: &str, value: &str) -> RawKv {
        RawKv { key: key.into(), value_type: 8, value: string(value) }
    }

    fn kv_array(key: &str, elem_type: u32, items: Vec<Vec<u8>>) -> RawKv {
        let mut value = elem_type.to_le_bytes().to_vec();
        value.extend_from_slice(&(items.len() as u64).to_le_bytes());
        items.iter().for_each(|i| value.extend_from_slice(i));
        RawKv { key: key.into(), value_type: 9, value }
    }

    /// A vocabulary of the byte characters of "a", "b", "c", " " (Ġ), the merges "a b" then
    /// "ab c" then "Ġ a", and a user-defined token "<x>".
    fn tiny() -> Tokenizer {
        let tokens = ["a", "b", "c", "Ġ", "ab", "abc", "Ġa", "<x>"];
        let types = [1, 1, 1, 1, 1, 1, 1, token_type::USER_DEFINED];
        let merges = ["a b", "ab c", "Ġ a"];
        let kvs = vec![
            kv_string("tokenizer.ggml.model", "gpt2"),
            kv_string("tokenizer.ggml.pre", "gpt-2"),
            kv_array("tokenizer.ggml.tokens", 8, tokens.iter().map(|t| string(t)).collect()),
            kv_array("tokenizer.ggml.token_type", 5, types.iter().map(|t: &i32| t.to_le_bytes().to_vec()).collect()),
            kv_array("tokenizer.ggml.merges", 8, merges.iter().map(|m| string(m)).collect()),
        ];
        Tokenizer::from_metadata(&Metadata::new(&kvs)).unwrap()
    }

    #[test]
    fn merges_apply_by_rank_and_user_defined_tokens_are_cut_out_first() {
        let t = tiny();
        // "abc" → a b c → (a b: rank 0) ab c → (ab c: rank 1) abc.
        assert_eq!(t.encode("abc"), [5]);
        // " a" is one word (GPT-2's " ?\p{L}+"): Ġ a → Ġa; "<x>" is its own token, never split.
        assert_eq!(t.encode("abc a<x>ab"), [5, 6, 7, 4]);
        assert_eq!(t.decode(&[5, 6, 7, 4]).unwrap(), b"abc a<x>ab");
        // A character with no token falls back to nothing (llama.cpp looks up its raw bytes).
        assert_eq!(t.encode("d"), Vec::<u32>::new());
    }

    /// An SPM vocabulary: the 256 byte tokens, then "a", "b", "▁", "ab", "▁a", "▁ab" with scores.
    fn spm(scores: Vec<f32>) -> Result<Tokenizer> {
        let mut tokens: Vec<String> = (0..256).map(|b| format!("<0x{b:02X}>")).collect();
        tokens.extend(["a", "b", "\u{2581}", "ab", "\u{2581}a", "\u{2581}ab"].map(String::from));
        let mut types = vec![token_type::BYTE; 256];
        types.extend([1; 6]);
        let kvs = vec![
            kv_string("tokenizer.ggml.model", "llama"),
            kv_array("tokenizer.ggml.tokens", 8, tokens.iter().map(|t| string(t)).collect()),
            kv_array("tokenizer.ggml.token_type", 5, types.iter().map(|t: &i32| t.to_le_bytes().to_vec()).collect()),
            kv_array("tokenizer.ggml.scores", 6, scores.iter().map(|s| s.to_le_bytes().to_vec()).collect()),
        ];
        Tokenizer::from_metadata(&Metadata::new(&kvs))
    }

    #[test]
    fn sentencepiece_merges_by_score_with_the_space_prefix_and_byte_fallback() {
        let mut scores = vec![0.0; 256];
        // Scores of a, b, ▁, ab, ▁a, ▁ab: "▁a" (−1) above "ab" (−2).
        scores.extend([-10.0, -10.0, -10.0, -2.0, -1.0, -3.0]);
        let t = spm(scores.clone()).unwrap();
        // "ab" → "▁ab": ▁a (−1) first, then ▁a + b = ▁ab (−3).
        assert_eq!(t.encode("ab"), [261]);
        // No space prefix for an empty text (llama.cpp makes no fragment), and "c" is bytes.
        assert_eq!(t.encode(""), Vec::<u32>::new());
        assert_eq!(t.encode("c"), [258, 0x63]);
        assert_eq!(t.decode(&[261, 0x63]).unwrap(), b" abc");
        assert_eq!((t.bos, t.eos, t.add_bos, t.pre()), (Some(1), Some(2), true, None));
        scores.pop();
        let e = spm(scores).err().unwrap();
        assert_eq!(e.to_string(), "GGUF metadata 'tokenizer.ggml.scores': 261 scores for 262 tokens");
    }

    /// Llama 3's pre-tokenizer adds BOS by llama.cpp's default; in `tiny`'s 8 tokens its default
    /// BOS id, 11, is out of range (tests/tokenizer_special.rs holds the add_bos_token and
    /// add_eos_token keys to llama.cpp's abort).
    #[test]
    fn a_default_bos_outside_the_vocabulary_is_refused_when_bos_is_added() {
        let kvs = |add_bos: Option<bool>| {
            let tokens = ["a", "b", "c", "Ġ", "ab", "abc", "Ġa", "<x>"];
            let mut kvs = vec![
                kv_string("tokenizer.ggml.model", "gpt2"),
                kv_string("tokenizer.ggml.pre", "llama-bpe"),
                kv_array("tokenizer.ggml.tokens", 8, tokens.iter().map(|t| string(t)).collect()),
                kv_array("tokenizer.ggml.merges", 8, ["a b", "ab c", "Ġ a"].iter().map(|m| string(m)).collect()),
            ];
            if let Some(add) = add_bos {
                kvs.push(RawKv { key: "tokenizer.ggml.add_bos_token".into(), value_type: 7, value: vec![u8::from(add)] });
            }
            kvs
        };
        let e = Tokenizer::from_metadata(&Metadata::new(&kvs(None))).err().unwrap();
        assert_eq!(
            e.to_string(),
            "GGUF metadata 'tokenizer.ggml.add_bos_token': is absent, so true (llama.cpp's default), but the vocabulary has no BOS \
             token: no 'tokenizer.ggml.bos_token_id', and llama.cpp's default BOS id for a \"gpt2\" vocabulary, 11, is outside its 8 \
             tokens; llama.cpp aborts on every text it tokenizes with this model (GGML_ASSERT(vocab.token_bos() != LLAMA_TOKEN_NULL))"
        );
        // Without BOS added, the missing BOS (and EOS) is no matter.
        let t = Tokenizer::from_metadata(&Metadata::new(&kvs(Some(false)))).unwrap();
        assert_eq!((t.bos, t.eos, t.add_bos, t.add_eos), (None, None, false, false));
        assert_eq!(t.encode_special("abc a"), t.encode("abc a"));
    }

    /// An explicit BOS or EOS id outside the vocabulary is not refused: llama.cpp warns ("bad
    /// special token", src/llama-vocab.cpp) and keeps its default id, in range or not.
    #[test]
    fn an_explicit_special_id_outside_the_vocabulary_warns_and_keeps_the_default() {
        let tokens = ["a", "b", "c", "Ġ", "ab", "abc", "Ġa", "<x>", "d", "e", "f", "g"];
        let id = |key: &str, v: u32| RawKv { key: key.into(), value_type: 4, value: v.to_le_bytes().to_vec() };
        let kvs = vec![
            kv_string("tokenizer.ggml.model", "gpt2"),
            kv_string("tokenizer.ggml.pre", "gpt-2"),
            kv_array("tokenizer.ggml.tokens", 8, tokens.iter().map(|t| string(t)).collect()),
            kv_array("tokenizer.ggml.merges", 8, ["a b", "ab c", "Ġ a"].iter().map(|m| string(m)).collect()),
            id("tokenizer.ggml.bos_token_id", 12),
            id("tokenizer.ggml.eos_token_id", 4_000_000_000),
        ];
        let t = Tokenizer::from_metadata(&Metadata::new(&kvs)).unwrap();
        // "gpt2"'s default for both is 11, the last of these 12 tokens.
        assert_eq!((t.bos, t.eos), (Some(11), Some(11)));
        assert_eq!(
            t.warnings,
            [
                "bad special token: 'tokenizer.ggml.bos_token_id' = 12, using default id 11",
                "bad special token: 'tokenizer.ggml.eos_token_id' = 4000000000, using default id 11"
            ]
        );
        // Out of range with a default out of range too (8 tokens, default 11) and BOS added:
        // refused, and the message names the key's value rather than calling it absent.
        let mut short = kvs.clone();
        short[2] = kv_array("tokenizer.ggml.tokens", 8, tokens[..8].iter().map(|t| string(t)).collect());
        short.push(RawKv { key: "tokenizer.ggml.add_bos_token".into(), value_type: 7, value: vec![1] });
        let e = Tokenizer::from_metadata(&Metadata::new(&short)).err().unwrap().to_string();
        assert!(e.contains("'tokenizer.ggml.bos_token_id' is 12, outside the vocabulary") && e.contains("default BOS id"), "{e}");
        // In range: no warning.
        let mut ok = kvs.clone();
        ok[4] = id("tokenizer.ggml.bos_token_id", 2);
        ok[5] = id("tokenizer.ggml.eos_token_id", 3);
        let t = Tokenizer::from_metadata(&Metadata::new(&ok)).unwrap();
        assert_eq!((t.bos, t.eos, t.warnings.len()), (Some(2), Some(3), 0));
    }

    #[test]
    fn bad_merges_and_token_types_are_refused() {
        let mut kvs = vec![
            kv_string("tokenizer.ggml.model", "gpt2"),
            kv_array("tokenizer.ggml.tokens", 8, vec![string("a")]),
            kv_array("tokenizer.ggml.merges", 8, vec![string("ab")]),
        ];
        let e = Tokenizer::from_metadata(&Metadata::new(&kvs)).err().unwrap();
        assert_eq!(e.to_string(), "GGUF metadata 'tokenizer.ggml.merges': merge #0 'ab' has no space");
        kvs[2] = kv_array("tokenizer.ggml.merges", 8, vec![]);
        kvs.push(kv_array("tokenizer.ggml.token_type", 5, vec![1i32.to_le_bytes().to_vec(); 2]));
        let e = Tokenizer::from_metadata(&Metadata::new(&kvs)).err().unwrap();
        assert_eq!(e.to_string(), "GGUF metadata 'tokenizer.ggml.token_type': 2 types for 1 tokens");
    }
}
