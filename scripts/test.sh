#!/usr/bin/env bash
# The README's test command: installs the Debian dependencies, builds polycam-eval (release build
# with the CUDA backend when nvcc + cuDNN are present, and a CPU-only ASan+UBSan build) and runs the
# CTest suites, then runs every fuzz target for a bounded time (tools/fuzz.sh). GPU tests skip with
# a visible message on machines without a device.
#   PC_TEST_SLOW=0 leaves out the tests labelled "slow".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
"$root/scripts/install-deps.sh" --tests

echo "== layers (tools/check_layers.sh: every include runs down host/layers.txt)"
"$root/tools/check_layers.sh"

echo "== release build"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$root/build" -j"$jobs"
exclude=()
[ "${PC_TEST_SLOW:-1}" = "1" ] || exclude=(-LE slow)
echo "== tests (release build)"
status=0
(cd "$root/build" && ctest --output-on-failure "${exclude[@]}") || status=$?
# CTest hides the output of skipped tests: show why each was skipped (e.g. no GPU).
grep -h '^SKIP:' "$root/build/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u | sed 's/^/skipped test reason: /' || true
[ "$status" -eq 0 ] || exit "$status"

echo "== sanitizer build (ASan + UBSan, CPU backend)"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPC_SANITIZE=ON -DPC_ENABLE_CUDA=OFF
cmake --build "$root/build-asan" -j"$jobs"
echo "== tests (sanitizer build: input handling, weights, forward, backward, random numbers, ops, config, store, a running output's journal, hostile result files, CLI errors)"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$root/tests/lib/lsan.supp:print_suppressions=0" \
   ctest --output-on-failure -R '^(test_(safetensors|pth|npz|external|image_[a-z]+|ops|cuda_ops_cpu|config|dataset|store|store_failures|forward_tiny|synth_classify|backward|philox|similarity|sanity|localisation|status|quant_guard|safe_text|run_data|results_journal)|cli_(bad_inputs|config_errors|shard|store|hostile)|fuzz_replay_[a-z_]+)$')

# Bounded fuzzing of every reader of files polycam-eval did not write (docs/fuzzing.md): each
# libFuzzer target for PC_FUZZ_SECONDS (default 40), its executions and coverage printed; a crash
# fails the tests. PC_FUZZ_SKIP="t ..." leaves targets out. The result-file target runs on edits of
# a valid result file only: raw byte mutations of the HDF5 container reach crashes inside HDF5
# 1.10.8's own parser (docs/fuzzing.md), which the long run records and CI cannot fix.
echo "== fuzzing (libFuzzer + ASan + UBSan, ${PC_FUZZ_SECONDS:-40} s per target: tools/fuzz.sh)"
PC_FUZZ_RESULTS_EDITS_ONLY=1 "$root/tools/fuzz.sh" -x "${PC_FUZZ_SKIP-}" "${PC_FUZZ_SECONDS:-40}"
