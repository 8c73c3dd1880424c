"""Model files across the language boundary (docs/model-format.md), both ways:

- cpp/tests/data/python_model.* is written from Python by tests/make_cpp_fixture.py; the C++
  test `model` (ctest) loads it into densegrad::Mlp and checks it predicts what Python did;
  here we check the committed file is still what the Python side writes.
- cpp/tests/data/cpp_model.* is written by densegrad::Mlp (`test_model --write-fixture`); here
  Python reads it and must predict what C++ predicted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, safe_open

import densegrad as dg

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "cpp" / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))
import make_cpp_fixture  # noqa: E402

def _read_predictions(path: Path):
    lines = path.read_text().split("\n")
    rows, cols, outs = map(int, lines[0].split())
    x = np.array([float(v) for v in lines[1].split()]).reshape(rows, cols)
    y = np.array([float(v) for v in lines[2].split()]).reshape(rows, outs)
    return x, y


def test_committed_python_fixture_is_what_python_writes():
    model, norm = make_cpp_fixture.build()
    committed = load_file(str(DATA / "python_model.safetensors"))
    fresh = {k: v.numpy() for k, v in model.state_dict().items()}
    assert committed.keys() == fresh.keys()
    for k in fresh:
        np.testing.assert_array_equal(committed[k], fresh[k])
    x, y = _read_predictions(DATA / "python_model_predictions.txt")
    np.testing.assert_array_equal(make_cpp_fixture.predict(model, norm, x), y)


def test_cpp_written_model_predicts_the_same_in_python():
    path = DATA / "cpp_model.safetensors"
    model = dg.nn.Sequential.load(path)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "Sigmoid", "Linear"]
    assert sorted(load_file(str(path))) == ["0.bias", "0.weight", "2.weight", "4.bias", "4.weight"]
    with safe_open(str(path), framework="np") as f:
        assert json.loads(f.metadata()["normalization"])["y_std"] == [1.5, 10.0]
    assert model.columns == {"features": ["a", "b", "c \u00e9", "d"], "target": ["y", "z"]}  # Mlp::columns
    x, expected = _read_predictions(DATA / "cpp_model_predictions.txt")
    # The same rule and the same kernels on both sides: the same numbers.
    np.testing.assert_array_equal(dg.serialization.predict(model, x), expected)


def test_python_saved_file_is_what_the_cpp_test_loads(tmp_path):
    """Saving the fixture model again gives the same tensors and metadata as the committed file
    the C++ test reads (so the C++ side is tested against the current writer)."""
    model, norm = make_cpp_fixture.build()
    fresh = tmp_path / "m.safetensors"
    model.save(fresh, normalization=norm, columns=make_cpp_fixture.COLUMNS)
    with safe_open(str(fresh), framework="np") as a, safe_open(str(DATA / "python_model.safetensors"), framework="np") as b:
        ma, mb = a.metadata(), b.metadata()
        assert {k: v for k, v in ma.items() if k != "densegrad_version"} == {k: v for k, v in mb.items() if k != "densegrad_version"}
        for k in a.keys():
            np.testing.assert_array_equal(a.get_tensor(k), b.get_tensor(k))


def test_wheel_ships_headers_and_cmake_config():
    inc = Path(dg.get_include())
    assert (inc / "densegrad" / "densegrad.hpp").is_file()
    assert (inc / "densegrad" / "model.hpp").is_file()
    assert (Path(dg.get_cmake_dir()) / "densegrad-headers-config.cmake").is_file()


def test_shipped_headers_compile_on_their_own(tmp_path):
    src = tmp_path / "t.cpp"
    src.write_text('#include "densegrad/densegrad.hpp"\nint main() { densegrad::MatrixView<float> v; return int(v.rows); }\n')
    r = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", f"-I{dg.get_include()}", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
