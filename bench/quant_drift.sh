#!/usr/bin/env bash
# quant_drift.sh: the AUC drift of the 8-bit precisions against fp32 (docs/precisions.md "8-bit precisions",
# bench/RESULTS.md), measured by the program's own accuracy guard: a run of CONFIG with
# [precision] guard_images = N and limits that always pass prints the guard's line (predicted class
# kept, mean and max |AUC(8-bit) - AUC(fp32)| over every map and curve of the N images). The run
# proper is stopped (SIGTERM) once the guard's line is out, so only the guard's 2 x N images are
# computed; its output goes to a temporary folder, removed.
# APPLY (environment, default "all"): the [precision] apply values to measure, e.g. APPLY="all maps";
# with maps the guard compares the run as configured (maps in 8 bits, class and curves in fp32).
# Usage: [APPLY="all maps"] bash bench/quant_drift.sh <polycam-eval> <config.ini> <N> [--set ...]
# e.g.   bash bench/quant_drift.sh build/polycam-eval configs/demo.ini 16 --set data.list=...
set -u
bin=$1
config=$2
n=$3
shift 3
for apply in ${APPLY:-all}; do
    for fmt in fp8 int8; do
        out=$(mktemp -d)
        "$bin" --config "$config" --set run.device=cpu --set "run.precision=$fmt" --set "precision.apply=$apply" \
            --set "precision.guard_images=$n" --set precision.guard_max_dauc=1 --set precision.guard_min_agreement=0 \
            --set "output.file=$out/none.h5" --set output.overlays=0 "$@" >/dev/null 2>"$out/err" &
        pid=$!
        # the run proper is stopped once the guard has spoken (its output, a journal, goes with $out)
        while kill -0 "$pid" 2>/dev/null; do
            grep -qs "^8-bit guard passed" "$out/err" && kill -TERM "$pid" 2>/dev/null && break
            sleep 1
        done
        wait "$pid" 2>/dev/null
        echo "$fmt, apply = $apply: $(grep -E "^8-bit|^polycam-eval: .*guard" "$out/err")"
        rm -rf "$out"
    done
done
