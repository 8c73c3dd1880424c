#!/usr/bin/env bash
# Runs densegrad's tests against an AddressSanitizer + UndefinedBehaviorSanitizer build:
#   1. the C++ tests (ctest), with LeakSanitizer on; their thread tests built with ThreadSanitizer;
#   2. the pytest suite, with the sanitized densegrad._core loaded into the interpreter.
#
#   PYTHON=/path/to/venv/bin/python tests/sanitize.sh [extra pytest args]
#   tests/sanitize.sh --build-only     # only build the sanitized package (fuzz/run.sh uses it)
#
# PYTHON (default: `python` on PATH) is an environment with the test extra installed
# (pip install '.[test]'). Nothing is installed into it except the build tools the build needs
# (scikit-build-core, pybind11): the sanitized package is built as a wheel in build/sanitize/
# and unpacked into build/sanitize/site, which goes first on PYTHONPATH. So the environment's
# own densegrad (a regular install) is shadowed for this run only and left as it was. An
# *editable* install cannot be shadowed that way (its import hook wins over PYTHONPATH); the
# script checks which _core was imported and stops if it is not the sanitized one -- use a
# venv without an editable densegrad then (DEVELOPING.md).
#
# Excluded under the sanitizers, on purpose and by name (see the -m expression below):
#   * tests marked `rss`: they measure the process's resident memory, which ASan's shadow
#     memory and free-quarantine make grow by design. Leaks in C++ are checked by LeakSanitizer
#     in step 1 instead, and reference leaks by the (still included) refcount/tracemalloc tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python}
OUT=${SANITIZE_DIR:-build/sanitize}
BUILD_TYPE=${SANITIZE_BUILD_TYPE:-RelWithDebInfo}   # -O2 -g: Debug (-O0) makes the GEMM tests crawl
step() { echo "== [sanitize ${SECONDS}s] $*"; }

LIBASAN=$(g++ -print-file-name=libasan.so)
# libstdc++ is preloaded too: python itself does not link it, and without it ASan's __cxa_throw
# interceptor finds no real __cxa_throw and aborts on the first C++ exception ("CHECK failed:
# asan_interceptors.cpp ... real___cxa_throw").
LIBSTDCXX=$(g++ -print-file-name=libstdc++.so)
[ -f "$LIBASAN" ] && [ -f "$LIBSTDCXX" ] || { echo "sanitize.sh: g++ lacks $LIBASAN or $LIBSTDCXX" >&2; exit 1; }
# detect_leaks=0 for Python: CPython and NumPy keep allocations alive until exit by design.
# allocator_may_return_null=1: an absurd allocation request returns NULL (NumPy then raises
# MemoryError, which the boundary tests check) instead of ASan aborting the process. ASan still
# prints "WARNING: AddressSanitizer failed to allocate 0x... bytes" for each: expected, from
# tests/test_hostile.py's terabyte-sized requests.
ASAN_COMMON="abort_on_error=0:halt_on_error=1:strict_string_checks=1:check_initialization_order=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then BUILD_ONLY=1; shift; fi
mkdir -p "$OUT"

if [ "$BUILD_ONLY" = 0 ]; then
step "C++ tests (ctest) with ASan + UBSan + LeakSanitizer"
cmake -S . -B "$OUT/cpp" -G Ninja -DDENSEGRAD_BUILD_TESTS=ON -DDENSEGRAD_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE="$BUILD_TYPE" > "$OUT/cpp-configure.log" 2>&1 || { cat "$OUT/cpp-configure.log"; exit 1; }
cmake --build "$OUT/cpp"
ASAN_OPTIONS="$ASAN_COMMON:detect_leaks=1" ctest --test-dir "$OUT/cpp" --output-on-failure

step "C++ thread tests (test_core --threads) with ThreadSanitizer"
# test_core's concurrent-callers test runs GEMMs and training steps from 4 threads at once, with
# the pool split forced on and off; any data race reported is fatal.
cmake -S . -B "$OUT/cpp-tsan" -G Ninja -DDENSEGRAD_BUILD_TESTS=ON -DDENSEGRAD_TSAN=ON \
  -DCMAKE_BUILD_TYPE="$BUILD_TYPE" > "$OUT/cpp-tsan-configure.log" 2>&1 || { cat "$OUT/cpp-tsan-configure.log"; exit 1; }
cmake --build "$OUT/cpp-tsan" --target test_core
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" "$OUT/cpp-tsan/test_core" --threads

step "build densegrad with -DDENSEGRAD_TSAN=ON ($BUILD_TYPE) into $OUT/site-tsan"
"$PY" -m pip install --quiet 'scikit-build-core>=0.11' 'pybind11>=3,<4'
rm -rf "$OUT/wheel-tsan" "$OUT/site-tsan"
"$PY" -m pip wheel --quiet --no-build-isolation --no-deps -w "$OUT/wheel-tsan" . \
  -Cbuild-dir="$OUT/python-tsan" -Ccmake.build-type="$BUILD_TYPE" -Ccmake.define.DENSEGRAD_TSAN=ON
"$PY" -m zipfile -e "$OUT"/wheel-tsan/densegrad-*.whl "$OUT/site-tsan"
grep -q __tsan_read <<< "$(nm "$OUT"/site-tsan/densegrad/_core*.so)" ||
  { echo "sanitize.sh: the TSan build of _core has no ThreadSanitizer instrumentation" >&2; exit 1; }
step "pytest's thread tests under ThreadSanitizer (tests/test_concurrency.py, tests/test_kernels_threads.py)"
# Only _core is instrumented; TSan sees Python's and the pool's locking through its pthread
# interceptors. OpenBLAS's own threads synchronise in ways TSan cannot see (false reports from
# NumPy's copies), so NumPy's BLAS runs single-threaded here. The `racy` test races on purpose.
# The two block-edge sweeps are left out: every product in them is below the threading threshold
# (at most 241 x 33 x 513 < 4M multiply-adds), so they run on one thread and TSan has nothing to
# check in them (they took ~50 s of this step's ~180); they run under ASan below and in the
# plain suite.
(
  export LD_PRELOAD="$(g++ -print-file-name=libtsan.so) $(g++ -print-file-name=libstdc++.so)${LD_PRELOAD:+ $LD_PRELOAD}"
  export TSAN_OPTIONS="halt_on_error=1" OPENBLAS_NUM_THREADS=1 PYTHONPATH="$PWD/$OUT/site-tsan${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" - "$PWD/$OUT/site-tsan" <<'EOF'
import sys, densegrad
where = densegrad._core.__file__
assert where.startswith(sys.argv[1]), f"imported {where}, not the TSan build (an editable install?)"
EOF
  "$PY" -m pytest -q -p no:cacheprovider --capture=sys -m "not racy" \
    -k "not test_gemm_block_edges and not test_avx512_is_bitwise_avx2" tests/test_concurrency.py tests/test_kernels_threads.py
)
fi

step "build densegrad with -DDENSEGRAD_SANITIZE=ON ($BUILD_TYPE) into $OUT/site"
"$PY" -m pip install --quiet 'scikit-build-core>=0.11' 'pybind11>=3,<4'
rm -rf "$OUT/wheel" "$OUT/site"
"$PY" -m pip wheel --quiet --no-build-isolation --no-deps -w "$OUT/wheel" . \
  -Cbuild-dir="$OUT/python" -Ccmake.build-type="$BUILD_TYPE" -Ccmake.define.DENSEGRAD_SANITIZE=ON
"$PY" -m zipfile -e "$OUT"/wheel/densegrad-*.whl "$OUT/site"
SO=$(ls "$OUT"/site/densegrad/_core*.so)
# linked with libasan and really instrumented (memory accesses checked, UB handlers present);
# outputs are captured first (grep -q closing a pipe early would trip pipefail)
LINKED=$(ldd "$SO"); SYMS=$(nm "$SO")
grep -q libasan <<< "$LINKED" || { echo "sanitize.sh: $SO is not linked with libasan" >&2; exit 1; }
grep -q __asan_report_load <<< "$SYMS" && grep -q __ubsan_handle <<< "$SYMS" ||
  { echo "sanitize.sh: $SO has no ASan/UBSan instrumentation" >&2; exit 1; }

export LD_PRELOAD="$LIBASAN $LIBSTDCXX${LD_PRELOAD:+ $LD_PRELOAD}"
export ASAN_OPTIONS="$ASAN_COMMON:detect_leaks=0"
export PYTHONPATH="$PWD/$OUT/site${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - "$PWD/$OUT/site" <<'EOF'
import sys, densegrad
where = densegrad._core.__file__
assert where.startswith(sys.argv[1]), f"imported {where}, not the sanitized build (an editable install?)"
print("sanitized module:", where)
EOF
if [ "$BUILD_ONLY" = 1 ]; then exit 0; fi

step "pytest under ASan + UBSan (LD_PRELOAD=$LD_PRELOAD), excluding the rss tests"
# --capture=sys: pytest captures Python-level output only, so a sanitizer report (written to
# file descriptor 2 just before the process stops) reaches the terminal instead of a capture file.
set +e
"$PY" -m pytest -p no:cacheprovider --capture=sys -m "not rss" "$@"
rc=$?
set -e
step "pytest under sanitizers exit $rc"
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests (exit 5): treating as failure" >&2; exit 1; fi
exit "$rc"
