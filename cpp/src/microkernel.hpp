// Internal: the micro-kernel interface shared by gemm.cpp and the separately compiled AVX2 and
// AVX-512 translation units. Declarations and constants only -- no inline code may live here,
// because those TUs are built with -mavx2 -mfma / -mavx512f and the linker could otherwise pick
// their copy of an inline function for the portable path (an illegal instruction on CPUs
// without them).
#pragma once

#include "densegrad/common.hpp"

namespace densegrad {
namespace detail {

// C (mr x nr, row stride ldc) = alpha * A_panel * B_panel + beta * C, where A_panel holds kc
// columns of mr values (a[p * mr + i]) and B_panel kc rows of nr values (b[p * nr + j]).
// beta == 0: C is written without being read.
template <typename T>
using MicroKernel = void (*)(Index kc, const T* a, const T* b, T* c, Index ldc, T alpha, T beta);

// The micro-kernel with the dense forward's epilogue applied in registers before C is stored:
// c = act(alpha * acc (+ beta * c) + bias[j]) with act 1 identity, 2 relu, 3 leaky relu (slope),
// bias (nr values at the tile's first column) may be null. The same operations as the separate
// epilogue pass, so the same bits.
template <typename T>
using MicroKernelEp = void (*)(Index kc, const T* a, const T* b, T* c, Index ldc, T alpha, T beta, const T* bias,
                               int act, T slope);

// Fast packers for full panels (may be null: the portable packing is used).
//   pack_a_rows(dst, src, ld, kc): dst[p * mr + i] = src[i * ld + p]  (non-transposed A; may
//                                  write up to 8 elements past dst + mr * kc)
//   pack_b_trans(dst, src, ld, kc): dst[p * nr + j] = src[j * ld + p] (transposed B)
template <typename T>
using Packer = void (*)(T* dst, const T* src, Index ld, Index kc);

// A small product read in place, no packing: C (m x n) = alpha * op(A) * B + beta * C for a
// non-transposed B and one k block (the caller cuts k as gemm_block does, and transposes B).
// Bitwise equal to the packed path with the same register tile (and, for the AVX-512 kernel,
// which uses the AVX2 small kernels, wherever KernelInfo::small_any_scale allows it).
template <typename T>
using SmallGemm = void (*)(bool trans_a, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
                           Index ldb, T beta, T* c, Index ldc);

// C (m x n) = A (m x k, not transposed) * B^T + beta * C for a B of n x k read in place, alpha 1,
// beta 0 or 1, k cut into blocks of kc (<= kRowsTbMaxK; the last may be shorter) as the packed
// path cuts it: the dense forward of a few rows (rows_tb in gemm_avx2.cpp and gemm_avx512.cpp).
// Bitwise the packed path's.
template <typename T>
using RowsTb = void (*)(Index m, Index n, Index k, Index kc, const T* a, Index lda, const T* b, Index ldb, T beta,
                        T* c, Index ldc);
constexpr Index kRowsTbMaxK = 256;

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (a transposed copy).
template <typename T>
using Transposer = void (*)(T* dst, Index ldd, const T* src, Index lds, Index rows, Index cols);

template <typename T>
struct KernelInfo {
  MicroKernel<T> ukr;
  Index mr, nr;       // register tile
  Index kc, mc, nc;   // cache blocking: A block mc x kc (L2), B block kc x nc (L3), panels in L1
  const char* name;
  Packer<T> pack_a_rows = nullptr;
  Packer<T> pack_b_trans = nullptr;
  SmallGemm<T> small = nullptr;  // null: every product is packed
  Transposer<T> transpose = nullptr;  // for small products with a transposed B (with small)
  // small is bitwise the packed path for every alpha and beta (it shares the register tile, so
  // the same elements are edge elements). Else only where full and edge tiles round alike:
  // alpha == 1, or beta == 0 with a single k block (later k blocks add with beta 1). The small
  // path is then used only there.
  bool small_any_scale = true;
  RowsTb<T> rows_tb = nullptr;  // null: no few-rows path for a transposed B
  MicroKernelEp<T> ukr_ep = nullptr;  // null: the epilogue runs as a separate pass over the tile
};

// k steps before the end of a micro-kernel's k loop at which it prefetches its C tile (every
// x86 kernel). Prefetched at the start, the tile's lines -- its rows in few L1 sets when C's
// rows are a multiple of 4 KB apart -- were evicted again by the panels streaming through L1.
// Whole-process pairs, one thread, the large layer's products: AVX-512 forward 0.985x the time,
// dx 0.989x, dw 0.987x (16 or 64 steps the same as 32); AVX2 (on the same Zen 4; no AVX2-only
// CPU was at hand) 0.978-1.00x, the medium forward 0.986x.
constexpr Index kCAhead = 32;

// The AVX-512 kernels' register tile: kAvx512MR rows x 32 floats (16 doubles).
constexpr int kAvx512MR = 8;
// The largest mr x nr of any kernel (gemm_block's buffer for edge tiles): AVX-512 float.
constexpr int kMaxTile = kAvx512MR * 32;
static_assert(kMaxTile >= 6 * 16 && kMaxTile >= kAvx512MR * 16, "edge-tile buffer too small");

// Defined in gemm_avx2.cpp (only on x86-64 builds).
void sgemm_ukr_avx2_6x16(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta);
void dgemm_ukr_avx2_6x8(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha, double beta);

void sgemm_ukr_ep_avx2(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta,
                       const float* bias, int act, float slope);
void dgemm_ukr_ep_avx2(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha, double beta,
                       const double* bias, int act, double slope);

void sgemm_small_avx2(bool trans_a, Index m, Index n, Index k, float alpha, const float* a, Index lda,
                      const float* b, Index ldb, float beta, float* c, Index ldc);
void dgemm_small_avx2(bool trans_a, Index m, Index n, Index k, double alpha, const double* a, Index lda,
                      const double* b, Index ldb, double beta, double* c, Index ldc);

void sgemm_rows_tb_avx2(Index m, Index n, Index k, Index kc, const float* a, Index lda, const float* b,
                        Index ldb, float beta, float* c, Index ldc);
void dgemm_rows_tb_avx2(Index m, Index n, Index k, Index kc, const double* a, Index lda, const double* b,
                        Index ldb, double beta, double* c, Index ldc);

void transpose_avx2(float* dst, Index ldd, const float* src, Index lds, Index rows, Index cols);
void transpose_avx2(double* dst, Index ldd, const double* src, Index lds, Index rows, Index cols);

void pack_b_trans16_avx2(float* dst, const float* src, Index ld, Index kc);
void pack_b_trans32_avx2(float* dst, const float* src, Index ld, Index kc);  // the AVX-512 kernel's panels
void pack_a_rows6_avx2(float* dst, const float* src, Index ld, Index kc);
void pack_b_trans8d_avx2(double* dst, const double* src, Index ld, Index kc);
void pack_a_rows6d_avx2(double* dst, const double* src, Index ld, Index kc);

// Defined in gemm_avx512.cpp (only on x86-64 builds).
void sgemm_ukr_avx512(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta);
void dgemm_ukr_avx512(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha, double beta);
void sgemm_ukr_ep_avx512(Index kc, const float* a, const float* b, float* c, Index ldc, float alpha, float beta,
                         const float* bias, int act, float slope);
void dgemm_ukr_ep_avx512(Index kc, const double* a, const double* b, double* c, Index ldc, double alpha,
                         double beta, const double* bias, int act, double slope);
void pack_a_rows_avx512(float* dst, const float* src, Index ld, Index kc);
void pack_b_trans16d_avx512(double* dst, const double* src, Index ld, Index kc);
void pack_a_rowsd_avx512(double* dst, const double* src, Index ld, Index kc);
void sgemm_rows_tb_avx512(Index m, Index n, Index k, Index kc, const float* a, Index lda, const float* b,
                          Index ldb, float beta, float* c, Index ldc);
void dgemm_rows_tb_avx512(Index m, Index n, Index k, Index kc, const double* a, Index lda, const double* b,
                          Index ldb, double beta, double* c, Index ldc);
float fma_loop_avx512_f32(Index iters);
double fma_loop_avx512_f64(Index iters);

// FMA-throughput loops for measuring the machine's peak (gemm_avx2.cpp); see fma_peak_flops.
float fma_loop_avx2_f32(Index iters);
double fma_loop_avx2_f64(Index iters);

}  // namespace detail
}  // namespace densegrad
