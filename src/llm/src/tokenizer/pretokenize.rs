//! GPT-2's pre-tokenizer: the text cut into words before BPE, by the regex
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! as llama.cpp runs it for the pre-types GPT2, MPT, OLMO, ... : the hand-written matcher
//! `unicode_regex_split_custom_gpt2` in `src/unicode.cpp`, ported branch for branch (its
//! contractions are case-sensitive, a space joins only the run after it, and a run of
//! whitespace before a non-space keeps its last space for the next word).
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

/// The words of `text`, in order; their concatenation is `text`.
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

#[cfg(test)]
mod tests {
    use super::split_gpt2;

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
