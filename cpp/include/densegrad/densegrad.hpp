// densegrad's public C++ API in one include: kernels for dense layers, MSE and optimizers, the
// fused whole-MLP step, and densegrad::Mlp (an owning model with training, prediction and model
// files). No Python anywhere; errors are std::invalid_argument with the offending sizes in the
// message.
#pragma once

#include "densegrad/activation.hpp"
#include "densegrad/common.hpp"
#include "densegrad/dense.hpp"
#include "densegrad/gemm.hpp"
#include "densegrad/loss.hpp"
#include "densegrad/mlp.hpp"
#include "densegrad/model.hpp"
#include "densegrad/optim.hpp"
#include "densegrad/threads.hpp"
