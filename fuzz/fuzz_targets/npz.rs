//! Arbitrary bytes as an .npz archive (the extension makes `load_file` use the npz parser even
//! when the bytes do not sniff as a zip). Any input may be rejected; none may panic, hang or
//! inflate past the declared-size caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantscope_formats as formats;

fuzz_target!(|data: &[u8]| {
    let _ = formats::load_file("fuzz.npz", data);
});
