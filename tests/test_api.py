"""The package's surface: a docstring on every public name, the py.typed marker, and stubs for
densegrad._core that name everything the extension exports."""

from __future__ import annotations

import ast
import inspect
from importlib import resources

import densegrad as dg

MODULES = [dg, dg.nn, dg.nn.functional, dg.nn.init, dg.optim, dg.train, dg.serialization, dg.data, dg.viz, dg.interop]


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:  # a module of functions (nn.init): what it defines without a leading _
        names = [n for n, v in vars(module).items() if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]
    for name in names:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue
        yield f"{module.__name__}.{name}", obj


def test_every_public_name_has_a_docstring():
    missing = []
    for m in MODULES:
        if not inspect.getdoc(m):
            missing.append(m.__name__)
        for qual, obj in _public(m):
            if not (inspect.isclass(obj) or callable(obj)):
                continue
            if not inspect.getdoc(obj):
                missing.append(qual)
            if inspect.isclass(obj):
                for attr in dir(obj):
                    if attr.startswith("_"):
                        continue
                    static = inspect.getattr_static(obj, attr)
                    target = static if isinstance(static, property) else getattr(obj, attr)
                    if (callable(target) or isinstance(target, property)) and not inspect.getdoc(target):
                        missing.append(f"{qual}.{attr}")
    assert not missing, missing


def test_py_typed_and_core_stubs_are_shipped():
    pkg = resources.files("densegrad")
    assert (pkg / "py.typed").is_file()
    stub = (pkg / "_core.pyi").read_text(encoding="utf-8")
    tree = ast.parse(stub)
    declared = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    exported = {n for n in dir(dg._core) if not n.startswith("_")}
    assert exported - declared == set(), f"regenerate python/densegrad/_core.pyi (pybind11-stubgen): missing {exported - declared}"
    assert declared - exported == set(), f"stale names in _core.pyi: {declared - exported}"


def test_submodules_load_on_first_use():
    # `import densegrad` leaves data, interop, serialization, train and viz (and what they import)
    # for first use; attribute access, `from densegrad import ...` and dir() still find them.
    import subprocess
    import sys

    code = (
        "import sys, densegrad as dg\n"
        "lazy = ['densegrad.' + m for m in dg._LAZY_MODULES]\n"
        "print(sorted(m for m in lazy if m in sys.modules))\n"
        "from densegrad import save, load\n"
        "print(save is dg.serialization.save, load is dg.serialization.load, dg.train.Trainer.__name__)\n"
        "print(all(hasattr(dg, m) and m in dir(dg) for m in dg.__all__))\n"
        "try:\n"
        "    dg.no_such_name\n"
        "except AttributeError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [
        "[]",
        "True True Trainer",
        "True",
        "module 'densegrad' has no attribute 'no_such_name'",
    ]
    assert set(dg._LAZY_MODULES) == {"data", "interop", "serialization", "train", "viz"}
