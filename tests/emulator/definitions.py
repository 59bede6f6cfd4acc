"""The signed cohort definitions document the emulator publishes (cohorts.definitions_url).

A static host or CDN in the real world: the document at DOC_PATH, its detached
signature at the same URL plus ".sig" (base64 of the DER ECDSA P-256 / SHA-256
signature, as `openssl dgst -sha256 -sign KEY | base64 -w0` writes it), each
with an ETag. Signed with the openssl CLI (on every Debian), so the emulator
stays standard-library Python. The content faults model a publisher that
gets it wrong (an older version, the same version with other bytes, a
document over 4 MiB, a valid signature over an invalid document, ...): each
changes what is published, the document and its signature together, until it
is cleared.
"""

import base64
import hashlib
import json
import os
import subprocess
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "samples", "definitions"))
DEFAULT_KEY = os.path.join(SAMPLES, "keys", "demo-key.pem")
DEFAULT_PUBLIC_KEY = os.path.join(SAMPLES, "keys", "demo-pub.pem")
SAMPLE_COHORTS = os.path.join(SAMPLES, "cohorts.json")

DOC_PATH = "/definitions/v1/cohorts.json"
SIG_PATH = DOC_PATH + ".sig"
# The agent refuses a document larger than this (4 MiB).
MAX_DOC_BYTES = 4 << 20

# Content faults: what the publisher serves instead of its document.
CONTENT_MODES = (
    "bad_signature",     # the document, with a genuine signature of other bytes
    "wrong_key",         # the document, signed with a key the devices do not have
    "older_version",     # the document with version - 1, signed
    "same_version",      # the same version with other bytes (a cohort renamed), signed
    "oversize",          # the document padded past 4 MiB (still valid JSON), signed
    "signed_truncated",  # the first half of the document, signed: a valid signature over invalid JSON
    "invalid_json",      # a higher version that is not JSON, signed
    "invalid_rules",     # a higher version, valid JSON, a rule the agent refuses, signed
)


class SigningError(RuntimeError):
    pass


def _openssl(args, data=b""):
    try:
        run = subprocess.run(["openssl", *args], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SigningError(f"openssl {args[0]}: {error}") from None
    if run.returncode != 0:
        raise SigningError(f"openssl {' '.join(args)}: {run.stderr.decode(errors='replace').strip()}")
    return run.stdout


def sign(key_path, data):
    """The .sig file of data: base64 (one line, no newline) of the DER signature."""
    return base64.b64encode(_openssl(["dgst", "-sha256", "-sign", key_path], data))


def etag(data):
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def etag_matches(if_none_match, tag):
    """If-None-Match against our (strong) tag: "*", or any listed tag, weak or not (RFC 9110 13.1.2)."""
    if if_none_match is None:
        return False
    for item in if_none_match.split(","):
        item = item.strip()
        if item == "*" or (item[2:] if item.startswith("W/") else item) == tag:
            return True
    return False


def version_of(data):
    """The top-level integer "version" of a document, or None."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def with_version(doc, version):
    """The document (a dict) with `version` first, as bytes."""
    rest = {k: v for k, v in doc.items() if k != "version"}
    return (json.dumps({"version": version, **rest}, indent=1) + "\n").encode()


def sample_document(version=1):
    """samples/definitions/cohorts.json with a version: what is published by default."""
    with open(SAMPLE_COHORTS, encoding="utf-8") as f:
        return with_version(json.load(f), version)


class Publisher:
    """The document and its signature as published; thread-safe. Signatures are cached per content."""

    def __init__(self, key_path=DEFAULT_KEY, document=None):
        if not os.path.isfile(key_path):
            raise ValueError(f"{key_path}: no such signing key")
        self.key_path = key_path
        self._start = document if document is not None else sample_document()
        self._document = self._start
        self._lock = threading.Lock()
        self._signatures = {}
        self._other_key_dir = None

    def publish(self, data):
        with self._lock:
            self._document = bytes(data)

    def reset(self):
        with self._lock:
            self._document = self._start

    def document(self):
        with self._lock:
            return self._document

    def describe(self):
        data = self.document()
        return {"path": DOC_PATH, "version": version_of(data), "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "etag": etag(data)}

    def _signature(self, data, key_path=None):
        key_path = key_path or self.key_path
        cache_key = (key_path, hashlib.sha256(data).digest())
        with self._lock:
            cached = self._signatures.get(cache_key)
        if cached is None:
            cached = sign(key_path, data)
            with self._lock:
                if len(self._signatures) > 64:
                    self._signatures.clear()
                self._signatures[cache_key] = cached
        return cached

    def _other_key(self):
        """A P-256 key no device trusts, made on first use (kept for the process's life)."""
        with self._lock:
            if self._other_key_dir is None:
                self._other_key_dir = tempfile.TemporaryDirectory(prefix="emulator-key-")
                path = os.path.join(self._other_key_dir.name, "other-key.pem")
                with open(path, "wb") as f:
                    f.write(_openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"]))
            return os.path.join(self._other_key_dir.name, "other-key.pem")

    def served(self, content_fault=None):
        """(document bytes, .sig bytes) as served, with a content fault applied."""
        data = self.document()
        if content_fault is None:
            return data, self._signature(data)
        if content_fault == "bad_signature":
            return data, self._signature(data + b" ")
        if content_fault == "wrong_key":
            return data, self._signature(data, self._other_key())
        faulty = self._faulty(data, content_fault)
        return faulty, self._signature(faulty)

    @staticmethod
    def _faulty(data, mode):
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = None
        if not isinstance(doc, dict):
            doc = {"cohorts": []}
        version = doc.get("version") if isinstance(doc.get("version"), int) else 0
        if mode == "older_version":
            return with_version(doc, version - 1)
        if mode == "same_version":
            edited = json.loads(json.dumps(doc))
            cohorts = edited.get("cohorts")
            if isinstance(cohorts, list) and cohorts and isinstance(cohorts[0], dict):
                cohorts[0]["name"] = f"{cohorts[0].get('name', '')} (edited)"
            faulty = with_version(edited, version)
            return faulty if faulty != data else data + b"\n"
        if mode == "oversize":
            body = data.rstrip()
            return body + b" " * (MAX_DOC_BYTES + 1024 - len(body)) + b"\n"
        if mode == "signed_truncated":
            return data[:len(data) // 2]
        if mode == "invalid_json":
            return f'{{"version": {version + 1}, "cohorts": [{{"id": "1001", "rule": '.encode()
        if mode == "invalid_rules":
            rule = {"logic": "AND", "conditions": [
                {"type": "event", "event_type": "Videoview", "operator": "median", "value": 2, "window_days": 30}]}
            return with_version({"cohorts": [{"id": "1001", "name": "Broken", "rule": rule}]}, version + 1)
        raise AssertionError(f"unhandled content fault {mode}")
