"""The real cohortd against the API emulator, read as the documents read:

* a wrong or revoked key (401, 403) or a wrong URL (404, 405) loses nothing:
  the queue is kept, status says why, and SIGHUP (the key file, the config
  file) or config.reload (cohortctl reload) resumes it at once;
* only a batch the API calls bad (400, 413, 422) is dead-lettered, with the
  API's own error: the workspace schema's errors under
  api.synchronous_validation, shown by cohortctl dead-letters;
* the key in the query (api.key_in "query"), and nowhere else;
* stateless mode asks for activations; an answer without them is named;
* play and completion events pass the workspace schema the guide gives
  (duration_seconds and time_spent_seconds whole seconds);
* SegmentEntry / SegmentExit stay on the device;
* the CCS and Contextual calls of a view go out together, the Contextual
  one with the configured client section and nothing about the user;
* events queued before identity.reset leave under the identity they had.

Every CCS body here is also validated against the OpenAPI schema when the
emulator stops (tests/conformance).
"""

import json
import os
import signal
import unittest

from harness import Daemon, deep_merge, run_ctl, scaled, wait_until
from test_sync import API_KEY, API_TIMEOUT_MS, CCS, CTX, SyncCase


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class ConfigFaults(SyncCase):
    """401/403/404/405 are faults of the configuration, not of the batch."""

    wrong_keys = True

    def assert_kept(self, d, error, status, pending):
        r = d.call("sync.now", {"timeout_ms": int(scaled(3000))})
        self.assertEqual(r["pending"], pending, r)
        self.assertEqual(r["dead_letters"], 0, r)
        last = d.call("status")["last_sync"]
        self.assertIs(last["ok"], False, last)
        self.assertEqual(last["error"], error, last)
        self.assertEqual(last["http_status"], status, last)
        self.assertIn("events stay queued", last["detail"], last)

    def wait_drained(self, d):
        """The queue empties on its own: no sync.now, no waiting for a back-off."""
        wait_until(lambda: d.call("status")["queue_depth"] == 0, scaled(10), message="the queue to leave")

    def test_a_rotated_key_file_and_sighup_resume_a_403(self):
        key_file = os.path.join(self.make_tmp(), "api.key")
        write(key_file, "sk-revoked\n")
        d = self.start_daemon({"api": {"key_file": key_file}})
        ns = self.track(d, 5)
        self.assert_kept(d, "forbidden", 403, 5)
        ns += self.track(d, 2)  # events keep coming while the key is wrong
        write(key_file, API_KEY + "\n")
        d.process.send_signal(signal.SIGHUP)
        self.wait_drained(d)
        self.wait_finished()
        self.check_delivery(ns)
        self.assertEqual(d.call("status")["dead_letters"], 0)
        self.assertNotIn("sk-revoked", d.stderr_text())
        self.assertIn("config.reload", d.stderr_text())

    def test_a_key_file_provisioned_after_the_first_start(self):
        key_file = os.path.join(self.make_tmp(), "api-key")
        d = self.start_daemon({"api": {"key_file": key_file}})
        self.assertEqual(d.call("status")["api_key"], "missing")
        ns = self.track(d, 4)
        v = d.call("view.start", {"type": "video", "url": "https://example.com/sport/1"})
        d.call("view.end", {"view_id": v["view_id"]})
        r = d.call("sync.now", {"timeout_ms": int(scaled(2000))})
        self.assertIn("does not exist yet", r["error"])
        self.assertEqual(self.emu.requests(), [], "sent without a key")
        self.assertIn("does not exist yet", d.stderr_text())
        write(key_file, API_KEY + "\n")
        d.process.send_signal(signal.SIGHUP)
        self.wait_drained(d)
        self.wait_finished()
        self.assertEqual(d.call("status")["api_key"], "set")
        delivered = [e["properties"]["n"] for r in self.ccs_requests() if r["status"] == 200
                     for e in r["body"]["events"] if e["name"] == "Tick"]
        self.assertEqual(delivered, ns)

    def test_no_key_401_then_cohortctl_reload_with_the_key(self):
        d = self.start_daemon({"api": {"key": ""}})
        ns = self.track(d, 3)
        self.assert_kept(d, "unauthorized", 401, 3)
        config = deep_merge(d.config, {"api": {"key": API_KEY}})
        path = os.path.join(self.make_tmp(), "new.json")
        write(path, json.dumps(config))
        run = run_ctl("reload", path, socket_path=d.socket_path)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("changed: api.key", run.stdout)
        self.wait_drained(d)
        self.wait_finished()
        self.check_delivery(ns)

    def test_a_wrong_url_404_then_a_corrected_config_file(self):
        d = self.start_daemon({"api": {"ccs_url": self.emu.url + "/typo"}})
        ns = self.track(d, 4)
        self.assert_kept(d, "not_found", 404, 4)
        d.config["api"]["ccs_url"] = self.emu.url
        d.write_config()
        d.process.send_signal(signal.SIGHUP)
        self.wait_drained(d)
        self.wait_finished()
        ok = [r for r in self.ccs_requests() if r["status"] == 200]
        self.assertEqual([e["properties"]["n"] for r in ok for e in r["body"]["events"]], ns)

    def test_405_is_kept_and_retried(self):
        d = self.start_daemon()
        self.emu.set_fault("405", path="ccs")  # a proxy that refuses POST, until fixed
        ns = self.track(d, 3)
        self.assert_kept(d, "method_not_allowed", 405, 3)
        self.emu.set_fault("none", path="ccs")
        self.sync_all(d)  # sync.now skips our own back-off
        self.wait_finished()
        self.check_delivery(ns)
        self.assertEqual(d.call("status")["dead_letters"], 0)

    def make_tmp(self):
        import tempfile
        tmp = tempfile.TemporaryDirectory(prefix="cohort-wire-")
        self.addCleanup(tmp.cleanup)
        return tmp.name


class SchemaErrors(SyncCase):
    """The emulator models the workspace schema of the guide's video/audio events."""

    def test_view_events_pass_the_workspace_schema(self):
        d = self.start_daemon({"api": {"synchronous_validation": True}})
        self.assertIn("for testing only", d.stderr_text())
        v = d.call("view.start", {"type": "video", "duration_s": 600.4,
                                  "properties": {"video_id": "vid_456", "title": "Highlights",
                                                 "categories": ["sports", "football"], "subtitle": ""}})
        d.call("view.progress", {"view_id": v["view_id"], "position_s": 450})
        d.call("track", {"name": "AdBreak", "view_id": v["view_id"], "properties": {"slot": "mid"}})
        end = d.call("view.end", {"view_id": v["view_id"], "position_s": 450})
        self.assertIsInstance(end["time_spent_seconds"], int)
        self.sync_all(d)
        self.wait_finished()
        events = {}
        for r in self.ccs_requests():
            self.assertEqual(r["status"], 200, r)
            self.assertEqual(r["ignored_events"], [], r)
            self.assertIn("synchronous-validation=true", r["target"])
            for e in r["body"]["events"]:
                events[e["name"]] = e
        play, done = events["Videoview"], events["VideoCompletion"]
        self.assertEqual(play["properties"]["duration_seconds"], 600)
        self.assertNotIn("subtitle", play["properties"])  # empty: omitted
        self.assertEqual(done["properties"]["duration_seconds"], 600)
        self.assertIsInstance(done["properties"]["time_spent_seconds"], int)
        self.assertTrue(0 <= done["properties"]["percentage_watched"] <= 1)
        self.assertEqual(events["AdBreak"]["view_id"], play["view_id"])
        self.assertEqual(d.call("status")["dead_letters"], 0)

    def test_schema_errors_are_dead_lettered_with_the_cause(self):
        bad = {"name": "VideoCompletion", "properties": {"video_id": "v", "time_spent_seconds": 12.5}}
        d = self.start_daemon({"api": {"synchronous_validation": True}})
        d.call("track", bad)
        d.call("sync.now", {"timeout_ms": int(scaled(3000))})
        letters = d.call("dead_letters.get")["dead_letters"]
        self.assertEqual(len(letters), 1, letters)
        self.assertEqual(letters[0]["http_status"], 400)
        self.assertEqual(letters[0]["message"], "event schema validation failed")
        self.assertIn("time_spent_seconds", letters[0]["cause"])
        run = run_ctl("dead-letters", socket_path=d.socket_path)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("time_spent_seconds", run.stdout)
        self.assertIn("400", run.stdout)

    def test_without_synchronous_validation_the_api_ignores_them_silently(self):
        d = self.start_daemon()
        d.call("track", {"name": "VideoCompletion", "properties": {"video_id": "v", "time_spent_seconds": 12.5}})
        self.sync_all(d)
        self.wait_finished()
        (r,) = self.ccs_requests()
        self.assertEqual(r["status"], 200)
        self.assertEqual(len(r["ignored_events"]), 1, r)
        self.assertNotIn("synchronous-validation", r["target"])


class KeyInQuery(SyncCase):
    key_in = "query"  # SyncCase.tearDown checks every request: ?k=, no header

    def test_the_key_travels_as_k(self):
        d = self.start_daemon()
        ns = self.track(d, 3)
        d.call("activations.get", {"timeout_ms": int(scaled(3000)), "url": "https://example.com/sport/1"})
        self.sync_all(d)
        self.wait_finished()
        self.wait_finished(CTX)
        self.check_delivery(ns)
        for r in self.emu.requests(CCS) + self.emu.requests(CTX):
            self.assertEqual(r["key_in"], "query", r["target"])
            self.assertEqual(r["status"], 200, r)
        config = json.dumps(d.call("config.get"))
        self.assertNotIn(API_KEY, config)


class Activations(SyncCase):
    def test_stateless_mode_gets_behavioral_activations(self):
        d = self.start_daemon({"api": {"mode": "stateless"}})
        self.track(d, 1, name="Videoview", categories=["football"])
        self.sync_all(d)
        a = d.call("activations.get", {"timeout_ms": 0})
        self.assertIn("12345", a["activations"].get("dfp", []), a)
        self.assertEqual(a["missing"], [], a)
        # A server that ignores activations=true: the gap is named.
        self.emu.set_options(omit_activations=True)
        self.track(d, 1, name="Videoview", categories=["football"])
        self.sync_all(d)
        a = d.call("activations.get", {"timeout_ms": 0})
        self.assertEqual(a["missing"], ["behavioral"], a)
        self.assertIn("12345", d.call("cohorts.get")["remote"])
        for r in self.ccs_requests():
            self.assertEqual(r["target"], "/ccs/v1/segmentation/stateless?activations=true")


class OnTheDevice(SyncCase):
    def test_segment_events_are_not_sent(self):
        d = self.start_daemon()
        d.call("definitions.put", {"cohorts": [{"id": "501", "name": "Viewers", "rule": {
            "logic": "AND", "conditions": [{"type": "event", "event_type": "Videoview"}]}}]})
        self.emu.set_fault("status", code=503, path="ccs")  # down: the queue stays as tracked
        ns = self.track(d, 2, name="Videoview")
        self.assertEqual(len(d.history(name="SegmentEntry")), 1)
        self.assertEqual(d.call("status")["queue_depth"], 2)  # the segment event is not queued
        self.emu.set_fault("none", path="ccs")
        self.sync_all(d)
        self.wait_finished()
        self.check_delivery(ns)

    def test_queued_events_keep_their_identity_across_reset(self):
        d = self.start_daemon()
        d.call("identity.set_aliases", {"aliases": [{"tag": "tifa", "id": "tifa-household-1"}]})
        first = d.call("identity.get")["user_id"]
        self.emu.set_fault("status", code=503, path="ccs")  # the API is down while they wait
        old = self.track(d, 3)
        d.call("sync.now", {"timeout_ms": int(scaled(2000))})
        new_id = d.call("identity.reset")["user_id"]
        self.assertNotEqual(new_id, first)
        new = self.track(d, 2)
        self.emu.set_fault("none", path="ccs")
        self.sync_all(d)
        self.wait_finished()
        requests = [r for r in self.check_delivery(old + new) if r["status"] == 200]
        by_n = {e["properties"]["n"]: r["body"] for r in requests for e in r["body"]["events"]}
        for n in old:
            self.assertEqual(by_n[n].get("aliases"), [{"tag": "tifa", "id": "tifa-household-1", "priority": 0}])
            self.assertNotIn("user_id", by_n[n])
        for n in new:
            self.assertEqual(by_n[n].get("user_id"), new_id)


class Parallel(SyncCase):
    def test_a_view_waits_for_the_slower_call_not_the_sum(self):
        delay = int(scaled(600))
        d = self.start_daemon({"api": {"timeout_ms": delay * 4},
                               "client": {"type": "ctv", "app": "com.example.tv", "platform": "tizen"}})
        d.call("identity.set_aliases", {"aliases": [{"tag": "tifa", "id": "tifa-77"}]})
        self.sync_all(d)
        self.emu.set_fault("latency", delay_ms=delay, path="ccs", count=1)
        self.emu.set_fault("latency", delay_ms=delay, path="ctx", count=1)
        d.call("view.start", {"type": "video", "url": "https://example.com/sport/final",
                              "properties": {"video_id": "v9", "title": "Final", "viewer_note": "tifa-77"}})
        a = d.call("activations.get", {"timeout_ms": delay * 6, "url": "https://example.com/sport/final"})
        self.assertFalse(a["stale"], a)
        self.wait_finished()
        self.wait_finished(CTX)
        (ccs,) = [r for r in self.ccs_requests() if r["fault"] == "latency"]
        (ctx,) = self.emu.requests(CTX)
        # Each arrived before the other was answered: they were out together.
        self.assertLess(ccs["time"], ctx["time"] + ctx["duration_ms"] / 1000, (ccs, ctx))
        self.assertLess(ctx["time"], ccs["time"] + ccs["duration_ms"] / 1000, (ccs, ctx))
        self.assertEqual(ctx["body"], {"url": "https://example.com/sport/final", "page_properties": {
            "video": {"video_id": "v9", "title": "Final"},
            "client": {"type": "ctv", "app": "com.example.tv", "platform": "tizen"}}})


if __name__ == "__main__":
    unittest.main()
