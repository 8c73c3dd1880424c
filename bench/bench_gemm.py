"""GEMM benchmark: densegrad's GEMM (one thread) against NumPy's matmul (OpenBLAS, one thread)
and the naive gemm_reference, for the three products of a dense layer at the training cases'
shapes and for square products; GFLOP/s and % of the measured single-core peak."""

from __future__ import annotations

import numpy as np

import densegrad as dg
from densegrad import _core

from common import measure_peak, table, time_interleaved

# (label, batch, in, out) of the layers in bench_train's cases (distinct ones).
LAYER_SHAPES = [
    ("small 64->128", 32, 64, 128),
    ("small 128->128", 32, 128, 128),
    ("medium 784->256", 128, 784, 256),
    ("medium 256->256", 128, 256, 256),
    ("large 1024->1024", 256, 1024, 1024),
]
SQUARES = [256, 512, 1024, 2048]


def products(batch: int, nin: int, nout: int):
    """The three GEMMs of a dense layer as (name, m, n, k, trans_a, trans_b)."""
    return [
        ("forward x w^T", batch, nout, nin, False, True),
        ("dx = dz w", batch, nin, nout, False, False),
        ("dw = dz^T x", nout, nin, batch, True, False),
    ]


def run(dtype: str = "float32", repeats: int = 5, quick: bool = False) -> dict:
    dg.set_num_threads(1)
    peak = measure_peak(dtype)
    rng = np.random.default_rng(0)
    cases = []
    for label, b, i, o in LAYER_SHAPES[:2] if quick else LAYER_SHAPES:
        for name, m, n, k, ta, tb in products(b, i, o):
            cases.append((f"{label} {name}", m, n, k, ta, tb))
    for s in SQUARES[:1] if quick else SQUARES:
        cases.append((f"square {s}", s, s, s, False, False))
    rows, results = [], []
    for label, m, n, k, ta, tb in cases:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        an = a.T if ta else a
        bn = b.T if tb else b
        fns = {
            "densegrad": lambda: _core.gemm(a, b, trans_a=ta, trans_b=tb),
            "numpy": lambda: an @ bn,
        }
        if m * n * k <= 1 << 21:  # the naive loop is only worth timing on small products
            fns["reference"] = lambda: _core.gemm(a, b, trans_a=ta, trans_b=tb, reference=True)
        t = time_interleaved(fns, repeats, min_time=0.01 if quick else 0.05)
        flops = 2.0 * m * n * k
        g = {name: flops / v[0] / 1e9 for name, v in t.items()}
        rows.append([
            label, f"{m}x{n}x{k}", f"{g['densegrad']:.1f}", f"{100 * g['densegrad'] / peak:.0f}%",
            f"{g['numpy']:.1f}", f"{g['densegrad'] / g['numpy']:.2f}",
            f"{g['reference']:.2f}" if "reference" in g else "-",
        ])
        results.append({"case": label, "m": m, "n": n, "k": k, "gflops": g,
                        "median_s": {k2: v[0] for k2, v in t.items()}, "pct_peak": g["densegrad"] / peak})
    text = table(
        ["product", "m x n x k", "densegrad GF/s", "% peak", "numpy GF/s", "dg/numpy", "reference GF/s"],
        rows,
        title=f"GEMM, {dtype}, one thread (measured peak {peak:.1f} GFLOP/s per core)",
    )
    return {"dtype": dtype, "peak_gflops": peak, "cases": results, "text": text}
