//! GPT-2's byte-to-unicode map: every byte becomes one printable character, so a byte-level BPE
//! vocabulary is a list of ordinary strings (openai/gpt-2 `encoder.py`'s `bytes_to_unicode`;
//! llama.cpp's `unicode_byte_to_utf8` in `src/unicode.cpp`). The printable bytes `!`..`~`,
//! `¡`..`¬` and `®`..`ÿ` stand for themselves; the other 68 take U+0100, U+0101, ... in byte order.

/// The character that stands for each byte.
pub fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        *slot = if printable {
            char::from(b as u8)
        } else {
            let c = char::from_u32(next).expect("U+0100..U+0143 are chars");
            next += 1;
            c
        };
    }
    table
}

/// `text`'s UTF-8 bytes, each as its character.
pub fn encode(table: &[char; 256], text: &str) -> String {
    text.bytes().map(|b| table[b as usize]).collect()
}

/// The bytes a token string stands for (characters outside the map are kept as their UTF-8).
pub fn decode(table: &[char; 256], token: &str, out: &mut Vec<u8>) {
    for c in token.chars() {
        match table.iter().position(|&t| t == c) {
            Some(b) => out.push(b as u8),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}
