//! Native quantize throughput of the `ggml_extra` types, one run each on 2^20 standard-normal
//! values (rows of 4096), to set beside llama.cpp's `ggml_quantize_chunk` timed by
//! `scripts/fixtures/make_ggml_extra.py --bench` on the same count of normal values:
//!
//!     cargo run --release -p quantscope-core --example ggml_extra_speed
//!
//! "kernel" is the block quantizer alone (what `ggml_quantize_chunk` does); "scheme" is
//! `Scheme::quantize`, which also decodes every block, resolves NaN/Inf and counts levels and
//! clipped values for the page.

use quantscope_core::samples;
use quantscope_core::schemes::ggml_extra::ExtraType;
use quantscope_core::schemes::Scheme;
use std::time::Instant;

fn main() {
    let t = samples::generate("normal", 256, 4096, 1).expect("sample fits");
    let x = &t.data;
    println!("{} normal values, M values/s, one run", x.len());
    for ty in ExtraType::ALL {
        let (bs, bb) = (ty.block(), ty.block_bytes());
        let mut packed = vec![0u8; x.len() / bs * bb];
        let start = Instant::now();
        for (xb, out) in x.chunks_exact(bs).zip(packed.chunks_exact_mut(bb)) {
            ty.quantize_block(xb, None, out);
        }
        let kernel = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let q = ty.quantize(x, &t.shape).expect("quantizes");
        let scheme = start.elapsed().as_secs_f64();
        assert_eq!(q.packed, packed, "the kernel and the scheme wrote the same bytes");
        let m = x.len() as f64 / 1e6;
        println!("{:<7} kernel {:>7.1}   scheme {:>7.1}", ty.id(), m / kernel, m / scheme);
    }
}
