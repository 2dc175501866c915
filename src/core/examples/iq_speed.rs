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

use quantscope_core::samples;
use quantscope_core::schemes::{self, iquants::IqType};
use std::time::Instant;

fn main() {
    let t = samples::generate("normal", 256, 4096, 1).expect("sample fits");
    let x = &t.data;
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let w: Vec<f32> = (0..4096)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    println!("{} normal values, M values/s, one run", x.len());
    for ty in IqType::ALL {
        let start = Instant::now();
        let warm = ty.pack(&x[..4096], Some(&w)).expect("packs");
        let first = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let packed = ty.pack(x, Some(&w)).expect("packs");
        let kernel = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let q = schemes::quantize_with_importance(ty.id(), x, &t.shape, &w).expect("quantizes");
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
