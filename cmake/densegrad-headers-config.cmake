# Shipped inside the Python wheel (densegrad.get_cmake_dir()): the headers only, as the INTERFACE
# target densegrad::headers. The wheel holds no C++ library (it would double the wheel's size);
# to link the kernels, install the C++ library with CMake (see the README) or add_subdirectory.
get_filename_component(_densegrad_include "${CMAKE_CURRENT_LIST_DIR}/../../../include" ABSOLUTE)
if(NOT TARGET densegrad::headers)
  add_library(densegrad::headers INTERFACE IMPORTED)
  set_target_properties(densegrad::headers PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_densegrad_include}"
    INTERFACE_COMPILE_FEATURES cxx_std_17)
endif()
set(densegrad_INCLUDE_DIR "${_densegrad_include}")
unset(_densegrad_include)
