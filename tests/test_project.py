"""The project's own promises: the README's commands are the ones CI runs, and the README's
examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "python -m pip install '.[test]' && python -m pytest"


def _code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_test_command_is_what_ci_runs():
    assert TEST_COMMAND in _code_blocks("bash")[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\n" + TEST_COMMAND + "\n" in ci


def test_readme_python_examples_run():
    blocks = _code_blocks("python")
    assert len(blocks) == 3
    ns: dict = {}
    exec(compile(blocks[0], "README quickstart", "exec"), ns)
    assert round(ns["loss"].item(), 6) == 0.16
    ns = {}
    exec(compile(blocks[1], "README training loop", "exec"), ns)
    first = np.mean((ns["y"].numpy()) ** 2)  # the loss of predicting 0
    assert ns["loss"].item() < 0.1 * first, "the README's training loop should fit its data"
    ns = {}
    exec(compile(blocks[2], "README Trainer", "exec"), ns)
    assert ns["loss"] < 0.2 * float(np.mean(ns["y"] ** 2)), "the README's Trainer loop should fit its data"
    assert ns["pred"].shape == (5, 1)
