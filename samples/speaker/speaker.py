#!/usr/bin/env python3
"""A smart-speaker integration of the cohort agent, over cohortd's socket.

Plays out one listening session the way a voice assistant's skill host would
report it: the listener consents, the assistant's advertising id becomes an
alias, a podcast episode plays (with a pause for a question to the
assistant), ends, and the speaker asks for its cohorts and the activations
for an audio ad break.

    speaker.py [--socket PATH] [--pace SECONDS] [--timeout SECONDS] [--brief]

Socket: --socket, else $COHORT_SOCKET, else /run/cohort/cohortd.sock. Python 3
standard library only. Exit status: 0 ok, 1 the daemon answered an
unexpected error, 3 cannot talk to the daemon.
"""

import argparse
import itertools
import json
import os
import socket
import sys
import time

DEFAULT_SOCKET = "/run/cohort/cohortd.sock"
METHOD_NOT_FOUND = -32601

# Deterministic content: the same session every run.
STATION_URL = "smartspeaker://station/wnyc/podcast/radiolab/episode/412"
EPISODE = {
    "podcast": {
        "show": "Radiolab",
        "episode": "412",
        "title": "The Sound of Football",
        "publisher": "WNYC Studios",
        "genre": "science",
        "categories": ["science", "sport", "football"],
        "language": "en",
    },
    "device": {"kind": "smart_speaker", "input": "voice"},
    "station": "wnyc",
}
DURATION_S = 1800


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class Connection:
    """One JSON-RPC 2.0 connection: a request per line, an answer per line."""

    def __init__(self, path, timeout_s):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")
        self.ids = itertools.count(1)

    def call(self, method, params=None):
        request = {"jsonrpc": "2.0", "id": next(self.ids), "method": method}
        if params is not None:
            request["params"] = params
        self.sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        while True:
            line = self.reader.readline()
            if not line:
                raise ConnectionError("cohortd closed the connection")
            answer = json.loads(line)
            if answer.get("id") != request["id"]:
                continue  # a notification, not our answer
            if "error" in answer:
                raise RpcError(answer["error"].get("code"), answer["error"].get("message", ""))
            return answer["result"]

    def close(self):
        self.reader.close()
        self.sock.close()


BRIEF = False  # --brief: what each step says, without the ids


def show(step, result):
    if BRIEF:
        result = {k: v for k, v in result.items() if k not in ("view_id", "session_id", "event_id")}
        if not result:
            return  # a player report: nothing to say but that it was taken
    print(f"{step:<22} {json.dumps(result, separators=(',', ':'))}", flush=True)


def optional(conn, step, method, params=None):
    """A method that a cohortd may not have yet: -32601 is reported, not fatal."""
    try:
        show(step, conn.call(method, params))
    except RpcError as e:
        if e.code != METHOD_NOT_FOUND:
            raise
        show(step, {"unavailable": f"{method} is not implemented by this cohortd"})


def listening_session(conn, pace):
    show("consent", conn.call("consent.set", {"granted": True}))
    show("alias", conn.call("identity.set_aliases", {
        "aliases": [{"tag": "alexa_advertising_id", "id": "amzn1.ask.adid.0f6e3c4a-speaker-demo", "priority": 0}]}))

    view = conn.call("view.start", {"type": "audio", "url": STATION_URL, "duration_s": DURATION_S,
                                    "properties": EPISODE})
    show("view.start", view)
    view_id = view["view_id"]

    # Progress as the player reports it; a pause while the listener asks the
    # assistant something; then playback resumes and the episode is left early.
    for position in (300, 600):
        time.sleep(pace)
        show("view.progress", conn.call("view.progress", {"view_id": view_id, "position_s": position}))
    time.sleep(pace)
    show("view.pause", conn.call("view.pause", {"view_id": view_id, "position_s": 620}))
    time.sleep(pace)
    show("view.resume", conn.call("view.resume", {"view_id": view_id, "position_s": 620}))
    time.sleep(pace)
    show("view.progress", conn.call("view.progress", {"view_id": view_id, "position_s": 1200}))
    time.sleep(pace)
    show("view.end", conn.call("view.end", {"view_id": view_id, "position_s": 1440}))

    # The ad break: which cohorts, which activations for the audio ad server.
    optional(conn, "cohorts.get", "cohorts.get")
    optional(conn, "activations.get", "activations.get",
             {"timeout_ms": 200, "url": STATION_URL, "page_properties": EPISODE["podcast"]})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default=os.environ.get("COHORT_SOCKET") or DEFAULT_SOCKET)
    parser.add_argument("--pace", type=float, default=0.0,
                        help="seconds between player reports (default 0: as fast as possible)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
    parser.add_argument("--brief", action="store_true", help="leave out ids and the steps that say nothing else")
    args = parser.parse_args(argv)
    global BRIEF
    BRIEF = args.brief
    try:
        conn = Connection(args.socket, args.timeout)
    except OSError as e:
        print(f"speaker: cannot connect to {args.socket}: {e}", file=sys.stderr)
        return 3
    try:
        print(f"speaker: listening session on {args.socket}")
        listening_session(conn, args.pace)
        return 0
    except RpcError as e:
        print(f"speaker: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"speaker: talking to cohortd: {e}", file=sys.stderr)
        return 3
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
