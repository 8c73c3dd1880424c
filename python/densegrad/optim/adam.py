"""``Adam`` as torch.optim.Adam (https://pytorch.org/docs/stable/generated/torch.optim.Adam.html):
bias-corrected moment estimates, L2 ``weight_decay`` added to the gradient (not AdamW's decoupled
decay), optional ``amsgrad`` and ``maximize``. The update runs in C++."""

from __future__ import annotations

import numpy as np

from .. import _core
from .optimizer import Optimizer, _check_numbers, _lr_value


class Adam(Optimizer):
    """Adam (Kingma and Ba), with torch.optim.Adam's options, defaults and update rule
    (weight_decay as L2 added to the gradient; amsgrad; maximize)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, g) -> None:
        _check_numbers(g, ("lr", "eps", "weight_decay"))
        if not _lr_value(g["lr"]) >= 0.0:
            raise ValueError(f"Invalid learning rate: {g['lr']}")
        if not g["eps"] >= 0.0:
            raise ValueError(f"Invalid epsilon value: {g['eps']}")
        b1, b2 = g["betas"]
        if not 0.0 <= b1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {b1}")
        if not 0.0 <= b2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {b2}")
        if not g["weight_decay"] >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {g['weight_decay']}")

    @staticmethod
    def _state_names(group: dict) -> tuple[str, ...]:
        names = ("step", "exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if group["amsgrad"] else names

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            b1, b2 = group["betas"]
            amsgrad = group["amsgrad"]
            params, datas, grads = self._with_grads(group["params"])
            stepped, avgs, avg_sqs, steps = [], [], [], []
            maxs = [] if amsgrad else None
            for p in params:
                state = self.state[p]
                if not state:  # as torch.optim: empty until the first update
                    state.update(step=0, exp_avg=np.zeros_like(p._data), exp_avg_sq=np.zeros_like(p._data))
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(p._data)
                else:
                    self._check_state_dtype(p, [(k, state.get(k)) for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")])
                stepped.append((p, state))
                avgs.append(state["exp_avg"])
                avg_sqs.append(state["exp_avg_sq"])
                steps.append(state["step"] + 1)
                if amsgrad:  # None (an error) if amsgrad was switched on after the state began
                    maxs.append(state.get("max_exp_avg_sq"))
            if not stepped:
                continue
            # One C++ call for the group, every operand checked before any update.
            try:
                _core.adam_step_many(datas, grads, avgs, avg_sqs, maxs, steps, group["lr"], b1, b2,
                                     group["eps"], group["weight_decay"], amsgrad, group["maximize"])
            except TypeError:  # an option changed to something that is no number: say which
                self._check_group(group)
                raise
            for (p, state), n in zip(stepped, steps):
                state["step"] = n
                p._vc[0] += 1
        return loss
