# COHORT_HARDEN: Debian's hardening flags (dpkg-buildflags with
# DEB_BUILD_MAINT_OPTIONS=hardening=+all on Debian 12) for the builds that are
# shipped. The size presets (host-size, aarch64-release, armhf-release: what
# `make package` builds) turn it on; -Os, LTO and --gc-sections are unchanged.
#
#   -D_FORTIFY_SOURCE=2       libc calls with a known buffer size are checked
#                             (needs optimisation: not in a Debug build)
#   -fstack-protector-strong  stack canaries in functions with arrays or
#                             address-taken locals
#   -Wl,-z,relro -Wl,-z,now   relocations resolved at load time, then the GOT is
#                             made read-only (full RELRO)
#   PIE                       executables are position-independent (-pie), so
#                             ASLR moves them too
#
# A distribution that brings its own flags (Yocto's security_flags.inc,
# Buildroot's BR2_SSP_*/BR2_RELRO_*/BR2_FORTIFY_SOURCE_*) leaves it off: the
# recipes in contrib/ do.
option(COHORT_HARDEN "Hardening flags: fortify, stack protector, full RELRO, PIE" OFF)
if(NOT COHORT_HARDEN)
  return()
endif()

include(CheckPIESupported)
check_pie_supported(OUTPUT_VARIABLE _pie_msg LANGUAGES C CXX)
if(NOT CMAKE_C_LINK_PIE_SUPPORTED OR NOT CMAKE_CXX_LINK_PIE_SUPPORTED)
  message(WARNING "COHORT_HARDEN: the linker cannot make PIE executables: ${_pie_msg}")
endif()
# CMAKE_POSITION_INDEPENDENT_CODE (set for every target) now also links executables with -pie.

# Some compilers define _FORTIFY_SOURCE already (Ubuntu's, at level 3): one definition.
set(_opt_configs "$<CONFIG:Release,MinSizeRel,RelWithDebInfo>")
add_compile_options("$<${_opt_configs}:-U_FORTIFY_SOURCE>" "$<${_opt_configs}:-D_FORTIFY_SOURCE=2>"
                    -fstack-protector-strong)
add_link_options(-Wl,-z,relro -Wl,-z,now)
