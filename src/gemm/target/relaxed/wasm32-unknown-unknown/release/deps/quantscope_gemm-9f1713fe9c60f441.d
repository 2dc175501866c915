/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/quantscope_gemm-9f1713fe9c60f441.d: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/relaxed.rs src/gemm/src/simd128.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libquantscope_gemm-9f1713fe9c60f441.rlib: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/relaxed.rs src/gemm/src/simd128.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libquantscope_gemm-9f1713fe9c60f441.rmeta: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/relaxed.rs src/gemm/src/simd128.rs

src/gemm/src/lib.rs:
src/gemm/src/bench.rs:
src/gemm/src/pack.rs:
src/gemm/src/portable.rs:
src/gemm/src/reference.rs:
src/gemm/src/relaxed.rs:
src/gemm/src/simd128.rs:
