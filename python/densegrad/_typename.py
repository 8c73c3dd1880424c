"""The name of a value's type as error messages give it: ``Tensor`` or ``list`` for densegrad's
and Python's own types, the importable name for anything else (``torch.Tensor``,
``numpy.ndarray``), so that a message never says "expected a Tensor, got Tensor"."""

from __future__ import annotations

import sys


def typename(value) -> str:
    t = type(value)
    module, name = t.__module__, t.__qualname__
    if module == "builtins" or module == "densegrad" or module.startswith("densegrad."):
        return name
    parts = module.split(".")
    for i in range(1, len(parts)):  # the shortest path it is importable from: torch.nn.MSELoss
        where = sys.modules.get(".".join(parts[:i]))
        if where is not None and getattr(where, name, None) is t:
            return f"{where.__name__}.{name}"
    return f"{module}.{name}"


def is_torch_tensor(value) -> bool:
    """A torch.Tensor, recognised without importing torch."""
    t = type(value)
    return t.__module__.split(".")[0] == "torch" and any(c.__name__ == "Tensor" for c in t.__mro__)
