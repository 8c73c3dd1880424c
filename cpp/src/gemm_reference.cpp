// The naive GEMM: one dot product per output element, no blocking, no tricks. It is the test
// oracle for gemm() and is kept forever; it is never on a hot path.
#include "densegrad/gemm.hpp"

namespace densegrad {

namespace detail {

void check_gemm_args(Trans trans_a, Trans trans_b, Index m, Index n, Index k, const void* a,
                     Index lda, const void* b, Index ldb, const void* c, Index ldc,
                     std::size_t elem_size) {
  const Index a_rows = trans_a == Trans::Yes ? k : m, a_cols = trans_a == Trans::Yes ? m : k;
  const Index b_rows = trans_b == Trans::Yes ? n : k, b_cols = trans_b == Trans::Yes ? k : n;
  DENSEGRAD_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm: negative size (m=" + std::to_string(m) +
                                          ", n=" + std::to_string(n) + ", k=" + std::to_string(k) + ")");
  DENSEGRAD_CHECK(lda >= a_cols, "gemm: lda " + std::to_string(lda) + " < " + std::to_string(a_cols) + " columns of A");
  DENSEGRAD_CHECK(ldb >= b_cols, "gemm: ldb " + std::to_string(ldb) + " < " + std::to_string(b_cols) + " columns of B");
  DENSEGRAD_CHECK(ldc >= n, "gemm: ldc " + std::to_string(ldc) + " < " + std::to_string(n) + " columns of C");
  // Each buffer spans rows * ld elements; that byte count must be addressable.
  require_shape("gemm A", a_rows, lda, elem_size);
  require_shape("gemm B", b_rows, ldb, elem_size);
  require_shape("gemm C", m, ldc, elem_size);
  require_data("gemm A", a, a_rows * a_cols);
  require_data("gemm B", b, b_rows * b_cols);
  require_data("gemm C", c, m * n);
}

}  // namespace detail

template <typename T>
void gemm_reference(Trans trans_a, Trans trans_b, Index m, Index n, Index k, T alpha, const T* a,
                    Index lda, const T* b, Index ldb, T beta, T* c, Index ldc) {
  detail::check_gemm_args(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, sizeof(T));
  for (Index i = 0; i < m; ++i) {
    for (Index j = 0; j < n; ++j) {
      T acc = T(0);
      for (Index p = 0; p < k; ++p) {
        const T av = trans_a == Trans::Yes ? a[p * lda + i] : a[i * lda + p];
        const T bv = trans_b == Trans::Yes ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * acc : alpha * acc + beta * cij;  // beta 0: C never read
    }
  }
}

template void gemm_reference<float>(Trans, Trans, Index, Index, Index, float, const float*, Index,
                                    const float*, Index, float, float*, Index);
template void gemm_reference<double>(Trans, Trans, Index, Index, Index, double, const double*,
                                     Index, const double*, Index, double, double*, Index);

}  // namespace densegrad
