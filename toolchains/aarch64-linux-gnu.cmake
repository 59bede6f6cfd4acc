# 64-bit ARM (aarch64) TVs and set-top boxes, with Debian multiarch :arm64 libraries.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(COHORT_TRIPLE aarch64-linux-gnu)
set(COHORT_QEMU_NAME qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/multiarch.cmake)
