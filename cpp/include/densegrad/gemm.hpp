// General matrix product, the one interface the dense kernels use for their three products.
//
//   C (m, n) = alpha * op(A) * op(B) + beta * C          all matrices row-major
//   op(A) is (m, k): A is (m, k), lda >= k;  or trans_a: A is (k, m), lda >= m
//   op(B) is (k, n): B is (k, n), ldb >= n;  or trans_b: B is (n, k), ldb >= k
//   beta == 0: C is written, never read (NaN in an uninitialised C cannot leak in).
//
// How a dense layer maps onto it (x: batch x in, w: out x in, dz: batch x out):
//   forward  z  = x * w^T   m = batch, n = out, k = in,    trans_b
//   backward dx = dz * w    m = batch, n = in,  k = out
//   backward dw = dz^T * x  m = out,   n = in,  k = batch, trans_a
//
// gemm() is the fast path (packed, cache-blocked, AVX-512 or AVX2+FMA when the CPU has it, threads for
// large products); gemm_reference() is the naive triple loop, kept forever as the test oracle.
#pragma once

#include <string>

#include "densegrad/activation.hpp"
#include "densegrad/common.hpp"

namespace densegrad {

enum class Trans { No, Yes };

template <typename T>
void gemm(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda,
          const T* b, Index ldb, T beta, T* c, Index ldc);

template <typename T>
void gemm_reference(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a,
                    Index lda, const T* b, Index ldb, T beta, T* c, Index ldc);

// The micro-kernel in use: "avx512", "avx2-fma" or "generic" (the best the CPU has, chosen at
// start-up; DENSEGRAD_KERNEL=generic forces the portable one, DENSEGRAD_KERNEL=avx2-fma caps it
// at AVX2).
std::string gemm_kernel();
// Switch micro-kernel: "generic", "avx2-fma", "avx512" or "auto" (the best the CPU has). False
// if that kernel cannot run here. Safe while other threads run products: each product reads the
// kernel once, and one already running finishes with the kernel it started with.
bool set_gemm_kernel(const std::string& name);

// Runs a loop of independent fused multiply-adds with the widest instruction set the CPU has
// (AVX-512, AVX2+FMA, or the portable baseline; not the selected GEMM kernel's) and stores its
// flop count in *flops; timing it gives the machine's peak (the benchmarks do).
double fma_loop(bool f32, Index iters, double* flops);

namespace detail {

// Applied to each finished tile of C: c = c + bias[j] (bias may be null), y = act(c).
// y (row stride ldy) may be C itself. On the AVX-512 and AVX2 kernels, with y == C and the
// identity, relu or leaky relu, full tiles of packed products get it in the micro-kernel's
// registers before they are stored; other tiles as a pass over the finished tile. The same
// operations either way, so the same bits.
template <typename T>
struct Epilogue {
  const T* bias;
  Activation act;
  T slope;
  T* y;
  Index ldy;
};

// gemm() with an optional epilogue (null: none).
template <typename T>
void gemm_ex(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda,
             const T* b, Index ldb, T beta, T* c, Index ldc, const Epilogue<T>* ep);

// Multiply-adds (m * n * k) from which a GEMM is split across threads; settable for measuring
// where threads start to pay (the benchmarks do).
Index parallel_min_work();
void set_parallel_min_work(Index work);

// Multiply-adds (m * n * k) up to which a product is computed without packing (when the kernel
// has such a path: avx2-fma, avx512); settable for measuring the crossover (the benchmarks do) and for
// testing both paths on one shape. On those kernels, products with n <= 16 that the packed path
// would run on one thread are computed without packing too, whatever their size (on avx512 only
// where the two paths round alike: alpha 1, or beta 0 in one k block), and so is the product
// A * B^T of 1-4 rows of A with n > 16 (alpha 1, beta 0 or 1). 0: every product packed.
Index small_max_work();
void set_small_max_work(Index work);

// The path gemm_ex takes for this product with the kernel, thread count and limits now in force
// (every path gives the same bits): packed, the small-product path (small and narrow products,
// B read in place), or the few-rows path (A * B^T of 1-4 rows). For tests and measurements.
enum class GemmPath { Packed, Small, FewRows };
template <typename T>
GemmPath gemm_path(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, T beta);
// gemm_path(...) != GemmPath::Packed.
template <typename T>
bool gemm_runs_unpacked(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, T beta);

// Shape and pointer checks shared by both GEMMs (std::invalid_argument on failure).
void check_gemm_args(Trans trans_a, Trans trans_b, Index m, Index n, Index k, const void* a,
                     Index lda, const void* b, Index ldb, const void* c, Index ldc,
                     std::size_t elem_size);
}  // namespace detail

}  // namespace densegrad
