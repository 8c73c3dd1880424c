"""Regenerate python/densegrad/_core.pyi from the built extension (run after changing
cpp/bindings/module.cpp):

    pip install pybind11-stubgen==3.0.0 && python tools/make_stubs.py

pybind11-stubgen writes a signature as pybind11 reports it. When a binding gives an argument a
default but not a later one (adam_step: max_exp_avg_sq=None, then step), that is not valid
Python, so such earlier defaults are dropped here: the stub then asks for the argument, which a
positional call has to pass anyway.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _split_params(params: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in params:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def fix_defaults(line: str) -> str:
    m = re.match(r"^(\s*def \w+\()(.*)(\) -> .*:)$", line)
    if not m:
        return line
    params = _split_params(m.group(2))
    last_required = max((i for i, p in enumerate(params) if "=" not in p and p not in ("*", "/") and not p.startswith("*")), default=-1)
    fixed = [p.split(" = ")[0] if i < last_required and " = " in p else p for i, p in enumerate(params)]
    return m.group(1) + ", ".join(fixed) + m.group(3)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pybind11_stubgen", "densegrad._core", "-o", tmp,
                        "--enum-class-locations", "Activation:densegrad._core", "--enum-class-locations", "Reduction:densegrad._core"], check=True)
        text = (Path(tmp) / "densegrad" / "_core.pyi").read_text(encoding="utf-8")
    text = "\n".join(fix_defaults(line) for line in text.split("\n"))
    ast.parse(text)  # must be valid Python
    out = ROOT / "python" / "densegrad" / "_core.pyi"
    out.write_text(text, encoding="utf-8")
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
