//! A dropped `File` as a [`ByteSource`]: the lazy readers of `quantscope-formats` read only the
//! slices they need, so a 2 GB model is never copied whole into wasm memory. Shared by the
//! modules that open files in a worker (the workbench, the GGUF mixer).

use quantscope_formats as formats;
use quantscope_formats::bytesource::{check_range, ByteSource};
use wasm_bindgen::prelude::*;

/// A `Blob` (a dropped `File`) read with `FileReaderSync`: synchronous reads are allowed in a
/// dedicated worker, and only the slice asked for is copied into wasm memory.
pub struct BlobSource {
    blob: web_sys::Blob,
    reader: web_sys::FileReaderSync,
    len: u64,
}

impl BlobSource {
    pub fn new(blob: web_sys::Blob) -> Result<BlobSource, JsError> {
        let reader = web_sys::FileReaderSync::new()
            .map_err(|_| JsError::new("files are read in the page's worker (FileReaderSync is not available here)"))?;
        let len = blob.size() as u64;
        Ok(BlobSource { blob, reader, len })
    }
}

impl ByteSource for BlobSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> formats::Result<Vec<u8>> {
        let end = check_range(offset, len, self.len)?;
        let js = |e: JsValue| formats::Error::Read(e.as_string().unwrap_or_else(|| format!("{e:?}")));
        let slice = self.blob.slice_with_f64_and_f64(offset as f64, end as f64).map_err(js)?;
        let buffer = self.reader.read_as_array_buffer(&slice).map_err(js)?;
        let bytes = js_sys::Uint8Array::new(&buffer);
        if bytes.length() as usize != len {
            return Err(formats::Error::Read(format!("asked for {len} bytes at {offset}, got {}", bytes.length())));
        }
        let mut out = Vec::new();
        out.try_reserve_exact(len).map_err(|_| formats::Error::Read(format!("cannot allocate {len} bytes")))?;
        out.resize(len, 0);
        bytes.copy_to(&mut out);
        Ok(out)
    }
}
