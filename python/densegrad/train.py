"""Training helpers. ``fit`` is the mini-batch training loop (shuffling, validation, callbacks,
early stopping) and returns a ``History``; it runs on ``Trainer`` when it can.

``Trainer`` runs a whole training step of a ``Sequential`` MLP -- forward,
MSE loss, backward and the SGD/Adam update -- in ONE C++ call, with workspaces allocated once
and the GIL released.

It updates the very same NumPy buffers the autograd path uses (the model's parameters, their
``.grad`` and the optimizer's state), so fused steps and ordinary ``loss.backward();
opt.step()`` steps can be mixed, and both give bitwise identical parameters.
"""

from __future__ import annotations

import numpy as np

from ._typename import typename as _typename
from . import _core
from ._tensor import Tensor
from .nn.functional import _ACTIVATIONS
from .nn.modules.activation import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .nn.modules.container import Sequential
from .nn.modules.linear import Linear
from .nn.modules.loss import MSELoss
from .optim.adam import Adam
from .optim.sgd import SGD

__all__ = ["Callback", "EarlyStopping", "History", "Trainer", "fit"]

_FUSABLE = (ReLU, LeakyReLU, Sigmoid, Tanh, Identity)
_REDUCTIONS = {"mean": _core.Reduction.mean, "sum": _core.Reduction.sum}
_STATE_NAMES = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _layers_of(model: Sequential):
    """[(Linear, activation name, slope)] for a Sequential of Linear layers each optionally
    followed by one activation; ValueError for anything else."""
    if not isinstance(model, Sequential):
        raise TypeError(f"Trainer needs an nn.Sequential, got {_typename(model)}")
    mods = list(model)
    layers, i = [], 0
    while i < len(mods):
        m = mods[i]
        if type(m) is not Linear:
            raise ValueError(
                f"Trainer fuses Sequential(Linear, activation, Linear, ...): module {i} is "
                f"{type(m).__name__}, not a Linear"
            )
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        if type(nxt) in _FUSABLE:
            layers.append((m, nxt.fused_activation, getattr(nxt, "negative_slope", 0.0)))
            i += 2
        else:
            layers.append((m, "identity", 0.0))
            i += 1
    if not layers:
        raise ValueError("Trainer needs at least one Linear layer")
    # The fused step writes each layer's update once per step: a parameter shared by two layers
    # (tied weights, or one Linear used twice) needs the sum of both layers' gradients, which
    # only the autograd path forms.
    owners = {}
    for k, (lin, _, _) in enumerate(layers):
        for name in ("weight", "bias"):
            p = lin._parameters.get(name)
            if p is None:
                continue
            if id(p) in owners:
                raise ValueError(
                    f"Trainer cannot fuse layers that share a parameter: Linear layer {k}'s {name} is also Linear "
                    f"layer {owners[id(p)]}; train this model on the autograd path (fit(..., fused=False) or a loop)"
                )
            owners[id(p)] = f"{k}'s {name}"
    return layers


def _as_batch(name: str, v, dtype: np.dtype, cols: int) -> np.ndarray:
    if type(v) is np.ndarray and v.dtype is dtype and v.ndim == 2 and v.shape[1] == cols:
        flags = v.flags  # the common case, in a few checks
        if flags.c_contiguous and flags.aligned:
            return v
    arr = v._data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a Tensor or ndarray, got {_typename(v)}")
    if arr.dtype != dtype:
        raise TypeError(f"{name}: expected {dtype} like the model, got {arr.dtype}")
    if arr.ndim == 1 and cols == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != cols:
        raise ValueError(f"{name} must have shape (batch, {cols}), got {arr.shape}")
    return arr if arr.flags.c_contiguous and arr.flags.aligned else np.array(arr, order="C")


class Trainer:
    """One fused C++ call per training step for a ``Sequential`` MLP.

    model: ``nn.Sequential`` of ``Linear`` layers, each optionally followed by ReLU, LeakyReLU,
    Sigmoid, Tanh or Identity. optimizer: ``optim.SGD`` or ``optim.Adam`` over exactly the
    model's parameters, in one parameter group. loss: ``nn.MSELoss`` with reduction 'mean'
    (default) or 'sum'.

    ``step(x, y)`` is equivalent to ``opt.zero_grad(); loss_fn(model(x), y).backward();
    opt.step()`` and returns the loss as a float; afterwards each parameter's ``.grad`` holds
    that step's gradient, written in place (no ``zero_grad()`` needed; after one, which sets
    ``.grad`` to None, the step writes into new arrays). Changes to the optimizer's
    hyper-parameters (e.g. ``lr``) are picked up at the next step, and so are changes to the
    model, optimizer or loss (a module, parameter, slope or reduction replaced,
    ``model.double()``): the step checks them again and builds a new network (optimizer state
    kept from before a dtype change raises TypeError, as in ``opt.step()``; convert it with
    ``opt.load_state_dict(opt.state_dict())``). Every parameter must require grad (``step`` raises ValueError otherwise: a
    frozen parameter would be updated).
    """

    def __init__(self, model: Sequential, optimizer, loss: MSELoss | None = None):
        self.model = model
        self.optimizer = optimizer
        self.loss = MSELoss() if loss is None else loss
        self._configure()

    def _configure(self) -> None:
        """Check the model, optimizer and loss and bind a C++ network to them. A step runs this
        again when it finds any of them changed (see _sync): it never trains a stale network."""
        model, optimizer, loss = self.model, self.optimizer, self.loss
        if isinstance(optimizer, MSELoss) and isinstance(loss, (SGD, Adam)):
            # torch users often write the loss before the optimizer
            raise TypeError("Trainer takes (model, optimizer, loss): the optimizer and the loss were passed "
                            f"the other way round ({type(optimizer).__name__} as the optimizer, "
                            f"{type(loss).__name__} as the loss)")
        if isinstance(optimizer, MSELoss):
            raise TypeError("Trainer takes (model, optimizer, loss=None): the second argument is the optimizer, got "
                            "MSELoss")
        if not isinstance(loss, MSELoss):
            what = f"the class {loss.__name__}; pass an instance" if isinstance(loss, type) else _typename(loss)
            raise TypeError(f"Trainer supports the loss nn.MSELoss(), got {what}")
        if loss.reduction not in _REDUCTIONS:
            raise ValueError(f"Trainer supports nn.MSELoss with reduction 'mean' or 'sum', got {loss.reduction!r}")
        if not isinstance(optimizer, (SGD, Adam)):
            what = f"the class {optimizer.__name__}; pass an instance" if isinstance(optimizer, type) else _typename(optimizer)
            raise TypeError(f"Trainer supports optim.SGD and optim.Adam, got {what}")
        if len(optimizer.param_groups) != 1:
            raise ValueError("Trainer supports an optimizer with one parameter group")
        # What _sync compares each step, taken BEFORE the model is read: a change made while it
        # is read (another thread) then shows at the next step instead of being stamped current.
        group = optimizer.param_groups[0]
        slopes = tuple((m, float(m.negative_slope).hex()) for m in model._modules.values() if type(m) is LeakyReLU)
        key = (model, optimizer, loss, loss.reduction, model._modules.version, group, group["params"],
               len(group["params"]), slopes)
        layers = _layers_of(model)
        held = [(lin._parameters, lin._parameters["weight"], lin._parameters["bias"]) for lin, _, _ in layers]
        params = [p for _, w, b in held for p in (w, b) if p is not None]
        if {id(p) for p in params} != {id(p) for p in group["params"]}:
            raise ValueError("the optimizer must hold exactly the model's parameters")
        dtype = params[0].dtype
        if any(p.dtype != dtype for p in params):
            raise TypeError("all parameters must have the same dtype")
        self._layers, self._held, self._params, self._dtype = layers, held, params, dtype
        self._bound_key = key
        self._is_sgd = isinstance(optimizer, SGD)
        self._in = layers[0][0].in_features
        self._out = layers[-1][0].out_features
        self._bound_structure = None
        self._hyper = None
        self._bind()

    # ---- copying and pickling ---------------------------------------------------------------

    def __getstate__(self) -> dict:
        # The C++ network points into this process's arrays: a copy (copy.deepcopy, pickle)
        # carries the model, optimizer and loss, and builds its own network over their copies.
        state = self.__dict__.copy()
        for name in ("_net", "_watch", "_watch_state", "_no_bias", "_bound_structure", "_hyper", "_bound_key",
                     "_layers", "_held", "_params", "_regrad"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        try:
            self._configure()  # from the copied model as it is now, not the layers last bound
        except (TypeError, ValueError):
            self._bound_key = None  # no longer fusable: the next step or predict says why

    # ---- binding the NumPy buffers to the C++ network -----------------------------------------

    def _state_arrays(self, p) -> list[np.ndarray]:
        group = self.optimizer.param_groups[0]
        if isinstance(self.optimizer, SGD) and group["momentum"] == 0:
            return []  # plain SGD keeps no state (as torch.optim)
        st = self.optimizer.state[p]
        if isinstance(self.optimizer, SGD):
            if "momentum_buffer" not in st or st["momentum_buffer"] is None:
                st["momentum_buffer"] = np.zeros_like(p._data)
                st["_fresh"] = True  # first step starts the buffer from the gradient
            self.optimizer._check_state_dtype(p, [("momentum_buffer", st["momentum_buffer"])])
            return [st["momentum_buffer"]]
        if "exp_avg" not in st:
            st.update(step=0, exp_avg=np.zeros_like(p._data), exp_avg_sq=np.zeros_like(p._data))
        names = ["exp_avg", "exp_avg_sq"]
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in st and st.get("step", 0) > 0:  # as Adam.step (and torch.optim)
                raise ValueError("amsgrad was switched on after training began: the parameters' Adam state "
                                 "has no max_exp_avg_sq buffer")
            st.setdefault("max_exp_avg_sq", np.zeros_like(p._data))
            names.append("max_exp_avg_sq")
        self.optimizer._check_state_dtype(p, [(n, st[n]) for n in names])
        return [st[n] for n in names]

    def _grads_to_bind(self) -> dict:
        """The gradient tensor to bind for each parameter (by id): its .grad when the C++ network
        can write it (C-contiguous, aligned, writeable, the parameter's shape); else a new one,
        which replaces an unusable .grad at once, but is not given to a parameter whose .grad is
        None: a step attaches it after it succeeded (a failed step or predict() leaves None, as
        a failed backward would)."""
        out = {}
        for p in self._params:
            t = p._grad
            g = None if t is None else t._data
            if g is None or g.shape != p._data.shape or not (g.flags.writeable and g.flags.c_contiguous and g.flags.aligned):
                new = Tensor._wrap(np.zeros_like(p._data))
                if t is not None:
                    p._grad = new
                t = new
            out[id(p)] = t
        return out

    def _bind(self) -> None:
        """(Re)build the C++ network over the current buffers."""
        grads = self._grads_to_bind()
        layers, watch, no_bias = [], [], []
        plist = self._bound_key[6]  # the optimizer's list of parameters
        where = {id(q): i for i, q in enumerate(plist)}
        for (lin, act, slope), (owner, w, b) in zip(self._layers, self._held):
            # Each object is read once: the network and what _sync watches are the same arrays.
            wd, wg = w._data, grads[id(w)]
            watch.append((owner, "weight", w, where[id(w)], wd, wg, wg._data))
            if b is None:
                no_bias.append(owner)
                bd = bgd = None
            else:
                bd, bg = b._data, grads[id(b)]
                bgd = bg._data
                watch.append((owner, "bias", b, where[id(b)], bd, bg, bgd))
            layers.append((
                lin.in_features, lin.out_features, _ACTIVATIONS[act], float(slope), wd, bd, wg._data, bgd,
                self._state_arrays(w), [] if b is None else self._state_arrays(b),
            ))
        kind = "sgd" if isinstance(self.optimizer, SGD) else "adam"
        self._net = _core.FusedMlp(layers, kind, _REDUCTIONS[self.loss.reduction])
        self._bound_structure = self._structure()
        self._hyper = None
        # What _sync compares each step: where the model holds each parameter and the objects
        # that hold the bound arrays.
        self._watch, self._no_bias = watch, no_bias
        state = self.optimizer.state
        self._watch_state = [
            (p, state[p], name, state[p][name])
            for p in self._params if p in state for name in _STATE_NAMES if name in state[p]
        ]
        # Gradients that were None are bound but not attached: the next step gives them new
        # arrays and attaches those once it succeeded.
        self._regrad = self._regrad_plan() or None

    def _regrad_plan(self) -> list | None:
        """When the only change is gradients set to None (zero_grad()'s default), the places in
        _watch of those gradients: the next step writes them into new arrays (as a backward
        would, so a gradient tensor kept from before keeps its values) instead of building the
        network again. None when anything else changed."""
        if self._structure() != self._bound_structure:
            return None
        state = self.optimizer.state
        for p, st, name, arr in self._watch_state:
            if state.get(p) is not st or st.get(name) is not arr:
                return None
        plan = []
        layer = -1
        for k, (_, name, p, _, _, grad, grad_data) in enumerate(self._watch):
            if name == "weight":
                layer += 1
            if p._grad is grad and grad._data is grad_data:
                continue
            if p._grad is not None:
                return None
            plan.append((k, layer))
        return plan

    def _new_grads(self, plan: list) -> list:
        """Give the network new gradient arrays at the places planned by _regrad_plan; returns
        (parameter, gradient tensor) pairs to attach after the step. The arrays need no zeroing:
        a step writes every element of its gradients."""
        watch, net, attach = self._watch, self._net, []
        for k, layer in plan:
            owner, name, p, i, data, _, _ = watch[k]
            arr = np.empty(data.shape, data.dtype)
            net.set_grad(layer, name == "bias", arr)
            t = Tensor._wrap(arr)
            watch[k] = (owner, name, p, i, data, t, arr)
            attach.append((p, t))
        return attach

    def _structure(self):
        """The optimizer options that decide which state buffers exist."""
        group = self.optimizer.param_groups[0]
        return group["momentum"] != 0 if isinstance(self.optimizer, SGD) else bool(group["amsgrad"])

    def _sync(self) -> bool:
        """Rebuild the network if the model, optimizer or loss changed (a module, parameter,
        slope or array replaced: _configure checks them again), rebind it if a buffer was
        replaced (e.g. zero_grad() set .grad to None) or the state layout changed, and pass on
        the optimizer's current hyper-parameters. Returns whether a parameter is frozen."""
        # Compared by identity, never by ==: a Tensor answers == elementwise, 0.0 == -0.0 as a
        # slope, and assigning a slope makes a new object.
        if self._bound_key is None:
            return self._configure_and_sync()
        model, optimizer, loss, reduction, version, group, params, n_params, slopes = self._bound_key
        groups = optimizer.param_groups
        if (self.model is not model or self.optimizer is not optimizer or self.loss is not loss
                or loss.reduction is not reduction or model._modules.version != version
                or len(groups) != 1 or groups[0] is not group or group["params"] is not params
                or len(params) != n_params):
            return self._configure_and_sync()
        for m, slope in slopes:  # by the bits: a slope array changed in place is a new value
            if float(m.negative_slope).hex() != slope:
                return self._configure_and_sync()
        for owner in self._no_bias:
            if owner["bias"] is not None:
                return self._configure_and_sync()
        rebind = self._structure() != self._bound_structure
        frozen = False
        for owner, name, p, i, data, grad, grad_data in self._watch:
            # held by the model and by the optimizer at the same place; same array (model.double()
            # makes new ones, of a new dtype)
            if owner[name] is not p or params[i] is not p or p._data is not data:
                return self._configure_and_sync()
            if p._grad is not grad or grad._data is not grad_data:
                rebind = True
            if not p._requires_grad:
                frozen = True
        if not rebind:
            state = self.optimizer.state
            for p, st, name, arr in self._watch_state:
                if state.get(p) is not st or st.get(name) is not arr:
                    rebind = True
                    break
        if rebind:
            plan = self._regrad_plan()
            if plan is None:
                self._bind()
            else:
                self._regrad = plan
        else:  # a plan left by predict() or a refused step is stale: nothing is None now
            self._regrad = None
        group = self.optimizer.param_groups[0]
        # As numbers: an option may be a one-element Tensor, changed in place between steps.
        if self._is_sgd:
            hyper = (float(group["lr"]), float(group["momentum"]), float(group["dampening"]),
                     float(group["weight_decay"]), bool(group["nesterov"]), bool(group["maximize"]))
            if hyper != self._hyper:
                self._net.set_sgd(*hyper)
        else:
            b1, b2 = group["betas"]
            hyper = (float(group["lr"]), float(b1), float(b2), float(group["eps"]), float(group["weight_decay"]),
                     bool(group["amsgrad"]), bool(group["maximize"]))
            if hyper != self._hyper:
                self._net.set_adam(*hyper)
        self._hyper = hyper
        return frozen

    def _refuse_frozen(self) -> None:
        frozen = [name for name, p in self.model.named_parameters() if not p.requires_grad]
        raise ValueError(
            f"Trainer updates every parameter, and {', '.join(frozen)} has requires_grad=False; "
            "train a model with frozen parameters on the autograd path (fit() takes it when they are "
            "frozen before it starts)"
        )

    def _configure_and_sync(self) -> bool:
        self._configure()
        return self._sync()

    # ---- stepping ----------------------------------------------------------------------------

    def step(self, x, y) -> float:
        """One training step on the batch (x, y); returns the loss before the update."""
        if self._sync():  # first: a changed model may have a new dtype or width
            self._refuse_frozen()
        xa = _as_batch("x", x, self._dtype, self._in)
        ya = _as_batch("y", y, self._dtype, self._out)
        attach = None
        if self._regrad:  # gradients reset to None since the last step
            plan, self._regrad = self._regrad, None
            attach = self._new_grads(plan)
        opt = self.optimizer
        if self._is_sgd and not self._bound_structure:  # plain SGD: no state to keep
            loss = self._net.step(xa, ya, 1, False)
        elif not self._is_sgd:
            states = [opt.state[p] for p in self._params]
            n = states[0]["step"] + 1
            if any(s["step"] + 1 != n for s in states):
                raise RuntimeError("the parameters' Adam step counts differ; the fused step needs them equal "
                                   "(take autograd steps, which fit() does by itself)")
            loss = self._net.step(xa, ya, n, False)
            for s in states:
                s["step"] = n
        else:
            states = [opt.state[p] for p in self._params]
            fresh = [s.get("_fresh", False) for s in states]
            first = fresh[0]
            if any(f is not first for f in fresh):  # one flag for the whole network
                raise RuntimeError(
                    "some parameters have SGD momentum buffers and others none yet; the fused step "
                    "needs all or none (take autograd steps, which fit() does by itself)"
                )
            loss = self._net.step(xa, ya, 1, first)
            if first:  # (after the step: a step that raised has not started the buffers)
                for s in states:
                    s.pop("_fresh", None)
        if attach is not None:  # after the step: a step that raised leaves them None
            for p, t in attach:
                if p._grad is None:
                    p._grad = t
        for p in self._params:
            p._vc[0] += 1
            g = p._grad  # written in place (autograd would have made a new .grad)
            if g is not None:  # (None only if another thread reset it meanwhile)
                g._vc[0] += 1
        return loss

    def predict(self, x) -> np.ndarray:
        """The model's output for x as an ndarray (no graph is recorded)."""
        self._sync()
        return self._net.forward(_as_batch("x", x, self._dtype, self._in))


from ._fit import Callback, EarlyStopping, History, fit  # noqa: E402  (_fit uses Trainer from here)
