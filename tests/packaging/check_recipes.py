#!/usr/bin/env python3
"""The Yocto recipe (contrib/yocto/cohort_git.bb) and the Buildroot package
(contrib/buildroot/package/cohort/) against a real CMake build, so they cannot
drift from it. Neither bitbake nor Buildroot runs here: the checks read the
recipe files, but compare them with what the build really does.

    check_recipes.py --source SRC --build BUILD --destdir DESTDIR --debs DIR

BUILD is a configured and built tree (prefix /usr: the size-first build the
packages come from), installed with `DESTDIR=DESTDIR cmake --install BUILD`
(its install_manifest.txt lists every installed file); DIR holds the .debs made
from it, unpacked one per directory (DIR/<package>/...).

  - dependencies: the libraries CMake finds (pkg-config modules and
    find_package results in BUILD's CMakeCache.txt), and the ones the
    installed ELF files need (DT_NEEDED), are exactly the recipe's DEPENDS, and
    the Buildroot package's COHORT_DEPENDENCIES and Config.in selects;
  - files: every file of the manifest goes, in the Yocto recipe, to the package
    that matches its .deb (FILES:<package>, in PACKAGES order, with bitbake's
    defaults); in Buildroot, cmake-package installs it, or (for the service
    files COHORT_CONF_OPTS turns off) an init hook installs the same file;
  - options: every -D option of EXTRA_OECMAKE / COHORT_CONF_OPTS is one the
    build knows; versions, licence checksum, the service user, conffiles.
"""

import argparse
import fnmatch
import hashlib
import os
import re
import subprocess
import sys

# Where Yocto and Buildroot get each dependency CMake finds. A new dependency in
# cmake/CohortDeps.cmake fails here until it is named in both and in this map.
DEPS = {
    "pkg-config:libcurl": {"yocto": "curl", "buildroot": "libcurl"},
    "pkg-config:sqlite3": {"yocto": "sqlite3", "buildroot": "sqlite"},
    "pkg-config:libcjson": {"yocto": "cjson", "buildroot": "cjson"},
    "find_package:MbedCrypto": {"yocto": "mbedtls", "buildroot": "mbedtls"},
    # The toolchain's (Buildroot: depends on BR2_TOOLCHAIN_HAS_THREADS).
    "find_package:Threads": {"buildroot_depends": "BR2_TOOLCHAIN_HAS_THREADS"},
    # pkg-config itself: Yocto's pkgconfig class, Buildroot's host-pkgconf.
    "find_package:PkgConfig": {"yocto_inherit": "pkgconfig", "buildroot": "host-pkgconf"},
    # Only for the Debian changelog's date (optional, not linked).
    "find_package:Git": {},
}
# DT_NEEDED sonames (without the version) -> the dependency that provides them.
SONAMES = {
    "libcurl.so": "pkg-config:libcurl",
    "libsqlite3.so": "pkg-config:sqlite3",
    "libcjson.so": "pkg-config:libcjson",
    "libmbedcrypto.so": "find_package:MbedCrypto",
}
TOOLCHAIN_SONAMES = {"libc.so", "libm.so", "libstdc++.so", "libgcc_s.so", "libpthread.so", "libdl.so",
                     "librt.so", "libatomic.so"}
# The Buildroot selects of the target libraries.
BR_SYMBOL = {"libcurl": "BR2_PACKAGE_LIBCURL", "sqlite": "BR2_PACKAGE_SQLITE", "cjson": "BR2_PACKAGE_CJSON",
             "mbedtls": "BR2_PACKAGE_MBEDTLS"}

# The deb a file is in -> the Yocto packages it may go to.
DEB_TO_YOCTO = {
    "cohortd": {"cohortd", "${PN}-doc"},
    "libcohort0": {"libcohort"},
    "libcohort-dev": {"libcohort-dev", "libcohort-staticdev", "${PN}-doc"},
}

problems = []


def problem(msg):
    problems.append(msg)
    print(f"   FAIL: {msg}")


def note(msg):
    print(f"   {msg}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def cache_of(build):
    cache = {}
    for line in read(os.path.join(build, "CMakeCache.txt")).splitlines():
        m = re.match(r"^([^#/][^:=]*):([A-Z_]+)=(.*)$", line)
        if m:
            cache[m.group(1)] = m.group(3)
    return cache


def cmake_dependencies(cache):
    """What this build's CMake found: pkg-config modules and find_package()s."""
    found = set()
    for k, v in cache.items():
        if k.startswith("__pkg_config_arguments_"):
            args = [a for a in v.split(";") if a and a not in ("REQUIRED", "QUIET", "IMPORTED_TARGET", "GLOBAL",
                                                                 "NO_CMAKE_PATH", "NO_CMAKE_ENVIRONMENT_PATH")]
            for a in args:
                found.add("pkg-config:" + re.split(r"[<>=]", a)[0])
        elif k.startswith("FIND_PACKAGE_MESSAGE_DETAILS_"):
            found.add("find_package:" + k[len("FIND_PACKAGE_MESSAGE_DETAILS_"):])
    return found


def needed_dependencies(files):
    """The dependencies the installed ELF files need at run time (DT_NEEDED)."""
    deps, unknown = set(), set()
    for f in files:
        with open(f, "rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        out = subprocess.run(["readelf", "-d", f], capture_output=True, text=True, check=True).stdout
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out):
            base = re.sub(r"\.so(\.[0-9]+)*$", ".so", soname)
            if base in TOOLCHAIN_SONAMES or base.startswith("ld-linux") or base == "libcohort.so":
                continue
            if base in SONAMES:
                deps.add(SONAMES[base])
            else:
                unknown.add(soname)
    return deps, unknown


# --- bitbake and make variable files, as far as these recipes use them -------------

def logical_lines(text):
    out, cur = [], ""
    for line in text.splitlines():
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        out.append(cur + line)
        cur = ""
    if cur:
        out.append(cur)
    return out


def parse_bitbake(text):
    """NAME[:override] (=|?=|??=|+=|=+|:=) "value" -> {name: value} (+= appends, =+ prepends)."""
    vars_ = {}
    for line in logical_lines(text):
        m = re.match(r'^([A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_${}.-]+)?)\s*(\?\?=|\?=|\+=|=\+|:=|=)\s*"(.*)"\s*$', line)
        if not m:
            continue
        name, op, value = m.group(1), m.group(2), " ".join(m.group(3).split())
        if op == "+=":
            vars_[name] = (vars_.get(name, "") + " " + value).strip()
        elif op == "=+":
            vars_[name] = (value + " " + vars_.get(name, "")).strip()
        elif op in ("?=", "??=") and name in vars_:
            continue
        else:
            vars_[name] = value
    inherits = []
    for line in logical_lines(text):
        m = re.match(r"^inherit\s+(.*)$", line)
        if m:
            inherits += m.group(1).split()
    return vars_, inherits


def parse_make(text):
    """NAME = value and define NAME ... endef blocks."""
    vars_, lines, i = {}, logical_lines(text), 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^define\s+([A-Z0-9_]+)\s*$", line)
        if m:
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "endef":
                body.append(lines[i])
                i += 1
            vars_[m.group(1)] = "\n".join(body)
        else:
            m = re.match(r"^([A-Z0-9_]+)\s*(\+?=|:=|\?=)\s*(.*)$", line)
            if m:
                value = " ".join(m.group(3).split())
                vars_[m.group(1)] = (vars_.get(m.group(1), "") + " " + value).strip() if m.group(2) == "+=" else value
        i += 1
    return vars_


def cmake_options(value):
    return dict(re.findall(r"-D([A-Za-z0-9_]+)(?::[A-Z]+)?=(\S*)", value))


def check_options(where, opts, cache):
    for name in opts:
        if name not in cache:
            problem(f"{where}: -D{name} is not an option of this build (not in CMakeCache.txt): renamed or removed?")


# --- Yocto ------------------------------------------------------------------------

# bitbake.conf's directories (no usrmerge), and the default packages.
YOCTO_DIRS = {
    "prefix": "/usr", "exec_prefix": "/usr", "base_prefix": "", "bindir": "/usr/bin", "sbindir": "/usr/sbin",
    "libdir": "/usr/lib", "libexecdir": "/usr/libexec", "includedir": "/usr/include", "datadir": "/usr/share",
    "docdir": "/usr/share/doc", "mandir": "/usr/share/man", "infodir": "/usr/share/info",
    "sysconfdir": "/etc", "localstatedir": "/var", "sharedstatedir": "/com", "base_bindir": "/bin",
    "base_sbindir": "/sbin", "base_libdir": "/lib", "nonarch_base_libdir": "/lib",
    "systemd_unitdir": "/lib/systemd", "systemd_system_unitdir": "/lib/systemd/system",
    "SOLIBS": ".so.*", "SOLIBSDEV": ".so", "BPN": "cohort", "PN": "cohort",
}
YOCTO_DEFAULT_PACKAGES = ["${PN}-src", "${PN}-dbg", "${PN}-staticdev", "${PN}-dev", "${PN}-doc", "${PN}-locale",
                          "${PN}"]
YOCTO_DEFAULT_FILES = {
    "${PN}": "${bindir}/* ${sbindir}/* ${libexecdir}/* ${libdir}/lib*${SOLIBS} ${sysconfdir} ${sharedstatedir} "
             "${localstatedir} ${base_bindir}/* ${base_sbindir}/* ${base_libdir}/*${SOLIBS} ${datadir}/${BPN} "
             "${libdir}/${BPN}/*",
    "${PN}-dev": "${includedir} ${base_libdir}/lib*${SOLIBSDEV} ${libdir}/lib*${SOLIBSDEV} ${libdir}/*.la "
                 "${libdir}/*.o ${libdir}/pkgconfig ${datadir}/pkgconfig ${datadir}/aclocal ${libdir}/cmake "
                 "${datadir}/cmake",
    "${PN}-staticdev": "${libdir}/*.a ${base_libdir}/*.a ${libdir}/${BPN}/*.a",
    "${PN}-doc": "${docdir} ${mandir} ${infodir} ${datadir}/gtk-doc ${datadir}/gnome/help",
    "${PN}-dbg": "/usr/src/debug ${libdir}/.debug ${bindir}/.debug ${sbindir}/.debug",
    "${PN}-src": "/usr/src/debug",
    "${PN}-locale": "${datadir}/locale",
}


def expand(value, table):
    for _ in range(5):
        value = re.sub(r"\$\{([A-Za-z_]+)\}", lambda m: table.get(m.group(1), m.group(0)), value)
    return value


def glob_match(path, pattern):
    """bitbake FILES: a glob ('*' stops at '/'); a directory brings all below it."""
    rx = re.compile(fnmatch.translate(pattern).replace(".*", "[^/]*"))
    p = path
    while p and p != "/":
        if rx.match(p):
            return True
        p = os.path.dirname(p)
    return False


def yocto_path(path, build_dirs):
    """A path of the Debian build -> the same file where the recipe installs it."""
    for debian, yocto in build_dirs:
        if path == debian or path.startswith(debian + "/"):
            return yocto + path[len(debian):]
    return path


def check_yocto(args, cache, manifest, deb_of, deps, version):
    bb = os.path.join(args.source, "contrib", "yocto", "cohort_git.bb")
    print(f"== Yocto: {os.path.relpath(bb, args.source)}")
    v, inherits = parse_bitbake(read(bb))

    # Version and licence.
    pv = v.get("PV", "")
    if not pv.startswith(version):
        problem(f"Yocto: PV = {pv!r} does not start with the project version {version}")
    if v.get("LICENSE") != "MIT":
        problem(f"Yocto: LICENSE = {v.get('LICENSE')!r}, not MIT")
    m = re.search(r"file://LICENSE;md5=([0-9a-f]{32})", v.get("LIC_FILES_CHKSUM", ""))
    md5 = hashlib.md5(open(os.path.join(args.source, "LICENSE"), "rb").read()).hexdigest()
    if not m or m.group(1) != md5:
        problem(f"Yocto: LIC_FILES_CHKSUM is not file://LICENSE;md5={md5}")

    # Dependencies.
    want = {DEPS[d]["yocto"] for d in deps if "yocto" in DEPS[d]}
    have = set(v.get("DEPENDS", "").split())
    if want != have:
        problem(f"Yocto: DEPENDS = {sorted(have)}, but CMake finds {sorted(want)}")
    for cls in ["cmake", "systemd", "update-rc.d", "useradd"] + [DEPS[d]["yocto_inherit"] for d in deps
                                                                  if "yocto_inherit" in DEPS[d]]:
        if cls not in inherits:
            problem(f"Yocto: the recipe does not inherit {cls}")
    opts = cmake_options(v.get("EXTRA_OECMAKE", ""))
    check_options("Yocto EXTRA_OECMAKE", opts, cache)

    # Files: every installed file to the package of its .deb.
    table = dict(YOCTO_DIRS)
    prefix = cache.get("CMAKE_INSTALL_PREFIX", "/usr")
    full = lambda d: d if d.startswith("/") else prefix + "/" + d  # noqa: E731
    build_dirs = sorted([
        (full(cache.get("COHORT_SYSTEMDUNITDIR") or "lib/systemd/system"), "${systemd_system_unitdir}"),
        (full(cache["CMAKE_INSTALL_LIBDIR"]), "${libdir}"),
        (full(cache.get("CMAKE_INSTALL_MANDIR") or "share/man"), "${mandir}"),
        (prefix + "/share/doc", "${docdir}"),
        (full(cache.get("CMAKE_INSTALL_DATADIR") or "share"), "${datadir}"),
        (full(cache.get("CMAKE_INSTALL_INCLUDEDIR") or "include"), "${includedir}"),
        (full(cache.get("CMAKE_INSTALL_SBINDIR") or "sbin"), "${sbindir}"),
        (full(cache.get("CMAKE_INSTALL_BINDIR") or "bin"), "${bindir}"),
        ("/etc", "${sysconfdir}"),
    ], key=lambda x: -len(x[0]))
    packages = v.get("PACKAGES", "").split() + YOCTO_DEFAULT_PACKAGES
    files_of = {p: expand(v.get("FILES:" + p, YOCTO_DEFAULT_FILES.get(p, "")), table).split() for p in packages}
    ok = 0
    for path in manifest:
        ypath = expand(yocto_path(path, build_dirs), table)
        pkg = next((p for p in packages if any(glob_match(ypath, pat) for pat in files_of[p])), None)
        deb = deb_of.get(path)
        if pkg is None:
            problem(f"Yocto: {path} (installed as {ypath}) is in no package's FILES")
        elif deb is None:
            problem(f"Yocto: {path} is in no .deb")
        elif pkg not in DEB_TO_YOCTO.get(deb, set()):
            problem(f"Yocto: {path} goes to {pkg}, but the .debs put it in {deb}")
        else:
            ok += 1
    note(f"{ok} of {len(manifest)} installed files go to the package that matches their .deb")

    # Conffiles, the service and its user.
    conf = set(expand(v.get("CONFFILES:cohortd", ""), table).split())
    want_conf = set()
    for line in read(os.path.join(args.debs, "cohortd", "DEBIAN", "conffiles")).split():
        want_conf.add(expand(yocto_path(line, build_dirs), table))
    if conf != want_conf:
        problem(f"Yocto: CONFFILES:cohortd = {sorted(conf)}, the .deb's conffiles are {sorted(want_conf)}")
    units = [p for p in manifest if p.endswith(".service")]
    if v.get("SYSTEMD_SERVICE:cohortd", "").split() != [os.path.basename(u) for u in units]:
        problem(f"Yocto: SYSTEMD_SERVICE:cohortd does not name {units}")
    inits = [p for p in manifest if "/init.d/" in p]
    if v.get("INITSCRIPT_NAME:cohortd", "").split() != [os.path.basename(i) for i in inits]:
        problem(f"Yocto: INITSCRIPT_NAME:cohortd does not name {inits}")
    user = re.search(r"(\S+)\s*$", v.get("USERADD_PARAM:cohortd", ""))
    if not user or user.group(1) != service_user(args):
        problem(f"Yocto: USERADD_PARAM:cohortd does not create the user the unit runs as ({service_user(args)})")


def service_user(args):
    unit = read(os.path.join(args.source, "samples", "service", "cohortd.service"))
    return re.search(r"^User=(\S+)", unit, re.M).group(1)


# --- Buildroot ----------------------------------------------------------------------

def check_buildroot(args, cache, manifest, deps, version):
    pkgdir = os.path.join(args.source, "contrib", "buildroot", "package", "cohort")
    print(f"== Buildroot: {os.path.relpath(pkgdir, args.source)}")
    mk = parse_make(read(os.path.join(pkgdir, "cohort.mk")))
    config = read(os.path.join(pkgdir, "Config.in"))

    if mk.get("COHORT_VERSION") != version:
        problem(f"Buildroot: COHORT_VERSION = {mk.get('COHORT_VERSION')!r}, not {version}")
    if mk.get("COHORT_LICENSE") != "MIT" or mk.get("COHORT_LICENSE_FILES") != "LICENSE":
        problem("Buildroot: COHORT_LICENSE / COHORT_LICENSE_FILES are not MIT / LICENSE")
    if "$(eval $(cmake-package))" not in read(os.path.join(pkgdir, "cohort.mk")):
        problem("Buildroot: cohort.mk is not a cmake-package")

    want = {DEPS[d]["buildroot"] for d in deps if "buildroot" in DEPS[d]}
    have = set(mk.get("COHORT_DEPENDENCIES", "").split())
    if want != have:
        problem(f"Buildroot: COHORT_DEPENDENCIES = {sorted(have)}, but CMake finds {sorted(want)}")
    selects = set(re.findall(r"^\s*select\s+(\S+)", config, re.M))
    want_selects = {BR_SYMBOL[p] for p in want if p in BR_SYMBOL}
    if selects != want_selects:
        problem(f"Buildroot: Config.in selects {sorted(selects)}, but CMake finds {sorted(want_selects)}")
    depends = set(re.findall(r"^\s*depends on\s+(\S+)", config, re.M))
    for d in deps:
        sym = DEPS[d].get("buildroot_depends")
        if sym and sym not in depends:
            problem(f"Buildroot: Config.in does not depend on {sym} ({d})")
    if cache.get("CMAKE_CXX_COMPILER") and "BR2_INSTALL_LIBSTDCPP" not in depends:
        problem("Buildroot: Config.in does not depend on BR2_INSTALL_LIBSTDCPP (a C++ build)")

    opts = cmake_options(mk.get("COHORT_CONF_OPTS", ""))
    check_options("Buildroot COHORT_CONF_OPTS", opts, cache)

    # The files: cmake-package installs the manifest, less what the options turn
    # off; the init hooks install those, the same files.
    off = {"COHORT_INSTALL_SYSTEMD_UNIT": lambda p: p.endswith(".service"),
           "COHORT_INSTALL_SYSVINIT": lambda p: "/init.d/" in p}
    hooks = mk.get("COHORT_INSTALL_INIT_SYSV", "") + "\n" + mk.get("COHORT_INSTALL_INIT_SYSTEMD", "")
    # $(INSTALL) -D -m MODE $(@D)/<in the tree> | $(COHORT_BUILDDIR)/<in the build> $(TARGET_DIR)/<dst>
    installs = re.findall(r"\$\(INSTALL\)\s+-D\s+-m\s+(\d+)\s+\$\((@D|COHORT_BUILDDIR)\)/(\S+)\s+"
                          r"\$\(TARGET_DIR\)(\S+)", hooks)
    by_cmake = 0
    for path in manifest:
        turned_off = [o for o, is_it in off.items() if is_it(path) and opts.get(o, "ON").upper() in ("OFF", "0", "NO",
                                                                                                        "FALSE")]
        if not turned_off:
            by_cmake += 1
            continue
        installed = os.path.join(args.destdir, path.lstrip("/"))
        match = None
        for mode, base, src, dst in installs:
            # BusyBox's and Buildroot's rcS start /etc/init.d/S??* only.
            if "/init.d/" in path:
                same_place = re.fullmatch(r"/etc/init\.d/S[0-9][0-9]" + re.escape(os.path.basename(path)), dst)
            else:
                same_place = dst == path
            if same_place:
                match = (mode, base, src, dst)
        if not match:
            problem(f"Buildroot: {path} is turned off ({turned_off[0]}=OFF) and no init hook installs it")
            continue
        mode, base, src, dst = match
        src_path = os.path.join(args.source if base == "@D" else args.build, src)
        where = "the tree" if base == "@D" else "the build directory"
        if not os.path.isfile(src_path):
            problem(f"Buildroot: the init hook installs {src}, which is not in {where}")
        elif read(src_path) != read(installed):
            problem(f"Buildroot: {src} ({where}) is not the {path} CMake installs")
        want_mode = "0755" if os.access(installed, os.X_OK) else "0644"
        if mode != want_mode:
            problem(f"Buildroot: {dst} is installed {mode}, CMake installs {path} {want_mode}")
        note(f"{path}: {turned_off[0]}=OFF, installed by the init hook as {dst}")
    note(f"{by_cmake} of {len(manifest)} installed files by cmake-package (make install)")

    users = mk.get("COHORT_USERS", "").split()
    if not users or users[0] != service_user(args) or "/var/lib/cohort" not in users:
        problem(f"Buildroot: COHORT_USERS does not create {service_user(args)} with home /var/lib/cohort")
    for line in mk.get("COHORT_PERMISSIONS", "").splitlines():
        if line.strip() and line.split()[0] not in manifest:
            problem(f"Buildroot: COHORT_PERMISSIONS names {line.split()[0]}, which is not installed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--destdir", required=True)
    ap.add_argument("--debs", required=True)
    args = ap.parse_args()

    cache = cache_of(args.build)
    version = cache.get("CMAKE_PROJECT_VERSION", "")
    destdir = os.path.abspath(args.destdir)
    manifest = []
    for line in read(os.path.join(args.build, "install_manifest.txt")).splitlines():
        if line.startswith(destdir + "/"):
            line = line[len(destdir):]
        manifest.append(line)
    if not manifest:
        sys.exit("check_recipes: empty install_manifest.txt")

    # Which .deb holds each installed file (manual pages are gzipped in the .debs).
    deb_of = {}
    for deb in os.listdir(args.debs):
        root = os.path.join(args.debs, deb)
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = "/" + os.path.relpath(os.path.join(dirpath, f), root)
                deb_of[p] = deb
                if p.endswith(".gz"):
                    deb_of.setdefault(p[:-3], deb)

    print("== dependencies")
    deps = cmake_dependencies(cache)
    for d in sorted(deps):
        if d not in DEPS:
            problem(f"CMake finds {d}: name it in the Yocto recipe (DEPENDS), the Buildroot package "
                    f"(COHORT_DEPENDENCIES, Config.in) and DEPS in {os.path.basename(__file__)}")
    deps &= set(DEPS)
    needed, unknown = needed_dependencies(os.path.join(destdir, p.lstrip("/")) for p in manifest
                                          if not os.path.islink(os.path.join(destdir, p.lstrip("/"))))
    for s in sorted(unknown):
        problem(f"an installed file needs {s}, which no dependency of CMake's provides (SONAMES in "
                f"{os.path.basename(__file__)})")
    for d in sorted(needed - deps):
        problem(f"an installed file needs {d}, which CMake did not find")
    note("CMake finds: " + ", ".join(sorted(deps)))
    note("the installed files need: " + ", ".join(sorted(needed)))

    check_yocto(args, cache, manifest, deb_of, deps, version)
    check_buildroot(args, cache, manifest, deps, version)
    if problems:
        sys.exit(f"check_recipes: {len(problems)} problem(s)")
    print("   recipes OK")


if __name__ == "__main__":
    main()
