"""The tape: ``Function`` (an op's forward and backward side by side), the graph ``Node`` it
leaves behind, and the engine that runs backward over the graph.

An op is a ``Function`` subclass whose ``forward(ctx, *arrays)`` computes a NumPy array and whose
``backward(ctx, grad)`` returns one gradient per input (``None`` where ``ctx.needs_input_grad``
is false). ``Function.apply`` unwraps tensors, runs forward, and -- when grad mode is on and an
input requires grad -- links the result to a ``Node`` holding the context and the edges to the
inputs. ``run_backward`` orders the nodes topologically (iteratively, no recursion limit), sums
the gradients flowing into each node, accumulates into leaves' ``.grad`` and frees each node's
saved arrays once used (unless ``retain_graph``).
"""

from __future__ import annotations

import weakref

import numpy as np

from .. import _tensor
from . import grad_mode

_grad_state = grad_mode._state  # the per-thread flag, read directly on the hot paths

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward(). Specify retain_graph=True if you need to backward through the graph a second time."
)


class Context:
    """What forward leaves for backward: saved arrays, which inputs need a gradient, and any
    attributes the op sets on it (shapes, options)."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self._saved: tuple | None = ()
        self._freed = False

    def save_for_backward(self, *arrays) -> None:
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        return self._saved


class Node:
    """One recorded op in the graph (what PyTorch calls a grad_fn)."""

    __slots__ = ("fn", "ctx", "next_functions", "_versions", "_out", "_out_version", "_retained", "__weakref__")

    def __init__(self, fn: type[Function], ctx: Context, inputs: tuple, needs, output=None):
        self.fn = fn
        self.ctx = ctx
        # Edge i: the input's node, the input itself when it is a leaf (its .grad accumulates),
        # or None when input i needs no gradient.
        self.next_functions = tuple([
            (a._grad_fn if a._grad_fn is not None else a) if need else None for a, need in zip(inputs, needs)
        ])
        # When backward will read saved arrays, an in-place change to an input or to the output
        # (sigmoid, tanh, relu, c ** x and dense save theirs) before backward would give a
        # silently wrong gradient, so their versions are checked then. Every tensor input is
        # recorded, not only the ones whose data was saved: that errs on the safe side and costs
        # nothing per op (testing which arrays share memory would). The output is held by a weak
        # reference because it holds this node.
        if ctx._saved and output is not None:
            Tensor = _tensor.Tensor
            self._versions = tuple([(a, a._vc[0]) for a in inputs if isinstance(a, Tensor)])
            self._out = weakref.ref(output)
            self._out_version = output._vc[0]
        else:
            self._versions = ()
            self._out = None
        self._retained = None

    @classmethod
    def _make(cls, fn, ctx, next_functions: tuple, versions: tuple, output) -> Node:
        """A node whose edges and input versions the caller computed (hot paths that already
        loop over their inputs); the same fields as __init__ with ctx._saved set."""
        node = object.__new__(cls)
        node.fn = fn
        node.ctx = ctx
        node.next_functions = next_functions
        node._versions = versions
        node._out = weakref.ref(output)
        node._out_version = output._vc[0]
        node._retained = None
        return node

    def name(self) -> str:
        # In PyTorch's style (<Op>Backward0); the same name as PyTorch's where both record the same
        # op (Add, Mul, Relu, MseLoss, ...), not where they record it differently (matmul is one
        # MatMul node for every rank; README, "python -m densegrad example").
        return self.fn.__name__ + "Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    def check_versions(self) -> None:
        """RuntimeError if a tensor backward reads was modified in place since forward."""
        for t, version in self._versions:
            if t._vc[0] != version:
                _raise_modified(t, version)
        if self._out is not None:
            out = self._out()  # gone: nobody can have modified it
            if out is not None and out._vc[0] != self._out_version:
                _raise_modified(out, self._out_version)


def _raise_modified(t, version) -> None:
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{t._data.dtype} {tuple(t._data.shape)}] is at version {t._vc[0]}; expected "
        f"version {version} instead."
    )


_NO_NEEDS = [(False,) * n for n in range(8)]


class Function:
    """Base class of differentiable ops; subclasses define ``forward`` and ``backward``.

    Two class attributes describe a subclass's backward to the engine:
      numpy_math    True (default): it computes with NumPy, whose overflow / 0-0 warnings must
                    be silenced (NaN and Inf propagate silently, as in PyTorch).
      fresh_grads   True: every array it returns is newly allocated and referenced nowhere else,
                    so a leaf may keep it as its .grad without a copy (default False).
    And one its forward:
      view          True: forward may return a view of its first input's array (reshape,
                    transpose); the result then shares that tensor's version counter, so an
                    in-place change through either is seen by backward (default False).
                    A forward that returns a view without setting it gives the result a
                    counter of its own: in-place changes through it then go unnoticed.
    """

    numpy_math = True
    fresh_grads = False
    view = False

    @staticmethod
    def forward(ctx: Context, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        Tensor = _tensor.Tensor
        raw = []
        needs = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a._data)
                if a._requires_grad:
                    needs.append(True)
                    record = True
                else:
                    needs.append(False)
            else:
                raw.append(a)
                needs.append(False)
        record = record and getattr(_grad_state, "enabled", True)
        n = len(args)
        ctx = Context(tuple(needs) if record else _NO_NEEDS[n] if n < 8 else (False,) * n)
        out = cls.forward(ctx, *raw)
        result = Tensor._wrap(out if type(out) is np.ndarray else np.asarray(out))
        if cls.view and np.may_share_memory(out, raw[0]):
            result._vc = args[0]._vc  # before the Node records the output's version
        if record:
            result._requires_grad = True
            result._grad_fn = Node(cls, ctx, args, needs, result)
        return result


def accumulate_grad(t, g: np.ndarray, fresh: bool = False) -> None:
    """t.grad += g, as PyTorch accumulates. On first use t.grad becomes a copy of g, or g itself
    when `fresh` says nobody else holds it."""
    data = t._data
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    if g.dtype is not data.dtype and g.dtype != data.dtype:
        g, fresh = g.astype(data.dtype), True
    if g.shape != data.shape:
        raise RuntimeError(f"internal error: gradient of shape {g.shape} for a tensor of shape {data.shape}")
    grad = t._grad
    if grad is None:
        if fresh:
            flags = g.flags
            fresh = flags.c_contiguous and flags.writeable
        t._grad = _tensor.Tensor._wrap(g if fresh else np.array(g, order="C", copy=True))
        return
    with np.errstate(all="ignore"):  # overflow to Inf is a value, not an error
        if grad._data.flags.writeable:
            grad._data += g
            grad._vc[0] += 1
        else:
            t._grad = _tensor.Tensor._wrap(grad._data + g)


def _topological_order(root: Node) -> tuple[list[Node], bool]:
    """Nodes reachable from root, each after every node that feeds gradient into it, and
    whether any of them computes its backward with NumPy (see Function.numpy_math)."""
    # A chain -- every node feeding at most one other node, as a Sequential and its loss record
    # -- is its own order: walk it without the search's visited set and stack.
    order: list[Node] = []
    numpy_math = False
    node = root
    while node is not None:
        order.append(node)
        if node.fn.numpy_math:
            numpy_math = True
        nxt_node = None
        for nxt in node.next_functions:
            if type(nxt) is Node:
                if nxt_node is not None and nxt is not nxt_node:
                    return _search_order(root)
                nxt_node = nxt
        node = nxt_node
    return order, numpy_math


def _search_order(root: Node) -> tuple[list[Node], bool]:
    """_topological_order for any graph: an iterative depth-first search."""
    order: list[Node] = []
    visited: set[Node] = set()  # nodes hash by identity
    stack: list[tuple[Node, bool]] = [(root, False)]
    numpy_math = False
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        if node.fn.numpy_math:
            numpy_math = True
        stack.append((node, True))
        for nxt in node.next_functions:
            if type(nxt) is Node and nxt not in visited:
                stack.append((nxt, False))
    order.reverse()  # root first
    return order, numpy_math


_ONES: dict = {}  # dtype -> a 0-d array holding 1


def _ones_seed(data: np.ndarray) -> np.ndarray:
    """The implicit seed 1 for the one-element array data: a fresh copy of a cached one (cheaper
    than np.ones, which costs more than the rest of a small backward's bookkeeping). Fresh, as
    in PyTorch, so a user-defined backward may change its grad_output in place."""
    dtype = data.dtype
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = np.ones((), dtype)
    return one.copy() if data.ndim == 0 else one.reshape(data.shape).copy()


def run_backward(root, gradient, retain_graph: bool = False) -> None:
    """Back-propagate from tensor ``root`` seeded with ``gradient`` (see ``Tensor.backward``)."""
    if not root._requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        seed = _ones_seed(root._data)
    else:
        seed = np.asarray(gradient._data if isinstance(gradient, _tensor.Tensor) else gradient)
        if seed.dtype.kind not in "fiu":
            raise TypeError(f"gradient: expected a float tensor or array, got {seed.dtype}")
        if seed.shape != root._data.shape:
            raise ValueError(
                f"Mismatch in shape: gradient has a shape of {tuple(seed.shape)} and output has a "
                f"shape of {tuple(root._data.shape)}"
            )
        seed = seed.astype(root._data.dtype, copy=False)
    if root._grad_fn is None:  # a leaf: its gradient is the seed itself
        accumulate_grad(root, seed)
        return

    order, numpy_math = _topological_order(root._grad_fn)
    # Silence NumPy's overflow / 0-0 warnings only when some op computes with NumPy (the C++
    # kernels never warn), and record nothing while a backward runs (a user-defined backward may
    # use tensor operations).
    quiet = np.errstate(all="ignore") if numpy_math else None
    if quiet is not None:
        quiet.__enter__()
    state = _grad_state
    was_enabled = getattr(state, "enabled", True)
    state.enabled = False
    wrap = _tensor.Tensor._wrap
    try:
        grads: dict[Node, np.ndarray] = {root._grad_fn: seed}  # nodes hash by identity
        for node in order:
            g = grads.pop(node, None)
            if g is None:  # no gradient reached this node (its consumers returned None)
                continue
            if type(g) is not np.ndarray:  # NumPy math on 0-d arrays gives scalars (-g, a + b)
                g = np.asarray(g)
            ctx = node.ctx
            if ctx._freed:
                raise RuntimeError(_FREED_MSG)
            node.check_versions()
            if node._retained is not None:
                kept = node._retained()
                if kept is not None:
                    accumulate_grad(kept, g)
            fn = node.fn
            in_grads = fn.backward(ctx, g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            fresh = fn.fresh_grads
            for nxt, ig in zip(node.next_functions, in_grads):
                if nxt is None or ig is None:
                    continue
                if type(nxt) is Node:
                    prev = grads.get(nxt)
                    if prev is None:
                        grads[nxt] = ig
                    else:
                        with np.errstate(all="ignore"):
                            grads[nxt] = prev + ig
                elif (fresh and nxt._grad is None and type(ig) is np.ndarray and ig.dtype is nxt._data.dtype
                      and ig.shape == nxt._data.shape and (f := ig.flags).c_contiguous and f.writeable):
                    nxt._grad = wrap(ig)  # accumulate_grad's first-use case for a fresh array, inline
                else:
                    accumulate_grad(nxt, ig, fresh)
            if not retain_graph and ctx._saved:
                # As in PyTorch, only nodes that saved arrays refuse a second backward.
                ctx._saved = None
                ctx._freed = True
    finally:
        state.enabled = was_enabled
        if quiet is not None:
            quiet.__exit__(None, None, None)


def retain(t) -> None:
    """Make the non-leaf tensor t keep its .grad in backward (see Tensor.retain_grad)."""
    t._grad_fn._retained = weakref.ref(t)
