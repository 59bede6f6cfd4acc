# Debian packages from one build (cpack -G DEB; `make package` builds them for
# amd64, arm64 and armhf into build/packages/):
#   cohortd        the daemon, cohortctl, the systemd unit, the init script
#                  /etc/init.d/cohortd, /etc/cohort/cohortd.json and cohorts.json
#                  (conffiles); its postinst creates the system user `cohort`
#   libcohort0     libcohort.so.0 (a symbols file, the ldconfig trigger)
#   libcohort-dev  cohort.h, libcohort.a, libcohort.so, cohort.pc, the CMake package
# Each has /usr/share/doc/<package>/copyright (cmake/deb/copyright, DEP-5) and
# changelog.gz (from CHANGELOG.md): cmake/deb/prebuild.cmake. They are native
# packages (the Debian packaging is part of this tree): version = PROJECT_VERSION.
# lintian --pedantic finds nothing in them (tests/packaging/test_package.sh).
# The architecture is the target's; dependencies come from dpkg-shlibdeps for a
# native build and from an explicit list (the same Debian 12 libraries) for a
# cross build. Build with CMAKE_INSTALL_PREFIX=/usr (the *-release and host-size
# presets do) so that the paths in the unit and cohort.pc are the packaged ones.

# Debian's name for the target architecture.
set(COHORT_DEB_ARCH "" CACHE STRING "Debian architecture of the packages (empty: from the target)")
if(NOT COHORT_DEB_ARCH)
  set(_proc "${CMAKE_SYSTEM_PROCESSOR}")
  if(NOT CMAKE_CROSSCOMPILING)
    find_program(COHORT_DPKG dpkg)
    mark_as_advanced(COHORT_DPKG)
    if(COHORT_DPKG)
      execute_process(COMMAND ${COHORT_DPKG} --print-architecture OUTPUT_VARIABLE _deb_arch
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    endif()
  endif()
  if(_deb_arch)
  elseif(_proc MATCHES "^(aarch64|arm64|ARM64)$")
    set(_deb_arch arm64)
  elseif(_proc MATCHES "^(arm|armv7|armv7l|armv7-a|armv8l|armhf)$")
    # 32-bit ARM: hard-float (armhf) unless the compiler says soft-float (armel).
    if("${CMAKE_C_COMPILER}" MATCHES "gnueabi-" OR "${CMAKE_C_FLAGS}" MATCHES "-mfloat-abi=soft")
      set(_deb_arch armel)
    else()
      set(_deb_arch armhf)
    endif()
  elseif(_proc MATCHES "^(x86_64|AMD64|amd64)$")
    set(_deb_arch amd64)
  elseif(_proc MATCHES "^i.86$")
    set(_deb_arch i386)
  else()
    set(_deb_arch "${_proc}")
  endif()
  set(COHORT_DEB_ARCH_EFFECTIVE "${_deb_arch}")
else()
  set(COHORT_DEB_ARCH_EFFECTIVE "${COHORT_DEB_ARCH}")
endif()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "cohort")
set(CPACK_PACKAGE_VENDOR "cohort agent")
set(CPACK_PACKAGE_CONTACT "cohort agent maintainers <maintainers@cohort-agent.dev>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Empty: each package has its own summary (below); CPack would put the project's
# in front of every package's description.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
# /etc/cohort is an absolute destination: stage it under DESTDIR like the rest.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${COHORT_DEB_ARCH_EFFECTIVE}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
# libcohort0 ships a shlibs file: packages built against it get their Depends.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME cohortd)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "libcohort${PROJECT_VERSION_MAJOR}")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libcohort-dev)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DAEMON_DEPENDS runtime)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
# Description: a summary line of its own per package, then the long description
# (an empty line: a paragraph break).
set(CPACK_DEBIAN_DAEMON_DESCRIPTION "on-device audience agent for TVs and set-top boxes (service)
cohortd runs the cohort agent as a system service on a connected TV or
set-top box: it keeps the device's audience identity, sessions and viewing
events, decides local cohorts on the device in microseconds, caches the
remote CCS and Contextual API answers and syncs in the background, without
ever making an ad break wait.

Apps and smart-speaker integrations talk JSON-RPC 2.0 to its Unix socket;
cohortctl is its command-line client. The service runs as the system user
cohort, under systemd (cohortd.service) or SysV init (/etc/init.d/cohortd).
It sends nothing until the API key is provisioned in /etc/cohort/api-key.")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "on-device audience agent for TVs and set-top boxes (library)
libcohort is the cohort agent as a C library for connected-TV apps: the same
engine as cohortd (identity, sessions and views, engagement events, local
cohorts, cached API answers, background sync) behind a small C API, inside
the app's own process.

This package contains the shared library.")
set(CPACK_DEBIAN_DEV_DESCRIPTION "on-device audience agent for TVs and set-top boxes (development)
libcohort is the cohort agent as a C library for connected-TV apps.

This package contains what an app needs to be built against it: the header
cohort/cohort.h, the static library, cohort.pc for pkg-config and the CMake
package (find_package(cohort) provides cohort::cohort and
cohort::cohort_static).")

# Dependencies. cohortd and libcohort0 get theirs from dpkg-shlibdeps on a native
# build; a cross build lists the same Debian 12 packages (what dpkg-shlibdeps
# computes for them with DEB_HOST_ARCH set: checked for arm64 and armhf).
# cohortd's postinst creates its system user with adduser.
find_program(COHORT_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(COHORT_DPKG_SHLIBDEPS)
if(NOT CMAKE_CROSSCOMPILING AND COHORT_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_DAEMON_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
  get_target_property(_libdir cohort BINARY_DIR)  # libcohort.so.0, needed by cohortd
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${_libdir}")
  set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "adduser")
else()
  if(COHORT_DEB_ARCH_EFFECTIVE MATCHES "^arm(hf|el)$")
    set(_gcc_s "3.5")  # the ARM EABI unwinder's symbol version
  else()
    set(_gcc_s "3.3.1")
  endif()
  set(_base "libc6 (>= 2.34), libgcc-s1 (>= ${_gcc_s}), libstdc++6 (>= 11)")
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS
      "${_base}, libcjson1 (>= 1.7.13), libcurl4 (>= 7.16.2), libmbedcrypto7 (>= 2.28.0), libsqlite3-0 (>= 3.7.15)")
  set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "${_base}, libcjson1 (>= 1.7.13), adduser")
endif()
# invoke-rc.d --skip-systemd-native in the maintainer scripts (as dh_installinit).
set(CPACK_DEBIAN_DAEMON_PACKAGE_PREDEPENDS "init-system-helpers (>= 1.54~)")
# libcohort.a links against these; the CMake package and cohort.pc name them.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libcurl4-openssl-dev | libcurl-dev, libsqlite3-dev, libcjson-dev, libmbedtls-dev")

# The daemon's maintainer scripts and conffiles (every file it installs under /etc).
set(_deb ${PROJECT_BINARY_DIR}/install/deb)
set(COHORT_DEB_CONFFILE "${COHORT_INSTALL_CONFDIR}/cohortd.json")
set(COHORT_DEB_INITSCRIPT "")
if(COHORT_INSTALL_SYSVINIT)
  set(COHORT_DEB_INITSCRIPT "${CMAKE_INSTALL_FULL_SYSCONFDIR}/init.d/cohortd")
endif()
foreach(_f postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/${_f}.in ${_deb}/${_f} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
set(_conffiles "${COHORT_DEB_CONFFILE}\n${COHORT_INSTALL_CONFDIR}/cohorts.json\n")
if(COHORT_DEB_INITSCRIPT)
  string(APPEND _conffiles "${COHORT_DEB_INITSCRIPT}\n")
endif()
file(WRITE ${_deb}/conffiles "${_conffiles}")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA "${_deb}/conffiles;${_deb}/postinst;${_deb}/prerm;${_deb}/postrm")

# libcohort0: dpkg's ldconfig trigger (not ldconfig in maintainer scripts: the
# post-build script drops CPack's), and a symbols file that the pre-build
# script writes from the staged library.
file(WRITE ${_deb}/triggers "activate-noawait ldconfig\n")
set(CPACK_COHORT_SYMBOLS_FILE "${_deb}/symbols")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA "${_deb}/triggers;${CPACK_COHORT_SYMBOLS_FILE}")

# What cmake/deb/prebuild.cmake needs: the copyright and changelog of every
# package, the ELF files stripped of .comment/.note, libcohort0's symbols.
find_program(COHORT_GZIP gzip)
find_program(COHORT_AWK NAMES awk mawk gawk)
mark_as_advanced(COHORT_GZIP COHORT_AWK)
# The changelog's date: SOURCE_DATE_EPOCH, else the last commit of CHANGELOG.md,
# else the file's time (the same source gives the same packages).
set(CPACK_COHORT_CHANGELOG_EPOCH "")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" log -1 --format=%ct -- CHANGELOG.md
                  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE CPACK_COHORT_CHANGELOG_EPOCH
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(NOT CPACK_COHORT_CHANGELOG_EPOCH MATCHES "^[0-9]+$")
  file(TIMESTAMP "${PROJECT_SOURCE_DIR}/CHANGELOG.md" CPACK_COHORT_CHANGELOG_EPOCH "%s" UTC)
endif()
set(CPACK_COHORT_SOURCE_DIR "${PROJECT_SOURCE_DIR}")
set(CPACK_COHORT_DEB_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/deb")
set(CPACK_COHORT_SOURCE_PACKAGE "cohort")
set(CPACK_COHORT_DOCROOT "${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc")
set(CPACK_COHORT_MANROOT "${CMAKE_INSTALL_FULL_MANDIR}")
set(CPACK_COHORT_GZIP "${COHORT_GZIP}")
set(CPACK_COHORT_AWK "${COHORT_AWK}")
set(CPACK_COHORT_STRIP "${CMAKE_STRIP}")
set(CPACK_COHORT_NM "${CMAKE_NM}")
set(CPACK_COHORT_SOVERSION "${PROJECT_VERSION_MAJOR}")
set(CPACK_COHORT_RUNTIME_COMPONENT runtime)
set(CPACK_COHORT_RUNTIME_COMPONENT_UP RUNTIME)
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_CURRENT_LIST_DIR}/deb/prebuild.cmake")
# Multi-Arch (CPack has no field for it), no ldconfig scripts.
set(CPACK_POST_BUILD_SCRIPTS "${CMAKE_CURRENT_LIST_DIR}/deb/postbuild.cmake")

include(CPack)
