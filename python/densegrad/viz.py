"""Pictures of the autograd graph: ``to_dot(tensor)`` returns Graphviz DOT text (no dependency),
``render(tensor, "graph.svg")`` runs Graphviz's ``dot`` program on it.

The graph is the one ``backward()`` walks: one box per op node (named in PyTorch's style, e.g.
``ReluBackward0``; where PyTorch records an op differently the names differ, e.g. ``@`` is one
``MatMulBackward0`` node for every rank: README, "python -m densegrad example"), one per leaf
tensor that requires grad (its name when given, and its value and ``.grad``, or its dtype and
shape when it is large), and the output tensor itself (value and, when it has one, grad).
Edges run forward, from inputs to the op that used them. Constants (tensors that do not require
grad) are not part of the graph and are not drawn, as in torchviz. An op node shows its output's
value only when the output tensor is still alive and the op kept a reference to it.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

import numpy as np

from ._typename import typename as _typename
from ._tensor import Tensor

__all__ = ["render", "to_dot"]


def _fmt_array(a: np.ndarray, max_elements: int) -> str:
    if a.size > max_elements:
        return f"{a.dtype} {tuple(a.shape)}"
    return np.array2string(np.asarray(a), separator=", ", formatter={"float_kind": lambda v: f"{v:.4g}"}).replace("\n", "")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(
    tensor: Tensor,
    params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None,
    *,
    name: str = "output",
    show_values: bool = True,
    max_elements: int = 8,
) -> str:
    """The autograd graph that produced ``tensor``, as Graphviz DOT text.

    params: names for leaf tensors, e.g. ``dict(model.named_parameters())`` or
    ``{"w": w, "b": b}``; unnamed leaves are labelled ``leaf``. name: the output's label.
    show_values: print values and gradients of tensors with at most ``max_elements`` elements
    (larger ones show dtype and shape).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot expects a Tensor, got {_typename(tensor)}")
    names: dict[int, str] = {}
    if params is not None:
        items = params.items() if isinstance(params, Mapping) else params
        for n, t in items:
            if not isinstance(t, Tensor):
                raise TypeError(f"params['{n}'] is a {_typename(t)}, not a Tensor")
            names.setdefault(id(t), n)

    lines = [
        "digraph autograd {",
        '  graph [rankdir=TB, fontname="Helvetica"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
    ]

    def tensor_label(t: Tensor, title: str) -> str:
        parts = [title]
        if show_values and t._data.size <= max_elements:
            parts.append("value " + _fmt_array(t._data, max_elements))
            if t._grad is not None:
                parts.append("grad " + _fmt_array(t._grad._data, max_elements))
        else:
            parts.append(f"{t.dtype} {tuple(t.shape)}" + (", has grad" if t._grad is not None else ""))
        return "\n".join(parts)

    ids: dict[int, str] = {}

    def node_id(obj) -> str:  # numbered in the order met: the same graph gives the same text
        return ids.setdefault(id(obj), f"n{len(ids)}")

    out_id = "output"
    lines.append(f"  {out_id} [label={_quote(tensor_label(tensor, name))}, fillcolor=darkolivegreen1];")
    root = tensor._grad_fn
    if root is None:  # a leaf or a constant: the output box is the whole graph
        lines.append("}")
        return "\n".join(lines) + "\n"
    lines.append(f"  {node_id(root)} -> {out_id};")

    seen: set[int] = set()
    stack = [root]
    while stack:  # iterative: deep graphs do not hit the recursion limit
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Tensor):  # a leaf
            title = names.get(id(obj), "leaf")
            lines.append(f"  {node_id(obj)} [label={_quote(tensor_label(obj, title))}, fillcolor=lightblue];")
            continue
        label = obj.name()
        out = obj._out() if getattr(obj, "_out", None) is not None else None
        if show_values and out is not None and out._data.size <= max_elements:
            label += "\nvalue " + _fmt_array(out._data, max_elements)
        lines.append(f"  {node_id(obj)} [label={_quote(label)}, fillcolor=lightgrey];")
        for nxt in obj.next_functions:
            if nxt is None:
                continue
            lines.append(f"  {node_id(nxt)} -> {node_id(obj)};")
            stack.append(nxt)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: Tensor | str, path: str | os.PathLike, *, format: str | None = None, **to_dot_kwargs) -> str:
    """Write the graph of a tensor (or DOT text from ``to_dot``) to ``path`` and return the path.

    The format is the path's suffix (``.svg``, ``.png``, ``.pdf``, ...) unless given. ``.dot``
    writes the DOT text itself and needs nothing else; every other format runs Graphviz's ``dot``
    program (``apt-get install graphviz``, ``brew install graphviz``, or the conda package), and
    raises RuntimeError naming what to install when it is not on PATH.
    """
    dot_text = to_dot(graph, **to_dot_kwargs) if isinstance(graph, Tensor) else graph
    if not isinstance(dot_text, str):
        raise TypeError(f"render expects a Tensor or DOT text, got {_typename(graph)}")
    p = os.fspath(path)
    fmt = (format or os.path.splitext(p)[1].lstrip(".")).lower()
    if not fmt:
        raise ValueError(f"cannot tell the image format of {p!r}: give it a suffix such as .svg, or format=")
    if fmt in ("dot", "gv"):
        with open(p, "w", encoding="utf-8") as f:
            f.write(dot_text)
        return p
    import shutil  # here, not at import: subprocess and shutil cost ~8 ms of `import densegrad`
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            f"rendering {p} needs Graphviz's 'dot' program on PATH (apt-get install graphviz, brew install graphviz, "
            "or conda install graphviz); without it, save the DOT text with render(..., 'graph.dot') or dg.viz.to_dot()"
        )
    r = subprocess.run([exe, f"-T{fmt}", "-o", p], input=dot_text.encode("utf-8"), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed for {p}: {r.stderr.decode('utf-8', 'replace').strip()}")
    return p
