"""GEMM benchmark: densegrad's GEMM (one thread) against NumPy's matmul (OpenBLAS, one thread),
PyTorch's torch.mm (one thread; MKL in the CPU wheel used here) when it is installed, and the naive
gemm_reference, for the three products of a dense layer at the training cases' shapes and for
square products; GFLOP/s and % of the measured single-core peak."""

from __future__ import annotations

import statistics

import numpy as np

import densegrad as dg
from densegrad import _core

from common import peak_probe, table, time_interleaved

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


def run(dtype: str = "float32", repeats: int = 5, quick: bool = False, torch=None) -> dict:
    """The GEMM table; torch (the module, or None to leave it out) adds its columns."""
    threads = dg.get_num_threads()
    torch_threads = torch.get_num_threads() if torch is not None else 0
    dg.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    try:
        return _run(dtype, repeats, quick, torch)
    finally:
        dg.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)


def _check_same_product(fns: dict, label: str) -> None:
    """Every implementation must compute the same product (else its column compares other work):
    each result against densegrad's, to a tolerance for the different summation orders (relative
    to the largest element; a transposed or otherwise different product is off by its order)."""
    ref = np.asarray(fns["densegrad"]())
    tol = 1e-4 if ref.dtype == np.float32 else 1e-12
    for name, f in fns.items():
        out = f()
        out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
        if out.shape != ref.shape or not np.max(np.abs(out - ref)) <= tol * np.max(np.abs(ref)):
            raise AssertionError(f"{label}: {name} computes a different product than densegrad")


def _run(dtype: str, repeats: int, quick: bool, torch=None) -> dict:
    probe, probe_flops = peak_probe(dtype)
    rng = np.random.default_rng(0)
    cases = []
    for label, b, i, o in LAYER_SHAPES[:2] if quick else LAYER_SHAPES:
        for name, m, n, k, ta, tb in products(b, i, o):
            cases.append((f"{label} {name}", m, n, k, ta, tb))
    for s in SQUARES[:1] if quick else SQUARES:
        cases.append((f"square {s}", s, s, s, False, False))
    rows, results, peaks = [], [], []
    for label, m, n, k, ta, tb in cases:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        an = a.T if ta else a
        bn = b.T if tb else b
        fns = {
            "densegrad": lambda: _core.gemm(a, b, trans_a=ta, trans_b=tb),
            "numpy": lambda: an @ bn,
        }
        if torch is not None:  # the transposes as views, as torch.nn.Linear and autograd pass them
            at, bt = torch.from_numpy(a), torch.from_numpy(b)
            at, bt = (at.t() if ta else at), (bt.t() if tb else bt)
            fns["torch"] = lambda: torch.mm(at, bt)
        if m * n * k <= 1 << 21:  # the naive loop is only worth timing on small products
            fns["reference"] = lambda: _core.gemm(a, b, trans_a=ta, trans_b=tb, reference=True)
        _check_same_product(fns, label)
        fns["peak"] = probe  # the FMA loop, timed in the same rounds
        t = time_interleaved(fns, repeats, min_time=0.01 if quick else 0.05)
        peak = probe_flops / t.pop("peak")[0] / 1e9
        peaks.append(peak)
        flops = 2.0 * m * n * k
        g = {name: flops / v[0] / 1e9 for name, v in t.items()}
        rows.append([
            label, f"{m}x{n}x{k}", f"{g['densegrad']:.1f}", f"{100 * g['densegrad'] / peak:.0f}%",
            f"{g['numpy']:.1f}", f"{100 * g['numpy'] / peak:.0f}%", f"{g['densegrad'] / g['numpy']:.2f}",
            f"{g['torch']:.1f}" if "torch" in g else "-", f"{g['densegrad'] / g['torch']:.2f}" if "torch" in g else "-",
            f"{g['reference']:.2f}" if "reference" in g else "-", f"{peak:.1f}",
        ])
        results.append({"case": label, "m": m, "n": n, "k": k, "gflops": g, "peak_gflops": peak,
                        "median_s": {k2: v[0] for k2, v in t.items()}, "pct_peak": 100 * g["densegrad"] / peak})
    text = table(
        ["product", "m x n x k", "densegrad GF/s", "% peak", "numpy GF/s", "numpy % peak", "dg/numpy",
         "torch GF/s", "dg/torch", "reference GF/s", "peak GF/s"],
        rows,
        title=f"GEMM, {dtype}, one thread; medians of {repeats} rounds; % of the single-core peak (an FMA loop with "
              f"the CPU's widest instructions) timed in the same rounds as each product (median over products "
              f"{statistics.median(peaks):.1f} GFLOP/s)",
    )
    return {"dtype": dtype, "peak_gflops": statistics.median(peaks), "cases": results, "text": text}


THREAD_SIZES = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512]


def run_threads(repeats: int = 5, quick: bool = False) -> dict:
    """Where do threads start to pay? Square float32 products timed on one thread and on all,
    with the threshold switched off so even tiny products are split (and the small-product path
    off too: it runs on one thread, so small products would not be split at all)."""
    threads = dg.get_num_threads()
    saved, saved_small = _core.parallel_min_work(), _core.small_max_work()
    rng = np.random.default_rng(0)
    rows, results = [], []
    try:
        _core.set_parallel_min_work(0)
        _core.set_small_max_work(0)
        for s in THREAD_SIZES[::3] if quick else THREAD_SIZES:
            a = rng.standard_normal((s, s)).astype(np.float32)
            b = rng.standard_normal((s, s)).astype(np.float32)
            t = time_interleaved({
                "1": (lambda: dg.set_num_threads(1), lambda: _core.gemm(a, b)),
                "n": (lambda: dg.set_num_threads(threads), lambda: _core.gemm(a, b)),
            }, repeats, min_time=0.01 if quick else 0.05)
            speedup = t["1"][0] / t["n"][0]
            rows.append([f"{s}", f"{s ** 3:,}", f"{t['1'][0] * 1e6:,.1f}", f"{t['n'][0] * 1e6:,.1f}", f"{speedup:.2f}x"])
            results.append({"size": s, "work": s ** 3, "us_1": t["1"][0] * 1e6, "us_n": t["n"][0] * 1e6, "speedup": speedup})
    finally:
        _core.set_parallel_min_work(saved)
        _core.set_small_max_work(saved_small)
        dg.set_num_threads(threads)
    text = table(["m=n=k", "m*n*k", "1 thread us", f"{threads} threads us", "speed-up"], rows,
                 title=f"Threads on square float32 GEMMs (threshold off, all packed); medians of {repeats} rounds; "
                       f"the library splits from m*n*k >= {saved:,}")
    return {"threads": threads, "threshold": saved, "cases": results, "text": text}


# Layer products of the seed, tiny and small cases (label, m, n, k, trans_a, trans_b), squares
# around the unpacked path's break-even, and narrow products (n <= 16: the library runs them
# unpacked at any size on one thread) with one product narrow in k only, which it packs, and the
# forward of a few rows (1-4 rows run the few-rows kernel; 8 rows are packed).
SMALL_PRODUCTS = [
    ("tiny 8->32 forward b1", 1, 32, 8, False, True),
    ("tiny 8->32 forward b16", 16, 32, 8, False, True),
    ("tiny 32->32 forward b16", 16, 32, 32, False, True),
    ("tiny 32->32 dx b16", 16, 32, 32, False, False),
    ("tiny 32->32 dw b16", 32, 32, 16, True, False),
    ("small 64->128 forward b32", 32, 128, 64, False, True),
    ("small 64->128 dw b32", 128, 64, 32, True, False),
    ("small 128->128 dx b32", 32, 128, 128, False, False),
    ("square 32", 32, 32, 32, False, False),
    ("square 48", 48, 48, 48, False, False),
    ("square 64", 64, 64, 64, False, False),
    ("square 96", 96, 96, 96, False, False),
    ("medium 256->10 forward b128", 128, 10, 256, False, True),
    ("1024->10 forward b256", 256, 10, 1024, False, True),
    ("512->1 forward b1024", 1024, 1, 512, False, True),
    ("10->1024 dx b256", 256, 10, 1024, False, False),
    ("10->1024 dw b256", 1024, 10, 256, True, False),
    ("1024->12 dx b1024 (k 12)", 1024, 1024, 12, False, False),
    ("1024->1024 forward b1", 1, 1024, 1024, False, True),
    ("1000->1000 forward b1", 1, 1000, 1000, False, True),
    ("784->256 forward b1", 1, 256, 784, False, True),
    ("784->256 forward b4", 4, 256, 784, False, True),
    ("1024->1024 forward b8 (packed)", 8, 1024, 1024, False, True),
]


def run_small(dtype: str = "float32", repeats: int = 5, quick: bool = False) -> dict:
    """Where does skipping the packing pay? Small and narrow products timed packed and unpacked
    (the AVX2 kernel's path for small products), with the library's limit switched off both ways,
    and as the library runs them. The forward of 1-4 rows into more than 16 outputs takes the
    few-rows path in both the unpacked and the library columns (the limit does not decide it)."""
    threads, saved = dg.get_num_threads(), _core.small_max_work()
    rng = np.random.default_rng(0)
    rows, results = [], []
    dg.set_num_threads(1)
    try:
        for label, m, n, k, ta, tb in SMALL_PRODUCTS[::4] if quick else SMALL_PRODUCTS:
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)

            def f(a=a, b=b, ta=ta, tb=tb):
                return _core.gemm(a, b, trans_a=ta, trans_b=tb)

            t = time_interleaved({
                "packed": (lambda: _core.set_small_max_work(0), f),
                "unpacked": (lambda: _core.set_small_max_work(2**62), f),
                "library": (lambda: _core.set_small_max_work(saved), f),
            }, repeats, min_time=0.01 if quick else 0.05)
            speedup = t["packed"][0] / t["unpacked"][0]
            rows.append([label, f"{m}x{n}x{k}", f"{m * n * k:,}", f"{t['packed'][0] * 1e6:,.2f}",
                         f"{t['unpacked'][0] * 1e6:,.2f}", f"{speedup:.2f}x", f"{t['library'][0] * 1e6:,.2f}",
                         f"{t['packed'][0] / t['library'][0]:.2f}x"])
            results.append({"case": label, "m": m, "n": n, "k": k, "work": m * n * k, "us_packed": t["packed"][0] * 1e6,
                            "us_unpacked": t["unpacked"][0] * 1e6, "speedup": speedup,
                            "us_library": t["library"][0] * 1e6})
    finally:
        _core.set_small_max_work(saved)
        dg.set_num_threads(threads)
    kernel = _core.gemm_kernel()
    note = "" if kernel in ("avx2-fma", "avx512") else f" (kernel {kernel}: no unpacked path, both columns are packed)"
    text = table(["product", "m x n x k", "m*n*k", "packed us", "unpacked us", "unpacked speed-up", "library us",
                  "library speed-up"], rows,
                 title=f"Small and narrow {dtype} products, one thread, through _core.gemm (~1 us of call overhead "
                       f"each); medians of {repeats} rounds; the library runs unpacked up to m*n*k <= {saved:,}, products with n <= 16 on one "
                       f"thread at any size, and the forward (B transposed) of 1-4 rows into n > 16 with its "
                       f"few-rows kernel ('library': what it runs by default){note}")
    return {"dtype": dtype, "limit": saved, "cases": results, "text": text}
