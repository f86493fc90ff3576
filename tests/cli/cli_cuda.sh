#!/usr/bin/env bash
# cli_cuda.sh: the whole program on the GPU. Runs configs/demo.ini (synthetic VGG, PCAM+, PCAM-,
# PCAM+-, 224-step insertion / deletion) for its first three images with run.device=cuda and with
# run.device=cpu, maps stored as float32, and compares the two result files: classes and statuses
# equal, maps within 1e-3, insertion / deletion AUCs and per-step scores within 2e-3, the device
# attribute names the GPU; then runs fp16 and bf16 and checks their AUC drift against the fp32
# GPU run: mean and max within twice the figures measured on an H100 (docs/performance.md "Performance":
# fp16 0.0007 / 0.0056, bf16 0.0049 / 0.028).
# Skips (exit 77, with the reason) without a CUDA device, in a build without the CUDA backend, or
# without the hdf5-tools; any other failure of the GPU run fails the test. Last, the 13 baselines
# (GPU vs CPU: maps 1e-3, AUCs 2e-3).
# Usage: bash cli_cuda.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump

run() {   # run <device> <precision> <out>
    "$bin" --config "$src/configs/demo.ini" --set "run.device=$1" --set "run.precision=$2" \
        --set "output.file=$3" --set output.maps=float32 --set output.overlays=0 --limit 3 \
        >"$3.stdout" 2>"$3.stderr"
}

gpu=$tmp/gpu.h5
run cuda fp32 "$gpu"
rc=$?
if [ $rc -ne 0 ] && grep -q "no CUDA device" "$gpu.stderr"; then
    echo "SKIP: no CUDA device: $(head -n 1 "$gpu.stderr")"
    exit 77
fi
if [ $rc -ne 0 ] && grep -q "built without the CUDA backend" "$gpu.stderr"; then
    echo "SKIP: CUDA backend not compiled in: $(head -n 1 "$gpu.stderr")"
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
# mean_abs_diff <a.h5> <b.h5> <dataset>: mean |a - b| over the values (inf when counts differ)
mean_abs_diff() {
    paste <(h5vals "$1" "$3") <(h5vals "$2" "$3") |
        awk -F'\t' '{ if ($1 == "" || $2 == "") { bad = 1; next } d = $1 - $2; if (d < 0) d = -d;
                      s += d; n++ }
                    END { if (bad || n == 0) print "inf"; else printf "%.3g\n", s / n }'
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

# reduced precisions through the program: they run, and their AUC drift against fp32 stays
# within twice the measured mean / max (bounds per precision: mean max)
declare -A drift_bound=([fp16]="1.4e-3 1.12e-2" [bf16]="9.8e-3 5.6e-2")
for p in fp16 bf16; do
    out=$tmp/gpu_$p.h5
    run cuda $p "$out"
    rc=$?
    check "GPU $p run exits 0 (rc $rc): $(tail -n 3 "$out.stderr")" [ $rc -eq 0 ]
    [ $rc -eq 0 ] || continue
    read -r mean_bound max_bound <<<"${drift_bound[$p]}"
    line="  $p vs fp32 GPU, mean / max abs:"
    means=""
    for m in pcamp pcamm pcampm; do
        for c in insertion deletion; do
            mean=$(mean_abs_diff "$out" "$gpu" /methods/$m/$c/auc)
            max=$(max_abs_diff "$out" "$gpu" /methods/$m/$c/auc)
            line+=" $m ${c:0:3} $mean / $max"
            means+=" $mean"
            check "$p $m $c AUC drift max $max <= $max_bound" le "$max" "$max_bound"
        done
    done
    echo "$line"
    # the mean over all 3 images x 3 maps x 2 curves (equal counts: the mean of the means)
    mean=$(awk '{ for (i = 1; i <= NF; i++) { if ($i == "inf") { print "inf"; exit } s += $i }
                  printf "%.3g\n", s / NF }' <<<"$means")
    check "$p AUC drift mean $mean <= $mean_bound" le "$mean" "$mean_bound"
done

# The 13 baselines on the GPU against the CPU (first image; smaller sample counts so the CPU side
# stays short). The random methods draw the same Philox numbers on both devices, so every map is
# held to 1e-3 and its AUCs to 2e-3, as the Poly-CAM maps above.
baselines=gradcam,gradcampp,smoothgradcampp,scorecam,sscam,iscam,layercam,zoomcam,ixg,ig,smoothgrad,rise,occlusion
run_baselines() {   # run_baselines <device> <out>
    "$bin" --config "$src/configs/demo.ini" --set "run.device=$1" --set "saliency.methods=$baselines" \
        --set sscam.samples=2 --set iscam.samples=2 --set ig.steps=8 --set smoothgrad.samples=8 \
        --set rise.masks=500 --set occlusion.stride=16 --set metrics.steps=56 \
        --set "output.file=$2" --set output.maps=float32 --set output.overlays=0 --limit 1 >"$2.stdout" 2>"$2.stderr"
}
run_baselines cuda "$tmp/bgpu.h5"
rc=$?
check "baselines on the GPU exit 0 (rc $rc): $(tail -n 3 "$tmp/bgpu.h5.stderr")" [ $rc -eq 0 ]
run_baselines cpu "$tmp/bcpu.h5"
rc2=$?
check "baselines on the CPU exit 0 (rc $rc2): $(tail -n 3 "$tmp/bcpu.h5.stderr")" [ $rc2 -eq 0 ]
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ]; then
    for m in ${baselines//,/ }; do
        d=$(max_abs_diff "$tmp/bgpu.h5" "$tmp/bcpu.h5" /methods/$m/map)
        echo "  $m map: GPU vs CPU max abs $d"
        check "$m map GPU vs CPU $d <= 1e-3" le "$d" 1e-3
        for c in insertion deletion; do
            d=$(max_abs_diff "$tmp/bgpu.h5" "$tmp/bcpu.h5" /methods/$m/$c/auc)
            check "$m $c AUC GPU vs CPU $d <= 2e-3" le "$d" 2e-3
        done
    done
fi
finish
