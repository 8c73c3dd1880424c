// A fully connected layer with its activation fused in: forward y = act(x * w^T + b) and the
// backward that turns dy into dx, dw and db. Both sit on gemm() (see gemm.hpp for how
// batch/in/out map onto m/n/k); the activation and bias are applied in the same pass over the
// output, so no separate elementwise sweep is needed in Python.
#pragma once

#include "densegrad/activation.hpp"
#include "densegrad/common.hpp"

namespace densegrad {

// y  (batch, out)  written: y = act(x * w^T + b)
// z  (batch, out)  written when non-null: the pre-activation x * w^T + b. Backward needs it only
//                  when activation_needs_preactivation(act, slope); may be null otherwise.
// x  (batch, in),  w (out, in) (PyTorch's layout),  b (out) or null
template <typename T>
void dense_forward(T* y, T* z, const T* x, const T* w, const T* b, Index batch, Index in,
                   Index out, Activation act, T slope);

// dz = dy * act'(z);  dx = dz * w;  dw (+)= dz^T * x;  db (+)= dz summed over the batch
// dx (batch, in)   written, or null to skip it
// dw (out, in)     written (accumulate = false) or added to (accumulate = true); null to skip
// db (out)         written or added to like dw; null to skip
// dz (batch, out)  written: workspace for dy * act'(z); may alias dy (then dy is overwritten)
// dy (batch, out), x (batch, in), w (out, in), y (batch, out) the forward output,
// z (batch, out)   the pre-activation, or null unless activation_needs_preactivation(act, slope)
template <typename T>
void dense_backward(T* dx, T* dw, T* db, T* dz, const T* dy, const T* x, const T* w, const T* y,
                    const T* z, Index batch, Index in, Index out, Activation act, T slope,
                    bool accumulate);

// The same two kernels on matrix views (rows must be contiguous: ld == cols). Shapes are taken
// from the views and checked against each other; b / dw / db / z / dx may be empty views or null.
// T comes from the output views (y; dx, dw, dz), so no template argument is needed: mutable views
// of the inputs convert, and b / db may be nullptr.
//   dense_forward(y, {}, x, w, b.data(), Activation::Relu);
template <typename T>
void dense_forward(MatrixView<T> y, MatrixView<detail::no_deduce_t<T>> z, MatrixView<const detail::no_deduce_t<T>> x,
                   MatrixView<const detail::no_deduce_t<T>> w, const detail::no_deduce_t<T>* b, Activation act,
                   detail::no_deduce_t<T> slope = T(0.01));

template <typename T>
void dense_backward(MatrixView<T> dx, MatrixView<T> dw, detail::no_deduce_t<T>* db, MatrixView<T> dz,
                    MatrixView<const detail::no_deduce_t<T>> dy, MatrixView<const detail::no_deduce_t<T>> x,
                    MatrixView<const detail::no_deduce_t<T>> w, MatrixView<const detail::no_deduce_t<T>> y,
                    MatrixView<const detail::no_deduce_t<T>> z, Activation act, detail::no_deduce_t<T> slope = T(0.01),
                    bool accumulate = false);

}  // namespace densegrad
