"""Model files across the language boundary: a file written from Python (docs/model-format.md)
loads in the C++ class densegrad::Mlp and predicts the same values, and a file the C++ class
writes reads back in Python with PyTorch's parameter names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, safe_open

import densegrad as dg
from densegrad import _core

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "cpp" / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))
import make_cpp_fixture  # noqa: E402


def test_python_written_model_predicts_the_same_in_cpp():
    model, norm, _ = make_cpp_fixture.build()
    x = np.random.default_rng(1).normal(0.0, 3.0, size=(50, 3))
    expected = make_cpp_fixture.predict(model, norm, x)
    cpp = _core.CppMlp(str(DATA / "python_model.safetensors"))
    assert (cpp.in_features, cpp.out_features) == (3, 2)
    # Same kernels, same float32 arithmetic, same normalisation rule: the same numbers.
    np.testing.assert_array_equal(cpp.predict(x), expected)
    np.testing.assert_allclose(_core.CppMlp(str(DATA / "python_model.safetensors"), "float64").predict(x), expected, rtol=1e-5)


def test_committed_fixture_is_what_the_generator_writes(tmp_path):
    """The C++ test's fixture must stay in sync with the Python side (regenerate with
    `python tests/make_cpp_fixture.py` when the format changes)."""
    model, norm, _ = make_cpp_fixture.build()
    committed = load_file(str(DATA / "python_model.safetensors"))
    fresh = {k: v.numpy() for k, v in model.state_dict().items()}
    assert committed.keys() == fresh.keys()
    for k in fresh:
        np.testing.assert_array_equal(committed[k], fresh[k])
    lines = (DATA / "python_model_predictions.txt").read_text().split("\n")
    rows, cols, outs = map(int, lines[0].split())
    x = np.array([float(v) for v in lines[1].split()]).reshape(rows, cols)
    y = np.array([float(v) for v in lines[2].split()]).reshape(rows, outs)
    np.testing.assert_array_equal(make_cpp_fixture.predict(model, norm, x), y)


def test_cpp_written_file_reads_in_python_with_torch_names(tmp_path):
    path = tmp_path / "from_cpp.safetensors"
    _core.CppMlp(str(DATA / "python_model.safetensors")).save(str(path))
    tensors = load_file(str(path))
    assert sorted(tensors) == ["0.bias", "0.weight", "2.weight", "4.bias", "4.weight"]
    assert tensors["2.weight"].shape == (4, 8) and tensors["0.weight"].dtype == np.float32
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "densegrad.mlp" and meta["format_version"] == "1"
    arch = json.loads(meta["architecture"])
    assert [m["type"] for m in arch["layers"]] == ["Linear", "Tanh", "Linear", "LeakyReLU", "Linear"]
    assert json.loads(meta["normalization"])["y_std"] == [4.0, 0.125]
    # and what C++ wrote, C++ reads back identically
    x = np.random.default_rng(2).normal(size=(7, 3))
    np.testing.assert_array_equal(_core.CppMlp(str(path)).predict(x),
                                  _core.CppMlp(str(DATA / "python_model.safetensors")).predict(x))


def test_cpp_loader_rejects_bad_files_with_value_errors(tmp_path):
    good = (DATA / "python_model.safetensors").read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "header_too_long": (10**9).to_bytes(8, "little") + good[8:],
        "not_json": len(b"nonsense").to_bytes(8, "little") + b"nonsense",
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(data)
        try:
            _core.CppMlp(str(p))
        except ValueError as e:
            assert "model file" in str(e) or "JSON" in str(e), (name, str(e))
        else:
            raise AssertionError(f"{name}: accepted")
    try:
        _core.CppMlp(str(tmp_path / "missing.safetensors"))
    except RuntimeError as e:
        assert "cannot open" in str(e)
    else:
        raise AssertionError("a missing file was accepted")


def test_wheel_ships_headers_and_cmake_config():
    inc = Path(dg.get_include())
    assert (inc / "densegrad" / "densegrad.hpp").is_file()
    assert (inc / "densegrad" / "model.hpp").is_file()
    assert (Path(dg.get_cmake_dir()) / "densegrad-headers-config.cmake").is_file()


def test_cpp_example_source_compiles_against_the_shipped_headers(tmp_path):
    """The shipped headers are self-contained: the umbrella header compiles on its own."""
    src = tmp_path / "t.cpp"
    src.write_text('#include "densegrad/densegrad.hpp"\nint main() { densegrad::MatrixView<float> v; return int(v.rows); }\n')
    r = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", f"-I{dg.get_include()}", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
