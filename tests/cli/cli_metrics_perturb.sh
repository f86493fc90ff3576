#!/usr/bin/env bash
# cli_metrics_perturb.sh: the perturbation metrics ([metrics] road, flip, region, adcc;
# docs/metrics.md) on tiny_resnet (2 images, pcampm and gradcam, small parameters): every dataset
# of docs/metrics.md per method with its shape, the table's "Perturbation metrics" columns equal to
# the means of the stored per-image values (stdout and CSV), ROAD's combined = (lerf - morf) / 2,
# two shards merged reproduce the datasets bit for bit, an interrupted-and-resumed layout (resume
# of a finished file) keeps them, the report has the table; an ext: map (torchcam's Grad-CAM) gets
# them too, close to the built-in gradcam's; without the keys no dataset and no table; bad values
# give one line naming the key.
# Usage: bash cli_metrics_perturb.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff h5ls

# vals <file> <dataset>: its values one a line (h5vals without the datasets' description attributes)
vals() {
    h5dump -A 0 -y -w 0 -d "$2" "$1" 2>/dev/null | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | tr ',' '\n' |
        sed 's/^ *//; s/ *$//' | grep -v '^$'
}

cat >"$tmp/run.ini" <<EOF2
$(tiny_resnet_model)
layers = layer3,layer4
[data]
list = $src/data/synthetic/images.txt
limit = 2
[saliency]
methods = pcampm,gradcam
[metrics]
steps = 8
road = yes
road_percentages = 25,75
flip = yes
flip_pixels = 6272
flip_baseline = uniform
region = yes
region_patch = 32
region_steps = 5
region_baseline = blur
adcc = yes
[run]
device = cpu
EOF2
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/a.h5" >"$tmp/a.out" 2>"$tmp/a.err"
rc=$?; check "run with the perturbation metrics exits 0: $(tail -n 1 "$tmp/a.err")" [ $rc -eq 0 ]
for id in pcampm gradcam; do
    for spec in road/morf_scores:2x2 road/lerf_top1:2x2 flip/morf_scores:2x8 flip/lerf_scores:2x8 \
                region/morf_curve:2x5 region/lerf_aopc:2 adcc/drop:2 adcc/gain:2 road/combined:2; do
        set=${spec%%:*}; shape=${spec#*:}
        got=$(h5ls "$tmp/a.h5/methods/$id/$set" 2>/dev/null | sed -E 's/.*\{([0-9, ]+)\}.*/\1/; s/, /x/g')
        check "$id: /methods/$id/$set has shape $shape ($got)" [ "$got" = "$shape" ]
    done
    # combined = (lerf - morf) / 2 per image
    paste <(vals "$tmp/a.h5" /methods/$id/road/morf) <(vals "$tmp/a.h5" /methods/$id/road/lerf) \
          <(vals "$tmp/a.h5" /methods/$id/road/combined) >"$tmp/c.txt"
    check "$id: road/combined = (lerf - morf) / 2" \
        awk '{d = ($2 - $1) / 2 - $3; if (d > 2e-5 || d < -2e-5) exit 1}' "$tmp/c.txt"
    vals "$tmp/a.h5" /methods/$id/flip/morf_scores >"$tmp/f.txt"
    check "$id: flip scores in [0, 1]" awk '$1 < 0 || $1 > 1 {exit 1}' "$tmp/f.txt"
    # the table's columns = means of the stored values (Markdown and CSV)
    for col in "adcc/drop:Avg drop" "region/morf_aopc:AOPC MoRF" "flip/lerf_auc:Flip LeRF"; do
        set=${col%%:*}; colname=${col#*:}
        mean=$(vals "$tmp/a.h5" /methods/$id/$set | awk '{s += $1} END {printf "%.4f", s / NR}')
        k=$(awk -F'|' -v n="$colname" '/^\| Method .*ROAD MoRF/ {for (i = 1; i <= NF; i++) {g = $i; gsub(/^ +| +$/, "", g); if (g == n) print i}; exit}' "$tmp/a.out")
        row=$(awk -F'|' -v id=$id -v k="$k" '/ROAD MoRF/ {t = 1} t && $2 ~ "^ "id" +$" {gsub(/ /, "", $k); print $k; exit}' "$tmp/a.out")
        check "$id: table $colname $row = mean of $set $mean" [ "$row" = "$mean" ]
        key=${set//\//_}
        c=$(head -1 "$tmp/a.h5.csv" | tr ',' '\n' | grep -n "^$key\$" | cut -d: -f1)
        csv=$(awk -F, -v id=$id -v c="$c" '$1 == id {printf "%.4f", $c}' "$tmp/a.h5.csv")
        check "$id: CSV $key $csv = $mean" [ "$csv" = "$mean" ]
    done
done
check "cost line counts the perturbation passes" grep -q "^cost: about" "$tmp/a.err"

# two shards merged give the same datasets (noise keyed by seed and list position)
shards_merged "$tmp/run.ini" "$tmp/m.h5"
for set in road/morf_scores road/lerf_top1 flip/lerf_scores region/morf_curve adcc/masked_score; do
    check "merged shards' /methods/gradcam/$set equals the unsharded run's" \
        h5diff -q "$tmp/a.h5" "$tmp/m.h5" "/methods/gradcam/$set" "/methods/gradcam/$set"
done

# the report's table
"$bin" --report "$tmp/rep" "$tmp/a.h5" >/dev/null 2>"$tmp/rep.err"
rc=$?; check "report exits 0: $(tail -n 1 "$tmp/rep.err")" [ $rc -eq 0 ]
check "report has the perturbation metrics table" grep -q "^## Perturbation metrics: " "$tmp/rep/report.md"

# without the keys: no dataset, no table
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/c.h5" --set metrics.road=no --set metrics.flip=no \
    --set metrics.region=no --set metrics.adcc=no >"$tmp/c.out" 2>&1
check "run without the metrics exits 0" [ $? -eq 0 ]
check "no road group without the keys" [ -z "$(vals "$tmp/c.h5" /methods/gradcam/road/morf)" ]
check "no perturbation table without the keys" bash -c "! grep -q 'Perturbation metrics' '$tmp/c.out'"

# a map made elsewhere (ext:, docs/external maps): the same metrics, and for torchcam's Grad-CAM maps of
# synth_resnet (tests/fixtures/ext_maps) values close to the built-in gradcam's
cat >"$tmp/ext.ini" <<EOF2
$(synth_resnet_model)
[data]
list = $src/data/synthetic/images.txt
limit = 2
[saliency]
methods = gradcam, ext:tc
[metrics]
insertion = no
deletion = no
region = yes
region_steps = 5
region_patch = 32
adcc = yes
[run]
device = cpu
[external tc]
file = $src/tests/fixtures/ext_maps/synth_resnet_gradcam.npz
EOF2
"$bin" --config "$tmp/ext.ini" --set "output.file=$tmp/e.h5" >"$tmp/e.out" 2>"$tmp/e.err"
rc=$?; check "ext: run with the perturbation metrics exits 0: $(tail -n 1 "$tmp/e.err")" [ $rc -eq 0 ]
for set in adcc/masked_score region/morf_aopc; do
    paste <(vals "$tmp/e.h5" /methods/gradcam/$set) <(vals "$tmp/e.h5" "/methods/ext:tc/$set") >"$tmp/x.txt"
    check "ext:tc's $set = gradcam's within 2e-3 on both images" \
        awk '{d = $1 - $2; if (d < 0) d = -d; if (d > 2e-3) exit 1; k++} END {exit k != 2}' "$tmp/x.txt"
done
check "ext:tc has a row in the perturbation table" grep -qE '^\| ext:tc ' "$tmp/e.out"

# bad values: one line naming the key
for bad in "metrics.road=maybe" "metrics.road_percentages=0" "metrics.road_percentages=10,,20" \
           "metrics.road_percentages=100" "metrics.road_noise=-1" "metrics.flip_pixels=0" \
           "metrics.flip_baseline=white" "metrics.region_patch=0" "metrics.region_baseline=x" "metrics.adcc=2"; do
    "$bin" --config "$tmp/run.ini" --set "output.file=$tmp/d.h5" --set "$bad" >/dev/null 2>"$tmp/bad.err"
    rc=$?
    key=${bad%%=*}
    check "$bad: exit $rc, one line naming [metrics] ${key#*.}: $(cat "$tmp/bad.err")" \
        bash -c "[ $rc -ne 0 ] && [ \$(wc -l <'$tmp/bad.err') -eq 1 ] && grep -q '\[metrics\] ${key#*.}' '$tmp/bad.err'"
done
finish
