#!/usr/bin/env bash
# cli_metrics_loc.sh: the metrics of docs/metrics-localisation-randomisation.md through the program
# on the synthetic set with synth_resnet: with [data] masks every method gets
# /methods/<id>/localisation/pointing_tol (attribute tolerance) and .../rank, equal to the
# TorchRay / stable-rank values of tests/fixtures/metrics_loc.h5 on the reference maps (the run's
# maps are the reference's within 1e-4); with [robustness] sensitivity /methods/<id>/sensitivity_avg
# (<= sensitivity-max); both in the printed table, the CSV (last columns) and --report;
# pointing_tolerance = 0 gives SPEC §10's pointing; a bad tolerance is one line; the independent
# sanity check ([sanity] order = independent) writes /sanity with randomisation = independent, the
# original class at every step, and its report section; a cascading check then replaces it.
# Usage: bash cli_metrics_loc.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5ls

# vals <file> <dataset>: the dataset's values, one per line (its attributes left out)
vals() {
    h5dump -A 0 -y -w 0 -d "$2" "$1" 2>/dev/null | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | tr ',' '\n' |
        sed 's/^ *//; s/ *$//' | grep -v '^$'
}
hits_of() { awk '{ h += ($1 == 1) } END { printf "%d/%d", h, NR }'; }

cat >"$tmp/loc.ini" <<EOF2
$(synth_resnet_model)
$(masks_run_sections)
EOF2

"$bin" --config "$tmp/loc.ini" --set "output.file=$tmp/a.h5" >"$tmp/a.out" 2>"$tmp/a.err"
rc=$?
check "run with masks: $(tail -n 1 "$tmp/a.err")" [ $rc -eq 0 ]
fx=$src/tests/fixtures/metrics_loc.h5
for m in pcampm gradcam; do
    got_t=$(vals "$tmp/a.h5" /methods/$m/localisation/pointing_tol)
    got_r=$(h5vals "$tmp/a.h5" /methods/$m/localisation/rank)
    want_t=$(h5vals "$fx" localisation/synth_resnet/$m/torchray_15 | head -n 2)
    want_r=$(h5vals "$fx" localisation/synth_resnet/$m/rank_stable | head -n 2)
    check "$m: pointing 15 px equals TorchRay on the reference maps ($(echo $got_t) vs $(echo $want_t))" close 0 "$got_t" "$want_t"
    check "$m: rank accuracy within 0.01 of the reference maps' ($(echo $got_r) vs $(echo $want_r))" close 0.01 "$got_r" "$want_r"
    hits=$(echo "$got_t" | hits_of)
    check "$m: printed row has $hits within 15 px" grep -Eq "^\| $m +\|.*\| +$hits \| +[0-9.]+ \|$" "$tmp/a.out"
    csv=$(awk -F, -v m=$m '$1 == m { printf "%d/%d %d", $9, $8, $10 }' "$tmp/a.h5.csv")
    check "$m: CSV pointing_tol_hits / n and tolerance ($csv)" [ "$csv" = "$hits 15" ]
done
check "tolerance attribute 15" bash -c "h5dump -a /methods/gradcam/localisation/pointing_tol/tolerance '$tmp/a.h5' | grep -q '(0): 15'"
check "table header" grep -q '| Pointing 15px | Rank acc. |$' "$tmp/a.out"
check "CSV header: the new columns last" \
    grep -q '^method,insertion,deletion,ins_del,n,energy,pointing_hits,pointing_n,pointing_tol_hits,pointing_tol,rank$' "$tmp/a.h5.csv"
check "key unchanged by the default tolerance" bash -c "! h5dump -a config_key '$tmp/a.h5' | grep -q pointing_tolerance"
"$bin" --report "$tmp/rep" "$tmp/a.h5" >/dev/null 2>&1
check "report: pointing 15 px and rank columns" grep -q 'pointing 15 px | a rank accuracy |' "$tmp/rep/report.md"

# tolerance 0: SPEC §10's pointing game; a bad tolerance: one line naming the key
"$bin" --config "$tmp/loc.ini" --set "output.file=$tmp/t0.h5" --set data.pointing_tolerance=0 >/dev/null 2>&1
check "tolerance 0 = pointing" [ "$(vals "$tmp/t0.h5" /methods/gradcam/localisation/pointing_tol)" = \
                                  "$(h5vals "$tmp/t0.h5" /methods/gradcam/localisation/pointing)" ]
check "tolerance 0 enters the key" bash -c "h5dump -a config_key '$tmp/t0.h5' | grep -q 'pointing_tolerance = 0'"
"$bin" --config "$tmp/loc.ini" --set "output.file=$tmp/bad.h5" --set data.pointing_tolerance=-3 >/dev/null 2>"$tmp/bad.err"
rc=$?
check "bad tolerance: exit 2 with one line ($(cat "$tmp/bad.err"))" \
    bash -c "[ $rc -ne 0 ] && [ \$(wc -l <'$tmp/bad.err') -eq 1 ] && grep -q 'pointing_tolerance' '$tmp/bad.err'"

# avg-sensitivity beside sensitivity-max (1 image, 2 perturbations)
"$bin" --config "$tmp/loc.ini" --set "output.file=$tmp/s.h5" --set data.limit=1 --set robustness.sensitivity=yes \
    --set robustness.samples=2 >"$tmp/s.out" 2>"$tmp/s.err"
rc=$?
check "run with sensitivity: $(tail -n 1 "$tmp/s.err")" [ $rc -eq 0 ]
for m in pcampm gradcam; do
    mx=$(h5vals "$tmp/s.h5" /methods/$m/sensitivity)
    av=$(h5vals "$tmp/s.h5" /methods/$m/sensitivity_avg)
    check "$m: 0 < avg ($av) <= max ($mx)" awk -v a="$av" -v b="$mx" 'BEGIN { exit !(a > 0 && a <= b) }'
    csv=$(awk -F, -v m=$m '$1 == m { print $11 }' "$tmp/s.h5.csv")
    check "$m: CSV sensitivity_avg ($csv ~ $av)" awk -v a="$av" -v c="$csv" 'BEGIN { d = a - c; exit !(d < 1e-6 && d > -1e-6) }'
done
check "table: Sens-avg column" grep -q '| Sens-max | N sens | Sens-avg |$' "$tmp/s.out"
"$bin" --report "$tmp/srep" "$tmp/s.h5" >/dev/null 2>&1
check "report: Sens-avg column beside Sens-max" grep -Eq 'Sens-max \|[^|]*\|[^|]*Sens-avg \|' "$tmp/srep/report.md"

# independent randomisation: /sanity with randomisation = independent, the original class throughout
base=(--config "$src/configs/demo.ini" --limit 1 --set "output.file=$tmp/d.h5" --set output.overlays=0
      --set saliency.methods=gradcam --set metrics.insertion=no --set metrics.deletion=no --set run.device=cpu
      --set sanity.methods=gradcam --sanity)
"$bin" "${base[@]}" --set sanity.order=independent >/dev/null 2>"$tmp/ind.err"
rc=$?
check "independent check exits 0: $(tail -n 1 "$tmp/ind.err")" [ $rc -eq 0 ]
check "the check says one at a time" grep -q 'layers re-initialised one at a time' "$tmp/ind.err"
check "randomisation attribute" bash -c "h5dump -a /sanity/randomisation '$tmp/d.h5' | grep -q '\"independent\"'"
cls=$(h5vals "$tmp/d.h5" /sanity/class | sort -u | wc -l)
check "the original class at every one of the 22 steps ($cls distinct)" [ "$cls" -eq 1 ]
check "22 steps" [ "$(h5vals "$tmp/d.h5" /sanity/steps | wc -l)" -eq 22 ]
check "step 0 similar to itself" [ "$(h5vals "$tmp/d.h5" /sanity/similarity/spearman_abs/gradcam | head -n 1)" = 1 ]
"$bin" --report "$tmp/drep" "$tmp/d.h5" >/dev/null 2>&1
check "report: independent section" grep -q '^## Sanity check: independent randomisation' "$tmp/drep/report.md"
"$bin" "${base[@]}" --set sanity.order=independent >/dev/null 2>"$tmp/again.err"
check "same settings: kept" grep -q 'has these settings already' "$tmp/again.err"
"$bin" "${base[@]}" >/dev/null 2>"$tmp/casc.err"
check "cascading replaces it" bash -c "h5dump -a /sanity/randomisation '$tmp/d.h5' | grep -q '\"cascading\"'"
"$bin" "${base[@]}" --set sanity.order=sideways >/dev/null 2>"$tmp/bado.err"
rc=$?
check "bad order: one line naming the key ($(cat "$tmp/bado.err"))" \
    bash -c "[ $rc -ne 0 ] && grep -q '\[sanity\] order' '$tmp/bado.err'"
finish
