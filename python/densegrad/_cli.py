"""The ``train`` and ``predict`` commands of ``python -m densegrad`` (the parser is in
``__main__``). User errors -- a bad data file, a bad model file, a bad option -- raise
``CliError`` or a ``ValueError`` subclass that ``__main__`` prints as one line.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time
import warnings

import numpy as np

from . import data as _data
from .serialization import Normalization, constant_columns, load_model, predict, save

ACTIVATIONS = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"]


class CliError(Exception):
    """A one-line message for the user; the command exits with status 1."""


def _hidden(text: str) -> list[int]:
    if text.strip() in ("", "none"):
        return []
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise CliError(f"--hidden expects layer sizes like 64,64; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise CliError(f"--hidden sizes must be >= 1, got {text!r} ('' for a linear model)")
    return sizes


def _activation(name: str):
    import densegrad as dg

    return {"relu": dg.nn.ReLU, "leaky_relu": dg.nn.LeakyReLU, "sigmoid": dg.nn.Sigmoid, "tanh": dg.nn.Tanh,
            "identity": dg.nn.Identity}[name]()


def build_mlp(n_in: int, hidden: list[int], n_out: int, activation: str, dtype: str):
    """Sequential(Linear, act, ..., Linear): the regressor ``train`` fits."""
    import densegrad as dg

    mods = []
    width = n_in
    for h in hidden:
        mods += [dg.nn.Linear(width, h, dtype=dtype), _activation(activation)]
        width = h
    mods.append(dg.nn.Linear(width, n_out, dtype=dtype))
    return dg.nn.Sequential(*mods)


def metrics(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(MSE, R²) in the target's units; R² averaged over target columns (NaN when a target is
    constant, where R² is undefined)."""
    mse = float(np.mean((pred - y) ** 2))
    var = y.var(axis=0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r2 = 1.0 - np.mean((pred - y) ** 2, axis=0) / var
    # constant up to rounding, as the normalisation decides (30 rows of 0.1 have a variance of
    # 7.7e-34, and R² was printed as a number)
    r2 = np.where(constant_columns(y), np.nan, r2)
    return mse, float(np.mean(r2))


def _fmt(v: float, spec: str = ".6g") -> str:
    return "n/a" if not np.isfinite(v) else format(v, spec)


def _value(v: float) -> str:
    """How predictions are shown in the console summaries (predict's file has every digit)."""
    return f"{v:.10g}"


def _rows(n: int, what: str) -> str:
    return f"{n} {what} row" + ("" if n == 1 else "s")


def _exact(v: float) -> str:
    """How predict writes a prediction to its CSV: the shortest text that reads back as the same
    float64 (10 significant digits once turned 1700000000125.56 into 1.7e+12)."""
    return repr(float(v))


def _require_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install 'densegrad[plot]' (or pip install matplotlib)") from None
    return plt


def _plot(plt, history, path: str) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    epochs = np.arange(1, len(history.loss) + 1)
    ax.plot(epochs, history.loss, label="training loss")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (standardised target)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        raise CliError(f"--plot {path}: {e}") from None
    finally:
        plt.close(fig)


def cmd_train(args: argparse.Namespace) -> int:
    import densegrad as dg

    if args.demo and args.data:
        raise CliError("give a DATA file or --demo, not both")
    if not args.demo and not args.data:
        raise CliError("give a DATA file (CSV with a header row, or .npz with X and y) or --demo")
    path = str(_data.demo_path()) if args.demo else args.data
    target = args.target if args.target else (_data.DEMO_TARGET if args.demo else None)
    hidden = _hidden(args.hidden)
    for option, v in (("--lr", args.lr), ("--momentum", args.momentum), ("--val-split", args.val_split)):
        if v is not None and not math.isfinite(v):  # argparse's float() takes 'inf' and 'nan'
            raise CliError(f"{option} must be a finite number, got {v}")
    if args.epochs < 0 or args.batch_size < 1:
        raise CliError(f"need --epochs >= 0 and --batch-size >= 1, got {args.epochs} and {args.batch_size}")
    if not 0.0 <= args.val_split < 1.0:
        raise CliError(f"--val-split must be in [0, 1), got {args.val_split}")
    if args.patience is not None and args.patience < 1:
        raise CliError(f"--patience must be >= 1, got {args.patience}")
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, got {args.seed}")
    if args.optimizer == "adam" and args.momentum:
        raise CliError("--momentum applies to --optimizer sgd")
    if args.momentum < 0:
        raise CliError(f"--momentum must be >= 0, got {args.momentum}")
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
    if not lr > 0:
        raise CliError(f"--lr must be > 0, got {lr}")
    if not args.out:
        raise CliError("--out needs a file name")
    if os.path.isdir(args.out):
        raise CliError(f"--out {args.out} is a directory")
    out_dir = os.path.dirname(args.out)
    if out_dir and not os.path.isdir(out_dir):
        raise CliError(f"--out {args.out}: no directory {out_dir}")
    if not args.demo and os.path.exists(args.out) and os.path.exists(path) and os.path.samefile(args.out, path):
        raise CliError(f"--out {args.out} is the data file: it would be overwritten")
    plt = _require_matplotlib() if args.plot else None  # fail before training, not after
    plot_dir = os.path.dirname(args.plot) if args.plot else ""
    if plot_dir and not os.path.isdir(plot_dir):
        raise CliError(f"--plot {args.plot}: no directory {plot_dir}")

    ds = _data.read_xy(path, target, args.features)
    n = ds.x.shape[0]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n)
    n_val = int(round(args.val_split * n))
    if n_val >= n:
        raise CliError(f"{path}: {n} rows leave none for training with --val-split {args.val_split}")
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    try:
        norm = Normalization.fit(ds.x[train_idx], ds.y[train_idx])
    except ValueError as e:  # statistics beyond float64 (values near 1.8e308 of both signs)
        raise CliError(f"{path}: {e}") from None
    xt, yt = norm.transform_x(ds.x[train_idx]), norm.transform_y(ds.y[train_idx])
    val = (norm.transform_x(ds.x[val_idx]), norm.transform_y(ds.y[val_idx])) if n_val else None
    if args.patience is not None and val is None:
        raise CliError("--patience (early stopping) needs validation rows: use --val-split > 0")

    dg.manual_seed(args.seed)
    shape = "-".join(str(v) for v in [ds.x.shape[1], *hidden, ds.y.shape[1]])
    try:
        model = build_mlp(ds.x.shape[1], hidden, ds.y.shape[1], args.activation, args.dtype)
        if args.optimizer == "adam":
            opt = dg.optim.Adam(model.parameters(), lr=lr)
        else:
            opt = dg.optim.SGD(model.parameters(), lr=lr, momentum=args.momentum)
        name = "the demo data (houses.csv)" if args.demo else path
        print(f"Training a {shape} MLP ({args.activation}, {args.dtype}) on {name}: {_rows(len(train_idx), 'training')}, "
              f"{_rows(n_val, 'validation')}; features {', '.join(ds.features)}; target {', '.join(ds.target)}", flush=True)
        history = dg.train.fit(
            model, xt, yt, optimizer=opt, epochs=args.epochs, batch_size=args.batch_size, val=val,
            early_stopping=args.patience, seed=args.seed, progress=not args.no_progress,
        )
    except MemoryError as e:  # NumPy cannot allocate the parameters
        raise CliError(f"the {shape} MLP does not fit in memory" + (f": {e}" if str(e) else "")) from None
    except ValueError as e:  # the C++ core refuses a workspace larger than the machine's memory
        if "memory" not in str(e):
            raise
        raise CliError(f"the {shape} MLP does not fit in memory: {str(e).removeprefix('densegrad: ')}") from None
    bad = [name for name, p in model.named_parameters() if not np.isfinite(p.detach().numpy()).all()]
    if bad:  # a model of NaN/Inf would predict nothing but NaN
        raise CliError(f"training diverged: {bad[0]} holds non-finite values after {history.epochs} epochs "
                       f"(last loss {history.loss[-1] if history.loss else float('nan'):.4g}); nothing was saved. "
                       "Try a smaller --lr")
    model.normalization = norm
    model.columns = {"features": list(ds.features), "target": list(ds.target)}
    try:
        save(model, args.out)
    except OSError as e:
        raise CliError(f"{args.out}: cannot write ({e.strerror})") from None
    if plt is not None:
        _plot(plt, history, args.plot)

    pred_all = predict(model, ds.x)
    rows = [("train", train_idx)] + ([("val", val_idx)] if n_val else [])
    stopped = f", stopped early (best epoch {history.best_epoch})" if history.stopped_early else ""
    how = "fused C++ step" if history.fused else "autograd"
    print()
    print(f"{history.epochs} epochs, {history.steps} steps of batch {args.batch_size} ({args.optimizer}, lr {lr:g}) "
          f"in {history.seconds:.2f} s: {history.steps_per_second:,.0f} steps/s ({how}){stopped}")
    print(f"{'':8}{'MSE':>12} {'R²':>8}")
    for label, idx in rows:
        mse, r2 = metrics(ds.y[idx], pred_all[idx])
        print(f"{label:8}{_fmt(mse):>12} {_fmt(r2, '.4f'):>8}")  # a space even when a number is wide
    k = min(3, n)
    shown = ", ".join(_value(v) for v in pred_all[:k, 0])
    actual = ", ".join(_value(v) for v in ds.y[:k, 0])
    print(f"Predicted {ds.target[0]} for the first {k} rows: {shown} (actual {actual})")
    print(f"Saved the model to {args.out}" + (f" and the loss curves to {args.plot}" if args.plot else ""))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    if args.demo and args.data:
        raise CliError("give a DATA file or --demo, not both")
    if not args.demo and not args.data:
        raise CliError("give a DATA file (CSV with the model's feature columns, or .npz with X) or --demo")
    if args.out is not None and (not args.out or os.path.isdir(args.out)):
        raise CliError("--out needs a file name" if not args.out else f"--out {args.out} is a directory")
    path = str(_data.demo_path()) if args.demo else args.data
    if args.out and os.path.exists(args.out) and os.path.exists(path) and os.path.samefile(args.out, path):
        raise CliError(f"--out {args.out} is the data file: it would be overwritten")
    try:
        mf = load_model(args.model)
    except OSError as e:
        raise CliError(f"{args.model}: cannot read ({e.strerror})") from None
    n_in = mf.model[0].in_features
    features = mf.columns["features"] if mf.columns else None
    x = _data.read_features(path, features, n_in)
    pred = predict(mf.model, x)
    bad = int((~np.isfinite(pred)).any(axis=1).sum())
    if bad:  # written as they are, but not silently
        print(f"densegrad predict: warning: {bad} of {len(pred)} rows have non-finite predictions (inputs far "
              f"outside the training data overflow the model's {mf.model[0].weight.dtype})", file=sys.stderr)
    names = mf.columns["target"] if mf.columns else (["y"] if pred.shape[1] == 1 else [f"y{i}" for i in range(pred.shape[1])])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for row in pred:
        w.writerow([_exact(v) for v in row])
    if args.out is None:
        try:
            sys.stdout.write(buf.getvalue())
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as e:  # e.g. a full disk behind a redirection
            raise CliError(f"cannot write the predictions to standard output ({e.strerror})") from None
        return 0
    try:
        with open(args.out, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
    except OSError as e:
        raise CliError(f"{args.out}: cannot write ({e.strerror})") from None
    k = min(3, len(pred))
    print(f"Wrote {len(pred)} predictions of {', '.join(names)} to {args.out}; first {k}: "
          + ", ".join(_value(v) for v in pred[:k, 0]))
    return 0


def add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train an MLP regressor on a CSV or .npz file and save it",
        description="Train an MLP regressor on a CSV file (a header row, numeric columns) or an .npz "
        "archive (arrays X and y). Inputs and targets are standardised with the training rows' mean and "
        "standard deviation (stored in the model file); mini-batches are shuffled every epoch. Prints a "
        "summary (train/validation MSE and R² in the target's units, time, steps/s) and writes the model "
        "(safetensors, docs/model-format.md).",
        epilog="example: densegrad train --demo --out model.safetensors",
    )
    p.add_argument("data", nargs="?", metavar="DATA", help="a .csv (header row) or .npz (X, y) file")
    p.add_argument("--demo", action="store_true", help="use the demo data set shipped with densegrad (houses.csv, target price_k)")
    p.add_argument("--target", metavar="COL", help="target column(s) of a CSV, comma-separated")
    p.add_argument("--features", metavar="COLS", help="feature columns, comma-separated (default: all other columns)")
    p.add_argument("--hidden", default="64,64", metavar="SIZES", help="hidden layer sizes (default: 64,64; '' for a linear model)")
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS, help="hidden-layer activation (default: relu)")
    p.add_argument("--epochs", type=int, default=100, metavar="N", help="passes over the training rows (default: 100)")
    p.add_argument("--batch-size", type=int, default=32, metavar="B", help="rows per step (default: 32)")
    p.add_argument("--lr", type=float, default=None, metavar="LR", help="learning rate (default: 0.001 for adam, 0.01 for sgd)")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam"], help="default: adam")
    p.add_argument("--momentum", type=float, default=0.0, metavar="M", help="SGD momentum (default: 0)")
    p.add_argument("--val-split", type=float, default=0.2, metavar="F", help="fraction of rows held out for validation (default: 0.2)")
    p.add_argument("--patience", type=int, default=None, metavar="N", help="stop early when the validation loss has not improved for N epochs (keeps the best weights)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed for the initial weights, the split and the shuffling (default: 0)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="parameter dtype (default: float32)")
    p.add_argument("--out", default="model.safetensors", metavar="PATH", help="model file to write (default: model.safetensors)")
    p.add_argument("--plot", metavar="PNG", help="also write the loss curves to this PNG (needs matplotlib: pip install 'densegrad[plot]')")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def add_predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="run a saved model on new rows",
        description="Run a model file written by 'densegrad train' (or dg.save) on the rows of a CSV file "
        "(the columns the model was trained on are picked by name; others are ignored) or an .npz archive "
        "(array X). The stored standardisation is applied. Writes a CSV with one column per target.",
        epilog="example: densegrad predict model.safetensors new_rows.csv --out preds.csv",
    )
    p.add_argument("model", metavar="MODEL", help="a model file (.safetensors)")
    p.add_argument("data", nargs="?", metavar="DATA", help="a .csv or .npz file of input rows")
    p.add_argument("--demo", action="store_true", help="predict the demo data set's rows")
    p.add_argument("--out", metavar="PATH", help="CSV file to write (default: print to stdout)")
    p.set_defaults(func=cmd_predict)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a command reports as one line (no traceback)."""
    from .serialization import ModelFileError

    return (CliError, _data.DataError, ModelFileError)


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; user errors become one line on stderr and exit status 1."""
    start = time.perf_counter()

    def show(message, category, filename, lineno, file=None, line=None):  # one line, no source dump
        print(f"densegrad {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            return args.func(args)
    except BrokenPipeError:  # the reader of the output went away (e.g. `| head -1`): end quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that the exit's flush does not fail again
        except OSError:
            pass
        return 1
    except user_errors() as e:
        print(f"densegrad {args.command}: error: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"densegrad {args.command}: error: {e.filename}: no such file", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"densegrad {args.command}: interrupted after {time.perf_counter() - start:.1f} s", file=sys.stderr)
        return 130


__all__ = ["CliError", "add_predict_parser", "add_train_parser", "build_mlp", "cmd_predict", "cmd_train", "metrics", "run"]
