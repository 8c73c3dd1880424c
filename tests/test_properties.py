"""Property-based tests (hypothesis) of the dense kernels against the NumPy reference.

Shapes are drawn around every blocking edge of both micro-kernels (including 0 and 1), values
from mixtures of ordinary, huge, tiny and subnormal magnitudes with NaN/+Inf/-Inf sprinkled in,
and inputs in every memory layout NumPy can make. Each drawn case is checked three ways:

* the NaN/+Inf/-Inf pattern equals the reference's exactly (the reference is computed in float64
  with magnitudes chosen so that no *finite* intermediate can overflow, which makes the pattern
  independent of summation order);
* finite entries agree within the standard forward error bound of a sum of products,
  |err| <= (k + 2) u sum_p |a_ip b_pj|  (u = the dtype's unit roundoff, k terms), plus a
  subnormal allowance -- a bound that holds for any summation order, so it cannot be "tuned" to
  the implementation and is tight enough to catch a wrong or missing term;
* the calls never crash, and refuse bad layouts with ValueError instead of reading wrong memory.

Large bulk arrays come from a NumPy generator seeded by hypothesis (drawing 60,000 elements one
by one would make every example slow); hypothesis draws the shapes, the magnitudes, the seed
and the positions and values of the special entries, and shrinks all of them.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import reference as ref
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import densegrad as dg
from densegrad import _core

KERNELS = ["generic"] + [k for k in ("avx2-fma", "avx512") if _core.set_gemm_kernel(k)]
_core.set_gemm_kernel("auto")
ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]

# Sizes on and around every block edge: register tiles (float 6x16 and 4x8, double 6x8 and
# 4x4), cache blocks (mc 120/96/128, kc 256 split into equal blocks) and the trivial sizes.
EDGES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 95, 96, 97, 119, 120, 121, 127, 128, 129,
         255, 256, 257, 258, 511, 513]
MAX_WORK = 1_500_000  # m * n * k per example: keeps one example at a few milliseconds

dims = st.one_of(st.sampled_from(EDGES), st.integers(0, 40))
dtypes = st.sampled_from([np.float32, np.float64])


def _u(dtype) -> float:
    return float(np.finfo(dtype).eps) / 2


def _tiny(dtype) -> float:
    return float(np.finfo(dtype).smallest_subnormal)


@contextlib.contextmanager
def kernel_and_threads(kernel: str, threads: int):
    """Run on the given micro-kernel and thread count; threads > 1 forces the parallel split
    even for small products (parallel_min_work 0, none unpacked), so odd sizes exercise the
    thread split too."""
    saved_threads, saved_work, saved_small = dg.get_num_threads(), _core.parallel_min_work(), _core.small_max_work()
    assert _core.set_gemm_kernel(kernel)
    dg.set_num_threads(threads)
    _core.set_parallel_min_work(0 if threads > 1 else saved_work)
    _core.set_small_max_work(0 if threads > 1 else saved_small)
    try:
        yield
    finally:
        _core.set_gemm_kernel("auto")
        dg.set_num_threads(saved_threads)
        _core.set_parallel_min_work(saved_work)
        _core.set_small_max_work(saved_small)


# ---- values -------------------------------------------------------------------------------------

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0]


@st.composite
def matrix_values(draw, shape, dtype, log2_scale):
    """An array of `shape`: bulk values of magnitude ~2**log2_scale (ordinary, wide-ranging or
    subnormal) from a seeded generator, then up to 4 special entries at drawn positions."""
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["normal", "wide", "subnormal", "zeros", "signed_ones"]))
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if kind == "normal":
        a = rng.standard_normal(size) * 2.0**log2_scale
    elif kind == "wide":  # magnitudes spread over 40 binades below the scale
        a = rng.choice([-1.0, 1.0], size) * 2.0 ** (log2_scale - rng.uniform(0, 40, size))
    elif kind == "subnormal":  # a few subnormal steps of the dtype
        a = rng.integers(-1000, 1000, size) * _tiny(dtype)
    elif kind == "zeros":
        a = np.zeros(size)
    else:
        a = rng.choice([-1.0, 1.0], size) * 2.0**log2_scale
    a = a.astype(dtype).reshape(shape)
    if size:
        for _ in range(draw(st.integers(0, 4))):
            idx = np.unravel_index(draw(st.integers(0, size - 1)), shape)
            a[idx] = draw(st.sampled_from(SPECIALS))
    note(f"{shape} {np.dtype(dtype).name} kind={kind} seed={seed} scale=2**{log2_scale}")
    return a


def scales(dtype, k):
    """log2 magnitudes (sx, sw) of two operands whose k-term dot products cannot overflow:
    k * 2**(sx + sw + 4) stays well below the dtype's max (normal values are < 2**4 in size);
    each alone stays representable."""
    fi = np.finfo(dtype)
    lo = fi.minexp // 2
    top = fi.maxexp - 8
    emax = top - int(np.ceil(np.log2(k + 1)))
    return st.integers(lo, min(top, emax - lo)).flatmap(
        lambda sx: st.tuples(st.just(sx), st.integers(lo, max(lo, min(top, emax - sx)))))


def dy_scale(dtype, sx, sw, rows):
    """log2 magnitude of dy such that dz @ w and dz^T @ x (|dz| <= 1.5 |dy|) cannot overflow."""
    fi = np.finfo(dtype)
    hi = min(0, fi.maxexp - 10 - int(np.ceil(np.log2(rows + 1))) - max(sx, sw, 0))
    return st.integers(min(fi.minexp // 2, hi), hi)


# ---- comparison ---------------------------------------------------------------------------------


def assert_pattern_and_bound(actual, expected, bound, what):
    """Identical NaN/+Inf/-Inf pattern; |actual - expected| <= bound on the finite entries."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    for name, fn in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        bad = fn(a) != fn(e)
        if bad.any():
            i = tuple(np.argwhere(bad)[0])
            raise AssertionError(f"{what}: {name} pattern differs first at {i}: actual {a[i]!r}, reference {e[i]!r}")
    fin = np.isfinite(e)
    err = np.where(fin, np.abs(np.where(fin, a, 0.0) - np.where(fin, e, 0.0)), 0.0)
    over = err > np.where(fin, bound, np.inf)
    if over.any():
        i = tuple(np.argwhere(over)[0])
        raise AssertionError(f"{what}: at {i} actual {a[i]!r} reference {e[i]!r}: error {err[i]:.3e} > bound {bound[i]:.3e}")


def _finite_abs(a):
    """|a| with non-finite entries as 0: the error bound only matters where the reference is finite."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return np.where(np.isfinite(a), a, 0.0)


# ---- dense forward and backward -----------------------------------------------------------------


@st.composite
def dense_cases(draw):
    dtype = draw(dtypes)
    batch, nin, nout = draw(dims), draw(dims), draw(dims)
    assume(batch * nin * nout <= MAX_WORK and batch * nout <= 200_000)
    sx, sw = draw(scales(dtype, nin + 1))
    x = draw(matrix_values((batch, nin), dtype, sx))
    w = draw(matrix_values((nout, nin), dtype, sw))
    b = draw(st.none() | matrix_values((nout,), dtype, sx + sw))
    act = draw(st.sampled_from(ACTS))
    slope = draw(st.sampled_from([0.01, 0.3, 0.0, -0.5, 1.5]))
    return dtype, x, w, b, act, slope, sx, sw


def backward_reference(dy, x, w, y, z, act, slope):
    dtype = np.asarray(y).dtype
    """dense_backward written from its contract: dz = dy * act'(z) with act' read from the
    forward output y (and z where y cannot tell), then dx = dz w, dw = dz^T x, db = sum dz."""
    dy, x, w, y = (np.asarray(v, dtype=np.float64) for v in (dy, x, w, y))
    with np.errstate(all="ignore"):
        if act == "identity":
            d = np.ones_like(y)
        elif act == "relu":
            d = np.where(y <= 0, 0.0, 1.0)  # NaN y passes the gradient (PyTorch's rule)
        elif act == "leaky_relu":
            pos = (y > 0) if slope > 0 else (np.asarray(z, dtype=np.float64) > 0)
            d = np.where(pos, 1.0, slope)
        elif act == "sigmoid":
            d = y * (1.0 - y)
        else:
            d = 1.0 - y * y
        # dz is materialised in the dtype (the kernel's workspace), so it underflows to 0 where
        # the dtype does -- and 0 * Inf is then NaN in dx/dw, as the contract says
        dz = (dy * d).astype(dtype).astype(np.float64)
        dx = np.einsum("bo,oi->bi", dz, w)
        dw = np.einsum("bo,bi->oi", dz, x)
        db = dz.sum(axis=0)
    return dz, dx, dw, db


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=dense_cases(), kernel=st.sampled_from(KERNELS), threads=st.sampled_from([1, 1, 3]), data=st.data())
def test_dense_forward_backward_match_reference(case, kernel, threads, data):
    dtype, x, w, b, act, slope, sx, sw = case
    batch, nin = x.shape
    nout = w.shape[0]
    kind = getattr(_core.Activation, act)
    keep = _core.activation_needs_preactivation(kind, slope)
    with kernel_and_threads(kernel, threads):
        y, z = _core.dense_forward(x, w, b, kind, slope, keep)
    assert y.dtype == dtype and y.shape == (batch, nout) and (z is not None) == keep

    with np.errstate(all="ignore"):
        y_ref, z_ref = ref.dense_forward(x, w, b, act, slope)
    z_bound, y_bound = forward_bounds(x, w, b, y_ref, act, slope, dtype)
    assert_pattern_and_bound(y, y_ref, y_bound, f"y ({act}, slope {slope}, {kernel}, {threads} threads)")
    if keep:
        assert_pattern_and_bound(z, z_ref, z_bound, "z")

    # backward, from the kernel's own forward outputs (its contract), with a drawn dy whose
    # magnitude keeps dz @ w and dz^T @ x free of finite overflow
    sdy = data.draw(dy_scale(dtype, sx, sw, max(batch, nout)))
    dy = data.draw(matrix_values((batch, nout), dtype, sdy))
    need = data.draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    with kernel_and_threads(kernel, threads):
        dx, dw, db = _core.dense_backward(dy, x, w, y, z, kind, slope, need[0], need[1], need[2] and b is not None)
    dz_ref, dx_ref, dw_ref, db_ref = backward_reference(dy, x, w, y, z, act, slope)
    bx, bw, bb = backward_bounds(dz_ref, dy, x, w, act, dtype)
    if need[0]:
        assert_pattern_and_bound(dx, dx_ref, bx, "dx")
    else:
        assert dx is None
    if need[1]:
        assert_pattern_and_bound(dw, dw_ref, bw, "dw")
    else:
        assert dw is None
    if need[2] and b is not None:
        assert_pattern_and_bound(db, db_ref, bb, "db")
    else:
        assert db is None


def forward_bounds(x, w, b, y_ref, act, slope, dtype):
    """Error bounds of z = x w^T + b and y = act(z): the dot-product bound, then act's
    Lipschitz constant (1, or |slope| for a steep leaky_relu) plus its own rounding."""
    u, tiny, k = _u(dtype), _tiny(dtype), x.shape[1]
    mag = _finite_abs(x) @ _finite_abs(w).T + (0 if b is None else _finite_abs(b))
    z_bound = (k + 2) * u * mag + (k + 2) * tiny
    lip = max(1.0, abs(slope)) if act == "leaky_relu" else 1.0
    return z_bound, lip * z_bound + 8 * u * _finite_abs(y_ref) + 2 * tiny


def backward_bounds(dz_ref, dy, x, w, act, dtype):
    """Error bounds of dx, dw, db. dz carries act' rounded in the dtype: a few units of |dz|
    and, for 1 - y*y and y*(1 - y) (cancellation near saturation), a few units of |dy|."""
    u, tiny = _u(dtype), _tiny(dtype)
    batch, nout = dz_ref.shape
    adz = _finite_abs(dz_ref)
    dz_err = 4 * u * (adz + (_finite_abs(dy) if act in ("sigmoid", "tanh") else 0)) + tiny
    aw, ax = _finite_abs(w), _finite_abs(x)
    bx = (nout + 2) * u * (adz @ aw) + dz_err @ aw + (nout + 2) * tiny
    bw = (batch + 2) * u * (adz.T @ ax) + dz_err.T @ ax + (batch + 2) * tiny
    bb = (batch + 2) * u * adz.sum(axis=0) + dz_err.sum(axis=0) + (batch + 2) * tiny
    return bx, bw, bb


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(dtype=dtypes, m=dims, n=st.one_of(dims, st.sampled_from([2047, 2048, 2049, 3071, 3072, 3073])), k=dims,
       ta=st.booleans(), tb=st.booleans(), kernel=st.sampled_from(KERNELS), data=st.data())
def test_gemm_matches_reference_and_is_thread_count_independent(dtype, m, n, k, ta, tb, kernel, data):
    assume(m * n * k <= MAX_WORK and m * n <= 400_000)
    sa, sb = data.draw(scales(dtype, k + 1))
    a = data.draw(matrix_values((k, m) if ta else (m, k), dtype, sa))
    b = data.draw(matrix_values((n, k) if tb else (k, n), dtype, sb))
    out = []
    for threads in (1, 2, 3):
        with kernel_and_threads(kernel, threads):
            out.append(_core.gemm(a, b, trans_a=ta, trans_b=tb))
    # threads split rows or columns, never k: bitwise the same, NaN for NaN
    for o in out[1:]:
        assert np.array_equal(out[0], o, equal_nan=True), "result depends on the thread count"
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    with np.errstate(all="ignore"):
        c_ref = np.einsum("ik,kj->ij", opa.astype(np.float64), opb.astype(np.float64))
    bound = (k + 2) * _u(dtype) * (_finite_abs(opa) @ _finite_abs(opb)) + (k + 2) * _tiny(dtype)
    assert_pattern_and_bound(out[0], c_ref, bound, f"gemm {kernel} m={m} n={n} k={k} ta={ta} tb={tb}")
    # the naive oracle obeys the same bound
    assert_pattern_and_bound(_core.gemm(a, b, trans_a=ta, trans_b=tb, reference=True), c_ref, bound, "gemm_reference")


# ---- memory layouts -----------------------------------------------------------------------------

LAYOUTS = ["c", "fortran", "transposed", "strided", "reversed", "offset", "readonly", "unaligned", "broadcast"]


def in_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values as `a` (2-D) in another memory layout."""
    r, c = a.shape
    if layout == "c":
        return a.copy()
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "strided":  # every other row, every third column of a bigger array
        big = np.full((2 * r + 1, 3 * c + 1), np.nan, a.dtype)
        big[: 2 * r : 2, : 3 * c : 3] = a
        return big[: 2 * r : 2, : 3 * c : 3]
    if layout == "reversed":
        return a[::-1, ::-1].copy()[::-1, ::-1]
    if layout == "offset":  # a window into a bigger array, NaN around it
        big = np.full((r + 2, c + 3), np.nan, a.dtype)
        big[1 : r + 1, 2 : c + 2] = a
        return big[1 : r + 1, 2 : c + 2]
    if layout == "readonly":
        v = a.copy()
        v.setflags(write=False)
        return v
    if layout == "unaligned":  # C-contiguous, but one byte past an aligned address
        buf = np.zeros(a.nbytes + 1, np.uint8)
        v = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
        v[...] = a
        return v
    # broadcast: one row repeated with stride 0 (only for a matrix whose rows are all equal)
    return np.broadcast_to(a[:1], a.shape) if r else a.copy()


@st.composite
def layout_case(draw):
    dtype = draw(dtypes)
    batch, nin, nout = (draw(st.one_of(st.integers(0, 9), st.sampled_from([16, 17, 33]))) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((batch, nin)).astype(dtype)
    lx, lw = draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(LAYOUTS))
    if lx == "broadcast" and batch:
        x[:] = x[:1]
    w = (rng.standard_normal((nout, nin)) / max(1, nin) ** 0.5).astype(dtype)
    if lw == "broadcast" and nout:
        w[:] = w[:1]
    b = rng.uniform(-1, 1, nout).astype(dtype)
    return dtype, x, w, b, lx, lw, draw(st.sampled_from(ACTS))


@settings(max_examples=150, deadline=None)
@given(case=layout_case())
def test_core_refuses_non_contiguous_and_python_layer_handles_every_layout(case):
    dtype, x, w, b, lx, lw, act = case
    xv, wv = in_layout(x, lx), in_layout(w, lw)
    assert np.array_equal(xv, x) and np.array_equal(wv, w)
    kind = getattr(_core.Activation, act)
    y_ref, _ = ref.dense_forward(x, w, b, act, 0.01)
    _, y_bound = forward_bounds(x, w, b, y_ref, act, 0.01, dtype)
    # _core takes C-contiguous, aligned operands only; anything else is a ValueError, never a
    # misread (nor a misaligned load)
    if all(v.flags.c_contiguous and v.flags.aligned for v in (xv, wv)):
        y, _ = _core.dense_forward(xv, wv, b, kind, 0.01)
        assert_pattern_and_bound(y, y_ref, y_bound, f"_core x {lx} w {lw}")
    else:
        with pytest.raises(ValueError, match="C-contiguous|aligned"):
            _core.dense_forward(xv, wv, b, kind, 0.01)
    # the Python layer accepts every layout (zero-copy from_numpy), forward and backward
    xt, wt = dg.from_numpy(xv).requires_grad_(), dg.from_numpy(wv).requires_grad_()
    bt = dg.from_numpy(b.copy()).requires_grad_()
    out = dg.nn.functional._dense(xt, wt, bt, act, 0.01)
    y = out.detach().numpy()
    assert_pattern_and_bound(y, y_ref, y_bound, f"Python layer x {lx} w {lw}")
    out.sum().backward()
    dy = np.ones_like(y)
    dz_ref, dx_ref, dw_ref, db_ref = backward_reference(dy, x, w, y, None, act, 0.01)
    bx, bw, bb = backward_bounds(dz_ref, dy, x, w, act, dtype)
    assert_pattern_and_bound(xt.grad.numpy(), dx_ref, bx, "dx")
    assert_pattern_and_bound(wt.grad.numpy(), dw_ref, bw, "dw")
    assert_pattern_and_bound(bt.grad.numpy(), db_ref, bb, "db")
    # inputs are never written
    assert np.array_equal(xv, x) and np.array_equal(wv, w)


@settings(max_examples=100, deadline=None)
@given(dtype=dtypes, m=st.integers(0, 20), k=st.integers(0, 20), n=st.integers(0, 20),
       la=st.sampled_from(LAYOUTS[:-1]), lb=st.sampled_from(LAYOUTS[:-1]), seed=st.integers(0, 2**32 - 1))
def test_tensor_matmul_every_layout(dtype, m, k, n, la, lb, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    got = (dg.from_numpy(in_layout(a, la)) @ dg.from_numpy(in_layout(b, lb))).numpy()
    c_ref = a.astype(np.float64) @ b.astype(np.float64)
    assert_pattern_and_bound(got, c_ref, (k + 2) * _u(dtype) * (np.abs(a) @ np.abs(b)) + 1e-300, f"{la} @ {lb}")


def test_core_refuses_byte_swapped_and_wrong_dtypes():
    x = np.ones((3, 4), np.float32)
    for bad in (x.astype(">f4"), x.astype(np.float16), x.astype(np.int32), x.astype(np.complex64), x.astype(object)):
        with pytest.raises(TypeError):
            _core.dense_forward(bad, x.T.copy())
        with pytest.raises(TypeError):
            _core.gemm(x, bad.T if bad.dtype != object else bad)


# ---- aliasing -----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(dtype=dtypes, n=st.integers(1, 40), start_p=st.integers(0, 40), start_g=st.integers(0, 40),
       start_m=st.integers(0, 40), which=st.sampled_from(["sgd", "adam"]))
def test_in_place_updates_refuse_overlap_and_are_exact_without_it(dtype, n, start_p, start_g, start_m, which):
    """Windows of one buffer as param, grad and state: overlapping ones are refused before any
    write; disjoint ones give exactly the result of separate arrays."""
    base = np.random.default_rng(n).standard_normal(130).astype(dtype)
    keep = base.copy()
    p, g, m = base[start_p : start_p + n], base[start_g : start_g + n], base[start_m : start_m + n]
    if which == "sgd":
        args = dict(lr=0.1, momentum=0.9)
        call = lambda P, G, M: _core.sgd_step(P, G, M, first_step=True, **args)  # noqa: E731
    else:
        v = np.zeros(n, dtype)
        call = lambda P, G, M: _core.adam_step(P, G, M, v if M is m else np.zeros(n, dtype), step=1)  # noqa: E731

    def overlap(a, b):
        return max(a, b) < min(a, b) + n

    if overlap(start_p, start_g) or overlap(start_p, start_m) or overlap(start_g, start_m):
        with pytest.raises(ValueError, match="overlap"):
            call(p, g, m)
        assert np.array_equal(base, keep), "a refused call must not write"
    else:
        P, G, M = p.copy(), g.copy(), m.copy()
        call(P, G, M)
        call(p, g, m)
        assert np.array_equal(p, P) and np.array_equal(m, M) and np.array_equal(g, G)


def test_read_only_operands_may_alias_each_other():
    """x is w: a read-only alias is fine (dense_forward(a, a) is a a^T)."""
    a = np.random.default_rng(3).standard_normal((7, 5)).astype(np.float32)
    y, _ = _core.dense_forward(a, a)
    assert_pattern_and_bound(y, a.astype(np.float64) @ a.T.astype(np.float64),
                             10 * _u(np.float32) * (np.abs(a) @ np.abs(a).T), "a a^T")
    assert np.array_equal(_core.gemm(a, a, trans_b=True), y)
