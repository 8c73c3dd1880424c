"""densegrad._core dense and activation kernels against the NumPy reference (tests/reference.py):
every activation, with and without bias, many shapes (1, 7, 13, 129, empty batch), both dtypes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import reference as ref
from conftest import assert_close

from densegrad import _core

ACTS = {
    "identity": 0.01,
    "relu": 0.01,
    "leaky_relu": 0.01,
    "sigmoid": 0.01,
    "tanh": 0.01,
}
SHAPES = [(1, 1, 1), (1, 7, 13), (7, 1, 13), (13, 129, 7), (129, 13, 1), (0, 5, 3), (4, 0, 3), (3, 4, 0), (32, 64, 33)]


def _case(rng, batch, nin, nout, dtype):
    x = rng.standard_normal((batch, nin)).astype(dtype)
    w = (rng.standard_normal((nout, nin)) / max(nin, 1) ** 0.5).astype(dtype)
    b = rng.uniform(-1.0, 1.0, nout).astype(dtype)  # signed, non-uniform bias
    return x, w, b


@pytest.mark.parametrize("act,slope", [(a, s) for a, s in ACTS.items()] + [("leaky_relu", 0.3), ("leaky_relu", -0.5)])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
def test_dense_forward_and_backward_match_reference(rng, dtype, act, slope, with_bias):
    kind = getattr(_core.Activation, act)
    for batch, nin, nout in SHAPES:
        x, w, b = _case(rng, batch, nin, nout, dtype)
        bias = b if with_bias else None
        keep = _core.activation_needs_preactivation(kind, slope)
        y, z = _core.dense_forward(x, w, bias, kind, slope, keep)
        y_ref, z_ref = ref.dense_forward(x, w, bias, act, slope)
        what = f"{act}({slope}) batch={batch} in={nin} out={nout}"
        assert_close(y, y_ref, dtype, what="y " + what)
        assert (z is not None) == keep
        if keep:
            assert_close(z, z_ref, dtype, what="z " + what)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx, dw, db = _core.dense_backward(dy, x, w, y, z, kind, slope, True, True, with_bias)
        dx_ref, dw_ref, db_ref = ref.dense_backward(dy, x, w, bias, act, slope)
        assert_close(dx, dx_ref, dtype, what="dx " + what)
        assert_close(dw, dw_ref, dtype, what="dw " + what)
        if with_bias:
            assert_close(db, db_ref, dtype, what="db " + what)
        else:
            assert db is None


def test_dense_backward_skips_what_is_not_asked(rng, dtype):
    x, w, b = _case(rng, 3, 4, 5, dtype)
    y, _ = _core.dense_forward(x, w, b, _core.Activation.tanh)
    dy = np.ones_like(y)
    for need in itertools.product([False, True], repeat=3):
        got = _core.dense_backward(dy, x, w, y, None, _core.Activation.tanh, 0.01, *need)
        assert [g is not None for g in got] == list(need)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activation_kernels_match_reference(rng, dtype, act):
    kind = getattr(_core.Activation, act)
    z = rng.standard_normal((7, 13)).astype(dtype) * 3
    z[0, :3] = 0.0  # exact kinks: relu'(0) = 0, leaky_relu'(0) = slope
    y = _core.activation_forward(z, kind, 0.2)
    assert_close(y, ref.act(act, z, 0.2), dtype)
    dy = rng.standard_normal(z.shape).astype(dtype)
    dz = _core.activation_backward(dy, y, z, kind, 0.2)
    assert_close(dz, dy.astype(np.float64) * ref.act_grad(act, z, 0.2), dtype)


def test_sigmoid_and_tanh_saturate_without_overflow(dtype):
    z = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype)
    y = _core.activation_forward(z, _core.Activation.sigmoid, 0.0)
    assert np.all(np.isfinite(y)) and y[0] == 0.0 and y[-1] == 1.0 and y[3] == 0.5
    t = _core.activation_forward(z, _core.Activation.tanh, 0.0)
    assert t[0] == -1.0 and t[-1] == 1.0


def test_nan_and_inf_propagate_through_dense(dtype):
    x = np.array([[np.nan, 1.0], [np.inf, 0.5], [1.0, 2.0]], dtype)
    w = np.array([[1.0, 2.0], [0.5, -1.0]], dtype)
    b = np.array([0.1, -0.2], dtype)
    for act in ACTS:
        y, _ = _core.dense_forward(x, w, b, getattr(_core.Activation, act), 0.01)
        with np.errstate(all="ignore"):
            y_ref, _ = ref.dense_forward(x, w, b, act)
        assert_close(y, y_ref, dtype, what=act)
