# A vendor's cross toolchain and sysroot: a Yocto/OpenEmbedded SDK, a Buildroot
# SDK or output/host, a SoC vendor's BSP. Two inputs, from -D or the environment:
#
#   COHORT_SYSROOT            the target's root filesystem image with headers and
#                             libraries (libcurl, cJSON, SQLite, mbedTLS, their .pc)
#                               Yocto:     $SDK/sysroots/cortexa53-poky-linux
#                               Buildroot: $HOST_DIR/aarch64-buildroot-linux-gnu/sysroot
#   COHORT_TOOLCHAIN_PREFIX   the compilers' common prefix, a path or a name on PATH
#                               Yocto:     $SDK/sysroots/x86_64-pokysdk-linux/usr/bin/aarch64-poky-linux/aarch64-poky-linux-
#                               Buildroot: $HOST_DIR/bin/aarch64-buildroot-linux-gnu-
#
# Optional:
#   COHORT_SYSTEM_PROCESSOR   aarch64, armv7l, ... (default: the prefix's first word)
#   COHORT_EMULATOR           how to run target programs for CTest, a ;-list
#                             (default: qemu-aarch64/qemu-arm -L ${COHORT_SYSROOT} when installed)
#   CFLAGS / CXXFLAGS / LDFLAGS  (environment, first configure) the SDK's target
#                             flags, e.g. -mcpu=cortex-a53 or -march=armv7-a -mfpu=neon -mfloat-abi=hard
#
#   cmake -S . -B build/stb -DCMAKE_TOOLCHAIN_FILE=toolchains/vendor.cmake \
#         -DCOHORT_SYSROOT=/opt/stb-sdk/sysroot -DCOHORT_TOOLCHAIN_PREFIX=/opt/stb-sdk/bin/aarch64-stb-linux-gnu- \
#         -DCMAKE_BUILD_TYPE=MinSizeRel -DCOHORT_SIZE=ON -DCOHORT_BUILD_TESTS=OFF
#
# See toolchains/README.md.
set(CMAKE_SYSTEM_NAME Linux)

# try_compile() projects read this file again: hand them the inputs.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES
     COHORT_SYSROOT COHORT_TOOLCHAIN_PREFIX COHORT_SYSTEM_PROCESSOR COHORT_EMULATOR)
foreach(_v COHORT_SYSROOT COHORT_TOOLCHAIN_PREFIX COHORT_SYSTEM_PROCESSOR COHORT_EMULATOR)
  if(NOT DEFINED ${_v} AND DEFINED ENV{${_v}})
    set(${_v} "$ENV{${_v}}")
  endif()
endforeach()
if(NOT COHORT_SYSROOT OR NOT COHORT_TOOLCHAIN_PREFIX)
  message(FATAL_ERROR "toolchains/vendor.cmake needs COHORT_SYSROOT and COHORT_TOOLCHAIN_PREFIX "
                      "(-D or environment); see toolchains/README.md")
endif()
if(NOT IS_DIRECTORY "${COHORT_SYSROOT}")
  message(FATAL_ERROR "COHORT_SYSROOT=${COHORT_SYSROOT} is not a directory")
endif()
get_filename_component(COHORT_SYSROOT "${COHORT_SYSROOT}" ABSOLUTE)

# aarch64-poky-linux- -> triple aarch64-poky-linux, processor aarch64.
get_filename_component(_cohort_triple "${COHORT_TOOLCHAIN_PREFIX}" NAME)
string(REGEX REPLACE "-$" "" _cohort_triple "${_cohort_triple}")
if(NOT COHORT_SYSTEM_PROCESSOR)
  string(REGEX REPLACE "-.*$" "" COHORT_SYSTEM_PROCESSOR "${_cohort_triple}")
endif()
set(CMAKE_SYSTEM_PROCESSOR ${COHORT_SYSTEM_PROCESSOR})

if(COHORT_SYSTEM_PROCESSOR MATCHES "^arm")
  # 32-bit ARM: GCC's note about a GCC 7.1 ABI change for std::pair<long long, ...>.
  set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
endif()

set(CMAKE_SYSROOT "${COHORT_SYSROOT}")
set(CMAKE_C_COMPILER "${COHORT_TOOLCHAIN_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${COHORT_TOOLCHAIN_PREFIX}g++")
# CMake finds the toolchain's binutils (ar, strip, gcc-ar for LTO) from the
# compilers' prefix.

# Find headers, libraries and packages in the sysroot only; programs on the host.
set(CMAKE_FIND_ROOT_PATH "${COHORT_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# A Debian-style sysroot keeps libraries in lib/<triple> (multiarch).
if(IS_DIRECTORY "${COHORT_SYSROOT}/usr/lib/${_cohort_triple}")
  set(CMAKE_LIBRARY_ARCHITECTURE ${_cohort_triple})
endif()

# pkg-config reads the sysroot's .pc files and prefixes their paths with it.
set(_cohort_pc "")
foreach(_d usr/lib/${_cohort_triple}/pkgconfig usr/lib64/pkgconfig usr/lib/pkgconfig usr/share/pkgconfig
           lib/${_cohort_triple}/pkgconfig lib/pkgconfig)
  if(IS_DIRECTORY "${COHORT_SYSROOT}/${_d}")
    list(APPEND _cohort_pc "${COHORT_SYSROOT}/${_d}")
  endif()
endforeach()
list(JOIN _cohort_pc ":" _cohort_pc)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${COHORT_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR} "${_cohort_pc}")
set(ENV{PKG_CONFIG_PATH} "")

# The sysroot's libraries' own dependencies (libssl for libcurl, ...).
set(_cohort_rpath_link "")
foreach(_d lib usr/lib lib64 usr/lib64 lib/${_cohort_triple} usr/lib/${_cohort_triple})
  if(IS_DIRECTORY "${COHORT_SYSROOT}/${_d}")
    string(APPEND _cohort_rpath_link ":${COHORT_SYSROOT}/${_d}")
  endif()
endforeach()
if(_cohort_rpath_link)
  string(SUBSTRING "${_cohort_rpath_link}" 1 -1 _cohort_rpath_link)
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_cohort_rpath_link}")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_cohort_rpath_link}")
endif()

# Running target programs (CTest's unit and integration tests) under qemu-user,
# with the sysroot's dynamic loader and libraries.
if(NOT COHORT_EMULATOR)
  if(COHORT_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
    set(_cohort_qemu qemu-aarch64)
  elseif(COHORT_SYSTEM_PROCESSOR MATCHES "^arm")
    set(_cohort_qemu qemu-arm)
  else()
    set(_cohort_qemu qemu-${COHORT_SYSTEM_PROCESSOR})
  endif()
  find_program(COHORT_QEMU ${_cohort_qemu})
  if(COHORT_QEMU)
    set(COHORT_EMULATOR ${COHORT_QEMU} -L ${COHORT_SYSROOT})
  endif()
endif()
if(COHORT_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${COHORT_EMULATOR})
endif()
