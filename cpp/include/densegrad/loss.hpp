// Mean squared error, forward and backward, with PyTorch's reductions.
#pragma once

#include "densegrad/common.hpp"

namespace densegrad {

enum class Reduction { None, Mean, Sum };

// out     written: n elements (Reduction::None: (input - target)^2 elementwise) or 1 element
//         (Sum: the sum; Mean: the sum / n, NaN for n == 0 as in PyTorch)
// input (n), target (n)
template <typename T>
void mse_forward(T* out, const T* input, const T* target, Index n, Reduction reduction);

// dinput (n) written: dinput = (input - target) * norm * dout, norm = 2 / n (Mean) or 2
// dout    n elements (Reduction::None) or 1 element: the gradient of the loss output
template <typename T>
void mse_backward(T* dinput, const T* dout, const T* input, const T* target, Index n,
                  Reduction reduction);

}  // namespace densegrad
