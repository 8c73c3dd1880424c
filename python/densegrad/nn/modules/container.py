"""``Sequential``: modules applied in order. Each ``Linear`` followed by an activation (or by
nothing fusable) runs as ONE fused C++ dense call, forward and backward; set ``fuse = False`` to
run the modules one by one (the unfused reference path, same results)."""

from __future__ import annotations

import operator
from collections import OrderedDict

import numpy as np

from ..._typename import typename as _typename
from ... import _ops
from ..._tensor import Tensor
from .. import functional as F
from .activation import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .linear import Linear
from .module import Module


# Exact types only: a subclass may override forward, so it is never fused.
_FUSABLE = (ReLU, LeakyReLU, Sigmoid, Tanh, Identity)


class Sequential(Module):
    """Modules applied in order: ``Sequential(Linear(3, 8), ReLU(), Linear(8, 1))``, or from an
    OrderedDict of names to modules. Supports len, iteration, indexing and slicing, ``seq[i] = m``,
    ``del seq[i]``, ``append``, and model files (``save`` / ``load``)."""

    # Set by Sequential.load from a model file (docs/model-format.md), kept by save.
    normalization = None
    columns = None

    def __init__(self, *args):
        super().__init__()
        object.__setattr__(self, "fuse", True)
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        return self._modules[self._key(idx)]

    def _key(self, idx: int) -> str:
        """The name of the module at position idx (an int or NumPy integer, as in PyTorch)."""
        if isinstance(idx, (bool, np.bool_)) or not hasattr(type(idx), "__index__"):
            raise TypeError(f"Sequential indices must be integers, got {_typename(idx)}")
        idx = operator.index(idx)
        keys = list(self._modules)
        if not -len(keys) <= idx < len(keys):
            raise IndexError(f"index {idx} is out of range")
        return keys[idx]

    def __setitem__(self, idx: int, module: Module) -> None:
        """Replace the module at position idx (its name is kept)."""
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx: int) -> None:
        """Remove the module at position idx; the later ones are renamed to their new positions
        when the names are positions (as PyTorch does)."""
        key = self._key(idx)
        mods = list(self._modules.items())
        del self._modules[key]
        if all(name == str(i) for i, (name, _) in enumerate(mods)):
            rest = [m for name, m in mods if name != key]
            self._modules.clear()
            for i, m in enumerate(rest):
                self._modules[str(i)] = m

    def append(self, module: Module) -> Sequential:
        """Add a module at the end (named by its index) and return self."""
        self.add_module(str(len(self)), module)
        return self

    def save(self, path, *, normalization=None, columns=None) -> None:
        """Write this MLP to a model file (``densegrad.save(self, path, ...)``)."""
        from ...serialization import save

        save(self, path, normalization=normalization, columns=columns)

    @classmethod
    def load(cls, path) -> Sequential:
        """Rebuild the Sequential stored in a model file written by ``save`` (or by the C++
        ``densegrad::Mlp``), with its stored normalisation and columns as ``.normalization`` and
        ``.columns`` (None when absent). Raises ``ModelFileError`` (a ValueError) for a truncated
        or inconsistent file; nothing is ever unpickled."""
        from ...serialization import load_model

        return load_model(path).model

    def _fusion_plan(self) -> list:
        """[(Linear, fused activation module or None) or (module, None)], cached until the
        modules change."""
        version = self._modules.version  # before reading the modules: a change meanwhile is not stamped current
        if self.__dict__.get("_plan_version") == version:
            return self.__dict__["_plan"]
        mods = [m for m in self._modules.values() if m is not None]
        plan, i = [], 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if type(m) is Linear and type(nxt) in _FUSABLE:
                plan.append((m, nxt))
                i += 2
            else:
                plan.append((m, None))
                i += 1
        self.__dict__["_plan"] = plan
        # A pure MLP (every step a Linear, with or without a fused activation) can run as one
        # DenseStack op: its (activation, slope) per layer, or None.
        if plan and all(type(m) is Linear for m, _ in plan):
            self.__dict__["_stack"] = [(m, act) for m, act in plan]
            self.__dict__["_stack_leaky"] = [act for _, act in plan if type(act) is LeakyReLU]
        else:
            self.__dict__["_stack"] = None
        self.__dict__["_stack_cache"] = None
        self.__dict__["_plan_version"] = version  # last: the plan and stack above are in place
        return plan

    def _forward_stack(self, input):
        """The whole MLP as one recorded op, or None when the input or parameters do not fit it
        (then the per-layer path runs, and raises its own clear errors).

        The checks and the kernel's layer list are cached with everything they depend on (input
        dtype and width, the LeakyReLU slopes, and -- compared by identity -- the arrays the
        parameters hold), so a new parameter, a new array behind one, or a changed slope
        re-validates. In-place updates of the arrays (what optimizers do) keep the cache."""
        if not isinstance(input, Tensor):
            return None
        x = input._data
        if x.ndim != 2:
            return None
        d = self.__dict__
        cached = d.get("_stack_cache")
        if cached is not None:
            # (dtype, width, slopes, [(module, weight, bias, weight array, bias array)], layers, params)
            dtype, width, slopes, records, layers, params = cached
            if (x.dtype is dtype or x.dtype == dtype) and x.shape[1] == width:
                for m, w, b, wa, ba in records:  # identity, never ids: a copied model must not match stale ids
                    p = m._parameters
                    if p["weight"] is not w or p["bias"] is not b or w._data is not wa or (b is not None and b._data is not ba):
                        break
                else:
                    if not slopes or slopes == [float(act.negative_slope).hex() for act in d["_stack_leaky"]]:
                        return _ops.dense_stack(input, layers, params)
        records, params = [], []
        for m, _ in d["_stack"]:
            p = m._parameters
            w, b = p["weight"], p["bias"]
            params.append(w)
            params.append(b)
            records.append((m, w, b, None if w is None else w._data, None if b is None else b._data))
        layers = self._stack_layers(x.dtype, x.shape[1], params)
        if layers is None:
            return None
        # compared by their bits: 0.0 == -0.0, yet leaky_relu(-3) is -0.0 with one and 0.0 with the other
        slopes = [float(act.negative_slope).hex() for act in d["_stack_leaky"]]
        d["_stack_cache"] = (x.dtype, x.shape[1], slopes, records, layers, params)
        return _ops.dense_stack(input, layers, params)

    def _stack_layers(self, dtype, width, params):
        """The kernel's layer list [(w, b, activation, slope)] for these parameters, or None
        when they do not chain from an input of this dtype and width."""
        layers = []
        for (m, act), w, b in zip(self.__dict__["_stack"], params[::2], params[1::2]):
            if w is None or w.dtype != dtype or w.ndim != 2 or w.shape[1] != width:
                return None
            if b is not None and (b.dtype != dtype or b.shape != (w.shape[0],)):
                return None
            if not all(_ops._kernel_ready(t._data) for t in (w, b) if t is not None):
                return None
            width = w.shape[0]
            name = "identity" if act is None else act.fused_activation
            slope = float(getattr(act, "negative_slope", 0.0))
            layers.append((w._data, None if b is None else b._data, F._ACTIVATIONS[name], slope))
        return layers

    def forward(self, input):
        if not self.fuse:
            for m in self._modules.values():
                if m is not None:
                    input = m(input)
            return input
        d = self.__dict__
        plan = d["_plan"] if d.get("_plan_version") == self._modules.version else self._fusion_plan()
        if d["_stack"] is not None:
            out = self._forward_stack(input)
            if out is not None:
                return out
        for m, act in plan:
            if act is not None:
                p = m._parameters
                input = F._dense(input, p["weight"], p["bias"], act.fused_activation, getattr(act, "negative_slope", 0.0))
            elif type(m) is Linear:
                p = m._parameters
                input = F._dense(input, p["weight"], p["bias"], "identity", 0.0)
            else:
                input = m(input)
        return input
