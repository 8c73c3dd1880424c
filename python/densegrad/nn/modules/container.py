"""``Sequential``: modules applied in order. Each ``Linear`` followed by an activation (or by
nothing fusable) runs as ONE fused C++ dense call, forward and backward; set ``fuse = False`` to
run the modules one by one (the unfused reference path, same results)."""

from __future__ import annotations

from collections import OrderedDict

from .. import functional as F
from .activation import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .linear import Linear
from .module import Module


# Exact types only: a subclass may override forward, so it is never fused.
_FUSABLE = (ReLU, LeakyReLU, Sigmoid, Tanh, Identity)


class Sequential(Module):
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
        if not -len(mods) <= idx < len(mods):
            raise IndexError(f"index {idx} is out of range")
        return mods[idx][1]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def _fusion_plan(self) -> list:
        """[(Linear, fused activation module or None) or (module, None)], cached until the
        modules change."""
        if self.__dict__.get("_plan_version") == self._modules_version:
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
        self.__dict__["_plan_version"] = self._modules_version
        return plan

    def forward(self, input):
        if not self.fuse:
            for m in self._modules.values():
                if m is not None:
                    input = m(input)
            return input
        for m, act in self._fusion_plan():
            if act is not None:
                p = m._parameters
                input = F._dense(input, p["weight"], p["bias"], act.fused_activation, getattr(act, "negative_slope", 0.0))
            elif type(m) is Linear:
                p = m._parameters
                input = F._dense(input, p["weight"], p["bias"], "identity", 0.0)
            else:
                input = m(input)
        return input
