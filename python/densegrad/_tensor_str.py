"""Printing tensors the way PyTorch prints them, so a walkthrough's output reads like PyTorch's.

The layout rules (4 decimals, scientific notation when magnitudes span more than 1000x, a
"." after whole floats, summarising with "..." beyond 1000 elements, wrapping at 80 columns)
follow torch/_tensor_str.py; tests compare against torch's repr directly.
"""

from __future__ import annotations

import math

import numpy as np


class _PrintOptions:
    """What set_printoptions sets (a plain class: dataclasses costs ~1 ms of `import densegrad`)."""

    def __init__(self):
        self.precision: int = 4
        self.threshold: float = 1000
        self.edgeitems: int = 3
        self.linewidth: int = 80
        self.sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()


_PROFILES = {  # torch.set_printoptions's profiles: precision, threshold, edgeitems, linewidth
    "default": (4, 1000, 3, 80),
    "short": (2, 1000, 2, 80),
    "full": (4, math.inf, 3, 80),
}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """Set how tensors print: the options, their order and defaults of ``torch.set_printoptions``.
    ``profile`` ("default", "short" or "full") sets the first four, then any of them given
    overrides it; an unknown profile is a ``ValueError`` (PyTorch ignores it)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r} (the profiles are "
                             f"{', '.join(map(repr, _PROFILES))})")
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems,
         PRINT_OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        PRINT_OPTS.precision = int(precision)
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = int(edgeitems)
    if linewidth is not None:
        PRINT_OPTS.linewidth = int(linewidth)
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """Chooses one number format (fixed, whole or scientific) and width for all elements."""

    def __init__(self, values: np.ndarray):
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        p = PRINT_OPTS.precision
        finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
        if finite.size > 0:  # all zeros or non-finite: whole-number mode, width 1
            absv = np.abs(finite)
            vmin, vmax = absv.min(), absv.max()
            self.int_mode = bool(np.all(finite == np.ceil(finite)))
            # A forced sci_mode is applied before the widths are measured, as in torch.
            if PRINT_OPTS.sci_mode is None:
                self.sci_mode = bool(vmax / vmin > 1000.0 or vmax > 1.0e8 or vmin < 1.0e-4)
            else:
                self.sci_mode = bool(PRINT_OPTS.sci_mode)
            if self.sci_mode:
                widths = (len(f"{v:.{p}e}") for v in finite.tolist())
            elif self.int_mode:
                widths = (len(f"{v:.0f}") + 1 for v in finite.tolist())
            else:
                widths = (len(f"{v:.{p}f}") for v in finite.tolist())
            self.max_width = max(widths)

    def width(self) -> int:
        return self.max_width

    def format(self, value: float) -> str:
        p = PRINT_OPTS.precision
        if self.sci_mode:
            ret = f"{value:{self.max_width}.{p}e}"
        elif self.int_mode:
            ret = f"{value:.0f}"
            if not (math.isinf(value) or math.isnan(value)):
                ret += "."
        else:
            ret = f"{value:.{p}f}"
        return (self.max_width - len(ret)) * " " + ret


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements that are printed when summarising: edgeitems from each end of every axis."""
    e = PRINT_OPTS.edgeitems
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate([a[:e], a[-e:]]) if a.shape[0] > 2 * e else a
    if e == 0:  # nothing is printed but "..." (torch returns an empty tensor here too)
        return a[(slice(0, 0),) * a.ndim]
    if a.shape[0] > 2 * e:
        parts = [_summarized(a[i]) for i in range(e)] + [_summarized(a[i]) for i in range(len(a) - e, len(a))]
    else:
        parts = [_summarized(x) for x in a]
    return np.stack(parts)


def _vector_str(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    element_length = fmt.width() + 2  # value plus ", "
    per_line = max(1, int(math.floor((PRINT_OPTS.linewidth - indent) / element_length)))
    e = PRINT_OPTS.edgeitems
    if summarize and e == 0:  # a[-0:] would be the whole vector
        data = ["..."]
    elif summarize and a.shape[0] > 2 * e:
        data = [fmt.format(v) for v in a[:e].tolist()] + [" ..."] + [fmt.format(v) for v in a[-e:].tolist()]
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str_with_formatter(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, summarize, fmt)
    e = PRINT_OPTS.edgeitems
    if summarize and a.shape[0] > 2 * e:
        slices = (
            [_tensor_str_with_formatter(a[i], indent + 1, summarize, fmt) for i in range(e)]
            + ["..."]
            + [_tensor_str_with_formatter(a[i], indent + 1, summarize, fmt) for i in range(len(a) - e, len(a))]
        )
    else:
        slices = [_tensor_str_with_formatter(a[i], indent + 1, summarize, fmt) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(tensor_str: str, suffixes: list[str], indent: int) -> str:
    parts = [tensor_str]
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(data: np.ndarray, suffixes: list[str], prefix: str = "tensor(") -> str:
    """``tensor([...], <suffixes>)`` laid out like PyTorch's repr."""
    indent = len(prefix)
    suffixes = list(suffixes)
    if data.size == 0:
        body = "[]"
        if data.ndim != 1:
            suffixes.insert(0, "size=" + str(tuple(data.shape)))
    else:
        if not PRINT_OPTS.edgeitems:  # torch then states the size, as nothing may be shown
            suffixes.insert(0, "size=" + str(tuple(data.shape)))
        summarize = data.size > PRINT_OPTS.threshold
        fmt = _Formatter(_summarized(data) if summarize else data)
        body = _tensor_str_with_formatter(data, indent, summarize, fmt)
    return _add_suffixes(prefix + body, suffixes, indent)
