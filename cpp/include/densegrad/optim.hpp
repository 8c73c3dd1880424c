// In-place optimizer updates for one parameter tensor of n elements, following torch.optim's
// single-tensor rules step for step (including the order of operations, so float32 results
// agree to rounding). The caller owns every buffer: no hidden state lives here.
#pragma once

#include "densegrad/common.hpp"

namespace densegrad {

// torch.optim.SGD, with its defaults (lr 1e-3 as in torch 2.x and dg.optim.SGD; it was 0 here,
// which trained nothing without a word).
struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
};

// Throws std::invalid_argument for options torch.optim.SGD rejects (negative lr/momentum/
// weight_decay; nesterov without momentum or with dampening).
void check_sgd_options(const SgdOptions& o);

// g = grad (negated if maximize) + weight_decay * param
// momentum != 0: buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g;
//                g = g + momentum * buf (nesterov) or g = buf
// param -= lr * g
// param (n) and momentum_buffer (n) updated in place; momentum_buffer may be null when
// momentum == 0. grad (n) is read only.
template <typename T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, Index n, const SgdOptions& o,
              bool first_step);

// torch.optim.Adam (L2 weight decay added to the gradient, as torch's Adam does; not AdamW).
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  bool maximize = false;
};

void check_adam_options(const AdamOptions& o);

// step counts from 1 (the value after this update).
// g = grad (negated if maximize) + weight_decay * param
// m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2;  (amsgrad: vmax = max(vmax, v))
// param -= lr / (1 - beta1^step) * m / (sqrt(v or vmax) / sqrt(1 - beta2^step) + eps)
// param, exp_avg, exp_avg_sq (n) updated in place; max_exp_avg_sq (n) too when amsgrad (else
// may be null).
template <typename T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, Index n,
               Index step, const AdamOptions& o);

namespace detail {
// Elements from which an update is split across threads: -1 (the default) for the sizes measured
// per optimizer and loop (optim.cpp), n >= 0 for n for both; settable for measuring where
// threads start to pay (the benchmarks do). Results do not depend on it.
Index optim_parallel_min();
void set_optim_parallel_min(Index n);
}  // namespace detail

}  // namespace densegrad
