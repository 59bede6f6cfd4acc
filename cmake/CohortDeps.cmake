# The five dependencies, from the host or the cross target's multiarch directories
# (libcurl only for COHORT_TRANSPORT=curl).
find_package(PkgConfig REQUIRED)
if(COHORT_TRANSPORT STREQUAL "curl")
  pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
endif()
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
find_package(MbedCrypto REQUIRED)
find_package(Threads REQUIRED)
if(COHORT_BUILD_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
