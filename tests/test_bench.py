"""The benchmark suite runs end to end as a user runs it (a smoke test: nothing here asserts a
speed; speed claims live in bench/README.md with the command that reproduces them)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_quick_runs_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [sys.executable, "-m", "densegrad", "bench", "--quick", "--no-torch", "--dtype", "float32", "--repeats", "1",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "Training step" in r.stdout and "GEMM, float32" in r.stdout
    assert "OpenBLAS pinned to 1 thread" in r.stdout
    data = json.loads(out.read_text())
    assert data["environment"]["densegrad_kernel"] in ("avx512", "avx2-fma", "generic")
    train = data["train"][0]
    assert train["peak_gflops"] > 0
    assert [c["case"] for c in train["cases"]] == ["seed 1-2-2-1 b1", "tiny 8-32-32-1 b1", "tiny 8-32-32-1 b16"]
    for case in train["cases"]:
        assert set(case["us_per_step"]) >= {"dg fused", "dg autograd", "numpy"}
        assert all(v > 0 for v in case["us_per_step"].values())
    gemm = data["gemm"][0]["cases"]
    assert gemm and all(c["gflops"]["densegrad"] > 0 and c["gflops"]["numpy"] > 0 for c in gemm)
    assert all(c["peak_gflops"] > 0 for c in gemm + train["cases"])
    small = data["small"][0]
    assert small["limit"] > 0 and small["cases"]
    assert all(c["us_packed"] > 0 and c["us_unpacked"] > 0 and c["us_library"] > 0 for c in small["cases"])
    assert "Optimizer updates, float32" in r.stdout
    optim = data["optim"][0]["cases"]
    assert [(c["optimizer"], c["n"]) for c in optim] == [("sgd", 4096), ("adam", 4096), ("sgd", 65536), ("adam", 65536)]
    assert all(c["us"]["dg 1t"] > 0 and c["us"]["numpy"] > 0 and c["vs_numpy"] > 0 for c in optim)
    # vs torch compares the two optimizers' step() calls: dg.optim's is timed too
    assert all(c["us"]["dg.optim 1t"] > 0 for c in optim)


def test_bench_cases_are_checked_and_kept_with_quick():
    """--quick ignored --cases, and an unknown case crashed with UnboundLocalError."""
    r = subprocess.run([sys.executable, "-m", "densegrad", "bench", "--only", "train", "--cases", "Medium"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--cases: unknown Medium (the cases are seed,tiny,small,medium,large)" in r.stderr
    bench_train = _bench_module("bench_train")
    out = bench_train.run("float32", repeats=1, quick=True, only=["small"])
    assert [c["case"] for c in out["cases"]] == ["small 64-128-128-1 b32"]


def test_bench_help_lists_its_options():
    r = subprocess.run([sys.executable, "-m", "densegrad", "bench", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--quick" in r.stdout and "--json" in r.stdout


def _bench_module(name):
    import importlib
    import sys as _sys
    from pathlib import Path

    bench_dir = Path(__file__).resolve().parents[1] / "bench"
    _sys.path.insert(0, str(bench_dir))
    try:
        return importlib.import_module(name)
    finally:
        _sys.path.remove(str(bench_dir))


def test_bench_restores_the_thread_count():
    import densegrad as dg

    bench_gemm = _bench_module("bench_gemm")
    saved = dg.get_num_threads()
    try:
        dg.set_num_threads(2)
        bench_gemm.run("float32", repeats=1, quick=True)
        assert dg.get_num_threads() == 2
    finally:
        dg.set_num_threads(saved)


def test_gemm_table_compares_torch_on_one_thread_and_restores_its_threads():
    import pytest
    import torch

    bench_gemm = _bench_module("bench_gemm")
    saved = torch.get_num_threads()
    seen = []
    real_mm = torch.mm
    try:
        torch.set_num_threads(2)
        torch.mm = lambda *a: (seen.append(torch.get_num_threads()), real_mm(*a))[1]
        out = bench_gemm.run("float32", repeats=1, quick=True, torch=torch)
        assert torch.get_num_threads() == 2
    finally:
        torch.mm = real_mm
        torch.set_num_threads(saved)
    assert seen and set(seen) == {1}  # torch timed on one thread, as densegrad and NumPy are
    assert all(c["gflops"]["torch"] > 0 for c in out["cases"])
    header = out["text"].splitlines()[1]
    assert "torch GF/s" in header and "dg/torch" in header
    # and the table checks the product it times: a torch.mm that computed another one stops it
    try:
        torch.mm = lambda x, y: real_mm(x, y) * 1.01
        with pytest.raises(AssertionError, match="torch computes a different product than densegrad"):
            bench_gemm.run("float32", repeats=1, quick=True, torch=torch)
    finally:
        torch.mm = real_mm
        torch.set_num_threads(saved)


def test_gemm_table_refuses_a_baseline_that_computes_another_product():
    """A column must time the same product as densegrad's (e.g. not forget a transpose)."""
    import numpy as np
    import pytest

    bench_gemm = _bench_module("bench_gemm")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 48, 48)).astype(np.float32)
    right = {"densegrad": lambda: a @ b, "numpy": lambda: a @ b, "torch": lambda: (a.astype(np.float64) @ b)}
    bench_gemm._check_same_product(right, "square 48")  # summation order and precision may differ
    for wrong in (lambda: a.T @ b, lambda: a @ b.T, lambda: (a @ b)[:, :47]):
        with pytest.raises(AssertionError, match="square 48: torch computes a different product"):
            bench_gemm._check_same_product({"densegrad": lambda: a @ b, "torch": wrong}, "square 48")


def test_threads_table_restores_the_kernel_limits():
    """The threads table switches the split threshold and the small-product path off while it
    runs; both (and the thread count) must be back afterwards."""
    import densegrad as dg
    from densegrad import _core

    bench_gemm = _bench_module("bench_gemm")
    saved = dg.get_num_threads(), _core.parallel_min_work(), _core.small_max_work()
    try:
        dg.set_num_threads(2)
        _core.set_parallel_min_work(12345)
        _core.set_small_max_work(678)
        out = bench_gemm.run_threads(repeats=1, quick=True)
        assert out["threshold"] == 12345 and len(out["cases"]) == len(bench_gemm.THREAD_SIZES[::3])
        assert (dg.get_num_threads(), _core.parallel_min_work(), _core.small_max_work()) == (2, 12345, 678)
    finally:
        dg.set_num_threads(saved[0])
        _core.set_parallel_min_work(saved[1])
        _core.set_small_max_work(saved[2])


def test_percent_of_peak_uses_the_fma_loop_timed_in_the_same_rounds(monkeypatch):
    """'% peak' divides each case's median by the median of the FMA loop timed in the same
    rounds: checked with a fake timer that gives every implementation fixed times, the peak
    probe its own per case, so the arithmetic is exact and no timing is involved."""
    import statistics

    common, bench_gemm, bench_train = (_bench_module(n) for n in ("common", "bench_gemm", "bench_train"))
    probe, probe_flops = common.peak_probe("float32", seconds=1e-4)
    assert probe()[1] == probe_flops > 0  # the flops it reports are those of the loop it runs

    times = [1e-3 * (1 + 7 * i % 10) for i in range(10)]  # one per case (7 GEMM, 3 train), all distinct
    probe_times = iter(times)

    def fake_timer(fns, repeats, **kw):
        out = {name: (1e-3 * (i + 1), 1e-4, 1e-2) for i, name in enumerate(fns) if name != "peak"}
        if "peak" in fns:
            t = next(probe_times)
            out["peak"] = (t, t / 2, t * 2)
        return out

    for mod in (bench_gemm, bench_train):
        monkeypatch.setattr(mod, "time_interleaved", fake_timer)
        monkeypatch.setattr(mod, "peak_probe", lambda dtype: (probe, probe_flops))
    gemm = bench_gemm.run("float32", repeats=1, quick=True)
    train = bench_train.run("float32", repeats=1, quick=True)
    peaks = []
    for case in gemm["cases"]:
        peak = probe_flops / case["peak_gflops"] / 1e9  # the probe's median seconds
        assert case["pct_peak"] == 100 * case["gflops"]["densegrad"] / case["peak_gflops"]  # a percentage, as printed
        assert case["gflops"]["densegrad"] == 2.0 * case["m"] * case["n"] * case["k"] / 1e-3 / 1e9
        assert "peak" not in case["gflops"] and "peak" not in case["median_s"]
        peaks.append(peak)
    for case in train["cases"]:
        peaks.append(probe_flops / case["peak_gflops"] / 1e9)
        assert case["fused_pct_peak"] == 100 * case["fused_gflops"] / case["peak_gflops"]
        assert not {"peak"} & (set(case["us_per_step"]) | set(case["min_us"]) | set(case["max_us"]))
        assert "peak" not in train["text"].splitlines()[1].replace("% peak", "")
    # each case divided by its own probe median, in order, and the summary is their median
    assert len(peaks) == len(times) and all(abs(p - t) < 1e-15 for p, t in zip(peaks, times))
    assert gemm["peak_gflops"] == statistics.median(c["peak_gflops"] for c in gemm["cases"])
    assert train["peak_gflops"] == statistics.median(c["peak_gflops"] for c in train["cases"])


def test_numpy_steps_do_the_same_maths_as_densegrad():
    """The bench's NumPy baseline computes the same training step as densegrad's fused step, for
    both optimizers (otherwise the 'vs numpy' columns compare different work)."""
    import numpy as np

    import densegrad as dg

    bench_train = _bench_module("bench_train")
    rng = np.random.default_rng(3)
    sizes, batch = (8, 32, 32, 3), 16
    x = rng.standard_normal((batch, sizes[0]))
    y = rng.standard_normal((batch, sizes[-1]))
    for optimizer, opt_cls in (("sgd", dg.optim.SGD), ("adam", dg.optim.Adam)):
        model = bench_train._dg_model(sizes, "float64")
        params = [(w.detach().numpy().copy(), b.detach().numpy().copy())
                  for w, b in zip(list(model.parameters())[::2], list(model.parameters())[1::2])]
        start = [w.copy() for w, _ in params]
        trainer = dg.train.Trainer(model, opt_cls(model.parameters(), lr=bench_train.LR))
        update = None if optimizer == "sgd" else bench_train._NumpyAdam(params)
        for _ in range(3):
            loss = trainer.step(x, y)
            # the loss value too: every other side computes it (it was left out of NumPy's step)
            np_loss = bench_train._numpy_step(params, x, y, update)
            np.testing.assert_allclose(np_loss, loss, rtol=1e-12)
        got = [(w.detach().numpy(), b.detach().numpy())
               for w, b in zip(list(model.parameters())[::2], list(model.parameters())[1::2])]
        for (w, b), (nw, nb), w0 in zip(got, params, start):
            assert not np.array_equal(w, w0)
            np.testing.assert_allclose(nw, w, rtol=1e-9, atol=1e-12, err_msg=optimizer)
            np.testing.assert_allclose(nb, b, rtol=1e-9, atol=1e-12, err_msg=optimizer)


def test_train_table_runs_with_adam():
    bench_train = _bench_module("bench_train")
    out = bench_train.run("float32", repeats=1, quick=True, optimizer="adam")
    assert out["optimizer"] == "adam" and "backward + Adam)" in out["text"]
    assert all(c["us_per_step"]["dg fused"] > 0 and c["us_per_step"]["numpy"] > 0 for c in out["cases"])


def test_numpy_adam_baselines_stay_in_float32():
    """A float32 NumPy baseline must compute in float32: a float64 scalar (np.sqrt of a Python
    float is one) silently promotes every temporary to float64 and slows the baseline down."""
    import numpy as np

    seen = set()

    class Spy(np.ndarray):
        def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
            plain = [np.asarray(a) if isinstance(a, Spy) else a for a in inputs]
            if out is not None:
                kwargs["out"] = tuple(np.asarray(o) if isinstance(o, Spy) else o for o in out)
            result = getattr(ufunc, method)(*plain, **kwargs)
            seen.add(np.asarray(result).dtype)
            return out[0] if out is not None else np.asarray(result).view(Spy)

    rng = np.random.default_rng(0)
    arrays = lambda *shape: rng.standard_normal(shape).astype(np.float32).view(Spy)  # noqa: E731
    bench_optim = _bench_module("bench_optim")
    bench_optim._numpy_adam(arrays(64), arrays(64), arrays(64) ** 2, arrays(64) ** 2, 3)
    w, b = arrays(4, 5), arrays(4)
    bench_train = _bench_module("bench_train")
    adam = bench_train._NumpyAdam([(w, b)])
    adam(0, w, arrays(4, 5), b, arrays(4))
    adam(0, w, arrays(4, 5), b, arrays(4))
    assert seen == {np.dtype(np.float32)}


def test_train_table_pairs_the_torch_ratio_round_by_round(monkeypatch):
    """Besides the ratio of the two medians, the training table reports fused vs torch taken
    within each round (both timed in it): checked with a fake timer whose rounds make the two
    differ, so the pairing, the spread and the printed line are exact."""
    import torch

    bench_train = _bench_module("bench_train")
    slow = [2e-3, 4e-3, 3e-3]  # torch's rounds
    fused = [1e-3, 4e-3, 1.5e-3]  # rounds 2x, 1x, 2x
    fused_alt = [1e-3, 1.5e-3, 4e-3]  # rounds 2x, 2.67x, 0.75x: the same medians (3 / 1.5), other pairs

    calls = iter([fused, fused_alt, fused])

    def fake_timer(fns, repeats, rounds=None, **kw):
        f = next(calls)
        per = {name: [1e-3] * 3 for name in fns}
        per["torch"], per["dg fused"] = slow, f
        if rounds is not None:
            rounds.update(per)
        return {name: (sorted(v)[1], min(v), max(v)) for name, v in per.items()}

    monkeypatch.setattr(bench_train, "time_interleaved", fake_timer)
    out = bench_train.run("float32", repeats=3, quick=True, torch=torch)
    got = [c["fused_vs_torch_rounds"] for c in out["cases"]]
    assert got[0] == {"median": 2.0, "min": 1.0, "max": 2.0}
    assert got[1] == {"median": 2.0, "min": 0.75, "max": 4 / 1.5}
    assert "fused vs torch round by round" in out["text"]
    assert "seed 1-2-2-1 b1: 1.00x-2.00x (median 2.00x)" in out["text"]


def test_optim_table_splits_every_size_in_its_threads_column(monkeypatch):
    """The all-threads column switches the optimizers' size threshold off (below it an update runs
    on one thread, and the column compared one thread with one thread), the one-thread columns
    keep it, and the setting is restored."""
    import densegrad as dg
    from densegrad import _core

    bench_optim = _bench_module("bench_optim")
    seen = {}

    def fake_timer(fns, repeats, **kw):
        for name, f in fns.items():
            if isinstance(f, tuple):
                f[0]()
                seen[name] = (dg.get_num_threads(), _core.optim_parallel_min())
        return {name: (1e-5, 1e-5, 1e-5) for name in fns}

    monkeypatch.setattr(bench_optim, "time_interleaved", fake_timer)
    saved = dg.get_num_threads()
    try:
        dg.set_num_threads(2)
        out = bench_optim.run("float32", repeats=1, quick=True)
        assert seen["dg 2t"] == (2, 0) and seen["dg 1t"] == (1, -1) and seen["dg.optim 1t"] == (1, -1)
        assert "threshold off" in out["text"]
        assert (dg.get_num_threads(), _core.optim_parallel_min()) == (2, -1)
    finally:
        dg.set_num_threads(saved)


def test_bench_main_restarts_with_the_arguments_it_was_given():
    """run.main(argv) called from other code (here `python -c`) restarts itself to pin OpenBLAS:
    it restarted with sys.argv (['-c']), and the new interpreter failed on "-c"."""
    from pathlib import Path

    import os

    bench_dir = Path(__file__).resolve().parents[1] / "bench"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}  # so that it restarts
    code = (f"import sys; sys.path.insert(0, {str(bench_dir)!r}); import run; "
            "sys.exit(run.main(['--quick', '--no-torch', '--only', 'optim', '--dtype', 'float32', '--repeats', '1']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "OpenBLAS pinned to 1 thread" in r.stdout and "Optimizer updates, float32" in r.stdout


def test_bench_reports_openblas_variables_it_could_not_remove(monkeypatch):
    """When NumPy was imported before the bench ran, the variables that slow OpenBLAS stay in
    effect: the header and the JSON say so (a stand-in variable here; the real ones are never
    changed by the tests)."""
    common = _bench_module("common")
    monkeypatch.setattr(common, "OPENBLAS_VARS", ("DENSEGRAD_TEST_STANDIN_VAR",))
    monkeypatch.setenv("DENSEGRAD_TEST_STANDIN_VAR", "Haswell")
    env = common.environment()
    assert env["openblas_vars_set"] == ["DENSEGRAD_TEST_STANDIN_VAR"] and env["openblas_vars_unset"] == []
    assert isinstance(env["openblas_pinned"], bool)
