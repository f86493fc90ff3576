#!/usr/bin/env bash
# cli_multi_gpu.sh: scripts/multi_gpu.sh on the GPUs of this machine: configs/demo.ini's first six
# images as 2 shards (shard i on cuda:<i mod G>; with one GPU both share it) give the same classes
# and, within 1e-3, the same maps and insertion / deletion AUCs as the unsharded run on cuda:0;
# [run] device = cuda:K for a K the machine lacks fails with one line.
# Skips (exit 77, with the reason) without a CUDA device.
# Usage: bash cli_multi_gpu.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff
export POLYCAM_EVAL=$bin
sets=(--set output.maps=float32 --set output.overlays=0 --set data.limit=6)

"$bin" --config "$src/configs/demo.ini" "${sets[@]}" --set run.device=cuda:0 --set "output.file=$tmp/one.h5" \
    >/dev/null 2>"$tmp/one.err"
rc=$?
if [ $rc -ne 0 ] && grep -qiE "no CUDA device|not compiled|CUDA backend" "$tmp/one.err"; then
    echo "SKIP: no CUDA device: $(head -n 1 "$tmp/one.err")"
    exit 77
fi
check "unsharded run on cuda:0 exits 0: $(tail -n 1 "$tmp/one.err")" [ $rc -eq 0 ]
[ $rc -eq 0 ] || finish

bash "$src/scripts/multi_gpu.sh" "$src/configs/demo.ini" 2 "${sets[@]}" --run-dir "$tmp/m" >"$tmp/m.out" 2>"$tmp/m.err"
rc=$?
check "multi_gpu.sh 2 shards exits 0: $(tail -n 1 "$tmp/m.err")" [ $rc -eq 0 ]
grep '^shard ' "$tmp/m.out"
for i in 0 1; do
    check "shard $i ran on a GPU ($(h5attr "$tmp/m/shard_$i.h5" device))" grep -qi "cuda" <<<"$(h5attr "$tmp/m/shard_$i.h5" device)"
done
max_abs_diff() {   # largest |a - b| over a dataset's values (inf when the counts differ)
    paste <(h5vals "$1" "$3") <(h5vals "$2" "$3") |
        awk -F'\t' '{ if ($1 == "" || $2 == "") { bad = 1; next } d = $1 - $2; if (d < 0) d = -d;
                      if (d > m) m = d; n++ }
                    END { if (bad || n == 0) print "inf"; else printf "%.3g\n", m }'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "inf" && a + 0 <= b + 0) }'; }
check "same images in list order" [ "$(h5vals "$tmp/one.h5" /images/name)" = "$(h5vals "$tmp/m/demo.h5" /images/name)" ]
check "same classes" [ "$(h5vals "$tmp/one.h5" /images/class)" = "$(h5vals "$tmp/m/demo.h5" /images/class)" ]
for m in pcamp pcamm pcampm; do
    for d in map insertion/auc deletion/auc; do
        v=$(max_abs_diff "$tmp/one.h5" "$tmp/m/demo.h5" "/methods/$m/$d")
        check "$m $d: sharded vs unsharded max abs $v <= 1e-3" le "$v" 1e-3
    done
done

"$bin" --config "$src/configs/demo.ini" "${sets[@]}" --set run.device=cuda:4095 --set "output.file=$tmp/no.h5" \
    >/dev/null 2>"$tmp/no.err"
rc=$?
check "cuda:4095: exit 1, one line ($(cat "$tmp/no.err"))" [ $rc -eq 1 -a "$(wc -l <"$tmp/no.err")" -eq 1 ]
check "... saying the device does not exist" grep -q "CUDA device 4095 does not exist" "$tmp/no.err"
finish
