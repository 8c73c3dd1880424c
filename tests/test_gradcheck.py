"""Finite-difference gradient checks in float64 for every differentiable op and layer.

One helper, ``gradcheck``, compares what autograd leaves in ``.grad`` with a central difference
of L(inputs) = sum(f(inputs) * R) for a fixed random upstream gradient R (for a one-element
output the default seed of 1 is used, so ``backward()`` without ``gradient`` is checked too).
Thresholds are those of torch.autograd.gradcheck. Inputs of relu-family ops (and the
pre-activations of dense layers) are kept away from the kink at 0, where a central difference
straddling the kink would measure the average of the two one-sided slopes instead of either.
A negative control (an op whose backward is deliberately 10% off) must be caught.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import densegrad as dg
import densegrad.nn.functional as F
from densegrad import nn
from densegrad.autograd import Function

# torch.autograd.gradcheck's defaults: eps 1e-6, atol 1e-5, rtol 1e-3. In float64 the central
# difference has truncation error ~eps^2 * f''' and rounding error ~1e-16 * |f| / eps ~ 1e-10,
# both far inside atol.
EPS = 1e-6
ATOL = 1e-5
RTOL = 1e-3
# How far sampled inputs stay from a kink: well beyond 10 * EPS, so the perturbed point never
# crosses it even after the perturbation is amplified by a weight of size ~3.
KINK_MARGIN = 1e-3


class GradcheckError(AssertionError):
    pass


def gradcheck(fn, inputs, *, eps=EPS, atol=ATOL, rtol=RTOL, seed=0):
    """Check autograd's gradients of fn(*inputs) against central differences.

    inputs: Tensors (checked when they require grad) or anything else (passed through).
    fn may also read tensors it closes over (a module's parameters); list them in inputs so
    they are perturbed and checked. Raises GradcheckError naming the input, the element and
    both values at the first mismatch; returns the number of elements compared.
    """
    checked = [t for t in inputs if isinstance(t, dg.Tensor) and t.requires_grad]
    assert checked, "gradcheck needs at least one input that requires grad"
    for t in checked:
        assert t.is_leaf, "gradcheck perturbs leaves only"
        t.grad = None

    out = fn(*inputs)
    assert isinstance(out, dg.Tensor) and out.requires_grad, "fn's output is not on the tape"
    out_shape = out.shape
    if out.numel() == 1:
        upstream = np.ones(out_shape)
        out.backward()  # the implicit seed of 1
    else:
        upstream = np.random.default_rng(seed).standard_normal(out_shape)
        out.backward(gradient=upstream)

    def objective() -> float:
        with dg.no_grad():
            val = fn(*inputs)
        assert val.shape == out_shape
        return float(np.sum(val.detach().numpy().astype(np.float64) * upstream))

    compared = 0
    for k, t in enumerate(checked):
        g = t.grad
        if g is None:
            raise GradcheckError(f"input {k}: .grad is None after backward")
        if g.shape != t.shape or g.dtype != t.dtype:
            raise GradcheckError(f"input {k}: .grad is {g.dtype}{g.shape}, the input is {t.dtype}{t.shape}")
        analytic = g.numpy().astype(np.float64)
        numeric = np.zeros(t.shape)
        data = t.detach().numpy()  # shares memory with t: perturb in place, then restore
        for idx in np.ndindex(t.shape):
            orig = data[idx]
            data[idx] = orig + eps
            plus = objective()
            data[idx] = orig - eps
            minus = objective()
            data[idx] = orig
            numeric[idx] = (plus - minus) / (2 * eps)
        compared += numeric.size
        bad = ~(np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric))
        if bad.any():
            i = tuple(int(v) for v in np.argwhere(bad)[0])
            raise GradcheckError(
                f"gradient mismatch for input {k} (shape {t.shape}) at {i}: autograd {analytic[i]!r}, "
                f"finite difference {numeric[i]!r} ({int(bad.sum())} of {bad.size} elements differ)"
            )
    return compared


# ---- input makers ---------------------------------------------------------------------------------


def leaf(arr, dtype=np.float64):
    return dg.tensor(np.asarray(arr, dtype=dtype), requires_grad=True)


def normal(rng, *shape):
    return leaf(rng.standard_normal(shape))


def positive(rng, *shape, low=0.5, high=2.0):
    return leaf(rng.uniform(low, high, shape))


def away_from_zero(rng, *shape, margin=0.1):
    """Signed values with |x| >= margin: the relu-family kink at 0 is out of the way."""
    x = rng.standard_normal(shape)
    x = np.where(np.abs(x) < margin, np.copysign(margin, x) + x, x)
    return leaf(x)


def resample_until(make, ok, tries=200):
    """make() until ok(result): used to keep dense pre-activations away from the kink."""
    for _ in range(tries):
        case = make()
        if ok(case):
            return case
    raise AssertionError(f"no sample satisfied the kink margin in {tries} tries")


def z_ok(*zs):
    return all(np.abs(z).min(initial=np.inf) > KINK_MARGIN for z in zs)


# ---- the negative control ---------------------------------------------------------------------


class _Square(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return 2.0 * a * g


class _WrongSquare(_Square):
    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return 2.2 * a * g  # 10% off: far outside rtol 1e-3


def test_helper_passes_a_correct_custom_function(rng):
    assert gradcheck(_Square.apply, [normal(rng, 3, 4)]) == 12


def test_helper_catches_a_wrong_gradient(rng):
    with pytest.raises(GradcheckError, match="gradient mismatch for input 0"):
        gradcheck(_WrongSquare.apply, [normal(rng, 3, 4)])


def test_helper_catches_a_wrong_gradient_of_a_scalar_output(rng):
    with pytest.raises(GradcheckError, match="gradient mismatch"):
        gradcheck(lambda a: _WrongSquare.apply(a).sum(), [normal(rng, 5)])


def test_helper_catches_a_gradient_missing_for_one_input(rng):
    class DropsB(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, None

    with pytest.raises(GradcheckError, match="input 1: .grad is None"):
        gradcheck(DropsB.apply, [normal(rng, 3), normal(rng, 3)])


# ---- elementwise arithmetic -------------------------------------------------------------------

# Shape pairs broadcasting in both directions, with size-1 axes on either side and a 0-d operand.
BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((1, 4), (2, 3, 1)),
    ((3, 4), ()),
    ((), (3, 4)),
    ((), ()),
]


BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("sa,sb", BROADCAST_SHAPES, ids=[f"{a}-{b}" for a, b in BROADCAST_SHAPES])
@pytest.mark.parametrize("name", list(BINARY_OPS))
def test_binary_tensor_tensor_broadcasting(rng, name, sa, sb):
    a = normal(rng, *sa)
    b = positive(rng, *sb) if name == "div" else normal(rng, *sb)  # divisor away from 0
    assert gradcheck(BINARY_OPS[name], [a, b]) == a.numel() + b.numel()


@pytest.mark.parametrize("sa,sb", [((3, 4), (4,)), ((2, 1), (2, 3))])
def test_binary_op_with_one_operand_constant(rng, sa, sb):
    """Only one side requires grad: the other side's gradient is skipped, not broken."""
    a = normal(rng, *sa)
    b = dg.tensor(rng.uniform(0.5, 2.0, sb), dtype=dg.float64)
    gradcheck(lambda a: a / b * b - b, [a])
    gradcheck(lambda a: b / a, [positive(rng, *sa)])
    assert b.grad is None


SCALAR_OPS = {
    "x+c": lambda x: x + 2.5,
    "c+x": lambda x: 2.5 + x,
    "x-c": lambda x: x - 2.5,
    "c-x": lambda x: 2.5 - x,
    "x*c": lambda x: x * -1.5,
    "c*x": lambda x: -1.5 * x,
    "x/c": lambda x: x / -1.5,
    "c/x": lambda x: -1.5 / x,
    "x*np.float64": lambda x: x * np.float64(0.75),
    "x+0d-array": lambda x: x + np.array(1.25),
    "ndarray*x": lambda x: np.linspace(-1.0, 1.0, 4) * x,
    "neg": lambda x: -x,
    "pos": lambda x: +x * 1.0,
}


@pytest.mark.parametrize("op", list(SCALAR_OPS.values()), ids=list(SCALAR_OPS))
def test_tensor_scalar_and_scalar_tensor(rng, op):
    x = positive(rng, 3, 4)  # positive: c / x stays away from the pole at 0
    gradcheck(op, [x])
    gradcheck(op, [leaf(-x.detach().numpy())])  # and negative


@pytest.mark.parametrize("p", [0.0, 1.0, 0.5, 2.0, 3.0, -1.0, -2.5, 1.7])
def test_pow_number(rng, p):
    x = positive(rng, 3, 4)
    gradcheck(lambda x: x**p, [x])


@pytest.mark.parametrize("p", [2.0, 3.0])
def test_pow_integer_exponent_on_signed_input(rng, p):
    gradcheck(lambda x: x ** int(p), [normal(rng, 5)])
    gradcheck(lambda x: x.pow(p), [normal(rng, 5)])


@pytest.mark.parametrize("base", [2.0, 0.5, np.e, 1.0, 0.0])
def test_number_pow_tensor(rng, base):
    # exponents positive: 0 ** a is then 0 on both sides of the difference, and its gradient 0
    gradcheck(lambda a: base**a, [positive(rng, 3, 4)])


# ---- matrix product ---------------------------------------------------------------------------

MATMUL_SHAPES = {
    "1d@1d": ((5,), (5,)),
    "1d@2d": ((5,), (5, 3)),
    "2d@1d": ((4, 5), (5,)),
    "2d@2d": ((4, 5), (5, 3)),
    "1x1@1x1": ((1, 1), (1, 1)),
    "k=1": ((4, 1), (1, 3)),
}


@pytest.mark.parametrize("sa,sb", list(MATMUL_SHAPES.values()), ids=list(MATMUL_SHAPES))
def test_matmul(rng, sa, sb):
    a, b = normal(rng, *sa), normal(rng, *sb)
    gradcheck(lambda a, b: a @ b, [a, b])
    gradcheck(lambda a, b: dg.matmul(a, b), [a, b])


def test_matmul_of_transposed_operands(rng):
    """a.T is a Fortran-order view: the GEMM receives it as a transpose flag."""
    a, b = normal(rng, 5, 4), normal(rng, 3, 5)
    gradcheck(lambda a, b: a.T @ b.T, [a, b])
    gradcheck(lambda a, b: (a @ a.T) @ b.T.T.T, [a, b])


def test_matmul_with_constant_ndarray_operand(rng):
    w = rng.standard_normal((5, 3))
    gradcheck(lambda a: a @ w, [normal(rng, 4, 5)])
    gradcheck(lambda a: w.T @ a, [normal(rng, 5, 2)])


# ---- shape ops and reductions -----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (5,), ()])
def test_transpose(rng, shape):
    # the random upstream gradient makes every output element count with its own weight
    gradcheck(lambda x: x.T, [normal(rng, *shape)])


def test_t_method(rng):
    gradcheck(lambda x: x.t() @ x, [normal(rng, 4, 3)])


REDUCTIONS = [
    (None, False),
    (0, False),
    (1, False),
    (2, True),
    (-1, False),
    (-3, True),
    ((0, 2), False),
    ((0, 2), True),
    ((-1, 0), False),
    ((0, 1, 2), True),
    ((), False),
]


@pytest.mark.parametrize("dim,keepdim", REDUCTIONS, ids=[f"dim={d}-keep={k}" for d, k in REDUCTIONS])
@pytest.mark.parametrize("method", ["sum", "mean"])
def test_sum_and_mean(rng, method, dim, keepdim):
    x = normal(rng, 2, 3, 4)
    if dim is None:
        gradcheck(lambda x: getattr(x, method)() * 1.0, [x])
    gradcheck(lambda x: getattr(x, method)(dim=dim, keepdim=keepdim), [x])
    gradcheck(lambda x: getattr(x, method)(dim, keepdim) ** 2, [x])


@pytest.mark.parametrize("method", ["sum", "mean"])
def test_empty_dim_tuple_reduces_every_dimension_as_in_pytorch(method):
    x = dg.tensor(np.arange(6.0).reshape(2, 3), dtype=dg.float64)
    expect = {"sum": 15.0, "mean": 2.5}[method]
    assert getattr(x, method)(dim=()).shape == () and getattr(x, method)(dim=()).item() == expect
    assert getattr(x, method)(dim=[], keepdim=True).shape == (1, 1)


@pytest.mark.parametrize("method", ["sum", "mean"])
def test_reductions_of_0d_and_1d(rng, method):
    gradcheck(lambda x: getattr(x, method)() * 3.0, [normal(rng)])
    gradcheck(lambda x: getattr(x, method)(0), [normal(rng)])
    gradcheck(lambda x: getattr(x, method)(-1, keepdim=True), [normal(rng, 7)])


@pytest.mark.parametrize("shape", [(12,), (3, 4), (2, 2, 3), (1, 12, 1), (-1, 6), (4, -1)])
def test_reshape(rng, shape):
    gradcheck(lambda x: x.reshape(shape), [normal(rng, 3, 4)])
    gradcheck(lambda x: x.reshape(*shape).sum(0), [normal(rng, 2, 6)])
    gradcheck(lambda x: x.view(shape), [normal(rng, 12)])


INDEX_KEYS = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, 3),
    "strided slice": (slice(None), slice(None, None, 2)),
    "reversed": (slice(None, None, -1), slice(3, 0, -2)),
    "int and slice": (2, slice(1, None)),
    "ellipsis": (Ellipsis, 0),
    "newaxis": (None, slice(None), 1),
    "repeated int list": [0, 2, 0, 0],
    "repeated int array": (np.array([1, 1, 3, 1]), slice(None)),
    "repeated pairs": (np.array([0, 0, 2, 0]), np.array([1, 1, 3, 1])),
    "int array on last axis": (slice(None), [3, 3, 0]),
    "bool mask": np.array([True, False, True, True]),
    "scalar element": (1, 2),
}


@pytest.mark.parametrize("key", list(INDEX_KEYS.values()), ids=list(INDEX_KEYS))
def test_getitem(rng, key):
    x = normal(rng, 4, 5)
    gradcheck(lambda x: x[key], [x])
    gradcheck(lambda x: (x * 2.0)[key] ** 2, [x])  # through a non-leaf, squared so values matter


def test_getitem_with_a_tensor_of_indices(rng):
    idx = dg.tensor([2.0, 0.0, 2.0])  # float tensors of indices are accepted, as integer keys
    gradcheck(lambda x: x[idx], [normal(rng, 4, 3)])


def test_clone(rng):
    gradcheck(lambda x: x.clone() * x, [normal(rng, 3, 4)])


def test_to_dtype_round_trip():
    """float64 -> float32 -> float64. The float32 step rounds, so a 1e-6 difference would
    measure rounding: instead every value (x and x +- eps) is a dyadic rational exactly
    representable in float32, and eps = 2**-10, so the difference is exact."""
    vals = np.array([[-1.5, 0.25, 3.0], [0.625, -2.0, 1.125]])
    x = leaf(vals)
    gradcheck(lambda x: x.to(dg.float32).to(dg.float64) * x, [x], eps=2.0**-10)
    gradcheck(lambda x: x.float().double() ** 2, [x], eps=2.0**-10)
    # and a float32 leaf through float64 (its grad must come back as float32)
    x32 = leaf(vals, np.float32)
    gradcheck(lambda x: x.to(dg.float64) * 3.0, [x32], eps=2.0**-10)
    assert x32.grad.dtype == dg.float32
    assert x.to(dg.float64) is x  # same dtype: no op recorded


# ---- activations ------------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": F.relu,
    "dg.relu": dg.relu,
    "Tensor.relu": lambda x: x.relu(),
    "leaky_relu default": F.leaky_relu,
    "leaky_relu 0.01": lambda x: F.leaky_relu(x, 0.01),
    "leaky_relu 0.3": lambda x: F.leaky_relu(x, 0.3),
    "leaky_relu -0.5": lambda x: F.leaky_relu(x, -0.5),
    "leaky_relu 0": lambda x: F.leaky_relu(x, 0.0),
    "leaky_relu 1.5": lambda x: F.leaky_relu(x, 1.5),
    "sigmoid": F.sigmoid,
    "dg.sigmoid": dg.sigmoid,
    "Tensor.sigmoid": lambda x: x.sigmoid(),
    "tanh": F.tanh,
    "dg.tanh": dg.tanh,
    "Tensor.tanh": lambda x: x.tanh(),
    "ReLU module": nn.ReLU(),
    "LeakyReLU(-0.5) module": nn.LeakyReLU(-0.5),
    "Sigmoid module": nn.Sigmoid(),
    "Tanh module": nn.Tanh(),
    "Identity module": lambda x: nn.Identity()(x) * 1.0,
}


@pytest.mark.parametrize("fn", list(ACTIVATIONS.values()), ids=list(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(3, 5), (7,), (2, 3, 2)])
def test_activation(rng, fn, shape):
    gradcheck(fn, [away_from_zero(rng, *shape)])


@pytest.mark.parametrize("fn", [F.sigmoid, F.tanh], ids=["sigmoid", "tanh"])
def test_saturating_activation_at_large_inputs(fn):
    gradcheck(fn, [leaf([-30.0, -8.0, 0.0, 8.0, 30.0])])


@pytest.mark.parametrize("slope", [0.01, 0.3, -0.5])
def test_leaky_relu_through_a_non_leaf(rng, slope):
    """With slope <= 0 backward needs the pre-activation; here it is an intermediate result."""
    x = away_from_zero(rng, 4, 3)
    gradcheck(lambda x: F.leaky_relu(x * 2.0 - 0.0, slope) * x, [x])


# ---- dense layers -----------------------------------------------------------------------------

DENSE_ACTS = [
    ("identity", 0.0),
    ("relu", 0.0),
    ("leaky_relu", 0.01),
    ("leaky_relu", 0.3),
    ("leaky_relu", -0.5),
    ("sigmoid", 0.0),
    ("tanh", 0.0),
]


def _dense_case(rng, lead, nin, nout, with_bias):
    def make():
        x = rng.standard_normal(lead + (nin,))
        w = rng.standard_normal((nout, nin)) / np.sqrt(nin)
        b = rng.uniform(-1.0, 1.0, nout) if with_bias else None  # signed, non-uniform
        return x, w, b

    def ok(case):
        x, w, b = case
        _, z = ref.dense_forward(x.reshape(-1, nin), w, b, "identity")
        return z_ok(z)

    x, w, b = resample_until(make, ok)
    return leaf(x), leaf(w), (None if b is None else leaf(b))


@pytest.mark.parametrize("act,slope", DENSE_ACTS, ids=[f"{a}({s})" for a, s in DENSE_ACTS])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("lead", [(5,), (1,), (), (2, 3)], ids=["2d", "batch1", "1d", "3d"])
def test_fused_dense(rng, act, slope, with_bias, lead):
    x, w, b = _dense_case(rng, lead, 4, 3, with_bias)
    inputs = [x, w] + ([b] if with_bias else [])
    if with_bias:
        gradcheck(lambda x, w, b: F._dense(x, w, b, act, slope), inputs)
    else:
        gradcheck(lambda x, w: F._dense(x, w, None, act, slope), inputs)


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("lead", [(5,), (), (2, 3)], ids=["2d", "1d", "3d"])
def test_linear(rng, with_bias, lead):
    x, w, b = _dense_case(rng, lead, 4, 3, with_bias)
    if with_bias:
        gradcheck(lambda x, w, b: F.linear(x, w, b), [x, w, b])
    else:
        gradcheck(lambda x, w: F.linear(x, w), [x, w])


def test_dense_with_only_some_inputs_requiring_grad(rng):
    x, w, b = _dense_case(rng, (5,), 4, 3, True)
    x_const = x.detach()
    gradcheck(lambda w, b: F._dense(x_const, w, b, "tanh", 0.0), [w, b])
    w_const = w.detach()
    gradcheck(lambda x: F._dense(x, w_const, None, "leaky_relu", -0.5), [x])


def _set_params(model, rng):
    """Overwrite a model's parameters with rng samples (signed, non-uniform biases)."""
    state = {}
    for name, p in model.named_parameters():
        fan = p.shape[-1] if p.ndim == 2 else 1
        state[name] = rng.standard_normal(p.shape) / np.sqrt(fan) + (rng.uniform(-0.5, 0.5, p.shape) if p.ndim == 1 else 0)
    model.load_state_dict(state)


def _preactivations(model, x):
    """Every Linear's output in model (a Sequential), from the NumPy reference."""
    zs, h = [], np.asarray(x)
    for m in model:
        if isinstance(m, nn.Linear):
            _, h = ref.dense_forward(h, m.weight.detach().numpy(), None if m.bias is None else m.bias.detach().numpy(), "identity")
            zs.append(h)
        elif isinstance(m, nn.LeakyReLU):
            h = ref.act("leaky_relu", h, m.negative_slope)
        else:
            name = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Identity: "identity"}[type(m)]
            h = ref.act(name, h)
    return zs


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
def test_linear_module(rng, with_bias):
    layer = nn.Linear(4, 3, bias=with_bias, dtype=dg.float64)
    _set_params(layer, rng)
    params = list(layer.parameters())
    assert len(params) == (2 if with_bias else 1)
    gradcheck(lambda x, *params: layer(x), [normal(rng, 5, 4)] + params)
    gradcheck(lambda x, *params: layer(x), [normal(rng, 4)] + params)


def _mlp():
    return nn.Sequential(
        nn.Linear(4, 6, dtype=dg.float64),
        nn.ReLU(),
        nn.Linear(6, 5, dtype=dg.float64),
        nn.LeakyReLU(-0.5),
        nn.Linear(5, 5, bias=False, dtype=dg.float64),
        nn.Tanh(),
        nn.Linear(5, 4, dtype=dg.float64),
        nn.LeakyReLU(0.3),
        nn.Linear(4, 3, dtype=dg.float64),
        nn.Sigmoid(),
        nn.Linear(3, 3, dtype=dg.float64),
        nn.Identity(),
        nn.Linear(3, 2, dtype=dg.float64),  # a last Linear with nothing after it
    )


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
def test_sequential(rng, fuse):
    model = _mlp()
    model.fuse = fuse

    def make():
        _set_params(model, rng)
        return rng.standard_normal((6, 4))

    x = resample_until(make, lambda x: z_ok(*_preactivations(model, x)))
    params = list(model.parameters())
    assert len(params) == 13
    gradcheck(lambda x, *params: model(x), [leaf(x)] + params)
    gradcheck(lambda x, *params: F.mse_loss(model(x), dg.zeros(6, 2, dtype=dg.float64)), [leaf(x)] + params)


def test_sequential_with_activation_first_and_consecutive_linears(rng):
    model = nn.Sequential(nn.Tanh(), nn.Linear(3, 4, dtype=dg.float64), nn.Linear(4, 2, dtype=dg.float64), nn.Sigmoid())
    _set_params(model, rng)
    gradcheck(lambda x, *params: model(x), [normal(rng, 5, 3)] + list(model.parameters()))


# ---- loss -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5, 3), (7,), (1,), (2, 3, 2)])
def test_mse_loss_input_and_target(rng, reduction, shape):
    x, y = normal(rng, *shape), normal(rng, *shape)
    gradcheck(lambda x, y: F.mse_loss(x, y, reduction=reduction), [x, y])
    gradcheck(lambda x, y: nn.MSELoss(reduction)(x, y), [x, y])
    gradcheck(lambda x, y: F.mse_loss(x * y, y * 0.5, reduction), [x, y])


def test_mse_loss_with_only_target_requiring_grad(rng):
    x = dg.tensor(rng.standard_normal((4, 3)), dtype=dg.float64)
    gradcheck(lambda y: F.mse_loss(x, y), [normal(rng, 4, 3)])


def test_mse_loss_of_a_0d_pair(rng):
    gradcheck(lambda x, y: F.mse_loss(x, y), [normal(rng), normal(rng)])


# ---- a composite, to exercise fan-out and accumulation in the engine ----------------------------


def test_composite_expression(rng):
    def f(x, w, b):
        h = F.leaky_relu(x @ w.T + b, -0.5)
        return (h * h.sigmoid() - h.mean(0) / 3.0).sum(-1) ** 2 + 2.0**h[:, 0]

    def make():
        return rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.uniform(-1, 1, 3)

    x, w, b = resample_until(make, lambda c: z_ok(c[0] @ c[1].T + c[2]))
    gradcheck(f, [leaf(x), leaf(w), leaf(b)])


def test_the_implicit_seed_is_fresh_for_each_backward():
    """backward() without a gradient seeds with 1 (a cached template, copied): a Function that
    changes its grad_output in place (allowed, as in PyTorch) does not change later seeds."""

    class ScalesItsGradInPlace(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 3.0

        @staticmethod
        def backward(ctx, g):
            g *= 3.0
            return g

    for _ in range(2):
        a = dg.tensor(np.array(2.0), requires_grad=True)
        ScalesItsGradInPlace.apply(a).backward()
        assert a.grad.item() == 3.0
