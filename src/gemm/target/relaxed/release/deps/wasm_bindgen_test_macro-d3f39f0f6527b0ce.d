/work/wt/relaxed20/src/gemm/target/relaxed/release/deps/wasm_bindgen_test_macro-d3f39f0f6527b0ce.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-test-macro-0.3.80/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/release/deps/libwasm_bindgen_test_macro-d3f39f0f6527b0ce.so: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-test-macro-0.3.80/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-test-macro-0.3.80/src/lib.rs:
