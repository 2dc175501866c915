/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/gemm-6e52d9e297b29971.d: src/gemm/tests/gemm.rs src/gemm/tests/../../../tests/common/mod.rs /work/wt/relaxed20/src/gemm/../../tests/fixtures/gemm/ort_gemm.json

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/gemm-6e52d9e297b29971.wasm: src/gemm/tests/gemm.rs src/gemm/tests/../../../tests/common/mod.rs /work/wt/relaxed20/src/gemm/../../tests/fixtures/gemm/ort_gemm.json

src/gemm/tests/gemm.rs:
src/gemm/tests/../../../tests/common/mod.rs:
/work/wt/relaxed20/src/gemm/../../tests/fixtures/gemm/ort_gemm.json:

# env-dep:CARGO_MANIFEST_DIR=/work/wt/relaxed20/src/gemm
