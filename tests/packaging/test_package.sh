#!/usr/bin/env bash
# Builds the native (amd64) Debian packages and checks them without installing
# anything: each .deb is unpacked with `dpkg-deb -x` into a scratch root, then
#   - the package metadata (architecture, dependencies, conffiles, scripts),
#   - the unpacked cohortd: --version, --check-config on the shipped config,
#     and a run on a scratch socket answering `cohortctl status`,
#   - an app built against the unpacked libcohort-dev: with pkg-config
#     (PKG_CONFIG_SYSROOT_DIR/PKG_CONFIG_LIBDIR into the root), shared and
#     static, and with CMake find_package(cohort) (CMAKE_PREFIX_PATH into it).
#
#   tests/packaging/test_package.sh [WORK_DIR]
#
# WORK_DIR (default: a temporary directory, removed afterwards) keeps the build
# between runs. COHORT_PACKAGE_BUILD=DIR uses an already built tree configured
# with CMAKE_INSTALL_PREFIX=/usr instead (e.g. build/host-size).
# CMAKE, CPACK, CC: the tools (CTest passes its own).
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
CMAKE=${CMAKE:-cmake}
CPACK=${CPACK:-cpack}
CC=${CC:-cc}
jobs=$(nproc 2>/dev/null || echo 2)

keep=1
if [ $# -ge 1 ]; then
  work=$1
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/cohort-package-XXXXXX")
  keep=0
fi
work=$(cd "$work" && pwd)
# Every run starts from empty data directories (a kept work dir has old ones).
rm -rf "$work"/*.data "$work/cmake-app/data" "$work/cmake-app/data_static"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; fi
  [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# --- build the packages ---------------------------------------------------------
if [ -n "${COHORT_PACKAGE_BUILD:-}" ]; then
  build=$COHORT_PACKAGE_BUILD
else
  build=$work/build
  step "configure and build (size-first release, prefix /usr) in $build"
  "$CMAKE" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=MinSizeRel -DCOHORT_SIZE=ON \
    -DCOHORT_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_C_COMPILER="$CC" \
    ${CXX:+-DCMAKE_CXX_COMPILER="$CXX"} >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; fail "configure"; }
  "$CMAKE" --build "$build" -j"$jobs" >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; fail "build"; }
fi
arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
pkgs=$work/packages
rm -rf "$pkgs"
step "cpack -G DEB"
(cd "$build" && "$CPACK" -G DEB -B "$pkgs" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }

version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
declare -A deb
for p in cohortd libcohort0 libcohort-dev; do
  deb[$p]=$pkgs/${p}_${version}_${arch}.deb
  [ -f "${deb[$p]}" ] || { ls -l "$pkgs"; fail "missing ${p}_${version}_${arch}.deb"; }
  printf '   %-44s %7d bytes\n' "$(basename "${deb[$p]}")" "$(stat -c %s "${deb[$p]}")"
done

# --- metadata -------------------------------------------------------------------
step "package metadata"
field() { dpkg-deb -f "$1" "$2"; }
for p in cohortd libcohort0 libcohort-dev; do
  [ "$(field "${deb[$p]}" Package)" = "$p" ] || fail "$p: Package field"
  [ "$(field "${deb[$p]}" Architecture)" = "$arch" ] || fail "$p: Architecture is not $arch"
done
# Libraries co-installable for several architectures (arm64 and armhf beside amd64).
[ "$(field "${deb[libcohort0]}" Multi-Arch)" = same ] || fail "libcohort0: Multi-Arch is not same"
[ "$(field "${deb[libcohort-dev]}" Multi-Arch)" = same ] || fail "libcohort-dev: Multi-Arch is not same"
[ "$(field "${deb[cohortd]}" Multi-Arch)" = foreign ] || fail "cohortd: Multi-Arch is not foreign"
depends_d=$(field "${deb[cohortd]}" Depends)
depends_l=$(field "${deb[libcohort0]}" Depends)
depends_dev=$(field "${deb[libcohort-dev]}" Depends)
grep -q "libcohort0 (= $version)" <<<"$depends_d" || fail "cohortd Depends: $depends_d"
grep -q "libcohort0 (= $version)" <<<"$depends_dev" || fail "libcohort-dev Depends: $depends_dev"
for lib in libcurl4 libsqlite3-0 libcjson1 libmbedcrypto7 libc6; do
  grep -q "$lib" <<<"$depends_l" || fail "libcohort0 Depends lacks $lib (from dpkg-shlibdeps): $depends_l"
done
ctl=$work/control
rm -rf "$ctl" && dpkg-deb -e "${deb[cohortd]}" "$ctl"
grep -qx "/etc/cohort/cohortd.json" "$ctl/conffiles" || fail "conffiles: $(cat "$ctl/conffiles")"
grep -q "adduser --system" "$ctl/postinst" && grep -q "useradd --system" "$ctl/postinst" ||
  fail "postinst does not create the system user"
for s in postinst prerm postrm; do
  [ -x "$ctl/$s" ] || fail "$s is not executable"
  sh -n "$ctl/$s" || fail "$s: syntax"
done
rm -rf "$work/control0" && dpkg-deb -e "${deb[libcohort0]}" "$work/control0"
grep -q "^libcohort 0 libcohort0" "$work/control0/shlibs" || fail "libcohort0 has no shlibs file"
echo "   cohortd:       $depends_d"
echo "   libcohort0:    $depends_l"
echo "   libcohort-dev: $depends_dev"

# (grep -q would stop reading early: the writer's SIGPIPE fails the pipeline
# under pipefail. Matches go to /dev/null instead.)
# --- unpack ---------------------------------------------------------------------
root=$work/root
rm -rf "$root" && mkdir -p "$root"
for p in cohortd libcohort0 libcohort-dev; do dpkg-deb -x "${deb[$p]}" "$root"; done
libdir=$root/usr/lib/$triplet
for f in usr/sbin/cohortd usr/bin/cohortctl usr/lib/$triplet/libcohort.so.0 usr/lib/$triplet/libcohort.so \
         usr/lib/$triplet/libcohort.a usr/include/cohort/cohort.h usr/lib/$triplet/pkgconfig/cohort.pc \
         usr/lib/$triplet/cmake/cohort/cohortConfig.cmake usr/lib/systemd/system/cohortd.service \
         etc/cohort/cohortd.json; do
  [ -e "$root/$f" ] || fail "unpacked root lacks /$f"
done
grep -q "^ExecStart=/usr/sbin/cohortd --config /etc/cohort/cohortd.json" "$root/usr/lib/systemd/system/cohortd.service" ||
  fail "cohortd.service does not run /usr/sbin/cohortd with /etc/cohort/cohortd.json"
exported=$(nm -D --defined-only "$libdir/libcohort.so.0" | awk '{print $3}' | grep -v '^cohort_' || true)
[ -z "$exported" ] || fail "libcohort.so exports more than cohort_*: $exported"
if readelf -S "$libdir/libcohort.a" | grep '\.gnu\.lto_' >/dev/null; then fail "libcohort.a still carries LTO bytecode"; fi

# --- the unpacked daemon and CLI ------------------------------------------------
step "unpacked cohortd and cohortctl"
export LD_LIBRARY_PATH=$libdir
ldd "$root/usr/sbin/cohortd" | grep "libcohort.so.0 => $libdir/" >/dev/null || fail "cohortd does not load the unpacked libcohort"
out=$("$root/usr/sbin/cohortd" --version)
[ "$out" = "cohortd $version" ] || fail "cohortd --version: $out"
"$root/usr/sbin/cohortd" --check-config --config "$root/etc/cohort/cohortd.json" >/dev/null ||
  fail "cohortd --check-config rejects the shipped /etc/cohort/cohortd.json"
run=$work/run
rm -rf "$run" && mkdir -p "$run"
cat >"$run/cohortd.json" <<EOF
{"api": {"ccs_url": "http://127.0.0.1:9", "contextual_url": "http://127.0.0.1:9"},
 "consent": {"required": false}, "log": {"level": "warn"}}
EOF
"$root/usr/sbin/cohortd" --config "$run/cohortd.json" --data-dir "$run/data" --socket "$run/s.sock" \
  2>"$run/cohortd.log" &
pid=$!
for _ in $(seq 100); do [ -S "$run/s.sock" ] && break; sleep 0.1; done
[ -S "$run/s.sock" ] || { cat "$run/cohortd.log"; fail "cohortd did not create its socket"; }
status=$("$root/usr/bin/cohortctl" --socket "$run/s.sock" --json status) || fail "cohortctl status"
python3 - "$status" "$version" <<'EOF' || fail "status: $status"
import json, sys
s = json.loads(sys.argv[1])
assert s["version"] == sys.argv[2], s
assert len(s["user_id"]) == 36, s
EOF
"$root/usr/bin/cohortctl" --socket "$run/s.sock" status | sed 's/^/   /'
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
[ "$rc" -eq 0 ] || { cat "$run/cohortd.log"; fail "cohortd exited $rc on SIGTERM"; }
[ ! -e "$run/s.sock" ] || fail "cohortd left its socket behind"

# --- an app against the unpacked -dev package -----------------------------------
app_src=$src/samples/ctv-app/ctv_app.c
export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$libdir/pkgconfig
unset PKG_CONFIG_PATH
step "pkg-config: $(pkg-config --modversion cohort): $(pkg-config --cflags --libs cohort)"
[ "$(pkg-config --modversion cohort)" = "$version" ] || fail "pkg-config --modversion"
pkg-config --cflags cohort | grep -- "-I$root/usr/include" >/dev/null || fail "pkg-config --cflags ignores the sysroot"
# shellcheck disable=SC2046
"$CC" -Werror -o "$work/app_pc" "$app_src" $(pkg-config --cflags --libs cohort) || fail "compile with pkg-config"
ldd "$work/app_pc" | grep "libcohort.so.0 => $libdir/" >/dev/null || fail "app_pc does not load the unpacked libcohort"
"$work/app_pc" "$work/app_pc.data" >"$work/app_pc.out" || { cat "$work/app_pc.out"; fail "app (pkg-config, shared)"; }
grep -q "^libcohort $version" "$work/app_pc.out" || fail "app_pc output: $(head -1 "$work/app_pc.out")"
static_libs=$(pkg-config --static --libs cohort | sed 's/-lcohort\b/-l:libcohort.a/')
# shellcheck disable=SC2046,SC2086
"$CC" -o "$work/app_pc_static" "$app_src" $(pkg-config --cflags cohort) $static_libs || fail "static link with pkg-config --static"
if ldd "$work/app_pc_static" | grep libcohort >/dev/null; then fail "app_pc_static loads libcohort.so"; fi
(unset LD_LIBRARY_PATH; "$work/app_pc_static" "$work/app_pc_static.data" >/dev/null) || fail "app (pkg-config, static)"
echo "   shared and static apps built and ran"
# The shipped (size-first) library still turns std::bad_alloc into COHORT_ENOMEM.
# shellcheck disable=SC2046
"${CXX:-c++}" -std=c++17 -o "$work/enomem_probe" "$src/tests/packaging/enomem_probe.cpp" $(pkg-config --cflags --libs cohort) ||
  fail "compile enomem_probe"
rm -rf "$work/enomem.data"
"$work/enomem_probe" "$work/enomem.data" | sed 's/^/   /' || fail "exceptions at the C boundary (enomem_probe)"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

step "CMake find_package(cohort) with CMAKE_PREFIX_PATH=$root/usr"
proj=$work/cmake-app
rm -rf "$proj" && mkdir -p "$proj"
cp "$app_src" "$proj/app.c"
cat >"$proj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(cohort 0.1 REQUIRED)
message(STATUS "cohort ${cohort_VERSION} from ${cohort_DIR}")
add_executable(app app.c)
target_link_libraries(app PRIVATE cohort::cohort)
add_executable(app_static app.c)
target_link_libraries(app_static PRIVATE cohort::cohort_static)
EOF
"$CMAKE" -S "$proj" -B "$proj/build" -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_C_COMPILER="$CC" \
  >"$proj/configure.log" 2>&1 || { cat "$proj/configure.log"; fail "configure the app with find_package(cohort)"; }
grep -q "cohort $version from $root/usr/lib/$triplet/cmake/cohort" "$proj/configure.log" ||
  { cat "$proj/configure.log"; fail "find_package(cohort) did not find the unpacked package"; }
"$CMAKE" --build "$proj/build" >"$proj/build.log" 2>&1 || { cat "$proj/build.log"; fail "build the app"; }
ldd "$proj/build/app" | grep "libcohort.so.0 => $libdir/" >/dev/null || fail "app does not load the unpacked libcohort"
"$proj/build/app" "$proj/data" >/dev/null || fail "app (find_package, shared)"
if ldd "$proj/build/app_static" | grep libcohort >/dev/null; then fail "app_static loads libcohort.so"; fi
(unset LD_LIBRARY_PATH; "$proj/build/app_static" "$proj/data_static" >/dev/null) || fail "app (find_package, static)"
echo "   cohort::cohort and cohort::cohort_static built and ran"
step "packages OK"
