#!/usr/bin/env bash
# One fuzzing campaign: a libFuzzer target run for RUNS executions (default
# 10,000,000) on copies of its corpus in memory, then what it found merged back
# into tests/fuzz/corpus/ (only inputs with new features). Prints the count of
# executions and exits non-zero on a finding, whose input is kept under
# build/fuzz/findings/TARGET/.
#
#   scripts/fuzz.sh TARGET [RUNS] [libFuzzer flags...]
#   NICE=10 scripts/fuzz.sh fuzz_rpc            (share the machine politely)
#   FUZZ_JOBS=2 scripts/fuzz.sh fuzz_responses  (RUNS split over 2 processes)
#
# With FUZZ_JOBS=N, N processes run side by side, each on its own copy of the
# corpus with its own seed, pinned to one CPU each (taskset, when there is
# one): on a small machine that beats libFuzzer's -jobs, whose workers share
# one corpus directory and restart with each crash. The executions printed are
# the sum.
#
# Flags per target as tests/fuzz/README.md explains: the agent targets keep
# one agent across inputs (no per-input leak check) and write a database
# (TMPDIR in memory); inputs are capped where long ones only cost time.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [RUNS] [libFuzzer flags...]}
runs=${2:-10000000}
shift $(($# < 2 ? $# : 2))
jobs=${FUZZ_JOBS:-1}
corpus=tests/fuzz/corpus/$target
[ -d "$corpus" ] || { echo "fuzz.sh: no corpus $corpus" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_JOBS must be a positive number" >&2; exit 2; }

case $target in
  fuzz_rpc | fuzz_responses) flags=(-detect_leaks=0 -max_len=1024) ;;
  fuzz_config) flags=(-detect_leaks=0) ;;
  fuzz_rules_evaluation) flags=(-max_len=1024) ;;
  *) flags=() ;;
esac

cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j"$(nproc)" --target "$target" >/dev/null
binary=build/fuzz/tests/fuzz/$target

shm=/dev/shm
[ -w "$shm" ] || shm=${TMPDIR:-/tmp}
work=$(mktemp -d "$shm/cohort-fuzz-XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64:malloc_context_size=10}
pin=()
command -v taskset >/dev/null && [ "$jobs" -gt 1 ] && pin=(taskset -c)

started=$(date +%s)
pids=()
for ((i = 0; i < jobs; i++)); do
  dir=$work/$i
  mkdir -p "$dir/corpus" "$dir/findings" "$dir/tmp"
  cp "$corpus"/* "$dir/corpus/"
  share=$((runs / jobs + (i < runs % jobs ? 1 : 0)))
  cpu=()
  [ ${#pin[@]} -gt 0 ] && cpu=("${pin[@]}" $((i % $(nproc))))
  TMPDIR=$dir/tmp nice -n "${NICE:-0}" "${cpu[@]}" "$binary" -runs="$share" -seed=$((started + i)) -entropic=0 \
    -print_final_stats=1 -artifact_prefix="$dir/findings/" "${flags[@]}" "$@" "$dir/corpus" >"$dir/log" 2>&1 &
  pids+=($!)
done
failed=0
for ((i = 0; i < jobs; i++)); do # the first finding stops the others
  wait -n && continue
  failed=1
  kill "${pids[@]}" 2>/dev/null || true
done

log=build/fuzz/$target.log
executed=0
: >"$log"
for ((i = 0; i < jobs; i++)); do
  cat "$work/$i/log" >>"$log"
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$i/log")
  executed=$((executed + ${n:-0}))
  [ -n "$(ls -A "$work/$i/findings")" ] && failed=1
done
echo "$target: $executed executions in $(($(date +%s) - started)) s, $jobs process(es) (log: $log)"

if [ $failed -ne 0 ]; then
  mkdir -p "build/fuzz/findings/$target"
  cp "$work"/*/findings/* "build/fuzz/findings/$target/" 2>/dev/null || true
  grep -m1 -E "ERROR|invariant broken|runtime error" "$log" || tail -20 "$log"
  echo "$target: FINDING, input(s) in build/fuzz/findings/$target/ (see tests/fuzz/README.md for crashes-pending)"
  exit 1
fi
before=$(ls "$corpus" | wc -l)
"$binary" -merge=1 "${flags[@]}" "$corpus" "$work"/*/corpus >>"$log" 2>&1
echo "$target: no finding; corpus $before -> $(ls "$corpus" | wc -l) inputs"
