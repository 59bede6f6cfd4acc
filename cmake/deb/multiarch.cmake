# CPack post-build script (CPACK_POST_BUILD_SCRIPTS): writes the Multi-Arch field,
# which CPack's DEB generator has no variable for. The libraries are "same": the
# arm64 and armhf libcohort0 / libcohort-dev install beside the amd64 ones (their
# files are under the multiarch libdir, or identical, like the header). The daemon
# is "foreign": it satisfies a Depends on cohortd from any architecture.
foreach(deb IN LISTS CPACK_PACKAGE_FILES)
  execute_process(COMMAND dpkg-deb -f "${deb}" Package OUTPUT_VARIABLE pkg OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "multiarch.cmake: cannot read ${deb}")
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
    message(FATAL_ERROR "multiarch.cmake: cannot unpack ${deb}")
  endif()
  file(READ "${root}/DEBIAN/control" control)
  string(REGEX REPLACE "\n+$" "" control "${control}")
  file(WRITE "${root}/DEBIAN/control" "${control}\nMulti-Arch: ${multiarch}\n")
  execute_process(COMMAND dpkg-deb --root-owner-group -b "${root}" "${deb}" OUTPUT_QUIET RESULT_VARIABLE rc)
  file(REMOVE_RECURSE "${root}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "multiarch.cmake: cannot rebuild ${deb}")
  endif()
endforeach()
