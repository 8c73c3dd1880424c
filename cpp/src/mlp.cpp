// The fused MLP step. It calls exactly the kernels the Python autograd path calls
// (dense_forward, mse_*, dense_backward, sgd_step / adam_step) in the same order with the same
// operands, so both paths give bitwise identical parameters.
#include "densegrad/mlp.hpp"

#include <unistd.h>

#include <algorithm>

#include "densegrad/dense.hpp"

namespace densegrad {

namespace {

// The spec of element l, for vectors of LayerSpec or of DenseLayerRef.
inline const LayerSpec& spec_of(const LayerSpec& s) { return s; }
template <typename T>
const LayerSpec& spec_of(const DenseLayerRef<T>& r) { return r.spec; }

template <typename V>
void check_specs(const V& layers) {
  DENSEGRAD_CHECK(!layers.empty(), "an MLP needs at least one layer");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const LayerSpec& s = spec_of(layers[l]);
    DENSEGRAD_CHECK(s.in >= 0 && s.out >= 0, "layer " + std::to_string(l) + " has a negative size " +
                                                 detail::shape_str(s.out, s.in));
    detail::require_shape("layer weight", s.out, s.in, 8);
    if (l > 0)
      DENSEGRAD_CHECK(spec_of(layers[l - 1]).out == s.in,
                      "layer " + std::to_string(l) + " takes " + std::to_string(s.in) + " inputs but layer " +
                          std::to_string(l - 1) + " gives " + std::to_string(spec_of(layers[l - 1]).out));
  }
}

}  // namespace

void check_layers(const std::vector<LayerSpec>& layers) { check_specs(layers); }

template <typename T>
void check_layers(const std::vector<DenseLayerRef<T>>& layers, const OptimizerSpec* opt) {
  check_specs(layers);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const DenseLayerRef<T>& r = layers[l];
    const Index nw = r.spec.out * r.spec.in, nb = r.spec.bias ? r.spec.out : 0;
    auto need = [&](const T* p, Index count, const char* what) {
      DENSEGRAD_CHECK(p != nullptr || count == 0, "layer " + std::to_string(l) + ": " + what + " is null");
    };
    need(r.w, nw, "weight");
    need(r.b, nb, "bias");
    if (opt == nullptr) continue;
    need(r.dw, nw, "weight gradient");
    need(r.db, nb, "bias gradient");
    const bool adam = opt->kind == OptimizerSpec::Kind::Adam;
    const int needed = adam ? (opt->adam.amsgrad ? 3 : 2) : (opt->sgd.momentum != 0.0 ? 1 : 0);
    for (int k = 0; k < needed; ++k) {
      need(r.w_state[k], nw, "weight optimizer state");
      need(r.b_state[k], nb, "bias optimizer state");
    }
  }
}

namespace {

// The machine's physical memory in bytes (0: unknown, no limit).
double physical_memory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return double(pages) * double(page);
#endif
  return 0.0;
}

// A workspace larger than the machine's memory is refused before anything is allocated. The
// activations are batch x width, so a batch of *empty* rows (x of shape (2^40, 0) -- no memory
// at all) would otherwise ask for terabytes: std::vector would either throw bad_alloc or, below
// the overcommit limit, zero-fill page after page until the process is killed.
void require_workspace(const char* what, Index rows, double elements, std::size_t elem_size) {
  static const double limit = physical_memory();
  const double bytes = elements * double(elem_size);
  DENSEGRAD_CHECK(limit == 0.0 || bytes <= limit,
                  std::string(what) + " workspace for a batch of " + std::to_string(rows) + " rows needs " +
                      std::to_string(bytes / 1073741824.0) + " GiB, more than this machine's " +
                      std::to_string(limit / 1073741824.0) + " GiB of memory");
}

}  // namespace

template <typename T>
void MlpWorkspace<T>::reserve_gradients(const std::vector<DenseLayerRef<T>>& layers, Index batch) {
  // grad_a / grad_b hold d(loss)/d(input) of layers 1..L-1 (layer 0's goes to the caller's dx),
  // dz a layer's d(loss)/d(pre-activation): the network's input width is not needed.
  Index width = 0;
  for (std::size_t l = 0; l < layers.size(); ++l)
    width = std::max({width, l == 0 ? Index(0) : layers[l].spec.in, layers[l].spec.out});
  const Index out = layers.back().spec.out;
  if (batch <= grad_capacity && width <= grad_width && out == grad_out) return;
  const Index rows = std::max(batch, grad_capacity);
  detail::require_shape("MLP gradient", rows, width, sizeof(T));
  detail::require_shape("MLP gradient", rows, out, sizeof(T));
  require_workspace("MLP gradient", rows, double(rows) * (3.0 * double(width) + double(out)), sizeof(T));
  dloss.resize(std::size_t(rows * layers.back().spec.out));
  grad_a.resize(std::size_t(rows * width));
  grad_b.resize(std::size_t(rows * width));
  dz.resize(std::size_t(rows * width));
  grad_capacity = rows;
  grad_width = width;
  grad_out = out;
}

template <typename T>
void MlpWorkspace<T>::reserve(const std::vector<DenseLayerRef<T>>& layers, Index batch) {
  // Reused only for the very layer shapes it was sized for: a workspace handed a different
  // network of the same depth must grow too, or the wider layers would write past its buffers.
  bool same = batch <= capacity && outs.size() == layers.size();
  for (std::size_t l = 0; same && l < layers.size(); ++l)
    same = outs[l] == layers[l].spec.out &&
           keeps_pre[l] == activation_needs_preactivation(layers[l].spec.act, layers[l].spec.slope);
  if (same) return;
  const Index rows = std::max(batch, capacity);
  double total = 0;
  for (const auto& r : layers) {
    detail::require_shape("MLP activation", rows, r.spec.out, sizeof(T));
    total += double(rows) * double(r.spec.out) * (activation_needs_preactivation(r.spec.act, r.spec.slope) ? 2 : 1);
  }
  require_workspace("MLP activation", rows, total, sizeof(T));
  outs.clear();
  keeps_pre.clear();
  for (const auto& r : layers) {
    outs.push_back(r.spec.out);
    keeps_pre.push_back(activation_needs_preactivation(r.spec.act, r.spec.slope));
  }
  act.resize(layers.size());
  pre.resize(layers.size());
  act_ptr.resize(layers.size());
  pre_ptr.resize(layers.size());
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const LayerSpec& s = layers[l].spec;
    detail::require_shape("MLP activation", rows, s.out, sizeof(T));
    act[l].resize(std::size_t(rows * s.out));
    if (activation_needs_preactivation(s.act, s.slope))
      pre[l].resize(std::size_t(rows * s.out));
    else
      pre[l].clear();
    act_ptr[l] = act[l].data();
    pre_ptr[l] = pre[l].empty() ? nullptr : pre[l].data();
  }
  grad_capacity = -1;  // layer widths may have changed with the layers
  reserve_gradients(layers, rows);
  capacity = rows;
}

namespace {

template <typename T>
void update(T* p, T* const* state, const T* g, Index n, const OptimizerSpec& opt, Index step, bool first) {
  if (opt.kind == OptimizerSpec::Kind::Sgd)
    sgd_step<T>(p, state[0], g, n, opt.sgd, first);
  else
    adam_step<T>(p, state[0], state[1], state[2], g, n, step, opt.adam);
}

}  // namespace

template <typename T>
void mlp_forward_keep(T* const* act, T* const* pre, const std::vector<DenseLayerRef<T>>& layers, const T* x,
                      Index batch) {
  const T* in = x;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const DenseLayerRef<T>& L = layers[l];
    dense_forward<T>(act[l], pre[l], in, L.w, L.spec.bias ? L.b : nullptr, batch, L.spec.in, L.spec.out,
                     L.spec.act, T(L.spec.slope));
    in = act[l];
  }
}

template <typename T>
void mlp_backward(T* dx, const std::vector<DenseLayerRef<T>>& layers, const T* const* act, const T* const* pre,
                  const T* x, const T* dy, Index batch, MlpWorkspace<T>& ws) {
  ws.reserve_gradients(layers, batch);
  // d(loss)/d(output of layer l) lives in `g`; layer l writes d(loss)/d(its input) to `next`
  // (the caller's dx for layer 0), then the two swap.
  const T* g = dy;
  T* bufs[2] = {ws.grad_a.data(), ws.grad_b.data()};
  int which = 0;
  for (std::size_t l = layers.size(); l-- > 0;) {
    const DenseLayerRef<T>& L = layers[l];
    const T* in = l == 0 ? x : act[l - 1];
    T* next = l == 0 ? dx : bufs[which];
    dense_backward<T>(next, L.dw, L.spec.bias ? L.db : nullptr, ws.dz.data(), g, in, L.w, act[l], pre[l], batch,
                      L.spec.in, L.spec.out, L.spec.act, T(L.spec.slope), false);
    g = next;
    which ^= 1;
  }
}

template <typename T>
T mlp_train_step(std::vector<DenseLayerRef<T>>& layers, const T* x, const T* target, Index batch,
                 Reduction reduction, const OptimizerSpec& opt, Index step, bool first_step,
                 MlpWorkspace<T>& ws) {
  check_layers(layers, &opt);
  DENSEGRAD_CHECK(batch >= 0, "negative batch " + std::to_string(batch));
  DENSEGRAD_CHECK(reduction != Reduction::None, "mlp_train_step needs a reduced loss (mean or sum)");
  if (opt.kind == OptimizerSpec::Kind::Sgd)
    check_sgd_options(opt.sgd);
  else
    check_adam_options(opt.adam);
  ws.reserve(layers, batch);
  mlp_forward_keep<T>(ws.act_ptr.data(), ws.pre_ptr.data(), layers, x, batch);

  const std::size_t L = layers.size();
  const Index n_out = batch * layers[L - 1].spec.out;
  const T* pred = ws.act[L - 1].data();
  T loss = T(0);
  mse_forward<T>(&loss, pred, target, n_out, reduction);
  // d(loss)/d(pred) gets its own buffer: mlp_backward ping-pongs between grad_a and grad_b.
  const T one = T(1);
  T* dy = ws.dloss.data();
  mse_backward<T>(dy, &one, pred, target, n_out, reduction);
  mlp_backward<T>(nullptr, layers, ws.act_ptr.data(), ws.pre_ptr.data(), x, dy, batch, ws);
  for (auto& Ly : layers) {
    update<T>(Ly.w, Ly.w_state, Ly.dw, Ly.spec.out * Ly.spec.in, opt, step, first_step);
    if (Ly.spec.bias) update<T>(Ly.b, Ly.b_state, Ly.db, Ly.spec.out, opt, step, first_step);
  }
  return loss;
}

template <typename T>
void mlp_forward(T* y, const std::vector<DenseLayerRef<T>>& layers, const T* x, Index batch, MlpWorkspace<T>& ws) {
  check_layers(layers, nullptr);
  DENSEGRAD_CHECK(batch >= 0, "negative batch " + std::to_string(batch));
  ws.reserve(layers, batch);
  mlp_forward_keep<T>(ws.act_ptr.data(), ws.pre_ptr.data(), layers, x, batch);
  const auto& last = ws.act.back();
  std::copy(last.begin(), last.begin() + batch * layers.back().spec.out, y);
}

template void mlp_forward_keep<float>(float* const*, float* const*, const std::vector<DenseLayerRef<float>>&,
                                     const float*, Index);
template void mlp_forward_keep<double>(double* const*, double* const*, const std::vector<DenseLayerRef<double>>&,
                                      const double*, Index);
template void mlp_backward<float>(float*, const std::vector<DenseLayerRef<float>>&, const float* const*,
                                  const float* const*, const float*, const float*, Index, MlpWorkspace<float>&);
template void mlp_backward<double>(double*, const std::vector<DenseLayerRef<double>>&, const double* const*,
                                   const double* const*, const double*, const double*, Index, MlpWorkspace<double>&);
template void check_layers<float>(const std::vector<DenseLayerRef<float>>&, const OptimizerSpec*);
template void check_layers<double>(const std::vector<DenseLayerRef<double>>&, const OptimizerSpec*);
template class MlpWorkspace<float>;
template class MlpWorkspace<double>;
template float mlp_train_step<float>(std::vector<DenseLayerRef<float>>&, const float*, const float*, Index,
                                     Reduction, const OptimizerSpec&, Index, bool, MlpWorkspace<float>&);
template double mlp_train_step<double>(std::vector<DenseLayerRef<double>>&, const double*, const double*, Index,
                                       Reduction, const OptimizerSpec&, Index, bool, MlpWorkspace<double>&);
template void mlp_forward<float>(float*, const std::vector<DenseLayerRef<float>>&, const float*, Index,
                                 MlpWorkspace<float>&);
template void mlp_forward<double>(double*, const std::vector<DenseLayerRef<double>>&, const double*, Index,
                                  MlpWorkspace<double>&);

}  // namespace densegrad
