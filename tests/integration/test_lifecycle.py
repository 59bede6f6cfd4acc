"""The daemon's life: start-up, configuration errors, signals, restarts,
crashes, the socket file, systemd notification."""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import (COHORTD, Client, Daemon, EmulatorTestCase, RpcError, ctl_command, daemon_command, drain,
                     scaled, wait_until)


def run_daemon(*args, timeout=None, env=None):
    return subprocess.run(daemon_command(*args), capture_output=True, text=True, timeout=timeout or scaled(20),
                          env=env)


class Signals(unittest.TestCase):
    def setUp(self):
        self.daemon = Daemon(config={"consent": {"required": False}}).start()

    def tearDown(self):
        self.daemon.cleanup()

    def test_sigterm_flushes_exits_zero_quickly_and_removes_the_socket(self):
        acked = [self.daemon.call("track", {"name": "BeforeTerm", "properties": {"i": i}})["event_id"]
                 for i in range(50)]
        started = time.monotonic()
        self.assertEqual(self.daemon.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, scaled(1.0))
        self.assertFalse(os.path.exists(self.daemon.socket_path))
        self.daemon.start()
        stored = [e["event_id"] for e in self.daemon.history(100, name="BeforeTerm")]
        self.assertEqual(sorted(stored), sorted(acked))

    def test_sigint_exits_zero(self):
        self.assertEqual(self.daemon.stop(signal.SIGINT), 0)
        self.assertFalse(os.path.exists(self.daemon.socket_path))

    def test_sigterm_with_clients_connected(self):
        idle = self.daemon.client()
        busy = self.daemon.client()
        busy.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n{"jsonrpc":"2.0",')  # half a line pending
        self.assertEqual(busy.read_message()["id"], 1)
        started = time.monotonic()
        self.assertEqual(self.daemon.stop(), 0)
        self.assertLess(time.monotonic() - started, scaled(1.0))
        self.assertTrue(idle.expect_eof())
        idle.close()
        busy.close()

    def test_sighup_does_not_kill(self):
        user = self.daemon.call("status")["user_id"]
        for _ in range(3):
            self.daemon.process.send_signal(signal.SIGHUP)
            # The loop handles the signal before it answers the next request.
            self.assertEqual(self.daemon.call("status")["user_id"], user)
        self.assertTrue(self.daemon.alive())
        wait_until(lambda: "SIGHUP" in self.daemon.stderr_text(), scaled(5), message="the SIGHUP log line")
        self.assertEqual(self.daemon.stop(), 0)

    def test_kill9_loses_no_acknowledged_event(self):
        """Tracks as fast as possible from a pipelining client, kill -9 in the
        middle: every event that got a success answer is in the history after
        the restart."""
        acked = []
        c = self.daemon.client()
        window = 32
        total = 900
        sent = 0
        stop_after = 300

        def send_more():
            nonlocal sent
            while sent < total and sent - len(acked) < window:
                c.send({"jsonrpc": "2.0", "id": sent, "method": "track",
                        "params": {"name": "Crash", "properties": {"n": sent}}})
                sent += 1

        try:
            send_more()
            while True:
                try:
                    answer = c.read_message(timeout=scaled(5))
                except (EOFError, ConnectionResetError):
                    break
                self.assertIn("result", answer, answer)
                acked.append(answer["result"]["event_id"])
                if len(acked) == stop_after:
                    self.daemon.process.kill()  # in the middle of the stream, answers in flight
                if self.daemon.process.poll() is None:
                    send_more()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            c.close()
        self.daemon.process.wait()
        self.assertGreaterEqual(len(acked), stop_after)
        self.assertTrue(os.path.exists(self.daemon.socket_path))  # kill -9 leaves a stale socket file...
        self.daemon.start()  # ...which the next start replaces
        stored = {e["event_id"] for e in self.daemon.history(1000, name="Crash")}
        missing = [e for e in acked if e not in stored]
        self.assertEqual(missing, [], f"{len(missing)} acknowledged events lost")


class ShutdownWhileWaiting(EmulatorTestCase):
    """SIGTERM never waits on a caller: a call waiting on the network is
    answered at once with "shutting down" (not after its own timeout_ms,
    minutes here), a subscriber or a client that never reads does not hold
    the exit, and nothing acknowledged is lost. Each prints its measured
    time from SIGTERM to exit."""

    # Each request may take ten minutes: only the shutdown can end it sooner.
    daemon_config = {"consent": {"required": False}, "api": {"timeout_ms": 600000}}

    def sigterm(self, what):
        started = time.monotonic()
        self.assertEqual(self.daemon.stop(signal.SIGTERM, timeout=scaled(10)), 0)
        took = time.monotonic() - started
        print(f"\n    SIGTERM while {what}: exited in {took * 1000:.0f} ms", file=sys.stderr, flush=True)

    def assert_shutting_down(self, client):
        answer = client.read_message(timeout=scaled(5))
        self.assertEqual(answer["error"]["code"], -32015, answer)  # COHORT_ECLOSED
        self.assertEqual(answer["error"]["message"], "shutting down", answer)

    def wait_hanging(self, prefix):
        wait_until(lambda: self.emu.requests(prefix), scaled(10), message=f"a request to {prefix} in flight")

    def assert_nothing_lost(self, acked):
        self.emu.set_fault("none")
        self.daemon.start()
        drain(self.daemon, self.emu)
        delivered = {e["properties"]["n"] for r in self.emu.requests("/ccs/") if r["status"] == 200
                     for e in r["body"]["events"] if e["name"] == "Acked"}
        self.assertEqual(delivered, set(acked))

    def track(self, n):
        for i in range(n):
            self.daemon.call("track", {"name": "Acked", "properties": {"n": i}})
        return list(range(n))

    def test_a_client_waiting_in_sync_now(self):
        self.emu.set_fault("hang", path="ccs")
        acked = self.track(3)
        waiting = self.daemon.client()
        waiting.send({"jsonrpc": "2.0", "id": 1, "method": "sync.now", "params": {"timeout_ms": 600000}})
        self.wait_hanging("/ccs/")
        self.sigterm("a client waits in sync.now (timeout_ms 600000)")
        self.assert_shutting_down(waiting)
        waiting.close()
        self.assert_nothing_lost(acked)

    def test_a_client_waiting_in_activations_get(self):
        self.emu.set_fault("hang", path="ctx")
        acked = self.track(2)
        waiting = self.daemon.client()
        waiting.send({"jsonrpc": "2.0", "id": 1, "method": "activations.get",
                      "params": {"timeout_ms": 60000, "url": "https://example.com/news/1"}})
        self.wait_hanging("/ctx/")
        self.sigterm("a client waits in activations.get (timeout_ms 60000)")
        self.assert_shutting_down(waiting)
        waiting.close()
        self.assert_nothing_lost(acked)

    def test_a_subscriber(self):
        acked = self.track(1)
        watcher = self.daemon.client()
        watcher.call("subscribe", {"topics": ["cohorts"]})
        self.sigterm("a client is subscribed")
        self.assertTrue(watcher.expect_eof(timeout=scaled(5)))
        watcher.close()
        self.assert_nothing_lost(acked)

    def test_a_client_that_never_reads(self):
        acked = self.track(50)
        stuck = self.daemon.client()
        line = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "history.get", "params": {"limit": 1000}}) + "\n"
        try:
            stuck.sock.setblocking(False)
            for _ in range(2000):  # answers pile up: it never reads a byte
                stuck.sock.send(line.encode())
        except (BlockingIOError, OSError):
            pass
        self.sigterm("a client never reads its answers")
        stuck.close()
        self.assert_nothing_lost(acked)


class Restarts(unittest.TestCase):
    def test_identity_consent_and_aliases_persist(self):
        with Daemon() as d:
            first = d.call("identity.set_aliases", {"aliases": [{"tag": "tifa", "id": "t-77", "priority": 1}]})
            d.call("consent.set", {"granted": True})
            d.restart()
            self.assertEqual(d.call("identity.get"), first)
            self.assertTrue(d.call("status")["consent"])
            reset = d.call("identity.reset")["user_id"]
            d.restart()
            self.assertEqual(d.call("identity.get")["user_id"], reset)

    def test_identity_survives_a_lost_database(self):
        with Daemon() as d:
            user = d.call("status")["user_id"]
            d.stop()
            for name in os.listdir(d.data_dir):
                if name.startswith("cohort.db"):
                    os.unlink(os.path.join(d.data_dir, name))
            d.start()
            self.assertEqual(d.call("status")["user_id"], user)

    def test_command_line_without_config_file(self):
        with tempfile.TemporaryDirectory(prefix="cohort-it-", dir="/tmp") as tmp:
            sock = os.path.join(tmp, "s.sock")
            p = subprocess.Popen(daemon_command("--data-dir", os.path.join(tmp, "data"), "--socket", sock),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                def connect():
                    try:
                        return Client(sock)
                    except OSError:
                        if p.poll() is not None:
                            raise
                        return None
                c = wait_until(connect, scaled(10), message="the socket")
                cfg = c.call("config.get")["config"]
                self.assertEqual(cfg["data_dir"], os.path.join(tmp, "data"))
                self.assertEqual(cfg["socket"]["path"], sock)
                c.close()
            finally:
                p.terminate()
                self.assertEqual(p.wait(scaled(10)), 0)


class SocketFile(unittest.TestCase):
    def test_default_mode_is_0660(self):
        with Daemon() as d:
            self.assertEqual(stat.S_IMODE(os.stat(d.socket_path).st_mode), 0o660)
            self.assertTrue(stat.S_ISSOCK(os.stat(d.socket_path).st_mode))

    def test_configured_modes(self):
        for mode in ("0600", "0666"):
            with self.subTest(mode=mode), Daemon(config={"socket": {"mode": mode}}) as d:
                self.assertEqual(stat.S_IMODE(os.stat(d.socket_path).st_mode), int(mode, 8))

    def test_stale_socket_file_is_replaced(self):
        d = Daemon()
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(d.socket_path)
            s.close()  # the file stays, nobody listens: what a crashed daemon leaves
            self.assertTrue(os.path.exists(d.socket_path))
            d.start()
            self.assertIn("user_id", d.call("status"))
        finally:
            d.cleanup()

    def test_a_regular_file_is_not_replaced(self):
        d = Daemon()
        try:
            with open(d.socket_path, "w") as f:
                f.write("precious")
            d.start(wait=False)
            self.assertNotEqual(d.process.wait(scaled(10)), 0)
            self.assertIn(d.socket_path, d.stderr_text())
            with open(d.socket_path) as f:
                self.assertEqual(f.read(), "precious")
        finally:
            d.cleanup()

    def test_second_daemon_on_a_live_socket_fails_clearly(self):
        with Daemon() as first:
            user = first.call("status")["user_id"]
            second = Daemon(workdir=first.workdir)
            second.config = dict(first.config, data_dir=os.path.join(first.workdir, "data2"))
            second.stderr_path = os.path.join(first.workdir, "second.log")
            second.config_path = os.path.join(first.workdir, "second.json")
            second.start(wait=False)
            self.assertNotEqual(second.process.wait(scaled(10)), 0)
            err = second.stderr_text()
            self.assertIn("already", err)
            self.assertIn(first.socket_path, err)
            # The first one is untouched and still serving.
            self.assertTrue(os.path.exists(first.socket_path))
            with first.client() as c:
                self.assertEqual(c.call("status")["user_id"], user)


class SdNotify(unittest.TestCase):
    def run_with_notify_socket(self, address, bind_to):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(bind_to)
        listener.settimeout(scaled(10))
        d = Daemon(env={"NOTIFY_SOCKET": address})
        try:
            d.start(wait=False)
            message = listener.recv(4096).decode()
            self.assertIn("READY=1", message.split("\n"))
            # READY means ready: the socket already accepts connections.
            with d.client() as c:
                self.assertIn("user_id", c.call("status"))
            self.assertEqual(d.stop(), 0)
            self.assertIn("STOPPING=1", listener.recv(4096).decode())
        finally:
            d.cleanup()
            listener.close()

    def test_ready_on_a_path_socket(self):
        with tempfile.TemporaryDirectory(prefix="cohort-notify-", dir="/tmp") as tmp:
            path = os.path.join(tmp, "notify")
            self.run_with_notify_socket(path, path)

    def test_ready_on_an_abstract_socket(self):
        name = f"cohort-it-notify-{os.getpid()}-{time.monotonic_ns()}"
        self.run_with_notify_socket("@" + name, "\0" + name)

    def test_no_notify_socket_is_fine(self):
        with Daemon() as d:
            self.assertIn("user_id", d.call("status"))


class Configuration(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="cohort-it-", dir="/tmp")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, doc, name="c.json"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def base(self, **extra):
        doc = {"data_dir": os.path.join(self.dir, "data"), "socket": {"path": os.path.join(self.dir, "s.sock")}}
        doc.update(extra)
        return doc

    def assertRefused(self, doc, *words, check_only=False):
        args = ["--config", self.write(doc)] + (["--check-config"] if check_only else [])
        p = run_daemon(*args)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        for w in words:
            self.assertIn(w, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "s.sock")))
        return p

    def test_unknown_key(self):
        self.assertRefused(self.base(colour="red"), '"colour"')
        self.assertRefused(self.base(api={"colour": "red"}), '"api.colour"')
        self.assertRefused(dict(self.base(), **{"api.colour": 1}), '"api.colour"')

    def test_wrong_types(self):
        cases = [
            (self.base(api={"timeout_ms": "fast"}), "api.timeout_ms"),
            (self.base(consent={"required": "yes"}), "consent.required"),
            (self.base(socket={"path": os.path.join(self.dir, "s.sock"), "mode": "rw-rw----"}), "socket.mode"),
            (self.base(api={"mode": "sometimes"}), "api.mode"),
            (self.base(log={"level": "chatty"}), "log.level"),
            (self.base(queue={"max_events": 0}), "queue.max_events"),
            (self.base(api="https://api.example.com"), "api"),
            (self.base(data_dir=42), "data_dir"),
            (self.base(api={"ccs_url": "ftp://x"}), "api.ccs_url"),
        ]
        for doc, key in cases:
            with self.subTest(key=key):
                p = self.assertRefused(doc, key)
                self.assertEqual(p.returncode, 2)

    def test_flat_and_nested_spellings(self):
        doc = dict(self.base(), **{"api.timeout_ms": 250, "history.max_events": 100})
        p = run_daemon("--check-config", "--config", self.write(doc))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unreadable_config_file(self):
        missing = os.path.join(self.dir, "nope.json")
        p = run_daemon("--config", missing)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(missing, p.stderr)
        p = run_daemon("--config", self.dir)  # a directory
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(self.dir, p.stderr)

    def test_not_json(self):
        self.assertRefused("{ not json", "c.json")
        self.assertRefused("[1, 2]", "c.json")

    def test_check_config(self):
        good = self.write(self.base())
        p = run_daemon("--check-config", "--config", good)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("OK", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "data")))  # creates nothing
        p = self.assertRefused(self.base(colour="red"), "colour", check_only=True)
        self.assertEqual(p.returncode, 2)

    def test_unusable_data_dir_runs_from_memory(self):
        # Not a reason to stop: the daemon answers from memory and says why.
        blocker = self.write("just a file", "blocker")
        with Daemon(config={"data_dir": os.path.join(blocker, "data"), "consent": {"required": False}}) as d:
            d.call("track", {"name": "Pageview"})
            st = d.call("status")
            self.assertEqual(st["storage"], "degraded")
            self.assertIn("data_dir", st["storage_error"])
            self.assertEqual(st["queue_depth"], 1)
            self.assertEqual(d.stop(), 0)

    def test_unreadable_key_file(self):
        # (A key file that does not exist yet is awaited: test_wire.ConfigFaults.)
        self.assertRefused(self.base(api={"key_file": self.dir}), "api.key_file")

    # -- a configuration a person can debug

    def assertRefusedEverywhere(self, doc, *words):
        """Refused at start and by --check-config, both with exit status 2."""
        for check_only in (False, True):
            with self.subTest(check_only=check_only):
                p = self.assertRefused(doc, *words, check_only=check_only)
                self.assertEqual(p.returncode, 2, p.stderr)

    def test_syntax_error_names_the_file_line_and_column(self):
        doc = '{\n  "data_dir": "%s",\n  "api": {\n    "timeout_ms": tru\n  }\n}\n' % os.path.join(self.dir, "data")
        path = os.path.join(self.dir, "c.json")
        self.assertRefusedEverywhere(doc, f"{path}: configuration is not valid JSON at line 4, column 19",
                                     'near "tru"')
        # Also when the command line adds to the file (cohortd then parses it itself).
        p = run_daemon("--check-config", "--config", path, "--data-dir", os.path.join(self.dir, "data"))
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"{path}: configuration is not valid JSON at line 4, column 19", p.stderr)
        self.assertRefusedEverywhere('{"api": {"timeout_ms": 300}', "c.json", "ends early, at line 1, column 28")

    def test_trailing_content_is_an_error(self):
        doc = json.dumps(self.base()) + '\n{"api": {"timeout_ms": 5}}\n'
        self.assertRefusedEverywhere(doc, "c.json", "content after its JSON document, at line 2, column 1")
        self.assertRefusedEverywhere(json.dumps(self.base()) + " x", "content after its JSON document")

    def test_a_key_given_twice_is_an_error(self):
        base = json.dumps(self.base())[:-1]
        self.assertRefusedEverywhere(base + ', "api.timeout_ms": 250, "api": {"timeout_ms": 300}}',
                                     'configuration key "api.timeout_ms" is given twice', "c.json")
        self.assertRefusedEverywhere(base + ', "api": {"timeout_ms": 250, "timeout_ms": 300}}',
                                     'configuration key "api.timeout_ms" is given twice')
        self.assertRefusedEverywhere(base + ', "log": {"level": "info"}, "log": {"target": "stderr"}}',
                                     'configuration section "log" is given twice')

    def test_unknown_key_suggests_the_nearest(self):
        self.assertRefusedEverywhere(self.base(api={"timout_ms": 300}),
                                     'unknown configuration key "api.timout_ms"; did you mean "api.timeout_ms"?')
        self.assertRefusedEverywhere(dict(self.base(), **{"cohort.definitions": "/x"}),
                                     'did you mean "cohorts.definitions"?')

    def run_check(self, doc, as_nobody=False):
        """cohortd --check-config on doc; as_nobody: as a user that root's files do not let in."""
        path = self.write(doc)
        preexec = None
        if as_nobody and os.geteuid() == 0:
            os.chmod(self.dir, 0o755)
            os.chmod(path, 0o644)

            def preexec():
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
        return subprocess.run(daemon_command("--check-config", "--config", path), capture_output=True, text=True,
                              timeout=scaled(20), preexec_fn=preexec)

    def snapshot(self):
        """Every file and directory under the test's directory: path, size, mtime, mode."""
        out = {}
        for top, dirs, files in os.walk(self.dir):
            for name in dirs + files:
                st = os.lstat(os.path.join(top, name))
                out[os.path.join(top, name)] = (st.st_size, st.st_mtime_ns, st.st_mode)
        return out

    def test_check_config_checks_the_files_it_names(self):
        defs = self.write('{"cohorts": []}', "cohorts.json")
        ca = self.write("-----BEGIN CERTIFICATE-----\n", "ca.pem")
        key = self.write("sk_test_123\n", "api-key")
        missing = os.path.join(self.dir, "missing")
        good = self.base(api={"ca_file": ca, "key_file": key}, cohorts={"definitions": defs})
        before = self.snapshot()
        p = self.run_check(good)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout)
        self.assertEqual(p.stderr, "")
        cases = [
            (self.base(cohorts={"definitions": missing}), ["cohorts.definitions", missing, "No such file or directory"]),
            (self.base(cohorts={"definitions": self.dir}), ["cohorts.definitions", self.dir, "Is a directory"]),
            (self.base(api={"ca_file": missing}), ["api.ca_file", missing, "No such file or directory"]),
            (self.base(api={"key_file": self.dir}), ["api.key_file", self.dir, "Is a directory"]),
            (self.base(api={"key_file": self.write("two words\n", "bad-key")}), ["api.key_file", "bad-key"]),
        ]
        for doc, words in cases:
            with self.subTest(words=words):
                p = self.run_check(doc)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("c.json", p.stderr)
                for w in words:
                    self.assertIn(w, p.stderr)

        # A key file that does not exist yet (provisioned after the first boot): valid, with a note.
        p = self.run_check(self.base(api={"key_file": missing}))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout)
        self.assertIn(f'cohortd: note: configuration key "api.key_file": {missing} does not exist yet', p.stderr)
        self.assertFalse(os.path.exists(missing))

        # One that exists but cannot be read is an error.
        locked = self.write("sk_test_123\n", "locked-key")
        os.chmod(locked, 0)
        p = self.run_check(self.base(api={"key_file": locked}), as_nobody=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        for w in ("api.key_file", locked, "Permission denied"):
            self.assertIn(w, p.stderr)

        # Reading is all it did: nothing created, changed or removed (but the
        # configuration files this test wrote).
        after = {k: v for k, v in self.snapshot().items() if not k.endswith(("c.json", "bad-key", "locked-key"))}
        self.assertEqual(after, before)

    def test_version_names_the_libraries(self):
        p = run_daemon("--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertRegex(lines[0], r"^cohortd \d+\.\d+\.\d+$")
        version = lines[0].split()[1]
        self.assertRegex(lines[1], rf"^libcohort {re.escape(version)} \(")
        for name in ("libcurl", "SQLite", "mbed TLS", "cJSON"):
            self.assertRegex(p.stdout, rf"(?m)^{name} \d+\.\d+\.\d+")
        # cohortctl runs with the same cJSON.
        ctl = subprocess.run(ctl_command("--socket", os.path.join(self.dir, "none.sock"), "--version"),
                             capture_output=True, text=True, timeout=scaled(20))
        cjson = [line for line in ctl.stdout.splitlines() if line.startswith("cJSON ")]
        self.assertEqual(len(cjson), 1, ctl.stdout)
        self.assertRegex(p.stdout, rf"(?m)^{re.escape(cjson[0])}( |$)")

    def test_key_is_never_logged(self):
        key_file = self.write("s3cret-key-value\n", "key")
        with Daemon(config={"api": {"key_file": key_file}, "log": {"level": "debug"}}) as d:
            self.assertEqual(d.call("config.get")["config"]["api"]["key"], "[redacted]")
            d.stop()
            self.assertNotIn("s3cret-key-value", d.stderr_text())

    def test_command_line(self):
        p = run_daemon("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--config", p.stdout)
        p = run_daemon("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"cohortd \d+\.\d+\.\d+")
        p = run_daemon("--frobnicate")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--frobnicate", p.stderr)
        p = run_daemon("--config")
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
