"""The origin notebook ("backpropagation by example"), value by value: its four networks written
with densegrad must print exactly what the notebook's PyTorch cells printed."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np

import densegrad as dg

ROOT = Path(__file__).resolve().parents[1]

# Every output line of the notebook's cells, in order, as PyTorch 2 printed them.
NOTEBOOK_OUTPUT = """\
Prediction:  tensor([0.5500], grad_fn=<ReluBackward0>)
Loss:  tensor(0.1600, grad_fn=<MseLossBackward0>)
Output layer weight gradient:  tensor([-0.4000])
Output layer bias gradient:  tensor([-0.8000])
Updated weight:  tensor([0.5000], grad_fn=<SubBackward0>)
Updated bias:  tensor([0.8000], grad_fn=<SubBackward0>)
Updated prediction:  tensor([1.0500], grad_fn=<ReluBackward0>)
Updated loss:  tensor(0.0100, grad_fn=<MseLossBackward0>)
Hidden layer:  tensor([0.5500], grad_fn=<ReluBackward0>)
Prediction:  tensor([0.2100], grad_fn=<ReluBackward0>)
Loss  tensor(0.5476, grad_fn=<MseLossBackward0>)
Gradient for output layer weights:  tensor([-0.8140])
Gradient for output layer bias:  tensor([-1.4800])
Gradient for hidden layer weights:  tensor([-0.1480])
Gradient for hidden layer bias:  tensor([-0.2960])
Hidden layer weights:  tensor([0.5500, 0.2000], grad_fn=<ReluBackward0>)
Prediction:  tensor([0.4950], grad_fn=<ReluBackward0>)
Loss:  tensor(0.2070, grad_fn=<MseLossBackward0>)
Gradient for output layer weights:  tensor([[-0.5005],
        [-0.1820]])
Gradient for output layer bias:  tensor([-0.9100])
Gradient for hidden layer weights:  tensor([[-0.0455, -0.3185]])
Gradient for hidden layer bias:  tensor([-0.0910, -0.6370])
Layer 1 weights:  tensor([0.5500, 0.2000], grad_fn=<ReluBackward0>)
Layer 2 weights:  tensor([0.4750, 0.7800], grad_fn=<ReluBackward0>)
Prediction:  tensor([0.9580], grad_fn=<ReluBackward0>)
Loss:  tensor(6.4001e-05, grad_fn=<MseLossBackward0>)
Gradient for output layer weights:  tensor([[0.0076],
        [0.0125]])
Gradient for output layer bias:  tensor([0.0160])
Gradient for hidden layer 2 weights:  tensor([[0.0035, 0.0053],
        [0.0013, 0.0019]])
Gradient for hidden layer 2 bias:  tensor([0.0064, 0.0096])
Gradient for hidden layer 1 weights:  tensor([[0.0042, 0.0053]])
Gradient for hidden layer 1 bias:  tensor([0.0083, 0.0106])
"""


def _check_walkthrough_output(out: str) -> None:
    """The notebook's lines appear in order; every hand-computed gradient agrees."""
    pos = 0
    for line in NOTEBOOK_OUTPUT.splitlines():
        found = out.find(line + "\n", pos)
        assert found >= 0, f"notebook line not printed (in order): {line!r}"
        pos = found + len(line)
    checks = [ln for ln in out.splitlines() if "   autograd " in ln]
    # gradients per network: 1 neuron 2; 1-1-1 4; 1-2-1 7; 1-2-2-1 13
    assert len(checks) == 2 + 4 + 7 + 13, f"expected 26 hand-checked gradients, got {len(checks)}"
    assert all(ln.endswith("✓") for ln in checks), [ln for ln in checks if not ln.endswith("✓")]
    assert "All hand-computed gradients agree with autograd." in out


def _run(args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, encoding="utf-8", env=env, cwd=ROOT)


def test_cli_example_prints_the_notebook_values():
    r = _run(["-m", "densegrad", "example"])
    assert r.returncode == 0, r.stderr
    _check_walkthrough_output(r.stdout)


def test_example_script_in_repo_is_the_shipped_one():
    r = _run([str(ROOT / "examples" / "backprop_by_example.py")])
    assert r.returncode == 0, r.stderr
    _check_walkthrough_output(r.stdout)
    shipped = resources.files("densegrad") / "examples" / "backprop_by_example.py"
    assert shipped.read_text(encoding="utf-8") == (ROOT / "examples" / "backprop_by_example.py").read_text(encoding="utf-8")


def test_issue_snippet_values():
    inputs = dg.tensor([0.5])
    actual = dg.tensor([0.95])
    w = dg.tensor([0.3]).requires_grad_()
    b = dg.tensor([0.4]).requires_grad_()
    out = dg.nn.ReLU()(inputs @ w + b)
    loss = dg.nn.MSELoss()(out, actual)
    loss.backward()
    f = np.float32
    # The float32 results PyTorch computes for the same expressions.
    assert out.detach().numpy().tolist() == [f(f(0.5) * f(0.3)) + f(0.4)]
    assert loss.item() == f(f(out.item()) - f(0.95)) ** 2
    assert w.grad.item() == f(2 * (f(out.item()) - f(0.95)) * f(0.5))
    assert b.grad.item() == f(2 * (f(out.item()) - f(0.95)))
    assert round(w.grad.item(), 6) == -0.4 and round(b.grad.item(), 6) == -0.8


def test_one_sgd_step_lowers_the_loss_as_in_the_notebook():
    inputs, actual = dg.tensor([0.5]), dg.tensor([0.95])
    w = dg.tensor([0.3]).requires_grad_()
    b = dg.tensor([0.4]).requires_grad_()
    loss = dg.nn.MSELoss()(dg.relu(inputs @ w + b), actual)
    loss.backward()
    opt = dg.optim.SGD([w, b], lr=0.5)
    opt.step()
    assert round(w.item(), 6) == 0.5 and round(b.item(), 6) == 0.8
    loss2 = dg.nn.MSELoss()(dg.relu(inputs @ w + b), actual)
    assert round(loss.item(), 6) == 0.16 and round(loss2.item(), 6) == 0.01


def test_walkthrough_check_is_relative():
    """The walkthrough's "agree ✓" compares float32 autograd with float64 by hand. It allowed an
    absolute 1e-5, so a gradient of 0.00128 read as 0.0012899 (0.8% off) passed; now relative."""
    import contextlib
    import importlib.util
    import io

    spec = importlib.util.spec_from_file_location("walkthrough", ROOT / "examples" / "backprop_by_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert not mod._report("dL/dW", 0.00128, 0.0012899)
        assert mod._report("dL/dW", 0.00128, float(np.float32(0.00128)))
        assert mod._report("dL/db", 0.0, 0.0) and not mod._report("dL/db", 0.0, 1e-6)
    assert out.getvalue().count("MISMATCH") == 2
