// The AVX2 + FMA micro-kernels (6 x 16 floats, 6 x 8 doubles: 12 accumulator registers, two
// for B, one broadcast of A). This file alone is compiled with -mavx2 -mfma and is only called
// after a run-time CPU check (gemm.cpp). It must stay free of inline functions from shared
// headers (see microkernel.hpp): only intrinsics and plain loops.
#include <immintrin.h>

#include "microkernel.hpp"

namespace densegrad {
namespace detail {

namespace {

// The forward epilogue on a register pair holding one row of a tile (see MicroKernelEp): + bias,
// then relu (z < 0 ? 0 : z) or leaky relu (z > 0 ? z : z * slope), as activation_forward does.
template <int Act>
inline __m256 epilogue8(__m256 z, __m256 bias, __m256 slope, bool with_bias) {
  if (with_bias) z = _mm256_add_ps(z, bias);
  const __m256 zero = _mm256_setzero_ps();
  if (Act == 2) z = _mm256_blendv_ps(z, zero, _mm256_cmp_ps(z, zero, _CMP_LT_OQ));
  if (Act == 3) z = _mm256_blendv_ps(_mm256_mul_ps(z, slope), z, _mm256_cmp_ps(z, zero, _CMP_GT_OQ));
  return z;
}

template <int Act>
inline __m256d epilogue4(__m256d z, __m256d bias, __m256d slope, bool with_bias) {
  if (with_bias) z = _mm256_add_pd(z, bias);
  const __m256d zero = _mm256_setzero_pd();
  if (Act == 2) z = _mm256_blendv_pd(z, zero, _mm256_cmp_pd(z, zero, _CMP_LT_OQ));
  if (Act == 3) z = _mm256_blendv_pd(_mm256_mul_pd(z, slope), z, _mm256_cmp_pd(z, zero, _CMP_GT_OQ));
  return z;
}

// Act 0: the plain micro-kernel; 1-3: with the forward epilogue in registers (identity, relu,
// leaky relu; bias may be null).
template <int Act>
void sgemm_6x16(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta,
                const float* bias, float slope) {
  // Fetch the C tile kCAhead k steps before the end, so the loads/stores at the end do not stall
  // on misses: C is often far bigger than L2, its rows far apart (16 floats may straddle two
  // cache lines). See kCAhead.
  const Index c_at = kc > kCAhead ? kc - kCAhead : 0;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (Index p = 0; p < kc; ++p) {
    if (p == c_at)
      for (int i = 0; i < 6; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
      }
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 ai;
    ai = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(ai, b0, c00); c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(ai, b0, c10); c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(ai, b0, c20); c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(ai, b0, c30); c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(ai, b0, c40); c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(ai, b0, c50); c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += 6;
    b += 16;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  if (beta == 0.0f) {  // C is not read: NaN in an uninitialised output cannot leak in
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_mul_ps(va, acc[i]);
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
    for (int i = 0; i < 6; ++i) {
      const float* ci = c + i * ldc;
      acc[2 * i] = _mm256_fmadd_ps(va, acc[2 * i], _mm256_mul_ps(vb, _mm256_loadu_ps(ci)));
      acc[2 * i + 1] = _mm256_fmadd_ps(va, acc[2 * i + 1], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8)));
    }
  }
  if (Act != 0) {
    const bool with_bias = bias != nullptr;
    const __m256 b0 = with_bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 b1 = with_bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    const __m256 vs = _mm256_set1_ps(slope);
    for (int i = 0; i < 6; ++i) {
      acc[2 * i] = epilogue8<Act>(acc[2 * i], b0, vs, with_bias);
      acc[2 * i + 1] = epilogue8<Act>(acc[2 * i + 1], b1, vs, with_bias);
    }
  }
  for (int i = 0; i < 6; ++i) {
    _mm256_storeu_ps(c + i * ldc, acc[2 * i]);
    _mm256_storeu_ps(c + i * ldc + 8, acc[2 * i + 1]);
  }
}

template <int Act>
void dgemm_6x8(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha, double beta,
               const double* bias, double slope) {
  const Index c_at = kc > kCAhead ? kc - kCAhead : 0;  // as in the float kernel
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
  for (Index p = 0; p < kc; ++p) {
    if (p == c_at)
      for (int i = 0; i < 6; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 7), _MM_HINT_T0);
      }
    const __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
    __m256d ai;
    ai = _mm256_broadcast_sd(a + 0); c00 = _mm256_fmadd_pd(ai, b0, c00); c01 = _mm256_fmadd_pd(ai, b1, c01);
    ai = _mm256_broadcast_sd(a + 1); c10 = _mm256_fmadd_pd(ai, b0, c10); c11 = _mm256_fmadd_pd(ai, b1, c11);
    ai = _mm256_broadcast_sd(a + 2); c20 = _mm256_fmadd_pd(ai, b0, c20); c21 = _mm256_fmadd_pd(ai, b1, c21);
    ai = _mm256_broadcast_sd(a + 3); c30 = _mm256_fmadd_pd(ai, b0, c30); c31 = _mm256_fmadd_pd(ai, b1, c31);
    ai = _mm256_broadcast_sd(a + 4); c40 = _mm256_fmadd_pd(ai, b0, c40); c41 = _mm256_fmadd_pd(ai, b1, c41);
    ai = _mm256_broadcast_sd(a + 5); c50 = _mm256_fmadd_pd(ai, b0, c50); c51 = _mm256_fmadd_pd(ai, b1, c51);
    a += 6;
    b += 8;
  }
  const __m256d va = _mm256_set1_pd(alpha);
  __m256d acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  if (beta == 0.0) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_mul_pd(va, acc[i]);
  } else {
    const __m256d vb = _mm256_set1_pd(beta);
    for (int i = 0; i < 6; ++i) {
      const double* ci = c + i * ldc;
      acc[2 * i] = _mm256_fmadd_pd(va, acc[2 * i], _mm256_mul_pd(vb, _mm256_loadu_pd(ci)));
      acc[2 * i + 1] = _mm256_fmadd_pd(va, acc[2 * i + 1], _mm256_mul_pd(vb, _mm256_loadu_pd(ci + 4)));
    }
  }
  if (Act != 0) {
    const bool with_bias = bias != nullptr;
    const __m256d b0 = with_bias ? _mm256_loadu_pd(bias) : _mm256_setzero_pd();
    const __m256d b1 = with_bias ? _mm256_loadu_pd(bias + 4) : _mm256_setzero_pd();
    const __m256d vs = _mm256_set1_pd(slope);
    for (int i = 0; i < 6; ++i) {
      acc[2 * i] = epilogue4<Act>(acc[2 * i], b0, vs, with_bias);
      acc[2 * i + 1] = epilogue4<Act>(acc[2 * i + 1], b1, vs, with_bias);
    }
  }
  for (int i = 0; i < 6; ++i) {
    _mm256_storeu_pd(c + i * ldc, acc[2 * i]);
    _mm256_storeu_pd(c + i * ldc + 4, acc[2 * i + 1]);
  }
}

}  // namespace

void sgemm_ukr_avx2_6x16(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta) {
  sgemm_6x16<0>(kc, a, b, c, ldc, alpha, beta, nullptr, 0.0f);
}

void dgemm_ukr_avx2_6x8(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha, double beta) {
  dgemm_6x8<0>(kc, a, b, c, ldc, alpha, beta, nullptr, 0.0);
}

// act is 1, 2 or 3 (gemm_block's ep_act): identity, relu, leaky relu.
void sgemm_ukr_ep_avx2(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta,
                       const float* bias, int act, float slope) {
  switch (act) {
    case 1: return sgemm_6x16<1>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 2: return sgemm_6x16<2>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 3: return sgemm_6x16<3>(kc, a, b, c, ldc, alpha, beta, bias, slope);
  }
}

void dgemm_ukr_ep_avx2(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha, double beta,
                       const double* bias, int act, double slope) {
  switch (act) {
    case 1: return dgemm_6x8<1>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 2: return dgemm_6x8<2>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 3: return dgemm_6x8<3>(kc, a, b, c, ldc, alpha, beta, bias, slope);
  }
}

// ---- small products without packing -----------------------------------------------------------

namespace {

// The vector operations of the small kernel for one element type (masked loads and stores read
// and write only the first `lanes` elements: the edges of a row need no scalar tail).
template <typename T> struct Vec;

template <> struct Vec<float> {
  using V = __m256;
  using M = __m256i;
  static constexpr int W = 8;
  static M mask(Index lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(lanes)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V load(const float* p, M m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, M m, V v) { _mm256_maskstore_ps(p, m, v); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
};

template <> struct Vec<double> {
  using V = __m256d;
  using M = __m256i;
  static constexpr int W = 4;
  static M mask(Index lanes) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(lanes), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V load(const double* p, M m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, M m, V v) { _mm256_maskstore_pd(p, m, v); }
  static V bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V zero() { return _mm256_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
};

// R rows of C (R <= 6) against a non-transposed B, 2 vectors of columns at a time: the same
// register tile as the packed micro-kernel, A and B read in place. FULL: n is a multiple of
// 2 vectors; else n < 2 vectors, read and written with masks (masked stores are slow on some
// CPUs, so full tiles use plain ones). Each element is summed in the micro-kernel's order (one
// fused multiply-add per p, p ascending), so the result is bitwise the packed path's: a row of C
// does not depend on which path, or how many rows, computed it.
template <typename T, int R, bool TA, bool FULL>
void small_rows(Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb, T beta, T* c,
                Index ldc) {
  using X = Vec<T>;
  using V = typename X::V;
  using M = typename X::M;
  constexpr Index W = X::W;
  const V va = X::set1(alpha), vb = X::set1(beta);
  const M m0 = X::mask(n), m1 = X::mask(n - W);  // used when !FULL
  const auto load = [&](const T* p, int h) { return FULL ? X::load(p) : X::load(p, h == 0 ? m0 : m1); };
  for (Index j = 0; j < n; j += 2 * W) {
    V acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = X::zero();
    const T* bp = b + j;
    for (Index p = 0; p < k; ++p, bp += ldb) {
      const V b0 = load(bp, 0), b1 = load(bp + W, 1);
      for (int r = 0; r < R; ++r) {
        const V ar = X::bcast(TA ? a + p * lda + r : a + r * lda + p);
        acc[r][0] = X::fma(ar, b0, acc[r][0]);
        acc[r][1] = X::fma(ar, b1, acc[r][1]);
      }
    }
    // The packed path's rounding, element for element: a full 6 x 2W tile is stored as
    // alpha * acc + beta * c with one fused multiply-add; an edge tile rounds alpha * acc first
    // (the packed path computes it aside, then merges it).
    constexpr bool edge = R < 6 || !FULL;
    for (int r = 0; r < R; ++r) {
      T* cr = c + r * ldc + j;
      for (int h = 0; h < 2; ++h) {
        V out;
        if (beta == T(0))  // C is not read
          out = X::mul(va, acc[r][h]);
        else if (edge)
          out = X::add(X::mul(va, acc[r][h]), X::mul(vb, load(cr + h * W, h)));
        else
          out = X::fma(va, acc[r][h], X::mul(vb, load(cr + h * W, h)));
        if (FULL)
          X::store(cr + h * W, out);
        else
          X::store(cr + h * W, h == 0 ? m0 : m1, out);
      }
    }
  }
}

template <typename T, bool TA>
void small_ab(Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb, T beta, T* c,
              Index ldc) {
  using Fn = void (*)(Index, Index, T, const T*, Index, const T*, Index, T, T*, Index);
  static constexpr Fn full[7] = {nullptr,
                                 small_rows<T, 1, TA, true>, small_rows<T, 2, TA, true>, small_rows<T, 3, TA, true>,
                                 small_rows<T, 4, TA, true>, small_rows<T, 5, TA, true>, small_rows<T, 6, TA, true>};
  static constexpr Fn part[7] = {nullptr,
                                 small_rows<T, 1, TA, false>, small_rows<T, 2, TA, false>, small_rows<T, 3, TA, false>,
                                 small_rows<T, 4, TA, false>, small_rows<T, 5, TA, false>, small_rows<T, 6, TA, false>};
  const Index nfull = n / (2 * Vec<T>::W) * (2 * Vec<T>::W);
  for (Index i = 0; i < m; i += 6) {
    const Index rows = m - i < 6 ? m - i : 6;
    const T* ai = TA ? a + i : a + i * lda;
    T* ci = c + i * ldc;
    if (nfull > 0) full[rows](nfull, k, alpha, ai, lda, b, ldb, beta, ci, ldc);
    if (n > nfull) part[rows](n - nfull, k, alpha, ai, lda, b + nfull, ldb, beta, ci + nfull, ldc);
  }
}

}  // namespace

void sgemm_small_avx2(bool trans_a, Index m, Index n, Index k, float alpha, const float* a, Index lda,
                      const float* b, Index ldb, float beta, float* c, Index ldc) {
  (trans_a ? small_ab<float, true> : small_ab<float, false>)(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dgemm_small_avx2(bool trans_a, Index m, Index n, Index k, double alpha, const double* a, Index lda,
                      const double* b, Index ldb, double beta, double* c, Index ldc) {
  (trans_a ? small_ab<double, true> : small_ab<double, false>)(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// ---- packing with in-register 8 x 8 transposes ------------------------------------------------

namespace {

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: full B x B blocks by block(dst,
// ldd, src, lds) (an in-register transpose), the edges element by element.
template <typename T, Index B, typename Block>
void transpose_blocks(T* dst, Index ldd, const T* src, Index lds, Index rows, Index cols, Block block) {
  const Index rows_b = rows / B * B, cols_b = cols / B * B;
  for (Index r = 0; r < rows_b; r += B) {
    for (Index c = 0; c < cols_b; c += B) block(dst + c * ldd + r, ldd, src + r * lds + c, lds);
    for (Index c = cols_b; c < cols; ++c)
      for (Index i = r; i < r + B; ++i) dst[c * ldd + i] = src[i * lds + c];
  }
  for (Index i = rows_b; i < rows; ++i)
    for (Index c = 0; c < cols; ++c) dst[c * ldd + i] = src[i * lds + c];
}

// r[0..7] (8 rows of 8) -> r[k] = column k.
#define DENSEGRAD_TRANSPOSE8(r)                                                            \
  do {                                                                                     \
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]); \
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]); \
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]); \
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]); \
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE); \
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE); \
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE); \
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE); \
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);                                           \
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);                                           \
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);                                           \
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);                                           \
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);                                           \
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);                                           \
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);                                           \
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);                                           \
  } while (0)

}  // namespace

namespace {

// dst[p * NR + j] = src[j * ld + p] for j < NR, p < kc: a full B panel of a transposed B, 8 rows at
// a time over the whole panel, a cache line (16 floats) of each row at once. Rows a multiple of
// 4 KB apart share an L1 set (8 ways): reading all NR rows at each column, half a line each, lost
// the lines before their second halves were read. The forward product of a 1024 -> 1024 layer
// (`_core.gemm(x, w, trans_b=True)`, one thread), on the AVX-512 kernel (NR 32, medians of 9):
// 8 rows 684 -> 296 us, 64 rows 1758 -> 1370 us, 256 rows 5387 -> 5166 us; on this one (NR 16),
// whole-process pairs: 8 rows 0.76x the time, 256 rows 0.99x.
template <int NR>
void pack_b_trans_rows8(float* dst, const float* src, Index ld, Index kc) {
  for (int h = 0; h < NR / 8; ++h) {
    const float* rows = src + 8 * h * ld;
    float* d = dst + 8 * h;
    Index p = 0;
    for (; p + 16 <= kc; p += 16) {
      __m256 r[8], s[8];
      for (int j = 0; j < 8; ++j) {
        r[j] = _mm256_loadu_ps(rows + j * ld + p);
        s[j] = _mm256_loadu_ps(rows + j * ld + p + 8);
      }
      DENSEGRAD_TRANSPOSE8(r);
      DENSEGRAD_TRANSPOSE8(s);
      for (int k = 0; k < 8; ++k) {
        _mm256_storeu_ps(d + (p + k) * NR, r[k]);
        _mm256_storeu_ps(d + (p + 8 + k) * NR, s[k]);
      }
    }
    for (; p < kc; ++p)
      for (int j = 0; j < 8; ++j) d[p * NR + j] = rows[j * ld + p];
  }
}

}  // namespace

void pack_b_trans16_avx2(float* dst, const float* src, Index ld, Index kc) {
  pack_b_trans_rows8<16>(dst, src, ld, kc);
}

// The AVX-512 kernel's panels (32 floats); AVX2 instructions, which every AVX-512 CPU has.
void pack_b_trans32_avx2(float* dst, const float* src, Index ld, Index kc) {
  pack_b_trans_rows8<32>(dst, src, ld, kc);
}

// dst[p * 6 + i] = src[i * ld + p] for i < 6, p < kc: a full A panel of a non-transposed A.
// The 8-wide stores run 2 floats past dst + 6 * kc (the caller leaves room); each is
// overwritten by the next store or the next panel.
void pack_a_rows6_avx2(float* dst, const float* src, Index ld, Index kc) {
  Index p = 0;
  for (; p + 8 <= kc; p += 8) {
    __m256 r[8];
    for (int i = 0; i < 6; ++i) r[i] = _mm256_loadu_ps(src + i * ld + p);
    r[6] = r[7] = _mm256_setzero_ps();
    DENSEGRAD_TRANSPOSE8(r);
    for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + (p + k) * 6, r[k]);
  }
  for (; p < kc; ++p)
    for (int i = 0; i < 6; ++i) dst[p * 6 + i] = src[i * ld + p];
}

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols, 8 x 8 blocks in registers.
void transpose_avx2(float* dst, Index ldd, const float* src, Index lds, Index rows, Index cols) {
  transpose_blocks<float, 8>(dst, ldd, src, lds, rows, cols, [](float* d, Index ldd_, const float* s, Index lds_) {
    __m256 v[8];
    for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(s + i * lds_);
    DENSEGRAD_TRANSPOSE8(v);
    for (int i = 0; i < 8; ++i) _mm256_storeu_ps(d + i * ldd_, v[i]);
  });
}

namespace {

// buf[p * 8 + j] = b[j * ldb + p] for p < k, j < 8: one panel of 8 rows of B for rows_tb; rows of
// B past `rows` are read as zeros.
void rows_tb_panel(float* buf, const float* b, Index ldb, Index k, Index rows) {
  Index p = 0;
  if (rows == 8)
    for (; p + 8 <= k; p += 8) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(b + j * ldb + p);
      DENSEGRAD_TRANSPOSE8(r);
      for (int q = 0; q < 8; ++q) _mm256_storeu_ps(buf + (p + q) * 8, r[q]);
    }
  for (; p < k; ++p)
    for (Index j = 0; j < 8; ++j) buf[p * 8 + j] = j < rows ? b[j * ldb + p] : 0.0f;
}

}  // namespace

#undef DENSEGRAD_TRANSPOSE8

// r[0..3] (4 rows of 4 doubles) -> r[k] = column k.
#define DENSEGRAD_TRANSPOSE4D(r)                                                              \
  do {                                                                                        \
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);   \
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);   \
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);                                              \
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);                                              \
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);                                              \
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);                                              \
  } while (0)

// dst[p * 8 + j] = src[j * ld + p] for j < 8, p < kc: a full B panel of a transposed B (double).
void pack_b_trans8d_avx2(double* dst, const double* src, Index ld, Index kc) {
  Index p = 0;
  for (; p + 4 <= kc; p += 4) {
    for (int h = 0; h < 2; ++h) {
      __m256d r[4];
      for (int j = 0; j < 4; ++j) r[j] = _mm256_loadu_pd(src + (4 * h + j) * ld + p);
      DENSEGRAD_TRANSPOSE4D(r);
      for (int k = 0; k < 4; ++k) _mm256_storeu_pd(dst + (p + k) * 8 + 4 * h, r[k]);
    }
  }
  for (; p < kc; ++p)
    for (int j = 0; j < 8; ++j) dst[p * 8 + j] = src[j * ld + p];
}

// dst[p * 6 + i] = src[i * ld + p] for i < 6, p < kc: a full A panel of a non-transposed A
// (double). Like the float packer, the last 4-wide stores may run 2 doubles past the panel.
void pack_a_rows6d_avx2(double* dst, const double* src, Index ld, Index kc) {
  Index p = 0;
  for (; p + 4 <= kc; p += 4) {
    __m256d lo[4], hi[4];  // rows 0-3 and rows 4-5 (+ 2 zero rows)
    for (int i = 0; i < 4; ++i) lo[i] = _mm256_loadu_pd(src + i * ld + p);
    hi[0] = _mm256_loadu_pd(src + 4 * ld + p);
    hi[1] = _mm256_loadu_pd(src + 5 * ld + p);
    hi[2] = hi[3] = _mm256_setzero_pd();
    DENSEGRAD_TRANSPOSE4D(lo);
    DENSEGRAD_TRANSPOSE4D(hi);
    for (int k = 0; k < 4; ++k) {
      _mm256_storeu_pd(dst + (p + k) * 6, lo[k]);
      _mm256_storeu_pd(dst + (p + k) * 6 + 4, hi[k]);  // 2 values + 2 overwritten by the next store
    }
  }
  for (; p < kc; ++p)
    for (int i = 0; i < 6; ++i) dst[p * 6 + i] = src[i * ld + p];
}

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols, 4 x 4 blocks in registers.
void transpose_avx2(double* dst, Index ldd, const double* src, Index lds, Index rows, Index cols) {
  transpose_blocks<double, 4>(dst, ldd, src, lds, rows, cols, [](double* d, Index ldd_, const double* s, Index lds_) {
    __m256d v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_pd(s + i * lds_);
    DENSEGRAD_TRANSPOSE4D(v);
    for (int i = 0; i < 4; ++i) _mm256_storeu_pd(d + i * ldd_, v[i]);
  });
}

namespace {

// buf[p * 4 + j] = b[j * ldb + p] for p < k, j < 4 (double); rows past `rows` read as zeros.
void rows_tb_panel(double* buf, const double* b, Index ldb, Index k, Index rows) {
  Index p = 0;
  if (rows == 4)
    for (; p + 4 <= k; p += 4) {
      __m256d r[4];
      for (int j = 0; j < 4; ++j) r[j] = _mm256_loadu_pd(b + j * ldb + p);
      DENSEGRAD_TRANSPOSE4D(r);
      for (int q = 0; q < 4; ++q) _mm256_storeu_pd(buf + (p + q) * 4, r[q]);
    }
  for (; p < k; ++p)
    for (Index j = 0; j < 4; ++j) buf[p * 4 + j] = j < rows ? b[j * ldb + p] : 0.0;
}

// R rows of C (R <= 2) x P panels of W columns: the panels hold B^T (buf + q * panel), A is read
// in place. One fused multiply-add per p, p ascending, into an accumulator that starts at zero:
// the micro-kernel's order. With alpha 1 and beta 0 or 1, the packed path's store is acc, or
// acc + c rounded once, which is what is stored here, so every element has the packed path's bits.
template <typename T, int R, int P>
void rows_tb_tile(Index k, const T* a, Index lda, const T* buf, Index panel, T beta, T* c, Index ldc,
                  Index cols) {
  using X = Vec<T>;
  using V = typename X::V;
  constexpr Index W = X::W;
  V acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < P; ++q) acc[r][q] = X::zero();
  for (Index p = 0; p < k; ++p) {
    V v[P];
    for (int q = 0; q < P; ++q) v[q] = X::load(buf + q * panel + p * W);
    for (int r = 0; r < R; ++r) {
      const V ar = X::bcast(a + r * lda + p);
      for (int q = 0; q < P; ++q) acc[r][q] = X::fma(ar, v[q], acc[r][q]);
    }
  }
  // Through a buffer: indexing acc by the edge logic below made the compiler keep it in memory
  // (a store per multiply-add in the loop above).
  alignas(32) T out[R][P][W];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < P; ++q) X::store(out[r][q], acc[r][q]);
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < P; ++q) {
      T* cr = c + r * ldc + q * W;
      const Index lanes = cols - q * W;
      const V o = X::load(out[r][q]);
      if (lanes >= W) {
        X::store(cr, beta == T(0) ? o : X::add(o, X::load(cr)));  // beta is 0 or 1 here
      } else {
        const typename X::M mk = X::mask(lanes);
        X::store(cr, mk, beta == T(0) ? o : X::add(o, X::load(cr, mk)));
      }
    }
}

// C (m x n) = A * B^T (+ C when beta is 1), B n x k read in place, k <= kRowsTbMaxK: P panels of
// W rows of B at a time are transposed into a buffer on the stack (32 KB at k 256, in L1 or L2)
// and used for every row of A, two rows at a time.
template <typename T>
void rows_tb(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T beta, T* c, Index ldc) {
  constexpr int P = 4;
  constexpr Index W = Vec<T>::W;
  alignas(32) T buf[P * kRowsTbMaxK * W];
  const Index panel = k * W;
  using Fn = void (*)(Index, const T*, Index, const T*, Index, T, T*, Index, Index);
  static constexpr Fn one[P + 1] = {nullptr, rows_tb_tile<T, 1, 1>, rows_tb_tile<T, 1, 2>, rows_tb_tile<T, 1, 3>,
                                    rows_tb_tile<T, 1, 4>};
  static constexpr Fn two[P + 1] = {nullptr, rows_tb_tile<T, 2, 1>, rows_tb_tile<T, 2, 2>, rows_tb_tile<T, 2, 3>,
                                    rows_tb_tile<T, 2, 4>};
  for (Index j0 = 0; j0 < n; j0 += P * W) {
    const Index cols = n - j0 < P * W ? n - j0 : P * W;
    const int panels = int((cols + W - 1) / W);
    for (int q = 0; q < panels; ++q) {
      const Index rows = cols - q * W < W ? cols - q * W : W;
      rows_tb_panel(buf + q * panel, b + (j0 + q * W) * ldb, ldb, k, rows);
    }
    Index i = 0;
    for (; i + 2 <= m; i += 2) two[panels](k, a + i * lda, lda, buf, panel, beta, c + i * ldc + j0, ldc, cols);
    if (i < m) one[panels](k, a + i * lda, lda, buf, panel, beta, c + i * ldc + j0, ldc, cols);
  }
}

}  // namespace

namespace {

// k in blocks of kc (<= kRowsTbMaxK, the buffer's size): one rows_tb per block, the first with
// beta, later ones adding to C.
template <typename T>
void rows_tb_blocks(Index m, Index n, Index k, Index kc, const T* a, Index lda, const T* b, Index ldb, T beta, T* c,
                    Index ldc) {
  for (Index pc = 0; pc < k; pc += kc)
    rows_tb<T>(m, n, kc < k - pc ? kc : k - pc, a + pc, lda, b + pc, ldb, pc == 0 ? beta : T(1), c, ldc);
}

}  // namespace

void sgemm_rows_tb_avx2(Index m, Index n, Index k, Index kc, const float* a, Index lda, const float* b, Index ldb,
                        float beta, float* c, Index ldc) {
  rows_tb_blocks<float>(m, n, k, kc, a, lda, b, ldb, beta, c, ldc);
}

void dgemm_rows_tb_avx2(Index m, Index n, Index k, Index kc, const double* a, Index lda, const double* b,
                        Index ldb, double beta, double* c, Index ldc) {
  rows_tb_blocks<double>(m, n, k, kc, a, lda, b, ldb, beta, c, ldc);
}

#undef DENSEGRAD_TRANSPOSE4D

}  // namespace detail
}  // namespace densegrad

namespace densegrad {
namespace detail {

// The machine's FMA throughput, measured: 12 independent chains of 8-wide FMAs (enough to
// cover the FMA latency on two pipes). Returns a value that depends on every chain so the
// loop cannot be optimised away. Flops = iters * 12 * 8 * 2 (float) or * 4 * 2 (double).
float fma_loop_avx2_f32(Index iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (Index it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

double fma_loop_avx2_f64(Index iters) {
  __m256d acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_pd(double(i) * 1e-3);
  const __m256d a = _mm256_set1_pd(0.999999), b = _mm256_set1_pd(1e-7);
  for (Index it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_pd(acc[i], a, b);
  __m256d s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_pd(s, acc[i]);
  double out[4];
  _mm256_storeu_pd(out, s);
  return out[0] + out[3];
}

}  // namespace detail
}  // namespace densegrad
