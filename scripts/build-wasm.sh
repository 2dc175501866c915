#!/usr/bin/env bash
# Builds the two wasm modules and their JS bindings (what index.html loads):
#   www/pkg      the workbench (feature `workbench`): files, schemes, the Inspect and Learn views
#   www/pkg-run  the runner (feature `runner`): the Run view's model engine, in its own worker
#   scripts/build-wasm.sh            release builds, SIMD128 on (the default, what `npm start` serves)
#   scripts/build-wasm.sh --bench    one release build of everything plus the bench exports
#                                    (feature `bench`), into www/pkg-bench (for the bench pages)
#   scripts/build-wasm.sh --no-simd  the same without simd128, into www/pkg-nosimd
#   scripts/build-wasm.sh --dev      unoptimized builds (faster to compile)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

profile=release variant=page
for arg in "$@"; do
  case "$arg" in
    --dev) profile=dev ;;
    --bench) variant=bench ;;
    --no-simd) variant=nosimd ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
dir=$([ "$profile" = dev ] && echo debug || echo release)

# build FEATURES OUT TARGET_DIR
build() {
  local features=$1 out=$2 target_dir=$3
  cargo build --lib --target wasm32-unknown-unknown --profile "$profile" --target-dir "$target_dir" \
    --no-default-features --features "$features"
  wasm-bindgen --target web --no-typescript --out-dir "$out" "$target_dir/wasm32-unknown-unknown/$dir/quantscope.wasm"
  # wasm-opt from the npm package binaryen: Debian's is too old for the SIMD proposals.
  if [ "$profile" = release ] && [ -x node_modules/.bin/wasm-opt ]; then
    node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$out/quantscope_bg.wasm" -o "$out/quantscope_bg.wasm"
  fi
  local size gz
  size=$(stat -c %s "$out/quantscope_bg.wasm")
  gz=$(gzip -9 -c "$out/quantscope_bg.wasm" | wc -c)
  echo "[build] $out/quantscope_bg.wasm: $size bytes, $gz gzipped" >&2
}

target_dir=${CARGO_TARGET_DIR:-target}
case "$variant" in
  page)
    # The builds differ only in features, so cargo reuses every dependency between them.
    build workbench www/pkg "$target_dir"
    build runner www/pkg-run "$target_dir" ;;
  bench) build workbench,runner,bench www/pkg-bench "$target_dir" ;;
  nosimd)
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=-simd128"
    build workbench,runner,bench www/pkg-nosimd "$target_dir/nosimd" ;;
esac
