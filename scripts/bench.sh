#!/usr/bin/env bash
# Runs every benchmark of a release build and prints its figures.
set -euo pipefail
build=${1:-build/host-release}
echo "== bench_track =="
"$build/tests/bench/bench_track" 20000
echo "== bench_device =="
"$build/tests/bench/bench_device" 5000
echo "== bench_definitions =="
"$build/tests/bench/bench_definitions" 500 50000
echo "== bench_activations =="
"$build/tests/bench/bench_activations" 20000
for b in $(find "$build/tests/bench" -mindepth 2 -path '*/CMakeFiles' -prune -o -type f -perm -u+x -name 'bench_*' -print | sort); do
  echo "== $(basename "$b") =="
  "$b"
done
