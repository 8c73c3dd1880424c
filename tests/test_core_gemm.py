"""densegrad._core.gemm (the fast path) and gemm(reference=True) (the naive oracle) against
NumPy, over every transpose case and sizes around the edges."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import reference as ref
from conftest import assert_close

from densegrad import _core

SIZES = [0, 1, 2, 7, 13, 129]


def _operands(rng, m, n, k, ta, tb, dtype):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
def test_gemm_matches_numpy(rng, dtype, ta, tb, reference):
    for m, n, k in itertools.product(SIZES, SIZES, SIZES):
        if reference and m * n * k > 13 * 13 * 129:
            continue  # the naive loop is slow in float64; its large shapes add nothing
        a, b = _operands(rng, m, n, k, ta, tb, dtype)
        c = _core.gemm(a, b, trans_a=ta, trans_b=tb, reference=reference)
        assert c.dtype == dtype and c.shape == (m, n)
        a64 = (a.T if ta else a).astype(np.float64)
        b64 = (b.T if tb else b).astype(np.float64)
        assert_close(c, a64 @ b64, dtype, what=f"gemm m={m} n={n} k={k} ta={ta} tb={tb}")


def test_reference_gemm_matches_triple_loop(rng, dtype):
    a = rng.standard_normal((5, 7)).astype(dtype)
    b = rng.standard_normal((7, 3)).astype(dtype)
    assert_close(_core.gemm(a, b, reference=True), ref.matmul(a, b), dtype)


def test_gemm_k_zero_gives_zeros_not_garbage(dtype):
    c = _core.gemm(np.ones((4, 0), dtype), np.ones((0, 5), dtype))
    assert np.array_equal(c, np.zeros((4, 5)))


def test_gemm_propagates_nan_and_inf(dtype):
    a = np.array([[1.0, np.nan], [2.0, 3.0], [np.inf, 1.0]], dtype)
    b = np.array([[1.0, 0.5], [2.0, -1.0]], dtype)
    with np.errstate(all="ignore"):
        expected = a.astype(np.float64) @ b.astype(np.float64)
    assert_close(_core.gemm(a, b), expected, dtype)
