# Debian packages from one build (cpack -G DEB; `make package` builds them for
# amd64, arm64 and armhf into build/packages/):
#   cohortd        the daemon, cohortctl, the systemd unit, /etc/cohort/cohortd.json
#                  (a conffile); its postinst creates the system user `cohort`
#   libcohort0     libcohort.so.0
#   libcohort-dev  cohort.h, libcohort.a, libcohort.so, cohort.pc, the CMake package
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
set(CPACK_PACKAGE_CONTACT "cohort agent maintainers <cohort-agent@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
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
set(CPACK_COMPONENT_DAEMON_DESCRIPTION "on-device audience agent: cohortd service and cohortctl
 cohortd runs the cohort agent as a service: identity, sessions and views,
 engagement events, local cohorts decided in microseconds, cached CCS and
 Contextual API answers, background sync. Apps and smart-speaker integrations
 talk JSON-RPC to its Unix socket; cohortctl is its command-line client.")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "on-device audience agent: shared library
 libcohort is the cohort agent as a C library for connected-TV apps: the same
 engine as cohortd, behind a small C API.")
set(CPACK_COMPONENT_DEV_DESCRIPTION "on-device audience agent: development files
 The header cohort/cohort.h, the static library, cohort.pc for pkg-config and
 the CMake package (find_package(cohort) -> cohort::cohort).")

# Dependencies. cohortd and libcohort0 get theirs from dpkg-shlibdeps on a native
# build; a cross build lists the same Debian 12 packages (what dpkg-shlibdeps
# computes for them with DEB_HOST_ARCH set: checked for arm64 and armhf).
find_program(COHORT_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(COHORT_DPKG_SHLIBDEPS)
if(NOT CMAKE_CROSSCOMPILING AND COHORT_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_DAEMON_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
  get_target_property(_libdir cohort BINARY_DIR)  # libcohort.so.0, needed by cohortd
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${_libdir}")
else()
  if(COHORT_DEB_ARCH_EFFECTIVE MATCHES "^arm(hf|el)$")
    set(_gcc_s "3.5")  # the ARM EABI unwinder's symbol version
  else()
    set(_gcc_s "3.3.1")
  endif()
  set(_base "libc6 (>= 2.34), libgcc-s1 (>= ${_gcc_s}), libstdc++6 (>= 11)")
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS
      "${_base}, libcjson1 (>= 1.7.13), libcurl4 (>= 7.16.2), libmbedcrypto7 (>= 2.28.0), libsqlite3-0 (>= 3.7.15)")
  set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "${_base}, libcjson1 (>= 1.7.13)")
endif()
# libcohort.a links against these; the CMake package and cohort.pc name them.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libcurl4-openssl-dev | libcurl-dev, libsqlite3-dev, libcjson-dev, libmbedtls-dev")

# The daemon's maintainer scripts and conffiles.
set(_deb ${PROJECT_BINARY_DIR}/install/deb)
set(COHORT_DEB_CONFFILE "${COHORT_INSTALL_CONFDIR}/cohortd.json")
foreach(_f postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/${_f}.in ${_deb}/${_f} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
file(WRITE ${_deb}/conffiles "${COHORT_DEB_CONFFILE}\n")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA "${_deb}/conffiles;${_deb}/postinst;${_deb}/prerm;${_deb}/postrm")

# Multi-Arch: same for the libraries, foreign for the daemon (CPack has no field for it).
set(CPACK_POST_BUILD_SCRIPTS "${CMAKE_CURRENT_LIST_DIR}/deb/multiarch.cmake")

include(CPack)
