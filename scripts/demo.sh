#!/usr/bin/env bash
# The README's demo command: installs the Debian dependencies, builds polycam-eval and runs the
# bundled demo (the synthetic ResNet model on bundled images; the GPU when one is present, else the
# CPU), writing results/demo.h5, results/demo.h5.csv and PNG overlays, and printing the table;
# then its second run (configs/demo_baselines.ini: six baselines with sensitivity-max and the
# sanity check) and the report of both files (results/demo_report/report.md with its figures).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$jobs" --target polycam-eval
mkdir -p "$root/results"
"$root/build/polycam-eval" --config "$root/configs/demo.ini" --force "$@"
"$root/build/polycam-eval" --config "$root/configs/demo_baselines.ini" --force "$@"
"$root/build/polycam-eval" --report "$root/results/demo_report" "$root/results/demo.h5" "$root/results/demo_baselines.h5"
