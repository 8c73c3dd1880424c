"""``Optimizer``: parameter groups, per-parameter state and zero_grad(), as in torch.optim."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Iterable

import numpy as np

from .._typename import typename as _typename
from .._tensor import Tensor


# torch.optim group options densegrad's SGD and Adam do not have and that change the arithmetic:
# a loaded state dict that turns one on is refused (other extra options are kept, as torch does).
_OTHER_ARITHMETIC = ("decoupled_weight_decay",)



def _check_numbers(group: dict, keys) -> None:
    """A TypeError naming the option that is not a number (a string or None set after
    construction reached the C++ call as pybind11's "incompatible function arguments")."""
    import numbers

    for k in keys:
        v = group[k]
        if not isinstance(v, (numbers.Real, Tensor)) or isinstance(v, bool):
            raise TypeError(f"{k} must be a number, got {_typename(v)} {v!r}")


def _lr_value(lr):
    """A learning rate as a number for the option checks: PyTorch also takes a one-element tensor
    (step() reads it through float() then, so changing it in place is seen)."""
    return float(lr) if isinstance(lr, Tensor) else lr

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
            raise TypeError(f"param group must be a dict, got {_typename(group)}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(p)}")
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

    # ---- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in torch.optim's layout: ``{'state': {index: {name: value}},
        'param_groups': [{option: value, ..., 'params': [index, ...]}]}``, the parameters numbered
        0, 1, ... in group order. A copy, a consistent snapshot as training goes on (PyTorch
        shares its state tensors instead; here the step count could not follow them)."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in g["params"]]
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                st = self.state.get(p)
                # A fused Trainer makes zero buffers before the first update ("_fresh" SGD momentum,
                # Adam at step 0): as in PyTorch, a parameter has no state until it was updated.
                if st and not st.get("_fresh") and st.get("step") != 0:
                    state[index[id(p)]] = {k: v.copy() if isinstance(v, np.ndarray) else v
                                           for k, v in st.items() if not k.startswith("_")}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what ``state_dict()`` returned -- this optimizer's kind, with the same number of
        groups and of parameters in each (a torch.optim state dict of the same kind loads too:
        each group must have every option of this optimizer, so a torch RAdam's or an SGD's is
        refused by Adam). Values are copied, arrays cast to their parameter's dtype; other group
        options are kept, unless they change the arithmetic (``decoupled_weight_decay``); a
        parameter's state, once begun, must have every buffer (Adam: ``step``, ``exp_avg``,
        ``exp_avg_sq``, and ``max_exp_avg_sq`` with amsgrad). Nothing changes when it raises."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        by_index = {}
        for g, saved in zip(self.param_groups, saved_groups):
            if len(g["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
            by_index.update(zip(saved["params"], g["params"]))
        groups = []
        for g, saved in zip(self.param_groups, saved_groups):
            missing = [k for k in self.defaults if k not in saved]
            if missing:
                raise ValueError(f"loaded state dict is not {type(self).__name__}'s: its group has no {', '.join(missing)}")
            for k in _OTHER_ARITHMETIC:
                if saved.get(k):
                    raise ValueError(f"loaded state dict sets {k}={saved[k]!r}, which {type(self).__name__} does not have")
            new = dict(g)
            new.update((k, copy.deepcopy(v)) for k, v in saved.items() if k != "params")
            if "betas" in new:
                new["betas"] = tuple(new["betas"])
            self._check_group(new)
            groups.append(new)
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        group_of = {id(p): new_g for new_g, g in zip(groups, self.param_groups) for p in g["params"]}
        for i, saved in state_dict["state"].items():
            p = by_index.get(i)
            if p is None:
                raise ValueError(f"loaded state dict has state for parameter {i}, which no group holds")
            # A state begun must be whole: the next step would fail on a missing buffer.
            missing = [k for k in self._state_names(group_of[id(p)]) if saved and saved.get(k) is None]
            if missing:
                raise ValueError(f"loaded state of parameter {i} has no {', '.join(missing)} "
                                 f"({type(self).__name__} keeps {', '.join(self._state_names(group_of[id(p)]))})")
            new = {}
            for name, v in saved.items():
                if name == "step":
                    step = float(v)
                    if not (step >= 0 and step == int(step)):
                        raise ValueError(f"state 'step' of parameter {i} must be a whole number >= 0, got {v}")
                    new[name] = int(step)
                elif v is None:
                    new[name] = None
                else:
                    if hasattr(v, "detach") and hasattr(v, "numpy"):  # a densegrad or torch tensor
                        v = v.detach().numpy()
                    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes Inf
                        arr = np.array(v, dtype=p.dtype, order="C", copy=True)
                    if arr.shape != p.shape:
                        raise ValueError(f"state '{name}' of parameter {i} has shape {arr.shape}, the parameter {tuple(p.shape)}")
                    new[name] = arr
            state[p] = new
        self.param_groups = groups
        self.state = state

    @staticmethod
    def _state_names(group: dict) -> tuple[str, ...]:
        """The entries a parameter's state must have once it has any (subclasses)."""
        return ()

    @staticmethod
    def _check_state_dtype(p, buffers) -> None:
        """TypeError when a parameter's state buffers (name, array) no longer have its dtype: the
        model was converted (model.double() / .float()) after training began. PyTorch fails there
        too, with a message about the operands of one operation."""
        for name, buf in buffers:
            if buf is not None and buf.dtype != p._data.dtype:
                raise TypeError(
                    f"a {p._data.dtype} parameter has {buf.dtype} optimizer state ('{name}'): the model's dtype "
                    "changed after training began (model.double() / model.float()). Build a new optimizer, or "
                    "convert this one's state with opt.load_state_dict(opt.state_dict())"
                )

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
