"""Moving models between densegrad and PyTorch: ``from_torch(torch_seq)`` and
``to_torch(dg_seq)`` for ``Sequential`` stacks of Linear and the activations densegrad has
(ReLU, LeakyReLU, Sigmoid, Tanh, Identity). Parameters are copied (float32 stays float32,
float64 stays float64) under the same names, so the two models predict the same values.

PyTorch is not a dependency of densegrad: these functions import it when called and raise
ImportError with what to install when it is missing.
"""

from __future__ import annotations

import numpy as np

from ._typename import typename as _typename
from .nn.modules.activation import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .nn.modules.container import Sequential
from .nn.modules.linear import Linear

__all__ = ["from_torch", "to_torch"]

_SIMPLE = {"ReLU": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh, "Identity": Identity}


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("densegrad.interop needs PyTorch, which is not installed (pip install torch)") from None
    return torch


def from_torch(module) -> Sequential:
    """A densegrad ``Sequential`` equal to a ``torch.nn.Sequential`` of Linear, ReLU, LeakyReLU,
    Sigmoid, Tanh and Identity modules (module names and parameter values copied; float32 or
    float64). TypeError for any other module or dtype."""
    torch = _torch()
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"from_torch expects a torch.nn.Sequential, got {_typename(module)}")
    from collections import OrderedDict

    mods = OrderedDict()
    for name, m in module.named_children():
        kind = type(m).__name__
        if type(m) is torch.nn.Linear:
            dtype = m.weight.dtype
            if dtype not in (torch.float32, torch.float64):
                raise TypeError(f"module '{name}': densegrad holds float32 or float64 parameters, got {dtype}")
            lin = Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=np.float32 if dtype == torch.float32 else np.float64)
            lin.weight._data[...] = m.weight.detach().cpu().numpy()
            if m.bias is not None:
                lin.bias._data[...] = m.bias.detach().cpu().numpy()
            mods[name] = lin
        elif type(m) is torch.nn.LeakyReLU:
            mods[name] = LeakyReLU(m.negative_slope)
        elif kind in _SIMPLE and type(m) is getattr(torch.nn, kind):
            mods[name] = _SIMPLE[kind]()
        else:
            raise TypeError(f"module '{name}' is torch.nn.{kind}; from_torch supports Linear, ReLU, LeakyReLU, Sigmoid, Tanh and Identity")
    return Sequential(mods)


def to_torch(model: Sequential):
    """A ``torch.nn.Sequential`` equal to a densegrad ``Sequential`` of Linear, ReLU, LeakyReLU,
    Sigmoid, Tanh and Identity modules (names and parameter values copied, dtype kept)."""
    torch = _torch()
    if not isinstance(model, Sequential):
        raise TypeError(f"to_torch expects a densegrad.nn.Sequential, got {_typename(model)}")
    from collections import OrderedDict

    mods = OrderedDict()
    for name, m in model._modules.items():
        if type(m) is Linear:
            dtype = torch.float32 if m.weight.dtype == np.float32 else torch.float64
            lin = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(m.weight._data.copy()))
                if m.bias is not None:
                    lin.bias.copy_(torch.from_numpy(m.bias._data.copy()))
            mods[name] = lin
        elif type(m) is LeakyReLU:
            mods[name] = torch.nn.LeakyReLU(m.negative_slope)
        elif type(m) in _SIMPLE.values():
            mods[name] = getattr(torch.nn, type(m).__name__)()
        else:
            raise TypeError(f"module '{name}' is {type(m).__name__}; to_torch supports Linear, ReLU, LeakyReLU, Sigmoid, Tanh and Identity")
    return torch.nn.Sequential(mods)
