#!/usr/bin/env bash
# The demo: the local API emulator, cohortd with embedded defaults, a CTV app
# linking libcohort, and a smart speaker on the socket. Everything runs in a
# scratch directory and stops cleanly.
set -euo pipefail
build=${1:-build/host-debug}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() {  # wait_for FILE: up to 10 s
  for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
  echo "demo: $1 did not appear" >&2
  exit 1
}

echo "== API emulator (CCS + Contextual, local) =="
python3 "$top/tests/emulator/emulator.py" --port 0 --port-file "$work/port" --api-key demo-key \
  2>"$work/emulator.log" &
pids+=($!)
wait_for "$work/port"
api="http://127.0.0.1:$(cat "$work/port")"
echo "  listening on $api"

echo
echo "== CTV app: links libcohort =="
"$build/samples/ctv_app" "$work/ctv" "$api"

echo
echo "== cohortd: the set-top service, embedded defaults + --data-dir/--socket =="
printf '{"api":{"ccs_url":"%s","contextual_url":"%s","key":"demo-key"}}\n' "$api" "$api" >"$work/cohortd.json"
"$build/agent/daemon/cohortd" --config "$work/cohortd.json" --data-dir "$work/set-top" \
  --socket "$work/cohortd.sock" 2>"$work/cohortd.log" &
pids+=($!)
wait_for "$work/cohortd.sock"
echo "  listening on $work/cohortd.sock"

echo
echo "== smart speaker: JSON-RPC over the socket =="
python3 "$top/samples/speaker/speaker.py" --socket "$work/cohortd.sock"

echo
echo "== cohortctl =="
ctl="$build/agent/cli/cohortctl --socket $work/cohortd.sock"
$ctl sync >/dev/null || true
$ctl status
echo
$ctl activations --url smartspeaker://station/wnyc/podcast/radiolab/episode/412 || true

echo
echo "== what the emulator received (the API key only ever in a header) =="
python3 - "$api" <<'PY'
import json, sys, urllib.request
log = json.load(urllib.request.urlopen(sys.argv[1] + "/_control/requests"))
reqs = log["requests"] if isinstance(log, dict) else log
for r in reqs:
    body = r.get("body") or {}
    n = len(body.get("events", [])) if isinstance(body, dict) else 0
    print(f"  {r['method']} {r['path']:32} -> {r['status']}  events={n}  key_in_url={r.get('key_in_url')}")
PY
echo
echo "== stopping =="
