"""Crash loops: cohortd killed with SIGKILL at random moments, restarted on the
same data_dir and socket, with the API emulator as the CCS API.

* CrashLoop: a driver tracks events (each with a unique sequence number `n`
  in its properties) through the socket, pipelining requests, while the daemon
  is killed at random points of the stream (sometimes again during its
  start-up) and restarted. Afterwards every event that got a success answer is
  in the history and reached the emulator; the delivered stream is in order;
  re-sent duplicates stay within one batch (10 events) per crash; nothing
  delivered was never tracked.
  Kills also land while the daemon only syncs its backlog, and during
  start-ups (recovery killed). The session and identity go on across crashes.
* OpenViews: views open (one paused, one playing) when the daemon is killed
  are ended at the next start with the engagement measured up to their last
  persisted state, exactly once, also when the recovery itself is killed, and
  the completions reach the CCS API. Soak only: a view playing for 12 s
  without a pause keeps its persisted progress.
* DefinitionsReload: a definitions.put with many cohorts that look back over
  a stored history is interrupted by a kill (during it, just after it, and
  during the next start-up): afterwards the definitions are the old or the new
  set entirely (ids, rules and checksums), a put that was answered is the new
  set, and local membership (cohorts.get, explain) equals a fresh evaluation
  of every rule (definitions.preview over the history). The same for a
  cohorts.definitions file replaced and reloaded (definitions.reload, SIGHUP):
  after the restart the file's set is in force.

history.get has no paging (newest first, at most 1000): the crash loop names
its events by group (Crash0, Crash1, ... of 500 events each) and reads each
name's page.

Loads: COHORT_SOAK=1 (`make soak`) runs the full loads (20,000 events and 50
kills); a normal run is about 2,000 events and 8 kills natively, 300 events and
3 kills under qemu-user. The kill moments come from a seeded random generator:
the seed is printed, COHORT_SEED=<seed> replays it. Figures are printed on
stderr. Correctness never rests on a sleep: every wait polls with a deadline;
the only sleeps are the random delays that pick a kill moment.
"""

import collections
import json
import math
import os
import random
import signal
import sys
import time
import unittest

from harness import (EMULATED, TIME_SCALE, Daemon, RpcError, deep_merge, drain, scaled, wait_until)
from client import Emulator  # tests/emulator, on sys.path through harness

SOAK = os.environ.get("COHORT_SOAK", "") not in ("", "0")
SEED = int(os.environ.get("COHORT_SEED") or random.SystemRandom().randrange(1, 2 ** 31))

API_KEY = "sk-cohort-crashloop"
API_TIMEOUT_MS = int(500 * min(TIME_SCALE, 4))
CCS = "/ccs/"
BATCH = 10                      # the agent's batch size (DESIGN: at most 10 events a request)
GROUP = 500                     # events per event name: history.get pages by name (limit <= 1000)


def load(soak, native, emulated):
    return soak if SOAK else (emulated if EMULATED else native)


def say(*parts):
    print(*parts, file=sys.stderr, flush=True)


def rng_for(test_id):
    """A generator per test, derived from the seed (tests replay independently)."""
    return random.Random(f"{SEED}:{test_id}")


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


class CrashCase(unittest.TestCase):
    """One emulator per class (no server-side rules: its cost would grow with
    the user's history), a fresh daemon per test."""

    emulator = None

    @classmethod
    def setUpClass(cls):
        say(f"\n{cls.__name__}: seed {SEED} (COHORT_SEED={SEED} replays it){' [soak]' if SOAK else ''}")
        cls.emulator = Emulator(api_key=API_KEY, rules={"behavioral": [], "contextual": []}).start()

    @classmethod
    def tearDownClass(cls):
        if cls.emulator is not None:
            cls.emulator.stop()

    def setUp(self):
        self.emu = self.emulator
        self.emu.reset()
        self.rng = rng_for(self.id())
        self.daemon = None
        self.kills = 0
        self.restart_times = []

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.cleanup()

    def make_daemon(self, config=None):
        base = {"consent": {"required": False}, "log": {"level": "info"},
                "api": {"key": API_KEY, "timeout_ms": API_TIMEOUT_MS}}
        self.daemon = Daemon(config=deep_merge(base, config), emulator=self.emu)
        return self.daemon

    def context(self):
        """What a failure message carries: the seed and the daemon's last log lines."""
        log = self.daemon.stderr_text() if self.daemon is not None else ""
        return f"seed {SEED} (replay with COHORT_SEED={SEED}); cohortd's log ends:\n{tail(log)}"

    # -- killing and restarting

    def assert_alive(self, what):
        d = self.daemon
        if d.process.poll() is not None:
            self.fail(f"cohortd died by itself ({what}): exit status {d.process.returncode}\n{self.context()}")

    def kill(self, what):
        """SIGKILL now; the daemon must still be running (it did not die by itself)."""
        self.assert_alive(what)
        self.daemon.kill9()
        self.assertEqual(self.daemon.process.returncode, -signal.SIGKILL, self.context())
        self.kills += 1

    def restart(self, startup_kill_p=0.25, max_startup_kills=2, limit_s=None):
        """Starts the daemon again on the same data_dir and socket. Sometimes it is
        killed again at a random moment of its start-up first (recovery killed).
        limit_s: how long the start may take (default 2 s, scaled); a start that
        must first look back over a large history is given more."""
        d = self.daemon
        for _ in range(max_startup_kills):
            if self.rng.random() >= startup_kill_p:
                break
            started = time.monotonic()
            d.start(wait=False)
            delay = self.rng.uniform(0, scaled(0.03))
            time.sleep(delay)  # picks the kill moment only
            if d.process.poll() is not None:
                self.fail(f"cohortd exited with {d.process.returncode} during start-up\n{self.context()}")
            self.kill(f"start-up, {1000 * (time.monotonic() - started):.1f} ms in")
        started = time.monotonic()
        try:
            d.start()
        except RuntimeError as e:
            self.fail(f"cohortd did not restart: {e}\n{self.context()}")
        took = time.monotonic() - started
        self.restart_times.append(took)
        # A restart is quick whatever the crash left (cold start ~15 ms natively).
        limit_s = max(scaled(2.0), limit_s or 0)
        self.assertLess(took, limit_s, f"restart took {took:.2f}s (limit {limit_s:.1f}s)\n{self.context()}")
        return took

    def restart_figures(self):
        t = sorted(self.restart_times)
        if not t:
            return "no restart"
        return (f"restart to ready: median {1000 * t[len(t) // 2]:.0f} ms, max {1000 * t[-1]:.0f} ms "
                f"over {len(t)} restarts")

    # -- sync

    def drain(self, d):
        drain(d, self.emu)

    def delivered_requests(self):
        """CCS requests in arrival order whose events the emulator took (2xx, JSON)."""
        requests = sorted(self.emu.requests(CCS), key=lambda r: r["seq"])
        ok = [r for r in requests if r["status"] is not None and 200 <= r["status"] < 300 and r["body_is_json"]]
        return ok, len(requests) - len(ok)


class CrashLoop(CrashCase):
    EVENTS = load(20000, 2000, 300)
    KILLS = load(50, 8, 3)
    WINDOW = 32  # requests in flight on the driver's connection

    def test_no_acknowledged_event_is_lost_across_sigkills(self):
        total, kills_planned = self.EVENTS, self.KILLS
        rng = self.rng
        # A generous API deadline: a batch re-sent after a timeout (a slow emulator on
        # a loaded machine) would count as a duplicate without a crash.
        d = self.make_daemon({"queue": {"max_events": 10 * total + 1000},
                              "history": {"max_events": 10 * total + 1000},
                              "api": {"timeout_ms": int(scaled(15000))}})
        d.start()
        # Kill points: the number of events sent when a kill happens. Startup kills
        # (during a restart) count against the same budget.
        points = collections.deque(sorted(rng.sample(range(1, total), kills_planned)))
        acked, errors = {}, []  # n -> event_id of the success answer
        outstanding = collections.deque()  # sent, not answered, on this connection
        n = 0
        client = d.client()
        drained_after_kill = 0
        kill_modes = collections.Counter()
        started = time.monotonic()

        def name_of(k):
            return f"Crash{k // GROUP}"

        def take_answer(msg):
            expected = outstanding.popleft()
            self.assertEqual(msg.get("id"), expected, f"answers out of order: {msg}")
            if "result" in msg:
                self.assertTrue(msg["result"].get("event_id"), msg)
                acked[expected] = msg["result"]["event_id"]
            else:
                errors.append((expected, msg.get("error")))

        while n < total or outstanding:
            at_kill_point = bool(points) and n >= points[0] and self.kills < kills_planned
            while n < total and len(outstanding) < self.WINDOW and not at_kill_point:
                client.send({"jsonrpc": "2.0", "id": n, "method": "track",
                             "params": {"name": name_of(n), "properties": {"n": n, "run": SEED}}})
                outstanding.append(n)
                n += 1
                at_kill_point = bool(points) and n >= points[0] and self.kills < kills_planned
            if at_kill_point:
                points.popleft()
                # A random moment. Mostly amid the stream: after reading some of the
                # answers in flight, and a random fraction of a millisecond or a few
                # later (the daemon works through the pipelined requests meanwhile).
                # Sometimes with every answer read, while the daemon only syncs.
                if rng.random() < 0.25:
                    kill_modes["syncing"] += 1
                    while outstanding:
                        take_answer(client.read_message())
                    time.sleep(rng.uniform(0, 0.05 * TIME_SCALE))  # picks the kill moment only
                else:
                    kill_modes["tracking"] += 1
                    for _ in range(rng.randint(0, len(outstanding))):
                        take_answer(client.read_message())
                    if rng.random() < 0.7:
                        time.sleep(rng.uniform(0, 0.004 * TIME_SCALE))  # picks the kill moment only
                self.kill(f"tracking, event {n}")
                # Answers the daemon wrote before it died are acknowledgements too.
                try:
                    while outstanding:
                        take_answer(json.loads(client.read_line(timeout=scaled(2))))
                        drained_after_kill += 1
                except (EOFError, ConnectionResetError, TimeoutError):
                    pass
                client.close()
                outstanding.clear()  # unanswered: stored or not, either is right
                self.restart(startup_kill_p=0.25, max_startup_kills=min(2, kills_planned - self.kills))
                client = d.client()
                continue
            try:
                take_answer(client.read_message())
            except (EOFError, ConnectionResetError, TimeoutError) as e:
                self.assert_alive(f"no answer to event {outstanding[0]}: {e!r}")
                self.fail(f"cohortd stopped answering (event {outstanding[0]}): {e!r}\n{self.context()}")
        client.close()
        tracking_s = time.monotonic() - started
        self.assertEqual(errors, [], f"track refused\n{self.context()}")
        self.assert_alive("after the driver")

        self.drain(d)
        status = d.call("status")
        self.assertEqual(status["queue_dropped"], 0, status)
        self.assertEqual(status["history"]["evicted"], 0, status)
        self.assertEqual(status["dead_letters"], 0, status)

        # The history: every acknowledged event, each once.
        stored = collections.Counter()
        stored_events = {}
        for g in range(math.ceil(total / GROUP)):
            events = d.history(limit=1000, name=f"Crash{g}")
            self.assertLess(len(events), 1000, "a name's page is full: events are stored more than once")
            for e in events:
                self.assertEqual(e["properties"].get("run"), SEED, e)
                stored[e["properties"]["n"]] += 1
                stored_events[e["properties"]["n"]] = e
        twice = sorted(k for k, c in stored.items() if c > 1)
        lost_history = sorted(set(acked) - set(stored))
        sessions = collections.Counter(e["session_id"] for e in stored_events.values())
        wrong_id = sorted(k for k, event_id in acked.items()
                          if k in stored_events and stored_events[k]["event_id"] != event_id)

        # The emulator: batches of 1-10 in order, the stream in order with re-sent
        # batches as the only duplicates.
        requests, refused = self.delivered_requests()
        occurrences = collections.Counter()
        first_seen = []
        resent_batches = 0  # requests carrying an event the emulator already had
        for r in requests:
            events = r["body"]["events"]
            self.assertTrue(1 <= len(events) <= BATCH, f"a batch of {len(events)} events")
            ns = [e["properties"]["n"] for e in events]
            self.assertEqual(ns, sorted(set(ns)), f"batch out of order: {ns}")
            self.assertEqual(r["body"].get("user_id"), status["user_id"], "sent under another identity")
            resent_batches += any(occurrences[k] for k in ns)
            for e, k in zip(events, ns):
                if occurrences[k] == 0:
                    first_seen.append(k)
                occurrences[k] += 1
                if k in stored_events:
                    kept = stored_events[k]
                    self.assertEqual((e["name"], e["properties"], e["session_id"], e["time"]),
                                     (kept["name"], kept["properties"], kept["session_id"], kept["time"]),
                                     "delivered otherwise than stored")
        duplicates = sum(c - 1 for c in occurrences.values())
        lost_emulator = sorted(set(acked) - set(occurrences))
        phantom = sorted(set(occurrences) - set(stored))
        unacked_kept = len(set(stored) - set(acked))

        say(f"\n  crash loop (seed {SEED}): {n} events sent, {len(acked)} acked "
            f"({drained_after_kill} of them read after a kill), {self.kills} kills, "
            f"{len(stored)} stored ({unacked_kept} unanswered but kept), {len(requests)} batches delivered "
            f"({refused} other requests), {duplicates} duplicates in {resent_batches} re-sent batches "
            f"(allowed {BATCH * self.kills} in {self.kills}), "
            f"lost: {len(lost_history)} from history, {len(lost_emulator)} at the emulator")
        say(f"  kills: {kill_modes['tracking']} amid tracking, {kill_modes['syncing']} while only syncing, "
            f"{self.kills - sum(kill_modes.values())} during a start-up; tracking {tracking_s:.1f}s; "
            f"{self.restart_figures()}")

        self.assertEqual(self.kills, kills_planned)
        self.assertEqual(twice, [], f"events stored twice\n{self.context()}")
        self.assertTrue(set(stored) <= set(range(n)), "the history holds events never tracked")
        self.assertEqual(wrong_id, [], "stored under another event_id than the one answered")
        # A crash is not inactivity: the session goes on across restarts.
        self.assertEqual(len(sessions), 1, f"sessions across the crashes: {dict(sessions)}")
        self.assertEqual(first_seen, sorted(first_seen),
                         f"the delivered stream is out of order\n{self.context()}")
        self.assertEqual(lost_history, [], f"acknowledged events missing from the history\n{self.context()}")
        self.assertEqual(lost_emulator, [], f"acknowledged events never delivered\n{self.context()}")
        self.assertEqual(sorted(set(stored) - set(occurrences)), [],
                         f"stored events never delivered\n{self.context()}")
        self.assertEqual(phantom, [], f"delivered events that are not in the history\n{self.context()}")
        self.assertLessEqual(duplicates, BATCH * self.kills,
                             f"more than one batch re-sent per crash\n{self.context()}")
        self.assertLessEqual(resent_batches, self.kills,
                             f"more than one batch re-sent per crash\n{self.context()}")


class OpenViews(CrashCase):
    def call_timed(self, d, method, params):
        sent = time.monotonic()
        result = d.call(method, params)
        return result, sent, time.monotonic()

    def play_for(self, d, view, seconds, position, step):
        """Progress reports while at least `seconds` of real time pass; returns the last position."""
        until = time.monotonic() + seconds
        def done():
            nonlocal position
            position += step
            d.call("view.progress", {"view_id": view, "position_s": position})
            return time.monotonic() >= until
        wait_until(done, seconds + scaled(10), interval=0.02, message="the playing time")
        return position

    def completions(self, d, name, view_id):
        return [e for e in d.history(limit=1000, name=name) if e.get("view_id") == view_id]

    def test_views_open_at_a_crash_are_ended_once_with_their_engagement(self):
        d = self.make_daemon()
        d.start()
        video_props = {"video_id": "vid_crash", "title": "Cup final", "categories": ["football"]}
        audio_props = {"audio_id": "pod_7", "show": "Morning"}

        # A video: plays, is reported, pauses at 150 of 600 s; stays paused.
        v, v_sent, v_answered = self.call_timed(d, "view.start",
                                                {"type": "video", "properties": video_props, "duration_s": 600})
        video = v["view_id"]
        self.play_for(d, video, 0.25, 0, 10)
        _, p_sent, p_answered = self.call_timed(d, "view.pause", {"view_id": video, "position_s": 150})
        # Paused time does not count; a seek back keeps the furthest point.
        d.call("view.progress", {"view_id": video, "position_s": 120})

        # An audio: plays, pauses at 30 of 200 s, resumes, plays on to 80, and is
        # still playing at the crash.
        a, a_sent, a_answered = self.call_timed(d, "view.start",
                                                {"type": "audio", "properties": audio_props, "duration_s": 200})
        audio = a["view_id"]
        self.play_for(d, audio, 0.15, 0, 5)
        _, ap_sent, _ = self.call_timed(d, "view.pause", {"view_id": audio, "position_s": 30})
        d.call("view.resume", {"view_id": audio})
        last = self.play_for(d, audio, 0.15, 30, 5)
        d.call("view.progress", {"view_id": audio, "position_s": 80})
        last = max(last, 80)
        if self.rng.random() < 0.5:
            time.sleep(self.rng.uniform(0, 0.01))  # picks the kill moment only
        killed_at = time.monotonic()
        self.kill("two views open")
        self.restart(startup_kill_p=0.5)

        # Exactly one completion each, with the play event's view and session.
        for view, play_name, name in ((video, "Videoview", "VideoCompletion"), (audio, "AudioPlay", "AudioCompletion")):
            plays = [e for e in d.history(limit=1000, name=play_name) if e.get("view_id") == view]
            self.assertEqual(len(plays), 1, plays)
            done = self.completions(d, name, view)
            self.assertEqual(len(done), 1, f"{name} for {view}: {done}\n{self.context()}")
            self.assertEqual(done[0]["session_id"], plays[0]["session_id"])

        vc = self.completions(d, "VideoCompletion", video)[0]["properties"]
        for k, value in video_props.items():
            self.assertEqual(vc.get(k), value, vc)
        self.assertEqual(vc.get("percentage_watched"), 0.25, vc)   # the furthest point, 150 of 600
        spent = vc.get("time_spent_seconds")
        # Playing time from the start to the pause, on the daemon's clock, in
        # whole seconds (the guide's integer field: the part second not counted).
        self.assertEqual(spent, int(spent), vc)
        self.assertGreaterEqual(spent, math.floor(p_sent - v_answered - 0.002), vc)
        self.assertLessEqual(spent, p_answered - v_sent + 0.002, vc)

        ac = self.completions(d, "AudioCompletion", audio)[0]["properties"]
        for k, value in audio_props.items():
            self.assertEqual(ac.get(k), value, ac)
        # At least what was persisted at the pause and resume (30 of 200 s and the
        # playing time before the pause), at most what was reported before the kill.
        self.assertGreaterEqual(ac.get("percentage_listened"), 30 / 200, ac)
        self.assertLessEqual(ac.get("percentage_listened"), last / 200, ac)
        self.assertGreaterEqual(ac.get("time_spent_seconds"), math.floor(ap_sent - a_answered - 0.002), ac)
        self.assertLessEqual(ac.get("time_spent_seconds"), killed_at - a_sent + 0.002, ac)

        # They are ended: nothing more can be reported on them.
        for view in (video, audio):
            with self.assertRaises(RpcError):
                d.call("view.end", {"view_id": view, "position_s": 600})

        # A second crash (and a kill during that start-up) ends nothing twice.
        self.kill("after the recovery")
        self.restart(startup_kill_p=0.5)
        self.assertEqual(len(self.completions(d, "VideoCompletion", video)), 1)
        self.assertEqual(len(self.completions(d, "AudioCompletion", audio)), 1)

        # The recovered completions reach the CCS API like any event.
        self.drain(d)
        requests, _ = self.delivered_requests()
        sent = [e for r in requests for e in r["body"]["events"] if e["name"].endswith("Completion")]
        by_view = {e["view_id"]: e for e in sent}
        self.assertEqual(by_view[video]["properties"], vc)
        self.assertEqual(by_view[audio]["properties"], ac)
        say(f"\n  open views (seed {SEED}): video spent {spent:.3f}s watched {vc['percentage_watched']}, "
            f"audio spent {ac['time_spent_seconds']:.3f}s listened {ac['percentage_listened']}; "
            f"{self.kills} kills; {self.restart_figures()}")

    @unittest.skipUnless(SOAK, "soak only (COHORT_SOAK=1): plays for several seconds")
    def test_a_long_playing_view_keeps_its_reported_progress(self):
        """A view that plays for a while without a pause: progress reports are
        persisted every few seconds, so a crash loses at most those seconds."""
        d = self.make_daemon()
        d.start()
        view, sent, _ = self.call_timed(d, "view.start", {"type": "video", "properties": {"video_id": "long"},
                                                                 "duration_s": 3600})
        view = view["view_id"]
        started = time.monotonic()
        reports = []  # (time, position)

        def playing():
            pos = time.monotonic() - started
            d.call("view.progress", {"view_id": view, "position_s": round(pos, 3)})
            reports.append((time.monotonic(), pos))
            return pos >= 12
        wait_until(playing, scaled(30), interval=0.05, message="12 s of playing")
        killed_at = time.monotonic()
        self.kill("a long view")
        self.restart(startup_kill_p=0)
        done = self.completions(d, "VideoCompletion", view)
        self.assertEqual(len(done), 1, done)
        p = done[0]["properties"]
        # Persisted "every few seconds": what was reported 10 s before the kill is kept.
        floor = max(pos for t, pos in reports if t <= killed_at - 10)
        self.assertGreaterEqual(p["percentage_watched"], floor / 3600 - 1e-4, p)
        self.assertGreaterEqual(p["time_spent_seconds"], math.floor(floor - 0.1), p)
        self.assertLessEqual(p["time_spent_seconds"], killed_at - sent + 0.002, p)
        say(f"\n  long view: {reports[-1][1]:.1f}s played, {p['time_spent_seconds']:.1f}s recovered")


class DefinitionsReload(CrashCase):
    EVENTS = load(20000, 3000, 400)
    COHORTS = load(120, 60, 16)
    ROUNDS = load(12, 5, 2)
    GENRES = ("football", "news", "drama", "kids", "music")
    AGES = 40  # events are spread over this many days

    def history_events(self, count, rng):
        """Events at k + 0.5 days ago: half a day from every whole-day window edge,
        so membership cannot move while a round is checked."""
        now = time.time()
        for i in range(count):
            age_days = rng.randrange(self.AGES) + 0.5
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - age_days * 86400))
            if i % 3 == 2:
                yield {"name": "Purchase", "time": stamp,
                       "properties": {"amount": rng.randint(1, 50), "genre": rng.choice(self.GENRES)}}
            else:
                yield {"name": "Videoview", "time": stamp,
                       "properties": {"genre": rng.choice(self.GENRES), "score": rng.randint(0, 100), "i": i}}

    def track_all(self, d, events, window=64):
        c = d.client(timeout=scaled(30))
        try:
            outstanding = 0
            for i, params in enumerate(events):
                c.send({"jsonrpc": "2.0", "id": i, "method": "track", "params": params})
                outstanding += 1
                if outstanding >= window:
                    self.assertIn("result", c.read_message())
                    outstanding -= 1
            for _ in range(outstanding):
                self.assertIn("result", c.read_message())
        finally:
            c.close()

    def rule_for(self, i, rng):
        """A rule that looks back over the history (counts, sums, averages, recency
        in day windows), with thresholds around what the history holds."""
        per_genre = self.EVENTS * 2 / 3 / len(self.GENRES)
        genre = self.GENRES[i % len(self.GENRES)]
        days = rng.choice([3, 7, 14, 30, 60])
        expected = per_genre * min(days, self.AGES) / self.AGES
        count_at = max(1, int(expected * rng.choice([0.5, 0.8, 1.0, 1.2, 2.0])))
        kind = i % 4
        if kind == 0:
            conditions = [{"type": "event", "event_type": "Videoview",
                           "where": [{"property": "genre", "operator": "eq", "value": genre}],
                           "operator": "gte", "value": count_at, "window_days": days}]
        elif kind == 1:
            conditions = [{"type": "aggregate", "event_type": "Purchase", "property": "amount", "metric": "sum",
                           "where": [{"property": "genre", "operator": "eq", "value": genre}],
                           "operator": "gte", "value": count_at * 12, "window_days": days}]
        elif kind == 2:
            conditions = [{"type": "recency", "event_type": "Videoview",
                           "where": [{"property": "score", "operator": "gte", "value": rng.randint(90, 100)},
                                     {"property": "genre", "operator": "eq", "value": genre}],
                           "operator": "lte", "window_days": rng.choice([1, 2, 5, 10])}]
        else:
            conditions = [{"logic": "OR", "conditions": [
                {"type": "aggregate", "event_type": "Videoview", "property": "score", "metric": "avg",
                 "where": [{"property": "genre", "operator": "in", "value": [genre, "news"]}],
                 "operator": "gt", "value": rng.choice([48, 50, 52]), "window_days": days},
                {"type": "event", "event_type": "Purchase", "operator": "gte", "value": count_at}]}]
        return {"logic": "AND", "conditions": conditions}

    def definition_sets(self, rng):
        """Two sets of COHORTS cohorts. Most ids are in both: B's rule is A's
        negated, so every one of them changes checksum and membership between the
        sets (each load looks back, and records an entry or exit for each). Every
        seventh id is a set's own."""
        sets = {"A": [], "B": []}
        for i in range(self.COHORTS):
            if i % 7 == 6:
                for version in ("A", "B"):
                    sets[version].append({"id": f"{version}{i}", "name": f"{version} own {i}",
                                          "activations": ["dfp"], "rule": self.rule_for(i, rng)})
            else:
                rule = self.rule_for(i, rng)
                sets["A"].append({"id": f"c{i}", "name": f"cohort {i}", "activations": ["dfp"], "rule": rule})
                sets["B"].append({"id": f"c{i}", "name": f"not cohort {i}", "activations": ["freewheel"],
                                  "rule": {"logic": "NOT", "conditions": [rule]}})
        return {version: {"cohorts": cohorts} for version, cohorts in sets.items()}

    @staticmethod
    def last_marks(d):
        """Cohort id -> the name of its last SegmentEntry / SegmentExit event."""
        marks = []
        for event in ("SegmentEntry", "SegmentExit"):
            marks += [(e["seq"], event, e["properties"]["segment_id"]) for e in d.history(limit=1000, name=event)]
        return {cid: event for _, event, cid in sorted(marks)}

    def check_consistent(self, d, sets, expected=None, what="the first load"):
        """The definitions in force are one whole set; membership is a fresh evaluation.
        Returns the name of the set in force. `what` (the round) goes into failure messages."""
        got = d.call("definitions.get")["cohorts"]
        ids = {c["id"]: c["checksum"] for c in got}
        matches = [name for name, (doc, sums) in sets.items() if ids == sums]
        self.assertEqual(len(matches), 1,
                         f"definitions in force are neither set entirely after {what}: {sorted(ids)}\n{self.context()}")
        name = matches[0]
        if expected is not None:
            self.assertEqual(name, expected, f"{expected} is not in force after {what}\n{self.context()}")
        doc = sets[name][0]
        rules = {c["id"]: c["rule"] for c in doc["cohorts"]}
        self.assertEqual(d.call("status")["definitions"], len(rules))
        fresh = set()
        for cid, rule in rules.items():
            if d.call("definitions.preview", {"rule": rule})["match"]:
                fresh.add(cid)
            self.assertEqual(d.call("explain", {"cohort_id": cid})["match"], cid in fresh,
                             f"cohort {cid}: explain disagrees with a fresh evaluation\n{self.context()}")
        local = d.call("cohorts.get")["local"]
        self.assertEqual(sorted(local), sorted(fresh),
                         f"membership after {what} differs from a fresh evaluation\n{self.context()}")
        # The recorded entries and exits agree with it: for every cohort both sets
        # have (never removed, so never left without an exit), the last
        # SegmentEntry / SegmentExit says what membership is now. An unanswered
        # put that recorded changes of its own and then did not take effect
        # would leave a phantom entry or exit behind.
        shared = set(sets["A"][1]) & set(sets["B"][1])
        last = self.last_marks(d)
        wrong = sorted(f"{cid}: {'in' if cid in fresh else 'out'}, last recorded {last.get(cid)}"
                       for cid in shared if (cid in fresh) != (last.get(cid) == "SegmentEntry"))
        self.assertEqual(wrong, [], f"SegmentEntry/SegmentExit events disagree with membership after "
                                    f"{what}, {name} in force\n{self.context()}")
        return name, len(fresh)

    def kill_moment(self, put_s):
        """During the load (its look-back), near its end, or just after it."""
        return put_s * (self.rng.uniform(0, 1) if self.rng.random() < 0.5 else self.rng.uniform(0.8, 1.5))

    def read_answer_then_kill(self, c, delay, what):
        """Waits up to `delay` for the answer on c, then SIGKILL (sometimes a little
        after the answer); an answer written before the kill counts too. True
        when the request was answered with success."""
        answered = False
        try:
            msg = c.read_message(timeout=delay)
            self.assertIn("result", msg, msg)
            answered = True
            if self.rng.random() < 0.5:
                time.sleep(self.rng.uniform(0, 0.005))  # picks the kill moment only
        except TimeoutError:
            pass
        self.kill(what)
        if not answered:
            try:
                msg = json.loads(c.read_line(timeout=scaled(2)))
                self.assertIn("result", msg, msg)
                answered = True
            except (EOFError, ConnectionResetError, TimeoutError):
                pass
        c.close()
        return answered

    def report(self, what, put_s, tracked_s, outcomes):
        say(f"\n  {what} (seed {SEED}): {self.EVENTS} events, {self.COHORTS} cohorts, "
            f"load {1000 * put_s:.0f} ms, tracking {tracked_s:.1f}s; {self.ROUNDS} rounds: "
            f"{dict(outcomes)}; {self.kills} kills; {self.restart_figures()}")

    def test_a_definitions_put_interrupted_by_sigkill_is_all_or_nothing(self):
        rng = self.rng
        d = self.make_daemon()
        d.start()
        t0 = time.monotonic()
        self.track_all(d, self.history_events(self.EVENTS, rng))
        tracked_s = time.monotonic() - t0

        sets = {}
        put_times = []
        docs = self.definition_sets(rng)
        for name in ("A", "B"):
            doc = docs[name]
            started = time.monotonic()
            answer = d.call("definitions.put", doc)
            put_times.append(time.monotonic() - started)
            self.assertEqual(answer["count"], self.COHORTS)
            sets[name] = (doc, answer["checksums"])
        self.assertNotEqual(sets["A"][1], sets["B"][1])
        in_force, _ = self.check_consistent(d, sets, "B")
        put_s = max(put_times)

        outcomes = collections.Counter()
        for round_ in range(self.ROUNDS):
            target = "A" if in_force == "B" else "B"
            c = d.client(timeout=scaled(30))
            c.send({"jsonrpc": "2.0", "id": 1, "method": "definitions.put", "params": sets[target][0]})
            answered = self.read_answer_then_kill(c, self.kill_moment(put_s), f"definitions.put round {round_}")
            self.restart(startup_kill_p=0.4, limit_s=5 * put_s)
            what = f"round {round_}: definitions.put of {target} {'answered' if answered else 'unanswered'}, killed"
            in_force, _ = self.check_consistent(d, sets, target if answered else None, what)
            outcomes["answered" if answered else ("new" if in_force == target else "old")] += 1
            # Still usable: events move it on, and it takes the next set.
            d.call("track", {"name": "Videoview", "properties": {"genre": "news", "score": 99}})
        self.report("definitions.put", put_s, tracked_s, outcomes)

    def test_a_definitions_file_reload_interrupted_by_sigkill(self):
        """cohorts.definitions: the file is replaced (atomically, as a package
        manager does), then definitions.reload or SIGHUP, and a kill. The next
        start reads the file: the new set is in force whatever the kill hit."""
        rng = self.rng
        d = self.make_daemon()
        path = os.path.join(d.workdir, "cohorts.json")

        def write(doc):
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(doc, f)
            os.replace(path + ".tmp", path)

        docs = self.definition_sets(rng)
        write({"cohorts": []})
        d.config = deep_merge(d.config, {"cohorts": {"definitions": path}})
        d.start()
        t0 = time.monotonic()
        self.track_all(d, self.history_events(self.EVENTS, rng))
        tracked_s = time.monotonic() - t0
        sets = {}
        load_times = []
        for name in ("A", "B"):
            write(docs[name])
            started = time.monotonic()
            self.assertEqual(d.call("definitions.reload")["count"], self.COHORTS)
            load_times.append(time.monotonic() - started)
            sets[name] = (docs[name], {c["id"]: c["checksum"] for c in d.call("definitions.get")["cohorts"]})
        self.assertNotEqual(sets["A"][1], sets["B"][1])
        in_force, _ = self.check_consistent(d, sets, "B")
        load_s = max(load_times)

        outcomes = collections.Counter()
        for round_ in range(self.ROUNDS):
            target = "A" if in_force == "B" else "B"
            write(docs[target])
            c = d.client(timeout=scaled(30))
            if round_ % 2:
                d.process.send_signal(signal.SIGHUP)
                c.send({"jsonrpc": "2.0", "id": 1, "method": "status"})  # answered after the reload
                how = "SIGHUP"
            else:
                c.send({"jsonrpc": "2.0", "id": 1, "method": "definitions.reload"})
                how = "definitions.reload"
            answered = self.read_answer_then_kill(c, self.kill_moment(load_s), f"{how} round {round_}")
            self.restart(startup_kill_p=0.4, limit_s=5 * load_s)
            what = f"round {round_}: {how} to {target} {'answered' if answered else 'unanswered'}, killed"
            in_force, _ = self.check_consistent(d, sets, target, what)
            outcomes[f"{how} {'answered' if answered else 'interrupted'}"] += 1
            d.call("track", {"name": "Videoview", "properties": {"genre": "news", "score": 99}})
        self.report("definitions file reload", load_s, tracked_s, outcomes)

    def test_a_membership_change_recorded_before_a_kill_survives_a_rule_change(self):
        """The deterministic case behind the random rounds above: a cohort is
        entered (SegmentEntry recorded), the daemon is killed, its rule changes
        in the definitions file (a firmware update), and at the next start the
        cohort is no longer a member: that exit is recorded, as it is after a
        clean stop."""
        watched = {"logic": "AND", "conditions": [{"type": "event", "event_type": "Videoview"}]}
        results = {}
        for how in ("SIGTERM", "SIGKILL"):
            if self.daemon is not None:
                self.daemon.cleanup()
            d = self.make_daemon()
            path = os.path.join(d.workdir, "cohorts.json")

            def write(rule):
                with open(path + ".tmp", "w", encoding="utf-8") as f:
                    json.dump({"cohorts": [{"id": "c1", "rule": rule}]}, f)
                os.replace(path + ".tmp", path)

            write(watched)
            d.config = deep_merge(d.config, {"cohorts": {"definitions": path}})
            d.start()
            d.call("track", {"name": "Videoview", "properties": {"how": how}})
            self.assertEqual(d.call("cohorts.get")["local"], ["c1"])
            self.assertEqual(self.last_marks(d).get("c1"), "SegmentEntry")
            if how == "SIGKILL":
                self.kill("after a SegmentEntry")
            else:
                self.assertEqual(d.stop(), 0)
            write({"logic": "NOT", "conditions": [watched]})
            self.restart(startup_kill_p=0)
            self.assertEqual(d.call("cohorts.get")["local"], [])
            results[how] = self.last_marks(d).get("c1")
        say(f"\n  membership change then kill: last recorded after the rule change: {results}")
        self.assertEqual(results, {"SIGTERM": "SegmentExit", "SIGKILL": "SegmentExit"},
                         "a SegmentEntry recorded before a SIGKILL, and the cohort left under the new rule "
                         "at the next start, but no SegmentExit was recorded")


if __name__ == "__main__":
    unittest.main()
