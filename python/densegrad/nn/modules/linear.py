"""``Linear``: y = x @ W.T + b, with W of shape (out_features, in_features)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..._typename import typename as _typename
from ..._tensor import _DEFAULT_DTYPE, _check_dtype
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module


def _feature_count(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_typename(v)}")
    if v < 0:
        raise ValueError(f"{name} must be non-negative, got {v}")
    return int(v)


class Linear(Module):
    """A fully connected layer, initialised as PyTorch does: W and b uniform on
    [-1/sqrt(in_features), 1/sqrt(in_features)] (kaiming_uniform_ with a = sqrt(5))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features = _feature_count("in_features", in_features)
        self.out_features = _feature_count("out_features", out_features)
        dt = _DEFAULT_DTYPE if dtype is None else _check_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw W and b again from PyTorch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
