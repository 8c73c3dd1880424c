"""densegrad.optim against the NumPy reference (tests/reference.py: sgd(), adam(), written from
PyTorch's documented update rules), in both dtypes, for every combination of options; then the
Optimizer machinery: parameter groups, parameters without a gradient, lazily created state,
zero_grad and step(closure)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import reference as ref
import torch
from conftest import assert_close

import densegrad as dg

SHAPES = [(7,), (13, 3), (1,), (2, 129)]
STEPS = 5
# Gradient scales per step: growing then shrinking, so that amsgrad's running max of v differs
# from v itself, and momentum buffers see changing inputs.
SCALES = [3.0, 1.0, 0.2, 2.0, 0.1]


def _problem(rng, dtype, shapes=SHAPES, steps=STEPS):
    p0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(SCALES[i % len(SCALES)] * rng.standard_normal(s)).astype(dtype) for s in shapes] for i in range(steps)]
    return p0, grads


def _run(cls, opts, p0, grads):
    """Parameters from p0 after one opt.step() per entry of grads (grads set by hand)."""
    params = [dg.nn.Parameter(dg.tensor(p)) for p in p0]
    opt = cls(params, **opts)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = dg.tensor(g)
        assert opt.step() is None
    return params, opt


def _sgd_options():
    out = []
    for momentum, dampening, wd, nesterov, maximize in itertools.product([0.0, 0.9], [0.0, 0.3], [0.0, 0.1], [False, True], [False, True]):
        if nesterov and (momentum == 0 or dampening != 0):
            continue  # invalid in torch and densegrad (ValueError)
        out.append(dict(lr=0.1, momentum=momentum, dampening=dampening, weight_decay=wd, nesterov=nesterov, maximize=maximize))
    return out


def _adam_options():
    out = []
    for wd, amsgrad, maximize, betas, eps in itertools.product([0.0, 0.1], [False, True], [False, True], [(0.9, 0.999), (0.8, 0.99)], [1e-8, 1e-3]):
        out.append(dict(lr=0.01, betas=betas, eps=eps, weight_decay=wd, amsgrad=amsgrad, maximize=maximize))
    return out


def _id(opts):
    return ",".join(f"{k}={v}" for k, v in opts.items() if k != "lr" and v not in (0.0, False)) or "plain"


@pytest.mark.parametrize("opts", _sgd_options(), ids=_id)
def test_sgd_matches_reference(rng, dtype, opts):
    p0, grads = _problem(rng, dtype)
    params, _ = _run(dg.optim.SGD, opts, p0, grads)
    for i, p in enumerate(params):
        assert p.dtype == dtype
        expected = ref.sgd(p0[i], [g[i] for g in grads], **opts)
        assert_close(p.detach().numpy(), expected, dtype, what=f"param {i} {p.shape}")


@pytest.mark.parametrize("opts", _adam_options(), ids=_id)
def test_adam_matches_reference(rng, dtype, opts):
    p0, grads = _problem(rng, dtype)
    params, _ = _run(dg.optim.Adam, opts, p0, grads)
    for i, p in enumerate(params):
        assert p.dtype == dtype
        expected = ref.adam(p0[i], [g[i] for g in grads], **opts)
        assert_close(p.detach().numpy(), expected, dtype, what=f"param {i} {p.shape}")


def test_options_change_the_result(rng):
    """The option tests above are only meaningful if each option changes the trajectory on these
    inputs (e.g. amsgrad needs a v that shrinks)."""
    p0, grads = _problem(rng, np.float64, shapes=[(7,)])
    g = [s[0] for s in grads]
    plain = ref.sgd(p0[0], g, lr=0.1, momentum=0.9)
    for extra in (dict(dampening=0.3), dict(nesterov=True), dict(weight_decay=0.1), dict(maximize=True)):
        assert not np.allclose(ref.sgd(p0[0], g, lr=0.1, momentum=0.9, **extra), plain), extra
    plain = ref.adam(p0[0], g, lr=0.01)
    for extra in (dict(amsgrad=True), dict(weight_decay=0.1), dict(maximize=True), dict(betas=(0.8, 0.99)), dict(eps=1e-3)):
        assert not np.allclose(ref.adam(p0[0], g, lr=0.01, **extra), plain, rtol=1e-9, atol=0), extra


@pytest.mark.parametrize("cls,opts", [(dg.optim.SGD, {}), (dg.optim.Adam, {})], ids=["SGD", "Adam"])
def test_default_hyperparameters_match_reference(rng, dtype, cls, opts):
    # densegrad's defaults: SGD lr=1e-3 (torch 2.13's default), Adam lr=1e-3, betas (0.9, 0.999), eps 1e-8
    p0, grads = _problem(rng, dtype, shapes=[(13,)])
    params, opt = _run(cls, opts, p0, grads)
    reference = ref.sgd(p0[0], [g[0] for g in grads], lr=1e-3) if cls is dg.optim.SGD else ref.adam(p0[0], [g[0] for g in grads])
    assert_close(params[0].detach().numpy(), reference, dtype)
    assert opt.param_groups[0]["lr"] == 1e-3


def test_non_contiguous_gradients_are_read_correctly(rng, dtype):
    p0 = rng.standard_normal((3, 4)).astype(dtype)
    big = rng.standard_normal((3, 8)).astype(dtype)
    variants = [
        big[:, ::2],  # strided
        np.asfortranarray(rng.standard_normal((3, 4)).astype(dtype)),  # Fortran order
        rng.standard_normal((4, 3)).astype(dtype).T,  # transposed view
    ]
    for opt_cls, opts, reference in (
        (dg.optim.SGD, dict(lr=0.1, momentum=0.9), lambda p, gs: ref.sgd(p, gs, lr=0.1, momentum=0.9)),
        (dg.optim.Adam, dict(lr=0.01), lambda p, gs: ref.adam(p, gs, lr=0.01)),
    ):
        p = dg.nn.Parameter(dg.tensor(p0))
        opt = opt_cls([p], **opts)
        for g in variants:
            p.grad = dg.from_numpy(g)  # shares the non-contiguous array
            opt.step()
        assert_close(p.detach().numpy(), reference(p0, variants), dtype)
        assert p.detach().numpy().flags.c_contiguous


# ==================================================================================================
# parameter groups
# ==================================================================================================


def test_param_groups_with_different_hyperparameters(rng, dtype):
    p0, grads = _problem(rng, dtype, shapes=[(7,), (5, 3), (2,)])
    params = [dg.nn.Parameter(dg.tensor(p)) for p in p0]
    opt = dg.optim.SGD(
        [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.01, "momentum": 0.5}, {"params": params[2], "nesterov": True}],
        lr=0.1,
        momentum=0.9,
    )
    # defaults are filled in per group; a single Tensor is accepted as a group's params
    g0, g1, g2 = opt.param_groups
    assert (g0["lr"], g0["momentum"], g0["nesterov"]) == (0.1, 0.9, False)
    assert (g1["lr"], g1["momentum"], g1["dampening"]) == (0.01, 0.5, 0.0)
    assert (g2["lr"], g2["momentum"], g2["nesterov"]) == (0.1, 0.9, True)
    assert len(g2["params"]) == 1 and g2["params"][0] is params[2]
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = dg.tensor(g)
        opt.step()
    per_group = [dict(lr=0.1, momentum=0.9), dict(lr=0.01, momentum=0.5), dict(lr=0.1, momentum=0.9, nesterov=True)]
    for i, (p, o) in enumerate(zip(params, per_group)):
        assert_close(p.detach().numpy(), ref.sgd(p0[i], [g[i] for g in grads], **o), dtype, what=f"group {i}")


def test_adam_param_groups_and_add_param_group(rng, dtype):
    p0, grads = _problem(rng, dtype, shapes=[(7,), (4,)])
    a, b = (dg.nn.Parameter(dg.tensor(p)) for p in p0)
    opt = dg.optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": [b], "lr": 0.05, "amsgrad": True})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999) and opt.param_groups[1]["amsgrad"] is True
    for ga, gb in grads:
        a.grad, b.grad = dg.tensor(ga), dg.tensor(gb)
        opt.step()
    assert_close(a.detach().numpy(), ref.adam(p0[0], [g[0] for g in grads], lr=0.01), dtype)
    assert_close(b.detach().numpy(), ref.adam(p0[1], [g[1] for g in grads], lr=0.05, amsgrad=True), dtype)


def test_changing_lr_between_steps_takes_effect(rng, dtype):
    """Schedulers change group['lr'] in place; the next step must use it."""
    p0, grads = _problem(rng, dtype, shapes=[(6,)], steps=2)
    p = dg.nn.Parameter(dg.tensor(p0[0]))
    opt = dg.optim.SGD([p], lr=0.1)
    p.grad = dg.tensor(grads[0][0])
    opt.step()
    opt.param_groups[0]["lr"] = 0.01
    p.grad = dg.tensor(grads[1][0])
    opt.step()
    expected = ref.sgd(ref.sgd(p0[0], [grads[0][0]], lr=0.1), [grads[1][0]], lr=0.01)
    assert_close(p.detach().numpy(), expected, dtype)


# ==================================================================================================
# parameters without a gradient, lazy state
# ==================================================================================================

ALL_OPTIMIZERS = [
    (dg.optim.SGD, dict(lr=0.1)),
    (dg.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (dg.optim.Adam, dict(lr=0.01)),
    (dg.optim.Adam, dict(lr=0.01, amsgrad=True)),
]
OPT_IDS = ["sgd", "sgd_momentum", "adam", "adam_amsgrad"]


@pytest.mark.parametrize("cls,opts", ALL_OPTIMIZERS, ids=OPT_IDS)
def test_params_without_grad_are_skipped(rng, dtype, cls, opts):
    p0, grads = _problem(rng, dtype, shapes=[(5,), (3, 2)])
    with_grad, without = (dg.nn.Parameter(dg.tensor(p)) for p in p0)
    opt = cls([with_grad, without], **opts)
    for g in grads:
        with_grad.grad = dg.tensor(g[0])
        opt.step()
    assert without.grad is None
    np.testing.assert_array_equal(without.detach().numpy(), p0[1])  # bit for bit unchanged
    assert without not in opt.state
    # As torch.optim: state only where the rule keeps some (plain SGD keeps none).
    stateful = cls is dg.optim.Adam or opts.get("momentum", 0) != 0
    assert (with_grad in opt.state) == stateful
    assert not np.array_equal(with_grad.detach().numpy(), p0[0])


@pytest.mark.parametrize("cls,opts", ALL_OPTIMIZERS, ids=OPT_IDS)
def test_param_whose_grad_appears_later_starts_fresh(rng, dtype, cls, opts):
    """A parameter skipped for the first steps has no state; when its gradient appears, its
    own step count starts at 1 (Adam's bias correction) and momentum starts from that gradient."""
    p0, grads = _problem(rng, dtype, shapes=[(4,), (6,)])
    a, b = (dg.nn.Parameter(dg.tensor(p)) for p in p0)
    opt = cls([a, b], **opts)
    for i, g in enumerate(grads):
        a.grad = dg.tensor(g[0])
        b.grad = dg.tensor(g[1]) if i >= 2 else None
        opt.step()
    late = [g[1] for g in grads[2:]]
    reference = ref.sgd if cls is dg.optim.SGD else ref.adam
    assert_close(b.detach().numpy(), reference(p0[1], late, **opts), dtype)
    assert_close(a.detach().numpy(), reference(p0[0], [g[0] for g in grads], **opts), dtype)
    if cls is dg.optim.Adam:
        assert opt.state[a]["step"] == len(grads) and opt.state[b]["step"] == len(late)


def test_sgd_state_is_created_lazily(rng, dtype):
    p = dg.nn.Parameter(dg.tensor(rng.standard_normal((3, 4)).astype(dtype)))
    q = dg.nn.Parameter(dg.tensor(rng.standard_normal(2).astype(dtype)))
    opt = dg.optim.SGD([p, q], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)
    assert len(opt.state) == 0
    g = rng.standard_normal((3, 4)).astype(dtype)
    p_before = p.detach().numpy().copy()
    p.grad = dg.tensor(g)
    opt.step()
    assert set(opt.state) == {p}
    buf = opt.state[p]["momentum_buffer"]
    buf = np.asarray(getattr(buf, "_data", buf))
    assert buf.shape == (3, 4) and buf.dtype == dtype
    # first step: buffer = the (maximized, weight-decayed) gradient itself, as in torch
    assert_close(buf, -g.astype(np.float64) + 0.1 * p_before, dtype)
    # plain SGD keeps no buffer
    r = dg.nn.Parameter(dg.tensor(np.ones(3, dtype)))
    plain = dg.optim.SGD([r], lr=0.1)
    r.grad = dg.tensor(np.ones(3, dtype))
    plain.step()
    assert "momentum_buffer" not in plain.state.get(r, {})


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_state_is_created_lazily(rng, dtype, amsgrad):
    p = dg.nn.Parameter(dg.tensor(rng.standard_normal(5).astype(dtype)))
    opt = dg.optim.Adam([p], lr=0.01, betas=(0.8, 0.9), amsgrad=amsgrad)
    assert len(opt.state) == 0
    g = rng.standard_normal(5).astype(dtype)
    p.grad = dg.tensor(g)
    opt.step()
    st = opt.state[p]
    keys = {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
    assert set(st) == keys  # torch's names
    assert int(st["step"]) == 1
    g64 = g.astype(np.float64)
    assert_close(np.asarray(getattr(st["exp_avg"], "_data", st["exp_avg"])), 0.2 * g64, dtype)
    assert_close(np.asarray(getattr(st["exp_avg_sq"], "_data", st["exp_avg_sq"])), 0.1 * g64 * g64, dtype)
    for _ in range(2):
        opt.step()
    assert int(st["step"]) == 3


# ==================================================================================================
# zero_grad and step(closure)
# ==================================================================================================


def test_zero_grad(rng):
    a = dg.nn.Parameter(dg.tensor(rng.standard_normal(3).astype(np.float32)))
    b = dg.nn.Parameter(dg.tensor(rng.standard_normal(2).astype(np.float32)))
    c = dg.nn.Parameter(dg.tensor(np.zeros(1, np.float32)))  # never gets a gradient
    opt = dg.optim.SGD([a, b, c], lr=0.1)
    ((a * 2.0).sum() + (b * b).sum()).backward()
    ga = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is ga and np.all(a.grad.numpy() == 0) and np.all(b.grad.numpy() == 0)
    assert c.grad is None
    # zeroed gradients accumulate afresh
    (a * 3.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(3, 3.0, np.float32))
    opt.zero_grad()  # default: set_to_none=True, as torch >= 2.0
    assert a.grad is None and b.grad is None and c.grad is None
    # a step after zero_grad() (all None) changes nothing
    before = a.detach().numpy().copy()
    opt.step()
    np.testing.assert_array_equal(a.detach().numpy(), before)


@pytest.mark.parametrize("cls,opts", ALL_OPTIMIZERS, ids=OPT_IDS)
def test_step_with_closure_returns_its_loss_and_uses_its_gradient(rng, dtype, cls, opts):
    p0 = rng.standard_normal(4).astype(dtype)
    target = rng.standard_normal(4).astype(dtype)
    p = dg.nn.Parameter(dg.tensor(p0))
    opt = cls([p], **opts)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = ((p - dg.tensor(target)) ** 2).sum()
        loss.backward()
        return loss

    p_values = [p0.astype(np.float64)]
    grads = []
    for _ in range(3):
        grads.append(2.0 * (p.detach().numpy().astype(np.float64) - target))  # d loss / d p at this step
        loss = opt.step(closure)
        assert isinstance(loss, dg.Tensor) and loss.shape == ()
        assert_close(loss.item(), np.sum((p_values[-1] - target) ** 2), dtype)  # loss before the update
        p_values.append(p.detach().numpy().astype(np.float64))
    assert len(calls) == 3  # once per step
    reference = ref.sgd if cls is dg.optim.SGD else ref.adam
    assert_close(p.detach().numpy(), reference(p0, grads, **opts), dtype)


def test_step_closure_return_value_is_passed_through():
    p = dg.nn.Parameter(dg.tensor([1.0]))
    p.grad = dg.tensor([1.0])
    sentinel = object()
    assert dg.optim.SGD([p], lr=0.1).step(lambda: sentinel) is sentinel
    assert dg.optim.Adam([p], lr=0.1).step(lambda: sentinel) is sentinel


def test_optimizer_with_generator_of_module_parameters(rng):
    """optimizer(model.parameters()) with a generator, the usual call, sees every parameter."""
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.ReLU(), dg.nn.Linear(4, 1))
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in model.parameters()]
    before = [p.detach().numpy().copy() for p in model.parameters()]
    x = dg.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    loss = dg.nn.functional.mse_loss(model(x), dg.tensor(np.ones((5, 1), np.float32)))
    loss.backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    opt.step()
    for p, b, g in zip(model.parameters(), before, grads):
        assert_close(p.detach().numpy(), b - 0.1 * g.astype(np.float64), np.float32)


# ---- state_dict / load_state_dict ---------------------------------------------------------------

_CHECKPOINT_OPTS = {
    "sgd_momentum": lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adam_amsgrad": lambda p: dg.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01),
}


def _mlp(seed=0):
    dg.manual_seed(seed)
    return dg.nn.Sequential(dg.nn.Linear(3, 5), dg.nn.Tanh(), dg.nn.Linear(5, 2))


def _steps(model, opt, x, y, n, trainer=None):
    for _ in range(n):
        if trainer is not None:
            trainer.step(x, y)
        else:
            opt.zero_grad()
            dg.nn.MSELoss()(model(dg.from_numpy(x)), dg.from_numpy(y)).backward()
            opt.step()


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("kind", list(_CHECKPOINT_OPTS))
def test_an_optimizer_checkpoint_resumes_bitwise(rng, kind, fused):
    """Save model and optimizer mid-training, load both into fresh objects, and the resumed run is
    bitwise the uninterrupted one (on the autograd path and through a fused Trainer, which must
    rebind to the loaded state)."""
    import copy

    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    model = _mlp()
    opt = _CHECKPOINT_OPTS[kind](model.parameters())
    trainer = dg.train.Trainer(model, opt) if fused else None
    assert opt.state_dict()["state"] == {}  # (a Trainer's placeholder momentum buffers are no state)
    _steps(model, opt, x, y, 3, trainer)
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    _steps(model, opt, x, y, 4, trainer)

    resumed = _mlp(seed=1)
    resumed.load_state_dict(saved_model)
    ropt = _CHECKPOINT_OPTS[kind](resumed.parameters())
    rtrainer = dg.train.Trainer(resumed, ropt) if fused else None
    if fused:
        _steps(resumed, ropt, x, y, 1, rtrainer)  # a step before loading: the load must replace its state
        resumed.load_state_dict(saved_model)
    ropt.load_state_dict(saved_opt)
    _steps(resumed, ropt, x, y, 4, rtrainer)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_dict_layout_is_torchs_and_a_torch_state_dict_loads(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    model = _mlp()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    tmodel.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    opt = dg.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.01, amsgrad=True)
    _steps(model, opt, x, y, 3)
    for _ in range(3):
        topt.zero_grad()
        torch.nn.functional.mse_loss(tmodel(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    assert set(ours["param_groups"][0]) <= set(theirs["param_groups"][0])
    assert {i: set(s) for i, s in ours["state"].items()} == {i: set(s) for i, s in theirs["state"].items()}
    for i, st in ours["state"].items():
        assert st["step"] == int(theirs["state"][i]["step"]) == 3
        assert_close(st["exp_avg"], theirs["state"][i]["exp_avg"].numpy(), np.float32)
    fresh = dg.optim.Adam(_mlp().parameters(), lr=0.5)
    fresh.load_state_dict(theirs)  # torch's tensors and its extra options (foreach, fused, ...)
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.param_groups[0]["amsgrad"] is True
    assert all(type(s["exp_avg"]) is np.ndarray and s["step"] == 3 for s in fresh.state.values())
    theirs["param_groups"][0]["decoupled_weight_decay"] = True  # AdamW's rule: not ours
    with pytest.raises(ValueError, match="decoupled_weight_decay"):
        fresh.load_state_dict(theirs)


def test_load_state_dict_refuses_what_does_not_fit_and_changes_nothing():
    import copy

    model = _mlp()
    opt = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad()
    dg.nn.MSELoss()(model(dg.ones(2, 3)), dg.zeros(2, 2)).backward()
    opt.step()
    good = copy.deepcopy(opt.state_dict())
    before = {id(p): s["momentum_buffer"].copy() for p, s in opt.state.items()}
    bad_groups = dict(good, param_groups=good["param_groups"] * 2)
    short = copy.deepcopy(good)
    short["param_groups"][0]["params"] = short["param_groups"][0]["params"][:-1]
    wrong_shape = copy.deepcopy(good)
    wrong_shape["state"][0]["momentum_buffer"] = np.zeros((2, 2), np.float32)
    bad_lr = copy.deepcopy(good)
    bad_lr["param_groups"][0]["lr"] = -1.0
    for bad, fragment in ((bad_groups, "number of parameter groups"), (short, "doesn't match the size"),
                          (wrong_shape, r"shape \(2, 2\)"), (bad_lr, "learning rate")):
        with pytest.raises(ValueError, match=fragment):
            opt.load_state_dict(bad)
        assert {id(p): s["momentum_buffer"].tolist() for p, s in opt.state.items()} == {k: v.tolist() for k, v in before.items()}
        assert opt.param_groups[0]["lr"] == 0.1
    opt.load_state_dict(good)
    loaded = opt.state[next(iter(model.parameters()))]["momentum_buffer"]
    assert not np.shares_memory(loaded, good["state"][0]["momentum_buffer"])  # copied on load


def test_state_dict_is_a_snapshot_and_load_keeps_extra_options_and_refuses_other_kinds(rng):
    """Third review: the arrays were shared and the step count was not (a snapshot mixed step 2's
    count with step 4's moments); extra group options (a scheduler's initial_lr, a name) made the
    optimizer refuse its own state dict; a torch RAdam's or SGD's state dict loaded into Adam."""
    import warnings

    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    model = _mlp()
    opt = dg.optim.Adam(model.parameters(), lr=0.01)
    _steps(model, opt, x, y, 2)
    snap = opt.state_dict()
    moment = snap["state"][0]["exp_avg"].copy()
    _steps(model, opt, x, y, 2)
    assert snap["state"][0]["step"] == 2 and np.array_equal(snap["state"][0]["exp_avg"], moment)
    opt.param_groups[0].update(initial_lr=0.01, name="all")
    opt.load_state_dict(opt.state_dict())
    assert opt.param_groups[0]["initial_lr"] == 0.01 and opt.param_groups[0]["name"] == "all"
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    for other in (torch.optim.RAdam(tmodel.parameters()), torch.optim.SGD(tmodel.parameters(), lr=0.1)):
        with pytest.raises(ValueError, match="not Adam's"):
            opt.load_state_dict(other.state_dict())
    bad = opt.state_dict()
    bad["state"][0]["step"] = 2.7
    with pytest.raises(ValueError, match="whole number"):
        opt.load_state_dict(bad)
    big = opt.state_dict()
    big["state"][0]["exp_avg"] = np.full(big["state"][0]["exp_avg"].shape, 1e300)  # float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.load_state_dict(big)
    assert np.all(np.isinf(opt.state[next(iter(model.parameters()))]["exp_avg"]))


def test_load_state_dict_refuses_an_adam_state_with_missing_buffers(rng):
    """A begun Adam state without exp_avg (or without max_exp_avg_sq under amsgrad) loaded and then
    failed with KeyError at the next step; it is refused on load, naming what is missing. An empty
    state (not begun) and SGD's optional momentum buffer still load."""
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    model = _mlp()
    opt = dg.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    _steps(model, opt, x, y, 1)
    good = opt.state_dict()
    for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"):
        bad = opt.state_dict()
        del bad["state"][1][name]
        with pytest.raises(ValueError, match=f"parameter 1 has no {name}"):
            opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][0]["exp_avg"] = None
    with pytest.raises(ValueError, match="parameter 0 has no exp_avg"):
        opt.load_state_dict(bad)
    plain = opt.state_dict()
    plain["param_groups"][0]["amsgrad"] = False  # without amsgrad, max_exp_avg_sq is not needed
    for s in plain["state"].values():
        del s["max_exp_avg_sq"]
    opt.load_state_dict(plain)
    _steps(model, opt, x, y, 1)
    good["state"][2] = {}
    opt.load_state_dict(good)
    _steps(model, opt, x, y, 1)
    sgd = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sgd.load_state_dict({"state": {0: {"momentum_buffer": None}}, "param_groups": sgd.state_dict()["param_groups"]})
    _steps(model, sgd, x, y, 1)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_tensor_learning_rate_as_in_torch(name):
    """PyTorch takes lr as a one-element tensor; the option check once compared a Tensor with a
    float and raised TypeError."""
    out = []
    for lib in (dg, torch):
        p = lib.tensor([1.0, 2.0], requires_grad=True)
        p.grad = lib.tensor([0.5, -1.0])
        opt = getattr(lib.optim, name)([p], lr=lib.tensor(0.1))
        opt.step()
        opt.step()
        out.append(p.detach().numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        getattr(dg.optim, name)([dg.tensor([1.0], requires_grad=True)], lr=dg.tensor(-0.1))


@pytest.mark.parametrize("name,key,value", [("SGD", "lr", None), ("SGD", "momentum", "0.9"), ("Adam", "lr", "0.1"),
                                            ("Adam", "eps", None)])
def test_an_option_that_is_no_number_is_named(name, key, value):
    """Changed after construction, it reached the C++ call as pybind11's "incompatible function
    arguments" dump; at construction it gave Python's comparison error."""
    p = dg.tensor([1.0, 2.0], requires_grad=True)
    p.grad = dg.tensor([0.5, -1.0])
    opt = getattr(dg.optim, name)([p], lr=0.1, momentum=0.5) if name == "SGD" else dg.optim.Adam([p], lr=0.1)
    opt.param_groups[0][key] = value
    with pytest.raises(TypeError, match=f"{key} must be a number, got"):
        opt.step()
    assert p.tolist() == [1.0, 2.0]  # nothing changed
    with pytest.raises(TypeError, match=f"{key} must be a number, got"):
        getattr(dg.optim, name)([p], **{key: value})
