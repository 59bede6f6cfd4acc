"""The manual pages (docs/man): each renders without a single warning, the
generated parts are what the key table generates, and each page names what
it documents.

    cohortctl(1)      every command of `cohortctl --help`, every option of each
                      command's usage, every global option
    cohortd.json(5)   every key of agent/src/config.cpp's table (its KEYS section
                      is generated from it, as is samples/config/README.md's table)
    cohortd(8)        every option of `cohortd --help`
    libcohort(3)      every function and every status of cohort.h

Environment (CTest sets it): CONFIG_REFERENCE (the generator,
docs/man/config_reference.cpp), COHORTD, COHORTCTL, COHORT_WRAPPER (a command
prefixed to the three, e.g. qemu for a cross build). Standard library only.
"""

import difflib
import os
import re
import shlex
import shutil
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "docs", "man")
PAGES = ("cohortctl.1", "cohortd.json.5", "cohortd.8", "libcohort.3")
WRAPPER = shlex.split(os.environ.get("COHORT_WRAPPER", ""))
REGEN = "cmake --build BUILD --target regen-docs"


def binary(name):
    path = os.environ.get(name)
    if not path:
        raise unittest.SkipTest(f"{name} is not set (run through ctest)")
    return WRAPPER + [path]


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def tool(name):
    path = shutil.which(name)
    if not path:
        raise AssertionError(f"{name} is missing: scripts/install-deps.sh installs it (make deps)")
    return path


def page_path(page):
    return os.path.join(MAN, page)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rendered(page):
    """The page as plain text, 200 columns wide (a long line stays one line)."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="200", MANPAGER="cat", PAGER="cat")
    p = run([tool("man"), "--nh", "--nj", "-E", "ascii", "-l", page_path(page)], env=env)
    assert p.returncode == 0, p.stderr
    return re.sub(r".\x08", "", p.stdout)


class Lint(unittest.TestCase):
    """Every page renders without a warning, in each of Debian's man(7) tools."""

    def test_groff_warns_about_nothing(self):
        for page in PAGES:
            with self.subTest(page=page):
                p = run([tool("groff"), "-man", "-ww", "-z", page_path(page)])
                self.assertEqual((p.returncode, p.stderr), (0, ""))

    def test_man_warns_about_nothing(self):
        env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANPAGER="cat", PAGER="cat")
        for page in PAGES:
            with self.subTest(page=page):
                p = run([tool("man"), "--warnings", "-l", page_path(page)], env=env)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stderr, "")
                self.assertIn("NAME", p.stdout)

    def test_mandoc_lint_warns_about_nothing(self):
        for page in PAGES:
            with self.subTest(page=page):
                p = run([tool("mandoc"), "-T", "lint", "-W", "warning", page_path(page)])
                self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    def test_pages_are_ascii_with_a_name_and_see_also(self):
        for page in PAGES:
            with self.subTest(page=page):
                text = read(page_path(page))
                self.assertTrue(text.isascii(), "non-ASCII characters: write them as roff escapes")
                name, section = page.rsplit(".", 1)
                self.assertRegex(text, rf"(?m)^\.TH {re.escape(name.upper())} {section} ")
                for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
                    self.assertRegex(text, rf"(?m)^\.SH {heading}$")
                # Every page it refers to is one of these (or a system page).
                for ref, sec in re.findall(r"\.BR (\S+) \((\d)\)", text):
                    if ref.startswith("cohort") or ref.startswith("libcohort"):
                        self.assertIn(f"{ref}.{sec}", PAGES)


class Generated(unittest.TestCase):
    """cohortd.json(5) and samples/config/README.md are what the key table generates."""

    def check_generated(self, path, *args):
        p = run(binary("CONFIG_REFERENCE") + list(args))
        self.assertEqual(p.returncode, 0, p.stderr)
        current = read(path)
        if p.stdout != current:
            diff = "".join(difflib.unified_diff(current.splitlines(True), p.stdout.splitlines(True),
                                                os.path.relpath(path, ROOT), "generated"))
            self.fail(f"{os.path.relpath(path, ROOT)} differs from what agent/src/config.cpp's key table "
                      f"generates; run `{REGEN}`:\n{diff}")

    def test_cohortd_json_5_is_generated(self):
        page = page_path("cohortd.json.5")
        self.check_generated(page, "--man", page)

    def test_config_readme_is_generated(self):
        readme = os.path.join(ROOT, "samples", "config", "README.md")
        self.check_generated(readme, "--markdown", readme, os.path.join(ROOT, "samples", "config", "cohortd.json"))

    def keys(self):
        p = run(binary("CONFIG_REFERENCE") + ["--keys"])
        self.assertEqual(p.returncode, 0, p.stderr)
        keys = p.stdout.split()
        self.assertGreater(len(keys), 20)
        return keys

    def test_cohortd_json_5_names_every_key(self):
        source = read(page_path("cohortd.json.5"))
        text = rendered("cohortd.json.5")
        for key in self.keys():
            with self.subTest(key=key):
                self.assertRegex(source, rf"(?m)^\.B {re.escape(key)}$")
                self.assertRegex(text, rf"(?m)^ {{7}}{re.escape(key)}$")

    def test_config_readme_names_every_key(self):
        readme = read(os.path.join(ROOT, "samples", "config", "README.md"))
        for key in self.keys():
            with self.subTest(key=key):
                self.assertRegex(readme, rf"(?m)^\| `{re.escape(key)}` \|")


def usage_options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


class Coverage(unittest.TestCase):
    """Each page names what its program or header has."""

    def test_cohortctl_names_every_command_and_option(self):
        ctl = binary("COHORTCTL")
        p = run(ctl + ["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        commands = re.findall(r"(?m)^  ([a-z][a-z-]*) ", p.stdout.split("Commands:")[1].split("\n\n")[0])
        self.assertIn("explain", commands)
        self.assertIn("help", commands)
        text = rendered("cohortctl.1")
        commands_section = text.split("\nCOMMANDS\n")[1].split("\nEXIT STATUS\n")[0]
        options_section = text.split("\nOPTIONS\n")[1].split("\nCOMMANDS\n")[0]
        for option in usage_options(p.stdout.split("Commands:")[0]) | {"--help", "--version"}:
            with self.subTest(option=option):
                self.assertRegex(options_section, rf"(?m)^ {{7}}(-h, )?{option}\b")
        for command in commands:
            with self.subTest(command=command):
                # A tag of the COMMANDS section starts with it.
                self.assertRegex(commands_section, rf"(?m)^ {{7}}{re.escape(command)}\b")
                if command == "help":
                    continue
                usage = run(ctl + [command, "--help"]).stdout.split("\n\n")[0]
                for option in usage_options(usage):
                    self.assertIn(option, commands_section, f"{command} {option}")
        for code in range(5):
            self.assertRegex(text.split("\nEXIT STATUS\n")[1], rf"(?m)^ {{7}}{code}\s")

    def test_cohortd_names_every_option(self):
        p = run(binary("COHORTD") + ["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        options = usage_options(p.stdout.split("Signals:")[0])
        self.assertIn("--check-config", options)
        text = rendered("cohortd.8")
        section = text.split("\nOPTIONS\n")[1].split("\nSIGNALS\n")[0]
        for option in options:
            with self.subTest(option=option):
                self.assertRegex(section, rf"(?m)^ {{7}}(-h, )?{option}\b")
        for signal in ("SIGTERM", "SIGINT", "SIGHUP"):
            self.assertIn(signal, text.split("\nSIGNALS\n")[1])

    def test_libcohort_names_every_function_and_status(self):
        header = read(os.path.join(ROOT, "agent", "include", "cohort", "cohort.h"))
        functions = re.findall(r"COHORT_API\s+[\w\s\*]+?\b(cohort_\w+)\s*\(", header)
        self.assertIn("cohort_open", functions)
        self.assertIn("cohort_build_info", functions)
        source = read(page_path("libcohort.3"))
        text = rendered("libcohort.3")
        synopsis = text.split("\nSYNOPSIS\n")[1].split("\nDESCRIPTION\n")[0]
        described = text.split("\nFUNCTIONS\n")[1].split("\nRETURN VALUE\n")[0]
        for fn in functions:
            with self.subTest(function=fn):
                self.assertRegex(synopsis, rf"\b{fn}\(")  # its prototype
                self.assertRegex(source, rf"(?m)^\.TP\n\.BR {fn} \(\)$")  # its own entry
                self.assertRegex(described, rf"(?m)^ {{7}}{fn}\(\)$")
        statuses = re.findall(r'X\((COHORT_\w+), (\d+), "([^"]+)"\)', header)
        self.assertGreater(len(statuses), 10)
        values = text.split("\nRETURN VALUE\n")[1]
        for name, value, message in statuses:
            with self.subTest(status=name):
                self.assertRegex(values, rf"(?m)^ {{7}}{name} \({value}\)\n {{14}}{re.escape(message)}$")


if __name__ == "__main__":
    unittest.main()
