"""densegrad.train.Trainer: the fused C++ training step must give bitwise the same losses,
gradients and parameters as the autograd path (zero_grad, backward, step), for every supported
layer and optimizer option, and must refuse what it cannot fuse."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

import densegrad as dg

ARCHS = {
    "relu": lambda dt: [dg.nn.Linear(5, 7, dtype=dt), dg.nn.ReLU(), dg.nn.Linear(7, 3, dtype=dt)],
    "mixed": lambda dt: [
        dg.nn.Linear(5, 13, dtype=dt), dg.nn.Tanh(),
        dg.nn.Linear(13, 7, bias=False, dtype=dt), dg.nn.LeakyReLU(-0.2),  # needs the pre-activation
        dg.nn.Linear(7, 6, dtype=dt), dg.nn.Sigmoid(),
        dg.nn.Linear(6, 4, dtype=dt), dg.nn.LeakyReLU(0.1),
        dg.nn.Linear(4, 2, dtype=dt), dg.nn.Identity(),
    ],
    "linear_linear": lambda dt: [dg.nn.Linear(5, 4, dtype=dt), dg.nn.Linear(4, 1, dtype=dt)],
    # a slope that is positive but 0 in float32: that path needs the pre-activation (it once
    # refused to train: kept no z, then asked for it)
    "tiny_slope": lambda dt: [dg.nn.Linear(5, 7, dtype=dt), dg.nn.LeakyReLU(1e-50), dg.nn.Linear(7, 3, dtype=dt)],
}
OPTIMIZERS = {
    "sgd": lambda p: dg.optim.SGD(p, lr=0.05),
    "sgd_momentum_dampening": lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.2),
    "sgd_nesterov_wd_max": lambda p: dg.optim.SGD(p, lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.01, maximize=True),
    "adam": lambda p: dg.optim.Adam(p, lr=0.01),
    "adam_amsgrad_wd": lambda p: dg.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True),
}


def _pair(arch, opt, dtype, seed=3):
    models = []
    for _ in range(2):
        dg.manual_seed(seed)
        m = dg.nn.Sequential(*ARCHS[arch](dtype))
        models.append((m, OPTIMIZERS[opt](m.parameters())))
    return models


def _data(rng, model, batch, dtype):
    mods = list(model)
    x = rng.standard_normal((batch, mods[0].in_features)).astype(dtype)
    y = rng.standard_normal((batch, [m for m in mods if isinstance(m, dg.nn.Linear)][-1].out_features)).astype(dtype)
    return x, y


def _autograd_step(model, opt, loss_fn, x, y):
    opt.zero_grad()
    loss = loss_fn(model(dg.from_numpy(x)), dg.from_numpy(y))
    loss.backward()
    opt.step()
    return loss.item()


def _assert_same(ma, mb):
    for (name, pa), (_, pb) in zip(ma.named_parameters(), mb.named_parameters()):
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy()), f"parameter {name} differs"
        assert np.array_equal(pa.grad.numpy(), pb.grad.numpy()), f"gradient of {name} differs"


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fused_step_is_bitwise_the_autograd_step(rng, dtype, arch, opt, reduction):
    (ma, oa), (mb, ob) = _pair(arch, opt, dtype)
    loss_fn = dg.nn.MSELoss(reduction=reduction)
    trainer = dg.train.Trainer(mb, ob, loss_fn)
    for batch in (16, 1, 16, 7, 0, 5):  # varying batch sizes, including empty
        x, y = _data(rng, ma, batch, dtype)
        la = _autograd_step(ma, oa, loss_fn, x, y)
        lb = trainer.step(x, y)
        assert la == lb or (np.isnan(la) and np.isnan(lb)), (batch, la, lb)
        _assert_same(ma, mb)


def test_fused_and_autograd_steps_mix(rng, dtype):
    """State (momentum buffers, Adam moments and step counts) is shared, so the two kinds of
    step can alternate and still match a pure autograd run."""
    for opt in ("sgd_momentum_dampening", "adam_amsgrad_wd"):
        (ma, oa), (mb, ob) = _pair("mixed", opt, dtype)
        trainer = dg.train.Trainer(mb, ob)
        loss_fn = dg.nn.MSELoss()
        for i in range(6):
            x, y = _data(rng, ma, 8, dtype)
            _autograd_step(ma, oa, loss_fn, x, y)
            if i % 2:
                _autograd_step(mb, ob, loss_fn, x, y)
            else:
                trainer.step(x, y)
        _assert_same(ma, mb)


def test_hyperparameter_changes_and_zero_grad_are_picked_up(rng):
    (ma, oa), (mb, ob) = _pair("relu", "adam", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    loss_fn = dg.nn.MSELoss()
    for i in range(5):
        for o in (oa, ob):
            o.param_groups[0]["lr"] = 0.01 / (i + 1)  # a schedule
        x, y = _data(rng, ma, 4, np.float32)
        _autograd_step(ma, oa, loss_fn, x, y)
        ob.zero_grad()  # sets every .grad to None: the trainer must rebind, not write stale arrays
        trainer.step(x, y)
    _assert_same(ma, mb)


@pytest.mark.parametrize("opt", ["sgd", "sgd_momentum_dampening", "adam_amsgrad_wd"])
def test_zero_grad_between_steps_keeps_the_network_and_old_gradients(rng, opt):
    """A PyTorch habit, ``step(); opt.zero_grad()``: the step writes new gradient arrays into the
    same C++ network (it was built again every step, ~4x the step's cost on small models), a
    gradient kept from before keeps its values (as after a backward), and the result stays the
    autograd path's bitwise."""
    (ma, oa), (mb, ob) = _pair("mixed", opt, np.float32)
    trainer = dg.train.Trainer(mb, ob)
    net = trainer._net
    loss_fn = dg.nn.MSELoss()
    kept = []
    for i in range(4):
        x, y = _data(rng, ma, 5, np.float32)
        _autograd_step(ma, oa, loss_fn, x, y)
        trainer.step(x, y)
        _assert_same(ma, mb)
        w = mb[0].weight
        kept.append((w.grad, w.grad.numpy().copy(), w.grad.numpy()))  # the tensor and its array
        ob.zero_grad()
        assert all(p.grad is None for p in mb.parameters())
    assert trainer._net is net
    for t, values, arr in kept:
        assert np.array_equal(t.numpy(), values) and np.array_equal(arr, values)
    assert len({id(t) for t, _, _ in kept}) == len(kept)


def test_zero_grad_then_a_failed_step_or_predict_leaves_the_gradients_none(rng):
    (ma, oa), (mb, ob) = _pair("relu", "sgd", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    x, y = _data(rng, ma, 4, np.float32)
    loss_fn = dg.nn.MSELoss()
    _autograd_step(ma, oa, loss_fn, x, y)
    trainer.step(x, y)
    ob.zero_grad()
    with pytest.raises(ValueError, match="rows"):
        trainer.step(x, y[:3])  # refused inside the C++ step, after the new arrays were bound
    trainer.predict(x)
    assert all(p.grad is None for p in mb.parameters())
    x, y = _data(rng, ma, 4, np.float32)
    _autograd_step(ma, oa, loss_fn, x, y)
    trainer.step(x, y)
    _assert_same(ma, mb)


def test_a_reset_plan_left_by_predict_is_not_used_once_the_gradients_are_back(rng):
    """Review: zero_grad(), predict() (which saw the None gradients), then the user put the
    same gradient tensors back: the next step wrote into arrays nobody held and .grad kept the
    previous step's values."""
    (ma, oa), (mb, ob) = _pair("relu", "sgd", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    loss_fn = dg.nn.MSELoss()
    x, y = _data(rng, ma, 5, np.float32)
    _autograd_step(ma, oa, loss_fn, x, y)
    trainer.step(x, y)
    saved = [[p.grad for p in m.parameters()] for m in (ma, mb)]
    oa.zero_grad()
    ob.zero_grad()
    trainer.predict(x)
    for m, grads in zip((ma, mb), saved):
        for p, g in zip(m.parameters(), grads):
            p.grad = g
    x, y = _data(rng, ma, 5, np.float32)
    for p in ma.parameters():  # the autograd twin accumulates into the restored gradients
        p.grad = None
    _autograd_step(ma, oa, loss_fn, x, y)
    trainer.step(x, y)
    _assert_same(ma, mb)


def test_a_failed_first_momentum_step_still_starts_the_buffers_at_the_next(rng):
    """Review: the fused SGD step dropped its 'first step' marks before the C++ step, so after
    a step that raised, the next one took the zero buffers as started (wrong with dampening)."""
    (ma, oa), (mb, ob) = _pair("relu", "sgd_momentum_dampening", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    x, y = _data(rng, ma, 5, np.float32)
    with pytest.raises(ValueError, match="rows"):
        trainer.step(x, y[:3])
    for _ in range(2):
        _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
        trainer.step(x, y)
        _assert_same(ma, mb)


def test_gradients_stay_none_until_a_step_succeeds(rng):
    """.grad is None after zero_grad() until a step succeeds, also when the step has to build
    the network again (a changed option, a replaced layer) or is a copy's; a new Trainer does
    not give the model gradients."""
    import copy

    (m, o), _ = _pair("relu", "sgd", np.float32)
    trainer = dg.train.Trainer(m, o)
    assert all(p.grad is None for p in m.parameters())
    x, y = _data(rng, m, 4, np.float32)
    trainer.step(x, y)
    for change in ("layer", "momentum", "copy"):
        o.zero_grad()
        if change == "momentum":
            o.param_groups[0]["momentum"] = 0.5
        elif change == "layer":
            m[2] = dg.nn.Linear(7, 3)
            o.param_groups[0]["params"] = list(m.parameters())
        t = copy.deepcopy(trainer) if change == "copy" else trainer
        tm = t.model
        with pytest.raises(ValueError, match="rows"):
            t.step(x, y[:2])
        t.predict(x)
        assert all(p.grad is None for p in tm.parameters()), change
        t.step(x, y)
        assert all(p.grad is not None for p in tm.parameters()), change


def test_zero_grad_of_some_parameters_and_replaced_gradients(rng):
    """One gradient set to None and another replaced by the user: the network is built again
    (the replaced one is a new array to bind), and the step still matches autograd."""
    (ma, oa), (mb, ob) = _pair("mixed", "adam", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    loss_fn = dg.nn.MSELoss()
    for i in range(3):
        x, y = _data(rng, ma, 6, np.float32)
        _autograd_step(ma, oa, loss_fn, x, y)
        trainer.step(x, y)
        _assert_same(ma, mb)
        mb[0].bias.grad = None
        if i == 1:
            mb[2].weight.grad = dg.zeros(*mb[2].weight.shape)
    ob.zero_grad(set_to_none=False)  # in place: the same arrays stay bound
    others = [p for p in mb.parameters() if p is not mb[0].bias]
    grads = [p.grad for p in others]
    x, y = _data(rng, ma, 6, np.float32)
    _autograd_step(ma, oa, loss_fn, x, y)
    trainer.step(x, y)
    _assert_same(ma, mb)
    assert all(p.grad is g for p, g in zip(others, grads))


def test_fused_set_grad_checks_its_array(rng):
    (m, o), _ = _pair("mixed", "sgd", np.float32)
    trainer = dg.train.Trainer(m, o)
    net = trainer._net
    ok = np.zeros((13, 5), np.float32)
    net.set_grad(0, False, ok)
    cases = [
        ((5, False, ok), IndexError, "out of range"),
        ((-1, False, ok), IndexError, "out of range"),
        ((1, True, np.zeros(7, np.float32)), ValueError, "has no bias"),
        ((0, False, np.zeros((5, 13), np.float32)), ValueError, r"expected \(13, 5\)"),
        ((0, True, np.zeros(12, np.float32)), ValueError, r"expected \(13,\)"),
        ((0, False, np.zeros((13, 5), np.float64)), TypeError, "float32"),
        ((0, False, np.zeros((5, 13), np.float32).T), ValueError, "C-contiguous"),
        ((0, False, np.zeros((13, 5), np.float32)[None]), ValueError, "2-D"),
        ((0, False, m[0].weight.detach().numpy()), ValueError, "overlap"),
        ((0, True, m[4].bias.detach().numpy()[:0]), ValueError, r"expected \(13,\)"),
    ]
    ro = np.zeros((13, 5), np.float32)
    ro.flags.writeable = False
    cases.append(((0, False, ro), ValueError, "read-only"))
    for args, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            net.set_grad(*args)
    x, y = _data(rng, m, 3, np.float32)
    net.step(x, y, 1, False)
    assert np.any(ok != 0)  # the accepted array is the one written


def test_one_element_tensor_options_are_read_as_numbers_each_step(rng):
    """Review: an lr set to a one-element Tensor made the step raise TypeError (comparing the
    options with the last ones), and a Tensor lr changed in place was never noticed."""
    for opt in ("sgd_momentum_dampening", "adam"):
        (ma, oa), (mb, ob) = _pair("relu", opt, np.float32)
        trainer = dg.train.Trainer(mb, ob)
        loss_fn = dg.nn.MSELoss()
        for i in range(4):
            x, y = _data(rng, ma, 5, np.float32)
            if i == 1:
                for o in (oa, ob):
                    o.param_groups[0]["lr"] = dg.tensor(0.03)
                    if opt.startswith("sgd"):
                        o.param_groups[0]["momentum"] = dg.tensor(0.5)
            if i == 2:
                for o in (oa, ob):
                    o.param_groups[0]["lr"] *= 0.5  # in place: the same Tensor object
            _autograd_step(ma, oa, loss_fn, x, y)
            trainer.step(x, y)
            _assert_same(ma, mb)


def test_amsgrad_switched_on_mid_training_is_refused_as_by_adam(rng):
    """Review: the autograd Adam step refuses amsgrad switched on once its state began (no
    max_exp_avg_sq buffer; torch.optim too), while the fused step started a zero buffer and went
    on. Both refuse now; switched on before the first update, both train alike."""
    (ma, oa), (mb, ob) = _pair("relu", "adam", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    x, y = _data(rng, ma, 5, np.float32)
    _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
    trainer.step(x, y)
    for o in (oa, ob):
        o.param_groups[0]["amsgrad"] = True
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
    with pytest.raises(ValueError, match="amsgrad was switched on after training began"):
        trainer.step(x, y)
    (ma, oa), (mb, ob) = _pair("relu", "adam", np.float32)
    for o in (oa, ob):
        o.param_groups[0]["amsgrad"] = True
    trainer = dg.train.Trainer(mb, ob)
    for _ in range(2):
        _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
        trainer.step(x, y)
        _assert_same(ma, mb)


def test_a_step_marks_its_parameters_and_gradients_modified(rng):
    """The fused step updates parameters and overwrites .grad in place: a graph that saved
    either (here a product with the gradient tensor) must refuse its backward afterwards rather
    than use the new values."""
    (m, o), _ = _pair("relu", "sgd", np.float32)
    trainer = dg.train.Trainer(m, o)
    x, y = _data(rng, m, 4, np.float32)
    trainer.step(x, y)
    w = m[0].weight
    g = w.grad
    v = dg.from_numpy(rng.standard_normal(g.shape).astype(np.float32)).requires_grad_()
    for saved in (g, w.detach()):
        z = (v * saved).sum()
        trainer.step(x, y)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward()
    assert m[0].weight.grad is g  # the same tensor, rewritten in place


def test_predict_matches_the_model(rng, dtype):
    (m, o), _ = _pair("mixed", "sgd", dtype)
    trainer = dg.train.Trainer(m, o)
    x, _ = _data(rng, m, 9, dtype)
    with dg.no_grad():
        expected = m(dg.from_numpy(x)).numpy()
    assert np.array_equal(trainer.predict(x), expected)


def test_trainer_learns(rng):
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(2, 32), dg.nn.Tanh(), dg.nn.Linear(32, 1))
    trainer = dg.train.Trainer(model, dg.optim.Adam(model.parameters(), lr=0.01))
    x = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    y = (np.sin(3 * x[:, :1]) * x[:, 1:]).astype(np.float32)
    first = trainer.step(x, y)
    for _ in range(500):
        last = trainer.step(x, y)
    assert last < 0.05 * first


@pytest.mark.parametrize(
    "build,error,fragment",
    [
        (lambda: (dg.nn.Linear(2, 2), "sgd"), TypeError, "nn.Sequential"),
        (lambda: (dg.nn.Sequential(dg.nn.ReLU(), dg.nn.Linear(2, 2)), "sgd"), ValueError, "not a Linear"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2), dg.nn.ReLU(), dg.nn.ReLU()), "sgd"), ValueError, "not a Linear"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2)), "other_params"), ValueError, "exactly the model's parameters"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2)), "two_groups"), ValueError, "one parameter group"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2)), "none_loss"), ValueError, "reduction 'mean' or 'sum', got 'none'"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2)), "not_a_loss"), TypeError, "the loss nn.MSELoss\\(\\), got ReLU"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2)), "swapped"), TypeError, "other way round"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2)), "loss_only"), TypeError, "the second argument is the optimizer"),
        (lambda: (dg.nn.Sequential(dg.nn.Linear(2, 2)), "loss_class"), TypeError, "got the class MSELoss; pass an instance"),
    ],
)
def test_trainer_refuses_what_it_cannot_fuse(build, error, fragment):
    model, kind = build()
    params = list(model.parameters())
    loss = None
    if kind == "other_params":
        opt = dg.optim.SGD(params + [dg.nn.Parameter(dg.zeros(3))], lr=0.1)
    elif kind == "two_groups":
        opt = dg.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    else:
        opt = dg.optim.SGD(params, lr=0.1)
        loss = {"none_loss": dg.nn.MSELoss(reduction="none"), "not_a_loss": dg.nn.ReLU()}.get(kind)
    if kind == "swapped":  # torch's habit: Trainer(model, loss, optimizer)
        opt, loss = dg.nn.MSELoss(), opt
    elif kind == "loss_only":
        opt = dg.nn.MSELoss()
    elif kind == "loss_class":
        loss = dg.nn.MSELoss
    with pytest.raises(error, match=fragment):
        dg.train.Trainer(model, opt, loss)


def test_step_checks_its_batch():
    model = dg.nn.Sequential(dg.nn.Linear(3, 2))
    trainer = dg.train.Trainer(model, dg.optim.SGD(model.parameters(), lr=0.1))
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        trainer.step(np.zeros((4, 2), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="float32"):
        trainer.step(x.astype(np.float64), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="rows"):
        trainer.step(x, np.zeros((5, 2), np.float32))
    # transposed (non-contiguous) input is accepted and gives the same step as a copy
    xt = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    assert trainer.predict(xt).tolist() == trainer.predict(np.ascontiguousarray(xt)).tolist()


def test_fused_steps_do_not_grow_python_memory(rng):
    model = dg.nn.Sequential(dg.nn.Linear(8, 32), dg.nn.ReLU(), dg.nn.Linear(32, 1))
    trainer = dg.train.Trainer(model, dg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    x = rng.standard_normal((16, 8)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    for _ in range(50):
        trainer.step(x, y)
    tracemalloc.start()
    try:
        for _ in range(100):
            trainer.step(x, y)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            trainer.step(x, y)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 4096, f"Python memory grew by {after - before} bytes over 2000 steps"


def test_one_trainer_from_two_threads_never_corrupts(rng):
    """Concurrent steps on one network are refused with a clear error, never run over each other."""
    model = dg.nn.Sequential(dg.nn.Linear(64, 256), dg.nn.ReLU(), dg.nn.Linear(256, 1))
    trainer = dg.train.Trainer(model, dg.optim.SGD(model.parameters(), lr=1e-4))
    x = rng.standard_normal((256, 64)).astype(np.float32)
    y = rng.standard_normal((256, 1)).astype(np.float32)
    errors, done = [], []

    def work():
        for _ in range(100):
            try:
                trainer.step(x, y)
                done.append(1)
            except RuntimeError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("already running a step in another thread" in e for e in errors)
    assert len(done) + len(errors) == 200 and len(done) > 0
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("opt", ["sgd_momentum_dampening", "adam_amsgrad_wd"])
def test_a_copied_trainer_continues_like_the_original(rng, how, opt):
    """copy.deepcopy and pickle give a Trainer with its own model, optimizer state and C++
    network: both go on bitwise alike, and neither touches the other's buffers."""
    import copy
    import pickle

    (m, o), _ = _pair("mixed", opt, np.float32)
    tr = dg.train.Trainer(m, o)
    x, y = _data(rng, m, 9, np.float32)
    for _ in range(3):
        tr.step(x, y)
    tc = copy.deepcopy(tr) if how == "deepcopy" else pickle.loads(pickle.dumps(tr))
    assert tc.model is not m and tc.optimizer is not o
    assert {id(p) for p in tc.optimizer.param_groups[0]["params"]} == {id(p) for p in tc.model.parameters()}
    before = [p.detach().numpy().copy() for p in m.parameters()]
    for _ in range(8):  # the copy first, alone
        tc.step(x, y)
    assert all(np.array_equal(a, p.detach().numpy()) for a, p in zip(before, m.parameters())), "the copy wrote into the original"
    for _ in range(8):
        tr.step(x, y)
    _assert_same(m, tc.model)
    assert np.array_equal(tr.predict(x), tc.predict(x))



@pytest.mark.parametrize("arch", list(ARCHS))
def test_sequential_stack_op_is_bitwise_the_per_layer_path(rng, dtype, arch):
    """A pure-MLP Sequential records one DenseStack op; module-by-module (fuse=False) and the
    per-layer fused path (an input it cannot stack: 1-D) give the very same numbers."""
    (ma, _), (mb, _) = _pair(arch, "sgd", dtype)
    mb.fuse = False
    x, y = _data(rng, ma, 6, dtype)
    outs = []
    for model in (ma, mb):
        xt = dg.tensor(x, requires_grad=True)
        out = model(xt)
        dg.nn.MSELoss()(out, dg.from_numpy(y)).backward()
        outs.append((out, xt.grad.numpy(), [p.grad.numpy().copy() for p in model.parameters()]))
    (oa, ga, pa), (ob, gb, pb) = outs
    assert oa.grad_fn.name() == "DenseStackBackward0"
    assert np.array_equal(oa.detach().numpy(), ob.detach().numpy())
    assert np.array_equal(ga, gb)
    assert all(np.array_equal(u, v) for u, v in zip(pa, pb))
    # a 1-D input takes the per-layer fused ops (one node per Linear)
    one = ma(dg.from_numpy(x[0]))
    assert one.grad_fn.name() == "DenseBackward0"
    assert np.array_equal(one.detach().numpy(), oa.detach().numpy()[0])


def test_sequential_stack_cache_follows_parameter_changes(rng, dtype):
    """The DenseStack path caches its checked layer list. Whatever changes what the layers
    compute must show in the next forward, as on the unfused path: a new array behind a
    parameter (.data =), a new Parameter, a changed LeakyReLU slope, a frozen parameter, a
    parameter of the wrong shape (then the per-layer path raises its own error)."""
    dg.manual_seed(0)
    ma = dg.nn.Sequential(dg.nn.Linear(4, 6, dtype=dtype), dg.nn.LeakyReLU(-0.3), dg.nn.Linear(6, 2, dtype=dtype))
    mb = dg.nn.Sequential(dg.nn.Linear(4, 6, dtype=dtype), dg.nn.LeakyReLU(-0.3), dg.nn.Linear(6, 2, dtype=dtype))
    mb.load_state_dict(ma.state_dict())
    mb.fuse = False
    x = dg.from_numpy(rng.standard_normal((5, 4)).astype(dtype))

    def same():
        oa, ob = ma(x), mb(x)
        assert oa.grad_fn.name() == "DenseStackBackward0"
        assert np.array_equal(oa.detach().numpy(), ob.detach().numpy())

    same()
    new_w = rng.standard_normal((6, 4)).astype(dtype)
    ma[0].weight.data = new_w.copy()
    mb[0].weight.data = new_w.copy()
    same()
    new_b = rng.standard_normal(6).astype(dtype)  # a new array behind an existing bias
    ma[0].bias.data = new_b.copy()
    mb[0].bias.data = new_b.copy()
    same()
    for m in (ma, mb):  # a new Parameter over the same array: the gradient must reach the new one
        m[0].weight = dg.nn.Parameter(m[0].weight)
    oa, ob = ma(x), mb(x)
    oa.sum().backward()
    ob.sum().backward()
    assert np.array_equal(ma[0].weight.grad.numpy(), mb[0].weight.grad.numpy())
    for p in list(ma.parameters()) + list(mb.parameters()):
        p.grad = None
    other = np.float64 if dtype == np.float32 else np.float32  # the other dtype: the per-layer error
    with pytest.raises(TypeError):
        ma(dg.from_numpy(rng.standard_normal((5, 4)).astype(other)))
    same()
    ma[2].bias = dg.nn.Parameter(dg.tensor(np.full(2, 0.5, dtype)))
    mb[2].bias = dg.nn.Parameter(dg.tensor(np.full(2, 0.5, dtype)))
    same()
    ma[1].negative_slope = mb[1].negative_slope = 0.7
    same()
    with dg.no_grad():  # in place: the cached arrays are the parameters' own
        for m in (ma, mb):
            w = m[2].weight
            w *= 2.0
    same()
    ma[0].weight.requires_grad_(False)
    out = ma(x)
    out.sum().backward()
    assert ma[0].weight.grad is None and ma[0].bias.grad is not None
    ma[2].weight.data = rng.standard_normal((2, 7)).astype(dtype)  # no longer chains
    with pytest.raises(ValueError):
        ma(x)


def test_sgd_step_many_is_the_per_parameter_update(rng, dtype):
    """_core.sgd_step_many (what SGD.step calls) updates like one sgd_step per parameter, and
    checks every operand before it changes any."""
    shapes = [(3, 4), (4,), (1,)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
    bufs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    firsts = [True, False, True]
    opts = (0.1, 0.9, 0.1, 0.01, False, True)
    ref_p, ref_b = [p.copy() for p in params], [b.copy() for b in bufs]
    for p, g, b, f in zip(ref_p, grads, ref_b, firsts):
        dg._core.sgd_step(p, g, b, *opts, f)
    dg._core.sgd_step_many(params, grads, bufs, firsts, *opts)
    assert all(np.array_equal(a, b) for a, b in zip(params, ref_p))
    assert all(np.array_equal(a, b) for a, b in zip(bufs, ref_b))

    before = [p.copy() for p in params]
    bad_grads = grads[:2] + [np.zeros((2,), dtype)]
    with pytest.raises(ValueError, match="same shape"):
        dg._core.sgd_step_many(params, bad_grads, None, None, 0.1, 0.0, 0.0, 0.0, False, False)
    with pytest.raises(TypeError, match="expected"):
        dg._core.sgd_step_many(params, grads[:2] + [grads[2].astype(np.float16)], None, None, 0.1, 0.0, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="momentum"):
        dg._core.sgd_step_many(params, grads, None, None, 0.1, 0.9, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="length"):
        dg._core.sgd_step_many(params, grads[:2], None, None, 0.1, 0.0, 0.0, 0.0, False, False)
    with pytest.raises(ValueError, match="overlap"):
        dg._core.sgd_step_many(params, [grads[0], grads[1], params[2]], None, None, 0.1, 0.0, 0.0, 0.0, False, False)
    assert all(np.array_equal(a, b) for a, b in zip(params, before))  # nothing was updated
    dg._core.sgd_step_many([], [], None, None, 0.1, 0.0, 0.0, 0.0, False, False)  # nothing to do


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_step_many_is_the_per_parameter_update(rng, dtype, amsgrad):
    """_core.adam_step_many (what Adam.step calls) updates like one adam_step per parameter,
    each with its own step count, and checks every operand before it changes any."""
    shapes = [(3, 4), (4,), (1,)]

    def arrays():
        return [rng.standard_normal(s).astype(dtype) for s in shapes]

    params, grads, avgs = arrays(), arrays(), arrays()
    sqs = [np.abs(a) for a in arrays()]
    maxs = [np.abs(a) + 1 for a in arrays()] if amsgrad else None
    steps = [1, 4, 2]
    opts = (0.01, 0.8, 0.99, 1e-6, 0.05, amsgrad, True)
    ref = [[a.copy() for a in arrs] for arrs in (params, avgs, sqs) + ((maxs,) if amsgrad else ())]
    for i in range(3):
        mx = ref[3][i] if amsgrad else None
        dg._core.adam_step(ref[0][i], grads[i], ref[1][i], ref[2][i], mx, steps[i], *opts)
    dg._core.adam_step_many(params, grads, avgs, sqs, maxs, steps, *opts)
    for got, want in zip((params, avgs, sqs) + ((maxs,) if amsgrad else ()), ref):
        assert all(np.array_equal(a, b) for a, b in zip(got, want))

    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match="same shape"):
        dg._core.adam_step_many(params, grads, avgs, sqs[:2] + [np.zeros(2, dtype)], maxs, steps, *opts)
    with pytest.raises(ValueError, match="step counts from 1"):
        dg._core.adam_step_many(params, grads, avgs, sqs, maxs, [1, 0, 1], *opts)
    with pytest.raises(ValueError, match="length"):
        dg._core.adam_step_many(params, grads[:2], avgs, sqs, maxs, steps, *opts)
    with pytest.raises(ValueError, match="overlap"):
        dg._core.adam_step_many(params, grads, [avgs[0], avgs[1], params[2]], sqs, maxs, steps, *opts)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        dg._core.adam_step_many(params, grads, [avgs[0], None, avgs[2]], sqs, maxs, steps, *opts)
    if amsgrad:
        with pytest.raises(ValueError, match="amsgrad"):
            dg._core.adam_step_many(params, grads, avgs, sqs, None, steps, *opts)
    assert all(np.array_equal(a, b) for a, b in zip(params, before))  # nothing was updated


def test_adam_step_count_moves_only_when_the_update_ran():
    p = dg.nn.Parameter(dg.tensor(np.ones(3, np.float32)))
    opt = dg.optim.Adam([p], lr=0.1)
    p.grad = dg.tensor(np.ones(3, np.float32))
    opt.step()
    assert opt.state[p]["step"] == 1
    opt.state[p]["exp_avg"] = np.zeros(2, np.float32)  # a broken state: the update must refuse
    with pytest.raises(ValueError):
        opt.step()
    assert opt.state[p]["step"] == 1


@pytest.mark.parametrize("make_opt", [lambda ps: dg.optim.SGD(ps, lr=0.1, momentum=0.9),
                                      lambda ps: dg.optim.Adam(ps, lr=0.1, amsgrad=True)], ids=["sgd", "adam"])
def test_one_group_may_mix_float32_and_float64(rng, make_opt):
    """Each parameter's own dtype picks its kernel, as with one call per parameter."""
    def params():
        return [dg.nn.Parameter(dg.tensor(rng_a)) for rng_a in arrays]

    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.linspace(0, 1, 4)]
    grads = [np.full((2, 3), 0.5, np.float32), np.linspace(1, 2, 4)]
    mixed = params()
    alone = params()
    opt_mixed = make_opt(mixed)
    opts_alone = [make_opt([p]) for p in alone]
    for _ in range(3):
        for ps, g in ((mixed, grads), (alone, grads)):
            for p, gi in zip(ps, g):
                p.grad = dg.tensor(gi)
        opt_mixed.step()
        for o in opts_alone:
            o.step()
    for a, b in zip(mixed, alone):
        assert a.dtype == b.dtype and np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_a_refused_sgd_step_changes_no_state():
    """The group's update is all or nothing: a refused step leaves no half-made momentum buffer
    behind (it would hold uninitialised memory), and the next step is a true first step."""
    ps = [dg.nn.Parameter(dg.tensor(np.ones(3, np.float32))) for _ in range(2)]
    ref = [dg.nn.Parameter(dg.tensor(np.ones(3, np.float32))) for _ in range(2)]
    opt, opt_ref = (dg.optim.SGD(q, lr=0.1, momentum=0.9, dampening=0.5) for q in (ps, ref))
    for p in ps + ref:
        p.grad = dg.tensor(np.full(3, 2.0, np.float32))
    ps[1]._data.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        opt.step()
    assert all("momentum_buffer" not in opt.state[p] for p in ps)
    assert np.array_equal(ps[0].detach().numpy(), np.ones(3, np.float32))
    ps[1]._data.flags.writeable = True
    opt.step()
    opt_ref.step()
    for a, b in zip(ps, ref):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_adam_state_read_before_the_first_step():
    """optimizer.state is a defaultdict (as in torch.optim): reading state[p] first is fine."""
    p = dg.nn.Parameter(dg.tensor(np.ones(3, np.float32)))
    opt = dg.optim.Adam([p], lr=0.1)
    assert opt.state[p] == {}
    p.grad = dg.tensor(np.ones(3, np.float32))
    opt.step()
    assert opt.state[p]["step"] == 1


def test_stack_cache_of_a_copied_model_and_a_mutable_slope(rng):
    """The cache compares the parameters' arrays by identity (a deep copy must never match the
    original's stale entry) and reads the slope's value on every call."""
    import copy

    m1 = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.LeakyReLU(np.array(-0.3)), dg.nn.Linear(4, 1))
    x = dg.from_numpy(rng.standard_normal((5, 3)).astype(np.float32))
    m1(x)
    m2 = copy.deepcopy(m1)
    del m1
    m2[0].weight.data = rng.standard_normal((4, 3)).astype(np.float32)
    ref = copy.deepcopy(m2)
    ref.fuse = False
    assert np.array_equal(m2(x).detach().numpy(), ref(x).detach().numpy())
    m2[1].negative_slope[...] = 0.6  # the same object, changed in place
    ref[1].negative_slope[...] = 0.6
    assert np.array_equal(m2(x).detach().numpy(), ref(x).detach().numpy())
    # 0.0 and -0.0 compare equal but give leaky_relu(-3) different signs: compared by their bits
    m3 = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.LeakyReLU(0.0))
    m3[0].weight.data = np.full((4, 3), -1.0, np.float32)
    m3[0].bias.data = np.zeros(4, np.float32)
    xp = dg.from_numpy(np.ones((2, 3), np.float32))
    assert np.signbit(m3(xp).detach().numpy()).all()  # -3 * 0.0 = -0.0
    m3[1].negative_slope = -0.0
    assert not np.signbit(m3(xp).detach().numpy()).any()  # -3 * -0.0 = 0.0


_CHANGES = {
    "activation": lambda m: m.__setitem__(1, dg.nn.Sigmoid()),
    "slope": lambda m: setattr(m[3], "negative_slope", 0.5),
    "private_modules_write": lambda m: m._modules.__setitem__("5", dg.nn.Tanh()),
    "to_float64": lambda m: m.double(),
}


@pytest.mark.parametrize("change", list(_CHANGES))
def test_a_model_changed_after_the_trainer_is_built_is_trained_as_it_now_is(rng, change):
    """A step (and predict) after the model changed must be the autograd step of the changed
    model: the trainer used to keep the network it was built with (old activation, old slope,
    float32) and give other numbers silently."""
    # (Adam's float32 moments cannot follow the parameters to float64, in PyTorch neither)
    (ma, oa), (mb, ob) = _pair("mixed", "sgd" if change == "to_float64" else "adam", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    loss_fn = dg.nn.MSELoss()
    x, y = _data(rng, ma, 8, np.float32)
    _autograd_step(ma, oa, loss_fn, x, y)
    trainer.step(x, y)
    for m in (ma, mb):
        _CHANGES[change](m)
    dtype = np.float64 if change == "to_float64" else np.float32
    x, y = x.astype(dtype), y.astype(dtype)
    with dg.no_grad():
        assert np.array_equal(trainer.predict(x), ma(dg.from_numpy(x)).numpy())
    for _ in range(3):
        assert trainer.step(x, y) == _autograd_step(ma, oa, loss_fn, x, y)
    _assert_same(ma, mb)


@pytest.mark.parametrize("opt", ["adam", "adam_amsgrad_wd", "sgd_momentum_dampening"])
def test_optimizer_state_left_in_the_old_dtype_is_a_clear_error_on_both_paths(rng, opt):
    """model.double() after a step of a stateful optimizer: its state is still float32. Both
    paths raise a TypeError naming the cause (they said 'w state: expected float64 like the
    other operands'); converting the state through load_state_dict lets both train on, alike."""
    (ma, oa), (mb, ob) = _pair("relu", opt, np.float32)
    trainer = dg.train.Trainer(mb, ob)
    loss_fn = dg.nn.MSELoss()
    x, y = _data(rng, ma, 8, np.float32)
    assert trainer.step(x, y) == _autograd_step(ma, oa, loss_fn, x, y)
    ma.double()
    mb.double()
    x, y = x.astype(np.float64), y.astype(np.float64)
    for step in (lambda: trainer.step(x, y), lambda: _autograd_step(ma, oa, loss_fn, x, y)):
        with pytest.raises(TypeError, match=r"float64 parameter has float32 optimizer state .*model.double\(\)"):
            step()
    for pa, pb in zip(ma.parameters(), mb.parameters()):  # neither moved (the autograd path's backward ran)
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())
    for o in (oa, ob):
        o.load_state_dict(o.state_dict())
    for _ in range(2):
        assert trainer.step(x, y) == _autograd_step(ma, oa, loss_fn, x, y)
    _assert_same(ma, mb)


def test_a_trainer_follows_a_new_optimizer_loss_or_layer(rng):
    (ma, oa), (mb, ob) = _pair("relu", "sgd", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    x, y = _data(rng, ma, 8, np.float32)
    trainer.loss.reduction = "sum"
    assert trainer.step(x, y) == _autograd_step(ma, oa, dg.nn.MSELoss(reduction="sum"), x, y)
    for m in (ma, mb):
        m[2] = dg.nn.Linear(7, 3)
        m[2].load_state_dict(ma[2].state_dict())
    with pytest.raises(ValueError, match="exactly the model's parameters"):
        trainer.step(x, y)  # the optimizer still holds the replaced layer's parameters
    oa, trainer.optimizer = (dg.optim.Adam(m.parameters(), lr=0.01) for m in (ma, mb))
    trainer.loss = dg.nn.MSELoss()
    for _ in range(2):
        assert trainer.step(x, y) == _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
    _assert_same(ma, mb)
    mb[0].bias = None
    with pytest.raises(ValueError, match="exactly the model's parameters"):
        trainer.step(x, y)
    trainer.optimizer.add_param_group({"params": [dg.nn.Parameter(dg.zeros(1))]})
    with pytest.raises(ValueError, match="one parameter group"):
        trainer.step(x, y)


def test_frozen_parameters_are_refused_by_the_trainer_and_left_alone_by_fit(rng):
    """The fused step updates every parameter it holds; a frozen one must not move. fit() used
    the fused step anyway (the frozen weight moved by 0.06 in three epochs)."""
    (m, o), _ = _pair("relu", "adam", np.float32)
    x, y = _data(rng, m, 16, np.float32)
    trainer = dg.train.Trainer(m, o)
    m[0].weight.requires_grad_(False)
    frozen = m[0].weight.detach().numpy().copy()
    with pytest.raises(ValueError, match=r"0\.weight has requires_grad=False"):
        trainer.step(x, y)
    trainer.predict(x)  # predicting is fine
    history = dg.train.fit(m, x, y, optimizer=o, epochs=3, batch_size=4)
    assert not history.fused
    assert np.array_equal(m[0].weight.detach().numpy(), frozen)
    assert not np.array_equal(m[2].weight.detach().numpy(), _pair("relu", "adam", np.float32)[0][0][2].weight.detach().numpy())


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_trainer_copied_after_its_model_changed_trains_the_model_as_it_is(rng, how):
    """__setstate__ rebound the layers the original had bound, while watching the model as it is
    now: a change made since the last step was never noticed by the copy (second review)."""
    import copy
    import pickle

    (ma, oa), (mb, ob) = _pair("mixed", "adam", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    x, y = _data(rng, ma, 8, np.float32)
    loss_fn = dg.nn.MSELoss()
    _autograd_step(ma, oa, loss_fn, x, y)
    trainer.step(x, y)
    for m in (ma, mb):
        m[1] = dg.nn.Sigmoid()
        m[3].negative_slope = 0.3
    tc = copy.deepcopy(trainer) if how == "deepcopy" else pickle.loads(pickle.dumps(trainer))
    with dg.no_grad():
        assert np.array_equal(tc.predict(x), ma(dg.from_numpy(x)).numpy())
    for _ in range(3):
        assert tc.step(x, y) == _autograd_step(ma, oa, loss_fn, x, y)
    _assert_same(ma, tc.model)


def test_a_trainer_follows_the_optimizers_parameter_list_and_slopes_changed_in_place(rng):
    """A new parameter list in the group (the first layer no longer optimized) and a LeakyReLU
    slope array changed in place were missed (second review)."""
    (ma, oa), (mb, ob) = _pair("mixed", "sgd", np.float32)
    trainer = dg.train.Trainer(mb, ob)
    x, y = _data(rng, ma, 8, np.float32)
    trainer.step(x, y)
    ob.param_groups[0]["params"] = list(mb.parameters())[2:]
    with pytest.raises(ValueError, match="exactly the model's parameters"):
        trainer.step(x, y)
    ob.param_groups[0]["params"] = list(mb.parameters())
    _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
    for m in (ma, mb):
        m[3].negative_slope = np.array(-0.2)
    trainer.step(x, y)
    _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
    for m in (ma, mb):
        m[3].negative_slope[...] = 0.7  # the same array object, a new value
    for _ in range(2):
        assert trainer.step(x, y) == _autograd_step(ma, oa, dg.nn.MSELoss(), x, y)
    _assert_same(ma, mb)


@pytest.mark.parametrize("opt", ["sgd_momentum_dampening", "adam"])
def test_partial_optimizer_state_is_refused_by_the_trainer_and_trained_by_fit(rng, opt):
    """A parameter without a gradient at some step has no optimizer state while the others have:
    the fused step's single first-step flag restarted every momentum buffer (third review), and
    Adam raised mid-fit. The Trainer refuses such state; fit() takes the autograd path."""
    (ma, oa), (mb, ob) = _pair("relu", opt, np.float32)
    x, y = _data(rng, ma, 16, np.float32)
    for m, o in ((ma, oa), (mb, ob)):
        o.zero_grad()
        dg.nn.MSELoss()(m(dg.from_numpy(x)), dg.from_numpy(y)).backward()
        m[0].weight.grad = None  # as if layer 0's weight had been frozen for this step
        o.step()
    with pytest.raises(RuntimeError, match="fit\\(\\) does by itself"):
        dg.train.Trainer(mb, ob).step(x, y)
    for pa, pb in zip(ma.parameters(), mb.parameters()):  # the refused step changed nothing
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())
    history = dg.train.fit(mb, x, y, optimizer=ob, epochs=2, batch_size=8, shuffle=False, progress=False)
    assert not history.fused
    for _ in range(2):
        for i in range(0, 16, 8):
            _autograd_step(ma, oa, dg.nn.MSELoss(), x[i:i + 8], y[i:i + 8])
    for pa, pb in zip(ma.parameters(), mb.parameters()):
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())


def test_a_pickled_trainer_that_no_longer_fits_loads_and_says_why_at_its_next_step(rng):
    import pickle

    (m, o), _ = _pair("relu", "sgd", np.float32)
    trainer = dg.train.Trainer(m, o)
    o.add_param_group({"params": [dg.nn.Parameter(dg.zeros(1))]})
    back = pickle.loads(pickle.dumps(trainer))  # raised 'one parameter group' while loading
    x, y = _data(rng, m, 4, np.float32)
    with pytest.raises(ValueError, match="one parameter group"):
        back.step(x, y)
    back.optimizer.param_groups.pop()
    back.step(x, y)  # fits again: configured at this step


def test_a_parameter_replaced_inside_the_optimizers_list_is_noticed(rng):
    (m, o), _ = _pair("relu", "sgd", np.float32)
    trainer = dg.train.Trainer(m, o)
    x, y = _data(rng, m, 4, np.float32)
    trainer.step(x, y)
    o.param_groups[0]["params"][0] = dg.nn.Parameter(dg.zeros(7, 5))  # same list, same length
    with pytest.raises(ValueError, match="exactly the model's parameters"):
        trainer.step(x, y)
