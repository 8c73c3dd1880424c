// gemm(): a straightforward loop nest per transpose case, ordered so the innermost loop walks
// contiguous memory (a dot product of two rows, or an axpy along a row), which the compiler
// vectorises. C is first scaled by beta (or zeroed, never read, for beta == 0), then
// alpha * op(A) * op(B) is accumulated into it.
#include "densegrad/gemm.hpp"

namespace densegrad {

namespace {

template <typename T>
T dot(const T* x, const T* y, Index k) {
  T acc = T(0);
#pragma omp simd reduction(+ : acc)
  for (Index p = 0; p < k; ++p) acc += x[p] * y[p];
  return acc;
}

template <typename T>
void axpy(T* y, T alpha, const T* x, Index n) {
#pragma omp simd
  for (Index j = 0; j < n; ++j) y[j] += alpha * x[j];
}

}  // namespace

template <typename T>
void gemm(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda,
          const T* b, Index ldb, T beta, T* c, Index ldc) {
  detail::check_gemm_args(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, sizeof(T));
  for (Index i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0)) {
      for (Index j = 0; j < n; ++j) ci[j] = T(0);
    } else if (beta != T(1)) {
      for (Index j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
  if (k == 0 || alpha == T(0)) return;

  const bool ta = trans_a == Trans::Yes, tb = trans_b == Trans::Yes;
  if (!ta && tb) {  // C[i][j] += alpha * <A row i, B row j>: both rows contiguous
    for (Index i = 0; i < m; ++i)
      for (Index j = 0; j < n; ++j) c[i * ldc + j] += alpha * dot(a + i * lda, b + j * ldb, k);
  } else if (!ta && !tb) {  // C row i += alpha * A[i][p] * B row p
    for (Index i = 0; i < m; ++i)
      for (Index p = 0; p < k; ++p) axpy(c + i * ldc, alpha * a[i * lda + p], b + p * ldb, n);
  } else if (ta && !tb) {  // C row i += alpha * A[p][i] * B row p, p outermost to stream A and B
    for (Index p = 0; p < k; ++p)
      for (Index i = 0; i < m; ++i) axpy(c + i * ldc, alpha * a[p * lda + i], b + p * ldb, n);
  } else {  // both transposed: rare; C[i][j] += alpha * sum_p A[p][i] * B[j][p]
    for (Index i = 0; i < m; ++i)
      for (Index j = 0; j < n; ++j) {
        T acc = T(0);
        for (Index p = 0; p < k; ++p) acc += a[p * lda + i] * b[j * ldb + p];
        c[i * ldc + j] += alpha * acc;
      }
  }
}

template void gemm<float>(Trans, Trans, Index, Index, Index, float, const float*, Index,
                          const float*, Index, float, float*, Index);
template void gemm<double>(Trans, Trans, Index, Index, Index, double, const double*, Index,
                           const double*, Index, double, double*, Index);

}  // namespace densegrad
