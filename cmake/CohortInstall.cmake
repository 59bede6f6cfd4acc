# Install rules for the library and the service files, cohort.pc, and the
# CMake package (find_package(cohort) -> cohort::cohort, cohort::cohort_static).
# cohortd and cohortctl install themselves (agent/daemon, agent/cli).
#
# Components, one Debian package each (cmake/CohortPackage.cmake):
#   daemon   cohortd, cohortctl, the systemd unit, /etc/cohort/cohortd.json, docs
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
# the machine code (an app's own compiler may not read this GCC's LTO bytecode).
if(COHORT_SIZE AND CMAKE_STRIP)
  install(CODE "
    set(_a \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:cohort_static>\")
    if(EXISTS \"\${_a}\")
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug --enable-deterministic-archives
                              --remove-section=.gnu.lto_* --remove-section=.gnu.debuglto_*
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

# The unit names the daemon and its configuration by their installed paths.
file(READ ${PROJECT_SOURCE_DIR}/samples/service/cohortd.service _unit)
string(REPLACE "/usr/sbin/cohortd" "${CMAKE_INSTALL_FULL_SBINDIR}/cohortd" _unit "${_unit}")
string(REPLACE "/etc/cohort/" "${COHORT_INSTALL_CONFDIR}/" _unit "${_unit}")
string(REPLACE "/usr/share/doc/cohort/" "${CMAKE_INSTALL_FULL_DOCDIR}/" _unit "${_unit}")
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/install/cohortd.service CONTENT "${_unit}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/samples/service/cohortd.service)
install(FILES ${PROJECT_BINARY_DIR}/install/cohortd.service
  DESTINATION ${COHORT_INSTALL_SYSTEMDUNITDIR} COMPONENT daemon)

# The configuration: a conffile in the package (dpkg keeps local edits); 0640,
# the postinst gives it to group cohort (the daemon's user reads it).
install(FILES ${PROJECT_SOURCE_DIR}/samples/config/cohortd.json
  DESTINATION ${COHORT_INSTALL_CONFDIR}
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
  COMPONENT daemon)

# Documentation: the README the unit points at, the configuration keys, and
# the BusyBox/SysV init script for systems without systemd.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/samples/config/README.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME configuration.md COMPONENT daemon)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/samples/service/cohortd.init
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT daemon)
