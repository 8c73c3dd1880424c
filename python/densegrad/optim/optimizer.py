"""``Optimizer``: parameter groups, per-parameter state and zero_grad(), as in torch.optim."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from .._tensor import Tensor


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of 'params' and hyper-parameters, defaults
    filled in) and ``state`` (per-parameter buffers, a defaultdict(dict)). Subclasses implement ``step``."""

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        self.defaults = defaults
        # As torch.optim: a defaultdict, so state[p] is {} for a parameter without state (plain
        # SGD keeps none), and `p in state` says whether the rule has stored anything for p.
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, but got a Tensor")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a parameter group (a dict with 'params' and optional options) to optimize."""
        if not isinstance(group, dict):
            raise TypeError(f"param group must be a dict, got {type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            f = p._data.flags
            if not (f.c_contiguous and f.writeable and f.aligned):
                raise ValueError("optimizer parameters must be C-contiguous and writeable, and aligned (use nn.Parameter)")
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group (or twice in one)")
            seen.add(id(p))
        full = dict(self.defaults)
        full.update(group)
        full["params"] = params
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyper-parameters (ValueError), as PyTorch's constructors do."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters: to None (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    p.grad._data[...] = 0
                    p.grad._vc[0] += 1

    def step(self, closure=None):
        """Update the parameters from their ``.grad`` (subclasses implement the rule)."""
        raise NotImplementedError

    @staticmethod
    def _with_grads(params) -> tuple[list, list, list]:
        """The parameters that have a gradient, their arrays, and those gradients as C-contiguous
        arrays (three lists)."""
        stepped, datas, grads = [], [], []
        for p in params:
            g = p._grad
            if g is None:
                continue
            arr = g._data
            flags = arr.flags
            stepped.append(p)
            datas.append(p._data)
            grads.append(arr if flags.c_contiguous and flags.aligned else arr.copy(order="C"))
        return stepped, datas, grads

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
