"""Plain NumPy references written from the maths, deliberately naive, never from densegrad's
code. Everything is computed in float64 from the given inputs."""

from __future__ import annotations

import math

import numpy as np


def act(name: str, z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):
        if name == "identity":
            return z.copy()
        if name == "relu":
            return np.where(z > 0, z, np.where(np.isnan(z), z, 0.0))
        if name == "leaky_relu":
            return np.where(z > 0, z, z * slope)
        if name == "sigmoid":
            # elementwise with math so large |z| does not overflow
            flat = [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)) if not math.isnan(v) else v for v in z.ravel()]
            return np.array(flat).reshape(z.shape)
        if name == "tanh":
            return np.tanh(z)
    raise ValueError(name)


def act_grad(name: str, z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """d act / dz at z; at kinks the PyTorch convention: relu'(0) = 0, leaky_relu'(0) = slope."""
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return np.where(z <= 0, 0.0, 1.0)  # PyTorch's rule: passes the gradient where z is NaN
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if name == "sigmoid":
        s = act("sigmoid", z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    raise ValueError(name)


def matmul(a, b):
    """Triple loop written out: C[i, j] = sum_p A[i, p] B[p, j]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    m, k = a.shape
    k2, n = b.shape
    assert k == k2
    c = np.zeros((m, n))
    for i in range(m):
        for j in range(n):
            c[i, j] = sum(a[i, p] * b[p, j] for p in range(k)) if k else 0.0
    return c


def dense_forward(x, w, b, activation: str, slope: float = 0.01):
    """(y, z): z = x w^T + b, y = act(z)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    z = np.einsum("bi,oi->bo", x, w)
    if b is not None:
        z = z + np.asarray(b, dtype=np.float64)[None, :]
    return act(activation, z, slope), z


def dense_backward(dy, x, w, b, activation: str, slope: float = 0.01):
    """(dx, dw, db) from dy: dz = dy * act'(z), dx = dz w, dw = dz^T x, db = sum_batch dz."""
    _, z = dense_forward(x, w, b, activation, slope)
    dz = np.asarray(dy, dtype=np.float64) * act_grad(activation, z, slope)
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    dx = np.einsum("bo,oi->bi", dz, w)
    dw = np.einsum("bo,bi->oi", dz, x)
    db = dz.sum(axis=0)
    return dx, dw, db


def mse(input, target, reduction: str = "mean"):
    d = np.asarray(input, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    sq = d * d
    if reduction == "none":
        return sq
    if reduction == "sum":
        return np.array(sq.sum())
    return np.array(sq.sum() / sq.size) if sq.size else np.array(np.nan)


def mse_grad(input, target, reduction: str = "mean", dout=1.0):
    """d loss / d input."""
    d = np.asarray(input, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    if reduction == "none":
        return 2.0 * d * np.asarray(dout, dtype=np.float64)
    n = d.size if reduction == "mean" else 1
    return 2.0 * d / n * float(np.asarray(dout))


def sgd(params, grads_per_step, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    """Parameters after len(grads_per_step) SGD steps, from the update rule in PyTorch's SGD docs."""
    p = np.asarray(params, dtype=np.float64).copy()
    buf = None
    for g in grads_per_step:
        g = np.asarray(g, dtype=np.float64)
        if maximize:
            g = -g
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def adam(params, grads_per_step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False):
    """Parameters after len(grads_per_step) Adam steps, from the algorithm in PyTorch's Adam docs."""
    b1, b2 = betas
    p = np.asarray(params, dtype=np.float64).copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads_per_step, start=1):
        g = np.asarray(g, dtype=np.float64)
        if maximize:
            g = -g
        if weight_decay:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2**t)
        else:
            v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p
