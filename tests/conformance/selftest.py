#!/usr/bin/python3
"""The conformance checker's own test (CTest: conformance_selftest).

    /usr/bin/python3 -I tests/conformance/selftest.py -v

Proves that check_ccs_requests.py still catches what it must: the published
examples pass; every known-bad body of fixtures/invalid-requests.jsonl is
reported at the JSON path its "expect" names, and nothing else is; a missing
module or an unenforced format stops it (exit 2) instead of passing. Runs the
checker with $COHORT_CONFORMANCE_PYTHON (default /usr/bin/python3), itself
under the same interpreter. A few seconds.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # -I leaves the script's directory off sys.path
sys.dont_write_bytecode = True  # -I ignores PYTHONDONTWRITEBYTECODE: no __pycache__ in the source tree

CHECKER = os.path.join(HERE, "check_ccs_requests.py")
OPENAPI = os.path.join(HERE, "ccs-stateless-segmentation.openapi.yaml")
VALID = os.path.join(HERE, "fixtures", "valid-requests.jsonl")
INVALID = os.path.join(HERE, "fixtures", "invalid-requests.jsonl")
PYTHON = os.environ.get("COHORT_CONFORMANCE_PYTHON") or "/usr/bin/python3"
STATELESS = "/ccs/v1/segmentation/stateless"

# The OpenAPI block of https://docs.permutive.com's stateless segmentation page,
# byte for byte (README.md). A change to the fixture must be a new published copy.
OPENAPI_SHA256 = "9d9100cb4beed8e9c99fa115b7924005c9dcc31edbe075d73912cc1cf2a55e12"

VIOLATION = re.compile(r"^(?P<log>.+): request #(?P<seq>\d+) \(line \d+\) \S+ \S+: (?P<path>\$\S*): (?P<message>.*)$")


def run_checker(*logs, prelude=None):
    """(exit status, stdout, stderr) of the checker, with Python code run first
    (in the same interpreter) to break its environment when prelude is given."""
    if prelude is None:
        command = [PYTHON, "-I", CHECKER, *logs]
    else:
        code = (f"import runpy, sys\n{prelude}\nsys.argv = {[CHECKER, *logs]!r}\n"
                f"runpy.run_path({CHECKER!r}, run_name='__main__')\n")
        command = [PYTHON, "-I", "-c", code]
    run = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout, run.stderr


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Fixtures(unittest.TestCase):
    def test_openapi_document_is_the_published_one(self):
        with open(OPENAPI, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), OPENAPI_SHA256,
                             "ccs-stateless-segmentation.openapi.yaml is no longer the published block")

    def test_valid_fixture_is_the_published_example(self):
        import yaml
        with open(OPENAPI, encoding="utf-8") as f:
            document = yaml.safe_load(f)
        example = document["paths"][STATELESS]["post"]["requestBody"]["content"]["application/json"]["example"]
        valid, invalid = read_jsonl(VALID), read_jsonl(INVALID)
        # As published it has "alias": null and "aliases": null, which its own
        # schema does not allow: the valid fixture is it without them, and it is
        # also among the known-bad bodies as published.
        self.assertEqual(valid[0]["body"], {k: v for k, v in example.items() if v is not None})
        self.assertEqual({k for k, v in example.items() if v is None}, {"alias", "aliases"})
        self.assertIn(example, [e["body"] for e in invalid])


class Checker(unittest.TestCase):
    def test_published_examples_pass(self):
        status, out, err = run_checker(VALID)
        ccs = [e for e in read_jsonl(VALID) if e["path"].startswith("/ccs/")]
        self.assertEqual((status, out), (0, ""), err)
        self.assertEqual(err.strip().splitlines()[-1],
                         f"conformance: {len(ccs)} CCS request bodies valid against SegmentationRequestWithState")

    def test_every_known_bad_body_is_reported(self):
        status, out, err = run_checker(INVALID)
        self.assertEqual(status, 1, out + err)
        reported = {}
        for line in out.splitlines():
            match = VIOLATION.match(line)
            self.assertIsNotNone(match, f"not a violation line: {line!r}")
            self.assertEqual(match["log"], INVALID)
            reported.setdefault(int(match["seq"]), []).append((match["path"], match["message"]))
        entries = read_jsonl(INVALID)
        self.assertEqual(sorted(reported), sorted(e["seq"] for e in entries), "a known-bad body went through")
        for entry in entries:
            with self.subTest(seq=entry["seq"], expect=entry["expect"]):
                got = reported[entry["seq"]]
                self.assertEqual([p for p, _ in got], [p for p, _ in entry["expect"]], got)
                for (_, message), (_, part) in zip(got, entry["expect"]):
                    self.assertIn(part, message)
        self.assertIn(f"violation(s) of SegmentationRequestWithState in {len(entries)} CCS request bodies", err)
        self.assertNotIn("fixture-api-key", out + err)  # a k= in the URL is masked
        self.assertIn("?activations=true&k=***:", out)

    def test_several_logs_and_an_empty_one(self):
        with tempfile.TemporaryDirectory() as tmp:
            empty = os.path.join(tmp, "empty.jsonl")
            open(empty, "w").close()
            status, _, err = run_checker(empty)
            self.assertEqual(status, 0, err)
            self.assertIn("conformance: 0 CCS request bodies valid", err)
            status, out, _ = run_checker(VALID, INVALID, empty)
            self.assertEqual(status, 1)
            self.assertNotIn(VALID, out)

    def test_unreadable_input_is_an_error_not_a_pass(self):
        with tempfile.TemporaryDirectory() as tmp:
            broken = os.path.join(tmp, "broken.jsonl")
            with open(broken, "w", encoding="utf-8") as f:
                f.write('{"seq": 1, "path": "/ccs/v1/segmentation", "body": {}, "body_is_json": true}\n{"seq": 2, "pa')
            for logs, part in (([broken], "broken.jsonl:2: not a JSON log line"),
                               ([os.path.join(tmp, "missing.jsonl")], "cannot read")):
                status, _, err = run_checker(*logs)
                self.assertEqual(status, 2, err)
                self.assertIn(part, err)


class NeverSilent(unittest.TestCase):
    """What the checker depends on, taken away: it must stop, never pass."""

    def test_missing_modules_name_the_debian_package(self):
        for module, package in (("jsonschema", "python3-jsonschema"), ("yaml", "python3-yaml")):
            with self.subTest(module=module):
                status, _, err = run_checker(VALID, prelude=f"sys.modules[{module!r}] = None")
                self.assertEqual(status, 2, err)
                self.assertIn(f"install Debian's {package}", err)

    def test_a_uuid_format_not_enforced_is_detected(self):
        status, _, err = run_checker(VALID, prelude=(
            "import jsonschema\n"
            "jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers.pop('uuid', None)"))
        self.assertEqual(status, 2, err)
        self.assertIn("does not enforce the format", err)

    def test_a_date_time_format_not_enforced_is_detected(self):
        # Registering a format checker does nothing: our date-time is missing
        # (and jsonschema's own, where rfc3339-validator would provide one).
        status, _, err = run_checker(VALID, prelude=(
            "import jsonschema\n"
            "jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers.pop('date-time', None)\n"
            "jsonschema.FormatChecker.checks = lambda self, name, raises=(): (lambda f: f)"))
        self.assertEqual(status, 2, err)
        self.assertIn("date-time", err)
        self.assertIn("does not enforce the format", err)


class DateTime(unittest.TestCase):
    """The strict RFC 3339 date-time checker of check_ccs_requests.py."""

    def test_rfc3339(self):
        from check_ccs_requests import is_rfc3339_date_time
        good = ["2024-01-15T10:30:00Z", "2022-06-22T19:40:43.179Z", "2024-01-15t10:30:00z",
                "2024-01-15T10:30:00.123456789+05:30", "2024-01-15T10:30:00-00:00", "2024-02-29T00:00:00Z",
                "2000-02-29T23:59:59+23:59", "2016-12-31T23:59:60Z", "2017-01-01T05:29:60+05:30", "0000-01-01T00:00:00Z"]
        bad = ["2024-01-15T10:30:00", "2024-01-15 10:30:00Z", "2024-01-15", "10:30:00Z", "2024-01-15T10:30Z",
               "2024-01-15T10:30:00+0100", "2024-01-15T10:30:00+01", "2024-01-15T10:30:00.Z", "2023-02-29T00:00:00Z",
               "1900-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-04-31T00:00:00Z",
               "2024-01-15T24:00:00Z", "2024-01-15T10:60:00Z", "2024-01-15T10:30:61Z", "2024-01-15T10:30:60Z",
               "2024-01-15T10:30:00+24:00", "2024-01-15T10:30:00+01:60", "2024-01-15T10:30:00Z ",
               "2024-01-15T10:30:00Z\n", "２０２４-01-15T10:30:00Z", "1705314600", ""]
        for value in good:
            self.assertTrue(is_rfc3339_date_time(value), value)
        for value in bad:
            self.assertFalse(is_rfc3339_date_time(value), value)
        self.assertTrue(is_rfc3339_date_time(1705314600))  # "type" judges non-strings


if __name__ == "__main__":
    unittest.main()
