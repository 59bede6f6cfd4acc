"""Secrets never leak: the API key and a raw e-mail address, end to end.

The API emulator runs with an API key; cohortd runs with that key (in the
configuration, or in `api.key_file`), the emulator's URLs and debug logging,
and plays a full scenario: consent off, then on, identity with aliases (one of
them an e-mail address hashed by the agent, as the contract says: SHA-256 of
the trimmed, lowercased address), views, tracks, local definitions,
activations, explain, sync (also through a 503 and a 400 that dead-letters a
batch), identity reset, consent withdrawn and granted again. Then the daemon
stops, and everything it left or said is searched:

* its log (stderr, debug level) and every socket answer it sent;
* every file in data_dir (database, WAL, identity file, anything else), both
  while it runs and after it stopped;
* the emulator's request log (targets, headers, bodies), in memory and in its
  --log file, and the emulator's own stderr.

Zero hits for the key (also URL-encoded, JSON-escaped or base64) and for the
e-mail address (any case, trimmed or not, URL-encoded), except the key where
`api.key_in` sends it: the X-Api-Key request header (the default), or the `k`
query parameter of the request URL (`"query"`), every time, and nowhere else.
Positive controls make sure the search looks at the right bytes: the hashed
address is found in the database and in the CCS requests.

COHORT_SOAK=1 plays a longer scenario (many more events: WAL growth,
checkpoints, batches) and prints what was searched.
"""

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

from harness import EMULATED, Daemon, RpcError, daemon_command, scaled, wait_until
from client import Emulator  # tests/emulator, on sys.path through harness

SOAK = os.environ.get("COHORT_SOAK", "") not in ("", "0")

# Characters that URL-encoding, JSON escaping and base64 all change.
API_KEY = "sk_live+Q7/zR=9k%Lm~4x!Cohort"
EMAIL = "  Jane.Doe+TV@Example.COM "
OTHER_EMAIL = "Family.Account@Example.ORG"
# What the contract says reaches the disk and the wire instead.
EMAIL_SHA256 = hashlib.sha256(EMAIL.strip().lower().encode()).hexdigest()
OTHER_SHA256 = hashlib.sha256(OTHER_EMAIL.strip().lower().encode()).hexdigest()

EVENTS = 2000 if SOAK else (20 if EMULATED else 60)


def say(text):
    print(f"    {text}", file=sys.stderr, flush=True)


def key_variants(key):
    """The key as it could leak: raw, URL-encoded (both ways), JSON-escaped, base64."""
    return sorted({key, urllib.parse.quote(key, safe=""), urllib.parse.quote(key), urllib.parse.quote_plus(key),
                   key.replace("/", "\\/"), json.dumps(key)[1:-1], base64.b64encode(key.encode()).decode(),
                   base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")})


def email_variants(*addresses):
    """Each address as given, trimmed, URL-encoded, JSON-escaped; searched case-insensitively."""
    out = set()
    for address in addresses:
        for a in (address, address.strip()):
            out |= {a, urllib.parse.quote(a, safe=""), urllib.parse.quote_plus(a), a.replace("@", "\\u0040")}
    return sorted(v.lower() for v in out)


def find(haystack, needles, case_insensitive=False):
    """The needles found in a str or bytes haystack."""
    if isinstance(haystack, bytes):
        hay = haystack.lower() if case_insensitive else haystack
        return [n for n in needles if (n.lower() if case_insensitive else n).encode() in hay]
    hay = haystack.lower() if case_insensitive else haystack
    return [n for n in needles if (n.lower() if case_insensitive else n) in hay]


def read_tree(root):
    """{relative path: bytes} of every file under root."""
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    files[os.path.relpath(path, root)] = f.read()
            except FileNotFoundError:
                pass  # a temporary file gone meanwhile
    return files


class Secrets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="cohort-secrets-")
        cls.emu_log = os.path.join(cls.tmp.name, "emulator-requests.jsonl")
        cls.emu = Emulator(api_key=API_KEY, log_path=cls.emu_log).start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()
        cls.tmp.cleanup()

    def setUp(self):
        self.emu.reset()
        with open(self.emu_log, "w", encoding="utf-8"):
            pass  # the --log file is appended to: start each test afresh
        self.answers = []  # every line the daemon answered on the socket

    # -- talking to the daemon, keeping every answer line

    def call(self, d, method, params=None):
        if d._client is None:
            d._client = d.client(timeout=scaled(10))
        c = d._client
        c.send({"jsonrpc": "2.0", "id": c.next_id, "method": method, **({"params": params} if params else {})})
        c.next_id += 1
        line = c.read_line()
        self.answers.append(f"{method}: ".encode() + line)
        answer = json.loads(line)
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    def sync_all(self, d):
        def drained():
            return self.call(d, "sync.now", {"timeout_ms": int(scaled(3000))})["pending"] == 0
        wait_until(drained, scaled(20), interval=0.05, message="the outbox to drain")

    def make_daemon(self, via_key_file=False, key_in="header"):
        config = {"consent": {"required": True}, "log": {"level": "debug"},
                  "api": {"key": API_KEY, "key_in": key_in, "timeout_ms": int(scaled(1000))}}
        d = Daemon(config=config, emulator=self.emu)
        self.addCleanup(d.cleanup)
        defs = os.path.join(d.workdir, "definitions.json")
        with open(defs, "w", encoding="utf-8") as f:
            json.dump({"cohorts": [{"id": "2001", "name": "Football", "activations": ["dfp"],
                                    "rule": {"logic": "AND", "conditions": [
                                        {"type": "event", "event_type": "Videoview",
                                         "where": [{"property": "categories", "operator": "contains",
                                                    "value": "football"}]}]}}]}, f)
        d.config["cohorts"] = {"definitions": defs}
        if via_key_file:
            # The key in a file beside the configuration (never in data_dir).
            key_file = os.path.join(d.workdir, "api.key")
            with open(key_file, "w", encoding="utf-8") as f:
                f.write(API_KEY + "\n")
            os.chmod(key_file, 0o600)
            del d.config["api"]["key"]
            d.config["api"]["key_file"] = key_file
        return d

    # -- the scenario

    def scenario(self, d):
        call = lambda method, params=None: self.call(d, method, params)  # noqa: E731
        status = call("status")
        self.assertFalse(status["consent"])
        # Consent off: kept nothing, the Contextual API is still asked.
        r = call("track", {"name": "Pageview", "properties": {"section": "home"}})
        self.assertIs(r["stored"], False)
        call("activations.get", {"timeout_ms": int(scaled(2000)), "url": "https://example.com/sport/live",
                                 "page_properties": {"title": "Cup final"}})

        # Identity: aliases, the e-mail ones hashed by the agent.
        ids = call("identity.set_aliases", {"aliases": [
            {"tag": "internal_id", "id": "subscriber-42", "priority": 0},
            {"tag": "email_sha256", "id": EMAIL, "priority": 1, "hash": "sha256"},
            {"tag": "tifa", "id": "3f1b2c4d-aaaa-bbbb-cccc-1234567890ab", "priority": 2}]})
        by_tag = {a["tag"]: a["id"] for a in ids["aliases"]}
        self.assertEqual(by_tag["email_sha256"], EMAIL_SHA256)
        # A raw address is refused wherever it is not hashed; the refusal does not quote it.
        for alias in ({"tag": "internal_id", "id": EMAIL.strip()},
                      {"tag": "email_sha256", "id": EMAIL},
                      {"tag": "email_sha256", "id": EMAIL, "hash": "md5"}):
            with self.assertRaises(RpcError) as ctx:
                call("identity.set_aliases", {"aliases": [alias]})
            self.assertEqual(ctx.exception.code, -32602)
        self.assertEqual(call("identity.get")["aliases"], ids["aliases"])

        # Consent on: views, tracks, definitions, activations, explain, sync.
        self.assertTrue(call("consent.set", {"granted": True})["consent"])
        view = call("view.start", {"type": "video", "duration_s": 600, "url": "https://example.com/sport/final",
                                   "properties": {"video_id": "v-1", "categories": ["football"],
                                                  "title": "Cup final"}})["view_id"]
        call("view.progress", {"view_id": view, "position_s": 120})
        call("view.pause", {"view_id": view, "position_s": 150})
        call("view.resume", {"view_id": view, "position_s": 150})
        call("view.end", {"view_id": view, "position_s": 400})
        for n in range(EVENTS):
            call("track", {"name": "Videoview" if n % 3 == 0 else "Tick",
                           "properties": {"n": n, "categories": ["football"] if n % 3 == 0 else ["news"]}})
        call("definitions.put", {"cohorts": [
            {"id": "2001", "name": "Football", "activations": ["dfp"],
             "rule": {"logic": "AND", "conditions": [
                 {"type": "event", "event_type": "Videoview",
                  "where": [{"property": "categories", "operator": "contains", "value": "football"}]}]}},
            {"id": "2002", "name": "Engaged", "activations": ["freewheel"],
             "rule": {"logic": "OR", "conditions": [
                 {"type": "engagement", "event_type": "Videoview", "metric": "views",
                  "operator": "gte", "value": 1}]}}]})
        self.assertEqual(len(call("definitions.get")["cohorts"]), 2)
        call("definitions.preview", {"rule": {"logic": "AND", "conditions": [{"type": "event",
                                                                             "event_type": "Tick"}]}})
        call("explain", {"cohort_id": "2001"})
        call("cohorts.get")
        self.sync_all(d)
        acts = call("activations.get", {"timeout_ms": int(scaled(2000)), "url": "https://example.com/sport/final"})
        self.assertIn("2001", acts["activations"].get("dfp", []), acts)

        # The API misbehaves: a retry (logged), then a refused batch (dead-lettered, kept in the database).
        self.emu.set_fault("status", code=503, path="ccs", count=1)
        call("track", {"name": "Tick", "properties": {"n": -1}})
        call("sync.now", {"timeout_ms": int(scaled(2000))})
        wait_until(lambda: any(r["status"] == 503 for r in self.emu.requests("/ccs/")), scaled(10),
                   message="the 503")
        self.sync_all(d)
        self.emu.set_fault("status", code=400, path="ccs", count=1)
        call("track", {"name": "Tick", "properties": {"n": -2}})
        call("sync.now", {"timeout_ms": int(scaled(2000))})
        wait_until(lambda: call("status")["dead_letters"] >= 1, scaled(10), message="the dead letter")
        call("dead_letters.get", {"limit": 10})
        call("history.get", {"limit": 50})

        # A second member of the household, then consent withdrawn and granted again.
        call("identity.reset")
        call("identity.set_aliases", {"aliases": [{"tag": "email_sha256", "id": OTHER_EMAIL, "hash": "sha256"}]})
        call("track", {"name": "Videoview", "properties": {"categories": ["football"]}})
        self.sync_all(d)
        call("consent.set", {"granted": False})
        call("track", {"name": "Tick", "properties": {"n": -3}})
        call("consent.set", {"granted": True})
        call("track", {"name": "Tick", "properties": {"n": -4}})
        self.sync_all(d)
        config = call("config.get")
        self.assertNotIn(API_KEY, json.dumps(config))
        self.assertEqual(config["config"]["api"]["key"], "[redacted]")
        call("status")

    # -- the search

    def check_everything(self, d, running_files, key_in="header"):
        keys = key_variants(API_KEY)
        emails = email_variants(EMAIL, OTHER_EMAIL)
        problems = []

        def search(where, haystack, needles=None):
            needles = keys + emails if needles is None else needles
            hits = find(haystack, needles, case_insensitive=True)
            if hits:
                problems.append(f"{where}: {hits}")

        # The daemon's own words: its log and its answers.
        log = d.stderr_text()
        search("cohortd's log", log)
        for line in self.answers:
            search(f"socket answer {line[:40]!r}", line)
        # Everything in data_dir, while running and after the stop.
        final_files = read_tree(d.data_dir)
        for label, files in (("while running", running_files), ("after stop", final_files)):
            for name, data in sorted(files.items()):
                search(f"data_dir/{name} ({label})", data)
        # The emulator's request log: the key only in X-Api-Key.
        requests = sorted(self.emu.requests(), key=lambda r: r["seq"])
        with open(self.emu_log, encoding="utf-8") as f:
            logged = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(sorted(r["seq"] for r in logged), [r["seq"] for r in requests])
        api = [r for r in requests if r["path"].startswith(("/ccs/", "/ctx/"))]
        self.assertTrue(any(r["path"].startswith("/ccs/") for r in api), "no CCS request was made")
        self.assertTrue(any(r["path"].startswith("/ctx/") for r in api), "no Contextual request was made")
        for r in api + [r for r in logged if r["path"].startswith(("/ccs/", "/ctx/"))]:
            where = f"emulator request #{r['seq']} {r['method']} {r['path']}"
            search(f"{where} (an e-mail address, anywhere)", json.dumps(r, ensure_ascii=False), emails)
            rest = dict(r, headers={k: v for k, v in r["headers"].items() if k != "x-api-key"})
            if key_in == "query":
                self.assertNotIn("x-api-key", r["headers"], f"{where}: the key was sent in X-Api-Key too")
                self.assertEqual(r["query"].get("k"), [API_KEY], f"{where}: the key was not in ?k=")
                self.assertIn("k=" + urllib.parse.quote(API_KEY, safe=""), r["target"], where)
                self.assertEqual(r["target"].count(urllib.parse.quote(API_KEY, safe="")), 1, where)
                # Where the key must be: the target's k=, and the parsed query.
                rest = dict(rest, target=r["target"].replace(urllib.parse.quote(API_KEY, safe=""), ""),
                            query={k: v for k, v in r["query"].items() if k != "k"})
            else:
                self.assertEqual(r["headers"].get("x-api-key"), API_KEY, f"{where}: the key was not in X-Api-Key")
                self.assertFalse(r["key_in_url"], where)
            hits = find(json.dumps(rest, ensure_ascii=False), keys, case_insensitive=True)
            if hits:
                problems.append(f"{where}: the key outside {'?k=' if key_in == 'query' else 'X-Api-Key'}: {hits}")
        search("the emulator's stderr", self.emu.stderr())

        # Positive controls: the search looks at the right bytes.
        self.assertTrue(any(EMAIL_SHA256.encode() in data for data in running_files.values())
                        or any(EMAIL_SHA256.encode() in data for data in final_files.values()),
                        "the hashed address is nowhere in data_dir: the search would not see the raw one either")
        ccs_aliases = [a for r in api if r["path"].startswith("/ccs/") and r["body_is_json"]
                       for a in r["body"].get("aliases", [])]
        self.assertIn({"tag": "email_sha256", "id": EMAIL_SHA256}, [{"tag": a["tag"], "id": a["id"]}
                                                                   for a in ccs_aliases])
        self.assertIn(OTHER_SHA256, [a["id"] for a in ccs_aliases])
        self.assertIn("agent open", log, "the log is empty: nothing was searched")
        self.assertIn("HTTP 503", log, "the failed sync was not logged: the log path was not exercised")
        self.assertIn("cohort.db", final_files)
        self.assertIn("identity", final_files)

        total = (len(log) + sum(map(len, self.answers)) + sum(map(len, running_files.values()))
                 + sum(map(len, final_files.values())) + sum(len(json.dumps(r)) for r in requests))
        say(f"searched {total >> 10} KiB: log {len(log)} B, {len(self.answers)} socket answers, "
            f"data_dir {sorted(running_files)} running / {sorted(final_files)} stopped, {len(requests)} API "
            f"requests ({len(logged)} in the --log file), {len(keys)} key and {len(emails)} e-mail spellings")
        self.assertEqual(problems, [], "a secret leaked")

    def run_scenario(self, via_key_file, key_in="header"):
        d = self.make_daemon(via_key_file, key_in)
        d.start()
        self.scenario(d)
        running = read_tree(d.data_dir)  # the WAL and anything else, before the checkpoint at exit
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.check_everything(d, running, key_in)

    def test_key_in_config_and_email_never_leak(self):
        self.run_scenario(via_key_file=False)

    def test_key_file_and_email_never_leak(self):
        self.run_scenario(via_key_file=True)

    def test_key_in_query_and_email_never_leak(self):
        """api.key_in "query": the key is the `k` parameter of each request URL,
        and nowhere else (the log, status, config.get, dead letters, files)."""
        self.run_scenario(via_key_file=True, key_in="query")

    def test_configuration_errors_never_quote_the_key(self):
        """--check-config and start-up errors name keys, never the key's value."""
        work = tempfile.mkdtemp(prefix="cohort-secrets-cfg-")
        self.addCleanup(shutil.rmtree, work, True)
        bad = [
            {"api": {"key": API_KEY, "timeout_ms": "soon"}},
            {"api": {"key": API_KEY, "mode": "sideways"}},
            {"api": {"key": API_KEY}, "log": {"level": "loud"}},
            {"api": {"key": [API_KEY]}},
            {"api.key": API_KEY, "api.key_file": work},  # a directory: unreadable (a missing one is awaited)
            {"api": {"key": API_KEY, "colour": "red"}},
        ]
        for i, config in enumerate(bad):
            path = os.path.join(work, f"bad{i}.json")
            config = dict(config, data_dir=os.path.join(work, "data"))
            with open(path, "w", encoding="utf-8") as f:
                json.dump(config, f)
            # (--check-config does not read api.key_file: it never touches the disk.)
            runs = [("--config", path)] + ([] if "api.key_file" in config else [("--check-config", "--config", path)])
            for args in runs:
                run = subprocess.run(daemon_command(*args), capture_output=True, text=True, timeout=scaled(20),
                                     stdin=subprocess.DEVNULL)
                self.assertNotEqual(run.returncode, 0, f"{args[0]}: {config} was accepted")
                out = run.stdout + run.stderr
                self.assertTrue(out.strip(), "no error message at all")
                hits = find(out, key_variants(API_KEY), case_insensitive=True)
                self.assertEqual(hits, [], f"{args[0]} with {config}: {out.strip()}")

if __name__ == "__main__":
    unittest.main()
