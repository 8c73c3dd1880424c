// The AVX-512 micro-kernels (MR x 32 floats, MR x 16 doubles: two 512-bit vectors of B per k
// step, one broadcast of A per row, 2 * MR accumulator registers). This file alone is compiled
// with -mavx512f; it is only called after a run-time CPU check (gemm.cpp). Like gemm_avx2.cpp it
// must stay free of inline functions from shared headers (see microkernel.hpp): only intrinsics,
// plain loops, and templates with internal linkage.
//
// Every element of C is summed as in the AVX2 kernel: one fused multiply-add per k step, k
// ascending, from zero; then alpha * acc (+ beta * c, one fused multiply-add on a full tile).
// Only the register tile and the k blocking differ.
#include <immintrin.h>

#include "microkernel.hpp"

namespace densegrad {
namespace detail {

namespace {

template <int MR>
void ukr_f32(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta) {
  for (int i = 0; i < MR; ++i) {  // the C tile, early: its rows are far apart (128 bytes each)
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }
  __m512 acc0[MR], acc1[MR];
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (Index p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += MR;
    b += 32;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {  // C is not read: NaN in an uninitialised output cannot leak in
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, acc0[i]));
      _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, acc1[i]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      float* ci = c + i * ldc;
      _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc0[i], _mm512_mul_ps(vb, _mm512_loadu_ps(ci))));
      _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, acc1[i], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16))));
    }
  }
}

template <int MR>
void ukr_f64(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha, double beta) {
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 8), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
  }
  __m512d acc0[MR], acc1[MR];
  for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_pd();
#pragma GCC unroll 4
  for (Index p = 0; p < kc; ++p) {
    const __m512d b0 = _mm512_loadu_pd(b), b1 = _mm512_loadu_pd(b + 8);
    for (int i = 0; i < MR; ++i) {
      const __m512d ai = _mm512_set1_pd(a[i]);
      acc0[i] = _mm512_fmadd_pd(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_pd(ai, b1, acc1[i]);
    }
    a += MR;
    b += 16;
  }
  const __m512d va = _mm512_set1_pd(alpha);
  if (beta == 0.0) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      _mm512_storeu_pd(c + i * ldc, _mm512_mul_pd(va, acc0[i]));
      _mm512_storeu_pd(c + i * ldc + 8, _mm512_mul_pd(va, acc1[i]));
    }
  } else {
    const __m512d vb = _mm512_set1_pd(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      double* ci = c + i * ldc;
      _mm512_storeu_pd(ci, _mm512_fmadd_pd(va, acc0[i], _mm512_mul_pd(vb, _mm512_loadu_pd(ci))));
      _mm512_storeu_pd(ci + 8, _mm512_fmadd_pd(va, acc1[i], _mm512_mul_pd(vb, _mm512_loadu_pd(ci + 8))));
    }
  }
}

}  // namespace

void sgemm_ukr_avx512(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta) {
  ukr_f32<kAvx512MR>(kc, a, b, c, ldc, alpha, beta);
}

void dgemm_ukr_avx512(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha,
                      double beta) {
  ukr_f64<kAvx512MR>(kc, a, b, c, ldc, alpha, beta);
}

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
// 16 values (a cache line) of each source row at a time: rows a multiple of 4 KB apart share
// one L1 set, so a line must be used up before the other rows evict it.
void pack_b_trans32_avx512(float* dst, const float* src, Index ld, Index kc) {
  Index p = 0;
  for (; p + 16 <= kc; p += 16) {
    for (int h = 0; h < 4; ++h) {
      __m256 r[8], s[8];
      for (int j = 0; j < 8; ++j) {
        r[j] = _mm256_loadu_ps(src + (8 * h + j) * ld + p);
        s[j] = _mm256_loadu_ps(src + (8 * h + j) * ld + p + 8);
      }
      transpose8(r);
      transpose8(s);
      for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + (p + k) * 32 + 8 * h, r[k]);
      for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + (p + 8 + k) * 32 + 8 * h, s[k]);
    }
  }
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
  constexpr int MR = kAvx512MR;
  Index p = 0;
  for (; p + 4 <= kc; p += 4) {
    __m256d g[(MR + 3) / 4][4];
    for (int q = 0; q < (MR + 3) / 4; ++q) {
      for (int i = 0; i < 4; ++i)
        g[q][i] = 4 * q + i < MR ? _mm256_loadu_pd(src + (4 * q + i) * ld + p) : _mm256_setzero_pd();
      transpose4d(g[q]);
    }
    for (int k = 0; k < 4; ++k)
      for (int q = 0; q < (MR + 3) / 4; ++q) _mm256_storeu_pd(dst + (p + k) * MR + 4 * q, g[q][k]);
  }
  for (; p < kc; ++p)
    for (int i = 0; i < MR; ++i) dst[p * MR + i] = src[i * ld + p];
}

// FMA-throughput loops (see fma_loop_avx2_f32): 12 chains of 16-wide (8-wide double) FMAs.
float fma_loop_avx512_f32(Index iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (Index it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}

double fma_loop_avx512_f64(Index iters) {
  __m512d acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_pd(double(i) * 1e-3);
  const __m512d a = _mm512_set1_pd(0.999999), b = _mm512_set1_pd(1e-7);
  for (Index it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_pd(acc[i], a, b);
  __m512d s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_pd(s, acc[i]);
  double out[8];
  _mm512_storeu_pd(out, s);
  return out[0] + out[7];
}

}  // namespace detail
}  // namespace densegrad
