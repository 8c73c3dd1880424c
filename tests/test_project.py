"""The project's own promises: the README's commands are the ones CI runs, and the README's
examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "python -m pip install '.[test]' && python -m pytest"
MAIN_JOB = "python -m pip install . && python -m densegrad train --demo && python -m densegrad predict model.safetensors --demo --out preds.csv"


def _code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_test_command_is_what_ci_runs():
    assert TEST_COMMAND in _code_blocks("bash")[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\n" + TEST_COMMAND + "\n" in ci


def test_readme_main_job_is_the_demo_training():
    # the commands themselves run end to end in tests/test_cli.py
    assert _code_blocks("bash")[0].strip() == MAIN_JOB


def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = _code_blocks("python")
    assert len(blocks) == 5
    ns: dict = {}
    exec(compile(blocks[0], "README quickstart", "exec"), ns)
    assert round(ns["loss"].item(), 6) == 0.16
    ns = {}
    exec(compile(blocks[1], "README training loop", "exec"), ns)
    first = np.mean((ns["y"].numpy()) ** 2)  # the loss of predicting 0
    assert ns["loss"].item() < 0.1 * first, "the README's training loop should fit its data"
    # its comment: "about 0.01 (from 0.47)", the last loss and the first (a loop of one step)
    final, start = map(float, re.search(r"# about ([\d.]+) \(from ([\d.]+)\)", blocks[1]).groups())
    assert round(ns["loss"].item(), 2) == final
    ns = {}
    exec(compile(blocks[1].replace("range(200)", "range(1)"), "README training loop, first step", "exec"), ns)
    assert round(ns["loss"].item(), 2) == start
    ns = {}
    exec(compile(blocks[2], "README Trainer", "exec"), ns)
    assert ns["loss"] < 0.2 * float(np.mean(ns["y"] ** 2)), "the README's Trainer loop should fit its data"
    assert ns["pred"].shape == (5, 1)
    monkeypatch.chdir(tmp_path)  # the fourth block reads model.safetensors, the fifth writes mlp.safetensors
    subprocess.run([sys.executable, "-m", "densegrad", "train", "--demo", "--epochs", "3", "--no-progress"],
                   check=True, capture_output=True)
    ns = {}
    exec(compile(blocks[3], "README predict from Python", "exec"), ns)
    norm = ns["model"].normalization
    # predict applies the stored standardisation; the network alone answers in standardised units
    np.testing.assert_array_equal(ns["dg"].serialization.predict(ns["model"], ns["x"]),
                                  norm.inverse_y(ns["raw"].detach().numpy().astype(np.float64)))
    assert ns["x"].shape[1] == len(ns["model"].columns["features"]) == 5
    ns = {}
    exec(compile(blocks[4], "README from Python", "exec"), ns)
    # the comment on y says fit converts float64 to the model's dtype: y must be float64 (it was float32)
    assert ns["y"].dtype == np.float64 and ns["X"].dtype == np.float32 and ns["model"][0].weight.dtype == np.float32
    h = ns["history"]
    assert h.fused and h.epochs == len(h.loss) and h.val_loss[-1] < 0.5 * h.val_loss[0]
    x = ns["X"][:16]
    with ns["dg"].no_grad():
        expected = ns["model"](ns["dg"].from_numpy(x)).numpy()
        assert np.array_equal(ns["same"](ns["dg"].from_numpy(x)).numpy(), expected)
    assert list(ns["state"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    import torch

    with torch.no_grad():
        np.testing.assert_allclose(ns["torch_model"](torch.from_numpy(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert ns["dot"].startswith("digraph autograd {") and "0.weight" in ns["dot"]
