"""Writes cpp/tests/data/python_model.safetensors (a model file written from Python, laid out as
docs/model-format.md says) and python_model_predictions.txt (inputs and what Python predicts for
them), which the C++ test `model` loads and compares. Run it from the repository root after a
change to the format: python tests/make_cpp_fixture.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

import densegrad as dg

OUT = Path(__file__).resolve().parents[1] / "cpp" / "tests" / "data"


def build():
    dg.manual_seed(2026)
    model = dg.nn.Sequential(
        dg.nn.Linear(3, 8), dg.nn.Tanh(), dg.nn.Linear(8, 4, bias=False), dg.nn.LeakyReLU(-0.1), dg.nn.Linear(4, 2)
    )
    norm = {"x_mean": [0.5, -1.25, 3.0], "x_std": [2.0, 0.75, 1.5], "y_mean": [10.0, -2.5], "y_std": [4.0, 0.125]}
    arch = {"dtype": "float32", "layers": [
        {"type": "Linear", "in_features": 3, "out_features": 8, "bias": True}, {"type": "Tanh"},
        {"type": "Linear", "in_features": 8, "out_features": 4, "bias": False}, {"type": "LeakyReLU", "negative_slope": -0.1},
        {"type": "Linear", "in_features": 4, "out_features": 2, "bias": True},
    ]}
    return model, norm, arch


def predict(model, norm, x: np.ndarray) -> np.ndarray:
    """The format's rule: model((x - x_mean) / x_std) * y_std + y_mean, in float64, the
    normalised input rounded to the model's dtype."""
    xn = ((x - np.array(norm["x_mean"])) / np.array(norm["x_std"])).astype(np.float32)
    with dg.no_grad():
        y = model(dg.from_numpy(xn)).numpy().astype(np.float64)
    return y * np.array(norm["y_std"]) + np.array(norm["y_mean"])


def main() -> None:
    model, norm, arch = build()
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    meta = {"format": "densegrad.mlp", "format_version": "1", "densegrad_version": dg.__version__,
            "architecture": json.dumps(arch), "normalization": json.dumps(norm)}
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT / "python_model.safetensors"), metadata=meta)
    x = np.random.default_rng(5).normal(0.0, 2.0, size=(6, 3))
    y = predict(model, norm, x)
    with open(OUT / "python_model_predictions.txt", "w") as f:
        f.write(f"{x.shape[0]} {x.shape[1]} {y.shape[1]}\n")
        f.write(" ".join(repr(float(v)) for v in x.ravel()) + "\n")
        f.write(" ".join(repr(float(v)) for v in y.ravel()) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
