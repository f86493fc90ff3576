#!/usr/bin/env bash
# cli_hostile.sh: result files and shards edited as a hostile or careless user would (issue 22;
# docs/hostile-inputs.md): datasets whose shapes disagree with the file's own N, map_side and steps,
# a map_side of 100000, method ids and image names outside the allowed set, /images/index values a
# run cannot write, /sanity datasets of other shapes, and a string list that a few bytes of fill
# value stand for. Each is refused by --table, --report and --merge with exit 1 and one line naming
# the file, the dataset, the expected and the found shape (or the name and why), with no sanitizer
# report and a peak RSS of at most 8 x the file's size + 64 MB above the binary's own start-up RSS
# (/usr/bin/time; `--version`: 16 MB on the CPU-only build, 215 MB where the CUDA libraries load). Also: non-finite and
# out-of-range AUCs are left out of --table and --report alike, the report's figure links of a file
# named "run 1.h5" are percent-encoded, a list entry outside the allowed set and a --set value with a
# newline are refused, and a sanity check stopped before its first step says so.
# Plumbing test: tiny_resnet, 2 images in 2 shards, 4 steps, masks, a 1-image sanity check.
# Usage: bash cli_hostile.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump
edit=$(dirname "$bin")/tests/hostile_h5
[ -x "$edit" ] || { echo "FAIL: $edit not built"; exit 1; }
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time not installed"; exit 77; }

cat >"$tmp/run.ini" <<EOF
$(tiny_resnet_model)
layers = layer3,layer4
[data]
list = $src/data/synthetic/images.txt
labels = $src/data/synthetic/labels.txt
masks = $src/data/synthetic/masks
limit = 2
[saliency]
methods = pcamp,gradcam
[metrics]
steps = 4
[sanity]
enabled = yes
methods = gradcam
images = 1
[run]
device = cpu
EOF
for i in 0 1; do
    "$bin" --config "$tmp/run.ini" --set "output.file=$tmp/s$i.h5" --set "run.shard=$i/2" >/dev/null 2>"$tmp/s$i.err"
    rc=$?; check "shard $i/2 runs: $(tail -n 1 "$tmp/s$i.err")" [ $rc -eq 0 ]
done
"$bin" --merge "$tmp/full.h5" "$tmp/s0.h5" "$tmp/s1.h5" >/dev/null 2>"$tmp/merge.err"
rc=$?; check "the shards merge: $(tail -n 1 "$tmp/merge.err")" [ $rc -eq 0 ]

# The binary's start-up RSS (its libraries' pages: cuDNN and cuBLAS add 200 MB to a CUDA build).
/usr/bin/time -f %M -o "$tmp/rss0" "$bin" --version >/dev/null 2>&1
base_rss=$(tail -n 1 "$tmp/rss0")
echo "start-up peak RSS of $bin --version: $base_rss kB"
check "start-up RSS measured ($base_rss kB)" [ "$base_rss" -gt 0 ]

# refused <name> <regex> <file to bound RSS by> <polycam-eval arguments...>: exit 1, one line on
# stderr matching the regex, no sanitizer report, peak RSS <= start-up RSS + 8 x the file + 64 MB.
refused() {
    local what=$1 re=$2 file=$3
    shift 3
    /usr/bin/time -f %M -o "$tmp/rss" "$bin" "$@" >/dev/null 2>"$tmp/err"
    local rc=$? rss limit
    rss=$(tail -n 1 "$tmp/rss")
    limit=$(( base_rss + $(stat -c %s "$file") * 8 / 1024 + 65536 ))
    echo "$what: rc $rc, peak RSS $rss kB (limit $limit kB), $(head -c 300 "$tmp/err")"
    check "$what: exit 1 (rc $rc)" [ $rc -eq 1 ]
    check "$what: one line" [ "$(wc -l <"$tmp/err")" -eq 1 ]
    check "$what: names the problem: $(head -c 300 "$tmp/err")" grep -qE "$re" "$tmp/err"
    check "$what: no sanitizer report" bash -c "! grep -qE 'Sanitizer|runtime error' '$tmp/err'"
    check "$what: peak RSS $rss kB <= $limit kB" [ "$rss" -le "$limit" ]
}

# hostile <name> <edit> <arguments...>: a copy of full.h5 (with SHARD=1: of shard s1.h5) as
# $tmp/<name>.h5, edited by tests/cli/hostile_h5.c.
hostile() {
    local name=$1 from=$tmp/full.h5
    [ -n "${SHARD:-}" ] && from=$tmp/s1.h5
    cp "$from" "$tmp/$name.h5"
    "$edit" "$2" "$tmp/$name.h5" "${@:3}" || echo "FAIL: hostile_h5 $2 on $name"
}

report_of() { echo --report "$tmp/rep_$1" "$tmp/$1.h5"; }

# 1. shapes that disagree with the file's own N, steps and map_side
hostile scores reshape /methods/pcamp/insertion/scores 2,100000
re_scores="scores.h5: /methods/pcamp/insertion/scores has shape \\(2, 100000\\), expected \\(2, 4\\) \\(N = 2 images, steps = 4\\)$"
refused "insertion scores (N, 100000) while steps = 4, --table" "$re_scores" "$tmp/scores.h5" --table "$tmp/scores.h5"
refused "insertion scores (N, 100000) while steps = 4, --report" "$re_scores" "$tmp/scores.h5" $(report_of scores)
SHARD=1 hostile sscores reshape /methods/pcamp/insertion/scores 1,100000
refused "insertion scores (N, 100000) of a shard, --merge" \
    "sscores.h5: /methods/pcamp/insertion/scores has shape \\(1, 100000\\), expected \\(1, 4\\)" \
    "$tmp/sscores.h5" --merge "$tmp/m_scores.h5" "$tmp/s0.h5" "$tmp/sscores.h5"
check "... no merged file" [ ! -e "$tmp/m_scores.h5" ]
hostile map reshape /methods/gradcam/map 2,1024,1024
refused "map (N, 1024, 1024) while map_side = 224" \
    "map.h5: /methods/gradcam/map has shape \(2, 1024, 1024\), expected \(2, 224, 224\) \(N = 2 images, map_side = 224\)$" \
    "$tmp/map.h5" $(report_of map)
hostile del reshape /methods/gradcam/deletion/scores 50000,4
refused "deletion scores (50000, 4)" \
    "del.h5: /methods/gradcam/deletion/scores has shape \(50000, 4\), expected \(2, 4\)" "$tmp/del.h5" $(report_of del)
SHARD=1 hostile sdel reshape /methods/gradcam/deletion/scores 50000,4
refused "deletion scores (50000, 4) of a shard, --merge" "sdel.h5: /methods/gradcam/deletion/scores has shape \(50000, 4\), expected \(1, 4\)" \
    "$tmp/sdel.h5" --merge "$tmp/m_sdel.h5" "$tmp/s0.h5" "$tmp/sdel.h5"
check "... no merged file" [ ! -e "$tmp/m_sdel.h5" ]
# a shard consistent in itself (steps = 2 and curves of 2 steps) whose configuration still says 4:
# merged with the other shard, its rows would be read into memory sized by the first (a heap
# overflow that fuzz_results found, tests/fuzz/crashes/results/merge_shards_disagree_on_map_side)
SHARD=1 hostile ssteps attr steps 2
for m in pcamp gradcam; do for c in insertion deletion; do
    "$edit" reshape "$tmp/ssteps.h5" /methods/$m/$c/scores 1,2 || echo "FAIL: hostile_h5 reshape on ssteps"
done; done
refused "a shard of steps = 2 whose configuration says 4, --merge" \
    "s0.h5 and .*ssteps.h5 store different rows, although their configurations agree \(one was edited\?\): steps 4 there, 2 here" \
    "$tmp/ssteps.h5" --merge "$tmp/m_ssteps.h5" "$tmp/s0.h5" "$tmp/ssteps.h5"
check "... no merged file" [ ! -e "$tmp/m_ssteps.h5" ]
hostile side attr map_side 100000
refused "map_side = 100000" "side.h5: map_side = 100000, expected 1..4096" "$tmp/side.h5" $(report_of side)
hostile point reshape /methods/pcamp/localisation/pointing 50000
refused "pointing (50000) while N = 2, --report" \
    "point.h5: /methods/pcamp/localisation/pointing has shape \(50000\), expected \(2\) \(N = 2 images\)$" \
    "$tmp/point.h5" $(report_of point)
refused "pointing (50000) while N = 2, --table" "point.h5: /methods/pcamp/localisation/pointing has shape" \
    "$tmp/point.h5" --table "$tmp/point.h5"
hostile auctype reshape /methods/pcamp/insertion/auc 2,3
refused "AUCs of rank 2" "auctype.h5: /methods/pcamp/insertion/auc has shape \(2, 3\), expected \(2\)" \
    "$tmp/auctype.h5" --table "$tmp/auctype.h5"
hostile names empty /images/name 100000000
refused "a /images/name of 10^8 rows that the file does not hold" \
    "names.h5: /images/name would take [0-9]+ MB of memory, more than a [0-9.]+ MB file can hold" \
    "$tmp/names.h5" --table "$tmp/names.h5"
hostile sanmap empty /sanity/maps/gradcam 1,3,1024,1024
refused "/sanity/maps (1, T, 1024, 1024), --report" \
    "sanmap.h5: /sanity/maps/gradcam has shape \(1, 3, 1024, 1024\), expected \(1, [0-9]+, 224, 224\)" \
    "$tmp/sanmap.h5" $(report_of sanmap)
SHARD=1 hostile sanimg reshape /sanity/images 1,1000
refused "/sanity/images of rank 2 in a shard, --merge" "sanimg.h5: /sanity/images has shape \(1, 1000\), expected \(any\)" \
    "$tmp/sanimg.h5" --merge "$tmp/m_sanimg.h5" "$tmp/s0.h5" "$tmp/sanimg.h5"
SHARD=1 hostile sancls reshape /sanity/class 1,100000
refused "/sanity/class (1, 100000) in a shard, --merge" "sancls.h5: /sanity/class has shape \(1, 100000\), expected \(1, [0-9]+\)" \
    "$tmp/sancls.h5" --merge "$tmp/m_sancls.h5" "$tmp/s0.h5" "$tmp/sancls.h5"

# 2. method ids and image names outside the allowed set (docs/hostile-inputs.md)
hostile up str @method_ids 0 ../../images
refused "method id ../../images" "up.h5: method id '../../images' in method_ids has a '..' path component" \
    "$tmp/up.h5" $(report_of up)
for id in 'a|b' 'a\nb' '<img src=x onerror=alert(1)>' '=HYPERLINK("http://x","y")' 'gradcam'; do
    hostile id str @method_ids 0 "$id"
    refused "method id $id" "id.h5: method id '.*' (in method_ids (holds|starts)|appears twice)" "$tmp/id.h5" \
        --table "$tmp/id.h5"
done
hostile img str /images/name 1 'x|y.jpg'
refused "image name x|y.jpg" "img.h5: /images/name row 1 'x\|y.jpg' holds one of \| < > \`" "$tmp/img.h5" $(report_of img)
hostile img2 str /images/name 0 '@SUM(1+1)*cmd|x.jpg'
refused "image name @SUM..." "img2.h5: /images/name row 0 .* starts with = \+ - @" "$tmp/img2.h5" --table "$tmp/img2.h5"

# 3. /images/index values a run cannot write (shard 1/2 holds odd list entries)
for v in 2147483647 -5 0; do
    SHARD=1 hostile index val /images/index 0 $v
    refused "/images/index = $v, --merge" "index.h5: /images/index row 0 is $v" "$tmp/index.h5" \
        --merge "$tmp/m_index.h5" "$tmp/s0.h5" "$tmp/index.h5"
    check "... no merged file" [ ! -e "$tmp/m_index.h5" ]
done

# 4. a non-finite or impossible AUC: left out of the means of --table and --report alike
for v in -inf 1e308; do
    hostile auc val /methods/gradcam/deletion/auc 0 $v
    "$bin" --table "$tmp/auc.h5" >"$tmp/auc.out" 2>&1
    rc=$?; check "--table with a deletion AUC of $v: exit 0 ($rc)" [ $rc -eq 0 ]
    "$bin" --report "$tmp/rep_auc" "$tmp/auc.h5" --set report.reference=pcamp >/dev/null 2>&1
    rc=$?; check "--report with a deletion AUC of $v: exit 0 ($rc)" [ $rc -eq 0 ]
    table_n=$(awk -F'|' '$2 ~ /^ gradcam / { gsub(/ /, "", $6); print $6; exit }' "$tmp/auc.out")
    report_n=$(awk -F'|' '/^## Tables 1/{t=1} t && $2 ~ /^ gradcam / { gsub(/ /, "", $6); print $6; exit }' "$tmp/rep_auc/report.md")
    check "AUC $v: N = 1 in --table ($table_n) and --report ($report_n)" [ "$table_n:$report_n" = 1:1 ]
    check "AUC $v: no long number in the report" bash -c "! grep -qE '[0-9]{12}' '$tmp/rep_auc/report.md'"
    # the interval and the paired test count as the mean does: over one value, so no interval; the
    # insertion too
    for metric in insertion deletion; do
        check "AUC $v: $metric over 1 image in report.csv, no interval" \
            grep -qE "^means,[^,]*,gradcam,,,$metric,1,0\.[0-9]+,,," "$tmp/rep_auc/report.csv"
    done
    check "AUC $v: the paired deletion difference and its Wilcoxon p over 1 image" \
        grep -qE "^paired,[^,]*,gradcam,pcamp,,deletion,1,-?0\.[0-9]+,,,,,,,[0-9.]+$" "$tmp/rep_auc/report.csv"
    check "AUC $v: no huge number in report.csv" bash -c "! grep -qF 'e+' '$tmp/rep_auc/report.csv'"
done

# 5. report output: figure links of a file named "run 1.h5" percent-encoded; Markdown text escaped;
# a model label (from the file's config) and a method id with Markdown characters escaped in
# report.md, the label RFC 4180-quoted with the formula guard in report.csv
cp "$tmp/full.h5" "$tmp/run 1.h5"
cp "$tmp/full.h5" "$tmp/a*b[c].h5"
"$bin" --report "$tmp/rep_space" "$tmp/run 1.h5" "$tmp/a*b[c].h5" >/dev/null 2>"$tmp/space.err"
rc=$?; check "report of 'run 1.h5': exit 0: $(tail -n 1 "$tmp/space.err")" [ $rc -eq 0 ]
hostile label str @config 0 '[model]\narch = =cmd,"x"*<b>|y\n[run]\nseed = 1\n'
"$edit" move "$tmp/label.h5" /methods/pcamp '/methods/p*c[1]_&x' || echo "FAIL: hostile_h5 move"
"$edit" str "$tmp/label.h5" @method_ids 0 'p*c[1]_&x' || echo "FAIL: hostile_h5 str"
"$bin" --report "$tmp/rep_label" "$tmp/label.h5" >/dev/null 2>"$tmp/label.err"
rc=$?; check "report of a model label '=cmd,\"x\"*<b>|y': exit 0: $(tail -n 1 "$tmp/label.err")" [ $rc -eq 0 ]
if grep -q '^(No figures' "$tmp/rep_space/report.md"; then
    echo "built without cairo: no figure links to check"
else
    check "figure link percent-encoded" grep -qF '(sanity_grid_run%201.png)' "$tmp/rep_space/report.md"
    check "... to the file written" [ -s "$tmp/rep_space/sanity_grid_run 1.png" ]
    check "figure link of 'a*b[c]' percent-encoded" grep -qF '(sanity_grid_a%2Ab%5Bc%5D.png)' "$tmp/rep_space/report.md"
    check "curve figure of the label: its title escaped, its file name made safe" grep -qF \
        '![=cmd,"x"\*\<b\>\|y: mean insertion curve of every method](curves__cmd__x___b__y_insertion.png)' \
        "$tmp/rep_label/report.md"
    check "... to the file written" [ -s "$tmp/rep_label/curves__cmd__x___b__y_insertion.png" ]
fi
check "a file label's Markdown characters escaped" grep -qF '| a\*b\[c\] energy |' "$tmp/rep_space/report.md"
check "a model label's Markdown characters escaped" grep -qF '| =cmd,"x"\*\<b\>\|y Ins |' "$tmp/rep_label/report.md"
check "a method id's Markdown characters escaped (Tables 1 and 4, localisation)" \
    [ "$(grep -cF '| p\*c\[1\]_\&x |' "$tmp/rep_label/report.md")" = 2 ]
check "no raw HTML from the file in report.md" bash -c "! grep -qF '<b>' '$tmp/rep_label/report.md'"
check "report.csv: the label quoted, formula-guarded" \
    grep -qF "means,\"'=cmd,\"\"x\"\"*<b>|y\",p*c[1]_&x,,,insertion,2," "$tmp/rep_label/report.csv"

# 6. inputs of a run: a list entry outside the allowed set, a --set value with a newline
printf 'synth_000.jpg\n=cmd|x.jpg\n' >"$tmp/bad_list.txt"
"$bin" --config "$tmp/run.ini" --set "data.list=$tmp/bad_list.txt" --set "data.root=$src/data/synthetic" \
    --set "output.file=$tmp/bl.h5" >/dev/null 2>"$tmp/bl.err"
rc=$?
check "list entry '=cmd|x.jpg': exit 1 ($rc)" [ $rc -eq 1 ]
check "... one line naming the list line: $(cat "$tmp/bl.err")" bash -c \
    "[ \$(wc -l <'$tmp/bl.err') -eq 1 ] && grep -q 'bad_list.txt:2: image name .=cmd|x.jpg. starts with' '$tmp/bl.err'"
"$bin" --config "$tmp/run.ini" --set $'output.file=a.h5\n[run]\nseed = 5' >/dev/null 2>"$tmp/set.err"
rc=$?
check "--set value with a newline: exit 2 ($rc)" [ $rc -eq 2 ]
check "... one line: $(cat "$tmp/set.err")" bash -c \
    "[ \$(wc -l <'$tmp/set.err') -eq 1 ] && grep -qF 'output.file=a.h5\\x0a[run]' '$tmp/set.err' && grep -q 'control character' '$tmp/set.err'"
check "... nothing written" [ ! -e a.h5 ]

# 7. a sanity check stopped before its first step: no "steps 0..-1"
imgs=()
for i in 1 2 3 4 5 6; do ln -s "$src/data/bad_inputs/large_4000x3000.jpg" "$tmp/big$i.jpg"; imgs+=("$tmp/big$i.jpg"); done
printf '%s\n' "${imgs[@]}" >"$tmp/big.txt"
stop=(--config "$tmp/run.ini" --set "data.list=$tmp/big.txt" --set data.labels= --set data.masks= --set data.limit=0
      --set metrics.insertion=no --set metrics.deletion=no --set saliency.methods=gradcam --set sanity.images=6
      --set "output.file=$tmp/stop.h5")
"$bin" "${stop[@]}" --set sanity.enabled=no >/dev/null 2>"$tmp/stop0.err"
rc=$?; check "run for the stop test: $(tail -n 1 "$tmp/stop0.err")" [ $rc -eq 0 ]
"$bin" "${stop[@]}" >/dev/null 2>"$tmp/stop.err" &
pid=$!
for _ in $(seq 600); do grep -q 'is complete' "$tmp/stop.err" && break; sleep 0.02; done
kill -TERM "$pid"
wait "$pid"
rc=$?
check "stopped before step 0 ended: exit 3 ($rc)" [ $rc -eq 3 ]
check "... no 'steps 0..-1': $(tail -n 1 "$tmp/stop.err")" bash -c "! grep -q '0\.\.-1' '$tmp/stop.err'"
check "... says no step was kept: $(grep interrupted "$tmp/stop.err")" grep -q "no step finished yet, nothing kept in $tmp/stop.h5.sanity.journal" "$tmp/stop.err"

finish
