//! Lazily opened files (src/formats/src/lazy.rs, lazy_store.rs): the same tensors, metadata and
//! errors as the whole-file readers, read in bounded pieces; statistics streamed chunk by chunk;
//! the memory budget of the tensor store. Native only (it lists fixture directories).

#![cfg(not(target_arch = "wasm32"))]

use quantscope_core::stats::summary::summarize;
use quantscope_formats::bytesource::ByteSource;
use quantscope_formats::lazy::{self, StatsScan, CHUNK_ELEMENTS};
use quantscope_formats::{self as formats, Format};
use quantscope_formats::{Error, Result};
use quantscope_workbench::store::TensorStore;
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;

const FIXTURES: &str = concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "/tests/fixtures/");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{path}")).unwrap()
}

/// Bytes in memory that count and record the reads made of them.
struct Counting {
    bytes: Vec<u8>,
    reads: Cell<usize>,
    largest: Cell<usize>,
    log: RefCell<Vec<(u64, usize)>>,
}

impl Counting {
    fn new(bytes: Vec<u8>) -> Rc<Counting> {
        Rc::new(Counting { bytes, reads: Cell::new(0), largest: Cell::new(0), log: RefCell::new(Vec::new()) })
    }
}

impl ByteSource for Counting {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.reads.set(self.reads.get() + 1);
        self.largest.set(self.largest.get().max(len));
        self.log.borrow_mut().push((offset, len));
        self.bytes.read_at(offset, len)
    }
}

fn open_bytes(name: &str, bytes: Vec<u8>) -> Result<lazy::LazyFile> {
    lazy::open(name, Rc::new(bytes))
}

#[test]
fn lazy_files_hold_the_same_tensors_as_whole_reads() {
    for path in [
        "safetensors/all_dtypes.safetensors",
        "safetensors/metadata_order.safetensors",
        "gguf/tiny.gguf",
        "gguf/v2.gguf",
        "gguf/iq4_nl.gguf",
        "ggml_dequant/types.gguf",
        "npy/f32_c.npy",
    ] {
        let bytes = fixture(path);
        let whole = formats::load_file(path, &bytes).unwrap();
        let source = Counting::new(bytes.clone());
        let file = lazy::open(path, source.clone()).unwrap();
        assert_eq!(file.format, whole.format, "{path}");
        if whole.format != Format::Npy {
            assert_eq!(source.reads.get(), 2 + usize::from(whole.format == Format::Safetensors), "{path}: header reads only");
        }
        // GGUF's whole-file reader also lists tensors it skipped for its per-file budget; the
        // fixtures are small, so the metadata is identical.
        assert_eq!(file.metadata, whole.metadata, "{path}");
        assert_eq!(file.tensors.len(), whole.tensors.len(), "{path}");
        for (i, w) in whole.tensors.iter().enumerate() {
            let t = file.materialize(i).unwrap();
            assert_eq!((&t.name, &t.dtype, &t.shape), (&w.name, &w.dtype, &w.shape), "{path}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&t.data), bits(&w.data), "{path}: {}", w.name);
            if let Some(b) = quantscope_core::report::tensor_report(w).stored_bytes {
                assert_eq!(file.tensors[i].stored_bytes(), Some(b), "{path}: {}", w.name);
            }
        }
    }
}

#[test]
fn chunks_of_block_types_are_slices_of_the_whole() {
    // tiny.gguf holds q8_0/q4_k/... tensors: read each in pieces of 256 values.
    let file = open_bytes("tiny.gguf", fixture("gguf/tiny.gguf")).unwrap();
    for i in 0..file.tensors.len() {
        let whole = file.materialize(i).unwrap();
        let n = whole.data.len() as u64;
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < n {
            pieces.extend(file.read_values(i, start, 256).unwrap());
            start += 256;
        }
        assert_eq!(pieces.len(), whole.data.len());
        assert!(pieces.iter().zip(&whole.data).all(|(a, b)| a.to_bits() == b.to_bits()), "{}", whole.name);
        if file.tensors[i].dtype.starts_with('q') && n > 32 {
            let err = file.read_values(i, 1, 32).unwrap_err();
            assert!(err.to_string().contains("blocks"), "{err}");
        }
    }
}

#[test]
fn streamed_statistics_match_the_whole_tensor_summary() {
    for path in ["safetensors/all_dtypes.safetensors", "gguf/tiny.gguf"] {
        let file = open_bytes(path, fixture(path)).unwrap();
        let mut scan = StatsScan::new(&file);
        let mut steps = 0;
        while !scan.step(&file, 1).unwrap() {
            steps += 1;
            assert!(scan.done <= scan.total);
        }
        assert_eq!(scan.done, scan.total);
        assert!(steps + 1 >= file.tensors.iter().filter(|t| t.elements() > 0).count(), "one tensor per step at budget 1");
        for (i, s) in scan.summaries.iter().enumerate() {
            let want = summarize(&file.materialize(i).unwrap().data);
            assert_eq!((s.count, s.nan_count, s.inf_count), (want.count, want.nan_count, want.inf_count));
            let close = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1e-30);
            assert!(
                close(s.min, want.min) && close(s.max, want.max) && close(s.mean, want.mean) && close(s.std, want.std),
                "{path} #{i}: {s:?} vs {want:?}"
            );
        }
    }
}

/// Every malformed safetensors and GGUF fixture fails the lazy open with the whole reader's message.
#[test]
fn lazy_open_refuses_malformed_files_with_the_same_messages() {
    for dir in ["safetensors/malformed", "gguf/malformed"] {
        let expected: serde_json::Value = serde_json::from_slice(&fixture(&format!("{dir}/expected_errors.json"))).unwrap();
        for (name, want) in expected.as_object().unwrap() {
            let bytes = fixture(&format!("{dir}/{name}"));
            let whole = formats::load_file(name, &bytes).unwrap_err().to_string();
            let lazy = open_bytes(name, bytes).unwrap_err().to_string();
            if name == "over_cap_shape.safetensors" {
                // The lazy reader has no element cap (it streams big tensors); the shape then
                // fails against the bytes that are there.
                assert!(lazy.contains("tensor '"), "{name}: {lazy}");
                continue;
            }
            assert_eq!(lazy, whole, "{name}");
            assert!(lazy.contains(want.as_str().unwrap()), "{name}: {lazy}");
        }
    }
}

#[test]
fn every_prefix_and_flip_of_a_gguf_fails_cleanly() {
    let bytes = fixture("gguf/tiny.gguf");
    for len in 0..bytes.len() {
        assert!(open_bytes("t.gguf", bytes[..len].to_vec()).and_then(|f| f.summaries().map(|_| ())).is_err(), "prefix {len}");
    }
    let mut copy = bytes.clone();
    for i in (0..copy.len()).step_by(3) {
        copy[i] ^= 0x5a;
        if let Ok(f) = open_bytes("t.gguf", copy.clone()) {
            let _ = f.summaries();
        }
        copy[i] ^= 0x5a;
    }
}

/// A GGUF whose header is longer than the first read (a 3 MB vocabulary) is read in a few
/// growing prefixes, and its tensor's data is read a chunk at a time.
#[test]
fn long_headers_are_read_in_growing_prefixes() {
    let mut h = b"GGUF".to_vec();
    h.extend(3u32.to_le_bytes());
    h.extend(1u64.to_le_bytes()); // tensors
    h.extend(1u64.to_le_bytes()); // kvs
    let key = b"tokenizer.ggml.tokens";
    h.extend((key.len() as u64).to_le_bytes());
    h.extend(key);
    h.extend(9u32.to_le_bytes()); // array
    h.extend(8u32.to_le_bytes()); // of strings
    let n = 300_000u64;
    h.extend(n.to_le_bytes());
    for i in 0..n {
        let s = format!("tok{i:05}");
        h.extend((s.len() as u64).to_le_bytes());
        h.extend(s.as_bytes());
    }
    let name = b"w";
    h.extend((name.len() as u64).to_le_bytes());
    h.extend(name);
    h.extend(2u32.to_le_bytes());
    let rows = 40u64;
    let cols = (CHUNK_ELEMENTS as u64) / 16; // 40 rows of 256Ki f32: 10 MiB of values
    h.extend(cols.to_le_bytes());
    h.extend(rows.to_le_bytes());
    h.extend(0u32.to_le_bytes()); // f32
    h.extend(0u64.to_le_bytes());
    while h.len() % 32 != 0 {
        h.push(0);
    }
    assert!(h.len() > 4 << 20, "header of {} bytes", h.len());
    let data_start = h.len();
    for i in 0..rows * cols {
        h.extend(((i % 1000) as f32 * 0.5).to_le_bytes());
    }
    let source = Counting::new(h);
    let file = lazy::open("big.gguf", source.clone()).unwrap();
    assert!(file.metadata.iter().any(|(k, v)| k == "tokenizer.ggml.tokens" && v.starts_with("[300000 strings")));
    let header_reads = source.reads.get();
    assert!((3..=5).contains(&header_reads), "{header_reads} header reads");
    let summaries = file.summaries().unwrap();
    assert_eq!(summaries[0].count as u64, rows * cols);
    assert_eq!((summaries[0].min, summaries[0].max), (0.0, 499.5));
    // Data reads: 40·256Ki values in chunks of CHUNK_ELEMENTS, each read at most one chunk of f32.
    let data_reads: Vec<(u64, usize)> = source.log.borrow()[header_reads..].to_vec();
    assert_eq!(data_reads.len(), (rows * cols).div_ceil(CHUNK_ELEMENTS as u64) as usize);
    assert_eq!(data_reads[0].0, data_start as u64);
    assert!(data_reads.iter().all(|&(_, len)| len <= CHUNK_ELEMENTS * 4));
}

/// A tensor past the element cap is listed and streamed but refused whole with a clear error.
#[test]
fn tensors_over_the_cap_stream_but_do_not_materialize() {
    // A U8 tensor of 2^28 + 256 values: 256 MiB of file made on the fly, never held.
    struct Synthetic {
        header: Vec<u8>,
        len: u64,
    }
    impl ByteSource for Synthetic {
        fn len(&self) -> u64 {
            self.len
        }
        fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
            quantscope_formats::bytesource::check_range(offset, len, self.len)?;
            Ok((offset..offset + len as u64).map(|i| self.header.get(i as usize).copied().unwrap_or((i % 7) as u8)).collect())
        }
    }
    let n = (1u64 << 28) + 256;
    let json = format!(r#"{{"big":{{"dtype":"U8","shape":[{n}],"data_offsets":[0,{n}]}}}}"#);
    let mut header = (json.len() as u64).to_le_bytes().to_vec();
    header.extend(json.as_bytes());
    let len = header.len() as u64 + n;
    let file = lazy::open("big.safetensors", Rc::new(Synthetic { header, len })).unwrap();
    assert_eq!(file.tensors[0].elements(), n);
    let err = file.materialize(0).unwrap_err();
    assert!(matches!(err, Error::TensorTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("'big'"), "{err}");
    let h = file.histogram(0, 7, 0.0, 7.0).unwrap();
    assert_eq!(h.counts.iter().sum::<u64>(), n);
    let s = &file.summaries().unwrap()[0];
    assert_eq!((s.count as u64, s.min, s.max), (n, 0.0, 6.0));
    assert!((s.mean - 3.0).abs() < 1e-3, "{}", s.mean);
}

#[test]
fn the_store_keeps_decoded_tensors_within_its_budget() {
    // Three f32 tensors of 64 Ki values (256 KiB each); a budget of 600 KiB holds two.
    let mut json = String::from("{");
    let n = 1u64 << 16;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let (s, e) = (i as u64 * n * 4, (i as u64 + 1) * n * 4);
        json += &format!(r#"{}"{name}":{{"dtype":"F32","shape":[{n}],"data_offsets":[{s},{e}]}}"#, if i > 0 { "," } else { "" });
    }
    json += "}";
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend(json.as_bytes());
    for i in 0..3 * n {
        bytes.extend((i as f32).to_le_bytes());
    }
    let file = lazy::open("m.safetensors", Rc::new(bytes)).unwrap();
    let mut store = TensorStore::new();
    store.set_budget(600 << 10);
    let sample = store.add_owned(vec![quantscope_core::Tensor::new("s", vec![2], "float32", vec![1.0, 2.0])]);
    let (_, idx) = store.add_file(file);
    assert_eq!(idx, vec![1, 2, 3]);
    assert!(store.report(1).is_err(), "no statistics before the scan");
    assert_eq!(store.get(1).unwrap().data[5], 5.0);
    assert_eq!(store.get(2).unwrap().data[0], n as f32);
    assert_eq!(store.cached_indices(), vec![1, 2]);
    store.get(1).unwrap(); // a is now more recent than b
    assert_eq!(store.get(3).unwrap().data[0], 2.0 * n as f32);
    assert_eq!(store.cached_indices(), vec![1, 3], "b, least recently used, was dropped");
    assert!(store.cached_bytes() <= 600 << 10);
    assert_eq!(store.get(sample[0]).unwrap().data, vec![1.0, 2.0]);
    // A tensor larger than the whole budget is decoded but not kept.
    store.set_budget(100 << 10);
    assert!(store.cached_indices().is_empty());
    assert_eq!(store.get(2).unwrap().len(), n as usize);
    assert_eq!(store.cached_bytes(), 0);
}

/// A file dropped again replaces the first (issue 12, item 11): closing the first frees its
/// tensors, resident ones (formats read whole) included, and leaves the others alone.
#[test]
fn closing_a_file_closes_its_resident_tensors_too() {
    let mut store = TensorStore::new();
    let sample = store.add_owned(vec![quantscope_core::Tensor::new("s", vec![2], "float32", vec![1.0, 2.0])]);
    let (first, old) = store.add_file(open_bytes("x.npy", fixture("npy/f32_c.npy")).unwrap());
    let (_, new) = store.add_file(open_bytes("x.npy", fixture("npy/f32_c.npy")).unwrap());
    assert!(store.get(old[0]).is_ok());
    store.close_file(first);
    let err = store.get(old[0]).unwrap_err().to_string();
    assert!(err.contains("was closed with its file"), "{err}");
    assert!(store.read_values(old[0], 0, 1).is_err());
    assert!(store.get(new[0]).is_ok() && store.get(sample[0]).is_ok(), "other files and samples stay");
}

#[test]
fn whole_file_formats_stay_resident_and_big_ones_are_refused() {
    let file = open_bytes("x.npy", fixture("npy/f32_c.npy")).unwrap();
    assert!(file.tensors.iter().all(|t| t.is_resident()));
    assert!(Path::new(FIXTURES).join("npy/f32_c.npy").exists());
    let err = open_bytes("nothing", vec![1, 2, 3]).unwrap_err();
    assert_eq!(err, Error::UnknownFormat);
}

#[test]
fn sharded_checkpoints_open_lazily_with_the_same_tensors_and_errors() {
    let index = fixture("safetensors/model.safetensors.index.json");
    let shard = |n: &str| (n.to_string(), fixture(&format!("safetensors/{n}")));
    let shards = [shard("model-00001-of-00002.safetensors"), shard("model-00002-of-00002.safetensors")];
    let sources = |list: &[(String, Vec<u8>)]| -> Vec<(String, Rc<dyn ByteSource>)> {
        list.iter().map(|(n, b)| (format!("dir/{n}"), Rc::new(b.clone()) as Rc<dyn ByteSource>)).collect()
    };
    let pairs: Vec<(&str, &[u8])> = shards.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let whole = formats::safetensors::load_sharded(&index, &pairs).unwrap();
    let file = lazy::open_sharded("model.safetensors.index.json", &index, sources(&shards)).unwrap();
    assert_eq!(file.metadata, whole.metadata);
    assert_eq!(file.tensors.len(), whole.tensors.len());
    for (i, w) in whole.tensors.iter().enumerate() {
        let t = file.materialize(i).unwrap();
        assert_eq!((&t.name, &t.shape, &t.data), (&w.name, &w.shape, &w.data));
    }
    // A missing shard, and a broken one, fail as the whole reader fails.
    let missing = lazy::open_sharded("i", &index, sources(&shards[..1])).unwrap_err();
    assert_eq!(missing, formats::safetensors::load_sharded(&index, &pairs[..1]).unwrap_err());
    let broken = [shards[0].clone(), (shards[1].0.clone(), shards[1].1[..10].to_vec())];
    let broken_pairs: Vec<(&str, &[u8])> = broken.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    assert_eq!(
        lazy::open_sharded("i", &index, sources(&broken)).unwrap_err(),
        formats::safetensors::load_sharded(&index, &broken_pairs).unwrap_err()
    );
    assert!(matches!(lazy::open_sharded("i", b"{}", vec![]).unwrap_err(), Error::Safetensors(_)));
}
