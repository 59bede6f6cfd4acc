"""Cohort definitions from a URL, signed, never worse than the last good set
(cohorts.definitions_url, cohorts.public_keys, cohorts.refresh_s): the real
cohortd against the API emulator's signed document (tests/emulator).

* fetched after start with the API key, put in force with look-back over the
  device's history, kept with its signature and used at the next start
  without any network;
* the same document again costs a 304 (If-None-Match);
* every refusal (a bad signature, a key the device does not have, an older
  version, the same version with other bytes, over 4 MiB, a truncated or
  invalid document, invalid rules, a failing, slow or looping server) is named
  in status.definitions_set.error and the set in force stays;
* callers never wait on a fetch.
"""

import os
import time
import unittest

from harness import scaled, wait_until
from test_sync import SyncCase

HERE = os.path.dirname(os.path.abspath(__file__))
PUBLIC_KEY = os.path.normpath(os.path.join(HERE, "..", "..", "samples", "definitions", "keys", "demo-pub.pem"))
DEFS = "/definitions/"

# Each content fault of the emulator, and the words its refusal must have.
# Served in place of the document in force (version 1):
REFUSALS = {
    "older_version": "version 0 is older than version 1 in force",
    "same_version": "version 1 already in force with other content",
    "oversize": "over 4194304 bytes",
    "signed_truncated": "not valid JSON",
    "invalid_json": "not valid JSON",
    "invalid_rules": "cohort",
}
# Served with a new document (version 2): the document itself is unchanged
# for these, and a device that has it rightly gets a 304 and keeps it.
SIGNATURE_REFUSALS = {
    "bad_signature": "does not verify",
    "wrong_key": "does not verify",
}


class DefinitionsUrl(SyncCase):

    def start(self, **cohorts):
        config = {"cohorts": {"definitions_url": self.emu.definitions_url, "public_keys": [PUBLIC_KEY],
                              **cohorts}}
        return self.start_daemon(config)

    @staticmethod
    def set_of(d):
        return d.call("status")["definitions_set"]

    def wait_version(self, d, version):
        wait_until(lambda: self.set_of(d)["version"] == version, scaled(10),
                   message=f"definitions version {version} in force")

    def reload(self, d):
        """definitions.reload: a fetch now; the answer does not wait for it."""
        before = len(self.emu.requests(path_prefix=DEFS))
        r = d.call("definitions.reload")
        self.assertIs(r["fetching"], True, r)
        wait_until(lambda: len(self.emu.requests(path_prefix=DEFS)) >= before + 2, scaled(10),
                   message="the document and its signature fetched")
        # The verdict follows the answers; status says when it is in.
        wait_until(lambda: self.set_of(d)["fetched_at"] is not None and self.fetches(d) > self.seen, scaled(10),
                   message="the fetch settled")
        self.seen = self.fetches(d)

    def fetches(self, d):
        return d.call("status")["definitions_set"]["fetches"]

    def setUp(self):
        super().setUp()
        self.seen = 0

    def test_fetched_kept_and_used_at_the_next_start_without_network(self):
        d = self.start()
        self.wait_version(d, 1)
        s = self.set_of(d)
        self.assertEqual((s["count"], s["source"], s["error"], s["url"]), (5, "url", None, self.emu.definitions_url))
        self.assertEqual(d.call("status")["definitions"], 5)
        got = self.emu.requests(path_prefix=DEFS)
        self.assertEqual(sorted(r["path"] for r in got[:2]), [DEFS + "v1/cohorts.json", DEFS + "v1/cohorts.json.sig"])
        self.seen = self.fetches(d)
        d.stop()
        # The next start, the network gone: the stored set, verified again, at once.
        self.emu.set_fault("status", code=503, path="defs", count=1000)
        d.start()
        s = self.set_of(d)
        self.assertEqual((s["count"], s["version"], s["source"]), (5, 1, "url"), s)
        ids = sorted(c["id"] for c in d.call("definitions.get")["cohorts"])
        self.assertEqual(ids, ["1001", "1002", "1003", "1004", "1005"])

    def test_the_same_document_costs_a_304(self):
        d = self.start()
        self.wait_version(d, 1)
        self.seen = self.fetches(d)
        self.reload(d)
        doc = [r for r in self.emu.requests(path_prefix=DEFS) if r["path"].endswith(".json")]
        self.assertEqual(doc[-1]["status"], 304, doc[-1])
        self.assertTrue(doc[-1]["headers"].get("if-none-match"), doc[-1])
        s = self.set_of(d)
        self.assertEqual((s["version"], s["error"]), (1, None), s)

    def test_a_newer_version_is_taken_with_look_back(self):
        d = self.start()
        self.wait_version(d, 1)
        self.seen = self.fetches(d)
        for _ in range(3):
            d.call("track", {"name": "SearchPerformed", "properties": {"query": "cup final"}})
        doc = {"version": 2, "cohorts": [{"id": "2001", "name": "Searchers", "rule": {"logic": "AND", "conditions": [
            {"type": "event", "event_type": "SearchPerformed", "operator": "gte", "value": 3, "window_days": 1}]}}]}
        self.emu.publish_definitions(doc)
        self.reload(d)
        s = self.set_of(d)
        self.assertEqual((s["version"], s["count"], s["error"]), (2, 1, None), s)
        # Look-back: the history already puts this device in the new cohort.
        self.assertIn("2001", d.call("cohorts.get")["local"])

    def refused(self, d, words, version=1, count=5):
        self.reload(d)
        s = self.set_of(d)
        self.assertIsNotNone(s["error"], s)
        self.assertIn(words, s["error"])
        self.assertEqual((s["version"], s["count"]), (version, count), s)

    def test_every_refusal_is_named_and_the_set_stays(self):
        d = self.start()
        self.wait_version(d, 1)
        self.seen = self.fetches(d)
        for mode, words in REFUSALS.items():
            with self.subTest(mode=mode):
                self.emu.set_fault(mode, path="defs")
                try:
                    self.refused(d, words)
                finally:
                    self.emu.set_fault("none", path="defs")
        # A server that fails, on the document or its signature (both go at
        # once), while it publishes a new one (an unchanged document is a 304:
        # its signature is not needed then).
        for i, (fault, words) in enumerate((({"mode": "status", "code": 500}, "HTTP 500"),
                                            ({"mode": "redirect_loop"}, "HTTP 302"),
                                            ({"mode": "garbage"}, ""),
                                            ({"mode": "truncated"}, ""))):
            with self.subTest(fault=fault):
                self.emu.publish_definitions({"version": 10 + i, "cohorts": []})
                self.emu.set_fault(path="defs", count=1, **fault)
                self.refused(d, words)
        # A new document whose signature is wrong.
        v2 = {"version": 2, "cohorts": []}
        for mode, words in SIGNATURE_REFUSALS.items():
            with self.subTest(mode=mode):
                self.emu.set_fault(mode, path="defs")
                try:
                    self.emu.publish_definitions(v2)
                    self.refused(d, words)
                finally:
                    self.emu.set_fault("none", path="defs")
        # A good answer again: taken, and the error clears.
        self.reload(d)
        s = self.set_of(d)
        self.assertEqual((s["version"], s["count"], s["error"]), (2, 0, None), s)

    def test_callers_never_wait_on_a_fetch(self):
        d = self.start()
        self.wait_version(d, 1)
        self.seen = self.fetches(d)
        stall = scaled(6)
        self.emu.publish_definitions({"version": 2, "cohorts": []})  # not a 304: the document is sent
        self.emu.set_fault("stall", path="defs", max_s=stall, count=2)
        t0 = time.monotonic()
        d.call("definitions.reload")
        # While the document trickles in: calls are answered, events kept.
        for i in range(20):
            d.call("track", {"name": "Tick", "properties": {"n": i}})
            self.assertEqual(self.set_of(d)["version"], 1)
        answered = time.monotonic() - t0
        self.assertEqual(self.fetches(d), self.seen, "the fetch was over before the calls")
        self.assertLess(answered, stall / 2, "calls waited on the stalled fetch")
        # The stalled fetch ends in an error; the set stays.
        wait_until(lambda: self.fetches(d) > self.seen, scaled(60), message="the stalled fetch to end")
        s = self.set_of(d)
        self.assertEqual((s["version"], s["count"]), (1, 5), s)
        self.assertIsNotNone(s["error"], s)

if __name__ == "__main__":
    unittest.main()
