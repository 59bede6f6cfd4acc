#!/usr/bin/env bash
# Runs every benchmark of a release build and prints its figures.
set -euo pipefail
build=${1:-build/host-release}
echo "== bench_track =="
"$build/tests/bench/bench_track" 20000
for b in "$build"/tests/bench/*/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b") =="
  "$b"
done
