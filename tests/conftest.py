"""Shared test fixtures: a seeded generator, the dtype parameter, the one tolerance table, and
the compare helper every numerical test uses."""

from __future__ import annotations

import numpy as np
import pytest

SEED = 20261126

# The one tolerance table. rtol is relative to each expected element; atol is rtol times the
# largest |expected| (so elements that cancel to ~0 are judged on the scale of the whole result).
# float32: sums of up to a few hundred products accumulate ~1e-6 relative error; 1e-5 leaves
# margin without hiding a wrong formula. float64: the same reasoning at 2^-52.
TOL = {
    np.dtype(np.float32): 1e-5,
    np.dtype(np.float64): 1e-12,
}


@pytest.fixture
def rng(request):
    """A generator seeded from SEED and the test's name: reproducible, different per test."""
    name = request.node.nodeid
    return np.random.default_rng([SEED, sum(name.encode())])


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


def assert_close(actual, expected, dtype=None, rtol=None, what=""):
    """Assert two arrays agree: same shape, identical NaN/+Inf/-Inf pattern, then closeness.

    On failure the message says what makemore's cmp says: whether they are exactly equal, the
    worst absolute and relative error and where it occurs, and the shapes.
    """
    a = np.asarray(getattr(actual, "_data", actual))
    e = np.asarray(getattr(expected, "_data", expected))
    label = f"{what}: " if what else ""
    assert a.shape == e.shape, f"{label}shape {a.shape} != expected {e.shape}"
    dt = np.dtype(dtype) if dtype is not None else (a.dtype if a.dtype in TOL else np.dtype(np.float64))
    if rtol is None:
        rtol = TOL[dt]
    # at least 1-D so 0-d results index like the rest
    a64, e64 = np.atleast_1d(a.astype(np.float64)), np.atleast_1d(e.astype(np.float64))
    for name, mask_fn in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        ma, me = mask_fn(a64), mask_fn(e64)
        if not np.array_equal(ma, me):
            idx = np.argwhere(ma != me)[0]
            raise AssertionError(f"{label}{name} pattern differs first at {tuple(idx)}: actual {a64[tuple(idx)]}, expected {e64[tuple(idx)]}")
    finite = np.isfinite(e64)
    if not finite.any():
        return
    scale = np.abs(e64[finite]).max()
    with np.errstate(invalid="ignore"):  # inf - inf at matching non-finite entries
        diff = np.abs(a64 - e64)
    diff[~finite] = 0.0
    bound = rtol * scale + rtol * np.abs(e64)
    bound[~finite] = np.inf
    if np.all(diff <= bound):
        return
    i = np.unravel_index(np.argmax(diff - bound), diff.shape)
    rel = diff / np.maximum(np.abs(e64), np.finfo(np.float64).tiny)
    raise AssertionError(
        f"{label}not close (rtol {rtol:g}, dtype {dt}, shape {a.shape}, exactly equal: {np.array_equal(a64, e64)}): "
        f"worst abs err {diff.max():.3e} at {np.unravel_index(np.argmax(diff), diff.shape)}, "
        f"worst rel err {rel[finite].max():.3e}; at {tuple(int(v) for v in i)} actual {a64[i]!r} expected {e64[i]!r} "
        f"(seed {SEED})"
    )
