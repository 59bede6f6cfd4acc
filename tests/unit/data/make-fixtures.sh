#!/usr/bin/env bash
# Remakes the signature fixtures of test_signature and test_definitions_doc
# with the openssl CLI. Keys are made once and kept (delete one to remake it);
# every signature is made again (ECDSA signatures differ at each run: the tests
# check that they verify, never their bytes). Run from anywhere:
#   tests/unit/data/make-fixtures.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
sig=$here/signature
defs=$here/definitions
cd "$sig"

# Two P-256 pairs (the key in force and the one rotated in), and keys the
# verifier must refuse: P-384, RSA.
for k in key1 key2; do
  [ -f $k.pem ] || openssl ecparam -name prime256v1 -genkey -noout -out $k.pem
  openssl ec -in $k.pem -pubout -out ${k/key/pub}.pem 2>/dev/null
done
if [ ! -f p384-pub.pem ]; then
  openssl ecparam -name secp384r1 -genkey -noout | openssl ec -pubout -out p384-pub.pem 2>/dev/null
fi
if [ ! -f rsa-pub.pem ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout -out rsa-pub.pem
fi

sign() {  # sign KEY FILE: base64 -w0 of the DER signature, as a publisher makes it
  openssl dgst -sha256 -sign "$1" "$2" | base64 -w0
}
printf '{"version": 7, "cohorts": []}\n' >doc.json
printf '{"version": 7, "cohorts": [] }\n' >other.json
sign key1.pem doc.json >doc.json.sig
sign key2.pem doc.json >doc.json.key2.sig
sign key1.pem other.json >other.json.sig
# The same signature wrapped at 76 columns with a final newline (plain `base64`).
openssl dgst -sha256 -sign key1.pem doc.json | base64 >doc.json.wrapped.sig
# Cut short (a partial download): 40 of the ~96 characters.
head -c 40 doc.json.sig >doc.json.truncated.sig
# What scripts/sign-definitions.sh makes with the demo key of samples/.
cp "$root/samples/definitions/cohorts.json" demo.json
python3 - demo.json <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
assert text.startswith('{"cohorts"')
open(path, "w").write('{"version": 1,\n "cohorts"' + text[len('{"cohorts"'):])
PY
"$root/scripts/sign-definitions.sh" demo.json "$root/samples/definitions/keys/demo-key.pem" >/dev/null

# The definitions documents of test_definitions_doc, each signed with key1.
cd "$defs"
cat >v1.json <<'J'
{"version": 1, "cohorts": [
  {"id": "1001", "name": "Football fans", "activations": ["dfp"],
   "rule": {"logic": "AND", "conditions": [
     {"type": "event", "event_type": "Videoview", "operator": "gte", "value": 2, "window_days": 30}]}}]}
J
sed 's/"version": 1/"version": 2/' v1.json >v2.json
sed 's/"version": 1/"version": 2/; s/Football fans/Football lovers/' v1.json >v2-other.json
# Valid JSON, signed, but a rule the engine refuses.
sed 's/"version": 1/"version": 3/; s/"gte"/"median"/' v1.json >v3-bad-rule.json
# Signed, but cut short: not JSON.
head -c 60 v2.json >v3-truncated.json
printf '{"cohorts": []}\n' >no-version.json
printf '{"version": "3", "cohorts": []}\n' >version-string.json
printf '{"version": 3.5, "cohorts": []}\n' >version-fraction.json
printf '[{"version": 3, "cohorts": []}]\n' >not-object.json
printf '{"version": 3, "cohorts": [}]\n' >not-json.json
printf '{"version": 3, "version": 4, "cohorts": []}\n' >version-twice.json
printf '{"version": 3, "published": "today", "cohorts": []}\n' >extra-key.json
for f in v1 v2 v2-other v3-bad-rule v3-truncated no-version version-string version-fraction not-object \
  not-json version-twice extra-key; do
  sign "$sig/key1.pem" $f.json >$f.json.sig
done

# What the API emulator serves (tests/emulator/definitions.py): its document,
# and under each content fault but oversize (4 MiB: made in memory by the test).
mkdir -p "$here/emulator"
python3 - "$root/tests/emulator" "$here/emulator" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import definitions
out = sys.argv[2]
publisher = definitions.Publisher()
for mode in (None, *definitions.CONTENT_MODES):
    if mode == "oversize":
        continue
    document, signature = publisher.served(mode)
    name = mode or "published"
    with open(f"{out}/{name}.json", "wb") as f:
        f.write(document)
    with open(f"{out}/{name}.json.sig", "wb") as f:
        f.write(signature)
PY
echo "fixtures written under $here"
