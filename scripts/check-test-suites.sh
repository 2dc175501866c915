#!/usr/bin/env bash
# A crate whose Cargo.toml says `autotests = false` builds its integration tests as one binary,
# tests/suite.rs, which lists every file under tests/ as a module. A file that is not listed would
# never be compiled or run, silently: this fails the test run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
for toml in src/*/Cargo.toml; do
  grep -qx 'autotests = false' "$toml" || continue
  dir=$(dirname "$toml")/tests
  for file in "$dir"/*.rs; do
    name=$(basename "$file" .rs)
    [ "$name" = suite ] && continue
    if ! grep -qx "mod $name;" "$dir/suite.rs"; then
      echo "$file is not in $dir/suite.rs: add 'mod $name;' there, or it never runs" >&2
      missing=1
    fi
  done
done
exit "$missing"
