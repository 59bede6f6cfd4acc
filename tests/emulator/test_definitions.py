"""Tests of the emulator's signed definitions server: document and .sig, ETag / 304,
Cache-Control, the API key, publishing, and every fault a definitions server can have.

    python3 -m unittest discover -s tests/emulator -p 'test_*.py'
"""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import EMULATOR, Emulator, EmulatorError  # noqa: E402
import definitions  # noqa: E402

KEY = "test-key"
DOC = definitions.DOC_PATH
SIG = definitions.SIG_PATH


def get(emu, path, key=KEY, headers=None, timeout=10):
    """GET; returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=timeout)
    all_headers = dict(headers or {})
    if key is not None:
        all_headers["X-Api-Key"] = key
    try:
        conn.request("GET", path, headers=all_headers)
        answer = conn.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        conn.close()


def verifies(document, signature, public_key=definitions.DEFAULT_PUBLIC_KEY):
    """Whether the openssl CLI verifies the .sig (base64 DER) over the document."""
    with tempfile.TemporaryDirectory() as tmp:
        doc_path, sig_path = os.path.join(tmp, "doc"), os.path.join(tmp, "sig")
        with open(doc_path, "wb") as f:
            f.write(document)
        with open(sig_path, "wb") as f:
            f.write(base64.b64decode(signature, validate=True))
        run = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_key, "-signature", sig_path, doc_path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        return run.returncode == 0


def fetch_pair(emu, sig_first=False):
    """(document, signature) as a device fetches them; each must be a 200."""
    order = (SIG, DOC) if sig_first else (DOC, SIG)
    got = {}
    for path in order:
        status, _, body = get(emu, path)
        assert status == 200, (path, status, body[:200])
        got[path] = body
    return got[DOC], got[SIG]


class DefinitionsServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(api_key=KEY).start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        self.emu.reset()

    def test_serves_a_signed_document_with_etag_and_cache_control(self):
        status, headers, document = get(self.emu, DOC)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Cache-Control"], "max-age=3600")
        self.assertEqual(headers["ETag"], definitions.etag(document))
        self.assertEqual(json.loads(document)["version"], 1)
        self.assertEqual(len(json.loads(document)["cohorts"]), 5)  # samples/definitions/cohorts.json
        status, headers, signature = get(self.emu, SIG)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertNotIn(b"\n", signature)  # as base64 -w0 writes it
        self.assertTrue(verifies(document, signature))
        self.assertFalse(verifies(document + b" ", signature))
        self.assertEqual(self.emu.published_definitions()["etag"], definitions.etag(document))
        self.assertEqual(self.emu.definitions_url, self.emu.url + DOC)

    def test_if_none_match_gets_304(self):
        _, headers, document = get(self.emu, DOC)
        tag = headers["ETag"]
        for sent in (tag, f'"other", {tag}', f"W/{tag}", "*"):
            status, answer, body = get(self.emu, DOC, headers={"If-None-Match": sent})
            self.assertEqual((status, body), (304, b""), sent)
            self.assertEqual(answer["ETag"], tag)
            self.assertEqual(answer["Cache-Control"], "max-age=3600")
        status, _, body = get(self.emu, DOC, headers={"If-None-Match": '"stale"'})
        self.assertEqual((status, body), (200, document))
        _, sig_headers, _ = get(self.emu, SIG)
        self.assertEqual(get(self.emu, SIG, headers={"If-None-Match": sig_headers["ETag"]})[0], 304)

    def test_a_new_document_is_served_signed_with_a_new_etag(self):
        _, old_headers, _ = get(self.emu, DOC)
        published = b'{"version": 2, "cohorts": []}'
        answer = self.emu.publish_definitions(published)
        self.assertEqual(answer["version"], 2)
        self.assertEqual(answer["bytes"], len(published))
        status, headers, document = get(self.emu, DOC, headers={"If-None-Match": old_headers["ETag"]})
        self.assertEqual((status, document), (200, published))  # byte for byte
        self.assertNotEqual(headers["ETag"], old_headers["ETag"])
        self.assertTrue(verifies(document, get(self.emu, SIG)[2]))
        self.emu.reset()  # back to the start-up document
        self.assertEqual(json.loads(get(self.emu, DOC)[2])["version"], 1)

    def test_the_api_key_is_required_as_for_the_other_calls(self):
        self.assertEqual(get(self.emu, DOC, key=None)[0], 401)
        self.assertEqual(get(self.emu, SIG, key="wrong")[0], 403)
        self.assertEqual(get(self.emu, DOC + "?k=" + KEY, key=None)[0], 200)
        conn = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=10)
        conn.request("POST", DOC, body=b"{}", headers={"X-Api-Key": KEY, "Content-Type": "application/json"})
        answer = conn.getresponse()
        self.assertEqual((answer.status, answer.headers["Allow"]), (405, "GET"))
        conn.close()

    def test_cache_control_is_an_option(self):
        for value in ("public, max-age=600", "max-age=garbage", "no-cache"):
            self.emu.set_options(definitions_cache_control=value)
            self.assertEqual(get(self.emu, DOC)[1]["Cache-Control"], value)
        self.emu.set_options(definitions_cache_control="")
        self.assertIsNone(get(self.emu, DOC)[1]["Cache-Control"])
        with self.assertRaisesRegex(EmulatorError, "definitions_cache_control: must be a string"):
            self.emu.set_options(definitions_cache_control=600)

    # -- content faults: what is published, the document and its .sig together

    def published(self):
        return get(self.emu, DOC)[2]

    def test_bad_signature(self):
        good = self.published()
        self.emu.set_fault("bad_signature", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertEqual(document, good)
        self.assertFalse(verifies(document, signature))
        self.assertTrue(verifies(document + b" ", signature))  # a genuine signature, of other bytes

    def test_wrong_key(self):
        self.emu.set_fault("wrong_key", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertEqual(document, self.published())
        self.assertFalse(verifies(document, signature))

    def test_older_version(self):
        self.emu.publish_definitions({"version": 5, "cohorts": []})
        self.emu.set_fault("older_version", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertEqual(json.loads(document), {"version": 4, "cohorts": []})
        self.assertTrue(verifies(document, signature))

    def test_same_version_other_bytes(self):
        good = self.published()
        self.emu.set_fault("same_version", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertNotEqual(document, good)
        self.assertEqual(json.loads(document)["version"], json.loads(good)["version"])
        self.assertTrue(verifies(document, signature))

    def test_oversize(self):
        good = self.published()
        self.emu.set_fault("oversize", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertGreater(len(document), definitions.MAX_DOC_BYTES)
        self.assertEqual(json.loads(document), json.loads(good))  # still valid JSON: only its size is wrong
        self.assertTrue(verifies(document, signature))

    def test_signed_truncated(self):
        good = self.published()
        self.emu.set_fault("signed_truncated", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertEqual(document, good[:len(good) // 2])
        self.assertTrue(verifies(document, signature))
        with self.assertRaises(ValueError):
            json.loads(document)

    def test_invalid_json_with_a_valid_signature(self):
        self.emu.set_fault("invalid_json", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertTrue(verifies(document, signature))
        with self.assertRaises(ValueError):
            json.loads(document)

    def test_invalid_rules_with_a_valid_signature(self):
        self.emu.set_fault("invalid_rules", path="defs")
        document, signature = fetch_pair(self.emu)
        self.assertTrue(verifies(document, signature))
        doc = json.loads(document)
        self.assertEqual(doc["version"], 2)
        self.assertEqual(doc["cohorts"][0]["rule"]["conditions"][0]["operator"], "median")

    def test_content_faults_hold_both_files_in_any_order_until_cleared(self):
        _, good_headers, good = get(self.emu, DOC)
        self.emu.set_fault("older_version", path="defs")
        self.emu.set_fault("status", code=503, count=1, path="defs")  # taken in turn meanwhile
        self.assertEqual(get(self.emu, DOC)[0], 503)
        for sig_first in (True, False, True):
            document, signature = fetch_pair(self.emu, sig_first=sig_first)
            self.assertEqual(json.loads(document)["version"], 0)
            self.assertTrue(verifies(document, signature))
        # Its ETag is its own: the good document's tag does not hide it.
        status, _, body = get(self.emu, DOC, headers={"If-None-Match": good_headers["ETag"]})
        self.assertEqual((status, body), (200, document))
        log = [r for r in self.emu.requests(DOC) if r["path"] == DOC]
        self.assertEqual([r["fault"] for r in log], [None, "status"] + ["older_version"] * 4)
        self.emu.set_fault("none", path="defs")
        self.assertEqual(fetch_pair(self.emu)[0], good)

    def test_content_faults_take_no_count_and_only_path_defs(self):
        with self.assertRaisesRegex(EmulatorError, "takes no count"):
            self.emu.set_fault("older_version", path="defs", count=1)
        with self.assertRaisesRegex(EmulatorError, "applies to the definitions"):
            self.emu.set_fault("oversize", path="ccs")

    # -- how a request is answered (taken by requests in turn)

    def test_500(self):
        self.emu.set_fault("status", code=500, count=1, path="defs")
        self.assertEqual(get(self.emu, DOC)[0], 500)
        self.assertEqual(get(self.emu, DOC)[0], 200)

    def test_a_fault_for_the_signature_only(self):
        self.emu.set_fault("status", code=500, count=1, path="sig")
        self.assertEqual(get(self.emu, DOC)[0], 200)
        self.assertEqual(get(self.emu, SIG)[0], 500)

    def test_wrong_content_type_and_garbage(self):
        self.emu.set_fault("wrong_content_type", count=1, path="defs")
        status, headers, body = get(self.emu, DOC)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.emu.set_fault("garbage", count=1, path="defs")
        status, _, body = get(self.emu, DOC)
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(body)

    def test_redirect_loop(self):
        self.emu.set_fault("redirect_loop", path="defs")
        for path in (DOC, SIG, DOC + "?k=x"):
            status, headers, _ = get(self.emu, path)
            self.assertEqual((status, headers["Location"]), (302, path))

    def test_truncated_is_the_document_cut_short(self):
        good = self.published()
        self.emu.set_fault("truncated", count=1, path="defs")
        conn = http.client.HTTPConnection(self.emu.host, self.emu.port, timeout=10)
        conn.request("GET", DOC, headers={"X-Api-Key": KEY})
        answer = conn.getresponse()
        self.assertEqual(int(answer.headers["Content-Length"]), len(good))
        with self.assertRaises(http.client.IncompleteRead) as cut:
            answer.read()
        self.assertEqual(cut.exception.partial, good[:len(good) // 2])
        conn.close()

    def test_stall_sends_part_of_the_body_then_nothing(self):
        good = self.published()
        self.emu.set_fault("stall", count=1, path="defs")
        sock = socket.create_connection((self.emu.host, self.emu.port), timeout=10)
        sock.sendall(f"GET {DOC} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {KEY}\r\n\r\n".encode())
        received = b""
        while len(received.partition(b"\r\n\r\n")[2]) < len(good) // 2:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, "closed before the first half")
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertIn(f"Content-Length: {len(good)}".encode(), head)
        self.assertEqual(body, good[:len(good) // 2])
        sock.settimeout(0.5)
        with self.assertRaises(socket.timeout):  # nothing more comes, however long one waits
            sock.recv(65536)
        sock.close()
        self.assertEqual(get(self.emu, DOC)[2], good)  # the next request is served


class UnitFixturesTest(unittest.TestCase):
    """tests/unit/data/emulator holds what this emulator serves, for the agent's
    unit test of the refusals (test_definitions_doc): it must not drift."""

    def test_the_unit_fixtures_are_what_the_emulator_serves(self):
        fixtures = os.path.join(os.path.dirname(definitions.HERE), "unit", "data", "emulator")
        publisher = definitions.Publisher()
        for mode in (None, *definitions.CONTENT_MODES):
            if mode == "oversize":
                continue
            with self.subTest(mode=mode):
                with open(os.path.join(fixtures, f"{mode or 'published'}.json"), "rb") as f:
                    self.assertEqual(f.read(), publisher.served(mode)[0],
                                     "run tests/unit/data/make-fixtures.sh")


class StartupTest(unittest.TestCase):
    def test_publishes_a_given_document_byte_for_byte(self):
        document = b'{"version": 9,   "cohorts": []}\n'
        with Emulator(definitions=document, definitions_key=definitions.DEFAULT_KEY) as emu:
            self.assertEqual(get(emu, DOC, key=None)[2], document)
            self.assertTrue(verifies(document, get(emu, SIG, key=None)[2]))
            self.assertEqual(emu.published_definitions()["version"], 9)

    def test_a_missing_key_stops_start_up(self):
        run = subprocess.run([sys.executable, EMULATOR, "--definitions-key", "/nonexistent/key.pem"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=False)
        self.assertEqual(run.returncode, 2)
        self.assertIn(b"/nonexistent/key.pem: no such signing key", run.stderr)

    def test_content_faults_at_start_up(self):
        with Emulator(faults=["older_version:path=defs"]) as emu:
            document, signature = fetch_pair(emu)
            self.assertEqual(json.loads(document)["version"], 0)
            self.assertTrue(verifies(document, signature))


if __name__ == "__main__":
    unittest.main()
