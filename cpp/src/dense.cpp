// Dense layer forward and backward on top of gemm(). Forward runs one GEMM into the output with
// its epilogue (bias, keep z if asked, activation) applied to each finished tile -- in the
// AVX-512 or AVX2 micro-kernel's registers where it can (see Epilogue in gemm.hpp). Backward applies
// act' once into dz, then two GEMMs (dx, dw) and a column sum (db).
#include "densegrad/dense.hpp"

#include "densegrad/gemm.hpp"

namespace densegrad {

namespace {

void check_dense_sizes(Index batch, Index in, Index out, std::size_t elem) {
  detail::require_shape("dense x (batch, in)", batch, in, elem);
  detail::require_shape("dense w (out, in)", out, in, elem);
  detail::require_shape("dense y (batch, out)", batch, out, elem);
}

}  // namespace

template <typename T>
void dense_forward(T* y, T* z, const T* x, const T* w, const T* b, Index batch, Index in,
                   Index out, Activation act, T slope) {
  check_dense_sizes(batch, in, out, sizeof(T));
  detail::require_data("dense_forward y", y, batch * out);
  detail::require_data("dense_forward x", x, batch * in);
  detail::require_data("dense_forward w", w, out * in);
  // The product lands in z when the caller keeps it, else straight in y (then overwritten).
  T* acc = z != nullptr ? z : y;
  const detail::Epilogue<T> ep{b, act, slope, y, out};
  detail::gemm_ex(Trans::No, Trans::Yes, batch, out, in, T(1), x, in, w, in, T(0), acc, out, &ep);
}

template <typename T>
void dense_backward(T* dx, T* dw, T* db, T* dz, const T* dy, const T* x, const T* w, const T* y,
                    const T* z, Index batch, Index in, Index out, Activation act, T slope,
                    bool accumulate) {
  check_dense_sizes(batch, in, out, sizeof(T));
  detail::require_data("dense_backward dy", dy, batch * out);
  detail::require_data("dense_backward x", x, dw != nullptr ? batch * in : 0);
  detail::require_data("dense_backward w", w, dx != nullptr ? out * in : 0);
  detail::require_data("dense_backward y", y, act == Activation::Identity ? 0 : batch * out);
  // For identity act' = 1: dy is used as dz directly and the dz buffer is not touched.
  const T* g = dy;
  if (act != Activation::Identity) {
    detail::require_data("dense_backward dz", dz, batch * out);
    activation_backward(dz, dy, y, z, batch * out, act, slope);
    g = dz;
  }
  if (dx != nullptr) gemm(Trans::No, Trans::No, batch, in, out, T(1), g, out, w, in, T(0), dx, in);
  if (dw != nullptr)
    gemm(Trans::Yes, Trans::No, out, in, batch, T(1), g, out, x, in, accumulate ? T(1) : T(0), dw, in);
  if (db != nullptr) {
    if (!accumulate)
      for (Index j = 0; j < out; ++j) db[j] = T(0);
    for (Index i = 0; i < batch; ++i) {
      const T* gi = g + i * out;
#pragma omp simd
      for (Index j = 0; j < out; ++j) db[j] += gi[j];
    }
  }
}

namespace {

// A view the pointer kernels can take: contiguous rows, and (when it is not empty) the expected
// shape.
template <typename V>
void check_view(const char* name, const V& v, Index rows, Index cols, bool optional) {
  if (optional && v.data == nullptr && v.rows == 0 && v.cols == 0) return;
  detail::require_view(name, v);
  DENSEGRAD_CHECK(v.rows == rows && v.cols == cols, std::string(name) + " has shape " + detail::shape_str(v.rows, v.cols) +
                                                        ", expected " + detail::shape_str(rows, cols));
  DENSEGRAD_CHECK(v.rows <= 1 || v.ld == v.cols,
                  std::string(name) + ": rows must be contiguous (ld " + std::to_string(v.ld) + " != " + std::to_string(v.cols) + ")");
}

}  // namespace

template <typename T>
void dense_forward(MatrixView<T> y, MatrixView<detail::no_deduce_t<T>> z, MatrixView<const detail::no_deduce_t<T>> x,
                   MatrixView<const detail::no_deduce_t<T>> w, const detail::no_deduce_t<T>* b, Activation act,
                   detail::no_deduce_t<T> slope) {
  const Index batch = x.rows, in = x.cols, out = w.rows;
  check_view("dense_forward x", x, batch, in, false);
  check_view("dense_forward w", w, out, in, false);
  check_view("dense_forward y", y, batch, out, false);
  check_view("dense_forward z", z, batch, out, true);
  dense_forward<T>(y.data, z.data, x.data, w.data, b, batch, in, out, act, slope);
}

template <typename T>
void dense_backward(MatrixView<T> dx, MatrixView<T> dw, detail::no_deduce_t<T>* db, MatrixView<T> dz,
                    MatrixView<const detail::no_deduce_t<T>> dy, MatrixView<const detail::no_deduce_t<T>> x,
                    MatrixView<const detail::no_deduce_t<T>> w, MatrixView<const detail::no_deduce_t<T>> y,
                    MatrixView<const detail::no_deduce_t<T>> z, Activation act, detail::no_deduce_t<T> slope,
                    bool accumulate) {
  const Index batch = x.rows, in = x.cols, out = w.rows;
  check_view("dense_backward x", x, batch, in, false);
  check_view("dense_backward w", w, out, in, false);
  check_view("dense_backward dy", dy, batch, out, false);
  check_view("dense_backward y", y, batch, out, false);
  check_view("dense_backward z", z, batch, out, true);
  check_view("dense_backward dx", dx, batch, in, true);
  check_view("dense_backward dw", dw, out, in, true);
  check_view("dense_backward dz", dz, batch, out, true);
  dense_backward<T>(dx.data, dw.data, db, dz.data, dy.data, x.data, w.data, y.data, z.data, batch, in, out, act, slope,
                    accumulate);
}

template void dense_forward<float>(MatrixView<float>, MatrixView<float>, MatrixView<const float>, MatrixView<const float>,
                                   const float*, Activation, float);
template void dense_forward<double>(MatrixView<double>, MatrixView<double>, MatrixView<const double>,
                                    MatrixView<const double>, const double*, Activation, double);
template void dense_backward<float>(MatrixView<float>, MatrixView<float>, float*, MatrixView<float>, MatrixView<const float>,
                                    MatrixView<const float>, MatrixView<const float>, MatrixView<const float>,
                                    MatrixView<const float>, Activation, float, bool);
template void dense_backward<double>(MatrixView<double>, MatrixView<double>, double*, MatrixView<double>,
                                     MatrixView<const double>, MatrixView<const double>, MatrixView<const double>,
                                     MatrixView<const double>, MatrixView<const double>, Activation, double, bool);

template void dense_forward<float>(float*, float*, const float*, const float*, const float*, Index,
                                   Index, Index, Activation, float);
template void dense_forward<double>(double*, double*, const double*, const double*, const double*,
                                    Index, Index, Index, Activation, double);
template void dense_backward<float>(float*, float*, float*, float*, const float*, const float*,
                                    const float*, const float*, const float*, Index, Index, Index,
                                    Activation, float, bool);
template void dense_backward<double>(double*, double*, double*, double*, const double*,
                                     const double*, const double*, const double*, const double*,
                                     Index, Index, Index, Activation, double, bool);

}  // namespace densegrad
