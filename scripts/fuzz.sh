#!/usr/bin/env bash
# One fuzzing campaign: a libFuzzer target run for RUNS executions (default
# 10,000,000) on a copy of its corpus in memory, then what it found merged back
# into tests/fuzz/corpus/ (only inputs with new features). Prints the count of
# executions and exits non-zero on a finding, whose input is kept under
# build/fuzz/findings/TARGET/.
#
#   scripts/fuzz.sh TARGET [RUNS] [libFuzzer flags...]
#   NICE=10 scripts/fuzz.sh fuzz_rpc            (share the machine politely)
#
# Flags per target as tests/fuzz/README.md explains: the agent targets keep
# one agent across inputs (no per-input leak check) and write a database
# (TMPDIR in memory); inputs are capped where long ones only cost time.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [RUNS] [libFuzzer flags...]}
runs=${2:-10000000}
shift $(($# < 2 ? $# : 2))
corpus=tests/fuzz/corpus/$target
[ -d "$corpus" ] || { echo "fuzz.sh: no corpus $corpus" >&2; exit 2; }

case $target in
  fuzz_rpc | fuzz_responses) flags=(-detect_leaks=0 -max_len=1024) ;;
  fuzz_config) flags=(-detect_leaks=0) ;;
  fuzz_rules_evaluation) flags=(-max_len=1024) ;;
  *) flags=() ;;
esac

cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j"${JOBS:-$(nproc)}" --target "$target" >/dev/null

shm=/dev/shm
[ -w "$shm" ] || shm=${TMPDIR:-/tmp}
work=$(mktemp -d "$shm/cohort-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/findings"
cp "$corpus"/* "$work/corpus/"
export TMPDIR=$work ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64:malloc_context_size=10}

log=build/fuzz/$target.log
started=$(date +%s)
set +e
nice -n "${NICE:-0}" "build/fuzz/tests/fuzz/$target" -runs="$runs" -entropic=0 -print_final_stats=1 \
  -artifact_prefix="$work/findings/" "${flags[@]}" "$@" "$work/corpus" >"$log" 2>&1
rc=$?
set -e
executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
echo "$target: ${executed:-?} executions in $(($(date +%s) - started)) s (log: $log)"

if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/findings")" ]; then
  mkdir -p "build/fuzz/findings/$target"
  cp "$work"/findings/* "build/fuzz/findings/$target/" 2>/dev/null || true
  grep -m1 -E "ERROR|invariant broken|runtime error" "$log" || tail -20 "$log"
  echo "$target: FINDING, input(s) in build/fuzz/findings/$target/ (see tests/fuzz/README.md for crashes-pending)"
  exit 1
fi
before=$(ls "$corpus" | wc -l)
"build/fuzz/tests/fuzz/$target" -merge=1 "${flags[@]}" "$corpus" "$work/corpus" >>"$log" 2>&1
echo "$target: no finding; corpus $before -> $(ls "$corpus" | wc -l) inputs"
