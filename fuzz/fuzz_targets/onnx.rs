//! Arbitrary bytes through the ONNX reader (prost decoding, subgraphs, then the weight checks): it
//! must return `Ok` or `Err`, never panic. The `.onnx` name makes `load_file` use the ONNX
//! parser even when the bytes do not sniff as a ModelProto.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quantscope_formats::load_file("fuzz.onnx", data);
});
