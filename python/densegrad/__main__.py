"""The densegrad command line: ``python -m densegrad <command>`` (also the ``densegrad`` script).

Commands:
  example   the backprop-by-example walkthrough of the four seed networks
  bench     the benchmark suite (bench/run.py): training steps and GEMMs vs PyTorch and NumPy
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
from importlib import resources


def _cmd_example(args: argparse.Namespace) -> int:
    # The walkthrough is examples/backprop_by_example.py, shipped inside the package.
    path = resources.files("densegrad") / "examples" / "backprop_by_example.py"
    with resources.as_file(path) as p:
        runpy.run_path(str(p), run_name="__main__")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    # A fresh interpreter: the benchmarks must set up NumPy's OpenBLAS before NumPy is imported,
    # and this process has imported it already.
    path = resources.files("densegrad") / "bench" / "run.py"
    with resources.as_file(path) as p:
        env = dict(os.environ)
        return subprocess.call([sys.executable, str(p), *args.bench_args], env=env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="densegrad", description="densegrad: a small, fast autograd core for dense networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    ex = sub.add_parser(
        "example",
        help="walk through backpropagation on the four seed networks, checked against hand calculation",
        description="Backpropagation by example: forward values, loss and every gradient of four tiny ReLU/MSE "
        "networks, each gradient worked out by the chain rule next to densegrad's autograd result.",
    )
    ex.set_defaults(func=_cmd_example)
    be = sub.add_parser(
        "bench",
        help="benchmark training steps and GEMMs against PyTorch eager and NumPy",
        description="Run the benchmark suite; options after 'bench' are passed to it "
        "(--quick, --dtype, --only train|gemm, --repeats N, --json PATH, --no-torch; see --help).",
        add_help=False,
    )
    be.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # `bench` forwards everything after it to bench/run.py, which has its own options.
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra
    elif extra:
        parser.error("unrecognized arguments: " + " ".join(extra))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
