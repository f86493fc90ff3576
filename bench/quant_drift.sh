#!/usr/bin/env bash
# quant_drift.sh: the AUC drift of the 8-bit precisions against fp32 (README "8-bit precisions",
# bench/RESULTS.md), measured by the program's own accuracy guard: a run of CONFIG with
# [precision] guard_images = N and limits that always pass prints the guard's line (predicted class
# kept, mean and max |AUC(8-bit) - AUC(fp32)| over every map and curve of the N images). The run
# proper is cut short after the guard (its output file cannot be created), so only the guard's
# 2 x N images are computed.
# Usage: bash bench/quant_drift.sh <polycam-eval> <config.ini> <N> [--set ...]
# e.g.   bash bench/quant_drift.sh build/polycam-eval configs/demo.ini 16 --set data.list=...
set -u
bin=$1
config=$2
n=$3
shift 3
for fmt in fp8 int8; do
    line=$("$bin" --config "$config" --set run.device=cpu --set "run.precision=$fmt" \
        --set "precision.guard_images=$n" --set precision.guard_max_dauc=1 --set precision.guard_min_agreement=0 \
        --set output.file=/proc/quant_drift/none.h5 "$@" 2>&1 >/dev/null | grep -E "^8-bit|^polycam-eval: .*guard")
    echo "$fmt: $line"
done
