# Shared part of the Debian multiarch toolchains: the cross compiler from
# gcc-${COHORT_TRIPLE}, the target libraries from the :${arch} -dev packages
# in /usr/lib/${COHORT_TRIPLE}, and qemu-user to run what we build.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${COHORT_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${COHORT_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${COHORT_TRIPLE})
# Installs under /usr go to lib/${COHORT_TRIPLE}, as Debian's own packages (CMakeLists.txt).
set(COHORT_DEBIAN_MULTIARCH ON)
set(CMAKE_FIND_ROOT_PATH /usr/${COHORT_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${COHORT_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
# The multiarch libraries' own dependencies (libssl, libnghttp2, ...) live there too.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,/usr/lib/${COHORT_TRIPLE}:/lib/${COHORT_TRIPLE}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,/usr/lib/${COHORT_TRIPLE}:/lib/${COHORT_TRIPLE}")
find_program(COHORT_QEMU ${COHORT_QEMU_NAME})
if(COHORT_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${COHORT_QEMU} -L /)
endif()
