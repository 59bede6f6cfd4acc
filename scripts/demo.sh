#!/usr/bin/env bash
# The demo: a CTV app links libcohort and plays out a viewing session.
set -euo pipefail
build=${1:-build/host-debug}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== cohort agent demo (data in a scratch directory; offline: no remote API yet) =="
"$build/samples/ctv_app" "$work/data"
echo "== again, after a restart: the same Permutive ID =="
"$build/samples/ctv_app" "$work/data" | grep -E '^  (identity|status)'
