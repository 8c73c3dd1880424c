"""Run densegrad's benchmarks and print their tables (``python bench/run.py`` or
``python -m densegrad bench``).

    python bench/run.py [--quick] [--dtype float32|float64|both] [--only train|gemm|small|threads|optim]
                        [--optimizer sgd|adam] [--repeats N] [--json out.json] [--no-torch]

NumPy's OpenBLAS is slowed by OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE when they are set; this
script restarts itself without them (and says so), and pins OpenBLAS to one thread so every
one-thread comparison is one thread against one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from common import OPENBLAS_VARS


def _restart_without_openblas_vars(argv: list[str]) -> None:
    if "numpy" in sys.modules:
        return  # too late to change how OpenBLAS starts; main() reports what is still set
    present = [v for v in OPENBLAS_VARS if v in os.environ]
    if not present and os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        return
    env = dict(os.environ)
    for v in present:
        del env[v]
        env["DENSEGRAD_BENCH_UNSET_" + v] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    # This file with the arguments main() was given (sys.argv is the caller's when main(argv) is
    # called from other code, e.g. `python -c`).
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv], env)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=os.environ.get("DENSEGRAD_BENCH_PROG"), description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small cases and few repeats (a smoke test)")
    ap.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    ap.add_argument("--only", choices=["train", "gemm", "small", "threads", "optim"], help="run one of the tables")
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                    help="the training steps' optimizer (default sgd; lr 1e-3, Adam's default betas)")
    ap.add_argument("--cases", help="comma-separated training cases to run (seed,tiny,small,medium,large)")
    ap.add_argument("--repeats", type=int, default=None, help="rounds per case (default 7, quick 3)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    if args.cases and args.only not in (None, "train"):
        ap.error(f"--cases picks training cases: it does not apply to --only {args.only}")
    _restart_without_openblas_vars(argv)

    import bench_gemm
    import bench_optim
    import bench_train
    from common import environment

    only = [c for c in args.cases.split(",") if c] if args.cases else None
    if unknown := bench_train.unknown_cases(only):  # before any work is done
        ap.error(f"--cases: unknown {', '.join(sorted(unknown))} (the cases are {','.join(bench_train.CASE_NAMES)})")

    torch = None
    if not args.no_torch:
        try:
            import torch  # noqa: F811  (optional: compared against when installed)
        except ImportError:
            print("PyTorch is not installed: its columns are left out (pip install torch==2.13.0)")
    repeats = args.repeats or (3 if args.quick else 7)
    env = environment(torch)
    unset, still_set = env["openblas_vars_unset"], env["openblas_vars_set"]
    numpy_side = ("openblas_vars_unset", "openblas_vars_set", "openblas_pinned")
    print("densegrad benchmarks:", ", ".join(f"{k}={v}" for k, v in env.items() if k not in numpy_side))
    # Done by the restart above; not when NumPy was imported before main() ran (then it is too late)
    late = "NumPy was imported before the bench could change its environment"
    print("NumPy side: " + (f"unset {', '.join(unset)}; " if unset else "")
          + (f"{', '.join(f'{v}={os.environ[v]}' for v in still_set)} still set ({late}); " if still_set else "")
          + ("OpenBLAS pinned to 1 thread" if env["openblas_pinned"] else
             f"OpenBLAS NOT pinned to 1 thread ({late})"))
    out = {"environment": env, "train": [], "gemm": [], "small": [], "threads": None, "optim": []}
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    for dt in dtypes:
        if args.only in (None, "train"):
            r = bench_train.run(dt, repeats, args.quick, torch, only, args.optimizer)
            print("\n" + r.pop("text"))
            out["train"].append(r)
        if args.only in (None, "gemm"):
            r = bench_gemm.run(dt, repeats, args.quick, torch)
            print("\n" + r.pop("text"))
            out["gemm"].append(r)
        if args.only in (None, "small"):
            r = bench_gemm.run_small(dt, repeats, args.quick)
            print("\n" + r.pop("text"))
            out["small"].append(r)
        if args.only in (None, "optim"):
            r = bench_optim.run(dt, repeats, args.quick, torch)
            print("\n" + r.pop("text"))
            out["optim"].append(r)
    if args.only in (None, "threads"):
        r = bench_gemm.run_threads(repeats, args.quick)
        print("\n" + r.pop("text"))
        out["threads"] = r
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
