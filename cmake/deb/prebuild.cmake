# CPack pre-build script (CPACK_PRE_BUILD_SCRIPTS, cmake/CohortPackage.cmake).
# CPack has staged each component in CPACK_TEMPORARY_DIRECTORY/<component>/ and
# has not made the .debs yet (so md5sums covers what is added here). It does
# what debhelper does for a package built from a debian/ directory:
#   dh_installdocs        /usr/share/doc/<package>/copyright (cmake/deb/copyright)
#   dh_installchangelogs  /usr/share/doc/<package>/changelog.gz: CHANGELOG.md's
#                         Unreleased section as a Debian changelog entry, gzip -9n.
#                         (changelog.gz: the packages are native, version 0.1.0
#                         with no Debian revision; changelog.Debian.gz is the
#                         name for non-native ones.)
#   dh_compress           manual pages gzip -9n
#   dh_strip              no .comment or .note sections in ELF files
#   dh_makeshlibs         DEBIAN/symbols for libcohort0, from the staged
#                         library's dynamic symbols (cmake/deb/symbols.cmake)
# Inputs: CPACK_COHORT_* from CPackConfig.cmake.
cmake_minimum_required(VERSION 3.20)
# Debian packages only (cpack -G TGZ and the like have nothing to do here).
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()

set(stage "${CPACK_TEMPORARY_DIRECTORY}")
set(docroot "${CPACK_COHORT_DOCROOT}")  # /usr/share/doc

# --- the Debian changelog (one entry: this version) ------------------------------
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(_epoch "$ENV{SOURCE_DATE_EPOCH}")
else()
  set(_epoch "${CPACK_COHORT_CHANGELOG_EPOCH}")
endif()
set(ENV{SOURCE_DATE_EPOCH} "${_epoch}")
string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(_changelog "${CPACK_TOPLEVEL_DIRECTORY}/changelog")
execute_process(
  COMMAND "${CPACK_COHORT_AWK}" -v source=${CPACK_COHORT_SOURCE_PACKAGE} -v version=${CPACK_PACKAGE_VERSION}
          -v "maintainer=${CPACK_PACKAGE_CONTACT}" -v "date=${_date}"
          -f "${CPACK_COHORT_DEB_SOURCE_DIR}/changelog.awk" "${CPACK_COHORT_SOURCE_DIR}/CHANGELOG.md"
  OUTPUT_FILE "${_changelog}" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "prebuild.cmake: cannot make the Debian changelog from CHANGELOG.md")
endif()
execute_process(COMMAND "${CPACK_COHORT_GZIP}" -9nf "${_changelog}" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "prebuild.cmake: gzip -9n ${_changelog} failed")
endif()

# --- each package: copyright, changelog; ELF files without .comment/.note ----------
foreach(component IN LISTS CPACK_COMPONENTS_ALL)
  string(TOUPPER "${component}" _up)
  set(pkg "${CPACK_DEBIAN_${_up}_PACKAGE_NAME}")
  set(root "${stage}/${component}")
  if(NOT pkg OR NOT IS_DIRECTORY "${root}")
    message(FATAL_ERROR "prebuild.cmake: component ${component}: no package name or no staging directory ${root}")
  endif()
  set(doc "${root}${docroot}/${pkg}")
  file(MAKE_DIRECTORY "${doc}")
  file(CHMOD "${doc}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                            WORLD_READ WORLD_EXECUTE)
  configure_file("${CPACK_COHORT_DEB_SOURCE_DIR}/copyright" "${doc}/copyright" COPYONLY)
  configure_file("${_changelog}.gz" "${doc}/changelog.gz" COPYONLY)
  file(CHMOD "${doc}/copyright" "${doc}/changelog.gz"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

  # dh_compress: manual pages gzip -9n.
  file(GLOB_RECURSE _pages LIST_DIRECTORIES false "${root}${CPACK_COHORT_MANROOT}/*")
  foreach(f IN LISTS _pages)
    if(NOT f MATCHES "\\.gz$" AND NOT IS_SYMLINK "${f}")
      execute_process(COMMAND "${CPACK_COHORT_GZIP}" -9nf "${f}" RESULT_VARIABLE _rc)
      if(NOT _rc EQUAL 0)
        message(FATAL_ERROR "prebuild.cmake: gzip -9n ${f} failed")
      endif()
    endif()
  endforeach()

  file(GLOB_RECURSE _files LIST_DIRECTORIES false "${root}/*")
  foreach(f IN LISTS _files)
    if(IS_SYMLINK "${f}")
      continue()
    endif()
    file(READ "${f}" _magic LIMIT 4 HEX)
    if(_magic STREQUAL "7f454c46")  # ELF (the static archive is done at install)
      execute_process(COMMAND "${CPACK_COHORT_STRIP}" --remove-section=.comment --remove-section=.note "${f}"
                      RESULT_VARIABLE _rc)
      if(NOT _rc EQUAL 0)
        message(FATAL_ERROR "prebuild.cmake: ${CPACK_COHORT_STRIP} failed on ${f}")
      endif()
    endif()
  endforeach()
endforeach()

# --- libcohort0's symbols file ------------------------------------------------------
set(_libroot "${stage}/${CPACK_COHORT_RUNTIME_COMPONENT}")
file(GLOB_RECURSE _libs LIST_DIRECTORIES false "${_libroot}/*/libcohort.so.*")
set(_lib "")
foreach(f IN LISTS _libs)
  if(NOT IS_SYMLINK "${f}")
    set(_lib "${f}")
  endif()
endforeach()
if(NOT _lib)
  message(FATAL_ERROR "prebuild.cmake: no libcohort.so.* staged under ${_libroot}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" -DNM=${CPACK_COHORT_NM} -DLIBRARY=${_lib}
          -DBASELINE=${CPACK_COHORT_DEB_SOURCE_DIR}/libcohort0.symbols
          -DSONAME=libcohort.so.${CPACK_COHORT_SOVERSION}
          -DPACKAGE=${CPACK_DEBIAN_${CPACK_COHORT_RUNTIME_COMPONENT_UP}_PACKAGE_NAME}
          -DDEV_PACKAGE=${CPACK_DEBIAN_DEV_PACKAGE_NAME}
          -DVERSION=${CPACK_PACKAGE_VERSION} -DOUTPUT=${CPACK_COHORT_SYMBOLS_FILE}
          -P "${CPACK_COHORT_DEB_SOURCE_DIR}/symbols.cmake"
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "prebuild.cmake: cannot make the symbols file")
endif()
