/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/quantscope_gemm-d87f3648cececd71.d: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/simd128.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/quantscope_gemm-d87f3648cececd71.wasm: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/simd128.rs

src/gemm/src/lib.rs:
src/gemm/src/bench.rs:
src/gemm/src/pack.rs:
src/gemm/src/portable.rs:
src/gemm/src/reference.rs:
src/gemm/src/simd128.rs:
