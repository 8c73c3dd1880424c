#!/usr/bin/env bash
# Runs densegrad's tests against sanitized builds of the library, the C++ tests and the module:
#   1. ThreadSanitizer: the C++ thread tests (test_core and test_model --threads), then pytest's thread tests;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer: the C++ tests (ctest, LeakSanitizer on),
#      then the whole pytest suite, with the sanitized densegrad._core loaded into the interpreter.
#
#   PYTHON=/path/to/venv/bin/python tests/sanitize.sh [extra pytest args]
#   tests/sanitize.sh --build-only     # only build the ASan + UBSan package (build/sanitize/site-asan)
#
# PYTHON (default: `python` on PATH) is an environment with the test extra installed
# (pip install '.[test]'). Nothing is installed into it except the build tools the build needs
# (scikit-build-core, pybind11): each sanitized package is built as a wheel in
# build/sanitize/{tsan,asan} and unpacked into build/sanitize/site-{tsan,asan}, which goes first
# on PYTHONPATH. So the environment's own densegrad (a regular install) is shadowed for this run
# only and left as it was. An *editable* install cannot be shadowed that way (its import hook
# wins over PYTHONPATH); the script checks which _core was imported and stops if it is not the
# sanitized one -- use a venv without an editable densegrad then (DEVELOPING.md).
#
# Excluded under the sanitizers, on purpose and by name (see the -m expression below):
#   * tests marked `rss`: they measure the process's resident memory, which ASan's shadow
#     memory and free-quarantine make grow by design. Leaks in C++ are checked by LeakSanitizer
#     in the ctest run instead, and reference leaks by the (still included) refcount and
#     tracemalloc tests.
#   * tests marked `vmlimit`: they run a process under an address-space limit, which ASan's and
#     TSan's shadow memory cannot start under.
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

# One CMake build per sanitizer gives both the module (a wheel, unpacked into a site dir) and the
# C++ tests: pip's scikit-build-core configures it with the tests on, so the library is compiled
# once for both, and the module, the library and the tests build side by side (ninja, or make
# with CMAKE_BUILD_PARALLEL_LEVEL, as .ci/run sets). CMAKE_ARGS from the environment reach this
# configure step, and so the C++ tests too.
build_wheel() {  # build_wheel NAME ON|OFF(the C++ tests) -Ccmake.define.X=ON: $OUT/NAME -> $OUT/site-NAME
  local name=$1 tests=$2
  shift 2
  rm -rf "$OUT/wheel-$name" "$OUT/site-$name"
  "$PY" -m pip wheel --quiet --no-build-isolation --no-deps -w "$OUT/wheel-$name" . \
    -Cbuild-dir="$OUT/$name" -Ccmake.build-type="$BUILD_TYPE" -Ccmake.define.DENSEGRAD_BUILD_TESTS="$tests" "$@"
  "$PY" -m zipfile -e "$OUT/wheel-$name"/densegrad-*.whl "$OUT/site-$name"
}
"$PY" -m pip install --quiet 'scikit-build-core>=0.11' 'pybind11>=3,<4'

if [ "$BUILD_ONLY" = 0 ]; then
step "build densegrad and the C++ tests with -DDENSEGRAD_TSAN=ON ($BUILD_TYPE) in $OUT/tsan"
build_wheel tsan ON -Ccmake.define.DENSEGRAD_TSAN=ON
grep -q __tsan_read <<< "$(nm "$OUT"/site-tsan/densegrad/_core*.so)" ||
  { echo "sanitize.sh: the TSan build of _core has no ThreadSanitizer instrumentation" >&2; exit 1; }

step "C++ thread tests (test_core --threads, test_model --threads) with ThreadSanitizer"
# test_core's concurrent-callers test runs GEMMs and training steps from 4 threads at once, with
# the pool split forced on and off; any data race reported is fatal.
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" "$OUT/tsan/test_core" --threads
# test_model's: 4 threads predicting with one Mlp, each in a workspace of its own.
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" "$OUT/tsan/test_model" --threads

step "pytest's thread tests under ThreadSanitizer (tests/test_concurrency.py, tests/test_kernels_threads.py)"
# Only _core is instrumented; TSan sees Python's and the pool's locking through its pthread
# interceptors. OpenBLAS's own threads synchronise in ways TSan cannot see (false reports from
# NumPy's copies), so NumPy's BLAS runs single-threaded here. The `racy` test races on purpose.
# The two block-edge sweeps are left out: every product in them is below the threading threshold
# (at most 241 x 33 x 513 = 4.1M multiply-adds, under 2^23), so they run on one thread and TSan
# has nothing to check in them (they took ~50 s of this step's ~180); they run under ASan below
# and in the plain suite.
(
  export LD_PRELOAD="$(g++ -print-file-name=libtsan.so) $(g++ -print-file-name=libstdc++.so)${LD_PRELOAD:+ $LD_PRELOAD}"
  export TSAN_OPTIONS="halt_on_error=1" OPENBLAS_NUM_THREADS=1 PYTHONPATH="$PWD/$OUT/site-tsan${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" - "$PWD/$OUT/site-tsan" <<'EOF'
import sys, densegrad
where = densegrad._core.__file__
assert where.startswith(sys.argv[1]), f"imported {where}, not the TSan build (an editable install?)"
EOF
  "$PY" -m pytest -q -p no:cacheprovider --capture=sys -m "not racy and not vmlimit" \
    -k "not test_gemm_block_edges and not test_avx512_is_bitwise_avx2" tests/test_concurrency.py tests/test_kernels_threads.py
)
fi

TESTS=$([ "$BUILD_ONLY" = 0 ] && echo ON || echo OFF)
step "build densegrad (C++ tests $TESTS) with -DDENSEGRAD_SANITIZE=ON ($BUILD_TYPE) in $OUT/asan"
build_wheel asan "$TESTS" -Ccmake.define.DENSEGRAD_SANITIZE=ON
if [ "$BUILD_ONLY" = 0 ]; then
  step "C++ tests (ctest) with ASan + UBSan + LeakSanitizer"
  # the ctest of the cmake that scikit-build-core used (not necessarily the one on PATH)
  CTEST=$(sed -n 's/^CMAKE_CTEST_COMMAND:INTERNAL=//p' "$OUT/asan/CMakeCache.txt")
  ASAN_OPTIONS="$ASAN_COMMON:detect_leaks=1" "${CTEST:-ctest}" --test-dir "$OUT/asan" --output-on-failure
fi

SO=$(ls "$OUT"/site-asan/densegrad/_core*.so)
# linked with libasan and really instrumented (memory accesses checked, UB handlers present);
# outputs are captured first (grep -q closing a pipe early would trip pipefail)
LINKED=$(ldd "$SO"); SYMS=$(nm "$SO")
grep -q libasan <<< "$LINKED" || { echo "sanitize.sh: $SO is not linked with libasan" >&2; exit 1; }
grep -q __asan_report_load <<< "$SYMS" && grep -q __ubsan_handle <<< "$SYMS" ||
  { echo "sanitize.sh: $SO has no ASan/UBSan instrumentation" >&2; exit 1; }

export LD_PRELOAD="$LIBASAN $LIBSTDCXX${LD_PRELOAD:+ $LD_PRELOAD}"
export ASAN_OPTIONS="$ASAN_COMMON:detect_leaks=0"
export PYTHONPATH="$PWD/$OUT/site-asan${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - "$PWD/$OUT/site-asan" <<'EOF'
import sys, densegrad
where = densegrad._core.__file__
assert where.startswith(sys.argv[1]), f"imported {where}, not the sanitized build (an editable install?)"
print("sanitized module:", where)
EOF
if [ "$BUILD_ONLY" = 1 ]; then exit 0; fi

step "pytest under ASan + UBSan (LD_PRELOAD=$LD_PRELOAD), excluding the rss and vmlimit tests"
# --capture=sys: pytest captures Python-level output only, so a sanitizer report (written to
# file descriptor 2 just before the process stops) reaches the terminal instead of a capture file.
set +e
"$PY" -m pytest -p no:cacheprovider --capture=sys -m "not rss and not vmlimit" "$@"
rc=$?
set -e
step "pytest under sanitizers exit $rc"
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests (exit 5): treating as failure" >&2; exit 1; fi
exit "$rc"
