#!/usr/bin/env bash
# cli_sensitivity.sh: [robustness] sensitivity = yes on tiny_resnet (2 images, pcampm, gradcam, ixg,
# 2 perturbations): /methods/<id>/sensitivity holds one finite positive f64 per image, the table
# gets a Sens-max column equal to their mean (stdout and CSV), two shards merged reproduce them bit
# for bit,
# --report writes Table 5 from them; without the key no dataset and no column; bad values give
# one line naming the key.
# Usage: bash cli_sensitivity.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff

cat >"$tmp/run.ini" <<EOF
$(tiny_resnet_model)
layers = layer3,layer4
[data]
list = $src/data/synthetic/images.txt
limit = 2
[saliency]
methods = pcampm,gradcam,ixg
[metrics]
steps = 8
[run]
device = cpu
[robustness]
sensitivity = yes
samples = 2
EOF
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/a.h5" >"$tmp/a.out" 2>"$tmp/a.err"
rc=$?; check "run with sensitivity exits 0: $(tail -n 1 "$tmp/a.err")" [ $rc -eq 0 ]
for id in pcampm gradcam ixg; do
    vals=$(h5vals "$tmp/a.h5" "/methods/$id/sensitivity")
    n=$(echo "$vals" | awk '$1 > 0 && $1 < 1e6' | wc -l)
    check "$id: 2 finite positive sensitivities ($vals)" [ "$n" -eq 2 ]
    mean=$(echo "$vals" | awk '{s += $1} END {printf "%.4f", s / NR}')
    row=$(grep "^| $id " "$tmp/a.out" | awk -F'|' '{gsub(/ /, "", $7); print $7}')
    check "$id: table Sens-max $row = mean of the stored values $mean" [ "$row" = "$mean" ]
    csv=$(awk -F, -v id=$id '$1 == id {printf "%.4f", $6}' "$tmp/a.h5.csv")
    check "$id: CSV sensitivity $csv = $mean" [ "$csv" = "$mean" ]
done
check "table header has the Sens-max column" grep -q "Sens-max" "$tmp/a.out"
# the cost line counts the perturbed inputs: samples x (Poly-CAM + other methods), in the total
cost=$(grep '^cost: ' "$tmp/a.err")
read -r total pc other curves sens <<<"$(echo "$cost" | sed -E 's/^cost: about ([0-9]+) .*Poly-CAM ([0-9]+), other methods ([0-9]+), curves ([0-9]+), sensitivity-max ([0-9]+)\).*/\1 \2 \3 \4 \5/')"
check "cost line counts sensitivity-max = 2 x (Poly-CAM + others) ($cost)" [ "$sens" = "$((2 * (pc + other)))" ]
check "... in the total" [ "$total" = "$((pc + other + curves + sens))" ]
check "CSV header has sensitivity (then sensitivity_avg)" grep -q "^method,insertion,deletion,ins_del,n,sensitivity,n_sensitivity,sensitivity_avg$" "$tmp/a.h5.csv"

# two shards merged give the same numbers (noise keyed by seed, list position, perturbation and
# call; the merge carries the datasets)
shards_merged "$tmp/run.ini" "$tmp/m.h5"
for id in pcampm gradcam ixg; do
    check "$id: merged shards' sensitivities equal the unsharded run's" \
        h5diff -q "$tmp/a.h5" "$tmp/m.h5" "/methods/$id/sensitivity" "/methods/$id/sensitivity"
done

# Table 5 of the report
"$bin" --report "$tmp/rep" "$tmp/a.h5" >/dev/null 2>"$tmp/rep.err"
rc=$?; check "report exits 0: $(tail -n 1 "$tmp/rep.err")" [ $rc -eq 0 ]
want=$(h5vals "$tmp/a.h5" /methods/pcampm/sensitivity | awk '{s += $1} END {printf "%.4f", s / NR}')
got=$(awk -F'|' '/^## Table 5/{t=1} t && /^\| pcampm /{c = $3; sub(/^ +/, "", c); sub(/ .*/, "", c); print c; exit}' \
    "$tmp/rep/report.md")   # the cell "mean [low, high]" of the row "pcampm (PCAM±)"
check "report Table 5 pcampm $got = $want" [ "$got" = "$want" ]
# the paired comparison against pcampm covers sensitivity-max: gradcam's mean difference
d=$(paste <(h5vals "$tmp/a.h5" /methods/gradcam/sensitivity) <(h5vals "$tmp/a.h5" /methods/pcampm/sensitivity) |
    awk '{s += $1 - $2} END {printf "%.6f", s / NR}')
got=$(awk -F, '$1 == "paired" && $3 == "gradcam" && $6 == "sensitivity_max" {printf "%.6f", $8}' "$tmp/rep/report.csv")
check "report.csv: paired sensitivity-max of gradcam against pcampm ($got = $d)" [ "$got" = "$d" ]

# without the key: no dataset, no column
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/c.h5" --set robustness.sensitivity=no \
    --set saliency.methods=gradcam >"$tmp/c.out" 2>&1
check "run without sensitivity exits 0" [ $? -eq 0 ]
check "no sensitivity dataset without the key" [ -z "$(h5vals "$tmp/c.h5" /methods/gradcam/sensitivity)" ]
check "no Sens-max column without the key" bash -c "! grep -q Sens-max '$tmp/c.out'"

# bad values: one line naming the key
for bad in "robustness.sensitivity=maybe" "robustness.samples=0" "robustness.samples=x" "robustness.radius=-1" "robustness.radius=1e30"; do
    "$bin" --config "$tmp/run.ini" --set "output.file=$tmp/d.h5" --set "$bad" >/dev/null 2>"$tmp/bad.err"
    rc=$?
    key=${bad%%=*}
    check "$bad: exit $rc, one line naming [robustness] ${key#*.}: $(cat "$tmp/bad.err")" \
        bash -c "[ $rc -ne 0 ] && [ \$(wc -l <'$tmp/bad.err') -eq 1 ] && grep -q '\[robustness\] ${key#*.}' '$tmp/bad.err'"
done
finish
