"""densegrad's global random number generator (NumPy's PCG64), seeded by ``manual_seed``.

densegrad draws from the same distributions as PyTorch (e.g. ``nn.Linear``'s initialisation)
but not the same numbers: PyTorch's generator is not reproduced.
"""

from __future__ import annotations

import numpy as np

from ._typename import typename as _typename

# Created on first use: importing numpy.random costs more than the rest of densegrad's import.
_generator = None


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the global generator; returns it (PyTorch returns its generator too)."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expects an int, got {_typename(seed)}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The global generator used by initialisers and random factories."""
    global _generator
    if _generator is None:
        _generator = np.random.default_rng()
    return _generator
