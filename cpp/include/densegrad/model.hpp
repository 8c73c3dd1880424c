// densegrad::Mlp -- a multi-layer perceptron that owns its parameters, gradients, optimizer
// state and workspaces: build it from layer specs (deterministic initialisation from a seed),
// train it one batch at a time, predict, and save / load it in the model-file format the Python
// package writes (docs/model-format.md: safetensors with the architecture in its metadata).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "densegrad/common.hpp"
#include "densegrad/mlp.hpp"

namespace densegrad {

// The standardisation a model was trained with (all four vectors empty: none):
//   prediction = model((x - x_mean) / x_std) * y_std + y_mean, computed in double.
// Otherwise all four are needed: x_mean and x_std of in_features values, y_mean and y_std of
// out_features values, every value finite and every standard deviation > 0 -- what a model file
// may hold. predict, save and save_to_memory check this and throw std::invalid_argument.
struct Normalization {
  std::vector<double> x_mean, x_std, y_mean, y_std;
  bool empty() const { return x_mean.empty() && x_std.empty() && y_mean.empty() && y_std.empty(); }
};

// The names of the columns a model was trained on (what Python's `densegrad train` writes into
// the file, and `densegrad predict` reads the columns of a CSV by): features has in_features
// names, target out_features, all distinct; or both are empty (none). load fills them; save and
// save_to_memory write them, checked as the readers check them (std::invalid_argument).
struct Columns {
  std::vector<std::string> features, target;
  bool empty() const { return features.empty() && target.empty(); }
};

// Thread safety as for a standard container: while one thread calls a non-const member
// (train_step, set_optimizer, assignment, the one-argument forward and predict, which use the
// model's own workspace), no other thread may use the Mlp. The const members may run on several
// threads at once: to serve one model from many threads, give each thread an MlpWorkspace of its
// own and call the const forward / predict with it (tested: the same bits as one call after
// another). Separate Mlp objects may be used from separate threads at once.
template <typename T>
class Mlp {
 public:
  // Layers must chain (out of one = in of the next). A layer of zero width (in or out 0) is a
  // valid network here, as for the kernels and dg.nn.Linear, but not in a model file: save
  // refuses it. Weights and biases are drawn from
  // U(-1/sqrt(in), 1/sqrt(in)) -- PyTorch's nn.Linear default -- with a generator seeded by
  // `seed` (std::mt19937_64: the same numbers on every platform).
  explicit Mlp(std::vector<LayerSpec> layers, std::uint64_t seed = 0);
  Mlp(const Mlp& other);
  Mlp& operator=(const Mlp& other);
  Mlp(Mlp&&) noexcept = default;
  Mlp& operator=(Mlp&&) noexcept = default;

  // A model file (either float dtype; converted to T). Throws std::invalid_argument with the
  // reason for a truncated, malformed or inconsistent file, std::runtime_error (with the
  // system's reason) if it cannot be opened or read. The optimizer is the default one (below).
  static Mlp load(const std::string& path);
  static Mlp load_from_memory(const char* data, std::size_t size);
  // Writes only what the readers (this one and Python's) accept: std::invalid_argument, and no
  // file written, for a layer of zero width or a normalization that breaks the rules below;
  // std::runtime_error (with the system's reason) if the file cannot be written, leaving a file
  // that was there as it was.
  void save(const std::string& path) const;
  std::string save_to_memory() const;

  const std::vector<LayerSpec>& layers() const { return specs_; }
  Index in_features() const { return specs_.empty() ? 0 : specs_.front().in; }  // (0: a moved-from model)
  Index out_features() const { return specs_.empty() ? 0 : specs_.back().out; }
  // Layer l's weight (out, in), row-major, and bias (out) or null; gradients likewise (written
  // by train_step).
  MatrixView<T> weight(std::size_t l);
  T* bias(std::size_t l);
  MatrixView<const T> weight(std::size_t l) const;  // read-only, for a const model
  const T* bias(std::size_t l) const;
  MatrixView<const T> weight_grad(std::size_t l) const;
  const T* bias_grad(std::size_t l) const;

  // SGD or Adam (torch.optim's rules); resets the optimizer state. Default: SGD, lr 0.01.
  void set_optimizer(const OptimizerSpec& opt);
  // One step on a batch: x (batch, in_features), target (batch, out_features), both row-major.
  // Returns the MSE loss before the update. A call that throws (bad sizes, Reduction::None)
  // changes nothing, its step not counted. A batch of 0 rows returns NaN and is a step, as in
  // the Python package (the gradients are zero; weight decay still applies); NaN in the data
  // makes the parameters NaN, which save writes as they are.
  T train_step(const T* x, const T* target, Index batch, Reduction reduction = Reduction::Mean);
  // The network alone: y (batch, out_features) from x (batch, in_features).
  void forward(T* y, const T* x, Index batch);
  // The same in the caller's workspace: const, for several threads at once (one workspace per
  // thread). A workspace used with one model allocates only when the batch grows past the largest
  // it has seen; handed a network of other widths or depth, it is resized (never written out of
  // its bounds).
  void forward(T* y, const T* x, Index batch, MlpWorkspace<T>& ws) const;
  // With the stored normalisation applied (if any; checked as described at Normalization):
  // rows of in_features inputs -> rows of out_features predictions.
  std::vector<double> predict(const std::vector<double>& x);
  std::vector<double> predict(const std::vector<double>& x, MlpWorkspace<T>& ws) const;

  Normalization normalization;
  Columns columns;

 private:
  void bind();
  const DenseLayerRef<T>& layer(std::size_t l) const;  // refs_[l], l checked

  std::vector<LayerSpec> specs_;
  std::vector<T> params_, grads_, state_[3];
  std::vector<DenseLayerRef<T>> refs_;
  MlpWorkspace<T> ws_;
  OptimizerSpec opt_;
  Index step_ = 0;
};

}  // namespace densegrad
