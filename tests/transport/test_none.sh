#!/bin/sh
# COHORT_TRANSPORT=none, proved: this source configured and built in a scratch
# tree without libcurl (BUILD), then run. libcurl is not looked for, neither
# libcohort.so nor cohortd needs it, and the agent works without it: an event
# is taken and kept, and a sync fails at once with the reason.
#
#   test_none.sh SOURCE BUILD     (CMAKE, CC, CXX from the environment)
set -eu
src=$1
build=$2
CMAKE=${CMAKE:-cmake}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

mkdir -p "$build"
"$CMAKE" -S "$src" -B "$build" -DCOHORT_TRANSPORT=none -DCMAKE_BUILD_TYPE= \
  ${CC:+-DCMAKE_C_COMPILER="$CC"} ${CXX:+-DCMAKE_CXX_COMPILER="$CXX"} >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; fail "configure with COHORT_TRANSPORT=none"; }
"$CMAKE" --build "$build" --target cohortd cohortctl -j"$(nproc)" >"$build/build.log" 2>&1 ||
  { cat "$build/build.log"; fail "build with COHORT_TRANSPORT=none"; }

! grep -q '^__pkg_config_arguments_CURL' "$build/CMakeCache.txt" || fail "libcurl was looked for"
for f in "$build/agent/libcohort.so" "$build/agent/daemon/cohortd"; do
  ! readelf -d "$f" | grep -q 'libcurl' || fail "$f needs libcurl"
done
echo "   built without libcurl: libcohort.so and cohortd need none"

cohortd=$build/agent/daemon/cohortd
ctl=$build/agent/cli/cohortctl
"$cohortd" --version | grep -q '^transport none (COHORT_TRANSPORT=none)$' || fail "cohortd --version names no transport"

run=$build/run
rm -rf "$run"
mkdir -p "$run"
sock=$run/cohortd.sock
cat >"$run/cohortd.json" <<JSON
{"data_dir": "$run/data", "socket": {"path": "$sock"}, "clock": {"trust": "system"},
 "api": {"key": "transport-none-test-key", "ccs_url": "http://127.0.0.1:9", "contextual_url": "http://127.0.0.1:9"},
 "sync": {"initial_delay_s": 0}}
JSON
"$cohortd" --config "$run/cohortd.json" 2>"$run/cohortd.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
i=0
until [ -S "$sock" ]; do
  i=$((i + 1))
  [ "$i" -le 100 ] || { cat "$run/cohortd.log"; fail "cohortd did not start"; }
  sleep 0.1
done
"$ctl" --socket "$sock" consent on >/dev/null || fail "consent on"
"$ctl" --socket "$sock" track TransportNone >/dev/null || fail "track"
sync=$("$ctl" --socket "$sock" --json sync --timeout 2000) || fail "sync"
echo "   sync.now: $sync"
case $sync in
  *'"pending":1'*'built without a transport (COHORT_TRANSPORT=none)'*) ;;
  *) fail "sync.now did not keep the event and say why: $sync" ;;
esac
kill -TERM "$pid"
wait "$pid" || fail "cohortd did not stop cleanly"
trap - EXIT
echo "   ok"
