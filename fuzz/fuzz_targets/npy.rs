//! Arbitrary bytes through the .npy reader (the extension makes `load_file` use it even when the
//! bytes do not start with the magic): `Ok` or `Err`, never a panic or an allocation a header
//! merely claims.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = quantscope_formats::load_file("fuzz.npy", data);
});
