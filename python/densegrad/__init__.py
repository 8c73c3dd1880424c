"""densegrad: a small, fast autograd core for dense neural networks.

C++17 dense-layer kernels under a PyTorch-shaped API::

    import densegrad as dg
    model = dg.nn.Sequential(dg.nn.Linear(4, 16), dg.nn.ReLU(), dg.nn.Linear(16, 1))
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    loss = dg.nn.MSELoss()(model(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._typename import typename as _typename
from . import _core
from ._random import manual_seed
from ._tensor import Tensor, float32, float64, from_numpy, ones, rand, randn, tensor, zeros
from ._tensor_str import set_printoptions
from .autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from . import nn, optim  # noqa: E402  (nn and optim import the names above)

__version__ = "0.1.0"


def _check_environment() -> None:
    """Warn about a DENSEGRAD_KERNEL or DENSEGRAD_NUM_THREADS value the C++ core ignored (it reads
    them at load time, where it cannot raise): a typo would otherwise pass unnoticed."""
    import os
    import re
    import warnings

    kernel = os.environ.get("DENSEGRAD_KERNEL")
    if kernel and kernel not in ("generic", "avx2-fma", "avx512", "auto"):
        warnings.warn(f"DENSEGRAD_KERNEL={kernel!r} is not one of 'generic', 'avx2-fma', 'avx512', 'auto': "
                      f"ignored, the GEMM kernel is {_core.gemm_kernel()!r}", RuntimeWarning, stacklevel=3)
    threads = os.environ.get("DENSEGRAD_NUM_THREADS")
    number = re.fullmatch(r"\s*[+-]?\d+\s*", threads or "", re.ASCII)  # what the core's strtol() reads
    if threads and (number is None or not 1 <= int(number.group()) <= 1024):
        warnings.warn(f"DENSEGRAD_NUM_THREADS={threads!r} is not a whole number from 1 to 1024: ignored, using "
                      f"{_core.get_num_threads()} threads", RuntimeWarning, stacklevel=3)


_check_environment()

# Imported on first use (PEP 562), not by `import densegrad`: together with what they import
# (json, csv, pathlib, dataclasses, ...) they were a third of the package's own import time.
_LAZY_MODULES = ("data", "interop", "serialization", "train", "viz")
_LAZY_NAMES = {"load": "serialization", "save": "serialization"}

if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from . import data, interop, serialization, train, viz
    from .serialization import load, save


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module("." + name, __name__)  # sets the package attribute too
    if name in _LAZY_NAMES:
        value = getattr(__getattr__(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_MODULES) | set(_LAZY_NAMES))


def relu(input: Tensor) -> Tensor:
    """max(0, x) elementwise (see ``densegrad.nn.functional.relu``)."""
    return nn.functional.relu(input)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise."""
    return nn.functional.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """tanh(x) elementwise."""
    return nn.functional.tanh(input)


def set_num_threads(n: int) -> None:
    """Threads the C++ kernels may use (default: the number of CPUs, or DENSEGRAD_NUM_THREADS).

    Products too small to pay for waking a thread always run on one; results do not depend on
    the thread count (threads split the output, never a sum).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads expects an int, got {_typename(n)}")
    if n < 1:
        raise ValueError(f"set_num_threads expects n >= 1, got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the C++ kernels may use."""
    return _core.get_num_threads()


def get_include() -> str:
    """The directory of densegrad's C++ headers shipped in this package (``#include
    "densegrad/densegrad.hpp"``), for compiling other extensions against them."""
    from importlib import resources

    return str(resources.files("densegrad") / "include")


def get_cmake_dir() -> str:
    """A directory for ``find_package(densegrad-headers CONFIG PATHS ...)`` (CMake): it defines
    the INTERFACE target ``densegrad::headers``. The wheel ships headers, not the C++ library;
    to link the kernels, install the C++ library with CMake (see the README)."""
    from importlib import resources

    return str(resources.files("densegrad") / "share" / "cmake" / "densegrad")


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """input @ other with NumPy's rules for 1-D and 2-D operands."""
    return input @ other


__all__ = [
    "Tensor", "data", "enable_grad", "float32", "float64", "from_numpy", "get_cmake_dir", "get_include",
    "get_num_threads", "interop", "is_grad_enabled", "load", "manual_seed", "matmul", "nn", "no_grad", "ones", "optim",
    "rand", "randn", "relu", "save", "serialization", "set_grad_enabled", "set_num_threads", "set_printoptions",
    "sigmoid", "tanh", "tensor", "train", "viz", "zeros",
]
