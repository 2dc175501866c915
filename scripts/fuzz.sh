#!/usr/bin/env bash
# Fuzz the file parsers (not part of `npm test`):
#   scripts/fuzz.sh TARGET SECONDS    one target (npy, npz, safetensors, gguf, onnx, lazy, imatrix,
#                                     onnx_model, gguf_model)
#   scripts/fuzz.sh all SECONDS       every target, SECONDS each
#   scripts/fuzz.sh --stable ...      force the stable-Rust driver
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`) it runs libFuzzer through
# `cargo +nightly fuzz run TARGET -- -max_total_time=SECONDS` (coverage-guided, AddressSanitizer;
# the corpus grows in fuzz/corpus/TARGET, crashes land in fuzz/artifacts/TARGET). Without them it
# says what is missing and falls back to fuzz/stable_driver.rs, which mutates the fixture files
# on stable Rust (not coverage-guided; panicking inputs land in fuzz/artifacts/stable/).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

TARGETS=(npy npz safetensors gguf onnx lazy imatrix onnx_model gguf_model)
# The stable driver knows the formats crate's parsers only (it lives in that crate's examples).
STABLE_TARGETS=(npy npz safetensors gguf onnx lazy)
stable=0
if [ "${1:-}" = "--stable" ]; then stable=1; shift; fi
if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [--stable] TARGET|all SECONDS   (targets: ${TARGETS[*]})" >&2
  exit 2
fi
target=$1 seconds=$2
if [ "$target" = all ]; then run=("${TARGETS[@]}"); else run=("$target"); fi
for t in "${run[@]}"; do
  [[ " ${TARGETS[*]} " == *" $t "* ]] || { echo "unknown target '$t' (targets: ${TARGETS[*]})" >&2; exit 2; }
done

# Why libFuzzer cannot run here, if it cannot (empty when it can).
missing=""
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  missing="no nightly toolchain (cargo fuzz needs -Zsanitizer: rustup toolchain install nightly)"
elif ! cargo fuzz --version >/dev/null 2>&1; then
  missing="cargo-fuzz is not installed (cargo install cargo-fuzz)"
elif ! command -v c++ >/dev/null 2>&1; then
  missing="no C++ compiler to build libFuzzer (apt-get install g++)"
fi

if [ $stable = 0 ] && [ -z "$missing" ]; then
  for t in "${run[@]}"; do
    echo "==> cargo +nightly fuzz run $t for ${seconds}s" >&2
    # Seed the corpus with the fixtures the first time, so libFuzzer starts from real files.
    corpus=fuzz/corpus/$t
    if [ ! -d "$corpus" ]; then
      mkdir -p "$corpus"
      case $t in
        lazy) dirs="safetensors gguf gguf_export" ;;
        gguf) dirs="gguf gguf/malformed gguf_export" ;;
        imatrix) dirs="imatrix imatrix/bad" ;;
        onnx_model) dirs="onnx_node run_ops onnx_dynamic onnx_static onnx_float16 onnx_nbits real_models onnx/malformed" ;;
        gguf_model) dirs="llm_archs gguf/malformed" ;;
        *) dirs="$t $t/malformed" ;;
      esac
      for d in $dirs; do
        find "tests/fixtures/$d" -maxdepth 1 -type f ! -name '*.json' -size -1024k -exec cp {} "$corpus/" \; 2>/dev/null || true
      done
      # The corpus a past campaign minimised (libFuzzer's -merge=1), committed without the large
      # inputs that are the fixtures above.
      if [ -d "fuzz/seeds/$t" ]; then cp fuzz/seeds/"$t"/* "$corpus/" 2>/dev/null || true; fi
      # The ONNX node tests keep one model per folder (tests/fixtures/onnx_node/node/test_*/model.onnx).
      if [ "$t" = onnx_model ]; then
        find tests/fixtures/onnx_node -name model.onnx -size -64k | while read -r f; do
          cp "$f" "$corpus/$(basename "$(dirname "$f")").onnx"
        done
      fi
    fi
    cargo +nightly fuzz run "$t" "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=60 -print_final_stats=1
  done
else
  [ $stable = 1 ] || echo "cargo fuzz cannot run here: $missing. Falling back to the stable-Rust driver (fuzz/stable_driver.rs)." >&2
  if [ "$target" != all ] && [[ " ${STABLE_TARGETS[*]} " != *" $target "* ]]; then
    echo "the stable driver has no '$target' target (it has: ${STABLE_TARGETS[*]}); '$target' needs cargo fuzz" >&2
    exit 2
  fi
  cargo run --quiet --release -p quantscope-formats --example fuzz_stable -- "$target" "$seconds"
fi
