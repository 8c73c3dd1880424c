"""Loss modules."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class MSELoss(Module):
    """Mean squared error between input and target of the same shape; reduction 'mean'
    (default), 'sum' or 'none'."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{reduction!r} is not a valid value for reduction (expected 'mean', 'sum' or 'none')")
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"
