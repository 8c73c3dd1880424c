// The activations a dense layer can fuse, defined once: act(z) and act'(z) here, used by the
// dense kernels, the standalone elementwise kernels and (through _core) the Python package.
// Derivatives are written in terms of the output y (and z only where y cannot tell, see below).
#pragma once

#include <cmath>
#include <string>

#include "densegrad/common.hpp"

namespace densegrad {

enum class Activation { Identity, Relu, LeakyRelu, Sigmoid, Tanh };

std::string activation_name(Activation act);

// y = act(z). NaN propagates (relu(NaN) = NaN, as in PyTorch), hence `z < 0` and not `z > 0`.
template <typename T>
inline T activation_forward(Activation act, T z, T slope) {
  switch (act) {
    case Activation::Identity: return z;
    case Activation::Relu: return z < T(0) ? T(0) : z;
    case Activation::LeakyRelu: return z > T(0) ? z : z * slope;
    case Activation::Sigmoid:
      // Two forms so exp never overflows: for z >= 0 exp(-z) <= 1, for z < 0 exp(z) < 1.
      if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
      else {
        const T e = std::exp(z);
        return e / (T(1) + e);
      }
    case Activation::Tanh: return std::tanh(z);
  }
  return z;
}

// act'(z) from the output y = act(z) (and z itself, needed only by leaky_relu with slope <= 0).
// Edge rules follow PyTorch: relu'(0) = 0 and relu' passes the gradient where y is NaN (its
// backward zeroes it only where y <= 0); leaky_relu'(0) = slope (its backward tests z > 0).
template <typename T>
inline T activation_derivative(Activation act, T y, T z, T slope) {
  switch (act) {
    case Activation::Identity: return T(1);
    case Activation::Relu: return y <= T(0) ? T(0) : T(1);
    case Activation::LeakyRelu:
      // For slope > 0, y > 0 exactly when z > 0; otherwise only z can tell.
      return (slope > T(0) ? y > T(0) : z > T(0)) ? T(1) : slope;
    case Activation::Sigmoid: return y * (T(1) - y);
    case Activation::Tanh: return T(1) - y * y;
  }
  return T(1);
}

// Whether backward needs the pre-activation z, not only y = act(z): leaky_relu unless its slope
// is positive even when rounded to float (above 2^-150; the float kernels compute with
// float(slope), and a slope of 1e-50 is 0 there). One answer for both dtypes: a double network
// with a slope in (0, 2^-150] keeps a z it would not need.
inline bool activation_needs_preactivation(Activation act, double slope) {
  return act == Activation::LeakyRelu && !(slope > 0x1p-150);
}

// y[i] = act(z[i]) for n elements; y may alias z.
template <typename T>
void activation_forward(T* y, const T* z, Index n, Activation act, T slope);

// dz[i] = dy[i] * act'(z[i]) with y = act(z); dz may alias dy. z may be null unless
// activation_needs_preactivation(act, slope).
template <typename T>
void activation_backward(T* dz, const T* dy, const T* y, const T* z, Index n, Activation act, T slope);

}  // namespace densegrad
