/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/quantscope_gemm-d6262b70ec62187c.d: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/simd128.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libquantscope_gemm-d6262b70ec62187c.rlib: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/simd128.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libquantscope_gemm-d6262b70ec62187c.rmeta: src/gemm/src/lib.rs src/gemm/src/bench.rs src/gemm/src/pack.rs src/gemm/src/portable.rs src/gemm/src/reference.rs src/gemm/src/simd128.rs

src/gemm/src/lib.rs:
src/gemm/src/bench.rs:
src/gemm/src/pack.rs:
src/gemm/src/portable.rs:
src/gemm/src/reference.rs:
src/gemm/src/simd128.rs:
