/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/wasm_bindgen_futures-80ee1a86da85c402.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-futures-0.4.80/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libwasm_bindgen_futures-80ee1a86da85c402.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-futures-0.4.80/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libwasm_bindgen_futures-80ee1a86da85c402.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-futures-0.4.80/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/wasm-bindgen-futures-0.4.80/src/lib.rs:
