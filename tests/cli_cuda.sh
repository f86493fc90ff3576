#!/usr/bin/env bash
# cli_cuda.sh: the whole program on the GPU. Runs configs/demo.ini (synthetic VGG, PCAM+, PCAM-,
# PCAM+-, 224-step insertion / deletion) for its first three images with run.device=cuda and with
# run.device=cpu, maps stored as float32, and compares the two result files: classes and statuses
# equal, maps within 1e-3, insertion / deletion AUCs and per-step scores within 2e-3, the device
# attribute names the GPU; then runs fp16 and bf16 and prints their AUC drift against the fp32
# GPU run.
# Skips (exit 77, with the reason) without a CUDA device or without the hdf5-tools.
# Usage: bash cli_cuda.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/lib/cli_common.sh"
need_tools h5dump

run() {   # run <device> <precision> <out>
    "$bin" --config "$src/configs/demo.ini" --set "run.device=$1" --set "run.precision=$2" \
        --set "output.file=$3" --set output.maps=float32 --set output.overlays=0 --limit 3 \
        >"$3.stdout" 2>"$3.stderr"
}

gpu=$tmp/gpu.h5
run cuda fp32 "$gpu"
rc=$?
if [ $rc -ne 0 ] && grep -qiE "no CUDA device|not compiled|CUDA backend" "$gpu.stderr"; then
    echo "SKIP: no CUDA device: $(head -n 1 "$gpu.stderr")"
    exit 77
fi
check "GPU run exits 0 (rc $rc): $(tail -n 3 "$gpu.stderr")" [ $rc -eq 0 ]
[ $rc -eq 0 ] || finish
cpu=$tmp/cpu.h5
run cpu fp32 "$cpu"
rc=$?
check "CPU run exits 0 (rc $rc): $(tail -n 3 "$cpu.stderr")" [ $rc -eq 0 ]
[ $rc -eq 0 ] || finish

check "device attribute names the GPU ($(h5attr "$gpu" device))" grep -qi "cuda" <<<"$(h5attr "$gpu" device)"
check "same classes" [ "$(h5vals "$gpu" /images/class)" = "$(h5vals "$cpu" /images/class)" ]
check "same statuses" [ "$(h5vals "$gpu" /images/status)" = "$(h5vals "$cpu" /images/status)" ]

# max_abs_diff <a.h5> <b.h5> <dataset>: largest |a - b| over the values (inf when counts differ)
max_abs_diff() {
    paste <(h5vals "$1" "$3") <(h5vals "$2" "$3") |
        awk -F'\t' '{ if ($1 == "" || $2 == "") { bad = 1; next } d = $1 - $2; if (d < 0) d = -d;
                      if (d > m) m = d; n++ }
                    END { if (bad || n == 0) print "inf"; else printf "%.3g\n", m }'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "inf" && a + 0 <= b + 0) }'; }

for m in pcamp pcamm pcampm; do
    tol=1e-3
    d=$(max_abs_diff "$gpu" "$cpu" /methods/$m/map)
    echo "  $m map: GPU vs CPU max abs $d"
    check "$m map GPU vs CPU $d <= $tol" le "$d" "$tol"
    for c in insertion deletion; do
        d=$(max_abs_diff "$gpu" "$cpu" /methods/$m/$c/auc)
        echo "  $m $c AUC: GPU vs CPU max abs $d"
        check "$m $c AUC GPU vs CPU $d <= 2e-3" le "$d" 2e-3
        d=$(max_abs_diff "$gpu" "$cpu" /methods/$m/$c/scores)
        echo "  $m $c per-step scores: GPU vs CPU max abs $d"
        check "$m $c per-step scores GPU vs CPU $d <= 2e-3" le "$d" 2e-3
    done
done

# reduced precisions through the program: they run, and their drift is reported
for p in fp16 bf16; do
    out=$tmp/gpu_$p.h5
    run cuda $p "$out"
    rc=$?
    check "GPU $p run exits 0 (rc $rc): $(tail -n 3 "$out.stderr")" [ $rc -eq 0 ]
    [ $rc -eq 0 ] || continue
    line="  $p vs fp32 GPU, max abs:"
    for m in pcamp pcamm pcampm; do
        line+=" $m ins $(max_abs_diff "$out" "$gpu" /methods/$m/insertion/auc)"
        line+=" del $(max_abs_diff "$out" "$gpu" /methods/$m/deletion/auc)"
    done
    echo "$line"
done
finish
