//! Arbitrary bytes as a safetensors file (the extension makes `load_file` use the safetensors
//! parser even when the bytes do not sniff), and split in two as a shard index plus one shard.
//! Any input may be rejected; none may panic, hang or allocate past the caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantscope_formats::{self as formats, safetensors};

fuzz_target!(|data: &[u8]| {
    let _ = formats::load_file("fuzz.safetensors", data);
    if let Some((&split, rest)) = data.split_first() {
        let (index, shard) = rest.split_at((split as usize).min(rest.len()));
        let _ = safetensors::load_sharded(index, &[("model-00001-of-00001.safetensors", shard)]);
    }
});
