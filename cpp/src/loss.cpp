// MSE forward/backward. Float sums accumulate in double: for large batches that is more accurate
// than float accumulation and costs nothing measurable next to the GEMMs.
#include "densegrad/loss.hpp"

#include <limits>

namespace densegrad {

namespace {
template <typename T> struct Acc { using type = double; };
template <> struct Acc<double> { using type = double; };
}  // namespace

template <typename T>
void mse_forward(T* out, const T* input, const T* target, Index n, Reduction reduction) {
  DENSEGRAD_CHECK(n >= 0, "mse_forward: negative size " + std::to_string(n));
  detail::require_data("mse_forward input", input, n);
  detail::require_data("mse_forward target", target, n);
  detail::require_data("mse_forward out", out, reduction == Reduction::None ? n : 1);
  if (reduction == Reduction::None) {
    for (Index i = 0; i < n; ++i) {
      const T d = input[i] - target[i];
      out[i] = d * d;
    }
    return;
  }
  typename Acc<T>::type sum = 0;
  for (Index i = 0; i < n; ++i) {
    const T d = input[i] - target[i];  // difference and square in T, as PyTorch computes them
    sum += d * d;
  }
  if (reduction == Reduction::Sum) {
    out[0] = static_cast<T>(sum);
  } else {
    // The mean of nothing is NaN (PyTorch's mse_loss of an empty tensor), not a division trap.
    out[0] = n == 0 ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(sum / double(n));
  }
}

template <typename T>
void mse_backward(T* dinput, const T* dout, const T* input, const T* target, Index n,
                  Reduction reduction) {
  DENSEGRAD_CHECK(n >= 0, "mse_backward: negative size " + std::to_string(n));
  detail::require_data("mse_backward dinput", dinput, n);
  detail::require_data("mse_backward input", input, n);
  detail::require_data("mse_backward target", target, n);
  detail::require_data("mse_backward dout", dout, reduction == Reduction::None ? n : 1);
  // PyTorch's order: (input - target) * norm * grad_output, norm = 2/n for mean, else 2.
  const T norm = reduction == Reduction::Mean ? (n == 0 ? T(0) : static_cast<T>(2.0 / double(n))) : T(2);
  if (reduction == Reduction::None) {
    for (Index i = 0; i < n; ++i) dinput[i] = (input[i] - target[i]) * norm * dout[i];
  } else {
    const T g = n == 0 ? T(0) : dout[0];
    for (Index i = 0; i < n; ++i) dinput[i] = (input[i] - target[i]) * norm * g;
  }
}

template void mse_forward<float>(float*, const float*, const float*, Index, Reduction);
template void mse_forward<double>(double*, const double*, const double*, Index, Reduction);
template void mse_backward<float>(float*, const float*, const float*, const float*, Index, Reduction);
template void mse_backward<double>(double*, const double*, const double*, const double*, Index, Reduction);

}  // namespace densegrad
