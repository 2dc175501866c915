//! Native throughput of every scheme: `cargo bench --bench throughput` (the bench page runs
//! the same operations in Chromium; `npm run bench` prints both side by side).
//! QUANTSCOPE_BENCH_N sets the element count (default 16M, as the issue asks); with --json the
//! figures are printed as one JSON array for scripts/bench.mjs.

use quantscope_core::throughput::bench_scheme;
use quantscope_core::{samples, schemes};
use std::time::Instant;

fn main() {
    let n: usize = std::env::var("QUANTSCOPE_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1 << 24);
    let json = std::env::args().any(|a| a == "--json");
    let cols = 4096.min(n);
    let t = samples::generate("normal", n / cols, cols, 1).expect("sample fits");
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let mut results = Vec::new();
    if !json {
        println!("native, {} elements ({:.0} MB of f32), MB/s of input, fastest of 3", t.data.len(), t.data.len() as f64 * 4e-6);
        println!("{:<16} {:>12} {:>12} {:>12}", "scheme", "quantize", "dequantize", "metrics");
    }
    for id in schemes::base_ids() {
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
