#!/usr/bin/env bash
# Builds the Debian packages cohortd, libcohort0 and libcohort-dev for each
# target from its size-first release build, into build/packages/.
#
#   scripts/package.sh [TARGET...]      TARGET: host (amd64), aarch64 (arm64), armhf
#
# The presets (host-size, aarch64-release, armhf-release) install under /usr,
# so the unit, cohort.pc and the CMake package name the packaged paths, and
# build with Debian's hardening flags (COHORT_HARDEN). Then lintian --pedantic
# checks every package built: an error or a warning fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
out=build/packages
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(host aarch64 armhf)

preset_of() {
  case $1 in
    host) echo host-size ;;
    aarch64 | armhf) echo "$1-release" ;;
    *) echo "package.sh: unknown target $1 (host, aarch64, armhf)" >&2; return 1 ;;
  esac
}

mkdir -p "$out"
for t in "${targets[@]}"; do
  preset=$(preset_of "$t")
  dir=build/$preset
  echo "== $t ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  arch=$(sed -n 's/^set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "\(.*\)")$/\1/p' "$dir/CPackConfig.cmake")
  rm -rf "$dir/cpack"
  (cd "$dir" && cpack -G DEB -B "$PWD/cpack" >cpack.log 2>&1) || { cat "$dir/cpack.log"; exit 1; }
  rm -f "$out"/*_"$arch".deb
  for deb in "$dir"/cpack/*.deb; do
    cp "$deb" "$out/"
    printf '   %-40s %8d bytes  Depends: %s\n' "$(basename "$deb")" "$(stat -c %s "$deb")" \
      "$(dpkg-deb -f "$deb" Depends)"
  done
done
echo "packages in $out/"
# lintian --pedantic: no error, no warning (tests/packaging/lintian_check.sh).
if command -v lintian >/dev/null; then
  echo "== lintian"
  debs=()
  for t in "${targets[@]}"; do
    arch=$(sed -n 's/^set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "\(.*\)")$/\1/p' "build/$(preset_of "$t")/CPackConfig.cmake")
    debs+=("$out"/*_"$arch".deb)
  done
  tests/packaging/lintian_check.sh "${debs[@]}"
else
  echo "lintian is not installed (make deps): the packages are not checked" >&2
fi
