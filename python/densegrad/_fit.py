"""``fit``: the mini-batch training loop (shuffling, validation, callbacks, early stopping), as
``densegrad.train.fit``. A Sequential MLP with MSE loss and SGD/Adam runs on the fused C++ step
(``Trainer``); anything else on the autograd path (``zero_grad; loss.backward(); step``). Both
give the same parameters, so the choice is only about speed.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ._typename import is_torch_tensor, typename as _typename
from . import _random
from ._tensor import Tensor, _torch_to_numpy
from .autograd.grad_mode import no_grad
from .nn.modules.container import Sequential
from .nn.modules.loss import MSELoss
from .nn.modules.module import Module
from .optim.adam import Adam
from .optim.optimizer import Optimizer
from .optim.sgd import SGD

__all__ = ["Callback", "EarlyStopping", "History", "fit"]


@dataclass
class History:
    """What ``fit`` returns: per-epoch training loss (the batch losses averaged, weighted by batch
    size; with a loss of reduction 'sum', summed: the loss summed over the training rows) and
    validation loss (the loss over the whole validation set after the epoch; empty without
    ``val``), and how the run went."""

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    fused: bool = False
    stopped_early: bool = False
    best_epoch: int | None = None  # 1-based epoch with the lowest val_loss (with val)

    @property
    def steps_per_second(self) -> float:
        """Training steps per second of wall time (validation included)."""
        return self.steps / self.seconds if self.seconds > 0 else math.inf


class Callback:
    """Base class for ``fit`` callbacks; override what you need. A plain function
    ``f(epoch, logs)`` works too, as ``on_epoch_end``."""

    def on_train_begin(self, model: Module, history: History) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None:
        """Called after each epoch (1-based) with ``logs`` = {"loss", "val_loss" (None without
        val)}; return True to stop training."""
        return None

    def on_train_end(self, model: Module, history: History) -> None:
        """Called once after the last epoch."""


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[int, dict], Any]):
        self.fn = fn

    def on_epoch_end(self, epoch, logs):
        return self.fn(epoch, logs)


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` (default) the model ends with the parameters of its
    best epoch. Needs ``val``."""

    def __init__(self, patience: int = 10, min_delta: float = 0.0, restore_best_weights: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, model, history):
        self.model = model
        self.best = math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self.wait = 0

    def on_epoch_end(self, epoch, logs):
        v = logs.get("val_loss")
        if v is None:
            raise RuntimeError("EarlyStopping monitors the validation loss: pass val=(X_val, y_val) to fit")
        if v < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = v, epoch, 0
            if self.restore_best_weights:
                self.best_state = {k: t.numpy().copy() for k, t in self.model.state_dict().items()}
            return None
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, model, history):
        if self.restore_best_weights and self.best_state is not None:
            model.load_state_dict(self.best_state)


def _array(name: str, v, dtype: np.dtype) -> np.ndarray:
    arr = v._data if isinstance(v, Tensor) else _torch_to_numpy(v, convert=True) if is_torch_tensor(v) else v
    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got an array of {arr.dtype}")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes Inf
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, columns), got shape {arr.shape}")
    return arr


def _shape(v) -> tuple:
    """The shape of what the user passed (before a 1-D y became a column)."""
    return tuple(v.shape) if isinstance(v, Tensor) else np.shape(v)


def _columns(n: int) -> str:
    return f"{n} column" if n == 1 else f"{n} columns"


def _check_shapes(model: Module, loss: Module, pairs) -> None:
    """Check each (name, user's value, array) of X against the model's inputs and, with MSELoss
    (which needs equal shapes), each y against its outputs -- before the first batch, so that the
    message names the user's arrays. A Sequential MLP's widths are read from its Linear layers;
    any other model runs on one row of X."""
    from .train import _layers_of

    try:
        layers = _layers_of(model)
        n_in, n_out = layers[0][0].in_features, layers[-1][0].out_features
    except (TypeError, ValueError):
        n_in = n_out = None
    for (xname, x, xa), (yname, y, ya) in pairs:
        if n_in is not None:
            if xa.shape[1] != n_in:
                raise ValueError(f"{xname} has shape {_shape(x)} but the model takes {_columns(n_in)}")
            out = n_out
        else:
            gen = _random.default_generator()
            state = gen.bit_generator.state  # a forward that draws random numbers must not shift training's
            try:
                with no_grad():
                    shape = model(Tensor._wrap(xa[:1])).shape
            except ValueError as e:
                raise ValueError(f"{xname} has shape {_shape(x)}, which the model does not take: {e}") from None
            finally:
                gen.bit_generator.state = state
            out = shape[1] if len(shape) == 2 else None
        if isinstance(loss, MSELoss) and out is not None and ya.shape[1] != out:
            raise ValueError(f"{yname} has shape {_shape(y)} but the model outputs {_columns(out)}")


def _warn_non_finite(warned: set, kind: str, value: float, epoch: int, data: str) -> None:
    """A RuntimeWarning, once per fit and kind, when an epoch's loss is NaN or infinite: training
    goes on (as in PyTorch), but a NaN never counts as an improvement, so early stopping would
    stop on it and keep the weights of an earlier epoch."""
    if math.isfinite(value) or kind in warned:
        return
    warned.add(kind)
    warnings.warn(f"fit: the {kind} loss is {value} at epoch {epoch} ({data} holds NaN or infinite values, "
                  "or training diverged: try a lower learning rate)", RuntimeWarning, stacklevel=3)


def _from_torch(obj) -> bool:
    """A torch object (a loss module or function, an optimizer): densegrad tensors go nowhere in it."""
    names = (type(obj).__module__, getattr(obj, "__module__", None) or "")
    return any(isinstance(n, str) and n.split(".")[0] == "torch" for n in names)


def _check_optimizer(optimizer) -> None:
    """TypeError for what cannot be an optimizer: a class, a string, a torch.optim optimizer, an
    object without ``step`` and ``zero_grad`` (hand-written ones with those two are welcome)."""
    if isinstance(optimizer, type):
        raise TypeError(f"optimizer must be an optimizer object such as optim.Adam(model.parameters(), lr=1e-3), "
                        f"got the class {optimizer.__name__}")
    if _from_torch(optimizer):
        raise TypeError(f"optimizer is a {_typename(optimizer)}: use densegrad's (optim.SGD, optim.Adam), which "
                        "take the same arguments")
    if not (callable(getattr(optimizer, "step", None)) and callable(getattr(optimizer, "zero_grad", None))):
        raise TypeError(f"optimizer must have step() and zero_grad() (optim.SGD, optim.Adam), got {_typename(optimizer)}")


def _check_first_step(optimizer) -> None:
    """After the first autograd step: ValueError when the optimizer (a densegrad one) holds no
    parameter, or none of its parameters got a gradient -- e.g. it was built over another
    model's parameters -- since every step would then leave the model as it was. (The fused path
    never gets here: it requires the optimizer to hold exactly the model's parameters.)"""
    if not isinstance(optimizer, Optimizer):
        return
    held = [p for g in optimizer.param_groups for p in g["params"]]
    if not held:
        raise ValueError("the optimizer holds no parameters: training would not change the model")
    if all(p.grad is None for p in held):
        raise ValueError("none of the optimizer's parameters got a gradient from the loss (was it built over "
                         "another model's parameters, or are they all frozen?): training would not change the model")


def _fused_trainer(model, optimizer, loss):
    """(a Trainer, None) when the fused C++ step can run this combination, else (None, the
    reason it cannot)."""
    from .train import Trainer, _layers_of

    if not isinstance(model, Sequential):
        return None, f"the model is a {_typename(model)}, not an nn.Sequential"
    if not isinstance(loss, MSELoss) or loss.reduction not in ("mean", "sum"):
        what = _typename(loss) if not isinstance(loss, MSELoss) else f"MSELoss(reduction={loss.reduction!r})"
        return None, f"the loss is {what}, not nn.MSELoss with reduction 'mean' or 'sum'"
    if not isinstance(optimizer, (SGD, Adam)):
        return None, f"the optimizer is {_typename(optimizer)}, not optim.SGD or optim.Adam"
    if len(optimizer.param_groups) != 1:
        return None, f"the optimizer has {len(optimizer.param_groups)} parameter groups, not one"
    try:
        layers = _layers_of(model)
    except (TypeError, ValueError) as e:
        return None, str(e)
    params = [p for lin, _, _ in layers for p in (lin.weight, lin.bias) if p is not None]
    if {id(p) for p in params} != {id(p) for p in optimizer.param_groups[0]["params"]}:
        return None, "the optimizer does not hold exactly the model's parameters"
    if len({p.dtype for p in params}) != 1:
        return None, "the parameters have different dtypes"
    if not all(p.requires_grad for p in params):
        return None, "a parameter is frozen (requires_grad=False), and the fused step would update it"
    # The fused step takes one SGD "first step" flag and one Adam step count for the whole
    # network: state left by earlier training where some parameters had no gradient does not fit.
    states = [optimizer.state.get(p) or {} for p in params]
    if isinstance(optimizer, SGD):
        if len({s.get("momentum_buffer") is not None and not s.get("_fresh") for s in states}) > 1:
            return None, "some parameters have momentum buffers and others not (earlier training left them)"
    elif len({s.get("step", 0) for s in states}) > 1:
        return None, "the parameters' Adam step counts differ (earlier training left them)"
    try:  # what only binding the buffers finds (two parameters over the same memory)
        return Trainer(model, optimizer, loss), None
    except ValueError as e:
        return None, str(e)


def fit(
    model: Module,
    X,
    y,
    *,
    loss: Module | None = None,
    optimizer=None,
    epochs: int = 10,
    batch_size: int = 32,
    val: tuple | None = None,
    callbacks: Iterable[Callback | Callable] = (),
    early_stopping: int | EarlyStopping | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    fused: bool | None = None,
    progress: bool = False,
) -> History:
    """Train ``model`` on (X, y) with mini-batches and return a ``History``.

    X (rows, features) and y (rows, outputs) -- ndarrays, Tensors or nested lists; a 1-D y is a
    column -- are converted to the model's dtype, and checked against the model before training:
    X's columns against its inputs and, with ``MSELoss``, y's against its outputs (the same for
    ``val``). loss defaults to ``nn.MSELoss()``, optimizer to ``optim.Adam(model.parameters(),
    lr=1e-3)``. Each epoch shuffles the rows (a NumPy generator seeded with ``seed``;
    ``shuffle=False`` keeps the order) and steps once per batch of ``batch_size`` rows (the last
    one may be smaller). val: ``(X_val, y_val)``, evaluated after every epoch. callbacks:
    ``Callback`` objects or functions ``f(epoch, logs)``, called after each epoch with the epoch
    counted from 1 and ``logs = {"loss": ..., "val_loss": ...}`` (None without val); returning
    True stops. early_stopping=N adds ``EarlyStopping(patience=N)``; an ``EarlyStopping`` object
    is taken as it is, as if it were in callbacks (either needs val). fused: use the fused C++
    step (True: required, False: never, None: when the model/loss/optimizer allow).
    progress: show a tqdm bar with the epoch, loss and validation loss (on stderr).
    """
    if not isinstance(model, Module):
        raise TypeError(f"fit expects an nn.Module, got {_typename(model)}")
    params = list(model.parameters())
    if not params:
        raise ValueError("the model has no parameters to train")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {_typename(v)}")
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got epochs={epochs}, batch_size={batch_size}")
    dtype = params[0].dtype
    xa, ya = _array("X", X, dtype), _array("y", y, dtype)
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"X has {xa.shape[0]} rows but y has {ya.shape[0]}")
    if xa.shape[0] == 0:
        raise ValueError("X has no rows")
    xv = yv = None
    if val is not None:
        if not (isinstance(val, (tuple, list)) and len(val) == 2):
            raise TypeError("val must be a pair (X_val, y_val)")
        xv, yv = _array("X_val", val[0], dtype), _array("y_val", val[1], dtype)
        if xv.shape[0] != yv.shape[0]:
            raise ValueError(f"X_val has {xv.shape[0]} rows but y_val has {yv.shape[0]}")
        if xv.shape[0] == 0:
            xv = yv = None  # nothing to validate on
    loss_fn = MSELoss() if loss is None else loss
    if isinstance(loss_fn, type) or not callable(loss_fn) or _from_torch(loss_fn):
        what = f"the class {loss_fn.__name__}" if isinstance(loss_fn, type) else _typename(loss_fn)
        raise TypeError(f"loss must be a densegrad loss module such as nn.MSELoss(), got {what}")
    if optimizer is not None:
        _check_optimizer(optimizer)
    pairs = [(("X", X, xa), ("y", y, ya))]
    if xv is not None:
        pairs.append((("X_val", val[0], xv), ("y_val", val[1], yv)))
    _check_shapes(model, loss_fn, pairs)
    opt = Adam(params, lr=1e-3) if optimizer is None else optimizer
    cbs: list[Callback] = [c if isinstance(c, Callback) else _FunctionCallback(c) for c in callbacks]
    if early_stopping is not None:
        if not isinstance(early_stopping, (int, EarlyStopping)) or isinstance(early_stopping, bool):
            raise TypeError(
                f"early_stopping must be an int (the patience) or an EarlyStopping, got {_typename(early_stopping)}"
            )
        if xv is None:
            raise ValueError("early_stopping monitors the validation loss: pass val=(X_val, y_val) with rows")
        es = early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(patience=early_stopping)
        if not any(c is es for c in cbs):
            cbs.append(es)

    trainer, why = _fused_trainer(model, opt, loss_fn) if fused is not False else (None, None)
    if fused and trainer is None:
        raise ValueError("fused=True needs a Sequential of Linear layers and activations, nn.MSELoss, and optim.SGD or "
                         f"Adam over the model's parameters, none of them frozen (requires_grad=False); here {why}")

    if trainer is not None:
        step = trainer.step
    else:
        def step(xb, yb):
            opt.zero_grad()
            out = loss_fn(model(Tensor._wrap(xb)), Tensor._wrap(yb))
            out.backward()
            if history.steps == 0:
                _check_first_step(opt)
            opt.step()
            return out.item()

    def val_loss() -> float | None:
        if xv is None:
            return None
        with no_grad():
            return loss_fn(model(Tensor._wrap(xv)), Tensor._wrap(yv)).item()

    history = History(fused=trainer is not None)
    # A batch's loss with reduction 'sum' is a sum over its rows: the epoch's is their sum (it was
    # once weighted by batch size too, and so grew with it).
    summed = getattr(loss_fn, "reduction", "mean") == "sum"
    warned: set[str] = set()
    rng = np.random.default_rng(seed)
    n = xa.shape[0]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="train", unit="epoch", file=sys.stderr, dynamic_ncols=True, leave=True)
    for cb in cbs:
        cb.on_train_begin(model, history)
    start = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            if shuffle:
                perm = rng.permutation(n)
                xe, ye = xa[perm], ya[perm]  # one gather per epoch; the batches are then views
            else:
                xe, ye = xa, ya
            total = 0.0
            for i in range(0, n, batch_size):
                xb, yb = xe[i : i + batch_size], ye[i : i + batch_size]
                total += step(xb, yb) * (1 if summed else xb.shape[0])
                history.steps += 1
            history.loss.append(total if summed else total / n)
            vl = val_loss()
            _warn_non_finite(warned, "training", history.loss[-1], epoch, "X or y")
            if vl is not None:
                _warn_non_finite(warned, "validation", vl, epoch, "X_val or y_val")
            if vl is not None:
                history.val_loss.append(vl)
                if history.best_epoch is None or vl < history.val_loss[history.best_epoch - 1]:
                    history.best_epoch = epoch
            history.epochs = epoch
            logs = {"loss": history.loss[-1], "val_loss": vl}
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)
                bar.set_postfix_str(f"loss={logs['loss']:.4g}" + ("" if vl is None else f" val_loss={vl:.4g}"), refresh=False)
                bar.update(1)
            stop = False
            for cb in cbs:
                stop = bool(cb.on_epoch_end(epoch, logs)) or stop
            if stop:
                history.stopped_early = epoch < epochs
                break
    finally:
        if bar is not None:
            bar.close()
    history.seconds = time.perf_counter() - start
    for cb in cbs:
        cb.on_train_end(model, history)
    return history
