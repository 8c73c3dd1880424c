# The wheel must import and run on CPUs without AVX2 or AVX-512: gemm_avx2.cpp (-mavx2 -mfma),
# gemm_avx512.cpp (-mavx512f) and optim_avx2.cpp (-mavx2) are the only files built for more than
# the baseline instruction set, and their functions run only after the run-time CPU check. That holds only if such an
# object gives the linker nothing it could use elsewhere (this script checks the one named by
# -DOBJECT; the example below speaks of the AVX2 one). An inline function or template
# instance compiled in that file (std::vector<float>'s members, std::min, a shared helper) is a
# weak symbol there, and the linker keeps one copy of each weak symbol for the whole library:
# if it kept the AVX2 file's copy, baseline code would call AVX2 instructions and crash with
# SIGILL on an older CPU -- something no test on an AVX2 machine would notice.
#
# Code that runs when the library is loaded has the same problem: a dynamic initialiser in this
# file (a global or an inline variable with a constructor, e.g. from a shared header) runs on
# every CPU before any check.
#
# This checks the object's symbol table: no static initialiser (_GLOBAL__sub_I_*), no weak
# functions (nm type W), no unique or indirect symbols (u: inline variables and static locals of
# inline functions, i: ifuncs), and every global function named after the instruction set
# (*avx2*, *avx512*). (Weak data, such as the
# exception-handling personality reference, is no instruction-set hazard.)
#
# Run by ctest:  cmake -DNM=<nm> -DISA=avx2 -DOBJECT=<gemm_avx2 or optim_avx2 object> -P check_isa_object.cmake
if(NOT NM OR NOT OBJECT OR NOT ISA)
  message(FATAL_ERROR "usage: cmake -DNM=<nm> -DISA=<avx2|avx512> -DOBJECT=<an <ISA> object file> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
execute_process(COMMAND "${NM}" --defined-only "${OBJECT}"
                OUTPUT_VARIABLE symbols ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} ${OBJECT} failed (${rc}): ${err}")
endif()
# Mangled names (no -C): letters, digits, '_' and '.', safe in a CMake list.
string(REPLACE "\n" ";" lines "${symbols}")
set(bad "")
set(kernels 0)
foreach(line IN LISTS lines)
  if(NOT line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) (.+)$")
    continue()
  endif()
  set(type "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  if(name MATCHES "^_GLOBAL__(sub_)?I_")
    list(APPEND bad "  ${type} ${name}  (a static initialiser: runs at load time, on every CPU)")
  elseif(type MATCHES "^[ui]$")
    list(APPEND bad "  ${type} ${name}  (unique or indirect: shared with, or run from, baseline code)")
  elseif(type STREQUAL "W")
    list(APPEND bad "  ${type} ${name}  (weak: the linker may use this ${ISA} copy from baseline code)")
  elseif(type STREQUAL "T")
    if(name MATCHES "${ISA}")
      math(EXPR kernels "${kernels} + 1")
    else()
      list(APPEND bad "  ${type} ${name}  (a global function not named *${ISA}*)")
    endif()
  endif()
endforeach()
if(kernels EQUAL 0)
  message(FATAL_ERROR "no *${ISA}* function found in ${OBJECT}: is this the ${ISA} kernels' object?")
endif()
if(bad)
  string(REPLACE ";" "\n" bad "${bad}")
  message(FATAL_ERROR "${OBJECT} exports code the rest of the library could link to:\n${bad}\n"
                      "Keep the ${ISA} files free of inline library code (std containers, shared helpers).")
endif()
message(STATUS "${OBJECT}: ${kernels} ${ISA} functions; no weak functions, no initialiser")
