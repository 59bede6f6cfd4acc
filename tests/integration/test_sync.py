"""Remote sync, end to end: the real cohortd against the real API emulator.

Every fault mode of the emulator (latency within and beyond api.timeout_ms,
500/502/503, 408, 429 and 503 with Retry-After, 400/413/422, TCP reset,
accept-then-hang, truncated body, garbage body, wrong content type) is played
against the daemon, and the emulator's request log is the witness:

* no event is lost: every tracked event reaches a request that was answered 2xx;
* order is kept: events carry a counter `n`, every batch is in order and the
  delivered stream is increasing;
* nothing is delivered twice, except a batch whose 2xx the agent never got
  (latency beyond the deadline);
* batches hold 1-10 events; refused batches (400, 413, 422) are dead-lettered,
  counted and never sent again (a wrong key or URL keeps them: test_wire);
* back-off: no hot loop while the API is down, and the waits stay within the
  doubling caps; Retry-After is honoured, even by sync.now;
* activations.get answers within its own timeout_ms (stale:true) whatever the
  network does, and SIGTERM still exits promptly during a hang;
* caches expire after their (short) TTLs; consent gates the CCS API but not the
  Contextual API, and withdrawing consent purges the queue;
* the API key travels only where api.key_in says (checked after every test), aliases
  replace user_id, the server's user_id is adopted, stateless mode round-trips
  `state`, and TLS is verified (api.ca_file supplies the test CA).

Deadlines are stretched by the harness's TIME_SCALE under qemu; the agent's own
back-off and Retry-After run on the wall clock either way.
"""

import hashlib
import json
import os
import signal
import tempfile
import time
import unittest
import urllib.request
from collections import defaultdict

from harness import Daemon, TIME_SCALE, deep_merge, scaled, wait_until
from client import Emulator  # tests/emulator, on sys.path through harness
from make_test_ca import make_test_ca

API_KEY = "sk-cohort-it-7f3a9c21"
# The agent's deadline for one remote call. Generous under qemu, where the
# agent itself runs several times slower.
API_TIMEOUT_MS = int(500 * min(TIME_SCALE, 4))
# How late an answer that must come "within timeout_ms" may be: the socket
# round trip and the daemon's own work.
MARGIN_S = 0.1 * max(1.0, TIME_SCALE / 2)
CCS = "/ccs/"
CTX = "/ctx/"


def is_uuid(s):
    import uuid
    try:
        return str(uuid.UUID(s)) == s.lower()
    except (ValueError, TypeError, AttributeError):
        return False


def classify(r, lost_latency=False):
    """What a logged CCS request meant for the agent: ok (2xx it could read),
    dead (400, 413, 422: the batch itself refused for good) or failed (kept
    and retried: everything else, a wrong key or URL included)."""
    status, fault = r["status"], r["fault"]
    if status is None:
        return "failed"                      # reset, hang: no answer
    if 200 <= status < 300:
        if fault is None or (fault == "latency" and not lost_latency):
            return "ok"
        return "failed"                      # truncated, garbage, HTML, answer after the deadline
    if status in (400, 413, 422):
        return "dead"
    return "failed"


class SyncCase(unittest.TestCase):
    """One emulator per class (reset before each test), a fresh daemon per test."""

    emulator = None
    emulator_args = {}
    key_in = "header"  # where the tests' daemons send the key (api.key_in)
    wrong_keys = False  # some requests go out with a wrong key, or none, on purpose

    @classmethod
    def setUpClass(cls):
        cls.emulator = Emulator(api_key=API_KEY, **cls.emulator_args).start()

    @classmethod
    def tearDownClass(cls):
        if cls.emulator is not None:
            cls.emulator.stop()

    def setUp(self):
        self.emu = self.emulator
        self.emu.reset()
        self.daemons = []
        self.counter = 0

    def tearDown(self):
        for d in self.daemons:
            try:
                d.stop()
            except Exception:  # noqa: BLE001 - cleanup() below kills it
                pass
            log = d.stderr_text()
            d.cleanup()
            self.assertNotIn(API_KEY, log, "the API key appeared in a log line")
        # The key travels where api.key_in says (the header by default) and
        # nowhere else, in every request of every test.
        if self.emu.process is not None and self.emu.process.poll() is None:
            for r in self.emu.requests():
                if r["path"].startswith("/_control/"):
                    continue
                if self.key_in == "query":
                    self.assertEqual(r["query"].get("k"), [API_KEY], r["target"])
                    self.assertNotIn("x-api-key", r["headers"], r["target"])
                else:
                    self.assertFalse(r["key_in_url"], r["target"])
                    if not self.wrong_keys:
                        self.assertEqual(r["headers"].get("x-api-key"), API_KEY, r["target"])
                    self.assertNotIn(API_KEY, r["target"])

    # -- helpers

    def start_daemon(self, config=None, emulator=None):
        base = {"consent": {"required": False}, "log": {"level": "debug"},
                "api": {"key": API_KEY, "key_in": self.key_in, "timeout_ms": API_TIMEOUT_MS}}
        d = Daemon(config=deep_merge(base, config), emulator=emulator or self.emu)
        self.daemons.append(d)
        return d.start()

    def track(self, d, count=1, name="Tick", **props):
        """Tracks `count` events with an increasing property counter n; returns their n."""
        ns = []
        for _ in range(count):
            n = self.counter
            self.counter += 1
            d.call("track", {"name": name, "properties": {"n": n, **props}})
            ns.append(n)
        return ns

    def sync_all(self, d):
        """sync.now until the outbox is empty."""
        def drained():
            return d.call("sync.now", {"timeout_ms": int(scaled(3000))})["pending"] == 0
        wait_until(drained, scaled(20), message="the outbox to drain")

    def ccs_requests(self):
        return sorted(self.emu.requests(CCS), key=lambda r: r["seq"])

    def wait_for_request(self, predicate, prefix=CCS, message="a request"):
        return wait_until(lambda: next((r for r in self.emu.requests(prefix) if predicate(r)), None),
                          scaled(10), message=message)

    def wait_finished(self, prefix=CCS):
        """Until every logged request has been answered (or abandoned) by the emulator."""
        wait_until(lambda: all("duration_ms" in r for r in self.emu.requests(prefix)), scaled(15),
                   message="the emulator to finish its requests")

    def timed_call(self, d, method, params):
        started = time.monotonic()
        result = d.call(method, params)
        return result, time.monotonic() - started

    def check_delivery(self, expected, dead=(), lost_latency=False):
        """The CCS request log against what was tracked: see the module doc."""
        expected, dead = list(expected), list(dead)
        requests = self.ccs_requests()
        occurrences = defaultdict(list)
        delivered, first_ns = [], []
        for r in requests:
            self.assertTrue(r["body_is_json"], r)
            events = r["body"]["events"]
            self.assertTrue(1 <= len(events) <= 10, f"a batch of {len(events)} events")
            ns = [e["properties"]["n"] for e in events]
            self.assertEqual(ns, sorted(set(ns)), f"batch out of order: {ns}")
            times = [e["time"] for e in events]
            self.assertEqual(times, sorted(times), "batch not in time order")
            kind = classify(r, lost_latency)
            for n in ns:
                occurrences[n].append(kind)
            if kind == "ok":
                delivered += ns
            first_ns.append(ns[0])
        self.assertEqual(sorted(occurrences), sorted(expected + dead), "events sent vs events tracked")
        for n in expected:
            kinds = occurrences[n]
            self.assertEqual(kinds[-1], "ok", f"event {n} never delivered: {kinds}")
            self.assertTrue(all(k == "failed" for k in kinds[:-1]), f"event {n} sent again after {kinds}")
        for n in dead:
            self.assertEqual(occurrences[n], ["dead"], f"dead-lettered event {n} was sent again")
        self.assertEqual(delivered, sorted(expected), "delivered out of order, or twice")
        self.assertEqual(first_ns, sorted(first_ns), "the outbox was not drained in order")
        return requests

    def assert_failed_sync(self, d, *words):
        last = d.call("status")["last_sync"]
        self.assertIs(last["ok"], False, last)
        self.assertIsNotNone(last["at"])
        for w in words:
            self.assertIn(w.lower(), (last["error"] or "").lower(), last)
        return last


class Delivery(SyncCase):
    def test_batches_of_at_most_ten_in_time_order_under_user_id(self):
        d = self.start_daemon()
        self.emu.set_fault("status", code=503, path="ccs")  # the API is down while events pile up
        ns = self.track(d, 25)
        r = d.call("sync.now", {"timeout_ms": int(scaled(3000))})
        self.assertEqual(r["pending"], 25)
        self.emu.set_fault("none", path="ccs")
        self.sync_all(d)
        requests = self.check_delivery(ns)
        ok = [r for r in requests if classify(r) == "ok"]
        self.assertEqual([len(r["body"]["events"]) for r in ok], [10, 10, 5])
        status = d.call("status")
        for r in requests:
            self.assertEqual(r["target"], "/ccs/v1/segmentation?activations=true")
            self.assertEqual(r["body"]["user_id"], status["user_id"])
            self.assertNotIn("aliases", r["body"])
            self.assertEqual(r["headers"]["content-type"], "application/json")
        self.assertEqual(status["queue_depth"], 0)
        self.assertEqual(status["last_sync"]["ok"], True)
        self.assertIsNone(status["last_sync"]["error"])
        self.assertEqual(status["last_sync"]["sent"], 25)

    def test_latency_within_the_deadline_is_just_slow(self):
        d = self.start_daemon()
        delay = API_TIMEOUT_MS // 4
        self.emu.set_fault("latency", delay_ms=delay, path="ccs")
        ns = self.track(d, 12)
        self.sync_all(d)
        requests = self.check_delivery(ns)
        self.assertTrue(all(classify(r) == "ok" for r in requests), "a slow answer was treated as a failure")
        self.assertTrue(all(r["duration_ms"] >= delay for r in requests))
        self.assertIs(d.call("status")["last_sync"]["ok"], True)

    def test_latency_beyond_the_deadline_times_out_and_resends(self):
        d = self.start_daemon()
        self.emu.set_fault("latency", delay_ms=API_TIMEOUT_MS + 1000, path="ccs")
        ns = self.track(d, 3)
        wait_until(lambda: "timeout" in (d.call("status")["last_sync"]["error"] or ""), scaled(10),
                   message="a timeout in status.last_sync.error")
        # While the only copy of the answer is late, the caller is not kept waiting.
        r, took = self.timed_call(d, "sync.now", {"timeout_ms": 200})
        self.assertLess(took, 0.2 + MARGIN_S)
        self.assertGreater(r["pending"], 0)
        self.emu.set_fault("none", path="ccs")
        self.sync_all(d)
        self.wait_finished()
        requests = self.check_delivery(ns, lost_latency=True)
        late = [r for r in requests if r["fault"] == "latency"]
        self.assertTrue(late and all(r["status"] == 200 for r in late))
        # The one allowed duplicate: the emulator took the late batch, the agent never heard.
        twice = {e["properties"]["n"] for r in late for e in r["body"]["events"]}
        self.assertTrue(twice <= set(ns))
        self.assertIs(d.call("status")["last_sync"]["ok"], True)


class Faults(SyncCase):
    def _fault_round(self, d, mode, params, words):
        """The API misbehaves (until cleared), events wait, then all get out."""
        self.emu.set_fault(mode, path="ccs", **params)
        ns = self.track(d, 3)
        r = d.call("sync.now", {"timeout_ms": int(scaled(4 * API_TIMEOUT_MS + 3000))})
        self.assertEqual(r["pending"], 3, f"{mode}: {r}")
        self.assertEqual(r["dead_letters"], 0, f"{mode}: {r}")
        for w in words:
            self.assertIn(w.lower(), r.get("error", "").lower(), f"{mode}: {r}")
        self.assert_failed_sync(d, *words)
        self.emu.set_fault("none", path="ccs")
        self.sync_all(d)
        self.assertIs(d.call("status")["last_sync"]["ok"], True)
        return ns

    def test_5xx_and_408_are_retried_and_lose_nothing(self):
        d = self.start_daemon()
        ns = []
        for code in (500, 502, 503):
            ns += self._fault_round(d, "status", {"code": code}, [f"HTTP {code}"])
        ns += self._fault_round(d, "408", {}, ["HTTP 408"])
        requests = self.check_delivery(ns)
        for status in (500, 502, 503, 408):
            # Refused, and (check_delivery) the same events went again and got through.
            self.assertGreaterEqual(sum(r["status"] == status for r in requests), 1, status)
        self.assertEqual(d.call("status")["dead_letters"], 0)

    def test_reset_hang_truncated_garbage_and_html_lose_nothing(self):
        d = self.start_daemon()
        ns = []
        for mode, words in (("reset", ["network"]), ("hang", ["timeout"]), ("truncated", []),
                            ("garbage", ["malformed"]), ("wrong_content_type", ["malformed"])):
            ns += self._fault_round(d, mode, {}, words)
        requests = self.check_delivery(ns)
        for mode in ("reset", "hang", "truncated", "garbage", "wrong_content_type"):
            self.assertTrue(any(r["fault"] == mode for r in requests), mode)
        self.assertEqual(d.call("status")["dead_letters"], 0)


class DeadLetters(SyncCase):
    def test_400_413_422_are_dead_lettered_counted_and_never_retried(self):
        d = self.start_daemon()
        dead = []
        for code in (400, 413, 422):
            self.emu.set_fault("status", code=code, path="ccs")
            dead += self.track(d, 3)
            r = d.call("sync.now", {"timeout_ms": int(scaled(3000))})
            self.assertEqual(r["pending"], 0, f"HTTP {code} left events queued: {r}")
            self.assert_failed_sync(d, f"HTTP {code}")
            self.emu.set_fault("none", path="ccs")
        ok = self.track(d, 4)
        self.sync_all(d)
        # Nothing dead is sent again, now or on later passes.
        d.call("sync.now", {"timeout_ms": int(scaled(3000))})
        requests = self.check_delivery(ok, dead=dead)
        refused = [r for r in requests if classify(r) == "dead"]
        self.assertGreaterEqual(len(refused), 3)
        status = d.call("status")
        self.assertEqual(status["dead_letters"], len(refused))
        self.assertEqual(status["queue_depth"], 0)
        letters = d.call("dead_letters.get", {"limit": 100})
        self.assertEqual(letters["total"], len(refused))
        self.assertEqual(len(letters["dead_letters"]), len(refused))
        self.assertEqual(sorted(x["http_status"] for x in letters["dead_letters"]),
                         sorted(r["status"] for r in refused))
        self.assertEqual(sum(x["events"] for x in letters["dead_letters"]), len(dead))
        for x in letters["dead_letters"]:
            self.assertTrue(x["error"])
            self.assertTrue(x["at"])
        self.assertEqual(d.call("sync.now", {"timeout_ms": 1000})["dead_letters"], len(refused))


class RetryAfter(SyncCase):
    def _retry_after_round(self, d, mode, params, seconds):
        self.emu.set_fault(mode, path="ccs", count=1, **params)
        ns = self.track(d, 3)
        refused = self.wait_for_request(lambda r: r["fault"] == mode and r["status"] is not None,
                                        message=f"the {mode} answer")
        before = len(self.emu.requests(CCS))
        # An explicit sync.now skips the agent's own back-off, never the server's Retry-After.
        for _ in range(3):
            r = d.call("sync.now", {"timeout_ms": 300})
            self.assertEqual(r["pending"], 3, r)
        if time.time() - refused["time"] < seconds - 0.3:
            self.assertEqual(len(self.emu.requests(CCS)), before, "retried before Retry-After")
        self.sync_all(d)
        requests = self.ccs_requests()
        retry = next(r for r in requests if r["seq"] > refused["seq"])
        gap = retry["time"] - refused["time"]
        self.assertGreaterEqual(gap, seconds - 0.01, f"retried {gap:.3f}s after Retry-After: {seconds}")
        self.assertLess(gap, seconds + scaled(2), "Retry-After was not followed by a prompt retry")
        return ns

    def test_429_and_503_retry_after_are_honoured_even_by_sync_now(self):
        d = self.start_daemon()
        ns = self._retry_after_round(d, "429", {"retry_after": 2}, 2)
        ns += self._retry_after_round(d, "status", {"code": 503, "retry_after": 1}, 1)
        self.check_delivery(ns)


class Backoff(SyncCase):
    def test_no_hot_loop_and_waits_within_doubling_caps_while_down(self):
        # A 1 s base (the default is 15 s, for fleets): the doubling is the same,
        # and a few attempts fit in seconds.
        d = self.start_daemon({"sync": {"retry_base_ms": 1000}})
        self.emu.set_fault("status", code=503, path="ccs")
        ns = self.track(d, 1)
        first = self.wait_for_request(lambda r: True, message="the first attempt")
        window = 6.5
        slack = scaled(0.3)
        # Events keep arriving and ad breaks keep asking while the API is down.
        while time.time() < first["time"] + window + slack:
            ns += self.track(d, 1)
            r, took = self.timed_call(d, "activations.get", {"timeout_ms": 100})
            self.assertLess(took, 0.1 + MARGIN_S)
            time.sleep(0.25)
        self.assertTrue(r["stale"], "activations served as fresh while the API is down")
        attempts = [r for r in self.ccs_requests() if r["time"] <= first["time"] + window]
        times = [r["time"] for r in attempts]
        gaps = [b - a for a, b in zip(times, times[1:])]
        # Full jitter: attempt k waits U(0, 2^k s). So by 2 + 4 s there were two
        # retries at least, and a hot loop (or a fixed short delay) would be dozens.
        self.assertGreaterEqual(len(attempts), 3, f"gaps {gaps}")
        self.assertLessEqual(len(attempts), 10, f"hot loop: {len(attempts)} requests in {window}s, gaps {gaps}")
        for k, gap in enumerate(gaps, start=1):
            self.assertLessEqual(gap, 2 ** k + slack, f"attempt {k} waited {gap:.2f}s: gaps {gaps}")
        self.assert_failed_sync(d, "HTTP 503")
        self.emu.set_fault("none", path="ccs")
        self.sync_all(d)
        self.check_delivery(ns)


class Deadlines(SyncCase):
    def test_hang_activations_within_budget_sigterm_prompt_nothing_lost(self):
        # A long api.timeout_ms so that the hung request is still in flight for everything below.
        d = self.start_daemon({"api": {"timeout_ms": 60000}})
        ns = self.track(d, 1, name="Videoview", categories=["football"])
        self.sync_all(d)
        warm = d.call("activations.get", {"timeout_ms": int(scaled(3000)), "url": "https://example.com/sport/1"})
        self.assertFalse(warm["stale"], warm)
        self.assertIn("12345", warm["activations"].get("dfp", []))

        self.emu.set_fault("hang", path="all")
        ns += self.track(d, 1)
        self.wait_for_request(lambda r: r["fault"] == "hang", message="the hung request")
        for budget_ms in (0, 50, 200):
            r, took = self.timed_call(d, "activations.get",
                                      {"timeout_ms": budget_ms, "url": "https://example.com/news/2"})
            self.assertLess(took, budget_ms / 1000 + MARGIN_S, f"timeout_ms {budget_ms}: took {took:.3f}s")
            self.assertTrue(r["stale"], r)
            # The freshest valid cache is still served: the CCS answer from before.
            self.assertIn("12345", r["activations"].get("dfp", []), r)
        r, took = self.timed_call(d, "sync.now", {"timeout_ms": 300})
        self.assertLess(took, 0.3 + MARGIN_S)
        self.assertEqual(r["pending"], 1)

        started = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        took = time.monotonic() - started
        self.assertLess(took, 2.0 * max(1.0, TIME_SCALE / 4), f"SIGTERM during a hang took {took:.2f}s")

        # The abandoned batch is still queued after the restart (the API stays down so it cannot leave).
        self.emu.set_fault("none")
        self.emu.set_fault("status", code=503, path="ccs")
        d.start()
        self.assertEqual(d.call("status")["queue_depth"], 1, "the abandoned batch left the outbox")
        self.emu.set_fault("none")
        self.sync_all(d)
        self.check_delivery(ns)

    def test_slow_contextual_answer_is_stale_then_cached(self):
        d = self.start_daemon({"api": {"timeout_ms": int(scaled(3000))}})
        self.emu.set_fault("latency", delay_ms=1000, path="ctx", count=1)
        url = "https://example.com/sport/live"
        props = {"video": {"title": "Cup final", "keywords": ["football"]}}
        r, took = self.timed_call(d, "activations.get", {"timeout_ms": 100, "url": url, "page_properties": props})
        self.assertLess(took, 0.1 + MARGIN_S)
        self.assertTrue(r["stale"])
        self.assertEqual(r["contextual"], {})
        self.wait_finished(CTX)
        # The late answer was kept: served fresh, without asking again.
        r, took = self.timed_call(d, "activations.get", {"timeout_ms": 100, "url": url})
        self.assertFalse(r["stale"], r)
        self.assertEqual(r["contextual"], {"freewheel": ["99999"]})
        self.assertIn("99999", r["activations"]["freewheel"])
        ctx = self.emu.requests(CTX)
        self.assertEqual(len(ctx), 1)
        self.assertEqual(ctx[0]["body"], {"url": url, "page_properties": props})
        self.assertEqual(self.emu.requests(CCS), [])


class Caches(SyncCase):
    def test_short_ttls_expire_and_an_expired_entry_is_never_served(self):
        ttl = 2
        d = self.start_daemon({"cache": {"behavioral_ttl_s": ttl, "contextual_ttl_s": ttl}})
        url = "https://example.com/sport/ttl"
        self.track(d, 1, name="Videoview", categories=["football"])
        before = time.monotonic()
        self.sync_all(d)
        r = d.call("activations.get", {"timeout_ms": int(scaled(3000)), "url": url})
        stored = time.monotonic()
        self.assertFalse(r["stale"], r)
        self.assertEqual(r["contextual"], {"freewheel": ["99999"]})
        self.assertIn("12345", r["activations"]["dfp"])
        c = d.call("cohorts.get")
        self.assertTrue(c["cached"])
        self.assertEqual(c["remote"], ["12345"])
        # Nothing can be refreshed from now on.
        self.emu.set_fault("status", code=503, path="all")

        wait_until(lambda: not d.call("cohorts.get")["cached"], ttl + scaled(3), interval=0.02,
                   message="the behavioral cache to expire")
        expired = time.monotonic()
        self.assertGreaterEqual(expired - before, ttl - 0.05, "expired before its TTL")
        self.assertLess(expired - stored, ttl + scaled(1), "served after its TTL")
        self.assertEqual(d.call("cohorts.get")["remote"], [])
        # The contextual entry was stored a little later: wait out its TTL too.
        wait_until(lambda: time.monotonic() > stored + ttl, ttl + 1, message="the contextual TTL")
        r, took = self.timed_call(d, "activations.get", {"timeout_ms": int(scaled(1000)), "url": url})
        self.assertLess(took, scaled(1) + MARGIN_S)
        self.assertTrue(r["stale"])
        self.assertEqual(r["contextual"], {})
        self.assertNotIn("12345", r["activations"].get("dfp", []))
        self.assertNotIn("99999", r["activations"].get("freewheel", []))
        ctx = self.emu.requests(CTX)
        self.assertEqual(len(ctx), 2, "the expired contextual entry was not asked for again")
        self.assertEqual(ctx[1]["status"], 503)


class Consent(SyncCase):
    def test_no_consent_no_ccs_but_contextual_and_withdrawal_purges_the_queue(self):
        d = self.start_daemon({"consent": {"required": True}})
        self.assertFalse(d.call("status")["consent"])
        self.track(d, 5, name="Videoview", categories=["football"])
        r = d.call("sync.now", {"timeout_ms": int(scaled(2000))})
        self.assertEqual((r["sent"], r["pending"]), (0, 0))
        r = d.call("activations.get", {"timeout_ms": int(scaled(3000)), "url": "https://example.com/sport/x"})
        self.assertEqual(r["contextual"], {"freewheel": ["99999"]})
        self.assertEqual(self.emu.requests(CCS), [], "CCS called without consent")
        ctx = self.emu.requests(CTX)
        self.assertEqual(len(ctx), 1)
        self.assertEqual(set(ctx[0]["body"]), {"url", "page_properties"})

        self.assertTrue(d.call("consent.set", {"granted": True})["consent"])
        granted = self.track(d, 3, name="Videoview", categories=["football"])
        self.sync_all(d)
        self.check_delivery(granted)
        self.assertTrue(d.call("cohorts.get")["cached"])

        self.emu.set_fault("status", code=503, path="ccs")
        self.track(d, 4)
        self.assertEqual(d.call("sync.now", {"timeout_ms": int(scaled(2000))})["pending"], 4)
        d.call("consent.set", {"granted": False})
        self.assertEqual(d.call("status")["queue_depth"], 0)
        self.wait_finished()  # a retry may have been on its way (it is answered 503)
        attempts = len(self.emu.requests(CCS))
        self.emu.set_fault("none", path="ccs")
        r = d.call("sync.now", {"timeout_ms": int(scaled(2000))})
        self.assertEqual((r["sent"], r["pending"]), (0, 0))
        d.call("consent.set", {"granted": True})
        r = d.call("sync.now", {"timeout_ms": int(scaled(2000))})
        self.assertEqual((r["sent"], r["pending"]), (0, 0))
        self.assertEqual(len(self.emu.requests(CCS)), attempts, "the withdrawn queue was sent")
        self.assertFalse(d.call("cohorts.get")["cached"], "the behavioral cache survived withdrawal")
        # Only the events sent with consent were ever delivered.
        delivered = [e["properties"]["n"] for r in self.ccs_requests() if classify(r) == "ok"
                     for e in r["body"]["events"]]
        self.assertEqual(delivered, granted)

    # Withdrawing consent while a CCS request is in flight: the answer must
    # neither touch the (purged) queue nor come back as a cache.
    def test_withdrawal_while_a_batch_is_in_flight(self):
        d = self.start_daemon({"consent": {"required": True}, "api": {"timeout_ms": int(scaled(5000))}})
        d.call("consent.set", {"granted": True})
        self.emu.set_fault("latency", delay_ms=1500, path="ccs", count=1)
        self.track(d, 1, name="Videoview", categories=["football"])
        self.wait_for_request(lambda r: True, message="the in-flight batch")
        d.call("consent.set", {"granted": False})
        self.wait_finished()
        wait_until(lambda: d.call("status")["last_sync"]["at"] is not None, scaled(10),
                   message="the agent to read the answer")
        problems = []
        depth = d.call("status")["queue_depth"]
        if depth != 0:
            problems.append(f"queue_depth {depth} after withdrawal")
        d.call("consent.set", {"granted": True})
        c = d.call("cohorts.get")
        if c["cached"] or c["remote"]:
            problems.append(f"behavioral answer from before the withdrawal served: {c}")
        after = self.track(d, 1)
        r = d.call("sync.now", {"timeout_ms": int(scaled(2000))})
        sent = [e["properties"]["n"] for q in self.ccs_requests() for e in q["body"]["events"]]
        if after[0] not in sent:
            problems.append(f"event tracked after re-granting never sent (sync.now said {r})")
        self.assertEqual(problems, [])


class Identity(SyncCase):
    def test_aliases_replace_user_id_and_the_server_user_id_is_adopted(self):
        d = self.start_daemon()
        email = " Jane.Doe@Example.com "
        d.call("identity.set_aliases", {"aliases": [
            {"tag": "internal_id", "id": "subscriber-42", "priority": 0},
            {"tag": "email_sha256", "id": email, "priority": 1, "hash": "sha256"}]})
        aliases = [{"tag": "internal_id", "id": "subscriber-42", "priority": 0},
                   {"tag": "email_sha256", "id": hashlib.sha256(b"jane.doe@example.com").hexdigest(), "priority": 1}]
        old = d.call("identity.get")["user_id"]
        ns = self.track(d, 2)
        self.sync_all(d)
        requests = self.check_delivery(ns)
        for r in requests:
            self.assertNotIn("user_id", r["body"])
            self.assertEqual(sorted(({k: a[k] for k in ("tag", "id", "priority")} for a in r["body"]["aliases"]),
                                    key=lambda a: a["priority"]), aliases)
            self.assertNotIn("example.com", json.dumps(r["body"]).lower(), "a raw e-mail address was sent")
        adopted = d.call("identity.get")["user_id"]
        self.assertNotEqual(adopted, old)
        self.assertTrue(is_uuid(adopted), adopted)
        # The id is the one the emulator resolves these aliases to.
        body = json.dumps({"aliases": aliases, "events": [
            {"name": "Probe", "time": "2024-01-15T14:00:00Z", "properties": {}}]}).encode()
        req = urllib.request.Request(self.emu.url + "/ccs/v1/segmentation", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Api-Key": API_KEY})
        with urllib.request.urlopen(req, timeout=10) as answer:
            self.assertEqual(json.load(answer)["user_id"], adopted)
        self.assertEqual(d.call("status")["user_id"], adopted)
        d.restart()
        self.assertEqual(d.call("identity.get")["user_id"], adopted, "the adopted id did not persist")

    def test_stateless_mode_round_trips_state(self):
        d = self.start_daemon({"api": {"mode": "stateless"}})
        ns = self.track(d, 1, name="Videoview", categories=["football"])
        self.sync_all(d)
        ns += self.track(d, 1, name="Videoview", categories=["football"])
        self.sync_all(d)
        requests = self.check_delivery(ns)
        self.assertEqual(len(requests), 2)
        for r in requests:
            self.assertEqual(r["target"], "/ccs/v1/segmentation/stateless?activations=true")
            self.assertEqual(r["status"], 200)
        first, second = (r["body"] for r in requests)
        self.assertNotIn("state", first)
        self.assertIn("state", second)
        # The state sent back is exactly what the first answer carried: replay it.
        req = urllib.request.Request(self.emu.url + "/ccs/v1/segmentation/stateless",
                                     data=json.dumps(first).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Api-Key": API_KEY})
        with urllib.request.urlopen(req, timeout=10) as answer:
            self.assertEqual(second["state"], json.load(answer)["state"])
        self.assertIn("12345", second["state"]["internal_state"])
        self.assertIn("12345", d.call("cohorts.get")["remote"])

    # The stateless user state is the user's server-side profile: it outlives
    # the activation cache's TTL (a box left off for a month).
    def test_stateless_state_outlives_the_activation_cache_ttl(self):
        ttl = 1
        d = self.start_daemon({"api": {"mode": "stateless"}, "cache": {"behavioral_ttl_s": ttl}})
        ns = self.track(d, 1, name="VideoCompletion")   # rule 67890: two VideoCompletion events
        self.sync_all(d)
        wait_until(lambda: not d.call("cohorts.get")["cached"], ttl + scaled(3), interval=0.02,
                   message="the behavioral cache to expire")
        ns += self.track(d, 1, name="VideoCompletion")
        self.sync_all(d)
        requests = self.check_delivery(ns)
        self.assertIn("state", requests[-1]["body"], "the user's stateless state was dropped with the cache")
        self.assertIn("67890", d.call("cohorts.get")["remote"])


class Tls(unittest.TestCase):
    """The emulator over HTTPS with a throwaway CA: verification is always on."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="cohort-tls-")
        cls.pki = make_test_ca(os.path.join(cls.tmp.name, "good"))
        cls.wrong_name = make_test_ca(os.path.join(cls.tmp.name, "wrong"), hosts=["wrong.example"], ips=[])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _sync_against(self, pki, ca_file):
        with Emulator(api_key=API_KEY, tls=(pki["server_cert"], pki["server_key"])) as emu:
            self.assertTrue(emu.url.startswith("https://"))
            config = {"consent": {"required": False}, "api": {"key": API_KEY, "timeout_ms": API_TIMEOUT_MS}}
            if ca_file:
                config["api"]["ca_file"] = ca_file
            d = Daemon(config=config, emulator=emu)
            try:
                d.start()
                d.call("track", {"name": "Tick", "properties": {"n": 0}})
                r = d.call("sync.now", {"timeout_ms": int(scaled(3000))})
                last = d.call("status")["last_sync"]
                requests = emu.requests(CCS)
                self.assertFalse(any(q["key_in_url"] for q in requests))
                return r, last, requests
            finally:
                d.cleanup()

    def test_untrusted_certificate_fails_verification(self):
        r, last, requests = self._sync_against(self.pki, None)
        self.assertEqual(r["pending"], 1)
        self.assertIs(last["ok"], False)
        self.assertIn("certificate", last["error"].lower(), last)
        self.assertEqual(requests, [], "an HTTP request went over an unverified connection")

    def test_ca_file_makes_it_trusted(self):
        r, last, requests = self._sync_against(self.pki, self.pki["ca_cert"])
        self.assertEqual(r["pending"], 0, (r, last))
        self.assertIs(last["ok"], True, last)
        self.assertEqual(len(requests), 1)
        self.assertEqual(requests[0]["status"], 200)
        self.assertEqual(requests[0]["headers"]["x-api-key"], API_KEY)

    def test_hostname_is_verified_even_with_the_ca(self):
        r, last, requests = self._sync_against(self.wrong_name, self.wrong_name["ca_cert"])
        self.assertEqual(r["pending"], 1)
        self.assertIs(last["ok"], False)
        self.assertEqual(requests, [])


if __name__ == "__main__":
    unittest.main()
