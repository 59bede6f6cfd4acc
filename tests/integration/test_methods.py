"""Every method of the socket protocol: success and error shapes."""

import hashlib
import re
import unittest

from harness import INVALID_PARAMS, METHOD_NOT_FOUND, Daemon, DaemonTestCase, RpcError, scaled, wait_until

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
NOT_FOUND = -32005  # -32000 - COHORT_ENOTFOUND


def ids(entries):
    """Cohort ids from a list of "1001" or {"id": "1001", ...}."""
    out = []
    for e in entries:
        out.append(str(e.get("id", e.get("cohort_id"))) if isinstance(e, dict) else str(e))
    return out


class Status(DaemonTestCase):
    def test_status_shape(self):
        s = self.call("status")
        for key in ("version", "user_id", "consent", "session_id", "queue_depth", "dead_letters", "definitions",
                    "last_sync"):
            self.assertIn(key, s)
        self.assertRegex(s["version"], r"^\d+\.\d+\.\d+")
        self.assertRegex(s["user_id"], UUID4)
        self.assertRegex(s["session_id"], UUID4)
        self.assertIsInstance(s["consent"], bool)
        self.assertIsInstance(s["queue_depth"], int)
        self.assertIsInstance(s["dead_letters"], int)
        self.assertLessEqual({"ok", "at", "error"}, set(s["last_sync"]))

    def test_status_ignores_null_params(self):
        self.assertIn("user_id", self.call("status", None))
        answer = self.daemon.request("status", {})
        self.assertIn("result", answer)

    def test_config_get_redacts_the_key(self):
        cfg = self.call("config.get")["config"]
        self.assertEqual(cfg["data_dir"], self.daemon.data_dir)
        self.assertEqual(cfg["socket"]["path"], self.daemon.socket_path)
        self.assertEqual(cfg["socket"]["mode"], "0660")
        self.assertEqual(cfg["api"]["key"], "[redacted]")
        self.assertNotIn("test-key", str(cfg))
        self.assertEqual(cfg["consent"]["required"], False)


class Identity(DaemonTestCase):
    def test_identity_get(self):
        r = self.call("identity.get")
        self.assertRegex(r["user_id"], UUID4)
        self.assertIsInstance(r["aliases"], list)
        self.assertEqual(r["user_id"], self.call("status")["user_id"])

    def test_set_aliases_upserts_and_orders_by_priority(self):
        self.call("identity.set_aliases", {"aliases": [], "replace": True})
        r = self.call("identity.set_aliases", {"aliases": [{"tag": "tifa", "id": "tifa-1", "priority": 5},
                                                           {"tag": "internal_id", "id": "u42", "priority": 1}]})
        self.assertEqual([(a["tag"], a["id"], a["priority"]) for a in r["aliases"]],
                         [("internal_id", "u42", 1), ("tifa", "tifa-1", 5)])
        r = self.call("identity.set_aliases", {"aliases": [{"tag": "tifa", "id": "tifa-2", "priority": 0}]})
        self.assertEqual([(a["tag"], a["id"]) for a in r["aliases"]], [("tifa", "tifa-2"), ("internal_id", "u42")])
        r = self.call("identity.set_aliases", {"aliases": [{"tag": "aaid", "id": "a-1", "priority": 2}],
                                               "replace": True})
        self.assertEqual([a["tag"] for a in r["aliases"]], ["aaid"])
        self.assertEqual(self.call("identity.get")["aliases"], r["aliases"])

    def test_email_is_hashed_never_stored(self):
        r = self.call("identity.set_aliases", {"aliases": [
            {"tag": "email_sha256", "id": "  Alice@Example.COM ", "priority": 0, "hash": "sha256"}]})
        expected = hashlib.sha256(b"alice@example.com").hexdigest()
        alias = [a for a in r["aliases"] if a["tag"] == "email_sha256"][0]
        self.assertEqual(alias["id"], expected)
        self.assertNotIn("example", str(self.call("identity.get")).lower())

    def test_alias_errors_name_the_field(self):
        cases = [
            ({}, "aliases"),
            ({"aliases": {"tag": "x"}}, "aliases"),
            ({"aliases": [{"tag": "email_sha256", "id": "not-hex"}]}, "aliases[0].id"),
            ({"aliases": [{"tag": "internal_id", "id": "bob@example.com"}]}, "aliases[0].id"),
            ({"aliases": [{"tag": "bad tag!", "id": "1"}]}, "aliases[0].tag"),
            ({"aliases": [{"tag": "tifa", "id": ""}]}, "aliases[0].id"),
            ({"aliases": [{"tag": "tifa", "id": "1", "priority": "high"}]}, "aliases[0].priority"),
            ({"aliases": [{"tag": "tifa", "id": "1", "hash": "md5"}]}, "aliases[0].hash"),
            ({"aliases": [{"tag": "tifa", "id": "1"}, {"tag": "tifa", "id": "2"}]}, "aliases[1].tag"),
            ({"aliases": [{"tag": "tifa", "id": "1", "colour": "red"}]}, "aliases[0].colour"),
        ]
        before = self.call("identity.get")
        for params, word in cases:
            with self.subTest(params=params):
                self.assertRpcError("identity.set_aliases", params, INVALID_PARAMS, word)
        self.assertEqual(self.call("identity.get"), before)  # a failed call changes nothing

    def test_identity_reset(self):
        self.call("identity.set_aliases", {"aliases": [{"tag": "tifa", "id": "t-1"}]})
        self.call("track", {"name": "BeforeReset"})
        old = self.call("identity.get")["user_id"]
        old_session = self.call("status")["session_id"]
        r = self.call("identity.reset")
        self.assertRegex(r["user_id"], UUID4)
        self.assertNotEqual(r["user_id"], old)
        self.assertEqual(self.call("identity.get"), {"user_id": r["user_id"], "aliases": []})
        self.assertNotEqual(self.call("status")["session_id"], old_session)
        self.assertEqual(self.daemon.history(10, name="BeforeReset"), [])


class Consent(DaemonTestCase):
    daemon_config = {}  # consent.required: true (the default)

    def test_consent_gates_what_is_kept(self):
        self.assertEqual(self.call("consent.set", {"granted": False}), {"consent": False})
        r = self.call("track", {"name": "NoConsent"})
        self.assertFalse(r["stored"])
        self.assertRegex(r["event_id"], UUID4)
        self.assertEqual(self.daemon.history(10, name="NoConsent"), [])
        self.assertEqual(self.call("consent.set", {"granted": True}), {"consent": True})
        self.assertTrue(self.call("status")["consent"])
        self.assertTrue(self.call("track", {"name": "WithConsent"})["stored"])
        self.assertEqual(len(self.daemon.history(10, name="WithConsent")), 1)
        self.assertGreaterEqual(self.call("status")["queue_depth"], 1)
        # Withdrawing drops history and outbox.
        self.call("consent.set", {"granted": False})
        s = self.call("status")
        self.assertFalse(s["consent"])
        self.assertEqual(s["queue_depth"], 0)
        self.assertEqual(self.daemon.history(10), [])


class Track(DaemonTestCase):
    def test_track_result(self):
        r = self.call("track", {"name": "Pageview", "properties": {"title": "Home", "n": 3, "gone": None}})
        self.assertRegex(r["event_id"], UUID4)
        self.assertEqual(r["session_id"], self.call("status")["session_id"])
        self.assertIsNone(r["view_id"])
        self.assertIsInstance(r["cohorts"], list)
        event = self.daemon.history(1)[0]
        self.assertEqual(event["event_id"], r["event_id"])
        self.assertEqual(event["name"], "Pageview")
        self.assertEqual(event["properties"], {"title": "Home", "n": 3})  # a null property is omitted
        self.assertRegex(event["time"], ISO_UTC)
        self.assertEqual(event["session_id"], r["session_id"])

    def test_track_with_time_and_view(self):
        view = self.call("view.start", {"type": "video"})["view_id"]
        r = self.call("track", {"name": "AdClick", "time": "2024-01-15T15:00:00+01:00", "view_id": view})
        self.assertEqual(r["view_id"], view)
        event = self.daemon.history(1, name="AdClick")[0]
        self.assertTrue(event["time"].startswith("2024-01-15T14:00:00"), event["time"])
        self.assertEqual(event["view_id"], view)

    def test_names_are_case_sensitive(self):
        self.call("track", {"name": "casetest"})
        self.call("track", {"name": "CaseTest"})
        self.assertEqual(len(self.daemon.history(10, name="CaseTest")), 1)

    def test_track_errors(self):
        before = self.call("status")["history"]["events"]
        cases = [
            ({"properties": {}}, "name"),
            ({"name": ""}, "name"),
            ({"name": "has space"}, "name"),
            ({"name": 5}, "name"),
            ({"name": "X", "properties": "a=b"}, "properties"),
            ({"name": "X", "properties": {"blob": "z" * 17000}}, "properties"),
            ({"name": "X", "time": "2024-01-15T14:00:00"}, "time"),
            ({"name": "X", "time": "yesterday"}, "time"),
            ({"name": "X", "view_id": "not-a-uuid"}, "view_id"),
            ({"name": "X", "extra": 1}, "extra"),
        ]
        for params, word in cases:
            with self.subTest(params=str(params)[:60]):
                self.assertRpcError("track", params, INVALID_PARAMS, word)
        self.assertEqual(self.call("status")["history"]["events"], before)  # invalid events change nothing


class Views(DaemonTestCase):
    def test_audio_view_lifecycle(self):
        start = self.call("view.start", {"type": "audio", "duration_s": 1800, "url": "smartspeaker://station/x",
                                         "properties": {"podcast": {"show": "Radiolab"}}})
        view = start["view_id"]
        self.assertRegex(view, UUID4)
        self.assertEqual(start["session_id"], self.call("status")["session_id"])
        self.assertEqual(self.call("view.progress", {"view_id": view, "position_s": 600}), {"view_id": view})
        self.assertEqual(self.call("view.pause", {"view_id": view, "position_s": 620}), {"view_id": view})
        self.assertEqual(self.call("view.resume", {"view_id": view}), {"view_id": view})
        end = self.call("view.end", {"view_id": view, "position_s": 1440})
        self.assertEqual(end["view_id"], view)
        self.assertGreaterEqual(end["time_spent_seconds"], 0)
        self.assertAlmostEqual(end["completion"], 0.8, places=3)
        play, completion = (self.daemon.history(1, name=n)[0] for n in ("AudioPlay", "AudioCompletion"))
        self.assertEqual(play["view_id"], view)
        self.assertEqual(play["properties"]["podcast"], {"show": "Radiolab"})
        self.assertEqual(completion["view_id"], view)
        self.assertEqual(completion["session_id"], play["session_id"])
        self.assertAlmostEqual(completion["properties"]["percentage_listened"], 0.8, places=3)
        self.assertIn("time_spent_seconds", completion["properties"])
        # The view is closed now.
        self.assertRpcError("view.end", {"view_id": view}, NOT_FOUND, "view_id")

    def test_video_is_the_default_and_completion_caps_at_one(self):
        view = self.call("view.start", {"duration_s": 60})["view_id"]
        end = self.call("view.end", {"view_id": view, "position_s": 90})
        self.assertEqual(end["completion"], 1)
        self.assertEqual(self.daemon.history(1, name="Videoview")[0]["view_id"], view)
        done = self.daemon.history(1, name="VideoCompletion")[0]
        self.assertEqual(done["properties"]["percentage_watched"], 1)

    def test_live_view_has_no_completion(self):
        view = self.call("view.start", {"type": "video"})["view_id"]
        end = self.call("view.end", {"view_id": view, "position_s": 30})
        self.assertNotIn("completion", end)

    def test_custom_event_names(self):
        view = self.call("view.start", {"type": "game", "event": "GameStart", "completion_event": "GameOver"})
        self.call("view.end", {"view_id": view["view_id"]})
        self.assertEqual(len(self.daemon.history(1, name="GameStart")), 1)
        self.assertEqual(len(self.daemon.history(1, name="GameOver")), 1)

    def test_view_errors(self):
        missing = "8c5e1d07-1b2e-474f-91fd-d518c705f47e"
        self.assertRpcError("view.pause", {"view_id": missing}, NOT_FOUND, "view_id")
        self.assertRpcError("view.end", {}, INVALID_PARAMS, "view_id")
        self.assertRpcError("view.progress", {"view_id": missing}, INVALID_PARAMS, "position_s")
        view = self.call("view.start", {})["view_id"]
        self.assertRpcError("view.progress", {"view_id": view, "position_s": -5}, INVALID_PARAMS, "position_s")
        self.assertRpcError("view.progress", {"view_id": view, "position_s": "ten"}, INVALID_PARAMS, "position_s")
        self.assertRpcError("view.start", {"type": 3}, INVALID_PARAMS, "type")
        self.assertRpcError("view.start", {"url": ""}, INVALID_PARAMS, "url")
        self.assertRpcError("view.start", {"event": "bad name"}, INVALID_PARAMS, "event")
        self.assertRpcError("view.start", {"colour": "red"}, INVALID_PARAMS, "colour")
        self.call("view.end", {"view_id": view})


class History(DaemonTestCase):
    def test_history_get(self):
        for i in range(5):
            self.call("track", {"name": "HistoryTest", "properties": {"i": i}})
        r = self.call("history.get", {"limit": 3, "name": "HistoryTest"})
        self.assertEqual([e["properties"]["i"] for e in r["events"]], [4, 3, 2])  # newest first
        self.assertGreaterEqual(r["total"], 5)
        self.assertEqual(len(self.call("history.get")["events"]), min(20, r["total"]))
        self.assertRpcError("history.get", {"limit": 1001}, INVALID_PARAMS, "limit")
        self.assertRpcError("history.get", {"name": 3}, INVALID_PARAMS, "name")
        for bad in (-1, "5", 1.5):
            self.assertRpcError("history.get", {"before": bad}, INVALID_PARAMS, "before")

    def test_history_pages(self):
        for i in range(7):
            self.call("track", {"name": "PagedTest", "properties": {"i": i}})
        seen, before, pages = [], 0, 0
        while True:
            params = {"limit": 3, "name": "PagedTest"}
            if before:
                params["before"] = before
            r = self.call("history.get", params)
            seen += [e["properties"]["i"] for e in r["events"]]
            pages += 1
            if r["next"] is None:
                break
            self.assertEqual(r["next"], r["events"][-1]["seq"])
            before = r["next"]
        self.assertEqual(seen, [6, 5, 4, 3, 2, 1, 0])  # each once, newest first
        self.assertEqual(pages, 3)
        # A page that ends exactly at the last event says so on the next call.
        r = self.call("history.get", {"limit": 7, "name": "PagedTest"})
        self.assertEqual(len(r["events"]), 7)
        self.assertEqual(self.call("history.get", {"limit": 7, "name": "PagedTest", "before": r["next"]}),
                         {"events": [], "total": r["total"], "next": None})


# ---- methods that are landing: run once they exist

DEFINITIONS = {"cohorts": [
    {"id": "2001", "name": "Podcast listeners", "activations": ["adswizz_keyvalue"],
     "rule": {"logic": "AND", "conditions": [{"type": "event", "event_type": "AudioPlay", "operator": "gte",
                                              "value": 1}]}},
    {"id": "2002", "name": "Football fans", "activations": ["dfp"],
     "rule": {"logic": "AND", "conditions": [
         {"type": "event", "event_type": "Videoview",
          "where": [{"property": "categories", "operator": "contains", "value": "football"}],
          "operator": "gte", "value": 2, "window_days": 30}]}},
]}


class LocalCohorts(DaemonTestCase):
    def setUp(self):
        self.call("definitions.put", DEFINITIONS)

    def test_definitions_round_trip(self):
        r = self.call("definitions.put", DEFINITIONS)
        self.assertEqual(r["count"], 2)
        self.assertEqual(set(r["checksums"]), {"2001", "2002"})
        got = self.call("definitions.get")["cohorts"]
        self.assertEqual(sorted(ids(got)), ["2001", "2002"])
        for c in got:
            self.assertEqual(c["checksum"], r["checksums"][str(c["id"])])
        # The same rule gives the same checksum; a changed rule a new one.
        again = self.call("definitions.put", DEFINITIONS)["checksums"]
        self.assertEqual(again, r["checksums"])

    def test_bad_definitions_are_refused_whole(self):
        before = self.call("definitions.get")
        bad = {"cohorts": [DEFINITIONS["cohorts"][0],
                           {"id": "2999", "name": "Broken", "rule": {"logic": "AND", "conditions": [
                               {"type": "event", "event_type": "X", "operator": "sometimes", "value": 1}]}}]}
        with self.assertRaises(RpcError) as ctx:
            self.call("definitions.put", bad)
        self.assertIn("2999", ctx.exception.message)
        self.assertIn("operator", ctx.exception.message)
        self.assertEqual(self.call("definitions.get"), before)  # the previous definitions stay in force

    def test_cohorts_get(self):
        view = self.call("view.start", {"type": "audio"})["view_id"]
        self.call("view.end", {"view_id": view})
        r = self.call("cohorts.get")
        for key in ("cohorts", "local", "remote", "cached"):
            self.assertIn(key, r)
        self.assertIn("2001", ids(r["cohorts"]))
        self.assertIn("2001", ids(r["local"]))

    def test_activations_get(self):
        self.call("view.start", {"type": "audio"})
        r = self.call("activations.get", {"timeout_ms": 100})
        self.assertIn("activations", r)
        self.assertIn("stale", r)
        self.assertIn("2001", [str(x) for x in r["activations"].get("adswizz_keyvalue", [])])
        self.assertIsInstance(r["stale"], bool)

    def test_preview(self):
        self.call("track", {"name": "PreviewMe"})
        r = self.call("definitions.preview", {"rule": {"logic": "AND", "conditions": [
            {"type": "event", "event_type": "PreviewMe", "operator": "gte", "value": 1}]}})
        self.assertIs(r["match"], True)
        self.assertIn("explain", r)
        r = self.call("definitions.preview", {"rule": {"logic": "AND", "conditions": [
            {"type": "event", "event_type": "NeverSeen", "operator": "gte", "value": 1}]}})
        self.assertIs(r["match"], False)
        with self.assertRaises(RpcError):
            self.call("definitions.preview", {"rule": {"logic": "MAYBE", "conditions": []}})

    def test_explain(self):
        self.call("view.start", {"type": "audio"})
        r = self.call("explain", {"cohort_id": "2001"})
        self.assertIs(r["match"], True)
        self.assertIn("explain", r)
        with self.assertRaises(RpcError) as ctx:
            self.call("explain", {"cohort_id": "no-such-cohort"})
        self.assertIn("no-such-cohort", ctx.exception.message + str(ctx.exception.data))

    def test_cohorts_changed_notification(self):
        self.call("definitions.put", {"cohorts": [
            {"id": "2100", "name": "Quiz players", "activations": [],
             "rule": {"logic": "AND", "conditions": [{"type": "event", "event_type": "QuizAnswer"}]}}]})
        with self.daemon.client() as watcher:
            watcher.call("subscribe", {"topics": ["cohorts"]})
            self.call("track", {"name": "QuizAnswer"})
            note = watcher.next_notification(timeout=scaled(5))
            self.assertEqual(note["jsonrpc"], "2.0")
            self.assertEqual(note["method"], "cohorts.changed")
            self.assertNotIn("id", note)
            self.assertIn("2100", ids(note["params"]["cohorts"]))


class RemoteSync(unittest.TestCase):
    """sync.now and the remote half of activations.get against the API emulator."""

    @classmethod
    def setUpClass(cls):
        from client import Emulator  # tests/emulator, on sys.path through harness
        cls.emulator = Emulator(api_key="test-key").start()
        cls.daemon = Daemon(config={"consent": {"required": False}}, emulator=cls.emulator).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        cls.emulator.stop()

    def test_emulator_is_configured(self):
        cfg = self.daemon.call("config.get")["config"]
        self.assertEqual(cfg["api"]["ccs_url"], self.emulator.url)
        self.assertEqual(cfg["api"]["contextual_url"], self.emulator.url)

    def test_sync_now_sends_the_queue(self):
        for i in range(12):
            self.daemon.call("track", {"name": "Videoview", "properties": {"categories": ["football"], "i": i}})
        r = self.daemon.call("sync.now", {"timeout_ms": int(scaled(5000))})
        for key in ("sent", "pending", "dead_letters"):
            self.assertIsInstance(r[key], int)
        if r["pending"]:
            wait_until(lambda: self.daemon.call("sync.now", {"timeout_ms": 1000})["pending"] == 0, scaled(10),
                       message="the outbox to drain")
        requests = self.emulator.requests("/ccs/")
        self.assertTrue(requests)
        self.assertTrue(all(len(r["body"]["events"]) <= 10 for r in requests if r["body_is_json"]))
        self.assertFalse(any(r["key_in_url"] for r in requests))
        self.assertTrue(all(r["headers"].get("x-api-key") == "test-key" for r in requests))
        self.assertEqual(self.daemon.call("status")["queue_depth"], 0)

    def test_contextual_activations(self):
        r = self.daemon.call("activations.get", {"timeout_ms": int(scaled(2000)),
                                                 "url": "https://example.com/sport/football"})
        self.assertIn("activations", r)
        self.assertIn("stale", r)


if __name__ == "__main__":
    unittest.main()
