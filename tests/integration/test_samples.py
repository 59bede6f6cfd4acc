"""The samples work against the real daemon: the smart-speaker clients (Python
and C), the example configuration, the BusyBox/SysV init script and the
systemd unit."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import COHORTD, ROOT, WRAPPER, Daemon, DaemonTestCase, daemon_command, scaled, wait_until

SAMPLES = os.path.join(ROOT, "samples")
SPEAKER_C = os.environ.get("SPEAKER_C", "")


class Speaker(DaemonTestCase):
    daemon_config = {}  # consent required: the speaker grants it

    def check_session(self, output):
        self.assertIn("view.end", output)
        plays = self.daemon.history(1, name="AudioPlay")
        self.assertEqual(plays[0]["properties"]["podcast"]["show"], "Radiolab")
        done = self.daemon.history(1, name="AudioCompletion")[0]
        self.assertEqual(done["view_id"], plays[0]["view_id"])
        self.assertAlmostEqual(done["properties"]["percentage_listened"], 0.8, places=3)
        aliases = self.daemon.call("identity.get")["aliases"]
        self.assertIn("alexa_advertising_id", [a["tag"] for a in aliases])
        self.assertTrue(self.daemon.call("status")["consent"])

    def test_speaker_py(self):
        p = subprocess.run([sys.executable, os.path.join(SAMPLES, "speaker", "speaker.py"),
                            "--socket", self.daemon.socket_path, "--timeout", str(scaled(10))],
                           capture_output=True, text=True, timeout=scaled(60))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.check_session(p.stdout)

    @unittest.skipUnless(SPEAKER_C, "speaker_c is not built (samples/speaker not in the build)")
    def test_speaker_c(self):
        p = subprocess.run(WRAPPER + [SPEAKER_C, self.daemon.socket_path], capture_output=True, text=True,
                           timeout=scaled(60))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.check_session(p.stdout)

    def test_speaker_py_without_daemon(self):
        p = subprocess.run([sys.executable, os.path.join(SAMPLES, "speaker", "speaker.py"),
                            "--socket", "/nonexistent/cohortd.sock"], capture_output=True, text=True,
                           timeout=scaled(30))
        self.assertEqual(p.returncode, 3)


class ExampleConfig(unittest.TestCase):
    def test_example_config_is_valid(self):
        # --check-config also reads the files a configuration names: here they
        # are where a box has them (the package installs /etc/cohort/cohorts.json;
        # a key file not provisioned yet is only noted).
        import json
        with open(os.path.join(SAMPLES, "config", "cohortd.json")) as f:
            doc = json.load(f)
        with tempfile.TemporaryDirectory(prefix="cohort-sample-", dir="/tmp") as tmp:
            doc["cohorts"]["definitions"] = shutil.copy(os.path.join(SAMPLES, "definitions", "cohorts.json"), tmp)
            doc["api"]["ca_file"] = os.path.join(tmp, "ca.pem")
            doc["api"]["key_file"] = os.path.join(tmp, "api-key")
            with open(doc["api"]["ca_file"], "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\n")
            config = os.path.join(tmp, "cohortd.json")
            with open(config, "w") as f:
                json.dump(doc, f)
            p = subprocess.run(daemon_command("--check-config", "--config", config),
                               capture_output=True, text=True, timeout=scaled(20))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("api.key_file", p.stderr)  # the note

    def test_example_config_sets_every_key(self):
        import json
        with open(os.path.join(SAMPLES, "config", "cohortd.json")) as f:
            example = json.load(f)
        with Daemon() as d:
            effective = d.call("config.get")["config"]

        def keys(doc, prefix=""):
            out = set()
            for k, v in doc.items():
                out |= keys(v, prefix + k + ".") if isinstance(v, dict) else {prefix + k}
            return out
        self.assertEqual(keys(example), keys(effective))
        with open(os.path.join(SAMPLES, "config", "README.md")) as f:
            readme = f.read()
        for key in keys(effective):
            self.assertIn(f"`{key}`", readme)


class ServiceFiles(unittest.TestCase):
    def test_systemd_unit(self):
        with open(os.path.join(SAMPLES, "service", "cohortd.service")) as f:
            lines = {line.split("=", 1)[0]: line.split("=", 1)[1].strip()
                     for line in f.read().splitlines() if "=" in line and not line.startswith("#")}
        self.assertEqual(lines["Type"], "notify")
        self.assertIn("--config /etc/cohort/cohortd.json", lines["ExecStart"])
        self.assertIn("-HUP", lines["ExecReload"])
        for key in ("StateDirectory", "RuntimeDirectory", "User", "ProtectSystem", "NoNewPrivileges",
                    "RestrictAddressFamilies", "CapabilityBoundingSet", "UMask"):
            self.assertIn(key, lines)
        analyze = shutil.which("systemd-analyze")
        if analyze:
            p = subprocess.run([analyze, "verify", os.path.join(SAMPLES, "service", "cohortd.service")],
                               capture_output=True, text=True, timeout=60)
            problems = [line for line in p.stderr.splitlines()
                        if line.strip() and "is not executable" not in line and "No such file" not in line]
            self.assertEqual(problems, [])

    @unittest.skipUnless(shutil.which("start-stop-daemon") and os.geteuid() == 0,
                         "needs start-stop-daemon and root (it switches user)")
    def test_init_script(self):
        script = os.path.join(SAMPLES, "service", "cohortd.init")
        with tempfile.TemporaryDirectory(prefix="cohort-init-", dir="/tmp") as tmp:
            daemon = COHORTD
            if WRAPPER:  # the script execs DAEMON: give it one that runs under qemu
                daemon = os.path.join(tmp, "cohortd")
                with open(daemon, "w") as f:
                    f.write("#!/bin/sh\nexec " + " ".join(WRAPPER) + f" {COHORTD} \"$@\"\n")
                os.chmod(daemon, 0o755)
            config = os.path.join(tmp, "cohortd.json")
            with open(config, "w") as f:
                f.write('{"data_dir": "%s/state", "socket": {"path": "%s/run/cohortd.sock"}}' % (tmp, tmp))
            env = dict(os.environ, DAEMON=daemon, CONFIG=config, COHORT_USER="root", COHORT_GROUP="root",
                       STATE_DIR=f"{tmp}/state", RUN_DIR=f"{tmp}/run", PIDFILE=f"{tmp}/cohortd.pid",
                       LOGFILE=f"{tmp}/cohortd.log")

            def init(action):
                return subprocess.run(["sh", script, action], env=env, capture_output=True, text=True,
                                      timeout=scaled(30))

            try:
                self.assertEqual(init("start").returncode, 0)
                self.assertEqual(init("status").returncode, 0)
                wait_until(lambda: os.path.exists(f"{tmp}/run/cohortd.sock"), scaled(10), message="the socket")
                self.assertEqual(init("reload").returncode, 0)
                self.assertEqual(init("restart").returncode, 0)
                self.assertEqual(init("status").returncode, 0)
                self.assertEqual(init("stop").returncode, 0)
                self.assertEqual(init("status").returncode, 3)
                self.assertFalse(os.path.exists(f"{tmp}/run/cohortd.sock"))
                self.assertEqual(init("bogus").returncode, 2)
            finally:
                init("stop")


if __name__ == "__main__":
    unittest.main()
