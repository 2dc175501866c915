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
# No DWARF in the test binaries, native and wasm (50 MB per wasm binary with it): the optimized
# test builds compile and link faster without it, and panics still name their functions.
export CARGO_PROFILE_TEST_DEBUG=0

step() { printf '\n==> %s\n' "$*" >&2; }

step "formatting and lints (cargo fmt --check; clippy, native and wasm32, warnings are errors)"
cargo fmt --all --check

# The page's release build shares nothing with the test builds (another profile, so other
# artifacts and other lock files in target/) and waits on no test: it runs from here in the
# background at the lowest priority, on the CPU the steps below leave idle (a test binary running
# in the browser on one core, a single-threaded link), and the e2e step waits for it. Its own
# process group (job control on for the one `&`), so that a failing step stops all of it.
step "release wasm build for the page: started in the background (its log is shown before the e2e tests)"
release_log=$(mktemp)
set -m
nice -n 19 bash scripts/build-wasm.sh >"$release_log" 2>&1 &
release_build=$!
set +m
trap 'kill -- -"$release_build" 2>/dev/null || true; rm -f "$release_log"' EXIT
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --target wasm32-unknown-unknown -- -D warnings
# The mixer's page features (www/pkg-mix) are not in the workspace build above.
cargo clippy -p quantscope-mixer --features fit,iq-grids --target wasm32-unknown-unknown -- -D warnings

step "native tests (cargo test --workspace)"
bash scripts/check-test-suites.sh
cargo test --workspace

# The crates with wasm tests, in headless Chromium (SIMD128 on, from .cargo/config.toml). The
# facades' own exports are tested in workbench and runner; bench and cli have no wasm tests.
# Most crates' tests are one binary (tests/suite.rs), so one browser session runs all of a crate's
# tests: the runner's default limit of 20 s per binary is for a single file's.
export WASM_BINDGEN_TEST_TIMEOUT=600
# wasm-bindgen-test runs a binary's synchronous tests back to back in one task of the page, and
# the runner reads the page's output through WebDriver scripts, which ChromeDriver gives up on
# after the W3C default of 30 s ("Timed out receiving message from renderer: 30.000"): a suite
# whose tests take longer than that together (llm's, core's on a loaded machine) failed without a
# failing test. The session's script timeout from this capabilities file is the runner's 600 s.
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/tests/webdriver.json"
# core's suite as the README documents it and a CI of one's own would run it: `wasm-pack test`.
# wasm-pack first runs `cargo build --tests` in the dev profile, then `cargo test`: with the dev
# profile's settings made the test profile's for this one command (opt-level 2, no DWARF; the
# package overrides are the same table), cargo hashes both builds alike and `cargo test` finds
# everything built (the dev build had compiled the crate and its dependencies a second time:
# 2m33 of the run at load 7).
step "wasm tests in headless Chromium: src/core (wasm-pack test)"
CARGO_PROFILE_DEV_OPT_LEVEL=2 CARGO_PROFILE_DEV_DEBUG=0 \
  wasm-pack --log-level warn test --headless --chrome --chromedriver "$CHROMEDRIVER" --mode no-install src/core
# The others with one `cargo test --target wasm32-unknown-unknown` for all of them, which is what
# wasm-pack runs after a `cargo build --tests` of its own. One invocation, so one build: the
# features are unified across these crates as in the native `cargo test --workspace` (one crate
# per invocation had compiled core and everything above it once per feature set its dependents
# ask for: core six times in these steps, besides a step each for core's `fast-kernels` kernels,
# the mixer's `iq-grids` and onnx-quant's unit tests). Core's suite runs here with the workbench's `fast-kernels` (its larger
# SIMD128 quantize/dequantize kernels, each held to its scalar reference; the wasm-pack run above
# is core without them), the mixer's with its Learn exports' `iq-grids`. cargo runs each crate's
# test binary in its own browser session; most crates' tests are one binary (tests/suite.rs).
# onnx-quant's unit tests hold the static calibration's SIMD128 histogram and MinMax kernels
# (calibrate.rs, minmax.rs) to their plain loops; its integration suite reads fixture files and
# is native only (each of its files is `cfg(not(target_arch = "wasm32"))`).
# The runner is .cargo/config.toml's, in Chromium via $CHROMEDRIVER; bench and cli have no wasm
# tests.
step "wasm tests in headless Chromium: every other crate with wasm tests, one build (cargo test --target wasm32-unknown-unknown)"
wasm_crates=(core gemm formats learn engine ptq llm workbench plots reader tutor runner trainer mixer onnx-quant)
WASM_BINDGEN_TEST_ONLY_WEB=1 cargo test --target wasm32-unknown-unknown \
  "${wasm_crates[@]/#/--package=quantscope-}" --features quantscope-mixer/iq-grids
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

step "release wasm build for the page: waiting for it to finish"
if ! wait "$release_build"; then
  cat "$release_log" >&2
  echo "the release wasm build failed" >&2
  exit 1
fi
grep '^\[build\]' "$release_log" >&2 || true

step "browser end-to-end tests (Playwright, Debian's Chromium; two files at a time, a file that failed again alone)"
node scripts/e2e.mjs
