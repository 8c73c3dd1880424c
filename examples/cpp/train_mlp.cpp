// Train a small MLP in C++ with densegrad, no Python: fit y = sin(3 x0) * x1 on a generated
// problem, print the loss as it falls, save the model and load it back.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "densegrad/densegrad.hpp"

int main() {
  using densegrad::Activation;
  // 2 inputs -> 32 tanh -> 32 tanh -> 1 output
  densegrad::Mlp<float> model({{2, 32, Activation::Tanh}, {32, 32, Activation::Tanh}, {32, 1}}, /*seed=*/42);
  densegrad::OptimizerSpec adam;
  adam.kind = densegrad::OptimizerSpec::Kind::Adam;
  adam.adam.lr = 0.01;
  model.set_optimizer(adam);

  const int n = 256;
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(2 * n), y(n);
  for (int i = 0; i < n; ++i) {
    x[2 * i] = u(gen);
    x[2 * i + 1] = u(gen);
    y[i] = std::sin(3 * x[2 * i]) * x[2 * i + 1];
  }

  float first = 0, loss = 0;
  for (int step = 1; step <= 1000; ++step) {
    loss = model.train_step(x.data(), y.data(), n);  // forward, MSE, backward, Adam: one call
    if (step == 1) first = loss;
    if (step == 1 || step % 200 == 0) std::printf("step %4d  loss %.6f\n", step, loss);
  }

  model.save("train_mlp.safetensors");  // loads in Python: densegrad.nn.Sequential.load(...)
  densegrad::Mlp<float> again = densegrad::Mlp<float>::load("train_mlp.safetensors");
  std::vector<float> a(n), b(n);
  model.forward(a.data(), x.data(), n);
  again.forward(b.data(), x.data(), n);
  const bool same = a == b;
  std::printf("saved and reloaded: predictions %s\n", same ? "identical" : "DIFFER");
  return loss < 0.1f * first && same ? 0 : 1;
}
