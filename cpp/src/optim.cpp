// SGD and Adam updates, written in the order torch.optim's single-tensor code performs them
// (torch/optim/sgd.py and adam.py, PyTorch 2.x); hyper-parameters are rounded to T first, as
// PyTorch does when it applies a Python scalar to a float tensor.
#include "densegrad/optim.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <type_traits>

#include "densegrad/threads.hpp"
#include "optim_kernels.hpp"

namespace densegrad {

namespace {
// The shortest text that reads back as v (std::to_string wrote lr = -1e-9 as "-0.000000"); 17
// significant digits where the standard library has no floating-point std::to_chars.
std::string num(double v) {
  char buf[32];
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ec == std::errc() ? r.ptr : buf);
#else
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
#endif
}

// Elements below which an update runs on one thread (the updates are elementwise, so how the
// range is split never changes a result); set where 2 threads stopped losing on both machines
// this was measured on (`python bench/run.py --only optim`, and 1 and 2 threads alternating call
// by call; bench/README.md). A 2-vCPU Intel Xeon (waking the worker ~15 us): SGD (~0.2 ns per
// element while its arrays are in L2) gained from 2^18 and lost up to 2^17 (0.73-0.78x); Adam
// (a square root and a division per element) gained 1.02-1.24x at 2^17. A 2-vCPU AMD EPYC (Zen 4,
// waking the worker ~50-60 us): SGD lost 0.41-0.88x from 2^18 to 2^20 and gained 1.56-1.65x at
// 2^21; Adam lost at 2^17 (0.82x) and gained 1.19-1.31x at 2^18.
constexpr Index kSgdParallelMin = Index(1) << 21;
// Adam's AVX2 loop (adam_step) does an element in about half the time, so its threads pay later.
// Measured again on the Zen 4, 1 and 2 threads alternating (python, _core.adam_step): AVX2 loop,
// float32 2^17 0.67-0.75x, 2^18 0.92-1.04x, 2^19 1.22-1.36x, 2^20 1.52-1.67x (two runs); float64
// 2^17 1.16x, 2^18 1.41x; the portable loop (DENSEGRAD_KERNEL=generic), float32 2^17 0.90x, 2^18
// 1.25x; float64 2^17 1.37x. Two threads pay from about 150 us of one thread's work: 2 MB per
// array with the AVX2 loop, 1 MB with the portable one.
constexpr std::size_t kAdamParallelBytes = std::size_t(1) << 20;  // x2 with the AVX2 loop

std::atomic<Index> g_parallel_min_override{-1};  // detail::set_optim_parallel_min

// Runs f(lo, hi) over [0, n) in one piece per thread, pieces on 64-byte boundaries.
template <typename T, typename F>
void for_ranges(Index n, Index parallel_min, const F& f) {
  const Index forced = g_parallel_min_override.load(std::memory_order_relaxed);
  if (forced >= 0) parallel_min = forced;
  const int threads = n >= parallel_min ? get_num_threads() : 1;
  if (threads <= 1) {
    f(Index(0), n);
    return;
  }
  struct Ctx {
    const F* f;
    Index n;
  } ctx{&f, n};
  detail::parallel_run(threads, [](void* c, int i, int nt) {
    const Ctx& x = *static_cast<const Ctx*>(c);
    constexpr Index line = 64 / sizeof(T);
    const Index lines = (x.n + line - 1) / line;
    const Index lo = std::min(x.n, lines * i / nt * line), hi = std::min(x.n, lines * (i + 1) / nt * line);
    if (lo < hi) (*x.f)(lo, hi);
  }, &ctx);
}
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

namespace {

// One SGD update of param[lo:hi). The options are template parameters (as in adam_range), so
// that every loop is branch-free and vectorises; with them as run-time flags GCC kept some of
// the loops scalar.
enum class SgdMode { Plain, Momentum, MomentumFirst, Nesterov, NesterovFirst };

template <typename T, bool Maximize, bool Decay, SgdMode M>
void sgd_range(T* param, T* momentum_buffer, const T* grad, Index lo, Index hi, T lr, T momentum,
               T one_minus_dampening, T wd) {
  constexpr bool first = M == SgdMode::MomentumFirst || M == SgdMode::NesterovFirst;
  constexpr bool nesterov = M == SgdMode::Nesterov || M == SgdMode::NesterovFirst;
  for (Index i = lo; i < hi; ++i) {
    T g = Maximize ? -grad[i] : grad[i];
    if (Decay) g = g + wd * param[i];
    if (M != SgdMode::Plain) {
      const T buf = first ? g : momentum_buffer[i] * momentum + one_minus_dampening * g;
      momentum_buffer[i] = buf;
      g = nesterov ? g + momentum * buf : buf;
    }
    param[i] = param[i] + (-lr) * g;
  }
}

template <typename T>
using SgdRange = void (*)(T*, T*, const T*, Index, Index, T, T, T, T);

template <typename T, bool Maximize, bool Decay>
SgdRange<T> sgd_range_for(SgdMode m) {
  switch (m) {
    case SgdMode::Plain: return sgd_range<T, Maximize, Decay, SgdMode::Plain>;
    case SgdMode::Momentum: return sgd_range<T, Maximize, Decay, SgdMode::Momentum>;
    case SgdMode::MomentumFirst: return sgd_range<T, Maximize, Decay, SgdMode::MomentumFirst>;
    case SgdMode::Nesterov: return sgd_range<T, Maximize, Decay, SgdMode::Nesterov>;
    case SgdMode::NesterovFirst: return sgd_range<T, Maximize, Decay, SgdMode::NesterovFirst>;
  }
  return nullptr;
}

}  // namespace

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
  const SgdMode mode = o.momentum == 0.0 ? SgdMode::Plain
                       : o.nesterov       ? (first_step ? SgdMode::NesterovFirst : SgdMode::Nesterov)
                                          : (first_step ? SgdMode::MomentumFirst : SgdMode::Momentum);
  const bool decay = o.weight_decay != 0.0;
  const SgdRange<T> fn = o.maximize ? (decay ? sgd_range_for<T, true, true>(mode) : sgd_range_for<T, true, false>(mode))
                                    : (decay ? sgd_range_for<T, false, true>(mode) : sgd_range_for<T, false, false>(mode));
  for_ranges<T>(n, kSgdParallelMin, [&](Index lo, Index hi) {
    fn(param, momentum_buffer, grad, lo, hi, lr, momentum, one_minus_dampening, wd);
  });
}

namespace {

// One Adam update of param[lo:hi). The options are template parameters so that the loop has no
// branch left in it and vectorises (sqrt and division are correctly rounded in every lane, so
// the vector loop gives the scalar loop's bits).
template <typename T, bool Maximize, bool Decay, bool Amsgrad, bool LerpLow>
void adam_range(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, Index lo, Index hi,
                T step_size, T bc2_sqrt, T wd, T w1, T beta2, T w2, T eps) {
  for (Index i = lo; i < hi; ++i) {
    T g = Maximize ? -grad[i] : grad[i];
    if (Decay) g = g + wd * param[i];
    // torch.lerp(m, g, w) with w < 0.5 is m + w * (g - m); for w >= 0.5 it is g - (g - m) * (1 - w).
    const T m = LerpLow ? exp_avg[i] + w1 * (g - exp_avg[i]) : g - (g - exp_avg[i]) * (T(1) - w1);
    exp_avg[i] = m;
    T v = exp_avg_sq[i] * beta2 + w2 * (g * g);
    exp_avg_sq[i] = v;
    if (Amsgrad) {
      // torch.maximum propagates NaN (std::max and std::fmax do not); so does this: vmax + v is
      // NaN when either is.
      const T vmax = max_exp_avg_sq[i];
      const bool nan = (vmax != vmax) | (v != v);
      v = nan ? vmax + v : (v > vmax ? v : vmax);
      max_exp_avg_sq[i] = v;
    }
    const T denom = std::sqrt(v) / bc2_sqrt + eps;
    param[i] = param[i] + (-step_size) * (m / denom);
  }
}

}  // namespace

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
  using Fn = detail::AdamRange<T>;
  // [maximize][decay][amsgrad][w1 < 0.5]
  static constexpr Fn kernels[2][2][2][2] = DENSEGRAD_ADAM_TABLE(adam_range, T);
  Fn fn = kernels[o.maximize][o.weight_decay != 0.0][o.amsgrad][w1 < T(0.5)];
  Index parallel_min = Index(kAdamParallelBytes / sizeof(T));
#if defined(DENSEGRAD_X86)
  // With the AVX2 or AVX-512 GEMM kernel (so the CPU has AVX2), the AVX2 loop: the same bits,
  // 1.6-2.0x the speed of the SSE loop above from 4K to 1M floats and 1.4-1.5x at 3M (there
  // memory-bound), one thread, on the Zen 4 measured (bench/README.md).
  if (detail::active_kernel() >= 1) {
    const bool maximize = o.maximize, decay = o.weight_decay != 0.0, amsgrad = o.amsgrad, low = w1 < T(0.5);
    if constexpr (std::is_same_v<T, float>)
      fn = detail::adam_range_avx2_f32(maximize, decay, amsgrad, low);
    else
      fn = detail::adam_range_avx2_f64(maximize, decay, amsgrad, low);
    parallel_min *= 2;
  }
#endif
  for_ranges<T>(n, parallel_min, [&](Index lo, Index hi) {
    fn(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, lo, hi, step_size, bc2_sqrt, wd, w1, beta2, w2, eps);
  });
}

namespace detail {

Index optim_parallel_min() { return g_parallel_min_override.load(std::memory_order_relaxed); }

void set_optim_parallel_min(Index n) {
  DENSEGRAD_CHECK(n >= -1, "optim_parallel_min must be >= -1 (-1: the measured defaults), got " + std::to_string(n));
  g_parallel_min_override.store(n);
}

}  // namespace detail

template void sgd_step<float>(float*, float*, const float*, Index, const SgdOptions&, bool);
template void sgd_step<double>(double*, double*, const double*, Index, const SgdOptions&, bool);
template void adam_step<float>(float*, float*, float*, float*, const float*, Index, Index, const AdamOptions&);
template void adam_step<double>(double*, double*, double*, double*, const double*, Index, Index, const AdamOptions&);

}  // namespace densegrad
