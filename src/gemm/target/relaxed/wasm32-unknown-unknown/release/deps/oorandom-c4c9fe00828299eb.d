/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/oorandom-c4c9fe00828299eb.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/oorandom-11.1.5/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/liboorandom-c4c9fe00828299eb.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/oorandom-11.1.5/src/lib.rs

/work/wt/relaxed20/src/gemm/target/relaxed/wasm32-unknown-unknown/release/deps/liboorandom-c4c9fe00828299eb.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/oorandom-11.1.5/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/oorandom-11.1.5/src/lib.rs:
