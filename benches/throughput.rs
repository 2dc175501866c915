//! Native throughput of every scheme: `cargo bench --bench throughput` (the bench page runs
//! the same operations in Chromium; `npm run bench` prints both side by side).
//! QUANTSCOPE_BENCH_N sets the element count (default 16M, as the issue asks); with --json the
//! figures are printed as one JSON array for scripts/bench.mjs.
//! With --pack DIR it times packing alone (`pack_bench`, the like-for-like comparison with
//! llama.cpp's `ggml_quantize_chunk`) instead, writes the input it timed to DIR/values.f32 and
//! DIR/importance.f32 (little-endian f32) for scripts/bench-llama.py, and prints one JSON object;
//! QUANTSCOPE_BENCH_PACK=q4_1,q5_1 times only those types (for a quick before/after of one kernel);
//! QUANTSCOPE_BENCH_SCHEMES=q8_0,nf4 does the same for the scheme figures.

use quantscope_core::pack_bench::{self, bench_pack, fnv1a64, pack_input, PACK_TYPES};
use quantscope_core::throughput::bench_scheme;
use quantscope_core::{samples, schemes};
use std::time::Instant;

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `--pack DIR`: packing alone, on the input written to DIR.
fn pack(n: usize, dir: &std::path::Path) {
    let (values, importance) = pack_input(n).expect("at least one row");
    std::fs::create_dir_all(dir).expect("creates the input directory");
    std::fs::write(dir.join("values.f32"), le_bytes(&values)).expect("writes the values");
    std::fs::write(dir.join("importance.f32"), le_bytes(&importance)).expect("writes the importance vector");
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let wanted = std::env::var("QUANTSCOPE_BENCH_PACK").ok();
    let results: Vec<_> = PACK_TYPES
        .iter()
        .filter(|(id, _)| wanted.as_deref().map_or(true, |w| w.split(',').any(|t| t == *id)))
        .map(|(id, _)| bench_pack(id, &values, &importance, 3, &now).expect("packs"))
        .collect();
    let out = serde_json::json!({
        "row": pack_bench::ROW,
        "values_fnv1a64": fnv1a64(&values),
        "importance_fnv1a64": fnv1a64(&importance),
        "results": results,
    });
    println!("{out}");
}

fn main() {
    let n: usize = std::env::var("QUANTSCOPE_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1 << 24);
    let json = std::env::args().any(|a| a == "--json");
    let args: Vec<String> = std::env::args().collect();
    if let Some(dir) = args.iter().position(|a| a == "--pack").and_then(|i| args.get(i + 1)) {
        return pack(n, std::path::Path::new(dir));
    }
    let cols = 4096.min(n);
    let t = samples::generate("normal", n / cols, cols, 1).expect("sample fits");
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let mut results = Vec::new();
    if !json {
        println!("native, {} elements ({:.0} MB of f32), MB/s of input, fastest of 3", t.data.len(), t.data.len() as f64 * 4e-6);
        println!("{:<16} {:>12} {:>12} {:>12}", "scheme", "quantize", "dequantize", "metrics");
    }
    let wanted = std::env::var("QUANTSCOPE_BENCH_SCHEMES").ok();
    for id in schemes::base_ids().into_iter().filter(|id| wanted.as_deref().map_or(true, |w| w.split(',').any(|t| t == id))) {
        let scheme = schemes::by_id(&id).expect("listed ids resolve");
        let r = bench_scheme(scheme.as_ref(), &t.data, &t.shape, 3, &now).expect("bench runs");
        if !json {
            println!("{:<16} {:>12.0} {:>12.0} {:>12.0}", r.scheme, r.quantize_mb_s, r.dequantize_mb_s, r.metrics_mb_s);
        }
        results.push(r);
    }
    if json {
        println!("{}", serde_json::to_string(&results).expect("serializes"));
    }
}
