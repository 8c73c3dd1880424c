"""``Module``: the base of every layer. It registers Parameters and sub-Modules assigned as
attributes, and offers parameters(), named_parameters(), zero_grad(), state_dict(),
load_state_dict() and friends with PyTorch's semantics."""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, NamedTuple

import numpy as np

from ..._typename import is_torch_tensor, typename as _typename
from ..._tensor import Tensor, _to_args, _torch_to_numpy
from ..parameter import Parameter


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class _Children(OrderedDict):
    """A module's ``_modules``: counts its changes in ``version``, however they are made
    (attribute assignment, add_module, del, or a direct write like ``model._modules[k] = m``),
    so that Sequential knows when its fusion plan is stale."""

    def __init__(self, *args, **kwargs):
        self.version = 0
        super().__init__(*args, **kwargs)

    def _changed(method):  # noqa: N805  (a decorator used in the class body)
        def changed(self, *args, **kwargs):
            result = method(self, *args, **kwargs)
            self.version += 1
            return result

        changed.__name__ = method.__name__
        return changed

    __setitem__ = _changed(OrderedDict.__setitem__)
    __delitem__ = _changed(OrderedDict.__delitem__)
    __ior__ = _changed(OrderedDict.__ior__)
    pop = _changed(OrderedDict.pop)
    popitem = _changed(OrderedDict.popitem)
    clear = _changed(OrderedDict.clear)
    update = _changed(OrderedDict.update)
    setdefault = _changed(OrderedDict.setdefault)
    move_to_end = _changed(OrderedDict.move_to_end)
    del _changed


class Module:
    """Base class for layers and models; subclasses define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", _Children())
        object.__setattr__(self, "training", True)

    def __setstate__(self, state: dict) -> None:
        # Pickles made before _modules counted its changes hold a plain OrderedDict.
        if not isinstance(state.get("_modules"), _Children):
            state = {**state, "_modules": _Children(state.get("_modules", ()))}
            # the caches were stamped with the old counter, which the new one may equal
            for name in ("_modules_version", "_plan_version", "_plan", "_stack", "_stack_cache"):
                state.pop(name, None)
        self.__dict__.update(state)

    # ---- attribute registration ----------------------------------------------------------------

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError("cannot assign attributes before Module.__init__() call")
        modules = self.__dict__["_modules"]
        if isinstance(value, Parameter):
            modules.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            self.__dict__.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' (Parameter or None expected)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' (Module or None expected)")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        d = self.__dict__
        if "_parameters" in d and name in d["_parameters"]:
            return d["_parameters"][name]
        if "_modules" in d and name in d["_modules"]:
            return d["_modules"][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a Parameter (or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' as parameter '{name}' (Parameter or None expected)")
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module (or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        self._modules[name] = module

    # ---- running ---------------------------------------------------------------------------------

    def forward(self, *args, **kwargs):
        """The module's computation; subclasses define it and callers use ``module(input)``."""
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and its children (``mode=False``: evaluation); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    # ---- traversal ---------------------------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, child) pairs, each child module once (as in PyTorch)."""
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct child modules, each once."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) pairs for this module and every descendant, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if remove_duplicate and id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{n}" if name else n, c) for n, c in m._modules.items() if c is not None]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, each once."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs, each parameter once (unless remove_duplicate is false), named
        like PyTorch ('0.weight')."""
        seen: set[int] = set()
        mods = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for mname, m in mods:
            for pname, p in m._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter of this module and its descendants, each once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default, as in PyTorch) or to zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad._data[...] = 0
                p.grad._vc[0] += 1

    # ---- state -----------------------------------------------------------------------------------

    def state_dict(self) -> OrderedDict[str, Tensor]:
        """name -> tensor for every parameter; the tensors share memory with the parameters and
        are not part of any graph. A shared parameter appears under every name, as in PyTorch."""
        return OrderedDict((name, p.detach()) for name, p in self.named_parameters(remove_duplicate=False))

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters (in place). Values may be Tensors or ndarrays; a shape
        mismatch is an error, a dtype difference is converted. strict=True also requires exactly
        the same keys."""
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and (missing or unexpected):
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        values = {}
        for name, p in own.items():
            if name not in state_dict:
                continue
            v = state_dict[name]
            if isinstance(v, Tensor):
                arr = v._data
            elif is_torch_tensor(v):  # e.g. dict(torch_model.named_parameters()): they require grad
                arr = _torch_to_numpy(v, convert=True)
            else:
                arr = np.asarray(v)
            if arr.dtype.kind not in "biuf":
                errors.append(f'While copying the parameter named "{name}", got an array of dtype {arr.dtype}.')
            elif arr.shape != p.shape:
                errors.append(
                    f"size mismatch for {name}: copying a param with shape {arr.shape} from checkpoint, "
                    f"the shape in current model is {p.shape}."
                )
            else:
                values[name] = arr
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for name, arr in values.items():
            p = own[name]
            with np.errstate(over="ignore"):  # float64 beyond float32's range becomes Inf
                np.copyto(p._data, arr, casting="unsafe")
            p._vc[0] += 1
        return IncompatibleKeys(missing, unexpected)

    def to(self, *args, **kwargs) -> Module:
        """Convert every parameter (and gradient) to a dtype, keeping the Parameter objects;
        returns self. Takes PyTorch's forms (``to(dtype)``, ``to("cpu")``, ``to(device, dtype)``,
        ``to(tensor)``, then ``non_blocking``, or as keywords); the only device is the CPU."""
        dt, _ = _to_args("Module.to", args, kwargs, allow_copy=False)
        if dt is None:
            return self
        for p in self.parameters():
            if p.dtype != dt:
                with np.errstate(over="ignore"):  # beyond float32's range becomes Inf, as in PyTorch
                    p._data = p._data.astype(dt)
                    p._vc = [p._vc[0] + 1]  # new memory: its own counter (see Tensor.data's setter)
                    if p.grad is not None:
                        p._grad = Tensor._wrap(p.grad._data.astype(dt))
        return self

    def cpu(self) -> Module:
        """self: parameters always live in the CPU's memory (for PyTorch code)."""
        return self

    def double(self) -> Module:
        """Convert every parameter to float64; returns self."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Convert every parameter to float32; returns self."""
        return self.to(np.float32)

    # ---- printing -------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The module-specific part of ``repr`` (e.g. ``in_features=3, ...``)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"{extra}" if extra else "")
        return head + "\n  " + "\n  ".join(lines) + "\n)"
