//! A fuzz driver that needs only stable Rust, for machines without a nightly toolchain or
//! cargo-fuzz (scripts/fuzz.sh falls back to it): it mutates the fixture files under
//! tests/fixtures/ (bit flips, interesting integers over length and count fields, insertions,
//! deletions, truncations, splices) and feeds each mutant to a parser for a given time,
//! checking that nothing panics. Not coverage-guided like libFuzzer, so it finds less, but it
//! runs anywhere:
//!
//! ```sh
//! cargo run --release --example fuzz_stable -- gguf 60      # one target for 60 s
//! cargo run --release --example fuzz_stable -- all 10       # every target, 10 s each
//! ```
//!
//! A panicking input is written to `fuzz/artifacts/stable/<target>-<seed>.bin` (by the panic
//! hook, so also in release builds, which abort on panic) and the driver exits with a failure.
//! `QUANTSCOPE_FUZZ_SEED=n` makes a run reproducible (it prints its seed).

use quantscope_formats::{self as formats, gguf_writer, lazy, safetensors};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The parsers, each with the fixture directories its seeds come from.
pub const TARGETS: &[(&str, &[&str])] = &[
    ("npy", &["npy", "npy/malformed"]),
    ("npz", &["npz", "npz/malformed"]),
    ("safetensors", &["safetensors", "safetensors/malformed"]),
    ("gguf", &["gguf", "gguf/malformed", "gguf_export"]),
    ("onnx", &["onnx", "onnx/malformed", "onnx_weights", "onnx_weights/malformed"]),
    ("lazy", &["safetensors", "gguf", "gguf_export"]),
];

/// Feeds one input to `target`'s parser (results are ignored: only panics matter).
pub fn run_one(target: &str, data: &[u8]) {
    match target {
        "npy" => drop(formats::load_file("fuzz.npy", data)),
        "npz" => drop(formats::load_file("fuzz.npz", data)),
        "safetensors" => {
            drop(formats::load_file("fuzz.safetensors", data));
            if let Some((&split, rest)) = data.split_first() {
                let (index, shard) = rest.split_at((split as usize).min(rest.len()));
                drop(safetensors::load_sharded(index, &[("model-00001-of-00001.safetensors", shard)]));
            }
        }
        "gguf" => drop(formats::load_file("fuzz.gguf", data)),
        "onnx" => drop(formats::load_file("fuzz.onnx", data)),
        // The lazy readers: header from a prefix, statistics streamed, every tensor decoded,
        // and a GGUF export of what was read.
        "lazy" => {
            for name in ["fuzz.gguf", "fuzz.safetensors"] {
                if let Ok(file) = lazy::open(name, Rc::new(data.to_vec())) {
                    let _ = file.summaries();
                    for i in 0..file.tensors.len() {
                        let _ = file.materialize(i);
                    }
                    let _ = gguf_writer::write_to_vec(&file, "fuzz", gguf_writer::OutType::Q4_0);
                }
            }
        }
        other => panic!("unknown target {other}"),
    }
}

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Integers that make length, count and offset fields interesting.
const INTERESTING: &[u64] =
    &[0, 1, 2, 7, 8, 31, 32, 33, 255, 256, 4096, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, 1 << 40, u64::MAX >> 1, u64::MAX];

/// One random mutation of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = [0, 0xff, 0x7f, 0x80, b'{', b'"'][rng.below(6)];
            }
            2 if len >= 8 => {
                // An interesting u32 or u64 at a random (often field-aligned) offset.
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let width = if rng.below(2) == 0 { 4 } else { 8 };
                let i = rng.below(len - width + 1) & !if rng.below(2) == 0 { 3 } else { 0 };
                out[i..i + width].copy_from_slice(&v.to_le_bytes()[..width]);
            }
            3 => out.truncate(rng.below(len + 1)),
            4 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                out.splice(i..i, (0..n).map(|_| rng.next() as u8));
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                out.drain(i..i + n);
            }
            6 if len > 0 => {
                // Duplicate a chunk (repeated records, longer arrays).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let chunk = out[i..i + n].to_vec();
                out.splice(i..i, chunk);
            }
            _ if !other.is_empty() => {
                // Splice: a prefix of this input and a suffix of another.
                let cut = rng.below(out.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[rng.below(other.len())..]);
            }
            _ => {}
        }
    }
    out
}

/// The seed inputs of `target`: every fixture file in its directories (JSON files excluded).
pub fn seeds(root: &Path, target: &str) -> Vec<Vec<u8>> {
    let dirs = TARGETS.iter().find(|(t, _)| *t == target).map(|(_, d)| *d).unwrap_or(&[]);
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "json") {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&p) {
                // Large seeds make each run slow without finding more; the head is what parses.
                out.push(bytes.into_iter().take(64 << 10).collect());
            }
        }
    }
    out
}

/// Outcome of fuzzing one target.
#[derive(Debug)]
pub struct Report {
    pub target: String,
    pub runs: u64,
    pub seed: u64,
    /// The input that panicked, if one did.
    pub crash: Option<Vec<u8>>,
}

thread_local! {
    /// The input being tried, so the panic hook can save it: release builds abort on panic
    /// (`panic = "abort"`), and the hook is the last code that runs.
    static CURRENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Fuzzes `target` for `time` with the fixtures under `root` (tests/fixtures). A panicking
/// input is returned in the report and, if `save_to` is given, written there first.
pub fn fuzz(root: &Path, target: &str, time: Duration, seed: u64, save_to: Option<PathBuf>) -> Report {
    let seeds = seeds(root, target);
    assert!(!seeds.is_empty(), "no seed files for {target} under {}", root.display());
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let mut runs = 0;
    let hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if let Some(path) = &save_to {
            let _ = path.parent().map(std::fs::create_dir_all);
            let saved = CURRENT.with(|c| std::fs::write(path, &*c.borrow()));
            eprintln!("panic: {info}\ninput saved to {} ({saved:?})", path.display());
        }
    }));
    let mut crash = None;
    while start.elapsed() < time {
        let input = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let data = if runs < seeds.len() as u64 { input.clone() } else { mutate(&mut rng, input, other) };
        runs += 1;
        CURRENT.with(|c| c.borrow_mut().clone_from(&data));
        if panic::catch_unwind(AssertUnwindSafe(|| run_one(target, &data))).is_err() {
            crash = Some(data);
            break;
        }
    }
    panic::set_hook(hook);
    Report { target: target.to_string(), runs, seed, crash }
}

#[allow(dead_code)] // the tests include this file as a module and call `fuzz` directly
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(target), Some(secs)) = (args.first(), args.get(1).and_then(|s| s.parse::<f64>().ok())) else {
        eprintln!("usage: fuzz_stable TARGET|all SECONDS   (targets: {})", TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", "));
        std::process::exit(2);
    };
    let targets: Vec<&str> = if target == "all" { TARGETS.iter().map(|t| t.0).collect() } else { vec![target.as_str()] };
    if let Some(bad) = targets.iter().find(|t| !TARGETS.iter().any(|(k, _)| k == *t)) {
        eprintln!("unknown target '{bad}'");
        std::process::exit(2);
    }
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures");
    let seed = std::env::var("QUANTSCOPE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    for t in targets {
        let artifact = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(format!("fuzz/artifacts/stable/{t}-{seed}.bin"));
        let r = fuzz(&root, t, Duration::from_secs_f64(secs), seed, Some(artifact.clone()));
        match r.crash {
            None => println!("{}: {} inputs in {secs} s, no panic (seed {seed})", r.target, r.runs),
            Some(_) => {
                eprintln!("{t}: PANIC after {} inputs (seed {seed}); input saved to {}", r.runs, artifact.display());
                std::process::exit(1);
            }
        }
    }
}
