//! Native quantize throughput of llama.cpp's IQ grid types with an importance vector, one run
//! each on 2^20 standard-normal values (rows of 4096, weights uniform in [0, 1)), to set beside
//! llama.cpp's `ggml_quantize_chunk` timed by `scripts/fixtures/make_imatrix_quants.py --bench`
//! on the same count of normal values:
//!
//!     cargo run --release -p quantscope-core --example iq_speed
//!
//! "kernel" is `IqType::pack` (what `ggml_quantize_chunk` does; the first run also builds the
//! grid's neighbour lists, so each type is packed once before the timed run); "scheme" is
//! `quantize_with_importance`, which also decodes every block and counts for the page.

use quantscope_core::pack_bench;
use quantscope_core::schemes::{self, iquants::IqType};
use std::time::Instant;

fn main() {
    // The pack bench's input (rows of 4096 normal values, one weight per column).
    let (values, w) = pack_bench::pack_input(1 << 20).expect("whole rows");
    let shape = [values.len() / 4096, 4096];
    let x = &values;
    println!("{} normal values, M values/s, one run", x.len());
    for ty in IqType::ALL {
        let start = Instant::now();
        let warm = ty.pack(&x[..4096], Some(&w)).expect("packs");
        let first = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let packed = ty.pack(x, Some(&w)).expect("packs");
        let kernel = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let q = schemes::quantize_with_importance(ty.id(), x, &shape, &w).expect("quantizes");
        let scheme = start.elapsed().as_secs_f64();
        assert_eq!(q.packed, packed, "the kernel and the scheme wrote the same bytes");
        assert_eq!(&packed[..warm.len()], &warm[..]);
        let m = x.len() as f64 / 1e6;
        println!(
            "{:<8} kernel {:>7.2}   scheme {:>7.2}   first 4096 values (builds the grid's lists) {:>6.1} ms",
            ty.id(),
            m / kernel,
            m / scheme,
            first * 1e3
        );
    }
}
