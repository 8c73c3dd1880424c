// A whole multi-layer perceptron trained in one call: forward through every dense layer, the MSE
// loss, backward, and the optimizer update, with workspaces allocated once (a steady state of
// steps allocates nothing).
//
// Two levels:
//  * mlp_train_step / mlp_forward work on DenseLayerRef: non-owning pointers to parameters,
//    gradients and optimizer state held by someone else (the Python package hands in its NumPy
//    arrays, so a fused step and an autograd step update the very same buffers);
//  * Mlp<T> owns all of that for C++ users.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "densegrad/activation.hpp"
#include "densegrad/common.hpp"
#include "densegrad/loss.hpp"
#include "densegrad/optim.hpp"

namespace densegrad {

// One dense layer: y = act(x * w^T + b), x (batch, in), w (out, in), b (out).
struct LayerSpec {
  Index in = 0;
  Index out = 0;
  Activation act = Activation::Identity;
  double slope = 0.01;  // leaky_relu's negative slope
  bool bias = true;
};

// The optimizer of a fused step: SGD or Adam with torch.optim's rules (see optim.hpp).
struct OptimizerSpec {
  enum class Kind { Sgd, Adam } kind = Kind::Sgd;
  SgdOptions sgd;
  AdamOptions adam;
};

// Non-owning view of one layer's buffers. Gradients are written (not accumulated) by a step.
// Optimizer state: SGD with momentum uses state[0] (momentum buffer); Adam uses state[0]
// (exp_avg), state[1] (exp_avg_sq) and, with amsgrad, state[2] (max_exp_avg_sq). Unused state
// pointers may be null; so may every bias pointer when spec.bias is false.
template <typename T>
struct DenseLayerRef {
  LayerSpec spec;
  T* w = nullptr;
  T* b = nullptr;
  T* dw = nullptr;
  T* db = nullptr;
  T* w_state[3] = {nullptr, nullptr, nullptr};
  T* b_state[3] = {nullptr, nullptr, nullptr};
};

// Activations and gradients of one step, sized for up to `capacity` rows; grown on demand.
template <typename T>
class MlpWorkspace {
 public:
  // Make room for `batch` rows of the given layers (allocates only when growing).
  void reserve(const std::vector<DenseLayerRef<T>>& layers, Index batch);
  // Only the gradient buffers backward needs (mlp_backward with the caller's act/pre).
  void reserve_gradients(const std::vector<DenseLayerRef<T>>& layers, Index batch);
  std::vector<std::vector<T>> act;  // act[l]: output of layer l (batch, out_l)
  std::vector<std::vector<T>> pre;  // pre[l]: pre-activation, only where backward needs it
  std::vector<T> dloss;             // d(loss)/d(output), (batch, out_last)
  std::vector<T> grad_a, grad_b;    // ping-pong d(loss)/d(activation), (batch, widest output)
  std::vector<T> dz;                // dy * act'(z) of the current layer
  std::vector<T*> act_ptr, pre_ptr;  // data() of act / pre (null where pre is not kept)
  std::vector<Index> outs;           // the layer widths act/pre were sized for,
  std::vector<char> keeps_pre;       // and whether each keeps its pre-activation
  Index capacity = -1, grad_capacity = -1, grad_width = 0, grad_out = 0;
};

// Checks that consecutive layers connect (out of one = in of the next), sizes are sane and
// every buffer a step needs is there (std::invalid_argument otherwise).
void check_layers(const std::vector<LayerSpec>& layers);
template <typename T>
void check_layers(const std::vector<DenseLayerRef<T>>& layers, const OptimizerSpec* opt);

// One training step: forward, loss, backward (gradients written into dw/db), then the update.
// x (batch, in_0), target (batch, out_last). `step` counts updates from 1 (Adam's bias
// correction); first_step starts SGD momentum buffers from the gradient. Returns the loss.
template <typename T>
T mlp_train_step(std::vector<DenseLayerRef<T>>& layers, const T* x, const T* target, Index batch,
                 Reduction reduction, const OptimizerSpec& opt, Index step, bool first_step,
                 MlpWorkspace<T>& ws);

// Forward through every layer keeping what backward needs: act[l] (batch, out_l) written with
// layer l's output; pre[l] written with its pre-activation where pre[l] is non-null (needed
// where activation_needs_preactivation). x (batch, in_0).
template <typename T>
void mlp_forward_keep(T* const* act, T* const* pre, const std::vector<DenseLayerRef<T>>& layers, const T* x,
                      Index batch);

// Backward through every layer from dy = d(loss)/d(output) (batch, out_last), given the forward's
// act/pre: writes every layer's dw (and db where it has a bias); dx (batch, in_0) written when
// non-null. Uses ws's gradient buffers (grown on demand).
template <typename T>
void mlp_backward(T* dx, const std::vector<DenseLayerRef<T>>& layers, const T* const* act, const T* const* pre,
                  const T* x, const T* dy, Index batch, MlpWorkspace<T>& ws);

// Inference: y (batch, out_last) = the network applied to x (batch, in_0).
template <typename T>
void mlp_forward(T* y, const std::vector<DenseLayerRef<T>>& layers, const T* x, Index batch,
                 MlpWorkspace<T>& ws);

}  // namespace densegrad
