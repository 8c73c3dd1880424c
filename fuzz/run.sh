#!/usr/bin/env bash
# Bounded fuzzing of densegrad (run by hand, not in CI):
#
#   PYTHON=/path/to/venv/bin/python fuzz/run.sh [SECONDS_PER_TARGET=300] [targets...]
#
# targets (default: all four):
#   cpp     fuzz/fuzz_cpp_api.cpp: libFuzzer over the public C++ API (gemm, dense, activations,
#           MSE, SGD/Adam, MLP training with one reused workspace); clang with
#           -fsanitize=fuzzer,address,undefined, so coverage is the C++ code's own.
#   cpploader  fuzz/fuzz_cpp_loader.cpp: libFuzzer over densegrad::Mlp's model-file reader
#           (load, predict, save, reload), seeded with cpp/tests/data/*.safetensors.
#   core    fuzz/fuzz_core.py: atheris over every densegrad._core entry point (bypassing the
#           Python layer).
#   loader  fuzz/fuzz_model_loader.py: atheris over the model-file loader (dg.load,
#           load_model, read_metadata; a model that loads must predict), seeded with valid
#           files from fuzz/make_corpus.py and the dictionary fuzz/model.dict.
# The two atheris targets import a densegrad built here with clang, ASan + UBSan and
# -fsanitize=fuzzer-no-link (so libFuzzer also sees the C++ module's coverage), with atheris's
# asan_with_fuzzer.so preloaded (it has no C++ UBSan runtime and is newer than Debian's clang
# 14: hence -fno-sanitize=vptr,function). PYTHON needs numpy, safetensors, scikit-build-core,
# pybind11 and atheris (installed here if missing); clang++ must be on PATH (Debian: apt-get install clang).
#
# Corpora grow in build/fuzz/corpus-<target> across runs; a crash leaves its input in
# build/fuzz/crash-<target>-* and stops that target with a non-zero status. Turn each crash into
# a regression test (tests/test_fuzz_regressions.py) before fixing it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_PER_TARGET=${1:-300}
shift || true
TARGETS=${*:-cpp cpploader core loader}
PY=${PYTHON:-python}
OUT=build/fuzz
mkdir -p "$OUT"
step() { echo "== [fuzz ${SECONDS}s] $*"; }
# -Wno-pass-failed: at -O1 clang reports every `#pragma omp simd` loop it leaves scalar
CXXFLAGS_FUZZ="-std=c++17 -O1 -g -fno-omit-frame-pointer -fopenmp-simd -Wno-pass-failed -DDENSEGRAD_X86=1 -Icpp/include"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
status=0

run_target() {  # name, command...: the libFuzzer flags are shared
  local name=$1
  shift
  mkdir -p "$OUT/corpus-$name"
  step "$name: $SECONDS_PER_TARGET s, corpus $OUT/corpus-$name ($(ls "$OUT/corpus-$name" | wc -l) files before)"
  set +e
  "$@" "$OUT/corpus-$name" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
    -artifact_prefix="$OUT/crash-$name-" -rss_limit_mb=4096 -timeout=60 2>&1 | tee "$OUT/$name.log" | grep -E "^(#[0-9]+ +(INITED|DONE|pulse))|stat::|ERROR|Error|Traceback|==[0-9]+==|Done"
  local rc=${PIPESTATUS[0]}
  set -e
  echo "   $name: exit $rc, corpus $(ls "$OUT/corpus-$name" | wc -l) files, $(du -sk "$OUT/corpus-$name" | cut -f1) KiB (log: $OUT/$name.log)"
  [ "$rc" -eq 0 ] || status=1
}

for target in $TARGETS; do
  case $target in
    cpp | cpploader)
      harness=fuzz/fuzz_cpp_api.cpp
      [ "$target" = cpploader ] && harness=fuzz/fuzz_cpp_loader.cpp
      step "build $harness with clang++ (libFuzzer + ASan + UBSan)"
      objs=()
      for src in cpp/src/gemm_reference.cpp cpp/src/gemm.cpp cpp/src/threads.cpp cpp/src/activation.cpp cpp/src/dense.cpp \
                 cpp/src/loss.cpp cpp/src/optim.cpp cpp/src/mlp.cpp cpp/src/json.cpp cpp/src/model.cpp; do
        obj="$OUT/obj/$(basename "$src" .cpp).o"
        mkdir -p "$OUT/obj"
        clang++ $CXXFLAGS_FUZZ $SAN -ffp-contract=off -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
        objs+=("$obj")
      done
      # the AVX2 and AVX-512 files alone get their instruction sets, as in CMakeLists.txt
      clang++ $CXXFLAGS_FUZZ $SAN -ffp-contract=off -fsanitize=fuzzer-no-link -mavx2 -mfma -c cpp/src/gemm_avx2.cpp -o "$OUT/obj/gemm_avx2.o"
      clang++ $CXXFLAGS_FUZZ $SAN -ffp-contract=off -fsanitize=fuzzer-no-link -mavx512f -mavx2 -mfma -c cpp/src/gemm_avx512.cpp \
        -o "$OUT/obj/gemm_avx512.o"
      clang++ $CXXFLAGS_FUZZ $SAN -ffp-contract=off -fsanitize=fuzzer-no-link -mavx2 -c cpp/src/optim_avx2.cpp -o "$OUT/obj/optim_avx2.o"
      clang++ $CXXFLAGS_FUZZ $SAN -fsanitize=fuzzer "$harness" "${objs[@]}" "$OUT/obj/gemm_avx2.o" "$OUT/obj/gemm_avx512.o" \
        "$OUT/obj/optim_avx2.o" -lpthread -o "$OUT/fuzz_$target"
      extra=(-max_len=4096)
      if [ "$target" = cpploader ]; then
        mkdir -p "$OUT/corpus-cpploader"
        cp cpp/tests/data/*.safetensors "$OUT/corpus-cpploader/"
        extra=(-dict=fuzz/model.dict -max_len=65536)
      fi
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        run_target "$target" "$OUT/fuzz_$target" "${extra[@]}"
      ;;
    core | loader)
      if [ ! -f "$OUT/site/.built" ] || [ -n "$(find cpp CMakeLists.txt python -newer "$OUT/site/.built" -type f | head -1)" ]; then
        step "build densegrad with clang++, ASan + UBSan + fuzzer-no-link into $OUT/site"
        "$PY" -m pip install --quiet 'scikit-build-core>=0.11' 'pybind11>=3,<4' atheris safetensors
        rm -rf "$OUT/wheel" "$OUT/site"
        "$PY" -m pip wheel --quiet --no-build-isolation --no-deps -w "$OUT/wheel" . -Cbuild-dir="$OUT/python" \
          -Ccmake.build-type=RelWithDebInfo -Ccmake.define.CMAKE_CXX_COMPILER=clang++ \
          "-Ccmake.define.CMAKE_CXX_FLAGS=$SAN -fsanitize=fuzzer-no-link -fno-sanitize=vptr,function -fno-omit-frame-pointer -g"
        "$PY" -m zipfile -e "$OUT"/wheel/densegrad-*.whl "$OUT/site"
        touch "$OUT/site/.built"
      fi
      ATHERIS_DIR=$("$PY" -c 'import atheris; print(atheris.path())')
      # detect_leaks=0: CPython and NumPy keep allocations until exit by design;
      # allocator_may_return_null=1: an absurd request is NumPy's MemoryError, not an abort.
      export PYTHONPATH="$PWD/$OUT/site" LD_PRELOAD="$ATHERIS_DIR/asan_with_fuzzer.so" \
        ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:halt_on_error=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
      if [ "$target" = loader ]; then
        "$PY" fuzz/make_corpus.py "$OUT/corpus-loader" > /dev/null
        extra=(-dict=fuzz/model.dict -max_len=65536 -len_control=0)  # structural mutants are large
      else
        extra=(-max_len=2048)
      fi
      run_target "$target" "$PY" "fuzz/fuzz_$([ "$target" = core ] && echo core || echo model_loader).py" "${extra[@]}"
      unset PYTHONPATH LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
      ;;
    *) echo "unknown target $target (cpp, cpploader, core, loader)" >&2; exit 2 ;;
  esac
done
exit $status
