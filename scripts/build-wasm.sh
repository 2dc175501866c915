#!/usr/bin/env bash
# Builds the page's wasm modules and their JS bindings (what index.html loads), one crate each:
#   www/pkg      src/workbench (quantscope-workbench): files, schemes, the Inspect view, the tensors
#                (in the Inspect worker)
#   www/pkg-plot src/plots (quantscope-plots): the Inspect view's charts, the main thread's module
#   www/pkg-read src/reader (quantscope-reader): .npz and ONNX files read whole, which the Inspect
#                worker loads when such a file is first opened
#   www/pkg-learn src/tutor (quantscope-tutor): the Learn view's panels, loaded when Learn opens
#   www/pkg-run  src/runner (quantscope-runner): the Run view's model engine, in its own worker
#   www/pkg-run-relaxed  the same crate built with relaxed SIMD too (the f32 GEMM's fused
#                multiply-add), which the Run worker loads instead where the browser validates
#                relaxed SIMD (www/run/runner.js)
#   www/pkg-train src/trainer (quantscope-trainer): the Train view's training runs, in its worker
#   www/pkg-mix  src/mixer (quantscope-mixer) with its `fit` and `iq-grids` features: llama.cpp's
#                mixes of a GGUF model (the IQ1-IQ3 grid quantizers too) and "fit a size", which
#                the Inspect worker loads when a mix is picked (and the Learn view's mixes panel)
#   www/pkg-export src/exporter (quantscope-exporter): a dropped model quantized for download,
#                which the Run worker loads when the file is asked for
#   www/pkg-convert src/converter (quantscope-converter): a dropped model with FP16/BF16 weights
#                for download, which the Run worker loads when that file is asked for
#   www/pkg-train-export src/train-export (quantscope-train-export): a Train run as a QDQ (or FP32)
#                .onnx, which the Train worker loads when the file is asked for
#   www/pkg-qdq  src/qdq (quantscope-qdq): a dropped model statically quantized (ONNX Runtime's
#                QDQ format) for download, which the Run worker loads when that file is asked for
#   www/pkg-nbits src/nbits (quantscope-nbits): a dropped model with weight-only INT4 MatMuls
#                (ONNX Runtime's MatMulNBitsQuantizer), which the Run worker loads when that file
#                is asked for
#   www/pkg-calib src/calib (quantscope-calib): ONNX Runtime's Percentile/Entropy/Distribution
#                calibration for that file, which the Run worker loads when one of them is chosen
#   www/pkg-lm   src/lm (quantscope-lm): a llama GGUF model and its Q8_0/Q4_0/Q4_K_M copies
#                generating and scoring text, in the Run view's Language model worker, loaded
#                when that section is first used
#   www/pkg-lm-relaxed  the same crate built with relaxed SIMD too (Q4_K/Q5_K/Q2_K sub-block sums
#                and Q6_K/Q3_K prompt tiles from the relaxed int8 dot product, exact: outputs bit
#                for bit the plain build's; F32 products fused while text generates), which the
#                Language model worker loads instead where the browser validates relaxed SIMD
#                (www/run/lm-worker.js)
#   www/pkg-models src/models (quantscope-models): the runner with every op, which the Run
#                worker loads when a person drops their own model
#   scripts/build-wasm.sh            release builds, SIMD128 on (the default, what `npm start` serves)
#   scripts/build-wasm.sh --bench    src/bench (quantscope-bench: both modules plus the bench
#                                    exports) into www/pkg-bench (for the bench pages)
#   scripts/build-wasm.sh --no-simd  the same without simd128, into www/pkg-nosimd
#   scripts/build-wasm.sh --bench-relaxed  the bench build with relaxed SIMD too, into
#                                    www/pkg-bench-relaxed (the onnxruntime-web bench compares both)
#   scripts/build-wasm.sh --dev      unoptimized builds (faster to compile)
#   scripts/build-wasm.sh --list     the page modules' folders, in build order
#   scripts/build-wasm.sh pkg pkg-plot   only those page modules (named by their www/ folder), in
#                                    that order; `npm start` (scripts/start.mjs) builds the three
#                                    the first paint needs, serves, and builds the others behind it
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The page's modules: the www/ folder each is built into, its crate, and the crate's features.
# This order is the one a first start builds them in after the first paint's two (see start.mjs);
# the relaxed builds last: until one is built the server answers 404 for it (serve.mjs) and its
# worker runs the plain one.
PAGE_MODULES=(
  "pkg workbench"
  "pkg-plot plots"
  "pkg-learn tutor"
  "pkg-run runner"
  "pkg-read reader"
  "pkg-models models"
  "pkg-train trainer"
  "pkg-lm lm"
  "pkg-mix mixer fit,iq-grids"
  "pkg-export exporter"
  "pkg-convert converter"
  "pkg-qdq qdq"
  "pkg-calib calib"
  "pkg-nbits nbits"
  "pkg-train-export train-export"
  "pkg-run-relaxed runner"
  "pkg-lm-relaxed lm"
)

profile=release variant=page selected=()
for arg in "$@"; do
  case "$arg" in
    --dev) profile=dev ;;
    --bench) variant=bench ;;
    --no-simd) variant=nosimd ;;
    --bench-relaxed) variant=bench-relaxed ;;
    --list) printf '%s\n' "${PAGE_MODULES[@]%% *}"; exit 0 ;;
    pkg | pkg-*)
      known=0
      for m in "${PAGE_MODULES[@]}"; do [ "${m%% *}" = "$arg" ] && known=1; done
      [ $known = 1 ] || { echo "unknown module $arg (modules: $(printf '%s ' "${PAGE_MODULES[@]%% *}"))" >&2; exit 2; }
      selected+=("$arg") ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
[ ${#selected[@]} -gt 0 ] || selected=("${PAGE_MODULES[@]%% *}")
dir=$([ "$profile" = dev ] && echo debug || echo release)

# build CRATE OUT TARGET_DIR [CARGO ARGS...]: cargo builds the crate, then its JS bindings and
# wasm-opt run in the background while cargo builds the next crate (whose last step, the LTO of
# one codegen unit, keeps one core busy and leaves the other free); `finish` waits for them all.
finishing=()
build() {
  local crate=$1 out=$2 target_dir=$3
  shift 3
  cargo build -p "quantscope-$crate" --lib --target wasm32-unknown-unknown --profile "$profile" --target-dir "$target_dir" "$@"
  local wasm="$target_dir/wasm32-unknown-unknown/$dir/quantscope_${crate//-/_}.wasm"
  # A copy, so that the next cargo build cannot touch what is being post-processed.
  local staged
  staged=$(mktemp --suffix=.wasm)
  cp "$wasm" "$staged"
  bindings "$staged" "$out" &
  finishing+=($!)
}

# bindings WASM OUT: wasm-bindgen's JS glue, then wasm-opt, then the size line.
bindings() {
  local wasm=$1 out=$2
  # --out-name: every module is quantscope.js / quantscope_bg.wasm in its own folder.
  wasm-bindgen --target web --no-typescript --out-name quantscope --out-dir "$out" "$wasm"
  rm -f "$wasm"
  # wasm-opt from the npm package binaryen: Debian's is too old for the SIMD proposals.
  # The language model's modules skip binaryen's inlining: with it their quantized prompts ran
  # 9-18 % slower in Node 20's V8 (bench-lm-cpu.mjs's engine; 64-token prompts by CPU time,
  # session 25: -O1 and -O3 without that one pass as fast as wasm-bindgen's output; -O2, -O3 and
  # -O3 without code-pushing, pick-load-signs or rse as slow). Chromium 156 ran both alike (within
  # its wall-clock noise), so only the Node figures move; it costs 280-560 gzipped bytes.
  local skip=()
  case "$out" in
    */pkg-lm | */pkg-lm-relaxed) skip=(--skip-pass=inlining-optimizing) ;;
  esac
  if [ "$profile" = release ] && [ -x node_modules/.bin/wasm-opt ]; then
    node_modules/.bin/wasm-opt -O3 "${skip[@]}" --enable-simd --enable-relaxed-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue --strip-producers --strip-target-features \
      "$out/quantscope_bg.wasm" -o "$out/quantscope_bg.wasm"
  fi
  local size gz
  size=$(stat -c %s "$out/quantscope_bg.wasm")
  gz=$(gzip -9 -c "$out/quantscope_bg.wasm" | wc -c)
  echo "[build] $out/quantscope_bg.wasm: $size bytes, $gz gzipped" >&2
}

# Waits for every module's bindings; fails if any did.
finish() {
  local pid failed=0
  for pid in "${finishing[@]}"; do
    wait "$pid" || failed=1
  done
  return "$failed"
}

target_dir=${CARGO_TARGET_DIR:-target}
RELAXED_FLAGS="-C target-feature=+simd128,+relaxed-simd"
case "$variant" in
  page)
    # The crates share their library dependencies, so cargo builds each of those once.
    for out in "${selected[@]}"; do
      for m in "${PAGE_MODULES[@]}"; do
        read -r folder crate features <<<"$m"
        [ "$folder" = "$out" ] || continue
        if [ "$folder" = pkg-run-relaxed ] || [ "$folder" = pkg-lm-relaxed ]; then
          # Its own target dir: other flags would otherwise rebuild the shared dependencies
          # in place each time the two builds alternate.
          CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$RELAXED_FLAGS" build "$crate" "www/$folder" "$target_dir/relaxed"
          continue
        fi
        build "$crate" "www/$folder" "$target_dir" ${features:+--features "$features"}
      done
    done ;;
  bench) build bench www/pkg-bench "$target_dir" ;;
  # With the relaxed int8 kernel too (quantscope-gemm's relaxed-int8 feature, off in the page).
  bench-relaxed) CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$RELAXED_FLAGS" build bench www/pkg-bench-relaxed "$target_dir/relaxed" --features quantscope-gemm/relaxed-int8 ;;
  nosimd)
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=-simd128"
    build bench www/pkg-nosimd "$target_dir/nosimd" ;;
esac
finish
