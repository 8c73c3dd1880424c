// libFuzzer target for densegrad's public C++ API (no Python): gemm / gemm_reference,
// dense_forward / dense_backward, the elementwise activations, MSE, SGD / Adam, and the MLP
// training step with ONE workspace reused across differently shaped networks. Sizes, leading
// dimensions, transposes, alpha/beta, activations, thread counts, the micro-kernel and every
// value (any bit pattern) come from the fuzzer. Each buffer is allocated exactly as large as the
// function's contract says, so AddressSanitizer reports any access outside it; the only
// exception a call may throw is std::invalid_argument, and a GEMM of finite moderate values must
// stay within the forward error bound of the naive reference. Built and run by fuzz/run.sh:
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -Icpp/include fuzz/fuzz_cpp_api.cpp cpp/src/*.cpp
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <vector>

#include "densegrad/densegrad.hpp"
#include "densegrad/mlp.hpp"
#include "densegrad/threads.hpp"

using namespace densegrad;

namespace {

const Index kDims[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 95, 97, 121, 257};

Index dim(FuzzedDataProvider& f) {
  return f.ConsumeBool() ? kDims[f.ConsumeIntegralInRange<std::size_t>(0, sizeof(kDims) / sizeof(kDims[0]) - 1)]
                         : f.ConsumeIntegralInRange<Index>(0, 12);
}

// n values: raw bit patterns (NaN, Inf, subnormals...) or moderate numbers.
template <typename T>
std::vector<T> values(FuzzedDataProvider& f, Index n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  const bool raw = f.ConsumeBool();
  for (auto& e : v) e = raw ? f.ConsumeFloatingPoint<T>() : f.ConsumeFloatingPointInRange<T>(T(-4), T(4));
  return v;
}

Activation act(FuzzedDataProvider& f) { return static_cast<Activation>(f.ConsumeIntegralInRange<int>(0, 4)); }

template <typename T>
T slope(FuzzedDataProvider& f) {
  const T s[] = {T(0.01), T(0), T(-0.5), T(2), std::numeric_limits<T>::quiet_NaN()};
  return s[f.ConsumeIntegralInRange<int>(0, 4)];
}

template <typename T>
bool moderate(const std::vector<T>& v) {
  for (T e : v)
    if (!std::isfinite(e) || std::fabs(e) > T(1e6)) return false;
  return true;
}

template <typename T>
void fuzz_gemm(FuzzedDataProvider& f) {
  const bool ta = f.ConsumeBool(), tb = f.ConsumeBool();
  const Index m = dim(f), n = dim(f), k = dim(f);
  const Index ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  // leading dimensions: usually the column count plus a little, sometimes too small (refused)
  const Index lda = ac + f.ConsumeIntegralInRange<Index>(-1, 3), ldb = bc + f.ConsumeIntegralInRange<Index>(-1, 3);
  const Index ldc = n + f.ConsumeIntegralInRange<Index>(-1, 3);
  const auto size = [](Index rows, Index ld) { return rows > 0 && ld > 0 ? rows * ld : 0; };
  std::vector<T> a = values<T>(f, size(ar, lda)), b = values<T>(f, size(br, ldb)), c = values<T>(f, size(m, ldc));
  const T alpha = f.ConsumeBool() ? T(1) : f.ConsumeFloatingPointInRange<T>(T(-2), T(2));
  const T beta = f.ConsumeBool() ? T(0) : f.ConsumeFloatingPointInRange<T>(T(-2), T(2));
  const std::vector<T> c0 = c;
  std::vector<T> c_ref = c;
  const Trans tA = ta ? Trans::Yes : Trans::No, tB = tb ? Trans::Yes : Trans::No;
  try {
    gemm<T>(tA, tB, m, n, k, alpha, a.empty() ? nullptr : a.data(), lda, b.empty() ? nullptr : b.data(), ldb, beta,
            c.empty() ? nullptr : c.data(), ldc);
  } catch (const std::invalid_argument&) {
    return;
  }
  gemm_reference<T>(tA, tB, m, n, k, alpha, a.empty() ? nullptr : a.data(), lda, b.empty() ? nullptr : b.data(), ldb,
                    beta, c_ref.empty() ? nullptr : c_ref.data(), ldc);
  if (!moderate(a) || !moderate(b) || !moderate(c)) return;
  const double u = std::numeric_limits<T>::epsilon() / 2;
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) {
      double mag = 0;
      for (Index p = 0; p < k; ++p) {
        const double av = ta ? a[std::size_t(p * lda + i)] : a[std::size_t(i * lda + p)];
        const double bv = tb ? b[std::size_t(j * ldb + p)] : b[std::size_t(p * ldb + j)];
        mag += std::fabs(av * bv);
      }
      const std::size_t e = std::size_t(i * ldc + j);
      const double cij = double(c[e]), rij = double(c_ref[e]);
      // each is within (k + 4) u of the exact alpha * sum + beta * c0 (the k blocks, alpha, beta)
      const double bound = 2 * (k + 4) * u * (std::fabs(double(alpha)) * mag + std::fabs(double(beta) * double(c0[e]))) +
                           4 * double(std::numeric_limits<T>::denorm_min());
      if (!(std::fabs(cij - rij) <= bound)) {
        std::fprintf(stderr, "gemm vs reference at (%ld, %ld): %g vs %g, bound %g\n", long(i), long(j), cij, rij, bound);
        std::abort();
      }
    }
}

template <typename T>
void fuzz_dense(FuzzedDataProvider& f) {
  const Index batch = dim(f), in = dim(f), out = dim(f);
  const Activation a = act(f);
  const T s = slope<T>(f);
  std::vector<T> x = values<T>(f, batch * in), w = values<T>(f, out * in), b = values<T>(f, out);
  std::vector<T> y(std::size_t(batch * out)), z(std::size_t(batch * out));
  const bool keep = f.ConsumeBool(), bias = f.ConsumeBool();
  try {
    dense_forward<T>(y.data(), keep ? z.data() : nullptr, x.data(), w.data(), bias ? b.data() : nullptr, batch, in, out, a, s);
    std::vector<T> dy = values<T>(f, batch * out);
    std::vector<T> dx(static_cast<std::size_t>(batch * in)), dw(static_cast<std::size_t>(out * in));
    std::vector<T> db(static_cast<std::size_t>(out)), dz(static_cast<std::size_t>(batch * out));
    const bool nx = f.ConsumeBool(), nw = f.ConsumeBool(), nb = f.ConsumeBool(), acc = f.ConsumeBool();
    dense_backward<T>(nx ? dx.data() : nullptr, nw ? dw.data() : nullptr, nb ? db.data() : nullptr, dz.data(), dy.data(),
                      x.data(), w.data(), y.data(), keep ? z.data() : nullptr, batch, in, out, a, s, acc);
    activation_forward<T>(dz.data(), y.data(), batch * out, a, s);
    activation_backward<T>(dz.data(), dy.data(), y.data(), keep ? z.data() : nullptr, batch * out, a, s);
  } catch (const std::invalid_argument&) {
  }
}

template <typename T>
void fuzz_loss_optim(FuzzedDataProvider& f) {
  const Index n = dim(f) * dim(f);
  std::vector<T> in = values<T>(f, n), tg = values<T>(f, n), g = values<T>(f, n), p = values<T>(f, n);
  std::vector<T> m1 = values<T>(f, n), m2 = values<T>(f, n), m3 = values<T>(f, n), out(std::size_t(n) + 1);
  const auto red = static_cast<Reduction>(f.ConsumeIntegralInRange<int>(0, 2));
  try {
    mse_forward<T>(out.data(), in.data(), tg.data(), n, red);
    mse_backward<T>(g.data(), out.data(), in.data(), tg.data(), n, red);
    SgdOptions so{f.ConsumeFloatingPointInRange<double>(-0.1, 1), f.ConsumeFloatingPointInRange<double>(-0.1, 1), 0.0,
                  f.ConsumeFloatingPointInRange<double>(0, 1), f.ConsumeBool(), f.ConsumeBool()};
    sgd_step<T>(p.data(), f.ConsumeBool() ? m1.data() : nullptr, g.data(), n, so, f.ConsumeBool());
    AdamOptions ao;
    ao.lr = f.ConsumeFloatingPointInRange<double>(-0.1, 1);
    ao.beta1 = f.ConsumeFloatingPointInRange<double>(-0.1, 1.1);
    ao.amsgrad = f.ConsumeBool();
    adam_step<T>(p.data(), m1.data(), m2.data(), ao.amsgrad && f.ConsumeBool() ? m3.data() : nullptr, g.data(), n,
                 f.ConsumeIntegralInRange<Index>(-1, 1 << 20), ao);
  } catch (const std::invalid_argument&) {
  }
}

// Networks of random shapes trained with ONE workspace (the bug this found: a workspace sized for
// a narrower network of the same depth was reused without growing).
template <typename T>
void fuzz_mlp(FuzzedDataProvider& f) {
  static MlpWorkspace<T> ws;  // deliberately shared across inputs
  const int depth = f.ConsumeIntegralInRange<int>(1, 3);
  std::vector<LayerSpec> specs;
  Index in = dim(f);
  const Index in0 = in;
  for (int l = 0; l < depth; ++l) {
    LayerSpec s;
    s.in = in;
    s.out = dim(f);
    s.act = act(f);
    s.slope = double(slope<T>(f));
    s.bias = f.ConsumeBool();
    specs.push_back(s);
    in = s.out;
  }
  std::vector<std::vector<T>> store;
  store.reserve(std::size_t(depth) * 10);
  auto buf = [&](Index n, bool random) -> T* {
    store.push_back(random ? values<T>(f, n) : std::vector<T>(std::size_t(n)));
    return store.back().empty() ? nullptr : store.back().data();
  };
  std::vector<DenseLayerRef<T>> layers(specs.size());
  for (std::size_t l = 0; l < specs.size(); ++l) {
    auto& r = layers[l];
    r.spec = specs[l];
    const Index nw = r.spec.out * r.spec.in, nb = r.spec.out;
    r.w = buf(nw, true);
    r.dw = buf(nw, false);
    if (r.spec.bias) {
      r.b = buf(nb, true);
      r.db = buf(nb, false);
    }
    for (int k = 0; k < 3; ++k) {
      r.w_state[k] = buf(nw, false);
      if (r.spec.bias) r.b_state[k] = buf(nb, false);
    }
  }
  const Index batch = dim(f);
  std::vector<T> x = values<T>(f, batch * in0), target = values<T>(f, batch * in), y(std::size_t(batch * in));
  OptimizerSpec opt;
  opt.kind = f.ConsumeBool() ? OptimizerSpec::Kind::Adam : OptimizerSpec::Kind::Sgd;
  opt.sgd.lr = 0.01;
  opt.sgd.momentum = f.ConsumeBool() ? 0.9 : 0.0;
  opt.adam.amsgrad = f.ConsumeBool();
  try {
    for (Index step = 1; step <= 2; ++step)
      mlp_train_step<T>(layers, x.data(), target.data(), batch, f.ConsumeBool() ? Reduction::Mean : Reduction::Sum, opt,
                        step, step == 1, ws);
    mlp_forward<T>(y.data(), layers, x.data(), batch, ws);
  } catch (const std::invalid_argument&) {
  }
}

// The default, read before any input changes it.
const Index kParallelMinWork = detail::parallel_min_work();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider f(data, size);
  set_gemm_kernel(f.ConsumeBool() ? "generic" : "auto");
  set_num_threads(f.ConsumeIntegralInRange<int>(1, 3));
  detail::set_parallel_min_work(f.ConsumeBool() ? 0 : kParallelMinWork);
  const bool f32 = f.ConsumeBool();
  switch (f.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: f32 ? fuzz_gemm<float>(f) : fuzz_gemm<double>(f); break;
    case 1: f32 ? fuzz_dense<float>(f) : fuzz_dense<double>(f); break;
    case 2: f32 ? fuzz_loss_optim<float>(f) : fuzz_loss_optim<double>(f); break;
    default: f32 ? fuzz_mlp<float>(f) : fuzz_mlp<double>(f); break;
  }
  return 0;
}
