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
  // activation_forward's relu (z < 0 ? 0 : z: NaN and -0 kept) and leaky relu (z > 0 ? z : z * s)
  static V relu(V z) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, zero(), _CMP_LT_OQ), z, zero()); }
  static V leaky(V z, V s) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, zero(), _CMP_GT_OQ), _mm512_mul_ps(z, s), z); }
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
  static V relu(V z) { return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(z, zero(), _CMP_LT_OQ), z, zero()); }
  static V leaky(V z, V s) { return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(z, zero(), _CMP_GT_OQ), _mm512_mul_pd(z, s), z); }
};

constexpr int kBAhead = 8;  // k steps of B prefetched ahead (two cache lines each)

// C (MR x 2W) = alpha * A_panel * B_panel + beta * C (see MicroKernel in microkernel.hpp).
// Act: 0 none; with a bias (may be null) added, then 1 identity, 2 relu, 3 leaky relu.
template <typename T, int MR, int Act = 0>
void ukr(Index kc, const T* a, const T* b, T* c, Index ldc, T alpha, T beta, const T* bias = nullptr,
         T slope = T(0)) {
  using X = V512<T>;
  using V = typename X::V;
  constexpr int W = X::W;
  const Index c_at = kc > kCAhead ? kc - kCAhead : 0;
  // Both loops over the rows fully unrolled: otherwise GCC 12 zeroes stack copies of the
  // accumulator arrays with two `rep stos` per call, ~100 cycles of a ~2000-cycle call.
  V acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = X::zero();
#pragma GCC unroll 4
  for (Index p = 0; p < kc; ++p) {
    if (p == c_at)
      for (int i = 0; i < MR; ++i) {  // the C tile, kCAhead k steps before the end (rows 128 bytes each)
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + W), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 2 * W - 1), _MM_HINT_T0);
      }
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
      acc0[i] = X::mul(va, acc0[i]);
      acc1[i] = X::mul(va, acc1[i]);
    }
  } else {
    const V vb = X::set1(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      T* ci = c + i * ldc;
      acc0[i] = X::fma(va, acc0[i], X::mul(vb, X::load(ci)));
      acc1[i] = X::fma(va, acc1[i], X::mul(vb, X::load(ci + W)));
    }
  }
  if (Act != 0) {
    V bias0 = X::zero(), bias1 = X::zero();
    if (bias != nullptr) {
      bias0 = X::load(bias);
      bias1 = X::load(bias + W);
    }
    const V vs = X::set1(slope);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      if (bias != nullptr) {
        acc0[i] = X::add(acc0[i], bias0);
        acc1[i] = X::add(acc1[i], bias1);
      }
      if (Act == 2) {
        acc0[i] = X::relu(acc0[i]);
        acc1[i] = X::relu(acc1[i]);
      } else if (Act == 3) {
        acc0[i] = X::leaky(acc0[i], vs);
        acc1[i] = X::leaky(acc1[i], vs);
      }
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    X::store(c + i * ldc, acc0[i]);
    X::store(c + i * ldc + W, acc1[i]);
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

// act is 1, 2 or 3 (gemm_block's ep_act): identity, relu, leaky relu.
void sgemm_ukr_ep_avx512(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta,
                         const float* bias, int act, float slope) {
  switch (act) {
    case 1: return ukr<float, kAvx512MR, 1>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 2: return ukr<float, kAvx512MR, 2>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 3: return ukr<float, kAvx512MR, 3>(kc, a, b, c, ldc, alpha, beta, bias, slope);
  }
}

void dgemm_ukr_ep_avx512(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha,
                         double beta, const double* bias, int act, double slope) {
  switch (act) {
    case 1: return ukr<double, kAvx512MR, 1>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 2: return ukr<double, kAvx512MR, 2>(kc, a, b, c, ldc, alpha, beta, bias, slope);
    case 3: return ukr<double, kAvx512MR, 3>(kc, a, b, c, ldc, alpha, beta, bias, slope);
  }
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

// ---- the forward of a few rows, B read in place ------------------------------------------------

// GCC 12's 512-bit shuffle intrinsics pass _mm512_undefined_ps() (a self-initialised variable) as
// the unused merge operand, which -Wmaybe-uninitialized reports once inlined here (clang has no
// such warning group, and would warn about the pragma).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace {

// r[0..15] (16 rows of 16 floats) -> r[q] = column q: pairs, then quads within each 128-bit
// lane, then the lanes (64 shuffles).
__attribute__((always_inline)) inline void transpose_sq(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4g + c], lane L: rows 4g..4g+3 of column 4L + c
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 xa = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), xb = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
    const __m512 ya = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88),
                 yb = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(xa, ya, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(xa, ya, 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(xb, yb, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(xb, yb, 0xDD);
  }
}

// r[0..7] (8 rows of 8 doubles) -> r[q] = column q (24 shuffles).
__attribute__((always_inline)) inline void transpose_sq(__m512d r[8]) {
  __m512d t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);      // lane L: rows i, i+1 of column 2L
    t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);  // lane L: rows i, i+1 of column 2L + 1
  }
  for (int e = 0; e < 2; ++e) {
    const __m512d xa = _mm512_shuffle_f64x2(t[e], t[2 + e], 0x88), xb = _mm512_shuffle_f64x2(t[e], t[2 + e], 0xDD);
    const __m512d ya = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0x88),
                  yb = _mm512_shuffle_f64x2(t[4 + e], t[6 + e], 0xDD);
    r[e] = _mm512_shuffle_f64x2(xa, ya, 0x88);
    r[4 + e] = _mm512_shuffle_f64x2(xa, ya, 0xDD);
    r[2 + e] = _mm512_shuffle_f64x2(xb, yb, 0x88);
    r[6 + e] = _mm512_shuffle_f64x2(xb, yb, 0xDD);
  }
}

template <typename T> struct Mask512;
template <> struct Mask512<float> {
  using M = __mmask16;
  static M first(Index n) { return M((1u << n) - 1u); }
  static __m512 load(M m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, M m, __m512 v) { _mm512_mask_storeu_ps(p, m, v); }
};
template <> struct Mask512<double> {
  using M = __mmask8;
  static M first(Index n) { return M((1u << n) - 1u); }
  static __m512d load(M m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, M m, __m512d v) { _mm512_mask_storeu_pd(p, m, v); }
};

// C[0:R, 0:rows] = A[0:R, 0:k] * B[0:rows, 0:k]^T (+ C when beta is 1) for one group of W rows of B
// (rows <= W; FULL: rows == W), k cut into blocks of kc as the packed path cuts it. W x W blocks
// of B are transposed in registers and each column multiplied into R accumulators: one fused
// multiply-add per p, p ascending, from zero in each k block -- the micro-kernel's order. A
// block's sum is then stored as the packed path stores it with alpha 1 and beta 0 or 1: acc, or
// acc + c rounded once (c, the earlier blocks' sum, is kept in a register). So every element has
// the packed path's bits. Each row of B is read a whole cache line (W elements) at a time, once,
// from start to end.
template <typename T, int R, bool FULL>
void rows_tb_group(Index k, Index kc, const T* a, Index lda, const T* b, Index ldb, Index rows, T beta, T* c,
                   Index ldc) {
  using X = V512<T>;
  using K = Mask512<T>;
  using V = typename X::V;
  constexpr int W = X::W;
  const typename K::M mrows = K::first(rows);
  V cv[R];
  for (int i = 0; i < R; ++i)
    cv[i] = beta == T(0) ? X::zero() : FULL ? X::load(c + i * ldc) : K::load(mrows, c + i * ldc);
  V r[W];
  for (Index pc = 0; pc < k; pc += kc) {
    const Index pe = pc + kc < k ? pc + kc : k;
    V acc[R];
    for (int i = 0; i < R; ++i) acc[i] = X::zero();
    Index p = pc;
    for (; p + W <= pe; p += W) {
#pragma GCC unroll 16
      for (int j = 0; j < W; ++j) r[j] = FULL || j < rows ? X::load(b + j * ldb + p) : X::zero();
      transpose_sq(r);
#pragma GCC unroll 16
      for (int q = 0; q < W; ++q)
        for (int i = 0; i < R; ++i) acc[i] = X::fma(X::set1(a[i * lda + p + q]), r[q], acc[i]);
    }
    if (p < pe) {  // the block's last pe - p < W columns: masked loads, nothing past a row is read
      const typename K::M m = K::first(pe - p);
      for (int j = 0; j < W; ++j) r[j] = FULL || j < rows ? K::load(m, b + j * ldb + p) : X::zero();
      transpose_sq(r);
      for (int q = 0; q < pe - p; ++q)
        for (int i = 0; i < R; ++i) acc[i] = X::fma(X::set1(a[i * lda + p + q]), r[q], acc[i]);
    }
    // beta is 0 or 1: the first block stores acc (beta 0) or acc + c, later ones acc + c
    for (int i = 0; i < R; ++i) cv[i] = pc == 0 && beta == T(0) ? acc[i] : X::add(acc[i], cv[i]);
  }
  for (int i = 0; i < R; ++i) {
    if (FULL)
      X::store(c + i * ldc, cv[i]);
    else
      K::store(c + i * ldc, mrows, cv[i]);
  }
}

// C (R x n) = A * B^T (+ C when beta is 1), k in blocks of kc, W rows of B at a time.
template <typename T, int R>
void rows_tb_r(Index n, Index k, Index kc, const T* a, Index lda, const T* b, Index ldb, T beta, T* c, Index ldc) {
  constexpr Index W = V512<T>::W;
  Index j = 0;
  for (; j + W <= n; j += W) rows_tb_group<T, R, true>(k, kc, a, lda, b + j * ldb, ldb, W, beta, c + j, ldc);
  if (j < n) rows_tb_group<T, R, false>(k, kc, a, lda, b + j * ldb, ldb, n - j, beta, c + j, ldc);
}

template <typename T>
void rows_tb(Index m, Index n, Index k, Index kc, const T* a, Index lda, const T* b, Index ldb, T beta, T* c,
             Index ldc) {
  for (Index i = 0; i < m; i += 4) {
    const Index rows = m - i < 4 ? m - i : 4;
    const T* ai = a + i * lda;
    T* ci = c + i * ldc;
    switch (rows) {
      case 1: rows_tb_r<T, 1>(n, k, kc, ai, lda, b, ldb, beta, ci, ldc); break;
      case 2: rows_tb_r<T, 2>(n, k, kc, ai, lda, b, ldb, beta, ci, ldc); break;
      case 3: rows_tb_r<T, 3>(n, k, kc, ai, lda, b, ldb, beta, ci, ldc); break;
      default: rows_tb_r<T, 4>(n, k, kc, ai, lda, b, ldb, beta, ci, ldc); break;
    }
  }
}

}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Float rows a multiple of 4 KB apart take the AVX2 path (the sums are the same): there the
// 16-row groups took 1.4-1.7x as long as the AVX2 kernel's 8-row panels (a 1024 x 1024 B, one row
// of A). The 16 lines a group loads at once then fall in one L1 set of 8 ways, and in 16 pages;
// running rows 8-15 a line ahead of rows 0-7 (8 lines in each of two sets, the same bits) was no
// faster (228-235 us against 138-169, the two interleaved, in a C++ loop of one-row products; the
// experiment was not kept), so the set is not the whole cause.
void sgemm_rows_tb_avx512(Index m, Index n, Index k, Index kc, const float* a, Index lda, const float* b,
                          Index ldb, float beta, float* c, Index ldc) {
  if (ldb % 1024 == 0)
    sgemm_rows_tb_avx2(m, n, k, kc, a, lda, b, ldb, beta, c, ldc);
  else
    rows_tb<float>(m, n, k, kc, a, lda, b, ldb, beta, c, ldc);
}

// A double group reads 8 rows at once: at most 8 lines of one L1 set, whatever the stride.
void dgemm_rows_tb_avx512(Index m, Index n, Index k, Index kc, const double* a, Index lda, const double* b,
                          Index ldb, double beta, double* c, Index ldc) {
  rows_tb<double>(m, n, k, kc, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace detail
}  // namespace densegrad
