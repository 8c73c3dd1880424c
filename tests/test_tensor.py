"""The Tensor API and its printing. repr is compared with PyTorch 2.13's repr of the same values
(torch's text with 'torch.' read as 'densegrad.'); the factories, conversions and properties are
checked against what PyTorch does, or against NumPy where densegrad deliberately differs (a
tensor is always float32 or float64)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch._tensor_str

import densegrad as dg

# ==================================================================================================
# repr against torch
# ==================================================================================================

# Where the suffixes start: ", size=" / ", dtype=" / ", requires_grad=" / ", grad_fn=" (the body
# never contains these words), possibly after a line break.
_SUFFIX = re.compile(r",\s+(?=(?:size|dtype|requires_grad|grad_fn)=)")


def torch_repr(t: torch.Tensor) -> str:
    """torch's repr of t as densegrad should print it.

    'torch.float64' becomes 'densegrad.float64', which is 4 characters longer, so a suffix can
    wrap where torch's does not. The suffixes are therefore laid out again with torch's own rule
    (torch._tensor_str._add_suffixes, private but pinned with torch==2.13.0) on the renamed text;
    the body (numbers, widths, line breaks, '...') is torch's, unchanged.
    """
    s = repr(t)
    head = "Parameter containing:\n" if s.startswith("Parameter containing:\n") else ""
    s = s[len(head) :]
    assert s.startswith("tensor(") and s.endswith(")"), s
    body, *suffixes = _SUFFIX.split(s[:-1])
    suffixes = [x.replace("torch.", "densegrad.") for x in suffixes]
    return head + torch._tensor_str._add_suffixes(body, suffixes, len("tensor("), False)


@pytest.fixture
def printoptions():
    """Restore both libraries' print options to the defaults after the test, pass or fail."""
    yield
    dg.set_printoptions(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
    torch.set_printoptions(profile="default")


def _repr_cases():
    r = np.random.default_rng(20261126)  # fixed: these are layout cases, not statistics
    f32, f64 = np.float32, np.float64
    return {
        "0d": np.array(3.5, f32),
        "0d_whole": np.array(-3.0, f32),
        "0d_tiny": np.array(1.25e-7, f32),
        "0d_zero": np.array(0.0, f32),
        "1d": np.array([1.5, -2.25, 3.0], f32),
        "1d_one": np.array([0.1], f32),
        "2d": r.standard_normal((3, 4)).astype(f32),
        "2d_col": r.standard_normal((5, 1)).astype(f32),
        "2d_row": r.standard_normal((1, 5)).astype(f32),
        "3d": r.standard_normal((2, 3, 4)).astype(f32),
        "4d": r.standard_normal((2, 1, 2, 3)).astype(f32),
        "empty": np.zeros((0,), f32),
        "empty_0x3": np.zeros((0, 3), f32),
        "empty_2x0x3": np.zeros((2, 0, 3), f32),
        "whole": np.array([[1.0, 2.0, -3.0], [40.0, 5.0, 6.0]], f32),
        "whole_sci": np.array([1.0, 3.0, 123456.0], f32),  # whole numbers spanning > 1000x
        "whole_huge": np.array([1e9, 2.0], f64),  # whole numbers above 1e8
        "zeros": np.zeros((2, 2), f32),
        "negzero": np.array([-0.0, 1.0], f32),
        "tiny": np.array([1e-5, 2e-6, -3e-7], f32),
        "huge": np.array([1e10, 2e9, -3e11], f32),
        "span": np.array([0.001, 10.0, 1234.5], f32),
        "just_below_sci": np.array([0.0001, 0.1], f32),
        "mixed_signs": np.array([-0.5, 0.25, -100.125, 7.0], f32),
        "nan_inf": np.array([np.nan, np.inf, -np.inf, 1.5, -2.0], f32),
        "nan_inf_whole": np.array([np.nan, np.inf, -np.inf, 1.0, -2.0], f32),
        "nan_only": np.array([np.nan, np.nan], f32),
        "inf_sci": np.array([np.inf, 1e-6, 5.0], f32),
        "wraps_80": r.standard_normal(40).astype(f32),
        "wraps_whole": np.arange(60, dtype=f32),
        "wraps_2d": (r.standard_normal((3, 30)) * 1000).astype(f32),
        "summarised_1d": r.standard_normal(1500).astype(f32),
        "summarised_2d": r.standard_normal((40, 40)).astype(f32),
        "summarised_3d": r.standard_normal((12, 12, 12)).astype(f32),
        "summarised_long_rows": r.standard_normal((2, 1001)).astype(f32),
        "exactly_1000": r.standard_normal((10, 100)).astype(f32),
        "f64": r.standard_normal((2, 3)),
        "f64_0d": np.array(2.5),
        "f64_empty": np.zeros((0,)),
        "f64_empty_0x3": np.zeros((0, 3)),
        "f64_wraps": r.standard_normal(30),
        "f64_precise": np.array([0.1, 0.2, 0.3], f64),
        "f64_summarised": r.standard_normal((50, 30)),
    }


REPR_CASES = _repr_cases()


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "requires_grad"])
@pytest.mark.parametrize("name", list(REPR_CASES))
def test_repr_matches_torch(name, requires_grad):
    a = REPR_CASES[name]
    d = dg.tensor(a, requires_grad=requires_grad)
    t = torch.tensor(a, requires_grad=requires_grad)
    assert repr(d) == torch_repr(t)
    assert str(d) == repr(d)


def test_repr_suffix_wraps_by_torchs_rule_with_densegrad_name():
    # torch keeps this on one line ('torch.float64' is shorter); with 'densegrad.float64' the
    # last line would be 83 columns, so requires_grad=True moves to its own line, indented.
    a = np.array([[-1.6329, -0.8695, -0.1408], [-0.4872, 2.1500, -0.8445]])
    assert repr(dg.tensor(a, requires_grad=True)) == (
        "tensor([[-1.6329, -0.8695, -0.1408],\n"
        "        [-0.4872,  2.1500, -0.8445]], dtype=densegrad.float64,\n"
        "       requires_grad=True)"
    )
    assert repr(torch.tensor(a, requires_grad=True)).count("\n") == 1  # and torch did not wrap


def test_torch_repr_helper_changes_only_suffix_layout():
    # The helper itself: for a case without a long suffix it is torch's text renamed, verbatim.
    t = torch.tensor(np.array([[1.5, -2.0]], np.float64), requires_grad=True)
    assert torch_repr(t) == repr(t).replace("torch.", "densegrad.")


def test_repr_fuzz_matches_torch(printoptions):
    """Random shapes, magnitudes, NaN/Inf patterns and print options (seeded)."""
    r = np.random.default_rng(7)
    for _ in range(150):
        shape = tuple(int(r.integers(0, 7)) for _ in range(int(r.integers(0, 4))))
        kind = int(r.integers(0, 5))
        a = r.standard_normal(shape)
        if kind == 1:
            a = np.round(a * 10)
        elif kind == 2:
            a = a * 10.0 ** r.integers(-12, 12)
        elif kind == 3:
            a = a * 10.0 ** r.uniform(-6, 6, size=shape)
        elif kind == 4:
            m = r.random(shape)
            a = np.where(m < 0.15, np.nan, np.where(m < 0.3, np.inf, np.where(m < 0.4, -np.inf, a)))
        a = np.asarray(a, dtype=[np.float32, np.float64][int(r.integers(0, 2))])
        opts = {}
        if r.random() < 0.4:
            opts["precision"] = int(r.integers(0, 9))
        if r.random() < 0.4:
            opts["sci_mode"] = bool(r.integers(0, 2))
        if r.random() < 0.3:
            opts["linewidth"] = int(r.integers(20, 140))
        if r.random() < 0.3:
            opts["threshold"] = int(r.integers(1, 50))
            opts["edgeitems"] = int(r.integers(0, 4))
        dg.set_printoptions(**opts)
        torch.set_printoptions(**opts)
        rg = bool(r.integers(0, 2))
        assert repr(dg.tensor(a, requires_grad=rg)) == torch_repr(torch.tensor(a, requires_grad=rg)), (shape, opts)
        dg.set_printoptions(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
        torch.set_printoptions(profile="default")


@pytest.mark.parametrize(
    "opts",
    [
        dict(precision=2),
        dict(precision=0),
        dict(precision=8),
        dict(sci_mode=True),
        dict(sci_mode=False),  # forced fixed notation must size columns for fixed notation
        dict(linewidth=40),
        dict(threshold=10),
        dict(threshold=10, edgeitems=1),
        dict(threshold=10, edgeitems=0),
        dict(edgeitems=0),  # torch then adds size=... even when nothing is summarised
        dict(profile="short"),
        dict(profile="full", threshold=10),  # a profile, then the options given override it
        dict(profile="default", precision=6),
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_set_printoptions_matches_torch(printoptions, opts):
    r = np.random.default_rng(3)
    cases = [
        r.standard_normal((4, 5)).astype(np.float32) * 100,
        np.array([1e-6, 0.5, 3.0], np.float32),
        np.array([1.0, 2.0, 300000.0], np.float32),
        r.standard_normal(30),
        r.standard_normal((3, 4, 5)).astype(np.float32),
    ]
    dg.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    for a in cases:
        assert repr(dg.tensor(a)) == torch_repr(torch.tensor(a))


def test_set_printoptions_precision_changes_output_and_defaults_restore(printoptions):
    d = dg.tensor([1.0 / 3.0, 2.0])
    assert repr(d) == "tensor([0.3333, 2.0000])"
    dg.set_printoptions(precision=2)
    assert repr(d) == "tensor([0.33, 2.00])"
    dg.set_printoptions(precision=6)
    assert repr(d) == "tensor([0.333333, 2.000000])"
    dg.set_printoptions(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
    assert repr(d) == "tensor([0.3333, 2.0000])"
    dg.set_printoptions(profile="full")
    assert "..." not in repr(dg.zeros(2000))
    dg.set_printoptions(profile="default")  # restores every default (it raised TypeError)
    assert "..." in repr(dg.zeros(2000)) and repr(d) == "tensor([0.3333, 2.0000])"
    with pytest.raises(ValueError, match="unknown profile 'long'"):
        dg.set_printoptions(profile="long")


def test_parameter_repr_matches_torch():
    a = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    assert repr(dg.nn.Parameter(dg.tensor(a))) == torch_repr(torch.nn.Parameter(torch.tensor(a)))
    assert repr(dg.nn.Parameter(dg.tensor(a.astype(np.float64)))) == torch_repr(
        torch.nn.Parameter(torch.tensor(a.astype(np.float64)))
    )
    assert repr(dg.nn.Parameter(dg.tensor(a), requires_grad=False)) == torch_repr(
        torch.nn.Parameter(torch.tensor(a), requires_grad=False)
    )


# Ops whose graph node densegrad names exactly as torch does (checked against torch 2.13).
# Not listed because torch names them differently: 1.0 - x (RsubBackward1), 2.0 / x
# (MulBackward0), 2.0 ** x (PowBackward2), sum/mean over a dim (SumBackward1/MeanBackward1), .T
# (PermuteBackward0), .t() (TBackward0), reshape/view (ViewBackward0), indexing
# (SelectBackward0/SliceBackward0), .double() (ToCopyBackward0), matmul (Mm/Mv/Dot/Squeeze...),
# linear (AddmmBackward0, densegrad: DenseBackward0).
def _named_ops(lib, x, y):
    F = lib.nn.functional
    return {
        "add": x + y,
        "add_number": x + 1.0,
        "radd": 1.0 + x,
        "sub": x - y,
        "sub_number": x - 1.0,
        "mul": x * y,
        "rmul": 2.0 * x,
        "div": x / y,
        "div_number": x / 2.0,
        "neg": -x,
        "pow": x**2,
        "sum": x.sum(),
        "mean": x.mean(),
        "clone": x.clone(),
        "relu": F.relu(x),
        "relu_top": lib.relu(x),
        "relu_method": x.relu(),
        "leaky_relu": F.leaky_relu(x, 0.2),
        "sigmoid": lib.sigmoid(x),
        "tanh": lib.tanh(x),
        "mse": F.mse_loss(x, y),
        "mse_sum": F.mse_loss(x, y, reduction="sum"),
        "mse_none": F.mse_loss(x, y, reduction="none"),
    }


@pytest.mark.parametrize("dtype_", [np.float32, np.float64], ids=["float32", "float64"])
def test_grad_fn_repr_matches_torch(dtype_):
    a = np.array([[1.5, -2.0, 0.0], [0.25, 3.0, -0.5]], dtype_)
    b = np.array([[0.5, 1.0, 2.0], [-1.0, 4.0, 8.0]], dtype_)
    d = _named_ops(dg, dg.tensor(a, requires_grad=True), dg.tensor(b, requires_grad=True))
    t = _named_ops(torch, torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True))
    assert d.keys() == t.keys()
    for k in d:
        assert d[k].grad_fn.name() == type(t[k].grad_fn).__name__, k
        assert repr(d[k]) == torch_repr(t[k]), k


def test_grad_fn_of_notebook_ops():
    # The walkthrough's prints: ReluBackward0, MseLossBackward0, SubBackward0.
    w = dg.tensor([0.8], requires_grad=True)
    y = dg.relu(w * 0.5 + 0.15)
    assert repr(y) == "tensor([0.5500], grad_fn=<ReluBackward0>)"
    loss = dg.nn.functional.mse_loss(y, dg.tensor([0.95]))
    assert repr(loss) == "tensor(0.1600, grad_fn=<MseLossBackward0>)"
    assert repr(w - 0.3) == "tensor([0.5000], grad_fn=<SubBackward0>)"


def test_no_grad_result_prints_without_grad_fn():
    x = dg.tensor([1.0, -2.0], requires_grad=True)
    with dg.no_grad():
        y = x * 2.0
    assert repr(y) == "tensor([ 2., -4.])"
    assert y.grad_fn is None and not y.requires_grad


# ==================================================================================================
# construction
# ==================================================================================================


def test_tensor_from_python_data_is_float32():
    for data in (3, 3.5, [1, 2, 3], [[1.0, 2.0], [3.0, 4.0]], [], (1.5, 2.5)):  # booleans: see below
        d = dg.tensor(data)
        assert d.dtype == dg.float32 == np.float32
        assert d.shape == np.array(data).shape
        np.testing.assert_array_equal(d.numpy(), np.array(data, dtype=np.float32))


def test_tensor_keeps_float_ndarray_dtype():
    a64 = np.array([0.1, 0.2])
    a32 = np.array([0.1, 0.2], np.float32)
    assert dg.tensor(a64).dtype == np.float64  # as torch.tensor(ndarray)
    assert dg.tensor(a32).dtype == np.float32
    assert dg.tensor(np.float64(2.5)).dtype == np.float64 and dg.tensor(np.float64(2.5)).shape == ()
    assert str(torch.tensor(a64).dtype) == "torch.float64"  # the behaviour copied
    np.testing.assert_array_equal(dg.tensor(a64).numpy(), a64)  # no rounding through float32
    # a non-native byte order is read correctly, and stored native
    be = np.array([1.5, -2.0], dtype=">f8")
    d = dg.tensor(be)
    assert d.dtype == np.float64 and d.dtype.isnative
    np.testing.assert_array_equal(d.numpy(), [1.5, -2.0])


def test_tensor_dtype_argument_converts():
    a64 = np.array([1.0 / 3.0, 2.0])
    d = dg.tensor(a64, dtype=dg.float32)
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d.numpy(), a64.astype(np.float32))
    assert dg.tensor([1, 2], dtype=dg.float64).dtype == np.float64
    assert dg.tensor(np.array([1, 2], np.int64), dtype=np.float32).dtype == np.float32
    assert dg.tensor([0.5], dtype="float64").dtype == np.float64
    assert dg.tensor(dg.tensor([0.5]), dtype=dg.float64).dtype == np.float64


def test_tensor_always_copies():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    d = dg.tensor(a)
    a[0] = 100.0
    assert d.numpy()[0] == 1.0
    assert not np.shares_memory(d.numpy(), a)
    d2 = dg.tensor(d)
    d.numpy()[1] = -7.0
    assert d2.numpy()[1] == 2.0
    # a non-contiguous source becomes a C-contiguous copy
    m = np.arange(12.0).reshape(3, 4)[:, ::2]
    dm = dg.tensor(m)
    assert dm.numpy().flags.c_contiguous
    np.testing.assert_array_equal(dm.numpy(), m)


def test_tensor_requires_grad_flag():
    d = dg.tensor([1.0], requires_grad=True)
    assert d.requires_grad and d.is_leaf and d.grad is None and d.grad_fn is None
    assert not dg.tensor([1.0]).requires_grad


def test_from_numpy_is_zero_copy():
    for a in (np.arange(6.0).reshape(2, 3), np.arange(6.0, dtype=np.float32), np.arange(12.0).reshape(3, 4)[:, 1::2]):
        d = dg.from_numpy(a)
        assert d.dtype == a.dtype and d.shape == a.shape
        assert np.shares_memory(d.numpy(), a)
        a[(0,) * a.ndim] = 42.0  # numpy -> tensor
        assert d.numpy()[(0,) * a.ndim] == 42.0
        d.numpy()[(-1,) * a.ndim] = -5.0  # tensor -> numpy
        assert a[(-1,) * a.ndim] == -5.0
        assert d.tolist() == a.tolist()


def test_numpy_shares_memory_with_the_tensor():
    d = dg.tensor([[1.0, 2.0], [3.0, 4.0]])
    n = d.numpy()
    assert isinstance(n, np.ndarray) and n.dtype == np.float32
    n[0, 0] = 9.0
    assert d.tolist() == [[9.0, 2.0], [3.0, 4.0]]
    np.testing.assert_array_equal(np.asarray(d), n)
    # requires_grad: .detach().numpy() shares too (torch refuses .numpy() directly)
    p = dg.tensor([1.0, 2.0], requires_grad=True)
    p.detach().numpy()[1] = 5.0
    assert p.tolist() == [1.0, 5.0]


def test_item_and_tolist_match_torch():
    for a in (np.array(0.1, np.float32), np.array([[0.1]], np.float32), np.array([-2.5]), np.array(np.nan, np.float32)):
        d, t = dg.tensor(a), torch.tensor(a)
        di, ti = d.item(), t.item()
        assert type(di) is float
        assert di == ti or (np.isnan(di) and np.isnan(ti))
    a = np.array([[0.1, -2.0, 3.25], [4.0, 5.5, -6.0]], np.float32)
    assert dg.tensor(a).tolist() == torch.tensor(a).tolist()
    assert dg.tensor(np.array(0.3)).tolist() == torch.tensor(np.array(0.3)).tolist() == 0.3
    assert dg.tensor(np.zeros((2, 0))).tolist() == torch.tensor(np.zeros((2, 0))).tolist() == [[], []]
    assert type(dg.tensor(a).tolist()[0][0]) is float


def test_int_and_float_of_a_tensor_match_torch():
    for v in (2.7, -2.7, 0.0, 1e9):
        assert int(dg.tensor(v)) == int(torch.tensor(v)) and type(int(dg.tensor(v))) is int
        assert float(dg.tensor([[v]])) == float(torch.tensor([[v]]))
    for v, err in ((float("nan"), ValueError), (float("inf"), OverflowError)):
        with pytest.raises(err):
            int(dg.tensor(v))
    with pytest.raises(ValueError):
        int(dg.tensor([1.0, 2.0]))


def test_shape_dtype_ndim_len_match_torch():
    for shape in [(), (0,), (5,), (3, 4), (2, 0, 3), (1, 1, 1, 7)]:
        a = np.zeros(shape, np.float32)
        d, t = dg.tensor(a), torch.tensor(a)
        assert d.shape == tuple(t.shape) and isinstance(d.shape, tuple)
        assert d.ndim == t.ndim == d.dim()
        assert d.numel() == t.numel()
        assert d.size() == tuple(t.size())
        if shape:
            assert len(d) == len(t)
            assert d.size(-1) == t.size(-1)
        else:
            with pytest.raises(TypeError):
                len(d)
    assert dg.tensor([1.0]).dtype == dg.float32 and dg.tensor(np.ones(1)).dtype == dg.float64


def test_transpose():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    d = dg.tensor(a)
    assert d.T.shape == (3, 2)
    np.testing.assert_array_equal(d.T.numpy(), torch.tensor(a).T.numpy())
    np.testing.assert_array_equal(d.t().numpy(), a.T)
    v = dg.tensor([1.0, 2.0])
    assert v.T.shape == (2,) and v.T.tolist() == [1.0, 2.0]
    s = dg.tensor(3.0)
    assert s.T.shape == () and s.T.item() == 3.0
    # 3-D: axes reversed, as NumPy (torch warns that x.T on >2-D is deprecated, so not compared)
    c = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(dg.tensor(c).T.numpy(), c.T)


def test_detach_shares_data_and_leaves_the_graph():
    x = dg.tensor([1.0, -2.0], requires_grad=True)
    y = x * 3.0
    for src in (x, y):
        d = src.detach()
        assert not d.requires_grad and d.grad_fn is None and d.is_leaf
        assert np.shares_memory(d.numpy(), src._data)
    x.detach().numpy()[0] = 10.0  # shared: the leaf changes too, as in torch
    assert x.tolist() == [10.0, -2.0]


# ==================================================================================================
# factories and the global generator
# ==================================================================================================


@pytest.mark.parametrize("factory,value", [(dg.zeros, 0.0), (dg.ones, 1.0)])
def test_zeros_ones(factory, value):
    for args, shape in [((3,), (3,)), ((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([4, 1],), (4, 1)), ((), ()), ((0, 5), (0, 5))]:
        d = factory(*args)
        assert d.shape == shape and d.dtype == np.float32
        assert np.all(d.numpy() == value)
    assert factory(2, dtype=dg.float64).dtype == np.float64
    r = factory(2, 2, requires_grad=True)
    assert r.requires_grad and r.is_leaf


@pytest.mark.parametrize("factory", [dg.rand, dg.randn], ids=["rand", "randn"])
def test_random_factories_are_reproducible_with_manual_seed(factory):
    dg.manual_seed(1234)
    a = factory(3, 5)
    b = factory(3, 5)
    dg.manual_seed(1234)
    a2 = factory((3, 5))
    b2 = factory(3, 5)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())  # the stream advances
    dg.manual_seed(1235)
    assert not np.array_equal(factory(3, 5).numpy(), a.numpy())
    assert a.dtype == np.float32 and a.shape == (3, 5)
    assert factory(4, dtype=dg.float64).dtype == np.float64
    assert factory(2, requires_grad=True).requires_grad


def test_rand_and_randn_ranges():
    dg.manual_seed(99)
    u = dg.rand(20000).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    # mean of 20000 U(0,1): sd = sqrt(1/12/20000) = 0.002; 5 sd
    assert abs(u.mean() - 0.5) < 0.01
    n = dg.randn(20000, dtype=dg.float64).numpy()
    # sd of the mean 1/sqrt(20000) = 0.007; sd of the sample variance sqrt(2/20000) = 0.01; 5 sd
    assert abs(n.mean()) < 0.035 and abs(n.var() - 1.0) < 0.05


def test_manual_seed_also_makes_linear_init_reproducible():
    dg.manual_seed(5)
    a = dg.nn.Linear(4, 3)
    dg.manual_seed(5)
    b = dg.nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    np.testing.assert_array_equal(a.bias.detach().numpy(), b.bias.detach().numpy())


def test_sizes_and_dims_must_be_integers_as_in_torch():
    """2.5 was truncated to 2 silently; torch raises TypeError."""
    t = dg.ones(2, 3)
    for make in (lambda m: m.zeros(2.5), lambda m: m.ones(1.5, 2), lambda m: m.ones(2, 3).reshape(3.0, 2),
                 lambda m: m.ones(2, 3).sum(dim=1.0)):
        with pytest.raises(TypeError):
            make(torch)
        with pytest.raises(TypeError):
            make(dg)
    for make in (lambda m: m.zeros(True), lambda m: m.ones(2, 3).sum(dim=True), lambda m: m.ones(2).reshape(True, 2)):
        with pytest.raises(TypeError):  # True is an int to Python, not to PyTorch
            make(torch)
        with pytest.raises(TypeError):
            make(dg)
    assert dg.zeros(np.int64(2), 3).shape == (2, 3) and t.reshape((np.int32(3), 2)).shape == (3, 2)
    assert t.sum(dim=np.int64(1)).tolist() == [3.0, 3.0]


def test_tensor_indices_must_be_whole_positions_and_booleans_are_not_a_float_tensor():
    """A float tensor of indices was truncated (1.7 -> row 1), and dg.tensor([True, False, True])
    became [1., 0., 1.] and picked rows 1, 0, 1 where torch's mask picks rows 0 and 2."""
    t = dg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert t[dg.tensor([2.0, 0.0])].tolist() == [[5.0, 6.0], [1.0, 2.0]]
    for bad in ([1.7], [float("nan")], [float("inf")]):
        with pytest.raises(IndexError, match="whole-number positions"):
            t[dg.tensor(bad)]
    with pytest.raises(IndexError, match="1e[+]20 is out of range"):  # not a wrapped-around integer
        t[dg.tensor([1e20])]
    with pytest.raises(TypeError, match="bool"):
        dg.tensor([True, False, True])
    assert dg.tensor([True, False], dtype=dg.float32).tolist() == [1.0, 0.0]
    mask = [True, False, True]
    assert t[mask].tolist() == t[np.array(mask)].tolist() == torch.tensor(t.tolist())[torch.tensor(mask)].tolist()


def _big_model():
    m = dg.nn.Sequential(dg.nn.Linear(2, 1)).double()
    m[0].weight.detach().numpy()[...] = 1e300
    return m


def _loaded_big():
    lin = dg.nn.Linear(2, 1)
    lin.load_state_dict({"weight": np.full((1, 2), 1e300), "bias": np.zeros(1)})
    return lin.weight


@pytest.mark.parametrize(
    "make",
    [lambda: dg.ones(2) * 1e300, lambda: dg.ones(2) + np.float64(1e300), lambda: dg.tensor([1e300]),
     lambda: dg.tensor([1e300], dtype=dg.float64).to(dg.float32), lambda: dg.tensor([-1e300]) / 2.0,
     lambda: _big_model().float()[0].weight, lambda: _loaded_big()],
)
def test_float32_overflow_gives_inf_without_a_warning(make):
    """As in PyTorch, a value beyond float32's range becomes +-Inf; NumPy's cast warned (an
    error under -W error)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = make()
    assert np.all(np.isinf(out.detach().numpy()))


def test_comparing_a_tensor_with_numbers_or_arrays_raises_instead_of_answering_false():
    """`t == 0` compared identity and answered False whatever the values (PyTorch compares
    elementwise; densegrad has no bool dtype): a larger tensor raises now, naming what to do,
    and a one-element tensor answers by value as bool(t == x) does in PyTorch (a Python number
    taken in the tensor's dtype). Tensor vs tensor stays identity, which lists, sets and dicts
    of tensors rely on."""
    t = dg.tensor([0.0, 2.0])
    for other in (0, 0.0, np.float32(0), True, np.zeros(2), [0.0, 2.0], (0.0, 2.0)):
        with pytest.raises(TypeError, match="no elementwise comparison"):
            t == other  # noqa: B015
        with pytest.raises(TypeError, match="no elementwise comparison"):
            other != t  # noqa: B015
    zero, tenth = dg.tensor(0.0), dg.tensor(0.1)  # float32
    assert zero == 0 and 0.0 == zero and zero == False and not (zero != 0)  # noqa: E712
    assert tenth == 0.1 and not (tenth != 0.1) and dg.tensor([[0.1]]) == 0.1  # 0.1 rounded to float32
    assert dg.tensor(0.1, dtype=dg.float64) == 0.1 and dg.tensor(0.1, dtype=dg.float64) != np.float32(0.1)
    assert dg.tensor(float("nan")) != 1.0 and not (dg.tensor(float("nan")) == float("nan"))
    assert not (tenth == 10**400) and tenth != 10**400  # beyond any float: compared exactly
    assert [tenth, 1.0].index(1.0) == 1 and {"loss": zero} == {"loss": 0.0} and tenth in (None, 0.1)
    for other in ([0.1], np.array(0.1)):
        with pytest.raises(TypeError, match="no elementwise comparison"):
            tenth == other  # noqa: B015
    same = dg.tensor([0.0, 2.0])
    assert (t == t) is True and (t == same) is False and (t != same) is True
    assert (t == None) is False and (t != "a") is True and (t == np.str_("a")) is False  # noqa: E711
    assert t in [same, t] and t not in [same] and {t: 1}[t] == 1 and len({t, same}) == 2
    p = dg.nn.Linear(2, 1).weight
    assert p in [same, p] and (p == p) is True


# ---- in-place assignment and .to()/.cpu() in PyTorch's forms (a new-user review: the habits
# `with no_grad(): w[0] = 0`, `w.copy_(...)`, `model.to("cpu")` all raised) ----------------------


def test_setitem_copy_fill_match_torch():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    d, t = dg.tensor(a), torch.tensor(a)
    ops = [
        lambda x, T: x.__setitem__(0, 1.5),
        lambda x, T: x.__setitem__((slice(None), 1), T([5.0, 6.0, 7.0, 8.0])),
        lambda x, T: x.__setitem__((1, slice(0, 2)), T([-1.0, -2.0])),
        lambda x, T: x.__setitem__([0, 2], T([[9.0, 9.0, 9.0]])),
        lambda x, T: x.copy_(T([[0.5, 0.25, 0.125]])),  # broadcast over the rows
        lambda x, T: x.__setitem__(slice(2, 3), 4.0),
    ]
    for i, op in enumerate(ops):
        op(d, lambda v: dg.tensor(v))
        op(t, lambda v: torch.tensor(v))
        assert d.tolist() == t.tolist(), i
    assert d.fill_(dg.tensor(3.0)) is d and d.tolist() == t.fill_(torch.tensor(3.0)).tolist()
    assert d.copy_(np.arange(12.0).reshape(4, 3)).tolist() == t.copy_(torch.arange(12.0).reshape(4, 3)).tolist()
    assert d.dtype == np.float32 and d._version == 8  # one per change


def test_inplace_assignment_follows_the_autograd_rules():
    w = dg.nn.Parameter(dg.ones(2, 3))
    for change in (lambda: w.__setitem__(0, 0.0), lambda: w.copy_(dg.zeros(2, 3)), lambda: w.fill_(0.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            change()
    assert w.tolist() == [[1.0] * 3] * 2  # nothing was written
    x = dg.ones(4, 2, requires_grad=True)
    y = (x @ w).sum()
    with dg.no_grad():
        w[1, 1] = 5.0  # allowed here, and counted:
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()  # ... backward needs w's old values


@pytest.mark.parametrize(
    "call,exc,fragment",
    [
        (lambda t: t.copy_(np.ones((3, 3))), ValueError, "does not broadcast to (2, 3)"),
        (lambda t: t.__setitem__(0, "a"), TypeError, "expected real numbers"),
        (lambda t: t.fill_([1.0, 2.0]), ValueError, "one-element"),
        (lambda t: t.copy_(torch.ones(2, 3)), TypeError, "convert the torch.Tensor first"),
        (lambda t: t.to("cuda"), ValueError, "CPU only; got device 'cuda'"),
        (lambda t: t.to(torch.device("cuda:1")), ValueError, "got device 'cuda:1'"),
        (lambda t: t.to(torch.int64), TypeError, "expected float32 or float64"),
        (lambda t: t.to(dg.float64, blocking=True), TypeError, "unexpected keyword argument 'blocking'"),
        (lambda t: t.to("flaot32"), TypeError, "expected float32 or float64, got 'flaot32'"),  # a typo is no device
        (lambda t: t.to(","), TypeError, "got ','"),
        (lambda t: t.to("cpu:x"), ValueError, "invalid device string 'cpu:x'"),
        (lambda t: t.to("cpu", dg.float64, False, True, 1), TypeError, "then non_blocking and copy"),
        (lambda t: dg.nn.Linear(2, 1).to(dg.float64, copy=True), TypeError, "unexpected keyword argument 'copy'"),
        # what follows a dtype is checked (a review: to(float64, "cuda") was taken as non_blocking)
        (lambda t: t.to(dg.float64, "cuda"), TypeError, "a device comes first"),
        (lambda t: dg.nn.Linear(2, 1).to(dg.float64, "mps"), TypeError, "a device comes first"),
        (lambda t: t.to(dg.float64, dg.float32), TypeError, "non_blocking must be a bool"),
        (lambda t: t.to(dg.float32, copy="no"), TypeError, "copy must be a bool"),
        (lambda t: t.to(dg.float64, dtype=dg.float32), TypeError, "dtype both by position and by keyword"),
        (lambda t: t.to(memory_format="x"), TypeError, "memory_format must be a torch.memory_format"),
        (lambda t: t.fill_(1e300), RuntimeError, "cannot be converted to float32 without overflow"),  # as torch
        (lambda t: t.__setitem__(0, -1e39), RuntimeError, "without overflow"),
        (lambda t: t == torch.ones(2, 3), TypeError, "densegrad and torch tensors do not mix"),
        (lambda t: t < torch.ones(2, 3), TypeError, "densegrad and torch tensors do not mix"),
        (lambda t: t ** torch.ones(1), TypeError, "densegrad and torch tensors do not mix"),
        (lambda t: dg.nn.Linear(2, 1).to("mps"), ValueError, "CPU only"),
    ],
)
def test_inplace_and_to_errors(call, exc, fragment):
    t = dg.ones(2, 3)
    with pytest.raises(exc, match=re.escape(fragment)):
        call(t)
    assert t.tolist() == [[1.0] * 3] * 2


def test_to_and_cpu_take_pytorchs_forms():
    t = dg.tensor([1.0, 2.0])
    assert t.cpu() is t and t.to("cpu") is t and t.to(torch.device("cpu")) is t and t.to(device="cpu:0") is t
    assert t.to("cpu", torch.float64).dtype == np.float64 and t.to(dtype=dg.float64).dtype == np.float64
    assert t.to(dg.tensor([0.0], dtype=dg.float64)).dtype == np.float64  # another tensor's dtype
    assert t.to(torch.zeros(1, dtype=torch.float64)).dtype == np.float64
    assert t.to("float64").dtype == np.float64 and t.to("f4") is t and t.to(np.float32) is t
    assert t.to(torch.float64, True).dtype == np.float64 and t.to("cpu", torch.float64, True).dtype == np.float64
    c = t.to(dg.float32, copy=True)  # copy=True: a new tensor even in the same dtype, as in torch
    assert c is not t and c.tolist() == t.tolist() and not np.shares_memory(c.numpy(), t.numpy())
    assert t.to(memory_format=torch.contiguous_format) is t
    assert t.to() is t and t.to(None) is t and t.to(dtype=None, device=None) is t  # generic code passes None
    m = dg.nn.Sequential(dg.nn.Linear(2, 1))
    assert m.cpu() is m and m.to("cpu") is m and m[0].weight.dtype == np.float32
    assert m.to(torch.device("cpu"), dtype=torch.float64) is m and m[0].weight.dtype == np.float64


def test_inplace_changes_through_indexing_reach_the_original_as_in_torch():
    """Basic indexing outside the graph is a view (it was a copy, and w[0].fill_(0), w[0][1] = 9,
    `for row in t: row *= 2` or `x = t[0]; x += 1` changed only the copy, silently); advanced
    indexing (lists, arrays, masks) copies, as in PyTorch."""
    changes = [
        lambda t, T: t[0].fill_(5.0),
        lambda t, T: t[1].__setitem__(2, 9.0),
        lambda t, T: t[:, 0].zero_(),
        lambda t, T: t[0:1].T.__setitem__(1, -1.0),
        lambda t, T: [row.__imul__(2.0) for row in t],
        lambda t, T: t[1, 1].__iadd__(3.0),
        lambda t, T: t[..., 2].copy_(T([7.0, 8.0])),
        lambda t, T: t[None, 1].__isub__(0.5),
        lambda t, T: t[[0]].fill_(100.0),  # a copy in both: t unchanged
        lambda t, T: t[np.array([True, False])].zero_(),
    ]
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    d, t = dg.tensor(a), torch.tensor(a)
    for i, change in enumerate(changes):
        change(d, dg.tensor)
        change(t, torch.tensor)
        assert d.tolist() == t.tolist(), i
    assert d._version == 9  # one per change that reached d (the loop over the rows makes two)


def test_a_recorded_indexing_copy_refuses_inplace_changes():
    """Indexing a tensor that requires grad with grad mode on records a copy (PyTorch: a view); a
    later in-place change of it under no_grad would not reach the original, so it raises."""
    w = dg.nn.Parameter(dg.zeros(2, 3))
    row = w[0]
    for change in (lambda: row.fill_(1.0), lambda: row.__setitem__(0, 1.0), lambda: row.__iadd__(1.0),
                   lambda: row.detach().zero_(), lambda: row.data.copy_(dg.ones(3))):
        with dg.no_grad(), pytest.raises(RuntimeError, match="indexed out of one that requires grad"):
            change()
    assert w.tolist() == [[0.0] * 3] * 2
    with dg.no_grad():
        for change in (lambda: row[0:2].fill_(1.0), lambda: row.detach()[1].zero_(),
                       lambda: dg.nn.init.uniform_(row)):  # views of the copy, and the initialisers
            with pytest.raises(RuntimeError, match="indexed out of one that requires grad"):
                change()
        w[0] += 1.0  # indexed under no_grad: a view, so this reaches w
    assert w.tolist() == [[1.0] * 3, [0.0] * 3]


def test_a_view_of_a_tensor_that_requires_grad_is_not_changed_with_grad_mode_on():
    """A view made under no_grad (or before requires_grad_()) changed in place with grad mode on
    changed a leaf that refuses such changes itself; PyTorch raises, and so does densegrad."""
    w = dg.nn.Parameter(dg.zeros(3))
    with dg.no_grad():
        v = w[0:2]
    with pytest.raises(RuntimeError, match="a view of a tensor that requires grad"):
        v += 1.0
    t = dg.zeros(3)
    u = t[1:]
    t.requires_grad_()
    with pytest.raises(RuntimeError, match="a view of a tensor that requires grad"):
        u.fill_(1.0)
    assert w.tolist() == [0.0] * 3 and t.tolist() == [0.0] * 3
    with dg.no_grad():
        v += 1.0
    assert w.tolist() == [1.0, 1.0, 0.0]


def test_zero_d_integer_indices_give_views_as_in_torch():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    d, t = dg.tensor(a), torch.tensor(a)
    d[np.array(1)].fill_(5.0)
    t[torch.tensor(1)].fill_(5.0)
    d[dg.tensor(0.0)][2] = -1.0
    t[torch.tensor(0)][2] = -1.0
    assert d.tolist() == t.tolist()


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_view_gets_its_own_version_counter(how):
    """A deep copy or pickle of [t, t[0]] copies the two arrays apart; with one counter between
    them, a change to the copied view made backward through the copied base fail."""
    import copy
    import pickle

    t = dg.tensor([[1.0, 2.0], [3.0, 4.0]])
    a, b = copy.deepcopy([t, t[0]]) if how == "deepcopy" else pickle.loads(pickle.dumps([t, t[0]]))
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * a[1]).sum()
    b.fill_(0.0)
    y.backward()
    assert x.grad.tolist() == [3.0, 4.0] and a.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    c, d = copy.deepcopy([t, t.detach()])  # one array between them: still one counter
    assert c._vc is d._vc


def test_indexing_then_assigning_through_the_original_and_clone_still_work():
    w = dg.nn.Parameter(dg.zeros(2, 3))
    with dg.no_grad():
        w[0] += 1.0  # Python's w[0] = w[0] + 1: reaches w, as in PyTorch
        w[1, 2] = 5.0
        row = w[0].clone()
        row[1] = 9.0  # a copy on purpose: changes only the copy
        row.fill_(2.0)
    assert w.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 5.0]] and row.tolist() == [2.0, 2.0, 2.0]


def test_index_keys_match_torch_in_values_and_in_being_views():
    """0-d keys of either sign and kind, next to slices, lists and None: the same values as
    torch, and a view exactly where torch gives one."""
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    keys = [
        (lambda T: T(-2), True), (lambda T: np.int64(-1), True), (lambda T: (np.array(1), slice(1, 3)), True),
        (lambda T: (Ellipsis, np.array(-1)), True), (lambda T: (None, 0), True),
        (lambda T: (np.array(1), [0, 2]), False), (lambda T: [2, 0], False), (lambda T: np.array([True, False, True]), False),
    ]
    for i, (key, view) in enumerate(keys):
        d, t = dg.tensor(a), torch.tensor(a)
        kd = key(lambda v: np.array(v))
        kt = key(lambda v: torch.tensor(v))
        assert dg.tensor(d[kd]).tolist() == t[kt].tolist(), i
        d[kd].fill_(100.0) if d[kd].ndim else d[kd].__iadd__(100.0)
        t[kt].fill_(100.0) if t[kt].ndim else t[kt].add_(100.0)
        assert d.tolist() == t.tolist(), i
        assert (d.tolist() != a.tolist()) == view, i


def test_a_parameter_made_from_a_row_trains_the_row():
    base = dg.zeros(2, 3)
    p = dg.nn.Parameter(base[0])  # shares the row's memory, as torch.nn.Parameter(t[0]) does
    opt = dg.optim.SGD([p], lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        ((p - 1.0) ** 2).sum().backward()
        opt.step()
    assert base.tolist()[0] == p.tolist() and base.tolist()[1] == [0.0] * 3 and p.tolist()[0] == 1.0
    base.requires_grad_()  # the row's Parameter is its own tensor: it still trains
    opt.zero_grad()
    ((p - 2.0) ** 2).sum().backward()
    opt.step()
    assert p.tolist() == [2.0] * 3


@pytest.mark.parametrize("op", ["mul_overflow", "div_zero", "sub_inf"])
def test_inplace_operators_are_quiet_and_always_bump_the_version(op):
    """NaN and Inf are values for += -= *= /= as for + - * /: no RuntimeWarning. Under warnings
    as errors, one once raised after the write but before the version bump, and a backward
    through the changed tensor then went ahead with it."""
    import warnings

    w = dg.tensor([1.0, 1.0], requires_grad=True)
    x = dg.tensor([1e30, np.inf] if op == "sub_inf" else [1e30, 2.0])
    y = (w * x).sum()  # saves x
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if op == "mul_overflow":
            x *= 1e30
        elif op == "div_zero":
            x /= 0.0
        else:
            x -= np.inf
    assert not np.isfinite(x.numpy()).all()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("key,value", [
    (0, [5.0]), (0, [[5.0]]), ((1, 2), np.array([[5.0]])), (slice(0, 2), [[[5.0, 6.0, 7.0]]]),
    (np.array([True, False, True]), [[7.0]]), (Ellipsis, [[[1.0, 2.0, 3.0]]]),
])
def test_setitem_drops_a_values_leading_ones_as_in_torch(key, value):
    """t[0] = tensor([5.]) sets one element in PyTorch; NumPy refuses a sequence there."""
    import torch

    for wrap in (lambda v: v, dg.tensor):
        d = dg.tensor(np.arange(9.0, dtype=np.float32).reshape(3, 3))
        t = torch.arange(9.0).reshape(3, 3)
        d[key] = wrap(value)
        t[torch.as_tensor(key) if isinstance(key, np.ndarray) else key] = torch.tensor(value)
        np.testing.assert_array_equal(d.numpy(), t.numpy())
    with pytest.raises(ValueError):
        dg.zeros(3)[0] = [1.0, 2.0]  # a value that does not fit still does not


def test_view_refuses_what_needs_a_copy_as_in_torch():
    """view() once was reshape(): on a transposed or strided tensor it copied, and writing
    through the "view" silently left the original as it was."""
    import torch

    d = dg.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    t = torch.arange(6.0).reshape(2, 3)
    for make in (lambda x: x.T, lambda x: x[:, 1:]):
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            make(t).view(-1)
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            make(d).view(-1)
        np.testing.assert_array_equal(make(d).reshape(-1).numpy(), make(t).reshape(-1).numpy())
    v = d.view(3, 2)  # contiguous: a real view
    with dg.no_grad():
        v[0, 0] = 99.0
    assert d[0, 0].item() == 99.0
    with pytest.raises(ValueError):
        d.view(4)  # a size that does not fit
    x = dg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    x.view(3, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
