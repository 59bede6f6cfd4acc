# The layers (DESIGN.md, "Layout"), enforced by the build: a part may include
# the headers of a layer only when it links that layer.
#
# A layer's headers are included by the layer's name: "platform/clock.h",
# "storage/store.h", "rules/engine.h". An include root at the top of the tree
# would let any part include any other, so each layer gets a root of its own
# under the build tree, holding one symbolic link (named as the layer's headers
# are included) to what it exposes. That root is the layer's PUBLIC include
# directory: its own sources and what links it find the headers there, and
# nothing else does. A part that includes a layer it may not link fails to
# compile: "storage/store.h: No such file or directory".
#
#   cohort_layer_headers(<target> <name> <path>)
#
# <name>: how the headers are included ("platform", or "platform/sha256.h" to
# expose one header of a directory); <path>: the directory (or file) it stands
# for. The links are made when CMake configures; a header added to a linked
# directory needs nothing more.
function(cohort_layer_headers target name path)
  set(root ${PROJECT_BINARY_DIR}/layers/${target})
  get_filename_component(parent ${root}/${name} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(CREATE_LINK ${path} ${root}/${name} SYMBOLIC)
  target_include_directories(${target} PUBLIC ${root})
endfunction()

# The external libraries a set of layers (object libraries) link, directly or
# through one another, each once: what a binary made of their objects links.
# Each layer says what it uses; libcohort and the tests link that and no more.
function(cohort_layer_links out)
  set(links "")
  foreach(layer ${ARGN})
    get_target_property(layer_links ${layer} INTERFACE_LINK_LIBRARIES)
    if(NOT layer_links)
      continue()
    endif()
    foreach(lib ${layer_links})
      # A PRIVATE link of an object library is $<LINK_ONLY:...> here.
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.+)>$" "\\1" lib "${lib}")
      if(lib IN_LIST ARGN)
        continue()
      endif()
      if(TARGET ${lib})
        get_target_property(type ${lib} TYPE)
        if(type STREQUAL "OBJECT_LIBRARY")
          message(FATAL_ERROR "${layer} links the layer ${lib}, which is not among: ${ARGN}")
        endif()
      endif()
      list(APPEND links ${lib})
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES links)
  set(${out} ${links} PARENT_SCOPE)
endfunction()
