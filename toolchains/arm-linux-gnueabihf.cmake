# 32-bit ARMv7 hard-float (armhf) TVs and set-top boxes, with Debian multiarch :armhf libraries.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(COHORT_TRIPLE arm-linux-gnueabihf)
set(COHORT_QEMU_NAME qemu-arm)
# GCC's note that passing std::pair<long long, ...> changed ABI in GCC 7.1 only
# matters when linking with code built by GCC < 7.1; it floods the build log.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
include(${CMAKE_CURRENT_LIST_DIR}/multiarch.cmake)
