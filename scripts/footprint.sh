#!/usr/bin/env bash
# The agent's footprint per target, from the size-first release builds
# (presets host-size, aarch64-release, armhf-release: -Os, LTO, gc-sections, stripped):
#   - stripped size of cohortd and libcohort.so (file bytes, and the
#     loadable bytes without the linker's page padding), and what libcohort.a
#     adds to an app (text+data+bss of its objects);
#   - the shared libraries cohortd needs (NEEDED, and every library loaded);
#   - cohortd's memory (VmRSS, VmHWM, RssAnon from /proc/PID/status) idle, and
#     after loading 100 cohort definitions and tracking 50,000 events through its
#     socket. ARM binaries run under qemu-user: their RSS includes the emulator's
#     own memory (translated code, its heap) and is an upper bound.
#
#   scripts/footprint.sh [TARGET...]      TARGET: host, aarch64, armhf (default: all three)
#   EVENTS=50000 COHORTS=100 CACHE_KIB=  scripts/footprint.sh host     (CACHE_KIB: storage.cache_kib)
#
# Goals: own code <= 300 KB stripped on aarch64; RSS <= 3 MiB idle, <= 6 MiB loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
EVENTS=${EVENTS:-50000}
COHORTS=${COHORTS:-100}
CACHE_KIB=${CACHE_KIB:-}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(host aarch64 armhf)

declare -A summary
work=$(mktemp -d "${TMPDIR:-/tmp}/cohort-footprint-XXXXXX")
trap 'rm -rf "$work"' EXIT

kb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
# Sum of the PT_LOAD segments' file sizes: the code and data, without the padding.
loadable() {
  "$readelf" -lW "$1" | python3 -c 'import sys; print(sum(int(l.split()[4], 16) for l in sys.stdin if l.split()[:1] == ["LOAD"]))'
}

for t in "${targets[@]}"; do
  case $t in
    host) preset=host-size; tp=""; qemu=() ;;
    aarch64) preset=aarch64-release; tp=aarch64-linux-gnu-; qemu=(qemu-aarch64 -L /) ;;
    armhf) preset=armhf-release; tp=arm-linux-gnueabihf-; qemu=(qemu-arm -L /) ;;
    *) echo "footprint.sh: unknown target $t (host, aarch64, armhf)" >&2; exit 2 ;;
  esac
  dir=build/$preset
  cmake --preset "$preset" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  readelf=${tp}readelf; strip=${tp}strip; size=${tp}size
  d=$dir/agent/daemon/cohortd c=$dir/agent/cli/cohortctl l=$dir/agent/libcohort.so a=$dir/agent/libcohort.a
  l=$(readlink -f "$l")
  mkdir -p "$work/$t"
  for f in "$d" "$c" "$l"; do cp "$f" "$work/$t/" && "$strip" --strip-all "$work/$t/$(basename "$f")"; done

  echo "== $t ($preset: -Os, LTO, gc-sections, stripped)"
  printf '  %-16s %12s %12s\n' "" "file bytes" "loadable"
  # The agent a device carries: the daemon and the library (cohortctl, the
  # optional command-line client, is shown apart).
  total=0 total_load=0
  for f in cohortd "$(basename "$l")"; do
    s=$(stat -c %s "$work/$t/$f"); ld=$(loadable "$work/$t/$f")
    total=$((total + s)); total_load=$((total_load + ld))
    printf '  %-16s %12d %12d\n' "${f%%.so.*}" "$s" "$ld"
  done
  printf '  %-16s %12d %12d   (%s KB file, %s KB loadable; goal <= 300 KB on aarch64)\n' "own code" \
    "$total" "$total_load" "$(kb "$total")" "$(kb "$total_load")"
  printf '  %-16s %12d %12d   (optional client, not in own code)\n' cohortctl "$(stat -c %s "$work/$t/cohortctl")" \
    "$(loadable "$work/$t/cohortctl")"
  # The archive's objects: fat LTO objects carry machine code too; size counts it.
  arsum=$("$size" -t "$a" 2>/dev/null | tail -1 | awk '{print $1 + $2 + $3}')
  nobj=$(ar t "$a" | wc -l)
  printf '  %-16s %12d bytes text+data+bss in %d objects (an app links what it uses)\n' "libcohort.a" "$arsum" "$nobj"
  echo "  cohortd NEEDED:      $("$readelf" -d "$d" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  echo "  libcohort.so NEEDED: $("$readelf" -d "$l" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  # Every library the loader maps for cohortd (libcurl brings TLS, HTTP/2, LDAP, Kerberos...).
  if [ -z "$tp" ]; then
    libs=$(LD_LIBRARY_PATH=$dir/agent ldd "$d" | awk '$3 ~ /^\// {print $3}')
  else
    libs=$(LD_LIBRARY_PATH=$dir/agent "${qemu[@]}" -E LD_TRACE_LOADED_OBJECTS=1 "$d" 2>/dev/null |
           awk '$3 ~ /^\// {print $3}')
  fi
  nlibs=$(wc -w <<<"$libs")
  libbytes=0
  for f in $libs; do libbytes=$((libbytes + $(stat -L -c %s "$f"))); done
  printf '  loaded libraries:    %d, %s KB on disk (libcohort included)\n' "$nlibs" "$(kb "$libbytes")"

  # Exceptions at the C boundary in this build (std::bad_alloc -> COHORT_ENOMEM).
  cxx=${tp}g++
  [ -n "$tp" ] || cxx=${CXX:-g++}
  rm -rf "$work/$t/probe-data"
  if "$cxx" -std=c++17 -Os -Iagent/include tests/packaging/enomem_probe.cpp -L"$dir/agent" -lcohort \
       ${tp:+-Wl,-rpath-link,/usr/lib/${tp%-}} -o "$work/$t/enomem_probe" 2>"$work/$t/probe.log" &&
     LD_LIBRARY_PATH=$dir/agent "${qemu[@]}" "$work/$t/enomem_probe" "$work/$t/probe-data" >>"$work/$t/probe.log" 2>&1; then
    echo "  C boundary:          std::bad_alloc inside cohort_call -> COHORT_ENOMEM, agent goes on (enomem_probe OK)"
  else
    echo "  C boundary:          FAILED: $(tail -3 "$work/$t/probe.log")"
  fi

  # Memory, through the socket.
  python3 - "$t" "$d" "$dir/agent" "$work/$t" "$EVENTS" "$COHORTS" "$CACHE_KIB" "${qemu[@]}" >"$work/$t/mem" <<'PY'
import json, os, random, socket, subprocess, sys, threading, time

target, daemon, libdir, work, events, ncohorts, cache_kib = sys.argv[1:8]
events, ncohorts = int(events), int(ncohorts)
wrapper = sys.argv[8:]
emulated = bool(wrapper)

config = {"api": {"ccs_url": "http://127.0.0.1:9", "contextual_url": "http://127.0.0.1:9"},
          "consent": {"required": False}, "log": {"level": "error"}}
if cache_kib:
    config["storage"] = {"cache_kib": int(cache_kib)}
cfg = os.path.join(work, "cohortd.json")
with open(cfg, "w") as f:
    json.dump(config, f)
sock_path = os.path.join(work, "s.sock")
env = dict(os.environ, LD_LIBRARY_PATH=libdir)
proc = subprocess.Popen(wrapper + [daemon, "--config", cfg, "--data-dir", os.path.join(work, "data"),
                                   "--socket", sock_path],
                        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(work, "cohortd.log"), "w"))
deadline = time.time() + 60
while not os.path.exists(sock_path):
    if proc.poll() is not None or time.time() > deadline:
        sys.exit("cohortd did not start: " + open(os.path.join(work, "cohortd.log")).read())
    time.sleep(0.05)

def memory():
    out = {}
    with open("/proc/%d/status" % proc.pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0])
    # USS: the pages only this process holds (its heap, stacks, relocated data).
    try:
        with open("/proc/%d/smaps_rollup" % proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Private_Clean", "Private_Dirty", "Pss"):
                    out[k] = int(v.split()[0])
        out["USS"] = out.pop("Private_Clean", 0) + out.pop("Private_Dirty", 0)
    except OSError:
        out["USS"] = out["Pss"] = 0
    return out

def smaps_top(n=6):
    """The mappings holding the most resident memory: [name, Rss KiB, private KiB]."""
    agg = {}
    try:
        with open("/proc/%d/smaps" % proc.pid) as f:
            name = None
            for line in f:
                parts = line.split()
                if ":" not in parts[0]:
                    name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
                    agg.setdefault(name, [0, 0])
                elif parts[0] == "Rss:":
                    agg[name][0] += int(parts[1])
                elif parts[0] in ("Private_Dirty:", "Private_Clean:"):
                    agg[name][1] += int(parts[1])
    except OSError:
        return []
    return [[k] + v for k, v in sorted(agg.items(), key=lambda kv: -kv[1][0])[:n]]

class Client:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock_path)
        self.f = self.s.makefile("rb")
        self.next = 1
    def call(self, method, params=None):
        req = {"jsonrpc": "2.0", "id": self.next, "method": method}
        self.next += 1
        if params is not None:
            req["params"] = params
        self.s.sendall((json.dumps(req) + "\n").encode())
        while True:
            ans = json.loads(self.f.readline())
            if "id" in ans:
                break
        if "error" in ans:
            raise RuntimeError("%s: %s" % (method, ans["error"]))
        return ans["result"]
    def pipeline(self, method, params_list):
        """Sends every request while a thread reads the answers; returns the error count."""
        errors = []
        def reader():
            for _ in params_list:
                while True:
                    ans = json.loads(self.f.readline())
                    if "id" in ans:
                        break
                if "error" in ans:
                    errors.append(ans["error"])
        th = threading.Thread(target=reader)
        th.start()
        buf = []
        for p in params_list:
            buf.append(json.dumps({"jsonrpc": "2.0", "id": self.next, "method": method, "params": p}))
            self.next += 1
            if len(buf) == 500:
                self.s.sendall(("\n".join(buf) + "\n").encode())
                buf = []
        if buf:
            self.s.sendall(("\n".join(buf) + "\n").encode())
        th.join()
        return errors

rng = random.Random(2024)
NAMES = ["Pageview", "Videoview", "VideoCompletion", "AudioPlay", "AudioCompletion", "Search", "AdImpression"]
CATS = ["sports", "football", "tennis", "news", "politics", "drama", "comedy", "kids", "cooking",
        "music", "documentary", "film"]
CHANNELS = ["bbc-one", "itv", "channel4", "sky-sports", "netflix", "youtube"]

def where():
    return [{"property": "categories", "operator": "contains", "value": rng.choice(CATS)}]

def condition(i):
    kind = i % 6
    if kind == 0:
        return {"type": "event", "event_type": rng.choice(["Videoview", "Pageview", "AudioPlay"]),
                "where": where(), "operator": "gte", "value": rng.randint(1, 20),
                "window_days": rng.choice([1, 7, 14, 30])}
    if kind == 1:
        return {"type": "aggregate", "event_type": "VideoCompletion", "property": "percentage_watched",
                "metric": rng.choice(["avg", "max", "sum"]), "operator": "gte",
                "value": round(rng.uniform(0.3, 0.9), 2), "window_days": rng.choice([7, 30])}
    if kind == 2:
        return {"type": "recency", "event_type": rng.choice(NAMES[:4]), "where": where(),
                "operator": rng.choice(["lt", "gt"]), "window_days": rng.choice([2, 7, 30])}
    if kind == 3:
        return {"type": "property", "event_type": "Pageview", "property": "channel", "operator": "eq",
                "value": rng.choice(CHANNELS)}
    if kind == 4:
        return {"type": "event", "event_type": "Search", "where": [
                    {"property": "query", "operator": "starts_with", "value": rng.choice("abcdefgh")}],
                "operator": "gte", "value": 2, "window_hours": rng.choice([6, 24, 48])}
    return {"type": "aggregate", "event_type": "AdImpression", "property": "duration_s", "metric": "count",
            "operator": "gte", "value": rng.randint(5, 50), "window": "session"}

cohorts = []
for i in range(ncohorts):
    n = 1 + i % 3
    rule = {"logic": "AND" if i % 2 == 0 else "OR", "conditions": [condition(i + k) for k in range(n)]}
    if i % 10 == 9:
        rule = {"logic": "AND", "conditions": [rule, {"logic": "NOT", "conditions": [condition(i + 3)]}]}
    cohorts.append({"id": str(1000 + i), "name": "Cohort %d" % i,
                    "activations": ["dfp"] if i % 4 == 0 else [], "rule": rule})

now = time.time()
span = 29 * 86400
def event(i):
    name = NAMES[i % len(NAMES)] if i % 3 else rng.choice(NAMES)
    props = {"categories": rng.sample(CATS, rng.randint(1, 3)), "channel": rng.choice(CHANNELS)}
    if name.endswith("Completion"):
        props["percentage_watched"] = round(rng.random(), 3)
        props["time_spent_seconds"] = rng.randint(10, 3600)
    elif name == "Search":
        props["query"] = rng.choice(["arsenal", "bake off", "news at ten", "cbeebies", "drama", "eastenders"])
    elif name == "AdImpression":
        props["duration_s"] = rng.choice([15, 20, 30])
    t = now - span + span * i / max(events, 1)
    return {"name": name, "properties": props,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)}

cl = Client()
cl.call("status")
time.sleep(1.0)
idle = memory()
idle_top = smaps_top()
res = cl.call("definitions.put", {"cohorts": cohorts})
assert res["count"] == ncohorts, res
after_defs = memory()
params = [event(i) for i in range(events)]
t0 = time.time()
errors = cl.pipeline("track", params)
dt = time.time() - t0
got = cl.call("cohorts.get")
st = cl.call("status")
time.sleep(0.5)
loaded = memory()
loaded_top = smaps_top()
proc.terminate()
proc.wait(timeout=30)
print(json.dumps({"idle": idle, "defs": after_defs, "loaded": loaded, "errors": len(errors),
                  "first_error": errors[0] if errors else None, "seconds": dt,
                  "local": len(got.get("local", [])), "history": st.get("history", {}),
                  "idle_top": idle_top, "loaded_top": loaded_top, "emulated": emulated}))
PY
  python3 - "$t" "$EVENTS" "$COHORTS" "${qemu[0]:-}" "$work/$t/mem" <<'PY'
import json, sys
t, events, cohorts, qemu, path = sys.argv[1:6]
m = json.load(open(path))
mib = lambda k: k / 1024.0
print("  cohortd memory%s:" % (" under %s (includes the emulator: an upper bound)" % qemu if qemu else ""))
print("  %-30s %8s %8s %8s %8s %8s" % ("", "VmRSS", "VmHWM", "RssAnon", "RssFile", "USS"))
for label, key in (("idle", "idle"), ("+ %s cohort definitions" % cohorts, "defs"),
                   ("+ %s events (loaded)" % events, "loaded")):
    v = m[key]
    print("  %-30s %7.2fM %7.2fM %7.2fM %7.2fM %7.2fM" % (label, mib(v["VmRSS"]), mib(v["VmHWM"]),
          mib(v["RssAnon"]), mib(v["RssFile"]), mib(v["USS"])))
print("  (RssFile: shared-library and file pages, shared with every process using them;"
      " USS: pages only cohortd holds)")
print("  track: %s events in %.1f s (%.0f/s), %d errors%s; %d local cohorts matched; history %s"
      % (events, m["seconds"], int(events) / max(m["seconds"], 1e-9), m["errors"],
         (" (first: %s)" % m["first_error"]) if m["errors"] else "", m["local"], json.dumps(m["history"])))
if not m["emulated"]:
    for label in ("idle", "loaded"):
        print("  largest mappings %-7s " % (label + ":") +
              ", ".join("%s %dK (%dK private)" % tuple(x) for x in m[label + "_top"]))
PY
  # The floor: a program that only links this libcurl and initialises it
  # (host only: under qemu the emulator's memory would swamp it).
  if [ -z "$tp" ]; then
    if ${CC:-cc} -Os tests/packaging/rss_baseline.c -lcurl -o "$work/$t/rss_baseline" 2>"$work/$t/baseline.log"; then
      "$work/$t/rss_baseline" >"$work/$t/baseline"
      python3 - "$work/$t/mem" "$work/$t/baseline" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
base = {l.split(":")[0]: int(l.split()[1]) for l in open(sys.argv[2])}
print("  floor: a program that only links libcurl and runs curl_global_init: VmRSS %.2fM (RssAnon %.2fM,"
      " RssFile %.2fM)" % (base["VmRSS"] / 1024, base["RssAnon"] / 1024, base["RssFile"] / 1024))
print("  cohortd above that floor: %.2fM idle, %.2fM loaded"
      % ((m["idle"]["VmRSS"] - base["VmRSS"]) / 1024, (m["loaded"]["VmRSS"] - base["VmRSS"]) / 1024))
PY
    else
      echo "  floor: cannot build rss_baseline: $(tail -1 "$work/$t/baseline.log")"
    fi
  fi
  summary[$t]=$(python3 - "$work/$t/mem" "$total" "$total_load" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print("%9.1f %9.1f %8.2fM %8.2fM %8.2fM %8.2fM %8.2fM %8.2fM %8.2fM %8.2fM" % (
      int(sys.argv[2]) / 1024, int(sys.argv[3]) / 1024,
      m["idle"]["VmRSS"] / 1024, m["loaded"]["VmRSS"] / 1024, m["loaded"]["VmHWM"] / 1024,
      (m["loaded"]["VmRSS"] - m["idle"]["VmRSS"]) / 1024, m["idle"]["RssAnon"] / 1024, m["loaded"]["RssAnon"] / 1024,
      m["idle"]["USS"] / 1024, m["loaded"]["USS"] / 1024))
PY
)
  echo
done

echo "== summary: own code = cohortd + libcohort.so stripped (file, and loadable without page padding);"
echo "   RSS of cohortd idle, loaded (${COHORTS} cohorts + ${EVENTS} events), peak, growth = loaded - idle; anon ="
echo "   RssAnon, the memory cohortd itself allocates (heap, stacks, SQLite's cache); the rest of RSS is shared"
echo "   library pages (Debian's libcurl maps 37 libraries: TLS, HTTP/2, LDAP, Kerberos...)."
echo "   USS = the pages only cohortd holds (freed when it exits)."
echo "   Goals: <= 300 KB on aarch64, RSS <= 3 MiB idle, <= 6 MiB loaded (read as USS: libcurl alone is above"
echo "   6 MiB VmRSS, see the floor above)."
echo "   ARM rows run under qemu-user: RSS includes the emulator (upper bounds); growth is the comparable figure."
printf '  %-8s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n' target "code KB" "load KB" "idle RSS" "load RSS" "peak RSS" \
  "growth" "idle anon" "load anon" "idle USS" "load USS"
for t in "${targets[@]}"; do printf '  %-8s %s\n' "$t" "${summary[$t]}"; done
