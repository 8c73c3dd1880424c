"""Writes cpp/tests/data/python_model.safetensors (a model saved by the Python package,
``Sequential.save``) and python_model_predictions.txt (inputs and what Python predicts for them),
which the C++ test `model` loads into densegrad::Mlp and compares. Run it from the repository
root after a change to the format: python tests/make_cpp_fixture.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import densegrad as dg
from densegrad.serialization import Normalization
from densegrad.serialization import predict as dg_predict

OUT = Path(__file__).resolve().parents[1] / "cpp" / "tests" / "data"


def build():
    dg.manual_seed(2026)
    model = dg.nn.Sequential(
        dg.nn.Linear(3, 8), dg.nn.Tanh(), dg.nn.Linear(8, 4, bias=False), dg.nn.LeakyReLU(-0.1), dg.nn.Linear(4, 2)
    )
    norm = Normalization([0.5, -1.25, 3.0], [2.0, 0.75, 1.5], [10.0, -2.5], [4.0, 0.125])
    return model, norm


# The CSV column names, saved as Python writes them (the C++ reader checks them).
COLUMNS = {"features": ["rooms", "area m\u00b2", "age"], "target": ["price", "tax"]}


def predict(model, norm, x: np.ndarray) -> np.ndarray:
    """The format's rule (docs/model-format.md), as the package applies it."""
    return dg_predict(model, x, norm)


def main() -> None:
    model, norm = build()
    OUT.mkdir(parents=True, exist_ok=True)
    model.save(OUT / "python_model.safetensors", normalization=norm, columns=COLUMNS)
    x = np.random.default_rng(5).normal(0.0, 2.0, size=(6, 3))
    y = predict(model, norm, x)
    with open(OUT / "python_model_predictions.txt", "w") as f:
        f.write(f"{x.shape[0]} {x.shape[1]} {y.shape[1]}\n")
        f.write(" ".join(repr(float(v)) for v in x.ravel()) + "\n")
        f.write(" ".join(repr(float(v)) for v in y.ravel()) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
