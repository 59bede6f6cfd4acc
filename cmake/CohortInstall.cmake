# Install rules for the library and the service files, cohort.pc, and the
# CMake package (find_package(cohort) -> cohort::cohort, cohort::cohort_static).
# cohortd and cohortctl install themselves (agent/daemon, agent/cli).
#
# Components, one Debian package each (cmake/CohortPackage.cmake):
#   daemon   cohortd, cohortctl, the systemd unit, the init script (/etc/init.d/cohortd),
#            /etc/cohort/cohortd.json and cohorts.json, docs
#   runtime  libcohort.so.N
#   dev      cohort.h, libcohort.so (link), libcohort.a, cohort.pc, CMake package
#
# Paths follow GNUInstallDirs: with CMAKE_INSTALL_PREFIX=/usr (the packages,
# the *-release presets) the libraries go to lib/<multiarch triplet> and the
# configuration to /etc/cohort; with /usr/local (make install's default) to
# lib and /usr/local/etc/cohort.
include(CMakePackageConfigHelpers)

# Empty: derived from the prefix each time it is configured (GNUInstallDirs).
set(COHORT_CMAKEDIR "" CACHE STRING
    "Where the CMake package goes, relative to the prefix (empty: <libdir>/cmake/cohort)")
set(COHORT_SYSTEMDUNITDIR "lib/systemd/system" CACHE STRING
    "Where cohortd.service goes, relative to the prefix")
set(COHORT_CONFDIR "" CACHE STRING
    "Where cohortd.json goes, absolute (empty: <sysconfdir>/cohort: /etc/cohort for prefix /usr)")
mark_as_advanced(COHORT_CMAKEDIR COHORT_SYSTEMDUNITDIR COHORT_CONFDIR)
set(COHORT_INSTALL_CMAKEDIR "${COHORT_CMAKEDIR}")
if(NOT COHORT_INSTALL_CMAKEDIR)
  set(COHORT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/cohort")
endif()
set(COHORT_INSTALL_SYSTEMDUNITDIR "${COHORT_SYSTEMDUNITDIR}")
set(COHORT_INSTALL_CONFDIR "${COHORT_CONFDIR}")
if(NOT COHORT_INSTALL_CONFDIR)
  set(COHORT_INSTALL_CONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/cohort")
endif()

# --- libcohort -------------------------------------------------------------

# The static library's link interface names the build's dependency targets
# (PkgConfig::SQLITE, MbedCrypto::crypto, ...), which an app finding the
# installed package does not have: installed, it names the plain libraries
# (resolved by the app's linker in its own sysroot) and Threads::Threads.
get_target_property(_cohort_deps cohort_static INTERFACE_LINK_LIBRARIES)
set(_cohort_iface "")
foreach(_dep IN LISTS _cohort_deps)
  if(_dep MATCHES "^\\$<")  # already a generator expression: keep it
    list(APPEND _cohort_iface "${_dep}")
    continue()
  endif()
  set(_plain "")
  if(_dep MATCHES "^PkgConfig::(.+)$")
    set(_plain ${${CMAKE_MATCH_1}_LIBRARIES})
  elseif(TARGET "${_dep}")
    get_target_property(_imported "${_dep}" IMPORTED)
    get_target_property(_location "${_dep}" IMPORTED_LOCATION)
    if(_imported AND _location)
      get_filename_component(_plain "${_location}" NAME_WE)
      string(REGEX REPLACE "^lib" "" _plain "${_plain}")
    else()
      set(_plain "${_dep}")  # Threads::Threads: the config file finds it
    endif()
  else()
    set(_plain "${_dep}")
  endif()
  list(APPEND _cohort_iface "$<BUILD_INTERFACE:${_dep}>")
  foreach(_p IN LISTS _plain)
    list(APPEND _cohort_iface "$<INSTALL_INTERFACE:${_p}>")
  endforeach()
endforeach()
# A C app linking the C++ archive needs the C++ runtime too.
list(APPEND _cohort_iface "$<INSTALL_INTERFACE:stdc++>" "$<INSTALL_INTERFACE:m>")
set_property(TARGET cohort_static PROPERTY INTERFACE_LINK_LIBRARIES "${_cohort_iface}")
set_target_properties(cohort_static PROPERTIES EXPORT_NAME cohort_static)

install(TARGETS cohort cohort_static EXPORT cohortTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/agent/include/cohort/cohort.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cohort COMPONENT dev)

# A size-first build compiles fat LTO objects; the installed archive keeps only
# the machine code (an app's own compiler may not read this GCC's LTO bytecode),
# without the compiler's .comment/.note sections (as Debian's dh_strip does).
if(COHORT_SIZE AND CMAKE_STRIP)
  install(CODE "
    set(_a \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:cohort_static>\")
    if(EXISTS \"\${_a}\")
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug --enable-deterministic-archives
                              --remove-section=.gnu.lto_* --remove-section=.gnu.debuglto_*
                              --remove-section=.comment --remove-section=.note
                              -N __gnu_lto_v1 -N __gnu_lto_slim \"\${_a}\"
                      RESULT_VARIABLE _rc)
      if(NOT _rc EQUAL 0)
        message(FATAL_ERROR \"stripping LTO sections from \${_a} failed\")
      endif()
    endif()" COMPONENT dev)
endif()

# cohortd finds libcohort.so under a prefix the loader does not search
# (/usr/local, /opt/...) through a relative RUNPATH; none under /usr.
if(NOT CMAKE_INSTALL_FULL_LIBDIR MATCHES "^/(usr/)?lib(32|64)?(/[^/]+-linux-[^/]+)?/?$" AND TARGET cohortd)
  file(RELATIVE_PATH _rel "${CMAKE_INSTALL_FULL_SBINDIR}" "${CMAKE_INSTALL_FULL_LIBDIR}")
  set_target_properties(cohortd PROPERTIES INSTALL_RPATH "$ORIGIN/${_rel}")
endif()

# cohort.pc: an absolute prefix, so PKG_CONFIG_SYSROOT_DIR works for a sysroot.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(COHORT_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(COHORT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(COHORT_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(COHORT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# libcurl only when it is the transport (COHORT_TRANSPORT).
set(COHORT_PC_TRANSPORT_LIBS "")
if(COHORT_TRANSPORT STREQUAL "curl")
  set(COHORT_PC_TRANSPORT_LIBS "-lcurl ")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/cohort.pc.in ${PROJECT_BINARY_DIR}/install/cohort.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/install/cohort.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# The CMake package: targets relative to the config file, so it relocates
# (CMAKE_PREFIX_PATH=<root>/usr finds it in an unpacked package or a sysroot).
install(EXPORT cohortTargets NAMESPACE cohort:: DESTINATION ${COHORT_INSTALL_CMAKEDIR} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/cohortConfig.cmake.in
  ${PROJECT_BINARY_DIR}/install/cohortConfig.cmake
  INSTALL_DESTINATION ${COHORT_INSTALL_CMAKEDIR})
# 0.x: a new minor version may change the ABI.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/install/cohortConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/install/cohortConfig.cmake
              ${PROJECT_BINARY_DIR}/install/cohortConfigVersion.cmake
  DESTINATION ${COHORT_INSTALL_CMAKEDIR} COMPONENT dev)

# --- cohortd's service files ---------------------------------------------------

# Which service files to install: a distribution that installs them its own
# way (Buildroot: S60cohortd, only for its init system) turns these off.
option(COHORT_INSTALL_SYSTEMD_UNIT "Install cohortd.service" ON)
option(COHORT_INSTALL_SYSVINIT "Install the SysV/BusyBox init script as <sysconfdir>/init.d/cohortd" ON)
mark_as_advanced(COHORT_INSTALL_SYSTEMD_UNIT COHORT_INSTALL_SYSVINIT)

# The unit and the init script name the daemon and its configuration by their
# installed paths (the same files, unchanged, for prefix /usr).
function(cohort_installed_paths in out)
  file(READ ${PROJECT_SOURCE_DIR}/${in} _text)
  string(REPLACE "/usr/sbin/cohortd" "${CMAKE_INSTALL_FULL_SBINDIR}/cohortd" _text "${_text}")
  string(REPLACE "/etc/cohort/" "${COHORT_INSTALL_CONFDIR}/" _text "${_text}")
  string(REPLACE "/usr/share/doc/cohort/" "${CMAKE_INSTALL_FULL_DOCDIR}/" _text "${_text}")
  file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/install/${out} CONTENT "${_text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${in})
endfunction()
cohort_installed_paths(samples/service/cohortd.service cohortd.service)
cohort_installed_paths(samples/service/cohortd.init cohortd.init)
cohort_installed_paths(samples/config/cohortd.json cohortd.json)

if(COHORT_INSTALL_SYSTEMD_UNIT)
  install(FILES ${PROJECT_BINARY_DIR}/install/cohortd.service
    DESTINATION ${COHORT_INSTALL_SYSTEMDUNITDIR} COMPONENT daemon)
endif()
# The init script (SysV init, BusyBox): /etc/init.d/cohortd for prefix /usr.
if(COHORT_INSTALL_SYSVINIT)
  install(PROGRAMS ${PROJECT_BINARY_DIR}/install/cohortd.init
    DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/init.d RENAME cohortd COMPONENT daemon)
endif()

# The configuration: conffiles in the package (dpkg keeps local edits). 0644:
# the shipped one holds no secret (the API key is provisioned in its own file,
# api.key_file); the postinst makes it 0640 root:cohort, for a key written inline.
install(FILES ${PROJECT_BINARY_DIR}/install/cohortd.json
  DESTINATION ${COHORT_INSTALL_CONFDIR} COMPONENT daemon)
# The local cohort definitions the configuration names (cohorts.definitions):
# none. The device's own go here (SIGHUP reloads them); the samples are in the
# documentation (examples/cohorts.json): made-up cohort ids must not reach the
# ad requests of a real device.
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/install/cohorts.json CONTENT "{\"cohorts\": []}\n")
install(FILES ${PROJECT_BINARY_DIR}/install/cohorts.json
  DESTINATION ${COHORT_INSTALL_CONFDIR} COMPONENT daemon)

# Documentation: the README the unit points at, the configuration keys, and
# the sample cohort definitions.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/samples/config/README.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME configuration.md COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/samples/definitions/cohorts.json
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT daemon)

# Manual pages (docs/man): cohortctl(1), cohortd.json(5) and cohortd(8) with the
# daemon, libcohort(3) with the development files.
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/cohortctl.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/cohortd.json.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/cohortd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/libcohort.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT dev)
# Shell completion for cohortctl (contrib/completion), where bash-completion and
# Debian's zsh look for it.
install(FILES ${PROJECT_SOURCE_DIR}/contrib/completion/cohortctl.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME cohortctl COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/contrib/completion/_cohortctl
  DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT daemon)
