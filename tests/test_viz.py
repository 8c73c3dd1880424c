"""dg.viz: the DOT text of an autograd graph (always), and rendering through Graphviz's `dot`
program: a stand-in `dot` checks how it is called, a PATH without it gives the clear error, and
the real program (when this machine has it) writes an SVG."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys

import pytest

import densegrad as dg
from densegrad import viz


def _net():
    x, y = dg.tensor([0.5]), dg.tensor([0.95])
    w1 = dg.tensor([[0.3, 0.2]]).requires_grad_()
    b1 = dg.tensor([0.4, 0.1]).requires_grad_()
    w2 = dg.tensor([[0.1], [0.7]]).requires_grad_()
    b2 = dg.tensor([0.3]).requires_grad_()
    loss = dg.nn.MSELoss()(dg.relu(dg.relu(x @ w1 + b1) @ w2 + b2), y)
    return loss, {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


def _labels(dot):
    return dict(re.findall(r'^\s+(\w+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M))


def _edges(dot):
    return re.findall(r"^\s+(\w+) -> (\w+);", dot, re.M)


def test_to_dot_has_ops_leaves_values_and_grads():
    loss, params = _net()
    loss.backward()
    dot = viz.to_dot(loss, params, name="loss")
    labels = _labels(dot)
    ops = sorted(lbl.split("\\n")[0] for lbl in labels.values() if "Backward0" in lbl)
    assert ops == ["AddBackward0", "AddBackward0", "MatMulBackward0", "MatMulBackward0", "MseLossBackward0", "ReluBackward0", "ReluBackward0"]
    assert labels["output"] == "loss\\nvalue 0.207"
    leaves = {lbl.split("\\n")[0]: lbl for lbl in labels.values() if lbl.split("\\n")[0] in params}
    assert leaves["w1"] == "w1\\nvalue [[0.3, 0.2]]\\ngrad [[-0.0455, -0.3185]]"
    assert leaves["b2"] == "b2\\nvalue [0.3]\\ngrad [-0.91]"
    # 7 ops + 4 leaves + output; every node but the output has one way down to it
    assert len(labels) == 12 and len(_edges(dot)) == 11
    w1 = next(k for k, v in labels.items() if v.startswith("w1\\n"))
    (consumer,) = [b for a, b in _edges(dot) if a == w1]  # w1 feeds one op: the first matmul
    assert labels[consumer] == "MatMulBackward0"
    assert dot == viz.to_dot(loss, params, name="loss")  # deterministic text


def test_to_dot_details():
    loss, params = _net()
    unnamed = _labels(viz.to_dot(loss))  # before backward: no grads, leaves unnamed
    assert sum(lbl.startswith("leaf\\nvalue") for lbl in unnamed.values()) == 4
    assert not any("grad" in lbl for lbl in unnamed.values())
    big = dg.ones(3, 4, requires_grad=True)
    out = (big * 2.0).sum()
    out.backward()
    labels = _labels(viz.to_dot(out, [("big", big)], max_elements=8))
    assert "big\\nfloat32 (3, 4), has grad" in labels.values()
    assert _labels(viz.to_dot(dg.tensor([1.0]))) == {"output": "output\\nvalue [1]"}  # no graph at all
    with pytest.raises(TypeError, match="expects a Tensor"):
        viz.to_dot([1.0])
    with pytest.raises(TypeError, match="params\\['w'\\] is a list"):
        viz.to_dot(loss, {"w": [1.0]})


def test_to_dot_walks_deep_graphs_without_recursion():
    x = dg.tensor([1.0]).requires_grad_()
    y = x
    for _ in range(3 * sys.getrecursionlimit()):
        y = y * 1.0
    assert viz.to_dot(y, show_values=False).count("MulBackward0") == 3 * sys.getrecursionlimit()


def test_render_dot_text_needs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    loss, params = _net()
    p = viz.render(loss, tmp_path / "g.dot", params=params)
    assert p == str(tmp_path / "g.dot") and (tmp_path / "g.dot").read_text() == viz.to_dot(loss, params)


def test_render_without_graphviz_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    loss, _ = _net()
    with pytest.raises(RuntimeError, match="needs Graphviz's 'dot' program on PATH"):
        viz.render(loss, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    with pytest.raises(ValueError, match="cannot tell the image format"):
        viz.render(loss, tmp_path / "g")


def test_render_runs_dot_with_the_format_and_the_text(tmp_path, monkeypatch):
    # a stand-in for Graphviz's dot: records its arguments and stdin, writes a file
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "text = sys.stdin.read()\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\n"
        "open(out, 'w').write(' '.join(sys.argv[1:]) + '\\n' + text)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    loss, params = _net()
    out = tmp_path / "g.png"
    viz.render(loss, out, params=params)
    args, text = out.read_text().split("\n", 1)
    assert args == f"-Tpng -o {out}" and text == viz.to_dot(loss, params)
    viz.render(viz.to_dot(loss), tmp_path / "g.out", format="svg")
    assert (tmp_path / "g.out").read_text().startswith("-Tsvg ")
    # a failing dot is reported with its message
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('Error: syntax error in line 1')\nsys.exit(1)\n")
    with pytest.raises(RuntimeError, match="dot -Tsvg failed .*syntax error in line 1"):
        viz.render("digraph {", tmp_path / "bad.svg")


def test_render_with_the_real_graphviz_when_installed(tmp_path):
    loss, params = _net()
    if shutil.which("dot") is None:
        # this machine has no Graphviz: what the user gets instead is the clear error
        with pytest.raises(RuntimeError, match="needs Graphviz's 'dot' program"):
            viz.render(loss, tmp_path / "g.svg", params=params)
        return
    viz.render(loss, tmp_path / "g.svg", params=params, name="loss")
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "MseLossBackward0" in svg and "w1" in svg
    assert os.path.getsize(tmp_path / "g.svg") > 1000


def test_node_names_are_pytorchs_where_the_readme_says_so():
    """The README lists which op nodes carry PyTorch's grad_fn names and which differ (and what
    PyTorch calls them): both halves checked against torch, so the list cannot go stale."""
    import torch

    def graphs(lib):
        if lib is torch:
            x, v, w = (torch.ones(*s, requires_grad=True) for s in [(2, 3), (3,), (3, 2)])
        else:
            x, v, w = (dg.ones(*s).requires_grad_() for s in [(2, 3), (3,), (3, 2)])
        y = x.detach() + 1
        same = [x + 1, 1 + x, x + y, x - 1, x - y, x * 2, 2 * x, x * y, x / 2, x / y, -x, x ** 2, x.clone(),
                x.relu(), x.sigmoid(), x.tanh(), x.sum(), x.mean(),
                lib.nn.functional.leaky_relu(x, 0.1), lib.nn.functional.mse_loss(x, x.detach() * 0)]
        differ = [x @ w, x @ v, v @ v, v @ w, 1 - x, 1 / x, 2 ** x, x.reshape(3, 2), x.view(3, 2), x.T, x[0],
                  x[:, 1:], x.sum(0), x.mean(0), x.double()]
        name = (lambda o: type(o.grad_fn).__name__) if lib is torch else (lambda o: o.grad_fn.name())
        return [name(o) for o in same], [name(o) for o in differ]

    dg_same, dg_differ = graphs(dg)
    torch_same, torch_differ = graphs(torch)
    assert dg_same == torch_same
    assert dg_differ == ["MatMulBackward0"] * 4 + ["SubBackward0", "DivBackward0", "RPowBackward0", "ReshapeBackward0",
                                                   "ReshapeBackward0", "TransposeBackward0", "IndexBackward0",
                                                   "IndexBackward0", "SumBackward0", "MeanBackward0", "CastBackward0"]
    assert torch_differ == ["MmBackward0", "MvBackward0", "DotBackward0", "SqueezeBackward4", "RsubBackward1",
                            "MulBackward0", "PowBackward2", "ViewBackward0", "ViewBackward0", "PermuteBackward0",
                            "SelectBackward0", "SliceBackward0", "SumBackward1", "MeanBackward1", "ToCopyBackward0"]
    # every kind of node densegrad records is in one of the two lists (or the fused layers below)
    from densegrad.autograd.function import Function

    classes = Function.__subclasses__() + [c for k in Function.__subclasses__() for c in k.__subclasses__()]
    kinds = {c.__name__ for c in classes if c.__module__.startswith("densegrad.")}  # not the tests' own
    seen = {n.removesuffix("Backward0") for n in dg_same + dg_differ} | {"Dense", "DenseStack"}
    assert kinds - {"_Activation"} <= seen, kinds - seen
    layer = dg.nn.Linear(3, 2)
    assert layer(dg.ones(2, 3)).grad_fn.name() == "DenseBackward0"
    assert dg.nn.Sequential(layer, dg.nn.ReLU())(dg.ones(2, 3)).grad_fn.name() == "DenseStackBackward0"
