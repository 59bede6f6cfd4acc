"""Start and drive the API emulator from Python integration tests.

    from client import Emulator
    with Emulator(api_key="test-key") as emu:
        run_agent(ccs_url=emu.url, contextual_url=emu.url)
        emu.set_fault("status", code=503, count=2)
        assert all("k" not in r["query"] for r in emu.requests("/ccs/"))
"""

import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

EMULATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "emulator.py")
START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 5


class EmulatorError(RuntimeError):
    pass


class Emulator:
    """The emulator as a subprocess on a free port of 127.0.0.1.

    rules: a dict (written to a file) or a path; faults: `--fault` strings;
    tls: (cert_path, key_path) to serve HTTPS; log_path: JSON-lines request log.
    Its stderr is kept (`stderr()`, also after stop) and quoted when it fails to start.
    """

    def __init__(self, api_key=None, rules=None, faults=(), tls=None, log_path=None, host="127.0.0.1"):
        self.api_key = api_key
        self.rules = rules
        self.faults = list(faults)
        self.tls = tls
        self.log_path = log_path
        self.host = host
        self.port = None
        self.port_file = None
        self.process = None
        self._workdir = None
        self._stderr_text = ""

    # -- life cycle

    def start(self):
        self._workdir = tempfile.TemporaryDirectory(prefix="cohort-emulator-")
        self.port_file = os.path.join(self._workdir.name, "port")
        self.stderr_path = os.path.join(self._workdir.name, "stderr.log")
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
        if self.log_path is not None:
            command += ["--log", self.log_path]
        for fault in self.faults:
            command += ["--fault", fault]
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=stderr)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(self.port_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"emulator did not start:\n{self.stderr()}")
            time.sleep(0.01)
        with open(self.port_file, encoding="ascii") as f:
            self.port = int(f.read())
        return self

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._workdir is not None:
            self._stderr_text = self.stderr()
            self._workdir.cleanup()
            self._workdir = None
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.stop()

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

    # -- control API

    def set_fault(self, mode, **params):
        """Queue a fault: set_fault("429", retry_after=2, count=1, path="ccs"); set_fault("none") clears."""
        return self._control("POST", "/_control/fault", {"mode": mode, **params})["faults"]

    def reset(self):
        """Clear faults, users, aliases and the request log; restore the start-up rules."""
        self._control("POST", "/_control/reset", {})

    def requests(self, path_prefix=None):
        """The request log (oldest first), optionally only paths starting with path_prefix."""
        query = "" if path_prefix is None else "?" + urllib.parse.urlencode({"path_prefix": path_prefix})
        return self._control("GET", "/_control/requests" + query)["requests"]

    def set_rules(self, rules):
        return self._control("POST", "/_control/rules", rules)

    def health(self):
        return self._control("GET", "/_control/health")

    def _control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
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
