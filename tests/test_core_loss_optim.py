"""densegrad._core MSE and optimizer kernels against the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import assert_close

from densegrad import _core

RED = {"mean": _core.Reduction.mean, "sum": _core.Reduction.sum, "none": _core.Reduction.none}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(1,), (7,), (13, 1), (129, 7), (0,), (3, 0)])
def test_mse_matches_reference(rng, dtype, reduction, shape):
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.standard_normal(shape).astype(dtype)
    out = _core.mse_forward(x, t, RED[reduction])
    assert_close(out, ref.mse(x, t, reduction), dtype)
    dout = rng.standard_normal(shape).astype(dtype) if reduction == "none" else np.array(0.7, dtype)
    d = _core.mse_backward(dout, x, t, RED[reduction])
    assert_close(d, ref.mse_grad(x, t, reduction, dout), dtype)


def test_mse_mean_of_nothing_is_nan(dtype):
    out = _core.mse_forward(np.zeros(0, dtype), np.zeros(0, dtype), _core.Reduction.mean)
    assert out.shape == () and np.isnan(out)


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.1, momentum=0.5, weight_decay=0.1, nesterov=True, maximize=True),
]


@pytest.mark.parametrize("opts", SGD_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_steps_match_reference(rng, dtype, opts):
    p0 = rng.standard_normal(37).astype(dtype)
    grads = [rng.standard_normal(37).astype(dtype) for _ in range(4)]
    p = p0.copy()
    buf = np.empty_like(p) if opts.get("momentum") else None
    for i, g in enumerate(grads):
        _core.sgd_step(p, g, buf, first_step=(i == 0), **opts)
    assert_close(p, ref.sgd(p0, grads, **opts), dtype)


ADAM_CASES = [
    dict(),
    dict(lr=0.01, beta1=0.8, beta2=0.99),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, maximize=True, eps=1e-6),
]


@pytest.mark.parametrize("opts", ADAM_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_adam_steps_match_reference(rng, dtype, opts):
    p0 = rng.standard_normal(41).astype(dtype)
    grads = [rng.standard_normal(41).astype(dtype) for _ in range(5)]
    p = p0.copy()
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for step, g in enumerate(grads, start=1):
        _core.adam_step(p, g, m, v, vmax if opts.get("amsgrad") else None, step=step, **opts)
    kw = dict(opts)
    betas = (kw.pop("beta1", 0.9), kw.pop("beta2", 0.999))
    # Adam divides by sqrt(v) + eps: float32 rounding of sqrt(v) is amplified where v is small,
    # so float32 gets 1e-4 here (five steps of 1e-3 lr move p by ~5e-3; 1e-4 of |p| still
    # catches any wrong term).
    rtol = 1e-4 if dtype == np.float32 else None
    assert_close(p, ref.adam(p0, grads, betas=betas, **kw), dtype, rtol=rtol)
