"""Parameter initialisers (as ``torch.nn.init``), drawing from densegrad's global generator."""

from __future__ import annotations

import math

from .. import _random
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill tensor in place with samples from U(a, b)."""
    tensor._check_not_indexed("an initialiser")
    with no_grad():
        samples = _random.default_generator().uniform(a, b, size=tensor.shape)
        tensor._data[...] = samples
        tensor._vc[0] += 1
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill the tensor with zeros in place (outside the graph); returns it."""
    with no_grad():
        return tensor.zero_()


def _fan_in(tensor: Tensor) -> int:
    if tensor.ndim < 2:
        raise ValueError("Fan in can not be computed for tensor with fewer than 2 dimensions")
    return int(tensor.shape[1] * math.prod(tensor.shape[2:]))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialisation, uniform form, fan_in mode (torch.nn.init.kaiming_uniform_)."""
    fan_in = _fan_in(tensor)
    if nonlinearity == "leaky_relu":
        gain = math.sqrt(2.0 / (1 + a**2))
    elif nonlinearity == "relu":
        gain = math.sqrt(2.0)
    elif nonlinearity in ("linear", "sigmoid", "identity"):
        gain = 1.0
    elif nonlinearity == "tanh":
        gain = 5.0 / 3
    else:
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}")
    if fan_in == 0:
        return tensor  # nothing to scale by; PyTorch warns and leaves the (empty) tensor alone
    bound = math.sqrt(3.0) * gain / math.sqrt(fan_in)
    return uniform_(tensor, -bound, bound)
