#!/usr/bin/env bash
# Builds the wasm core and its JS bindings into www/pkg (what index.html loads).
#   scripts/build-wasm.sh            release build, SIMD128 on (the default, what `npm start` serves)
#   scripts/build-wasm.sh --no-simd  release build without simd128, into www/pkg-nosimd (for the bench)
#   scripts/build-wasm.sh --dev      unoptimized build (faster to compile)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

profile=release out=www/pkg
for arg in "$@"; do
  case "$arg" in
    --dev) profile=dev ;;
    --no-simd) out=www/pkg-nosimd; export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=-simd128" ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
target_dir=${CARGO_TARGET_DIR:-target}
[ "$out" = www/pkg-nosimd ] && target_dir=${CARGO_TARGET_DIR:-target}/nosimd

cargo build --lib --target wasm32-unknown-unknown --profile "$profile" --target-dir "$target_dir"
dir=$([ "$profile" = dev ] && echo debug || echo release)
wasm-bindgen --target web --no-typescript --out-dir "$out" "$target_dir/wasm32-unknown-unknown/$dir/quantscope.wasm"

# wasm-opt from the npm package binaryen: Debian's is too old for the SIMD proposals.
if [ "$profile" = release ] && [ -x node_modules/.bin/wasm-opt ]; then
  node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out/quantscope_bg.wasm" -o "$out/quantscope_bg.wasm"
fi
size=$(stat -c %s "$out/quantscope_bg.wasm")
gz=$(gzip -9 -c "$out/quantscope_bg.wasm" | wc -c)
echo "[build] $out/quantscope_bg.wasm: $size bytes, $gz gzipped" >&2
