# CPack post-build script (CPACK_POST_BUILD_SCRIPTS): what CPack's DEB generator
# has no variable for, done on each finished .deb (unpacked, changed, rebuilt):
#   - the Multi-Arch field. The libraries are "same": the arm64 and armhf
#     libcohort0 / libcohort-dev install beside the amd64 ones (their files are
#     under the multiarch libdir, or identical, like the header). The daemon is
#     "foreign": it satisfies a Depends on cohortd from any architecture.
#   - no maintainer scripts that only call ldconfig. CPack writes them for a
#     package with a shared library under /usr/lib; libcohort0 activates dpkg's
#     ldconfig trigger instead (DEBIAN/triggers: activate-noawait ldconfig), as
#     Debian's policy (8.1.1) and debhelper do.
# Debian packages only (cpack -G TGZ and the like have nothing to do here).
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()
foreach(deb IN LISTS CPACK_PACKAGE_FILES)
  execute_process(COMMAND dpkg-deb -f "${deb}" Package OUTPUT_VARIABLE pkg OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "postbuild.cmake: cannot read ${deb}")
  endif()
  if(pkg MATCHES "^libcohort")
    set(multiarch same)
  else()
    set(multiarch foreign)
  endif()
  set(root "${deb}.root")
  file(REMOVE_RECURSE "${root}")
  execute_process(COMMAND dpkg-deb -R "${deb}" "${root}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "postbuild.cmake: cannot unpack ${deb}")
  endif()
  file(READ "${root}/DEBIAN/control" control)
  string(REGEX REPLACE "\n+$" "" control "${control}")
  file(WRITE "${root}/DEBIAN/control" "${control}\nMulti-Arch: ${multiarch}\n")

  foreach(script postinst postrm)
    set(f "${root}/DEBIAN/${script}")
    if(EXISTS "${f}" AND EXISTS "${root}/DEBIAN/triggers")
      file(READ "${f}" text)
      # CPack's: "#!/bin/sh", "set -e", and `ldconfig` under one `if`; nothing else.
      string(REGEX REPLACE "#[^\n]*|set -e|if \\[ \"\\$1\" = \"[a-z]+\" \\]; then|ldconfig|fi|[ \t\n]" "" rest "${text}")
      if(rest STREQUAL "")
        file(REMOVE "${f}")
      else()
        message(FATAL_ERROR "postbuild.cmake: ${pkg}'s ${script} does more than call ldconfig:\n${text}")
      endif()
    endif()
  endforeach()

  execute_process(COMMAND dpkg-deb --root-owner-group -b "${root}" "${deb}" OUTPUT_QUIET RESULT_VARIABLE rc)
  file(REMOVE_RECURSE "${root}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "postbuild.cmake: cannot rebuild ${deb}")
  endif()
endforeach()
