"""Tests of the API emulator: endpoints, validation, auth, state, schema, options, faults, TLS, signals.

    python3 -m unittest discover -s tests/emulator -p 'test_*.py'
"""

import contextlib
import gzip
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import EMULATOR, Emulator, EmulatorError  # noqa: E402
from emulator import EventSchema  # noqa: E402
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


def control(emu, method, path, body=None):
    """A control request that keeps the status of a refusal: (status, parsed body).

    Written here rather than in client.py so these tests depend only on the
    emulator's HTTP interface.
    """
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    parsed = json.loads(answer.read())
    conn.close()
    return answer.status, parsed


class _Started:
    def __init__(self, port):
        self.host, self.port = "127.0.0.1", port


@contextlib.contextmanager
def emulator_with_flags(*flags):
    """The emulator started with extra command-line flags (such as --schema); yields its host and port."""
    with tempfile.TemporaryDirectory(prefix="cohort-emulator-test-") as directory:
        port_file = os.path.join(directory, "port")
        with open(os.path.join(directory, "stderr.log"), "wb+") as stderr:
            process = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--port-file", port_file, *flags],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                wait_for(lambda: os.path.exists(port_file) or process.poll() is not None, timeout=10)
                if process.poll() is not None:
                    stderr.seek(0)
                    raise EmulatorError(f"exit {process.returncode}: {stderr.read().decode(errors='replace')}")
                with open(port_file, encoding="ascii") as f:
                    yield _Started(int(f.read()))
            finally:
                if process.poll() is None:
                    process.terminate()
                    process.wait(5)


def wait_for(predicate, timeout=5):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def start_emulator(api_key=KEY, sends_invalid_bodies=False):
    """An Emulator; one whose test sends bodies that break the published OpenAPI
    schema on purpose opts out of client.py's conformance check."""
    return Emulator(api_key=api_key, conformance=not sends_invalid_bodies).start()


class EmulatorTestCase(unittest.TestCase):
    """One emulator for the class, reset before each test."""

    sends_invalid_bodies = False  # on purpose, to test the emulator's own validation

    @classmethod
    def setUpClass(cls):
        cls.emu = start_emulator(sends_invalid_bodies=cls.sends_invalid_bodies)

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


class ValidationTest(EmulatorTestCase):
    sends_invalid_bodies = True

    def test_null_identity_fields_count_as_absent(self):
        # The seed's example request sends `alias: null`, which its own schema does not allow.
        body = {"user_id": USER, "alias": None, "aliases": None, "events": [event()]}
        self.assertEqual(call(self.emu, STATEFUL, body)[0], 200)

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

    def test_missing_key_is_401_and_says_both_ways(self):
        both_ways = "missing API key: send it in the X-Api-Key header or the k query parameter"
        self.assertError(call(self.emu, STATEFUL, self.body, key=None), 401, both_ways)
        self.assertError(call(self.emu, CONTEXTUAL, {"url": "x"}, key=None), 401, both_ways)
        self.assertIsNone(self.emu.requests()[0]["key_in"])

    def test_wrong_key_is_403(self):
        self.assertError(call(self.emu, STATELESS, self.body, key="wrong"), 403)

    def test_key_in_the_k_query_parameter_is_accepted(self):
        for path in (STATEFUL + "&k=" + KEY, STATELESS + "?k=" + KEY):
            with self.subTest(path=path):
                self.assertEqual(call(self.emu, path, self.body, key=None)[0], 200)
        self.assertEqual(call(self.emu, CONTEXTUAL + "?k=" + KEY, {"url": "x"}, key=None)[0], 200)
        self.assertEqual([r["key_in"] for r in self.emu.requests()], ["query"] * 3)

    def test_wrong_key_in_the_k_query_parameter_is_403(self):
        self.assertError(call(self.emu, STATELESS + "?k=wrong", self.body, key=None), 403, "invalid API key")
        self.assertError(call(self.emu, CONTEXTUAL + "?k=", {"url": "x"}, key=None), 403, "invalid API key")

    def test_the_header_wins_over_the_query_parameter(self):
        self.assertEqual(call(self.emu, STATELESS + "?k=wrong", self.body)[0], 200)
        self.assertError(call(self.emu, STATELESS + "?k=" + KEY, self.body, key="wrong"), 403)
        self.assertEqual([r["key_in"] for r in self.emu.requests()], ["header", "header"])

    def test_header_key_and_url_key_are_logged_apart(self):
        self.assertEqual(call(self.emu, STATEFUL, self.body)[0], 200)
        self.assertEqual(call(self.emu, STATEFUL + "&k=" + KEY, self.body, key=None)[0], 200)
        header_request, url_request = self.emu.requests()
        self.assertEqual(header_request["headers"]["x-api-key"], KEY)
        self.assertFalse(header_request["key_in_url"])
        self.assertEqual(header_request["key_in"], "header")
        self.assertNotIn(KEY, header_request["target"])
        self.assertTrue(url_request["key_in_url"])
        self.assertEqual(url_request["key_in"], "query")
        self.assertEqual(url_request["query"]["k"], [KEY])
        self.assertNotIn("x-api-key", url_request["headers"])
        self.assertIn("k=***", self.emu.stderr())
        self.assertNotIn("k=" + KEY, self.emu.stderr())

    def test_control_api_needs_no_key(self):
        self.assertEqual(self.emu.health()["status"], "ok")


class StatelessHelpers:
    def segment(self, events, state=None, expect=200, path=STATELESS):
        body = {"user_id": USER, "events": events}
        if state is not None:
            body["state"] = state
        status, _, answer = call(self.emu, path, body)
        self.assertEqual(status, expect, answer)
        return answer

    def checksum_of(self, cohort_id, state):
        (checksum,) = state["internal_state"][cohort_id]
        return checksum


class StatelessTest(StatelessHelpers, EmulatorTestCase):
    def test_response_follows_the_schema(self):
        answer = self.segment([event()])
        self.assertEqual(set(answer), {"user_id", "state"})
        self.assertEqual(answer["user_id"], USER)
        state = answer["state"]
        self.assertEqual(set(state), {"internal_state", "external_state", "cohorts"})
        self.assertEqual(state["cohorts"], ["12345"])
        # DeviceState: cohort id -> rule checksum -> CohortState, the seed's ["p", 1].
        checksum = self.checksum_of("12345", state)
        self.assertRegex(checksum, r"^[0-9a-f]{10}$")
        self.assertEqual(state["internal_state"], {"12345": {checksum: ["p", 1]}})
        self.assertEqual(state["external_state"], {})

    def test_state_round_trip_carries_the_counts(self):
        first = self.segment([event("VideoCompletion")])
        checksum = self.checksum_of("67890", first["state"])
        self.assertEqual(first["state"]["internal_state"], {"67890": {checksum: ["p", 1]}})
        self.assertEqual(first["state"]["cohorts"], [])
        self.assertEqual(self.segment([event("VideoCompletion")])["state"]["cohorts"], [])  # no state: starts over
        second = self.segment([event("VideoCompletion")], first["state"])
        self.assertEqual(second["state"]["internal_state"], {"67890": {checksum: ["p", 2]}})
        self.assertEqual(second["state"]["cohorts"], ["67890"])

    def test_a_state_written_in_the_documented_shape_is_read(self):
        checksum = self.checksum_of("67890", self.segment([event("VideoCompletion")])["state"])
        state = {"internal_state": {"67890": {checksum: ["p", 1]}}, "external_state": {}}  # no cohorts: optional
        answer = self.segment([event("VideoCompletion")], state)
        self.assertEqual(answer["state"]["cohorts"], ["67890"])

    def test_the_seed_example_request_is_accepted(self):
        # The OpenAPI example's state: its checksum 0c8b70cdb7 is no rule of
        # this emulator, so that entry is dropped; external_state comes back as sent.
        example = {"internal_state": {"12345": {"0c8b70cdb7": ["p", 1]}},
                   "external_state": {"67890": {"0c8b70cdb7": ["p", 1]}},
                   "cohorts": ["12345", "67890"]}
        answer = self.segment([event("Pageview")], example)
        self.assertEqual(answer["state"], {"internal_state": {}, "external_state": example["external_state"],
                                           "cohorts": []})

    def test_server_keeps_nothing_per_user(self):
        state = self.segment([event("VideoCompletion")])["state"]
        self.assertEqual(self.emu.health()["users"], 0)
        self.emu.reset()
        self.assertEqual(self.segment([event("VideoCompletion")], state)["state"]["cohorts"], ["67890"])

    def test_cohorts_are_recomputed_and_external_state_passes_through(self):
        state = self.segment([event("AudioPlay")])["state"]
        state["cohorts"] = ["fake"]
        state["external_state"] = {"555": {"abc": ["p", 1], "def": {"anything": [1, "x"]}}}
        answer = self.segment([event("Pageview")], state)
        self.assertEqual(answer["state"]["cohorts"], ["11111"])
        self.assertEqual(answer["state"]["external_state"], state["external_state"])

    def test_entries_of_changed_rules_are_dropped(self):
        state = self.segment([event("VideoCompletion")])["state"]
        rules = self.emu.set_rules({"behavioral": [{"id": "67890", "event": "VideoCompletion", "min_count": 3}]})
        self.assertEqual(rules["behavioral"][0]["min_count"], 3)
        answer = self.segment([event("VideoCompletion")], state)
        self.assertEqual(answer["state"]["cohorts"], [])
        new_checksum = self.checksum_of("67890", answer["state"])
        self.assertNotEqual(new_checksum, self.checksum_of("67890", state))
        self.assertEqual(answer["state"]["internal_state"], {"67890": {new_checksum: ["p", 1]}})  # started afresh

    def test_aliases_resolve_like_the_stateful_endpoint(self):
        alias = {"alias": {"tag": "tifa", "id": "T1"}, "events": [event()]}
        stateful_user = call(self.emu, STATEFUL, alias)[2]["user_id"]
        self.assertEqual(call(self.emu, STATELESS, alias)[2]["user_id"], stateful_user)

    def test_activations_only_when_asked(self):
        asked = self.segment([event(), event("AudioPlay")], path=STATELESS + "?activations=true")
        self.assertEqual(list(asked), ["user_id", "state", "activations"])
        self.assertEqual(asked["state"]["cohorts"], ["12345", "11111"])
        self.assertEqual(asked["activations"], {"dfp": ["12345", "11111"], "freewheel": ["12345"],
                                                "adswizz_keyvalue": ["11111"]})
        self.assertEqual(set(self.segment([event()])), {"user_id", "state"})
        self.assertEqual(set(self.segment([event()], path=STATELESS + "?activations=false")), {"user_id", "state"})
        self.assertEqual(self.segment([event("Pageview")], path=STATELESS + "?activations=TRUE")["activations"], {})


class StateRejectionTest(StatelessHelpers, EmulatorTestCase):
    sends_invalid_bodies = True  # some of these states break the OpenAPI schema too

    def test_malformed_state_is_rejected_naming_the_path(self):
        state = self.segment([event("VideoCompletion")])["state"]
        checksum = self.checksum_of("67890", state)
        where = f"state.internal_state.67890.{checksum}"

        def with_cohort_state(value, cohort_id="67890"):
            return {**state, "internal_state": {cohort_id: {checksum: value}}}

        cases = {
            "an old private token": (with_cohort_state("eyJuIjogMX0.0123456789abcdef01234567"), where),
            "one element": (with_cohort_state(["p"]), where),
            "three elements": (with_cohort_state(["p", 1, 2]), where),
            "negative count": (with_cohort_state(["p", -1]), where),
            "fractional count": (with_cohort_state(["p", 1.5]), where),
            "boolean count": (with_cohort_state(["p", True]), where),
            "count as a string": (with_cohort_state(["p", "1"]), where),
            "tag not a string": (with_cohort_state([1, 1]), where),
            "an object": (with_cohort_state({"n": 1}), where),
            # Checked even for a cohort this emulator does not have (it would be dropped).
            "unknown cohort": (with_cohort_state(None, cohort_id="424242"),
                               f"state.internal_state.424242.{checksum}"),
            "state not an object": ("opaque", "state"),
            "missing external_state": ({"internal_state": state["internal_state"]}, "state.external_state"),
            "internal_state not an object": ({**state, "internal_state": []}, "state.internal_state"),
            "device state not nested": ({**state, "internal_state": {"67890": "x"}}, "state.internal_state.67890"),
            "external state not nested": ({**state, "external_state": {"1": ["p", 1]}}, "state.external_state.1"),
            "cohorts not strings": ({**state, "cohorts": [1]}, "state.cohorts"),
            "cohorts repeated": ({**state, "cohorts": ["1", "1"]}, "state.cohorts"),
        }
        for name, (bad, path) in cases.items():
            with self.subTest(name):
                body = {"alias": {"tag": "tifa", "id": name}, "events": [event()], "state": bad}
                status, _, answer = call(self.emu, STATELESS, body)
                self.assertError((status, None, answer), 400, path + ":")
        self.assertError(call(self.emu, STATELESS, {"user_id": USER, "events": [event()],
                                                    "state": with_cohort_state(["p", -1])}),
                         400, "not a state this API issued")
        # A rejected request changes nothing, not even the alias directory: had
        # "one element" been linked, it would win over "probe" (priority 0 < 1).
        probe_user = call(self.emu, STATEFUL, {"alias": {"tag": "tifa", "id": "probe"}, "events": [event()]})[2]
        both = {"aliases": [{"tag": "tifa", "id": "one element", "priority": 0},
                            {"tag": "tifa", "id": "probe", "priority": 1}], "events": [event()]}
        self.assertEqual(call(self.emu, STATEFUL, both)[2]["user_id"], probe_user["user_id"])


class ContextualTest(EmulatorTestCase):
    def segment(self, body):
        status, _, answer = call(self.emu, CONTEXTUAL, body)
        self.assertEqual(status, 200, answer)
        return answer

    def test_url_substring(self):
        answer = self.segment({"url": "https://example.com/sport/highlights", "page_properties": {}})
        self.assertEqual(answer, {"activations": {"freewheel": ["99999"]}})

    def test_keywords_anywhere_in_page_properties(self):
        answer = self.segment({"url": "myapp://video/1", "page_properties": {
            "video": {"title": "Week 20", "categories": ["Sports", "FOOTBALL"], "duration_seconds": 600}}})
        self.assertEqual(answer, {"activations": {"freewheel": ["99999"]}})
        both = self.segment({"url": "https://example.com/news/1",
                             "page_properties": {"video": {"tags": [["nested", "football"]]}}})
        self.assertEqual(both, {"activations": {"freewheel": ["99999"], "dfp": ["88888"]}})

    def test_no_match(self):
        answer = self.segment({"url": "smartspeaker://station/abc", "page_properties": {"audio": {"genre": "jazz"}}})
        self.assertEqual(answer, {"activations": {}})

    def test_url_only(self):
        self.assertEqual(self.segment({"url": "https://example.com/sport"}), {"activations": {"freewheel": ["99999"]}})

    def test_answer_has_the_documented_fields_only(self):
        # "Step 6 — Contextual API response" of the guide: activations per platform, no cohorts.
        answer = self.segment({"url": "https://example.com/news/sport"})
        self.assertEqual(set(answer), {"activations"})
        self.assertEqual(answer["activations"], {"freewheel": ["99999"], "dfp": ["88888"]})

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
            kids = call(emu, CONTEXTUAL, {"url": "app://kids/1"}, key=None)[2]
            self.assertEqual(kids, {"activations": {"dfp": ["c1"]}})

    def test_set_rules_and_reset_restores_startup_rules(self):
        with Emulator() as emu:
            emu.set_rules(self.rules)
            kids = call(emu, CONTEXTUAL, {"url": "app://kids/1"}, key=None)[2]
            self.assertEqual(kids, {"activations": {"dfp": ["c1"]}})
            with self.assertRaisesRegex(EmulatorError, r"contextual\[0\]"):
                emu.set_rules({"contextual": [{"id": "x"}]})
            emu.reset()
            self.assertEqual(call(emu, CONTEXTUAL, {"url": "app://kids/1"}, key=None)[2], {"activations": {}})

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
        self.assertEqual((first["key_in"], first["synchronous_validation"], first["ignored_events"]),
                         ("header", False, []))
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

    def test_named_auth_and_routing_statuses(self):
        for mode, phrase, kind in (("401", "Unauthorized", "Unauthorized"), ("403", "Forbidden", "Forbidden"),
                                   ("404", "Not Found", "NotFound"),
                                   ("405", "Method Not Allowed", "MethodNotAllowed")):
            with self.subTest(mode=mode):
                self.emu.reset()
                self.emu.set_fault(mode, count=1, path="ccs")
                self.assertEqual(call(self.emu, CONTEXTUAL, {"url": "x"})[0], 200)  # path scoping
                answer = call(self.emu, STATELESS, self.body)
                self.assertError(answer, int(mode), "injected fault")
                error = answer[2]["error"]
                self.assertEqual((error["status"], error["type"], error["code"]), (phrase, kind, int(mode)))
                self.assertEqual(error["docs"], "https://docs.permutive.com/api/ccs/introduction")
                if mode == "405":
                    self.assertEqual(answer[1]["Allow"], "GET, HEAD")
                self.assertEqual(call(self.emu, STATELESS, self.body)[0], 200)  # count=1: used up
                self.assertEqual([(r["fault"], r["status"]) for r in self.emu.requests("/ccs/")],
                                 [(mode, int(mode)), (None, 200)])
        self.emu.set_fault("status", code=401, count=1)  # the generic form still works
        self.assertError(call(self.emu, STATEFUL, self.body), 401, "injected fault: status")

    def test_named_statuses_take_no_parameter(self):
        for mode in ("401", "403", "404", "405"):
            with self.subTest(mode=mode), self.assertRaisesRegex(EmulatorError, "400.*retry_after"):
                self.emu.set_fault(mode, retry_after=1)

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


DEFAULTS = {"omit_activations": False, "definitions_cache_control": "max-age=3600"}


class OptionsTest(EmulatorTestCase):
    body = {"user_id": USER, "events": [event()]}

    def test_defaults(self):
        self.assertEqual(control(self.emu, "GET", "/_control/options"), (200, DEFAULTS))

    def test_omit_activations_models_a_server_that_ignores_the_parameter(self):
        self.assertEqual(control(self.emu, "POST", "/_control/options", {"omit_activations": True}),
                         (200, {**DEFAULTS, "omit_activations": True}))
        self.assertEqual(control(self.emu, "GET", "/_control/options"), (200, {**DEFAULTS, "omit_activations": True}))
        stateful = call(self.emu, STATEFUL, self.body)[2]
        self.assertEqual(stateful, {"user_id": USER, "cohorts": ["12345"]})
        stateless = call(self.emu, STATELESS + "?activations=true", self.body)[2]
        self.assertEqual(set(stateless), {"user_id", "state"})
        # Contextual activations are the answer itself, not an option of it.
        self.assertEqual(call(self.emu, CONTEXTUAL, {"url": "/sport"})[2], {"activations": {"freewheel": ["99999"]}})
        control(self.emu, "POST", "/_control/options", {"omit_activations": False})
        self.assertIn("activations", call(self.emu, STATELESS + "?activations=true", self.body)[2])

    def test_reset_restores_the_defaults(self):
        control(self.emu, "POST", "/_control/options", {"omit_activations": True})
        self.emu.reset()
        self.assertEqual(control(self.emu, "GET", "/_control/options"), (200, DEFAULTS))
        self.assertIn("activations", call(self.emu, STATEFUL, self.body)[2])

    def test_bad_options_are_refused_naming_them_and_change_nothing(self):
        for body, named in (({"omit_activation": True}, "omit_activation"),
                            ({"omit_activations": "yes"}, "omit_activations"),
                            ({"omit_activations": 1}, "omit_activations"),
                            ({"omit_activations": True, "colour": "red"}, "colour"),
                            ({"omit_activations": True, "definitions_cache_control": 600}, "definitions_cache_control"),
                            ([], "JSON object"), (b"{", "JSON")):
            with self.subTest(body=body):
                status, answer = control(self.emu, "POST", "/_control/options", body)
                self.assertEqual(status, 400, answer)
                self.assertIn(named, answer["error"]["message"])
        self.assertEqual(control(self.emu, "GET", "/_control/options"), (200, DEFAULTS))


def completion(time_spent=450, percentage=0.75, **extra):
    """A VideoCompletion as in the guide, with the engagement metrics given."""
    properties = {"video_id": "vid_456", "title": "Highlights", "categories": ["sports", "football"],
                  "duration_seconds": 600, "time_spent_seconds": time_spent, "percentage_watched": percentage,
                  **extra}
    return {"name": "VideoCompletion", "time": "2024-01-15T14:07:30Z", "properties": properties}


def compact(value):
    return json.dumps(value, separators=(",", ":"))


class SchemaTypesTest(unittest.TestCase):
    """The type checks of an event schema, without a server."""

    def errors(self, kind, value):
        schema = EventSchema({"events": {"E": {"p": kind}}})
        return schema.errors_of(0, {"name": "E", "properties": {"p": value}})

    def test_types(self):
        valid = {"string": ["", "x"], "integer": [0, 600, 600.0, -3], "number": [0, 0.75, 600, -1e3],
                 "boolean": [True, False], "array": [[], [1, "x"]], "array<string>": [[], ["a", "b"]],
                 "object": [{}, {"a": 1}]}
        invalid = {"string": [5, None, ["x"], True], "integer": [12.5, True, "600", None], "number": [True, "0.75"],
                   "boolean": [0, "true", None], "array": ["a", {}], "array<string>": ["football", [1], ["a", None]],
                   "object": [[], "x"]}
        for kind, values in valid.items():
            for value in values:
                with self.subTest(kind=kind, value=value):
                    self.assertEqual(self.errors(kind, value), [])
        for kind, values in invalid.items():
            for value in values:
                with self.subTest(kind=kind, value=value):
                    self.assertEqual(self.errors(kind, value),
                                     [f"events[0].properties.p: expected {kind}, got {compact(value)}"])

    def test_dotted_paths_listed_absent_and_unlisted(self):
        schema = EventSchema({"events": {"AudioPlay": {"audio.categories": "array<string>",
                                                       "audio.meta.length": "integer"}}})

        def errors(properties):
            return schema.errors_of(3, {"name": "AudioPlay", "properties": properties})

        self.assertEqual(errors({}), [])  # listed but absent: fine
        self.assertEqual(errors({"audio": {"categories": ["news"], "extra": 1}, "other": None}), [])  # unlisted: fine
        self.assertEqual(errors({"audio": {"categories": "news"}}),
                         ['events[3].properties.audio.categories: expected array<string>, got "news"'])
        # One error for `audio`, though two listed paths run into it.
        self.assertEqual(errors({"audio": "news"}), ['events[3].properties.audio: expected object, got "news"'])
        self.assertEqual(errors({"audio": {"meta": {"length": 1.5}}}),
                         ["events[3].properties.audio.meta.length: expected integer, got 1.5"])


class SchemaTest(EmulatorTestCase):
    def completions(self, path, *events):
        status, _, answer = call(self.emu, path, {"user_id": USER, "events": list(events)})
        return status, answer

    def test_default_schema_is_the_guides(self):
        status, schema = control(self.emu, "GET", "/_control/schema")
        self.assertEqual(status, 200)
        self.assertEqual(schema["unknown_events"], "accept")
        video = {"video_id": "string", "title": "string", "categories": "array<string>", "duration_seconds": "integer"}
        audio = {"podcast_id": "string", "title": "string", "categories": "array<string>",
                 "duration_seconds": "integer"}
        self.assertEqual(schema["events"], {
            "Videoview": video,
            "VideoCompletion": {**video, "time_spent_seconds": "integer", "percentage_watched": "number"},
            "AudioPlay": audio,
            "AudioCompletion": {**audio, "time_spent_seconds": "integer", "percentage_listened": "number"}})

    def test_the_guides_examples_are_valid(self):
        self.assertEqual(self.completions(STATEFUL, completion(), completion()),
                         (200, {"user_id": USER, "cohorts": ["67890"], "activations": {"freewheel": ["67890"]}}))
        self.assertEqual(self.emu.requests()[0]["ignored_events"], [])

    def test_invalid_events_are_ignored_with_200_and_logged(self):
        status, answer = self.completions(STATEFUL, completion(), completion(time_spent=12.5))
        self.assertEqual((status, answer["cohorts"]), (200, []))  # 67890 needs two valid completions
        self.assertEqual(self.emu.requests()[-1]["ignored_events"], [
            {"index": 1, "name": "VideoCompletion",
             "error": "events[1].properties.time_spent_seconds: expected integer, got 12.5"}])
        # The ignored event is not in the history: one more valid one is needed.
        self.assertEqual(self.completions(STATEFUL, completion())[1]["cohorts"], ["67890"])

    def test_every_error_of_an_event_is_logged(self):
        bad = completion(time_spent="450", percentage=True)
        bad["properties"]["categories"] = "football"
        self.assertEqual(self.completions(STATEFUL, bad)[0], 200)
        (ignored,) = self.emu.requests()[-1]["ignored_events"]
        self.assertEqual(ignored["error"], "; ".join((
            'events[0].properties.categories: expected array<string>, got "football"',
            'events[0].properties.time_spent_seconds: expected integer, got "450"',
            "events[0].properties.percentage_watched: expected number, got true")))

    def test_stateless_ignores_invalid_events_too(self):
        status, answer = self.completions(STATELESS, completion(time_spent=12.5), completion())
        self.assertEqual(status, 200)
        (counts,) = answer["state"]["internal_state"]["67890"].values()
        self.assertEqual(counts, ["p", 1])
        self.assertEqual([e["index"] for e in self.emu.requests()[-1]["ignored_events"]], [0])

    def test_synchronous_validation_answers_the_schema_error(self):
        for path in (STATEFUL + "&synchronous-validation=true", STATELESS + "?synchronous-validation=TRUE"):
            with self.subTest(path=path):
                self.emu.reset()
                status, answer = self.completions(path, completion(), completion(time_spent=12.5),
                                                  completion(percentage="75%"))
                self.assertError((status, None, answer), 400, "event schema validation failed")
                self.assertEqual(answer["error"]["message"], "event schema validation failed")
                self.assertEqual(answer["error"]["cause"], "; ".join((
                    "events[1].properties.time_spent_seconds: expected integer, got 12.5",
                    'events[2].properties.percentage_watched: expected number, got "75%"')))
                (logged,) = self.emu.requests()
                self.assertEqual((logged["synchronous_validation"], logged["status"]), (True, 400))

    def test_nothing_of_a_refused_request_is_applied(self):
        for path in (STATEFUL + "&synchronous-validation=true", STATELESS + "?synchronous-validation=true"):
            with self.subTest(path=path):
                self.emu.reset()
                refused = call(self.emu, path, {"alias": {"tag": "tifa", "id": "T1"},
                                                "events": [completion(), completion(12.5)]})
                self.assertError(refused, 400, "event schema validation failed")
                self.assertEqual(self.emu.health()["users"], 0)  # no history: not even the valid completion
                # Nor the alias: had T1 been linked, it would win over "probe" (priority 0 < 1).
                probe = call(self.emu, STATEFUL, {"alias": {"tag": "tifa", "id": "probe"}, "events": [event()]})
                both = {"aliases": [{"tag": "tifa", "id": "T1", "priority": 0},
                                    {"tag": "tifa", "id": "probe", "priority": 1}], "events": [event()]}
                self.assertEqual(call(self.emu, STATEFUL, both)[2]["user_id"], probe[2]["user_id"])

    def test_synchronous_validation_of_valid_events_applies_them(self):
        path = STATEFUL + "&synchronous-validation=true"
        self.assertEqual(self.completions(path, completion(), completion())[1]["cohorts"], ["67890"])

    def test_only_true_turns_synchronous_validation_on(self):
        for value in ("false", "1", "yes", ""):
            with self.subTest(value=value):
                status, _ = self.completions(f"{STATELESS}?synchronous-validation={value}", completion(12.5))
                self.assertEqual(status, 200)
                self.assertFalse(self.emu.requests()[-1]["synchronous_validation"])

    def set_schema(self, doc):
        status, answer = control(self.emu, "POST", "/_control/schema", doc)
        self.assertEqual(status, 200, answer)
        return answer

    def test_unknown_events_ignore_and_accept(self):
        pageview = event("Pageview")
        self.assertEqual(self.set_schema({"events": {"Videoview": {}}, "unknown_events": "ignore"}),
                         {"events": {"Videoview": {}}, "unknown_events": "ignore"})
        self.emu.set_rules({"behavioral": [{"id": "any", "event": "*", "activations": ["dfp"]}]})
        status, answer = self.completions(STATEFUL, pageview)
        self.assertEqual((status, answer["cohorts"]), (200, []))
        self.assertEqual(self.emu.requests()[-1]["ignored_events"], [
            {"index": 0, "name": "Pageview",
             "error": 'events[0].name: "Pageview" is not an event of the workspace schema'}])
        self.assertEqual(self.completions(STATEFUL, event("Videoview"))[1]["cohorts"], ["any"])
        refused = self.completions(STATELESS + "?synchronous-validation=true", pageview)
        self.assertError((refused[0], None, refused[1]), 400, "event schema validation failed")
        self.assertIn("Pageview", refused[1]["error"]["cause"])
        self.set_schema({"events": {}, "unknown_events": "accept"})
        self.assertEqual(self.completions(STATELESS + "?synchronous-validation=true", pageview)[1]["state"]
                         ["cohorts"], ["any"])

    def test_unknown_events_default_to_accept(self):
        self.assertEqual(self.set_schema({"events": {}}), {"events": {}, "unknown_events": "accept"})

    def test_bad_schemas_are_refused_naming_the_field(self):
        cases = (
            ([], "JSON object"),
            ({"events": {}, "extra": 1}, "extra"),
            ({}, "events"),
            ({"events": []}, "events"),
            ({"events": {}, "unknown_events": "drop"}, "unknown_events"),
            ({"events": {"Videoview": []}}, "events.Videoview"),
            ({"events": {"Videoview": {"video_id": "int"}}}, "events.Videoview.video_id"),
            ({"events": {"Videoview": {"video_id": None}}}, "events.Videoview.video_id"),
            ({"events": {"Videoview": {"video..id": "string"}}}, "video..id"),
            ({"events": {"": {}}}, "event names"),
            (b"{", "JSON"),
        )
        for doc, named in cases:
            with self.subTest(doc=doc):
                status, answer = control(self.emu, "POST", "/_control/schema", doc)
                self.assertEqual(status, 400, answer)
                self.assertIn(named, answer["error"]["message"])
        self.assertEqual(control(self.emu, "GET", "/_control/schema")[1]["unknown_events"], "accept")  # unchanged

    def test_reset_restores_the_start_up_schema(self):
        self.set_schema({"events": {}, "unknown_events": "ignore"})
        self.emu.reset()
        self.assertIn("VideoCompletion", control(self.emu, "GET", "/_control/schema")[1]["events"])

    def test_the_contextual_api_has_no_events_to_check(self):
        self.set_schema({"events": {}, "unknown_events": "ignore"})
        self.assertEqual(call(self.emu, CONTEXTUAL + "?synchronous-validation=true", {"url": "/sport"})[0], 200)


class SchemaFileTest(unittest.TestCase):
    schema = {"events": {"Videoview": {"video.duration_seconds": "integer"}}, "unknown_events": "ignore"}

    def test_schema_file_and_reset_restores_it(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "schema.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(self.schema, f)
            with emulator_with_flags("--schema", path) as emu:
                self.assertEqual(control(emu, "GET", "/_control/schema"), (200, self.schema))
                nested = {**event(), "properties": {"video": {"duration_seconds": 12.5}}}
                status, _, answer = call(emu, STATEFUL + "&synchronous-validation=true",
                                         {"user_id": USER, "events": [nested]}, key=None)
                self.assertEqual(status, 400, answer)
                self.assertEqual(answer["error"]["cause"],
                                 "events[0].properties.video.duration_seconds: expected integer, got 12.5")
                control(emu, "POST", "/_control/schema", {"events": {}})
                control(emu, "POST", "/_control/reset")
                self.assertEqual(control(emu, "GET", "/_control/schema"), (200, self.schema))

    def test_bad_schema_file_stops_start_up(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "schema.json")
            for text, named in (('{"events": {"Videoview": {"title": "text"}}}', "events.Videoview.title"),
                                ("{not json", "not valid JSON")):
                with self.subTest(text=text):
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(text)
                    with self.assertRaisesRegex(EmulatorError, f"(?s)exit 2:.*{named}"):
                        with emulator_with_flags("--schema", path):
                            pass


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
                self.assertEqual(self.https_call(emu, trusting, host), (200, {"activations": {"freewheel": ["99999"]}}))
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
