"""Start and drive the API emulator from Python integration tests.

    from client import Emulator
    with Emulator(api_key="test-key") as emu:
        run_agent(ccs_url=emu.url, contextual_url=emu.url)
        emu.set_fault("status", code=503, count=2)
        assert all("k" not in r["query"] for r in emu.requests("/ccs/"))

Conformance: every run records its request log to a file (log_path, or one in
its temporary directory), and stop() validates every CCS request body in it
against the published OpenAPI schema (tests/conformance/check_ccs_requests.py,
run by Debian's /usr/bin/python3 or $COHORT_CONFORMANCE_PYTHON). A violation
raises AssertionError. Tests that send invalid bodies on purpose pass
conformance=False.
"""

import json
import os
import shlex
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from definitions import DOC_PATH as DEFINITIONS_PATH

EMULATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "emulator.py")
START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 5
CONFORMANCE_CHECKER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                   "conformance", "check_ccs_requests.py")
CONFORMANCE_TIMEOUT_S = 120


class EmulatorError(RuntimeError):
    pass


class Emulator:
    """The emulator as a subprocess on a free port of 127.0.0.1.

    rules: a dict (written to a file) or a path; faults: `--fault` strings;
    tls: (cert_path, key_path) to serve HTTPS; log_path: JSON-lines request log
    (default: one in the temporary directory); conformance: validate the CCS
    request bodies of the log at stop() (False for tests that send invalid
    bodies on purpose).
    Its stderr is kept (`stderr()`, also after stop) and quoted when it fails to start.
    """

    def __init__(self, api_key=None, rules=None, faults=(), tls=None, log_path=None, host="127.0.0.1",
                 conformance=True, definitions=None, definitions_key=None):
        self.api_key = api_key
        self.definitions = definitions            # bytes published at start (default: the sample, version 1)
        self.definitions_key = definitions_key    # signing key (default: the demo key of samples/)
        self.rules = rules
        self.faults = list(faults)
        self.tls = tls
        self.log_path = log_path
        self.host = host
        self.conformance = conformance
        self.port = None
        self.port_file = None
        self.process = None
        self._workdir = None
        self._stderr_text = ""
        self._request_log = None       # the --log file of this run
        self._log_copy = None          # with a caller's log_path: see _collect_log()
        self._log_offset = 0
        self._log_mark = b""
        self._log_seen = set()
        self._pending_check = False    # a run whose log is not checked yet
        self.conformance_summary = None

    # -- life cycle

    def start(self):
        self._workdir = tempfile.TemporaryDirectory(prefix="cohort-emulator-")
        self.port_file = os.path.join(self._workdir.name, "port")
        self.stderr_path = os.path.join(self._workdir.name, "stderr.log")
        self._request_log = self.log_path or os.path.join(self._workdir.name, "requests.jsonl")
        self._log_copy = None
        if self.log_path is not None and self.conformance:
            # The caller's file is appended to, and the caller may empty it
            # between tests: this run's requests are gathered into a copy of
            # our own (_collect_log), starting where the file ends now.
            self._log_offset, self._log_mark, self._log_seen = 0, b"", set()
            self._collect_log(copy=False)
            self._log_copy = os.path.join(self._workdir.name, "requests-of-this-run.jsonl")
            open(self._log_copy, "w", encoding="utf-8").close()
        self._pending_check = False
        self.conformance_summary = None
        command = [sys.executable, EMULATOR, "--host", self.host, "--port", "0", "--port-file", self.port_file]
        if self.api_key is not None:
            command += ["--api-key", self.api_key]
        if isinstance(self.rules, dict):
            rules_path = os.path.join(self._workdir.name, "rules.json")
            with open(rules_path, "w", encoding="utf-8") as f:
                json.dump(self.rules, f)
            command += ["--rules", rules_path]
        elif self.rules is not None:
            command += ["--rules", self.rules]
        if self.tls is not None:
            command += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        command += ["--log", self._request_log]
        if self.definitions is not None:
            definitions_path = os.path.join(self._workdir.name, "definitions.json")
            with open(definitions_path, "wb") as f:
                f.write(self.definitions)
            command += ["--definitions", definitions_path]
        if self.definitions_key is not None:
            command += ["--definitions-key", self.definitions_key]
        for fault in self.faults:
            command += ["--fault", fault]
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=stderr)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(self.port_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()  # it served nothing: no check
                raise EmulatorError(f"emulator did not start:\n{self.stderr()}")
            time.sleep(0.01)
        with open(self.port_file, encoding="ascii") as f:
            self.port = int(f.read())
        self._pending_check = self.conformance
        return self

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers; returns the exit status.

        Idempotent. The first stop() of a run that served requests validates
        its CCS request bodies (conformance=True): AssertionError on a violation,
        raised once the emulator is stopped and cleaned up."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        failure = None
        try:
            if self._pending_check:
                self._pending_check = False  # once per run, whatever happens below
                failure = self._check_conformance()
        finally:
            if self._workdir is not None:
                self._stderr_text = self.stderr()
                self._workdir.cleanup()
                self._workdir = None
        if failure is not None:
            raise AssertionError(failure)
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, _tb):
        if exc is None or isinstance(exc, unittest.SkipTest):
            self.stop()  # a violation raises here (from a skip too: it must not hide one)
            return False
        # The block failed already: its exception stays the one reported, with
        # the conformance failure attached to it (and on stderr), not instead of it.
        try:
            self.stop()
        except AssertionError as failure:
            note = f"and the emulator's conformance check failed too:\n{failure}"
            print(f"emulator: {note}", file=sys.stderr, flush=True)
            if hasattr(exc, "add_note"):  # Python 3.11
                exc.add_note(note)
        return False

    # -- conformance

    def _collect_log(self, copy=True, entries=()):
        """With a caller's log_path: add this run's requests that our copy lacks
        (by seq): entries (the emulator's memory, taken before a reset), then
        the lines appended to the file since the last look. When the file no
        longer has, just before where we stopped, the last line we read, the
        caller emptied or rewrote it: it is read again from its start."""
        if self._log_copy is None and copy:
            return
        lines = [json.dumps(e) for e in entries]
        if os.path.exists(self.log_path):
            with open(self.log_path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                start = self._log_offset
                if start:
                    f.seek(max(start - len(self._log_mark), 0))
                    if size < start or f.read(len(self._log_mark)) != self._log_mark:
                        start = 0
                f.seek(start)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written is read next time
            if end:
                self._log_offset = start + end
                self._log_mark = data[data.rfind(b"\n", 0, end - 1) + 1:end]
            elif start == 0:
                self._log_offset, self._log_mark = 0, b""
            lines += data[:end].decode("utf-8", "replace").splitlines()
        if not copy:
            return
        new = []
        for line in lines:
            try:
                seq = json.loads(line).get("seq")
            except (ValueError, AttributeError):
                seq = None  # not ours to judge: the checker reports it
            if seq is None or seq not in self._log_seen:
                self._log_seen.add(seq)
                new.append(line + "\n")
        with open(self._log_copy, "a", encoding="utf-8") as f:
            f.writelines(new)

    def _check_conformance(self):
        """None when every CCS request body of this run is valid, else the report."""
        self._collect_log()
        log = self._log_copy or self._request_log  # a missing file is an error of the checker's, not a pass
        python = os.environ.get("COHORT_CONFORMANCE_PYTHON") or "/usr/bin/python3"
        # -I: Debian's interpreter with Debian's packages only, whatever
        # PYTHONPATH or user site-packages the test runs with.
        command = [python, "-I", CONFORMANCE_CHECKER, log]
        try:
            run = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=CONFORMANCE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"CCS conformance check could not run ({shlex.join(command)}): {error}"
        output = run.stdout.decode("utf-8", "replace").strip()
        if run.returncode != 0:
            what = "violations" if run.returncode == 1 else f"could not check (exit {run.returncode})"
            copied = f" (this run's requests, also logged to {self.log_path})" if self._log_copy else ""
            return (f"CCS request bodies vs the published OpenAPI schema: {what}{copied}\n"
                    f"$ {shlex.join(command)}\n{output}")
        self.conformance_summary = output
        print(f"emulator: {output}", file=sys.stderr, flush=True)
        return None

    def stderr(self):
        """What the emulator wrote to stderr so far (kept after stop())."""
        if self._workdir is None:
            return self._stderr_text
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    @property
    def url(self):
        """Base URL for api.ccs_url and api.contextual_url."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def definitions_url(self):
        """For cohorts.definitions_url: the signed document (its signature: this plus ".sig")."""
        return self.url + DEFINITIONS_PATH

    # -- control API

    def publish_definitions(self, document):
        """Publish a definitions document (bytes, or a dict serialized here), signed by the emulator;
        answers {path, version, bytes, sha256, etag}."""
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self._control("POST", "/_control/definitions", data)

    def published_definitions(self):
        return self._control("GET", "/_control/definitions")

    def set_fault(self, mode, **params):
        """Queue a fault: set_fault("429", retry_after=2, count=1, path="ccs"); set_fault("none") clears."""
        return self._control("POST", "/_control/fault", {"mode": mode, **params})["faults"]

    def reset(self):
        """Clear faults, users, aliases and the request log; restore the start-up rules.
        (The log file keeps every request: the conformance check reads it.)"""
        if self._log_copy is not None and self._pending_check:
            # What the reset clears is kept for the check, lest the caller
            # empty its log file before the last lines reach it.
            self._collect_log(entries=self.requests())
        self._control("POST", "/_control/reset", {})

    def requests(self, path_prefix=None):
        """The request log (oldest first), optionally only paths starting with path_prefix."""
        query = "" if path_prefix is None else "?" + urllib.parse.urlencode({"path_prefix": path_prefix})
        return self._control("GET", "/_control/requests" + query)["requests"]

    def set_options(self, **options):
        """Server behaviour switches (POST /_control/options), e.g. omit_activations=True."""
        return self._control("POST", "/_control/options", options)

    def set_rules(self, rules):
        return self._control("POST", "/_control/rules", rules)

    def health(self):
        return self._control("GET", "/_control/health")

    def _control(self, method, path, body=None):
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        # The control channel is the test talking to its own emulator; what must
        # verify certificates is the agent under test, not this helper.
        context = ssl._create_unverified_context() if self.tls else None
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            raise EmulatorError(f"{method} {path}: {error.code} {error.read().decode(errors='replace')}") from None
