"""The densegrad command line: ``python -m densegrad <command>`` (also the ``densegrad`` script).

Commands:
  example   the backprop-by-example walkthrough of the four seed networks
"""

from __future__ import annotations

import argparse
import runpy
import sys
from importlib import resources


def _cmd_example(args: argparse.Namespace) -> int:
    # The walkthrough is examples/backprop_by_example.py, shipped inside the package.
    path = resources.files("densegrad") / "examples" / "backprop_by_example.py"
    with resources.as_file(path) as p:
        runpy.run_path(str(p), run_name="__main__")
    return 0


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
