"""Regenerate python/densegrad/datasets/houses.csv, the demo data set, from
densegrad.data.make_houses (deterministic: NumPy's PCG64 with a fixed seed):

    python tools/make_houses.py            # rewrite the shipped file
    python tools/make_houses.py --check    # exit 1 if it differs from what the generator gives

It imports the densegrad installed in the running Python (an editable install of this checkout
for development). tests/test_data.py checks that the shipped file is what the generator gives.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from densegrad.data import make_houses

SHIPPED = Path(__file__).resolve().parents[1] / "python" / "densegrad" / "datasets" / "houses.csv"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] + " " + __doc__.splitlines()[1])
    ap.add_argument("--out", type=Path, default=SHIPPED, help=f"where to write (default: {SHIPPED})")
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = ap.parse_args(argv)
    text = make_houses()
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'differs from the generator'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
