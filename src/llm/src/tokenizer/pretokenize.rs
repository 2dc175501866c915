//! Pre-tokenizers: the text cut into words before BPE, as llama.cpp's `unicode_regex_split`
//! (`src/unicode.cpp`) cuts it for the pre-types of `llm_tokenizer_bpe` (`src/llama-vocab.cpp`).
//! Each regex runs as llama.cpp's hand-written matcher for it, ported branch for branch:
//!
//! - GPT-2 (pre-types GPT2, MPT, OLMO, ...), `unicode_regex_split_custom_gpt2`:
//!   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//!   (its contractions are case-sensitive, a space joins only the run after it, and a run of
//!   whitespace before a non-space keeps its last space for the next word);
//! - LLAMA3 ("llama-bpe", Llama 3), `unicode_regex_split_custom_llama3`:
//!   `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//!   (digits in runs of at most three, counted from the left; any one non-letter, non-digit,
//!   non-newline character, a tab or a quote as well as a space, joins the letters after it);
//! - QWEN2 ("qwen2", Qwen2/2.5/3), `unicode_regex_split_custom_qwen2`: LLAMA3's with `\p{N}`,
//!   every digit a word of its own;
//! - SMOLLM ("smollm", SmolLM/SmolLM2): two regexes in turn, `\p{N}` (no custom matcher:
//!   llama.cpp's std::regex fallback on the text collapsed to one byte per code point, which
//!   cuts every number code point out as its own piece), then GPT-2's matcher inside each piece.
//!
//! Character classes are llama.cpp's: \p{L} and \p{N} are the Unicode general categories L* and
//! N* (`unicode-data.cpp`'s flags; here the `unicode-general-category` tables), \s is the
//! White_Space property (`unicode_set_whitespace`, which equals Rust's `char::is_whitespace`).
//! An unassigned code point has llama.cpp's UNDEFINED flag, so it counts as "other" like
//! punctuation; only a position past the end of the text has no flags at all.

use unicode_general_category::{get_general_category, GeneralCategory as G};

/// llama.cpp's `unicode_cpt_flags`, reduced to what the GPT-2 matcher reads.
#[derive(Clone, Copy, Default)]
struct Flags {
    letter: bool,
    number: bool,
    whitespace: bool,
    /// Any flag set (`as_uint() != 0`): false only past the end of the text.
    any: bool,
}

// Not inlined: the matchers call it at many places, and the page's module has little room.
#[inline(never)]
fn flags(c: Option<char>) -> Flags {
    let Some(c) = c else { return Flags::default() };
    let cat = get_general_category(c);
    Flags {
        letter: matches!(cat, G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter),
        number: matches!(cat, G::DecimalNumber | G::LetterNumber | G::OtherNumber),
        whitespace: c.is_whitespace(),
        any: true,
    }
}

/// The pre-tokenizers implemented (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    Gpt2,
    Llama3,
    Qwen2,
    Smollm,
}

impl PreTokenizer {
    /// The pre-type of a `tokenizer.ggml.pre` value (`llama_vocab::impl::load`), or None when
    /// quantscope has not ported its regex. A missing key is llama.cpp's "default": GPT-2's.
    pub fn from_name(name: &str) -> Option<PreTokenizer> {
        Some(match name {
            "default" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum"
            | "modern-bert" | "mpt" | "olmo" => PreTokenizer::Gpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2" | "jina-v5-nano" => {
                PreTokenizer::Llama3
            }
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" => PreTokenizer::Qwen2,
            "smollm" => PreTokenizer::Smollm,
            _ => return None,
        })
    }

    /// LLAMA3's pre-types look a whole word up before merging (llama.cpp's `ignore_merges`).
    pub fn ignore_merges(self) -> bool {
        self == PreTokenizer::Llama3
    }

    /// llama.cpp's default for `add_bos` before `tokenizer.ggml.add_bos_token` overrides it.
    pub fn default_add_bos(self) -> bool {
        self == PreTokenizer::Llama3
    }

    /// The words of `text`, in order; their concatenation is `text`.
    pub fn split(self, text: &str) -> Vec<&str> {
        match self {
            PreTokenizer::Gpt2 => split_gpt2(text),
            PreTokenizer::Llama3 => split_llama3(text, 3),
            PreTokenizer::Qwen2 => split_llama3(text, 1),
            PreTokenizer::Smollm => {
                let mut words = Vec::new();
                let mut start = 0;
                for (i, c) in text.char_indices() {
                    // \p{N} on the collapsed text: an ASCII digit, or a non-ASCII, non-space
                    // code point whose category is a number (collapsed to 0xD1).
                    if flags(Some(c)).number && !c.is_whitespace() {
                        words.extend(split_gpt2(&text[start..i]));
                        words.push(&text[i..i + c.len_utf8()]);
                        start = i + c.len_utf8();
                    }
                }
                words.extend(split_gpt2(&text[start..]));
                words
            }
        }
    }
}

/// The words of `text`, in order; their concatenation is `text`.
#[inline(never)]
pub fn split_gpt2<'a>(text: &'a str) -> Vec<&'a str> {
    let cpts: Vec<(usize, char)> = text.char_indices().collect();
    let n = cpts.len();
    let byte_at = |pos: usize| cpts.get(pos).map_or(text.len(), |&(b, _)| b);
    let cpt = |pos: usize| cpts.get(pos).map(|&(_, c)| c);
    let fl = |pos: usize| flags(cpt(pos));

    let mut words: Vec<&'a str> = Vec::new();
    let mut prev_end = 0;
    let mut add = |end: usize, words: &mut Vec<&'a str>| {
        if end > prev_end {
            words.push(&text[byte_at(prev_end)..byte_at(end)]);
        }
        prev_end = end;
    };

    let mut pos = 0;
    while pos < n {
        let c = cpt(pos);
        let f = fl(pos);

        // 's|'t|'re|'ve|'m|'ll|'d
        if c == Some('\'') && pos + 1 < n {
            let next = cpt(pos + 1);
            if matches!(next, Some('s' | 't' | 'm' | 'd')) {
                pos += 2;
                add(pos, &mut words);
                continue;
            }
            if pos + 2 < n {
                let pair = (next, cpt(pos + 2));
                if matches!(pair, (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))) {
                    pos += 3;
                    add(pos, &mut words);
                    continue;
                }
            }
        }

        let space = c == Some(' ');
        let mut f2 = if space { fl(pos + 1) } else { f };
        // <space>?\p{L}+
        if f2.letter {
            pos += space as usize;
            while f2.letter {
                pos += 1;
                f2 = fl(pos);
            }
            add(pos, &mut words);
            continue;
        }
        // <space>?\p{N}+
        if f2.number {
            pos += space as usize;
            while f2.number {
                pos += 1;
                f2 = fl(pos);
            }
            add(pos, &mut words);
            continue;
        }
        // <space>?[^\s\p{L}\p{N}]+
        let other = |f: Flags| !(f.whitespace || f.letter || f.number) && f.any;
        if other(f2) {
            pos += space as usize;
            while other(f2) {
                pos += 1;
                f2 = fl(pos);
            }
            add(pos, &mut words);
            continue;
        }

        let mut n_ws = 0;
        while fl(pos + n_ws).whitespace {
            n_ws += 1;
        }
        // \s+(?!\S): a run of spaces before a non-space leaves its last one to the next word.
        if n_ws > 1 && cpt(pos + n_ws).is_some() {
            pos += n_ws - 1;
            add(pos, &mut words);
            continue;
        }
        // \s+
        if n_ws > 0 {
            pos += n_ws;
            add(pos, &mut words);
            continue;
        }
        // no match: the character alone
        pos += 1;
        add(pos, &mut words);
    }
    words
}

/// `unicode_regex_split_custom_llama3` (max_digits 3) and `_qwen2` (max_digits 1), which differ
/// only in `\p{N}{1,3}` against `\p{N}`.
#[inline(never)]
fn split_llama3<'a>(text: &'a str, max_digits: usize) -> Vec<&'a str> {
    let cpts: Vec<(usize, char)> = text.char_indices().collect();
    let n = cpts.len();
    let byte_at = |pos: usize| cpts.get(pos).map_or(text.len(), |&(b, _)| b);
    let cpt = |pos: usize| cpts.get(pos).map(|&(_, c)| c);
    let fl = |pos: usize| flags(cpt(pos));
    let newline = |c: Option<char>| matches!(c, Some('\r' | '\n'));

    let mut words = Vec::new();
    let mut prev_end = 0;
    let mut add = |end: usize, words: &mut Vec<&'a str>| {
        if end > prev_end {
            words.push(&text[byte_at(prev_end)..byte_at(end)]);
        }
        prev_end = end;
    };

    let mut pos = 0;
    while pos < n {
        let c = cpt(pos);
        let f = fl(pos);

        // (?i:'s|'t|'re|'ve|'m|'ll|'d): llama.cpp lowercases with `unicode_tolower`; no
        // non-ASCII character lowercases to these letters, so ASCII lowercase is the same.
        if c == Some('\'') && pos + 1 < n {
            let lower = |p: usize| cpt(p).map(|c| c.to_ascii_lowercase());
            let next = lower(pos + 1);
            if matches!(next, Some('s' | 't' | 'm' | 'd')) {
                pos += 2;
                add(pos, &mut words);
                continue;
            }
            if pos + 2 < n && matches!((next, lower(pos + 2)), (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))) {
                pos += 3;
                add(pos, &mut words);
                continue;
            }
        }

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(newline(c) || f.number) && (f.letter || fl(pos + 1).letter) {
            pos += 1;
            while fl(pos).letter {
                pos += 1;
            }
            add(pos, &mut words);
            continue;
        }

        // \p{N}{1,3} (llama3) or \p{N} (qwen2)
        if f.number {
            let mut ini = pos;
            while fl(pos).number {
                pos += 1;
                if pos - ini >= max_digits {
                    add(pos, &mut words);
                    ini = pos;
                }
            }
            add(pos, &mut words);
            continue;
        }

        // <space>?[^\s\p{L}\p{N}]+[\r\n]*
        let other = |f: Flags| !(f.whitespace || f.letter || f.number) && f.any;
        let mut f2 = if c == Some(' ') { fl(pos + 1) } else { f };
        if !(f2.whitespace || f2.letter || f2.number) && f.any {
            pos += (c == Some(' ')) as usize;
            while other(f2) {
                pos += 1;
                f2 = fl(pos);
            }
            while newline(cpt(pos)) {
                pos += 1;
            }
            add(pos, &mut words);
            continue;
        }

        let mut n_ws = 0;
        let mut last_newline_end = 0;
        while fl(pos + n_ws).whitespace {
            if newline(cpt(pos + n_ws)) {
                last_newline_end = pos + n_ws + 1;
            }
            n_ws += 1;
        }
        // \s*[\r\n]+
        if last_newline_end > 0 {
            pos = last_newline_end;
            add(pos, &mut words);
            continue;
        }
        // \s+(?!\S)
        if n_ws > 1 && cpt(pos + n_ws).is_some() {
            pos += n_ws - 1;
            add(pos, &mut words);
            continue;
        }
        // \s+
        if n_ws > 0 {
            pos += n_ws;
            add(pos, &mut words);
            continue;
        }
        // no match: the character alone
        pos += 1;
        add(pos, &mut words);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::{split_gpt2, PreTokenizer};

    #[test]
    fn llama3_qwen2_and_smollm_group_digits_and_join_a_leading_non_letter() {
        let t = "(I'LL pay 1234567 at\t'Tis\n\n x";
        assert_eq!(PreTokenizer::Llama3.split(t), ["(I", "'LL", " pay", " ", "123", "456", "7", " at", "\t", "'T", "is", "\n\n", " x"]);
        assert_eq!(PreTokenizer::Qwen2.split("a 42"), ["a", " ", "4", "2"]);
        // smollm: each digit cut out first, then GPT-2's matcher on the pieces between.
        assert_eq!(PreTokenizer::Smollm.split("a 42b"), ["a", " ", "4", "2", "b"]);
    }

    #[test]
    fn splits_like_the_gpt2_regex() {
        assert_eq!(split_gpt2("Hello world"), ["Hello", " world"]);
        assert_eq!(split_gpt2("I'll go, they're 42!"), ["I", "'ll", " go", ",", " they", "'re", " 42", "!"]);
        assert_eq!(split_gpt2("a   b"), ["a", "  ", " b"]);
        assert_eq!(split_gpt2("end  \n"), ["end", "  \n"]);
        assert_eq!(split_gpt2("x\n\ny"), ["x", "\n", "\n", "y"]);
        assert_eq!(split_gpt2("'T"), ["'", "T"]);
        assert_eq!(split_gpt2(""), Vec::<&str>::new());
    }
}
