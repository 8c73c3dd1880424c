"""``Parameter``: a leaf tensor that a Module registers as one of its parameters."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _to_array


class Parameter(Tensor):
    """A tensor that requires grad by default and is found by ``Module.parameters()``.

    The data is shared with a given Tensor when it is already C-contiguous, aligned and writeable
    (optimizers update it in place), and copied otherwise.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        vc = None
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._data
            vc = data._vc  # shared data, shared version counter (as detach())
        else:
            arr = _to_array(data, None)
        if not (arr.flags.c_contiguous and arr.flags.writeable and arr.flags.aligned):
            arr = np.array(arr, order="C", copy=True)
            vc = None
        self._data = arr
        self._requires_grad = bool(requires_grad)
        self._grad = None
        self._grad_fn = None
        self._vc = vc if vc is not None else [0]

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
