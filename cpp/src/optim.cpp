// SGD and Adam updates, written in the order torch.optim's single-tensor code performs them
// (torch/optim/sgd.py and adam.py, PyTorch 2.x); hyper-parameters are rounded to T first, as
// PyTorch does when it applies a Python scalar to a float tensor.
#include "densegrad/optim.hpp"

#include <cmath>

namespace densegrad {

namespace {
std::string num(double v) { return std::to_string(v); }
}  // namespace

void check_sgd_options(const SgdOptions& o) {
  DENSEGRAD_CHECK(o.lr >= 0.0, "SGD: invalid learning rate " + num(o.lr));
  DENSEGRAD_CHECK(o.momentum >= 0.0, "SGD: invalid momentum value " + num(o.momentum));
  DENSEGRAD_CHECK(o.weight_decay >= 0.0, "SGD: invalid weight_decay value " + num(o.weight_decay));
  DENSEGRAD_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
                  "SGD: nesterov momentum requires a momentum and zero dampening");
}

void check_adam_options(const AdamOptions& o) {
  DENSEGRAD_CHECK(o.lr >= 0.0, "Adam: invalid learning rate " + num(o.lr));
  DENSEGRAD_CHECK(o.eps >= 0.0, "Adam: invalid epsilon value " + num(o.eps));
  DENSEGRAD_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0, "Adam: invalid beta parameter at index 0: " + num(o.beta1));
  DENSEGRAD_CHECK(o.beta2 >= 0.0 && o.beta2 < 1.0, "Adam: invalid beta parameter at index 1: " + num(o.beta2));
  DENSEGRAD_CHECK(o.weight_decay >= 0.0, "Adam: invalid weight_decay value " + num(o.weight_decay));
}

template <typename T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, Index n, const SgdOptions& o,
              bool first_step) {
  check_sgd_options(o);
  DENSEGRAD_CHECK(n >= 0, "sgd_step: negative size " + std::to_string(n));
  detail::require_data("sgd_step param", param, n);
  detail::require_data("sgd_step grad", grad, n);
  DENSEGRAD_CHECK(o.momentum == 0.0 || momentum_buffer != nullptr || n == 0,
                  "sgd_step: momentum != 0 needs a momentum buffer");
  // The options are read into locals once: with T = double a store to param[i] may alias the
  // options' double fields, so reading o.* inside the loop reloaded them after every store and
  // kept the loop scalar (24% of the perf samples of the 8-32-32-1 network's float64 fused step).
  const T lr = T(o.lr), momentum = T(o.momentum), wd = T(o.weight_decay);
  const T one_minus_dampening = T(1.0 - o.dampening);
  const bool maximize = o.maximize, decay = o.weight_decay != 0.0, nesterov = o.nesterov;
  if (o.momentum == 0.0) {
    for (Index i = 0; i < n; ++i) {
      T g = maximize ? -grad[i] : grad[i];
      if (decay) g = g + wd * param[i];
      param[i] = param[i] + (-lr) * g;
    }
    return;
  }
  for (Index i = 0; i < n; ++i) {
    T g = maximize ? -grad[i] : grad[i];
    if (decay) g = g + wd * param[i];
    T& buf = momentum_buffer[i];
    buf = first_step ? g : buf * momentum + one_minus_dampening * g;
    g = nesterov ? g + momentum * buf : buf;
    param[i] = param[i] + (-lr) * g;
  }
}

template <typename T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, Index n,
               Index step, const AdamOptions& o) {
  check_adam_options(o);
  DENSEGRAD_CHECK(n >= 0, "adam_step: negative size " + std::to_string(n));
  DENSEGRAD_CHECK(step >= 1, "adam_step: step counts from 1, got " + std::to_string(step));
  detail::require_data("adam_step param", param, n);
  detail::require_data("adam_step exp_avg", exp_avg, n);
  detail::require_data("adam_step exp_avg_sq", exp_avg_sq, n);
  detail::require_data("adam_step grad", grad, n);
  DENSEGRAD_CHECK(!o.amsgrad || max_exp_avg_sq != nullptr || n == 0,
                  "adam_step: amsgrad needs a max_exp_avg_sq buffer");
  // Bias corrections in double (Python floats in torch), then rounded once to T.
  const double bias_correction1 = 1.0 - std::pow(o.beta1, double(step));
  const double bias_correction2 = 1.0 - std::pow(o.beta2, double(step));
  const T step_size = T(o.lr / bias_correction1);
  const T bc2_sqrt = T(std::sqrt(bias_correction2));
  const T wd = T(o.weight_decay), w1 = T(1.0 - o.beta1), beta2 = T(o.beta2), w2 = T(1.0 - o.beta2);
  const T eps = T(o.eps);
  const bool maximize = o.maximize, decay = o.weight_decay != 0.0, amsgrad = o.amsgrad;  // see sgd_step
  for (Index i = 0; i < n; ++i) {
    T g = maximize ? -grad[i] : grad[i];
    if (decay) g = g + wd * param[i];
    // torch.lerp(m, g, w) with w < 0.5 is m + w * (g - m); for w >= 0.5 it is g - (g - m) * (1 - w).
    exp_avg[i] = w1 < T(0.5) ? exp_avg[i] + w1 * (g - exp_avg[i])
                             : g - (g - exp_avg[i]) * (T(1) - w1);
    exp_avg_sq[i] = exp_avg_sq[i] * beta2 + w2 * (g * g);
    T v = exp_avg_sq[i];
    if (amsgrad) {
      // torch.maximum propagates NaN (std::max and std::fmax do not); so does this.
      T& vmax = max_exp_avg_sq[i];
      vmax = (std::isnan(vmax) || std::isnan(v)) ? (vmax + v) : (v > vmax ? v : vmax);
      v = vmax;
    }
    const T denom = std::sqrt(v) / bc2_sqrt + eps;
    param[i] = param[i] + (-step_size) * (exp_avg[i] / denom);
  }
}

template void sgd_step<float>(float*, float*, const float*, Index, const SgdOptions&, bool);
template void sgd_step<double>(double*, double*, const double*, Index, const SgdOptions&, bool);
template void adam_step<float>(float*, float*, float*, float*, const float*, Index, Index, const AdamOptions&);
template void adam_step<double>(double*, double*, double*, double*, const double*, Index, Index, const AdamOptions&);

}  // namespace densegrad
