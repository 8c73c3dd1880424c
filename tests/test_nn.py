"""Module machinery against torch.nn: parameter names and order, de-duplication of shared
parameters, state_dict / load_state_dict, repr, Sequential as a container, dtype conversion,
train/eval, and Linear layers with zero input or output features."""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
from conftest import assert_close

import densegrad as dg


def _structures(nn):
    """The same models built from densegrad.nn or torch.nn (random init; only structure used)."""
    shared = nn.Linear(3, 3)
    a, b = nn.Linear(2, 4), nn.Linear(4, 2)
    b.weight = nn.Parameter(torch.zeros(2, 4) if nn is torch.nn else dg.zeros(2, 4))
    tied = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    tied[2].weight = tied[0].weight  # weight tying: one Parameter under two names
    return {
        "mlp": nn.Sequential(nn.Linear(7, 13), nn.ReLU(), nn.Linear(13, 1)),
        "one_linear": nn.Linear(5, 3),
        "no_bias": nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 2, bias=False)),
        "activation_first": nn.Sequential(nn.Sigmoid(), nn.Linear(3, 2), nn.LeakyReLU(0.1)),
        "nested": nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), nn.Identity(), nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 1)))),
        "named": nn.Sequential(OrderedDict([("fc1", nn.Linear(2, 3)), ("act", nn.LeakyReLU()), ("out", nn.Linear(3, 1))])),
        "shared_module": nn.Sequential(shared, nn.ReLU(), shared, nn.Sequential(shared)),
        "replaced_param": nn.Sequential(a, nn.ReLU(), b),
        "tied": tied,
        "activations_only": nn.Sequential(nn.ReLU(), nn.Tanh()),
        "empty": nn.Sequential(),
    }


STRUCTURES = list(_structures(torch.nn))


@pytest.fixture(scope="module")
def both():
    return _structures(dg.nn), _structures(torch.nn)


@pytest.mark.parametrize("name", STRUCTURES)
def test_named_parameters_match_torch(both, name):
    d, t = both[0][name], both[1][name]
    dn = [(k, p.shape) for k, p in d.named_parameters()]
    tn = [(k, tuple(p.shape)) for k, p in t.named_parameters()]
    assert dn == tn
    assert [p.shape for p in d.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert all(isinstance(p, dg.nn.Parameter) and p.requires_grad for p in d.parameters())


@pytest.mark.parametrize("name", STRUCTURES)
def test_state_dict_keys_match_torch(both, name):
    d, t = both[0][name], both[1][name]
    assert [(k, v.shape) for k, v in d.state_dict().items()] == [(k, tuple(v.shape)) for k, v in t.state_dict().items()]


@pytest.mark.parametrize("name", STRUCTURES)
def test_named_modules_match_torch(both, name):
    d, t = both[0][name], both[1][name]
    assert [(k, type(m).__name__) for k, m in d.named_modules()] == [(k, type(m).__name__) for k, m in t.named_modules()]
    assert [(k, type(m).__name__) for k, m in d.named_children()] == [(k, type(m).__name__) for k, m in t.named_children()]
    assert [(k, type(m).__name__) for k, m in d.named_modules(remove_duplicate=False)] == [
        (k, type(m).__name__) for k, m in t.named_modules(remove_duplicate=False)
    ]
    assert [k for k, _ in d.named_parameters(remove_duplicate=False)] == [k for k, _ in t.named_parameters(remove_duplicate=False)]
    assert [k for k, _ in d.named_parameters(prefix="model")] == [k for k, _ in t.named_parameters(prefix="model")]
    assert [k for k, _ in d.named_parameters(recurse=False)] == [k for k, _ in t.named_parameters(recurse=False)]


def test_parameters_deduplicate_shared_parameters():
    lin = dg.nn.Linear(3, 3)
    model = dg.nn.Sequential(lin, dg.nn.ReLU(), lin)
    params = list(model.parameters())
    assert len(params) == 2 and params[0] is lin.weight and params[1] is lin.bias
    assert [k for k, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    # every name in state_dict (as torch), all sharing the one parameter
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert np.shares_memory(sd["2.weight"].numpy(), lin.weight.detach().numpy())
    # gradient from both uses accumulates into the one parameter; an optimizer sees it once
    x = dg.tensor(np.ones((2, 3), np.float32))
    model(x).sum().backward()
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    assert sum(len(g["params"]) for g in opt.param_groups) == 2
    # tied weights: a Parameter assigned to a second layer is listed once
    a, b = dg.nn.Linear(4, 4), dg.nn.Linear(4, 4)
    b.weight = a.weight
    assert [k for k, _ in dg.nn.Sequential(a, b).named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_load_state_dict_with_shared_parameters_takes_torchs_keys():
    lin = dg.nn.Linear(2, 2)
    model = dg.nn.Sequential(lin, dg.nn.ReLU(), lin)
    tl = torch.nn.Linear(2, 2)
    tmodel = torch.nn.Sequential(tl, torch.nn.ReLU(), tl)
    result = model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(lin.weight.detach().numpy(), tl.weight.detach().numpy())


# ==================================================================================================
# state_dict and load_state_dict
# ==================================================================================================


def _mlp(seed, dtype=None):
    dg.manual_seed(seed)
    m = dg.nn.Sequential(dg.nn.Linear(3, 5), dg.nn.ReLU(), dg.nn.Linear(5, 2))
    return m.double() if dtype == np.float64 else m


def test_state_dict_shares_memory_with_parameters():
    model = _mlp(0)
    sd = model.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    params = dict(model.named_parameters())
    for k, v in sd.items():
        assert isinstance(v, dg.Tensor) and not isinstance(v, dg.nn.Parameter)
        assert not v.requires_grad and v.grad_fn is None
        assert v.shape == params[k].shape and v.dtype == params[k].dtype
        assert np.shares_memory(v.numpy(), params[k].detach().numpy())
    # writes through the state_dict reach the parameter
    sd["0.bias"].numpy()[:] = 7.0
    assert np.all(model[0].bias.detach().numpy() == 7.0)
    # an optimizer's in-place update shows in a state_dict taken before it
    before = sd["2.weight"].numpy().copy()
    model(dg.tensor(np.ones((4, 3), np.float32))).sum().backward()
    dg.optim.SGD(model.parameters(), lr=0.5).step()
    assert not np.array_equal(sd["2.weight"].numpy(), before)
    np.testing.assert_array_equal(sd["2.weight"].numpy(), model[2].weight.detach().numpy())


@pytest.mark.parametrize("as_", ["tensor", "ndarray"])
def test_load_state_dict_round_trip(dtype, as_):
    src, dst = _mlp(1, dtype), _mlp(2, dtype)
    objects = [p for p in dst.parameters()]
    sd = src.state_dict()
    values = {k: (v if as_ == "tensor" else v.numpy()) for k, v in sd.items()}
    assert not np.array_equal(src[0].weight.detach().numpy(), dst[0].weight.detach().numpy())
    result = dst.load_state_dict(values)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert all(a is b for a, b in zip(dst.parameters(), objects, strict=True))  # loaded in place
    for (k, a), b in zip(dst.state_dict().items(), sd.values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.dtype == dtype
        assert not np.shares_memory(a.numpy(), b.numpy())  # copied in, not aliased
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(dtype)
    np.testing.assert_array_equal(dst(dg.tensor(x)).detach().numpy(), src(dg.tensor(x)).detach().numpy())


def test_load_state_dict_converts_dtype():
    model = _mlp(3)  # float32
    src64 = _mlp(4, np.float64)
    model.load_state_dict(src64.state_dict())
    for (k, p), v in zip(model.named_parameters(), src64.state_dict().values()):
        assert p.dtype == np.float32, k
        np.testing.assert_array_equal(p.detach().numpy(), v.numpy().astype(np.float32))
    model64 = _mlp(5, np.float64)
    model64.load_state_dict({k: v.numpy() for k, v in _mlp(6).state_dict().items()})
    assert all(p.dtype == np.float64 for p in model64.parameters())
    # integer-valued arrays (a hand-written checkpoint) convert too
    lin = dg.nn.Linear(2, 1)
    lin.load_state_dict({"weight": np.array([[1, 2]]), "bias": np.array([3])})
    assert lin.weight.tolist() == [[1.0, 2.0]] and lin.bias.tolist() == [3.0]


def test_load_state_dict_from_torch_model_gives_torchs_output(dtype):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(7, 13), torch.nn.Tanh(), torch.nn.Linear(13, 2))
    dm = dg.nn.Sequential(dg.nn.Linear(7, 13), dg.nn.Tanh(), dg.nn.Linear(13, 2))
    if dtype == np.float64:
        tm, dm = tm.double(), dm.double()
    dm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((5, 7)).astype(dtype)
    with torch.no_grad():
        expected = tm(torch.from_numpy(x)).numpy()
    assert_close(dm(dg.tensor(x)).detach().numpy(), expected, dtype)


def test_load_state_dict_strict_false_reports_keys_like_torch():
    dm = dg.nn.Sequential(dg.nn.Linear(2, 3), dg.nn.ReLU(), dg.nn.Linear(3, 1))
    tm = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    partial = {"0.weight": w, "extra.weight": np.zeros(1, np.float32), "2.gamma": np.zeros(1, np.float32)}
    d_res = dm.load_state_dict(partial, strict=False)
    t_res = tm.load_state_dict({k: torch.from_numpy(v) for k, v in partial.items()}, strict=False)
    assert d_res.missing_keys == t_res.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert d_res.unexpected_keys == t_res.unexpected_keys == ["extra.weight", "2.gamma"]
    assert d_res == (d_res.missing_keys, d_res.unexpected_keys)  # a named tuple, as torch's
    np.testing.assert_array_equal(dm[0].weight.detach().numpy(), w)  # the present key was loaded
    with pytest.raises(RuntimeError, match="Missing key"):
        dm.load_state_dict(partial)  # strict by default
    with pytest.raises(RuntimeError, match="Missing key"):
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in partial.items()})


# ==================================================================================================
# repr
# ==================================================================================================


def _repr_modules(nn):
    return [
        nn.Linear(3, 4),
        nn.Linear(3, 4, bias=False),
        nn.Linear(1, 1),
        nn.ReLU(),
        nn.LeakyReLU(),
        nn.LeakyReLU(0.2),
        nn.LeakyReLU(negative_slope=1),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Identity(),
        nn.MSELoss(),
        nn.Sequential(),
        nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False)),
        nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Sigmoid()))),
        nn.Sequential(OrderedDict([("fc1", nn.Linear(2, 3)), ("act", nn.LeakyReLU(0.05)), ("out", nn.Linear(3, 1))])),
    ]


def test_module_repr_matches_torch():
    for d, t in zip(_repr_modules(dg.nn), _repr_modules(torch.nn), strict=True):
        assert repr(d) == repr(t)
        assert str(d) == str(t)


def test_repr_of_modules_with_shared_children_and_zero_features_matches_torch():
    dl, tl = dg.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    assert repr(dg.nn.Sequential(dl, dg.nn.ReLU(), dl)) == repr(torch.nn.Sequential(tl, torch.nn.ReLU(), tl))
    with warnings.catch_warnings():
        # torch warns "Initializing zero-element tensors is a no-op" for these; densegrad doesn't
        warnings.simplefilter("ignore", UserWarning)
        t0, t1 = torch.nn.Linear(0, 5), torch.nn.Linear(5, 0)
    assert repr(dg.nn.Linear(0, 5)) == repr(t0)
    assert repr(dg.nn.Linear(5, 0)) == repr(t1)


# ==================================================================================================
# Sequential as a container
# ==================================================================================================


def _seq(nn):
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def test_sequential_len_index_iterate_like_torch():
    d, t = _seq(dg.nn), _seq(torch.nn)
    assert len(d) == len(t) == 5
    for i in range(-5, 5):
        assert type(d[i]).__name__ == type(t[i]).__name__
        assert repr(d[i]) == repr(t[i])
    mods = list(d)
    assert [type(m).__name__ for m in mods] == [type(m).__name__ for m in t]
    assert mods[0] is d[0] and mods[-1] is d[-1] and mods[2] is d._modules["2"]
    with pytest.raises(IndexError):
        d[5]
    with pytest.raises(IndexError):
        t[5]


@pytest.mark.parametrize("sl", [slice(1, 3), slice(None, 2), slice(3, None), slice(None, None, 2), slice(-2, None), slice(4, 1)])
def test_sequential_slicing_like_torch(sl):
    d, t = _seq(dg.nn), _seq(torch.nn)
    ds, ts = d[sl], t[sl]
    assert isinstance(ds, dg.nn.Sequential)
    assert repr(ds) == repr(ts)  # keeps the original names, as torch does
    assert [k for k, _ in ds.named_parameters()] == [k for k, _ in ts.named_parameters()]
    for m_slice, m_orig in zip(ds, list(d)[sl]):
        assert m_slice is m_orig  # the same modules, not copies


def test_sequential_slice_runs_as_part_of_the_model():
    model = _seq(dg.nn)
    x = dg.tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32))
    np.testing.assert_array_equal(model[2:](model[:2](x)).detach().numpy(), model(x).detach().numpy())


def test_sequential_append_like_torch():
    d, t = _seq(dg.nn), _seq(torch.nn)
    assert d.append(dg.nn.Sigmoid()) is d
    assert t.append(torch.nn.Sigmoid()) is t
    assert len(d) == len(t) == 6
    assert repr(d) == repr(t)
    lin = dg.nn.Linear(1, 2)
    d.append(lin)
    assert d[-1] is lin and [k for k, _ in d.named_parameters()][-2:] == ["6.weight", "6.bias"]
    assert d(dg.tensor(np.zeros((3, 2), np.float32))).shape == (3, 2)
    e = dg.nn.Sequential()
    assert len(e) == 0 and list(e) == []
    x = dg.tensor([1.0, -2.0])
    assert e(x) is x  # an empty Sequential is the identity, as torch's


def test_sequential_setitem_delitem_like_torch():
    import copy

    d, t = _seq(dg.nn), _seq(torch.nn)
    x = dg.tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32))
    d(x)  # warm the fused path's caches: the changes below must show in the next forward

    def same_as_unfused():
        u = copy.deepcopy(d)
        u.fuse = False
        np.testing.assert_array_equal(d(x).detach().numpy(), u(x).detach().numpy())

    d[1] = dg.nn.Sigmoid()
    t[1] = torch.nn.Sigmoid()
    d[-1] = dg.nn.Linear(4, 2)
    t[-1] = torch.nn.Linear(4, 2)
    assert repr(d) == repr(t)
    same_as_unfused()
    del d[3]  # the Tanh: later modules renumbered, as torch does
    del t[3]
    assert repr(d) == repr(t) and len(d) == 4
    assert [k for k, _ in d.named_parameters()] == [k for k, _ in t.named_parameters()]
    same_as_unfused()
    del d[-4]
    assert [type(m).__name__ for m in d] == ["Sigmoid", "Linear", "Linear"]
    for bad, err in ((4, IndexError), (-5, IndexError), ("0", TypeError), (slice(0, 1), TypeError), (True, TypeError)):
        with pytest.raises(err):
            d[bad] = dg.nn.ReLU()
        with pytest.raises(err):
            del d[bad]
    with pytest.raises(TypeError):
        d[0] = torch.nn.ReLU()  # not a densegrad Module
    named = dg.nn.Sequential(OrderedDict([("fc1", dg.nn.Linear(2, 3)), ("act", dg.nn.ReLU()), ("fc2", dg.nn.Linear(3, 1))]))
    del named[1]
    assert list(named._modules) == ["fc1", "fc2"]  # names that are not positions are kept


_DIRECT_WRITES = {
    "setitem": lambda mods: mods.__setitem__("1", dg.nn.Tanh()),
    "delitem": lambda mods: mods.__delitem__("3"),
    "pop": lambda mods: mods.pop("3"),
    "popitem": lambda mods: mods.popitem(),
    "clear_and_refill": lambda mods: [mods.clear(), mods.update(zip("01", [dg.nn.Linear(2, 4), dg.nn.Sigmoid()]))],
    "update": lambda mods: mods.update({"1": dg.nn.Sigmoid()}),
    "ior": lambda mods: mods.__ior__({"1": dg.nn.Sigmoid()}),
    "setdefault": lambda mods: mods.setdefault("9", dg.nn.Sigmoid()),
    "move_to_end": lambda mods: mods.move_to_end("1"),
}


@pytest.mark.parametrize("how", list(_DIRECT_WRITES))
def test_sequential_follows_direct_writes_to_its_modules_dict(how):
    """model._modules written directly (as PyTorch code sometimes does): the fused path used to
    keep its plan and run the old modules while printing the new ones."""
    import copy

    d = _seq(dg.nn)
    x = dg.tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32))
    d(x)  # warm the plan and the stack cache
    _DIRECT_WRITES[how](d._modules)
    u = copy.deepcopy(d)
    u.fuse = False
    np.testing.assert_array_equal(d(x).detach().numpy(), u(x).detach().numpy())


def test_a_module_pickled_before_modules_counted_changes_loads():
    import copy
    import pickle

    d = _seq(dg.nn)
    x = dg.tensor(np.ones((3, 2), np.float32))
    d(x)  # a plan for ReLU at position 1 ...
    stale_plan = d.__dict__["_plan"]
    d[1] = dg.nn.Sigmoid()  # ... then a change with no forward after it, as an old pickle may hold
    # The old counter's value happens to equal the new counter's after unpickling (5 modules):
    # the cached plan must still not be trusted.
    state = dict(d.__dict__, _modules=OrderedDict(d._modules), _modules_version=6, _plan=stale_plan, _plan_version=5)

    class Old:
        def __reduce__(self):
            return object.__new__, (dg.nn.Sequential,), state

    back = pickle.loads(pickle.dumps(Old()))
    unfused = copy.deepcopy(back)
    unfused.fuse = False
    np.testing.assert_array_equal(back(x).detach().numpy(), unfused(x).detach().numpy())
    np.testing.assert_array_equal(back(x).detach().numpy(), d(x).detach().numpy())
    back[1] = dg.nn.Sigmoid()
    d[1] = dg.nn.Sigmoid()
    np.testing.assert_array_equal(back(x).detach().numpy(), d(x).detach().numpy())


def test_sequential_from_ordered_dict_and_attribute_access():
    m = dg.nn.Sequential(OrderedDict([("fc1", dg.nn.Linear(2, 3)), ("act", dg.nn.ReLU())]))
    assert m.fc1 is m[0] and m.act is m[1]
    assert [k for k, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias"]


# ==================================================================================================
# dtypes, train/eval
# ==================================================================================================


def test_linear_with_dtype_float64():
    lin = dg.nn.Linear(3, 2, dtype=dg.float64)
    assert lin.weight.dtype == np.float64 and lin.bias.dtype == np.float64
    out = lin(dg.tensor(np.ones((4, 3))))
    assert out.dtype == np.float64 and out.shape == (4, 2)
    out.sum().backward()
    assert lin.weight.grad.dtype == np.float64 and lin.bias.grad.dtype == np.float64
    assert dg.nn.Linear(3, 2).weight.dtype == np.float32  # the default
    assert dg.nn.Linear(3, 2, bias=False, dtype=np.float64).bias is None


def test_module_double_and_float_convert_in_place():
    model = _mlp(7)
    objects = list(model.parameters())
    w32 = model[0].weight.detach().numpy().copy()
    model(dg.tensor(np.ones((2, 3), np.float32))).sum().backward()
    assert model.double() is model
    assert all(a is b for a, b in zip(model.parameters(), objects))  # same Parameter objects
    for p in model.parameters():
        assert p.dtype == np.float64 and p.grad.dtype == np.float64 and p.requires_grad
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), w32.astype(np.float64))
    assert model(dg.tensor(np.ones((2, 3)))).dtype == np.float64
    assert model.float() is model
    assert all(p.dtype == np.float32 for p in model.parameters())
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), w32)  # exact round trip
    # training still works after the conversion (the optimizer sees the same objects)
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    model.zero_grad()
    model(dg.tensor(np.ones((2, 3), np.float32))).sum().backward()
    b_before = model[2].bias.detach().numpy().copy()
    opt.step()
    # d(sum of outputs)/d(last bias) = batch size = 2, so the step moves it by -0.1 * 2
    np.testing.assert_allclose(model[2].bias.detach().numpy(), b_before - 0.2, rtol=1e-6)


def test_train_eval_flags_like_torch():
    for nn in (dg.nn, torch.nn):
        m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
        assert all(x.training for x in m.modules())
        assert m.eval() is m
        assert not any(x.training for x in m.modules())
        assert m.train() is m
        assert all(x.training for x in m.modules())
        m[1].train(False)
        assert m.training and not m[1].training and not m[1][1].training and m[0].training
        m.train(False)
        assert not any(x.training for x in m.modules())


def test_module_zero_grad():
    model = _mlp(8)
    model(dg.tensor(np.ones((2, 3), np.float32))).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    model.zero_grad(set_to_none=False)
    assert all(p.grad is g and np.all(g.numpy() == 0) for p, g in zip(model.parameters(), grads))
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# ==================================================================================================
# Linear with zero input or output features
# ==================================================================================================


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
def test_linear_with_zero_in_features_outputs_the_bias(dtype, fuse):
    lin = dg.nn.Linear(0, 4, dtype=dtype)
    assert lin.weight.shape == (4, 0) and lin.bias.shape == (4,)
    assert np.all(lin.bias.detach().numpy() == 0)  # bound 1/sqrt(0) is taken as 0, as in torch
    bias = np.array([1.5, -2.0, 0.25, 3.0], dtype)
    lin.load_state_dict({"weight": np.zeros((4, 0)), "bias": bias})
    # (activation, f, f'): the output is f(bias) in every row; d(sum)/d(bias) = 3 f'(bias)
    for act, f, df in (
        (dg.nn.Identity(), lambda z: z, lambda z: np.ones_like(z)),
        (dg.nn.ReLU(), lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    ):
        model = dg.nn.Sequential(lin, act)
        model.fuse = fuse
        model.zero_grad()
        x = dg.tensor(np.zeros((3, 0), dtype), requires_grad=True)
        y = model(x)
        assert y.shape == (3, 4) and y.dtype == dtype
        np.testing.assert_array_equal(y.detach().numpy(), np.broadcast_to(f(bias), (3, 4)))
        y.sum().backward()
        assert lin.weight.grad.shape == (4, 0) and x.grad.shape == (3, 0)
        np.testing.assert_array_equal(lin.bias.grad.numpy(), 3 * df(bias))
    # a single sample (1-D input)
    assert lin(dg.tensor(np.zeros(0, dtype))).shape == (4,)


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "unfused"])
def test_linear_with_zero_out_features(dtype, fuse):
    lin = dg.nn.Linear(3, 0, dtype=dtype)
    assert lin.weight.shape == (0, 3) and lin.bias.shape == (0,)
    model = dg.nn.Sequential(lin, dg.nn.Tanh())
    model.fuse = fuse
    x = dg.tensor(np.ones((5, 3), dtype), requires_grad=True)
    y = model(x)
    assert y.shape == (5, 0) and y.dtype == dtype
    y.sum().backward()
    assert lin.weight.grad.shape == (0, 3) and lin.bias.grad.shape == (0,)
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((5, 3), dtype))  # nothing flows back


def test_zero_feature_layers_in_a_chain_match_torch(dtype):
    # 3 -> 0 -> 2: the output is the last bias, whatever the input
    dm = dg.nn.Sequential(dg.nn.Linear(3, 0), dg.nn.ReLU(), dg.nn.Linear(0, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "Initializing zero-element tensors is a no-op"
        tm = torch.nn.Sequential(torch.nn.Linear(3, 0), torch.nn.ReLU(), torch.nn.Linear(0, 2))
    if dtype == np.float64:
        dm, tm = dm.double(), tm.double()
    sd = {"0.weight": np.zeros((0, 3)), "0.bias": np.zeros(0), "2.weight": np.zeros((2, 0)), "2.bias": np.array([0.5, -1.0])}
    dm.load_state_dict(sd)
    tm.load_state_dict({k: torch.tensor(v, dtype=tm[2].bias.dtype) for k, v in sd.items()})
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(dtype)
    dy, ty = dm(dg.tensor(x)), tm(torch.from_numpy(x))
    dy.sum().backward()
    ty.sum().backward()
    assert_close(dy.detach().numpy(), ty.detach().numpy(), dtype)
    for (k, p), (k2, q) in zip(dm.named_parameters(), tm.named_parameters()):
        assert k == k2 and p.grad.shape == tuple(q.grad.shape)
        assert_close(p.grad.numpy(), q.grad.numpy(), dtype, what=k)


def test_load_state_dict_takes_torch_parameters_that_require_grad():
    """dict(torch_model.named_parameters()) holds tensors that require grad: NumPy's conversion
    of them raised in torch ("Can't call numpy() on Tensor that requires grad")."""
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    dm = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.Tanh(), dg.nn.Linear(4, 2))
    dm.load_state_dict(dict(tm.named_parameters()))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(dm(dg.tensor(x)).detach().numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-7)
    assert all(p.requires_grad for p in tm.parameters())  # the torch model is left as it was
