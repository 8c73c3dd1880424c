// The AVX-512 micro-kernels (MR x 32 floats, MR x 16 doubles: two 512-bit vectors of B per k
// step, one broadcast of A per row, 2 * MR accumulator registers). This file alone is compiled
// with -mavx512f; it is only called after a run-time CPU check (gemm.cpp). Like gemm_avx2.cpp it
// must stay free of inline functions from shared headers (see microkernel.hpp): only intrinsics,
// plain loops, and templates with internal linkage.
//
// Every element of C is summed as in the AVX2 kernel: one fused multiply-add per k step, k
// ascending, from zero; then alpha * acc (+ beta * c, one fused multiply-add on a full tile).
// Only the register tile differs (gemm.cpp gives both kernels the same k blocks).
#include <immintrin.h>

#include <cstdint>

#include "microkernel.hpp"

namespace densegrad {
namespace detail {

namespace {

// The 512-bit operations of the micro-kernel and the FMA loop for one element type.
template <typename T> struct V512;

template <> struct V512<float> {
  using V = __m512;
  static constexpr int W = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
};

template <> struct V512<double> {
  using V = __m512d;
  static constexpr int W = 8;
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V zero() { return _mm512_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
};

constexpr int kBAhead = 8;  // k steps of B prefetched ahead (two cache lines each)

// C (MR x 2W) = alpha * A_panel * B_panel + beta * C (see MicroKernel in microkernel.hpp).
template <typename T, int MR>
void ukr(Index kc, const T* a, const T* b, T* c, Index ldc, T alpha, T beta) {
  using X = V512<T>;
  using V = typename X::V;
  constexpr int W = X::W;
  for (int i = 0; i < MR; ++i) {  // the C tile, early: its rows are far apart (128 bytes each)
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + W), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 2 * W - 1), _MM_HINT_T0);
  }
  // Both loops over the rows fully unrolled: otherwise GCC 12 zeroes stack copies of the
  // accumulator arrays with two `rep stos` per call, ~100 cycles of a ~2000-cycle call.
  V acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = X::zero();
#pragma GCC unroll 4
  for (Index p = 0; p < kc; ++p) {
    const V b0 = X::load(b), b1 = X::load(b + W);
    // The B panel (kc x 2W, 32 KB for floats at kc 256) does not stay in a 32 KB L1 next to
    // the A panel and C, so it mostly comes from L2: ask for it kBAhead k steps early. Paired
    // runs of the large products: ~4.5% faster than without (distances 8 and 16 alike).
    // (Near the panel's end this reaches past it: computed as an integer, not a pointer, and a
    // prefetch never faults.)
    const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(b + 2 * W) + (kBAhead - 1) * 2 * W * sizeof(T);
    _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ahead + W * sizeof(T)), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V ai = X::set1(a[i]);
      acc0[i] = X::fma(ai, b0, acc0[i]);
      acc1[i] = X::fma(ai, b1, acc1[i]);
    }
    a += MR;
    b += 2 * W;
  }
  const V va = X::set1(alpha);
  if (beta == T(0)) {  // C is not read: NaN in an uninitialised output cannot leak in
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      X::store(c + i * ldc, X::mul(va, acc0[i]));
      X::store(c + i * ldc + W, X::mul(va, acc1[i]));
    }
  } else {
    const V vb = X::set1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      T* ci = c + i * ldc;
      X::store(ci, X::fma(va, acc0[i], X::mul(vb, X::load(ci))));
      X::store(ci + W, X::fma(va, acc1[i], X::mul(vb, X::load(ci + W))));
    }
  }
}

// FMA-throughput loop (see fma_loop_avx2_f32): 12 chains of W-wide FMAs.
template <typename T>
T fma_loop(Index iters) {
  using X = V512<T>;
  typename X::V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = X::set1(T(i) * T(1e-3));
  const typename X::V a = X::set1(T(0.999999)), b = X::set1(T(1e-7));
  for (Index it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = X::fma(acc[i], a, b);
  typename X::V s = acc[0];
  for (int i = 1; i < 12; ++i) s = X::add(s, acc[i]);
  T out[X::W];
  X::store(out, s);
  return out[0] + out[X::W - 1];
}

}  // namespace

void sgemm_ukr_avx512(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta) {
  ukr<float, kAvx512MR>(kc, a, b, c, ldc, alpha, beta);
}

void dgemm_ukr_avx512(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha,
                      double beta) {
  ukr<double, kAvx512MR>(kc, a, b, c, ldc, alpha, beta);
}

float fma_loop_avx512_f32(Index iters) { return fma_loop<float>(iters); }
double fma_loop_avx512_f64(Index iters) { return fma_loop<double>(iters); }

// ---- packing with in-register transposes ------------------------------------------------------

namespace {

// r[0..7] (8 rows of 8 floats) -> r[k] = column k.
__attribute__((always_inline)) inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// r[0..3] (4 rows of 4 doubles) -> r[k] = column k.
__attribute__((always_inline)) inline void transpose4d(__m256d r[4]) {
  const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
  r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
  r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
  r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

}  // namespace

// dst[p * 32 + j] = src[j * ld + p] for j < 32, p < kc: a full B panel of a transposed B.
void pack_b_trans32_avx512(float* dst, const float* src, Index ld, Index kc) {
  Index p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int h = 0; h < 4; ++h) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (8 * h + j) * ld + p);
      transpose8(r);
      for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + (p + k) * 32 + 8 * h, r[k]);
    }
  }
  for (; p < kc; ++p)
    for (int j = 0; j < 32; ++j) dst[p * 32 + j] = src[j * ld + p];
}

// dst[p * MR + i] = src[i * ld + p] for i < MR, p < kc: a full A panel of a non-transposed A,
// in groups of 8 rows (a last group of fewer rows is padded with zero rows; its 8-wide stores
// run past the panel's row and are overwritten by the next store, or land in the caller's
// slack after the last panel: at most 8 elements).
void pack_a_rows_avx512(float* dst, const float* src, Index ld, Index kc) {
  constexpr int MR = kAvx512MR, G = (MR + 7) / 8;
  Index p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 g[G][8];
    for (int q = 0; q < G; ++q) {
      for (int i = 0; i < 8; ++i)
        g[q][i] = 8 * q + i < MR ? _mm256_loadu_ps(src + (8 * q + i) * ld + p) : _mm256_setzero_ps();
      transpose8(g[q]);
    }
    for (int k = 0; k < 8; ++k)
      for (int q = 0; q < G; ++q) _mm256_storeu_ps(dst + (p + k) * MR + 8 * q, g[q][k]);
  }
  for (; p < kc; ++p)
    for (int i = 0; i < MR; ++i) dst[p * MR + i] = src[i * ld + p];
}

// dst[p * 16 + j] = src[j * ld + p] for j < 16, p < kc (double).
void pack_b_trans16d_avx512(double* dst, const double* src, Index ld, Index kc) {
  Index p = 0;
  for (; p + 4 <= kc; p += 4) {
    for (int h = 0; h < 4; ++h) {
      __m256d r[4];
      for (int j = 0; j < 4; ++j) r[j] = _mm256_loadu_pd(src + (4 * h + j) * ld + p);
      transpose4d(r);
      for (int k = 0; k < 4; ++k) _mm256_storeu_pd(dst + (p + k) * 16 + 4 * h, r[k]);
    }
  }
  for (; p < kc; ++p)
    for (int j = 0; j < 16; ++j) dst[p * 16 + j] = src[j * ld + p];
}

// dst[p * MR + i] = src[i * ld + p] for i < MR, p < kc (double), in groups of 4 rows.
void pack_a_rowsd_avx512(double* dst, const double* src, Index ld, Index kc) {
  constexpr int MR = kAvx512MR, G = (MR + 3) / 4;
  Index p = 0;
  for (; p + 4 <= kc; p += 4) {
    __m256d g[G][4];
    for (int q = 0; q < G; ++q) {
      for (int i = 0; i < 4; ++i)
        g[q][i] = 4 * q + i < MR ? _mm256_loadu_pd(src + (4 * q + i) * ld + p) : _mm256_setzero_pd();
      transpose4d(g[q]);
    }
    for (int k = 0; k < 4; ++k)
      for (int q = 0; q < G; ++q) _mm256_storeu_pd(dst + (p + k) * MR + 4 * q, g[q][k]);
  }
  for (; p < kc; ++p)
    for (int i = 0; i < MR; ++i) dst[p * MR + i] = src[i * ld + p];
}

}  // namespace detail
}  // namespace densegrad
