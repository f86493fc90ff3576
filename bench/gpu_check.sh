#!/usr/bin/env bash
# gpu_check.sh: the one script to run on a lent GPU machine (see bench/GPU.md). In the repo root:
#   1. environment report (GPU, nvcc, cmake, cuDNN, which libraries the machine has) -> env.txt
#   2. unpacks .deps/gpu-deps.tar.xz (made here by bench/fetch_gpu_deps.sh) outside the repo and
#      points CMake, pkg-config, PATH (hdf5-tools) and the loader at it; finds cuDNN
#   3. configure + build (the GPU targets first)                                  -> build.log
#   4. ctest -R cuda: test_cuda_ops, test_cuda_nets, test_cuda_backward (data gradients vs the CPU
#      backward), test_cuda_backward_host, cli_cuda (the program on the GPU vs the CPU)
#                                                                                 -> ctest_cuda.log
#   5. bench_gpu runs (BENCH_RUNS below): forward throughput per precision and batch, the Table-1
#      workload per model / precision / batch, seconds per backward (batch 1 and 50), cuDNN
#      candidate timing (PC_CUDNN_TUNE=1)
#                                                                                 -> bench.log, bench.csv
#   6. when a GPU test failed: compute-sanitizer memcheck of test_cuda_ops       -> sanitizer.log
#   7. the rest of the suite (CPU and CLI tests), if asked for                    -> ctest_all.log
#   and a summary line per phase                                                  -> summary.txt
# Each phase has its own time limit and the script watches a total deadline (PC_GPU_DEADLINE
# seconds, default 540): a phase that would start too late is skipped and says so. A failing phase
# does not stop the later ones. Output files go to $OUT (the device tool brings them back).
# Environment: OUT (default /tmp/out), PC_GPU_BUILD (build dir, default /tmp/build_gpu),
# PC_GPU_PHASES (default "build cuda sanitize bench"; add "all" for the CPU suite),
# PC_BENCH_ARGS (bench_gpu runs instead of BENCH_RUNS, separated by ';'), PC_JOBS (build jobs,
# default: all cores).
# Device tool: run(command="bash bench/gpu_check.sh", carry=[".deps"], timeout_s=600)
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
BUILD=${PC_GPU_BUILD:-/tmp/build_gpu}
PHASES=${PC_GPU_PHASES:-build cuda sanitize bench}
DEADLINE=${PC_GPU_DEADLINE:-540}
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
  ldconfig -p | grep -E "cudnn|cublas|cudart|hdf5|jpeg|openblas|inih|curl|gfortran|libsz|libaec" || true
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

# ---- 3. build -----------------------------------------------------------------------------------
if want build; then
  {
    timeout 120 cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$U" -DCMAKE_LIBRARY_PATH="$OV" \
      -DCBLAS_INCLUDE_DIR="$U/include/x86_64-linux-gnu/openblas-pthread" \
      -DCMAKE_C_FLAGS="-isystem $U/include/x86_64-linux-gnu" \
      -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$OV" \
      -DPKG_CONFIG_EXECUTABLE="$PKGCONF" "${CUDNN_ARGS[@]}" &&
      timeout "$(limit 300)" cmake --build "$BUILD" -j "$JOBS" --target polycam-eval test_cuda_ops \
        test_cuda_nets test_cuda_backward test_cuda_backward_host bench_gpu &&
      if want all; then timeout "$(limit 300)" cmake --build "$BUILD" -j "$JOBS"; fi
  } >"$OUT/build.log" 2>&1
  rc=$?
  grep -E "polycam-eval:|warning:|error" "$OUT/build.log" | head -40 >>"$SUMMARY"
  say "build: rc=$rc (log build.log)"
  [ $rc -eq 0 ] || exit 1
fi

# ---- 4. GPU tests -------------------------------------------------------------------------------
cuda_rc=0
if want cuda && ! late "ctest -R cuda" 30; then
  (cd "$BUILD" && timeout "$(limit 300)" ctest -R cuda -V) >"$OUT/ctest_cuda.log" 2>&1
  cuda_rc=$?
  grep -E "tests passed|tests failed|Skipped|\(Failed\)|Passed|SKIP|FAIL|Timeout" "$OUT/ctest_cuda.log" | tail -30 >>"$SUMMARY"
  say "ctest -R cuda: rc=$cuda_rc (log ctest_cuda.log)"
fi

# ---- 5. benchmark -------------------------------------------------------------------------------
# The runs of bench_gpu, each "[VAR=value ...] arguments"; PC_BENCH_ARGS replaces them (runs
# separated by ';').
# Most important first: the deadline cuts the last ones.
BENCH_RUNS=(
  "--mode table1 --images 2 --batch 256"
  "--mode backward --models vgg16,resnet50 --precisions fp32,tf32,fp16 --batches 1,50 --seconds 0.5"
  "PC_CUDNN_TUNE=1 --mode table1 --models vgg16,resnet50_paper --precisions fp16 --images 2 --batch 256"
  "PC_CUDNN_TUNE=1 --mode forward --models vgg16,resnet50 --precisions fp16 --batches 128,256 --seconds 0.5"
  "--mode table1 --images 2 --batch 512 --precisions fp16,bf16"
  "--mode forward --batches 128,256,512 --seconds 0.5"
)
[ -n "${PC_BENCH_ARGS:-}" ] && IFS=';' read -r -a BENCH_RUNS <<<"$PC_BENCH_ARGS"
if want bench; then
  : >"$OUT/bench.log"
  : >"$OUT/bench.csv"
  k=0
  for spec in "${BENCH_RUNS[@]}"; do
    k=$((k + 1))
    late "bench_gpu run $k ($spec)" 30 && break
    envs=() args=()
    for w in $spec; do
      if [[ $w == PC_*=* ]]; then envs+=("$w"); else args+=("$w"); fi
    done
    echo "== bench_gpu run $k: ${envs[*]} ${args[*]}" >>"$OUT/bench.log"
    env "${envs[@]}" timeout "$(limit 200)" "$BUILD/bench/bench_gpu" "${args[@]}" --csv "$OUT/bench_$k.csv" \
      >>"$OUT/bench.log" 2>&1
    rc=$?
    { echo "# run $k: ${envs[*]} ${args[*]}"; cat "$OUT/bench_$k.csv" 2>/dev/null; } >>"$OUT/bench.csv"
    rm -f "$OUT/bench_$k.csv"
    case $rc in
      0) say "bench_gpu run $k (${envs[*]} ${args[*]}): done" ;;
      2) say "bench_gpu: no CUDA device"; break ;;
      124) say "bench_gpu run $k: stopped at its time limit; partial results in bench.log / bench.csv" ;;
      *) say "bench_gpu run $k: rc=$rc (bench.log)" ;;
    esac
  done
  grep -E "^==|img/s|s/img|vs |drift|failed|unavailable" "$OUT/bench.log" | head -120 >>"$SUMMARY"
fi

# ---- 6. memcheck when a GPU test failed ---------------------------------------------------------
if want sanitize && [ "$cuda_rc" -ne 0 ] && command -v compute-sanitizer >/dev/null && ! late sanitizer 60; then
  timeout "$(limit 90)" compute-sanitizer --tool memcheck --print-limit 20 "$BUILD/tests/test_cuda_ops" \
    >"$OUT/sanitizer.log" 2>&1
  say "compute-sanitizer test_cuda_ops: rc=$? (log sanitizer.log)"
  grep -E "ERROR SUMMARY|Invalid|out of bounds" "$OUT/sanitizer.log" | head -8 >>"$SUMMARY"
fi

# ---- 7. the rest of the suite -------------------------------------------------------------------
if want all && ! late "ctest (all but cuda)" 60; then
  (cd "$BUILD" && timeout "$(limit 300)" ctest -E cuda -j "$(( JOBS > 8 ? 8 : JOBS ))" --output-on-failure) \
    >"$OUT/ctest_all.log" 2>&1
  rc=$?
  grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|Not Run" "$OUT/ctest_all.log" | tail -12 >>"$SUMMARY"
  say "ctest (all but cuda): rc=$rc (log ctest_all.log)"
fi

say "done"
