#!/usr/bin/env bash
# cli_report_paper.sh: the report's paper layout and statistics (docs/report.md) on two small runs
# of one model (tiny_vgg) with different methods: one Table 1 / 4 with a single model column group
# whose rows come from both files (each equal to its file's --table CSV), one Table 2 from the
# levels; every mean with a 95 % interval around it (report.md and report.csv agree); the paired
# comparisons against pcampm in report.csv (mean difference = difference of the means, Wilcoxon p
# of 6 images without zero differences a multiple of 2/2^6, as the exact distribution gives);
# the paper's values absent with the reason line by default, present when forced (Δ = ours - paper,
# the mark where |Δ| exceeds the precision plus half the interval), absent with report.paper=no;
# the class check against the authors' top-1 classes on images named as the paper's; bad options.
# The statistics themselves are checked against scipy by tests/unit/test_stats.c.
# Usage: bash cli_report_paper.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"

cat >"$tmp/run.ini" <<EOF
$(tiny_vgg_model)
$(synth_data)
limit = 6
[saliency]
methods = pcamp,pcampm,gradcam
ablations = levels
[metrics]
steps = 8
[run]
device = cpu
EOF
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/a.h5" >/dev/null 2>"$tmp/a.err"
rc=$?; check "run a (pcamp, pcampm, gradcam, levels): $(tail -n 1 "$tmp/a.err")" [ $rc -eq 0 ]
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/b.h5" --set saliency.methods=gradcampp,ixg \
    --set saliency.ablations=none >/dev/null 2>"$tmp/b.err"
rc=$?; check "run b (gradcampp, ixg): $(tail -n 1 "$tmp/b.err")" [ $rc -eq 0 ]
"$bin" --table "$tmp/a.h5" >/dev/null 2>&1
"$bin" --table "$tmp/b.h5" >/dev/null 2>&1

"$bin" --report "$tmp/rep" "$tmp/a.h5" "$tmp/b.h5" >/dev/null 2>"$tmp/rep.err"
rc=$?; check "report of the two files: $(tail -n 1 "$tmp/rep.err")" [ $rc -eq 0 ]
md=$tmp/rep/report.md
csv=$tmp/rep/report.csv

# One table, one model column group, rows from both files.
check "one column group: tiny_vgg" grep -q '^| Method | tiny_vgg Ins | tiny_vgg Del | tiny_vgg Ins-Del | tiny_vgg N |$' "$md"
rows() {   # "id ins del insdel n" of Table 1 / 4
    awk -F'|' '/^## Tables 1 and 4/{t=1; next} /^## /{t=0} t && /^\| [a-z]/ && $2 !~ /Method/ {
        id = $2; sub(/^ +/, "", id); sub(/ .*/, "", id); out = id
        for (i = 3; i <= 6; i++) { c = $i; sub(/^ +/, "", c); sub(/[ ;[].*/, "", c); out = out " " c }
        print out }' "$1"
}
csv_rows() {   # the --table CSVs of both files, non-ablation ids, sorted
    cat "$tmp/a.h5.csv" "$tmp/b.h5.csv" | awk -F, '$1 != "method" && $1 !~ /\./ {
        printf "%s %.4f %.4f %.4f %d\n", $1, $2, $3, $4, $5 }' | sort
}
check "rows of both files, each equal to its file's --table CSV" [ "$(rows "$md" | sort)" = "$(csv_rows)" ]
check "the paper's order: ixg first, pcampm last" \
    [ "$(rows "$md" | awk '{print $1}' | tr '\n' ' ')" = "ixg gradcam gradcampp pcamp pcampm " ]
check "labels with the paper's names" grep -q '^| pcampm (PCAM±) | ' "$md"
check "Table 2 rows: PCAM+ at each of the 5 levels, deepest first" \
    [ "$(grep -c '^| PCAM+ at features\.' "$md")" -eq 5 ]

# Intervals: every mean in report.csv lies in its interval, and report.md prints the same numbers.
check "95 % intervals in report.csv: low <= mean <= high, low < high" awk -F, 'NR > 1 && $1 == "means" {
    if (!($8 >= $9 && $8 <= $10 && $9 < $10 && $7 == 6)) bad++; n++ } END { exit !(n >= 3 * (5 + 5) && !bad) }' "$csv"
cell=$(awk -F, '$1 == "means" && $3 == "gradcampp" && $6 == "insertion" { printf "%.4f [%.4f, %.4f]", $8, $9, $10 }' "$csv")
check "report.md's gradcampp cell is report.csv's mean and interval ($cell)" grep -qF "| gradcampp (GradCAM++) | $cell |" "$md"
check "the interval's rule is stated" grep -q 'BCa bootstrap interval, 10000 resamples' "$md"

# Paired comparisons against pcampm: every other method, three metrics; the mean difference is the
# difference of the means (same 6 images); 6 nonzero differences: exact p = 2 k / 2^6.
check "paired rows: 4 methods x 3 metrics against pcampm" \
    [ "$(awk -F, '$1 == "paired" && $4 == "pcampm"' "$csv" | wc -l)" -eq 12 ]
check "paired mean = mean(method) - mean(pcampm)" awk -F, '
    $1 == "means" && $4 == "" && $5 == "" { m[$3 "," $6] = $8 }
    $1 == "paired" { d = $8 - (m[$3 "," $6] - m["pcampm," $6]); if (d > 1e-9 || d < -1e-9) bad++; n++ }
    END { exit !(n == 12 && !bad) }' "$csv"
# (pcamp and pcampm may tie exactly on an image: a zero difference switches to the approximation)
check "Wilcoxon p in (0, 1], multiples of 1/32 (exact, n = 6)" awk -F, '$1 == "paired" && $3 != "pcamp" {
    k = $15 * 32; if (!($15 > 0 && $15 <= 1 && (k - int(k + 0.5)) ^ 2 < 1e-18)) bad++; n++ } END { exit !(n == 9 && !bad) }' "$csv"
check "the paired table in report.md" grep -q '^## Paired comparisons against `pcampm` (PCAM±)' "$md"
"$bin" --report "$tmp/rep_ref" "$tmp/a.h5" "$tmp/b.h5" --set report.reference=gradcam >/dev/null 2>&1
check "report.reference=gradcam: the comparisons against gradcam" \
    [ "$(awk -F, '$1 == "paired" && $4 == "gradcam"' "$tmp/rep_ref/report.csv" | wc -l)" -eq 12 ]

# The paper's values: a synthetic model is not the paper's setting, so they are left out, with the
# reason; forced, every cell has the paper's value, Δ and its mark.
check "no paper values by default" bash -c "! grep -q '; paper ' '$md'"
check "the reason line" grep -q '^Paper values left out for tiny_vgg: the model is `arch = vgg` (a custom network' "$md"
check "report.csv: no paper columns filled" awk -F, '$1 == "means" && $12 != "" { bad++ } END { exit bad > 0 }' "$csv"
"$bin" --report "$tmp/forced" "$tmp/a.h5" "$tmp/b.h5" --set report.paper=yes >/dev/null 2>"$tmp/forced.err"
rc=$?; check "report.paper=yes: $(tail -n 1 "$tmp/forced.err")" [ $rc -eq 0 ]
fmd=$tmp/forced/report.md
check "forced: said so" grep -q '^Paper values for tiny_vgg: forced with `report.paper = yes`, compared with the paper.s vgg16' "$fmd"
check "forced: the paper's GradCAM insertion 0.58 beside ours" grep -q '^| gradcam (GradCAM) | [0-9.]* \[[0-9., ]*\]; paper 0.58, ' "$fmd"
check "forced: Table 2 with the paper's layer names" grep -q '^| PCAM+ at features.23 (block5_conv3) | .*; paper 0.59, ' "$fmd"
check "forced: report.csv has the paper's value, Δ = ours - paper and the mark rule" awk -F, '
    $1 == "means" && $11 != "" {
        prec = ($6 == "ins_del") ? 0.01 : 0.005
        d = $8 - $12; want = ((d < 0 ? -d : d) > prec + ($10 - $9) / 2) ? 1 : 0
        if ((d - $13) ^ 2 > 1e-16 || $14 != want) bad++; n++; marked += $14 }
    END { exit !(n == 3 * 5 + 3 * 10 && !bad && marked > 0) }' "$tmp/forced/report.csv"
check "forced: marked cells in report.md" grep -q '\*\*Δ [+-][0-9.]* (!)\*\*' "$fmd"
"$bin" --report "$tmp/no" "$tmp/a.h5" --set report.paper=no >/dev/null 2>&1
check "report.paper=no: left out, said why" grep -q '^Paper values left out for tiny_vgg: `report.paper = no`' "$tmp/no/report.md"

# Figures: one grid over both files, the curve groups of the model.
for fig in grid curves_tiny_vgg_insertion curves_tiny_vgg_polycam_deletion curves_tiny_vgg_cams_insertion \
    curves_tiny_vgg_gradient_perturbation_insertion; do
    check "$fig.png drawn" [ "$(stat -c %s "$tmp/rep/$fig.png" 2>/dev/null || echo 0)" -gt 10000 ]
done
check "no per-file grid" [ ! -e "$tmp/rep/grid_a.png" ]

# Images named as the paper's: the classes are compared with the authors' top-1 classes.
mkdir -p "$tmp/paper_imgs"
head -n 3 "$src/data/ilsvrc2012_val_2000.txt" >"$tmp/paper_list.txt"
i=0
while read -r img; do
    cp "$src/data/synthetic/synth_00$i.jpg" "$tmp/paper_imgs/$img"
    i=$((i + 1))
done <"$tmp/paper_list.txt"
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/c.h5" --set "data.list=$tmp/paper_list.txt" \
    --set "data.root=$tmp/paper_imgs" --set data.labels= --set saliency.methods=pcampm --set saliency.ablations=none \
    >/dev/null 2>"$tmp/c.err"
rc=$?; check "run on images named as the paper's: $(tail -n 1 "$tmp/c.err")" [ $rc -eq 0 ]
"$bin" --report "$tmp/repc" "$tmp/c.h5" >/dev/null 2>&1
ours=$(h5vals "$tmp/c.h5" /images/class | head -n 1)
check "the class count against the authors'" grep -q '^\*\*tiny_vgg: 0 of 3 predicted classes agree with the authors.\*\*' "$tmp/repc/report.md"
check "the disagreeing images listed ($ours vs 846)" grep -q "^| ILSVRC2012_val_00003798.JPEG | $ours | 846 |" "$tmp/repc/report.md"
check "no class check off the paper's list" bash -c "! grep -q 'predicted classes agree' '$md'"

# Bad options: one line, exit 2.
"$bin" --report "$tmp/bad" "$tmp/a.h5" --set report.paper=maybe >/dev/null 2>"$tmp/bad.err"
rc=$?
check "report.paper=maybe: exit 2, one line" bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$tmp/bad.err') -eq 1 ] && grep -q 'report.paper=maybe: expected auto, yes or no' '$tmp/bad.err'"
"$bin" --report "$tmp/bad" "$tmp/a.h5" --set data.limit=3 >/dev/null 2>"$tmp/bad.err"
rc=$?
check "a run key with --report: exit 2" bash -c "[ $rc -eq 2 ] && grep -q 'with --report only report.paper' '$tmp/bad.err'"
finish
