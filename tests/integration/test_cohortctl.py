"""cohortctl against the real daemon: output (human and --json) and exit codes
(0 ok, 1 daemon error, 2 usage, 3 cannot connect / socket error, 4 timeout)."""

import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import unittest

from harness import DaemonTestCase, ctl_command, run_ctl, scaled, wait_until

COMMANDS = ("status", "id", "aliases", "consent", "track", "view", "cohorts", "activations", "definitions",
            "preview", "explain", "sync", "watch", "call", "history", "config", "reload", "dead-letters")


class Cohortctl(DaemonTestCase):
    daemon_config = {}  # consent.required (the default), granted below

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.daemon.call("consent.set", {"granted": True})
    def ctl(self, *args, **kwargs):
        return run_ctl("--timeout", str(int(scaled(5000))), *args, socket_path=self.daemon.socket_path, **kwargs)

    def ok(self, *args, **kwargs):
        p = self.ctl(*args, **kwargs)
        self.assertEqual(p.returncode, 0, f"cohortctl {' '.join(args)}: {p.stderr}")
        return p.stdout

    def json_of(self, *args):
        return json.loads(self.ok("--json", *args))

    # -- help and usage

    def test_help(self):
        p = run_ctl("--help")
        self.assertEqual(p.returncode, 0)
        for command in COMMANDS:
            self.assertIn(command, p.stdout)
        for code in ("0", "1", "2", "3", "4"):
            self.assertRegex(p.stdout, rf"(?m)^\s+{code}\s+\S")
        self.assertIn("--socket", p.stdout)
        self.assertIn("COHORT_SOCKET", p.stdout)
        for command in COMMANDS:
            with self.subTest(command=command):
                p = run_ctl(command, "--help")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn(f"usage: cohortctl [OPTIONS] {command}", p.stdout)

    def test_help_command(self):
        """`help` is --help, `help COMMAND` is COMMAND --help."""
        overview = run_ctl("--help")
        self.assertRegex(overview.stdout, r"(?m)^  help\s+\S")
        p = run_ctl("help")
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, overview.stdout, ""))
        for command in COMMANDS:
            with self.subTest(command=command):
                p = run_ctl("help", command)
                self.assertEqual((p.returncode, p.stderr), (0, ""))
                self.assertEqual(p.stdout, run_ctl(command, "--help").stdout)
                self.assertIn(f"usage: cohortctl [OPTIONS] {command}", p.stdout)
        # Also after the global options, and without a daemon.
        p = run_ctl("--socket", "/nonexistent/cohortd.sock", "--json", "help", "view")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("view start", p.stdout)
        for args in (("help", "frobnicate"), ("help", "view", "start")):
            with self.subTest(args=args):
                p = run_ctl(*args)
                self.assertEqual(p.returncode, 2)
                self.assertEqual(p.stdout, "")
                self.assertTrue(p.stderr.startswith("cohortctl: "), p.stderr)

    def test_version(self):
        """Its own version, cJSON's, and the daemon's (from status)."""
        p = self.ctl("--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(p.stdout.split()[0], "cohortctl")
        version = self.daemon.call("status")["version"]
        self.assertEqual(p.stdout.split()[1], version)
        self.assertRegex(lines[1], r"^cJSON \d+\.\d+\.\d+$")
        self.assertEqual(lines[2], f"cohortd {version} (on {self.daemon.socket_path})")
        # No daemon: said on its line, quietly otherwise, and still exit 0.
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            missing = os.path.join(tmp, "none.sock")
            p = run_ctl("--version", socket_path=missing)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.splitlines()[2], f"cohortd: no answer on {missing}")
            self.assertEqual(p.stderr, "")
            self.assertEqual(p.stdout.splitlines()[0], lines[0])

    def test_usage_errors_exit_2(self):
        cases = [
            (),
            ("frobnicate",),
            ("--bogus", "status"),
            ("--timeout", "soon", "status"),
            ("--socket",),
            ("status", "extra"),
            ("track",),
            ("track", "Name", "novalue"),
            ("track", "Name", "{not json"),
            ("track", "Name", "a=1", "a.b=2"),
            ("consent", "maybe"),
            ("view",),
            ("view", "rewind", "x"),
            ("view", "progress", "8c5e1d07-1b2e-474f-91fd-d518c705f47e"),
            ("view", "end", "8c5e1d07-1b2e-474f-91fd-d518c705f47e", "later"),
            ("view", "start", "--duration", "long"),
            ("aliases", "set"),
            ("aliases", "set", "tifa"),
            ("history", "0"),
            ("history", "many"),
            ("call",),
            ("call", "status", "{oops"),
            ("definitions", "put"),
            ("definitions", "put", "/nonexistent/defs.json"),
            ("definitions", "reload", "now"),
            ("preview", "/nonexistent/rule.json"),
            ("explain",),
            ("activations", "--timeout", "-1"),
            ("watch", "--count", "0"),
        ]
        for args in cases:
            with self.subTest(args=args):
                p = self.ctl(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertTrue(p.stderr.startswith("cohortctl"), p.stderr)
                self.assertEqual(p.stdout, "")

    # -- connection failures

    def test_no_daemon_exits_3(self):
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            path = os.path.join(tmp, "none.sock")
            p = run_ctl("status", socket_path=path)
            self.assertEqual(p.returncode, 3)
            self.assertIn(path, p.stderr)
            # A socket file nobody listens on.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()
            self.assertEqual(run_ctl("status", socket_path=path).returncode, 3)

    def test_permission_denied_names_the_group_and_mode(self):
        """A socket this user may not open: the file, its group and mode, and what to do."""
        import grp
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            os.chmod(tmp, 0o755)
            path = os.path.join(tmp, "cohortd.sock")
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(path)
            server.listen(1)
            self.addCleanup(server.close)
            preexec = None
            if os.geteuid() == 0:
                # Root may open anything: the client runs as nobody, the socket
                # belongs to a group nobody is not in.
                group = grp.getgrgid(1).gr_name  # "daemon" on Debian
                os.chown(path, 0, 1)
                os.chmod(path, 0o660)

                def preexec():
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                mode = "0660"
                advice = f"add your user to the group {group}, or run as root"
            else:
                # Our own socket, with no permission for anyone.
                group = grp.getgrgid(os.stat(path).st_gid).gr_name
                os.chmod(path, 0)
                mode = "0000"
                advice = "its group may not connect; run as root, or change its mode (socket.mode)"
            p = subprocess.run(ctl_command("--socket", path, "status"), capture_output=True, text=True,
                               timeout=scaled(20), preexec_fn=preexec)
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertEqual(p.stderr.strip(),
                             f"cohortctl: permission denied on {path} (group {group}, mode {mode}): {advice}")
            self.assertNotIn("is cohortd running", p.stderr)
            if os.geteuid() == 0:
                # A directory on the way that it may not enter is the one named.
                os.chmod(tmp, 0o700)
                p = subprocess.run(ctl_command("--socket", path, "status"), capture_output=True, text=True,
                                   timeout=scaled(20), preexec_fn=preexec)
                self.assertEqual(p.returncode, 3, p.stderr)
                self.assertIn(f"permission denied on {tmp} (group root, mode 0700): its group may not enter it",
                              p.stderr)

    def fake_daemon(self, behaviour):
        """A one-connection server at a temporary path; behaviour(conn) runs in a thread."""
        tmp = tempfile.TemporaryDirectory(dir="/tmp")
        path = os.path.join(tmp.name, "fake.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)

        def serve():
            conn, _ = server.accept()
            try:
                behaviour(conn)
            finally:
                conn.close()
                server.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(tmp.cleanup)
        self.addCleanup(t.join, scaled(10))
        return path

    def test_silent_daemon_times_out_with_4(self):
        done = threading.Event()
        path = self.fake_daemon(lambda conn: done.wait(scaled(10)))
        p = run_ctl("--timeout", str(int(scaled(300))), "status", socket_path=path)
        done.set()
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("timed out", p.stderr)

    def test_garbled_answer_exits_3(self):
        def garble(conn):
            conn.recv(4096)
            conn.sendall(b"<html>captive portal</html>\n")
        p = run_ctl("status", socket_path=self.fake_daemon(garble))
        self.assertEqual(p.returncode, 3, p.stderr)

    def test_daemon_closing_early_exits_3_without_sigpipe(self):
        def slam(conn):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        big = json.dumps({"blob": "x" * 400000})  # more than the socket buffers take
        p = run_ctl("call", "status", "-", input=big, socket_path=self.fake_daemon(slam))
        self.assertEqual(p.returncode, 3, p.stderr)  # not -SIGPIPE

    def test_socket_from_environment(self):
        p = run_ctl("--json", "status", env={"COHORT_SOCKET": self.daemon.socket_path})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("user_id", json.loads(p.stdout))

    # -- commands

    def test_status(self):
        status = self.daemon.call("status")
        human = self.ok("status")
        self.assertRegex(human, rf"(?m)^user_id:\s+{status['user_id']}$")
        self.assertRegex(human, r"(?m)^version:\s+\d+\.\d+\.\d+$")
        self.assertRegex(human, r"(?m)^last_sync\.ok:\s+")
        # Values line up in one column.
        starts = {re.match(r"^\S+:\s+", line).end() for line in human.splitlines() if line}
        self.assertEqual(len(starts), 1, human)
        doc = self.json_of("status")
        self.assertEqual(set(doc), set(status))
        self.assertEqual(doc["user_id"], status["user_id"])
        self.assertEqual(len(self.ok("--json", "status").splitlines()), 1)
        self.assertEqual(json.loads(self.ok("status", "--json"))["user_id"], status["user_id"])

    def test_id_and_aliases(self):
        out = self.ok("aliases", "set", "email_sha256=Bob@Example.com:0", "alexa_advertising_id=amzn1.ask:xyz:3",
                      "--hash-email", "--replace")
        digest = hashlib.sha256(b"bob@example.com").hexdigest()
        self.assertIn(digest, out)
        self.assertRegex(out, r"(?m)^TAG\s+ID\s+PRIORITY$")
        doc = self.json_of("id")
        self.assertEqual([(a["tag"], a["id"], a["priority"]) for a in doc["aliases"]],
                         [("email_sha256", digest, 0), ("alexa_advertising_id", "amzn1.ask:xyz", 3)])
        self.assertIn(doc["user_id"], self.ok("id"))
        self.assertEqual(self.json_of("aliases", "get"), doc)
        # Without --hash-email a raw address is refused by the daemon: exit 1.
        p = self.ctl("aliases", "set", "internal_id=carol@example.com")
        self.assertEqual(p.returncode, 1)
        self.assertIn("aliases[0].id", p.stderr)

    def test_id_reset(self):
        before = self.daemon.call("identity.get")["user_id"]
        out = self.ok("id", "reset")
        after = self.daemon.call("identity.get")["user_id"]
        self.assertNotEqual(before, after)
        self.assertRegex(out, rf"(?m)^user_id:\s+{after}$")
        self.assertEqual(self.ctl("id", "forget").returncode, 2)

    def test_consent(self):
        self.assertEqual(self.ok("consent", "off").strip(), "consent: not granted")
        self.assertEqual(self.json_of("consent"), {"consent": False})
        self.assertEqual(self.ok("consent", "on").strip(), "consent: granted")
        self.assertTrue(self.daemon.call("status")["consent"])

    def test_track_properties(self):
        r = self.json_of("track", "CtlTyped", "n=3", "f=2.5", "neg=-1", "yes=true", "no=false", "s=hello world",
                         "zip=007", "plus=+1", "arr=[\"a\",1]", "obj={\"k\":\"v\"}", "video.genre=drama",
                         "video.season=2", "empty=", "eq=a=b")
        self.assertIn("event_id", r)
        event = self.daemon.history(1, name="CtlTyped")[0]
        self.assertEqual(event["event_id"], r["event_id"])
        self.assertEqual(event["properties"], {
            "n": 3, "f": 2.5, "neg": -1, "yes": True, "no": False, "s": "hello world", "zip": "007", "plus": "+1",
            "arr": ["a", 1], "obj": {"k": "v"}, "video": {"genre": "drama", "season": 2}, "eq": "a=b"})  # empty= omitted
        self.ok("track", "CtlJson", '{"a": {"b": [1, 2]}, "c": null}')
        self.assertEqual(self.daemon.history(1, name="CtlJson")[0]["properties"], {"a": {"b": [1, 2]}})
        out = self.ok("track", "CtlHuman", "x=1")
        self.assertRegex(out, r"(?m)^event_id:\s+[0-9a-f-]{36}$")
        self.ok("track", "CtlTimed", "--time", "2024-01-15T14:00:00Z")
        self.assertTrue(self.daemon.history(1, name="CtlTimed")[0]["time"].startswith("2024-01-15T14:00:00"))

    def test_daemon_error_exits_1(self):
        p = self.ctl("track", "bad name!")
        self.assertEqual(p.returncode, 1)
        self.assertIn("name", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.ctl("view", "end", "8c5e1d07-1b2e-474f-91fd-d518c705f47e")
        self.assertEqual(p.returncode, 1)
        self.assertIn("view_id", p.stderr)
        p = self.ctl("call", "no.such.method")
        self.assertEqual(p.returncode, 1)
        self.assertIn("-32601", p.stderr)

    def test_view_cycle(self):
        start = self.json_of("view", "start", "--type", "audio", "--duration", "100", "--url",
                             "smartspeaker://station/test", "podcast.show=Radiolab")
        view = start["view_id"]
        self.assertIn(view, self.ok("view", "progress", view, "40"))
        self.ok("view", "pause", view, "45")
        self.ok("view", "resume", view)
        end = self.ok("view", "end", view, "80")
        self.assertRegex(end, r"(?m)^completion:\s+0\.8$")
        self.assertRegex(end, r"(?m)^time_spent_seconds:\s+[0-9]+$")
        play = self.daemon.history(1, name="AudioPlay")[0]
        self.assertEqual(play["view_id"], view)
        self.assertEqual(play["properties"], {"podcast": {"show": "Radiolab"}, "duration_seconds": 100})

    def test_history(self):
        for i in range(3):
            self.daemon.call("track", {"name": "CtlHistory", "properties": {"i": i}})
        out = self.ok("history", "2", "--name", "CtlHistory")
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^TIME\s+NAME\s+VIEW\s+PROPERTIES$")
        self.assertEqual(sum("CtlHistory" in line for line in lines), 2)
        self.assertIn('{"i":2}', lines[1])
        doc = self.json_of("history", "3", "--name", "CtlHistory")
        self.assertEqual([e["properties"]["i"] for e in doc["events"]], [2, 1, 0])

    def test_call(self):
        self.daemon.call("track", {"name": "CtlCall"})
        self.daemon.call("track", {"name": "CtlCall"})
        doc = json.loads(self.ok("call", "history.get", '{"limit": 1}'))
        self.assertEqual(len(doc["events"]), 1)
        doc = self.json_of("call", "identity.get")
        self.assertIn("user_id", doc)
        out = self.ok("call", "history.get", "-", input='{"limit": 2}')
        self.assertEqual(len(json.loads(out)["events"]), 2)

    def test_config(self):
        out = self.ok("config")
        self.assertRegex(out, rf"(?m)^socket\.path:\s+{self.daemon.socket_path}$")
        self.assertNotIn("test-key", out)

    def test_commands_of_the_contract_methods(self):
        """Each answers 0 with text, and with --json one JSON object."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"cohorts": [{"id": "3001", "name": "Any event", "activations": ["dfp"],
                                    "rule": {"logic": "AND", "conditions": [{"type": "event", "event_type": "*"}]}}]},
                      f)
            defs = f.name
        self.addCleanup(os.unlink, defs)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"logic": "AND", "conditions": [{"type": "event", "event_type": "*"}]}, f)
            rule = f.name
        self.addCleanup(os.unlink, rule)
        commands = [
            (("definitions", "put", defs), "definitions.put"),
            (("definitions", "get"), "definitions.get"),
            (("definitions", "reload"), "definitions.reload"),
            (("cohorts",), "cohorts.get"),
            (("activations", "--timeout", "50", "--url", "https://example.com/sport"), "activations.get"),
            (("preview", rule), "definitions.preview"),
            (("explain", "3001"), "explain"),
            (("sync", "--timeout", "100"), "sync.now"),
        ]
        for args, method in commands:
            with self.subTest(command=args[0], method=method):
                p = self.ctl(*args)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertTrue(p.stdout.strip())
                j = self.ctl("--json", *args)
                self.assertEqual(j.returncode, 0, j.stderr)
                self.assertIsInstance(json.loads(j.stdout), dict)

    def test_watch_until_interrupted(self):
        proc = subprocess.Popen(ctl_command("--socket", self.daemon.socket_path, "watch"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # It says so on stderr once its subscription is answered.
            self.assertIn("watching", proc.stderr.readline())
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(scaled(10)), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

    def test_watch_ends_when_the_daemon_goes(self):
        from harness import Daemon
        with Daemon() as d:
            proc = subprocess.Popen(ctl_command("--socket", d.socket_path, "watch"),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                self.assertIn("watching", proc.stderr.readline())
                d.stop()
                self.assertEqual(proc.wait(scaled(10)), 3)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()

    def test_watch_prints_changes(self):
        self.daemon.call("definitions.put", {"cohorts": [
            {"id": "3100", "name": "Watchers", "activations": [],
             "rule": {"logic": "AND", "conditions": [{"type": "event", "event_type": "WatchMe"}]}}]})
        proc = subprocess.Popen(ctl_command("--socket", self.daemon.socket_path, "--json", "watch", "--count", "1"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn("watching", proc.stderr.readline())  # subscribed
            self.daemon.call("track", {"name": "WatchMe"})
            out, err = proc.communicate(timeout=scaled(5))
            self.assertEqual(proc.returncode, 0, err)
            self.assertIn("3100", json.dumps(json.loads(out.splitlines()[0])))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


if __name__ == "__main__":
    unittest.main()
