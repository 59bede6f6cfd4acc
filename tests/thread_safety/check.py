#!/usr/bin/env python3
"""The lock annotations (platform/mutex.h) as clang checks them.

Compiles every source of the agent, the platform layer, storage and the front
ends listed in BUILD/compile_commands.json again with clang++, -fsyntax-only
and -Werror=thread-safety, with the flags the build gave it (so a GCC build
is checked too). Then compiles the probes beside this script, each of which
breaks one rule, and passes only if each fails with clang's thread-safety
diagnostic: the annotations are not empty on clang, and the check is not a
no-op.
"""
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys

CHECKED = ("agent/src/", "agent/daemon/", "agent/cli/", "platform/", "storage/")
# GCC's own warnings clang does not know, and -Werror for anything but the analysis.
DROP = ("-Werror", "-Wlogical-op", "-Wduplicated-cond", "-Wduplicated-branches", "-Wuseless-cast")
EXTRA = ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option", "-ferror-limit=0"]


def clang_args(clang, entry):
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    out, skip = [clang], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a in ("-c",) or a.startswith(DROP) and not a.startswith("-Werror="):
            continue
        elif a.startswith("-fsanitize") or a.startswith("--param"):
            continue
        else:
            out.append(a)
    return out + EXTRA


def run(args, cwd):
    p = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main():
    build, source, clang = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else ""
    if not clang or clang.endswith("-NOTFOUND"):
        print("clang++ not found: scripts/install-deps.sh installs it (the analysis is clang's)")
        return 1
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    checked = [e for e in entries
               if os.path.realpath(e["file"]).startswith(tuple(os.path.join(source, d) for d in CHECKED))
               and e["file"].endswith(".cpp")]
    if not checked:
        print("no sources to check in compile_commands.json")
        return 1
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        jobs = {pool.submit(run, clang_args(clang, e), e["directory"]): e["file"] for e in checked}
        for job in concurrent.futures.as_completed(jobs):
            code, text = job.result()
            if code != 0:
                failed += 1
                print("FAIL %s\n%s" % (os.path.relpath(jobs[job], source), text))
    print("%d sources checked, %d failed" % (len(checked), failed))

    # The probes: each must be refused by the analysis.
    here = os.path.dirname(os.path.abspath(__file__))
    base = [clang, "-std=c++17", "-I", source] + EXTRA
    for probe in sorted(p for p in os.listdir(here) if p.startswith("probe_")):
        code, text = run(base + [os.path.join(here, probe)], here)
        if code == 0 or "-Wthread-safety" not in text:
            failed += 1
            print("FAIL %s: accepted, or refused for another reason:\n%s" % (probe, text))
        else:
            print("ok   %s refused: %s" % (probe, text.splitlines()[0].split(": ", 2)[-1]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
