#!/usr/bin/env bash
# Every test suite: native (unit, fixtures, CLI), wasm in headless Chromium, browser end to end.
# Called by `npm test` after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver
# A clean clone gains nothing from incremental caches, and they were a third of the 9 GB the
# run left in target/; a CI machine with little free disk crashed the linker on them.
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*" >&2; }

step "formatting and lints (cargo fmt --check; clippy, native and wasm32, warnings are errors)"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --target wasm32-unknown-unknown -- -D warnings
# The mixer's page features (www/pkg-mix) are not in the workspace build above.
cargo clippy -p quantscope-mixer --features fit,iq-grids --target wasm32-unknown-unknown -- -D warnings

step "native tests (cargo test --workspace)"
bash scripts/check-test-suites.sh
cargo test --workspace

# The crates with wasm tests, each run as the README documents it: wasm-pack in headless
# Chromium (SIMD128 on, from .cargo/config.toml). The facades' own exports are tested in
# workbench and runner; bench and cli have no wasm tests.
# Most crates' tests are one binary (tests/suite.rs), so one browser session runs all of a crate's
# tests: the runner's default limit of 20 s per binary is for a single file's.
export WASM_BINDGEN_TEST_TIMEOUT=600
for crate in gemm core formats learn engine ptq llm workbench plots reader tutor runner trainer; do
  step "wasm tests in headless Chromium: src/$crate (wasm-pack test)"
  # No DWARF in the wasm test binaries (50 MB each with it); panics still name their functions.
  CARGO_PROFILE_TEST_DEBUG=0 wasm-pack --log-level warn test --headless --chrome --chromedriver "$CHROMEDRIVER" --mode no-install "src/$crate"
done
# The workbench and bench ship core's `fast-kernels` (larger SIMD128 quantize/dequantize kernels,
# each held to its scalar reference by core's suite): core's suite again with them. It costs the
# compile of core's tests with the feature (1m32 of CPU here) and ~10 s of tests: 2m52 wall on the
# loaded 2-core machine (load 5), well under that on an idle one.
step "wasm tests in headless Chromium: src/core (wasm-pack test, --features fast-kernels)"
CARGO_PROFILE_TEST_DEBUG=0 wasm-pack --log-level warn test --headless --chrome --chromedriver "$CHROMEDRIVER" --mode no-install src/core --features fast-kernels
# The mixer's Learn exports quantize with the grid types: its tests take the page's iq-grids.
step "wasm tests in headless Chromium: src/mixer (wasm-pack test, --features iq-grids)"
CARGO_PROFILE_TEST_DEBUG=0 wasm-pack --log-level warn test --headless --chrome --chromedriver "$CHROMEDRIVER" --mode no-install src/mixer --features iq-grids
# The Language model worker loads www/pkg-lm-relaxed where the browser has relaxed SIMD: llm's
# suite again with its flags (scripts/build-wasm.sh's RELAXED_FLAGS), where the Q4_K/Q5_K/Q2_K
# products take the relaxed int8 dot and LLVM turns float min/max into relaxed_min/max — the
# kernels held to the same scalar references, the logits to llama.cpp's. `cargo test` rather
# than wasm-pack, whose extra `cargo build --tests` compiles everything a second time (dev
# profile); the runner is .cargo/config.toml's, in Chromium as wasm-pack runs it. The same target
# dir: only the 46 wasm crates of llm's test build recompile with these flags (the host
# proc-macros and build scripts are shared), beside the plain build's artifacts. Measured in
# session 24 with the host crates warm: 138 s of CPU (compile and the 80 tests) — 5m16 wall on
# the shared 2-core machine at load 10; by the CPU time, about two minutes on an idle one.
step "wasm tests in headless Chromium: src/llm, relaxed SIMD (cargo test --target wasm32-unknown-unknown)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" CARGO_PROFILE_TEST_DEBUG=0 \
  WASM_BINDGEN_TEST_ONLY_WEB=1 cargo test -p quantscope-llm --target wasm32-unknown-unknown --test suite

# The static calibration's histogram and MinMax kernels have SIMD128 forms (calibrate.rs, minmax.rs),
# held to their plain loops by unit tests; the crate's integration suite reads fixture files
# and stays native. ~1m20 wall here at load 7.
step "wasm tests in headless Chromium: src/onnx-quant (wasm-pack test --lib)"
CARGO_PROFILE_TEST_DEBUG=0 wasm-pack --log-level warn test --headless --chrome --chromedriver "$CHROMEDRIVER" --mode no-install src/onnx-quant --lib

step "release wasm build for the page"
bash scripts/build-wasm.sh

step "browser end-to-end tests (Playwright, Debian's Chromium)"
node --test --test-concurrency=1 tests/e2e/
