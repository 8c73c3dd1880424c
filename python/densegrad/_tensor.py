"""``Tensor``: a NumPy array plus what reverse-mode autograd needs (requires_grad, grad, the
node that made it), and the factories ``tensor``, ``from_numpy``, ``zeros``, ``ones``, ``rand``,
``randn``.

Tensors are always float32 or float64. Operators record ops from ``_ops`` on the tape; NumPy
arrays and Python numbers mix in as constants. dtype promotion follows PyTorch: float32 with
float64 gives float64, except that a 0-d operand does not promote a dimensioned one.
"""

from __future__ import annotations

import numbers
import weakref
from operator import index as _operator_index

import numpy as np

from ._typename import is_torch_tensor, typename as _typename
from . import _random
from ._tensor_str import tensor_repr
from .autograd import grad_mode

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
_DEFAULT_DTYPE = float32


def _check_dtype(dtype) -> np.dtype:
    """dtype as a NumPy dtype, which must be float32 or float64 (TypeError otherwise)."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):  # (NumPy parses some strings as code: np.dtype(","))
        raise TypeError(f"expected float32 or float64, got {dtype!r}") from None
    if dt != float32 and dt != float64:
        raise TypeError(f"expected float32 or float64, got {dt}")
    return dt


_DEVICE_TYPES = frozenset(("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "ipu", "hpu", "mtia", "maia", "vulkan",
                           "opengl", "opencl", "mkldnn", "ideep", "fpga", "ve", "lazy", "privateuseone"))


def _to_args(where: str, args: tuple, kwargs: dict, allow_copy: bool) -> tuple[np.dtype | None, bool]:
    """(dtype or None, copy) from ``.to(...)``'s arguments in PyTorch's forms: ``to(dtype)``,
    ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)`` (its dtype), each followed by
    ``non_blocking`` (and, for a tensor, ``copy``), or as keywords (``memory_format`` is taken and
    has nothing to do here). A device must be the CPU ('cpu', 'cpu:N', a torch.device of one):
    densegrad has no other, and ValueError says so rather than leaving the data where the caller
    did not ask."""
    kwargs = dict(kwargs)
    dtype, device = kwargs.pop("dtype", None), kwargs.pop("device", None)
    flags = {"non_blocking": kwargs.pop("non_blocking", False)}
    if allow_copy:
        flags["copy"] = kwargs.pop("copy", False)
    fmt = kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"{where}() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if fmt is not None and not (type(fmt).__name__ == "memory_format" and type(fmt).__module__.split(".")[0] == "torch"):
        raise TypeError(f"{where}(): memory_format must be a torch.memory_format, got {_typename(fmt)}")
    args = list(args)
    given = []  # what the positional arguments set, in PyTorch's order
    if args and _is_device(args[0]):
        given.append(("device", args.pop(0)))
        if args and not isinstance(args[0], bool):
            given.append(("dtype", args.pop(0)))
    elif args and not isinstance(args[0], bool):
        first = args.pop(0)
        given.append(("dtype", first.dtype if isinstance(first, Tensor) or is_torch_tensor(first) else first))
    for name in flags:  # then the flags
        if args:
            given.append((name, args.pop(0)))
    if args:
        raise TypeError(f"{where}() takes a device and/or a dtype (or a tensor), then {' and '.join(flags)}; "
                        f"got {len(args)} argument{'s' if len(args) > 1 else ''} more")
    for name, value in given:
        if (name == "dtype" and dtype is not None) or (name == "device" and device is not None):
            raise TypeError(f"{where}() got {name} both by position and by keyword")
        if name == "dtype":
            dtype = value
        elif name == "device":
            device = value
        else:
            flags[name] = value
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            if _is_device(value):
                raise TypeError(f"{where}(): a device comes first, as in to(device, dtype); got {value!r} after the dtype")
            raise TypeError(f"{where}(): {name} must be a bool, got {_typename(value)}")
    if dtype is not None and (_is_device(dtype) or isinstance(dtype, (bool, np.bool_))):
        raise TypeError(f"{where}(): a device comes first, as in to(device, dtype); got {dtype!r} as the dtype")
    if device is not None:
        name = device if isinstance(device, str) else str(device)
        kind, sep, index = name.partition(":")
        if kind != "cpu":
            raise ValueError(f"densegrad runs on the CPU only; got device {name!r}")
        if sep and not (index.isdigit() and index.isascii()):
            raise ValueError(f"invalid device string {name!r}")
    if dtype is not None:
        if type(dtype).__module__ == "torch":  # torch.float32 / torch.float64
            dtype = {"torch.float32": float32, "torch.float64": float64}.get(str(dtype), str(dtype))
        dtype = _check_dtype(dtype)
    return dtype, bool(flags.get("copy", False))


def _torch_to_numpy(t, convert: bool) -> np.ndarray:
    """A torch.Tensor's values as an ndarray: detached (torch's numpy() refuses a tensor that
    requires grad), dense, in the CPU's memory. A dtype NumPy has not (bfloat16, ...) is a
    TypeError unless convert (then it goes through float64)."""
    if str(t.layout) != "torch.strided":
        raise TypeError(f"a {t.layout} torch.Tensor: convert it with t.to_dense() first")
    try:
        t = t.detach().cpu().resolve_conj().resolve_neg()
    except Exception as e:  # e.g. the meta device (no data)
        raise TypeError(f"could not copy the torch.Tensor: {e}") from None
    if str(t.dtype) in ("torch.bfloat16", "torch.float8_e4m3fn", "torch.float8_e5m2") and convert:
        t = t.double()
    try:
        return t.numpy()
    except TypeError:  # a dtype NumPy has not
        raise TypeError(f"expected float32 or float64, got {t.dtype}; pass dtype= to convert, or convert "
                        "it in torch first (t.float() or t.double())") from None


def _is_device(v) -> bool:
    """A device argument: 'cpu', 'cuda:0' and the like, or a torch.device."""
    if isinstance(v, str):
        return v.partition(":")[0] in _DEVICE_TYPES
    t = type(v)
    return t.__name__ == "device" and t.__module__.split(".")[0] == "torch"


def _to_array(data, dtype) -> np.ndarray:
    """A new C-contiguous float array from Python data, an ndarray or a Tensor (see ``tensor``)."""
    dt = None if dtype is None else _check_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._data
    elif is_torch_tensor(data):  # copied as an ndarray would be: float32/float64 kept, others refused
        data = _torch_to_numpy(data, convert=dt is not None)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
        if dt is None:
            if arr.dtype.kind == "f" and arr.dtype.itemsize in (4, 8):
                dt = np.dtype(arr.dtype.type)  # keeps float32/float64, drops byte order
            else:
                raise TypeError(
                    f"expected float32 or float64, got {arr.dtype}; pass dtype=densegrad.float32 "
                    "(or float64) to convert"
                )
    else:
        try:
            arr = np.asarray(data)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"could not make a tensor from {_typename(data)}: {e}") from None
        if dt is None:
            if arr.dtype.kind == "b":  # PyTorch makes a bool tensor; 0.0/1.0 would pass as a mask
                raise TypeError(
                    "booleans make a bool tensor in PyTorch and densegrad has none: pass "
                    "dtype=densegrad.float32 (or float64) for 0.0/1.0, or index with the list as a mask"
                )
            dt = _DEFAULT_DTYPE
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected real numbers (float32 or float64), got {arr.dtype}")
    with np.errstate(over="ignore"):  # beyond float32's range becomes Inf, as in PyTorch
        return np.array(arr, dtype=dt, order="C", copy=True)


_NO_COMPARE = (
    "Tensor {op} {other}: densegrad has no elementwise comparison (no bool dtype); compare arrays "
    "(t.numpy() {op} other), or a one-element tensor with a number. Between two tensors, == is identity"
)
# Basic indexing (ints, slices, None, ...) outside the graph gives a view, as in PyTorch: an
# in-place change of t[0] changes t. Recorded by autograd (the tensor requires grad and grad
# mode is on) it gives a copy with a grad_fn; those copies are kept here (with detach()/.data of
# them), and an in-place change of one -- possible only under no_grad, where PyTorch's view would
# change the original -- raises instead of being lost. Advanced indexing (lists, arrays, masks)
# copies in PyTorch too: its results are not kept here.
_INDEXED: weakref.WeakSet = weakref.WeakSet()
# view (made by basic indexing) -> weak reference to the tensor it shows: an in-place change of
# the view with grad mode on is refused while that tensor requires grad, as the tensor itself
# would refuse it (PyTorch: "a view of a leaf Variable that requires grad ...").
_VIEW_BASE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NUMBER = (numbers.Number, np.number, np.bool_)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NO_TORCH = "densegrad and torch tensors do not mix in one operation: convert the torch.Tensor first with densegrad.tensor(t)"
_ARRAY_LIKE = (np.ndarray, list, tuple)  # what PyTorch would compare elementwise


class Tensor:
    """An n-dimensional float32/float64 array that can record its history for autograd.

    Build one with ``densegrad.tensor`` or ``densegrad.from_numpy``. Operators ``+ - * / @ **``
    and the methods below record the graph when an input requires grad; ``backward()`` then
    fills ``.grad`` of the leaves.
    """

    # _vc: the version counter, a one-element list bumped by every in-place change. Tensors that
    # share memory through densegrad (detach(), reshape/view/T, a Parameter made from a tensor)
    # share the list, so backward sees a change made through any of them.
    __slots__ = ("_data", "_requires_grad", "_grad", "_grad_fn", "_vc", "__weakref__")
    # Let NumPy defer to Tensor's reflected operators: ndarray + Tensor -> Tensor.__radd__.
    __array_ufunc__ = None

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        self._data = _to_array(data, dtype)
        self._requires_grad = False
        self._grad = None
        self._grad_fn = None
        self._vc = [0]
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, arr: np.ndarray) -> Tensor:
        """A tensor around arr, no copy and no checks (internal)."""
        t = object.__new__(cls)
        t._data = arr
        t._requires_grad = False
        t._grad = None
        t._grad_fn = None
        t._vc = [0]
        return t

    # ---- properties -------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension, a tuple of ints."""
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        """The element type: densegrad.float32 or densegrad.float64 (NumPy dtypes)."""
        return self._data.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded for backward()."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs, parameters)."""
        return self._grad_fn is None

    @property
    def _version(self) -> int:
        """How many times the data was changed in place (shared by tensors that alias it)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value: int) -> None:
        # Only for unpickling tensors pickled before the counter was shared (their state names
        # the old `_version` slot); densegrad itself bumps self._vc[0].
        self._vc = [int(value)]

    @property
    def grad_fn(self):
        """The graph node that made this tensor, or None for a leaf."""
        return self._grad_fn

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by ``backward()`` (leaves, or tensors that ``retain_grad``)."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None, got {_typename(value)}")
            if value.dtype != self.dtype:
                raise TypeError(f"assigned grad has dtype {value.dtype}, the tensor has {self.dtype}")
            if value.shape != self.shape:
                raise ValueError(f"assigned grad has shape {value.shape}, the tensor has shape {self.shape}")
        self._grad = value

    @property
    def data(self) -> Tensor:
        """The same values as a tensor that is not part of any graph (shares memory). Unlike
        ``detach()`` it has its own version counter (as in PyTorch): in-place changes made
        through it are not seen by backward's check for modified saved tensors."""
        t = Tensor._wrap(self._data)
        if self in _INDEXED:
            _INDEXED.add(t)
        return t

    @data.setter
    def data(self, value) -> None:
        arr = value._data if isinstance(value, Tensor) else value
        if not isinstance(arr, np.ndarray) or (arr.dtype != float32 and arr.dtype != float64):
            raise TypeError("data must be a float32 or float64 Tensor or ndarray")
        self._data = arr
        # New memory: no longer an alias of anything, so a counter of its own (bumped, so a
        # backward that saved this tensor refuses, as before; its former aliases are untouched).
        self._vc = [self._vc[0] + 1]

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed); 0-d and 1-D tensors are returned unchanged."""
        return self if self.ndim < 2 else _ops.Transpose.apply(self)

    # ---- conversion and inspection ----------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The underlying array (shared memory). Refused while the tensor requires grad."""
        if self._requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self._data.size != 1:
            raise ValueError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.item()

    def tolist(self):
        """The values as (nested) Python floats."""
        return self._data.tolist()

    def size(self, dim: int | None = None):
        """The shape, or the size of dimension ``dim``."""
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        """The number of dimensions (as ``ndim``)."""
        return self._data.ndim

    def numel(self) -> int:
        """The number of elements."""
        return int(self._data.size)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())  # truncates toward zero, as int(torch.tensor(2.7)) is 2

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} elements is ambiguous")
        return bool(self._data.item())

    # Comparisons. densegrad has no bool dtype, so `==` cannot give PyTorch's elementwise tensor.
    # A one-element tensor against a number answers by value, as bool(t == x) does in PyTorch
    # (a Python number taken in the tensor's dtype, as PyTorch does); a larger tensor against a
    # number or an array raises (it compared False before, whatever the values). Between tensors
    # == stays identity (as `is`: containers, `in` and dict keys need it).
    __hash__ = object.__hash__

    def _compare(self, other, op: str):
        """True/False for a one-element tensor against a number, None for `other` not compared
        here (a tensor or another object); raises for what would be elementwise."""
        if is_torch_tensor(other):
            raise TypeError(_NO_TORCH)
        if isinstance(other, _NUMBER):
            if self._data.size == 1:
                v = self._data.reshape(-1)[0]
                if type(other) in (int, float, bool):
                    try:
                        with np.errstate(over="ignore"):
                            other = v.dtype.type(other)
                    except OverflowError:  # an int beyond any float: Python compares it exactly
                        return v.item() == other
                return bool(v == other)
            raise TypeError(_NO_COMPARE.format(op=op, other=_typename(other)))
        if isinstance(other, _ARRAY_LIKE):
            raise TypeError(_NO_COMPARE.format(op=op, other=_typename(other)))
        return None

    def __eq__(self, other):
        if isinstance(other, Tensor):
            return self is other
        r = self._compare(other, "==")
        return NotImplemented if r is None else r

    def __ne__(self, other):
        if isinstance(other, Tensor):
            return self is not other
        r = self._compare(other, "!=")
        return NotImplemented if r is None else not r

    def _order(self, other):
        # No ordering comparisons (no bool dtype); a torch.Tensor gets the mixing message rather
        # than Python's "'<' not supported between instances of 'Tensor' and 'Tensor'".
        if is_torch_tensor(other):
            raise TypeError(_NO_TORCH)
        return NotImplemented

    __lt__ = __le__ = __gt__ = __ge__ = _order

    def __repr__(self) -> str:
        suffixes = []
        if self.dtype != _DEFAULT_DTYPE:
            suffixes.append(f"dtype=densegrad.{self.dtype}")
        if self._grad_fn is not None:
            suffixes.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            suffixes.append("requires_grad=True")
        return tensor_repr(self._data, suffixes)

    # ---- copying and pickling -----------------------------------------------------------------

    def __getstate__(self):
        # A pickle (any protocol) keeps the data, requires_grad, .grad and the version counter
        # (still shared with the tensors pickled alongside), not the graph: as in PyTorch, a
        # non-leaf comes back as a leaf. The (None, slots) form is what pickles made before this
        # method hold, so both unpickle through the default __setstate__.
        # A view of another array comes back as an array of its own (pickle and deepcopy copy it
        # alone): it then gets a counter of its own, or a change to it would fail backwards through
        # the copy of the array it no longer shares.
        vc = self._vc if self._data.base is None else [self._vc[0]]
        return (None, {"_data": self._data, "_requires_grad": self._requires_grad, "_grad": self._grad,
                       "_grad_fn": None, "_vc": vc})

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "only leaf tensors (inputs and parameters, not results of recorded operations) can "
                "be deep-copied; copy tensor.detach() instead"
            )
        import copy

        new = object.__new__(type(self))
        memo[id(self)] = new
        for name, value in copy.deepcopy(self.__getstate__()[1], memo).items():
            setattr(new, name, value)
        return new

    # ---- autograd -----------------------------------------------------------------------------

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether backward computes a gradient for this leaf (in place; returns self)."""
        if self._grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        self._requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A tensor with the same data (shared) that is not part of any graph. It shares the
        version counter too: changing it in place makes a backward that needs the old values
        fail instead of returning a wrong gradient, as in PyTorch."""
        t = Tensor._wrap(self._data)
        t._vc = self._vc
        if self in _INDEXED:
            _INDEXED.add(t)
        return t

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor during backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is not None:
            function.retain(self)

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        gradient: d(loss)/d(self) for a tensor with more than one element; omitted, self must
        hold one element and the seed is 1. The graph's saved arrays are freed afterwards unless
        retain_graph is true.
        """
        function.run_backward(self, gradient, retain_graph=bool(retain_graph))

    # ---- in-place updates (not recorded) ----------------------------------------------------

    def _check_inplace(self, other=None) -> None:
        if not grad_mode.is_grad_enabled():
            return
        base = _VIEW_BASE.get(self)
        base = base() if base is not None else None
        if base is not None and base._requires_grad:
            raise RuntimeError(
                "a view of a tensor that requires grad is being changed in place with grad mode on (it "
                "was indexed under no_grad, or before requires_grad_()): wrap the change in "
                "`with densegrad.no_grad():`"
            )
        if self._requires_grad or (isinstance(other, Tensor) and other._requires_grad):
            if self._grad_fn is None and self._requires_grad:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place operation. "
                    "Wrap the update in `with densegrad.no_grad():`."
                )
            raise RuntimeError(
                "in-place operations are not recorded by densegrad's autograd; use the "
                "out-of-place form (x = x + y) or wrap the update in `with densegrad.no_grad():`"
            )

    def _inplace(self, other, ufunc) -> Tensor:
        self._check_inplace(other)
        self._check_not_indexed("an in-place operator")
        o = other._data if isinstance(other, Tensor) else other
        if not isinstance(o, (numbers.Real, np.ndarray, np.generic)):
            return NotImplemented
        # Quiet, as the out-of-place operators: NaN and Inf are values. A warning turned into an
        # error (-W error) once raised after the write and before the version bump below, so a
        # backward through the changed tensor used it without noticing.
        with np.errstate(all="ignore"):
            ufunc(self._data, o, out=self._data, casting="same_kind")
        self._vc[0] += 1
        return self

    def __iadd__(self, other):
        return self._inplace(other, np.add)

    def __isub__(self, other):
        return self._inplace(other, np.subtract)

    def __imul__(self, other):
        return self._inplace(other, np.multiply)

    def __itruediv__(self, other):
        return self._inplace(other, np.divide)

    def _check_not_indexed(self, what: str) -> None:
        if self in _INDEXED:
            raise RuntimeError(
                f"{what} on a tensor indexed out of one that requires grad while grad mode was on: that is a "
                "copy in densegrad (a view in PyTorch), so the change would not reach the original. Index under "
                "no_grad (t[0] is then a view), assign through the original (t[0, 1] = v), or .clone() the copy "
                "to change it on its own"
            )

    def zero_(self) -> Tensor:
        """Fill with zeros in place (not recorded)."""
        self._check_not_indexed("zero_()")
        self._check_inplace()
        self._data[...] = 0
        self._vc[0] += 1
        return self

    def _assigned(self, value, what: str) -> np.ndarray | float:
        """value (a number, a Tensor, an ndarray or nested lists of numbers) as what an in-place
        assignment writes; TypeError for anything else, before self is touched."""
        if isinstance(value, Tensor):
            return value._data
        if isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, np.timedelta64):
            v = float(value)
            if self._data.dtype == float32 and abs(v) > _FLOAT32_MAX and v != np.inf and v != -np.inf:
                # as PyTorch: a number is checked (an array or tensor converts to +-inf)
                raise RuntimeError(f"{what}: value {value!r} cannot be converted to float32 without overflow")
            return v
        if is_torch_tensor(value):
            raise TypeError(f"{what}: convert the torch.Tensor first with densegrad.tensor(t)")
        try:
            arr = np.asarray(value)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"{what}: {e}") from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{what}: expected real numbers, got {_typename(value)} of {arr.dtype}")
        return arr

    def __setitem__(self, key, value) -> None:
        """self[key] = value in place, with NumPy's indexing and broadcasting (value: a number,
        an ndarray, a Tensor or nested lists). Not recorded, like the other in-place operations:
        a tensor that requires grad can be changed only under ``no_grad`` (as in PyTorch)."""
        self._check_not_indexed("tensor[...] = value")
        v = self._assigned(value, "tensor[...] = value")
        self._check_inplace(value)
        # PyTorch drops a value's leading dimensions of size 1 (t[0] = tensor([5.]) sets one
        # element; NumPy refuses it). Broadcasting never needed them, so nothing else changes.
        if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == 1:
            lead = next((i for i, d in enumerate(v.shape) if d != 1), v.ndim)
            v = v.reshape(v.shape[lead:])
        with np.errstate(over="ignore"):  # an array beyond float32's range gives +-inf, as in PyTorch
            self._data[_index_key(key)] = v
        self._vc[0] += 1

    def copy_(self, src) -> Tensor:
        """Copy src (broadcast to this tensor's shape, converted to its dtype) into this tensor
        in place; returns self. Not recorded (see ``__setitem__``)."""
        self._check_not_indexed("copy_()")
        v = self._assigned(src, "copy_")
        self._check_inplace(src)
        try:
            fits = np.broadcast_shapes(np.shape(v), self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"copy_: a source of shape {tuple(np.shape(v))} does not broadcast to {tuple(self.shape)}")
        with np.errstate(over="ignore"):  # an array beyond float32's range gives +-inf, as in PyTorch
            np.copyto(self._data, v, casting="unsafe")
        self._vc[0] += 1
        return self

    def fill_(self, value) -> Tensor:
        """Set every element to value (a number or a one-element tensor) in place; returns self."""
        self._check_not_indexed("fill_()")
        v = self._assigned(value, "fill_")
        if np.size(v) != 1:
            raise ValueError(f"fill_ takes a number or a one-element tensor, got {np.size(v)} elements")
        self._check_inplace(value)
        with np.errstate(over="ignore"):
            self._data[...] = np.reshape(v, ())
        self._vc[0] += 1
        return self

    # ---- differentiable ops -------------------------------------------------------------------

    def __add__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Add.apply(self, o)

    def __radd__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Add.apply(o, self)

    def __sub__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Sub.apply(self, o)

    def __rsub__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Sub.apply(o, self)

    def __mul__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Mul.apply(self, o)

    def __rmul__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Mul.apply(o, self)

    def __truediv__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Div.apply(self, o)

    def __rtruediv__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.Div.apply(o, self)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if is_torch_tensor(exponent):
            raise TypeError(_NO_TORCH)
        if isinstance(exponent, Tensor):
            raise TypeError("densegrad supports tensor ** number only; the exponent must be a Python or NumPy number")
        if not isinstance(exponent, (numbers.Real, np.integer, np.floating)):
            return NotImplemented
        return _ops.Pow.apply(self, float(exponent))

    def __rpow__(self, base):
        if is_torch_tensor(base):
            raise TypeError(_NO_TORCH)
        if not isinstance(base, (numbers.Real, np.integer, np.floating)):
            return NotImplemented
        return _ops.RPow.apply(float(base), self)

    def pow(self, exponent) -> Tensor:
        """self ** exponent elementwise (a Python number exponent)."""
        return self.__pow__(exponent)

    def __matmul__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.MatMul.apply(self, o)

    def __rmatmul__(self, other):
        o = _operand(other)
        return NotImplemented if o is NotImplemented else _ops.MatMul.apply(o, self)

    def matmul(self, other) -> Tensor:
        """self @ other with NumPy's rules for 1-D and 2-D operands."""
        return self.__matmul__(other)

    def __getitem__(self, key) -> Tensor:
        raw = _index_key(key)
        k = _basic_key(raw)
        basic = k is not None
        if basic and not (self._requires_grad and grad_mode.is_grad_enabled()):
            # a view sharing the version counter; an all-int key gives NumPy a scalar, and with a
            # trailing ... a 0-d view
            v = self._data[k]
            if not isinstance(v, np.ndarray):
                v = self._data[(k if isinstance(k, tuple) else (k,)) + (Ellipsis,)]
            t = Tensor._wrap(v)
            t._vc = self._vc
            base = _VIEW_BASE.get(self)
            _VIEW_BASE[t] = base if base is not None and base() is not None else weakref.ref(self)
            if self in _INDEXED:  # a view of a recorded copy is no view of the original either
                _INDEXED.add(t)
            return t
        out = _ops.Index.apply(self, k if basic else raw)
        if basic:
            _INDEXED.add(out)
        return out

    def sum(self, dim=None, keepdim: bool = False) -> Tensor:
        """Sum over dim (an int, a tuple of ints, or None for all)."""
        return _ops.Sum.apply(self, _dims(dim), bool(keepdim))

    def mean(self, dim=None, keepdim: bool = False) -> Tensor:
        """Mean over dim; the mean of no elements is NaN, as in PyTorch."""
        return _ops.Mean.apply(self, _dims(dim), bool(keepdim))

    def reshape(self, *shape) -> Tensor:
        """The same values in a new shape (one dimension may be -1); differentiable."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.Reshape.apply(self, tuple(map(_index, shape)))

    def view(self, *shape) -> Tensor:
        """reshape() that never copies, as in PyTorch: a RuntimeError where this tensor's memory
        layout cannot hold the new shape (a transpose, a strided slice); reshape() copies there.
        (It once was reshape() itself, and writing through such a "view" silently missed the
        original.)"""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(map(_index, shape))
        try:
            moved = self._data.reshape(shape)
        except ValueError:  # a shape that does not fit: reshape() says so in its own words
            return self.reshape(shape)
        if moved.size and not np.may_share_memory(moved, self._data):  # NumPy copied
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride: a tensor of shape "
                f"{tuple(self.shape)} and strides {self._data.strides} cannot be viewed as {shape} without a "
                "copy. Use .reshape(...) instead."
            )
        return self.reshape(shape)

    def t(self) -> Tensor:
        """The transpose of a tensor of at most 2 dimensions."""
        if self.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.T

    def clone(self) -> Tensor:
        """A copy that stays in the graph (gradients flow back to self)."""
        return _ops.Clone.apply(self)

    def to(self, *args, **kwargs) -> Tensor:
        """A copy in another dtype (recorded: gradients flow back in the original dtype), or self
        when the dtype is the same or none is given. Takes PyTorch's forms (``to(dtype)``,
        ``to("cpu")``, ``to(device, dtype)``, ``to(other_tensor)``, then ``non_blocking`` and
        ``copy``, or as keywords); the only device is the CPU."""
        dt, copy = _to_args("Tensor.to", args, kwargs, allow_copy=True)
        if dt is not None and dt != self.dtype:
            return _ops.Cast.apply(self, dt)
        return _ops.Clone.apply(self) if copy else self

    def cpu(self) -> Tensor:
        """self: densegrad tensors always live in the CPU's memory (for PyTorch code)."""
        return self

    def float(self) -> Tensor:
        """This tensor as float32 (self when it already is)."""
        return self.to(float32)

    def double(self) -> Tensor:
        """This tensor as float64 (self when it already is)."""
        return self.to(float64)

    def relu(self) -> Tensor:
        """max(0, x) elementwise."""
        return _ops.Relu.apply(self, _ops.RELU, 0.0)

    def sigmoid(self) -> Tensor:
        """1 / (1 + exp(-x)) elementwise."""
        return _ops.Sigmoid.apply(self, _ops.SIGMOID, 0.0)

    def tanh(self) -> Tensor:
        """tanh(x) elementwise."""
        return _ops.Tanh.apply(self, _ops.TANH, 0.0)


def _operand(other):
    """The other operand of an operator: a Tensor, a constant Tensor for an ndarray, a Python
    float for a number, or NotImplemented."""
    if isinstance(other, Tensor):
        return other
    if isinstance(other, np.ndarray):
        return Tensor._wrap(_to_array(other, None)) if other.ndim else float(_to_array(other, None))
    if isinstance(other, (numbers.Real, np.integer, np.floating)) and not isinstance(other, np.timedelta64):
        return float(other)
    if is_torch_tensor(other):  # (else Python's message names 'Tensor' and 'Tensor')
        raise TypeError(_NO_TORCH)
    return NotImplemented


def _index(v) -> int:
    """An integer size or dimension: TypeError for floats (2.5 was truncated) and for booleans
    (True is an int to Python, not to PyTorch), as in PyTorch."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"expected an integer, got {_typename(v)}")
    return _operator_index(v)


def _dims(dim):
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        # An empty dim list reduces every dimension in PyTorch (x.sum(dim=()) is x.sum()), not none.
        return tuple(map(_index, dim)) or None
    return (_index(dim),)


def _basic_key(key):
    """key as NumPy basic indexing (ints, slices, None, Ellipsis; a tuple of them), whose result
    is a view -- a 0-d integer array or tensor counts as an int, as in PyTorch -- or None for
    advanced indexing (lists, arrays, masks), which copies."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for k in parts:
        if isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu":
            k = int(k)
        if not (k is None or k is Ellipsis or isinstance(k, slice)
                or (isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)))):
            return None
        out.append(k)
    return tuple(out) if isinstance(key, tuple) else out[0]


def _index_key(key):
    """An indexing key with Tensors replaced by their arrays. A Tensor (always float) used as an
    index holds positions: whole numbers, or IndexError (1.7 was truncated to 1 silently; a
    boolean mask made into a tensor is 0.0/1.0 and would pick rows 0 and 1)."""
    if isinstance(key, Tensor):
        pos = key._data
        with np.errstate(invalid="ignore"):
            whole = np.all(np.mod(pos, 1) == 0)
        if not whole:
            raise IndexError(
                "a Tensor used as an index must hold whole-number positions; index with a list "
                "or a NumPy array for a boolean mask"
            )
        if pos.size and np.max(np.abs(pos)) >= 2.0**62:  # would not survive the cast to an integer
            raise IndexError(f"index {pos.flat[np.argmax(np.abs(pos))]:g} is out of range")
        return pos.astype(np.intp)
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    return key


# ---- factories ----------------------------------------------------------------------------------


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data (numbers, nested lists, an ndarray, a Tensor, or a
    torch.Tensor, detached).

    dtype: float32 or float64. Omitted, Python data becomes float32 and a float32/float64
    ndarray or torch.Tensor keeps its dtype (as in PyTorch); other dtypes need an explicit dtype.
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a float32/float64 ndarray (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {_typename(array)})")
    if not (array.dtype == float32 or array.dtype == float64) or not array.dtype.isnative:
        raise TypeError(f"expected float32 or float64, got {array.dtype}")
    return Tensor._wrap(array)


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(map(_index, size))  # 2.5 is a TypeError, as in PyTorch
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in size {shape}")
    return shape


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; size as separate ints or one tuple."""
    dt = _DEFAULT_DTYPE if dtype is None else _check_dtype(dtype)
    return Tensor._wrap(np.zeros(_shape(size), dtype=dt)).requires_grad_(requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones; size as separate ints or one tuple."""
    dt = _DEFAULT_DTYPE if dtype is None else _check_dtype(dtype)
    return Tensor._wrap(np.ones(_shape(size), dtype=dt)).requires_grad_(requires_grad)


def rand(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from the global generator (see ``manual_seed``)."""
    dt = _DEFAULT_DTYPE if dtype is None else _check_dtype(dtype)
    arr = _random.default_generator().random(_shape(size), dtype=np.float64).astype(dt)
    return Tensor._wrap(arr).requires_grad_(requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the global generator (see ``manual_seed``)."""
    dt = _DEFAULT_DTYPE if dtype is None else _check_dtype(dtype)
    arr = _random.default_generator().standard_normal(_shape(size)).astype(dt)
    return Tensor._wrap(arr).requires_grad_(requires_grad)


# Imported last: the ops and the tape refer back to Tensor.
from . import _ops  # noqa: E402
from .autograd import function  # noqa: E402
