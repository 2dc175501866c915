//! The SentencePiece tokenizer of a GGUF file (`tokenizer.ggml.model` = "llama": Llama 2,
//! TinyLlama, Gemma), as llama.cpp runs it (`src/llama-vocab.cpp`, `llm_tokenizer_spm_session`
//! and the `LLAMA_VOCAB_TYPE_SPM` branch of `llama_vocab::impl::tokenize`):
//!
//! 1. user-defined tokens are cut out first, as for BPE ([`super::Tokenizer`]'s partition);
//! 2. a text fragment at the start or after such a token gets a space in front when
//!    `tokenizer.ggml.add_space_prefix` is true (llama.cpp's default for "llama"; Gemma's files set
//!    it false), then every space becomes "▁" (U+2581);
//! 3. one symbol per UTF-8 character; every adjacent pair whose concatenation is a token goes on a
//!    queue ordered by that token's score (`tokenizer.ggml.scores`), the leftmost first on a tie;
//!    the best pair is merged and its new neighbours queued, until the queue is empty (pairs whose
//!    symbols changed since are skipped, as llama.cpp checks their lengths);
//! 4. each remaining symbol is its token, or, when it is none (a character outside the
//!    vocabulary), one byte token `<0xXX>` per UTF-8 byte (byte fallback).
//!
//! Merged symbols are always tokens and a single character never equals a pair, so llama.cpp's
//! `rev_merge` re-segmentation never applies to valid UTF-8 text: a symbol is a token or bytes.

use super::token_type;
use crate::error::{LlmError, Result};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// SentencePiece's escaped space.
pub const SPACE: &str = "\u{2581}";

pub struct Spm {
    scores: Vec<f32>,
    /// `tokenizer.ggml.add_space_prefix`.
    pub add_space_prefix: bool,
    /// The token of each byte: `<0xXX>`, else the byte itself as a one-character token
    /// (`llama_vocab::byte_to_token`).
    byte_tokens: [u32; 256],
}

/// A pair of adjacent symbols whose concatenation is a token (`llm_bigram_spm`).
struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// The higher score first, then the leftmost (`llm_bigram_spm::comparator`).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.left.cmp(&self.left))
    }
}

/// One symbol: a byte range of the escaped text and its neighbours (`llm_symbol`).
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Spm {
    /// `scores` as stored (absent: all 0, as llama.cpp); every byte needs a token.
    pub fn new(tokens: &[String], ids: &HashMap<String, u32>, scores: Option<Vec<f32>>, add_space_prefix: bool) -> Result<Spm> {
        let scores = match scores {
            Some(s) if s.len() >= tokens.len() => s,
            Some(s) => {
                return Err(LlmError::BadKey {
                    key: "tokenizer.ggml.scores".into(),
                    why: format!("{} scores for {} tokens", s.len(), tokens.len()),
                })
            }
            None => vec![0.0; tokens.len()],
        };
        let mut byte_tokens = [0u32; 256];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            let hex = format!("<0x{b:02X}>");
            let raw = (b < 0x80).then(|| char::from(b as u8).to_string());
            // llama.cpp throws when it meets a byte with neither token; refused here before any text.
            *slot = ids.get(&hex).or_else(|| raw.and_then(|r| ids.get(&r))).copied().ok_or_else(|| {
                LlmError::UnsupportedTokenizer(format!(
                    "a SentencePiece vocabulary without the byte token {hex} (llama.cpp cannot tokenize text with that byte)"
                ))
            })?;
        }
        Ok(Spm { scores, add_space_prefix, byte_tokens })
    }

    /// The ids of one text fragment (no user-defined token in it); `after_special`: it starts the
    /// text or follows a user-defined token, so it gets the space prefix.
    pub fn encode_fragment(&self, ids: &HashMap<String, u32>, fragment: &str, after_special: bool, out: &mut Vec<u32>) {
        let mut text = String::with_capacity(fragment.len() + 3);
        if self.add_space_prefix && after_special {
            text.push(' ');
        }
        text.push_str(fragment);
        let text = text.replace(' ', SPACE);
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        let n_chars = text.chars().count();
        for (i, (start, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol { start, len: c.len_utf8(), prev: i.checked_sub(1), next: (i + 1 < n_chars).then_some(i + 1) });
        }
        let token_of = |s: &[Symbol], a: usize, len: usize| ids.get(&text[s[a].start..s[a].start + len]).copied();
        let mut queue = BinaryHeap::new();
        let try_add = |s: &[Symbol], queue: &mut BinaryHeap<Bigram>, left: Option<usize>, right: Option<usize>| {
            let (Some(left), Some(right)) = (left, right) else { return };
            let size = s[left].len + s[right].len;
            if let Some(id) = token_of(s, left, size) {
                queue.push(Bigram { left, right, score: self.scores[id as usize], size });
            }
        };
        for i in 1..symbols.len() {
            try_add(&symbols, &mut queue, Some(i - 1), Some(i));
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            symbols[b.left].len += r.len;
            symbols[b.right].len = 0;
            symbols[b.left].next = r.next;
            if let Some(n) = r.next {
                symbols[n].prev = Some(b.left);
            }
            try_add(&symbols, &mut queue, l.prev, Some(b.left));
            try_add(&symbols, &mut queue, Some(b.left), r.next);
        }
        let mut i = if symbols.is_empty() { None } else { Some(0) };
        while let Some(at) = i {
            let s = symbols[at];
            match token_of(&symbols, at, s.len) {
                Some(id) => out.push(id),
                None => out.extend(text.as_bytes()[s.start..s.start + s.len].iter().map(|&b| self.byte_tokens[b as usize])),
            }
            i = s.next;
        }
    }

    /// A token's bytes as `llama_token_to_piece` gives them with special = false: a normal token
    /// with "▁" as spaces, a byte token its byte, a user-defined token as written, others nothing.
    pub fn decode_token(&self, token: &str, ty: i32, out: &mut Vec<u8>) {
        match ty {
            token_type::NORMAL => out.extend_from_slice(token.replace(SPACE, " ").as_bytes()),
            token_type::USER_DEFINED => out.extend_from_slice(token.as_bytes()),
            // `token_to_byte`: strtol of the two characters after "<0x".
            token_type::BYTE => {
                let hex: String = token.chars().skip(3).take(2).take_while(char::is_ascii_hexdigit).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(0));
            }
            _ => {}
        }
    }
}
