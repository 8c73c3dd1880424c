"""Seed corpus for fuzz_model_loader.py: small valid model files (several architectures, both
dtypes, with and without normalisation and column names) and plain state-dict files, each also
in the harness's split form b"J" + header + b"\0" + body.

    python fuzz/make_corpus.py DIR
"""

from __future__ import annotations

import os
import sys

import numpy as np

import densegrad as dg
from densegrad import serialization as S


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    dg.manual_seed(0)
    archs = [
        lambda dt: [dg.nn.Linear(1, 1, dtype=dt)],
        lambda dt: [dg.nn.Linear(2, 3, dtype=dt), dg.nn.ReLU(), dg.nn.Linear(3, 1, bias=False, dtype=dt)],
        lambda dt: [dg.nn.Linear(3, 4, dtype=dt), dg.nn.LeakyReLU(-0.2), dg.nn.Linear(4, 2, dtype=dt), dg.nn.Sigmoid()],
        lambda dt: [dg.nn.Linear(2, 2, dtype=dt), dg.nn.Tanh(), dg.nn.Linear(2, 2, dtype=dt), dg.nn.Identity()],
    ]
    n = 0
    for dt in (np.float32, np.float64):
        for i, arch in enumerate(archs):
            model = dg.nn.Sequential(*arch(dt))
            fin, fout = model[0].in_features, [m for m in model if isinstance(m, dg.nn.Linear)][-1].out_features
            S.save(model, os.path.join(out, f"mlp-{np.dtype(dt).name}-{i}.safetensors"))
            norm = S.Normalization(np.arange(fin) * 0.5, np.ones(fin) * 2, np.zeros(fout), np.ones(fout))
            cols = {"features": [f"x{j}" for j in range(fin)], "target": [f"y{j}" for j in range(fout)]}
            S.save(model, os.path.join(out, f"mlp-norm-{np.dtype(dt).name}-{i}.safetensors"), normalization=norm, columns=cols)
            S.save(model.state_dict(), os.path.join(out, f"state-{np.dtype(dt).name}-{i}.safetensors"))
            n += 3
    for name in sorted(os.listdir(out)):
        if name.endswith(".safetensors"):
            with open(os.path.join(out, name), "rb") as f:
                data = f.read()
            size = int.from_bytes(data[:8], "little")
            with open(os.path.join(out, name[: -len(".safetensors")] + ".split"), "wb") as f:
                f.write(b"J" + data[8 : 8 + size] + b"\0" + data[8 + size :])
            n += 1
    print(f"{n} seed files in {out}")


if __name__ == "__main__":
    main(sys.argv[1])
