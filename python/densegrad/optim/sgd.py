"""``SGD``: stochastic gradient descent with momentum, dampening, weight decay and Nesterov
momentum, following torch.optim.SGD's documented update rule
(https://pytorch.org/docs/stable/generated/torch.optim.SGD.html); the update runs in C++."""

from __future__ import annotations

import numpy as np

from .. import _core
from .optimizer import Optimizer, _check_numbers, _lr_value


class SGD(Optimizer):
    """Stochastic gradient descent with torch.optim.SGD's options, defaults and update rule
    (momentum, dampening, weight_decay, nesterov, maximize)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g) -> None:
        _check_numbers(g, ("lr", "momentum", "dampening", "weight_decay"))
        if not _lr_value(g["lr"]) >= 0.0:
            raise ValueError(f"Invalid learning rate: {g['lr']}")
        if not g["momentum"] >= 0.0:
            raise ValueError(f"Invalid momentum value: {g['momentum']}")
        if not g["weight_decay"] >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {g['weight_decay']}")
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            stepped, datas, grads = self._with_grads(group["params"])
            bufs = firsts = None
            new_bufs, fresh = [], []  # state changes, made only once the update has run
            if momentum != 0:
                bufs, firsts = [], []
                for p in stepped:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    # A buffer the fused Trainer allocated but has not yet used is still "first".
                    first = buf is None or state.get("_fresh", False)
                    if buf is None:
                        buf = np.empty_like(p._data)
                        new_bufs.append((state, buf))
                    else:
                        self._check_state_dtype(p, [("momentum_buffer", buf)])
                        if first:
                            fresh.append(state)
                    bufs.append(buf)
                    firsts.append(first)
            if not stepped:
                continue
            # One C++ call for the group (positional: keyword parsing costs more than small updates).
            try:
                _core.sgd_step_many(datas, grads, bufs, firsts, lr, momentum, dampening, wd, nesterov, maximize)
            except TypeError:  # an option changed to something that is no number: say which
                self._check_group(group)
                raise
            for state, buf in new_bufs:
                state["momentum_buffer"] = buf
            for state in fresh:
                state.pop("_fresh", None)
            for p in stepped:
                p._vc[0] += 1
        return loss
