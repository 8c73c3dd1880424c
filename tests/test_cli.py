"""`python -m densegrad` end to end, in subprocesses as a user runs it: train on the demo data and
on CSV/npz files, predict from the saved file (the same numbers), --plot, --help for every
command, the example's --check-torch and --graphs, and one-line errors without tracebacks."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import densegrad as dg
from densegrad import data

SCRIPT = Path(sys.executable).with_name("densegrad")


def run(*args, cwd=None, check=True):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, "-m", "densegrad", *map(str, args)], capture_output=True, text=True,
                       encoding="utf-8", env=env, cwd=cwd)
    if check:
        assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def _one_line_error(r, fragment):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], r.stderr
    return lines[0]


def test_train_demo_then_predict_reproduces_the_predictions(tmp_path):
    model = tmp_path / "model.safetensors"
    r = run("train", "--demo", "--epochs", "15", "--out", model, cwd=tmp_path)
    out = r.stdout
    assert "Training a 5-64-64-1 MLP (relu, float32) on the demo data (houses.csv): 800 training rows, 200 validation rows" in out
    assert re.search(r"15 epochs, 375 steps of batch 32 \(adam, lr 0\.001\) in [\d.]+ s: [\d,]+ steps/s \(fused C\+\+ step\)", out), out
    rows = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in re.finditer(r"^(train|val)\s+([\d.e+]+)\s+([\d.]+)$", out, re.M)}
    assert set(rows) == {"train", "val"}, out
    assert rows["val"][1] > 0.9, out  # R² of the demo model after 15 epochs
    # the progress bar (stderr) shows epochs and both losses
    assert "epoch 15/15" in r.stderr and "val_loss=" in r.stderr
    assert model.is_file()
    shown = re.search(r"Predicted price_k for the first 3 rows: ([\d.]+), ([\d.]+), ([\d.]+) \(actual 209\.1, 270\.1, 114\.8\)", out)
    assert shown, out

    preds = tmp_path / "preds.csv"
    r2 = run("predict", model, "--demo", "--out", preds)
    with open(preds, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["price_k"] and len(table) == 1001
    # the numbers train printed (to 10 digits; the file has every digit)
    assert [f"{float(row[0]):.10g}" for row in table[1:4]] == list(shown.groups())
    assert r2.stdout.startswith(f"Wrote 1000 predictions of price_k to {preds}; first 3: {', '.join(shown.groups())}")
    # and exactly what the Python API predicts from the file (10 digits once lost 1700000000125.56)
    m = dg.nn.Sequential.load(model)
    x = data.read_features(data.demo_path(), m.columns["features"], 5)
    np.testing.assert_array_equal(np.array([float(row[0]) for row in table[1:]]), dg.serialization.predict(m, x)[:, 0])
    # stdout when there is no --out; a CSV with the columns in another order and extra text columns
    src = tmp_path / "new.csv"
    src.write_text("note,floor,distance_km,age_years,rooms,area_m2\nhello,6,4.98,28,2,61.9\n")
    r3 = run("predict", model, src)
    assert r3.stdout == f"price_k\n{table[1][0]}\n"


def test_readme_shows_what_the_main_job_prints(tmp_path):
    """The README's transcript of the main job (`train --demo`, then `predict ... --out preds.csv`
    and `head -3 preds.csv`) is what the commands print, timings and the progress bar aside. The
    numbers depend on the GEMM kernel family (README "Determinism"): exact with the fused kernels
    (avx2-fma and avx512 give the same bits); with the portable kernel 2,500 Adam steps move them
    by up to ~1% (train MSE 158.984 against 157.968), so there the numbers are compared to 2%."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    shown_train = readme.split("$ python -m densegrad train --demo\n", 1)[1].split("```", 1)[0].splitlines()
    shown_head = readme.split("$ head -3 preds.csv\n", 1)[1].split("```", 1)[0].splitlines()
    out = run("train", "--demo", cwd=tmp_path).stdout.splitlines()
    run("predict", "model.safetensors", "--demo", "--out", "preds.csv", cwd=tmp_path)
    head = (tmp_path / "preds.csv").read_text().splitlines()[:3]
    timing = re.compile(r"^\d+ epochs, \d+ steps .* in [\d.]+ s: [\d,]+ steps/s")
    keep = lambda lines: [ln for ln in lines if not ln.startswith("epoch ") and not timing.match(ln)]  # noqa: E731
    expected, got = keep(shown_train) + shown_head, keep(out) + head
    assert len(expected) == len(got) == 10, (expected, got)
    exact = dg._core.gemm_kernel() in ("avx2-fma", "avx512")
    for e, g in zip(expected, got):
        if exact:
            assert e == g
        else:  # compare the numbers in the line
            ne, ng = (re.findall(r"-?\d+\.\d+", x) for x in (e, g))
            assert len(ne) == len(ng) and np.allclose([float(v) for v in ne], [float(v) for v in ng], rtol=2e-2), (e, g)


def test_console_script_is_installed():
    assert SCRIPT.exists(), SCRIPT
    r = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout


def test_help_for_every_command():
    top = run("--help").stdout
    for cmd in ("example", "train", "predict", "bench"):
        assert re.search(rf"^\s+{cmd}\s+\S", top, re.M), top
    train = run("train", "--help").stdout
    for opt in ("--target COL", "--hidden SIZES", "--activation", "--epochs N", "--batch-size B", "--lr LR", "--optimizer",
                "--momentum M", "--val-split F", "--seed S", "--out PATH", "--plot PNG", "--patience N", "--demo"):
        assert opt in train, opt
    assert "--out PATH" in run("predict", "--help").stdout
    ex = run("example", "--help").stdout
    assert "--check-torch" in ex and "--graphs DIR" in ex
    bench = run("bench", "--help").stdout  # the suite's own options, under the command's name
    assert "--quick" in bench and "--only" in bench and bench.startswith("usage: densegrad bench ")
    assert run("--version").stdout == f"densegrad {dg.__version__}\n"


def test_train_csv_and_npz_with_options(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    y = x[:, 0] - 2 * x[:, 1] ** 2
    p = tmp_path / "d.csv"
    p.write_text("a,b,target\n" + "".join(f"{u},{v},{w}\n" for (u, v), w in zip(x, y)))
    r = run("train", p, "--target", "target", "--hidden", "8", "--activation", "tanh", "--epochs", "5", "--batch-size", "7",
            "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--val-split", "0.25", "--seed", "3",
            "--dtype", "float64", "--out", tmp_path / "m.safetensors", "--no-progress")
    assert "Training a 2-8-1 MLP (tanh, float64)" in r.stdout and "45 training rows, 15 validation rows" in r.stdout
    assert "5 epochs, 35 steps of batch 7 (sgd, lr 0.05)" in r.stdout
    assert r.stderr == ""  # --no-progress
    m = dg.nn.Sequential.load(tmp_path / "m.safetensors")
    assert m[0].weight.dtype == np.float64 and type(m[1]) is dg.nn.Tanh and m.columns == {"features": ["a", "b"], "target": ["target"]}
    np.savez(tmp_path / "d.npz", X=x, y=y)
    r = run("train", tmp_path / "d.npz", "--epochs", "2", "--hidden", "", "--val-split", "0", "--patience", "2", check=False)
    _one_line_error(r, "--patience (early stopping) needs validation rows")
    r = run("train", tmp_path / "d.npz", "--epochs", "2", "--hidden", "", "--val-split", "0", "--out", tmp_path / "lin.safetensors")
    assert "Training a 2-1 MLP" in r.stdout and "60 training rows, 0 validation rows" in r.stdout
    assert re.search(r"^train\s", r.stdout, re.M) and not re.search(r"^val\s", r.stdout, re.M)
    r = run("predict", tmp_path / "lin.safetensors", tmp_path / "d.npz")
    assert r.stdout.splitlines()[0] == "y" and len(r.stdout.splitlines()) == 61


def test_train_on_one_row(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("a,b,y\n1,2,3\n")
    r = run("train", p, "--target", "y", "--epochs", "3", "--out", tmp_path / "m.safetensors", "--no-progress")
    assert "1 training row, 0 validation rows" in r.stdout
    assert re.search(r"^train\s+\S+\s+n/a$", r.stdout, re.M), r.stdout  # R² is undefined for one value
    assert run("predict", tmp_path / "m.safetensors", p).stdout.startswith("y\n")


def test_plot_writes_a_png(tmp_path):
    png = tmp_path / "loss.png"
    r = run("train", "--demo", "--epochs", "3", "--out", tmp_path / "m.safetensors", "--plot", png, "--no-progress")
    assert f"and the loss curves to {png}" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_plot_without_matplotlib_is_a_clear_error_before_training(tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('blocked for the test')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker))
    r = subprocess.run([sys.executable, "-m", "densegrad", "train", "--demo", "--plot", str(tmp_path / "x.png"), "--out",
                        str(tmp_path / "m.safetensors")], capture_output=True, text=True, env=env)
    _one_line_error(r, "--plot needs matplotlib: pip install 'densegrad[plot]'")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("a,x2,y\n1,2,3\n1,2,3\n1,2,3\n4,abc,5\n", "row 5, column 'x2': 'abc' is not a number"),
        ("a,y\n1,\n", "row 2, column 'y': missing value"),
        ("", "the file is empty"),
        ("a,b\n1,2\n", "no column 'y'"),
    ],
)
def test_bad_csv_is_one_line(tmp_path, text, fragment):
    p = tmp_path / "data.csv"
    p.write_text(text)
    line = _one_line_error(run("train", p, "--target", "y", cwd=tmp_path, check=False), fragment)
    assert line.startswith(f"densegrad train: error: {p}: ")
    assert not (tmp_path / "model.safetensors").exists()


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["train"], "give a DATA file"),
        (["train", "--demo", "--hidden", "64,x"], "--hidden expects layer sizes"),
        (["train", "--demo", "--val-split", "1"], "--val-split must be in [0, 1)"),
        (["train", "--demo", "--momentum", "0.9"], "--momentum applies to --optimizer sgd"),
        (["train", "--demo", "--lr", "-1"], "--lr must be > 0"),
        (["train", "--demo", "--patience", "0"], "--patience must be >= 1, got 0"),
        (["train", "--demo", "--optimizer", "sgd", "--momentum", "-1"], "--momentum must be >= 0, got -1.0"),
        (["train", "--demo", "--seed", "-1"], "--seed must be >= 0, got -1"),
        (["train", "--demo", "--out", ""], "--out needs a file name"),
        (["train", "--demo", "--hidden", "0"], "--hidden sizes must be >= 1, got '0'"),
        (["train", "--demo", "--hidden", "64,0"], "--hidden sizes must be >= 1, got '64,0'"),
        (["train", "--demo", "--features", ""], "the list of features is empty"),
        (["train", "--demo", "--features", "area_m2,area_m2"], "'area_m2' appears twice in the features"),
        (["train", "--demo", "--target", "price_k,price_k"], "'price_k' appears twice in the target"),
        (["train", "--demo", "--features", "area_m2,price_k"], "price_k cannot be both a feature and a target"),
        # argparse's float() takes 'inf' and 'nan'; every float option must be finite
        (["train", "--demo", "--lr", "inf"], "--lr must be a finite number, got inf"),
        (["train", "--demo", "--lr", "nan"], "--lr must be a finite number, got nan"),
        (["train", "--demo", "--optimizer", "sgd", "--momentum", "nan"], "--momentum must be a finite number, got nan"),
        (["train", "--demo", "--momentum", "inf"], "--momentum must be a finite number, got inf"),
        (["train", "--demo", "--val-split", "nan"], "--val-split must be a finite number, got nan"),
        (["train", "missing.csv", "--target", "y"], "missing.csv: cannot read"),
        (["predict", "missing.safetensors", "--demo"], "missing.safetensors: cannot read"),
        (["predict", "missing.safetensors", "--demo", "--out", ""], "--out needs a file name"),
        (["predict", "missing.safetensors", "--demo", "--out", "."], "--out . is a directory"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, args, fragment):
    _one_line_error(run(*args, cwd=tmp_path, check=False), fragment)
    assert not (tmp_path / "model.safetensors").exists()  # refused before training


def test_train_out_must_be_a_writable_file_name(tmp_path):
    # a directory (IsADirectoryError on the temporary file 'dir.tmp<pid>') and a missing directory
    # (named by its temporary file too) are refused before training
    missing = tmp_path / "no" / "m.safetensors"
    for out, fragment in [(tmp_path, f"--out {tmp_path} is a directory"),
                          (missing, f"--out {missing}: no directory {missing.parent}")]:
        r = run("train", "--demo", "--out", out, cwd=tmp_path, check=False)
        _one_line_error(r, fragment)
        assert "Training a" not in r.stdout and ".tmp" not in r.stderr
    assert os.listdir(tmp_path) == []


def test_train_reports_a_failed_save_in_one_line(tmp_path, monkeypatch, capsys):
    # in-process: as root, a read-only directory cannot be made for a subprocess to fail on
    from densegrad import __main__ as cli, _cli

    def refuse(model, path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(_cli, "save", refuse)
    out = tmp_path / "m.safetensors"
    assert cli.main(["train", "--demo", "--epochs", "1", "--no-progress", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == f"densegrad train: error: {out}: cannot write (Permission denied)\n"


def test_train_reports_a_model_too_large_for_memory_in_one_line(tmp_path, monkeypatch, capsys):
    # in-process, with the failures stubbed: a real --hidden 100000000 allocates gigabytes before
    # the C++ core refuses its workspace (a ValueError) or NumPy cannot allocate (MemoryError)
    from densegrad import __main__ as cli, _cli

    argv = ["train", "--demo", "--hidden", "64", "--no-progress", "--out", str(tmp_path / "m.safetensors")]
    msg = "densegrad: MLP gradient workspace for a batch of 32 rows needs 35.762787 GiB, more than this machine's 23.540169 GiB of memory"

    def workspace(*args, **kwargs):
        raise ValueError(msg)

    monkeypatch.setattr(dg.train, "fit", workspace)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err == "densegrad train: error: the 5-64-1 MLP does not fit in memory: " + msg.removeprefix("densegrad: ") + "\n"

    def allocate(*args, **kwargs):
        raise MemoryError("Unable to allocate 37.3 GiB for an array with shape (1000000000, 5) and data type float64")

    monkeypatch.setattr(_cli, "build_mlp", allocate)
    assert cli.main(argv) == 1
    assert capsys.readouterr().err == ("densegrad train: error: the 5-64-1 MLP does not fit in memory: Unable to allocate "
                                       "37.3 GiB for an array with shape (1000000000, 5) and data type float64\n")
    assert not (tmp_path / "m.safetensors").exists()

    def bug(*args, **kwargs):
        raise ValueError("something else")

    monkeypatch.setattr(_cli, "build_mlp", bug)
    with pytest.raises(ValueError, match="something else"):  # not a user error: a traceback
        cli.main(argv)


def test_predict_rejects_a_tampered_model(tmp_path):
    dg.manual_seed(0)
    m = dg.nn.Sequential(dg.nn.Linear(5, 2), dg.nn.ReLU(), dg.nn.Linear(2, 1))
    path = tmp_path / "m.safetensors"
    m.save(path)
    path.write_bytes(path.read_bytes()[:-3])
    line = _one_line_error(run("predict", path, "--demo", check=False), "bytes")
    assert line.startswith(f"densegrad predict: error: {path}: ")
    # a model without stored column names reads every column: the demo has 6, the model takes 5
    m.save(path)
    _one_line_error(run("predict", path, "--demo", check=False), "6 feature columns, the model takes 5")
    # an .npz with a 1-D X gets the message a 3-D X gets (not '1 feature columns, the model takes 5')
    np.savez(tmp_path / "x.npz", X=np.ones(5))
    _one_line_error(run("predict", path, tmp_path / "x.npz", check=False), "array 'X' must be 2-D (rows, columns), got shape (5,)")


def test_argparse_usage_errors_exit_2():
    r = run("train", "--epochs", "x", check=False)
    assert r.returncode == 2 and "invalid int value: 'x'" in r.stderr
    r = run("nope", check=False)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_example_check_torch_and_graphs(tmp_path):
    r = run("example", "--check-torch", "--graphs", tmp_path / "g")
    assert "Comparing with PyTorch 2.13.0" in r.stdout
    checks = [ln for ln in r.stdout.splitlines() if "   torch " in ln]
    # prediction and loss per network, and dW, db per layer: 1 + 2 + 2 + 3 layers
    assert len(checks) == 4 * 2 + 2 * (1 + 2 + 2 + 3)
    assert all(ln.endswith("✓") for ln in checks), checks
    assert "All hand-computed gradients agree with autograd and with PyTorch." in r.stdout
    dots = sorted(p.name for p in (tmp_path / "g").glob("*.dot"))
    assert dots == [f"network{i}.dot" for i in (1, 2, 3, 4)]
    text = (tmp_path / "g" / "network4.dot").read_text()
    assert text.startswith("digraph autograd {") and "layer2_weights" in text and "MseLossBackward0" in text
    assert text.count("ReluBackward0") == 3


# ---- found by an adversarial review of the command line (each once gave a wrong answer, exit 0) ----


def test_a_constant_feature_that_is_not_exact_gets_std_1(tmp_path):
    """Thirty rows of 0.1 have a std of 2.8e-17 in float64; it was the scale, and 0.11 at
    prediction time gave 2.3e14."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(30)
    src = tmp_path / "c.csv"
    src.write_text("a,b,y\n" + "".join(f"{v},0.1,{2 * v}\n" for v in a))
    model = tmp_path / "m.safetensors"
    run("train", src, "--target", "y", "--epochs", "3", "--no-progress", "--seed", "1", "--out", model)
    m = dg.nn.Sequential.load(model)
    assert m.normalization.x_std[1] == 1.0
    new = tmp_path / "new.csv"
    new.write_text("a,b\n0.5,0.1\n0.5,0.11\n")
    p = [float(v) for v in run("predict", model, new).stdout.split()[1:]]
    assert abs(p[0] - p[1]) < 1.0, p


def test_a_constant_target_that_is_not_exact_has_no_r2(tmp_path):
    src = tmp_path / "c.csv"
    src.write_text("a,y\n" + "".join(f"{i},0.1\n" for i in range(30)))
    out = run("train", src, "--target", "y", "--epochs", "2", "--no-progress", "--out", tmp_path / "m.safetensors").stdout
    rows = re.findall(r"^(train|val)\s+\S+\s+(\S+)$", out, re.M)
    assert rows and all(r2 == "n/a" for _, r2 in rows), out


def test_an_unmatched_quote_is_an_error_not_the_end_of_the_file(tmp_path):
    src = tmp_path / "q.csv"
    notes = ['"5 ft tall' if i == 4 else "ok" for i in range(20)]  # row 6 opens a quote it never closes
    src.write_text("a,note,y\n" + "".join(f"{i},{n},{i}\n" for i, n in enumerate(notes)))
    _one_line_error(run("train", src, "--target", "y", "--features", "a", check=False),
                    "q.csv: row 6: a quoted field is never closed")
    # the same as the last column: the swallowed rows then make a record of the right length
    src.write_text("a,y,note\n" + "".join(f"{i},{i},{n}\n" for i, n in enumerate(notes)))
    _one_line_error(run("train", src, "--target", "y", "--features", "a", check=False),
                    "q.csv: row 6: a quoted field is never closed")
    # closed quotes, one followed by a space, and a line break inside a field: all fine
    src.write_text('a,name,y\n1,"Smith, J." ,2\n2,"two\nlines",3\n3,x,4\n')
    out = run("train", src, "--target", "y", "--features", "a", "--epochs", "1", "--no-progress",
              "--out", tmp_path / "m.safetensors").stdout
    assert "3 training rows" in out or "2 training rows, 1 validation row" in out, out


def test_a_row_of_empty_fields_is_a_missing_value(tmp_path):
    src = tmp_path / "e.csv"
    src.write_text("x,y\n1,2\n,\n3,4\n\n5,6\n")  # the blank line is skipped; "," is a row
    _one_line_error(run("train", src, "--target", "y", check=False), "row 3, column 'x': missing value")


def test_predict_takes_an_archives_columns_by_the_stored_names(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    np.savez(tmp_path / "d.npz", X=x, y=3 * x[:, 2] - x[:, 0])
    for feats in ("x2,x1,x0", "x2,x0"):
        model = tmp_path / f"m{feats}.safetensors"
        run("train", tmp_path / "d.npz", "--features", feats, "--hidden", "", "--epochs", "30", "--no-progress",
            "--out", model)
        m = dg.nn.Sequential.load(model)
        cols = [int(f[1:]) for f in feats.split(",")]
        expected = dg.serialization.predict(m, x[:, cols])[:, 0]
        got = np.array([float(v) for v in run("predict", model, tmp_path / "d.npz").stdout.split()[1:]])
        np.testing.assert_array_equal(got, expected)


def test_huge_values_train_without_a_traceback(tmp_path):
    src = tmp_path / "h.csv"
    src.write_text("a,y\n" + "".join(f"{v * 1e200},{v}\n" for v in np.linspace(-1, 1, 20)))
    model = tmp_path / "m.safetensors"
    run("train", src, "--target", "y", "--epochs", "2", "--no-progress", "--out", model)
    assert np.isfinite(dg.nn.Sequential.load(model).normalization.x_std).all()


def test_the_same_command_writes_the_same_bytes(tmp_path):
    """The safetensors library writes the metadata in a hash map's order: the file bytes differed
    on every run although the tensors were the same."""
    files = [tmp_path / f"m{i}.safetensors" for i in range(3)]
    for f in files:
        run("train", "--demo", "--epochs", "1", "--no-progress", "--out", f)
    assert files[0].read_bytes() == files[1].read_bytes() == files[2].read_bytes()


def test_plot_into_a_missing_directory_fails_before_training(tmp_path):
    pytest.importorskip("matplotlib")
    model = tmp_path / "m.safetensors"
    r = run("train", "--demo", "--plot", tmp_path / "nodir" / "loss.png", "--out", model, check=False)
    _one_line_error(r, "no directory")
    assert not model.exists()


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`densegrad train --demo | head -1` once ended in a BrokenPipeError traceback. (Whether a
    real pipe raises depends on the OS's pipe buffer, so the error is raised directly here.)"""
    code = (
        "import argparse, sys\n"
        "from densegrad import _cli\n"
        "def func(args):\n"
        "    print('some output')\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "sys.exit(_cli.run(argparse.Namespace(func=func, command='predict')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == "", r.stderr


def test_a_diverged_training_saves_nothing(tmp_path):
    model = tmp_path / "m.safetensors"
    r = run("train", "--demo", "--lr", "1e30", "--optimizer", "sgd", "--epochs", "3", "--no-progress", "--out", model,
            check=False)
    assert "training diverged" in r.stderr and "nothing was saved" in r.stderr, r.stderr
    assert r.returncode == 1 and not model.exists()
    assert "Traceback" not in r.stderr and ".py:" not in r.stderr  # warnings are one line each too


def test_non_finite_predictions_are_reported(tmp_path):
    model = tmp_path / "m.safetensors"
    run("train", "--demo", "--epochs", "1", "--no-progress", "--out", model)
    src = tmp_path / "far.csv"
    src.write_text("area_m2,rooms,age_years,distance_km,floor\n80,3,20,5,2\n1e45,3,20,5,2\n")
    r = run("predict", model, src)
    assert r.stdout.splitlines()[2] == "nan" or "inf" in r.stdout.splitlines()[2], r.stdout
    assert "warning: 1 of 2 rows have non-finite predictions" in r.stderr, r.stderr


@pytest.mark.parametrize("cmd", ["train", "predict"])
def test_out_may_not_be_the_data_file(tmp_path, cmd):
    src = tmp_path / "d.csv"
    src.write_text(data.make_houses(n=50))
    model = tmp_path / "m.safetensors"
    if cmd == "train":
        r = run("train", src, "--target", "price_k", "--out", src, check=False)
    else:
        run("train", src, "--target", "price_k", "--epochs", "1", "--no-progress", "--out", model)
        r = run("predict", model, src, "--out", src, check=False)
    _one_line_error(r, "is the data file: it would be overwritten")
    assert src.read_text() == data.make_houses(n=50)


def test_one_row_and_wide_numbers_in_the_summary(tmp_path):
    src = tmp_path / "w.csv"
    src.write_text("a,y\n" + "".join(f"{i},{1e6 * i}\n" for i in range(3)))
    out = run("train", src, "--target", "y", "--val-split", "0.34", "--epochs", "1", "--no-progress",
              "--out", tmp_path / "m.safetensors").stdout
    assert "2 training rows, 1 validation row;" in out, out
    for line in out.splitlines():
        if line.startswith(("train ", "val ")):
            assert len(line.split()) == 3, line  # MSE and R² never run together
