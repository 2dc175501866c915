/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/wasm_bindgen_test_shared-791fd9b631ac1378.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-test-shared-0.2.130/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libwasm_bindgen_test_shared-791fd9b631ac1378.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-test-shared-0.2.130/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libwasm_bindgen_test_shared-791fd9b631ac1378.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-test-shared-0.2.130/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-test-shared-0.2.130/src/lib.rs:
