#!/usr/bin/env bash
# Signs a cohort definitions document for devices that fetch it from a URL
# (cohorts.definitions_url): writes DOC.sig, base64 of the DER ECDSA P-256 /
# SHA-256 signature over the exact bytes of DOC, as the agent verifies it.
#
#   scripts/sign-definitions.sh DOC KEY
#
# DOC: the definitions document, with a top-level integer "version" that must
#      be higher than the one the devices have (they refuse an older one, and
#      the same version with other bytes).
# KEY: the publisher's EC P-256 private key (PEM), e.g. made with
#      openssl ecparam -name prime256v1 -genkey -noout -out key.pem
# Serve DOC and DOC.sig side by side (same URL, plus ".sig"); publish DOC
# after DOC.sig, so no device sees the new document with the old signature.
# Needs openssl and python3. Nothing is written when a check fails.
set -euo pipefail

die() {
  echo "sign-definitions.sh: $*" >&2
  exit 2
}

[ $# -eq 2 ] || die "usage: sign-definitions.sh DOC KEY"
doc=$1
key=$2
[ -r "$doc" ] || die "$doc: cannot read"
[ -r "$key" ] || die "$key: cannot read"

# The version decides whether a device takes the document: check it is there.
python3 - "$doc" <<'EOF' || exit 2
import json, sys
path = sys.argv[1]
try:
    with open(path, "rb") as f:
        doc = json.loads(f.read().decode("utf-8"))
except (ValueError, UnicodeDecodeError) as e:
    sys.exit(f"sign-definitions.sh: {path}: not valid JSON ({e})")
if not isinstance(doc, dict):
    sys.exit(f"sign-definitions.sh: {path}: expected a JSON object")
v = doc.get("version")
if v is None:
    sys.exit(f"sign-definitions.sh: {path}: no top-level \"version\" (an integer that increases with each document)")
if isinstance(v, bool) or not isinstance(v, int) or not -2**63 <= v < 2**63:
    sys.exit(f"sign-definitions.sh: {path}: \"version\" must be an integer, not {json.dumps(v)}")
EOF

# Devices verify ECDSA on P-256 only: refuse to sign with anything else.
curve=$(openssl pkey -in "$key" -noout -text 2>/dev/null | sed -n 's/^NIST CURVE: *//p')
[ "$curve" = "P-256" ] || die "$key: not an EC P-256 private key"

tmp=$(mktemp "$doc.sig.XXXXXX")
trap 'rm -f "$tmp"' EXIT
openssl dgst -sha256 -sign "$key" "$doc" | base64 -w0 >"$tmp"
# mktemp made it private; a web server must read it as it reads the document.
chmod --reference="$doc" "$tmp"
mv "$tmp" "$doc.sig"
trap - EXIT
echo "$doc.sig"
