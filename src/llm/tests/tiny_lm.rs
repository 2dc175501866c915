//! The tiny model's F32 file, as the GPTQ and AWQ tests open it: the byte source a `Model` reads
//! and the lazy file their GGUF writers copy from.

use quantscope_formats::bytesource::ByteSource;
use quantscope_formats::lazy;
use std::rc::Rc;

pub fn f32_file() -> (Rc<dyn ByteSource>, lazy::LazyFile) {
    let source: Rc<dyn ByteSource> = Rc::new(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec());
    let file = lazy::open_gguf_file("tiny-lm-f32.gguf", source.clone()).unwrap();
    (source, file)
}
