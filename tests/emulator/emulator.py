#!/usr/bin/env python3
"""HTTP emulator of the CCS and Contextual APIs for cohort agent tests.

One process serves the stateful (`/ccs/v1/segmentation`) and stateless
(`/ccs/v1/segmentation/stateless`) CCS endpoints and the Contextual API
(`/ctx/v1/segment`), computes server-side cohorts from a small rule table,
records every request, and can be told to misbehave (latency, error statuses,
connection resets, hangs, truncated or garbled answers) through a control API
under `/_control/`. Events are checked against a workspace event schema
(ignored when invalid, or a 400 under `synchronous-validation=true`), as the
Direct API guide describes. It also publishes a signed cohort definitions
document and its .sig (cohorts.definitions_url), with ETag / 304 and the
faults of a hostile definitions server (definitions.py). Standard library
only (and the openssl CLI to sign). See README.md beside this file.
"""

import argparse
import copy
import datetime
import gzip
import hashlib
import hmac  # compare_digest: the API key check takes the same time for any wrong key
import http
import http.server
import json
import math
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qs, urlsplit

import definitions

MAX_BODY_BYTES = 1 << 20
MAX_DISCARD_BYTES = 64 << 20
MAX_EVENTS = 10
IDLE_TIMEOUT_S = 120
HANDSHAKE_TIMEOUT_S = 10
DOCS_URLS = {"ccs": "https://docs.permutive.com/api/ccs/introduction",
             "ctx": "https://docs.permutive.com/api/contextual/introduction"}

DEFAULT_RULES = {
    "behavioral": [
        {"id": "12345", "name": "Football fans", "event": "Videoview", "min_count": 1,
         "where": {"categories": "football"}, "activations": ["dfp", "freewheel"]},
        {"id": "67890", "name": "Completers", "event": "VideoCompletion", "min_count": 2,
         "activations": ["freewheel"]},
        {"id": "11111", "name": "Listeners", "event": "AudioPlay", "min_count": 1,
         "activations": ["dfp", "adswizz_keyvalue"]},
    ],
    "contextual": [
        {"id": "99999", "name": "Sport content", "url_contains": ["sport"],
         "keywords": ["football"], "activations": ["freewheel"]},
        {"id": "88888", "name": "News content", "url_contains": ["/news/"],
         "keywords": ["news"], "activations": ["dfp"]},
    ],
}


class ApiError(Exception):
    """An answer other than 2xx, carried up to the handler as an exception."""

    def __init__(self, status, message, cause=None, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.cause = cause
        self.headers = tuple(headers)


def error_body(status, message, request_id, cause=None, docs=DOCS_URLS["ccs"]):
    """The seed's HttpErrorResponse: {request_id, error{type, status_code, status, code, message, docs, cause?}}."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    error = {
        "type": re.sub(r"[^A-Za-z]", "", phrase.title()),
        "status_code": status,
        "status": phrase,
        "code": status,
        "message": message,
        "docs": docs,
    }
    if cause is not None:
        error["cause"] = cause
    return {"request_id": request_id, "error": error}


# ---------------------------------------------------------------- validation

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$")


def is_uuid(value):
    return isinstance(value, str) and bool(_UUID_RE.match(value))


def is_datetime(value):
    """RFC 3339 date-time (the OpenAPI `date-time` format): a time zone is required."""
    match = isinstance(value, str) and _DATETIME_RE.match(value)
    if not match:
        return False
    year, month, day, hour, minute, second, off_h, off_m = match.groups()
    try:
        datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return False
    return off_h is None or (int(off_h) < 24 and int(off_m) < 60)


def is_nonempty_str(value):
    return isinstance(value, str) and value != ""


def present(body, field):
    """A field sent as null counts as absent (the seed's own example sends `alias: null`)."""
    return body.get(field) is not None


def parse_identity(body):
    """Return ("user_id", uuid) or ("aliases", [(priority, tag, id), ...] highest priority first)."""
    forms = [f for f in ("user_id", "alias", "aliases") if present(body, f)]
    if len(forms) != 1:
        raise ApiError(400, "exactly one of user_id, alias or aliases is required",
                       cause="found: " + (", ".join(forms) or "none"))
    form = forms[0]
    if form == "user_id":
        if not is_uuid(body["user_id"]):
            raise ApiError(400, "user_id: must be a UUID string")
        return "user_id", body["user_id"]
    if form == "alias":
        alias = body["alias"]
        if not isinstance(alias, dict):
            raise ApiError(400, "alias: must be an object {tag, id}")
        return "aliases", [_parse_alias(alias, "alias", default_priority=0)]
    aliases = body["aliases"]
    if not isinstance(aliases, list) or not aliases:
        raise ApiError(400, "aliases: must be a non-empty array of {tag, id, priority}")
    parsed = []
    for i, alias in enumerate(aliases):
        if not isinstance(alias, dict):
            raise ApiError(400, f"aliases[{i}]: must be an object {{tag, id, priority}}")
        parsed.append(_parse_alias(alias, f"aliases[{i}]", default_priority=None))
    return "aliases", sorted(parsed, key=lambda a: a[0])  # stable: ties keep request order


def _parse_alias(alias, where, default_priority):
    for field in ("tag", "id"):
        if not is_nonempty_str(alias.get(field)):
            raise ApiError(400, f"{where}.{field}: must be a non-empty string")
    priority = alias.get("priority", default_priority)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ApiError(400, f"{where}.priority: must be an integer")
    return priority, alias["tag"], alias["id"]


def parse_events(body):
    events = body.get("events")
    if not isinstance(events, list):
        raise ApiError(400, "events: must be an array")
    if not 1 <= len(events) <= MAX_EVENTS:
        raise ApiError(400, f"events: must hold 1 to {MAX_EVENTS} events", cause=f"got {len(events)}")
    for i, event in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(event, dict):
            raise ApiError(400, f"{where}: must be an object")
        if not is_nonempty_str(event.get("name")):
            raise ApiError(400, f"{where}.name: must be a non-empty string")
        if not is_datetime(event.get("time")):
            raise ApiError(400, f"{where}.time: must be an ISO 8601 date-time with a time zone",
                           cause=repr(event.get("time")))
        if not isinstance(event.get("properties"), dict):
            raise ApiError(400, f"{where}.properties: must be an object")
        for field in ("session_id", "view_id"):
            if field in event and not is_uuid(event[field]):
                raise ApiError(400, f"{where}.{field}: must be a UUID string", cause=repr(event[field]))
    return events


# ---------------------------------------------------------------- rules

def _lookup(properties, dotted):
    value = properties
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _strings_in(value):
    """Every string inside a JSON value, at any depth (object values and array items)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


def _str_list(rule, field, where):
    """An optional rule field holding one string or an array of them, as a list."""
    value = rule.get(field)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(is_nonempty_str(v) for v in value):
        raise ValueError(f"{where}.{field}: must be a non-empty string or an array of them")
    return value


def _rule_id(rule, where):
    """The id of a rule-table entry, which must be an object with a non-empty string id."""
    if not isinstance(rule, dict):
        raise ValueError(f"{where}: must be an object")
    rule_id = rule.get("id")
    if not is_nonempty_str(rule_id):
        raise ValueError(f"{where}.id: must be a non-empty string")
    return rule_id


class BehavioralRule:
    """A cohort: at least `min_count` events named `event` whose properties satisfy `where`."""

    def __init__(self, rule, where):
        self.id = _rule_id(rule, where)
        self.event = rule.get("event")
        if not is_nonempty_str(self.event):
            raise ValueError(f"{where}.event: must be an event name or \"*\"")
        self.min_count = rule.get("min_count", 1)
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise ValueError(f"{where}.min_count: must be an integer >= 1")
        self.where = rule.get("where", {})
        if not isinstance(self.where, dict):
            raise ValueError(f"{where}.where: must be an object {{property.path: value}}")
        self.activations = _str_list(rule, "activations", where)
        canonical = json.dumps({"event": self.event, "min_count": self.min_count, "where": self.where},
                               sort_keys=True, separators=(",", ":"))
        # Keys the stateless state, as the seed's `internal_state` does:
        # cohort id -> rule checksum -> state. A changed rule starts afresh.
        self.checksum = hashlib.sha256(canonical.encode()).hexdigest()[:10]

    def matches(self, event):
        if self.event not in ("*", event["name"]):
            return False
        for path, expected in self.where.items():
            actual = _lookup(event["properties"], path)
            if actual != expected and not (isinstance(actual, list) and expected in actual):
                return False
        return True


class ContextualRule:
    """A contextual cohort: any `url_contains` substring in the URL, or any keyword in page_properties."""

    def __init__(self, rule, where):
        self.id = _rule_id(rule, where)
        self.url_contains = _str_list(rule, "url_contains", where)
        self.keywords = [k.lower() for k in _str_list(rule, "keywords", where)]
        if not self.url_contains and not self.keywords:
            raise ValueError(f"{where}: needs url_contains or keywords")
        self.activations = _str_list(rule, "activations", where)

    def matches(self, url, page_properties):
        if any(part in url for part in self.url_contains):
            return True
        texts = [s.lower() for s in _strings_in(page_properties)]
        return any(keyword in text for keyword in self.keywords for text in texts)


class Rules:
    def __init__(self, doc):
        if not isinstance(doc, dict):
            raise ValueError("rules: must be an object {behavioral: [...], contextual: [...]}")
        unknown = set(doc) - {"behavioral", "contextual"}
        if unknown:
            raise ValueError(f"rules: unknown section(s) {sorted(unknown)}")
        self.doc = copy.deepcopy(doc)
        self.behavioral = self._section(doc, "behavioral", BehavioralRule)
        self.contextual = self._section(doc, "contextual", ContextualRule)

    @staticmethod
    def _section(doc, name, cls):
        rules = doc.get(name, [])
        if not isinstance(rules, list):
            raise ValueError(f"{name}: must be an array")
        parsed = [cls(rule, f"{name}[{i}]") for i, rule in enumerate(rules)]
        ids = [r.id for r in parsed]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"{name}: duplicate id(s) {duplicates}")
        return parsed


def activations_of(rules):
    """{platform: [cohort ids]} in rule order, platforms in first-seen order; empty platforms omitted."""
    result = {}
    for rule in rules:
        for platform in rule.activations:
            result.setdefault(platform, []).append(rule.id)
    return result


# ---------------------------------------------------------------- stateless state

# The seed's UserState: {internal_state: DeviceState, external_state:
# DeviceState, cohorts?: [CohortId]}, DeviceState = {cohort id: {checksum:
# CohortState}}, and its example CohortState is ["p", 1]. For the count rules
# here a cohort's state is ["p", n]: n matching events so far.
COUNT_TAG = "p"


def render(value, limit=60):
    """A JSON value as it would appear in the request, cut short for an error message."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def encode_count(count):
    return [COUNT_TAG, count]


def decode_count(where, cohort_state):
    """The count of a CohortState this emulator issued: [string, non-negative integer]."""
    is_issued_shape = (isinstance(cohort_state, list) and len(cohort_state) == 2
                       and isinstance(cohort_state[0], str)
                       and isinstance(cohort_state[1], int) and not isinstance(cohort_state[1], bool)
                       and cohort_state[1] >= 0)
    if not is_issued_shape:
        raise ApiError(400, f"{where}: not a state this API issued",
                       cause=f"expected [\"{COUNT_TAG}\", count], got {render(cohort_state)}")
    return cohort_state[1]


def _device_state(state, field):
    """Check one DeviceState: an object of {checksum: CohortState} objects."""
    device_state = state.get(field)
    if not isinstance(device_state, dict):
        raise ApiError(400, f"state.{field}: must be an object {{cohort_id: {{checksum: state}}}}",
                       cause=f"got {render(device_state)}")
    for cohort_id, by_checksum in device_state.items():
        if not isinstance(by_checksum, dict):
            raise ApiError(400, f"state.{field}.{cohort_id}: must be an object {{checksum: state}}",
                           cause=f"got {render(by_checksum)}")
    return device_state


def parse_state(body):
    """Validate the optional `state` (UserState); return ({(cohort id, checksum): count}, external_state).

    Every internal CohortState is checked, also those of a cohort or rule
    version this emulator no longer has (dropped later, as after a rule edit):
    a client that garbles the state hears about it whichever cohort it hit.
    """
    if not present(body, "state"):
        return {}, {}
    state = body["state"]
    if not isinstance(state, dict):
        raise ApiError(400, "state: must be an object {internal_state, external_state, cohorts?}",
                       cause=f"got {render(state)}")
    internal = _device_state(state, "internal_state")
    external = _device_state(state, "external_state")
    cohorts = state.get("cohorts")
    if cohorts is not None and (not isinstance(cohorts, list) or not all(isinstance(c, str) for c in cohorts)
                                or len(set(cohorts)) != len(cohorts)):
        raise ApiError(400, "state.cohorts: must be an array of unique cohort id strings",
                       cause=f"got {render(cohorts)}")
    counts = {(cohort_id, checksum): decode_count(f"state.internal_state.{cohort_id}.{checksum}", cohort_state)
              for cohort_id, by_checksum in internal.items()
              for checksum, cohort_state in by_checksum.items()}
    return counts, external


# ---------------------------------------------------------------- workspace event schema

SCHEMA_TYPES = ("string", "integer", "number", "boolean", "array", "array<string>", "object")
UNKNOWN_EVENT_POLICIES = ("accept", "ignore")


def _is_number(value):
    """A JSON number: int or float, never a boolean (Python's bool is an int), never NaN/Infinity."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (isinstance(value, int) or math.isfinite(value)))


def _is_integer(value):
    """JSON Schema's integer: a number without a fractional part (600 and 600.0, not 12.5)."""
    return _is_number(value) and (isinstance(value, int) or value.is_integer())


TYPE_CHECKS = {
    "string": lambda value: isinstance(value, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda value: isinstance(value, bool),
    "array": lambda value: isinstance(value, list),
    "array<string>": lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value),
    "object": lambda value: isinstance(value, dict),
}

_VIDEO_PLAY = {"video_id": "string", "title": "string", "categories": "array<string>", "duration_seconds": "integer"}
_AUDIO_PLAY = {"podcast_id": "string", "title": "string", "categories": "array<string>",
               "duration_seconds": "integer"}

# The play and completion events of the Direct API guide, typed as its
# examples are. Other event names are accepted, so tests that send their own
# events ("Pageview", "Tick", ...) need no schema of their own.
DEFAULT_SCHEMA = {
    "events": {
        "Videoview": _VIDEO_PLAY,
        "VideoCompletion": {**_VIDEO_PLAY, "time_spent_seconds": "integer", "percentage_watched": "number"},
        "AudioPlay": _AUDIO_PLAY,
        "AudioCompletion": {**_AUDIO_PLAY, "time_spent_seconds": "integer", "percentage_listened": "number"},
    },
    "unknown_events": "accept",
}


class EventSchema:
    """A workspace's event schema: {events: {name: {property.path: type}}, unknown_events: accept|ignore}.

    An event is invalid when a listed property is present with another type
    (or sits under something that is not an object), or, with unknown_events
    "ignore", when its name is not listed. Unlisted properties are allowed and
    listed ones may be absent.
    """

    def __init__(self, doc):
        if not isinstance(doc, dict):
            raise ValueError("schema: must be an object {events: {...}, unknown_events: \"accept\"|\"ignore\"}")
        unknown = set(doc) - {"events", "unknown_events"}
        if unknown:
            raise ValueError(f"schema: unknown field(s) {sorted(unknown)}")
        self.unknown_events = doc.get("unknown_events", "accept")
        if self.unknown_events not in UNKNOWN_EVENT_POLICIES:
            raise ValueError(f"unknown_events: must be one of {', '.join(UNKNOWN_EVENT_POLICIES)}, "
                             f"got {render(self.unknown_events)}")
        if "events" not in doc:
            raise ValueError("events: required, an object {event name: {property.path: type}}")
        if not isinstance(doc["events"], dict):
            raise ValueError("events: must be an object {event name: {property.path: type}}")
        self.events = {name: self._properties(name, properties) for name, properties in doc["events"].items()}
        self.doc = {"events": copy.deepcopy(self.events), "unknown_events": self.unknown_events}

    @staticmethod
    def _properties(name, properties):
        where = f"events.{name}"
        if not is_nonempty_str(name):
            raise ValueError("events: event names must be non-empty strings")
        if not isinstance(properties, dict):
            raise ValueError(f"{where}: must be an object {{property.path: type}}")
        for path, kind in properties.items():
            if "" in path.split("."):
                raise ValueError(f"{where}: property path {path!r} has an empty segment")
            if kind not in SCHEMA_TYPES:
                raise ValueError(f"{where}.{path}: type must be one of {', '.join(SCHEMA_TYPES)}, got {render(kind)}")
        return dict(properties)

    def errors_of(self, index, event):
        """What is wrong with events[index] under this schema, as messages naming the field; [] if valid."""
        properties = self.events.get(event["name"])
        if properties is None:
            if self.unknown_events == "ignore":
                return [f"events[{index}].name: {render(event['name'])} is not an event of the workspace schema"]
            return []
        prefix = f"events[{index}].properties."
        errors = (_property_error(event["properties"], path, kind) for path, kind in properties.items())
        # dict.fromkeys: once each, in order, when several listed paths run into the same non-object.
        return [prefix + error for error in dict.fromkeys(errors) if error]

    def screen(self, events):
        """(valid events, [{index, name, error}] for the invalid ones)."""
        valid, invalid = [], []
        for index, event in enumerate(events):
            errors = self.errors_of(index, event)
            if errors:
                invalid.append({"index": index, "name": event["name"], "error": "; ".join(errors)})
            else:
                valid.append(event)
        return valid, invalid


def _property_error(properties, path, kind):
    """"path: expected kind, got value" when the property is present with another type, else None.

    Walking a dotted path, something that is not an object where an object
    must be is the error (`audio: expected object, got "x"` for audio.title).
    """
    value, walked = properties, []
    for part in path.split("."):
        if not isinstance(value, dict):
            return f"{'.'.join(walked)}: expected object, got {render(value)}"
        if part not in value:
            return None  # absent: fine
        value = value[part]
        walked.append(part)
    if TYPE_CHECKS[kind](value):
        return None
    return f"{path}: expected {kind}, got {render(value)}"


# ---------------------------------------------------------------- the APIs

class Backend:
    """Segmentation logic and its in-memory state (per-user history, alias directory, rules, schema)."""

    def __init__(self, rules, schema):
        self._lock = threading.Lock()
        self._startup_rules = rules
        self._startup_schema = schema
        self.rules = rules
        self.schema = schema
        self._histories = {}
        self._alias_directory = {}

    def reset(self):
        with self._lock:
            self.rules = self._startup_rules
            self.schema = self._startup_schema
            self._histories.clear()
            self._alias_directory.clear()

    def set_rules(self, rules):
        with self._lock:
            self.rules = rules

    def set_schema(self, schema):
        with self._lock:
            self.schema = schema

    def user_count(self):
        with self._lock:
            return len(self._histories)

    def _resolve(self, identity):
        """The user id of a request (call with the lock held).

        The highest-priority alias already known wins; every alias in the
        request is then linked to that id, so later requests resolve to it
        whatever alias they carry. Unknown aliases get a new UUIDv4. The
        directory is shared by both CCS endpoints, like Permutive's identity
        graph, so it is kept even by the stateless endpoint.
        """
        form, value = identity
        if form == "user_id":
            return value
        keys = [(tag, alias_id) for _, tag, alias_id in value]
        known = [self._alias_directory[k] for k in keys if k in self._alias_directory]
        user_id = known[0] if known else str(uuid.uuid4())
        for key in keys:
            self._alias_directory[key] = user_id
        return user_id

    def _screen(self, events, synchronous_validation):
        """Split events by the workspace schema into (valid, ignored entries).

        By default validation is asynchronous on the real API: the answer is
        200 and an invalid event is just never counted. With
        synchronous-validation the request fails as a whole, before anything
        of it is applied.
        """
        with self._lock:
            schema = self.schema
        valid, ignored = schema.screen(events)
        if synchronous_validation and ignored:
            raise ApiError(400, "event schema validation failed", cause="; ".join(e["error"] for e in ignored))
        return valid, ignored

    def segment_stateful(self, body, with_activations, synchronous_validation):
        """(answer, ignored events) of POST /ccs/v1/segmentation."""
        identity = parse_identity(body)
        events, ignored = self._screen(parse_events(body), synchronous_validation)
        with self._lock:
            user_id = self._resolve(identity)
            history = self._histories.setdefault(user_id, [])
            history.extend(copy.deepcopy(events))
            rules = self.rules
            members = [r for r in rules.behavioral if sum(map(r.matches, history)) >= r.min_count]
        answer = {"user_id": user_id, "cohorts": [r.id for r in members]}
        if with_activations:
            answer["activations"] = activations_of(members)
        return answer, ignored

    def segment_stateless(self, body, with_activations, synchronous_validation):
        """(answer, ignored events) of POST /ccs/v1/segmentation/stateless.

        Everything is checked before the alias directory is touched: a rejected request changes nothing.
        """
        identity = parse_identity(body)
        events = parse_events(body)
        previous, external_state = parse_state(body)
        events, ignored = self._screen(events, synchronous_validation)
        with self._lock:
            user_id = self._resolve(identity)
            rules = self.rules
        internal_state, members = {}, []
        for rule in rules.behavioral:
            # Keyed by the rule's checksum: state of an edited or removed rule is dropped.
            count = previous.get((rule.id, rule.checksum), 0) + sum(map(rule.matches, events))
            if count:
                internal_state[rule.id] = {rule.checksum: encode_count(count)}
            if count >= rule.min_count:
                members.append(rule)
        state = {"internal_state": internal_state, "external_state": external_state,
                 "cohorts": [r.id for r in members]}
        answer = {"user_id": user_id, "state": state}
        if with_activations:
            answer["activations"] = activations_of(members)
        return answer, ignored

    def segment_contextual(self, body):
        """The answer of POST /ctx/v1/segment: the guide's {"activations": {platform: [ids]}}, nothing else."""
        identity_fields = [f for f in ("user_id", "alias", "aliases") if f in body]
        if identity_fields:
            raise ApiError(400, "the Contextual API takes no user data", cause="found: " + ", ".join(identity_fields))
        url = body.get("url")
        if not is_nonempty_str(url):
            raise ApiError(400, "url: must be a non-empty string")
        page_properties = body.get("page_properties", {})
        if not isinstance(page_properties, dict):
            raise ApiError(400, "page_properties: must be an object")
        with self._lock:
            rules = self.rules
        members = [r for r in rules.contextual if r.matches(url, page_properties)]
        return {"activations": activations_of(members)}


# ---------------------------------------------------------------- options

# Switches for server behaviour the documents leave open. omit_activations
# models a server (or a proxy) that ignores ?activations=true.
# definitions_cache_control: the Cache-Control of the definitions document and
# its .sig ("" sends none), so the agent's reading of max-age can be tested.
DEFAULT_OPTIONS = {"omit_activations": False, "definitions_cache_control": "max-age=3600"}


class Options:
    def __init__(self):
        self._lock = threading.Lock()
        self._values = dict(DEFAULT_OPTIONS)

    def get(self, name):
        with self._lock:
            return self._values[name]

    def describe(self):
        with self._lock:
            return dict(self._values)

    def update(self, doc):
        """Set the options in doc; all or nothing. ValueError names the bad option."""
        if not isinstance(doc, dict):
            raise ValueError("options: must be an object {option: value}")
        for name, value in doc.items():
            if name not in DEFAULT_OPTIONS:
                raise ValueError(f"{name}: no such option (known: {', '.join(DEFAULT_OPTIONS)})")
            if isinstance(DEFAULT_OPTIONS[name], bool) and not isinstance(value, bool):
                raise ValueError(f"{name}: must be true or false, got {render(value)}")
            if isinstance(DEFAULT_OPTIONS[name], str) and not isinstance(value, str):
                raise ValueError(f"{name}: must be a string, got {render(value)}")
        with self._lock:
            self._values.update(doc)
            return dict(self._values)

    def reset(self):
        with self._lock:
            self._values = dict(DEFAULT_OPTIONS)


# ---------------------------------------------------------------- faults

# defs: the definitions document and its .sig; sig: the .sig only.
FAULT_PATHS = ("all", "ccs", "ctx", "defs", "sig")

# mode -> {parameter: (type, default)}; a default of None marks a required parameter.
FAULT_MODES = {
    "latency": {"delay_ms": (int, None)},
    "status": {"code": (int, None), "retry_after": (int, 0)},
    # Named statuses: 401/403 a key the API refuses, 404/405 a wrong base URL
    # or a proxy in the way; 408 and 429 the API's own flow control.
    "401": {},
    "403": {},
    "404": {},
    "405": {},
    "408": {},
    "429": {"retry_after": (int, 1)},
    "reset": {},
    "hang": {"max_s": (float, 600.0)},
    "truncated": {},
    "garbage": {},
    "wrong_content_type": {},
    # Definitions server faults: headers and half the body, then nothing (a
    # stalled transfer); a redirect to itself, forever.
    "stall": {"max_s": (float, 600.0)},
    "redirect_loop": {},
    # Content faults (definitions.CONTENT_MODES): what is published, not how
    # one request is answered. Not taken by requests in turn: the document and
    # its .sig both follow the first one queued, until it is cleared.
    **{mode: {} for mode in definitions.CONTENT_MODES},
}


class Fault:
    def __init__(self, mode, params, path, count):
        self.mode = mode
        self.params = params
        self.path = path
        self.remaining = count  # None: until cleared

    def describe(self):
        return {"mode": self.mode, "path": self.path, "remaining": self.remaining, **self.params}


def parse_fault(spec):
    """Build a Fault from a control request or --fault argument; ValueError names the bad field.

    Returns None for mode "none" (clear the faults of `path`).
    """
    if not isinstance(spec, dict):
        raise ValueError("fault: must be an object {mode, ...}")
    spec = dict(spec)
    mode = str(spec.pop("mode", ""))
    path = spec.pop("path", "all")
    if path not in FAULT_PATHS:
        raise ValueError(f"path: must be one of {', '.join(FAULT_PATHS)}")
    count = spec.pop("count", None)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count: must be an integer >= 1")
    if mode == "none":
        if spec:
            raise ValueError(f"mode none takes no parameter: {sorted(spec)}")
        return None
    if mode not in FAULT_MODES:
        raise ValueError(f"mode: must be one of none, {', '.join(FAULT_MODES)}")
    if mode in definitions.CONTENT_MODES and count is not None:
        raise ValueError(f"count: mode {mode} changes the published definitions until cleared; it takes no count")
    if mode in definitions.CONTENT_MODES and path not in ("all", "defs"):
        raise ValueError(f"path: mode {mode} applies to the definitions (path defs)")
    allowed = FAULT_MODES[mode]
    unknown = set(spec) - set(allowed)
    if unknown:
        raise ValueError(f"mode {mode} has no parameter {sorted(unknown)}")
    params = {}
    for name, (kind, default) in allowed.items():
        value = spec.get(name, default)
        if value is None:
            raise ValueError(f"{name}: required for mode {mode}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name}: must be a number >= 0")
        params[name] = kind(value)
    if mode == "status" and not 400 <= params["code"] <= 599:
        raise ValueError("code: must be an HTTP error status, 400-599")
    return Fault(mode, params, path, count)


def parse_fault_arg(text):
    """`MODE[:name=value,...]` -> spec dict; numeric values become numbers."""
    mode, _, rest = text.partition(":")
    spec = {"mode": mode}
    for item in filter(None, rest.split(",")):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--fault {text}: expected name=value, got {item!r}")
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                pass
        spec[name] = value
    return spec


class FaultQueue:
    """Faults in the order they were set; a request takes the first one that applies to its path.

    So `503 x2` then `429 x1` plays out in that order on the next three requests.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, fault):
        with self._lock:
            self._faults.append(fault)

    def clear(self, path="all"):
        with self._lock:
            self._faults = [f for f in self._faults if path != "all" and f.path != path]

    def take(self, kind):
        kinds = ("all", kind, "defs") if kind == "sig" else ("all", kind)
        with self._lock:
            for fault in self._faults:
                if fault.mode in definitions.CONTENT_MODES:
                    continue  # what is published, not how a request is answered: content()
                if fault.path in kinds:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def content(self):
        """The first content fault queued (its mode), or None: what the definitions server publishes."""
        with self._lock:
            return next((f.mode for f in self._faults if f.mode in definitions.CONTENT_MODES), None)

    def describe(self):
        with self._lock:
            return [f.describe() for f in self._faults]


# ---------------------------------------------------------------- request log

class RequestLog:
    """Every non-control request: in memory for /_control/requests, as JSON lines in --log."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._entries = []
        self._seq = 0
        self._file = open(path, "a", encoding="utf-8") if path else None

    def begin(self, entry):
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
        return entry

    def update(self, entry, **fields):
        """Record status and fault as soon as they are known: before the answer
        leaves, so a test that has the answer always finds them in the log."""
        with self._lock:
            entry.update(fields)

    def finish(self, entry, started):
        with self._lock:
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
            line = json.dumps(entry)
            status, fault = entry["status"], entry["fault"]
        target = re.sub(r"([?&]k=)[^&]*", r"\1***", entry["target"])
        print(f"emulator: #{entry['seq']} conn={entry['connection']} {entry['method']} {target} -> "
              f"{status if status is not None else 'no answer'}"
              f"{' fault=' + fault if fault else ''} {entry['duration_ms']:.1f}ms", file=sys.stderr, flush=True)
        if self._file:
            with self._lock:
                self._file.write(line + "\n")
                self._file.flush()

    def entries(self, path_prefix=None):
        with self._lock:
            return [copy.deepcopy(e) for e in self._entries
                    if path_prefix is None or e["path"].startswith(path_prefix)]

    def clear(self):
        with self._lock:
            self._entries.clear()

    def close(self):
        if self._file:
            self._file.close()


# ---------------------------------------------------------------- HTTP

def query_flag(query, name):
    """A boolean query parameter: true only for the value "true", in any case (the last one wins)."""
    return query.get(name, [""])[-1].lower() == "true"


def api_kind(path):
    """"ccs", "ctx", "defs" or "sig" for the API paths (what a fault's `path` selects), else ""."""
    if path == definitions.SIG_PATH:
        return "sig"
    if path == definitions.DOC_PATH:
        return "defs"
    first = path.split("/")[1] if path.count("/") > 1 else ""
    return first if first in ("ccs", "ctx") else ""


def _client_accepts_gzip(header):
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class Handler(http.server.BaseHTTPRequestHandler):
    """One thread per connection; HTTP/1.1 keep-alive, so several requests may arrive on it."""

    # Headers and body go out in separate writes: without TCP_NODELAY every
    # answer on a kept-alive connection waits for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    API_ROUTES = {
        "/ccs/v1/segmentation": "_api_stateful",
        "/ccs/v1/segmentation/stateless": "_api_stateless",
        "/ctx/v1/segment": "_api_contextual",
    }
    CONTROL_ROUTES = {
        ("GET", "/_control/health"): "_control_health",
        ("GET", "/_control/requests"): "_control_requests",
        ("POST", "/_control/fault"): "_control_fault",
        ("POST", "/_control/reset"): "_control_reset",
        ("GET", "/_control/rules"): "_control_get_rules",
        ("POST", "/_control/rules"): "_control_set_rules",
        ("GET", "/_control/schema"): "_control_get_schema",
        ("POST", "/_control/schema"): "_control_set_schema",
        ("GET", "/_control/options"): "_control_get_options",
        ("POST", "/_control/options"): "_control_set_options",
        ("GET", "/_control/definitions"): "_control_get_definitions",
        ("POST", "/_control/definitions"): "_control_set_definitions",
    }

    def setup(self):
        super().setup()
        self.connection_id = self.server.next_connection_id()

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def version_string(self):
        return "cohort-emulator/1.0"

    def log_request(self, code="-", size="-"):
        """Silenced: RequestLog writes one richer line per request."""

    def log_message(self, format, *args):  # noqa: A002 (base-class signature)
        print(f"emulator: conn={getattr(self, 'connection_id', '-')} {format % args}", file=sys.stderr, flush=True)

    # -- request plumbing

    def _dispatch(self):
        started = time.monotonic()
        self.request_id = str(uuid.uuid4())
        target = urlsplit(self.path)
        query = parse_qs(target.query, keep_blank_values=True)
        try:
            body, body_error = self._read_body(), None
        except ApiError as error:
            body, body_error = b"", error
        self.log_entry, self.response_status = None, None
        if target.path.startswith("/_control/"):
            self._serve_control(target.path, query, body, body_error)
            return
        self.log_entry = self.server.log.begin(self._log_entry(target, query, body))
        try:
            self._serve_api(target.path, query, body, body_error)
        except OSError:  # the client went away while we answered
            self.close_connection = True
        finally:
            self.server.log.finish(self.log_entry, started)

    def _log_entry(self, target, query, body):
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        text = body.decode("utf-8", "replace")
        try:
            parsed, is_json = json.loads(text), True
        except ValueError:
            parsed, is_json = (text or None), False
        return {"time": time.time(), "connection": self.connection_id, "method": self.command,
                "target": self.path, "path": target.path, "query": query, "key_in_url": "k" in query,
                "key_in": self._key_source(query)[0],
                "synchronous_validation": query_flag(query, "synchronous-validation"),
                "headers": headers, "body": parsed, "body_is_json": is_json, "status": None, "fault": None,
                "ignored_events": []}

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = self._read_chunked()
        else:
            length = self.headers.get("Content-Length")
            if length is None:
                return b""
            if not length.strip().isdigit():
                self.close_connection = True
                raise ApiError(400, "Content-Length: not a number")
            if int(length) > MAX_BODY_BYTES:
                self._discard(int(length))
                raise ApiError(413, f"body larger than {MAX_BODY_BYTES} bytes")
            body = self.rfile.read(int(length))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as error:
                raise ApiError(400, "Content-Encoding gzip: body is not valid gzip", cause=str(error))
        return body

    def _discard(self, length):
        """Read and drop an oversized body, so the client gets to read the 413
        instead of a reset for writing into a closed connection."""
        if length > MAX_DISCARD_BYTES:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)

    def _read_chunked(self):
        body = b""
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "Transfer-Encoding chunked: bad chunk size")
            if len(body) + size > MAX_BODY_BYTES:
                self.close_connection = True
                raise ApiError(413, f"body larger than {MAX_BODY_BYTES} bytes")
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _send(self, status, body, content_type, headers=(), compress=False, declared_length=None):
        if compress and body and _client_accepts_gzip(self.headers.get("Accept-Encoding")):
            body = gzip.compress(body)
            headers = (*headers, ("Content-Encoding", "gzip"))
        self.response_status = status
        if self.log_entry is not None:
            self.server.log.update(self.log_entry, status=status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
        self.send_header("X-Request-Id", self.request_id)
        if compress:
            self.send_header("Vary", "Accept-Encoding")
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status, obj, headers=()):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self._send(status, body, "application/json", headers, compress=True)

    def _send_error_json(self, error):
        docs = DOCS_URLS.get(api_kind(urlsplit(self.path).path), DOCS_URLS["ccs"])
        body = error_body(error.status, error.message, self.request_id, error.cause, docs)
        self._send_json(error.status, body, error.headers)

    @staticmethod
    def _json_object(body):
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ApiError(400, "body: not valid JSON", cause=str(error))
        if not isinstance(obj, dict):
            raise ApiError(400, "body: must be a JSON object")
        return obj

    # -- the APIs

    def _serve_api(self, path, query, body, body_error):
        try:
            if body_error:
                raise body_error
            kind = api_kind(path)
            fault = self.server.faults.take(kind)
            if fault:
                self.server.log.update(self.log_entry, fault=fault.mode)
            if fault and fault.mode != "latency":
                self._play_fault(fault, kind)
            elif fault and self.server.stopping.wait(fault.params["delay_ms"] / 1000):
                self.close_connection = True  # shutting down: answer nothing
            else:
                self._route_api(path, query, body)
        except ApiError as error:
            self._send_error_json(error)
        except OSError:
            raise
        except Exception as error:  # a bug here must still answer, and say so
            traceback.print_exc()
            self._send_error_json(ApiError(500, "emulator internal error", cause=repr(error)))

    def _route_api(self, path, query, body):
        if path in (definitions.DOC_PATH, definitions.SIG_PATH):
            self._serve_definitions(path, query)
            return
        method = self.API_ROUTES.get(path)
        if method is None:
            raise ApiError(404, f"no endpoint {path}")
        if self.command != "POST":
            raise ApiError(405, f"{path} takes POST", headers=[("Allow", "POST")])
        self._check_api_key(query)
        content_type = self.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, "Content-Type: must be application/json", cause=f"got {content_type!r}")
        self._send_json(200, getattr(self, method)(self._json_object(body), query))

    def _serve_definitions(self, path, query):
        """The signed definitions document or its .sig, a static file with an ETag (304 on a match)."""
        if self.command != "GET":
            raise ApiError(405, f"{path} takes GET", headers=[("Allow", "GET")])
        self._check_api_key(query)
        content_fault = self.server.faults.content()
        if content_fault:
            self.server.log.update(self.log_entry, fault=content_fault)
        document, signature = self.server.publisher.served(content_fault)
        body, content_type = ((signature, "text/plain; charset=us-ascii") if path == definitions.SIG_PATH
                              else (document, "application/json"))
        tag = definitions.etag(body)
        headers = [("ETag", tag)]
        cache_control = self.server.options.get("definitions_cache_control")
        if cache_control:
            headers.append(("Cache-Control", cache_control))
        if definitions.etag_matches(self.headers.get("If-None-Match"), tag):
            self._send(304, b"", content_type, headers)
        else:
            self._send(200, body, content_type, headers)

    def _key_source(self, query):
        """("header" | "query" | None, the key): the two ways the documents allow; the header wins."""
        supplied = self.headers.get("X-Api-Key")
        if supplied is not None:
            return "header", supplied
        if "k" in query:
            return "query", query["k"][-1]
        return None, None

    def _check_api_key(self, query):
        expected = self.server.api_key
        if expected is None:
            return
        source, supplied = self._key_source(query)
        if source is None:
            raise ApiError(401, "missing API key: send it in the X-Api-Key header or the k query parameter")
        if not hmac.compare_digest(supplied.encode(), expected.encode()):
            where = "X-Api-Key header" if source == "header" else "k query parameter"
            raise ApiError(403, "invalid API key", cause=f"the key in the {where} is not this workspace's")

    def _wants_activations(self, query):
        return query_flag(query, "activations") and not self.server.options.get("omit_activations")

    def _segment(self, segment, request, query):
        """Run a CCS endpoint; the events the schema made it ignore go to the request log."""
        answer, ignored = segment(request, self._wants_activations(query),
                                  query_flag(query, "synchronous-validation"))
        self.server.log.update(self.log_entry, ignored_events=ignored)
        return answer

    def _api_stateful(self, request, query):
        return self._segment(self.server.backend.segment_stateful, request, query)

    def _api_stateless(self, request, query):
        return self._segment(self.server.backend.segment_stateless, request, query)

    def _api_contextual(self, request, _query):
        return self.server.backend.segment_contextual(request)

    # -- faults

    def _play_fault(self, fault, kind):
        """Misbehave as `fault` says. The request never reaches the API logic, so it changes no state."""
        mode, params = fault.mode, fault.params
        if mode == "status" or mode.isdigit():
            status = params["code"] if mode == "status" else int(mode)
            headers = []
            if params.get("retry_after"):
                headers.append(("Retry-After", str(params["retry_after"])))
            if status == 405:
                # RFC 9110 requires Allow on a 405; a static site at a wrong base URL allows reads only.
                headers.append(("Allow", "GET, HEAD"))
            if status == 408:
                self.close_connection = True
            self._send_error_json(ApiError(status, f"injected fault: {mode}", headers=headers))
        elif mode == "reset":
            self._reset_connection()
        elif mode == "hang":
            self._hang(params["max_s"])
        elif mode in ("truncated", "stall"):
            body = self._fault_body(kind)
            self.close_connection = True
            self._send(200, body[:len(body) // 2], "application/json", declared_length=len(body))
            if mode == "stall":
                self.wfile.flush()
                self._hang(params["max_s"])
        elif mode == "redirect_loop":
            self._send(302, b"", "text/plain", [("Location", self.path)])
        elif mode == "garbage":
            self._send(200, b"\x00\xff garbage {{{ not json", "application/json")
        elif mode == "wrong_content_type":
            html = f"<!DOCTYPE html><html><body><h1>Captive portal</h1><p>{kind}</p></body></html>"
            self._send(200, html.encode(), "text/html; charset=utf-8")
        else:
            raise AssertionError(f"unhandled fault mode {mode}")

    def _fault_body(self, kind):
        """A genuine answer of the path, for the faults that cut it short."""
        if kind in ("defs", "sig"):
            document, signature = self.server.publisher.served(self.server.faults.content())
            return signature if kind == "sig" else document
        return json.dumps({"user_id": str(uuid.uuid4()), "cohorts": ["12345", "67890"],
                           "activations": {"dfp": ["12345"]}}).encode()

    def _reset_connection(self):
        """Close with SO_LINGER 0 so the kernel sends RST instead of FIN.

        The buffered reader holds a reference to the socket, and a socket with
        such references is not really closed by close(); so it goes first.
        """
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        self.close_connection = True

    def _hang(self, max_s):
        """Read and drop whatever arrives until the client closes, max_s passes, or the server stops."""
        deadline = time.monotonic() + max_s
        self.close_connection = True
        while not self.server.stopping.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.1)
            if readable:
                try:
                    if not self.connection.recv(4096):
                        return
                except (OSError, ssl.SSLError):
                    return

    # -- control API

    def _serve_control(self, path, query, body, body_error):
        try:
            if body_error:
                raise body_error
            method = self.CONTROL_ROUTES.get((self.command, path))
            if method is None:
                if any(p == path for _, p in self.CONTROL_ROUTES):
                    raise ApiError(405, f"{path}: method {self.command} not allowed")
                raise ApiError(404, f"no control endpoint {path}")
            self._send_json(200, getattr(self, method)(body, query))
        except ApiError as error:
            self._send_error_json(error)
        print(f"emulator: control {self.command} {self.path} -> {self.response_status}", file=sys.stderr, flush=True)

    def _control_health(self, _body, _query):
        return {"status": "ok", "pid": os.getpid(), "tls": self.server.tls is not None,
                "faults": self.server.faults.describe(), "users": self.server.backend.user_count(),
                "requests": len(self.server.log.entries())}

    def _control_requests(self, _body, query):
        prefix = query.get("path_prefix", [None])[-1]
        return {"requests": self.server.log.entries(prefix)}

    def _control_fault(self, body, _query):
        spec = self._json_object(body)
        try:
            fault = parse_fault(spec)
        except ValueError as error:
            raise ApiError(400, str(error))
        if fault is None:
            self.server.faults.clear(spec.get("path", "all"))
        else:
            self.server.faults.add(fault)
        return {"faults": self.server.faults.describe()}

    def _control_reset(self, _body, _query):
        self.server.faults.clear()
        self.server.backend.reset()
        self.server.options.reset()
        self.server.publisher.reset()
        self.server.log.clear()
        return {"status": "reset"}

    def _control_get_rules(self, _body, _query):
        return self.server.backend.rules.doc

    def _control_set_rules(self, body, _query):
        try:
            rules = Rules(self._json_object(body))
        except ValueError as error:
            raise ApiError(400, str(error))
        self.server.backend.set_rules(rules)
        return rules.doc

    def _control_get_schema(self, _body, _query):
        return self.server.backend.schema.doc

    def _control_set_schema(self, body, _query):
        try:
            schema = EventSchema(self._json_object(body))
        except ValueError as error:
            raise ApiError(400, str(error))
        self.server.backend.set_schema(schema)
        return schema.doc

    def _control_get_definitions(self, _body, _query):
        return self.server.publisher.describe()

    def _control_set_definitions(self, body, _query):
        """Publish the body, byte for byte (signed by the emulator): whatever it holds, as a publisher might."""
        if not body:
            raise ApiError(400, "body: the definitions document to publish (empty)")
        self.server.publisher.publish(body)
        return self.server.publisher.describe()

    def _control_get_options(self, _body, _query):
        return self.server.options.describe()

    def _control_set_options(self, body, _query):
        try:
            return self.server.options.update(self._json_object(body))
        except ValueError as error:
            raise ApiError(400, str(error))


class EmulatorServer(http.server.ThreadingHTTPServer):
    def __init__(self, address, backend, api_key=None, tls=None, log_path=None, publisher=None):
        super().__init__(address, Handler)
        self.backend = backend
        self.publisher = publisher or definitions.Publisher()
        self.api_key = api_key
        self.tls = tls
        self.faults = FaultQueue()
        self.options = Options()
        self.log = RequestLog(log_path)
        self.stopping = threading.Event()  # wakes latency and hang faults at shutdown
        self._connections = 0
        self._connections_lock = threading.Lock()

    def next_connection_id(self):
        with self._connections_lock:
            self._connections += 1
            return self._connections

    def finish_request(self, request, client_address):
        """Runs in the connection's own thread, so a slow TLS handshake never blocks accept()."""
        if self.tls is not None:
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as error:
                print(f"emulator: TLS handshake with {client_address[0]}:{client_address[1]} failed: {error}",
                      file=sys.stderr, flush=True)
                return
        super().finish_request(request, client_address)


# ---------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--api-key", help="require this key in X-Api-Key (or ?k=)")
    parser.add_argument("--rules", help="rules JSON file (default: the built-in rules)")
    parser.add_argument("--schema", help="workspace event schema JSON file (default: the built-in schema)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--log", help="append every request as a JSON line to this file")
    parser.add_argument("--definitions", metavar="FILE",
                        help="the definitions document to publish, byte for byte (default: the sample cohorts, version 1)")
    parser.add_argument("--definitions-key", metavar="KEY", default=definitions.DEFAULT_KEY,
                        help="EC P-256 private key (PEM) that signs it (default: the demo key of samples/)")
    parser.add_argument("--fault", action="append", default=[], metavar="MODE[:name=value,...]",
                        help="queue a fault at start-up (repeatable), e.g. status:code=503,count=2")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    try:
        if args.rules:
            args.rules = Rules(_load_json(args.rules))
        else:
            args.rules = Rules(DEFAULT_RULES)
        args.schema = EventSchema(_load_json(args.schema) if args.schema else DEFAULT_SCHEMA)
        args.fault = [parse_fault(parse_fault_arg(text)) for text in args.fault]
        document = None
        if args.definitions:
            with open(args.definitions, "rb") as f:
                document = f.read()
        args.publisher = definitions.Publisher(args.definitions_key, document)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    return args


def _load_json(path):
    """A start-up file; a file that is not JSON stops start-up naming the file."""
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except ValueError as error:
            raise ValueError(f"{path}: not valid JSON: {error}") from None


def write_port_file(path, port):
    """Atomically, so a test polling for the file never reads it half-written."""
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.replace(temporary, path)


def main(argv=None):
    args = parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    server = EmulatorServer((args.host, args.port), Backend(args.rules, args.schema), args.api_key, tls, args.log,
                            args.publisher)
    for fault in args.fault:
        if fault is not None:
            server.faults.add(fault)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    serving.start()
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print(f"emulator: listening on {'https' if tls else 'http'}://{args.host}:{port} pid={os.getpid()}",
          file=sys.stderr, flush=True)

    stop.wait()
    server.stopping.set()
    server.shutdown()
    server.server_close()
    server.log.close()
    if args.port_file:
        try:
            os.unlink(args.port_file)
        except FileNotFoundError:
            pass
    print("emulator: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
