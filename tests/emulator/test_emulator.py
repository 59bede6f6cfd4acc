"""Tests of the API emulator: endpoints, validation, auth, state, faults, TLS, signals.

    python3 -m unittest discover -s tests/emulator -p 'test_*.py'
"""

import base64
import gzip
import http.client
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import Emulator, EmulatorError  # noqa: E402
from make_test_ca import make_test_ca  # noqa: E402

KEY = "test-key"
STATEFUL = "/ccs/v1/segmentation?activations=true"
STATELESS = "/ccs/v1/segmentation/stateless"
CONTEXTUAL = "/ctx/v1/segment"
USER = "2008c38f-dece-4570-976d-87593ed001c3"
SESSION = "f47ac10b-58cc-4372-a567-0e02b2c3d479"


def event(name="Videoview", categories=("sports", "football"), **extra):
    return {"name": name, "time": "2024-01-15T14:00:00Z", "session_id": SESSION,
            "properties": {"categories": list(categories)}, **extra}


def call(emu, path, body, key=KEY, headers=None, connection=None, timeout=5):
    """POST JSON; returns (status, headers, parsed body or raw bytes)."""
    conn = connection or http.client.HTTPConnection(emu.host, emu.port, timeout=timeout)
    all_headers = {"Content-Type": "application/json"}
    if key is not None:
        all_headers["X-Api-Key"] = key
    all_headers.update(headers or {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, body=data, headers=all_headers)
    answer = conn.getresponse()
    raw = answer.read()
    if connection is None:
        conn.close()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw
    return answer.status, answer.headers, parsed


def wait_for(predicate, timeout=5):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class EmulatorTestCase(unittest.TestCase):
    """One emulator for the class, reset before each test."""

    emulator_options = {"api_key": KEY}

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(**cls.emulator_options).start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        self.emu.reset()

    def assertError(self, answer, status, message_part=""):
        code, _headers, body = answer
        self.assertEqual(code, status, body)
        self.assertIsInstance(uuid.UUID(body["request_id"]), uuid.UUID)
        error = body["error"]
        for field, kind in (("type", str), ("status_code", int), ("status", str), ("code", int),
                            ("message", str), ("docs", str)):
            self.assertIsInstance(error[field], kind, field)
        self.assertEqual(error["status_code"], status)
        self.assertIn(message_part, error["message"])


class StatefulTest(EmulatorTestCase):
    def test_cohorts_and_activations(self):
        status, headers, body = call(self.emu, STATEFUL, {"user_id": USER, "events": [event()]})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(body, {"user_id": USER, "cohorts": ["12345"],
                                "activations": {"dfp": ["12345"], "freewheel": ["12345"]}})

    def test_activations_only_when_asked(self):
        _, _, body = call(self.emu, "/ccs/v1/segmentation", {"user_id": USER, "events": [event()]})
        self.assertEqual(body, {"user_id": USER, "cohorts": ["12345"]})

    def test_state_accumulates_per_user(self):
        other = str(uuid.uuid4())
        completion = {"user_id": USER, "events": [event("VideoCompletion")]}
        self.assertEqual(call(self.emu, STATEFUL, completion)[2]["cohorts"], [])
        self.assertEqual(call(self.emu, STATEFUL, {"user_id": other, "events": [event("VideoCompletion")]})[2]
                         ["cohorts"], [])
        _, _, body = call(self.emu, STATEFUL, completion)
        self.assertEqual(body["cohorts"], ["67890"])
        self.assertEqual(body["activations"], {"freewheel": ["67890"]})
        self.assertEqual(self.emu.health()["users"], 2)
        self.emu.reset()
        self.assertEqual(call(self.emu, STATEFUL, completion)[2]["cohorts"], [])

    def test_alias_gets_a_stable_generated_user_id(self):
        tifa = {"alias": {"tag": "tifa", "id": "a1b2"}, "events": [event("Pageview")]}
        first = call(self.emu, STATEFUL, tifa)[2]["user_id"]
        self.assertEqual(uuid.UUID(first).version, 4)
        self.assertEqual(call(self.emu, STATEFUL, tifa)[2]["user_id"], first)
        other = call(self.emu, STATEFUL, {"alias": {"tag": "tifa", "id": "zzzz"}, "events": [event("Pageview")]})
        self.assertNotEqual(other[2]["user_id"], first)

    def test_aliases_highest_known_priority_wins_and_links_the_rest(self):
        def resolve(*aliases):
            body = {"aliases": [{"tag": t, "id": i, "priority": p} for t, i, p in aliases], "events": [event()]}
            status, _, answer = call(self.emu, STATEFUL, body)
            self.assertEqual(status, 200, answer)
            return answer["user_id"]

        device_user = resolve(("idfa", "D1", 0))
        # A new e-mail alias joins the user its known device alias resolves to.
        self.assertEqual(resolve(("email_sha256", "e1", 0), ("idfa", "D1", 1)), device_user)
        self.assertEqual(resolve(("email_sha256", "e1", 5)), device_user)
        # When two known aliases disagree, the lower priority number wins, and
        # the loser is re-linked, so it resolves to the winner from now on.
        internal_user = resolve(("internal_id", "u9", 0))
        self.assertEqual(resolve(("idfa", "D1", 3), ("internal_id", "u9", 1)), internal_user)
        self.assertEqual(resolve(("idfa", "D1", 0)), internal_user)

    def test_user_id_used_as_is_and_history_kept_per_user_id(self):
        body = {"user_id": USER.upper(), "events": [event("VideoCompletion")] * 2}
        _, _, answer = call(self.emu, STATEFUL, body)
        self.assertEqual(answer["user_id"], USER.upper())
        self.assertEqual(answer["cohorts"], ["67890"])

    def test_null_identity_fields_count_as_absent(self):
        body = {"user_id": USER, "alias": None, "aliases": None, "events": [event()]}
        self.assertEqual(call(self.emu, STATEFUL, body)[0], 200)


class ValidationTest(EmulatorTestCase):
    def test_bad_requests(self):
        ok_event = event()
        cases = [
            ({"events": [ok_event]}, "exactly one of user_id, alias or aliases"),
            ({"user_id": USER, "alias": {"tag": "t", "id": "i"}, "events": [ok_event]}, "exactly one"),
            ({"user_id": "not-a-uuid", "events": [ok_event]}, "user_id"),
            ({"alias": {"tag": "t"}, "events": [ok_event]}, "alias.id"),
            ({"aliases": [], "events": [ok_event]}, "aliases"),
            ({"aliases": [{"tag": "t", "id": "i"}], "events": [ok_event]}, "aliases[0].priority"),
            ({"user_id": USER}, "events"),
            ({"user_id": USER, "events": []}, "1 to 10"),
            ({"user_id": USER, "events": [ok_event] * 11}, "1 to 10"),
            ({"user_id": USER, "events": [ok_event, "x"]}, "events[1]"),
            ({"user_id": USER, "events": [{**ok_event, "name": 3}]}, "events[0].name"),
            ({"user_id": USER, "events": [{**ok_event, "time": "yesterday"}]}, "events[0].time"),
            ({"user_id": USER, "events": [{**ok_event, "time": "2024-01-15T14:00:00"}]}, "events[0].time"),
            ({"user_id": USER, "events": [{**ok_event, "time": "2024-02-30T14:00:00Z"}]}, "events[0].time"),
            ({"user_id": USER, "events": [{**ok_event, "properties": []}]}, "events[0].properties"),
            ({"user_id": USER, "events": [{**ok_event, "session_id": "s1"}]}, "events[0].session_id"),
            ({"user_id": USER, "events": [{**ok_event, "view_id": None}]}, "events[0].view_id"),
            ([], "JSON object"),
        ]
        for path in (STATEFUL, STATELESS):
            for body, message in cases:
                with self.subTest(path=path, body=body):
                    self.assertError(call(self.emu, path, body), 400, message)
        self.assertEqual(self.emu.health()["users"], 0)

    def test_accepted_time_forms(self):
        for when in ("2024-01-15T14:00:00.179Z", "2024-01-15T15:00:00+01:00", "2024-01-15t14:00:00.123456789z"):
            with self.subTest(when=when):
                body = {"user_id": USER, "events": [{**event(), "time": when}]}
                self.assertEqual(call(self.emu, STATEFUL, body)[0], 200)

    def test_not_json(self):
        self.assertError(call(self.emu, STATEFUL, b"{not json"), 400, "not valid JSON")

    def test_content_type_must_be_json(self):
        # libcurl's default for POSTFIELDS is form-urlencoded: a classic client bug.
        answer = call(self.emu, STATEFUL, {"user_id": USER, "events": [event()]},
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(answer, 415, "Content-Type")

    def test_body_too_large(self):
        conn = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=5)
        self.assertError(call(self.emu, STATEFUL, b" " * ((1 << 20) + 1), connection=conn), 413)
        # The oversized body was read and dropped: the connection is still usable.
        self.assertEqual(call(self.emu, STATEFUL, {"user_id": USER, "events": [event()]}, connection=conn)[0], 200)
        conn.close()

    def test_unknown_path_and_method(self):
        self.assertError(call(self.emu, "/ccs/v2/nothing", {}), 404)
        conn = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=5)
        conn.request("GET", CONTEXTUAL, headers={"X-Api-Key": KEY})
        answer = conn.getresponse()
        self.assertEqual(answer.status, 405)
        self.assertEqual(answer.headers["Allow"], "POST")
        self.assertEqual(json.loads(answer.read())["error"]["status_code"], 405)
        conn.close()


class AuthTest(EmulatorTestCase):
    body = {"user_id": USER, "events": [event()]}

    def test_missing_key_is_401(self):
        self.assertError(call(self.emu, STATEFUL, self.body, key=None), 401, "X-Api-Key")
        self.assertError(call(self.emu, CONTEXTUAL, {"url": "x"}, key=None), 401)

    def test_wrong_key_is_403(self):
        self.assertError(call(self.emu, STATELESS, self.body, key="wrong"), 403)

    def test_header_key_and_url_key_are_logged_apart(self):
        self.assertEqual(call(self.emu, STATEFUL, self.body)[0], 200)
        self.assertEqual(call(self.emu, STATEFUL + "&k=" + KEY, self.body, key=None)[0], 200)
        header_request, url_request = self.emu.requests()
        self.assertEqual(header_request["headers"]["x-api-key"], KEY)
        self.assertFalse(header_request["key_in_url"])
        self.assertNotIn(KEY, header_request["target"])
        self.assertTrue(url_request["key_in_url"])
        self.assertEqual(url_request["query"]["k"], [KEY])
        self.assertNotIn("x-api-key", url_request["headers"])
        self.assertIn("k=***", self.emu.stderr())
        self.assertNotIn("k=" + KEY, self.emu.stderr())

    def test_control_api_needs_no_key(self):
        self.assertEqual(self.emu.health()["status"], "ok")


class StatelessTest(EmulatorTestCase):
    def segment(self, events, state=None, expect=200):
        body = {"user_id": USER, "events": events}
        if state is not None:
            body["state"] = state
        status, _, answer = call(self.emu, STATELESS, body)
        self.assertEqual(status, expect, answer)
        return answer

    def test_response_follows_the_schema(self):
        answer = self.segment([event()])
        self.assertEqual(set(answer), {"user_id", "state"})
        self.assertEqual(answer["user_id"], USER)
        state = answer["state"]
        self.assertEqual(set(state), {"internal_state", "external_state", "cohorts"})
        self.assertEqual(state["cohorts"], ["12345"])
        # DeviceState: cohort id -> rule checksum -> opaque state.
        (checksum, token), = state["internal_state"]["12345"].items()
        self.assertRegex(checksum, r"^[0-9a-f]{10}$")
        self.assertIsInstance(token, str)

    def test_state_round_trip_carries_the_counts(self):
        first = self.segment([event("VideoCompletion")])
        self.assertEqual(first["state"]["cohorts"], [])
        self.assertEqual(self.segment([event("VideoCompletion")])["state"]["cohorts"], [])  # no state: starts over
        second = self.segment([event("VideoCompletion")], first["state"])
        self.assertEqual(second["state"]["cohorts"], ["67890"])

    def test_server_keeps_nothing_per_user(self):
        state = self.segment([event("VideoCompletion")])["state"]
        self.assertEqual(self.emu.health()["users"], 0)
        self.emu.reset()
        self.assertEqual(self.segment([event("VideoCompletion")], state)["state"]["cohorts"], ["67890"])

    def test_cohorts_are_recomputed_and_external_state_passes_through(self):
        state = self.segment([event("AudioPlay")])["state"]
        state["cohorts"] = ["fake"]
        state["external_state"] = {"555": {"abc": ["p", 1]}}
        answer = self.segment([event("Pageview")], state)
        self.assertEqual(answer["state"]["cohorts"], ["11111"])
        self.assertEqual(answer["state"]["external_state"], {"555": {"abc": ["p", 1]}})

    def test_tampered_or_garbled_state_is_rejected(self):
        state = self.segment([event("VideoCompletion")])["state"]
        (checksum, token), = state["internal_state"]["67890"].items()
        payload, mac = token.split(".")
        forged_payload = base64.urlsafe_b64encode(b'{"n": 99}').decode().rstrip("=")

        def with_token(cohort_id, value):
            return {**state, "internal_state": {cohort_id: {checksum: value}}}

        cases = {
            "edited count": with_token("67890", f"{forged_payload}.{mac}"),
            "garbled token": with_token("67890", token[:-3] + "xyz"),
            "not a token": with_token("67890", ["p", 1]),
            "moved to another cohort": with_token("12345", token),
            "state not an object": "opaque",
            "missing external_state": {"internal_state": state["internal_state"]},
            "device state not nested": {**state, "internal_state": {"67890": "x"}},
            "cohorts not strings": {**state, "cohorts": [1]},
        }
        for name, bad in cases.items():
            with self.subTest(name):
                status, _, answer = call(self.emu, STATELESS,
                                         {"user_id": USER, "events": [event()], "state": bad})
                self.assertError((status, None, answer), 400, "state")

    def test_entries_of_changed_rules_are_dropped(self):
        state = self.segment([event("VideoCompletion")])["state"]
        rules = self.emu.set_rules({"behavioral": [{"id": "67890", "event": "VideoCompletion", "min_count": 3}]})
        self.assertEqual(rules["behavioral"][0]["min_count"], 3)
        answer = self.segment([event("VideoCompletion")], state)
        self.assertEqual(answer["state"]["cohorts"], [])
        self.assertNotIn(next(iter(state["internal_state"]["67890"])), answer["state"]["internal_state"]["67890"])

    def test_aliases_resolve_like_the_stateful_endpoint(self):
        alias = {"alias": {"tag": "tifa", "id": "T1"}, "events": [event()]}
        stateful_user = call(self.emu, STATEFUL, alias)[2]["user_id"]
        self.assertEqual(call(self.emu, STATELESS, alias)[2]["user_id"], stateful_user)


class ContextualTest(EmulatorTestCase):
    def segment(self, body):
        status, _, answer = call(self.emu, CONTEXTUAL, body)
        self.assertEqual(status, 200, answer)
        return answer

    def test_url_substring(self):
        answer = self.segment({"url": "https://example.com/sport/highlights", "page_properties": {}})
        self.assertEqual(answer, {"cohorts": ["99999"], "activations": {"freewheel": ["99999"]}})

    def test_keywords_anywhere_in_page_properties(self):
        answer = self.segment({"url": "myapp://video/1", "page_properties": {
            "video": {"title": "Week 20", "categories": ["Sports", "FOOTBALL"], "duration_seconds": 600}}})
        self.assertEqual(answer["cohorts"], ["99999"])
        both = self.segment({"url": "https://example.com/news/1",
                             "page_properties": {"video": {"tags": [["nested", "football"]]}}})
        self.assertEqual(both, {"cohorts": ["99999", "88888"],
                                "activations": {"freewheel": ["99999"], "dfp": ["88888"]}})

    def test_no_match(self):
        answer = self.segment({"url": "smartspeaker://station/abc", "page_properties": {"audio": {"genre": "jazz"}}})
        self.assertEqual(answer, {"cohorts": [], "activations": {}})

    def test_url_only(self):
        self.assertEqual(self.segment({"url": "https://example.com/sport"})["cohorts"], ["99999"])

    def test_bad_requests(self):
        for body, message in (({"page_properties": {}}, "url"), ({"url": ""}, "url"), ({"url": 5}, "url"),
                              ({"url": "x", "page_properties": []}, "page_properties"),
                              ({"url": "x", "user_id": USER}, "no user data")):
            with self.subTest(body=body):
                self.assertError(call(self.emu, CONTEXTUAL, body), 400, message)


class RulesTest(unittest.TestCase):
    rules = {
        "behavioral": [{"id": "b1", "event": "*", "min_count": 3, "activations": ["dfp"]},
                       {"id": "b2", "event": "Videoview", "where": {"video.genre": "drama"},
                        "activations": ["dfp", "freewheel"]}],
        "contextual": [{"id": "c1", "url_contains": "kids", "activations": ["dfp"]}],
    }

    def test_rules_file(self):
        with Emulator(rules=self.rules) as emu:
            drama = {"name": "Videoview", "time": "2024-01-15T14:00:00Z", "properties": {"video": {"genre": "drama"}}}
            _, _, answer = call(emu, STATEFUL, {"user_id": USER, "events": [drama, drama, drama]}, key=None)
            self.assertEqual(answer["cohorts"], ["b1", "b2"])
            self.assertEqual(answer["activations"], {"dfp": ["b1", "b2"], "freewheel": ["b2"]})
            self.assertEqual(call(emu, CONTEXTUAL, {"url": "app://kids/1"}, key=None)[2]["cohorts"], ["c1"])

    def test_set_rules_and_reset_restores_startup_rules(self):
        with Emulator() as emu:
            emu.set_rules(self.rules)
            self.assertEqual(call(emu, CONTEXTUAL, {"url": "app://kids/1"}, key=None)[2]["cohorts"], ["c1"])
            with self.assertRaisesRegex(EmulatorError, r"contextual\[0\]"):
                emu.set_rules({"contextual": [{"id": "x"}]})
            emu.reset()
            self.assertEqual(call(emu, CONTEXTUAL, {"url": "app://kids/1"}, key=None)[2]["cohorts"], [])

    def test_invalid_rules_file_stops_start_up(self):
        with self.assertRaisesRegex(EmulatorError, r"behavioral\[0\]\.min_count"):
            Emulator(rules={"behavioral": [{"id": "1", "event": "x", "min_count": 0}]}).start()


class HttpTest(EmulatorTestCase):
    body = {"user_id": USER, "events": [event()]}

    def test_keep_alive_reuses_the_connection(self):
        conn = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=5)
        for _ in range(3):
            self.assertEqual(call(self.emu, STATEFUL, self.body, connection=conn)[0], 200)
        conn.close()
        call(self.emu, STATEFUL, self.body)
        connections = [r["connection"] for r in self.emu.requests()]
        self.assertEqual(len(set(connections[:3])), 1)
        self.assertNotEqual(connections[3], connections[0])

    def test_gzip_response_when_accepted(self):
        conn = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=5)
        conn.request("POST", STATEFUL, body=json.dumps(self.body), headers={
            "Content-Type": "application/json", "X-Api-Key": KEY, "Accept-Encoding": "deflate, gzip, br"})
        answer = conn.getresponse()
        self.assertEqual(answer.headers["Content-Encoding"], "gzip")
        self.assertEqual(json.loads(gzip.decompress(answer.read()))["user_id"], USER)
        conn.close()
        self.assertNotIn("Content-Encoding", call(self.emu, STATEFUL, self.body)[1])

    def test_chunked_and_gzip_request_bodies(self):
        conn = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=5)
        conn.request("POST", STATEFUL, body=iter([json.dumps(self.body).encode()]), encode_chunked=True,
                     headers={"Content-Type": "application/json", "X-Api-Key": KEY, "Transfer-Encoding": "chunked"})
        answer = conn.getresponse()
        self.assertEqual((answer.status, json.loads(answer.read())["user_id"]), (200, USER))
        conn.close()
        status, _, answer = call(self.emu, STATEFUL, gzip.compress(json.dumps(self.body).encode()),
                                 headers={"Content-Encoding": "gzip"})
        self.assertEqual((status, answer["user_id"]), (200, USER))
        self.assertEqual([r["body"] for r in self.emu.requests()], [self.body, self.body])

    def test_request_log(self):
        call(self.emu, STATEFUL, self.body)
        call(self.emu, CONTEXTUAL, b"plain text", headers={"Content-Type": "text/plain"})
        self.emu.health()
        log = self.emu.requests()
        self.assertEqual([r["path"] for r in log], ["/ccs/v1/segmentation", CONTEXTUAL])  # control calls not logged
        first, second = log
        self.assertEqual(first["method"], "POST")
        self.assertEqual(first["query"], {"activations": ["true"]})
        self.assertEqual(first["headers"]["content-type"], "application/json")
        self.assertEqual(first["body"], self.body)
        self.assertTrue(first["body_is_json"])
        self.assertEqual(first["status"], 200)
        self.assertIsNone(first["fault"])
        self.assertEqual((second["body"], second["body_is_json"], second["status"]), ("plain text", False, 415))
        self.assertLessEqual(first["time"], second["time"])
        self.assertLess(first["seq"], second["seq"])
        self.assertAlmostEqual(first["time"], time.time(), delta=10)
        self.assertEqual([r["path"] for r in self.emu.requests("/ctx/")], [CONTEXTUAL])


class LogFileTest(unittest.TestCase):
    def test_json_lines(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "requests.jsonl")
            with Emulator(log_path=path) as emu:
                call(emu, CONTEXTUAL, {"url": "https://example.com/sport"}, key=None)
                call(emu, "/nowhere", {}, key=None)
            with open(path, encoding="utf-8") as f:
                # Written as each request finishes: ordered by completion, so sort by arrival.
                lines = sorted((json.loads(line) for line in f), key=lambda e: e["seq"])
        self.assertEqual([(e["path"], e["status"]) for e in lines], [(CONTEXTUAL, 200), ("/nowhere", 404)])


class FaultTest(EmulatorTestCase):
    body = {"user_id": USER, "events": [event()]}

    def test_latency(self):
        self.emu.set_fault("latency", delay_ms=300, count=1)
        started = time.monotonic()
        self.assertEqual(call(self.emu, STATEFUL, self.body)[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(self.emu.requests()[0]["fault"], "latency")

    def test_status_codes(self):
        for code in (500, 502, 503, 400, 401, 413):
            with self.subTest(code=code):
                self.emu.set_fault("status", code=code, count=1)
                self.assertError(call(self.emu, STATEFUL, self.body), code, "injected")
        self.assertEqual(self.emu.health()["users"], 0)  # a faulted request changes no state

    def test_408_closes_the_connection(self):
        self.emu.set_fault("408", count=1)
        answer = call(self.emu, STATEFUL, self.body)
        self.assertError(answer, 408)
        self.assertEqual(answer[1]["Connection"], "close")

    def test_429_carries_retry_after(self):
        self.emu.set_fault("429", retry_after=7, count=1)
        answer = call(self.emu, STATEFUL, self.body)
        self.assertError(answer, 429)
        self.assertEqual(answer[1]["Retry-After"], "7")
        self.emu.set_fault("status", code=503, retry_after=2, count=1)
        self.assertEqual(call(self.emu, STATEFUL, self.body)[1]["Retry-After"], "2")

    def test_count_then_normal_and_queue_order(self):
        self.emu.set_fault("status", code=503, count=2)
        self.emu.set_fault("429", count=1)
        statuses = [call(self.emu, STATEFUL, self.body)[0] for _ in range(4)]
        self.assertEqual(statuses, [503, 503, 429, 200])

    def test_until_cleared(self):
        self.emu.set_fault("status", code=500)
        self.assertEqual([call(self.emu, STATEFUL, self.body)[0] for _ in range(3)], [500] * 3)
        self.assertEqual(self.emu.set_fault("none"), [])
        self.assertEqual(call(self.emu, STATEFUL, self.body)[0], 200)

    def test_path_scoping(self):
        self.emu.set_fault("status", code=503, path="ctx")
        self.assertEqual(call(self.emu, STATEFUL, self.body)[0], 200)
        self.assertEqual(call(self.emu, CONTEXTUAL, {"url": "x"})[0], 503)
        self.emu.set_fault("none", path="ctx")
        self.assertEqual(call(self.emu, CONTEXTUAL, {"url": "x"})[0], 200)

    def test_invalid_fault_specs(self):
        for mode, params in (("explode", {}), ("latency", {}), ("status", {"code": 200}),
                             ("429", {"retry_after": -1}), ("hang", {"count": 0}), ("garbage", {"path": "db"}),
                             ("reset", {"delay_ms": 5})):
            with self.subTest(mode=mode, params=params), self.assertRaisesRegex(EmulatorError, "400"):
                self.emu.set_fault(mode, **params)

    def test_reset_sends_rst(self):
        self.emu.set_fault("reset", count=1)
        with self.assertRaises(ConnectionResetError):
            call(self.emu, STATEFUL, self.body)
        self.assertEqual(call(self.emu, STATEFUL, self.body)[0], 200)
        self.assertEqual([(r["status"], r["fault"]) for r in self.emu.requests()], [(None, "reset"), (200, None)])

    def test_hang_times_out_while_others_are_served(self):
        self.emu.set_fault("hang", count=1)
        hung = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=1.0)
        outcome = []

        def hanging_request():
            try:
                call(self.emu, STATEFUL, self.body, connection=hung)
                outcome.append("answered")
            except TimeoutError:
                outcome.append("timeout")

        thread = threading.Thread(target=hanging_request)
        thread.start()
        wait_for(lambda: self.emu.requests())  # the hanging request has been read
        started = time.monotonic()
        self.assertEqual(call(self.emu, STATEFUL, self.body)[0], 200)
        self.assertLess(time.monotonic() - started, 0.5)
        thread.join(5)
        self.assertEqual(outcome, ["timeout"])
        hung.close()
        # Once the client closes, the server side of the hang ends too.
        wait_for(lambda: "duration_ms" in self.emu.requests()[0])
        self.assertEqual((self.emu.requests()[0]["fault"], self.emu.requests()[0]["status"]), ("hang", None))

    def test_truncated_body(self):
        self.emu.set_fault("truncated", count=1)
        with self.assertRaises(http.client.IncompleteRead):
            call(self.emu, STATEFUL, self.body)

    def test_garbage(self):
        self.emu.set_fault("garbage", count=1)
        status, headers, body = call(self.emu, STATEFUL, self.body)
        self.assertEqual((status, headers["Content-Type"]), (200, "application/json"))
        self.assertIsInstance(body, bytes)  # did not parse as JSON

    def test_wrong_content_type(self):
        self.emu.set_fault("wrong_content_type", count=1, path="ccs")
        status, headers, body = call(self.emu, STATEFUL, self.body)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"<html>", body)

    def test_faults_are_listed_in_health(self):
        self.emu.set_fault("latency", delay_ms=10, count=2, path="ccs")
        self.assertEqual(self.emu.health()["faults"],
                         [{"mode": "latency", "path": "ccs", "remaining": 2, "delay_ms": 10}])


class StartupFaultTest(unittest.TestCase):
    def test_fault_flag(self):
        with Emulator(faults=["status:code=502,count=1", "429:retry_after=3,count=1,path=ccs"]) as emu:
            body = {"user_id": USER, "events": [event()]}
            first = call(emu, STATEFUL, body, key=None)
            second = call(emu, STATEFUL, body, key=None)
            self.assertEqual((first[0], second[0], second[1]["Retry-After"]), (502, 429, "3"))
            self.assertEqual(call(emu, STATEFUL, body, key=None)[0], 200)

    def test_bad_fault_flag_stops_start_up(self):
        with self.assertRaisesRegex(EmulatorError, "delay_ms"):
            Emulator(faults=["latency"]).start()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory()
        cls.pki = make_test_ca(os.path.join(cls.directory.name, "good"))
        cls.wrong_host = make_test_ca(os.path.join(cls.directory.name, "wrong"), hosts=["example.invalid"], ips=[])

    @classmethod
    def tearDownClass(cls):
        cls.directory.cleanup()

    def https_call(self, emu, context, host="localhost"):
        conn = http.client.HTTPSConnection(host, emu.port, context=context, timeout=5)
        conn.request("POST", CONTEXTUAL, body=json.dumps({"url": "https://example.com/sport"}),
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        body = json.loads(answer.read())
        conn.close()
        return answer.status, body

    def test_verifies_with_the_test_ca_only(self):
        with Emulator(tls=(self.pki["server_cert"], self.pki["server_key"])) as emu:
            self.assertTrue(emu.url.startswith("https://"))
            trusting = ssl.create_default_context(cafile=self.pki["ca_cert"])
            for host in ("localhost", "127.0.0.1"):
                self.assertEqual(self.https_call(emu, trusting, host), (200, {
                    "cohorts": ["99999"], "activations": {"freewheel": ["99999"]}}))
            with self.assertRaises(ssl.SSLCertVerificationError):
                self.https_call(emu, ssl.create_default_context())
            self.assertEqual(emu.health()["tls"], True)  # a failed handshake does not hurt the server
            # The server thread logs the failed handshake after the client has
            # its error: wait for the line rather than race it.
            wait_for(lambda: "TLS handshake" in emu.stderr())
            self.assertIn("TLS handshake", emu.stderr())

    def test_faults_under_tls(self):
        with Emulator(tls=(self.pki["server_cert"], self.pki["server_key"])) as emu:
            trusting = ssl.create_default_context(cafile=self.pki["ca_cert"])
            emu.set_fault("reset", count=1)
            with self.assertRaises(ConnectionResetError):
                self.https_call(emu, trusting)
            emu.set_fault("status", code=503, count=1, path="ctx")
            status, body = self.https_call(emu, trusting)
            self.assertEqual(status, 503)
            self.assertEqual(body["error"]["docs"], "https://docs.permutive.com/api/contextual/introduction")

    def test_hostname_mismatch_fails(self):
        with Emulator(tls=(self.wrong_host["server_cert"], self.wrong_host["server_key"])) as emu:
            trusting = ssl.create_default_context(cafile=self.wrong_host["ca_cert"])
            with self.assertRaisesRegex(ssl.SSLCertVerificationError, "mismatch"):
                self.https_call(emu, trusting)


class SignalTest(unittest.TestCase):
    def test_sigterm_and_sigint_exit_cleanly(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=signum.name), Emulator() as emu:
                emu.set_fault("hang")
                hung = socket.create_connection((emu.host, emu.port))
                hung.sendall(b"POST /ctx/v1/segment HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
                wait_for(lambda: emu.requests())
                started = time.monotonic()
                emu.process.send_signal(signum)
                self.assertEqual(emu.process.wait(5), 0)
                self.assertLess(time.monotonic() - started, 2)  # a hanging request does not hold it up
                self.assertFalse(os.path.exists(emu.port_file))
                self.assertIn("emulator: stopped", emu.stderr())
                hung.close()


if __name__ == "__main__":
    unittest.main()
