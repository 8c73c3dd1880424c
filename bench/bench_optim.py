"""Optimizer-update benchmark: one SGD or Adam update of a parameter array of n elements: the
kernel densegrad's optimizers and fused step call (``_core.sgd_step`` / ``_core.adam_step``), on
one thread and on all of densegrad's threads; ``dg.optim``'s ``step()`` as users call it (one
thread); ``torch.optim``'s ``step()`` (one thread); and the same update written with NumPy.
Medians over interleaved rounds, microseconds per update. 'vs torch' compares the two
optimizers' ``step()`` calls, so it includes densegrad's Python layer as torch's includes its own.

The updates are elementwise, so their cost is memory traffic (SGD) or the square root and
division of every element (Adam); densegrad splits an update over its threads from a size up
(see optim.cpp). The all-threads column switches that size off (``_core.set_optim_parallel_min(0)``)
so that every row compares one thread with all of them: this table is where that size was measured.
"""

from __future__ import annotations

import math

import numpy as np

import densegrad as dg
from densegrad import _core

from common import table, time_interleaved

SIZES = [4_096, 65_536, 262_144, 1_048_576, 3_145_728]  # the last: the large case's three weights
LR = 1e-3


def _numpy_sgd(p, g):
    p -= LR * g


def _numpy_adam(p, g, m, v, step):
    b1, b2, eps = 0.9, 0.999, 1e-8
    m *= b1
    m += (1 - b1) * g
    v *= b2
    v += (1 - b2) * g * g
    # math.sqrt: a NumPy float64 scalar here would promote float32 arrays to float64.
    denom = np.sqrt(v) / math.sqrt(1 - b2**step) + eps
    p -= (LR / (1 - b1**step)) * (m / denom)


def run(dtype: str = "float32", repeats: int = 5, quick: bool = False, torch=None) -> dict:
    threads = dg.get_num_threads()
    torch_threads = torch.get_num_threads() if torch is not None else 0
    split_from = _core.optim_parallel_min()
    try:
        return _run(dtype, repeats, quick, torch, threads, split_from)
    finally:
        dg.set_num_threads(threads)
        _core.set_optim_parallel_min(split_from)
        if torch is not None:
            torch.set_num_threads(torch_threads)


def _run(dtype, repeats, quick, torch, threads, split_from) -> dict:
    rng = np.random.default_rng(0)

    def one():
        dg.set_num_threads(1)
        _core.set_optim_parallel_min(split_from)

    def all_threads():  # split at every size
        dg.set_num_threads(threads)
        _core.set_optim_parallel_min(0)

    results, rows = [], []
    for n in SIZES[:2] if quick else SIZES:
        p = rng.standard_normal(n).astype(dtype)
        g = (rng.standard_normal(n) * 1e-3).astype(dtype)
        m, v = np.zeros_like(p), np.zeros_like(p)
        step = [0]

        def adam(p=p, g=g, m=m, v=v, step=step):
            step[0] += 1
            _core.adam_step(p, g, m, v, None, step=step[0], lr=LR)

        for opt in ("sgd", "adam"):
            dg_fn = (lambda p=p, g=g: _core.sgd_step(p, g, None, lr=LR)) if opt == "sgd" else adam
            fns = {"dg 1t": (one, dg_fn)}
            if threads > 1:
                fns[f"dg {threads}t"] = (all_threads, dg_fn)
            dp = dg.nn.Parameter(dg.from_numpy(p.copy()))
            dp.grad = dg.from_numpy(g.copy())
            dopt = dg.optim.SGD([dp], lr=LR) if opt == "sgd" else dg.optim.Adam([dp], lr=LR)
            fns["dg.optim 1t"] = (one, dopt.step)
            if torch is not None:
                tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
                tp.grad = torch.from_numpy(g.copy())
                topt = torch.optim.SGD([tp], lr=LR) if opt == "sgd" else torch.optim.Adam([tp], lr=LR)
                fns["torch"] = (lambda: torch.set_num_threads(1), topt.step)
            np_p, np_m, np_v, np_step = p.copy(), np.zeros_like(p), np.zeros_like(p), [0]

            def np_fn(opt=opt, np_p=np_p, np_m=np_m, np_v=np_v, np_step=np_step):
                if opt == "sgd":
                    _numpy_sgd(np_p, g)
                else:
                    np_step[0] += 1
                    _numpy_adam(np_p, g, np_m, np_v, np_step[0])

            fns["numpy"] = np_fn
            t = time_interleaved(fns, repeats, min_time=0.01)
            us = {k: v[0] * 1e6 for k, v in t.items()}
            res = {"optimizer": opt, "n": n, "us": us}
            row = [opt, f"{n:,}"] + [f"{us[k]:,.1f}" for k in fns]
            if threads > 1:
                res["threads_speedup"] = us["dg 1t"] / us[f"dg {threads}t"]
                row.append(f"{res['threads_speedup']:.2f}x")
            if torch is not None:
                res["vs_torch"] = us["torch"] / us["dg.optim 1t"]
                row.append(f"{res['vs_torch']:.2f}x")
            res["vs_numpy"] = us["numpy"] / us["dg 1t"]
            row.append(f"{res['vs_numpy']:.2f}x")
            results.append(res)
            rows.append(row)
    headers = ["update", "n", "dg 1t us"] + ([f"dg {threads}t us"] if threads > 1 else []) + ["dg.optim 1t us"]
    headers += (["torch us"] if torch is not None else []) + ["numpy us"]
    headers += ([f"{threads}t speed-up"] if threads > 1 else []) + (["vs torch"] if torch is not None else [])
    headers += ["vs numpy"]
    title = (f"Optimizer updates, {dtype}: one update of n parameters (SGD lr {LR}; Adam defaults); medians of "
             f"{repeats} rounds; 'dg' = the C++ kernel"
             + (f" ('dg {threads}t': split over {threads} threads at every size, the library's size threshold off)"
                if threads > 1 else "")
             + ", 'dg.optim' = densegrad's optimizer step(); 'vs torch' = "
             "torch.optim's step() over dg.optim's, 'vs numpy' = NumPy over the kernel (higher is better)")
    return {"dtype": dtype, "threads": threads, "cases": results, "text": table(headers, rows, title)}
