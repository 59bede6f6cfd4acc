#!/usr/bin/env bash
# lintian --pedantic on .deb files: prints every tag it finds (errors, warnings,
# info, pedantic), then fails if an error or a warning is left, or one of the
# info tags this project has fixed: hardening-* (fortify, bind-now, ...),
# no-symbols-control-file, package-supports-alternative-init-but-no-init.d-script.
#
#   tests/packaging/lintian_check.sh DEB...
#
# Tolerated, and only while it is true: no-manual-page for a program whose
# page is not in docs/man/ yet (<program>.<section>, e.g. docs/man/cohortd.8).
# Once the page exists, the package must ship it and lintian must be quiet.
# No tag is overridden: the packages ship no lintian overrides.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || { echo "usage: $0 DEB..." >&2; exit 2; }
command -v lintian >/dev/null || { echo "lintian_check: lintian is not installed (make deps)" >&2; exit 1; }

out=$(lintian --pedantic --display-info --tag-display-limit 0 --fail-on none "$@" 2>&1) ||
  { printf '%s\n' "$out"; echo "lintian_check: lintian failed" >&2; exit 1; }
# (Messages about lintian itself, not about the packages.)
out=$(grep -v -e '^running with root privileges' -e '^N: ' <<<"$out" || true)

bad=0 tolerated=0
declare -A count=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  printf '   %s\n' "$line"
  sev=${line%%:*}
  count[$sev]=$(( ${count[$sev]:-0} + 1 ))
  case "$sev" in
    E | W) ;;
    I)
      [[ "$line" =~ ^I:\ [^:]+:\ (hardening-[a-z-]+|no-symbols-control-file|package-supports-alternative-init-but-no-init\.d-script)\  ]] ||
        continue
      ;;
    *) continue ;;
  esac
  # "W: cohortd: no-manual-page [usr/bin/cohortctl]"
  if [[ "$line" =~ ^W:\ [^:]+:\ no-manual-page\ \[.*/([^/]+)\]$ ]]; then
    prog=${BASH_REMATCH[1]}
    if ! compgen -G "$src/docs/man/$prog.[1-8]*" >/dev/null; then
      echo "     (tolerated: docs/man/ has no page for $prog yet)"
      tolerated=$((tolerated + 1))
      continue
    fi
  fi
  bad=$((bad + 1))
done <<<"$out"

summary="E ${count[E]:-0}, W ${count[W]:-0}, I ${count[I]:-0}, P ${count[P]:-0}, X ${count[X]:-0}"
if [ "$bad" -gt 0 ]; then
  echo "lintian_check: $bad tag(s) to fix in $# package(s) ($summary)" >&2
  exit 1
fi
[ "$tolerated" -eq 0 ] || summary="$summary; $tolerated tolerated"
echo "   lintian --pedantic: $# package(s): $summary"
