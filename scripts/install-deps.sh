#!/usr/bin/env bash
# Installs what the build and the tests need, from Debian's archive only.
# Idempotent: when everything is present it changes nothing and takes about a second.
# `apt-get update` may fail on one index while a mirror syncs: it is retried once,
# then we go on and fail only if a package we need is really missing.
set -u

native=$(dpkg --print-architecture)
libs=(libcurl4-openssl-dev libcjson-dev libsqlite3-dev libmbedtls-dev libcmocka-dev)
host_pkgs=(
  build-essential g++ cmake make pkg-config python3 ca-certificates openssl
  libbenchmark-dev clang llvm libclang-rt-14-dev clang-format clang-tidy
  dpkg-dev file
)
# The CCS conformance check (tests/conformance/) runs under Debian's own
# /usr/bin/python3 with Debian's JSON Schema validator and YAML parser:
# python3-jsonschema is Architecture: all (a name with :amd64 never matches it),
# python3-yaml is built per architecture, so it is named with the native one below.
host_pkgs+=(python3-jsonschema)
# The manual pages are linted as man(7) by groff (-ww), man-db (man -l) and
# mandoc (-T lint); the shell completions are tried in bash (with and without
# bash-completion's helpers) and zsh (tests/docs, integration_completion).
host_pkgs+=(groff-base man-db mandoc bash-completion zsh)
# The packaging test (tests/packaging/test_package.sh): lintian checks every .deb
# (Architecture: all, like python3-jsonschema), hardening-check (devscripts) the
# packaged binaries' hardening flags, gzip the Debian changelog.
host_pkgs+=(lintian devscripts gzip)
cross_pkgs=(
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
  gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf
  qemu-user
)
# Name the architecture of every library: with several installed, a bare
# name would match any one of them.
for p in "${libs[@]}" python3-yaml; do host_pkgs+=("$p:$native"); done
for arch in arm64 armhf; do
  for p in "${libs[@]}" libstdc++6; do cross_pkgs+=("$p:$arch"); done
done
all_pkgs=("${host_pkgs[@]}" "${cross_pkgs[@]}")

missing_pkgs() {
  local p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)
    [[ "$status" == ii* ]] || printf '%s\n' "$p"
  done
}

mapfile -t missing < <(missing_pkgs "${all_pkgs[@]}")
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: not root and no sudo; install these by hand: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

archs=$(dpkg --print-foreign-architectures)
for arch in arm64 armhf; do
  grep -qx "$arch" <<<"$archs" || $SUDO dpkg --add-architecture "$arch"
done

update_log=$(mktemp)
apt_update() { $SUDO apt-get "${apt_opts[@]}" update -q >"$update_log" 2>&1; }
apt_install() {
  # --no-remove: resolving a foreign twin must never remove a host package.
  $SUDO apt-get "${apt_opts[@]}" install -y -q --no-remove --no-install-recommends "$@" >/dev/null
}
apt_opts=()
if ! apt_update; then
  echo "install-deps: apt-get update failed, retrying once" >&2
  sleep 5
  apt_update || echo "install-deps: apt-get update failed again; going on with the lists we have" >&2
fi

if ! apt_install "${missing[@]}"; then
  # While a mirror syncs, one architecture's index of a suite can fail (seen:
  # bookworm-security armhf); apt then drops that suite's new lists for every
  # architecture, and Multi-Arch twins no longer resolve. Retry with that suite
  # limited to the architectures whose index did download, in lists of our own.
  failed=$(sed -n 's#^Err:[0-9]* [^ ]* \([^ /]*\)/[^ ]* \([a-z0-9]*\) Packages.*#\1 \2#p' "$update_log" | sort -u)
  if [ -n "$failed" ]; then
    echo "install-deps: retrying without the index that failed: $failed" >&2
    alt=$(mktemp -d)
    mkdir -p "$alt/parts" "$alt/lists/partial"
    all_archs="$(dpkg --print-architecture) $(dpkg --print-foreign-architectures | tr '\n' ' ')"
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -e "$f" ] || continue
      awk -v failed="$failed" -v archs="$all_archs" '
        BEGIN { RS = ""; ORS = "\n\n"; n = split(failed, fl, "\n") }
        {
          keep = " " archs " "; cut = 0
          for (i = 1; i <= n; i++) {
            split(fl[i], sa, " ")
            if ($0 ~ ("Suites:[^\n]*" sa[1])) cut += gsub(" " sa[2] " ", " ", keep)
          }
          if (cut) print "Architectures:" keep "\n" $0; else print $0
        }' "$f" > "$alt/parts/$(basename "$f")"
    done
    touch "$alt/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$alt/sources.list" -o "Dir::Etc::SourceParts=$alt/parts"
              -o "Dir::State::Lists=$alt/lists")
    apt_update || true
    apt_install "${missing[@]}" || true
  fi
  # One unavailable package must not stop the others: try the rest one by one.
  mapfile -t missing < <(missing_pkgs "${all_pkgs[@]}")
  for p in "${missing[@]}"; do apt_install "$p" || echo "install-deps: could not install $p" >&2; done
  [ -n "${alt:-}" ] && rm -rf "$alt"
fi
rm -f "$update_log"

mapfile -t still < <(missing_pkgs "${all_pkgs[@]}")
if [ "${#still[@]}" -ne 0 ]; then
  echo "install-deps: still missing: ${still[*]}" >&2
  exit 1
fi
echo "install-deps: done"
