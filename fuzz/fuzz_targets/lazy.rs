//! Arbitrary bytes through the lazy readers (src/formats/src/lazy.rs) as GGUF and as safetensors:
//! header parsed from a prefix, statistics streamed chunk by chunk, every tensor decoded, and a
//! GGUF export of the result. None may panic or allocate past the caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantscope_formats::{gguf_writer, lazy};
use std::rc::Rc;

fuzz_target!(|data: &[u8]| {
    for name in ["fuzz.gguf", "fuzz.safetensors"] {
        if let Ok(file) = lazy::open(name, Rc::new(data.to_vec())) {
            let _ = file.summaries();
            for i in 0..file.tensors.len() {
                let _ = file.materialize(i);
            }
            let _ = gguf_writer::write_to_vec(&file, "fuzz", gguf_writer::OutType::Q4_0);
        }
    }
});
