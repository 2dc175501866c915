//! Native GEMM throughput: `cargo bench --bench gemm` (the bench page measures the same cases in
//! Chromium for the SIMD128 and scalar wasm builds; `npm run bench` prints all three). Natively
//! the packed entry points run the portable scalar kernels and the unpacked ones the reference,
//! compiled for x86-64-v2 (LLVM auto-vectorizes what it can).
//! `--json` prints one JSON array for scripts/bench.mjs; QUANTSCOPE_BENCH_MIN_MS sets the least
//! duration of one timed batch (default 200 ms).

use quantscope_gemm::bench::bench_gemm;
use std::time::Instant;

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let min_ms: f64 = std::env::var("QUANTSCOPE_BENCH_MIN_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(200.0);
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let results = bench_gemm(&now, min_ms, 3);
    if json {
        println!("{}", serde_json::to_string(&results).expect("serializes"));
        return;
    }
    println!("native GEMM, fastest of 3 batches of ≥ {min_ms} ms; GOP/s counts 2·m·n·k");
    println!("{:<34} {:>12} {:>10}", "case", "µs/call", "GOP/s");
    for r in results {
        println!("{:<34} {:>12.1} {:>10.2}", r.case, r.micros, r.gop_s);
    }
}
