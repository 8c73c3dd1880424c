"""Memory: long training runs keep the process's resident memory flat, and the bindings keep no
stray Python references or Python-visible allocations.

RSS is read from /proc/self/statm (Linux). Each RSS test warms up first (workspaces, the thread
pool, NumPy's and the allocator's caches), then measures the growth over a long run against a
tolerance far below what a leak of even a few bytes per step would add up to -- a size, not a
time. These tests are marked `rss`; tests/sanitize.sh deselects them, because ASan's shadow
memory and free-quarantine grow RSS by design (LeakSanitizer covers the C++ side there).
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest

import densegrad as dg
from densegrad import _core

MiB = 1 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _flat(run, warmup_calls, calls, tolerance, what):
    """RSS growth over `calls` calls of run(), after `warmup_calls` of warm-up."""
    for _ in range(warmup_calls):
        run()
    gc.collect()
    before = rss_bytes()
    for _ in range(calls):
        run()
    gc.collect()
    grown = rss_bytes() - before
    assert grown <= tolerance, (
        f"{what}: RSS grew by {grown / MiB:.2f} MiB over {calls} calls (tolerance {tolerance / MiB:.2f} MiB, "
        f"i.e. {tolerance / calls:.1f} bytes per call)"
    )
    return grown


# 100,000 small steps: a leak of 16 bytes per step would add 1.5 MiB.
@pytest.mark.rss
def test_100k_small_fused_steps_keep_rss_flat(rng):
    model = dg.nn.Sequential(dg.nn.Linear(4, 8), dg.nn.Tanh(), dg.nn.Linear(8, 1))
    trainer = dg.train.Trainer(model, dg.optim.Adam(model.parameters(), lr=1e-3))
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    _flat(lambda: trainer.step(x, y), 5_000, 100_000, 1 * MiB, "small fused steps (4-8-1, batch 8)")
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())


# 10,000 small autograd steps (the Python tape: graph nodes, saved tensors, fresh gradients).
@pytest.mark.rss
def test_10k_small_autograd_steps_keep_rss_flat(rng):
    model = dg.nn.Sequential(dg.nn.Linear(4, 8), dg.nn.ReLU(), dg.nn.Linear(8, 1))
    opt = dg.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = dg.nn.MSELoss()
    x = dg.from_numpy(rng.standard_normal((8, 4)).astype(np.float32))
    y = dg.from_numpy(rng.standard_normal((8, 1)).astype(np.float32))

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    _flat(step, 1_000, 10_000, 1 * MiB, "small autograd steps")


# 1,000 large steps: activations, gradients and workspaces are 128-256 KiB each, so leaking any
# one of them per step would add 128 MiB or more (every buffer is written, so it is resident).
# Every product of the step (2^23 multiply-adds) is split over 2 threads, so the pool and its
# workers' packing buffers are in the loop too.
@pytest.mark.rss
@pytest.mark.parametrize("path", ["fused", "autograd"])
def test_1000_large_steps_keep_rss_flat(rng, path):
    assert 256 * 256 * 128 >= _core.parallel_min_work()
    model = dg.nn.Sequential(dg.nn.Linear(128, 256), dg.nn.ReLU(), dg.nn.Linear(256, 128))
    opt = dg.optim.Adam(model.parameters(), lr=1e-4)
    x = rng.standard_normal((256, 128)).astype(np.float32)
    y = rng.standard_normal((256, 128)).astype(np.float32)
    if path == "fused":
        trainer = dg.train.Trainer(model, opt)

        def step():
            trainer.step(x, y)
    else:
        loss_fn = dg.nn.MSELoss()
        xt, yt = dg.from_numpy(x), dg.from_numpy(y)

        def step():
            opt.zero_grad()
            loss_fn(model(xt), yt).backward()
            opt.step()

    saved = dg.get_num_threads()
    dg.set_num_threads(2)
    try:
        _flat(step, 50, 1_000, 8 * MiB, f"large {path} steps (128-256-128, batch 256, 2 threads)")
    finally:
        dg.set_num_threads(saved)


@pytest.mark.rss
def test_rss_tolerance_catches_a_leak():
    """Negative control: the same measurement sees a leak of 64 bytes per call."""
    kept = []
    with pytest.raises(AssertionError, match="RSS grew"):
        _flat(lambda: kept.append(bytearray(64)), 1_000, 100_000, 1 * MiB, "deliberate leak")
    assert len(kept) == 101_000


# ---- Python references and allocations around the bindings -------------------------------------

def _calls(rng):
    """(name, call, arrays it was given) for every _core entry point, on success and error paths."""
    f = np.float32
    x = rng.standard_normal((6, 5)).astype(f)
    w = rng.standard_normal((4, 5)).astype(f)
    b = rng.standard_normal(4).astype(f)
    y, zz = _core.dense_forward(x, w, b, _core.Activation.leaky_relu, -0.1, True)
    dy = np.ones_like(y)
    p, g, m, v = (rng.standard_normal(7).astype(f) for _ in range(4))
    v = np.abs(v)
    bad = np.zeros((3, 3), f)
    layers = [(w, b, _core.Activation.tanh, 0.0), (np.ones((2, 4), f), None, _core.Activation.identity, 0.0)]
    acts, pres = _core.mlp_forward(x, layers)
    A = _core.Activation
    return [
        ("gemm", lambda: _core.gemm(x, w, trans_b=True), [x, w]),
        ("gemm error", lambda: _core.gemm(x, bad), [x, bad]),
        ("dense_forward", lambda: _core.dense_forward(x, w, b, A.relu, 0.0, True), [x, w, b]),
        ("dense_forward error", lambda: _core.dense_forward(x, bad, b), [x, bad, b]),
        ("dense_backward", lambda: _core.dense_backward(dy, x, w, y, zz, A.leaky_relu, -0.1), [dy, x, w, y, zz]),
        ("dense_backward error", lambda: _core.dense_backward(bad, x, w, y, zz, A.leaky_relu, -0.1), [bad, x, w, y, zz]),
        ("activation_forward", lambda: _core.activation_forward(x, A.sigmoid), [x]),
        ("activation_backward", lambda: _core.activation_backward(dy, y, zz, A.leaky_relu, -0.1), [dy, y, zz]),
        ("mse_forward", lambda: _core.mse_forward(x, x), [x]),
        ("mse_backward", lambda: _core.mse_backward(np.ones((), f), x, x), [x]),
        ("mse error", lambda: _core.mse_forward(x, w), [x, w]),
        ("sgd_step", lambda: _core.sgd_step(p, g, m, 1e-3, 0.9), [p, g, m]),
        ("sgd_step error", lambda: _core.sgd_step(p, p, None, 1e-3), [p]),
        ("adam_step", lambda: _core.adam_step(p, g, m, v, None, 3), [p, g, m, v]),
        ("mlp_forward", lambda: _core.mlp_forward(x, layers), [x, w, b]),
        ("mlp_backward", lambda: _core.mlp_backward(np.ones((6, 2), f), x, layers, acts, pres, True), [x, w, b] + list(acts)),
        ("mlp error", lambda: _core.mlp_forward(bad, layers), [bad, w, b]),
        ("type error", lambda: _core.gemm([[1.0]], x), [x]),
    ]


def test_bindings_keep_no_references(rng):
    """sys.getrefcount of every operand is unchanged after 1,000 calls (success and error
    paths), and results are owned by the caller alone."""
    for name, call, arrays in _calls(rng):
        before = [sys.getrefcount(a) for a in arrays]
        for _ in range(1_000):
            try:
                out = call()
            except (ValueError, TypeError):
                out = None
        if isinstance(out, np.ndarray):
            assert sys.getrefcount(out) == 2, f"{name}: result has extra references"
        elif isinstance(out, tuple):
            for o in out:
                if isinstance(o, np.ndarray):
                    # the tuple's slot, the loop variable, getrefcount's argument
                    assert sys.getrefcount(o) == 3, f"{name}: a returned array has extra references"
        del out
        after = [sys.getrefcount(a) for a in arrays]
        assert after == before, f"{name}: operand reference counts changed {before} -> {after}"


def test_fused_network_holds_its_buffers_only_while_alive(rng):
    model = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.ReLU(), dg.nn.Linear(4, 2))
    opt = dg.optim.Adam(model.parameters(), lr=1e-3)
    w = model[0].weight._data
    base = sys.getrefcount(w)
    trainer = dg.train.Trainer(model, opt)
    assert sys.getrefcount(w) == base + 2  # the Trainer's watch list and the C++ network
    x, y = np.ones((5, 3), np.float32), np.ones((5, 2), np.float32)
    for _ in range(1_000):
        trainer.step(x, y)
    assert sys.getrefcount(w) == base + 2
    xr, yr = sys.getrefcount(x), sys.getrefcount(y)
    assert (xr, yr) == (sys.getrefcount(x), sys.getrefcount(y))
    del trainer
    gc.collect()
    assert sys.getrefcount(w) == base


def test_bindings_do_not_grow_traced_python_memory(rng):
    """tracemalloc (which also sees NumPy's array buffers) around 2,000 calls of every entry point."""
    calls = _calls(rng)

    def run_all():
        for _, call, _ in calls:
            try:
                call()
            except (ValueError, TypeError):
                pass

    for _ in range(100):
        run_all()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(100):
            run_all()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2_000):
            run_all()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 16_384, f"traced Python memory grew by {after - before} bytes over 2,000 rounds"
