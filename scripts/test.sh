#!/usr/bin/env bash
# The README's test command: installs the Debian dependencies, builds polycam-eval (release build
# with the CUDA backend when nvcc + cuDNN are present, and a CPU-only ASan+UBSan build) and runs the
# CTest suites. GPU tests skip with a visible message on machines without a device.
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
echo "== tests (sanitizer build: input handling, weights, forward, backward, random numbers, ops, config, store, hostile result files, CLI errors)"
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0" \
   ctest --output-on-failure -R '^(test_(safetensors|pth|npz|external|image_[a-z]+|ops|config|dataset|store|store_failures|forward_tiny|synth_classify|backward|philox|similarity|sanity|localisation|status|quant_guard|safe_text|run_data)|cli_(bad_inputs|config_errors|shard|store|hostile))$')
