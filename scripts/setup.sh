#!/usr/bin/env bash
# Installs what quantscope needs, and nothing that is already there.
#   scripts/setup.sh serve   what `npm start` needs: build the wasm and serve the page
#   scripts/setup.sh test    the above plus the test tools (`npm test`, `npm run bench`)
# Idempotent: a second run takes seconds. Every binary comes from a package registry
# (crates.io, npm, Debian); nothing is downloaded from anywhere else, because this kind of
# machine reaches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

purpose=${1:-test}
case "$purpose" in
  serve | test) ;;
  *) echo "usage: scripts/setup.sh [serve|test]" >&2; exit 2 ;;
esac

# Keep in step with the `wasm-bindgen = "=…"` pin in Cargo.toml: the CLI and the crate must match.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml | head -n1)
WASM_PACK_VERSION=0.15.1

log() { printf '[setup] %s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"

# Chromium's apt install and the npm packages wait on the network and the disk, not the CPU, so
# on a fresh machine they run in the background while cargo compiles the tools below; each is
# waited for (and its log shown if it failed) before this script says the toolchain is ready.
background_log=$(mktemp -d)
trap 'rm -rf "$background_log"' EXIT
in_background() { # NAME COMMAND...: runs COMMAND with its output in a log, recording its pid
  local name=$1
  shift
  "$@" >"$background_log/$name.log" 2>&1 &
  echo $! >"$background_log/$name.pid"
}
await() { # NAME: waits for a background job, failing with its log
  local name=$1
  [ -f "$background_log/$name.pid" ] || return 0
  if ! wait "$(cat "$background_log/$name.pid")"; then
    cat "$background_log/$name.log" >&2
    log "$name failed"
    exit 1
  fi
}

install_chromium() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver
}
if [ "$purpose" = test ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  log "installing Debian's chromium and chromium-driver (in the background)"
  in_background chromium install_chromium
fi

# --- what building and serving the page needs ---------------------------------------------

# npm packages: "dependencies" are what the build and the page use (binaryen's wasm-opt,
# fflate); "devDependencies" only the tests and the bench (playwright-core, onnxruntime-web,
# mnist). The stamp says which set is installed, so `npm test` after `npm start` adds the rest.
stamp=node_modules/.quantscope-setup
installed=$(cat "$stamp" 2>/dev/null || true)
want=$([ "$installed" = test ] && echo test || echo "$purpose")
if [ ! -d node_modules ] || [ package-lock.json -nt "$stamp" ] || [ "$want" != "$installed" ]; then
  rm -f "$stamp"
  if [ "$want" = serve ]; then
    log "installing npm packages for building and serving (in the background)"
    in_background npm npm ci --omit=dev --no-audit --no-fund --loglevel=error
  else
    log "installing npm packages, with the test tools (in the background)"
    in_background npm npm ci --no-audit --no-fund --loglevel=error
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  # No --locked: the registry mirror lacks one locked dependency of wasm-bindgen-cli.
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2.5 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ -f "$background_log/npm.pid" ]; then
  await npm
  echo "$want" >"$stamp"
fi

[ "$purpose" = serve ] && { log "ready to build and serve"; exit 0; }

# --- what the tests add ---------------------------------------------------------------------

# npm test checks formatting and lints.
for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    log "adding rust component $component"
    rustup component add "$component"
  fi
done

if [ "${QUANTSCOPE_SKIP_WASM_PACK:-0}" != 1 ] && ! wasm-pack --version 2>/dev/null | grep -q "$WASM_PACK_VERSION"; then
  # npm test runs the wasm suites with `wasm-pack test`, as the README documents them. The npm
  # package `wasm-pack` would download a binary, so not that.
  log "installing wasm-pack $WASM_PACK_VERSION (about 2 minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
fi

await chromium
log "toolchain ready"
