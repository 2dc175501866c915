//! Random access to a file's bytes without holding them all: the lazy readers
//! ([`super::lazy`]) ask for a header prefix and then for one tensor's byte range at a time.
//!
//! Implemented here for bytes already in memory and (natively) for [`std::fs::File`]; the page's
//! worker implements it for a `Blob` with `FileReaderSync` (`src/workbench/src/workspace.rs`), so a 2 GB file is
//! never copied into wasm memory whole.

use crate::error::{Error, Result};

/// A file that can be read at any offset.
pub trait ByteSource {
    /// Bytes in the file.
    fn len(&self) -> u64;

    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exactly `len` bytes from `offset`; an error if they run past the end or the read fails.
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>>;
}

/// The error for a read of `len` bytes at `offset` that runs past the end of a `size`-byte file.
pub fn past_end(offset: u64, len: usize, size: u64) -> Error {
    Error::Read(format!("{len} bytes at offset {offset} run past the end of the {size}-byte file"))
}

/// Checks that `[offset, offset + len)` lies inside a file of `size` bytes; returns the end.
pub fn check_range(offset: u64, len: usize, size: u64) -> Result<u64> {
    offset.checked_add(len as u64).filter(|&end| end <= size).ok_or_else(|| past_end(offset, len, size))
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = check_range(offset, len, ByteSource::len(self))?;
        Ok(self[offset as usize..end as usize].to_vec())
    }
}

impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.as_slice().read_at(offset, len)
    }
}

/// A file on disk (the CLI). Reads go through `&File`, which implements `Read + Seek`, under a
/// mutex so the source can be shared; the OS page cache makes repeated reads cheap.
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    file: std::sync::Mutex<std::fs::File>,
    len: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    /// Opens `path` for reading.
    pub fn open(path: &std::path::Path) -> std::io::Result<FileSource> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(FileSource { file: std::sync::Mutex::new(file), len })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        check_range(offset, len, self.len)?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| Error::Read(format!("cannot allocate {len} bytes to read")))?;
        buf.resize(len, 0);
        let mut file = self.file.lock().map_err(|_| Error::Read("the file lock was poisoned".into()))?;
        file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_exact(&mut buf)).map_err(|e| Error::Read(e.to_string()))?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_source_reads_ranges_and_refuses_past_the_end() {
        let bytes: Vec<u8> = (0..10).collect();
        assert_eq!(bytes.read_at(3, 4).unwrap(), vec![3, 4, 5, 6]);
        assert_eq!(bytes.read_at(10, 0).unwrap(), Vec::<u8>::new());
        assert!(bytes.read_at(8, 3).unwrap_err().to_string().contains("past the end"));
        assert!(bytes.read_at(u64::MAX, 2).is_err());
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn file_source_reads_like_memory() {
        let path = std::env::temp_dir().join(format!("quantscope-bytesource-{}", std::process::id()));
        std::fs::write(&path, (0..=255u8).collect::<Vec<_>>()).unwrap();
        let f = FileSource::open(&path).unwrap();
        assert_eq!(ByteSource::len(&f), 256);
        assert_eq!(f.read_at(250, 6).unwrap(), vec![250, 251, 252, 253, 254, 255]);
        assert!(f.read_at(251, 6).is_err());
        std::fs::remove_file(path).unwrap();
    }
}
