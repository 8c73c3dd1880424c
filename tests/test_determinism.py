"""Determinism: with a fixed seed, training is bitwise reproducible from run to run (separate
processes), and -- the stronger claim -- for any thread count, because GEMMs split the rows or
columns of the output across threads, never the k sum, and every other reduction (bias
gradients, the loss) runs on one thread. What does change the bits is the micro-kernel
(avx2-fma fuses multiply and add, the portable kernel blocks differently); each kernel on its
own is reproducible. See README "Determinism".
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import densegrad as dg
from densegrad import _core

# Trains one model by autograd and one by the fused Trainer for every (kernel, thread count)
# and prints a digest of the losses and final parameters of each, as JSON.
SCRIPT = r"""
import hashlib, json, sys
import numpy as np
import densegrad as dg
from densegrad import _core

def digest(seed):
    dg.manual_seed(seed)
    x = dg.randn(192, 96)
    y = dg.from_numpy(np.tanh(x.numpy()[:, :8] * 3).astype(np.float32))
    h = hashlib.sha256()
    for fused in (False, True):
        model = dg.nn.Sequential(dg.nn.Linear(96, 160), dg.nn.Tanh(), dg.nn.Linear(160, 128),
                                 dg.nn.LeakyReLU(-0.1), dg.nn.Linear(128, 8))
        opt = dg.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = dg.nn.MSELoss()
        trainer = dg.train.Trainer(model, opt) if fused else None
        for step in range(12):
            xb, yb = x[(step % 3) * 64:(step % 3 + 1) * 64], y[(step % 3) * 64:(step % 3 + 1) * 64]
            if fused:
                loss = trainer.step(xb, yb)
            else:
                opt.zero_grad()
                out = loss_fn(model(xb), yb)
                out.backward()
                opt.step()
                loss = out.item()
            h.update(np.float64(loss).tobytes())
        for p in model.parameters():
            h.update(p.detach().numpy().tobytes())
    return h.hexdigest()

seed = int(sys.argv[1])
kernels = ["generic"] + [k for k in ("avx2-fma", "avx512") if _core.set_gemm_kernel(k)]
_core.set_parallel_min_work(0)  # every GEMM splits across the threads it is given,
_core.set_small_max_work(0)  # none runs unpacked (that path never splits)
out = {}
for kernel in kernels:
    assert _core.set_gemm_kernel(kernel)
    for threads in (1, 2, 3, 4):
        dg.set_num_threads(threads)
        out[f"{kernel}/{threads}"] = digest(seed)
    out[f"{kernel}/again"] = digest(seed)  # same process, state left by earlier runs
print(json.dumps(out))
"""


def _run(seed: int) -> dict:
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(seed)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_training_is_bitwise_reproducible_across_runs_and_thread_counts():
    first, second = _run(1234), _run(1234)
    assert first == second, "two processes with the same seed trained differently"
    kernels = sorted({k.split("/")[0] for k in first})
    for kernel in kernels:
        digests = {v for k, v in first.items() if k.startswith(kernel + "/")}
        assert len(digests) == 1, f"{kernel}: results depend on the thread count: {first}"
    if "avx2-fma" in kernels and "avx512" in kernels:
        # same k blocks, same order of fused multiply-adds per element: the same bits on AVX2
        # and AVX-512 CPUs (the portable kernel differs: it does not fuse)
        assert first["avx2-fma/1"] == first["avx512/1"] != first["generic/1"]
    # negative control: the digest does see a different seed
    other = _run(4321)
    assert all(other[k] != first[k] for k in first)


def test_gemm_bitwise_independent_of_threads_at_every_split(rng):
    """Shapes whose rows/columns do not divide evenly among threads, both split directions."""
    saved = dg.get_num_threads(), _core.parallel_min_work(), _core.small_max_work()
    try:
        _core.set_parallel_min_work(0)
        _core.set_small_max_work(0)
        for m, n, k in [(7, 300, 33), (301, 5, 129), (97, 97, 257), (1, 1000, 3), (1000, 1, 3)]:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            outs = []
            for t in (1, 2, 3, 4, 7):
                dg.set_num_threads(t)
                outs.append(_core.gemm(a, b))
            assert all(np.array_equal(outs[0], o) for o in outs[1:]), (m, n, k)
    finally:
        dg.set_num_threads(saved[0])
        _core.set_parallel_min_work(saved[1])
        _core.set_small_max_work(saved[2])
