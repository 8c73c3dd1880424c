"""The densegrad command line: ``python -m densegrad <command>`` (also the ``densegrad`` script).

Commands (each has --help):
  example   the backprop-by-example walkthrough of the four seed networks
  train     train an MLP regressor on a CSV or .npz file (or --demo) and save the model
  predict   run a saved model on new rows
  bench     the benchmark suite (bench/run.py): training steps and GEMMs vs PyTorch and NumPy
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
from importlib import resources

from . import __version__, _cli


def _cmd_example(args: argparse.Namespace) -> int:
    # The walkthrough is examples/backprop_by_example.py, shipped inside the package.
    path = resources.files("densegrad") / "examples" / "backprop_by_example.py"
    with resources.as_file(path) as p:
        ns = runpy.run_path(str(p), run_name="densegrad_example")
    return ns["main"](check_torch=args.check_torch, graph_dir=args.graphs)


def _cmd_bench(args: argparse.Namespace) -> int:
    # A fresh interpreter: the benchmarks must set up NumPy's OpenBLAS before NumPy is imported,
    # and this process has imported it already.
    path = resources.files("densegrad") / "bench" / "run.py"
    with resources.as_file(path) as p:
        env = dict(os.environ, DENSEGRAD_BENCH_PROG="densegrad bench")  # its --help's usage line
        return subprocess.call([sys.executable, str(p), *args.bench_args], env=env)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m densegrad``."""
    parser = argparse.ArgumentParser(
        prog="densegrad",
        description="densegrad: a small, fast autograd core for dense networks.",
        epilog="Run 'densegrad COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"densegrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    ex = sub.add_parser(
        "example",
        help="walk through backpropagation on the four seed networks, checked against hand calculation",
        description="Backpropagation by example: forward values, loss and every gradient of four tiny ReLU/MSE "
        "networks, each gradient worked out by the chain rule next to densegrad's autograd result.",
    )
    ex.add_argument("--check-torch", action="store_true", help="also run each network in PyTorch (when installed) and compare")
    ex.add_argument("--graphs", metavar="DIR", help="write each network's autograd graph to DIR as Graphviz DOT (and SVG when Graphviz is installed)")
    ex.set_defaults(func=_cmd_example)
    _cli.add_train_parser(sub)
    _cli.add_predict_parser(sub)
    be = sub.add_parser(
        "bench",
        help="benchmark training steps and GEMMs against PyTorch eager and NumPy",
        description="Run the benchmark suite; options after 'bench' are passed to it "
        "(--quick, --dtype, --only train|gemm|small|threads|optim, --optimizer sgd|adam, --repeats N, --json PATH, --no-torch; see 'densegrad bench --help').",
        add_help=False,
    )
    be.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse argv (default: sys.argv[1:]) and run the command; returns the exit status."""
    parser = build_parser()
    # `bench` forwards everything after it to bench/run.py, which has its own options.
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra
    elif extra:
        parser.error("unrecognized arguments: " + " ".join(extra))
    return _cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
