//! Arbitrary bytes through the importance-matrix reader (src/formats/src/imatrix.rs): llama-imatrix's
//! GGUF files and its legacy `.dat` layout. Whatever parses must write back without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantscope_formats::{imatrix, imatrix_writer};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = imatrix::parse(data) {
        let _ = imatrix_writer::write_gguf(&m);
    }
});
