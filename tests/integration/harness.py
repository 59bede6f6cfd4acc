"""Black-box harness for cohortd: start the real daemon, talk to its socket.

    from harness import Daemon
    with Daemon(config={"consent": {"required": False}}) as d:
        d.call("track", {"name": "Pageview"})
        d.stop()                      # SIGTERM; returns the exit status

The binaries come from the environment (CTest sets them):

    COHORTD          path of cohortd
    COHORTCTL        path of cohortctl
    COHORT_WRAPPER   a command prefixed to both, e.g. "qemu-aarch64 -L /" when the
                     build is cross-compiled; then every deadline is stretched
                     by COHORT_TEST_TIME_SCALE (default 8)

Standard library only. Everything waits by polling with a deadline, never by
a fixed sleep, so the suite is fast natively and still passes under qemu-user.
"""

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))


def _default_binary(*parts):
    return os.path.join(ROOT, "build", "host-debug", *parts)


COHORTD = os.environ.get("COHORTD") or _default_binary("agent", "daemon", "cohortd")
COHORTCTL = os.environ.get("COHORTCTL") or _default_binary("agent", "cli", "cohortctl")
WRAPPER = shlex.split(os.environ.get("COHORT_WRAPPER", ""))
EMULATED = bool(WRAPPER)
TIME_SCALE = float(os.environ.get("COHORT_TEST_TIME_SCALE") or (8 if EMULATED else 1))

# No test ever reaches the real APIs: without an emulator the remote URLs point
# at a closed local port (connection refused at once).
CLOSED_URL = "http://127.0.0.1:9"

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INVALID_REQUEST = -32600
PARSE_ERROR = -32700
MAX_LINE = 64 * 1024


def scaled(seconds):
    """A deadline stretched for emulated (qemu-user) runs."""
    return seconds * TIME_SCALE


def daemon_command(*args):
    return WRAPPER + [COHORTD, *args]


def ctl_command(*args):
    return WRAPPER + [COHORTCTL, *args]


def wait_until(predicate, timeout, interval=0.005, message="condition"):
    """Polls predicate() until it is truthy; returns its value or raises."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {message}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.05)


def sanitizer_report(text):
    """The first lines of an ASan / LSan / UBSan report in text, or ""."""
    for marker in ("Sanitizer", "runtime error:"):
        at = text.find(marker)
        if at >= 0:
            start = text.rfind("\n", 0, at) + 1
            return "\n".join(text[start:].splitlines()[:20])
    return ""


def drain(daemon, emulator=None):
    """sync.now until the outbox is empty; with an emulator, then until it has
    finished every CCS request it took."""
    def drained():
        return daemon.call("sync.now", {"timeout_ms": int(scaled(3000))})["pending"] == 0
    wait_until(drained, scaled(60), message="the outbox to drain")
    if emulator is not None:
        wait_until(lambda: all("duration_ms" in r for r in emulator.requests("/ccs/")), scaled(15),
                   message="the emulator to finish its requests")


def deep_merge(base, extra):
    out = dict(base)
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, error):
        self.error = error
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")
        super().__init__(f"{self.code}: {self.message}")


class Client:
    """One connection to the daemon's socket."""

    def __init__(self, path, timeout=None):
        self.path = path
        self.timeout = timeout if timeout is not None else scaled(5)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buffer = b""
        self.next_id = 1
        self.notifications = []

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def read_line(self, timeout=None):
        """The next answer line (bytes, without newline); TimeoutError, or EOFError at close."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer line from cohortd")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no answer line from cohortd") from None
            if not chunk:
                raise EOFError("cohortd closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def read_message(self, timeout=None):
        return json.loads(self.read_line(timeout))

    def expect_eof(self, timeout=None):
        """True when the daemon closes the connection (after any pending lines)."""
        try:
            while True:
                self.read_line(timeout)
        except EOFError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True

    def request(self, method, params=None, id=None):
        """Sends one request and returns the whole answer object (result or error)."""
        if id is None:
            id = self.next_id
            self.next_id += 1
        req = {"jsonrpc": "2.0", "method": method, "id": id}
        if params is not None:
            req["params"] = params
        self.send(req)
        while True:
            msg = self.read_message()
            if isinstance(msg, dict) and "id" not in msg and "method" in msg:
                self.notifications.append(msg)
                continue
            return msg

    def call(self, method, params=None):
        """The result of a method, or RpcError."""
        answer = self.request(method, params)
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    def notify(self, method, params=None):
        req = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            req["params"] = params
        self.send(req)

    def next_notification(self, timeout=None):
        if self.notifications:
            return self.notifications.pop(0)
        while True:
            msg = self.read_message(timeout)
            if isinstance(msg, dict) and "id" not in msg and "method" in msg:
                return msg


class Daemon:
    """cohortd in a temporary directory, with a config file.

    config: merged over the harness defaults (data_dir and socket.path in the
    temporary directory, remote URLs at a closed port or `emulator`'s URL).
    env: extra environment. args: extra command-line arguments.
    """

    def __init__(self, config=None, emulator=None, env=None, args=(), workdir=None):
        self._tmp = None
        if workdir is None:
            # Short paths: a Unix socket path must fit in 108 bytes.
            self._tmp = tempfile.TemporaryDirectory(prefix="cohort-it-", dir="/tmp")
            workdir = self._tmp.name
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.socket_path = os.path.join(workdir, "cohortd.sock")
        url = emulator.url if emulator is not None else CLOSED_URL
        defaults = {
            "data_dir": self.data_dir,
            "socket": {"path": self.socket_path},
            "api": {"ccs_url": url, "contextual_url": url, "key": "test-key"},
            "log": {"level": "info"},
            # Tests see the first sync at once; test_sync checks the fleet delay.
            "sync": {"initial_delay_s": 0},
            # The daemon trusts the test machine's plausible clock at once: a
            # box booted a minute ago without NTP would otherwise hold every
            # event for ten minutes. (The "auto" rules are unit-tested on a
            # fake clock, not on whatever state this machine's clock is in.)
            "clock": {"trust": "system"},
        }
        self.config = deep_merge(defaults, config)
        self.config_path = os.path.join(workdir, "cohortd.json")
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.update(env or {})
        self.args = list(args)
        self.process = None
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self._client = None
        self.starts = 0

    # -- life cycle

    def write_config(self):
        with open(self.config_path, "w", encoding="utf-8") as f:
            json.dump(self.config, f)

    def command(self):
        return daemon_command("--config", self.config_path, *self.args)

    def start(self, wait=True):
        self.write_config()
        self.starts += 1
        stderr = open(self.stderr_path, "ab")
        try:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=stderr, env=self.env)
        finally:
            stderr.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=None):
        """Waits until the socket accepts a connection (or the daemon exits)."""
        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"cohortd exited with {self.process.returncode} during start-up:\n"
                                   f"{self.stderr_text()}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(self.socket_path)
                return True
            except OSError:
                return False
        wait_until(ready, timeout or scaled(10), message="cohortd's socket")

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Sends sig and waits for the exit; returns the exit status."""
        self.close_client()
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout or scaled(10))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode

    def kill9(self):
        self.close_client()
        self.process.kill()
        self.process.wait()

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stderr_text(self):
        try:
            with open(self.stderr_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self):
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.stop()
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self.close_client()
        # A sanitizer build reports leaks and undefined behaviour on stderr
        # (and only there, at exit): any such report fails the test.
        report = sanitizer_report(self.stderr_text())
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if report:
            raise AssertionError(f"cohortd's sanitizer reported:\n{report}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- talking to it

    def client(self, timeout=None):
        return Client(self.socket_path, timeout)

    def close_client(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def call(self, method, params=None):
        """A call on the daemon's shared connection: the result, or RpcError."""
        if self._client is None:
            self._client = self.client()
        return self._client.call(method, params)

    def request(self, method, params=None):
        if self._client is None:
            self._client = self.client()
        return self._client.request(method, params)

    def history(self, limit=1000, name=None):
        params = {"limit": limit}
        if name:
            params["name"] = name
        return self.call("history.get", params)["events"]


class EmulatorTestCase(unittest.TestCase):
    """One API emulator for the class (reset before each test) and a fresh
    daemon per test against it (self.daemon), started with daemon_config."""

    daemon_config = {"consent": {"required": False}}
    emulator = None

    @classmethod
    def setUpClass(cls):
        from client import Emulator  # tests/emulator, on sys.path above
        cls.emulator = Emulator(api_key="test-key").start()

    @classmethod
    def tearDownClass(cls):
        if cls.emulator is not None:
            cls.emulator.stop()

    def setUp(self):
        self.emu = self.emulator
        self.emu.reset()
        self.daemon = Daemon(config=self.daemon_config, emulator=self.emu).start()
        self.addCleanup(self.daemon.cleanup)


def run_ctl(*args, socket_path=None, env=None, input=None, timeout=None):
    """Runs cohortctl; returns the CompletedProcess (text mode)."""
    command = ctl_command(*(["--socket", socket_path] if socket_path else []), *args)
    full_env = dict(os.environ)
    full_env.pop("COHORT_SOCKET", None)
    full_env.update(env or {})
    return subprocess.run(command, input=input, capture_output=True, text=True, env=full_env,
                          timeout=timeout or scaled(20))


def run_threads(target, count, *args):
    """Runs target(i, *args) in `count` threads; re-raises the first failure."""
    errors = []

    def body(i):
        try:
            target(i, *args)
        except BaseException as e:  # noqa: BLE001 - reported to the test below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(60))
    if any(t.is_alive() for t in threads):
        raise TimeoutError("worker threads did not finish")
    if errors:
        raise errors[0]


class DaemonTestCase(unittest.TestCase):
    """A test class that shares one daemon (started in setUpClass)."""

    daemon_config = {"consent": {"required": False}}
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(config=cls.daemon_config).start()

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            cls.daemon.cleanup()

    def call(self, method, params=None):
        return self.daemon.call(method, params)

    def assertRpcError(self, method, params, code, *words):
        """The call fails with `code` and a message containing every word."""
        with self.assertRaises(RpcError) as ctx:
            self.daemon.call(method, params)
        err = ctx.exception
        if code is not None:
            self.assertEqual(err.code, code, err.message)
        for w in words:
            self.assertIn(w, err.message)
        return err
