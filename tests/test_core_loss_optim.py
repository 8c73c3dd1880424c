"""densegrad._core MSE and optimizer kernels against the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from conftest import assert_close

import densegrad as dg
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
    dict(lr=0.01, beta1=0.3),  # 1 - beta1 >= 0.5: the other form of torch's lerp
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


# Above the sizes from which an update is split over threads (2^21 for SGD; for Adam 2^19 float32
# at most: see optim.cpp), and not a multiple of the 64-byte pieces, so the split has a ragged end.
LARGE = {"sgd": (1 << 21) + 1001, "adam": (1 << 19) + 1001}


@pytest.fixture
def threads():
    """Sets densegrad's thread count for a test and restores it afterwards."""
    saved = dg.get_num_threads()
    yield dg.set_num_threads
    dg.set_num_threads(saved)


def _sgd_run(p0, grads, opts):
    p = p0.copy()
    buf = np.empty_like(p) if opts.get("momentum") else None
    for i, g in enumerate(grads):
        _core.sgd_step(p, g, buf, first_step=(i == 0), **opts)
    return p, buf


def _adam_run(p0, grads, opts):
    p = p0.copy()
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for step, g in enumerate(grads, start=1):
        _core.adam_step(p, g, m, v, vmax if opts.get("amsgrad") else None, step=step, **opts)
    return p, m, v, vmax


@pytest.mark.parametrize(
    "kind,opts",
    [("sgd", o) for o in SGD_CASES] + [("adam", o) for o in ADAM_CASES],
    ids=lambda x: x if isinstance(x, str) else ",".join(f"{k}={v}" for k, v in x.items()) or "default",
)
def test_large_updates_match_reference_and_are_bitwise_independent_of_threads(rng, dtype, threads, kind, opts):
    """The vectorised loops, split over threads for large arrays: every thread count gives
    the same bits (the updates are elementwise), and the result matches the NumPy reference."""
    p0 = rng.standard_normal(LARGE[kind]).astype(dtype)
    grads = [rng.standard_normal(LARGE[kind]).astype(dtype) for _ in range(3)]
    run = _sgd_run if kind == "sgd" else _adam_run
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(run(p0, grads, opts))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert (a is None and b is None) or np.array_equal(a, b)
    if kind == "sgd":
        expected = ref.sgd(p0, grads, **opts)
        rtol = None
    else:
        kw = dict(opts)
        betas = (kw.pop("beta1", 0.9), kw.pop("beta2", 0.999))
        expected = ref.adam(p0, grads, betas=betas, **kw)
        rtol = 1e-4 if dtype == np.float32 else None  # see test_adam_steps_match_reference
    assert_close(results[0][0], expected, dtype, rtol=rtol)


@pytest.mark.parametrize("size", [5, LARGE["adam"]])
def test_adam_amsgrad_propagates_nan_like_torch(dtype, threads, size):
    """torch.maximum propagates NaN where std::max would not: a NaN in the running maximum or in
    the gradient makes that parameter NaN, in the vectorised loop as in torch; the others move."""
    import torch

    threads(2)
    p = np.linspace(-1, 1, size).astype(dtype)
    g = np.full(size, 0.5, dtype)
    g[1] = np.nan
    vmax = np.zeros(size, dtype)
    vmax[3] = np.nan
    m, v = np.zeros(size, dtype), np.zeros(size, dtype)
    tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
    topt = torch.optim.Adam([tp], lr=0.01, amsgrad=True)
    tp.grad = torch.from_numpy(g.copy())
    topt.step()  # creates its state; then plant the NaN in max_exp_avg_sq as in ours, and redo
    tp.data = torch.from_numpy(p.copy())
    st = topt.state[tp]
    st["step"].zero_()
    for key in ("exp_avg", "exp_avg_sq"):
        st[key].zero_()
    st["max_exp_avg_sq"].copy_(torch.from_numpy(vmax))
    topt.step()
    _core.adam_step(p, g, m, v, vmax, step=1, lr=0.01, amsgrad=True)
    assert np.isnan(p[1]) and np.isnan(p[3]) and np.isfinite(np.delete(p, [1, 3])).all()
    assert_close(p, tp.detach().numpy(), dtype)
    assert_close(vmax, st["max_exp_avg_sq"].numpy(), dtype)
