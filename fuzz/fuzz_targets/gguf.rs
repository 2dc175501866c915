//! Arbitrary bytes through the GGUF reader: it must return `Ok` or `Err`, never panic, and never
//! allocate what a lying header claims. The `.gguf` name makes `load_file` use the GGUF parser
//! even when the bytes do not start with the magic, so its error paths are fuzzed too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quantscope_formats::load_file("fuzz.gguf", data);
});
