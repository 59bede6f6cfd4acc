# libcohort0's DEBIAN/symbols (what dpkg-gensymbols would write) from the
# library's exported symbols, so a symbol added to the C API is in it at once:
#
#   cmake -DNM=nm -DLIBRARY=libcohort.so.0.1.0 -DBASELINE=libcohort0.symbols
#         -DSONAME=libcohort.so.0 -DPACKAGE=libcohort0 -DDEV_PACKAGE=libcohort-dev
#         -DVERSION=0.1.0 -DOUTPUT=symbols -P symbols.cmake
#
# Each symbol's version is the one it appeared in: as BASELINE records it
# (cmake/deb/libcohort0.symbols, kept in the tree: record new symbols there
# when their version is released), else VERSION (new in this one). A symbol
# BASELINE records that the library no longer exports is left out, and
# named: that is an ABI break (tests/packaging/test_package.sh fails on it).
cmake_minimum_required(VERSION 3.20)
foreach(v NM LIBRARY BASELINE SONAME PACKAGE DEV_PACKAGE VERSION OUTPUT)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "symbols.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND "${NM}" -D --defined-only "${LIBRARY}"
                OUTPUT_VARIABLE _nm RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "symbols.cmake: ${NM} -D --defined-only ${LIBRARY} failed")
endif()
string(REGEX MATCHALL "[^\n]+" _lines "${_nm}")
set(_exported "")
foreach(_l IN LISTS _lines)
  # "0000000000012345 T cohort_open"; A (absolute) entries are version nodes.
  if(_l MATCHES "^[0-9a-fA-F]* *[BDGRSTVWiu] +([A-Za-z_][A-Za-z0-9_]*)(@.*)?$")
    list(APPEND _exported "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _exported)
list(SORT _exported)
if(NOT _exported)
  message(FATAL_ERROR "symbols.cmake: ${LIBRARY} exports no symbol")
endif()

# The baseline: " name@Base version" lines (a Debian symbols file).
file(STRINGS "${BASELINE}" _base REGEX "^ [A-Za-z_][A-Za-z0-9_]*@Base [^ ]+")
set(_known "")
foreach(_l IN LISTS _base)
  string(REGEX MATCH "^ ([A-Za-z_][A-Za-z0-9_]*)@Base ([^ ]+)" _m "${_l}")
  set(_since_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
  list(APPEND _known "${CMAKE_MATCH_1}")
endforeach()

set(_out "${SONAME} ${PACKAGE} #MINVER#\n* Build-Depends-Package: ${DEV_PACKAGE}\n")
set(_new "")
foreach(_s IN LISTS _exported)
  if(DEFINED _since_${_s})
    string(APPEND _out " ${_s}@Base ${_since_${_s}}\n")
  else()
    string(APPEND _out " ${_s}@Base ${VERSION}\n")
    list(APPEND _new "${_s}")
  endif()
endforeach()
foreach(_s IN LISTS _known)
  if(NOT _s IN_LIST _exported)
    message(WARNING "symbols.cmake: ${_s} (since ${_since_${_s}}, ${BASELINE}) is no longer exported by ${LIBRARY}: an ABI break")
  endif()
endforeach()
if(_new)
  string(REPLACE ";" ", " _new "${_new}")
  message(STATUS "symbols.cmake: new in ${VERSION} (not yet in ${BASELINE}): ${_new}")
endif()
file(WRITE "${OUTPUT}" "${_out}")
