"""The socket protocol (contract): JSON-RPC 2.0, one object per line, one
poll loop that keeps serving everyone whatever one client does."""

import json
import socket
import threading
import time
import unittest

from harness import (INVALID_PARAMS, INVALID_REQUEST, MAX_LINE, METHOD_NOT_FOUND, PARSE_ERROR, Client,
                     DaemonTestCase, EmulatorTestCase, run_threads, scaled, wait_until)


class ErrorShapes(DaemonTestCase):
    """-32700 / -32600 / -32601 / -32602, each with a message naming the field."""

    def raw(self, line):
        with self.daemon.client() as c:
            c.send_raw(line if isinstance(line, bytes) else line.encode())
            return c.read_message()

    def assertError(self, answer, code, *words, id=None):
        self.assertEqual(answer.get("jsonrpc"), "2.0", answer)
        self.assertNotIn("result", answer)
        self.assertEqual(answer["error"]["code"], code, answer)
        self.assertIsInstance(answer["error"]["message"], str)
        for w in words:
            self.assertIn(w, answer["error"]["message"])
        self.assertIn("id", answer)
        self.assertEqual(answer["id"], id)

    def test_parse_error(self):
        self.assertError(self.raw('{"jsonrpc":"2.0","id":1,"method":\n'), PARSE_ERROR, "JSON")
        self.assertError(self.raw(b"\xff\xfe not json\n"), PARSE_ERROR)

    def test_invalid_request(self):
        self.assertError(self.raw('{"jsonrpc":"1.0","id":1,"method":"status"}\n'), INVALID_REQUEST, "jsonrpc", id=1)
        self.assertError(self.raw('{"id":2,"method":"status"}\n'), INVALID_REQUEST, "jsonrpc", id=2)
        self.assertError(self.raw('{"jsonrpc":"2.0","id":3}\n'), INVALID_REQUEST, "method", id=3)
        self.assertError(self.raw('{"jsonrpc":"2.0","id":4,"method":42}\n'), INVALID_REQUEST, "method", id=4)
        self.assertError(self.raw('{"jsonrpc":"2.0","id":{"a":1},"method":"status"}\n'), INVALID_REQUEST, "id")
        self.assertError(self.raw("42\n"), INVALID_REQUEST)
        self.assertError(self.raw('"status"\n'), INVALID_REQUEST)

    def test_unknown_method(self):
        answer = self.raw('{"jsonrpc":"2.0","id":"m","method":"no.such.method"}\n')
        self.assertError(answer, METHOD_NOT_FOUND, "no.such.method", id="m")
        # Method names are case-sensitive.
        self.assertError(self.raw('{"jsonrpc":"2.0","id":5,"method":"STATUS"}\n'), METHOD_NOT_FOUND, id=5)

    def test_invalid_params_name_the_field(self):
        cases = [
            ("status", [1, 2], "params"),
            ("track", {}, "name"),
            ("track", {"name": "Pageview", "properties": [1]}, "properties"),
            ("track", {"name": "Pageview", "colour": "red"}, "colour"),
            ("consent.set", {"granted": "yes"}, "granted"),
            ("consent.set", {}, "granted"),
            ("subscribe", {}, "topics"),
            ("view.progress", {"view_id": "8c5e1d07-1b2e-474f-91fd-d518c705f47e"}, "position_s"),
            ("view.start", {"duration_s": -1}, "duration_s"),
            ("identity.set_aliases", {"aliases": "tifa"}, "aliases"),
            ("history.get", {"limit": 0}, "limit"),
        ]
        for method, params, word in cases:
            with self.subTest(method=method, params=params):
                answer = self.daemon.request(method, params)
                self.assertIn("error", answer, answer)
                self.assertEqual(answer["error"]["code"], INVALID_PARAMS, answer)
                self.assertIn(word, answer["error"]["message"])

    def test_ids_are_echoed(self):
        with self.daemon.client() as c:
            for id in ("abc", 7, 2.5, "", None):
                c.send({"jsonrpc": "2.0", "id": id, "method": "status"})
                answer = c.read_message()
                self.assertIn("result", answer)
                self.assertEqual(answer["id"], id)
                self.assertEqual(type(answer["id"]), type(id))

    def test_crlf_and_blank_lines(self):
        with self.daemon.client() as c:
            c.send_raw(b'\n  \n\r\n{"jsonrpc":"2.0","id":1,"method":"status"}\r\n\n')
            self.assertEqual(c.read_message()["id"], 1)
            c.send({"jsonrpc": "2.0", "id": 2, "method": "status"})
            self.assertEqual(c.read_message()["id"], 2)  # nothing was answered for the blank lines


class Batches(DaemonTestCase):
    def test_batch(self):
        with self.daemon.client() as c:
            c.send([
                {"jsonrpc": "2.0", "id": 1, "method": "status"},
                {"jsonrpc": "2.0", "method": "track", "params": {"name": "BatchNote"}},
                {"jsonrpc": "2.0", "id": 2, "method": "nope"},
                {"jsonrpc": "2.0", "id": 3, "method": "track", "params": {"name": "BatchCall"}},
                17,
            ])
            answer = c.read_message()
            self.assertIsInstance(answer, list)
            self.assertEqual(len(answer), 4)  # the notification has no answer
            by_id = {a["id"]: a for a in answer if a["id"] is not None}
            self.assertIn("result", by_id[1])
            self.assertEqual(by_id[2]["error"]["code"], METHOD_NOT_FOUND)
            self.assertIn("event_id", by_id[3]["result"])
            invalid = [a for a in answer if a["id"] is None]
            self.assertEqual(invalid[0]["error"]["code"], INVALID_REQUEST)
        names = [e["name"] for e in self.daemon.history(10)]
        self.assertIn("BatchNote", names)
        self.assertIn("BatchCall", names)

    def test_all_notifications_batch_is_not_answered(self):
        with self.daemon.client() as c:
            c.send([{"jsonrpc": "2.0", "method": "status"}, {"jsonrpc": "2.0", "method": "status"}])
            c.send({"jsonrpc": "2.0", "id": "after", "method": "status"})
            self.assertEqual(c.read_message()["id"], "after")

    def test_empty_batch(self):
        with self.daemon.client() as c:
            c.send_raw(b"[]\n")
            answer = c.read_message()
            self.assertEqual(answer["error"]["code"], INVALID_REQUEST)
            self.assertIsNone(answer["id"])


class Notifications(DaemonTestCase):
    def test_notification_gets_no_answer_but_is_done(self):
        with self.daemon.client() as c:
            c.notify("track", {"name": "Notified", "properties": {"marker": "n1"}})
            c.notify("no.such.method")  # an error, still no answer
            c.notify("track", {"bad": 1})
            c.send({"jsonrpc": "2.0", "id": 99, "method": "status"})
            self.assertEqual(c.read_message()["id"], 99)
        events = self.daemon.history(5, name="Notified")
        self.assertEqual(events[0]["properties"], {"marker": "n1"})

    def test_subscribe(self):
        with self.daemon.client() as c:
            self.assertEqual(c.call("subscribe", {"topics": ["cohorts"]}), {"topics": ["cohorts"]})
            # A subscribed connection goes on answering requests.
            self.assertIn("user_id", c.call("status"))
        err = self.daemon.request("subscribe", {"topics": ["weather"]})["error"]
        self.assertEqual(err["code"], INVALID_PARAMS)
        self.assertIn("topics[0]", err["message"])
        err = self.daemon.request("subscribe", {"topics": []})["error"]
        self.assertIn("topics", err["message"])


class SpecExamples(DaemonTestCase):
    """The JSON-RPC 2.0 specification's examples (section 7), adapted to our
    methods (track with named params for "subtract", track/status for the
    notifications, "foobar" unknown), through the daemon's socket: each line
    is answered exactly as the specification says, or not at all."""

    MARK = b'{"jsonrpc":"2.0","id":"mark","method":"status"}\n'

    def answer(self, c, line):
        """The answer to one line (bytes); None when it has none: a request
        sent after it is the next thing answered."""
        c.send_raw(line.encode() + b"\n" if isinstance(line, str) else line + b"\n")
        c.send_raw(self.MARK)
        first = c.read_line()
        parsed = json.loads(first)
        if isinstance(parsed, dict) and parsed.get("id") == "mark":
            return None
        self.assertEqual(c.read_message()["id"], "mark")
        return first

    def assertResponse(self, response, id, code=None, message=None):
        self.assertIsInstance(response, dict, response)
        self.assertEqual(response.get("jsonrpc"), "2.0", response)
        self.assertIn("id", response)
        self.assertEqual(response["id"], id, response)
        self.assertEqual(type(response["id"]), type(id), response)
        if code is None:
            self.assertEqual(set(response), {"jsonrpc", "result", "id"}, response)
            self.assertIsInstance(response["result"], dict)
        else:
            self.assertEqual(set(response), {"jsonrpc", "error", "id"}, response)
            self.assertEqual(response["error"]["code"], code, response)
            self.assertIsInstance(response["error"]["message"], str)
            self.assertTrue(response["error"]["message"])
            if message is not None:
                self.assertIn(message, response["error"]["message"])

    def test_notifications_are_never_answered(self):
        notifications = [
            '{"jsonrpc": "2.0", "method": "track", "params": [1,2,3,4,5]}',
            '{"jsonrpc": "2.0", "method": "foobar"}',
            '{"jsonrpc": "2.0", "method": "foobar", "params": [1]}',
            '{"jsonrpc": "2.0", "method": "track", "params": {}}',
            '{"jsonrpc": "2.0", "method": "track", "params": {"name": 1}}',
            '{"jsonrpc": "2.0", "method": "view.end", "params": {"view_id": "x"}}',
            '{"jsonrpc": "2.0", "method": "rpc.discover"}',
            '{"jsonrpc": "2.0", "method": "track", "params": {"name": "SpecNote", "properties": {"n": 1}}}',
        ]
        with self.daemon.client() as c:
            for line in notifications:
                with self.subTest(line=line):
                    self.assertIsNone(self.answer(c, line))
        self.assertEqual(self.daemon.history(5, name="SpecNote")[0]["properties"], {"n": 1})

    def test_null_id_is_not_a_notification(self):
        with self.daemon.client() as c:
            self.assertResponse(json.loads(self.answer(c, '{"jsonrpc":"2.0","method":"status","id":null}')), None)
            self.assertResponse(json.loads(self.answer(c, '{"jsonrpc":"2.0","method":"foobar","id":null}')), None,
                                METHOD_NOT_FOUND)

    def test_invalid_requests_are_answered_even_without_id(self):
        cases = [
            ('{"jsonrpc": "2.0", "method": 1, "params": "bar"}', None, "method"),
            ('{"method": "status"}', None, "jsonrpc"),
            ('{"jsonrpc": "2.0", "method": "status", "params": "bar"}', None, "params"),
            ('{"jsonrpc": "2.0", "method": "status", "params": null}', None, "params"),
            ('{"jsonrpc": "2.0", "method": "status", "params": 5, "id": 7}', 7, "params"),
            ('{"jsonrpc": "2.0", "method": "status", "id": true}', None, "id"),
            ('{"jsonrpc": "2.0", "method": "status", "id": [1]}', None, "id"),
        ]
        with self.daemon.client() as c:
            for line, id, word in cases:
                with self.subTest(line=line):
                    self.assertResponse(json.loads(self.answer(c, line)), id, INVALID_REQUEST, word)

    def test_params_and_error_precedence(self):
        cases = [
            # rpc call with positional parameters: ours are named only.
            ('{"jsonrpc": "2.0", "method": "track", "params": [42, 23], "id": 1}', 1, INVALID_PARAMS,
             "params: this method takes named params (an object)"),
            # rpc call with named parameters.
            ('{"jsonrpc": "2.0", "method": "track", "params": {"name": "Subtract", '
             '"properties": {"subtrahend": 23, "minuend": 42}}, "id": 3}', 3, None, None),
            ('{"jsonrpc": "2.0", "method": "status", "id": 4}', 4, None, None),
            # rpc call of non-existent method; and it wins over bad params.
            ('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}', "1", METHOD_NOT_FOUND, "foobar"),
            ('{"jsonrpc": "2.0", "method": "foobar", "params": [1], "id": 2}', 2, METHOD_NOT_FOUND, "foobar"),
            # Invalid Request wins over both.
            ('{"jsonrpc": "1.0", "method": "foobar", "params": [1], "id": 5}', 5, INVALID_REQUEST, "jsonrpc"),
            ('{"jsonrpc": "2.0", "method": "foobar", "params": "bar", "id": 6}', 6, INVALID_REQUEST, "params"),
            # rpc call with invalid JSON: before anything.
            ('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', None, PARSE_ERROR, None),
        ]
        with self.daemon.client() as c:
            for line, id, code, message in cases:
                with self.subTest(line=line):
                    self.assertResponse(json.loads(self.answer(c, line)), id, code, message)

    def test_ids_keep_their_type_and_value(self):
        with self.daemon.client() as c:
            for text, id in (("12345678901234567890", 12345678901234567890), ("9007199254740993", 9007199254740993),
                             ("1.5", 1.5), ("1.0", 1.0), ("-3", -3), ("0", 0), ('"abc"', "abc"), ('""', ""),
                             ('"\\u00e9t\\u00e9"', "\u00e9t\u00e9"), ("null", None)):
                with self.subTest(id=text):
                    for method, code in (("status", None), ("foobar", METHOD_NOT_FOUND)):
                        raw = self.answer(c, '{"jsonrpc":"2.0","method":"%s","id":%s}' % (method, text))
                        self.assertIn(b'"id":' + text.encode() + b"}", raw)
                        self.assertResponse(json.loads(raw), id, code)

    def test_batches(self):
        with self.daemon.client() as c:
            # rpc call Batch, invalid JSON: a single answer.
            self.assertResponse(json.loads(self.answer(
                c, '[{"jsonrpc": "2.0", "method": "status", "id": "1"},{"jsonrpc": "2.0", "method"]')),
                None, PARSE_ERROR)
            # an empty Array: a single answer, not an array.
            self.assertResponse(json.loads(self.answer(c, "[]")), None, INVALID_REQUEST)
            # an invalid Batch: one answer per element.
            for line, n in (("[1]", 1), ("[1,2,3]", 3)):
                answer = json.loads(self.answer(c, line))
                self.assertIsInstance(answer, list)
                self.assertEqual(len(answer), n)
                for a in answer:
                    self.assertResponse(a, None, INVALID_REQUEST)
            # The mixed batch: no answer for the notification, the rest in order.
            answer = json.loads(self.answer(c, json.dumps([
                {"jsonrpc": "2.0", "method": "track", "params": {"name": "SpecSum"}, "id": "1"},
                {"jsonrpc": "2.0", "method": "track", "params": [7]},
                {"jsonrpc": "2.0", "method": "track", "params": {"name": "SpecSubtract"}, "id": "2"},
                {"foo": "boo"},
                {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
                {"jsonrpc": "2.0", "method": "identity.get", "id": "9"},
            ])))
            self.assertIsInstance(answer, list)
            self.assertEqual(len(answer), 5, answer)
            self.assertResponse(answer[0], "1")
            self.assertResponse(answer[1], "2")
            self.assertResponse(answer[2], None, INVALID_REQUEST)
            self.assertResponse(answer[3], "5", METHOD_NOT_FOUND)
            self.assertResponse(answer[4], "9")
            self.assertIn("user_id", answer[4]["result"])
            # All notifications: nothing at all, not even "[]".
            self.assertIsNone(self.answer(c, json.dumps([
                {"jsonrpc": "2.0", "method": "track", "params": [1, 2, 4]},
                {"jsonrpc": "2.0", "method": "track", "params": {"name": "SpecAllNotes"}},
                {"jsonrpc": "2.0", "method": "foobar"},
            ])))
            # Ids in a batch are echoed as written too.
            raw = self.answer(c, '[{"jsonrpc":"2.0","method":"status","id":12345678901234567890},'
                                 '{"jsonrpc":"2.0","method":"foobar","id":1.0}]')
            self.assertIn(b'"id":12345678901234567890}', raw)
            self.assertIn(b'"id":1.0}', raw)
            self.assertEqual([a["id"] for a in json.loads(raw)], [12345678901234567890, 1.0])
        names = [e["name"] for e in self.daemon.history(20)]
        for name in ("SpecSum", "SpecSubtract", "SpecAllNotes"):
            self.assertIn(name, names)


class Pipelining(DaemonTestCase):
    def test_pipelined_requests_answer_in_order(self):
        n = 200
        with self.daemon.client() as c:
            lines = b"".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "status"}).encode() + b"\n"
                             for i in range(n))
            c.send_raw(lines)
            self.assertEqual([c.read_message()["id"] for _ in range(n)], list(range(n)))

    def test_request_split_across_writes(self):
        with self.daemon.client() as c:
            data = b'{"jsonrpc":"2.0","id":"split","method":"status"}\n'
            for b in data:
                c.send_raw(bytes([b]))
            self.assertEqual(c.read_message()["id"], "split")


class LineCap(DaemonTestCase):
    """A line over 64 KiB is refused and its connection closed; the daemon goes
    on serving everyone else."""

    def test_line_of_exactly_64k_is_served(self):
        req = b'{"jsonrpc":"2.0","id":"big","method":"status"}'
        line = req + b" " * (MAX_LINE - len(req))
        self.assertEqual(len(line), MAX_LINE)
        with self.daemon.client() as c:
            c.send_raw(line + b"\n")
            self.assertEqual(c.read_message()["id"], "big")

    def test_overlong_line_without_newline(self):
        with self.daemon.client() as other, self.daemon.client() as c:
            self.assertIn("user_id", other.call("status"))
            c.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"pad":"' + b"x" * MAX_LINE)
            answer = c.read_message()
            self.assertEqual(answer["error"]["code"], INVALID_REQUEST)
            self.assertIn("65536", answer["error"]["message"])
            self.assertTrue(c.expect_eof())
            # The other client, connected all along, is still served.
            self.assertIn("user_id", other.call("status"))
        self.assertIn("user_id", self.call("status"))

    def test_overlong_line_with_newline_after_good_requests(self):
        with self.daemon.client() as c:
            c.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n'
                       + b'{"jsonrpc":"2.0","id":2,"method":"status","params":{"pad":"' + b"y" * (100 * 1024)
                       + b'"}}\n')
            self.assertEqual(c.read_message()["id"], 1)  # what came before the long line is answered
            answer = c.read_message()
            self.assertEqual(answer["error"]["code"], INVALID_REQUEST)
            self.assertTrue(c.expect_eof())
        self.assertTrue(self.daemon.alive())
        self.assertIn("user_id", self.call("status"))


class WaitingCalls(EmulatorTestCase):
    """A call that waits on the network (sync.now, activations.get) runs on a
    thread of the daemon's own: every other client is served meanwhile, and
    the waiting client's own later requests are answered after it, in order."""

    daemon_config = {"consent": {"required": False}, "api": {"timeout_ms": int(scaled(60000))}}

    def test_others_are_served_while_a_client_waits(self):
        hang = scaled(5)
        self.emu.set_fault("hang", path="ccs", max_s=hang, count=1)
        self.emu.set_fault("hang", path="ctx", max_s=hang, count=1)
        self.daemon.call("track", {"name": "Queued"})
        with self.daemon.client(timeout=scaled(30)) as waiting, self.daemon.client() as ad_break, \
                self.daemon.client() as other:
            waiting.send({"jsonrpc": "2.0", "id": 1, "method": "sync.now", "params": {"timeout_ms": 600000}})
            waiting.send({"jsonrpc": "2.0", "id": 2, "method": "status"})  # after it, on the same connection
            wait_until(lambda: self.emu.requests("/ccs/"), scaled(10), message="the CCS request in flight")
            # Another caller's ad break keeps its own budget; others are served at once.
            started = time.monotonic()
            ad_break.send({"jsonrpc": "2.0", "id": 7, "method": "activations.get",
                           "params": {"timeout_ms": 200, "url": "https://example.com/news/9"}})
            answer = ad_break.read_message(timeout=scaled(hang - 0.5))
            self.assertTrue(answer["result"]["stale"], answer)
            for i in range(20):
                self.assertIn("user_id", other.call("status"))
                other.call("track", {"name": "Meanwhile", "properties": {"i": i}})
            self.assertLess(time.monotonic() - started, hang - 1, "served only after the hang ended")
            with self.assertRaises(TimeoutError):  # still waiting: its status waits behind it
                waiting.read_line(timeout=0.2)
            first = waiting.read_message(timeout=scaled(30))
            second = waiting.read_message(timeout=scaled(30))
        self.assertEqual((first["id"], second["id"]), (1, 2), "a client's answers out of its order")
        self.assertIn("pending", first["result"])
        self.assertEqual(len(self.daemon.history(name="Meanwhile")), 20)


class Concurrency(DaemonTestCase):
    def test_100_concurrent_clients(self):
        clients = 100
        per_client = 5
        before = self.call("status")["history"]["events"]
        barrier = threading.Barrier(clients, timeout=scaled(30))

        def worker(i):
            with Client(self.daemon.socket_path, timeout=scaled(30)) as c:
                barrier.wait()  # every connection is open before anyone asks
                for k in range(per_client):
                    result = c.call("track", {"name": "Concurrent", "properties": {"client": i, "k": k}})
                    self.assertTrue(result["stored"])
                    self.assertIn("user_id", c.call("status"))

        run_threads(worker, clients)
        self.assertEqual(self.call("status")["history"]["events"], before + clients * per_client)
        seen = {(e["properties"]["client"], e["properties"]["k"]) for e in self.daemon.history(1000, "Concurrent")}
        self.assertEqual(len(seen), clients * per_client)

    def test_half_line_stall_does_not_block_others(self):
        with self.daemon.client() as staller, self.daemon.client() as other:
            staller.send_raw(b'{"jsonrpc":"2.0","id":"slow",')
            started = time.monotonic()
            for i in range(20):
                other.send({"jsonrpc": "2.0", "id": i, "method": "status"})
                self.assertEqual(other.read_message(timeout=scaled(2))["id"], i)
            self.assertLess(time.monotonic() - started, scaled(5))
            staller.send_raw(b'"method":"status"}\n')
            self.assertEqual(staller.read_message()["id"], "slow")

    def test_client_that_never_reads_does_not_stall_others(self):
        hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hog.connect(self.daemon.socket_path)
        hog.setblocking(False)
        request = b'{"jsonrpc":"2.0","id":1,"method":"status"}\n' * 256
        stuck_since = None
        sent = 0
        deadline = time.monotonic() + scaled(30)
        try:
            # Write requests and never read: soon the daemon stops reading
            # (its answers pile up), and then our writes stop going through.
            while time.monotonic() < deadline:
                try:
                    sent += hog.send(request)
                    stuck_since = None
                except BlockingIOError:
                    stuck_since = stuck_since or time.monotonic()
                    if time.monotonic() - stuck_since > scaled(0.3):
                        break
                    time.sleep(0.01)
                except (BrokenPipeError, ConnectionResetError):
                    break  # dropped for not reading: also fine
            self.assertGreater(sent, 100_000)  # far more than the daemon would buffer for it
            with self.daemon.client(timeout=scaled(2)) as other:
                started = time.monotonic()
                for _ in range(10):
                    self.assertIn("user_id", other.call("status"))
                self.assertLess(time.monotonic() - started, scaled(2))
        finally:
            hog.close()
        self.assertIn("user_id", self.call("status"))

    def test_client_gone_before_its_answer(self):
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.daemon.socket_path)
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"history.get","params":{"limit":1000}}\n')
            s.close()
        self.assertTrue(self.daemon.alive())
        self.assertIn("user_id", self.call("status"))


if __name__ == "__main__":
    unittest.main()
