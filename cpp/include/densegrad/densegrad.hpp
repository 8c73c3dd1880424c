// densegrad's public C++ API in one include: kernels for dense layers, MSE and optimizers.
// No Python anywhere; errors are std::invalid_argument with the offending sizes in the message.
#pragma once

#include "densegrad/activation.hpp"
#include "densegrad/common.hpp"
#include "densegrad/dense.hpp"
#include "densegrad/gemm.hpp"
#include "densegrad/loss.hpp"
#include "densegrad/optim.hpp"
