"""Differentiable ops: each a Function with forward and backward side by side.

forward(ctx, ...) receives NumPy arrays (and Python numbers / options) and returns an array;
backward(ctx, grad) returns one gradient per input, shaped and typed like that input (None for
inputs that need none). Elementwise maths is NumPy; matrix products, dense layers,
activations and the MSE loss call the C++ kernels in ``_core``.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .autograd import function as _function
from .autograd.function import Function

IDENTITY = _core.Activation.identity
RELU = _core.Activation.relu
LEAKY_RELU = _core.Activation.leaky_relu
SIGMOID = _core.Activation.sigmoid
TANH = _core.Activation.tanh

_REDUCTIONS = {"mean": _core.Reduction.mean, "sum": _core.Reduction.sum, "none": _core.Reduction.none}


# ==================================================================================================
# helpers: dtype promotion, reducing broadcast gradients, contiguous operands for _core
# ==================================================================================================


def _result_dtype(a, b) -> np.dtype:
    """PyTorch's rule for two float operands: float64 wins, except that a 0-d tensor or a Python
    number does not promote a dimensioned tensor."""
    if not isinstance(b, np.ndarray):
        return a.dtype
    if not isinstance(a, np.ndarray):
        return b.dtype
    if a.dtype == b.dtype:
        return a.dtype
    if (a.ndim == 0) != (b.ndim == 0):
        return a.dtype if a.ndim else b.dtype
    return np.dtype(np.float64)


def _promote(a, b):
    """Both operands as arrays or NumPy scalars of the common dtype, and their (shape, dtype)
    for backward (None for a number)."""
    dt = _result_dtype(a, b)
    meta_a = (a.shape, a.dtype) if isinstance(a, np.ndarray) else None
    meta_b = (b.shape, b.dtype) if isinstance(b, np.ndarray) else None
    with _quiet():  # a float64 number beyond float32's range becomes Inf, as in PyTorch
        a = a.astype(dt, copy=False) if isinstance(a, np.ndarray) else dt.type(a)
        b = b.astype(dt, copy=False) if isinstance(b, np.ndarray) else dt.type(b)
    return a, b, meta_a, meta_b


def sum_to(grad: np.ndarray, meta) -> np.ndarray:
    """The one place where a broadcast gradient is summed back to its operand's shape (and cast
    back to its dtype)."""
    shape, dtype = meta
    grad = np.asarray(grad)
    if grad.shape == shape and grad.dtype == dtype:
        return grad
    with _quiet():  # sums and casts may overflow to Inf: a value, not an error
        if grad.shape != shape:
            lead = grad.ndim - len(shape)
            if lead > 0:
                grad = grad.sum(axis=tuple(range(lead)))
            axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
            if axes:
                grad = grad.sum(axis=axes, keepdims=True)
        return grad.astype(dtype, copy=False)


def _same_dtype(op: str, *arrays) -> None:
    dts = [a.dtype for a in arrays if a is not None]
    if any(d != dts[0] for d in dts):
        raise TypeError(f"{op}: expected all operands to have the same dtype, got {' and '.join(map(str, dts))}")


def _quiet():
    """NaN and Inf propagate silently, as in PyTorch; NumPy would warn on overflow or 0/0. (The
    C++ kernels never warn, so only ops computed by NumPy use this.)"""
    return np.errstate(all="ignore")


def _kernel_ready(a: np.ndarray) -> bool:
    """What the C++ kernels accept without a copy: C-contiguous and aligned to the dtype (an
    array from np.frombuffer with an odd offset is contiguous but not aligned)."""
    f = a.flags
    return f.c_contiguous and f.aligned


def _contig(a: np.ndarray) -> np.ndarray:
    # np.ascontiguousarray would return a contiguous but misaligned array as it is
    f = a.flags  # _kernel_ready, inline: this runs for every operand of every op
    return a if f.c_contiguous and f.aligned else np.array(a, order="C")


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for 2-D arrays of any memory layout: a transposed (Fortran-order) operand is passed
    to the GEMM as a transpose flag instead of being copied."""
    ta = tb = False
    if not _kernel_ready(a):
        a, ta = (a.T, True) if a.flags.f_contiguous and a.flags.aligned else (_contig(a), False)
    if not _kernel_ready(b):
        b, tb = (b.T, True) if b.flags.f_contiguous and b.flags.aligned else (_contig(b), False)
    return _core.gemm(a, b, trans_a=ta, trans_b=tb)


# ==================================================================================================
# elementwise arithmetic
# ==================================================================================================


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        a, b, ctx.ma, ctx.mb = _promote(a, b)
        with _quiet():
            return a + b

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (sum_to(g, ctx.ma) if na else None), (sum_to(g, ctx.mb) if nb else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        a, b, ctx.ma, ctx.mb = _promote(a, b)
        with _quiet():
            return a - b

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (sum_to(g, ctx.ma) if na else None), (sum_to(-g, ctx.mb) if nb else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        a, b, ctx.ma, ctx.mb = _promote(a, b)
        ctx.save_for_backward(a, b)
        with _quiet():
            return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (sum_to(g * b, ctx.ma) if na else None), (sum_to(g * a, ctx.mb) if nb else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        a, b, ctx.ma, ctx.mb = _promote(a, b)
        ctx.save_for_backward(a, b)
        with _quiet():
            return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        da = sum_to(g / b, ctx.ma) if na else None
        # PyTorch's form of -g a / b^2: b * b over- or underflows where (a / b) / b does not
        db = sum_to(-g * ((a / b) / b), ctx.mb) if nb else None
        return da, db


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


def _power(a: np.ndarray, p: float) -> np.ndarray:
    """a ** p as PyTorch computes it: p = 0.5 as sqrt and p = -0.5 as 1 / sqrt (its rsqrt), which
    differ from C's pow at -0.0 and -inf (pow(-0.0, -0.5) is +inf, rsqrt(-0.0) -inf; pow(-inf,
    0.5) is +inf, sqrt(-inf) NaN); elsewhere the same correctly rounded values."""
    with _quiet():
        if p == 0.5:
            return np.sqrt(a)
        if p == -0.5:
            return a.dtype.type(1) / np.sqrt(a)
        return a ** a.dtype.type(p)


class Pow(Function):
    """a ** p for a number p."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.p = p
        ctx.save_for_backward(a)
        return _power(a, p)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.p
        if p == 0.0:  # d/da a^0 = 0 everywhere, also at a = 0 (PyTorch special-cases it too)
            return np.zeros_like(a), None
        t = a.dtype.type
        with _quiet():
            return g * t(p) * _power(a, p - 1.0), None


class RPow(Function):
    """c ** a for a number c."""

    @staticmethod
    def forward(ctx, c, a):
        ctx.c = c
        with _quiet():
            out = a.dtype.type(c) ** a
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        t = out.dtype.type
        if ctx.c == 0.0:  # d/da 0^a, as PyTorch: 0 where a >= 0 (out is 0 or 1), else out * log(0):
            with _quiet():  # -inf where a < 0 (out inf), NaN where a is NaN
                return None, g * np.where(np.isfinite(out), t(0), out * t(-np.inf))
        return None, g * out * t(np.log(ctx.c))


# ==================================================================================================
# reductions and shape ops
# ==================================================================================================


def _reduced_axes(ndim: int, dims) -> tuple[int, ...]:
    if dims is None:
        return tuple(range(ndim))
    return tuple(_norm_axis(d, ndim) for d in dims)


def _norm_axis(d: int, ndim: int) -> int:
    n = max(ndim, 1)  # a 0-d tensor accepts dim 0 / -1, like PyTorch
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        axes = tuple(ax for ax in _reduced_axes(a.ndim, dims) if ax < a.ndim)
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        with _quiet():
            return np.sum(a, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        axes = tuple(ax for ax in _reduced_axes(a.ndim, dims) if ax < a.ndim)
        count = int(np.prod([a.shape[ax] for ax in axes])) if axes else 1
        ctx.shape, ctx.axes, ctx.keepdim, ctx.count = a.shape, axes, keepdim, count
        # sum / count rather than np.mean: the mean of nothing is NaN here without a warning.
        with _quiet():
            return np.sum(a, axis=axes, keepdims=keepdim) / a.dtype.type(count)

    @staticmethod
    def backward(ctx, g):
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.axes)
        return np.broadcast_to(g / g.dtype.type(ctx.count), ctx.shape), None, None


class Transpose(Function):
    view = True

    @staticmethod
    def forward(ctx, a):
        return a.T

    @staticmethod
    def backward(ctx, g):
        return g.T


class Reshape(Function):
    view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"shape {shape} is invalid for input of size {a.size}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Index(Function):
    @staticmethod
    def forward(ctx, a, key):
        ctx.shape, ctx.dtype, ctx.key = a.shape, a.dtype, key
        return np.array(a[key])  # a copy (recorded indexing; outside the graph Tensor.__getitem__ gives a view)

    @staticmethod
    def backward(ctx, g):
        da = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.add.at(da, ctx.key, g)  # add.at: repeated indices accumulate
        return da, None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        with _quiet():  # float64 beyond float32's range becomes Inf
            return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


# ==================================================================================================
# matrix product (NumPy's rules for 1-D and 2-D operands)
# ==================================================================================================


class MatMul(Function):
    numpy_math = False
    fresh_grads = True  # new GEMM outputs (reshape of a fresh array is a view nobody else holds)

    @staticmethod
    def forward(ctx, a, b):
        if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray) or a.ndim == 0 or b.ndim == 0:
            da = getattr(a, "ndim", 0)
            db = getattr(b, "ndim", 0)
            raise ValueError(f"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D")
        if a.ndim > 2 or b.ndim > 2:
            raise ValueError(f"matmul supports 1-D and 2-D operands, got {a.ndim}-D and {b.ndim}-D")
        _same_dtype("matmul", a, b)
        a2 = a[None, :] if a.ndim == 1 else a  # (k,) -> (1, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (k,) -> (k, 1)
        if a2.shape[1] != b2.shape[0]:
            if a.ndim == 1 and b.ndim == 1:
                raise ValueError(
                    f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] "
                    "to have the same number of elements"
                )
            raise ValueError(
                f"mat1 and mat2 shapes cannot be multiplied ({a2.shape[0]}x{a2.shape[1]} and "
                f"{b2.shape[0]}x{b2.shape[1]})"
            )
        ctx.save_for_backward(a2, b2)
        ctx.shape_a, ctx.shape_b = a.shape, b.shape
        out = _mm(a2, b2)
        if a.ndim == 1 and b.ndim == 1:
            return out.reshape(())
        if a.ndim == 1:
            return out[0]
        if b.ndim == 1:
            return out[:, 0]
        return out

    @staticmethod
    def backward(ctx, g):
        a2, b2 = ctx.saved_tensors
        g2 = np.asarray(g).reshape(a2.shape[0], b2.shape[1])
        na, nb = ctx.needs_input_grad
        da = _mm(g2, b2.T).reshape(ctx.shape_a) if na else None  # dA = dC B^T
        db = _mm(a2.T, g2).reshape(ctx.shape_b) if nb else None  # dB = A^T dC
        return da, db


# ==================================================================================================
# activations (elementwise kernels in C++, one definition shared with the dense layer)
# ==================================================================================================


class _Activation(Function):
    numpy_math = False
    fresh_grads = True

    @staticmethod
    def forward(ctx, x, act, slope):
        x = _contig(x)
        y = _core.activation_forward(x, act, slope)
        z = x if needs_preactivation(act, slope) else None
        ctx.act, ctx.slope = act, slope
        ctx.save_for_backward(y, z)
        return y

    @staticmethod
    def backward(ctx, g):
        y, z = ctx.saved_tensors
        return _core.activation_backward(_contig(g), y, z, ctx.act, ctx.slope), None, None


# Separate classes so the graph shows PyTorch's node names (ReluBackward0, ...).
class Relu(_Activation):
    pass


class LeakyRelu(_Activation):
    pass


class Sigmoid(_Activation):
    pass


class Tanh(_Activation):
    pass


# ==================================================================================================
# dense layer: y = act(x @ w.T + b) in one C++ call, forward and backward
# ==================================================================================================


def check_dense_args(x: np.ndarray, w: np.ndarray, b) -> None:
    """Shape/dtype checks for linear and the fused dense op, raised with PyTorch's wording."""
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim == 0:
        raise ValueError("input must have at least one dimension (in_features), got a 0-d tensor")
    if x.shape[-1] != w.shape[1]:
        rows = int(np.prod(x.shape[:-1])) if x.ndim > 1 else 1
        raise ValueError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and {w.shape[1]}x{w.shape[0]})"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"bias must have shape ({w.shape[0]},) to match weight {w.shape}, got {b.shape}")
    if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        _same_dtype("linear", x, w, b)


def needs_preactivation(act, slope: float) -> bool:
    """Whether backward needs z, not only y = act(z), as in C++: leaky_relu unless its slope is
    positive even rounded to float32 (above 2**-150)."""
    return act is LEAKY_RELU and not slope > 2.0**-150


class Dense(Function):
    numpy_math = False
    fresh_grads = True

    @staticmethod
    def forward(ctx, x, w, b, act, slope):
        check_dense_args(x, w, b)
        lead = x.shape[:-1]
        # not reshape(-1, in): ambiguous when in_features is 0
        x2 = x if x.ndim == 2 else x.reshape(int(np.prod(lead)), x.shape[-1])
        if not _kernel_ready(x2):
            x2 = _contig(x2)
        if not _kernel_ready(w):
            w = _contig(w)
        if b is not None and not _kernel_ready(b):
            b = _contig(b)
        keep_z = needs_preactivation(act, slope)
        y, z = _core.dense_forward(x2, w, b, act, slope, keep_z)
        ctx.act, ctx.slope, ctx.x_shape, ctx.has_bias = act, slope, x.shape, b is not None
        ctx.save_for_backward(x2, w, y, z)
        return y if x.ndim == 2 else y.reshape(lead + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x2, w, y, z = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        g2 = g if g.shape == y.shape else g.reshape(y.shape)
        if not _kernel_ready(g2):
            g2 = _contig(g2)
        dx, dw, db = _core.dense_backward(
            g2, x2, w, y, z, ctx.act, ctx.slope, need_dx=nx, need_dw=nw, need_db=nb and ctx.has_bias
        )
        if dx is not None and dx.shape != ctx.x_shape:
            dx = dx.reshape(ctx.x_shape)
        return dx, dw, db, None, None


# ==================================================================================================
# loss
# ==================================================================================================


class MseLoss(Function):
    numpy_math = False  # C++ kernels; sum_to silences its own casts
    fresh_grads = True  # d from the kernel and its negation

    @staticmethod
    def forward(ctx, input, target, reduction):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction!r} is not a valid value for reduction (expected 'mean', 'sum' or 'none')")
        if input.shape != target.shape:
            raise ValueError(
                f"mse_loss: input shape {input.shape} and target shape {target.shape} differ; "
                "densegrad does not broadcast them (reshape one to match)"
            )
        if type(input) is np.ndarray and type(target) is np.ndarray and input.dtype is target.dtype:
            ctx.mi = ctx.mt = None  # nothing to promote, nothing to cast back in backward
        else:
            input, target, ctx.mi, ctx.mt = _promote(input, target)
        input, target = _contig(input), _contig(target)
        ctx.reduction = _REDUCTIONS[reduction]
        ctx.save_for_backward(input, target)
        return _core.mse_forward(input, target, ctx.reduction)

    @staticmethod
    def backward(ctx, g):
        input, target = ctx.saved_tensors
        ni, nt = ctx.needs_input_grad[:2]
        if type(g) is not np.ndarray or g.dtype is not input.dtype:
            g = np.asarray(g, dtype=input.dtype)
        d = _core.mse_backward(_contig(g), input, target, ctx.reduction)
        mi, mt = ctx.mi, ctx.mt
        gi = (d if mi is None else sum_to(d, mi)) if ni else None
        gt = ((-d) if mt is None else sum_to(-d, mt)) if nt else None
        return gi, gt, None


# ==================================================================================================
# a whole stack of dense layers (a Sequential MLP) as one recorded op
# ==================================================================================================


class DenseStack(Function):
    """act_L(... act_1(x @ w_1.T + b_1) ...) in one C++ call forward and one backward.

    apply(x, layers, w_1, b_1, ..., w_L, b_L) with layers = [(w_l array, b_l array or None,
    activation, slope), ...] as ``_core.mlp_forward`` takes it, built (and checked: C-contiguous,
    aligned, chaining shapes, one dtype) by ``Sequential`` from the same parameters that follow
    it. The parameters are passed as tensors so the graph records them; the kernel reads their
    arrays from ``layers``. The same dense kernels as one Dense op per layer, in the same order,
    so the results are bitwise those of the per-layer path; only the Python overhead per layer
    goes away.
    """

    numpy_math = False
    fresh_grads = True

    @staticmethod
    def forward(ctx, x, layers, *params):
        x = _contig(x)
        acts, pres = _core.mlp_forward(x, layers)
        ctx.save_for_backward(x, layers, acts, pres)
        return acts[-1]

    @staticmethod
    def backward(ctx, g):
        x, layers, acts, pres = ctx.saved_tensors
        flags = g.flags
        if not (flags.c_contiguous and flags.aligned):
            g = np.array(g, order="C")
        # (dx or None, None, dw_1, db_1, ...): one gradient per input of apply, in order
        return _core.mlp_backward(g, x, layers, acts, pres, ctx.needs_input_grad[0])


def dense_stack(input, layers: list, params: list):
    """``DenseStack.apply(input, layers, *params)`` without the generic apply's per-argument
    loop: Sequential's hot path (input is a Tensor, params its Parameters or None)."""
    x = input._data
    flags = x.flags
    if not (flags.c_contiguous and flags.aligned):
        x = np.array(x, order="C")
    acts, pres = _core.mlp_forward(x, layers)
    out = _Tensor._wrap(acts[-1])
    if not getattr(_function._grad_state, "enabled", True):
        return out
    # What Function.apply and Node.__init__ would compute, in one loop: which inputs need a
    # gradient, the graph edges to them, and their versions (for the in-place check).
    record = input._requires_grad
    needs = [record, False]
    edges = [(input._grad_fn or input) if record else None, None]
    versions = [(input, input._vc[0])]
    for p in params:
        if p is None:
            needs.append(False)
            edges.append(None)
            continue
        versions.append((p, p._vc[0]))
        if p._requires_grad:
            record = True
            needs.append(True)
            edges.append(p._grad_fn or p)
        else:
            needs.append(False)
            edges.append(None)
    if record:
        ctx = _function.Context(tuple(needs))
        ctx._saved = (x, layers, acts, pres)
        out._requires_grad = True
        out._grad_fn = _function.Node._make(DenseStack, ctx, tuple(edges), tuple(versions), out)
    return out


from ._tensor import Tensor as _Tensor  # noqa: E402  (_tensor imports this module)


def mse_loss(input, target, reduction: str):
    """``MseLoss.apply(input, target, reduction)`` for two Tensors, without the generic apply's
    per-argument loop (the loss module's hot path)."""
    if not (input._requires_grad or target._requires_grad) or not getattr(_function._grad_state, "enabled", True):
        return MseLoss.apply(input, target, reduction)
    ni, nt = input._requires_grad, target._requires_grad
    ctx = _function.Context((ni, nt, False))
    out = _Tensor._wrap(MseLoss.forward(ctx, input._data, target._data, reduction))
    out._requires_grad = True
    edges = ((input._grad_fn or input) if ni else None, (target._grad_fn or target) if nt else None, None)
    versions = ((input, input._vc[0]), (target, target._vc[0]))
    out._grad_fn = _function.Node._make(MseLoss, ctx, edges, versions, out)
    return out
