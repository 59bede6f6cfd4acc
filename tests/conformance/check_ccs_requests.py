#!/usr/bin/python3
"""Validate the CCS request bodies of API emulator logs against the published
OpenAPI schema of the stateless segmentation endpoint.

    /usr/bin/python3 -I tests/conformance/check_ccs_requests.py LOG.jsonl [LOG.jsonl ...]

Each LOG is an emulator request log (`emulator.py --log FILE`: one JSON object
per request per line, with "seq", "path", "body", "body_is_json"). Every entry
whose path starts with /ccs/ must carry a JSON body valid against
components.schemas.SegmentationRequestWithState of
ccs-stateless-segmentation.openapi.yaml (beside this file, kept as published).
OpenAPI 3.1 schemas are JSON Schema 2020-12: the validator is
jsonschema.Draft202012Validator, with formats enforced ("uuid", "date-time",
and OpenAPI's "int32").

Exit status: 0 all valid (one summary line on stderr); 1 violations (one line
each on stdout: log file, request seq, JSON path in the body, message); 2 the
check could not be made (a module or a file missing, a log line that is not
JSON, a format that is not enforced). It never passes by skipping.

Meant for Debian's own interpreter and packages (python3-jsonschema 4.10.3 and
python3-yaml on Debian 12); run it with -I so that no PYTHONPATH or user
site-packages can substitute another jsonschema.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OPENAPI = os.path.join(HERE, "ccs-stateless-segmentation.openapi.yaml")
SCHEMA_NAME = "SegmentationRequestWithState"
CCS_PREFIX = "/ccs/"
MESSAGE_MAX = 300

OK, VIOLATIONS, CANNOT_CHECK = 0, 1, 2


def fail(message):
    print(f"conformance: {message}", file=sys.stderr)
    sys.exit(CANNOT_CHECK)


try:
    import yaml
except ImportError as error:
    fail(f"cannot import yaml ({error}) under {sys.executable}: install Debian's python3-yaml "
         "(apt-get install python3-yaml, or `make deps`)")
try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker
except ImportError as error:
    fail(f"cannot import jsonschema ({error}) under {sys.executable}: install Debian's python3-jsonschema "
         "(apt-get install python3-jsonschema, or `make deps`)")


# ---------------------------------------------------------------- formats

# RFC 3339 section 5.6 `date-time` (what JSON Schema's "date-time" means):
# full-date "T" full-time, where time-offset is "Z" or +hh:mm / -hh:mm ("T" and
# "Z" may be lower case, 5.6 NOTE). ASCII digits only: a bare \d would also
# match other Unicode digits.
#
# Written here, not taken from jsonschema: jsonschema checks "date-time" only
# when the third-party rfc3339-validator module is importable, and Debian 12
# does not package it; python3-jsonschema 4.10.3 alone would let any string
# through. This checker is registered always (also where rfc3339-validator
# exists), so the result is the same everywhere.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")


def _days_in_month(year, month):
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def is_rfc3339_date_time(instance):
    if not isinstance(instance, str):
        return True  # "type" judges non-strings
    match = _DATE_TIME.fullmatch(instance)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    sign, offset_hour, offset_minute = match.group(7), match.group(8), match.group(9)
    offset = 0
    if sign:
        offset_hour, offset_minute = int(offset_hour), int(offset_minute)
        if offset_hour > 23 or offset_minute > 59:
            return False
        offset = (1 if sign == "+" else -1) * (offset_hour * 60 + offset_minute)
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    if second == 60:
        # A leap second is 23:59:60 in UTC (RFC 3339 section 5.7).
        return (hour * 60 + minute - offset) % (24 * 60) == 23 * 60 + 59
    return True


def is_int32(instance):
    """OpenAPI's "int32": a signed 32-bit integer (non-integers are judged by "type")."""
    if isinstance(instance, bool) or not isinstance(instance, int):
        return True
    return -2**31 <= instance < 2**31


def format_checker():
    """Draft 2020-12's checkers of this jsonschema (uuid among them) plus ours."""
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("date-time")(is_rfc3339_date_time)
    checker.checks("int32")(is_int32)
    return checker


# ---------------------------------------------------------------- schema

def load_validator(openapi_path):
    try:
        with open(openapi_path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as error:
        fail(f"cannot read the OpenAPI document {openapi_path}: {error}")
    components = (document or {}).get("components", {})
    if SCHEMA_NAME not in components.get("schemas", {}):
        fail(f"{openapi_path} has no components.schemas.{SCHEMA_NAME}")
    # The request schema by reference, beside the components it refers to:
    # every "#/components/schemas/..." inside resolves against this root.
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{SCHEMA_NAME}",
        "components": components,
    }
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        fail(f"components.schemas of {openapi_path} are not valid JSON Schema 2020-12: {error.message}")
    return Draft202012Validator(schema, format_checker=format_checker())


def errors_of(validator, body):
    """[(JSON path, message)] of every violation, in document order."""
    found = []
    for error in validator.iter_errors(body):
        found.append((json_path(error.absolute_path), short(error.message)))
    return sorted(found)


def json_path(parts):
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def short(text):
    return text if len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX] + "..."


# The check must never pass because a format is silently not enforced (a
# jsonschema without its uuid checker, a date-time checker gone): prove it on
# known-good and known-bad bodies before trusting the answer.
_GOOD_EVENT = {"name": "Pageview", "time": "2024-01-15T10:30:00Z", "properties": {}}
_PROBES = [
    # (what, body, JSON path that must be reported or None for "valid")
    ("a valid body", {"user_id": "2008c38f-dece-4570-976d-87593ed001c3", "events": [_GOOD_EVENT]}, None),
    ("a date-time with an offset and fraction", {"events": [dict(_GOOD_EVENT, time="2024-01-15T10:30:00.179+05:30")]},
     None),
    ("a leap second", {"events": [dict(_GOOD_EVENT, time="2016-12-31T23:59:60Z")]}, None),
    ("uuid: a truncated uuid", {"user_id": "2008c38f-dece-4570-976d-87593ed001c"}, "$.user_id"),
    ("uuid: not a uuid", {"events": [dict(_GOOD_EVENT, session_id="session-1")]}, "$.events[0].session_id"),
    ("date-time: no time zone", {"events": [dict(_GOOD_EVENT, time="2024-01-15T10:30:00")]}, "$.events[0].time"),
    ("date-time: 30 February", {"events": [dict(_GOOD_EVENT, time="2024-02-30T10:30:00Z")]}, "$.events[0].time"),
    ("date-time: a date only", {"events": [dict(_GOOD_EVENT, time="2024-01-15")]}, "$.events[0].time"),
]


def verify_enforcement(validator):
    for what, body, path in _PROBES:
        got = errors_of(validator, body)
        if path is None and got:
            fail(f"self-check: {what} is reported invalid ({got}): the checker is broken")
        if path is not None and [p for p, _ in got] != [path]:
            fail(f"self-check: {what} is not reported at {path} (got {got}): this jsonschema "
                 f"({jsonschema.__file__}) does not enforce the format, the check would pass silently")


# ---------------------------------------------------------------- logs

def read_log(path):
    """[(line number, entry)] of a JSON-lines emulator log."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {path}: {error}")
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as error:
            fail(f"{path}:{number}: not a JSON log line ({error})")
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            fail(f"{path}:{number}: not an emulator log entry (no \"path\")")
        entries.append((number, entry))
    return entries


def check_logs(validator, paths):
    """(number of CCS bodies, [violation lines])."""
    checked, violations = 0, []
    for path in paths:
        for number, entry in read_log(path):
            if not entry["path"].startswith(CCS_PREFIX):
                continue
            checked += 1
            # The API key may ride in the URL (k=): never repeat it.
            target = re.sub(r"([?&]k=)[^&]*", r"\1***", str(entry.get("target", entry["path"])))
            where = f"{path}: request #{entry.get('seq', '?')} (line {number}) {entry.get('method', '?')} {target}"
            if not entry.get("body_is_json"):
                body = entry.get("body")
                shown = "no body" if body in (None, "") else short(repr(body))
                violations.append(f"{where}: $: the body is not JSON: {shown}")
                continue
            for at, message in errors_of(validator, entry.get("body")):
                violations.append(f"{where}: {at}: {message}")
    return checked, violations


def version_of(distribution):
    try:
        from importlib.metadata import version
        return version(distribution)
    except Exception:  # noqa: BLE001 - only for the --verbose line
        return "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", metavar="LOG", help="emulator request log (JSON lines)")
    parser.add_argument("--openapi", default=OPENAPI, help="the OpenAPI document (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also say which interpreter and jsonschema")
    args = parser.parse_args(argv)

    if args.verbose:
        print(f"conformance: python {sys.executable} {sys.version.split()[0]}; "
              f"jsonschema {version_of('jsonschema')} from {os.path.dirname(jsonschema.__file__)}; "
              f"yaml {version_of('PyYAML')} from {os.path.dirname(yaml.__file__)}", file=sys.stderr)
    validator = load_validator(args.openapi)
    verify_enforcement(validator)
    checked, violations = check_logs(validator, args.logs)
    if violations:
        for line in violations:
            print(line)
        print(f"conformance: {len(violations)} violation(s) of {SCHEMA_NAME} in {checked} CCS request bodies",
              file=sys.stderr)
        return VIOLATIONS
    print(f"conformance: {checked} CCS request bodies valid against {SCHEMA_NAME}", file=sys.stderr)
    return OK


if __name__ == "__main__":
    sys.exit(main())
