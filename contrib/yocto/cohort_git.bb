SUMMARY = "cohort agent: on-device audience agent for connected TVs and set-top boxes"
DESCRIPTION = "cohortd keeps the device's audience identity, sessions and viewing \
events, decides local cohorts on the device, caches the CCS and Contextual API \
answers and syncs in the background; apps talk JSON-RPC to its Unix socket \
(cohortctl) or link libcohort, the same engine as a C library."
SECTION = "net"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=26b4d54a00c82ad562ee1d8f62051229"

# The tree this recipe comes from (contrib/yocto/ in it). Set COHORT_GIT_URI in
# local.conf or a .bbappend to where your copy of the repository is served.
COHORT_GIT_URI ??= "git://git.invalid/cohort-agent.git;protocol=https"
SRC_URI = "${COHORT_GIT_URI};branch=main"
SRCREV ??= "${AUTOREV}"
PV = "0.1.0+git${SRCPV}"
S = "${WORKDIR}/git"

# What CMake finds (cmake/CohortDeps.cmake): libcurl, sqlite3 and libcjson
# through pkg-config, mbedcrypto (mbed TLS), threads.
DEPENDS = "curl cjson sqlite3 mbedtls"

inherit cmake pkgconfig systemd update-rc.d useradd

# The distribution's flags (optimisation, security_flags.inc, debug split,
# stripping) apply: COHORT_SIZE (-Os, LTO, -s) and COHORT_HARDEN stay off.
# The unit goes where this distribution keeps units; the configuration to
# /etc/cohort (CMake's default for prefix /usr).
EXTRA_OECMAKE = " \
    -DCOHORT_BUILD_TESTS=OFF \
    -DCOHORT_SIZE=OFF \
    -DCOHORT_HARDEN=OFF \
    -DCOHORT_SYSTEMDUNITDIR=${systemd_system_unitdir} \
    -DCOHORT_CONFDIR=${sysconfdir}/cohort \
"

do_install:append() {
    # The daemon reads its configuration as `cohort` (0640 root:cohort: an API
    # key may be written into it inline), like the Debian package's postinst.
    chgrp cohort ${D}${sysconfdir}/cohort/cohortd.json
    chmod 0640 ${D}${sysconfdir}/cohort/cohortd.json
}

# Packages as the .debs are split (tests/packaging/test_package.sh checks every
# installed file against them): cohortd (daemon, CLI, service files,
# configuration), libcohort (libcohort.so.0: named libcohort0 by the debian
# class), libcohort-dev; Yocto keeps the static library in -staticdev, the
# manual pages and documentation in ${PN}-doc.
PACKAGES =+ "cohortd libcohort libcohort-dev libcohort-staticdev"
FILES:cohortd = " \
    ${sbindir}/cohortd \
    ${bindir}/cohortctl \
    ${sysconfdir}/cohort \
    ${sysconfdir}/init.d/cohortd \
    ${systemd_system_unitdir}/cohortd.service \
    ${datadir}/bash-completion \
    ${datadir}/zsh \
"
FILES:libcohort = "${libdir}/libcohort${SOLIBS}"
FILES:libcohort-dev = " \
    ${includedir}/cohort \
    ${libdir}/libcohort${SOLIBSDEV} \
    ${libdir}/pkgconfig/cohort.pc \
    ${libdir}/cmake/cohort \
"
FILES:libcohort-staticdev = "${libdir}/libcohort.a"
RDEPENDS:libcohort-dev = "libcohort"
RDEPENDS:libcohort-staticdev = "libcohort-dev"
CONFFILES:cohortd = " \
    ${sysconfdir}/cohort/cohortd.json \
    ${sysconfdir}/cohort/cohorts.json \
    ${sysconfdir}/init.d/cohortd \
"

# The service: a systemd unit, or the SysV/BusyBox init script; the classes
# drop the one the distribution has no use for.
SYSTEMD_PACKAGES = "cohortd"
SYSTEMD_SERVICE:cohortd = "cohortd.service"
SYSTEMD_AUTO_ENABLE:cohortd = "enable"
INITSCRIPT_PACKAGES = "cohortd"
INITSCRIPT_NAME:cohortd = "cohortd"
INITSCRIPT_PARAMS:cohortd = "defaults 60"

# The system user the daemon runs as (the unit's User=, the init script's
# COHORT_USER); apps that talk to the socket join its group.
USERADD_PACKAGES = "cohortd"
GROUPADD_PARAM:cohortd = "--system cohort"
USERADD_PARAM:cohortd = "--system --gid cohort --home-dir /var/lib/cohort --no-create-home --shell /sbin/nologin cohort"
