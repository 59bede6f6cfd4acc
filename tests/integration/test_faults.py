"""Storage faults: a full disk, a read-only data_dir, a database deleted,
truncated or corrupted. cohortd must go on answering from an in-memory copy of
its database (at most 2000 events accepted meanwhile), say so in `status`
(`storage: "degraded"`, `storage_error`) and its log, try the disk again every
30 s and write everything back when it works. An acknowledged event is never
lost and nothing that was not tracked is ever served.

Every event a test tracks carries a unique number `n`, the run id and its phase
in its properties; names group the numbers by 500 (E0, E1, ...), since
history.get has no paging (at most 1000 a call). "Served exactly" means: every
event history.get answers is one that was tracked, with the name, properties
and event_id its track answer gave.

* DiskFull (root and mount(8) needed: data_dir is a small tmpfs; skipped
  otherwise, with the reason)
  - test_disk_full_...: the CCS API answers 503 (the queue must be written
    back too). Events are tracked until the tmpfs is full (the daemon
    degrades on its own), then as many again: every track succeeds, status
    says degraded with the reason, which is also in the log, and history.get
    serves every event. The CCS API then takes them (a sync from memory) and
    answers 503 again for 100 more. The tmpfs is grown (remount, size=64m):
    within 30 s (the retry period) plus a margin status is "ok", and after a
    restart every acknowledged event is in the history and reaches the
    emulator, under the same user id, once (the send cursor was written back
    too). Soak: the disk stays full across one retry first (the daemon must
    still be degraded and answering after it).
  - test_disk_freed_then_stopped_before_the_retry...: the same, but the
    daemon is stopped (SIGTERM) right after the space is freed, before its
    30 s retry: its flush must write the memory back (the disk works again).
  - test_a_fault_keeps_the_history_already_on_disk: 2,200 events are on disk
    (more than the 2,000 the daemon may hold while degraded) when the disk
    fills; ten more are tracked. The bound is for what is accepted while
    degraded: none of the events already stored may be evicted from the
    history or dropped from the queue (status counters, history.get).
* ReadOnly (root and mount(8)): a data_dir with a database (events queued,
  CCS 503) is remounted read-only and the daemon started: it runs degraded,
  serves the events already stored, takes new ones; the tmpfs is remounted
  read-write, the retry writes back, and after a restart every event (before
  and during) is there and reaches the emulator.
* LostDatabase (no mount needed, runs everywhere): cohort.db (with its -wal,
  -shm) deleted under a running daemon; cohort.db truncated (to 0 bytes, to
  half) under a running daemon whose database (all in the file after a clean
  restart) is larger than its page cache; a stopped daemon's database
  corrupted (every table leaf page header broken, 16 KiB zeroed, the file
  header overwritten, truncated to half) before a start. The daemon keeps answering
  and never crashes; what history.get serves is exactly what was tracked; a
  fault it ran into is reported in status or at warn/error level in the log;
  the user id survives (identity file); a corrupt file is moved aside at
  start, with a log line, and the new database works (status "ok", events
  tracked after the start survive a restart); acknowledged events are not
  lost, or at the very least never silently.

The 30 s retry runs on the worker's monotonic clock (CLOCK_BOOTTIME) with no
other trigger (no configuration key, signal or method): the two tests that
check a write-back while the daemon runs wait for it (about 30 s each); every
other wait polls with a deadline.

Loads: a normal run fills a 256 KiB tmpfs (some hundreds of events) and
tracks 500 more; under qemu-user (COHORT_WRAPPER) 128 KiB and 150;
COHORT_SOAK=1 (`make soak`) 256 KiB and 800 (within the in-memory bound),
plus 200 across a failed retry, and 3,000 events in the truncation test.
Figures go to stderr. The corruption positions come from COHORT_SEED (printed).
"""

import collections
import contextlib
import functools
import glob
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import EMULATED, Daemon, RpcError, deep_merge, drain, scaled, wait_until
from client import Emulator  # tests/emulator, on sys.path through harness

SOAK = os.environ.get("COHORT_SOAK", "") not in ("", "0")
SEED = int(os.environ.get("COHORT_SEED") or random.SystemRandom().randrange(1, 2 ** 31))
RUN = random.SystemRandom().randrange(1, 2 ** 31)  # marks this run's events

API_KEY = "sk-cohort-faults-0123456789"
CCS = "/ccs/"
GROUP = 500             # events per name (history.get pages by name, limit <= 1000)
DEGRADED_MAX = 2000     # what the daemon may hold in memory while degraded
RETRY_S = 30            # the daemon's storage retry period
WINDOW = 32             # pipelined track requests in flight


def load(soak, native, emulated):
    return soak if SOAK else (emulated if EMULATED else native)


def say(*parts):
    print(*parts, file=sys.stderr, flush=True)


def tail(text, lines=30):
    """The last lines of a log, without the sync retries (the CCS API is held
    at 503 or absent) and SQLite's page-by-page integrity reports."""
    kept = [line for line in text.splitlines() if "CCS sync failed" not in line and not line.startswith("Page ")]
    return "\n".join(kept[-lines:])


def short(obj, limit=300):
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "..."


def name_of(n):
    return f"E{n // GROUP}"


def free_kib(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // 1024


@functools.lru_cache(maxsize=None)
def mount_unavailable():
    """None when this process can mount a tmpfs, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to mount a tmpfs as data_dir (not running as root)"
    if not shutil.which("mount") or not shutil.which("umount"):
        return "mount(8)/umount(8) not found"
    with tempfile.TemporaryDirectory(prefix="cohort-mnt-", dir="/tmp") as path:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}"
        subprocess.run(["umount", path], capture_output=True)
    return None


def run_mount(*args):
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"mount {' '.join(args)} failed: {r.stderr.strip()}")


class FaultCase(unittest.TestCase):
    """A fresh daemon per test; with_emulator: one API emulator per class."""

    with_emulator = True
    needs_mount = False
    emulator = None

    @classmethod
    def setUpClass(cls):
        say(f"\n{cls.__name__}: seed {SEED} (COHORT_SEED={SEED} replays it), run {RUN}"
            f"{' [soak]' if SOAK else ''}")
        if cls.needs_mount and mount_unavailable():
            raise unittest.SkipTest(mount_unavailable())
        if cls.with_emulator:
            cls.emulator = Emulator(api_key=API_KEY, rules={"behavioral": [], "contextual": []}).start()

    @classmethod
    def tearDownClass(cls):
        if cls.emulator is not None:
            cls.emulator.stop()
            cls.emulator = None

    def setUp(self):
        self.emu = self.emulator
        if self.emu is not None:
            self.emu.reset()
        self.rng = random.Random(f"{SEED}:{self.id()}")
        self.daemon = None
        self.sent = {}       # n -> track params
        self.acked = {}      # n -> event_id of the success answer
        self.refused = []    # (n, error or result) of tracks that did not succeed
        self.next_n = 0
        self.problems = []

    def make_daemon(self, config=None):
        base = {"consent": {"required": False}, "log": {"level": "info"},
                "api": {"key": API_KEY, "timeout_ms": int(scaled(2000))}}
        d = Daemon(config=deep_merge(base, config), emulator=self.emu)
        self.addCleanup(d.cleanup)
        self.daemon = d
        return d

    def context(self):
        log = self.daemon.stderr_text() if self.daemon is not None else ""
        return f"seed {SEED}, run {RUN}; cohortd's log ends:\n{tail(log)}"

    def problem(self, text):
        say(f"  PROBLEM: {text}")
        self.problems.append(text)

    def assert_no_problems(self):
        if self.problems:
            self.fail("\n".join(f"- {p}" for p in self.problems) + "\n" + self.context())

    # -- the tmpfs

    def mount_tmpfs(self, d, size):
        os.makedirs(d.data_dir, exist_ok=True)
        run_mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", d.data_dir)
        self.addCleanup(self.unmount, d)  # runs before d.cleanup (LIFO)

    @staticmethod
    def unmount(d):
        if d.alive():
            with contextlib.suppress(Exception):
                d.stop()
            if d.alive():
                d.kill9()
        for _ in range(20):
            if subprocess.run(["umount", d.data_dir], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        subprocess.run(["umount", "-l", d.data_dir], capture_output=True)

    # -- the emulator

    def hold_sync(self):
        """The CCS API answers 503 until release_sync(): everything stays queued."""
        self.emu.set_fault("status", code=503, path="ccs")

    def release_sync(self):
        self.emu.set_fault("none", path="ccs")

    def drain(self, d):
        drain(d, self.emu)

    def check_delivered(self, user_id, what):
        """Every acknowledged event reached the emulator, under user_id, as tracked."""
        requests = sorted(self.emu.requests(CCS), key=lambda r: r["seq"])
        delivered = collections.Counter()
        wrong = []
        for r in requests:
            if r["status"] is None or not 200 <= r["status"] < 300 or not r["body_is_json"]:
                continue
            body = r["body"]
            if body.get("user_id") != user_id:
                wrong.append(f"a batch sent under {body.get('user_id') or body.get('aliases')}, not {user_id}")
            for e in body.get("events", []):
                n = (e.get("properties") or {}).get("n")
                p = self.sent.get(n) if isinstance(n, int) else None
                if p is None or e.get("name") != p["name"] or e.get("properties") != p["properties"]:
                    wrong.append(f"delivered an event that was not tracked so: {short(e)}")
                else:
                    delivered[n] += 1
        missing = sorted(set(self.acked) - set(delivered))
        if missing:
            self.problem(f"{what}: {len(missing)} of {len(self.acked)} acknowledged events never reached the "
                         f"CCS API (n {missing[:10]}{'...' if len(missing) > 10 else ''})")
        for w in wrong[:5]:
            self.problem(f"{what}: {w}")
        return len(delivered), sum(c - 1 for c in delivered.values())

    # -- tracking

    def event(self, n, phase):
        return {"name": name_of(n), "properties": {"n": n, "run": RUN, "phase": phase}}

    def track_many(self, d, count, phase, pad=0):
        """Tracks `count` events on one connection, WINDOW requests in flight.
        Returns the numbers acknowledged (success with stored: true)."""
        c = d.client(timeout=scaled(30))
        outstanding = collections.deque()
        acked, sent = [], 0
        try:
            while sent < count or outstanding:
                while sent < count and len(outstanding) < WINDOW:
                    n = self.next_n
                    self.next_n += 1
                    params = self.event(n, phase)
                    if pad:
                        # Random text: the store compresses what repeats, and a
                        # pad is there to take room.
                        params["properties"]["pad"] = "%0*x" % (pad, self.rng.getrandbits(4 * pad))
                    self.sent[n] = params
                    c.send({"jsonrpc": "2.0", "id": n, "method": "track", "params": params})
                    outstanding.append(n)
                    sent += 1
                msg = c.read_message()
                n = outstanding.popleft()
                if not (msg.get("id") is None and "error" in msg):  # an error without an id: n's answer too
                    self.assertEqual(msg.get("id"), n, f"answers out of order: {short(msg)}")
                result = msg.get("result")
                if isinstance(result, dict) and result.get("event_id") and result.get("stored") is True:
                    self.acked[n] = result["event_id"]
                    acked.append(n)
                else:
                    self.refused.append((n, msg.get("error", result)))
        except (EOFError, ConnectionResetError, TimeoutError) as e:
            self.fail(f"cohortd stopped answering track ({phase}, {len(outstanding)} in flight): {e!r}; "
                      f"running: {d.alive()}\n{self.context()}")
        finally:
            c.close()
        return acked

    def assert_tracks_succeeded(self, what):
        if self.refused:
            n, answer = self.refused[0]
            self.fail(f"{len(self.refused)} tracks did not succeed {what}; the first, event {n} "
                      f"(after {len(self.acked)} acknowledged), got {short(answer, 400)}\n{self.context()}")

    # -- what is served

    def mismatch(self, e):
        """Why a served event is not one that was tracked (None when it is)."""
        props = e.get("properties") if isinstance(e.get("properties"), dict) else {}
        n = props.get("n")
        p = self.sent.get(n) if isinstance(n, int) else None
        if p is None:
            return f"served an event that was never tracked: {short(e)}"
        if e.get("name") != p["name"] or props != p["properties"]:
            return f"event {n} served otherwise than tracked: {short(e)}"
        if n in self.acked and e.get("event_id") != self.acked[n]:
            return f"event {n} served with event_id {e.get('event_id')}, its track answered {self.acked[n]}"
        return None

    def served(self, d, what, errors_ok=False):
        """n -> event over every name tracked, and the newest 1000 of any name,
        each checked against what was tracked (a problem otherwise). A storage
        error answer is a problem unless errors_ok (then counted). Returns
        (events by n, number of calls answered with an error)."""
        found, wrong, errors = {}, [], []
        queries = [{"limit": 1000}] + [{"limit": 1000, "name": name}
                                       for name in sorted({name_of(n) for n in self.sent})]
        for params in queries:
            try:
                events = d.call("history.get", params)["events"]
            except RpcError as e:
                errors.append(f"history.get {params}: {e}")
                continue
            if "name" in params and len(events) >= 1000:
                wrong.append(f"{params['name']}: a full page of 1000 for at most {GROUP} tracked")
            for e in events:
                bad = self.mismatch(e)
                if bad:
                    wrong.append(bad)
                elif "name" in params:
                    n = e["properties"]["n"]
                    if n in found:
                        wrong.append(f"event {n} served twice")
                    found[n] = e
        for w in wrong[:5]:
            self.problem(f"{what}: {w}")
        if len(wrong) > 5:
            self.problem(f"{what}: ... {len(wrong) - 5} more events served wrongly")
        if errors and not errors_ok:
            self.problem(f"{what}: history.get failed: {errors[0]}")
        return found, len(errors)

    def check_all_served(self, d, what):
        """Every acknowledged event is served, exactly."""
        found, _ = self.served(d, what)
        want = set(self.acked)
        missing = sorted(want - set(found))
        if missing:
            phases = collections.Counter(self.sent[n]["properties"]["phase"] for n in missing)
            self.problem(f"{what}: {len(missing)} of {len(want)} acknowledged events missing from the history "
                         f"(by phase {dict(phases)}; n {missing[:8]}{'...' if len(missing) > 8 else ''})")
        return found

    # -- status and log

    def status(self, d):
        try:
            return d.call("status")
        except (EOFError, ConnectionResetError, TimeoutError, OSError) as e:
            self.fail(f"cohortd does not answer status: {e!r}; running: {d.alive()}\n{self.context()}")

    def wait_storage(self, d, state, timeout, what):
        started = time.monotonic()
        try:
            wait_until(lambda: self.status(d)["storage"] == state, timeout, interval=0.05,
                       message=f"status storage \"{state}\" ({what})")
        except TimeoutError as e:
            st = self.status(d)
            self.fail(f"{e}: status says {st['storage']!r} ({st.get('storage_error')!r})\n{self.context()}")
        return time.monotonic() - started

    @staticmethod
    def warnings_in(log):
        """Log lines at warn or error level."""
        return [line for line in log.splitlines() if " warn: " in line or " error: " in line]

    def assert_alive(self, d, what):
        if not d.alive():
            self.fail(f"cohortd died ({what}): exit status {d.process.returncode}\n{self.context()}")

    def stop(self, d, what):
        status = d.stop()
        if status != 0:
            self.problem(f"{what}: cohortd exited with {status} on SIGTERM")


class DiskFull(FaultCase):
    needs_mount = True
    SIZE = load("256k", "256k", "128k")
    BEYOND = load(800, 500, 150)
    ACROSS_RETRY = load(200, 0, 0)
    FILL_CAP = 1400  # the tmpfs is full long before this (within the in-memory bound)

    def fill(self, d, what):
        """Tracks until the daemon degrades on its own (the tmpfs is full)."""
        chunk = 10
        while self.status(d)["storage"] == "ok":
            if self.next_n >= self.FILL_CAP:
                self.fail(f"{self.next_n} events tracked on a {self.SIZE} tmpfs and still no fault "
                          f"({free_kib(d.data_dir)} KiB free)\n{self.context()}")
            self.track_many(d, chunk, what)
            self.assert_tracks_succeeded(f"while the disk filled ({what}; status {self.status(d)['storage']!r})")
        return self.next_n

    def degraded_ok(self, d, what, log_from):
        """status degraded with a reason that the log also carries."""
        st = self.status(d)
        if st["storage"] != "degraded" or not st.get("storage_error"):
            self.problem(f"{what}: status storage {st['storage']!r}, storage_error {st.get('storage_error')!r}")
        elif st["storage_error"] not in d.stderr_text()[log_from:]:
            self.problem(f"{what}: the reason {st['storage_error']!r} is not in the log")
        return st

    def test_disk_full_the_daemon_goes_on_in_memory_and_writes_back(self):
        self.hold_sync()
        d = self.make_daemon()
        self.mount_tmpfs(d, self.SIZE)
        d.start()
        user_id = self.status(d)["user_id"]
        log_from = len(d.stderr_text())
        t0 = time.monotonic()
        filled_at = self.fill(d, "fill")
        degraded_at = time.monotonic()
        st = self.degraded_ok(d, "the disk full", log_from)
        say(f"\n  disk full: {self.SIZE} tmpfs full after {filled_at} events "
            f"({filled_at / (degraded_at - t0):.0f} events/s), {free_kib(d.data_dir)} KiB free; "
            f"storage_error: {st.get('storage_error')!r}")

        # Beyond full: every track succeeds, everything is served.
        beyond = min(self.BEYOND, DEGRADED_MAX - 250 - self.ACROSS_RETRY - filled_at)
        self.assertGreaterEqual(beyond, 100, f"the {self.SIZE} tmpfs took {filled_at} events: too many to stay "
                                             f"within the daemon's in-memory bound; make it smaller")
        t1 = time.monotonic()
        self.track_many(d, beyond, "beyond")
        beyond_s = time.monotonic() - t1
        self.assert_tracks_succeeded("with the disk full")
        self.assert_alive(d, "with the disk full")
        st = self.degraded_ok(d, "beyond full", log_from)
        total = len(self.acked)
        self.assertEqual((st["history"]["events"], st["history"]["evicted"], st["queue_dropped"],
                          st["queue_depth"]), (total, 0, 0, total), f"status while degraded: {st}")
        self.check_all_served(d, "while degraded")

        # Sync works from memory, and what it sends stays sent: the cursor is
        # written back with the rest (no second delivery after the restart).
        self.release_sync()
        self.drain(d)
        delivered_degraded, _ = self.check_delivered(user_id, "synced while degraded")
        self.hold_sync()
        self.track_many(d, 100, "queued")
        self.assert_tracks_succeeded("with the disk full, after a sync")
        st = self.degraded_ok(d, "after a sync from memory", log_from)
        if st["queue_depth"] != 100:
            self.problem(f"after a sync from memory and 100 more events: queue_depth {st['queue_depth']}")

        if self.ACROSS_RETRY:
            # The disk stays full through the first retry: still degraded, still answering.
            wait_s = max(0.0, degraded_at + RETRY_S + 2 - time.monotonic())
            say(f"  soak: keeping the disk full across the first retry ({wait_s:.0f} s)")
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                self.assertEqual(self.status(d)["storage"], "degraded", "storage ok again on a full disk?")
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # the daemon's clock
            self.track_many(d, self.ACROSS_RETRY, "across-retry")
            self.assert_tracks_succeeded("after a failed retry")
            self.degraded_ok(d, "after a failed retry", log_from)
            self.check_all_served(d, "after a failed retry")

        # Free space: the retry writes back.
        run_mount("-o", "remount,size=64m", d.data_dir)
        recovered_s = self.wait_storage(d, "ok", RETRY_S + scaled(10), "after the disk was grown")
        st = self.status(d)
        self.assertNotIn("storage_error", st, st)
        self.assertEqual(st["user_id"], user_id)
        say(f"  {len(self.acked) - filled_at} events tracked beyond full ({beyond / beyond_s:.0f} events/s); "
            f"storage ok {recovered_s:.1f} s after the space was freed, "
            f"{time.monotonic() - degraded_at:.1f} s after the fault; on disk "
            f"{sum(os.path.getsize(p) for p in glob.glob(os.path.join(d.data_dir, 'cohort.db*'))) // 1024} KiB")
        self.check_all_served(d, "after the write-back")
        self.track_many(d, 20, "after")
        self.assert_tracks_succeeded("after the write-back")

        # On disk: a restart has everything, and the CCS API gets everything.
        self.stop(d, "after the write-back")
        d.start()
        st = self.status(d)
        if st["storage"] != "ok" or st["user_id"] != user_id:
            self.problem(f"after the restart: storage {st['storage']!r}, user_id {st['user_id']} (was {user_id})")
        self.check_all_served(d, "after the restart")
        self.release_sync()
        self.drain(d)
        delivered, duplicates = self.check_delivered(user_id, "after the restart")
        say(f"  {delivered_degraded} delivered from memory while degraded; after the restart: "
            f"{len(self.acked)} acknowledged, {delivered} delivered ({duplicates} delivered twice), "
            f"{len(self.problems)} problems")
        if duplicates:
            self.problem(f"{duplicates} events delivered twice: the send cursor of the sync from memory "
                         f"was not written back")
        self.assert_no_problems()

    def test_disk_freed_then_stopped_before_the_retry_keeps_every_event(self):
        """SIGTERM flushes: with the disk usable again, what is in memory goes to disk."""
        self.hold_sync()
        d = self.make_daemon()
        self.mount_tmpfs(d, self.SIZE)
        d.start()
        user_id = self.status(d)["user_id"]
        filled_at = self.fill(d, "fill")
        self.track_many(d, 100, "beyond")
        self.assert_tracks_succeeded("with the disk full")
        self.assertEqual(self.status(d)["storage"], "degraded")
        run_mount("-o", "remount,size=64m", d.data_dir)
        started = time.monotonic()
        self.stop(d, "stopped while degraded, disk usable")
        stop_s = time.monotonic() - started
        d.start()
        st = self.status(d)
        found = self.check_all_served(d, "after the restart")
        lost = sorted(set(self.acked) - set(found))
        say(f"\n  stopped {stop_s * 1000:.0f} ms after freeing the disk (before the 30 s retry): "
            f"{len(self.acked)} acknowledged ({filled_at} before the fault), {len(lost)} lost; "
            f"storage {st['storage']!r}")
        if st["user_id"] != user_id:
            self.problem(f"user_id changed across the restart: {st['user_id']} (was {user_id})")
        if not lost:
            self.release_sync()
            self.drain(d)
            self.check_delivered(user_id, "after the restart")
        self.assert_no_problems()

    def test_a_fault_keeps_the_history_already_on_disk(self):
        """The in-memory bound is for events accepted while degraded; events
        already safely on disk are neither evicted nor dropped because of it."""
        on_disk = DEGRADED_MAX + 200
        self.hold_sync()
        d = self.make_daemon()
        self.mount_tmpfs(d, "8m")
        d.start()
        self.track_many(d, on_disk, "on-disk")
        self.assert_tracks_succeeded("before the fault")
        self.assertEqual(self.status(d)["storage"], "ok")
        # Fill what is left with a file beside the database.
        filler = os.path.join(d.data_dir, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            block = b"\xa5" * 65536
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, block)
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\xa5" * 512)
        finally:
            os.close(fd)
        # Tracks go on until the daemon notices the full disk, then ten more.
        while self.status(d)["storage"] == "ok" and self.next_n < on_disk + 1000:
            self.track_many(d, 1, "fault")
            self.assert_tracks_succeeded("as the disk filled")
        self.track_many(d, 10, "degraded")
        self.assert_tracks_succeeded("with the disk full")
        st = self.status(d)
        self.assertEqual(st["storage"], "degraded", f"the disk is full ({free_kib(d.data_dir)} KiB free): {st}")
        after_filler = self.next_n - on_disk
        say(f"\n  {on_disk} events on disk, the disk filled up, {after_filler} more tracked (the last 10 with the "
            f"daemon degraded): history {st['history']}, queue_depth {st['queue_depth']}, "
            f"queue_dropped {st['queue_dropped']}")
        if st["history"]["evicted"] or st["queue_dropped"] or st["queue_depth"] != len(self.acked):
            self.problem(f"the switch to memory gave up events that were on disk: history {st['history']}, "
                         f"queue_dropped {st['queue_dropped']}, queue_depth {st['queue_depth']} "
                         f"for {len(self.acked)} acknowledged")
        self.check_all_served(d, "while degraded")
        self.assert_no_problems()


class ReadOnly(FaultCase):
    needs_mount = True
    BEFORE = load(1000, 300, 100)
    DURING = load(800, 300, 100)

    def test_read_only_data_dir_at_start_runs_degraded_and_writes_back(self):
        self.hold_sync()
        d = self.make_daemon()
        self.mount_tmpfs(d, "16m")
        d.start()
        user_id = self.status(d)["user_id"]
        before = self.track_many(d, self.BEFORE, "before")
        self.assert_tracks_succeeded("before the fault")
        self.stop(d, "before the remount")
        run_mount("-o", "remount,ro", d.data_dir)
        log_from = len(d.stderr_text())
        started = time.monotonic()
        d.start()
        st = self.status(d)
        if st["storage"] != "degraded" or not st.get("storage_error"):
            self.problem(f"started on a read-only data_dir: storage {st['storage']!r}, "
                         f"storage_error {st.get('storage_error')!r}")
        elif st["storage_error"] not in d.stderr_text()[log_from:]:
            self.problem(f"the reason {st['storage_error']!r} is not in the log")
        if st["user_id"] != user_id:
            self.problem(f"read-only start: user_id {st['user_id']}, was {user_id}")
        if st["queue_depth"] != len(before) or st["history"]["events"] != len(before):
            self.problem(f"read-only start: queue_depth {st['queue_depth']}, history {st['history']} for "
                         f"{len(before)} events in the database")
        self.check_all_served(d, "read-only start, the events already stored")

        self.track_many(d, self.DURING, "during")
        self.assert_tracks_succeeded("on a read-only data_dir")
        self.assert_alive(d, "on a read-only data_dir")
        self.check_all_served(d, "read-only, after tracking")
        st = self.status(d)
        say(f"\n  read-only start: {len(before)} events in the database, {self.DURING} tracked; status "
            f"storage {st['storage']!r}, history {st['history']}, queue_depth {st['queue_depth']}; "
            f"storage_error {st.get('storage_error')!r}")

        run_mount("-o", "remount,rw", d.data_dir)
        remounted = time.monotonic()
        recovered_s = self.wait_storage(d, "ok", max(0.0, started + RETRY_S - remounted) + scaled(10),
                                        "after the remount read-write")
        say(f"  storage ok {recovered_s:.1f} s after the remount, {time.monotonic() - started:.1f} s after the start")
        self.check_all_served(d, "after the write-back")
        self.stop(d, "after the write-back")
        d.start()
        st = self.status(d)
        if st["storage"] != "ok" or st["user_id"] != user_id:
            self.problem(f"after the restart: storage {st['storage']!r}, user_id {st['user_id']} (was {user_id})")
        self.check_all_served(d, "after the restart")
        self.release_sync()
        self.drain(d)
        delivered, duplicates = self.check_delivered(user_id, "after the restart")
        say(f"  after the restart: {len(self.acked)} acknowledged, {delivered} delivered ({duplicates} duplicates)")
        self.assert_no_problems()


class LostDatabase(FaultCase):
    """No mounts: runs as any user, and under qemu-user."""

    with_emulator = False
    BEFORE = load(3000, 1500, 400)
    PAD = 200  # bytes, incompressible: the database outgrows the 64 KiB page cache

    def db(self, d):
        return os.path.join(d.data_dir, "cohort.db")

    def reported(self, d, log_from, timeout):
        """The fault shows in status or at warn/error level in the log (polls;
        sync.now wakes the worker, which looks at the disk)."""
        found = []
        with contextlib.suppress(RpcError):
            d.call("sync.now", {"timeout_ms": int(scaled(500))})

        def check():
            st = self.status(d)
            if st["storage"] != "ok":
                found.append(f"status {st['storage']}: {st.get('storage_error')}")
            found.extend(self.warnings_in(d.stderr_text()[log_from:]))
            return bool(found)
        with contextlib.suppress(TimeoutError):
            wait_until(check, timeout, interval=0.1, message="the fault reported")
        return found

    def restart_and_check(self, d, user_id, what, runtime_report, destroyed=()):
        """Restarts on the same data_dir: it starts, keeps the user id, serves
        exactly what was tracked and every acknowledged event, except those
        of the phases in `destroyed` (in a file the fault destroyed while no
        longer in the daemon's memory): losing those is a problem only when
        nothing reported it, at run time or at the start."""
        self.stop(d, f"{what}: SIGTERM")
        log_from = len(d.stderr_text())
        try:
            d.start()
        except RuntimeError as e:
            self.fail(f"{what}: cohortd does not start again: {e}")
        st = self.status(d)
        # What tells the operator at start that data went: a corrupt file
        # moved aside, or storage not "ok" (restoring the user id says nothing
        # about the events).
        start_log = [line for line in self.warnings_in(d.stderr_text()[log_from:])
                     if "corrupt" in line or "moved" in line]
        if st["storage"] != "ok":
            start_log.append(f"status storage {st['storage']}: {short(st.get('storage_error'), 100)}")
        if st["user_id"] != user_id:
            self.problem(f"{what}: user_id after the restart {st['user_id']}, was {user_id}")
        found, _ = self.served(d, f"{what}, after the restart")
        lost = sorted(set(self.acked) - set(found))
        by_phase = collections.Counter(self.sent[n]["properties"]["phase"] for n in lost)
        corrupt_files = sorted(os.path.basename(p) for p in glob.glob(self.db(d) + ".corrupt-*"))
        say(f"  {what}: after the restart {len(found)} of {len(self.acked)} acknowledged events served, "
            f"{len(lost)} lost {dict(by_phase) or ''}; storage {st['storage']!r}; moved aside {corrupt_files}; "
            f"start-up log: {[line[:120] for line in start_log[:3]]}")
        kept_lost = {phase: k for phase, k in by_phase.items() if phase not in destroyed}
        if kept_lost:
            self.problem(f"{what}: acknowledged events lost across the restart: {kept_lost} (by phase)")
        silent = {phase: k for phase, k in by_phase.items() if phase in destroyed}
        if silent and not runtime_report and not start_log:
            self.problem(f"{what}: {silent} events (by phase) silently lost: nothing reported it, at run time "
                         f"or at the start")
        return st, found

    def test_database_deleted_under_a_running_daemon(self):
        d = self.make_daemon({"storage": {"cache_kib": 64}})
        d.start()
        user_id = self.status(d)["user_id"]
        self.track_many(d, 200, "before")
        self.assert_tracks_succeeded("before the deletion")
        log_from = len(d.stderr_text())
        removed = []
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.db(d) + suffix)
                removed.append("cohort.db" + suffix)
        self.track_many(d, 100, "after")
        self.assert_alive(d, "after the deletion")
        if self.refused:
            self.problem(f"{len(self.refused)} tracks failed after the deletion: {short(self.refused[0])}")
        self.served(d, "after the deletion")
        report = self.reported(d, log_from, scaled(2))
        say(f"\n  deleted {removed} under the daemon; 100 tracked after; reported: {report[:2] or 'nothing'}")
        if not report:
            self.problem(f"{'/'.join(removed)} deleted under the daemon: status still says storage \"ok\" "
                         f"and the log says nothing (checked for {scaled(2):.0f} s)")
        # The deleted file stays open in the daemon: nothing it held is
        # destroyed, so nothing acknowledged may be lost.
        self.restart_and_check(d, user_id, "deleted", report)
        self.assert_no_problems()

    def test_database_truncated_under_a_running_daemon(self):
        for how in ("zero", "half"):
            with self.subTest(truncated=how):
                self.setUp()
                self.truncated_under_a_running_daemon(how)

    def truncated_under_a_running_daemon(self, how):
        d = self.make_daemon({"storage": {"cache_kib": 64}})
        d.start()
        user_id = self.status(d)["user_id"]
        self.track_many(d, self.BEFORE, "before", pad=self.PAD)
        self.assert_tracks_succeeded("before the truncation")
        # A clean restart: everything is in cohort.db (WAL checkpointed), and
        # the page cache is cold, so the daemon must read the file again.
        self.stop(d, "before the truncation")
        d.start()
        size = os.path.getsize(self.db(d))
        log_from = len(d.stderr_text())
        os.truncate(self.db(d), 0 if how == "zero" else size // 2)
        # The daemon meets the damage: reads of the old history, then new events.
        _, read_errors = self.served(d, f"truncated to {how}", errors_ok=True)
        self.track_many(d, 100, "after")
        self.assert_alive(d, f"truncated to {how}")
        if self.refused:
            self.problem(f"truncated to {how}: {len(self.refused)} of 100 tracks failed: {short(self.refused[0])}")
        _, read_errors_after = self.served(d, f"truncated to {how}, after tracking", errors_ok=True)
        report = self.reported(d, log_from, scaled(3))
        met = read_errors + read_errors_after + len(self.refused)
        say(f"\n  cohort.db ({size // 1024} KiB, {self.BEFORE} events) truncated to {how} under the daemon: "
            f"{read_errors + read_errors_after} history.get errors, {len(self.refused)} tracks failed; "
            f"reported: {[r[:140] for r in report[:2]] or 'nothing'}")
        if met and not report:
            self.problem(f"truncated to {how}: the daemon met the damage ({met} failed calls) but status says "
                         f"storage \"ok\" and the log says nothing")
        # What was only in the truncated file is gone (a cold cache): only its
        # loss going unreported is a fault of the daemon's.
        self.restart_and_check(d, user_id, f"truncated to {how}", report, destroyed=("before",))
        self.assert_no_problems()

    # -- a corrupt database at start

    def corrupt(self, path, how):
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            header = f.read(100)
            page = int.from_bytes(header[16:18], "big") or 1
            page = 65536 if page == 1 else page
            if how == "leaf headers":
                # The b-tree header of every table leaf page but the first: many
                # pages damaged (a flash block gone bad takes many with it),
                # the schema still readable.
                for p in range(1, size // page):
                    f.seek(p * page)
                    if f.read(1) == b"\x0d":
                        f.seek(p * page)
                        f.write(bytes([0]) + bytes(self.rng.randrange(1, 256) for _ in range(7)))
            elif how == "torn block":
                f.seek((size // 2) // 4096 * 4096)
                f.write(b"\0" * 16384)
            elif how == "file header":
                f.write(bytes(self.rng.randrange(256) for _ in range(100)))
            elif how == "truncated":
                f.truncate(size // 2)
        return size

    def test_corrupt_database_at_start_is_moved_aside(self):
        for how in ("leaf headers", "torn block", "file header", "truncated"):
            with self.subTest(corrupted=how):
                self.setUp()
                self.corrupt_at_start(how)

    def corrupt_at_start(self, how):
        d = self.make_daemon()
        d.start()
        user_id = self.status(d)["user_id"]
        self.track_many(d, 300, "before", pad=100)
        self.assert_tracks_succeeded("before the corruption")
        self.stop(d, "before the corruption")
        size = self.corrupt(self.db(d), how)
        log_from = len(d.stderr_text())
        try:
            d.start()
        except RuntimeError as e:
            self.fail(f"{how}: cohortd does not start on a corrupt database: {e}")
        st = self.status(d)
        log = d.stderr_text()[log_from:]
        aside = sorted(glob.glob(self.db(d) + ".corrupt-*"))
        if st["user_id"] != user_id:
            self.problem(f"{how}: user_id {st['user_id']} after the corrupt start, was {user_id}")
        found, _ = self.served(d, f"{how}: the first start")
        if aside:
            # A log entry may span lines (SQLite's integrity report): the name
            # anywhere after a warn/error line that says "corrupt" will do.
            lines = log.splitlines()
            warned = [i for i, line in enumerate(lines) if self.warnings_in(line) and "corrupt" in line]
            if not warned or os.path.basename(aside[-1]) not in "\n".join(lines[warned[0]:]):
                self.problem(f"{how}: moved aside to {os.path.basename(aside[-1])}, without a warn/error log "
                             f"line saying so")
            if st["storage"] != "ok":
                self.problem(f"{how}: a new database was started, yet status says storage {st['storage']!r} "
                             f"({short(st.get('storage_error'), 160)})")
        elif len(found) != len(self.acked):
            self.problem(f"{how}: {len(self.acked) - len(found)} events gone, the file was not moved aside")
        say(f"\n  {how} ({size // 1024} KiB): moved aside {[os.path.basename(a) for a in aside]}, storage "
            f"{st['storage']!r}, {len(found)} of {len(self.acked)} events served, user id kept: "
            f"{st['user_id'] == user_id}")
        # The database it goes on with works: what is tracked now survives a restart.
        after = self.track_many(d, 20, "after")
        if self.refused:
            self.problem(f"{how}: {len(self.refused)} tracks failed after the start: {short(self.refused[0])}")
        storage = self.status(d)["storage"]
        self.stop(d, f"{how}: after the start")
        d.start()
        st = self.status(d)
        found, _ = self.served(d, f"{how}: the second start")
        missing = sorted(set(after) - set(found))
        if missing:
            self.problem(f"{how}: {len(missing)} of {len(after)} events tracked after the corrupt start lost "
                         f"across a clean restart (status said storage {storage!r} before the stop)")
        if st["user_id"] != user_id:
            self.problem(f"{how}: user_id {st['user_id']} after the second start, was {user_id}")
        self.assert_no_problems()


if __name__ == "__main__":
    unittest.main()
