#!/usr/bin/env bash
# The demo, on one screen: the local API emulator; cohortd with the sample
# local cohort definitions; a CTV app linking libcohort; a smart speaker on
# the socket while a subscriber watches cohorts enter; then what an ad break
# gets (local, behavioral and contextual cohorts, activations per platform,
# the key-values of an ad request), why one cohort holds, and what the
# emulator received. Everything runs in a scratch directory and stops
# cleanly. The agents trust this machine's clock at once (clock.trust
# "system"): the demo reads the same on a box booted a minute ago.
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

definitions=$top/samples/definitions/cohorts.json
ctl="$build/agent/cli/cohortctl --socket $work/cohortd.sock"

echo "== API emulator: the CCS and Contextual APIs, local =="
python3 "$top/tests/emulator/emulator.py" --port 0 --port-file "$work/port" --api-key demo-key \
  --log "$work/requests.jsonl" 2>"$work/emulator.log" &
pids+=($!)
wait_for "$work/port"
api="http://127.0.0.1:$(cat "$work/port")"
echo "  listening on $api"

echo
echo "== cohortd: the set-top service, with the sample local cohorts =="
cat >"$work/cohortd.json" <<EOF
{"api": {"ccs_url": "$api", "contextual_url": "$api", "key": "demo-key"},
 "cohorts": {"definitions": "$definitions"},
 "client": {"type": "stb", "app": "demo", "platform": "linux"},
 "clock": {"trust": "system"}, "sync": {"initial_delay_s": 0}}
EOF
"$build/agent/daemon/cohortd" --config "$work/cohortd.json" --data-dir "$work/set-top" \
  --socket "$work/cohortd.sock" 2>"$work/cohortd.log" &
pids+=($!)
wait_for "$work/cohortd.sock"
$ctl definitions get | cut -c1-58 | sed 's/^/  /'

echo
echo "== CTV app: links libcohort (its own agent, the same definitions) =="
"$build/samples/ctv_app" "$work/ctv" "$api" "$definitions"

echo
echo "== smart speaker: JSON-RPC over cohortd's socket; a subscriber watches =="
$ctl watch --count 1 >"$work/watch.out" 2>"$work/watch.err" &
watch=$!
for _ in $(seq 100); do grep -q watching "$work/watch.err" 2>/dev/null && break; sleep 0.1; done
python3 "$top/samples/speaker/speaker.py" --socket "$work/cohortd.sock" --brief --pace 0.4 | sed 's/^/  /'
wait "$watch" || true
sed 's/^/  subscriber: /' "$work/watch.out"

echo
echo "== the ad break on the set-top box =="
$ctl sync >/dev/null
echo "-- explain 1003: why this box is (or is not) in Podcast completers"
$ctl --json explain 1003 | python3 -c '
import json, sys
e = json.load(sys.stdin)
def walk(node, depth=1):
    for c in node.get("conditions", []):
        if "conditions" in c:
            print("  " * depth + c["logic"]); walk(c, depth + 1)
        else:
            print("  " * depth + ("yes  " if c["match"] else "no   ") + c["text"])
print("  in the cohort: " + ("yes" if e["match"] else "no")); walk(e["explain"])'
echo "-- cohorts: local (decided on the device) and remote (the CCS API's answer)"
$ctl cohorts | sed 's/^/  /'
url=smartspeaker://station/wnyc/podcast/radiolab/episode/412
echo "-- activations per ad platform (local, then CCS, then contextual for $url)"
$ctl --json activations --url "$url" >"$work/activations.json"
python3 - "$work/activations.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
ctx = a["contextual"]
for platform, ids in a["activations"].items():
    print(f"  {platform:17} {', '.join(ids)}")
print(f"  stale: {'yes' if a['stale'] else 'no'}   missing: {', '.join(a['missing']) or 'none'}")
print("-- the key-values an ad request carries (behavioral and contextual apart, as the guide suggests)")
for platform, ids in a["activations"].items():
    behavioral = [i for i in ids if i not in ctx.get(platform, [])]
    kv = [f"permutive={','.join(behavioral)}"] if behavioral else []
    kv += [f"prmtvctx={','.join(ctx[platform])}"] if ctx.get(platform) else []
    print(f"  {platform:17} {'&'.join(kv)}")
PY
echo "-- status"
$ctl status | grep -E '^(user_id|queue_depth|dead_letters|definitions|clock.trusted|last_sync.(ok|sent)):' | sed 's/^/  /'

echo
echo "== what the emulator received (the API key only ever in a header) =="
python3 - "$work/requests.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    body = r.get("body") if isinstance(r.get("body"), dict) else {}
    events = body.get("events", [])
    names = ", ".join(sorted({e.get("name", "?") for e in events})) if events else (body.get("url") or "")
    who = "aliases" if "aliases" in body else "user_id" if "user_id" in body else ""
    print(f"  {r['path']:26} {r['status']}  {len(events):2} events  {who:8} {names}"
          f"{'  KEY IN URL' if r.get('key_in_url') else ''}")
PY
echo
echo "== stopping =="
