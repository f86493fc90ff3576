#!/usr/bin/env bash
# cli_sanity.sh: `polycam-eval --config demo.ini --sanity` (the demo's synth_resnet, 1 image, two
# fast methods: gradcam and ixg) writes /sanity with the layout of docs/measures.md "Sanity check" (22 steps:
# the original, then fc ... conv1), step 0 is similar to itself (1), a finished output only gains
# /sanity (and a second check replaces it), bad [sanity] values give one line naming the key, a
# stopped check keeps its finished steps and the rerun continues from them to the same /sanity,
# a /sanity that cannot be written (no copy possible, a full disk) leaves the file as it was, and
# `--report` draws the sanity grid and the similarity curves.
# Usage: bash cli_sanity.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5ls

out=$tmp/demo.h5
base=(--config "$src/configs/demo.ini" --limit 1 --set "output.file=$out" --set output.overlays=0
      --set saliency.methods=gradcam --set metrics.insertion=no --set metrics.deletion=no --set run.device=cpu)
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >"$tmp/run.out" 2>"$tmp/run.err"
rc=$?; check "run with --sanity exits 0: $(tail -n 1 "$tmp/run.err")" [ $rc -eq 0 ]
cp "$out" "$tmp/ref_sanity.h5"   # the uninterrupted check, for the resumed one below
check "the check names its image" grep -q '^sanity check: image synthetic/synth_000.jpg$' "$tmp/run.err"
check "no steps journal left" [ ! -e "$out.sanity.journal" ]
check "progress names the steps" grep -q 'sanity step 21/21: conv1' "$tmp/run.err"
check "the cost line counts the sanity check" grep -q '^cost: .*; sanity check about [0-9]' "$tmp/run.err"

h5ls -r "$out" >"$tmp/ls.txt" 2>&1
for d in "/sanity/steps *Dataset {22}" "/sanity/methods *Dataset {2}" "/sanity/class *Dataset {1, 22}" \
         "/sanity/score *Dataset {1, 22}" "/sanity/images *Dataset {1}" "/sanity/layer_index *Dataset {22}" \
         "/sanity/maps/gradcam *Dataset {1, 22, 224, 224}" "/sanity/maps/ixg *Dataset {1, 22, 224, 224}" \
         "/sanity/similarity/spearman_abs/gradcam *Dataset {1, 22}" "/sanity/similarity/spearman/ixg *Dataset {1, 22}" \
         "/sanity/similarity/ssim/gradcam *Dataset {1, 22}" "/sanity/similarity/hog/ixg *Dataset {1, 22}"; do
    check "layout: $d" grep -q "^$d" "$tmp/ls.txt"
done
check "maps stored as [output] maps says (demo.ini: float16)" \
    bash -c "h5ls -v '$out/sanity/maps/gradcam' | grep -q '16-bit little-endian floating-point'"
h5vals "$out" /sanity/steps >"$tmp/steps.txt"
check "22 steps" [ "$(wc -l <"$tmp/steps.txt")" -eq 22 ]
check "steps: original, fc, layer4.0.downsample.0, layer4.0.conv3, ..., layer1.0.conv1, conv1" \
    [ "$(sed -n '1p;2p;3p;4p;21p;22p' "$tmp/steps.txt" | tr -d '"' | tr '\n' ' ')" = \
      "original fc layer4.0.downsample.0 layer4.0.conv3 layer1.0.conv1 conv1 " ]
for k in spearman_abs spearman ssim hog; do
    first=$(h5vals "$out" /sanity/similarity/$k/gradcam | head -n 1)
    check "$k at step 0 is 1 ($first)" [ "$first" = 1 ]
done

# A finished output gains a new /sanity without recomputing the run (other methods: replaced).
"$bin" "${base[@]}" --set sanity.methods=ixg --sanity >/dev/null 2>"$tmp/again.err"
rc=$?; check "second --sanity exits 0: $(tail -n 1 "$tmp/again.err")" [ $rc -eq 0 ]
check "the run itself is not recomputed" grep -q 'nothing to compute' "$tmp/again.err"
check "/sanity replaced (1 method)" bash -c "h5ls -r '$out' | grep -q '^/sanity/methods *Dataset {1}'"

# [output] maps = none: no /sanity/maps, the same similarities, the report says why it has no grid.
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity --set output.maps=none \
    --set "output.file=$tmp/nomaps.h5" >/dev/null 2>&1
check "maps = none: no /sanity/maps datasets" bash -c "! h5ls -r '$tmp/nomaps.h5' | grep -q '^/sanity/maps/'"
for k in spearman_abs spearman ssim hog; do
    check "maps = none: the same $k of ixg" h5diff -q "$out" "$tmp/nomaps.h5" /sanity/similarity/$k/ixg /sanity/similarity/$k/ixg
done
"$bin" --report "$tmp/nomaps_rep" "$tmp/nomaps.h5" >/dev/null 2>&1
check "maps = none: the report says there is no grid" grep -q 'No sanity grid: the file stores no maps' "$tmp/nomaps_rep/report.md"

# Bad values: one line naming the key; --sanity with --table is a command-line mistake.
"$bin" "${base[@]}" --set sanity.methods=nope --sanity >/dev/null 2>"$tmp/bad.err"
rc=$?
check "unknown sanity method (a --set): exit 2 ($rc)" [ $rc -eq 2 ]
check "one line naming [sanity] methods" bash -c "[ \$(wc -l <'$tmp/bad.err') -eq 1 ] && grep -q '\[sanity\] methods' '$tmp/bad.err'"
"$bin" "${base[@]}" --set sanity.images=0 --sanity >/dev/null 2>"$tmp/bad2.err"
check "sanity.images = 0 refused naming the key" grep -q '\[sanity\] images' "$tmp/bad2.err"
"$bin" --table "$out" --sanity >/dev/null 2>"$tmp/bad3.err"
check "--sanity with --table: exit 2" [ $? -eq 2 ]

# SIGTERM during the check: it stops after the current step, exit 3, /sanity left as it was.
"$bin" "${base[@]}" --set sanity.methods=pcamp --sanity >/dev/null 2>"$tmp/int.err" &
pid=$!
# (paused with SIGSTOP where the condition holds, so the signal finds it there)
wait_for 600 "sanity step 0 ($tmp/int.err)" "$pid" in_file 'sanity step 0/' "$tmp/int.err" && pause_run "$pid"
kill -TERM "$pid"
kill -CONT "$pid"
wait "$pid"
rc=$?
check "SIGTERM during the check: exit 3 ($rc)" [ $rc -eq 3 ]
check "says it was interrupted" grep -q 'interrupted by SIGTERM during the sanity check' "$tmp/int.err"
check "old /sanity kept (1 method)" bash -c "h5ls -r '$out' | grep -q '^/sanity/methods *Dataset {1}'"
check "the finished steps are kept" bash -c "grep -q 'steps 0..[0-9]* kept in $out.sanity.journal; rerun the same command' '$tmp/int.err' && [ -s '$out.sanity.journal' ]"
# --force starts over: the kept steps go with the rest
"$bin" "${base[@]}" --force >/dev/null 2>&1
check "--force removes the steps journal" [ ! -e "$out.sanity.journal" ]

# Stopped in the middle, resumed: it continues at the first unfinished step (a torn last record,
# as a SIGKILL leaves, is computed again) and /sanity equals the uninterrupted check's.
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>"$tmp/int2.err" &
pid=$!
wait_for 600 "sanity step 4 ($tmp/int2.err)" "$pid" in_file 'sanity step 4/' "$tmp/int2.err" && pause_run "$pid"
kill -TERM "$pid"
kill -CONT "$pid"
wait "$pid"
rc=$?
check "SIGTERM in the middle of the check: exit 3 ($rc)" [ $rc -eq 3 ]
last=$(grep -c '  sanity step ' "$tmp/int2.err")
truncate -s -100 "$out.sanity.journal"
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>"$tmp/res2.err"
rc=$?; check "resumed check exits 0 ($(tail -n 1 "$tmp/res2.err"))" [ $rc -eq 0 ]
check "resumed at the torn step $((last - 1)) ($(grep resuming "$tmp/res2.err"))" \
    grep -q "^sanity check: resuming at step $((last - 1)) of 21 (steps 0..$((last - 2)) read back" "$tmp/res2.err"
check "no step before it computed again" bash -c "! grep -q '  sanity step $((last - 2))/' '$tmp/res2.err'"
check "resumed /sanity equals the uninterrupted one" h5diff -q "$out" "$tmp/ref_sanity.h5" /sanity /sanity
check "steps journal removed when /sanity is written" [ ! -e "$out.sanity.journal" ]
"$bin" "${base[@]}" --set sanity.methods=ixg --sanity >/dev/null 2>&1   # back to the 1-method /sanity

# /sanity goes into a copy renamed over the file when complete: a write that fails leaves the file
# as it was (here the copy cannot be made), and a SIGKILL at the end leaves the old or the new
# /sanity whole, never a half-written file.
cp "$out" "$tmp/before_fail.h5"
mkdir "$out.update"
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>"$tmp/fail.err"
rc=$?
check "failed /sanity write: exit 1 ($rc)" [ $rc -eq 1 ]
check "failed /sanity write: one line naming the copy ($(tail -n 1 "$tmp/fail.err"))" grep -q "cannot copy it to $out.update" "$tmp/fail.err"
check "failed /sanity write: the file is unchanged" cmp -s "$out" "$tmp/before_fail.h5"
rmdir "$out.update"
# every step was computed before the write failed: they are in the journal, and the same command
# writes /sanity from it without computing a step (as after a kill between the last step and the rename)
check "failed /sanity write: the steps journal is kept" [ -s "$out.sanity.journal" ]
# ... and on a full disk: the copy is made but /sanity does not fit (a file size limit a little above
# the file's size): one line naming the file and why, the file unchanged, no copy left, steps kept
kb=$(($(stat -c %s "$out") / 1024 + 16))
(ulimit -f $kb; trap '' XFSZ; exec "$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>"$tmp/sfull.err")
rc=$?
check "/sanity on a full disk: exit 1 ($rc)" [ $rc -eq 1 ]
check "... one error line naming the file and why: $(tail -n 1 "$tmp/sfull.err")" bash -c \
    "[ \$(grep -c '^polycam-eval:' '$tmp/sfull.err') -eq 1 ] && tail -n 1 '$tmp/sfull.err' | grep -qx 'polycam-eval: $out: cannot write /sanity (File too large); the file is left as it was'"
check "... the file is unchanged" cmp -s "$out" "$tmp/before_fail.h5"
check "... no copy left" [ ! -e "$out.update" ]
check "... the steps journal is kept" [ -s "$out.sanity.journal" ]
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>"$tmp/full.err"
rc=$?; check "full journal: exit 0 ($(tail -n 1 "$tmp/full.err"))" [ $rc -eq 0 ]
check "full journal: every step read back" grep -q '^sanity check: every step read back from' "$tmp/full.err"
check "full journal: no step computed again" bash -c "! grep -q '  sanity step' '$tmp/full.err'"
check "full journal: /sanity equals the uninterrupted one" h5diff -q "$out" "$tmp/ref_sanity.h5" /sanity /sanity
"$bin" "${base[@]}" --set sanity.methods=ixg --sanity >/dev/null 2>&1   # back to the 1-method /sanity
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>"$tmp/kill.err" &
pid=$!
# (no pause: the kill is meant to land anywhere around the final write, and either outcome is checked)
wait_poll=0.02 wait_for 600 "sanity step 21 ($tmp/kill.err)" "$pid" in_file 'sanity step 21/' "$tmp/kill.err"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
check "SIGKILL at the end of the check: the results read as before" \
    bash -c "'$bin' --table '$out' >/dev/null 2>&1 && h5diff -q '$out' '$tmp/before_fail.h5' /methods /methods"
n_meth=$(h5ls -r "$out" | sed -n 's|^/sanity/methods *Dataset {\([0-9]*\)}.*|\1|p')
check "SIGKILL at the end of the check: /sanity is the old (1) or the new (2) one ($n_meth)" [ "$n_meth" = 1 -o "$n_meth" = 2 ]

# A first image that cannot be read: named, and the check takes the next readable one.
printf 'does_not_exist.jpg\nsynthetic/synth_001.jpg\n' >"$tmp/bad_first.txt"
"$bin" "${base[@]}" --set "data.list=$tmp/bad_first.txt" --set data.labels= --set "output.file=$tmp/bad_first.h5" \
    --set sanity.methods=gradcam --sanity --limit 2 >/dev/null 2>"$tmp/bad_first.err"
rc=$?; check "bad first image: the check runs (rc $rc)" [ $rc -eq 0 ]
check "bad first image: named ($(grep 'skipped, as' "$tmp/bad_first.err"))" \
    grep -q '^sanity check: skipped, as in the run: .*does_not_exist.jpg: cannot open (No such file or directory) (the check takes the first readable images, \[sanity\] images = 1)$' "$tmp/bad_first.err"
check "bad first image: the next one is checked" grep -q '^sanity check: image synthetic/synth_001.jpg$' "$tmp/bad_first.err"
check "bad first image: /sanity/images = row 1" [ "$(h5vals "$tmp/bad_first.h5" /sanity/images)" = 1 ]

# The report: the sanity section, its grid and the four curves.
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>&1
# The same command again: the run and its check are both there already, nothing is recomputed.
cp "$out" "$tmp/before_rerun.h5"
"$bin" "${base[@]}" --set sanity.methods=gradcam,ixg --sanity >/dev/null 2>"$tmp/rerun.err"
rc=$?; check "rerun with the same [sanity]: exit 0 ($(tail -n 1 "$tmp/rerun.err"))" [ $rc -eq 0 ]
check "rerun: the check is not recomputed" grep -q '/sanity has these settings already: nothing to compute' "$tmp/rerun.err"
check "rerun: no sanity step ran" bash -c "! grep -q 'sanity step' '$tmp/rerun.err'"
check "rerun: the file is unchanged" cmp -s "$out" "$tmp/before_rerun.h5"
"$bin" --report "$tmp/rep" "$out" >/dev/null 2>"$tmp/rep.err"
rc=$?; check "report exits 0: $(tail -n 1 "$tmp/rep.err")" [ $rc -eq 0 ]
check "report has the sanity section" grep -q '^## Sanity check: cascading randomisation (demo)' "$tmp/rep/report.md"
check "report has the ixg table row of step 1 (fc)" grep -q '^| 1 | `fc` | ' "$tmp/rep/report.md"
for fig in sanity_grid_demo sanity_spearman_abs_demo sanity_spearman_demo sanity_ssim_demo sanity_hog_demo; do
    check "$fig.png is a PNG" [ "$(head -c 8 "$tmp/rep/$fig.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
    check "$fig.png is not blank" [ "$(stat -c %s "$tmp/rep/$fig.png")" -gt 10000 ]
    check "$fig.svg is an SVG" grep -q '<svg' "$tmp/rep/$fig.svg"
    check "report.md links $fig.png" grep -q "($fig.png)" "$tmp/rep/report.md"
done
finish
