################################################################################
#
# cohort
#
################################################################################

COHORT_VERSION = 0.1.0
# This tree (contrib/buildroot is a BR2_EXTERNAL tree: make BR2_EXTERNAL=...).
# A copy of this package in another tree sets COHORT_SITE to where it gets
# the sources, or COHORT_OVERRIDE_SRCDIR in local.mk.
COHORT_SITE = $(BR2_EXTERNAL_COHORT_PATH)/../..
COHORT_SITE_METHOD = local
COHORT_LICENSE = MIT
COHORT_LICENSE_FILES = LICENSE
COHORT_INSTALL_STAGING = YES
COHORT_SUPPORTS_IN_SOURCE_BUILD = NO
# What CMake finds (cmake/CohortDeps.cmake): libcurl, sqlite3 and libcjson
# through pkg-config, mbedcrypto (mbed TLS), threads (the toolchain's).
COHORT_DEPENDENCIES = host-pkgconf cjson libcurl mbedtls sqlite

# Buildroot's own flags (BR2_OPTIMIZE_*, BR2_SSP_*, BR2_RELRO_*,
# BR2_FORTIFY_SOURCE_*, stripping) apply: COHORT_SIZE and COHORT_HARDEN stay
# off. The service files are installed below, for the init system in use.
COHORT_CONF_OPTS = \
	-DCOHORT_BUILD_TESTS=OFF \
	-DCOHORT_SIZE=OFF \
	-DCOHORT_HARDEN=OFF \
	-DCOHORT_INSTALL_SYSTEMD_UNIT=OFF \
	-DCOHORT_INSTALL_SYSVINIT=OFF

# The service files as CMake made them for this build (the paths of the
# daemon, its configuration and documentation in them are the installed ones).
# BusyBox or SysV init: rcS starts /etc/init.d/S??*.
define COHORT_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(COHORT_BUILDDIR)/install/cohortd.init \
		$(TARGET_DIR)/etc/init.d/S60cohortd
endef

define COHORT_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(COHORT_BUILDDIR)/install/cohortd.service \
		$(TARGET_DIR)/usr/lib/systemd/system/cohortd.service
endef

# The system user the daemon runs as; apps that talk to the socket join its group.
define COHORT_USERS
	cohort -1 cohort -1 * /var/lib/cohort - - cohort agent
endef

# The daemon reads its configuration as `cohort` (an API key may be inline).
define COHORT_PERMISSIONS
	/etc/cohort/cohortd.json f 0640 root cohort - - - - -
endef

$(eval $(cmake-package))
