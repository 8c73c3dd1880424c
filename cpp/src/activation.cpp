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

namespace {

// The loops with the activation fixed at compile time (no switch per element: they vectorise).
template <typename T, Activation A>
void forward_n(T* y, const T* z, Index n, T slope) {
#pragma omp simd
  for (Index i = 0; i < n; ++i) y[i] = activation_forward(A, z[i], slope);
}

template <typename T, Activation A>
void backward_n(T* dz, const T* dy, const T* y, const T* z, Index n, T slope) {
  if (z != nullptr) {
#pragma omp simd
    for (Index i = 0; i < n; ++i) dz[i] = dy[i] * activation_derivative(A, y[i], z[i], slope);
  } else {
#pragma omp simd
    for (Index i = 0; i < n; ++i) dz[i] = dy[i] * activation_derivative(A, y[i], T(0), slope);
  }
}

}  // namespace

template <typename T>
void activation_forward(T* y, const T* z, Index n, Activation act, T slope) {
  DENSEGRAD_CHECK(n >= 0, "activation_forward: negative size " + std::to_string(n));
  detail::require_data("activation_forward y", y, n);
  detail::require_data("activation_forward z", z, n);
  switch (act) {
    case Activation::Identity: return forward_n<T, Activation::Identity>(y, z, n, slope);
    case Activation::Relu: return forward_n<T, Activation::Relu>(y, z, n, slope);
    case Activation::LeakyRelu: return forward_n<T, Activation::LeakyRelu>(y, z, n, slope);
    case Activation::Sigmoid: return forward_n<T, Activation::Sigmoid>(y, z, n, slope);
    case Activation::Tanh: return forward_n<T, Activation::Tanh>(y, z, n, slope);
  }
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
                      " with a slope <= 0 (in float32) needs the pre-activation z");
  const T* zz = need_z ? z : nullptr;
  switch (act) {
    case Activation::Identity: return backward_n<T, Activation::Identity>(dz, dy, y, zz, n, slope);
    case Activation::Relu: return backward_n<T, Activation::Relu>(dz, dy, y, zz, n, slope);
    case Activation::LeakyRelu: return backward_n<T, Activation::LeakyRelu>(dz, dy, y, zz, n, slope);
    case Activation::Sigmoid: return backward_n<T, Activation::Sigmoid>(dz, dy, y, zz, n, slope);
    case Activation::Tanh: return backward_n<T, Activation::Tanh>(dz, dy, y, zz, n, slope);
  }
}

template void activation_forward<float>(float*, const float*, Index, Activation, float);
template void activation_forward<double>(double*, const double*, Index, Activation, double);
template void activation_backward<float>(float*, const float*, const float*, const float*, Index,
                                         Activation, float);
template void activation_backward<double>(double*, const double*, const double*, const double*,
                                          Index, Activation, double);

}  // namespace densegrad
