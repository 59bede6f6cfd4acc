# 32-bit ARMv7 hard-float (armhf) TVs and set-top boxes, with Debian multiarch :armhf libraries.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(COHORT_TRIPLE arm-linux-gnueabihf)
set(COHORT_QEMU_NAME qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/multiarch.cmake)
