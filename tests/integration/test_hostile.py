"""Hostile local clients against the real cohortd.

Every attack runs against a fresh daemon while a well-behaved client (the
Prober, on its own connection and thread) keeps asking `status` and `track`.
For each attack the test asserts that the prober got correct answers, each
within a generous deadline (ANSWER_DEADLINE, seconds, never a micro-limit),
and prints its latency figures (p50/p99/max); after each attack the daemon
must still be alive, answer `status` on a new connection and exit 0 on SIGTERM.

Attacks: lines over 64 KiB, clients sending one byte a second, a thousand idle
connections, running out of file descriptors, invalid UTF-8 inside JSON
strings, deeply nested JSON, clients that never read their answers (and a
few KiB of requests, pipelined or batched, whose answers are hundreds of MiB),
half-closed sockets, garbage binary.
Also the socket file's mode (`socket.mode`) and the data files' modes.

Loads: modest in `make test`, smaller again under qemu-user (harness.EMULATED),
full with COHORT_SOAK=1 (`make soak`). A test that gathers problems (rather
than stopping at the first) asserts everything else first, then fails naming
all of them.
"""

import json
import os
import random
import resource
import socket
import stat
import sys
import threading
import time
import unittest

from harness import (EMULATED, INVALID_PARAMS, INVALID_REQUEST, MAX_LINE, METHOD_NOT_FOUND, PARSE_ERROR, Client,
                     Daemon, scaled, wait_until)

SOAK = os.environ.get("COHORT_SOAK", "") not in ("", "0")

# Each answer the well-behaved client waits for, whatever the attack.
ANSWER_DEADLINE = scaled(3)
# How long the prober pauses between two requests (it must not be an attack itself).
PROBE_PAUSE = 0.01 if not EMULATED else 0.05
# The least time each attack goes on (repeated in rounds), so that the
# well-behaved client is measured during it and not only before or after.
ATTACK_S = 20.0 if SOAK else (2.0 if EMULATED else 1.0)
# Descriptors cohortd may open by itself during a test (libcurl's socketpair, a
# connection to the API): a leak per attacker connection is far more.
FD_SLACK = 3


def load(normal, soak, emulated=None):
    """The size of an attack: modest natively, smaller under qemu, full in soak runs."""
    if SOAK:
        return soak
    if EMULATED:
        return emulated if emulated is not None else max(1, normal // 4)
    return normal


def say(text):
    print(f"    {text}", file=sys.stderr, flush=True)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# -- the daemon process, seen from /proc

def proc_fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_kib(pid):
    """{"VmRSS": kib, "VmHWM": kib} (resident now, and its peak)."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def request_line(method, params=None, id=1):
    req = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        req["params"] = params
    return json.dumps(req, separators=(",", ":")).encode() + b"\n"


def connect(path, blocking=True, timeout=None):
    """A raw connection. A full listen backlog (EAGAIN: the daemon has not
    accepted the previous ones yet) is retried until the deadline."""
    deadline = time.monotonic() + scaled(10)
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
            break
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)
        except OSError:
            s.close()
            raise
    if blocking:
        s.settimeout(timeout if timeout is not None else ANSWER_DEADLINE)
    return s


def new_client(path, timeout=None):
    """A harness Client, retrying a full listen backlog like connect()."""
    deadline = time.monotonic() + scaled(10)
    while True:
        try:
            return Client(path, timeout=timeout)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def read_answer(sock, timeout):
    """The first answer line on a raw connection, parsed (UTF-8 JSON);
    AssertionError when the daemon closes first or the deadline passes."""
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no answer within {timeout:.1f}s (got {buf[:100]!r})")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            raise AssertionError(f"cohortd closed the connection before answering (got {buf[:100]!r})")
        buf += chunk
    return utf8_json(buf.split(b"\n")[0])


def read_until_close(sock, timeout):
    """Every line the daemon sends until it closes the connection:
    (complete lines, closed, what followed the last newline). closed is False
    when the deadline passed with the connection still open."""
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + timeout
    closed = False
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    lines = data.split(b"\n")
    return [line for line in lines[:-1]], closed, lines[-1]


def utf8_json(line):
    """The parsed answer line; raises ValueError if it is not UTF-8 JSON."""
    return json.loads(line.decode("utf-8"))


class Prober:
    """A well-behaved client during an attack: `status` and `track`, one at a
    time on its own connection, each answer checked and timed."""

    def __init__(self, daemon, label, timeout=None, strict=True):
        self.daemon = daemon
        self.label = label
        self.strict = strict
        self.client = Client(daemon.socket_path, timeout=timeout or ANSWER_DEADLINE)
        self.user_id = self.client.call("status")["user_id"]
        self.latencies = []
        self.errors = []
        self.tracked = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        i = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if i % 2:
                    result = self.client.call("track", {"name": "Probe", "properties": {"n": i}})
                    if result.get("stored") is not True or not result.get("event_id"):
                        raise AssertionError(f"track answered {result}")
                    self.tracked.append(i)
                else:
                    result = self.client.call("status")
                    if result.get("user_id") != self.user_id:
                        raise AssertionError(f"status answered {result}")
            except Exception as e:  # noqa: BLE001 - reported by check()
                self.errors.append(f"request {i}: {e!r} after {time.monotonic() - started:.2f}s")
                return
            self.latencies.append(time.monotonic() - started)
            i += 1
            self._stop.wait(PROBE_PAUSE)

    def stop(self):
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(scaled(60))

    def figures(self):
        if not self.latencies:
            return f"{self.label}: no answer"
        ms = [x * 1000 for x in self.latencies]
        return (f"{self.label}: {len(ms)} answers, p50 {percentile(ms, 0.5):.2f} ms, "
                f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms")

    def check(self, test, min_answers=3):
        """Stops the prober; asserts it was served correctly and in time throughout.
        Returns the problems instead of failing when not strict."""
        self.stop()
        say(self.figures())
        problems = list(self.errors)
        if len(self.latencies) < min_answers:
            problems.append(f"only {len(self.latencies)} answers during the attack")
        late = [x for x in self.latencies if x > ANSWER_DEADLINE]
        if late:
            problems.append(f"{len(late)} answers later than {ANSWER_DEADLINE:.1f}s (worst {max(late):.2f}s)")
        if not self.errors and self.tracked:
            # What it tracked was really kept (the last 1000 at most); asked on
            # its own connection, which may be the only one the daemon can serve.
            expect = self.tracked[-1000:]
            events = self.client.call("history.get", {"limit": len(expect), "name": "Probe"})["events"]
            if sorted(e["properties"]["n"] for e in events) != sorted(expect):
                problems.append("the prober's tracked events are not all in the history")
        self.client.close()
        if self.strict:
            test.assertEqual(problems, [], f"the well-behaved client during: {self.label}")
        return problems


def setUpModule():
    # A thousand connections, and the daemons started from here inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class HostileCase(unittest.TestCase):
    """A fresh daemon per test; after the attack it must be alive, answer a new
    client, and stop cleanly."""

    config = {"consent": {"required": False}}

    def setUp(self):
        self.daemon = Daemon(config=self.config)
        self.addCleanup(self.daemon.cleanup)
        self.daemon.start()
        self.pid = self.daemon.process.pid

    def tearDown(self):
        d = self.daemon
        if d.process is None:
            return
        self.assertTrue(d.alive(), f"cohortd died during the attack:\n{d.stderr_text()[-3000:]}")
        with connect(d.socket_path, timeout=scaled(10)) as s:
            s.sendall(request_line("status", id="after"))
            answer = read_answer(s, scaled(10))
            self.assertEqual(answer.get("id"), "after", answer)
            self.assertIn("user_id", answer["result"])
        self.assertEqual(d.stop(), 0, "cohortd did not exit 0 on SIGTERM after the attack")

    def rounds(self, min_s=None):
        """Round numbers until the attack has gone on for ATTACK_S (at least one round)."""
        min_s = ATTACK_S if min_s is None else min_s
        started, n = time.monotonic(), 0
        while n == 0 or time.monotonic() - started < min_s:
            yield n
            n += 1
        self.rounds_done = n

    def no_problems(self, what, problems):
        """The end of a test that gathers problems: one failure naming them all."""
        if problems:
            self.fail(f"{what}: " + "; ".join(str(p) for p in problems)[:1500])

    def wait_fds_at_most(self, limit, message):
        """Until cohortd holds no more than `limit` descriptors (nothing leaked),
        give or take the few its sync worker's libcurl may open meanwhile."""
        limit += FD_SLACK
        try:
            wait_until(lambda: proc_fd_count(self.pid) <= limit, scaled(10), message=message)
        except TimeoutError:
            fds = {}
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    kind = os.readlink(f"/proc/{self.pid}/fd/{fd}").split(":")[0]
                except OSError:
                    continue
                fds[kind] = fds.get(kind, 0) + 1
            self.fail(f"{message}: cohortd holds {proc_fd_count(self.pid)} descriptors, at most {limit} "
                      f"expected: {fds}")


class OversizedLines(HostileCase):
    """Lines over 64 KiB: that connection gets -32600 and is closed; everyone else is served."""

    def test_oversized_lines_close_only_their_connection(self):
        attackers = load(20, 200, 5)
        good_first = request_line("status", id="before")
        variants = [
            # No newline at all: refused once the buffer passes 64 KiB.
            b'{"jsonrpc":"2.0","id":"big","method":"status","params":{"pad":"' + b"x" * (MAX_LINE + 1),
            # A complete line of 100 KiB after a good request.
            good_first + b'{"jsonrpc":"2.0","id":"big","method":"status","params":{"pad":"' + b"y" * (100 << 10)
            + b'"}}\n',
            # One MiB blob: the daemon closes while the client is still writing.
            good_first + b"z" * (1 << 20) + b"\n",
        ]
        failures = []

        def attacker(i):
            payload = variants[i % len(variants)]
            try:
                with connect(self.daemon.socket_path) as s:
                    try:
                        s.sendall(payload)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # closed on us mid-write: what was answered is still readable
                    lines, closed, rest = read_until_close(s, scaled(10))
            except Exception as e:  # noqa: BLE001
                failures.append(f"attacker {i}: {e!r}")
                return
            answers = [utf8_json(line) for line in lines]
            if payload.startswith(good_first):
                if not answers or answers[0].get("id") != "before" or "result" not in answers[0]:
                    failures.append(f"attacker {i}: the request before the long line was not answered: {answers}")
                    return
                answers = answers[1:]
            if (len(answers) != 1 or answers[0].get("error", {}).get("code") != INVALID_REQUEST
                    or "65536" not in answers[0]["error"].get("message", "") or not closed or rest):
                failures.append(f"attacker {i}: answers {answers}, closed {closed}, trailing {rest[:80]!r}")

        with Prober(self.daemon, f"oversized lines, {attackers} attackers a round") as prober:
            base_fds = proc_fd_count(self.pid)
            for _ in self.rounds():
                threads = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(attackers)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(scaled(60))
                self.assertFalse(any(t.is_alive() for t in threads), "attackers did not finish")
            prober.check(self)
        say(f"{self.rounds_done} rounds")
        self.assertEqual(failures, [])
        self.wait_fds_at_most(base_fds, "the refused connections to be closed")


class SlowDrip(HostileCase):
    """Clients sending one byte per second hold nobody up, and are answered in the end."""

    def test_one_byte_per_second(self):
        clients = load(8, 100, 3)
        drip_s = load(3, 60, 3)  # soak: whole requests at 1 B/s
        requests = []
        for i in range(clients):
            if i % 2:
                requests.append(request_line("track", {"name": "Dripped", "properties": {"i": i}}, id=f"slow-{i}"))
            else:
                requests.append(request_line("status", id=f"slow-{i}"))
        socks = [connect(self.daemon.socket_path) for _ in range(clients)]
        try:
            with Prober(self.daemon, f"{clients} clients at 1 byte/s for {drip_s}s") as prober:
                sent = [0] * clients
                start = time.monotonic()
                for second in range(drip_s):
                    for k, s in enumerate(socks):
                        if sent[k] < len(requests[k]) - 1:
                            s.sendall(requests[k][sent[k]:sent[k] + 1])
                            sent[k] += 1
                    # One byte a second, on the wall clock.
                    time.sleep(max(0.0, start + second + 1 - time.monotonic()))
                for k, s in enumerate(socks):
                    s.sendall(requests[k][sent[k]:])
                for k, s in enumerate(socks):
                    answer = read_answer(s, ANSWER_DEADLINE)
                    self.assertEqual(answer.get("id"), f"slow-{k}", answer)
                    self.assertIn("result", answer, answer)
                    if k % 2:
                        self.assertIs(answer["result"]["stored"], True)
                prober.check(self, min_answers=drip_s)
        finally:
            for s in socks:
                s.close()
        self.assertEqual(len(self.daemon.history(1000, name="Dripped")), clients // 2)


class IdleConnections(HostileCase):
    """A thousand idle connections (some with half a line, some subscribed)."""

    def test_thousand_idle_connections(self):
        count = load(1000, 4000, 250)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY and soft < count + 200:
            count = soft - 200
            say(f"RLIMIT_NOFILE {soft}: {count} idle connections only")
        prober = Prober(self.daemon, f"{count} idle connections")
        base_fds = proc_fd_count(self.pid)
        idle = []
        try:
            started = time.monotonic()
            for i in range(count):
                s = connect(self.daemon.socket_path, timeout=scaled(10))
                idle.append(s)
                if i % 10 == 1:
                    s.sendall(b'{"jsonrpc":"2.0","id":"half",')  # and never the rest
                elif i % 10 == 2:
                    s.sendall(request_line("subscribe", {"topics": ["cohorts"]}, id=i))
            # Every one of them was accepted (each holds a descriptor in the daemon).
            # The base may have held a passing descriptor of the sync worker (a
            # connection attempt): two are allowed for.
            wait_until(lambda: proc_fd_count(self.pid) >= base_fds + count - 2, scaled(20),
                       message=f"cohortd to accept {count} connections")
            say(f"{count} connections open in {time.monotonic() - started:.2f}s")
            # An idle crowd costs no CPU: nothing is polled in a loop.
            cpu0, t0 = proc_cpu_seconds(self.pid), time.monotonic()
            time.sleep(1.0)
            cpu, wall = proc_cpu_seconds(self.pid) - cpu0, time.monotonic() - t0
            say(f"cohortd CPU {cpu:.2f}s over {wall:.2f}s with {count} idle connections")
            self.assertLess(cpu, 0.5 * wall, "cohortd spins with idle connections open")
            with prober:
                # New clients still come and go while the crowd sits there.
                for _ in range(load(50, 500, 10)):
                    with new_client(self.daemon.socket_path, ANSWER_DEADLINE) as c:
                        self.assertEqual(c.call("status")["user_id"], prober.user_id)
                # The subscribed ones got their answers.
                for i in range(2, min(count, 200), 10):
                    self.assertEqual(read_answer(idle[i], ANSWER_DEADLINE).get("id"), i)
                time.sleep(load(0.5, 10, 0.5))
                prober.check(self)
        finally:
            for s in idle:
                s.close()
            prober.stop()
        self.wait_fds_at_most(base_fds, "the idle connections to be closed")


class FdExhaustion(HostileCase):
    """cohortd out of file descriptors: existing clients go on being served,
    waiting ones are served once descriptors are free again, and the loop
    does not spin meanwhile."""

    def setUp(self):
        # Not under the sanitizers: UBSan's vptr check probes the object's
        # memory through a pipe, so with no descriptor free it reports every
        # virtual call as "invalid vptr" and (no recovery) stops the daemon.
        # Ten lines show it: setrlimit(RLIMIT_NOFILE), open until EMFILE,
        # call a virtual function on a live object. The native run checks it.
        if os.environ.get("COHORT_SANITIZED") == "1":
            self.skipTest("UBSan's vptr check needs a free descriptor: false reports when out of them")
        super().setUp()

    def test_out_of_file_descriptors(self):
        headroom = load(24, 200, 16)
        prober = Prober(self.daemon, "out of file descriptors")
        existing = self.daemon.client(timeout=ANSWER_DEADLINE)
        self.addCleanup(existing.close)
        self.assertIn("user_id", existing.call("status"))
        base = proc_fd_count(self.pid)
        limit = base + headroom
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        try:
            resource.prlimit(self.pid, resource.RLIMIT_NOFILE, (limit, hard))
        except (OSError, AttributeError) as e:
            prober.stop()
            self.skipTest(f"cannot lower cohortd's RLIMIT_NOFILE: {e}")
        idle, late = [], []
        problems = []
        try:
            # More connections than it has descriptors left: the rest wait in the backlog.
            for _ in range(headroom + 4):
                idle.append(connect(self.daemon.socket_path, timeout=scaled(10)))
            wait_until(lambda: proc_fd_count(self.pid) >= limit, scaled(10),
                       message="cohortd to run out of descriptors")
            for i in range(3):
                s = connect(self.daemon.socket_path, timeout=scaled(10))
                s.sendall(request_line("status", id=f"late-{i}"))
                late.append(s)
            # Out of descriptors and nobody asking anything: an idle daemon uses no CPU.
            cpu0, t0 = proc_cpu_seconds(self.pid), time.monotonic()
            time.sleep(load(1, 5, 2))
            wall = time.monotonic() - t0
            cpu = proc_cpu_seconds(self.pid) - cpu0
            say(f"cohortd CPU {cpu:.2f}s over {wall:.2f}s while out of descriptors (and no request)")
            if cpu > 0.25 * wall:
                problems.append(f"cohortd used {cpu:.2f}s of CPU in {wall:.2f}s while out of descriptors "
                                "(accept() fails with EMFILE, the listening socket stays readable, "
                                "poll() returns at once: a busy loop)")
            with prober:
                # Work that needs a new descriptor (a sync: a socket) fails cleanly, in time.
                started = time.monotonic()
                result = existing.call("sync.now", {"timeout_ms": 200})
                self.assertIn("pending", result)
                self.assertLess(time.monotonic() - started, ANSWER_DEADLINE)
                time.sleep(load(1, 15, 1))
                # (still out of descriptors all along)
                wait_until(lambda: proc_fd_count(self.pid) >= limit, scaled(5), message="cohortd still out of fds")
                prober.check(self)
            # Recovery: descriptors come back, the waiting clients are served.
            for s in idle:
                s.close()
            idle.clear()
            for i, s in enumerate(late):
                answer = read_answer(s, scaled(10))
                self.assertEqual(answer.get("id"), f"late-{i}", answer)
                self.assertIn("user_id", answer["result"])
            with new_client(self.daemon.socket_path, ANSWER_DEADLINE) as fresh:
                self.assertEqual(fresh.call("status")["user_id"], prober.user_id)
        finally:
            for s in idle + late:
                s.close()
            prober.stop()
        self.wait_fds_at_most(base, "cohortd to release the descriptors")
        self.no_problems("out of descriptors, cohortd waits without spinning", problems)


class InvalidUtf8(HostileCase):
    """Invalid UTF-8 inside JSON strings: refused, or kept without ever making
    an answer that is not UTF-8 (for the attacker, and above all for others)."""

    PAYLOADS = [
        ("lone continuation byte in a value", b'"\xff"'),
        ("overlong '/'", b'"\xc0\xaf"'),
        ("UTF-16 surrogate encoded", b'"\xed\xa0\x80"'),
        ("truncated sequence", b'"\xe2\x82"'),
        ("beyond U+10FFFF", b'"\xf4\x90\x80\x80"'),
        ("escaped lone high surrogate", b'"a\\ud800b"'),
        ("escaped lone low surrogate", b'"\\udc00"'),
    ]

    def test_invalid_utf8_in_strings(self):
        lines = []
        for i, (_, value) in enumerate(self.PAYLOADS):
            lines.append(b'{"jsonrpc":"2.0","id":%d,"method":"track","params":{"name":"Utf","properties":{"v":%s}}}\n'
                         % (i, value))
        base = len(lines)
        lines += [
            b'{"jsonrpc":"2.0","id":%d,"method":"track","params":{"name":"Utf","properties":{"k\xff":1}}}\n' % base,
            b'{"jsonrpc":"2.0","id":%d,"method":"track","params":{"name":"Utf\xff"}}\n' % (base + 1),
            b'{"jsonrpc":"2.0","id":%d,"method":"status\xff"}\n' % (base + 2),
            b'{"jsonrpc":"2.0","id":"\xff\xfe","method":"status"}\n',
            b'{"jsonrpc":"2.0","id":%d,"method":"identity.set_aliases","params":{"aliases":'
            b'[{"tag":"internal_id","id":"user\xc3"}]}}\n' % (base + 4),
            b'{"jsonrpc":"2.0","id":%d,"method":"view.start","params":{"type":"video",'
            b'"properties":{"title":"\xed\xbf\xbf"}}}\n' % (base + 5),
        ]
        problems = {}  # one entry per offending request, whatever the round
        with Prober(self.daemon, "invalid UTF-8") as prober:
            for _ in self.rounds():
                with self.daemon.client() as attacker:
                    for line in lines:
                        attacker.send_raw(line)
                        answer = attacker.read_line()  # one answer per line, the connection stays open
                        try:
                            parsed = utf8_json(answer)
                        except UnicodeDecodeError:
                            problems.setdefault(line, f"the answer to {line[:90]!r} is not UTF-8: {answer[:130]!r}")
                            parsed = json.loads(answer.decode("utf-8", "replace"))
                        self.assertIsInstance(parsed, dict, answer)
                        if "error" in parsed:
                            self.assertIn(parsed["error"]["code"],
                                          (PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS, METHOD_NOT_FOUND), parsed)
                        else:
                            self.assertIn("result", parsed)
                    self.assertIn("user_id", attacker.call("status"))
                # Whatever was kept must not poison what everyone else reads back.
                with self.daemon.client() as other:
                    for method, params in (("history.get", {"limit": 1000}), ("identity.get", None),
                                           ("status", None), ("cohorts.get", None)):
                        other.send(dict({"jsonrpc": "2.0", "id": method, "method": method},
                                        **({"params": params} if params else {})))
                        answer = other.read_line()
                        try:
                            parsed = utf8_json(answer)
                            self.assertEqual(parsed.get("id"), method)
                            self.assertIn("result", parsed, parsed)
                        except UnicodeDecodeError as e:
                            problems.setdefault(method, f"{method} for a well-behaved client is no longer UTF-8 "
                                                f"({e.reason} at {e.start}): "
                                                f"{answer[max(0, e.start - 40):e.start + 10]!r}")
            prober.check(self)
        problems = list(problems.values())
        self.no_problems("every answer stays UTF-8, whatever a client sends in its strings", problems)


class DeepNesting(HostileCase):
    """Deeply nested JSON: a clear error, never a crash or a stack overflow."""

    def assertError(self, answer, codes):
        parsed = utf8_json(answer)
        self.assertIn("error", parsed, parsed)
        self.assertIn(parsed["error"]["code"], codes, parsed)
        self.assertTrue(parsed["error"]["message"])
        return parsed

    def test_deep_nesting(self):
        def groups(levels):
            return (b'{"logic":"NOT","conditions":[' * levels + b'{"type":"event","event_type":"X"}'
                    + b"]}" * levels)

        def put(levels):
            return (b'{"jsonrpc":"2.0","id":"put","method":"definitions.put","params":{"cohorts":[{"id":"1",'
                    b'"name":"deep","rule":' + groups(levels) + b"}]}}\n")

        def preview(levels):
            return (b'{"jsonrpc":"2.0","id":"preview","method":"definitions.preview","params":{"rule":'
                    + groups(levels) + b"}}\n")

        with Prober(self.daemon, "deeply nested JSON") as prober:
            for _ in self.rounds():
                # 100k '[': over the line cap, refused and closed.
                for tail in (b"\n", b""):
                    with connect(self.daemon.socket_path) as s:
                        try:
                            s.sendall(b"[" * 100_000 + tail)
                        except (BrokenPipeError, ConnectionResetError):
                            pass
                        lines, closed, _ = read_until_close(s, scaled(10))
                        self.assertTrue(closed)
                        self.assertEqual(len(lines), 1, lines)
                        self.assertError(lines[0], (INVALID_REQUEST,))
                # Within the line cap: refused, the connection stays usable.
                attacks = (b"[" * 60_000, b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 13_000,
                           b'{"jsonrpc":"2.0","id":1,"method":"track","params":{"name":"Deep","properties":'
                           + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}}",
                           b"[" * 20_000 + b'{"jsonrpc":"2.0","id":1,"method":"status"}' + b"]" * 20_000)
                with self.daemon.client() as c:
                    for attack in attacks:
                        self.assertLess(len(attack), MAX_LINE)
                        c.send_raw(attack + b"\n")
                        self.assertError(c.read_line(), (PARSE_ERROR, INVALID_REQUEST))
                        self.assertIn("user_id", c.call("status"))
                    # Nested rule groups: refused naming the field, or accepted; never a crash.
                    for levels in (480, 2000):
                        for line in (put(levels), preview(levels)):
                            self.assertLess(len(line), MAX_LINE)
                            c.send_raw(line)
                            parsed = utf8_json(c.read_line())
                            if "error" in parsed:
                                self.assertIn(parsed["error"]["code"], (PARSE_ERROR, INVALID_PARAMS), parsed)
                                if parsed["error"]["code"] == INVALID_PARAMS:
                                    self.assertIn("conditions", parsed["error"]["message"])
                    # Nesting the parser accepts is kept and read back.
                    deep = 500
                    c.send_raw(b'{"jsonrpc":"2.0","id":"ok","method":"track","params":{"name":"Deep","properties":'
                               + b'{"a":' * deep + b"1" + b"}" * deep + b"}}\n")
                    parsed = utf8_json(c.read_line())
                    self.assertIs(parsed["result"]["stored"], True, parsed)
                    events = c.call("history.get", {"limit": 1, "name": "Deep"})["events"]
                    depth, node = 0, events[0]["properties"]
                    while isinstance(node, dict):
                        node, depth = node["a"], depth + 1
                    self.assertEqual(depth, deep)
            prober.check(self)


class NeverReads(HostileCase):
    """Clients that send many requests and never read: the daemon stops reading
    them (back-pressure), its memory stays bounded, others are served, and a
    stalled client that starts reading gets every answer, in order."""

    def test_clients_that_never_read(self):
        hogs = load(4, 32, 2)
        before = proc_memory_kib(self.pid)
        socks = [connect(self.daemon.socket_path, blocking=False) for _ in range(hogs)]
        stream = b"".join(request_line("status", id=i) for i in range(200_000))
        sent = [0] * hogs
        try:
            with Prober(self.daemon, f"{hogs} clients that never read") as prober:
                stuck_since = [None] * hogs
                deadline = time.monotonic() + scaled(30)
                while time.monotonic() < deadline and not all(
                        t is not None and time.monotonic() - t > 0.5 for t in stuck_since):
                    for k, s in enumerate(socks):
                        try:
                            n = s.send(stream[sent[k]:sent[k] + 65536])
                            sent[k] += n
                            stuck_since[k] = None
                        except BlockingIOError:
                            stuck_since[k] = stuck_since[k] or time.monotonic()
                    time.sleep(0.005)
                self.assertTrue(all(t is not None for t in stuck_since), "the daemon kept reading a client that "
                                "never reads")
                # Held up for a while: still served, memory flat.
                time.sleep(load(1, 10, 1))
                prober.check(self)
            after = proc_memory_kib(self.pid)
            grew = after["VmHWM"] - before["VmHWM"]
            say(f"sent per hog {min(sent)}-{max(sent)} bytes; cohortd peak RSS {before['VmHWM']} -> "
                f"{after['VmHWM']} KiB")
            self.assertGreater(min(sent), 100_000, "far more than the daemon would buffer for one client")
            if os.environ.get("COHORT_SANITIZED") != "1":  # ASan's own overhead is not the daemon's
                self.assertLess(grew, hogs * 3 * 1024 + 24 * 1024, "memory grew with what the hogs sent")
            # A hog that starts reading gets every answer to every complete line it sent, in order.
            s = socks[0]
            s.setblocking(True)
            end = sent[0]
            rest = b""
            if stream[end - 1:end] != b"\n":
                rest = stream[end:stream.index(b"\n", end) + 1]  # finish the line it was writing
            complete = stream.count(b"\n", 0, end + len(rest))
            got, errors, finished = [0], [], []

            def read_back():
                buf = b""
                try:
                    while got[0] < complete:
                        chunk = s.recv(1 << 20)
                        if not chunk:
                            errors.append(f"closed after {got[0]} of {complete} answers")
                            return
                        buf += chunk
                        lines = buf.split(b"\n")
                        buf = lines.pop()
                        for line in lines:
                            if json.loads(line).get("id") != got[0]:
                                errors.append(f"answer {got[0]} out of order: {line[:100]!r}")
                                return
                            got[0] += 1
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))

            def finish_line():
                try:
                    s.sendall(rest)  # it can go through only once the daemon reads again
                    finished.append(True)
                except OSError as e:
                    errors.append(f"finishing the line: {e!r}")

            threads = [threading.Thread(target=f, daemon=True) for f in (read_back, finish_line)]
            for t in threads:
                t.start()
            # Liveness is progress: the answers keep coming (however slow the
            # machine), and a stall of a few seconds is the failure.
            t0 = last_change = time.monotonic()
            seen = -1
            while any(t.is_alive() for t in threads) and not errors:
                if got[0] != seen:
                    seen, last_change = got[0], time.monotonic()
                elif time.monotonic() - last_change > scaled(10):
                    break
                time.sleep(0.05)
            s.shutdown(socket.SHUT_RDWR)  # unblocks a stalled thread
            for t in threads:
                t.join(scaled(5))
            say(f"read back {got[0]} of {complete} answers in {time.monotonic() - t0:.1f}s")
            self.assertEqual(errors, [], f"{got[0]} of {complete} answers read back; line finished: {bool(finished)}")
            self.assertTrue(finished, f"the line was never finished ({got[0]} of {complete} answers read back)")
            self.assertEqual(got[0], complete)
        finally:
            for s in socks:
                s.close()

    def test_an_answer_past_the_cap(self):
        """One answer larger than the 1 MiB cap on unread answers reaches a
        client that reads it slowly, whole; a client that takes none of it is
        dropped once nothing has left for 10 s; others are served all along."""
        events = 182
        pad = "x" * 8000
        with self.daemon.client() as c:
            batch = [{"jsonrpc": "2.0", "method": "track", "params": {"name": "Big", "properties": {"pad": pad}}}] * 7
            for _ in range(events // 7):
                c.send(batch)
            c.send({"jsonrpc": "2.0", "id": "size", "method": "history.get", "params": {"limit": 1000}})
            size = len(c.read_line())
        self.assertGreater(size, 1.4 * (1 << 20))
        request = request_line("history.get", {"limit": 1000}, id="big")
        with connect(self.daemon.socket_path, timeout=scaled(30)) as slow, \
                connect(self.daemon.socket_path, timeout=scaled(30)) as stalled:
            stalled.sendall(request)
            slow.sendall(request)
            time.sleep(0.5)  # the daemon's write fills the socket, and most of the answer waits
            data = b""
            while not data.endswith(b"\n"):
                chunk = slow.recv(16384)
                self.assertTrue(chunk, f"the slow reader was dropped after {len(data)} of {size} bytes")
                data += chunk
                time.sleep(0.002)
            answer = json.loads(data)
            self.assertEqual(answer.get("id"), "big")
            self.assertEqual(len(answer["result"]["events"]), events)
            with Prober(self.daemon, "a client that takes none of an answer past the cap") as prober:
                started = time.monotonic()
                wait_until(lambda: "dropping a client that does not read its answers" in self.daemon.stderr_text(),
                           scaled(30), message="the stalled client to be dropped")
                say(f"stalled client dropped after {time.monotonic() - started + 0.5:.1f}s")
                prober.check(self)
            lines, closed, _ = read_until_close(stalled, scaled(5))
            self.assertTrue(closed, "the stalled client's connection is still open")
            self.assertEqual(lines, [], "a stalled client got a whole answer")

    def test_requests_whose_answers_dwarf_them(self):
        """A few KiB of `history.get` calls, pipelined in one write or batched
        in one line, each answering up to 1000 events: the daemon must not
        build all of that in memory for one client."""
        events = load(100, 200, 60)
        requests = load(60, 120, 40)
        pad = "x" * 8000
        with self.daemon.client() as c:
            batch = [{"jsonrpc": "2.0", "method": "track", "params": {"name": "Big", "properties": {"pad": pad}}}] * 7
            for _ in range((events + 6) // 7):
                c.send(batch)
            c.send({"jsonrpc": "2.0", "id": "single", "method": "history.get", "params": {"limit": 1000}})
            single = len(c.read_line())
        bound = 4 * single + (32 << 20)
        one = {"jsonrpc": "2.0", "method": "history.get", "params": {"limit": 1000}}
        attacks = [
            ("pipelined", b"".join(request_line("history.get", {"limit": 1000}, id=i) for i in range(requests))),
            ("batched", json.dumps([dict(one, id=i) for i in range(requests)]).encode() + b"\n"),
        ]
        problems = []
        for how, data in attacks:
            self.assertLess(len(data), 16 << 10)  # less than one read of the daemon's
            before = proc_memory_kib(self.pid)
            prober = Prober(self.daemon, f"{requests} history.get {how} in {len(data)} bytes", timeout=scaled(60),
                            strict=False)
            with prober, connect(self.daemon.socket_path, timeout=scaled(60)) as s:
                s.sendall(data)
                started = time.monotonic()
                try:
                    s.recv(1)  # the first answer byte leaves once the daemon is done with the write
                except (ConnectionResetError, socket.timeout):
                    pass
                took = time.monotonic() - started
                time.sleep(0.2)
                problems += prober.check(self)
            self.assertTrue(self.daemon.alive())
            after = proc_memory_kib(self.pid)
            grew = (after["VmHWM"] - before["VmHWM"]) * 1024
            say(f"{how}: one answer {single} bytes; handled in {took:.2f}s; cohortd peak RSS "
                f"{before['VmHWM']} -> {after['VmHWM']} KiB (bound +{bound >> 10} KiB)")
            if grew > bound and os.environ.get("COHORT_SANITIZED") != "1":  # ASan's quarantine is not the daemon's
                problems.append(f"{requests} history.get {how} in {len(data)} bytes raised cohortd's peak RSS by "
                                f"{grew >> 20} MiB (bound {bound >> 20} MiB)")
        self.no_problems("the answers to a few KiB of requests are built within a bound", problems)


class HalfClosed(HostileCase):
    """Half-closed sockets: answered, then closed; nothing leaks."""

    def test_half_closed_sockets(self):
        clients = load(50, 500, 12)
        failures = []

        def one(i):
            try:
                with connect(self.daemon.socket_path, timeout=scaled(10)) as s:
                    kind = i % 4
                    if kind == 3:
                        s.shutdown(socket.SHUT_WR)  # nothing to say at all
                        lines, closed, _ = read_until_close(s, scaled(10))
                        if lines or not closed:
                            failures.append(f"{i}: silent half-close got {lines}, closed {closed}")
                        return
                    data = (request_line("status", id=f"{i}-a")
                            + request_line("track", {"name": "HalfClosed", "properties": {"i": i}}, id=f"{i}-b")
                            + request_line("status", id=f"{i}-c"))
                    if kind == 1:
                        data += b'{"jsonrpc":"2.0","id":"never-ends",'
                    if kind == 2:
                        s.shutdown(socket.SHUT_RD)  # sends, will never read: the daemon must not care
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    if kind == 2:
                        return
                    lines, closed, rest = read_until_close(s, scaled(10))
                    ids = [utf8_json(line).get("id") for line in lines]
                    if ids[:3] != [f"{i}-a", f"{i}-b", f"{i}-c"] or not closed:
                        failures.append(f"{i}: answers {ids}, closed {closed}")
                    if kind == 1 and len(ids) > 3 and utf8_json(lines[3]).get("error") is None:
                        failures.append(f"{i}: the unfinished line was answered as a request: {lines[3]}")
            except Exception as e:  # noqa: BLE001
                failures.append(f"{i}: {e!r}")

        with Prober(self.daemon, f"{clients} half-closed sockets a round") as prober:
            base_fds = proc_fd_count(self.pid)
            for _ in self.rounds():
                threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(scaled(60))
            prober.check(self)
        say(f"{self.rounds_done} rounds")
        self.assertEqual(failures[:10], [])
        self.wait_fds_at_most(base_fds, "the half-closed connections to be closed")
        # Every complete request was done, once.
        expect = sum(1 for i in range(clients) if i % 4 != 3) * self.rounds_done
        self.assertEqual(self.daemon.call("status")["history"]["events"] - len(prober.tracked), expect)


class Garbage(HostileCase):
    """Garbage binary: parse errors, never a crash; a newline-less stream is cut at 64 KiB."""

    def test_garbage_binary(self):
        clients = load(8, 64, 3)
        size = load(256 << 10, 8 << 20, 80 << 10)
        failures = []

        def one(i):
            rng = random.Random(i)
            data = rng.randbytes(size)
            if i % 4 == 3:
                data = data.replace(b"\n", b"?")  # one endless line
            elif i % 4 == 2:
                data = (b"\x00" * 1000 + b"\n") * (size // 1001)
            answers, closed = [], False
            try:
                with connect(self.daemon.socket_path, timeout=scaled(30)) as s, s.dup() as r:
                    result = {}

                    def reader():  # its own socket object: its own timeout
                        result["lines"], result["closed"], _ = read_until_close(r, scaled(30))

                    t = threading.Thread(target=reader, daemon=True)
                    t.start()
                    try:
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    t.join(scaled(40))
                    answers, closed = result.get("lines", []), result.get("closed", False)
            except Exception as e:  # noqa: BLE001
                failures.append(f"{i}: {e!r}")
                return
            if not closed:
                failures.append(f"{i}: the connection was not closed")
            if not answers:
                failures.append(f"{i}: no answer at all")
            for line in answers:
                try:
                    parsed = utf8_json(line)
                except ValueError:
                    failures.append(f"{i}: answer not UTF-8 JSON: {line[:100]!r}")
                    continue
                if (not isinstance(parsed, dict) or parsed.get("id") is not None
                        or parsed.get("error", {}).get("code") not in (PARSE_ERROR, INVALID_REQUEST)):
                    failures.append(f"{i}: unexpected answer {parsed}")
            if i % 4 == 3 and (len(answers) != 1 or "65536" not in answers[0].decode(errors="replace")):
                failures.append(f"{i}: an endless line was answered {answers[:3]}")

        with Prober(self.daemon, f"{clients} clients sending {size >> 10} KiB of garbage a round") as prober:
            base_fds = proc_fd_count(self.pid)
            for _ in self.rounds():
                threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(scaled(60))
            prober.check(self)
        say(f"{self.rounds_done} rounds")
        self.assertEqual(failures[:10], [])
        self.wait_fds_at_most(base_fds, "the garbage connections to be closed")


class FileModes(HostileCase):
    """The socket file has socket.mode (default 0660); the data files are not
    world-readable."""

    def world_readable(self, root):
        """Files under root that others may read, with their modes."""
        found = []
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                mode = stat.S_IMODE(os.stat(path).st_mode)
                if mode & 0o004:
                    found.append(f"{os.path.relpath(path, root)} {mode:04o}")
        return found

    def test_socket_mode_default_and_configured(self):
        mode = stat.S_IMODE(os.stat(self.daemon.socket_path).st_mode)
        self.assertTrue(stat.S_ISSOCK(os.stat(self.daemon.socket_path).st_mode))
        self.assertEqual(mode, 0o660, f"socket mode {mode:04o}")
        for configured in ("0600", "0666", "0640"):
            with Daemon(config={"consent": {"required": False}, "socket": {"mode": configured}}) as d:
                got = stat.S_IMODE(os.stat(d.socket_path).st_mode)
                self.assertEqual(got, int(configured, 8), f"socket.mode {configured}: the socket is {got:04o}")
                self.assertIn("user_id", d.call("status"))

    def test_data_files_are_not_world_readable(self):
        d = self.daemon
        d.call("track", {"name": "Secretish", "properties": {"k": 1}})
        d.call("identity.set_aliases", {"aliases": [{"tag": "internal_id", "id": "subscriber-1"}]})
        # The data directory the daemon made itself is closed to others.
        dir_mode = stat.S_IMODE(os.stat(d.data_dir).st_mode)
        self.assertEqual(dir_mode & 0o007, 0, f"data_dir is {dir_mode:04o}")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d.data_dir, "identity")).st_mode) & 0o077, 0,
                         "identity file open to others")
        self.assertTrue(os.path.exists(os.path.join(d.data_dir, "cohort.db")))

        # A data_dir that already exists (an init script's mkdir -p under umask
        # 022): then only the files' own modes keep others out.
        other = Daemon(config={"consent": {"required": False}})
        self.addCleanup(other.cleanup)
        old = os.umask(0o022)
        try:
            os.makedirs(other.data_dir, 0o755)
            os.chmod(other.data_dir, 0o755)
            other.start()
        finally:
            os.umask(old)
        other.call("track", {"name": "Secretish", "properties": {"k": 1}})
        other.call("identity.set_aliases", {"aliases": [{"tag": "internal_id", "id": "subscriber-1"}]})
        while_running = self.world_readable(other.data_dir)
        self.assertEqual(other.stop(), 0)
        after_stop = self.world_readable(other.data_dir)
        readable = sorted(set(while_running) | set(after_stop))
        say(f"files readable by others in a pre-existing 0755 data_dir: {', '.join(readable) or 'none'}")
        self.assertEqual([f for f in readable if f.startswith("identity")], [])
        self.assertTrue(os.path.exists(os.path.join(other.data_dir, "cohort.db")))
        problems = [f"readable by others in a pre-existing data_dir under umask 022: {', '.join(readable)}"] \
            if readable else []
        self.no_problems("data files are closed to others", problems)

if __name__ == "__main__":
    unittest.main()
