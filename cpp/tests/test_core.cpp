// C++ tests of the densegrad core, no Python: GEMM against the reference over every transpose
// case and edge sizes (with canary margins around C), the seed networks' hand-computed values,
// MSE, SGD/Adam, and std::invalid_argument for bad arguments. Plain checks with a report; exit
// status 1 on any failure.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "densegrad/densegrad.hpp"
#include "check.hpp"
#include "densegrad/mlp.hpp"
#include "densegrad/threads.hpp"

using namespace densegrad;
using densegrad_test::check;
using densegrad_test::expect_invalid;

// Every heap allocation of this program is counted, to prove a steady-state training step
// allocates nothing.
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {


template <typename T>
bool close(T a, T b, double rtol) {
  return std::fabs(double(a) - double(b)) <= rtol * (1.0 + std::fabs(double(b)));
}


// Fast GEMM vs reference, C surrounded by canaries that must survive untouched.
template <typename T>
void test_gemm(double rtol) {
  std::mt19937 gen(7);
  std::normal_distribution<double> nd;
  const Index sizes[] = {0, 1, 3, 7, 13, 33};
  const T canary = T(-12345.5);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (Index m : sizes)
        for (Index n : sizes)
          for (Index k : sizes) {
            std::vector<T> a(std::size_t(m * k)), b(std::size_t(k * n));
            for (auto& v : a) v = T(nd(gen));
            for (auto& v : b) v = T(nd(gen));
            const Index margin = 8, ldc = n + 3;  // ldc > n: the gaps must stay untouched too
            std::vector<T> c(std::size_t(margin * 2 + m * ldc), canary), r(std::size_t(m * ldc), T(0));
            const Trans TA = ta ? Trans::Yes : Trans::No, TB = tb ? Trans::Yes : Trans::No;
            const Index lda = ta ? m : k, ldb = tb ? k : n;
            std::vector<T> c0(c);
            for (Index i = 0; i < m; ++i)
              for (Index j = 0; j < n; ++j) c[std::size_t(margin + i * ldc + j)] = T(0.5);
            for (Index i = 0; i < m; ++i)
              for (Index j = 0; j < n; ++j) r[std::size_t(i * ldc + j)] = T(0.5);
            gemm<T>(TA, TB, m, n, k, T(1.5), a.data(), lda, b.data(), ldb, T(2), c.data() + margin, ldc);
            gemm_reference<T>(TA, TB, m, n, k, T(1.5), a.data(), lda, b.data(), ldb, T(2), r.data(), ldc);
            bool ok = true, canaries = true;
            for (Index i = 0; i < m; ++i)
              for (Index j = 0; j < ldc; ++j) {
                const T got = c[std::size_t(margin + i * ldc + j)];
                if (j < n) ok &= close(got, r[std::size_t(i * ldc + j)], rtol * double(k + 1));
                else canaries &= got == canary;
              }
            for (Index i = 0; i < margin; ++i)
              canaries &= c[std::size_t(i)] == canary && c[c.size() - 1 - std::size_t(i)] == canary;
            const std::string tag = "gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                                    " m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
            check(ok, tag + " matches reference");
            check(canaries, tag + " leaves canaries intact");
          }
}

// The unpacked path for small products must give bitwise the packed path's result (so a row of
// C does not depend on how many rows were computed with it), for every alpha/beta combination.
// Operands have padded leading dimensions filled with NaN, and C is NaN where beta == 0 (it must
// not be read); the whole buffers, padding included, are compared byte for byte.
// How `got` (m x n, row stride ldc) compares with `want`: the same bits in the whole buffer
// (padding included), and no NaN read into the m x n elements from padding or a C with beta 0.
struct BitwiseCheck {
  bool same, finite;
};
template <typename T>
BitwiseCheck bitwise_check(const std::vector<T>& want, const std::vector<T>& got, Index m, Index n, Index ldc) {
  bool finite = true;
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) finite &= std::isfinite(got[std::size_t(i * ldc + j)]);
  return {std::memcmp(want.data(), got.data(), want.size() * sizeof(T)) == 0, finite};
}

template <typename T>
void test_small_path_is_bitwise_packed(const char* kernel) {
  if (!set_gemm_kernel(kernel)) {  // no unpacked path without AVX2: nothing to compare
    std::printf("unpacked small products on %s: not compared (this CPU lacks it)\n", kernel);
    return;
  }
  std::mt19937 gen(11);
  std::normal_distribution<double> nd;
  const Index saved = detail::small_max_work();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  // m past mc (120 / 96 / 128); n with every float remainder class (9-15 included); k past one block
  const Index ms[] = {1, 2, 5, 6, 7, 9, 13, 130};
  const Index ns[] = {1, 2, 5, 12, 15, 16, 17, 31, 33};
  const Index ks[] = {1, 7, 16, 257, 600};
  const std::pair<T, T> ab[] = {{T(1), T(0)}, {T(1.5), T(0)}, {T(1), T(1)}, {T(1.5), T(-0.75)}, {T(-0.3), T(1)}};
  struct Shape { Index m, n, k; };
  std::vector<Shape> shapes;
  for (Index m : ms)
    for (Index n : ns)
      for (Index k : ks) shapes.push_back({m, n, k});
  shapes.push_back({1, 3100, 3});  // n past nc (3072 / 2048)
  shapes.push_back({2, 2100, 5});
  bool ok = true;
  std::string first_bad;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& sh : shapes)
        for (const auto& [alpha, beta] : ab) {
          const Index m = sh.m, n = sh.n, k = sh.k;
          const Index lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 3, ldc = n + 3;
          std::vector<T> a(std::size_t((ta ? k : m) * lda), nan), b(std::size_t((tb ? n : k) * ldb), nan);
          std::vector<T> c0(std::size_t(m * ldc), nan);
          for (Index r = 0; r < (ta ? k : m); ++r)
            for (Index q = 0; q < (ta ? m : k); ++q) a[std::size_t(r * lda + q)] = T(nd(gen));
          for (Index r = 0; r < (tb ? n : k); ++r)
            for (Index q = 0; q < (tb ? k : n); ++q) b[std::size_t(r * ldb + q)] = T(nd(gen));
          if (beta != T(0))
            for (Index r = 0; r < m; ++r)
              for (Index q = 0; q < n; ++q) c0[std::size_t(r * ldc + q)] = T(nd(gen));
          std::vector<T> packed(c0), small(c0);
          const Trans TA = ta ? Trans::Yes : Trans::No, TB = tb ? Trans::Yes : Trans::No;
          detail::set_small_max_work(0);
          gemm<T>(TA, TB, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, packed.data(), ldc);
          detail::set_small_max_work(Index(1) << 62);
          gemm<T>(TA, TB, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, small.data(), ldc);
          const auto [same, finite] = bitwise_check(packed, small, m, n, ldc);
          if ((!same || !finite) && ok) {
            ok = false;
            first_bad = "ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " m=" + std::to_string(m) +
                        " n=" + std::to_string(n) + " k=" + std::to_string(k) + (finite ? "" : " (NaN read)");
          }
        }
  detail::set_small_max_work(saved);
  set_gemm_kernel("auto");
  check(ok, std::string(kernel) + ": unpacked small products are bitwise the packed ones (" +
                (ok ? "all" : first_bad) + ")");
}

// Which products skip the packing (gemm_path / gemm_runs_unpacked): small ones and narrow ones
// (n <= 16) that the packed path would run on one thread take the small path, the forward of 1-4
// rows into more than 16 outputs the few-rows path; never where the rounding could differ, never
// with small_max_work 0, never on the portable kernel.
template <typename T>
void test_unpacked_routing() {
  const Index saved_small = detail::small_max_work(), saved_min = detail::parallel_min_work();
  const int saved_threads = get_num_threads();
  const Trans N = Trans::No, Y = Trans::Yes;
  auto unpacked = [](Trans ta, Trans tb, Index m, Index n, Index k, T alpha = T(1), T beta = T(0)) {
    return detail::gemm_runs_unpacked<T>(ta, tb, m, n, k, alpha, beta);
  };
  for (const char* kernel : {"generic", "avx2-fma", "avx512"}) {
    if (!set_gemm_kernel(kernel)) continue;
    const std::string at = std::string(kernel) + (sizeof(T) == 4 ? " float: " : " double: ");
    const bool fast = std::string(kernel) != "generic";
    set_num_threads(2);
    check(detail::parallel_min_work() == (Index(1) << 23) && detail::small_max_work() == (Index(1) << 17),
          at + "the default limits");
    check(unpacked(N, N, 10, 10, 10) == fast, at + "a small product");
    check(unpacked(N, Y, 200, 10, 257) == fast, at + "a narrow forward below the threading threshold");
    check(unpacked(Y, N, 200, 16, 257) == fast, at + "a narrow dw (n 16) below the threading threshold");
    check(!unpacked(N, N, 200, 17, 257), at + "n 17 is packed");
    check(!unpacked(N, Y, 3000, 10, 300), at + "a narrow product split over 2 threads is packed");
    check(unpacked(N, N, 4, 4, 600000) == fast, at + "a narrow product with one row tile (no split)");
    check(!unpacked(Y, Y, 200, 10, 257), at + "both transposed: packed");
    set_num_threads(1);
    check(unpacked(N, Y, 3000, 10, 300) == fast, at + "the same narrow product on one thread");
    check(unpacked(N, Y, 200, 10, 600, T(1.5), T(1)) == (std::string(kernel) == "avx2-fma"),
          at + "alpha 1.5 over several k blocks: unpacked on avx2-fma only (avx512 rounds its edges apart)");
    auto path = [](Trans ta, Trans tb, Index m, Index n, Index k) {
      return detail::gemm_path<T>(ta, tb, m, n, k, T(1), T(0));
    };
    const detail::GemmPath few = fast ? detail::GemmPath::FewRows : detail::GemmPath::Packed;
    const detail::GemmPath small = fast ? detail::GemmPath::Small : detail::GemmPath::Packed;
    check(path(N, Y, 1, 1024, 1024) == few && path(N, Y, 4, 300, 600) == few && path(N, Y, 1, 17, 8) == few,
          at + "the forward of 1-4 rows into more than 16 outputs: the few-rows path, whatever its size");
    check(path(N, Y, 1, 16, 4000) == small && path(N, Y, 4, 1, 300) == small,
          at + "the forward of 1-4 rows into 16 outputs or fewer: the small-product path (narrow)");
    check(path(N, Y, 5, 40, 40) == small && path(N, N, 1, 40, 40) == small, at + "other small products: small path");
    check(!unpacked(N, Y, 5, 300, 600), at + "the forward of 5 rows is packed");
    check(!unpacked(N, N, 1, 1024, 1024) && !unpacked(Y, Y, 1, 1024, 1024), at + "a few rows, B not transposed: packed");
    check(!unpacked(N, Y, 2, 300, 600, T(1), T(0.5)) && !unpacked(N, Y, 2, 300, 600, T(2), T(0)),
          at + "a few rows with alpha != 1 or beta not 0 or 1: packed");
    detail::set_small_max_work(0);
    check(!unpacked(N, Y, 200, 10, 257) && !unpacked(N, N, 10, 10, 10) && !unpacked(N, Y, 1, 1024, 1024),
          at + "small_max_work 0 packs everything");
    detail::set_small_max_work(saved_small);
  }
  set_gemm_kernel("auto");
  set_num_threads(saved_threads);
  detail::set_parallel_min_work(saved_min);
}

// The forward of 1-4 rows (rows_tb: B transposed and read in place) gives the packed path's bits,
// with beta 0 and 1, padded leading dimensions (NaN in the padding must never be read), several
// k blocks, every column edge of its 4-panel groups, and split over 2 threads.
template <typename T>
void test_few_rows_path_is_bitwise_packed() {
  std::mt19937 gen(5);
  std::normal_distribution<double> nd;
  const Index saved_small = detail::small_max_work();
  const int saved_threads = get_num_threads();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  struct Shape { Index n, k, ldb; };  // ldb 0: k + 5
  // n: every remainder of the AVX2 kernel's 8-float and 4-double panels and of the AVX-512
  // kernel's 16-float and 8-double row groups, several of the 32-column groups; every remainder
  // of 16 and of 8 columns in a k block (the row groups' steps). Float rows 4 KB apart (ldb 1024)
  // take the AVX2 kernel on the AVX-512 one.
  const Shape shapes[] = {{32, 8, 0},    {40, 33, 0},    {35, 300, 0},  {46, 300, 0},   {18, 300, 0},
                          {19, 300, 0},  {33, 4001, 0},  {513, 300, 0}, {1000, 257, 0}, {17, 8000, 0},
                          {300, 1000, 0}, {3000, 1000, 0}, {47, 1000, 1024}, {33, 1024, 1024}, {25, 15, 0},
                          {31, 1, 0},    {23, 529, 0},   {20, 18, 0},   {21, 19, 0},    {22, 20, 0},
                          {26, 21, 0},   {27, 23, 0},    {29, 25, 0},   {36, 29, 0},    {37, 30, 0}};
  for (const char* kernel : {"avx2-fma", "avx512"}) {
    if (!set_gemm_kernel(kernel)) continue;
    bool ok = true, used = true;
    std::string first_bad;
    for (const Shape& sh : shapes) {
      const Index n = sh.n, k = sh.k, lda = k + 3, ldb = sh.ldb != 0 ? sh.ldb : k + 5, ldc = n + 2;
      std::vector<T> a(std::size_t(4 * lda), nan), b(std::size_t(n * ldb), nan), c0(std::size_t(4 * ldc), nan);
      for (Index i = 0; i < 4; ++i)
        for (Index p = 0; p < k; ++p) a[std::size_t(i * lda + p)] = T(nd(gen));
      for (Index j = 0; j < n; ++j)
        for (Index p = 0; p < k; ++p) b[std::size_t(j * ldb + p)] = T(nd(gen));
      for (Index i = 0; i < 4; ++i)
        for (Index j = 0; j < n; ++j) c0[std::size_t(i * ldc + j)] = T(nd(gen));
      for (int threads : {1, 2})
        for (Index m = 1; m <= 4; ++m)
          for (T beta : {T(0), T(1)}) {
            set_num_threads(threads);
            std::vector<T> packed(c0), rows(c0);
            if (beta == T(0))  // C is not read: NaN there must not leak in
              for (Index i = 0; i < m; ++i)
                for (Index j = 0; j < n; ++j) packed[std::size_t(i * ldc + j)] = rows[std::size_t(i * ldc + j)] = nan;
            detail::set_small_max_work(saved_small);
            used &= detail::gemm_path<T>(Trans::No, Trans::Yes, m, n, k, T(1), beta) == detail::GemmPath::FewRows;
            gemm<T>(Trans::No, Trans::Yes, m, n, k, T(1), a.data(), lda, b.data(), ldb, beta, rows.data(), ldc);
            detail::set_small_max_work(0);
            gemm<T>(Trans::No, Trans::Yes, m, n, k, T(1), a.data(), lda, b.data(), ldb, beta, packed.data(), ldc);
            const auto [same, finite] = bitwise_check(packed, rows, m, n, ldc);
            if ((!same || !finite) && ok) {
              ok = false;
              first_bad = "threads=" + std::to_string(threads) + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                          " k=" + std::to_string(k) + " beta=" + std::to_string(double(beta)) +
                          (finite ? "" : " (NaN read)");
            }
          }
    }
    detail::set_small_max_work(saved_small);
    check(used, std::string(kernel) + ": the forward of 1-4 rows takes the few-rows path");
    check(ok, std::string(kernel) + ": the forward of 1-4 rows is bitwise the packed path (" +
                  (ok ? "all" : first_bad) + ")");
  }
  set_gemm_kernel("auto");
  set_num_threads(saved_threads);
}

// The notebook's 1-2-2-1 ReLU network, in Linear layout (w: out x in), with its printed values.
void test_seed_network() {
  const float x[1] = {0.5f}, target[1] = {0.95f};
  const float w1[2] = {0.3f, 0.2f}, b1[2] = {0.4f, 0.1f};            // (2, 1)
  const float w2[4] = {0.1f, 0.6f, 0.8f, 0.7f}, b2[2] = {0.3f, 0.2f};  // (2, 2): transpose of the notebook's
  const float w3[2] = {0.4f, 0.6f}, b3[1] = {0.3f};                  // (1, 2)
  float h1[2], h2[2], o[1], loss[1];
  dense_forward<float>(h1, nullptr, x, w1, b1, 1, 1, 2, Activation::Relu, 0.f);
  dense_forward<float>(h2, nullptr, h1, w2, b2, 1, 2, 2, Activation::Relu, 0.f);
  dense_forward<float>(o, nullptr, h2, w3, b3, 1, 2, 1, Activation::Relu, 0.f);
  check(close(h1[0], 0.55f, 1e-6) && close(h1[1], 0.2f, 1e-6), "seed layer 1 = [0.55, 0.2]");
  check(close(h2[0], 0.475f, 1e-6) && close(h2[1], 0.78f, 1e-6), "seed layer 2 = [0.475, 0.78]");
  check(close(o[0], 0.958f, 1e-6), "seed prediction = 0.958");
  mse_forward<float>(loss, o, target, 1, Reduction::Mean);
  check(close(loss[0], 6.4e-5f, 1e-3), "seed loss = 6.4e-5");
  float dout = 1.f, d_o[1], dz[2], dh2[2], dh1[2], dw3[2], db3[1], dw2[4], db2[2], dw1[2], db1[2];
  mse_backward<float>(d_o, &dout, o, target, 1, Reduction::Mean);
  dense_backward<float>(dh2, dw3, db3, dz, d_o, h2, w3, o, nullptr, 1, 2, 1, Activation::Relu, 0.f, false);
  dense_backward<float>(dh1, dw2, db2, dz, dh2, h1, w2, h2, nullptr, 1, 2, 2, Activation::Relu, 0.f, false);
  dense_backward<float>(nullptr, dw1, db1, dz, dh1, x, w1, h1, nullptr, 1, 1, 2, Activation::Relu, 0.f, false);
  // Hand values: delta_o = 2(0.958 - 0.95) = 0.016; delta_2 = 0.016 * [0.4, 0.6]; delta_1 = ...
  check(close(db3[0], 0.016f, 1e-4), "seed output bias grad 0.016");
  check(close(dw3[0], 0.016f * 0.475f, 1e-4) && close(dw3[1], 0.016f * 0.78f, 1e-4), "seed output weight grads");
  check(close(db2[0], 0.0064f, 1e-4) && close(db2[1], 0.0096f, 1e-4), "seed layer 2 bias grads");
  check(close(dw2[0], 0.0064f * 0.55f, 1e-4) && close(dw2[3], 0.0096f * 0.2f, 1e-4), "seed layer 2 weight grads");
  check(close(db1[0], 0.00832f, 1e-4) && close(db1[1], 0.01056f, 1e-4), "seed layer 1 bias grads");
  check(close(dw1[0], 0.00416f, 1e-4) && close(dw1[1], 0.00528f, 1e-4), "seed layer 1 weight grads");
}

void test_optimizers() {
  // One SGD step with lr 0.5 on the notebook's single neuron: w 0.3 -> 0.5, b 0.4 -> 0.8.
  float p[2] = {0.3f, 0.4f};
  const float g[2] = {-0.4f, -0.8f};
  SgdOptions o;
  o.lr = 0.5;
  sgd_step<float>(p, nullptr, g, 2, o, true);
  check(close(p[0], 0.5f, 1e-6) && close(p[1], 0.8f, 1e-6), "sgd step as in the notebook");
  // Adam's first step moves every parameter by about lr (bias correction makes m/sqrt(v) = sign).
  double q[3] = {1.0, -2.0, 0.5}, m[3] = {}, v[3] = {};
  const double gq[3] = {0.3, -7.0, 1e-3};
  AdamOptions a;
  a.lr = 0.01;
  adam_step<double>(q, m, v, nullptr, gq, 3, 1, a);
  check(close(q[0], 0.99, 1e-6) && close(q[1], -1.99, 1e-6) && close(q[2], 0.49, 1e-4), "adam first step = lr * sign");
}

// Adam's AVX2 loop (run under the avx2-fma and avx512 kernels) gives the portable loop's bits
// (NaN's sign aside):
// every option, float and double, lengths around the vector width (its masked tail), a range
// that starts off the vector grid, and the special values (NaN, infinities, -0, a huge and a
// tiny gradient) that amsgrad's NaN-propagating maximum and the sign flips must carry through.
template <typename T>
void test_adam_loops_agree(const char* kernel) {
  if (!set_gemm_kernel(kernel)) return;  // the CPU has no such kernel
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T special[] = {nan, inf, -inf, T(-0.0), T(0), T(1e30), T(-1e-30), T(3)};
  std::mt19937 rng(11);
  std::normal_distribution<double> nd;
  for (Index n : {1, 3, 4, 7, 8, 9, 15, 16, 17, 67}) {
    for (int opts = 0; opts < 16; ++opts) {
      AdamOptions o;
      o.lr = 0.01;
      o.maximize = opts & 1;
      o.weight_decay = (opts & 2) ? 0.05 : 0.0;
      o.amsgrad = opts & 4;
      o.beta1 = (opts & 8) ? 0.3 : 0.9;  // 1 - beta1 on both sides of torch.lerp's 0.5
      // param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad; [0]: portable, [1]: this kernel
      std::vector<T> a[2][5];
      for (int k = 0; k < 5; ++k) {
        a[0][k].resize(std::size_t(n));
        for (Index i = 0; i < n; ++i) a[0][k][std::size_t(i)] = k == 2 || k == 3 ? T(std::abs(nd(rng))) : T(nd(rng));
      }
      // Inside the updated range [lo, n): one special value in the parameter and in each moment
      // (different places), and every special gradient.
      if (n > 8)
        for (int k = 0; k < 4; ++k) a[0][k][std::size_t(1 + k)] = special[(opts + k) % 8];
      if (n > 16)
        for (int i = 0; i < 8; ++i) a[0][4][std::size_t(8 + i)] = special[i];
      for (int k = 0; k < 5; ++k) a[1][k] = a[0][k];
      const Index lo = n > 3 ? 1 : 0;  // a range that starts off the vector grid
      for (int run = 0; run < 2; ++run) {
        set_gemm_kernel(run == 0 ? "generic" : kernel);
        for (Index step = 1; step <= 3; ++step)
          adam_step<T>(a[run][0].data() + lo, a[run][1].data() + lo, a[run][2].data() + lo,
                       o.amsgrad ? a[run][3].data() + lo : nullptr, a[run][4].data() + lo, n - lo, step, o);
      }
      // Bitwise, except that a NaN's sign may differ: the compiler may turn the portable loop's
      // -grad + x into x - grad, equal for every number but keeping the NaN's sign.
      bool same = true;
      for (int k = 0; k < 4; ++k)
        for (Index i = 0; i < n; ++i) {
          const T x = a[0][k][std::size_t(i)], y = a[1][k][std::size_t(i)];
          same = same && ((x != x && y != y) || std::memcmp(&x, &y, sizeof(T)) == 0);
        }
      check(same, std::string("adam on ") + kernel + " bitwise the portable loop (" + (sizeof(T) == 4 ? "float" : "double") +
                      ", n " + std::to_string(n) + ", options " + std::to_string(opts) + ")");
    }
  }
  set_gemm_kernel("auto");
}

// The forward epilogue applied in the AVX-512 micro-kernel's registers (identity, relu, leaky
// relu with y == C) gives the bits of the plain product followed by the epilogue's own
// operations (c + bias[j], then activation_forward): full and edge tiles, one and several k
// blocks, with and without a bias, leaky slopes below 0, between 0 and 1 and above 1, and NaN,
// infinities and -0 among the inputs, and a row of zeros. Both the AVX-512 and the AVX2 kernel.
template <typename T>
void test_epilogue_in_registers(const char* kernel) {
  if (!set_gemm_kernel(kernel)) return;
  const Index small_default = detail::small_max_work();
  detail::set_small_max_work(0);  // every product packed: the path under test
  std::mt19937 rng(3);
  std::normal_distribution<double> nd;
  const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                        -std::numeric_limits<T>::infinity(), T(-0.0)};
  struct Case { Index m, n, k; };
  for (const Case cs : {Case{8, 32, 5}, Case{16, 64, 300}, Case{17, 33, 257}, Case{24, 96, 600}, Case{9, 47, 1}}) {
    std::vector<T> x(std::size_t(cs.m * cs.k)), w(std::size_t(cs.n * cs.k)), b(std::size_t(cs.n));
    for (auto& v : x) v = T(nd(rng));
    for (auto& v : w) v = T(nd(rng));
    for (auto& v : b) v = T(nd(rng));
    // Rows 0-3 (inside the first full tile on both kernels) start with a special value: their
    // products become NaN or +-inf (or +-0 where k is 1), so every k-block count feeds them to
    // the epilogue; row 4 is all zeros, so exact zeros meet relu's and leaky relu's comparisons.
    for (int s = 0; s < 4; ++s) x[std::size_t(s * cs.k)] = specials[s];
    for (Index p = 0; p < cs.k; ++p) x[std::size_t(4 * cs.k + p)] = T(0);
    std::vector<T> plain(std::size_t(cs.m * cs.n));
    gemm<T>(Trans::No, Trans::Yes, cs.m, cs.n, cs.k, T(1), x.data(), cs.k, w.data(), cs.k, T(0), plain.data(), cs.n);
    const std::pair<Activation, double> acts[] = {{Activation::Identity, 0.0}, {Activation::Relu, 0.0},
                                                  {Activation::LeakyRelu, 0.01}, {Activation::LeakyRelu, -0.5},
                                                  {Activation::LeakyRelu, 2.0}};
    for (const auto& [act, slope_d] : acts)
      for (bool with_bias : {false, true}) {
        const T slope = T(slope_d);
        std::vector<T> c(std::size_t(cs.m * cs.n), T(7));  // beta 0: never read
        const detail::Epilogue<T> ep{with_bias ? b.data() : nullptr, act, slope, c.data(), cs.n};
        detail::gemm_ex<T>(Trans::No, Trans::Yes, cs.m, cs.n, cs.k, T(1), x.data(), cs.k, w.data(), cs.k, T(0), c.data(),
                           cs.n, &ep);
        bool same = true;
        for (Index i = 0; i < cs.m; ++i)
          for (Index j = 0; j < cs.n; ++j) {
            T want = plain[std::size_t(i * cs.n + j)];
            if (with_bias) want = want + b[std::size_t(j)];
            want = activation_forward(act, want, slope);
            same = same && std::memcmp(&want, &c[std::size_t(i * cs.n + j)], sizeof(T)) == 0;
          }
        check(same, std::string("epilogue on ") + kernel + " bitwise the product then the epilogue (" +
                        (sizeof(T) == 4 ? "float" : "double") + ", " + std::to_string(cs.m) + "x" + std::to_string(cs.n) +
                        "x" + std::to_string(cs.k) + ", activation " + std::to_string(int(act)) + ", slope " +
                        std::to_string(slope_d) + (with_bias ? ", bias)" : ")"));
      }
  }
  detail::set_small_max_work(small_default);
  set_gemm_kernel("auto");
}

void test_invalid_arguments() {
  float buf[4] = {};
  expect_invalid([&] { gemm<float>(Trans::No, Trans::No, -1, 1, 1, 1.f, buf, 1, buf, 1, 0.f, buf, 1); }, "negative m");
  expect_invalid([&] { gemm<float>(Trans::No, Trans::No, 2, 2, 2, 1.f, buf, 1, buf, 2, 0.f, buf, 2); }, "lda < k");
  expect_invalid([&] { gemm<float>(Trans::No, Trans::No, 2, 2, 2, 1.f, nullptr, 2, buf, 2, 0.f, buf, 2); }, "null A");
  expect_invalid([&] { gemm<double>(Trans::No, Trans::No, Index(1) << 62, Index(1) << 62, 1, 1.0, nullptr, 1, nullptr, 1, 0.0, nullptr, 1); }, "size overflow");
  expect_invalid([&] { dense_forward<float>(buf, nullptr, buf, buf, nullptr, 2, -2, 1, Activation::Relu, 0.f); }, "negative in");
  expect_invalid([&] { activation_backward<float>(buf, buf, buf, nullptr, 4, Activation::LeakyRelu, -0.5f); }, "leaky_relu slope<0 without z");
  expect_invalid([&] { SgdOptions o; o.lr = -1; sgd_step<float>(buf, nullptr, buf, 4, o, true); }, "negative lr");
  expect_invalid([&] { SgdOptions o; o.lr = 0.1; o.nesterov = true; sgd_step<float>(buf, buf, buf, 4, o, true); }, "nesterov without momentum");
  expect_invalid([&] { AdamOptions o; o.beta1 = 1.0; adam_step<float>(buf, buf, buf, nullptr, buf, 4, 1, o); }, "beta1 = 1");
  expect_invalid([&] { AdamOptions o; adam_step<float>(buf, buf, buf, nullptr, buf, 4, 0, o); }, "adam step 0");
  float empty = 0.f;
  float mean = 0.f;
  mse_forward<float>(&mean, &empty, &empty, 0, Reduction::Mean);
  check(std::isnan(mean), "mse mean over nothing is NaN");
}

// A fused training step (forward, MSE, backward, update) on a small MLP: the loss falls, and after
// warm-up a step performs no heap allocation at all (with and without threads).
template <typename T>
void test_mlp_train_step(OptimizerSpec::Kind kind) {
  const std::vector<LayerSpec> spec = {{4, 16, Activation::Tanh, 0.01, true},
                                       {16, 16, Activation::LeakyRelu, -0.1, true},  // needs z
                                       {16, 1, Activation::Identity, 0.01, false}};
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> ud(-0.5, 0.5);
  std::vector<std::vector<T>> bufs;
  auto buffer = [&](Index n) {
    bufs.emplace_back(std::size_t(n), T(0));
    return bufs.back().data();
  };
  bufs.reserve(64);
  std::vector<DenseLayerRef<T>> layers;
  for (const auto& s : spec) {
    DenseLayerRef<T> r;
    r.spec = s;
    r.w = buffer(s.out * s.in);
    for (Index i = 0; i < s.out * s.in; ++i) r.w[i] = T(ud(gen));
    r.dw = buffer(s.out * s.in);
    if (s.bias) { r.b = buffer(s.out); r.db = buffer(s.out); }
    for (int k = 0; k < 3; ++k) {
      r.w_state[k] = buffer(s.out * s.in);
      if (s.bias) r.b_state[k] = buffer(s.out);
    }
    layers.push_back(r);
  }
  const Index batch = 64;
  std::vector<T> x(static_cast<std::size_t>(batch * 4)), y(static_cast<std::size_t>(batch));
  for (Index i = 0; i < batch; ++i) {
    double t = 0;
    for (Index j = 0; j < 4; ++j) { x[std::size_t(i * 4 + j)] = T(ud(gen) * 4); t += double(x[std::size_t(i * 4 + j)]) * (j + 1); }
    y[std::size_t(i)] = T(std::sin(t));
  }
  OptimizerSpec opt;
  opt.kind = kind;
  opt.sgd.lr = 0.05;
  opt.sgd.momentum = 0.9;
  opt.adam.lr = 0.01;
  MlpWorkspace<T> ws;
  const T first = mlp_train_step<T>(layers, x.data(), y.data(), batch, Reduction::Mean, opt, 1, true, ws);
  T loss = first;
  long before = 0;
  for (Index step = 2; step <= 300; ++step) {
    if (step == 10) before = g_allocations.load();
    loss = mlp_train_step<T>(layers, x.data(), y.data(), batch, Reduction::Mean, opt, step, false, ws);
  }
  const long steady = g_allocations.load() - before;  // read before any message is built
  const std::string tag = std::string(kind == OptimizerSpec::Kind::Sgd ? "sgd" : "adam") + (sizeof(T) == 4 ? " f32" : " f64");
  check(loss < T(0.5) * first, "mlp_train_step " + tag + ": loss falls (" + std::to_string(double(first)) + " -> " + std::to_string(double(loss)) + ")");
  check(steady == 0, "mlp_train_step " + tag + ": no allocation per step (saw " + std::to_string(steady) + ")");
  std::vector<T> pred(static_cast<std::size_t>(batch));
  mlp_forward<T>(pred.data(), layers, x.data(), batch, ws);
  check(std::isfinite(double(pred[0])), "mlp_forward " + tag + " gives finite predictions");
  // A product large enough to use the thread pool must not allocate in steady state either.
  set_num_threads(2);
  std::vector<T> a(256 * 256, T(1)), b(256 * 256, T(1)), c(256 * 256);
  gemm<T>(Trans::No, Trans::No, 256, 256, 256, T(1), a.data(), 256, b.data(), 256, T(0), c.data(), 256);
  gemm<T>(Trans::No, Trans::No, 256, 256, 256, T(1), a.data(), 256, b.data(), 256, T(0), c.data(), 256);
  before = g_allocations.load();
  for (int r = 0; r < 5; ++r)
    gemm<T>(Trans::No, Trans::No, 256, 256, 256, T(1), a.data(), 256, b.data(), 256, T(0), c.data(), 256);
  const bool none = g_allocations.load() == before;  // read before building the message (it allocates)
  check(none, "threaded gemm " + tag + ": no allocation per call");
  check(c[0] == T(256) && c[256 * 256 - 1] == T(256), "threaded gemm " + tag + " result");
}

// Results do not depend on the thread count (threads split rows/columns, never k).
void test_thread_count_does_not_change_results() {
  std::mt19937 gen(11);
  std::normal_distribution<float> nd;
  const Index m = 300, n = 280, k = 260;
  std::vector<float> a(std::size_t(m * k)), b(std::size_t(k * n)), c1(std::size_t(m * n)), c2(std::size_t(m * n));
  for (auto& v : a) v = nd(gen);
  for (auto& v : b) v = nd(gen);
  set_num_threads(1);
  gemm<float>(Trans::No, Trans::No, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c1.data(), n);
  set_num_threads(2);
  gemm<float>(Trans::No, Trans::No, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c2.data(), n);
  check(c1 == c2, "gemm with 1 and 2 threads is bitwise identical");
}

// Several caller threads at once (what Python threads do once the GIL is released): each runs
// GEMMs of every transpose case -- split across the pool when it is free, run on the caller's
// thread when another caller holds it, unpacked for small ones (a per-thread transpose buffer)
// -- and fused training steps on its own network and workspace. Every result must be bitwise
// the one computed alone. tests/sanitize.sh also runs this under ThreadSanitizer.
void test_concurrent_callers() {
  constexpr int kCallers = 4;
  const Index m = 70, n = 50, k = 32;  // small enough for the unpacked path at default limits
  auto run = [&](int who, std::vector<float>& out) {
    std::mt19937 gen(100 + unsigned(who));
    std::normal_distribution<float> nd;
    std::vector<float> a(std::size_t(m * k)), b(std::size_t(k * n)), c(std::size_t(m * n));
    for (auto& v : a) v = nd(gen);
    for (auto& v : b) v = nd(gen);
    out.clear();
    for (int rep = 0; rep < 3; ++rep)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
          const Trans TA = ta ? Trans::Yes : Trans::No, TB = tb ? Trans::Yes : Trans::No;
          gemm<float>(TA, TB, m, n, k, 1.f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.f, c.data(), n);
          out.insert(out.end(), c.begin(), c.end());
        }
    std::vector<std::vector<float>> store;
    store.reserve(8);
    std::vector<DenseLayerRef<float>> layers(2);
    const Index dims[3] = {6, 24, 3};
    for (int l = 0; l < 2; ++l) {
      DenseLayerRef<float>& L = layers[std::size_t(l)];
      L.spec = {dims[l], dims[l + 1], l == 0 ? Activation::Tanh : Activation::Identity, 0.01, true};
      store.emplace_back(std::size_t(dims[l] * dims[l + 1]));
      for (auto& v : store.back()) v = 0.3f * nd(gen);
      L.w = store.back().data();
      store.emplace_back(std::size_t(dims[l + 1]), 0.f);
      L.b = store.back().data();
      store.emplace_back(std::size_t(dims[l] * dims[l + 1]));
      L.dw = store.back().data();
      store.emplace_back(std::size_t(dims[l + 1]));
      L.db = store.back().data();
    }
    const Index batch = 32;
    std::vector<float> x(std::size_t(batch * 6)), y(std::size_t(batch * 3));
    for (auto& v : x) v = nd(gen);
    for (auto& v : y) v = nd(gen);
    OptimizerSpec opt;
    opt.sgd.lr = 0.05;
    MlpWorkspace<float> ws;
    for (Index step = 1; step <= 20; ++step)
      out.push_back(mlp_train_step<float>(layers, x.data(), y.data(), batch, Reduction::Mean, opt, step, step == 1, ws));
    for (const auto& L : layers) out.insert(out.end(), L.w, L.w + L.spec.in * L.spec.out);
  };
  const int saved_threads = get_num_threads();
  const Index saved_min = detail::parallel_min_work(), saved_small = detail::small_max_work();
  for (int mode = 0; mode < 2; ++mode) {
    // mode 0: default limits (small products unpacked, no split); mode 1: every product packed
    // and split across the pool.
    set_num_threads(2);
    detail::set_parallel_min_work(mode == 0 ? saved_min : 0);
    detail::set_small_max_work(mode == 0 ? saved_small : 0);
    std::vector<std::vector<float>> alone(kCallers), together(kCallers);
    for (int i = 0; i < kCallers; ++i) run(i, alone[std::size_t(i)]);
    std::vector<std::thread> threads;
    for (int i = 0; i < kCallers; ++i) threads.emplace_back(run, i, std::ref(together[std::size_t(i)]));
    for (auto& t : threads) t.join();
    for (int i = 0; i < kCallers; ++i)
      check(!alone[std::size_t(i)].empty() && alone[std::size_t(i)] == together[std::size_t(i)],
            "caller " + std::to_string(i) + (mode == 0 ? " (default limits)" : " (split, packed)") +
                ": concurrent results bitwise equal to running alone");
  }
  set_num_threads(saved_threads);
  detail::set_parallel_min_work(saved_min);
  detail::set_small_max_work(saved_small);
}

// set_gemm_kernel() from another thread while products run: each product must read the kernel
// once. gemm_ex once read it twice (the table, then again to choose the path), and a switch in
// between ran the generic table's missing unpacked entries (a null call, within milliseconds).
void test_kernel_switch_while_computing() {
  const std::string saved = gemm_kernel();
  std::atomic<bool> stop{false};
  std::atomic<long> switches{0};
  std::thread toggler([&] {
    while (!stop.load()) {
      set_gemm_kernel("generic");
      set_gemm_kernel("auto");
      switches.fetch_add(2);
    }
  });
  // Ones: every path sums k ones exactly. The small path (3 x 40 x 40) and the few-rows forward
  // (2 rows, B transposed) on the SIMD kernels, the packed path on the generic one.
  const Index k = 40, n = 48;
  std::vector<float> a(std::size_t(3 * k), 1.f), b(std::size_t(k * n), 1.f), c(std::size_t(3 * n));
  long wrong = 0, products = 0;
  // 300,000 products (about 0.1 s), and at least until the other thread has switched 1,000 times
  for (long i = 0; i < 300000 || switches.load() < 1000; ++i, ++products) {
    const bool few = i % 2 == 1;
    gemm<float>(Trans::No, few ? Trans::Yes : Trans::No, few ? 2 : 3, n, k, 1.f, a.data(), k, b.data(), few ? k : n,
                0.f, c.data(), n);
    if (c[0] != float(k) || c[std::size_t(n + 1)] != float(k)) ++wrong;
  }
  stop.store(true);
  toggler.join();
  set_gemm_kernel(saved);
  check(wrong == 0, "products right while another thread switches kernels (" + std::to_string(wrong) + " of " +
                        std::to_string(products) + " wrong)");
}

// Hardening regressions (found by the sanitizer/fuzz work; run this file under ASan via
// tests/sanitize.sh). A workspace reused for a *different* network of the same depth must grow
// with it: it once kept the old, narrower buffers and the wider layers wrote past them.
void test_workspace_reuse_across_networks() {
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  auto net = [&](Index in, Index hidden, Index out, std::vector<std::vector<float>>& store) {
    std::vector<DenseLayerRef<float>> layers(2);
    const Index dims[3] = {in, hidden, out};
    for (int l = 0; l < 2; ++l) {
      layers[std::size_t(l)].spec = {dims[l], dims[l + 1], l == 0 ? Activation::LeakyRelu : Activation::Identity,
                                     l == 0 ? -0.2 : 0.01, true};
      store.emplace_back(std::size_t(dims[l] * dims[l + 1]));
      for (auto& v : store.back()) v = ud(gen);
      layers[std::size_t(l)].w = store.back().data();
      store.emplace_back(std::size_t(dims[l + 1]), 0.1f);
      layers[std::size_t(l)].b = store.back().data();
    }
    return layers;
  };
  std::vector<std::vector<float>> s1, s2;
  s1.reserve(8);
  s2.reserve(8);
  const auto small = net(3, 2, 1, s1), wide = net(3, 64, 40, s2);
  const Index batch = 16;
  std::vector<float> x(std::size_t(batch * 3));
  for (auto& v : x) v = ud(gen);
  std::vector<float> y_reused(std::size_t(batch * 40)), y_fresh(std::size_t(batch * 40));
  std::vector<float> y_small(static_cast<std::size_t>(batch));
  MlpWorkspace<float> ws, fresh;
  mlp_forward<float>(y_small.data(), small, x.data(), batch, ws);
  mlp_forward<float>(y_reused.data(), wide, x.data(), batch, ws);  // same depth, wider: must regrow
  mlp_forward<float>(y_fresh.data(), wide, x.data(), batch, fresh);
  check(y_reused == y_fresh, "a workspace reused for a wider network gives the fresh workspace's result");
}

// mlp_backward's gradient buffers are sized by the widest layer output (plus the inputs of
// layers after the first), not by the network's input: here the input (97) is the widest and
// the last layer (33, tanh: its dz is used) wider than the hidden one. Checked bitwise against
// dense_backward layer by layer with buffers of their own; under tests/sanitize.sh a buffer too
// small would also be an ASan error.
void test_backward_workspace_width() {
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  const Index batch = 7, d0 = 97, d1 = 5, d2 = 33;
  auto fill = [&](Index n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& e : v) e = ud(gen);
    return v;
  };
  std::vector<float> x = fill(batch * d0), dy = fill(batch * d2), w1 = fill(d1 * d0), b1 = fill(d1),
                     w2 = fill(d2 * d1), b2 = fill(d2);
  std::vector<DenseLayerRef<float>> layers(2);
  layers[0].spec = {d0, d1, Activation::Relu, 0.01, true};
  layers[1].spec = {d1, d2, Activation::Tanh, 0.01, true};
  layers[0].w = w1.data(), layers[0].b = b1.data(), layers[1].w = w2.data(), layers[1].b = b2.data();
  std::vector<float> h(std::size_t(batch * d1)), y(std::size_t(batch * d2));
  float* acts[2] = {h.data(), y.data()};
  float* pres[2] = {nullptr, nullptr};
  mlp_forward_keep<float>(acts, pres, layers, x.data(), batch);
  std::vector<float> dw1(w1.size()), db1(b1.size()), dw2(w2.size()), db2(b2.size()), dx(x.size());
  layers[0].dw = dw1.data(), layers[0].db = db1.data(), layers[1].dw = dw2.data(), layers[1].db = db2.data();
  MlpWorkspace<float> ws;
  const float* cacts[2] = {h.data(), y.data()};
  const float* cpres[2] = {nullptr, nullptr};
  mlp_backward<float>(dx.data(), layers, cacts, cpres, x.data(), dy.data(), batch, ws);
  check(ws.grad_a.size() == std::size_t(batch * d2) && ws.dz.size() == std::size_t(batch * d2),
        "mlp_backward's buffers hold batch x the widest output (" + std::to_string(ws.grad_a.size()) + ")");
  std::vector<float> rdw1(w1.size()), rdb1(b1.size()), rdw2(w2.size()), rdb2(b2.size()), rdx(x.size()),
      dh(h.size()), dz(y.size());
  dense_backward<float>(dh.data(), rdw2.data(), rdb2.data(), dz.data(), dy.data(), h.data(), w2.data(), y.data(),
                        nullptr, batch, d1, d2, Activation::Tanh, 0.f, false);
  dense_backward<float>(rdx.data(), rdw1.data(), rdb1.data(), dz.data(), dh.data(), x.data(), w1.data(), h.data(),
                        nullptr, batch, d0, d1, Activation::Relu, 0.f, false);
  check(dw1 == rdw1 && db1 == rdb1 && dw2 == rdw2 && db2 == rdb2 && dx == rdx,
        "mlp_backward equals dense_backward layer by layer");
}

// A batch of empty rows (in_features 0) costs no input memory but would need a workspace of
// batch x hidden: refused with invalid_argument before anything is allocated.
void test_absurd_workspace_is_refused() {
  std::vector<DenseLayerRef<float>> layers(2);
  std::vector<float> w1(0), b1(3, 0.f), w2(0);
  layers[0].spec = {0, 3, Activation::Relu, 0.01, true};
  layers[0].b = b1.data();
  layers[1].spec = {3, 0, Activation::Identity, 0.01, false};
  MlpWorkspace<float> ws;
  // (Without the check, the 12 TiB std::vector throws bad_alloc, which expect_invalid does not
  // catch: the test program would stop.)
  expect_invalid([&] { mlp_forward<float>(nullptr, layers, nullptr, Index(1) << 40, ws); },
                 "mlp_forward with 2^40 empty rows and a hidden layer of 3");
  check(ws.act.empty(), "nothing was allocated for the refused workspace");
}

}  // namespace

int main(int argc, char** argv) {
  // `test_core --threads`: only the tests that use threads (what tests/sanitize.sh runs under
  // ThreadSanitizer, where the single-threaded sweeps below would only cost time).
  if (argc > 1 && std::strcmp(argv[1], "--threads") == 0) {
    test_thread_count_does_not_change_results();
    test_concurrent_callers();
    test_kernel_switch_while_computing();
    return densegrad_test::report();
  }
  // Default small-product limit, then every shape packed, then every shape unpacked (the AVX2
  // kernel's path for small products; a no-op for the portable kernel).
  const Index small_default = detail::small_max_work();
  for (Index small : {small_default, Index(0), Index(1) << 62}) {
    detail::set_small_max_work(small);
    test_gemm<float>(1e-5);
    test_gemm<double>(1e-12);
  }
  detail::set_small_max_work(small_default);
  for (const char* kernel : {"avx2-fma", "avx512"}) {
    test_small_path_is_bitwise_packed<float>(kernel);
    test_small_path_is_bitwise_packed<double>(kernel);
  }
  test_unpacked_routing<float>();
  test_unpacked_routing<double>();
  test_few_rows_path_is_bitwise_packed<float>();
  test_few_rows_path_is_bitwise_packed<double>();
  test_seed_network();
  test_optimizers();
  for (const char* kernel : {"avx2-fma", "avx512"}) {
    test_adam_loops_agree<float>(kernel);
    test_adam_loops_agree<double>(kernel);
  }
  for (const char* kernel : {"avx2-fma", "avx512"}) {
    test_epilogue_in_registers<float>(kernel);
    test_epilogue_in_registers<double>(kernel);
  }
  test_invalid_arguments();
  test_mlp_train_step<float>(OptimizerSpec::Kind::Sgd);
  test_mlp_train_step<double>(OptimizerSpec::Kind::Adam);
  test_thread_count_does_not_change_results();
  test_concurrent_callers();
  test_kernel_switch_while_computing();
  test_workspace_reuse_across_networks();
  test_backward_workspace_width();
  test_absurd_workspace_is_refused();
  return densegrad_test::report();
}
