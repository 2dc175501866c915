#!/usr/bin/env bash
# Installs everything quantscope needs to build and test, and nothing that is already there.
# Idempotent: a second run takes seconds. Called first by `npm start` and `npm test`.
# Every binary comes from a package registry (crates.io, npm, Debian); nothing is downloaded
# from anywhere else, because this kind of machine reaches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep in step with the `wasm-bindgen = "=…"` pin in Cargo.toml: the CLI and the crate must match.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml | head -n1)
WASM_PACK_VERSION=0.15.1

log() { printf '[setup] %s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# npm test checks formatting and lints.
for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    log "adding rust component $component"
    rustup component add "$component"
  fi
done

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  # No --locked: the registry mirror lacks one locked dependency of wasm-bindgen-cli.
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2.5 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "${QUANTSCOPE_SKIP_WASM_PACK:-0}" != 1 ] && ! wasm-pack --version 2>/dev/null | grep -q "$WASM_PACK_VERSION"; then
  # For users who prefer `wasm-pack build/test --mode no-install`; our scripts call
  # wasm-bindgen directly. The npm package `wasm-pack` would download a binary, so not that.
  log "installing wasm-pack $WASM_PACK_VERSION (about 2 minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
fi

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  log "installing Debian's chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

log "toolchain ready"
