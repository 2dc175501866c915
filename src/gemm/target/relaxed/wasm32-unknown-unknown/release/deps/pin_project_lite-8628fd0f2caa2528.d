/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/pin_project_lite-8628fd0f2caa2528.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libpin_project_lite-8628fd0f2caa2528.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/libpin_project_lite-8628fd0f2caa2528.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pin-project-lite-0.2.18/src/lib.rs:
