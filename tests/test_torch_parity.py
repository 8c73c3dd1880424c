"""PyTorch parity: every computation is written ONCE as a function of a namespace (``lib`` is
``densegrad`` or ``torch``), run on copies of the same inputs in both, and compared: outputs,
losses, every ``.grad``, and the parameters after several optimizer steps, in float32 and
float64 (tolerances from conftest.TOL).

Models are built in densegrad, and their weights are copied into the equivalent torch model
through ``state_dict``, so the parameter names must be torch's ('0.weight', '2.bias', ...).
densegrad does not reproduce torch's random numbers, only the distribution of ``nn.Linear``'s
initialisation, which is compared statistically at the end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import assert_close

import densegrad as dg

LIBS = (dg, torch)


def _leaf(lib, a: np.ndarray):
    """A leaf that requires grad, holding a private copy of a (its dtype kept)."""
    return lib.tensor(a.copy(), requires_grad=True)


def _np(t) -> np.ndarray:
    return t.detach().numpy()


def run_both(fn, arrays, rng):
    """fn(lib, *leaves) in densegrad and in torch; backward with the same upstream
    gradient (none for a one-element output). Returns {lib: (output, [grad of each leaf])}."""
    outs, leaves = {}, {}
    for lib in LIBS:
        leaves[lib] = [_leaf(lib, a) for a in arrays]
        outs[lib] = fn(lib, *leaves[lib])
    shape, dt = _np(outs[torch]).shape, _np(outs[torch]).dtype
    seed = None if len(shape) == 0 else rng.uniform(0.5, 1.5, shape).astype(dt) * rng.choice([-1.0, 1.0], shape).astype(dt)
    res = {}
    for lib in LIBS:
        if seed is None:
            outs[lib].backward()
        else:
            outs[lib].backward(lib.tensor(seed.copy()))
        res[lib] = (_np(outs[lib]), [None if p.grad is None else p.grad.numpy() for p in leaves[lib]])
    return res


def assert_parity(res, what=""):
    (d_out, d_grads), (t_out, t_grads) = res[dg], res[torch]
    assert d_out.dtype == t_out.dtype, f"{what}: output dtype {d_out.dtype} != torch {t_out.dtype}"
    assert_close(d_out, t_out, t_out.dtype, what=f"{what} output")
    for i, (dgr, tgr) in enumerate(zip(d_grads, t_grads)):
        assert (dgr is None) == (tgr is None), f"{what}: grad {i} is None in only one library"
        if tgr is not None:
            assert dgr.dtype == tgr.dtype, f"{what}: grad {i} dtype {dgr.dtype} != torch {tgr.dtype}"
            assert_close(dgr, tgr, tgr.dtype, what=f"{what} grad {i}")


def _inputs(rng, shapes, dtype, kind="any"):
    out = []
    for s in shapes:
        a = rng.standard_normal(s)
        if kind == "nonzero":  # |a| >= 0.5: divisors, negative powers
            a = np.sign(a + (a == 0)) * (0.5 + np.abs(a))
        elif kind == "positive":
            a = 0.5 + np.abs(a)
        out.append(a.astype(dtype))
    return out


# ==================================================================================================
# elementwise ops with broadcasting, reductions, matmul
# ==================================================================================================

ELEMENTWISE = {
    # name: (fn, operand shapes, kind of inputs)
    "add_same": (lambda lib, a, b: a + b, [(3, 4), (3, 4)], "any"),
    "add_row": (lambda lib, a, b: a + b, [(3, 4), (4,)], "any"),
    "sub_outer": (lambda lib, a, b: a - b, [(3, 1), (1, 4)], "any"),
    "rsub_3d": (lambda lib, a, b: b - a, [(2, 3, 4), (3, 1)], "any"),
    "mul_3d": (lambda lib, a, b: a * b, [(2, 3, 4), (4,)], "any"),
    "mul_0d": (lambda lib, a, b: a * b, [(), (3, 4)], "any"),
    "div": (lambda lib, a, b: a / b, [(7,), (7,)], "nonzero"),
    "div_bcast": (lambda lib, a, b: a / b, [(13, 1), (1, 7)], "nonzero"),
    "numbers": (lambda lib, a: (2.0 * a - 1.0) / 3.0 + 0.5, [(5, 2)], "any"),
    "rsub_number": (lambda lib, a: 1.0 - a, [(5,)], "any"),
    "rdiv_number": (lambda lib, a: 2.0 / a, [(5,)], "nonzero"),
    "neg": (lambda lib, a: -a, [(2, 3)], "any"),
    "pow2": (lambda lib, a: a**2, [(7,)], "any"),
    "pow3": (lambda lib, a: a**3, [(7,)], "any"),
    "pow_half": (lambda lib, a: a**0.5, [(7,)], "positive"),
    "pow_neg": (lambda lib, a: a**-1.5, [(7,)], "positive"),
    "pow_zero": (lambda lib, a: a**0, [(7,)], "any"),
    "rpow": (lambda lib, a: 2.0**a, [(7,)], "any"),
    "fan_out": (lambda lib, a: a * a + a - a / 2.0, [(4, 3)], "any"),
    "chain": (lambda lib, a, b: ((a * b).sum(1) - a.mean(1)) ** 2, [(6, 5), (5,)], "any"),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_matches_torch(rng, dtype, name):
    fn, shapes, kind = ELEMENTWISE[name]
    assert_parity(run_both(fn, _inputs(rng, shapes, dtype, kind), rng), name)


def test_dtype_promotion_matches_torch(rng):
    """float32 with float64: float64 wins, except that a 0-d tensor does not promote a
    dimensioned one. Gradients come back in each leaf's own dtype."""
    cases = [
        ([(3,), (3,)], (np.float32, np.float64)),
        ([(3,), ()], (np.float32, np.float64)),
        ([(), (3,)], (np.float64, np.float32)),
        ([(), ()], (np.float32, np.float64)),
        ([(2, 3), (3,)], (np.float64, np.float32)),
    ]
    for shapes, dts in cases:
        arrays = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)]
        for fn in (lambda lib, a, b: a * b + a, lambda lib, a, b: a - b / 2.0):
            res = run_both(fn, arrays, rng)
            assert_parity(res, f"promotion {shapes} {dts}")
            assert [g.dtype for g in res[dg][1]] == [np.dtype(d) for d in dts]


REDUCTIONS = {
    "sum_all": lambda lib, a: a.sum(),
    "sum_0": lambda lib, a: a.sum(0),
    "sum_1": lambda lib, a: a.sum(1),
    "sum_neg": lambda lib, a: a.sum(-1),
    "sum_tuple": lambda lib, a: a.sum((0, 2)) if a.ndim == 3 else a.sum((0, 1)),
    "sum_keepdim": lambda lib, a: a.sum(1, keepdim=True),
    "mean_all": lambda lib, a: a.mean(),
    "mean_0": lambda lib, a: a.mean(0),
    "mean_neg": lambda lib, a: a.mean(-1),
    "mean_tuple_keepdim": lambda lib, a: a.mean((0, 1), keepdim=True),
    "mean_then_sum": lambda lib, a: (a.mean(0) * 3.0).sum(),
}


@pytest.mark.parametrize("shape", [(7, 13), (2, 3, 4), (1, 1), (129, 1)])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_match_torch(rng, dtype, name, shape):
    assert_parity(run_both(REDUCTIONS[name], _inputs(rng, [shape], dtype), rng), name)


@pytest.mark.parametrize("name", ["sum_all", "sum_0", "sum_1", "mean_all", "mean_0", "mean_neg"])
def test_reductions_over_empty_match_torch(rng, dtype, name):
    # the sum of nothing is 0; the mean of nothing is NaN; the gradients are empty
    assert_parity(run_both(REDUCTIONS[name], [np.zeros((0, 3), dtype)], rng), name)


MATMUL_SHAPES = [
    ((7,), (7,)),
    ((1,), (1,)),
    ((7,), (7, 13)),
    ((13, 7), (7,)),
    ((13, 7), (7, 5)),
    ((1, 1), (1, 1)),
    ((1, 129), (129, 1)),
    ((129, 13), (13, 7)),
    ((3, 0), (0, 4)),  # k = 0: zeros
    ((0, 5), (5, 3)),
    ((5, 3), (3, 0)),
    ((0,), (0,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)) or "0d")
def test_matmul_matches_torch(rng, dtype, sa, sb):
    for fn in (lambda lib, a, b: a @ b, lambda lib, a, b: lib.matmul(a, b), lambda lib, a, b: a.matmul(b)):
        assert_parity(run_both(fn, _inputs(rng, [sa, sb], dtype), rng), f"{sa}@{sb}")


@pytest.mark.parametrize("m,k,n", [(13, 7, 5), (1, 1, 1), (7, 129, 13)])
def test_matmul_with_transposed_operands_matches_torch(rng, dtype, m, k, n):
    x, w, b = _inputs(rng, [(m, k), (n, k), (n,)], dtype)
    fns = [
        lambda lib, x, w, b: x @ w.T + b,
        lambda lib, x, w, b: (w @ x.T).T - b,
        lambda lib, x, w, b: x.T.T @ w.t(),
    ]
    for fn in fns:
        assert_parity(run_both(fn, [x, w, b], rng), "transposed")


def test_loss_fn_from_the_style_guide_matches_torch(rng, dtype):
    def loss_fn(lib, x, w, b):
        return ((lib.relu(x @ w.T + b) - 1.0) ** 2).mean()

    assert_parity(run_both(loss_fn, _inputs(rng, [(13, 7), (5, 7), (5,)], dtype), rng), "loss_fn")


# ==================================================================================================
# activations, including the exact kinks
# ==================================================================================================


def _act(name, slope=0.01):
    if name == "leaky_relu":
        return lambda lib, x: lib.nn.functional.leaky_relu(x, slope)
    return {
        "relu": lambda lib, x: lib.relu(x),
        "relu_F": lambda lib, x: lib.nn.functional.relu(x),
        "relu_method": lambda lib, x: x.relu(),
        "sigmoid": lambda lib, x: lib.sigmoid(x),
        "sigmoid_method": lambda lib, x: x.sigmoid(),
        "tanh": lambda lib, x: lib.tanh(x),
        "tanh_method": lambda lib, x: x.tanh(),
    }[name]


ACTIVATIONS = [
    ("relu", 0.01), ("relu_F", 0.01), ("relu_method", 0.01),
    ("leaky_relu", 0.01), ("leaky_relu", 0.2), ("leaky_relu", -0.5), ("leaky_relu", 1.5),
    ("leaky_relu", 1e-50),  # positive, but 0 in float32: backward needs z there
    ("sigmoid", 0.0), ("sigmoid_method", 0.0), ("tanh", 0.0), ("tanh_method", 0.0),
]


@pytest.mark.parametrize("name,slope", ACTIVATIONS)
def test_activations_match_torch(rng, dtype, name, slope):
    x = rng.standard_normal((13, 7)) * 3.0
    x[0, :5] = [0.0, -0.0, 20.0, -20.0, 1e-30]  # kinks, saturation, a value that rounds away
    x[1, :4] = [50.0, -50.0, 100.0, -100.0]
    assert_parity(run_both(_act(name, slope), [x.astype(dtype)], rng), name)


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_kinks_at_exactly_zero_match_torch(dtype, slope):
    """relu'(0) = 0 and leaky_relu'(0) = slope, at inputs that are exactly +0 and -0, alone and
    inside a Linear + activation (one fused C++ call in densegrad) whose pre-activation is
    exactly 0. Checked against torch and against the values themselves."""
    for name, expect in (("relu", 0.0), ("leaky_relu", slope)):
        grads = []
        for lib in LIBS:
            x = lib.tensor(np.array([0.0, -0.0, 0.0], dtype), requires_grad=True)
            y = _act(name, slope)(lib, x)
            assert np.all(_np(y) == 0.0)
            y.sum().backward()
            grads.append(x.grad.numpy())
        np.testing.assert_array_equal(grads[0], grads[1])
        np.testing.assert_array_equal(grads[0], np.full(3, expect, dtype))

        out = {}
        for lib in LIBS:
            # z = x w^T + b: row 0 is [0, 0, 0] (zero input, zero bias); row 1 is
            # [0.5 + 2, 2 - 2, 1 - 1] = [2.5, 0, 0], exact zeros from non-zero products
            x = lib.tensor(np.array([[0.0, 0.0], [1.0, -2.0]], dtype), requires_grad=True)
            model = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU() if name == "relu" else lib.nn.LeakyReLU(slope))
            model = model.double() if dtype == np.float64 else model
            model.load_state_dict({
                "0.weight": lib.tensor(np.array([[0.5, -1.0], [2.0, 1.0], [1.0, 0.5]], dtype)),
                "0.bias": lib.tensor(np.zeros(3, dtype)),
            })
            y = model(x)
            y.sum().backward()
            out[lib] = (_np(y), x.grad.numpy(), model[0].weight.grad.numpy(), model[0].bias.grad.numpy())
        for what, a, e in zip(("output", "x.grad", "weight.grad", "bias.grad"), out[dg], out[torch]):
            assert_close(a, e, dtype, what=what)
        # bias grad = sum over the batch of act'(z): [act'(0) + 1, 2 act'(0), 2 act'(0)]
        np.testing.assert_array_equal(out[dg][3], np.array([expect + 1.0, 2 * expect, 2 * expect], dtype))


def _relu_nan_case(lib, x, path):
    if path == "relu":
        return lib.relu(x)
    model = lib.nn.Sequential(lib.nn.Linear(3, 3), lib.nn.ReLU())  # densegrad: one fused dense call
    dt = x.detach().numpy().dtype
    model = model.double() if dt == np.float64 else model
    model.load_state_dict({"0.weight": lib.tensor(np.eye(3, dtype=dt)), "0.bias": lib.tensor(np.zeros(3, dt))})
    return model(x)


# torch's ReLU backward is threshold_backward(grad, y, 0) = (y <= 0 ? 0 : grad): it passes the
# gradient where y is NaN, and so do densegrad's kernels (elementwise and fused).
@pytest.mark.parametrize("path", ["relu", "fused_linear_relu"])
def test_relu_grad_at_nan_matches_torch(dtype, path):
    x = np.array([[np.nan, 1.0, -1.0]], dtype)
    assert_parity(run_both(lambda lib, x: _relu_nan_case(lib, x, path), [x], np.random.default_rng(0)), "relu at NaN")


@pytest.mark.parametrize("name,slope", [("leaky_relu", 0.2), ("sigmoid", 0.0), ("tanh", 0.0)])
def test_activations_nan_inf_match_torch(dtype, name, slope):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 2.0, -3.0], dtype)
    res = run_both(_act(name, slope), [x], np.random.default_rng(0))
    assert_parity(res, name)
    assert np.isnan(res[dg][0][0])
    if name != "leaky_relu":  # leaky_relu'(NaN) is the slope in torch (NaN > 0 is false)
        assert np.isnan(res[dg][1][0][0])


def test_relu_forward_nan_inf_match_torch(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 2.0, -3.0], dtype)
    outs = [_np(lib.relu(lib.tensor(x))) for lib in LIBS]
    assert_close(outs[0], outs[1], dtype)


# ==================================================================================================
# functional linear and mse_loss
# ==================================================================================================


@pytest.mark.parametrize(
    "xshape,nin,nout",
    [((7, 13), 13, 5), ((1, 1), 1, 1), ((13,), 13, 7), ((2, 3, 7), 7, 4), ((129, 7), 7, 129), ((0, 7), 7, 3), ((4, 0), 0, 3)],
)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_linear_matches_torch(rng, dtype, xshape, nin, nout, bias):
    x, w, b = _inputs(rng, [xshape, (nout, nin), (nout,)], dtype)
    if bias:
        fn = lambda lib, x, w, b: lib.nn.functional.linear(x, w, b)  # noqa: E731
        arrays = [x, w, b]
    else:
        fn = lambda lib, x, w: lib.nn.functional.linear(x, w)  # noqa: E731
        arrays = [x, w]
    assert_parity(run_both(fn, arrays, rng), "linear")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7,), (13, 3), (1, 1), (129, 7), ()])
def test_mse_loss_matches_torch(rng, dtype, reduction, shape):
    fn = lambda lib, a, b: lib.nn.functional.mse_loss(a, b, reduction=reduction)  # noqa: E731
    assert_parity(run_both(fn, _inputs(rng, [shape, shape], dtype), rng), f"mse {reduction}")
    mod = lambda lib, a, b: lib.nn.MSELoss(reduction=reduction)(a, b)  # noqa: E731
    assert_parity(run_both(mod, _inputs(rng, [shape, shape], dtype), rng), f"MSELoss {reduction}")
    # target a constant (no grad), as in training
    target = rng.standard_normal(shape).astype(dtype)
    res = {}
    for lib in LIBS:
        a = _leaf(lib, _inputs(np.random.default_rng(1), [shape], dtype)[0])
        loss = lib.nn.functional.mse_loss(a, lib.tensor(target.copy()), reduction=reduction)
        loss.sum().backward()
        res[lib] = (_np(loss), [a.grad.numpy()])
    assert_parity(res, "mse constant target")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_of_empty_matches_torch(rng, dtype, reduction):
    # mean of nothing is NaN (no warning), sum is 0, none is empty
    fn = lambda lib, a, b: lib.nn.functional.mse_loss(a, b, reduction=reduction)  # noqa: E731
    res = run_both(fn, [np.zeros((0,), dtype), np.zeros((0,), dtype)], rng)
    assert_parity(res, f"mse empty {reduction}")


# ==================================================================================================
# whole models: Sequential forward, loss, grads; then several optimizer steps
# ==================================================================================================

# Each spec: layers as (name, *args); ('Linear', in, out[, bias]). Names are attributes of both
# densegrad.nn and torch.nn.
MODELS = {
    "mlp_relu": [("Linear", 7, 13), ("ReLU",), ("Linear", 13, 1)],
    "one_unit": [("Linear", 1, 1)],
    "leaky_sigmoid": [("Linear", 129, 7), ("LeakyReLU", 0.2), ("Linear", 7, 13), ("Sigmoid",), ("Linear", 13, 1), ("Identity",)],
    "tanh_nobias": [("Linear", 13, 7, False), ("Tanh",)],
    "two_linears": [("Linear", 7, 13), ("Linear", 13, 5)],
    "activation_first": [("ReLU",), ("Linear", 7, 3)],
    "identity_between": [("Linear", 7, 13), ("Identity",), ("Linear", 13, 2)],
    "wide_default_leaky": [("Linear", 5, 129), ("LeakyReLU",), ("Linear", 129, 3, False), ("Tanh",)],
    "act_after_act": [("Linear", 7, 7), ("Tanh",), ("ReLU",), ("Linear", 7, 1), ("Sigmoid",)],
}


def build(lib, spec, dtype):
    layers = []
    for name, *args in spec:
        if name == "Linear":
            layers.append(lib.nn.Linear(args[0], args[1], bias=args[2] if len(args) > 2 else True))
        else:
            layers.append(getattr(lib.nn, name)(*args))
    model = lib.nn.Sequential(*layers)
    return model.double() if dtype == np.float64 else model


def twin_models(spec, dtype, seed):
    """The densegrad model (seeded init) and the torch model with the same weights, copied via
    state_dict (strict: the names must be torch's)."""
    dg.manual_seed(seed)
    dm = build(dg, spec, dtype)
    tm = build(torch, spec, dtype)
    sd = dm.state_dict()
    assert list(sd) == list(tm.state_dict())
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()})
    return dm, tm


def _in_out(spec):
    ins = [a[1] for a in spec if a[0] == "Linear"]
    return ins[0], [a[2] for a in spec if a[0] == "Linear"][-1]


def forward_backward(lib, model, x, y):
    out = model(lib.tensor(x.copy()))
    loss = lib.nn.functional.mse_loss(out, lib.tensor(y.copy()))
    loss.backward()
    return _np(out), _np(loss)


def _grads(model):
    return {k: (None if p.grad is None else p.grad.numpy().copy()) for k, p in model.named_parameters()}


def _params(model):
    return {k: p.detach().numpy().copy() for k, p in model.named_parameters()}


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("batch", [1, 13, 129])
@pytest.mark.parametrize("name", list(MODELS))
def test_model_forward_loss_grads_match_torch(rng, dtype, name, batch, fuse):
    spec = MODELS[name]
    nin, nout = _in_out(spec)
    dm, tm = twin_models(spec, dtype, seed=batch)
    dm.fuse = fuse
    x = rng.standard_normal((batch, nin)).astype(dtype)
    y = rng.standard_normal((batch, nout)).astype(dtype)
    d_out, d_loss = forward_backward(dg, dm, x, y)
    t_out, t_loss = forward_backward(torch, tm, x, y)
    assert_close(d_out, t_out, dtype, what="output")
    assert_close(d_loss, t_loss, dtype, what="loss")
    dg_g, t_g = _grads(dm), _grads(tm)
    assert list(dg_g) == list(t_g)
    for k in t_g:
        assert dg_g[k].dtype == dtype
        assert_close(dg_g[k], t_g[k], dtype, what=f"grad {k}")


@pytest.mark.parametrize("name", ["mlp_relu", "leaky_sigmoid", "two_linears"])
def test_model_on_3d_input_matches_torch(rng, dtype, name):
    spec = MODELS[name]
    nin, nout = _in_out(spec)
    dm, tm = twin_models(spec, dtype, seed=3)
    x = rng.standard_normal((2, 5, nin)).astype(dtype)
    y = rng.standard_normal((2, 5, nout)).astype(dtype)
    for a, e in zip(forward_backward(dg, dm, x, y), forward_backward(torch, tm, x, y)):
        assert_close(a, e, dtype)
    for k, g in _grads(tm).items():
        assert_close(_grads(dm)[k], g, dtype, what=k)


def test_single_modules_match_torch(rng, dtype):
    """Linear and MSELoss as bare modules (state_dict names 'weight', 'bias')."""
    for bias in (True, False):
        dg.manual_seed(0)
        dl = dg.nn.Linear(7, 13, bias=bias)
        tl = torch.nn.Linear(7, 13, bias=bias)
        if dtype == np.float64:
            dl, tl = dl.double(), tl.double()
        tl.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in dl.state_dict().items()})
        x = rng.standard_normal((5, 7)).astype(dtype)
        y = rng.standard_normal((5, 13)).astype(dtype)
        res = {}
        for lib, m in ((dg, dl), (torch, tl)):
            out = m(lib.tensor(x.copy()))
            loss = lib.nn.MSELoss(reduction="sum")(out, lib.tensor(y.copy()))
            loss.backward()
            res[lib] = [_np(out), _np(loss)] + [g for g in _grads(m).values()]
        assert len(res[dg]) == len(res[torch]) == (4 if bias else 3)
        for a, e in zip(res[dg], res[torch]):
            assert_close(a, e, dtype)


@pytest.mark.parametrize("name", list(MODELS))
def test_fused_and_unfused_sequential_agree(rng, dtype, name):
    spec = MODELS[name]
    nin, nout = _in_out(spec)
    dg.manual_seed(11)
    model = build(dg, spec, dtype)
    assert model.fuse is True  # the default
    x = rng.standard_normal((13, nin)).astype(dtype)
    x[0] = 0.0  # a zero row: pre-activations equal to the bias
    y = rng.standard_normal((13, nout)).astype(dtype)
    results = []
    for fuse in (True, False):
        model.fuse = fuse
        model.zero_grad()
        out, loss = forward_backward(dg, model, x, y)
        results.append((out, loss, _grads(model)))
    (o1, l1, g1), (o2, l2, g2) = results
    assert_close(o1, o2, dtype, what="output")
    assert_close(l1, l2, dtype, what="loss")
    for k in g1:
        assert_close(g1[k], g2[k], dtype, what=k)


OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_momentum_dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    "sgd_nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": ("SGD", dict(lr=0.1, weight_decay=0.1)),
    "sgd_maximize": ("SGD", dict(lr=0.05, maximize=True)),
    "sgd_all": ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.05, nesterov=True, maximize=True)),
    "adam": ("Adam", dict()),
    "adam_lr": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    "adam_weight_decay": ("Adam", dict(lr=0.01, weight_decay=0.1)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adam_maximize": ("Adam", dict(lr=0.01, maximize=True)),
    "adam_all": ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True)),
}
TRAIN_MODELS = {
    "mlp_relu": (MODELS["mlp_relu"], 13),
    "one_unit": (MODELS["one_unit"], 1),
    "leaky_sigmoid": (MODELS["leaky_sigmoid"], 7),
    "wide_default_leaky": (MODELS["wide_default_leaky"], 129),
    "tanh_nobias": (MODELS["tanh_nobias"], 1),
}


def assert_params_close(actual, expected, start, dtype, what):
    """assert_close on parameters after optimizer steps, on the scale of the parameter's start
    as well as its end: after a few steps an element can be a small difference of larger numbers
    (p0 - lr * sum of updates, e.g. a one-element bias near 0), whose rounding error is relative
    to those numbers, not to the result. The start values, identical on both sides, are appended
    only to raise atol's scale to max(|start|, |expected|); rtol is still TOL[dtype]."""
    s = np.ravel(start)
    assert_close(np.concatenate([np.ravel(actual), s]), np.concatenate([np.ravel(expected), s]), dtype, what=what)
    assert np.shape(actual) == np.shape(expected)


@pytest.mark.parametrize("model_name", list(TRAIN_MODELS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_training_steps_match_torch(rng, dtype, opt_name, model_name):
    """Five steps of each optimizer on twin models. Each step compares the loss and the gradients,
    then gives torch's parameters densegrad's gradients before both optimizers step, and compares
    the parameters. Without that hand-over the parameter comparison measures Adam's conditioning,
    not the two implementations: its first step moves a parameter by lr * g / (|g| + eps), so a
    gradient near eps amplifies its rounding error by about lr * eps / (|g| + eps)^2. Seen on an
    AVX-512 CPU: a float64 gradient of 1.6e-8, different in the last bits (1.4e-18, through a
    different summation order), moved the weight by 2.1e-13, over the 1e-12 tolerance on a
    scale of 0.1."""
    spec, batch = TRAIN_MODELS[model_name]
    nin, nout = _in_out(spec)
    cls, opts = OPTIMIZERS[opt_name]
    dm, tm = twin_models(spec, dtype, seed=batch + 1)
    dopt = getattr(dg.optim, cls)(dm.parameters(), **opts)
    topt = getattr(torch.optim, cls)(tm.parameters(), **opts)
    start = _params(dm)
    steps = 5
    batches = [
        (rng.standard_normal((batch, nin)).astype(dtype), rng.standard_normal((batch, nout)).astype(dtype))
        for _ in range(steps)
    ]
    for i, (x, y) in enumerate(batches):
        losses = []
        for lib, model, opt in ((dg, dm, dopt), (torch, tm, topt)):
            opt.zero_grad()
            losses.append(forward_backward(lib, model, x, y)[1])
        assert_close(losses[0], losses[1], dtype, what=f"loss at step {i + 1}")
        d_g = _grads(dm)
        for k, (dp, tp) in zip(d_g, zip(dm.parameters(), tm.parameters())):
            assert_close(d_g[k], tp.grad.numpy(), dtype, what=f"{k}.grad at step {i + 1}")
            tp.grad = torch.from_numpy(dp.grad.numpy().copy())
        dopt.step()
        topt.step()
        d_p, t_p = _params(dm), _params(tm)
        for k in t_p:
            assert_params_close(d_p[k], t_p[k], start[k], dtype, what=f"{k} after step {i + 1}")
    # the steps did something (a no-op optimizer would also agree with itself)
    assert any(not np.array_equal(start[k], d_p[k]) for k in start)
    # state keys as torch names them
    for dp, tp in zip(dm.parameters(), tm.parameters()):
        assert set(dopt.state[dp]) == set(topt.state[tp])


# ==================================================================================================
# nn.Linear's default initialisation: the same distribution as torch's (not the same numbers)
# ==================================================================================================


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b|."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size - np.searchsorted(b, grid, side="right") / b.size)))


@pytest.mark.parametrize("nin,nout", [(400, 500), (1, 20000), (7, 3000)])
def test_linear_init_distribution_matches_torch(dtype, nin, nout):
    """W and b ~ U(-1/sqrt(in), 1/sqrt(in)) in both libraries. Bounds are exact; the moments use
    5-sigma tolerances from the uniform distribution's own spread (seeded: no flakiness, and a
    wrong bound, e.g. kaiming's sqrt(6/in) or a missing factor, is off by many sigma)."""
    dg.manual_seed(2026)
    torch.manual_seed(2026)
    dl = dg.nn.Linear(nin, nout, dtype=dtype)
    tl = torch.nn.Linear(nin, nout, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    bound = 1.0 / math.sqrt(nin)
    for name in ("weight", "bias"):
        d = getattr(dl, name).detach().numpy().astype(np.float64).ravel()
        t = getattr(tl, name).detach().numpy().astype(np.float64).ravel()
        assert getattr(dl, name).dtype == dtype
        n = d.size
        for v in (d, t):
            assert np.all(np.abs(v) <= bound * (1 + 1e-6))  # float32 rounding of the bound
            # the bound is reached: P(max|v| < (1 - delta) bound) = (1 - delta)^n
            delta = 20.0 / n  # (1 - 20/n)^n < e^-20
            assert np.abs(v).max() > (1 - delta) * bound
            # mean 0, sd of the sample mean bound/sqrt(3n)
            assert abs(v.mean()) < 5 * bound / math.sqrt(3 * n)
            # E[v^2] = bound^2/3, sd of the sample mean of v^2 = bound^2 sqrt(4/45/n)
            assert abs((v**2).mean() - bound**2 / 3) < 5 * bound**2 * math.sqrt(4 / 45 / n)
        # same distribution: KS critical value at alpha = 1e-6 is sqrt(-ln(alpha/2)/2) sqrt(2/n)
        m = t.size
        assert _ks_statistic(d, t) < math.sqrt(-math.log(0.5e-6) / 2) * math.sqrt((n + m) / (n * m))
        assert not np.array_equal(np.sort(d), np.sort(t))  # not the same numbers, as documented


@pytest.mark.parametrize("dtype_name,value", [("float32", 1e-25), ("float32", 3e19), ("float64", 1e-300), ("float64", 1e200)])
def test_div_gradient_at_extreme_magnitudes_is_torchs(dtype_name, value):
    """d(a/b)/db as -g * ((a / b) / b), PyTorch's order: -g * a / (b * b) gave -inf (b * b
    underflows) or -0.0 (overflows) where PyTorch gives a finite number."""
    a = dg.tensor([value, 2.0], dtype=getattr(dg, dtype_name), requires_grad=True)
    b = dg.tensor([value, 3.0], dtype=getattr(dg, dtype_name), requires_grad=True)
    (a / b).sum().backward()
    ta = torch.tensor([value, 2.0], dtype=getattr(torch, dtype_name), requires_grad=True)
    tb = torch.tensor([value, 3.0], dtype=getattr(torch, dtype_name), requires_grad=True)
    (ta / tb).sum().backward()
    assert np.all(np.isfinite(b.grad.numpy()))
    assert b.grad.tolist() == tb.grad.tolist() and a.grad.tolist() == ta.grad.tolist()


@pytest.mark.parametrize("expr", [
    lambda x: -x.tanh(), lambda x: x.sigmoid() ** 2, lambda x: 2.0 ** x.relu(), lambda x: -(x.tanh() + x.sigmoid()),
    lambda x: (-x).sigmoid() ** 3 * 2.0,
])
def test_activations_of_0d_tensors_inside_numpy_math_match_torch(dtype, expr):
    """NumPy math on 0-d arrays returns scalars (-g, a ** p): an activation's backward once got
    one and refused it ("dy must be a numpy.ndarray")."""
    grads = []
    for lib in LIBS:
        x = lib.tensor(np.array(0.5, dtype), requires_grad=True)
        y = expr(x)
        y.backward()
        grads.append(_np(x.grad))
    assert grads[0].shape == () and grads[0].dtype == dtype
    assert_close(grads[0], grads[1])


SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.5, 0.5, np.inf, -np.inf, np.nan, 1e-30, 1e30]


def _at_special_values(fn, dtype):
    """[(y, dy/dx) from densegrad, (y, dy/dx) from torch] of y = fn(x) at SPECIAL, each as arrays."""
    out = []
    for lib in LIBS:
        x = lib.tensor(np.array(SPECIAL, dtype), requires_grad=True)
        y = fn(x)
        y.backward(lib.tensor(np.ones(len(SPECIAL), dtype)))
        out.append((_np(y), _np(x.grad)))
    return out


@pytest.mark.parametrize("p", [0.5, -0.5, 1.5, 2.0, -1.0, 3.0, 0.0])
def test_powers_of_special_values_match_torch(dtype, p):
    """PyTorch computes x ** 0.5 as sqrt and x ** -0.5 as rsqrt: at -0.0 and -inf they differ from
    C's pow (rsqrt(-0.0) is -inf, pow(-0.0, -0.5) +inf), in the values and in the gradients."""
    out = _at_special_values(lambda x: x ** p, dtype)
    for d, t in zip(out[0], out[1]):
        np.testing.assert_allclose(d, t, rtol=1e-6, equal_nan=True)
        assert np.array_equal(np.signbit(d[np.isinf(d)]), np.signbit(t[np.isinf(t)]))


@pytest.mark.parametrize("c", [0.0, 2.0, 0.5])
def test_number_to_a_tensor_power_matches_torch_at_special_values(dtype, c):
    """d/dx c ** x for c = 0 is 0 where x >= 0 and out * log(0) elsewhere (-inf for x < 0, NaN
    for NaN), as in PyTorch; it was 0 everywhere."""
    out = _at_special_values(lambda x: c ** x, dtype)
    for d, t in zip(out[0], out[1]):
        np.testing.assert_allclose(d, t, rtol=1e-6, equal_nan=True)
