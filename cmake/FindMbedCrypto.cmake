# mbedTLS 2.28 (Debian 12) ships neither a pkg-config file nor a CMake package.
find_path(MBEDCRYPTO_INCLUDE_DIR mbedtls/sha256.h)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MbedCrypto REQUIRED_VARS MBEDCRYPTO_LIBRARY MBEDCRYPTO_INCLUDE_DIR)
if(MbedCrypto_FOUND AND NOT TARGET MbedCrypto::crypto)
  add_library(MbedCrypto::crypto UNKNOWN IMPORTED)
  set_target_properties(MbedCrypto::crypto PROPERTIES
    IMPORTED_LOCATION "${MBEDCRYPTO_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${MBEDCRYPTO_INCLUDE_DIR}")
endif()
mark_as_advanced(MBEDCRYPTO_INCLUDE_DIR MBEDCRYPTO_LIBRARY)
