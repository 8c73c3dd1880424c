"""Model files: ``save`` / ``load`` for state dicts and ``Sequential`` MLPs, in the safetensors
format laid out in docs/model-format.md (the C++ ``densegrad::Mlp`` reads and writes the same
files).

A file is an 8-byte little-endian header length, a JSON header (tensor names, dtypes, shapes,
byte ranges and a string-to-string ``__metadata__``), then the raw tensor bytes. Nothing is ever
unpickled. Every structural property is checked on load -- the header, each byte range, the
architecture against the tensors, the normalisation -- and a violation raises ``ModelFileError``
(a ``ValueError``) that names it. The bytes inside a tensor carry no checksum, so a changed value
that keeps the structure intact cannot be detected.
"""

from __future__ import annotations

import _thread
import json
import math
import os
import struct
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import numpy as np

from ._typename import typename as _typename
from ._tensor import Tensor, float32, float64
from .nn.modules.activation import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .nn.modules.container import Sequential
from .nn.modules.linear import Linear
from .nn.modules.module import Module

__all__ = [
    "ModelFile", "ModelFileError", "Normalization", "architecture", "load", "load_model", "predict", "read_metadata", "save",
]

FORMAT_MLP = "densegrad.mlp"
FORMAT_STATE_DICT = "densegrad.state_dict"
FORMAT_VERSION = "1"

_DTYPE_CODES = {"F32": float32, "F64": float64}
_ACTIVATION_TYPES = {"ReLU": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh, "Identity": Identity, "LeakyReLU": LeakyReLU}
_MAX_HEADER = 100_000_000  # what the safetensors library itself accepts


class ModelFileError(ValueError):
    """A model file that is truncated, malformed or inconsistent (the message says how)."""


# ---- normalisation ------------------------------------------------------------------------------


def column_stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of each column of a float64 (rows, columns) array, population std (ddof=0).

    A column that is constant up to rounding gets std 1 (it is only shifted), as in
    scikit-learn's StandardScaler: thirty rows of 0.1 have a mean that is not exactly 0.1 and a
    std of 2.8e-17, which once became the scale, so 0.11 at prediction time was 3.6e14 standard
    deviations away. "Up to rounding": all its values within 4 units in the last place of each
    other (max - min <= 4 eps max(|max|, |min|)), so the std of such a column is rounding noise.
    (scikit-learn bounds the variance by one that grows with the row count instead: 10,000 rows
    of 1.7e9 plus noise of std 1e-3, about 4000 rounding steps, would count as constant there.) Computed on the columns scaled by a power of two near their largest
    magnitude (exact, so the same bits as unscaled where that did not overflow), so that values
    beyond 1e154 (whose squares overflow) or sums beyond 1.8e308 give finite statistics.
    """
    mean, var, scale, constant = _moments(a)
    return mean * scale, np.where(constant, 1.0, np.sqrt(var) * scale)


def constant_columns(a: np.ndarray) -> np.ndarray:
    """Which columns of a float64 (rows, columns) array are constant up to rounding (see
    ``column_stats``)."""
    return _moments(a)[3]


def _moments(a: np.ndarray):
    """(mean, variance) of the columns divided by `scale`, `scale`, and which are constant."""
    big = np.abs(a).max(axis=0) if a.shape[0] else np.ones(a.shape[1])
    big = np.where((big > 0) & np.isfinite(big), big, 1.0)
    scale = np.ldexp(1.0, np.frexp(big)[1] - 1)  # scale <= big < 2 * scale
    u = a / scale
    mean, var = u.mean(axis=0), u.var(axis=0)
    lo, hi = (u.min(axis=0), u.max(axis=0)) if a.shape[0] else (np.zeros(a.shape[1]), np.zeros(a.shape[1]))
    constant = hi - lo <= 4 * np.finfo(np.float64).eps * np.maximum(np.abs(lo), np.abs(hi))
    return mean, var, scale, constant


@dataclass(frozen=True)
class Normalization:
    """The standardisation a model was trained with: it predicts
    ``y = model((x - x_mean) / x_std) * y_std + y_mean``, with the arithmetic in float64 and the
    standardised input rounded to the model's dtype (the rule the C++ ``Mlp::predict`` follows too).
    """

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray

    def __post_init__(self) -> None:
        for name in ("x_mean", "x_std", "y_mean", "y_std"):
            v = np.array(getattr(self, name), dtype=np.float64).reshape(-1)
            if not np.all(np.isfinite(v)):
                raise ValueError(f"normalization {name} holds a non-finite value: {v.tolist()}")
            if name.endswith("std") and np.any(v <= 0):
                raise ValueError(f"normalization {name} must be > 0, got {v.tolist()}")
            v.flags.writeable = False
            object.__setattr__(self, name, v)
        if self.x_mean.shape != self.x_std.shape or self.y_mean.shape != self.y_std.shape:
            raise ValueError(
                f"normalization: x_mean/x_std have {self.x_mean.size}/{self.x_std.size} values and "
                f"y_mean/y_std {self.y_mean.size}/{self.y_std.size}; each pair must match"
            )

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Normalization:
        """Means and standard deviations (population, ddof=0) of the columns of x (rows, features)
        and y (rows, targets). A constant column gets std 1 (it is only shifted), as in
        scikit-learn's StandardScaler."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"Normalization.fit needs x (rows, features) and y (rows, targets) with rows > 0, got {x.shape} and {y.shape}")
        xm, xs = column_stats(x)
        ym, ys = column_stats(y)
        return cls(xm, xs, ym, ys)

    def transform_x(self, x: np.ndarray) -> np.ndarray:
        """(x - x_mean) / x_std in float64."""
        return (np.asarray(x, dtype=np.float64) - self.x_mean) / self.x_std

    def transform_y(self, y: np.ndarray) -> np.ndarray:
        """(y - y_mean) / y_std in float64."""
        return (np.asarray(y, dtype=np.float64) - self.y_mean) / self.y_std

    def inverse_y(self, y: np.ndarray) -> np.ndarray:
        """y * y_std + y_mean in float64 (model outputs back in the target's units)."""
        return np.asarray(y, dtype=np.float64) * self.y_std + self.y_mean

    def to_json(self) -> str:
        """The ``normalization`` metadata value: lists of float64 ``repr``s (an exact round trip)."""
        return json.dumps({k: [float(v) for v in getattr(self, k)] for k in ("x_mean", "x_std", "y_mean", "y_std")})


def predict(model: Sequential, x, normalization: Normalization | None = None) -> np.ndarray:
    """The model's predictions for the rows of x, as a float64 ndarray (rows, outputs), with the
    normalisation applied when there is one (by default the model's own, set by
    ``Sequential.load``). No graph is recorded."""
    from .autograd.grad_mode import no_grad

    norm = getattr(model, "normalization", None) if normalization is None else normalization
    dtype = next(iter(model.parameters())).dtype
    xa = np.asarray(x._data if isinstance(x, Tensor) else x, dtype=np.float64)
    if xa.ndim == 1:
        xa = xa.reshape(1, -1)
    xn = norm.transform_x(xa) if norm is not None else xa
    with np.errstate(over="ignore"):  # beyond float32's range is inf, as in C++ (and NumPy, silenced)
        xn = np.ascontiguousarray(xn, dtype=dtype)
    with no_grad():
        out = model(Tensor._wrap(xn)).numpy().astype(np.float64)
    return norm.inverse_y(out) if norm is not None else out


# ---- architecture ---------------------------------------------------------------------------------


def architecture(model: Sequential) -> dict:
    """The ``architecture`` metadata of a Sequential MLP: ``{"dtype": ..., "layers": [...]}``.

    The model must be a Sequential of Linear layers, each optionally followed by one of ReLU,
    LeakyReLU, Sigmoid, Tanh or Identity (what the C++ Mlp runs), with its default module names
    ('0', '1', ...) and one parameter dtype; TypeError or ValueError otherwise.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"expected an nn.Sequential, got {_typename(model)}")
    layers: list[dict] = []
    names = list(model._modules)
    if names != [str(i) for i in range(len(names))]:
        raise ValueError(f"model files name tensors by module index; this Sequential's modules are named {names}")
    dtypes = {p.dtype for p in model.parameters()}
    if not dtypes:
        raise ValueError("the model has no Linear layer")
    if len(dtypes) != 1:
        raise TypeError(f"all parameters must have one dtype (float32 or float64), got {sorted(map(str, dtypes))}")
    for i, m in enumerate(model._modules.values()):
        if type(m) is Linear:
            layers.append({"type": "Linear", "in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None})
        elif type(m) in _ACTIVATION_TYPES.values():
            entry: dict[str, Any] = {"type": type(m).__name__}
            if type(m) is LeakyReLU:
                entry["negative_slope"] = float(m.negative_slope)
            layers.append(entry)
        else:
            raise TypeError(
                f"module {i} is {type(m).__name__}; model files hold Linear, ReLU, LeakyReLU, Sigmoid, Tanh and Identity"
            )
    arch = {"dtype": str(dtypes.pop()), "layers": layers}
    _check_architecture(arch, ValueError)
    return arch


def _finite_number(v: Any) -> bool:
    """A JSON number that is a finite float64 (an integer literal like 1e400 written out in
    digits does not fit: float() of it raises OverflowError)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


# json.loads of a hostile header or metadata value raises more than JSONDecodeError: ValueError
# for an integer literal of more than 4300 digits, RecursionError for deep nesting ('[[[[...')
_JSON_ERRORS = (ValueError, RecursionError)


def _object_without_duplicates(pairs: list) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice")
        out[k] = v
    return out


def _not_json(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _json_loads(text: str) -> Any:
    """json.loads as strict as the C++ reader (JSON as RFC 8259 has it): a key twice in an
    object, NaN/Infinity and a lone surrogate escape ('\\ud800', not UTF-8) are ValueError."""
    obj = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_not_json)
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate escape (not UTF-8)") from None
    return obj


def _check_architecture(arch: Any, err: type[Exception]) -> list[tuple[int, dict]]:
    """Validate an architecture dict; returns [(module index, Linear entry)]. Raises err."""
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
        raise err("architecture must be a JSON object with a 'layers' list")
    if arch.get("dtype") not in ("float32", "float64"):
        raise err(f"architecture dtype must be 'float32' or 'float64', got {arch.get('dtype')!r}")
    linears: list[tuple[int, dict]] = []
    prev_type = None
    for i, m in enumerate(arch["layers"]):
        t = m.get("type") if isinstance(m, dict) else None
        if t == "Linear":
            for key in ("in_features", "out_features"):
                v = m.get(key)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise err(f"layer {i} (Linear) needs a positive integer {key}, got {v!r}")
            if not isinstance(m.get("bias"), bool):
                raise err(f"layer {i} (Linear) needs a boolean 'bias', got {m.get('bias')!r}")
            if linears and linears[-1][1]["out_features"] != m["in_features"]:
                j, prev = linears[-1]
                raise err(
                    f"architecture does not chain: layer {j} has out_features {prev['out_features']} but "
                    f"layer {i} has in_features {m['in_features']}"
                )
            linears.append((i, m))
        elif isinstance(t, str) and t in _ACTIVATION_TYPES:  # t may be any JSON value (a list is unhashable)
            if prev_type != "Linear":
                raise err(f"layer {i} ({t}) does not follow a Linear; model files hold Linear layers each followed by at most one activation")
            if t == "LeakyReLU":
                s = m.get("negative_slope")
                if not _finite_number(s):
                    raise err(f"layer {i} (LeakyReLU) needs a finite negative_slope, got {s!r}")
        else:
            raise err(f"layer {i} has unknown type {t!r}")
        prev_type = t
    if not linears:
        raise err("the architecture has no Linear layer")
    return linears


def _build(arch: dict) -> Sequential:
    dtype = arch["dtype"]
    mods: list[Module] = []
    for m in arch["layers"]:
        t = m["type"]
        if t == "Linear":
            mods.append(Linear(m["in_features"], m["out_features"], bias=m["bias"], dtype=dtype))
        elif t == "LeakyReLU":
            mods.append(LeakyReLU(m["negative_slope"]))
        else:
            mods.append(_ACTIVATION_TYPES[t]())
    return Sequential(*mods)


# ---- writing --------------------------------------------------------------------------------------


def _canonical_header(data: bytes) -> bytes:
    """The safetensors file `data` with its JSON header's keys sorted: the library writes the
    metadata in a hash map's order, which changes from process to process, so the same model
    gave different file bytes on every run. Same content, same offsets (the body is untouched);
    the header is padded with spaces to a multiple of 8 bytes, as the library pads it."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def save(
    obj: Module | Mapping[str, Any],
    path: str | os.PathLike,
    *,
    normalization: Normalization | None = None,
    columns: Mapping[str, list[str]] | None = None,
) -> None:
    """Write a model or a state dict to ``path`` as a safetensors file.

    obj: a ``Sequential`` MLP (see ``architecture``), written with its architecture so that
    ``Sequential.load`` rebuilds it (format ``densegrad.mlp``); or a mapping of names to Tensors
    or float32/float64 ndarrays (format ``densegrad.state_dict``). normalization and columns
    (``{"features": [...], "target": [...]}``) are stored with a model; by default a model's own
    ``normalization`` / ``columns`` attributes (set by ``Sequential.load``) are kept.
    The tensor names are those of ``state_dict()``, which are PyTorch's for the same Sequential.
    """
    from . import __version__

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix in (".pt", ".pth", ".bin", ".ckpt", ".pkl"):
        warnings.warn(f"{os.fspath(path)}: densegrad writes a safetensors file whatever the name; torch.load "
                      "cannot read it (safetensors.torch.load_file can). Name it .safetensors", UserWarning,
                      stacklevel=2)
    meta = {"format": FORMAT_STATE_DICT, "format_version": FORMAT_VERSION, "densegrad_version": __version__}
    if isinstance(obj, Module):
        arch = architecture(obj)  # type: ignore[arg-type]
        state = obj.state_dict()
        meta["format"] = FORMAT_MLP
        meta["architecture"] = json.dumps(arch)
        norm = getattr(obj, "normalization", None) if normalization is None else normalization
        cols = getattr(obj, "columns", None) if columns is None else columns
        linears = [m for m in arch["layers"] if m["type"] == "Linear"]
        n_in, n_out = linears[0]["in_features"], linears[-1]["out_features"]
        if norm is not None:
            if not isinstance(norm, Normalization):
                raise TypeError(f"normalization must be a Normalization, got {_typename(norm)}")
            if norm.x_mean.size != n_in or norm.y_mean.size != n_out:
                raise ValueError(
                    f"normalization has {norm.x_mean.size} input and {norm.y_mean.size} output values; "
                    f"the model has {n_in} inputs and {n_out} outputs"
                )
            meta["normalization"] = norm.to_json()
        if cols is not None:
            cols = _check_columns(dict(cols), ValueError)
            if len(cols["features"]) != n_in or len(cols["target"]) != n_out:  # the reader refuses it
                raise ValueError(f"columns name {len(cols['features'])} features and {len(cols['target'])} targets; "
                                 f"the model has {n_in} inputs and {n_out} outputs")
            meta["columns"] = json.dumps(cols)
    elif isinstance(obj, Mapping):
        if normalization is not None or columns is not None:
            raise ValueError("normalization and columns are stored with a model, not with a plain state dict")
        state = obj
    else:
        raise TypeError(f"save expects an nn.Module or a mapping of names to tensors, got {_typename(obj)}")
    arrays: dict[str, np.ndarray] = {}
    for name, v in state.items():
        if not isinstance(name, str):
            raise TypeError(f"state dict keys must be str, got {_typename(name)}")
        arr = v._data if isinstance(v, Tensor) else v
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"'{name}': expected a Tensor or ndarray, got {_typename(v)}")
        if arr.dtype != float32 and arr.dtype != float64:
            raise TypeError(f"'{name}': expected float32 or float64, got {arr.dtype}")
        # little-endian, C-order, and a copy (safetensors refuses tensors that share memory)
        arrays[name] = np.array(arr, dtype=arr.dtype.newbyteorder("<"), order="C")
    from safetensors.numpy import save as _st_save

    data = _canonical_header(_st_save(arrays, metadata=meta))
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER:  # writers refuse what readers reject (a normalization of ~4M inputs)
        raise ValueError(f"the file's header would be {n} bytes; model files allow at most {_MAX_HEADER}")
    # Write to a temporary file first, so a crash never leaves a half-written model behind.
    path = os.fspath(path)
    # unique per process and thread: two threads saving to one path must not share a temporary
    tmp = f"{path}.tmp{os.getpid()}.{_thread.get_ident()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:  # name the file asked for, not the temporary one
        raise type(e)(e.errno, e.strerror, path) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _check_columns(cols: Any, err: type[Exception]) -> dict:
    if not isinstance(cols, dict) or set(cols) != {"features", "target"}:
        raise err("columns must be an object with 'features' and 'target' lists")
    for k in ("features", "target"):
        if not isinstance(cols[k], list) or not all(isinstance(c, str) for c in cols[k]):
            raise err(f"columns['{k}'] must be a list of strings")
        seen: set[str] = set()  # (a set: 100k names must not take quadratic time)
        for c in cols[k]:
            if c in seen:
                raise err(f"columns['{k}'] names '{c}' twice")
            seen.add(c)
            try:
                c.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: no reader takes it back
                raise err(f"columns['{k}'] has a name that is not valid UTF-8: {c!r}") from None
    target = set(cols["target"])
    both = [c for c in cols["features"] if c in target]
    if both:
        raise err(f"columns['features'] and columns['target'] both name '{both[0]}'")
    return {"features": list(cols["features"]), "target": list(cols["target"])}


# ---- reading --------------------------------------------------------------------------------------


class ModelFile(NamedTuple):
    """What ``load_model`` returns: the rebuilt model and what was stored with it."""

    model: Sequential
    normalization: Normalization | None
    columns: dict | None
    metadata: dict


def _parse(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, tensors) of a safetensors file, every structural property checked first."""
    p = os.fspath(path)
    with open(p, "rb") as f:
        data = f.read()

    def bad(msg: str) -> ModelFileError:
        return ModelFileError(f"{p}: {msg}")

    if len(data) < 8:
        raise bad(f"not a model file: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER:
        raise bad(f"not a model file: header length {n} is implausible")
    if 8 + n > len(data):
        raise bad(f"truncated: the header claims {n} bytes but the file has {len(data) - 8} after the length")
    try:
        header = _json_loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, *_JSON_ERRORS) as e:
        raise bad(f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise bad("__metadata__ must map strings to strings")
    body = len(data) - 8 - n
    ranges = []
    for name, t in header.items():
        if not isinstance(t, dict) or not {"dtype", "shape", "data_offsets"} <= set(t):
            raise bad(f"tensor '{name}' needs dtype, shape and data_offsets")
        if not isinstance(t["dtype"], str) or t["dtype"] not in _DTYPE_CODES:  # any JSON value (lists are unhashable)
            raise bad(f"tensor '{name}' has unsupported dtype {t['dtype']!r} (F32 or F64)")
        shape, off = t["shape"], t["data_offsets"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise bad(f"tensor '{name}' has an invalid shape {shape!r}")
        if not (isinstance(off, list) and len(off) == 2 and all(isinstance(o, int) and not isinstance(o, bool) for o in off)):
            raise bad(f"tensor '{name}' has invalid data_offsets {off!r}")
        begin, end = off
        if not 0 <= begin <= end or end > body:
            raise bad(f"tensor '{name}' bytes [{begin}, {end}) lie outside the data section ({body} bytes): truncated?")
        need = math.prod(shape) * _DTYPE_CODES[t["dtype"]].itemsize
        if end - begin != need:
            raise bad(f"tensor '{name}' has {end - begin} bytes but dtype {t['dtype']} x shape {tuple(shape)} needs {need}")
        ranges.append((begin, end, name))
    covered = 0
    for begin, end, name in sorted(ranges):
        if begin < covered:
            raise bad(f"tensor '{name}' overlaps another tensor")
        if begin > covered:
            raise bad(f"the data section has a gap before tensor '{name}'")
        covered = end
    if covered != body:
        raise bad(f"the data section has {body - covered} bytes after the last tensor")
    from safetensors import SafetensorError
    from safetensors.numpy import load as _st_load

    try:
        tensors = _st_load(data)
    except (SafetensorError, ValueError) as e:  # anything the checks above missed (e.g. NumPy's
        # "array is too big" for a shape like [0, 2**62], which holds no bytes)
        raise bad(str(e)) from None
    return meta, tensors


def _check_format(meta: dict, where: str) -> str:
    fmt = meta.get("format")
    if fmt not in (FORMAT_MLP, FORMAT_STATE_DICT):
        raise ModelFileError(f"{where}: not a densegrad file (metadata format is {fmt!r}, expected {FORMAT_MLP!r} or {FORMAT_STATE_DICT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{where}: unsupported format_version {meta.get('format_version')!r} (this reader knows {FORMAT_VERSION!r})")
    return fmt


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The file's ``__metadata__`` (string to string), after the same checks as ``load``."""
    meta, _ = _parse(path)
    _check_format(meta, os.fspath(path))
    return meta


def load(path: str | os.PathLike) -> OrderedDict[str, Tensor]:
    """The tensors of a densegrad file (model or state dict) as a state dict of Tensors, for
    ``module.load_state_dict``. Raises ModelFileError for a truncated or inconsistent file."""
    meta, tensors = _parse(path)
    fmt = _check_format(meta, os.fspath(path))
    names = sorted(tensors, key=_natural)
    if fmt == FORMAT_MLP:
        arch, _, _ = _check_model(meta, tensors, os.fspath(path))
        names = [n for n in _build(arch).state_dict()]  # state_dict() order: weight, then bias
    return OrderedDict((k, Tensor._wrap(tensors[k])) for k in names)


def _natural(name: str):
    # '2.weight' before '10.weight': the order of state_dict() for index-named modules
    # ASCII digits only, and short: '²'.isdigit() is true but int('²') fails, and int() refuses
    # strings of more than 4300 digits
    return [(0, int(s), "") if s.isascii() and s.isdigit() and len(s) < 19 else (1, 0, s) for s in name.split(".")]


def _check_model(meta: dict, tensors: dict, where: str):
    def bad(msg: str) -> ModelFileError:
        return ModelFileError(f"{where}: {msg}")

    if "architecture" not in meta:
        raise bad("metadata has no 'architecture'")
    try:
        arch = _json_loads(meta["architecture"])
    except _JSON_ERRORS as e:
        raise bad(f"architecture is not valid JSON ({e})") from None
    try:
        linears = _check_architecture(arch, ModelFileError)
    except ModelFileError as e:
        raise bad(f"architecture: {e}") from None
    dtype = np.dtype(arch["dtype"])
    expected = {}
    for i, m in linears:
        expected[f"{i}.weight"] = (m["out_features"], m["in_features"])
        if m["bias"]:
            expected[f"{i}.bias"] = (m["out_features"],)
    missing = sorted(set(expected) - set(tensors), key=_natural)
    extra = sorted(set(tensors) - set(expected), key=_natural)
    if missing or extra:
        raise bad(f"tensors do not match the architecture: missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        t = tensors[name]
        if t.shape != shape:
            raise bad(f"tensor '{name}' has shape {t.shape}, the architecture needs {shape}")
        if t.dtype != dtype:
            raise bad(f"tensor '{name}' is {t.dtype}, the architecture says {dtype}")
    norm = None
    if "normalization" in meta:
        try:
            n = _json_loads(meta["normalization"])
        except _JSON_ERRORS as e:
            raise bad(f"normalization is not valid JSON ({e})") from None
        sizes = {"x_mean": linears[0][1]["in_features"], "y_mean": linears[-1][1]["out_features"]}
        sizes.update(x_std=sizes["x_mean"], y_std=sizes["y_mean"])
        if not isinstance(n, dict) or set(n) != set(sizes):
            raise bad("normalization must be an object with x_mean, x_std, y_mean and y_std")
        for k, size in sizes.items():
            v = n[k]
            if not isinstance(v, list) or not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v):
                raise bad(f"normalization {k} must be a list of numbers")
            if len(v) != size:
                raise bad(f"normalization {k} has {len(v)} values, the model needs {size}")
        try:
            norm = Normalization(n["x_mean"], n["x_std"], n["y_mean"], n["y_std"])
        except ValueError as e:
            raise bad(str(e)) from None
        except OverflowError as e:  # an integer literal too large for a float64
            raise bad(f"normalization: {e}") from None
    cols = None
    if "columns" in meta:
        try:
            cols = _check_columns(_json_loads(meta["columns"]), ModelFileError)
        except (*_JSON_ERRORS, ModelFileError) as e:
            raise bad(f"columns: {e}") from None
        if len(cols["features"]) != linears[0][1]["in_features"] or len(cols["target"]) != linears[-1][1]["out_features"]:
            raise bad(f"columns name {len(cols['features'])} features and {len(cols['target'])} targets; the model has "
                      f"{linears[0][1]['in_features']} inputs and {linears[-1][1]['out_features']} outputs")
    return arch, norm, cols


def load_model(path: str | os.PathLike) -> ModelFile:
    """Rebuild the Sequential stored in a model file (format ``densegrad.mlp``), with its
    normalisation and column names. The returned model also carries them as ``model.normalization``
    and ``model.columns`` (None when absent)."""
    where = os.fspath(path)
    meta, tensors = _parse(path)
    if _check_format(meta, where) != FORMAT_MLP:
        raise ModelFileError(f"{where}: holds a plain state dict (no architecture); use dg.load and load_state_dict")
    arch, norm, cols = _check_model(meta, tensors, where)
    model = _build(arch)
    model.load_state_dict(tensors)
    model.normalization = norm
    model.columns = cols
    return ModelFile(model, norm, cols, dict(meta))
