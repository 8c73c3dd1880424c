// Adam's update with AVX2 intrinsics (optim.cpp runs it when the GEMM kernel in use is avx2-fma
// or avx512, so never on a CPU without AVX2). This file alone among the optimizer's is compiled
// with -mavx2; like gemm_avx2.cpp it uses no inline function from a shared header (see
// optim_kernels.hpp), only intrinsics and templates with internal linkage.
//
// The operations are adam_range's in optim.cpp, one for one and in the same order: IEEE
// addition, multiplication, division and square root are correctly rounded in every lane, and
// nothing is fused (each multiply and add is its own intrinsic), so every element gets the
// portable loop's bits (tested for every option). Adam spends its time in two divisions and a
// square root per element; optim.cpp's SSE loop does them 4 floats at a time, this one 8, and the
// 512-bit versions ran no faster on the Zen 4 measured (bench/README.md).
#include <immintrin.h>

#include "optim_kernels.hpp"

namespace densegrad {
namespace detail {

namespace {

template <typename T> struct V256;

template <> struct V256<float> {
  using V = __m256;
  using M = __m256i;  // lane mask for the tail
  static constexpr int W = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(const float* p, M m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, V v, M m) { _mm256_maskstore_ps(p, m, v); }
  static M mask(int n) {  // the first n lanes
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
  }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static V neg(V a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  static V unordered(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  static V greater(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static V select(V if_false, V if_true, V m) { return _mm256_blendv_ps(if_false, if_true, m); }
};

template <> struct V256<double> {
  using V = __m256d;
  using M = __m256i;
  static constexpr int W = 4;
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static V load(const double* p, M m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static void store(double* p, V v, M m) { _mm256_maskstore_pd(p, m, v); }
  static M mask(int n) {
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lane);
  }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V div(V a, V b) { return _mm256_div_pd(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_pd(a); }
  static V neg(V a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
  static V unordered(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_UNORD_Q); }
  static V greater(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static V select(V if_false, V if_true, V m) { return _mm256_blendv_pd(if_false, if_true, m); }
};

// W elements from i (Tail: only the first `rows` lanes are read and written).
template <typename T, bool Maximize, bool Decay, bool Amsgrad, bool LerpLow, bool Tail>
inline void adam_lanes(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, Index i,
                       typename V256<T>::M m, const typename V256<T>::V* k) {
  using X = V256<T>;
  using V = typename X::V;
  auto load = [&](const T* p) { return Tail ? X::load(p + i, m) : X::load(p + i); };
  auto store = [&](T* p, V v) {
    if (Tail)
      X::store(p + i, v, m);
    else
      X::store(p + i, v);
  };
  // k: step_size, bc2_sqrt, wd, w1, beta2, w2, eps, 1 - w1
  V g = load(grad);
  if (Maximize) g = X::neg(g);
  const V p = load(param);
  if (Decay) g = X::add(g, X::mul(k[2], p));
  const V m0 = load(exp_avg);
  const V mt = LerpLow ? X::add(m0, X::mul(k[3], X::sub(g, m0))) : X::sub(g, X::mul(X::sub(g, m0), k[7]));
  store(exp_avg, mt);
  V v = X::add(X::mul(load(exp_avg_sq), k[4]), X::mul(k[5], X::mul(g, g)));
  store(exp_avg_sq, v);
  if (Amsgrad) {
    const V vmax = load(max_exp_avg_sq);
    v = X::select(X::select(vmax, v, X::greater(v, vmax)), X::add(vmax, v), X::unordered(vmax, v));
    store(max_exp_avg_sq, v);
  }
  const V denom = X::add(X::div(X::sqrt(v), k[1]), k[6]);
  store(param, X::add(p, X::mul(X::neg(k[0]), X::div(mt, denom))));
}

template <typename T, bool Maximize, bool Decay, bool Amsgrad, bool LerpLow>
void adam_range(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, Index lo, Index hi,
                T step_size, T bc2_sqrt, T wd, T w1, T beta2, T w2, T eps) {
  using X = V256<T>;
  using V = typename X::V;
  // (1 - w1) rounded to T, as the portable loop computes it (T(1) - w1)
  const V k[8] = {X::set1(step_size), X::set1(bc2_sqrt), X::set1(wd), X::set1(w1),
                  X::set1(beta2),     X::set1(w2),       X::set1(eps), X::sub(X::set1(T(1)), X::set1(w1))};
  const typename X::M all = X::mask(X::W);
  Index i = lo;
  for (; i + X::W <= hi; i += X::W)
    adam_lanes<T, Maximize, Decay, Amsgrad, LerpLow, false>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, i, all,
                                                             k);
  if (i < hi)
    adam_lanes<T, Maximize, Decay, Amsgrad, LerpLow, true>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, i,
                                                            X::mask(int(hi - i)), k);
}

template <typename T>
AdamRange<T> pick(bool maximize, bool decay, bool amsgrad, bool lerp_low) {
  // [maximize][decay][amsgrad][lerp_low]
  static constexpr AdamRange<T> kernels[2][2][2][2] = DENSEGRAD_ADAM_TABLE(adam_range, T);
  return kernels[maximize][decay][amsgrad][lerp_low];
}

}  // namespace

AdamRange<float> adam_range_avx2_f32(bool maximize, bool decay, bool amsgrad, bool lerp_low) {
  return pick<float>(maximize, decay, amsgrad, lerp_low);
}

AdamRange<double> adam_range_avx2_f64(bool maximize, bool decay, bool amsgrad, bool lerp_low) {
  return pick<double>(maximize, decay, amsgrad, lerp_low);
}

}  // namespace detail
}  // namespace densegrad
