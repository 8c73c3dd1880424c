// Internal: the optimizer loops shared by optim.cpp and the separately compiled optim_avx2.cpp.
// Declarations only -- no inline code may live here: optim_avx2.cpp is built with -mavx2, and the
// linker could otherwise pick its copy of an inline function for the portable path (an illegal
// instruction on CPUs without AVX2). Same rule as microkernel.hpp.
#pragma once

#include "densegrad/common.hpp"

namespace densegrad {
namespace detail {

// One Adam update of param[lo:hi) and its state (optim.cpp's adam_range).
template <typename T>
using AdamRange = void (*)(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, Index lo,
                           Index hi, T step_size, T bc2_sqrt, T wd, T w1, T beta2, T w2, T eps);

// The 16 instances of an Adam loop template F<T, Maximize, Decay, Amsgrad, LerpLow> as an
// initialiser for a [maximize][decay][amsgrad][lerp_low] table; each file names its own F (text
// only, so no code is shared between the files).
#define DENSEGRAD_ADAM_TABLE(F, T)                                                       \
  {{{{F<T, false, false, false, false>, F<T, false, false, false, true>},                \
     {F<T, false, false, true, false>, F<T, false, false, true, true>}},                 \
    {{F<T, false, true, false, false>, F<T, false, true, false, true>},                  \
     {F<T, false, true, true, false>, F<T, false, true, true, true>}}},                  \
   {{{F<T, true, false, false, false>, F<T, true, false, false, true>},                  \
     {F<T, true, false, true, false>, F<T, true, false, true, true>}},                   \
    {{F<T, true, true, false, false>, F<T, true, true, false, true>},                    \
     {F<T, true, true, true, false>, F<T, true, true, true, true>}}}}

// Defined in optim_avx2.cpp (only on x86-64 builds): the AVX2 loop for these options.
AdamRange<float> adam_range_avx2_f32(bool maximize, bool decay, bool amsgrad, bool lerp_low);
AdamRange<double> adam_range_avx2_f64(bool maximize, bool decay, bool amsgrad, bool lerp_low);

// The GEMM kernel in use (gemm.cpp): 0 generic, 1 avx2-fma, 2 avx512.
int active_kernel();

}  // namespace detail
}  // namespace densegrad
