"""Activation layers. Inside a ``Sequential`` each one that follows a ``Linear`` is fused into
that layer's C++ call; ``fused_activation`` names it for that."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class ReLU(Module):
    """max(0, x); gradient 0 at x = 0."""

    fused_activation = "relu"

    def forward(self, input):
        return F.relu(input)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise; gradient negative_slope at x = 0."""

    fused_activation = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        float(negative_slope)  # must be a number; kept as given so repr shows it as torch does
        self.negative_slope = negative_slope

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + exp(-x)) elementwise."""

    fused_activation = "sigmoid"

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x) elementwise."""

    fused_activation = "tanh"

    def forward(self, input):
        return F.tanh(input)


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments, like PyTorch)."""

    fused_activation = "identity"

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input
