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
// gemm() is the fast path; gemm_reference() is the naive triple loop, kept forever as the
// test oracle.
#pragma once

#include "densegrad/common.hpp"

namespace densegrad {

enum class Trans { No, Yes };

template <typename T>
void gemm(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda,
          const T* b, Index ldb, T beta, T* c, Index ldc);

template <typename T>
void gemm_reference(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a,
                    Index lda, const T* b, Index ldb, T beta, T* c, Index ldc);

namespace detail {
// Shape and pointer checks shared by both GEMMs (std::invalid_argument on failure).
void check_gemm_args(Trans trans_a, Trans trans_b, Index m, Index n, Index k, const void* a,
                     Index lda, const void* b, Index ldb, const void* c, Index ldc,
                     std::size_t elem_size);
}  // namespace detail

}  // namespace densegrad
