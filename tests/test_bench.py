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
    assert data["environment"]["densegrad_kernel"] in ("avx2-fma", "generic")
    train = data["train"][0]
    assert train["peak_gflops"] > 0
    assert [c["case"] for c in train["cases"]] == ["seed 1-2-2-1 b1", "tiny 8-32-32-1 b1", "tiny 8-32-32-1 b16"]
    for case in train["cases"]:
        assert set(case["us_per_step"]) >= {"dg fused", "dg autograd", "numpy"}
        assert all(v > 0 for v in case["us_per_step"].values())
    gemm = data["gemm"][0]["cases"]
    assert gemm and all(c["gflops"]["densegrad"] > 0 and c["gflops"]["numpy"] > 0 for c in gemm)
    # % of peak divides by the FMA loop timed in the same rounds as the case (its own figure)
    for c in gemm + train["cases"]:
        assert c["peak_gflops"] > 0
    assert all(abs(c["pct_peak"] - c["gflops"]["densegrad"] / c["peak_gflops"]) < 1e-12 for c in gemm)
    assert all(abs(c["fused_pct_peak"] - c["fused_gflops"] / c["peak_gflops"]) < 1e-12 for c in train["cases"])
    assert "peak" not in gemm[0]["gflops"] and "peak" not in train["cases"][0]["us_per_step"]
    small = data["small"][0]
    assert small["limit"] > 0 and small["cases"]
    assert all(c["us_packed"] > 0 and c["us_unpacked"] > 0 for c in small["cases"])


def test_bench_help_lists_its_options():
    r = subprocess.run([sys.executable, "-m", "densegrad", "bench", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--quick" in r.stdout and "--json" in r.stdout


def test_bench_restores_the_thread_count():
    import sys as _sys
    from pathlib import Path

    import densegrad as dg

    bench_dir = Path(__file__).resolve().parents[1] / "bench"
    _sys.path.insert(0, str(bench_dir))
    try:
        import bench_gemm
    finally:
        _sys.path.remove(str(bench_dir))
    saved = dg.get_num_threads()
    try:
        dg.set_num_threads(2)
        bench_gemm.run("float32", repeats=1, quick=True)
        assert dg.get_num_threads() == 2
    finally:
        dg.set_num_threads(saved)


def test_threads_table_restores_the_kernel_limits():
    """The threads table switches the split threshold and the small-product path off while it
    runs; both (and the thread count) must be back afterwards."""
    import sys as _sys
    from pathlib import Path

    import densegrad as dg
    from densegrad import _core

    bench_dir = Path(__file__).resolve().parents[1] / "bench"
    _sys.path.insert(0, str(bench_dir))
    try:
        import bench_gemm
    finally:
        _sys.path.remove(str(bench_dir))
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
