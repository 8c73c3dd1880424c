"""Hostile input at the boundary: densegrad._core called directly (bypassing the Python layer)
with huge, negative, mismatched and wrongly typed arguments. Every call must end in a clean
Python exception (TypeError for types, ValueError for values and shapes, MemoryError for an
allocation NumPy cannot make) -- never a crash, never an out-of-bounds access (tests/sanitize.sh
runs this file under ASan + UBSan), never a write into an operand when the call is refused.

Huge shapes cost no memory here: an array with a zero dimension may have any other dimension.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import densegrad as dg
from densegrad import _core

A = _core.Activation
R = _core.Reduction
F32 = np.float32


def z(*shape, dtype=F32):
    return np.zeros(shape, dtype)


def empty_rows(rows, cols=0, dtype=F32):
    """rows x 0 (or 0 x cols): any size, no memory."""
    return np.empty((rows, cols), dtype)


def layer(i, o, act=A.relu, slope=0.0, dtype=F32, states=0):
    """One FusedMlp layer tuple with fresh buffers."""
    return (i, o, act, slope, z(o, i, dtype=dtype), z(o, dtype=dtype), z(o, i, dtype=dtype), z(o, dtype=dtype),
            [z(o, i, dtype=dtype) for _ in range(states)], [z(o, dtype=dtype) for _ in range(states)])


def fused(*layers, opt="sgd"):
    net = _core.FusedMlp(list(layers), opt, R.mean)
    if opt == "sgd":
        net.set_sgd(0.1, 0.0, 0.0, 0.0, False, False)
    return net


def unaligned(shape, dtype=F32):
    """A C-contiguous array that starts one byte past an aligned address."""
    n = int(np.prod(shape))
    buf = np.zeros(n * np.dtype(dtype).itemsize + 1, np.uint8)
    a = np.frombuffer(buf.data, dtype=dtype, count=n, offset=1).reshape(shape)
    assert a.flags.c_contiguous and not a.flags.aligned
    return a


# ---- huge sizes: products that overflow 32 and 64 bits, allocations nobody can make ------------

HUGE = [
    # the output's element count overflows 64 bits: refused before any allocation
    ("gemm 2^40 x 2^40", lambda: _core.gemm(empty_rows(2**40), empty_rows(0, 2**40)), ValueError, "too large"),
    ("gemm 2^32 x 2^32 (2^64 elements)", lambda: _core.gemm(empty_rows(2**32), empty_rows(0, 2**32)), ValueError, "too large"),
    ("gemm 2^31 x 2^31 float32 (2^64 bytes)", lambda: _core.gemm(empty_rows(2**31), empty_rows(0, 2**31)), ValueError, "too large"),
    ("gemm 2^31 x 2^30 float64 (2^64 bytes)", lambda: _core.gemm(empty_rows(2**31, 0, np.float64), empty_rows(0, 2**30, np.float64)), ValueError, "too large"),
    ("dense_forward 2^40 x 2^40", lambda: _core.dense_forward(empty_rows(2**40), empty_rows(2**40)), ValueError, "too large"),
    ("dense_forward keep z 2^33 x 2^31", lambda: _core.dense_forward(empty_rows(2**33), empty_rows(2**31), None, A.leaky_relu, -1.0, True), ValueError, "too large"),
    ("mlp_forward 2^60 rows x 16", lambda: _core.mlp_forward(empty_rows(2**60), [(z(16, 0), None, A.relu, 0.0)]), ValueError, "too large"),
    # addressable but absurd: NumPy's allocation fails cleanly (terabytes to exabytes)
    ("gemm 2^30 x 2^30 (4 EiB)", lambda: _core.gemm(empty_rows(2**30), empty_rows(0, 2**30)), MemoryError, ""),
    ("gemm 2^20 x 2^20 (4 TiB)", lambda: _core.gemm(empty_rows(2**20), empty_rows(0, 2**20)), MemoryError, ""),
    ("dense_forward 2^21 x 2^20 float64", lambda: _core.dense_forward(empty_rows(2**21, 0, np.float64), empty_rows(2**20, 0, np.float64)), MemoryError, ""),
    ("mlp_forward 2^40 rows x 5", lambda: _core.mlp_forward(empty_rows(2**40), [(z(5, 0), None, A.relu, 0.0)]), MemoryError, ""),
    # the fused network's workspace (batch x hidden) for a batch of empty rows: refused up front
    ("FusedMlp.forward 2^40 empty rows", lambda: fused(layer(0, 3), layer(3, 0)).forward(empty_rows(2**40)), ValueError, "more than this machine"),
    ("FusedMlp.step 2^40 empty rows", lambda: fused(layer(0, 3), layer(3, 0)).step(empty_rows(2**40), empty_rows(2**40), 1, True), ValueError, "more than this machine"),
    ("FusedMlp.step 2^60 empty rows x 16", lambda: fused(layer(0, 16), layer(16, 0)).step(empty_rows(2**60), empty_rows(2**60), 1, True), ValueError, "too large"),
    ("FusedMlp in/out 2^62", lambda: _core.FusedMlp([(2**62, 2**62) + layer(0, 3)[2:]], "sgd", R.mean), ValueError, "expected (4611686018427387904, 4611686018427387904)"),
    # ints beyond 64 bits never reach C++
    ("FusedMlp in 2^64", lambda: _core.FusedMlp([(2**64, 2) + layer(0, 3)[2:]], "sgd", R.mean), TypeError, "in_features"),
    ("adam_step step 2^64", lambda: _core.adam_step(z(3), z(3), z(3), z(3), None, 2**64), TypeError, ""),
    ("set_parallel_min_work 2^63", lambda: _core.set_parallel_min_work(2**63), TypeError, ""),
    ("set_small_max_work 2^63", lambda: _core.set_small_max_work(2**63), TypeError, ""),
    ("set_num_threads 2^40", lambda: _core.set_num_threads(2**40), TypeError, ""),
    # the Python layer: NumPy refuses or fails to allocate
    ("nn.Linear(2^31, 2^31)", lambda: dg.nn.Linear(2**31, 2**31), (ValueError, MemoryError), ""),
    ("nn.Linear(2^20, 2^20)", lambda: dg.nn.Linear(2**20, 2**20), MemoryError, ""),
    ("dg.zeros(2^40, 2^40)", lambda: dg.zeros(2**40, 2**40), (ValueError, MemoryError), ""),
]


@pytest.mark.parametrize("call,exc,fragment", [h[1:] for h in HUGE], ids=[h[0] for h in HUGE])
def test_huge_sizes_are_refused_cleanly(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


# ---- negative and out-of-range values -----------------------------------------------------------

NEGATIVE = [
    ("FusedMlp in -1", lambda: _core.FusedMlp([(-1, 3) + layer(0, 3)[2:]], "sgd", R.mean), ValueError, "expected (3, -1)"),
    ("FusedMlp out -3", lambda: _core.FusedMlp([(0, -3) + layer(0, 3)[2:]], "sgd", R.mean), ValueError, "expected (-3, 0)"),
    ("FusedMlp.step step 0", lambda: fused(layer(2, 1)).step(z(1, 2), z(1, 1), 0, False), ValueError, "step counts from 1"),
    ("FusedMlp.step step -2^63", lambda: fused(layer(2, 1)).step(z(1, 2), z(1, 1), -2**63, False), ValueError, "step counts from 1"),
    ("adam_step step 0", lambda: _core.adam_step(z(3), z(3), z(3), z(3), None, 0), ValueError, "step counts from 1"),
    ("adam_step step -1", lambda: _core.adam_step(z(3), z(3), z(3), z(3), None, -1), ValueError, "step counts from 1"),
    ("set_parallel_min_work -1", lambda: _core.set_parallel_min_work(-1), ValueError, ">= 0"),
    ("set_small_max_work -1", lambda: _core.set_small_max_work(-1), ValueError, ">= 0"),
    ("set_num_threads -5", lambda: _core.set_num_threads(-5), ValueError, "n >= 1"),
    ("set_num_threads 0", lambda: _core.set_num_threads(0), ValueError, "n >= 1"),
    ("fma_loop -1", lambda: _core.fma_loop(True, -1), ValueError, "negative"),
    ("sgd lr NaN", lambda: _core.sgd_step(z(3), z(3), None, math.nan), ValueError, "learning rate"),
    ("sgd lr -1", lambda: _core.sgd_step(z(3), z(3), None, -1.0), ValueError, "learning rate"),
    ("sgd momentum -Inf", lambda: _core.sgd_step(z(3), z(3), z(3), 0.1, -math.inf), ValueError, "momentum"),
    ("adam beta1 1", lambda: _core.adam_step(z(3), z(3), z(3), z(3), None, 1, beta1=1.0), ValueError, "beta"),
    ("adam beta2 NaN", lambda: _core.adam_step(z(3), z(3), z(3), z(3), None, 1, beta2=math.nan), ValueError, "beta"),
    ("adam eps -1", lambda: _core.adam_step(z(3), z(3), z(3), z(3), None, 1, eps=-1.0), ValueError, "epsilon"),
    ("FusedMlp.set_adam lr NaN", lambda: fused(layer(2, 1, states=2), opt="adam").set_adam(math.nan, 0.9, 0.999, 1e-8, 0, False, False), ValueError, "learning rate"),
]


@pytest.mark.parametrize("call,exc,fragment", [h[1:] for h in NEGATIVE], ids=[h[0] for h in NEGATIVE])
def test_negative_and_out_of_range_values_are_refused(call, exc, fragment):
    saved = dg.get_num_threads(), _core.parallel_min_work(), _core.small_max_work()
    try:
        with pytest.raises(exc, match=None) as info:
            call()
        assert fragment in str(info.value)
    finally:
        dg.set_num_threads(saved[0])
        _core.set_parallel_min_work(saved[1])
        _core.set_small_max_work(saved[2])


# ---- mismatched shapes and lengths --------------------------------------------------------------

W32 = z(3, 2)
MISMATCH = [
    ("gemm inner", lambda: _core.gemm(z(2, 3), z(4, 2)), "cannot be multiplied"),
    ("gemm inner trans", lambda: _core.gemm(z(2, 3), z(2, 4), trans_a=True, trans_b=True), "cannot be multiplied (3x2 and 4x2)"),
    ("gemm 1-D", lambda: _core.gemm(z(3), z(3, 2)), "2-D"),
    ("gemm 0-D", lambda: _core.gemm(z(), z(2, 2)), "2-D"),
    ("gemm 3-D", lambda: _core.gemm(z(2, 2, 2), z(2, 2)), "2-D"),
    ("dense_forward w", lambda: _core.dense_forward(z(4, 2), z(3, 5)), "cannot be multiplied"),
    ("dense_forward b length", lambda: _core.dense_forward(z(4, 2), W32, z(4)), "b must have shape (3,)"),
    ("dense_forward b 2-D", lambda: _core.dense_forward(z(4, 2), W32, z(1, 3)), "1-D"),
    ("dense_backward dy", lambda: _core.dense_backward(z(4, 4), z(4, 2), W32, z(4, 3)), "dy must have shape (4, 3)"),
    ("dense_backward y", lambda: _core.dense_backward(z(4, 3), z(4, 2), W32, z(4, 4)), "same shape"),
    ("dense_backward z", lambda: _core.dense_backward(z(4, 3), z(4, 2), W32, z(4, 3), z(3, 4), A.leaky_relu, -1.0), "same shape"),
    ("dense_backward needs z", lambda: _core.dense_backward(z(4, 3), z(4, 2), W32, z(4, 3), None, A.leaky_relu, -1.0), "pre-activation"),
    ("dense_backward w", lambda: _core.dense_backward(z(4, 3), z(4, 2), z(3, 5), z(4, 3)), "does not match"),
    ("activation_backward y", lambda: _core.activation_backward(z(3), z(4), None, A.tanh), "same shape"),
    ("activation_backward z", lambda: _core.activation_backward(z(3), z(3), z(2), A.leaky_relu, -1.0), "same shape"),
    ("mse_forward", lambda: _core.mse_forward(z(3), z(4)), "same shape"),
    ("mse_forward 2-D vs 1-D", lambda: _core.mse_forward(z(3, 1), z(3)), "same shape"),
    ("mse_backward dout none", lambda: _core.mse_backward(z(2), z(3), z(3), R.none), "same shape"),
    ("mse_backward dout empty", lambda: _core.mse_backward(z(0), z(3), z(3)), "one element"),
    ("sgd grad", lambda: _core.sgd_step(z(3), z(4), None, 0.1), "same shape"),
    ("sgd buffer", lambda: _core.sgd_step(z(3), z(3), z(2), 0.1, 0.9), "same shape"),
    ("sgd momentum without buffer", lambda: _core.sgd_step(z(3), z(3), None, 0.1, 0.9), "momentum_buffer"),
    ("adam exp_avg", lambda: _core.adam_step(z(3), z(3), z(2), z(3), None, 1), "same shape"),
    ("adam amsgrad without buffer", lambda: _core.adam_step(z(3), z(3), z(3), z(3), None, 1, amsgrad=True), "max_exp_avg_sq"),
    ("mlp_forward no layers", lambda: _core.mlp_forward(z(2, 2), []), "at least one layer"),
    ("mlp_forward chain", lambda: _core.mlp_forward(z(2, 2), [(W32, None, A.relu, 0.0), (z(1, 4), None, A.relu, 0.0)]), "does not take 3 inputs"),
    ("mlp_forward 3-tuple", lambda: _core.mlp_forward(z(2, 2), [(W32, None, A.relu)]), "each layer is"),
    ("mlp_forward b length", lambda: _core.mlp_forward(z(2, 2), [(W32, z(2), A.relu, 0.0)]), "does not match"),
    ("mlp_backward acts count", lambda: _core.mlp_backward(z(2, 3), z(2, 2), [(W32, None, A.relu, 0.0)], [], [], True), "one entry per layer"),
    ("mlp_backward act shape", lambda: _core.mlp_backward(z(2, 3), z(2, 2), [(W32, None, A.relu, 0.0)], [z(2, 4)], [None], True), "has shape"),
    ("mlp_backward act rows", lambda: _core.mlp_backward(z(2, 3), z(2, 2), [(W32, None, A.relu, 0.0)], [z(5, 3)], [None], True), "has shape"),
    ("mlp_backward dy", lambda: _core.mlp_backward(z(2, 4), z(2, 2), [(W32, None, A.relu, 0.0)], [z(2, 3)], [None], True), "dy has shape"),
    ("mlp_backward pre shape", lambda: _core.mlp_backward(z(2, 3), z(2, 2), [(W32, None, A.leaky_relu, -1.0)], [z(2, 3)], [z(1, 3)], True), "same shape"),
    ("mlp_backward needs pre", lambda: _core.mlp_backward(z(2, 3), z(2, 2), [(W32, None, A.leaky_relu, -1.0)], [z(2, 3)], [None], True), "pre-activation"),
    ("FusedMlp no layers", lambda: _core.FusedMlp([], "sgd", R.mean), "at least one layer"),
    ("FusedMlp 5-tuple", lambda: _core.FusedMlp([layer(2, 3)[:5]], "sgd", R.mean), "10-tuple"),
    ("FusedMlp chain", lambda: _core.FusedMlp([layer(2, 3), layer(4, 1)], "sgd", R.mean), "takes 4 inputs"),
    ("FusedMlp w shape", lambda: _core.FusedMlp([(2, 3) + layer(2, 4)[2:]], "sgd", R.mean), "expected (3, 2)"),
    ("FusedMlp b shape", lambda: _core.FusedMlp([layer(2, 3)[:5] + (z(4),) + layer(2, 3)[6:]], "sgd", R.mean), "expected (3,)"),
    ("FusedMlp 4 states", lambda: _core.FusedMlp([layer(2, 3)[:8] + ([z(3, 2)] * 4, [])], "adam", R.mean), "at most 3"),
    ("FusedMlp state shape", lambda: _core.FusedMlp([layer(2, 3)[:8] + ([z(2, 3)], [])], "sgd", R.mean), "expected (3, 2)"),
    ("FusedMlp adam without states", lambda: fused(layer(2, 3), opt="adam").step(z(1, 2), z(1, 3), 1, False), "optimizer state is null"),
    ("FusedMlp momentum without buffer", lambda: _fused_momentum_without_buffer(), "optimizer state is null"),
    ("FusedMlp reduction none", lambda: _core.FusedMlp([layer(2, 3)], "sgd", R.none), "reduction"),
    ("FusedMlp optimizer name", lambda: _core.FusedMlp([layer(2, 3)], "lbfgs", R.mean), "'sgd' or 'adam'"),
    ("FusedMlp.step x columns", lambda: fused(layer(2, 3)).step(z(1, 3), z(1, 3), 1, False), "must have 2 columns"),
    ("FusedMlp.step target rows", lambda: fused(layer(2, 3)).step(z(2, 2), z(1, 3), 1, False), "rows but target has"),
    ("FusedMlp.forward 1-D", lambda: fused(layer(2, 3)).forward(z(2)), "2-D"),
    # aliasing: every buffer a step writes must be its own memory
    ("FusedMlp dw is w", lambda: _aliased_layer(lambda t: t[:6] + (t[4],) + t[7:]), "overlap"),
    ("FusedMlp db inside dw", lambda: _aliased_layer(lambda t: t[:7] + (t[6].reshape(-1)[:3],) + t[8:]), "overlap"),
    ("FusedMlp state is grad", lambda: _aliased_layer(lambda t: t[:8] + ([t[6]], [t[7]])), "overlap"),
    ("FusedMlp two layers, one set of buffers", lambda: (lambda t: _core.FusedMlp([t, t], "sgd", R.mean))(layer(3, 3)), "overlap"),
]


def _aliased_layer(edit):
    return _core.FusedMlp([edit(layer(2, 3, states=1))], "sgd", R.mean)


def _fused_momentum_without_buffer():
    net = fused(layer(2, 3))
    net.set_sgd(0.1, 0.9, 0.0, 0.0, False, False)
    net.step(z(1, 2), z(1, 3), 1, True)


@pytest.mark.parametrize("call,fragment", [h[1:] for h in MISMATCH], ids=[h[0] for h in MISMATCH])
def test_mismatched_shapes_are_value_errors(call, fragment):
    with pytest.raises(ValueError) as info:
        call()
    assert fragment in str(info.value)


# ---- wrong buffer types -------------------------------------------------------------------------

WRONG_BUFFERS = {
    "list": [[0.0, 1.0], [2.0, 3.0]],
    "tuple": ((0.0, 1.0), (2.0, 3.0)),
    "memoryview": memoryview(np.zeros((2, 2), F32)),
    "bytes": b"\0" * 16,
    "int": 3,
    "str": "x",
    "float64 among float32": np.zeros((2, 2), np.float64),
    "float16": np.zeros((2, 2), np.float16),
    "int32": np.zeros((2, 2), np.int32),
    "int64": np.zeros((2, 2), np.int64),
    "bool": np.zeros((2, 2), bool),
    "complex64": np.zeros((2, 2), np.complex64),
    "object": np.zeros((2, 2), object),
    "big-endian float32": np.zeros((2, 2), ">f4"),
    "structured": np.zeros((2, 2), [("a", F32)]),
    "datetime": np.zeros((2, 2), "M8[s]"),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_equal_but_distinct_descriptor_is_accepted(dtype):
    # The bindings settle the dtype by identity with NumPy's built-in descriptor and fall back to
    # an equality test; a descriptor carrying metadata is equal but not the built-in one.
    same = np.dtype(dtype, metadata={"note": 1})
    a = np.arange(6, dtype=dtype).reshape(2, 3)
    b = np.arange(12, dtype=dtype).reshape(3, 4)
    av, bv = a.view(same), b.view(same)
    assert av.dtype is not a.dtype and av.dtype == a.dtype
    np.testing.assert_array_equal(_core.gemm(av, bv), a @ b)
    w = np.ones((4, 3), dtype)
    (y,), _ = _core.mlp_forward(av, [(w.view(same), None, A.identity, 0.0)])
    np.testing.assert_array_equal(y, a @ w.T)
    with pytest.raises(TypeError, match=">f"):
        _core.gemm(a.astype(a.dtype.newbyteorder(">")), b)


def _torch_tensor():
    import torch

    return torch.zeros(2, 2)


@pytest.mark.parametrize("kind", list(WRONG_BUFFERS) + ["torch tensor"])
@pytest.mark.parametrize("position", ["first", "second"])
def test_wrong_buffer_types_are_type_errors(kind, position):
    bad = _torch_tensor() if kind == "torch tensor" else WRONG_BUFFERS[kind]
    good = z(2, 2)
    a, b = (bad, good) if position == "first" else (good, bad)
    calls = [
        lambda: _core.gemm(a, b),
        lambda: _core.dense_forward(a, b),
        lambda: _core.mse_forward(a, b),
        lambda: _core.activation_backward(a, b, None, A.tanh),
        lambda: _core.sgd_step(a, b, None, 0.1),
        lambda: _core.adam_step(a, b, z(2, 2), z(2, 2), None, 1),
        lambda: _core.mlp_forward(a, [(b, None, A.relu, 0.0)]),
        lambda: _core.FusedMlp([(2, 2, A.relu, 0.0, a, None, b, None, [], [])], "sgd", R.mean),
        lambda: fused(layer(2, 2)).step(a, b, 1, False),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(TypeError):
            call()
        assert np.all(good == 0), f"call {i} wrote into an operand before refusing"


def test_layer_fields_of_the_wrong_type_are_type_errors():
    bad_fields = [("relu", 2), (1, 2), (None, 2), (object(), 3), ("0.1", 3), ([2], 0), (2.5, 0), ("2", 1)]
    for value, index in bad_fields:
        t = list(layer(2, 3))
        t[index] = value
        with pytest.raises(TypeError):
            _core.FusedMlp([tuple(t)], "sgd", R.mean)
        if index in (2, 3):
            lt = [W32, None, A.relu, 0.0]
            lt[index] = value
            with pytest.raises(TypeError, match="layer 0"):
                _core.mlp_forward(z(2, 2), [tuple(lt)])
    with pytest.raises(TypeError):
        _core.FusedMlp([5], "sgd", R.mean)
    with pytest.raises(TypeError):
        _core.FusedMlp([layer(2, 3)[:8] + (5, [])], "sgd", R.mean)
    with pytest.raises(TypeError):
        _core.activation_forward(z(3), 1)  # an int is not an Activation


def test_unaligned_arrays_are_refused_by_core_and_copied_by_the_python_layer():
    """A contiguous array at an odd address (np.frombuffer with an offset) was once read with
    misaligned scalar loads -- undefined behaviour that UBSan reported in pack_a."""
    x = unaligned((3, 4))
    x[...] = np.arange(12, dtype=F32).reshape(3, 4)
    w = np.ones((5, 4), F32)
    for call in (lambda: _core.dense_forward(x, w), lambda: _core.gemm(x, w, trans_b=True),
                 lambda: _core.activation_forward(x, A.tanh), lambda: _core.mse_forward(x, x.copy()),
                 lambda: _core.sgd_step(unaligned((4,)), z(4), None, 0.1)):
        with pytest.raises(ValueError, match="aligned"):
            call()
    expected = np.arange(12, dtype=np.float64).reshape(3, 4) @ np.ones((4, 5))
    xt = dg.from_numpy(x).requires_grad_()
    out = dg.nn.functional.linear(xt, dg.from_numpy(w))
    np.testing.assert_array_equal(out.detach().numpy(), expected)
    out.sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), np.full((3, 4), 5.0))
    np.testing.assert_array_equal((dg.from_numpy(x) @ dg.from_numpy(x.T)).numpy(), x.astype(np.float64) @ x.T)
    np.testing.assert_array_equal(dg.from_numpy(x).tanh().numpy(), np.tanh(x))
    # Trainer batches and Parameters copy what is not aligned
    model = dg.nn.Sequential(dg.nn.Linear(4, 2))
    trainer = dg.train.Trainer(model, dg.optim.SGD(model.parameters(), lr=0.1))
    assert np.isfinite(trainer.step(x, unaligned((3, 2))))
    p = dg.nn.Parameter(dg.from_numpy(unaligned((4,))))
    assert p._data.flags.aligned
    with pytest.raises(ValueError, match="aligned"):
        dg.optim.SGD([dg.from_numpy(unaligned((4,))).requires_grad_()], lr=0.1)


def test_read_only_outputs_are_refused_without_writing():
    p = np.ones(4, F32)
    p.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _core.sgd_step(p, z(4), None, 0.1)
    m = np.ones(4, F32)
    m.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _core.adam_step(z(4), z(4), m, z(4), None, 1)
    w = z(3, 2)
    w.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _core.FusedMlp([layer(2, 3)[:4] + (w,) + layer(2, 3)[5:]], "sgd", R.mean)


# ---- arbitrary arguments to every entry point --------------------------------------------------

POOL = [
    None, 0, 1, -1, 2**62, 2**63, 0.5, math.nan, math.inf, "relu", "sgd", b"x", [], [1.0], (1, 2), A.relu,
    A.leaky_relu, R.none, R.mean, True, False,
    z(0), z(3), z(2, 3), z(3, 2), z(0, 5), z(5, 0), z(2, 3, 4), z(), z(1, 1),
    z(2, 3, dtype=np.float64), z(3, dtype=np.float64), z(0, 0, dtype=np.float64),
    np.ones((2, 3), np.int32), np.ones((2, 3), bool), np.asfortranarray(np.ones((3, 2), F32)),
    np.ones((4, 6), F32)[::2, ::2], np.ones((2, 3), ">f4"), empty_rows(2**40), empty_rows(0, 2**40),
]


def _pool_value(i):
    v = POOL[i]
    return v.copy() if isinstance(v, np.ndarray) and v.base is None and v.size < 1000 else v


def _unaligned_value():
    return unaligned((2, 3))


def _readonly_value():
    a = np.ones((2, 3), F32)
    a.setflags(write=False)
    return a


values = st.one_of(st.integers(0, len(POOL) - 1).map(_pool_value), st.just(None).map(lambda _: _unaligned_value()),
                   st.just(None).map(lambda _: _readonly_value()))
layer_tuples = st.lists(st.lists(values, min_size=3, max_size=11).map(tuple), min_size=0, max_size=3)

ENTRY_POINTS = {
    "gemm": (lambda a: _core.gemm(*a), 5),
    "dense_forward": (lambda a: _core.dense_forward(*a), 6),
    "dense_backward": (lambda a: _core.dense_backward(*a), 10),
    "activation_forward": (lambda a: _core.activation_forward(*a), 3),
    "activation_backward": (lambda a: _core.activation_backward(*a), 5),
    "mse_forward": (lambda a: _core.mse_forward(*a), 3),
    "mse_backward": (lambda a: _core.mse_backward(*a), 4),
    "sgd_step": (lambda a: _core.sgd_step(*a), 10),
    "adam_step": (lambda a: _core.adam_step(*a), 13),
    "mlp_forward": (lambda a: _core.mlp_forward(*a), 2),
    "mlp_backward": (lambda a: _core.mlp_backward(*a), 6),
    "FusedMlp": (lambda a: _core.FusedMlp(*a), 3),
}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(ENTRY_POINTS)), args=st.lists(values, min_size=0, max_size=13),
       layers=layer_tuples, where=st.integers(0, 12))
def test_arbitrary_arguments_never_crash(name, args, layers, where):
    """Any arguments (layer lists included) give a result or a clean TypeError / ValueError /
    MemoryError, and a refused call leaves every array argument as it was."""
    call, arity = ENTRY_POINTS[name]
    args = list(args[:arity])
    if name in ("mlp_forward", "mlp_backward", "FusedMlp") and args:
        args[min(where, len(args) - 1) if name != "FusedMlp" else 0] = list(layers)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    before = [a.copy() for a in arrays]
    try:
        call(args)
    except (TypeError, ValueError, MemoryError):
        for a, b in zip(arrays, before):
            assert np.array_equal(a, b, equal_nan=True), f"{name} wrote into an argument before refusing"
    else:
        for a, b in zip(arrays, before):
            if not a.flags.writeable:
                assert np.array_equal(a, b, equal_nan=True), f"{name} wrote into a read-only argument"


# ---- Python code run by a conversion while the binding holds raw pointers ----------------------
# Each ran in a subprocess: before the fix these read freed memory (32 MB arrays come from mmap
# and are unmapped when freed, so the read was a segfault, not a silent stale value).


def _run_isolated(code):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_sgd_step_many_keeps_a_buffer_that_a_conversion_drops():
    """A first_steps entry's __bool__ drops the list's only reference to a momentum buffer."""
    out = _run_isolated("""
import numpy as np
from densegrad import _core
N = 1 << 22
params, grads, bufs = [np.zeros(N)], [np.ones(N)], [np.zeros(N)]
class Evil:
    def __bool__(self):
        bufs[0] = None
        return False
_core.sgd_step_many(params, grads, bufs, [Evil()], 0.1, 0.9, 0.0, 0.0, False, False)
print(params[0].min(), params[0].max())
""")
    assert out.split() == ["-0.1", "-0.1"]


@pytest.mark.parametrize("call", ["forward", "backward"])
def test_mlp_stack_keeps_weights_that_a_conversion_drops(call):
    """Layer 1's negative_slope.__float__ drops layer 0 (its tuple and weight) from the list."""
    out = _run_isolated(f"""
import numpy as np
from densegrad import _core
A = _core.Activation
layers = []
class Slope:
    def __float__(self):
        layers[0] = None
        return 0.5
w0 = np.ones((2048, 2048)); x = np.ones((4, 2048))
layers += [(w0, None, A.identity, 0.0), (np.ones((3, 2048)), None, A.identity, Slope())]
del w0
if "{call}" == "forward":
    acts, _ = _core.mlp_forward(x, layers)
    print(acts[-1].min(), acts[-1].max())
else:
    acts = [np.full((4, 2048), 2048.0), np.full((4, 3), 2048.0 ** 2)]
    grads = _core.mlp_backward(np.ones((4, 3)), x, layers, acts, [None, None], True)
    print(grads[0].min(), grads[0].max())  # dx = dy @ w1 @ w0: 3 * 2048
""")
    expected = ["4194304.0", "4194304.0"] if call == "forward" else ["6144.0", "6144.0"]
    assert out.split() == expected


def test_fused_step_refuses_x_or_target_inside_a_network_buffer():
    """The step writes a later layer's dw before the first layer's backward reads x again: x held
    in layer 1's dw once gave layer 0 a wrong gradient without an error."""
    rng = np.random.default_rng(0)
    net = [layer(4, 4, A.tanh, dtype=np.float64), layer(4, 4, A.identity, dtype=np.float64)]
    m = fused(*net)
    dw1, w0 = net[1][6], net[0][4]
    y = rng.standard_normal((4, 4))
    with pytest.raises(ValueError, match="x and a network buffer"):
        m.step(dw1, y, 1, False)
    with pytest.raises(ValueError, match="target and a network buffer"):
        m.step(rng.standard_normal((4, 4)), w0, 1, False)
    with pytest.raises(ValueError, match="x and a network buffer"):
        m.step(dw1[1:3], y[:2], 1, False)  # a part of one overlaps too
    assert np.isfinite(m.step(rng.standard_normal((4, 4)), y, 1, False))
    new_dw = np.zeros((4, 4))
    m.set_grad(1, False, new_dw)  # a gradient array replaced later is checked too
    with pytest.raises(ValueError, match="x and a network buffer"):
        m.step(new_dw, y, 2, False)
    assert np.isfinite(m.step(dw1, y, 2, False))  # the old one is no network buffer any more
