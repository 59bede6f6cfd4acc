"""Shell completion for cohortctl (contrib/completion): bash, with and without
bash-completion's helpers, and zsh. The commands, options and method names it
offers are those of `cohortctl --help`, `cohortctl COMMAND --help` and
docs/protocol.md; `explain <TAB>` offers the ids of the running daemon's
local cohorts, and nothing (quietly, at once) without a daemon."""

import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import COHORTCTL, ROOT, WRAPPER, DaemonTestCase, run_ctl, scaled

COMPLETION = os.path.join(ROOT, "contrib", "completion")
BASH_SCRIPT = os.path.join(COMPLETION, "cohortctl.bash")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"  # Debian's bash-completion
COHORT_IDS = ("4101", "4102", "4201")


def help_commands():
    p = run_ctl("--help")
    assert p.returncode == 0, p.stderr
    return re.findall(r"(?m)^  ([a-z][a-z-]*) ", p.stdout.split("Commands:")[1].split("\n\n")[0])


def options_in(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


def protocol_methods():
    with open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8") as f:
        text = f.read()
    methods = text.split("\n## Methods\n")[1].split("\n## Notifications\n")[0]
    return set(re.findall(r"(?m)^### `([a-z_.]+)`$", methods))


def words_of(line):
    """COMP_WORDS as bash splits the line: at blanks, and around = and :
    (COMP_WORDBREAKS); a line ending in a blank has an empty last word."""
    words = [part for token in line.split() for part in re.split(r"([=:])", token) if part]
    return words + [""] if line.endswith(" ") else words


class Completion(DaemonTestCase):
    daemon_config = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # `cohortctl` on the PATH, as a user has it (under qemu for a cross build).
        cls.bin = tempfile.TemporaryDirectory(prefix="cohort-completion-", dir="/tmp")
        ctl = os.path.join(cls.bin.name, "cohortctl")
        with open(ctl, "w") as f:
            f.write("#!/bin/sh\nexec " + " ".join(shlex.quote(w) for w in WRAPPER + [COHORTCTL]) + ' "$@"\n')
        os.chmod(ctl, 0o755)
        cls.env = dict(os.environ, PATH=cls.bin.name + os.pathsep + os.environ.get("PATH", ""),
                       HOME=cls.bin.name)
        cls.env.pop("COHORT_SOCKET", None)
        cls.commands = help_commands()

    @classmethod
    def tearDownClass(cls):
        cls.bin.cleanup()
        super().tearDownClass()

    def put_definitions(self):
        self.daemon.call("definitions.put", {"cohorts": [
            {"id": i, "name": f"Cohort {i}", "activations": [],
             "rule": {"logic": "AND", "conditions": [{"type": "event", "event_type": f"E{i}"}]}}
            for i in COHORT_IDS]})

    # -- bash

    def bash(self, line, helpers, cwd=None):
        """What bash offers for the line (the cursor at its end): COMPREPLY, sorted."""
        words = words_of(line)
        script = "\n".join([
            f"source {BASH_COMPLETION}" if helpers else "",
            f"source {shlex.quote(BASH_SCRIPT)}",
            f"COMP_LINE={shlex.quote(line)}",
            "COMP_POINT=${#COMP_LINE}",
            "COMP_WORDS=(" + " ".join(shlex.quote(w) for w in words) + ")",
            f"COMP_CWORD={len(words) - 1}",
            "_cohortctl cohortctl",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ])
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                           env=self.env, cwd=cwd, timeout=scaled(30))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "", f"{line!r}: the completion wrote to stderr")
        return sorted(w for w in p.stdout.split("\n") if w)

    def each_bash(self):
        self.assertTrue(os.path.exists(BASH_COMPLETION), "bash-completion is missing: make deps installs it")
        for helpers in (False, True):
            with self.subTest(bash_completion=helpers):
                yield helpers

    def test_bash_commands_are_those_of_help(self):
        for helpers in self.each_bash():
            self.assertEqual(self.bash("cohortctl ", helpers), sorted(self.commands))
            self.assertEqual(self.bash("cohortctl vi", helpers), ["view"])
            self.assertEqual(self.bash("cohortctl de", helpers), ["dead-letters", "definitions"])
            self.assertEqual(self.bash("cohortctl --json --timeout 300 his", helpers), ["history"])
            self.assertEqual(self.bash("cohortctl help ex", helpers), ["explain"])

    def test_bash_global_options_are_those_of_help(self):
        help_text = run_ctl("--help").stdout
        expected = options_in(help_text.split("Commands:")[0]) | {"--help", "--version"}
        for helpers in self.each_bash():
            self.assertEqual(set(self.bash("cohortctl --", helpers)), expected)

    def test_bash_flags_of_view(self):
        for helpers in self.each_bash():
            self.assertEqual(self.bash("cohortctl view ", helpers), ["end", "pause", "progress", "resume", "start"])
            self.assertEqual(self.bash("cohortctl view start --", helpers),
                             ["--duration", "--event", "--help", "--json", "--type", "--url"])
            self.assertEqual(self.bash("cohortctl view start --type ", helpers), ["audio", "video"])
            self.assertEqual(self.bash("cohortctl view start --d", helpers), ["--duration"])

    def test_bash_flags_of_every_command_are_those_of_its_usage(self):
        subcommands = {"aliases": "set", "view": "start"}
        for command in self.commands:
            if command == "help":
                continue
            usage = run_ctl(command, "--help").stdout.split("\n\n")[0]
            expected = options_in(usage) | {"--help", "--json"}
            sub = subcommands.get(command)
            line = f"cohortctl {command} {sub + ' ' if sub else ''}--"
            with self.subTest(command=command):
                self.assertEqual(set(self.bash(line, False)), expected)

    def test_bash_call_offers_the_protocol_methods(self):
        for helpers in self.each_bash():
            self.assertEqual(set(self.bash("cohortctl call ", helpers)), protocol_methods())
            self.assertEqual(self.bash("cohortctl call definitions.p", helpers),
                             ["definitions.preview", "definitions.put"])

    def test_bash_files_where_a_command_reads_one(self):
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            for name in ("rules.json", "cohorts.json"):
                open(os.path.join(tmp, name), "w").close()
            for helpers in self.each_bash():
                self.assertEqual(self.bash("cohortctl definitions put ", helpers, cwd=tmp),
                                 ["cohorts.json", "rules.json"])
                self.assertEqual(self.bash("cohortctl preview r", helpers, cwd=tmp), ["rules.json"])
                self.assertEqual(self.bash("cohortctl definitions ", helpers, cwd=tmp), ["get", "put", "reload"])

    def test_bash_explain_offers_the_daemons_cohort_ids(self):
        self.put_definitions()
        sock = self.daemon.socket_path
        for helpers in self.each_bash():
            self.assertEqual(self.bash(f"cohortctl --socket {sock} explain ", helpers), list(COHORT_IDS))
            self.assertEqual(self.bash(f"cohortctl --socket {sock} explain 41", helpers), ["4101", "4102"])
            self.assertEqual(self.bash(f"cohortctl --socket={sock} --json explain 42", helpers), ["4201"])
            # Only the first argument is a cohort.
            self.assertEqual(self.bash(f"cohortctl --socket {sock} explain 4101 ", helpers), [])

    def test_bash_explain_without_a_daemon_offers_nothing_quietly(self):
        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            for helpers in self.each_bash():
                started = time.monotonic()
                self.assertEqual(self.bash(f"cohortctl --socket {tmp}/none.sock explain ", helpers), [])
                self.assertLess(time.monotonic() - started, scaled(5))

    # -- zsh

    def zsh(self, line, timeout=None):
        """What zsh's completion system offers for the line: every match passed
        to compadd, from an interactive zsh in a pseudo-terminal."""
        zsh = shutil.which("zsh")
        self.assertTrue(zsh, "zsh is missing: make deps installs it")
        pid, fd = pty.fork()
        if pid == 0:  # the child: an interactive zsh without any startup file
            os.execve(zsh, ["zsh", "-f", "-i"], dict(self.env, TERM="dumb", PS1="> "))
        out = b""

        def read(seconds, until=None):
            nonlocal out
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if ready:
                    try:
                        out += os.read(fd, 65536)
                    except OSError:
                        return
                elif until is not None and until(out):
                    return

        try:
            os.write(fd, ("fpath=(%s $fpath); autoload -Uz compinit; compinit -u -D\n" % shlex.quote(COMPLETION))
                     .encode())
            # Every match, as it is added, between @@ marks.
            os.write(fd, b"compadd() { local -a __m; builtin compadd -O __m \"$@\"; "
                         b"(( $#__m )) && print -rn -- $'\\n'\"@@${(j: :)__m}@@\"; builtin compadd \"$@\" }\n"
                         b"print ready-$((6*7))\n")
            read(scaled(10), until=lambda o: b"ready-42" in o)
            out = b""
            os.write(fd, line.encode() + b"\t")
            # Done once nothing more comes for a while.
            settled = {"size": -1, "at": time.monotonic()}

            def quiet(o):
                if len(o) != settled["size"]:
                    settled["size"], settled["at"] = len(o), time.monotonic()
                return b"@@" in o and time.monotonic() - settled["at"] > 0.5
            read(timeout or scaled(10), until=quiet)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
        matches = set()
        for group in re.findall(r"@@(.*?)@@", out.decode(errors="replace")):
            matches.update(group.split())
        return matches

    def test_zsh_commands_are_those_of_help(self):
        self.assertEqual(self.zsh("cohortctl "), set(self.commands))

    def test_zsh_flags_of_view(self):
        self.assertEqual(self.zsh("cohortctl view "), {"start", "pause", "resume", "progress", "end"})
        self.assertEqual(self.zsh("cohortctl view start --"), {"--type", "--duration", "--url", "--event",
                                                               "--help", "--json"})

    def test_zsh_call_offers_the_protocol_methods(self):
        self.assertEqual(self.zsh("cohortctl call "), protocol_methods())

    def test_zsh_explain_offers_the_daemons_cohort_ids(self):
        self.put_definitions()
        self.assertEqual(self.zsh(f"cohortctl --socket {self.daemon.socket_path} explain "), set(COHORT_IDS))

    def test_zsh_lists_the_same_commands_as_bash(self):
        with open(os.path.join(COMPLETION, "_cohortctl"), encoding="utf-8") as f:
            zsh_source = f.read()
        listed = re.findall(r"(?m)^    '([a-z-]+):", zsh_source)
        self.assertEqual(sorted(listed), sorted(self.commands))


if __name__ == "__main__":
    unittest.main()
