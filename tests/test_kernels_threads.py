"""The fast GEMM's micro-kernels (AVX-512, AVX2+FMA and the portable one) across every blocking edge,
thread-count independence of results, and the thread controls."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_close

import densegrad as dg
from densegrad import _core

KERNELS = ["generic"] + [k for k in ("avx2-fma", "avx512") if _core.set_gemm_kernel(k)]
_core.set_gemm_kernel("auto")
# Every code path of the fast GEMM: each micro-kernel packed (small_max_work 0), and the
# unpacked path for small products (AVX2 and AVX-512 kernels, both with the AVX2 small tile;
# AVX-512 only where it rounds as its own packed tile) forced on every shape.
PATHS = [(k, "packed") for k in KERNELS] + [(k, "unpacked") for k in KERNELS if k != "generic"]


@pytest.fixture(params=PATHS, ids=[f"{k}-{p}" for k, p in PATHS])
def kernel(request):
    name, path = request.param
    saved = _core.small_max_work()
    assert _core.set_gemm_kernel(name)
    assert _core.gemm_kernel() == name
    _core.set_small_max_work(0 if path == "packed" else 2**62)
    yield name
    _core.set_gemm_kernel("auto")
    _core.set_small_max_work(saved)


# Sizes around the register tiles (6 x 16 / 4 x 8 / 8 x 32 floats), the cache blocks (mc
# 120/128, kc 256 split into balanced blocks) and the thread split.
EDGE_M = [5, 6, 7, 9, 119, 121, 129, 241]
EDGE_N = [15, 16, 17, 31, 33]
EDGE_K = [7, 8, 255, 257, 513]


def test_edge_sweeps_stay_on_one_thread():
    """tests/sanitize.sh leaves the two edge sweeps out of its ThreadSanitizer run because all
    their products run on one thread; keep them below the threading threshold."""
    assert max(EDGE_M) * max(EDGE_N) * max(EDGE_K) < _core.parallel_min_work()


def _check_gemm_shapes(rng, dtype, kernel, ta, tb, shapes):
    for m, n, k in shapes:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        c = _core.gemm(a, b, trans_a=ta, trans_b=tb)
        ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
        assert_close(c, ref, dtype, what=f"{kernel} m={m} n={n} k={k} ta={ta} tb={tb}")


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_gemm_block_edges(rng, dtype, kernel, ta, tb):
    _check_gemm_shapes(rng, dtype, kernel, ta, tb, itertools.product(EDGE_M, EDGE_N, EDGE_K))


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_gemm_second_column_block(rng, dtype, kernel, ta, tb):
    """n past every kernel's column block (nc 1024-3072), with k blocks of 16 steps and more
    (packing copies 16 at a time) and ragged edges: the packers' column offset j0 > 0."""
    _check_gemm_shapes(rng, dtype, kernel, ta, tb, ((9, 3100, 40), (13, 3077, 300)))


@pytest.mark.skipif(not {"avx2-fma", "avx512"} <= set(KERNELS), reason="needs a CPU with AVX-512")
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_avx512_is_bitwise_avx2(rng, dtype, ta, tb):
    """The AVX-512 kernel sums every element in the AVX2 kernel's order (one fused multiply-add
    per k, k ascending, the same k blocks), so with alpha 1 -- every product the library makes --
    the two give the same bits, packed or not, whatever the tile edges."""
    saved = _core.small_max_work()
    try:
        for m, n, k in itertools.product(EDGE_M, EDGE_N, EDGE_K):
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            out = {}
            for kernel in ("avx2-fma", "avx512"):
                assert _core.set_gemm_kernel(kernel)
                for limit in (0, 2**62):
                    _core.set_small_max_work(limit)
                    out[kernel, limit] = _core.gemm(a, b, trans_a=ta, trans_b=tb)
            ref = out["avx2-fma", 0]
            for key, c in out.items():
                assert np.array_equal(c, ref), f"{key} m={m} n={n} k={k}"
    finally:
        _core.set_gemm_kernel("auto")
        _core.set_small_max_work(saved)


@pytest.mark.parametrize("name", [k for k in KERNELS if k != "generic"])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False)])
def test_narrow_products_run_unpacked_with_the_packed_bits(rng, dtype, name, ta, tb):
    """Products with n <= 16 run unpacked at any size on one thread (they are faster so); they
    must give bitwise what the packed path gives (small_max_work 0), and the reference's values.
    3000 x 10 x 300 is past the threading threshold: packed and split on 2 threads, unpacked on
    one. n 17 stays packed. (Which path each takes: test_unpacked_routing in cpp/tests/test_core.cpp.)"""
    saved = dg.get_num_threads(), _core.small_max_work()
    assert _core.set_gemm_kernel(name)
    try:
        for m, n, k in [(1000, 1, 300), (200, 10, 257), (7, 16, 2000), (3000, 10, 300), (129, 17, 300)]:
            assert m * n * k > _core.small_max_work()
            assert (m * n * k >= _core.parallel_min_work()) == (m == 3000)
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            out = {}
            for threads, limit in [(1, saved[1]), (2, saved[1]), (1, 0)]:
                dg.set_num_threads(threads)
                _core.set_small_max_work(limit)
                out[threads, limit] = _core.gemm(a, b, trans_a=ta, trans_b=tb)
            ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
            assert_close(out[1, 0], ref, dtype, what=f"{name} m={m} n={n} k={k}")
            for key, c in out.items():
                assert np.array_equal(c, out[1, 0]), f"{name} {key} m={m} n={n} k={k} ta={ta} tb={tb}"
    finally:
        _core.set_gemm_kernel("auto")
        dg.set_num_threads(saved[0])
        _core.set_small_max_work(saved[1])


@pytest.mark.parametrize("name", [k for k in KERNELS if k != "generic"])
def test_few_rows_forward_has_the_packed_bits(rng, dtype, name):
    """The dense forward of 1-4 rows into more than 16 outputs reads the weights in place
    (rows_tb): bitwise what the packed path gives, threads on or off, and the reference's values;
    a predicted row is the same alone or in a batch of 256. (Which path runs: test_unpacked_routing
    in cpp/tests/test_core.cpp.)"""
    saved = dg.get_num_threads(), _core.small_max_work()
    assert _core.set_gemm_kernel(name)
    try:
        # (40, 1024): float rows 4 KB apart, which the AVX-512 kernel hands to the AVX2 one
        for n, k in [(32, 8), (17, 40), (1000, 257), (33, 4001), (300, 1000), (3000, 1000), (40, 1024)]:
            x = rng.standard_normal((256, k)).astype(dtype)
            w = rng.standard_normal((n, k)).astype(dtype)
            b = rng.standard_normal(n).astype(dtype)
            _core.set_small_max_work(0)
            full, _ = _core.dense_forward(x, w, b, _core.Activation.relu)
            _core.set_small_max_work(saved[1])
            for m in (1, 2, 3, 4):
                ref = x[:m].astype(np.float64) @ w.T.astype(np.float64)
                for threads in (1, 2):
                    dg.set_num_threads(threads)
                    c = _core.gemm(x[:m], w, trans_b=True)
                    assert_close(c, ref, dtype, what=f"{name} m={m} n={n} k={k}")
                    _core.set_small_max_work(0)
                    assert np.array_equal(c, _core.gemm(x[:m], w, trans_b=True)), (name, m, n, k, threads)
                    _core.set_small_max_work(saved[1])
                    y, _ = _core.dense_forward(x[:m], w, b, _core.Activation.relu)
                    assert np.array_equal(y, full[:m]), (name, m, n, k, threads)
    finally:
        _core.set_gemm_kernel("auto")
        dg.set_num_threads(saved[0])
        _core.set_small_max_work(saved[1])


def test_a_row_does_not_depend_on_the_rows_around_it(rng, dtype):
    """Predicting one row alone or within a batch gives bitwise the same output: the unpacked
    path for small products sums and rounds exactly as the packed path (256 rows here are packed
    by default, the first few rows alone are not)."""
    x = rng.standard_normal((256, 33)).astype(dtype)
    w = rng.standard_normal((17, 33)).astype(dtype)
    b = rng.standard_normal(17).astype(dtype)
    full, _ = _core.dense_forward(x, w, b, _core.Activation.relu)
    assert 256 * 17 * 33 > _core.small_max_work() >= 7 * 17 * 33
    for rows in (1, 2, 3, 5, 6, 7):
        part, _ = _core.dense_forward(x[:rows], w, b, _core.Activation.relu)
        assert np.array_equal(part, full[:rows]), rows
    dz = rng.standard_normal((256, 17)).astype(dtype)  # and dx = dz w, the other product per row
    assert np.array_equal(_core.gemm(dz[:3], w), _core.gemm(dz, w)[:3])


def test_dense_layer_on_both_kernels_agrees(rng, dtype, kernel):
    x = rng.standard_normal((37, 129)).astype(dtype)
    w = rng.standard_normal((65, 129)).astype(dtype)
    b = rng.standard_normal(65).astype(dtype)
    y, _ = _core.dense_forward(x, w, b, _core.Activation.tanh)
    assert_close(y, np.tanh(x.astype(np.float64) @ w.T.astype(np.float64) + b), dtype)


def test_results_do_not_depend_on_the_thread_count(rng):
    saved = dg.get_num_threads()
    try:
        a = rng.standard_normal((300, 260)).astype(np.float32)  # big enough to use threads
        b = rng.standard_normal((260, 280)).astype(np.float32)
        assert 300 * 280 * 260 >= _core.parallel_min_work()
        out = []
        for n in (1, 2, 3):
            dg.set_num_threads(n)
            out.append(_core.gemm(a, b))
        assert all(np.array_equal(out[0], o) for o in out[1:])
        # and a fused training step, threads or not, is bitwise the same
        losses = []
        for n in (1, 2):
            dg.set_num_threads(n)
            dg.manual_seed(1)
            model = dg.nn.Sequential(dg.nn.Linear(260, 300), dg.nn.ReLU(), dg.nn.Linear(300, 280))
            tr = dg.train.Trainer(model, dg.optim.SGD(model.parameters(), lr=1e-3))
            target = np.ones((300, 280), np.float32)
            losses.append([tr.step(a, target) for _ in range(3)] + [p.detach().numpy().copy() for p in model.parameters()])
        assert losses[0][:3] == losses[1][:3]
        assert all(np.array_equal(p, q) for p, q in zip(losses[0][3:], losses[1][3:]))
    finally:
        dg.set_num_threads(saved)


def test_thread_controls():
    saved = dg.get_num_threads()
    try:
        dg.set_num_threads(3)
        assert dg.get_num_threads() == 3
        with pytest.raises(ValueError, match="n >= 1"):
            dg.set_num_threads(0)
        with pytest.raises(TypeError):
            dg.set_num_threads(1.5)
        assert dg.get_num_threads() == 3
    finally:
        dg.set_num_threads(saved)


def _start(**env_vars):
    code = "import densegrad as dg; print(dg.get_num_threads(), dg._core.gemm_kernel())"
    env = dict(os.environ, **env_vars)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)


def test_environment_selects_threads_and_kernel():
    out = _start(DENSEGRAD_NUM_THREADS="1", DENSEGRAD_KERNEL="generic")
    assert out.stdout.split() == ["1", "generic"]
    assert out.stderr == ""
    best = KERNELS[-1]
    assert _start(DENSEGRAD_KERNEL="auto").stdout.split()[1] == best
    assert _start(DENSEGRAD_KERNEL="avx512").stdout.split()[1] == best  # a cap: the best up to it
    if "avx2-fma" in KERNELS:  # caps an AVX-512 CPU at AVX2
        assert _start(DENSEGRAD_KERNEL="avx2-fma").stdout.split()[1] == "avx2-fma"


@pytest.mark.parametrize("var,value", [("DENSEGRAD_KERNEL", "avx2"), ("DENSEGRAD_KERNEL", "AVX512"),
                                       ("DENSEGRAD_NUM_THREADS", "two"), ("DENSEGRAD_NUM_THREADS", "0"),
                                       # atoi() read these as 1 and 1,215,752,191 threads, silently
                                       ("DENSEGRAD_NUM_THREADS", "4294967297"),
                                       ("DENSEGRAD_NUM_THREADS", "99999999999"),
                                       ("DENSEGRAD_NUM_THREADS", "1025"), ("DENSEGRAD_NUM_THREADS", "3x"),
                                       ("DENSEGRAD_NUM_THREADS", "\uff13")])  # a full-width 3: no ASCII digit
def test_an_ignored_environment_value_warns(var, value):
    out = _start(**{var: value})
    assert f"RuntimeWarning: {var}={value!r}" in out.stderr
    threads, kernel = out.stdout.split()
    assert kernel == KERNELS[-1] and int(threads) == (os.cpu_count() or 1)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts the process's threads in /proc")
def test_a_region_runs_on_at_most_64_threads():
    """set_num_threads(2000) once made one SGD update of 2^21 parameters start 2000 threads."""
    saved = dg.get_num_threads()
    before = len(os.listdir("/proc/self/task"))
    p = np.zeros(1 << 21, np.float32)
    g = np.ones_like(p)
    try:
        dg.set_num_threads(300)
        _core.sgd_step(p, g, None, 0.5, 0.0, 0.0, 0.0, False, False, False)
    finally:
        dg.set_num_threads(saved)
    assert (p == -0.5).all()
    assert len(os.listdir("/proc/self/task")) <= before + 63


@pytest.mark.vmlimit
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc/self")
def test_threads_the_system_refuses_run_their_parts_on_the_caller():
    """Under an address-space limit that leaves no room for more thread stacks, a region runs
    its parts on the calling thread (same results); it once failed with "Resource temporarily
    unavailable"."""
    code = (
        "import os, resource, numpy as np, densegrad as dg\n"
        "from densegrad import _core\n"
        "vm = int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE')\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + (150 << 20), resource.getrlimit(resource.RLIMIT_AS)[1]))\n"
        "p = np.zeros(1 << 21, np.float32); g = np.ones_like(p)\n"
        "dg.set_num_threads(64)\n"
        "_core.sgd_step(p, g, None, 0.5, 0.0, 0.0, 0.0, False, False, False)\n"
        "print(int((p == -0.5).all()), len(os.listdir('/proc/self/task')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    done, threads = map(int, r.stdout.split())
    assert done == 1 and threads < 65


def test_environment_thread_count_may_have_spaces_and_a_sign():
    assert _start(DENSEGRAD_NUM_THREADS=" +3 ").stdout.split()[0] == "3"
    assert _start(DENSEGRAD_NUM_THREADS="1024").stdout.split()[0] == "1024"


def test_fma_loop_reports_its_flops():
    value, flops = _core.fma_loop(True, 1000)
    assert np.isfinite(value) and flops > 0
    assert _core.fma_loop(True, 2000)[1] == 2 * flops


def test_fma_loop_measures_the_machine_whatever_the_kernel():
    """The benchmarks' peak is the CPU's: the loop runs the widest instructions the CPU has, not
    the selected kernel's (under DENSEGRAD_KERNEL=generic the generic loop made products read
    134-169% of "peak"). Its flop count tells which loop ran: 12 chains of 16 or 8 float lanes
    (AVX-512, AVX2) or the portable loop's 48 floats; half as many doubles."""
    saved = _core.gemm_kernel()
    try:
        widest = (12 * 16 * 2 if _core.set_gemm_kernel("avx512") else 12 * 8 * 2 if _core.set_gemm_kernel("avx2-fma")
                  else 48 * 2)
        for kernel in ("generic", "avx2-fma", "avx512"):
            if _core.set_gemm_kernel(kernel):
                assert _core.fma_loop(True, 100)[1] == 100 * widest, kernel
                assert _core.fma_loop(False, 100)[1] == 100 * widest / 2, kernel
    finally:
        assert _core.set_gemm_kernel(saved)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_split_threshold_changes_no_bits(dtype, optimizer):
    """_core.set_optim_parallel_min (the benchmarks switch the size threshold off to measure it)
    is honoured by every update entry point (_core.parallel_regions counts the split calls), a
    split update gives the bits of one thread, and the setting comes back to the defaults (-1)."""
    rng = np.random.default_rng(5)
    n = 4_099  # not a multiple of the pieces' 64-byte boundaries
    p0 = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    saved = (dg.get_num_threads(), _core.optim_parallel_min())
    assert saved[1] == -1

    def update(threads, split_from):
        dg.set_num_threads(threads)
        _core.set_optim_parallel_min(split_from)
        p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for step in (1, 2, 3):
            if optimizer == "sgd":
                _core.sgd_step(p, g, m, 0.1, 0.9, 0.0, 0.01, False, False, step == 1)
            else:
                _core.adam_step(p, g, m, v, None, step=step, lr=0.01)
        return p, m, v

    try:
        before = _core.parallel_regions()
        alone = update(1, -1)
        assert _core.parallel_regions() == before  # one thread: nothing split
        dg.set_num_threads(2)
        update(2, -1)
        assert _core.parallel_regions() == before  # 4,099 elements: under the measured sizes
        split = update(2, 0)
        assert _core.parallel_regions() == before + 3  # the override honoured: each update split
        for a, b in zip(alone, split):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(alone[0], p0)
        # the batched entry points (one call for a whole parameter group) take it too
        p, m, v, before = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), _core.parallel_regions()
        if optimizer == "sgd":
            _core.sgd_step_many([p], [g], [m], [True], 0.1, 0.9, 0.0, 0.01, False, False)
        else:
            _core.adam_step_many([p], [g], [m], [v], None, [1], 0.01, 0.9, 0.999, 1e-8, 0.0, False, False)
        assert _core.parallel_regions() == before + 1
        with pytest.raises(ValueError, match="optim_parallel_min must be >= -1"):
            _core.set_optim_parallel_min(-2)
    finally:
        dg.set_num_threads(saved[0])
        _core.set_optim_parallel_min(saved[1])
    assert _core.optim_parallel_min() == -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad,maximize,weight_decay,beta1",
                         list(itertools.product([False, True], [False, True], [0.0, 0.05], [0.9, 0.3])))
def test_adam_update_has_the_same_bits_under_every_kernel(dtype, amsgrad, maximize, weight_decay, beta1):
    """Under the avx2-fma and avx512 kernels Adam runs an AVX2 loop (8 floats at a time, a masked
    tail); it must give the portable loop's bits, special values (NaN, infinities, -0) included
    (a NaN's sign aside)."""
    rng = np.random.default_rng(5)
    n = 1003  # not a multiple of the vector width
    start = [rng.standard_normal(n).astype(dtype) for _ in range(2)]  # param, grad
    start += [np.abs(rng.standard_normal(n)).astype(dtype) * s for s in (0.1, 0.01, 0.02)]  # moments
    start[1][[3, 10, 500]] = [np.nan, np.inf, -0.0]
    start[4][7] = np.nan
    out = {}
    try:
        for kernel in KERNELS:
            assert _core.set_gemm_kernel(kernel)
            p, g, m, v, vmax = (a.copy() for a in start)
            for step in (1, 2, 3):
                _core.adam_step(p, g, m, v, vmax if amsgrad else None, step, lr=0.01, beta1=beta1,
                                weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
            # NaNs as one value: the compiler may turn the portable loop's -grad + x into x - grad,
            # equal for every number but keeping a NaN's sign
            out[kernel] = [np.where(np.isnan(a), np.nan, a).tobytes() for a in (p, m, v, vmax)]
    finally:
        _core.set_gemm_kernel("auto")
    assert np.isnan(np.frombuffer(out["generic"][0], dtype)).any()  # the NaN did reach the parameters
    assert all(out[k] == out["generic"] for k in KERNELS), [k for k in KERNELS if out[k] != out["generic"]]
