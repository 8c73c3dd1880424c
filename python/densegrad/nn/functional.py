"""Functional forms of densegrad's layers, activations and loss (as ``torch.nn.functional``)."""

from __future__ import annotations

from .._typename import typename as _typename
from .. import _ops
from .._tensor import Tensor

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "linear", "mse_loss"]

_ACTIVATIONS = {
    "identity": _ops.IDENTITY,
    "relu": _ops.RELU,
    "leaky_relu": _ops.LEAKY_RELU,
    "sigmoid": _ops.SIGMOID,
    "tanh": _ops.TANH,
}


def _tensor_arg(name: str, x) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a densegrad Tensor, got {_typename(x)}")
    return x


def relu(input: Tensor) -> Tensor:
    """max(0, x) elementwise; its gradient at 0 is 0 (as in PyTorch)."""
    return _ops.Relu.apply(_tensor_arg("input", input), _ops.RELU, 0.0)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise; its gradient at 0 is negative_slope."""
    return _ops.LeakyRelu.apply(_tensor_arg("input", input), _ops.LEAKY_RELU, float(negative_slope))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise, computed without overflow for large |x|."""
    return _ops.Sigmoid.apply(_tensor_arg("input", input), _ops.SIGMOID, 0.0)


def tanh(input: Tensor) -> Tensor:
    """tanh(x) elementwise."""
    return _ops.Tanh.apply(_tensor_arg("input", input), _ops.TANH, 0.0)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias, with weight of shape (out_features, in_features) as in PyTorch.

    input may be (in_features,) or (*, in_features). Runs as one C++ dense call.
    """
    return _dense(input, weight, bias, "identity", 0.0)


def _dense(input: Tensor, weight: Tensor, bias: Tensor | None, activation: str, negative_slope: float) -> Tensor:
    """act(input @ weight.T + bias) as ONE recorded op: a single fused C++ call forward and backward."""
    _tensor_arg("input", input)
    _tensor_arg("weight", weight)
    if bias is not None:
        _tensor_arg("bias", bias)
    return _ops.Dense.apply(input, weight, bias, _ACTIVATIONS[activation], float(negative_slope))


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error: (input - target)^2 reduced by 'mean' (default), 'sum' or 'none'.

    input and target must have the same shape (PyTorch broadcasts them with a warning; densegrad
    refuses, because that broadcast is almost always a bug).
    """
    _tensor_arg("input", input)
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=input.dtype)
    return _ops.mse_loss(input, target, reduction)
