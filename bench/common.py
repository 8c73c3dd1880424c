"""Shared benchmark helpers: a timer (warm-up, repeats, median and spread), the machine's peak
(an FMA loop, timed next to the implementations it is compared with), and an environment report.

Each measurement is a median over repeats, and every comparison is made in the same run, with
the implementations interleaved repeat by repeat so that load from other processes hits all of
them alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

# NumPy's OpenBLAS reads these at import; they slow it down on this machine kind. run.py (and
# `python -m densegrad bench`) starts the benchmarks with both removed and says so.
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def median_spread(samples: list[float]) -> tuple[float, float, float]:
    s = sorted(samples)
    return statistics.median(s), s[0], s[-1]


def time_interleaved(fns: dict, repeats: int, min_time: float = 0.02, warmup: int = 2,
                     rounds: dict | None = None) -> dict:
    """Seconds per call of each implementation: (median, min, max) over `repeats` rounds.

    fns maps a name to a callable, or to (setup, callable) where setup runs before each timed
    block (e.g. to set a thread count). Each round times every implementation in turn, each over
    enough calls to last about `min_time` (calibrated once after warm-up). A dict passed as
    `rounds` receives each implementation's seconds per call round by round, for ratios paired
    within a round (see paired_ratios).
    """
    plan = {}
    for name, f in fns.items():
        setup, fn = f if isinstance(f, tuple) else (None, f)
        if setup:
            setup()
        for _ in range(warmup):
            fn()
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - t0 >= min_time or n >= 1 << 16:
                break
            n *= 2
        plan[name] = (setup, fn, n)
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (setup, fn, n) in plan.items():
            if setup:
                setup()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    if rounds is not None:
        rounds.update(samples)
    return {name: median_spread(s) for name, s in samples.items()}


def paired_ratios(rounds: dict, slow: str, fast: str) -> tuple[float, float, float]:
    """(median, min, max) over the rounds of rounds[slow][i] / rounds[fast][i]: a speed-up taken
    within each round, so a change of the machine's speed between rounds moves both timings."""
    return median_spread([a / b for a, b in zip(rounds[slow], rounds[fast])])


def peak_probe(dtype: str = "float32", seconds: float = 0.002):
    """(callable, flops per call): one run of the FMA loop lasting about `seconds` (with the
    widest instruction set the CPU has, whichever kernel densegrad runs), to be timed
    with time_interleaved next to the implementations it is compared with. A "% of peak" then
    divides two medians taken in the same rounds: a peak measured once, at a slow moment of
    this shared machine, once made products read 116-129% of it."""
    from densegrad import _core

    f32 = dtype == "float32"
    iters = 100_000
    _core.fma_loop(f32, iters)
    t0 = time.perf_counter()
    _core.fma_loop(f32, iters)
    dt = max(time.perf_counter() - t0, 1e-6)
    iters = max(1_000, int(iters * seconds / dt))
    _, flops = _core.fma_loop(f32, iters)
    return (lambda: _core.fma_loop(f32, iters)), flops


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(torch=None) -> dict:
    import numpy as np

    import densegrad

    env = {
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "densegrad": densegrad.__version__,
        "densegrad_kernel": densegrad._core.gemm_kernel(),
        "densegrad_threads": densegrad.get_num_threads(),
        # removed by run.py's restart, and still in effect (NumPy imported before run.py could act)
        "openblas_vars_unset": [v for v in OPENBLAS_VARS if os.environ.get("DENSEGRAD_BENCH_UNSET_" + v)],
        "openblas_vars_set": [v for v in OPENBLAS_VARS if v in os.environ],
        "openblas_pinned": os.environ.get("OPENBLAS_NUM_THREADS") == "1",
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_default_threads"] = torch.get_num_threads()
    return env


def table(headers: list[str], rows: list[list], title: str = "") -> str:
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else f"{c}" for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [title] if title else []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if k else c.rjust(w) for c, w in zip(r, widths)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
