/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/gemm-3cb25b9df38e70c7.d: src/gemm/tests/gemm.rs src/gemm/tests/../../../tests/common/mod.rs /work/wt/relaxed20/src/gemm/../../tests/fixtures/gemm/ort_gemm.json

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/gemm-3cb25b9df38e70c7.wasm: src/gemm/tests/gemm.rs src/gemm/tests/../../../tests/common/mod.rs /work/wt/relaxed20/src/gemm/../../tests/fixtures/gemm/ort_gemm.json

src/gemm/tests/gemm.rs:
src/gemm/tests/../../../tests/common/mod.rs:
/work/wt/relaxed20/src/gemm/../../tests/fixtures/gemm/ort_gemm.json:

# env-dep:CARGO_MANIFEST_DIR=/work/wt/relaxed20/src/gemm
