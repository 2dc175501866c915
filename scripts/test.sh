#!/usr/bin/env bash
# Every test suite: native (unit, fixtures, CLI), wasm in headless Chromium, browser end to end.
# Called by `npm test` after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=/usr/bin/chromedriver

step() { printf '\n==> %s\n' "$*" >&2; }

step "native tests (cargo test --features cli)"
cargo test --features cli

step "wasm tests in headless Chromium (wasm-bindgen-test-runner, SIMD128 build)"
cargo test --target wasm32-unknown-unknown

step "release wasm build for the page"
bash scripts/build-wasm.sh

step "browser end-to-end tests (Playwright, Debian's Chromium)"
node --test --test-concurrency=1 tests/e2e/
