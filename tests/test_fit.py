"""dg.train.fit: the same parameters on the fused C++ step and on the autograd path, History,
callbacks, early stopping (with the best weights restored), and argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import torch

import densegrad as dg
from densegrad.train import Callback, EarlyStopping, History, fit


def _data(n=96, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(dtype)
    y = (np.sin(x @ np.array([[1.0], [-2.0], [0.5]])) + 0.1 * x[:, :1] ** 2).astype(dtype)
    return x, y


def _model(dtype=np.float32, seed=0, act=dg.nn.Tanh):
    dg.manual_seed(seed)
    return dg.nn.Sequential(dg.nn.Linear(3, 16, dtype=dtype), act(), dg.nn.Linear(16, 1, dtype=dtype))


def _params(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_fused_and_autograd_paths_give_the_same_parameters(dtype, opt):
    x, y = _data(dtype=dtype)
    results = []
    for fused in (True, False):
        m = _model(dtype)
        o = dg.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) if opt == "sgd" else dg.optim.Adam(m.parameters(), lr=1e-2)
        h = fit(m, x, y, optimizer=o, epochs=4, batch_size=10, val=(x[:20], y[:20]), seed=3, fused=fused)
        assert h.fused is fused
        results.append((_params(m), h))
    (p1, h1), (p2, h2) = results
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k], err_msg=k)  # bitwise, as the Trainer promises
    assert h1.loss == h2.loss and h1.val_loss == h2.val_loss


def test_history_and_learning():
    x, y = _data()
    m = _model()
    h = fit(m, x, y, epochs=30, batch_size=16, val=(x, y), seed=0, optimizer=dg.optim.Adam(m.parameters(), lr=1e-2))
    assert isinstance(h, History)
    assert h.epochs == 30 and len(h.loss) == 30 and len(h.val_loss) == 30
    assert h.steps == 30 * 6 and h.seconds > 0 and h.steps_per_second > 0
    assert h.fused and not h.stopped_early
    assert h.loss[-1] < 0.3 * h.loss[0], h.loss
    assert h.val_loss[h.best_epoch - 1] == min(h.val_loss)
    # the validation loss is the loss of the final model on val
    with dg.no_grad():
        final = dg.nn.MSELoss()(m(dg.from_numpy(x)), dg.from_numpy(y)).item()
    assert h.val_loss[-1] == pytest.approx(final, rel=1e-6)


def test_epoch_loss_is_the_batch_size_weighted_mean():
    x, y = _data(n=10)
    m = _model()
    seen = []
    o = dg.optim.SGD(m.parameters(), lr=0.0)  # lr 0: every batch sees the same model
    h = fit(m, x, y, optimizer=o, epochs=1, batch_size=4, shuffle=False, callbacks=[lambda e, logs: seen.append(logs)])
    with dg.no_grad():
        full = dg.nn.MSELoss()(m(dg.from_numpy(x)), dg.from_numpy(y)).item()
    assert h.loss[0] == pytest.approx(full, rel=1e-5)  # batches of 4, 4, 2
    assert h.steps == 3 and seen == [{"loss": h.loss[0], "val_loss": None}]


def test_shuffling_is_seeded():
    x, y = _data()
    a, b, c = _model(), _model(), _model()
    fit(a, x, y, epochs=2, seed=5)
    fit(b, x, y, epochs=2, seed=5)
    fit(c, x, y, epochs=2, seed=6)
    pa, pb, pc = _params(a), _params(b), _params(c)
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert not all(np.array_equal(pa[k], pc[k]) for k in pa)


def test_non_sequential_model_uses_autograd():
    class Net(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = dg.nn.Linear(3, 8)
            self.b = dg.nn.Linear(8, 1)

        def forward(self, x):
            return self.b(dg.tanh(self.a(x)))

    x, y = _data()
    dg.manual_seed(0)
    net = Net()
    h = fit(net, x.tolist(), y[:, 0], epochs=20, batch_size=8, optimizer=dg.optim.Adam(net.parameters(), lr=1e-2))
    assert not h.fused and h.loss[-1] < 0.5 * h.loss[0]
    with pytest.raises(ValueError, match="fused=True needs .*; here the model is a .*Net, not an nn.Sequential"):
        fit(net, x, y, fused=True)


class _Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, model, history):
        self.events.append("begin")

    def on_epoch_end(self, epoch, logs):
        self.events.append(epoch)
        return epoch == 3

    def on_train_end(self, model, history):
        self.events.append("end")


def test_function_callbacks_count_epochs_from_1():
    x, y = _data()
    seen = []
    h = fit(_model(), x, y, epochs=3, callbacks=[lambda epoch, logs: seen.append(epoch)])
    assert seen == [1, 2, 3] == list(range(1, h.epochs + 1))


def test_callbacks_and_stopping():
    x, y = _data()
    rec = _Recorder()
    h = fit(_model(), x, y, epochs=10, callbacks=[rec])
    assert rec.events == ["begin", 1, 2, 3, "end"]
    assert h.epochs == 3 and h.stopped_early and len(h.loss) == 3


def test_early_stopping_restores_the_best_weights():
    x, y = _data(n=64)
    xv, yv = _data(n=32, seed=1)
    m = _model()
    snapshots = {}
    h = fit(
        m, x, y, epochs=200, batch_size=8, val=(xv, yv), seed=0,
        optimizer=dg.optim.SGD(m.parameters(), lr=0.5),  # too large: the validation loss soon gets worse
        callbacks=[lambda e, logs: snapshots.__setitem__(e, _params(m))], early_stopping=3,
    )
    assert h.stopped_early and h.epochs < 200
    best = int(np.argmin(h.val_loss)) + 1
    assert h.best_epoch == best and h.epochs == best + 3
    final = _params(m)
    for k in final:
        np.testing.assert_array_equal(final[k], snapshots[best][k])
    # without restore, the model keeps its last weights
    m2 = _model()
    es = EarlyStopping(patience=3, restore_best_weights=False)
    fit(m2, x, y, epochs=200, batch_size=8, val=(xv, yv), seed=0, optimizer=dg.optim.SGD(m2.parameters(), lr=0.5), callbacks=[es])
    assert all(np.array_equal(_params(m2)[k], snapshots[h.epochs][k]) for k in final)


def test_early_stopping_takes_an_early_stopping_object():
    # it said 'patience must be an int >= 1, got <EarlyStopping object ...>'; now it is as if the
    # object were in callbacks (and is not called twice when it is there too)
    x, y = _data(n=64)
    xv, yv = _data(n=32, seed=1)
    runs = []
    for kw in ({"callbacks": [EarlyStopping(2, min_delta=1e-3)]}, {"early_stopping": EarlyStopping(2, min_delta=1e-3)},
               {"callbacks": [es := EarlyStopping(2, min_delta=1e-3)], "early_stopping": es}):
        m = _model()
        h = fit(m, x, y, epochs=200, batch_size=8, val=(xv, yv), seed=0, optimizer=dg.optim.SGD(m.parameters(), lr=0.5), **kw)
        runs.append((h, _params(m)))
    (h0, p0) = runs[0]
    assert h0.stopped_early and h0.epochs == h0.best_epoch + 2
    for h, p in runs[1:]:
        assert (h.epochs, h.loss, h.val_loss) == (h0.epochs, h0.loss, h0.val_loss)
        assert all(np.array_equal(p[k], p0[k]) for k in p0)
    with pytest.raises(ValueError, match="early_stopping monitors the validation loss"):
        fit(_model(), x, y, early_stopping=EarlyStopping(2))
    with pytest.raises(TypeError, match="early_stopping must be an int \\(the patience\\) or an EarlyStopping, got bool"):
        fit(_model(), x, y, val=(xv, yv), early_stopping=True)


def test_progress_bar_shows_epoch_and_losses(capsys):
    x, y = _data()
    fit(_model(), x, y, epochs=3, val=(x, y), progress=True)
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and "loss=" in err and "val_loss=" in err and "100%" in err


@pytest.mark.parametrize(
    "kwargs,exc,message",
    [
        ({"epochs": -1}, ValueError, "epochs >= 0"),
        ({"batch_size": 0}, ValueError, "batch_size >= 1"),
        ({"epochs": 1.5}, TypeError, "epochs must be an int"),
        ({"val": (np.ones((2, 3)),)}, TypeError, "val must be a pair"),
        ({"early_stopping": 2}, ValueError, "early_stopping monitors the validation loss"),
        ({"loss": "mse"}, TypeError, "loss must be a densegrad loss module such as nn.MSELoss\\(\\), got str"),
        ({"loss": dg.nn.MSELoss}, TypeError, "got the class MSELoss"),
        ({"optimizer": dg.optim.Adam}, TypeError, "optimizer object .* got the class Adam"),
        ({"optimizer": "adam"}, TypeError, "must have step\\(\\) and zero_grad\\(\\) .* got str"),
        # an optimizer built over another model's parameters: every step would leave the model as it was
        ({"optimizer": dg.optim.Adam(_model().parameters(), lr=1e-2)}, ValueError, "none of the optimizer's parameters got a gradient"),
        ({"optimizer": dg.optim.SGD([{"params": []}], lr=0.1)}, ValueError, "holds no parameters"),
        ({"loss": torch.nn.MSELoss()}, TypeError, "densegrad loss module .* got torch.nn.MSELoss"),
        ({"loss": torch.nn.functional.mse_loss}, TypeError, "densegrad loss module"),
        ({"optimizer": torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)}, TypeError, "use densegrad's"),
    ],
)
def test_argument_errors(kwargs, exc, message):
    x, y = _data()
    with pytest.raises(exc, match=message):
        fit(_model(), x, y, **kwargs)


def test_data_errors():
    x, y = _data()
    with pytest.raises(ValueError, match="X has 96 rows but y has 95"):
        fit(_model(), x, y[:-1])
    with pytest.raises(ValueError, match="X has no rows"):
        fit(_model(), x[:0], y[:0])
    with pytest.raises(TypeError, match="expected numbers"):
        fit(_model(), np.array([["a"]]), y[:1])
    with pytest.raises(TypeError, match="nn.Module"):
        fit(lambda v: v, x, y)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


class _Net(dg.nn.Module):  # not a Sequential: fit cannot read its widths from Linear layers
    def __init__(self, outputs=1):
        super().__init__()
        self.a = dg.nn.Linear(3, 8)
        self.b = dg.nn.Linear(8, outputs)

    def forward(self, x):
        return self.b(dg.tanh(self.a(x)))


@pytest.mark.parametrize("fused", [None, False])
def test_shapes_are_checked_up_front_against_the_users_arrays(fused):
    # the fused step said 'y must have shape (batch, 1), got (32, 2)' and autograd
    # 'mat1 and mat2 shapes cannot be multiplied (32x4 and 3x16)': the first batch, not the array
    x, y = _data(n=50)
    two = dg.nn.Sequential(dg.nn.Linear(3, 4), dg.nn.ReLU(), dg.nn.Linear(4, 2))
    cases = [
        (_model(), x, np.ones((50, 2)), {}, r"^y has shape \(50, 2\) but the model outputs 1 column$"),
        (_model(), np.ones((50, 4)), y, {}, r"^X has shape \(50, 4\) but the model takes 3 columns$"),
        (two, x, y[:, 0], {}, r"^y has shape \(50,\) but the model outputs 2 columns$"),
        (_model(), x.tolist(), dg.from_numpy(np.ones((50, 2), np.float32)), {}, r"^y has shape \(50, 2\)"),
        (_model(), x, y, {"val": (np.ones((5, 2)), np.ones(5))}, r"^X_val has shape \(5, 2\) but the model takes 3 columns$"),
        (_model(), x, y, {"val": (x[:5], np.ones((5, 3)))}, r"^y_val has shape \(5, 3\) but the model outputs 1 column$"),
        (_Net(), np.ones((50, 4)), y, {}, r"^X has shape \(50, 4\), which the model does not take: mat1 and mat2 shapes"),
        (_Net(), x, np.ones((50, 2)), {}, r"^y has shape \(50, 2\) but the model outputs 1 column$"),
    ]
    for model, xs, ys, kw, message in cases:
        with pytest.raises(ValueError, match=message):
            fit(model, xs, ys, epochs=1, fused=False if isinstance(model, _Net) else fused, **kw)


def test_a_custom_loss_may_take_targets_of_another_shape():
    class SumLoss(dg.nn.Module):  # compares row sums: y need not have the model's width
        def forward(self, out, target):
            return ((out.sum(dim=1) - target.sum(dim=1)) ** 2).mean()

    x, _ = _data(n=50)
    h = fit(_Net(), x, np.ones((50, 2)), loss=SumLoss(), epochs=2)
    assert h.epochs == 2 and not h.fused


def test_early_stopping_callback_without_val_is_a_clear_error():
    x, y = _data()
    with pytest.raises(RuntimeError, match="pass val="):
        fit(_model(), x, y, callbacks=[EarlyStopping(2)])


def test_fit_casts_float64_data_beyond_float32_without_a_warning():
    """A float64 target beyond float32's range becomes Inf when cast to the model's dtype, as in
    PyTorch; NumPy's cast warned (an error under -W error)."""
    import warnings

    model = dg.nn.Sequential(dg.nn.Linear(2, 1))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        history = dg.train.fit(model, np.ones((4, 2)), np.full((4, 1), 1e300), epochs=2, progress=False)
    assert not np.isfinite(history.loss[0])
    # no warning from NumPy's cast; fit's own says the loss is not finite, once
    assert [str(w.message)[:39] for w in seen] == ["fit: the training loss is inf at epoch "]
    assert seen[0].category is RuntimeWarning and seen[0].filename == __file__


def test_a_nan_validation_loss_warns():
    """A NaN in the validation data made early stopping stop on 'no improvement' and restore the
    first epoch's weights without a word (a new-user review)."""
    x, y = _data()
    xv = x[:20].copy()
    xv[3, 1] = np.nan
    with pytest.warns(RuntimeWarning, match="the validation loss is nan at epoch 1 .X_val or y_val holds NaN"):
        h = fit(_model(), x, y, val=(xv, y[:20]), epochs=3, early_stopping=2, seed=0)
    assert np.isnan(h.val_loss).all() and np.isfinite(h.loss).all()


def test_the_shape_check_of_a_custom_model_leaves_the_random_stream_alone():
    """fit runs a model that is not a plain MLP once on one row to check shapes (second
    review): a forward that draws random numbers must not shift what training draws."""

    class Noisy(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = dg.nn.Linear(2, 1)

        def forward(self, x):
            return self.lin(x) + dg.randn(*x.shape[:1], 1) * 0.0

    x, y = np.ones((8, 2)), np.ones((8, 1))
    dg.manual_seed(0)
    fit(Noisy(), x, y, epochs=1, batch_size=8, progress=False, seed=1)  # one batch: one draw
    after_fit = dg.randn(3).tolist()
    dg.manual_seed(0)
    model = Noisy()
    model(dg.tensor(x, dtype=dg.float32))  # the same one draw, by hand
    assert after_fit == dg.randn(3).tolist()


def test_fused_true_with_frozen_parameters_says_so():
    model = dg.nn.Sequential(dg.nn.Linear(2, 1))
    model[0].bias.requires_grad_(False)
    with pytest.raises(ValueError, match="here a parameter is frozen"):
        fit(model, np.ones((4, 2)), np.ones((4, 1)), fused=True, progress=False)


@pytest.mark.parametrize(
    "build,reason",
    [
        (lambda m: {"loss": dg.nn.MSELoss(reduction="sum"), "optimizer": dg.optim.SGD(
            [{"params": [m[0].weight]}, {"params": [m[0].bias]}], lr=0.1)}, "here the optimizer has 2 parameter groups"),
        (lambda m: {"loss": _SumLoss()}, "here the loss is .*_SumLoss, not nn.MSELoss"),
        (lambda m: {"optimizer": dg.optim.SGD(list(m.parameters())[:1], lr=0.1)}, "not hold exactly the model's parameters"),
    ],
)
def test_fused_true_says_which_requirement_failed(build, reason):
    model = dg.nn.Sequential(dg.nn.Linear(2, 1))
    with pytest.raises(ValueError, match=reason):
        fit(model, np.ones((4, 2)), np.ones((4, 1)), fused=True, progress=False, **build(model))


class _SumLoss(dg.nn.Module):
    def forward(self, a, b):
        return ((a - b) ** 2).sum()


def test_fit_takes_any_optimizer_with_step_and_zero_grad_and_a_loss_with_its_own_parameters():
    """The checks above must not refuse what trains: a hand-written optimizer, and a loss
    function holding a learnable tensor of its own next to the model's parameters."""

    class HandSGD:
        def __init__(self, params, lr):
            self.params, self.lr = list(params), lr

        def zero_grad(self):
            for p in self.params:
                p.grad = None

        def step(self):
            with dg.no_grad():
                for p in self.params:
                    if p.grad is not None:
                        p -= self.lr * p.grad

    x, y = _data()
    m = _model()
    h = fit(m, x, y, optimizer=HandSGD(m.parameters(), 0.1), epochs=5, seed=0)
    assert not h.fused and h.loss[-1] < 0.95 * h.loss[0]
    scale = dg.nn.Parameter(dg.tensor([0.5]))
    m = _model()
    h = fit(m, x, y, loss=lambda out, target: dg.nn.functional.mse_loss(out * scale, target), epochs=3, seed=0,
            optimizer=dg.optim.Adam([scale], lr=0.1))  # trains only the loss's own parameter
    assert scale.item() != 0.5 and h.epochs == 3


def test_fit_takes_torch_tensors_as_data():
    x, y = _data()
    a, b = _model(), _model()
    ha = fit(a, x, y, epochs=2, seed=0)
    hb = fit(b, torch.from_numpy(x).requires_grad_(), torch.from_numpy(y), epochs=2, seed=0)
    assert ha.loss == hb.loss


@pytest.mark.parametrize("tie", ["same_parameter", "same_module", "same_array"])
def test_fit_trains_tied_weights_on_the_autograd_path(tie):
    """Layers that share a parameter need the sum of both layers' gradients: the fused step
    cannot form it, so Trainer refuses and fit() falls back (it once raised instead)."""
    X, Y = _data(n=40)

    def build():
        dg.manual_seed(3)
        l1, l2 = dg.nn.Linear(3, 3), dg.nn.Linear(3, 3)
        if tie == "same_parameter":
            l2.weight = l1.weight
        elif tie == "same_array":
            l2.weight.data = l1.weight.data  # two Parameters over one array
        return dg.nn.Sequential(l1, dg.nn.Tanh(), l1 if tie == "same_module" else l2)

    ma, mb = build(), build()
    if tie != "same_array":
        with pytest.raises(ValueError, match="share a parameter"):
            dg.train.Trainer(ma, dg.optim.SGD(ma.parameters(), lr=0.1))
    fit(ma, X, Y[:, :1].repeat(3, axis=1), epochs=2, batch_size=8, optimizer=dg.optim.SGD(ma.parameters(), lr=0.1),
        shuffle=False, progress=False)
    fit(mb, X, Y[:, :1].repeat(3, axis=1), epochs=2, batch_size=8, optimizer=dg.optim.SGD(mb.parameters(), lr=0.1),
        shuffle=False, progress=False, fused=False)
    for pa, pb in zip(ma.parameters(), mb.parameters()):
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())
    assert not np.array_equal(ma[0].weight.detach().numpy(), build()[0].weight.detach().numpy())  # it trained


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_history_loss_is_on_the_scale_of_the_whole_set(reduction):
    """With lr 0 nothing changes, so each epoch's training loss must equal the loss over the
    whole set (what val_loss reports for the same data), whatever the batch size."""
    X, Y = _data(n=60)
    seen = []
    for batch_size in (1, 10, 60, 7):
        m = _model()
        h = fit(m, X, Y, epochs=1, batch_size=batch_size, optimizer=dg.optim.SGD(m.parameters(), lr=0.0),
                loss=dg.nn.MSELoss(reduction=reduction), val=(X, Y), shuffle=False, progress=False)
        np.testing.assert_allclose(h.loss[0], h.val_loss[0], rtol=1e-5)
        seen.append(h.loss[0])
    np.testing.assert_allclose(seen, seen[0], rtol=1e-5)
