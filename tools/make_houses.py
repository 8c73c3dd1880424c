"""Regenerate python/densegrad/datasets/houses.csv, the demo data set, from
densegrad.data.make_houses (deterministic: NumPy's PCG64 with a fixed seed):

    python tools/make_houses.py

tests/test_data.py checks that the shipped file is what the generator gives.
"""

from __future__ import annotations

from pathlib import Path

from densegrad.data import make_houses

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "python" / "densegrad" / "datasets" / "houses.csv"
    out.write_text(make_houses(), encoding="utf-8")
    print("wrote", out)
