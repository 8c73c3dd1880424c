// Elementwise activation kernels over arrays; the scalar rules live in activation.hpp.
#include "densegrad/activation.hpp"

namespace densegrad {

std::string activation_name(Activation act) {
  switch (act) {
    case Activation::Identity: return "identity";
    case Activation::Relu: return "relu";
    case Activation::LeakyRelu: return "leaky_relu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
  }
  return "unknown";
}

template <typename T>
void activation_forward(T* y, const T* z, Index n, Activation act, T slope) {
  DENSEGRAD_CHECK(n >= 0, "activation_forward: negative size " + std::to_string(n));
  detail::require_data("activation_forward y", y, n);
  detail::require_data("activation_forward z", z, n);
  for (Index i = 0; i < n; ++i) y[i] = activation_forward(act, z[i], slope);
}

template <typename T>
void activation_backward(T* dz, const T* dy, const T* y, const T* z, Index n, Activation act,
                         T slope) {
  DENSEGRAD_CHECK(n >= 0, "activation_backward: negative size " + std::to_string(n));
  detail::require_data("activation_backward dz", dz, n);
  detail::require_data("activation_backward dy", dy, n);
  detail::require_data("activation_backward y", y, n);
  const bool need_z = activation_needs_preactivation(act, double(slope));
  DENSEGRAD_CHECK(!need_z || z != nullptr || n == 0,
                  "activation_backward: " + activation_name(act) +
                      " with a non-positive slope needs the pre-activation z");
  for (Index i = 0; i < n; ++i)
    dz[i] = dy[i] * activation_derivative(act, y[i], need_z ? z[i] : T(0), slope);
}

template void activation_forward<float>(float*, const float*, Index, Activation, float);
template void activation_forward<double>(double*, const double*, Index, Activation, double);
template void activation_backward<float>(float*, const float*, const float*, const float*, Index,
                                         Activation, float);
template void activation_backward<double>(double*, const double*, const double*, const double*,
                                          Index, Activation, double);

}  // namespace densegrad
