#!/usr/bin/env bash
# Builds the native (amd64) Debian packages and checks them without installing
# anything: each .deb is unpacked with `dpkg-deb -x` into a scratch root, then
#   - the package metadata (architecture, dependencies, descriptions, conffiles,
#     maintainer scripts, the ldconfig trigger, the symbols file against the
#     library's exports, copyright and changelog in every package),
#   - lintian --pedantic: no error, no warning (lintian_check.sh), and
#     hardening-check on every ELF file (fortify, stack protector, RELRO, bind
#     now, PIE),
#   - the unpacked cohortd: --version, --check-config on the shipped config,
#     and a run on a scratch socket answering `cohortctl status`,
#   - the shipped init script (/etc/init.d/cohortd), as root: start, status,
#     reload, stop of the unpacked daemon as an unprivileged user, in scratch
#     directories, its socket answering,
#   - an app built against the unpacked libcohort-dev: with pkg-config
#     (PKG_CONFIG_SYSROOT_DIR/PKG_CONFIG_LIBDIR into the root), shared and
#     static, and with CMake find_package(cohort) (CMAKE_PREFIX_PATH into it),
#   - the Yocto recipe and the Buildroot package (contrib/) against this
#     build's install manifest and dependencies (check_recipes.py).
#
#   tests/packaging/test_package.sh [WORK_DIR]
#
# WORK_DIR (default: a temporary directory, removed afterwards) keeps the build
# between runs. COHORT_PACKAGE_BUILD=DIR uses an already built tree configured
# with the host-size preset instead (e.g. build/host-size).
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
initd_stop=""  # set while the init script's daemon may run
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; fi
  if [ -n "$initd_stop" ]; then $initd_stop >/dev/null 2>&1 || true; fi
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
  step "configure and build (preset host-size: size-first, hardened, prefix /usr) in $build"
  (cd "$src" && "$CMAKE" --preset host-size -B "$build" -DCMAKE_C_COMPILER="$CC" \
    ${CXX:+-DCMAKE_CXX_COMPILER="$CXX"}) >"$work/configure.log" 2>&1 ||
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
grep -q "adduser" <<<"$depends_d" || fail "cohortd Depends lacks adduser (its postinst creates the user): $depends_d"
grep -q "init-system-helpers (>= 1.54~)" <<<"$(field "${deb[cohortd]}" Pre-Depends)" ||
  fail "cohortd Pre-Depends lacks init-system-helpers (invoke-rc.d --skip-systemd-native)"
# Each package its own summary and long description.
declare -A summary=()
for p in cohortd libcohort0 libcohort-dev; do
  desc=$(field "${deb[$p]}" Description)
  summary[$p]=$(head -1 <<<"$desc")
  [ "$(wc -l <<<"$desc")" -ge 3 ] || fail "$p: no long description: $desc"
done
[ "$(printf '%s\n' "${summary[@]}" | sort -u | wc -l)" -eq 3 ] || fail "the summaries are not distinct: ${summary[*]}"
for p in cohortd libcohort0 libcohort-dev; do
  [ "$(field "${deb[$p]}" Maintainer)" = "cohort agent maintainers <maintainers@cohort-agent.dev>" ] ||
    fail "$p: Maintainer $(field "${deb[$p]}" Maintainer)"
done

for p in cohortd libcohort0 libcohort-dev; do
  rm -rf "$work/control-$p" && dpkg-deb -e "${deb[$p]}" "$work/control-$p"
done
ctl=$work/control-cohortd
for f in /etc/cohort/cohortd.json /etc/cohort/cohorts.json /etc/init.d/cohortd; do
  grep -qx "$f" "$ctl/conffiles" || fail "conffiles lacks $f: $(cat "$ctl/conffiles")"
done
grep -q "adduser --system" "$ctl/postinst" || fail "postinst does not create the system user"
grep -q "update-rc.d cohortd defaults" "$ctl/postinst" && grep -q "update-rc.d cohortd remove" "$ctl/postrm" ||
  fail "the maintainer scripts do not register /etc/init.d/cohortd with update-rc.d"
for s in postinst prerm postrm; do
  [ -x "$ctl/$s" ] || fail "$s is not executable"
  sh -n "$ctl/$s" || fail "$s: syntax"
done
ctl0=$work/control-libcohort0
grep -q "^libcohort 0 libcohort0" "$ctl0/shlibs" || fail "libcohort0 has no shlibs file"
# dpkg's ldconfig trigger, not ldconfig in maintainer scripts.
grep -qx "activate-noawait ldconfig" "$ctl0/triggers" || fail "libcohort0 does not activate the ldconfig trigger"
for s in preinst postinst prerm postrm; do
  [ ! -e "$ctl0/$s" ] || fail "libcohort0 has a $s: $(cat "$ctl0/$s")"
done
[ ! -e "$work/control-libcohort-dev/postinst" ] || fail "libcohort-dev has a postinst"

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
         etc/cohort/cohortd.json etc/cohort/cohorts.json etc/init.d/cohortd \
         usr/share/doc/cohortd/examples/cohorts.json; do
  [ -e "$root/$f" ] || fail "unpacked root lacks /$f"
done
grep -q "^ExecStart=/usr/sbin/cohortd --config /etc/cohort/cohortd.json" "$root/usr/lib/systemd/system/cohortd.service" ||
  fail "cohortd.service does not run /usr/sbin/cohortd with /etc/cohort/cohortd.json"
exported=$(nm -D --defined-only "$libdir/libcohort.so.0" | awk '{print $3}' | grep -v '^cohort_' || true)
[ -z "$exported" ] || fail "libcohort.so exports more than cohort_*: $exported"
if readelf -S "$libdir/libcohort.a" | grep '\.gnu\.lto_' >/dev/null; then fail "libcohort.a still carries LTO bytecode"; fi

# --- symbols, copyright, changelog -------------------------------------------------
step "symbols file, copyright, changelog"
# DEBIAN/symbols lists exactly what libcohort.so.0 exports, each with the version
# it appeared in: as cmake/deb/libcohort0.symbols records it, or this one.
nm -D --defined-only "$libdir/libcohort.so.0" | awk '{print $3}' | sort >"$work/exported"
sed -n 's/^ \([A-Za-z0-9_]*\)@Base .*/\1/p' "$ctl0/symbols" | sort >"$work/listed"
head -1 "$ctl0/symbols" | grep -qx "libcohort.so.0 libcohort0 #MINVER#" || fail "symbols: first line $(head -1 "$ctl0/symbols")"
missing=$(comm -23 "$work/exported" "$work/listed")
[ -z "$missing" ] || fail "DEBIAN/symbols of libcohort0 lacks exported symbol(s): $missing"
extra=$(comm -13 "$work/exported" "$work/listed")
[ -z "$extra" ] || fail "DEBIAN/symbols of libcohort0 lists symbol(s) the library does not export: $extra"
for v in $(awk '/@Base/ {print $2}' "$ctl0/symbols" | sort -u); do
  dpkg --compare-versions "$v" le "$version" || fail "symbols: version $v is after this one ($version)"
done
sed -n 's/^ \([A-Za-z0-9_]*\)@Base .*/\1/p' "$src/cmake/deb/libcohort0.symbols" | sort >"$work/recorded"
gone=$(comm -13 "$work/exported" "$work/recorded")
[ -z "$gone" ] || fail "cmake/deb/libcohort0.symbols records symbol(s) libcohort.so.0 no longer exports (an ABI break: restore them, or before their version is released drop the lines): $gone"
new_syms=$(comm -23 "$work/exported" "$work/recorded" | tr '\n' ' ')
echo "   symbols: $(wc -l <"$work/exported") exported, all in DEBIAN/symbols${new_syms:+; new in $version (record in cmake/deb/libcohort0.symbols at release): $new_syms}"
for p in cohortd libcohort0 libcohort-dev; do
  doc=$root/usr/share/doc/$p
  [ -f "$doc/copyright" ] || fail "$p has no /usr/share/doc/$p/copyright"
  grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" "$doc/copyright" ||
    fail "$p: copyright is not machine-readable (DEP-5)"
  grep -qx "License: Expat" "$doc/copyright" || fail "$p: copyright does not state the MIT (Expat) licence"
  [ -f "$doc/changelog.gz" ] || fail "$p has no /usr/share/doc/$p/changelog.gz"
  # gzip -9n: no name, no time stamp (bytes 4-7 zero), maximum compression (XFL 2).
  header=$(od -An -tx1 -N10 "$doc/changelog.gz" | tr -d ' \n')
  [ "${header:6:10}" = "0000000000" ] && [ "${header:16:2}" = "02" ] || fail "$p: changelog.gz is not gzip -9n ($header)"
  zcat "$doc/changelog.gz" >"$work/changelog"
  [ "$(dpkg-parsechangelog -l "$work/changelog" -S Version)" = "$version" ] ||
    fail "$p: the changelog's version is not $version"
  cmp -s "$doc/copyright" "$src/cmake/deb/copyright" || fail "$p: copyright differs from cmake/deb/copyright"
done
zcat "$root/usr/share/doc/cohortd/changelog.gz" | grep -q "^ -- cohort agent maintainers <maintainers@cohort-agent.dev>  " ||
  fail "changelog: no trailer with the maintainer"
# Its entries are CHANGELOG.md's Unreleased section: its first item is there.
first=$(awk '/^## /{f = /Unreleased/; next} f && /^- /{sub(/^- /, ""); print; exit}' "$src/CHANGELOG.md" | cut -c1-30)
zcat "$root/usr/share/doc/cohortd/changelog.gz" | tr -s ' \n' '  ' | grep -F -- "$first" >/dev/null ||
  fail "changelog: CHANGELOG.md's first Unreleased item ($first...) is not in it"
echo "   copyright (DEP-5, Expat) and changelog.gz ($version, gzip -9n) in every package"

# --- lintian, hardening -----------------------------------------------------------
step "lintian --pedantic"
"$src/tests/packaging/lintian_check.sh" "${deb[cohortd]}" "${deb[libcohort0]}" "${deb[libcohort-dev]}" ||
  fail "lintian"
step "hardening-check"
command -v hardening-check >/dev/null || fail "hardening-check is not installed (devscripts: make deps)"
# Control-flow protection (-fcf-protection) is not among Debian 12's defaults.
for f in usr/sbin/cohortd usr/bin/cohortctl "usr/lib/$triplet/libcohort.so.0"; do
  hardening-check --nocfprotection "$root/$f" >"$work/hardening.out" 2>&1 || { cat "$work/hardening.out"; fail "hardening-check /$f"; }
done
echo "   cohortd, cohortctl, libcohort.so.0: PIE (executables), stack protector, fortify, RELRO, bind now"

# --- the unpacked daemon and CLI ------------------------------------------------
step "unpacked cohortd and cohortctl"
export LD_LIBRARY_PATH=$libdir
ldd "$root/usr/sbin/cohortd" | grep "libcohort.so.0 => $libdir/" >/dev/null || fail "cohortd does not load the unpacked libcohort"
out=$("$root/usr/sbin/cohortd" --version)
[ "${out%%$'\n'*}" = "cohortd $version" ] || fail "cohortd --version: $out"
# The shipped configuration, with the files it names under /etc/cohort looked
# up in the unpacked root: valid, and every file it needs is shipped (the
# definitions; the API key is provisioned later, and awaited).
sed "s#\"/etc/cohort/#\"$root/etc/cohort/#g" "$root/etc/cohort/cohortd.json" >"$work/shipped.json"
"$root/usr/sbin/cohortd" --check-config --config "$work/shipped.json" >"$work/check-config.out" 2>&1 ||
  { cat "$work/check-config.out"; fail "cohortd --check-config rejects the shipped /etc/cohort/cohortd.json"; }
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

# --- the init script, in a scratch root ------------------------------------------
step "/etc/init.d/cohortd (SysV/BusyBox init) in a scratch root"
initd=$root/etc/init.d/cohortd
[ -x "$initd" ] || fail "the package has no executable /etc/init.d/cohortd"
grep -qx 'DAEMON=${DAEMON:-/usr/sbin/cohortd}' "$initd" && grep -qx 'CONFIG=${CONFIG:-/etc/cohort/cohortd.json}' "$initd" ||
  fail "/etc/init.d/cohortd does not default to /usr/sbin/cohortd and /etc/cohort/cohortd.json"
if [ "$(id -u)" -ne 0 ] || ! command -v start-stop-daemon >/dev/null; then
  echo "   skipped: needs root and start-stop-daemon (the script starts the daemon as the service user)"
elif [ -e /etc/default/cohortd ]; then
  echo "   skipped: this machine has an /etc/default/cohortd, which would override the scratch paths"
else
  sr=$work/initd  # the box's /etc/cohort, /var and /run, scratch
  rm -rf "$sr" && mkdir -p "$sr/etc/cohort" "$sr/run"
  # The service user: unprivileged like a box's `cohort` (nobody), when it can
  # reach the unpacked files from here; else root.
  user=nobody group=nogroup
  chmod go+rx "$work"
  if ! getent group nogroup >/dev/null ||
     ! setpriv --reuid=nobody --regid=nogroup --clear-groups env LD_LIBRARY_PATH="$libdir" \
         "$root/usr/sbin/cohortd" --version >/dev/null 2>&1; then
    echo "   (nobody cannot run the unpacked daemon from $root: the service user is root)"
    user=root group=root
  fi
  # The shipped configuration and definitions, with the box's paths in the
  # scratch root and the API unreachable. No API key: the box gets it later.
  python3 - "$root/etc/cohort/cohortd.json" "$sr" <<'PY'
import json, sys
src, r = sys.argv[1], sys.argv[2]
with open(src) as f:
    c = json.load(f)
c["data_dir"] = r + "/var/lib/cohort"
c["socket"]["path"] = r + "/run/cohort/cohortd.sock"
c["api"]["key_file"] = r + "/etc/cohort/api-key"
c["api"]["ccs_url"] = c["api"]["contextual_url"] = "http://127.0.0.1:9"
c["cohorts"]["definitions"] = r + "/etc/cohort/cohorts.json"
c["clock"]["trust"] = "system"
with open(r + "/etc/cohort/cohortd.json", "w") as f:
    json.dump(c, f, indent=1)
PY
  cp "$root/etc/cohort/cohorts.json" "$sr/etc/cohort/cohorts.json"
  chmod -R go+rX "$sr"
  initenv=(DAEMON="$root/usr/sbin/cohortd" CONFIG="$sr/etc/cohort/cohortd.json" COHORT_USER="$user"
           COHORT_GROUP="$group" STATE_DIR="$sr/var/lib/cohort" RUN_DIR="$sr/run/cohort"
           PIDFILE="$sr/run/cohortd.pid" LOG_DIR="$sr/var/log/cohort" LD_LIBRARY_PATH="$libdir")
  init() { env "${initenv[@]}" "$initd" "$@"; }
  sock=$sr/run/cohort/cohortd.sock
  status_json() { "$root/usr/bin/cohortctl" --socket "$sock" --json status; }
  field_of() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
  expect_rc() {  # expect_rc RC ACTION...: the script's exit code
    local want=$1 rc=0
    shift
    init "$@" >"$work/initd.out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$work/initd.out"; fail "/etc/init.d/cohortd $*: exit $rc, not $want"; }
    sed 's/^/   | /' "$work/initd.out"
  }

  expect_rc 3 status
  initd_stop="init stop"
  expect_rc 0 start
  [ -S "$sock" ] || fail "after start there is no socket $sock"
  expect_rc 0 status
  initpid=$(cat "$sr/run/cohortd.pid")
  [ "$(stat -c %U "/proc/$initpid")" = "$user" ] || fail "the daemon runs as $(stat -c %U "/proc/$initpid"), not $user"
  st=$(status_json) || fail "cohortctl status through the init script's daemon"
  [ "$(field_of "$st" version)" = "$version" ] || fail "status: $st"
  [ "$(field_of "$st" definitions)" = 0 ] || fail "the shipped /etc/cohort/cohorts.json is not empty: $st"
  # What the script made, as root, for the service user; the log the daemon
  # (already that user) writes there.
  for d in var/lib/cohort run/cohort var/log/cohort; do
    [ "$(stat -c %U "$sr/$d")" = "$user" ] || fail "/$d is owned by $(stat -c %U "$sr/$d"), not $user"
  done
  log=$sr/var/log/cohort/cohortd.log
  [ -f "$log" ] && [ "$(stat -c %U "$log")" = "$user" ] || fail "no log $log owned by $user"
  grep -q "api.key_file" "$log" || { cat "$log"; fail "the daemon's warning (no API key yet) is not in $log"; }
  # reload (SIGHUP): new definitions, same process.
  cp "$src/samples/definitions/cohorts.json" "$sr/etc/cohort/cohorts.json"
  expect_rc 0 reload
  for _ in $(seq 100); do
    [ "$(field_of "$(status_json)" definitions)" = 5 ] && break
    sleep 0.1
  done
  [ "$(field_of "$(status_json)" definitions)" = 5 ] || fail "reload did not load the new definitions"
  [ "$(cat "$sr/run/cohortd.pid")" = "$initpid" ] || fail "reload restarted the daemon"
  expect_rc 0 restart
  [ "$(cat "$sr/run/cohortd.pid")" != "$initpid" ] || fail "restart kept the same process"
  [ "$(field_of "$(status_json)" definitions)" = 5 ] || fail "after restart the definitions are not loaded"
  initpid=$(cat "$sr/run/cohortd.pid")
  expect_rc 0 stop
  initd_stop=""
  [ ! -e "$sock" ] || fail "stop left the socket behind"
  [ ! -e "$sr/run/cohortd.pid" ] || fail "stop left the pidfile behind"
  # (Gone, or a zombie: reaping it is init's job, and here init may be anything.)
  if [ -r "/proc/$initpid/stat" ] && [ "$(sed 's/.*) //' "/proc/$initpid/stat" | cut -d' ' -f1)" != Z ]; then
    fail "the daemon still runs after stop"
  fi
  expect_rc 3 status
  expect_rc 0 stop
  expect_rc 7 reload
  expect_rc 2 bogus
  initenv+=(CONFIG="$sr/etc/cohort/missing.json")
  expect_rc 6 start
  echo "   start, status, reload, restart, stop as $user: LSB exit codes, the socket answered, the log in /var/log/cohort"
fi

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
# --- Yocto and Buildroot ------------------------------------------------------------
step "Yocto recipe and Buildroot package against this build (contrib/)"
inst=$work/install
rm -rf "$inst"
DESTDIR=$inst "$CMAKE" --install "$build" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
debs=$work/debs
rm -rf "$debs" && mkdir -p "$debs"
for p in cohortd libcohort0 libcohort-dev; do
  dpkg-deb -x "${deb[$p]}" "$debs/$p"
  dpkg-deb -e "${deb[$p]}" "$debs/$p/DEBIAN"
done
python3 "$src/tests/packaging/check_recipes.py" --source "$src" --build "$build" --destdir "$inst" --debs "$debs" ||
  fail "contrib/ recipes"

step "packages OK"
