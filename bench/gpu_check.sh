#!/usr/bin/env bash
# gpu_check.sh: the one script to run on a lent GPU machine (see bench/GPU.md). In the repo root:
#   1. environment report (GPU, nvcc, cmake, cuDNN, which libraries the machine has) -> env.txt
#   2. unpacks .deps/gpu-deps.tar.xz (made here by bench/fetch_gpu_deps.sh) outside the repo and
#      points CMake, pkg-config, PATH (hdf5-tools) and the loader at it; finds cuDNN
#   3. configure + build: the CUDA library, then each GPU target on its own (one that fails to
#      build does not stop the others)                                           -> build.log
#   4. the existing CUDA tests, each with its own time limit and log: test_cuda_ops (every op,
#      the perturbation ops included), test_cuda_nets, test_cuda_backward, test_cuda_backward_host, cli_cuda
#                                                                    -> ctest_<name>.log
#   5. the 8-bit precisions: test_cuda_quant_host, test_cuda_quant, test_cuda_quant_nets
#      (PC_QUANT_VERBOSE=1: cuDNN's
#      engine refusals and choices in the log)                         -> ctest_<name>.log
#   6. bench_gpu runs (BENCH_RUNS below): forward rates of fp32 / fp16 / fp8 / int8 side by side
#      with the whole-paper projection, the Table-1 workload per precision with its AUC drift
#      against fp32, forward at batch 512                                  -> bench.log, bench.csv
#   7. when a GPU test failed: compute-sanitizer memcheck of test_cuda_ops / test_cuda_quant
#                                                                    -> sanitizer_<name>.log
#   8. the rest of the suite (CPU and CLI tests), if asked for                    -> ctest_all.log
#   and a summary line per test / run, with its FAIL lines                        -> summary.txt
# Each part has its own time limit; the script watches a total deadline (PC_GPU_DEADLINE seconds,
# default 450) and keeps time for the later parts (the existing tests leave 210 s for 5 and 6): a
# part that would start too late is skipped and says so. A failing part does not stop the later
# ones (only a failed configure or CUDA library build ends the script). Output files go to $OUT.
# Environment: OUT (default /tmp/out), PC_GPU_BUILD (build dir, default /tmp/build_gpu),
# PC_GPU_PHASES (default "build cuda quant bench sanitize"; add "all" for the CPU suite),
# PC_BENCH_ARGS (bench_gpu runs instead of BENCH_RUNS, separated by ';'), PC_JOBS (build jobs,
# default: all cores).
# Device tool: run(command="bash bench/gpu_check.sh", carry=[".deps"], timeout_s=540)
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
BUILD=${PC_GPU_BUILD:-/tmp/build_gpu}
PHASES=${PC_GPU_PHASES:-build cuda quant bench sanitize}
DEADLINE=${PC_GPU_DEADLINE:-450}
JOBS=${PC_JOBS:-$(nproc)}
DEPS_TAR="$REPO/.deps/gpu-deps.tar.xz"
DEPS_ROOT=${PC_DEPS_ROOT:-/tmp/polycam-gpu-deps}
T0=$(date +%s)
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
say() { echo "[gpu_check +$(($(date +%s) - T0))s] $*" | tee -a "$SUMMARY"; }
want() { [[ " $PHASES " == *" $1 "* ]]; }
# left: seconds until the deadline; limit <wanted>: a phase's time limit, cut to what is left
left() { echo $((DEADLINE - ($(date +%s) - T0))); }
limit() { local l; l=$(left); [ "$1" -lt "$l" ] && echo "$1" || echo "$l"; }
late() {   # late <phase> <minimum seconds>: true (and says so) when too little time is left
  if [ "$(left)" -lt "$2" ]; then say "$1: skipped, $(left) s left before the deadline"; return 0; fi
  return 1
}

# ---- 1. environment -----------------------------------------------------------------------------
{
  echo "== date"; date -u
  echo "== nvidia-smi"; nvidia-smi 2>&1 || echo "no nvidia-smi"
  echo "== nvcc"; nvcc --version 2>&1 || /usr/local/cuda/bin/nvcc --version 2>&1
  echo "== cmake"; cmake --version 2>&1 | head -1
  echo "== cc"; cc --version 2>&1 | head -1
  echo "== os"; head -2 /etc/os-release
  echo "== libraries on the loader path"
  ldconfig -p | grep -E "cudnn|cublas|cudart|nvrtc|hdf5|jpeg|openblas|inih|curl|gfortran|libsz|libaec" || true
  echo "== cudnn.h / libcudnn"
  find / -xdev \( -name 'cudnn.h' -o -name 'libcudnn.so*' \) 2>/dev/null | head -20
} >"$OUT/env.txt" 2>&1
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  say "GPU: $(nvidia-smi -L | head -1)"
else
  say "no GPU visible: the CUDA tests will skip and bench_gpu will report no device"
fi

# ---- 2. dependencies ----------------------------------------------------------------------------
if [ ! -f "$DEPS_ROOT/PACKAGES.txt" ]; then
  if [ ! -f "$DEPS_TAR" ]; then
    say "missing $DEPS_TAR: run bench/fetch_gpu_deps.sh first and carry .deps"
    exit 1
  fi
  mkdir -p "$DEPS_ROOT"
  if ! tar -C "$DEPS_ROOT" -xJf "$DEPS_TAR" 2>/dev/null; then
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$DEPS_TAR" "$DEPS_ROOT" ||
      { say "cannot unpack $DEPS_TAR"; exit 1; }
  fi
fi
U="$DEPS_ROOT/usr"
A="$U/lib/x86_64-linux-gnu"
# The loader overlay: the libraries whose headers we build against always come from .deps (jpeg62,
# HDF5 1.10.8, inih, OpenBLAS); their run-time dependencies only when the machine has none, so
# that system tools (cmake, ctest) keep their own libcurl / libssl.
OV="$DEPS_ROOT/overlay"
rm -rf "$OV"
mkdir -p "$OV"
has_lib() {   # soname present on this machine (and the file really there)?
  local p
  p=$(ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n {print $NF; exit}')
  [ -n "$p" ] && [ -e "$p" ]
}
for f in "$A"/*.so.* "$DEPS_ROOT"/lib/x86_64-linux-gnu/*.so.* "$A"/openblas-pthread/libopenblas.so.0; do
  [ -e "$f" ] || continue
  base=$(basename "$f")
  case "$base" in
    libjpeg.so.62* | libhdf5_serial* | libinih* | libINIReader* | libopenblas* | libsz.so* | libaec.so*)
      ln -sf "$(readlink -f "$f")" "$OV/$base" ;;
    *.so.[0-9] | *.so.[0-9][0-9] | *.so.[0-9][0-9][0-9] | libdb-5.3.so)
      has_lib "$base" || ln -sf "$(readlink -f "$f")" "$OV/$base" ;;
  esac
done
# link-time names
ln -sf "$(readlink -f "$A/openblas-pthread/libopenblas.so.0")" "$OV/libopenblas.so"
ln -sf "$(readlink -f "$A/libjpeg.so.62")" "$OV/libjpeg.so"
ln -sf "$(readlink -f "$A/libinih.so.1")" "$OV/libinih.so"
export LD_LIBRARY_PATH="$OV${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$PATH:$U/bin"   # h5dump / h5ls / h5diff for the CLI tests, when the machine has none
export PKG_CONFIG_PATH="$A/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$DEPS_ROOT"
export HDF5_DISABLE_VERSION_CHECK=1
PKGCONF=$(command -v pkg-config || true)
[ -n "$PKGCONF" ] || PKGCONF="$U/bin/pkgconf"
say "deps: $(wc -l <"$DEPS_ROOT/PACKAGES.txt") Debian packages in $DEPS_ROOT; loader overlay: $(find "$OV" -mindepth 1 | wc -l) libraries; pkg-config: $PKGCONF"

# cuDNN: the toolkit's, the system's, or the pip wheel's (nvidia-cudnn-cu*)
CUDNN_ARGS=()
cudnn_inc="" cudnn_lib=""
for d in /usr/local/cuda/include /usr/include /usr/include/x86_64-linux-gnu; do
  [ -f "$d/cudnn.h" ] && { cudnn_inc=$d; break; }
done
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
  for n in libcudnn.so libcudnn.so.9; do [ -e "$d/$n" ] && { cudnn_lib="$d/$n"; break 2; }; done
done
if [ -z "$cudnn_inc" ] || [ -z "$cudnn_lib" ]; then
  wheel=$(python3 -c "import nvidia.cudnn as m; print(list(m.__path__)[0])" 2>/dev/null || true)
  if [ -n "$wheel" ] && [ -f "$wheel/include/cudnn.h" ]; then
    cudnn_inc="$wheel/include"
    cudnn_lib=$(find "$wheel/lib" -maxdepth 1 -name 'libcudnn.so*' 2>/dev/null | sort | head -1)
  fi
fi
if [ -n "$cudnn_inc" ] && [ -n "$cudnn_lib" ]; then
  CUDNN_ARGS=(-DCUDNN_INCLUDE_DIR="$cudnn_inc" -DCUDNN_LIBRARY="$cudnn_lib")
  # cuDNN 9 loads its engine libraries from its own folder by name
  cudnn_dir=$(dirname "$cudnn_lib")
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$cudnn_dir"
  say "cuDNN: $cudnn_inc, $cudnn_lib"
else
  say "cuDNN not found: CMake will build the CPU backend only"
fi
# cuDNN's run-time fusion engines (the fused 8-bit conv graphs) compile their kernels with NVRTC,
# which cuDNN loads by name (libnvrtc.so.*, libnvrtc-builtins.so.*): the toolkit's, or the pip
# wheel's; without it those engines refuse and the 8-bit convs fall back (see the tests' logs)
nvrtc=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu \
         $(python3 -c "import nvidia.cuda_nvrtc as m; print(list(m.__path__)[0] + '/lib')" 2>/dev/null); do
  if ls "$d"/libnvrtc.so* >/dev/null 2>&1; then nvrtc=$d; break; fi
done
if [ -n "$nvrtc" ]; then
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$nvrtc"
  say "NVRTC (cuDNN run-time fusion): $(ls "$nvrtc"/libnvrtc.so* | head -1)"
else
  say "NVRTC not found: cuDNN's run-time fusion engines (fused 8-bit convs) may refuse"
fi

# ---- 3. build -----------------------------------------------------------------------------------
GPU_TARGETS="polycam-eval test_cuda_ops test_cuda_nets test_cuda_backward test_cuda_backward_host
  test_cuda_quant_host test_cuda_quant test_cuda_quant_nets bench_gpu"
build_all() {
  timeout 120 cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$U" -DCMAKE_LIBRARY_PATH="$OV" \
    -DCBLAS_INCLUDE_DIR="$U/include/x86_64-linux-gnu/openblas-pthread" \
    -DCMAKE_C_FLAGS="-isystem $U/include/x86_64-linux-gnu" \
    -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$OV" \
    -DPKG_CONFIG_EXECUTABLE="$PKGCONF" "${CUDNN_ARGS[@]}" || return 1
  # the libraries, then the GPU targets one by one: a target that does not build does not stop
  # the others (its tests then report "not built")
  timeout "$(limit 240)" cmake --build "$BUILD" -j "$JOBS" --target pc_host pc_testutil pc_benchutil || return 1
  local t
  for t in $GPU_TARGETS; do
    timeout "$(limit 120)" cmake --build "$BUILD" -j "$JOBS" --target "$t" || echo "polycam-eval: target $t: build failed"
  done
  if want all; then timeout "$(limit 300)" cmake --build "$BUILD" -j "$JOBS"; fi
  return 0
}
if want build; then
  build_all >"$OUT/build.log" 2>&1
  rc=$?
  grep -E "polycam-eval:|warning:|error" "$OUT/build.log" | head -40 >>"$SUMMARY"
  say "build: rc=$rc (log build.log)"
  [ $rc -eq 0 ] || exit 1
fi

# ---- 4. GPU tests, one at a time ----------------------------------------------------------------
# run_test <name> <seconds> <reserve> [VAR=value ...]: ctest of one test with its own time limit
# (cut so that <reserve> seconds stay for the later phases), verbose log ctest_<name>.log, and a
# summary line: passed / FAILED / skipped / timed out, with its FAIL and SKIP lines.
failed_tests=""
run_test() {
  local name=$1 want=$2 reserve=$3
  shift 3
  local l=$(( $(left) - reserve ))
  [ "$l" -gt "$want" ] && l=$want
  if [ "$l" -lt 10 ]; then say "$name: skipped, $(left) s left ($reserve s kept for later phases)"; return; fi
  if [ ! -x "$BUILD/tests/$name" ] && [ "${name#cli_}" = "$name" ]; then
    say "$name: NOT BUILT (see build.log)"; failed_tests="$failed_tests $name"; return
  fi
  local t0=$(date +%s) log="$OUT/ctest_$name.log"
  # PC_TEST_SECONDS: the tests with optional long parts (test_cuda_quant_nets' full-size nets)
  # start them only within half the limit, so that they end before it
  (cd "$BUILD" && env PC_TEST_SECONDS=$((l / 2)) "$@" timeout $((l + 5)) ctest -R "^${name}\$" --timeout "$l" -V) \
    >"$log" 2>&1
  local rc=$? dt=$(( $(date +%s) - t0 )) what
  if grep -q "tests passed, 0 tests failed" "$log" && ! grep -q "Skipped\|\*\*\*Not Run" "$log"; then what="passed"
  elif grep -qE "\*\*\*Skipped|Skipped " "$log"; then what="SKIPPED"
  elif grep -q "\*\*\*Timeout" "$log"; then what="TIMED OUT after $l s"; failed_tests="$failed_tests $name"
  else what="FAILED (rc=$rc)"; failed_tests="$failed_tests $name"; fi
  say "$name: $what in $dt s (log ctest_$name.log)"
  grep -E "^[0-9]+: (FAIL|SKIP)|: [0-9]+ passed, [0-9]+ failed|warning: node" "$log" | head -12 | sed 's/^/    /' >>"$SUMMARY"
}

if want cuda && ! late "GPU tests" 30; then
  # the existing CUDA tests; 210 s are kept for the 8-bit tests and the benchmark
  for t in test_cuda_ops:150 test_cuda_nets:150 test_cuda_backward:120 test_cuda_backward_host:20 \
           cli_cuda:120; do
    run_test "${t%%:*}" "${t##*:}" 210
  done
fi

# ---- 5. the 8-bit precisions (issue #13) ---------------------------------------------------------
# PC_QUANT_VERBOSE=1: each cuDNN engine refusal and choice of the 8-bit convs is printed in the log.
if want quant && ! late "8-bit tests" 30; then
  run_test test_cuda_quant_host 20 180
  run_test test_cuda_quant 120 150 PC_QUANT_VERBOSE=1
  run_test test_cuda_quant_nets 240 120 PC_QUANT_VERBOSE=1
  # the measured figures: rounding sweeps, per-conv errors, logits vs the emulation, AUC drift
  grep -hE "differ, [0-9]+ NaN|max \|d\|.*rms|vs 8-bit emulation|vs CPU 8-bit|AUC drift|backward of the 8-bit|unquantised before" \
    "$OUT"/ctest_test_cuda_quant*.log 2>/dev/null | cut -c1-300 | head -60 | sed 's/^/    /' >>"$SUMMARY"
  # which graph variant (cuda_quant.cuh CU_QV_*) and cuDNN engine the 8-bit convs got, how often
  grep -hE "8-bit conv\] (fp8|int8) .*variant [0-9], engine" "$OUT"/ctest_test_cuda_quant*.log 2>/dev/null |
    sed -E 's/.*\] (fp8|int8) .*: (variant [0-9], engine -?[0-9]+( \([a-zA-Z ]+\))?).*/\1 \2/' | sort | uniq -c | sort -rn | head -8 |
    sed 's/^/    chosen: /' >>"$SUMMARY"
  grep -hE "8-bit conv\] variant [0-9] refused" "$OUT"/ctest_test_cuda_quant*.log 2>/dev/null | cut -c1-220 |
    sort | uniq -c | sort -rn | head -6 | sed 's/^/    refused: /' >>"$SUMMARY"
  grep -h "warning: node" "$OUT"/ctest_test_cuda_quant*.log 2>/dev/null | head -4 | cut -c1-400 >>"$SUMMARY"
fi

# ---- 6. benchmark -------------------------------------------------------------------------------
# The runs of bench_gpu, each "[VAR=value ...] arguments"; PC_BENCH_ARGS replaces them (runs
# separated by ';'). Most important first: the deadline cuts the last ones. Run 1 gives the forward
# rates of fp32 / fp16 / fp8 / int8 side by side and the whole-paper projection from them; run 2
# the Table-1 workload per image and the AUC drift of each precision against fp32.
BENCH_RUNS=(
  "--mode forward --models vgg16,resnet50 --precisions fp32,fp16,fp8,int8 --batches 256 --seconds 0.5"
  "--mode table1 --models vgg16,resnet50_paper --precisions fp32,fp16,fp8,int8 --images 2 --batch 256"
  "--mode forward --models vgg16,resnet50 --precisions fp16,fp8,int8 --batches 512 --seconds 0.5"
)
[ -n "${PC_BENCH_ARGS:-}" ] && IFS=';' read -r -a BENCH_RUNS <<<"$PC_BENCH_ARGS"
if want bench; then
  : >"$OUT/bench.log"
  : >"$OUT/bench.csv"
  k=0
  for spec in "${BENCH_RUNS[@]}"; do
    k=$((k + 1))
    late "bench_gpu run $k ($spec)" 30 && break
    if [ ! -x "$BUILD/bench/bench_gpu" ]; then say "bench_gpu: NOT BUILT (see build.log)"; break; fi
    envs=() args=()
    for w in $spec; do
      if [[ $w == PC_*=* ]]; then envs+=("$w"); else args+=("$w"); fi
    done
    echo "== bench_gpu run $k: ${envs[*]} ${args[*]}" >>"$OUT/bench.log"
    t0=$(date +%s)
    env "${envs[@]}" timeout "$(limit 200)" "$BUILD/bench/bench_gpu" "${args[@]}" --csv "$OUT/bench_$k.csv" \
      >>"$OUT/bench.log" 2>&1
    rc=$?
    { echo "# run $k: ${envs[*]} ${args[*]}"; cat "$OUT/bench_$k.csv" 2>/dev/null; } >>"$OUT/bench.csv"
    rm -f "$OUT/bench_$k.csv"
    case $rc in
      0) say "bench_gpu run $k (${envs[*]} ${args[*]}): done in $(( $(date +%s) - t0 )) s" ;;
      2) say "bench_gpu: no CUDA device"; break ;;
      124) say "bench_gpu run $k: stopped at its time limit; partial results in bench.log / bench.csv" ;;
      *) say "bench_gpu run $k: rc=$rc (bench.log)" ;;
    esac
  done
  grep -E "^==|img/s|s/img|vs |drift|failed|unavailable|whole paper|passes/img|warning|8-bit" "$OUT/bench.log" |
    head -150 >>"$SUMMARY"
fi

# ---- 7. memcheck when a GPU test failed ---------------------------------------------------------
if want sanitize && [ -n "$failed_tests" ] && command -v compute-sanitizer >/dev/null; then
  for t in test_cuda_ops test_cuda_quant; do
    [[ " $failed_tests " == *" $t "* ]] || continue
    late "sanitizer $t" 40 && break
    timeout "$(limit 90)" compute-sanitizer --tool memcheck --print-limit 20 "$BUILD/tests/$t" \
      >"$OUT/sanitizer_$t.log" 2>&1
    say "compute-sanitizer $t: rc=$? (log sanitizer_$t.log)"
    grep -E "ERROR SUMMARY|Invalid|out of bounds" "$OUT/sanitizer_$t.log" | head -8 >>"$SUMMARY"
  done
fi

# ---- 8. the rest of the suite -------------------------------------------------------------------
if want all && ! late "ctest (all but cuda)" 60; then
  (cd "$BUILD" && timeout "$(limit 300)" ctest -E cuda -j "$(( JOBS > 8 ? 8 : JOBS ))" --output-on-failure) \
    >"$OUT/ctest_all.log" 2>&1
  rc=$?
  grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|Not Run" "$OUT/ctest_all.log" | tail -12 >>"$SUMMARY"
  say "ctest (all but cuda): rc=$rc (log ctest_all.log)"
fi

[ -n "$failed_tests" ] && say "failed or not run:$failed_tests"
say "done"
