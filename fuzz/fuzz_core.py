"""atheris fuzz target: every densegrad._core kernel entry point, called directly (no Python
layer) with operands whose shapes, dtypes, layouts, bit patterns (NaN, Inf, subnormals, any
float), thread counts and kernels come from the fuzzer's bytes, plus deliberately mismatched
shapes and wrong types. A call must return or raise TypeError / ValueError / MemoryError, never
crash or touch memory out of bounds (fuzz/run.sh runs this under ASan + UBSan), must not write
into its inputs, and a GEMM of finite, moderate values must agree with the float64 product
within the forward error bound (k + 2) u sum|a||b|.

    python fuzz/fuzz_core.py CORPUS_DIR -max_total_time=300
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    import densegrad as dg
    from densegrad import _core

ACTS = [_core.Activation.identity, _core.Activation.relu, _core.Activation.leaky_relu, _core.Activation.sigmoid,
        _core.Activation.tanh]
REDS = [_core.Reduction.none, _core.Reduction.mean, _core.Reduction.sum]
PARALLEL_MIN_WORK = _core.parallel_min_work()  # the default, read before any input changes it
KERNELS = ["generic"] + (["avx2-fma"] if _core.set_gemm_kernel("avx2-fma") else [])
DIMS = [0, 1, 2, 3, 5, 6, 7, 8, 15, 16, 17, 33, 96, 97, 121, 257]
EXPECTED = (TypeError, ValueError, MemoryError)


class Gen:
    """Operands drawn from the fuzzer's bytes."""

    def __init__(self, data: bytes):
        self.f = atheris.FuzzedDataProvider(data)
        self.dtype = np.float32 if self.f.ConsumeBool() else np.float64
        self.inputs = []  # (array, copy) of every operand that is read only by its call

    def dim(self) -> int:
        return DIMS[self.f.ConsumeIntInRange(0, len(DIMS) - 1)] if self.f.ConsumeBool() else self.f.ConsumeIntInRange(0, 12)

    def array(self, *shape, dtype=None, written=False):
        a = self._array(shape, dtype)
        if isinstance(a, np.ndarray) and not written:
            self.inputs.append((a, a.copy()))
        return a

    def _array(self, shape, dtype):
        dtype = np.dtype(dtype or self.dtype)
        n = int(np.prod(shape))
        mode = self.f.ConsumeIntInRange(0, 3)
        if mode == 0:  # raw bit patterns: NaN payloads, Inf, subnormals, anything
            raw = self.f.ConsumeBytes(n * dtype.itemsize)
            raw += b"\0" * (n * dtype.itemsize - len(raw))
            a = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        else:  # moderate values, occasionally a special one
            a = np.array([self.f.ConsumeFloatInRange(-4.0, 4.0) for _ in range(min(n, 64))] + [0.5] * max(0, n - 64),
                         dtype=dtype).reshape(shape)
            if n and mode == 3:
                a.flat[self.f.ConsumeIntInRange(0, n - 1)] = [np.nan, np.inf, -np.inf, 1e-310][self.f.ConsumeIntInRange(0, 3)]
        return self.layout(a)

    def layout(self, a):
        """Usually C-contiguous; sometimes a layout _core must refuse (or a wrong dtype/type)."""
        k = self.f.ConsumeIntInRange(0, 15)
        if k == 1 and a.ndim == 2:
            return np.asfortranarray(a)
        if k == 2 and a.size:
            buf = np.zeros(a.nbytes + 1, np.uint8)
            v = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
            v[...] = a
            return v
        if k == 3:
            a.setflags(write=False)
            return a
        if k == 4:
            return a.astype(np.float64 if a.dtype == np.float32 else np.float32)
        if k == 5:
            return a.astype(a.dtype.newbyteorder())
        if k == 6:
            return a.tolist()
        if k == 7 and a.ndim == 2:
            return np.repeat(a, 2, axis=1)[:, ::2]
        return a

    def mat(self, r, c):
        # now and then a shape that does not fit
        if self.f.ConsumeIntInRange(0, 20) == 0:
            r, c = self.dim(), self.dim()
        return self.array(r, c)

    def act(self):
        return ACTS[self.f.ConsumeIntInRange(0, len(ACTS) - 1)], [0.01, 0.0, -0.5, 2.0, float("nan")][self.f.ConsumeIntInRange(0, 4)]


def check_gemm(a, b, ta, tb, c):
    if not all(isinstance(v, np.ndarray) for v in (a, b, c)):
        return
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or max(np.abs(a).max(initial=0), np.abs(b).max(initial=0)) > 1e6:
        return
    opa, opb = (a.T if ta else a).astype(np.float64), (b.T if tb else b).astype(np.float64)
    ref = opa @ opb
    u = np.finfo(c.dtype).eps / 2
    k = opa.shape[1]
    bound = (k + 2) * u * (np.abs(opa) @ np.abs(opb)) + (k + 2) * np.finfo(c.dtype).smallest_subnormal
    assert np.all(np.abs(c - ref) <= bound), f"gemm off the reference: k={k}"


def call(g: Gen, op: int):
    m, k, n = g.dim(), g.dim(), g.dim()
    if op == 0:
        ta, tb = g.f.ConsumeBool(), g.f.ConsumeBool()
        a = g.mat(k, m) if ta else g.mat(m, k)
        b = g.mat(n, k) if tb else g.mat(k, n)
        c = _core.gemm(a, b, trans_a=ta, trans_b=tb, reference=g.f.ConsumeIntInRange(0, 7) == 0)
        check_gemm(a, b, ta, tb, c)
    if op == 1:
        act, slope = g.act()
        x, w, b = g.mat(m, k), g.mat(n, k), (g.array(n) if g.f.ConsumeBool() else None)
        _core.dense_forward(x, w, b, act, slope, g.f.ConsumeBool())
    if op == 2:
        act, slope = g.act()
        dy, x, w, y = g.mat(m, n), g.mat(m, k), g.mat(n, k), g.mat(m, n)
        z = g.mat(m, n) if g.f.ConsumeBool() else None
        _core.dense_backward(dy, x, w, y, z, act, slope, g.f.ConsumeBool(), g.f.ConsumeBool(), g.f.ConsumeBool())
    if op == 3:
        act, slope = g.act()
        z = g.array(m, k)
        y = _core.activation_forward(z, act, slope)
        dy = g.array(m, k)
        _core.activation_backward(dy, y, z if g.f.ConsumeBool() else None, act, slope)
    if op == 4:
        inp, tgt = g.array(m, k), g.mat(m, k)
        red = REDS[g.f.ConsumeIntInRange(0, 2)]
        _core.mse_forward(inp, tgt, red)
        dout = g.array(m, k) if red == _core.Reduction.none else g.array(*([1] * g.f.ConsumeIntInRange(0, 2)))
        _core.mse_backward(dout, inp, tgt, red)
    if op == 5:
        p, gr = g.array(m, written=True), g.array(m)
        buf = g.array(m, written=True) if g.f.ConsumeBool() else None
        _core.sgd_step(p, gr, buf, g.f.ConsumeFloatInRange(0, 1), g.f.ConsumeFloatInRange(0, 1) if buf is not None else 0.0,
                       0.0, g.f.ConsumeFloatInRange(0, 1), False, g.f.ConsumeBool(), g.f.ConsumeBool())
    if op == 6:
        p, gr, mm, v = g.array(m, written=True), g.array(m), g.array(m, written=True), g.array(m, written=True)
        ams = g.f.ConsumeBool()
        _core.adam_step(p, gr, mm, v, g.array(m, written=True) if ams else None, g.f.ConsumeIntInRange(-1, 10**6),
                        amsgrad=ams, weight_decay=g.f.ConsumeFloatInRange(0, 1))
    if op == 7:
        depth = g.f.ConsumeIntInRange(1, 3)
        widths = [k] + [g.dim() for _ in range(depth)]
        layers = []
        for i in range(depth):
            act, slope = g.act()
            layers.append((g.mat(widths[i + 1], widths[i]), g.array(widths[i + 1]) if g.f.ConsumeBool() else None, act, slope))
        x = g.mat(m, k)
        acts, pres = _core.mlp_forward(x, layers)
        dy = g.mat(m, widths[-1])
        _core.mlp_backward(dy, x, layers, acts, pres, g.f.ConsumeBool())
    # op 8: the fused network (its buffers are written: each is its own array)
    depth = g.f.ConsumeIntInRange(1, 3)
    widths = [k] + [g.dim() for _ in range(depth)]
    adam = g.f.ConsumeBool()
    layers = []
    for i in range(depth):
        act, slope = g.act()
        i_, o_ = widths[i], widths[i + 1]
        nstate = 2 if adam else g.f.ConsumeIntInRange(0, 1)
        layers.append((i_, o_, act, slope, g.array(o_, i_, written=True), g.array(o_, written=True), np.zeros((o_, i_), g.dtype), np.zeros(o_, g.dtype),
                       [np.zeros((o_, i_), g.dtype) for _ in range(nstate)], [np.zeros(o_, g.dtype) for _ in range(nstate)]))
    net = _core.FusedMlp(layers, "adam" if adam else "sgd", REDS[g.f.ConsumeIntInRange(0, 2)])
    if adam:
        net.set_adam(1e-3, 0.9, 0.999, 1e-8, 0.0, False, False)
    else:
        net.set_sgd(0.01, 0.5 if layers[0][8] else 0.0, 0.0, 0.0, False, False)
    x, y = g.mat(m, k), g.mat(m, widths[-1])
    for step in range(1, g.f.ConsumeIntInRange(1, 3) + 1):
        net.step(x, y, step, step == 1)
    net.forward(x)


def TestOneInput(data: bytes) -> None:
    g = Gen(data)
    assert _core.set_gemm_kernel(KERNELS[g.f.ConsumeIntInRange(0, len(KERNELS) - 1)])
    dg.set_num_threads(g.f.ConsumeIntInRange(1, 3))
    _core.set_parallel_min_work(0 if g.f.ConsumeBool() else PARALLEL_MIN_WORK)
    op = g.f.ConsumeIntInRange(0, 8)
    try:
        call(g, op)
    except EXPECTED:
        pass
    for a, before in g.inputs:  # returned or refused, inputs are never written
        assert np.array_equal(a, before, equal_nan=True), f"op {op} wrote into an input"


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
