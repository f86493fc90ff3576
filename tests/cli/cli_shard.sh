#!/usr/bin/env bash
# cli_shard.sh: a run split into shards ([run] shard = i/3, one file each) and joined with
# `polycam-eval --merge` gives the same datasets as the unsharded run (h5diff), and the unsharded
# command then finds the merged file complete. Missing or duplicated shards, an unfinished shard and
# shards of different configurations are refused. Baselines, sensitivity-max and the sanity check
# survive the merge (/sanity as the unsharded run's). A merge, or its /sanity, on a full disk fails
# in one line and leaves no file claiming completeness and a finished one as it was. Plumbing test:
# tiny_resnet, 5 images, 4 steps.
# Usage: bash cli_shard.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff

cat >"$tmp/rn.ini" <<EOF
$(tiny_resnet_model)
layers = layer2,layer3,layer4
$(synth_data)
offset = 2
limit = 5
[saliency]
methods = pcamp,pcampm
ablations = cams
[metrics]
steps = 4
[run]
device = cpu
EOF

"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/full.h5" >/dev/null 2>"$tmp/full.err"
rc=$?
check "unsharded run: $(tail -n 1 "$tmp/full.err")" [ $rc -eq 0 ]
for i in 0 1 2; do
    "$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/s$i.h5" --set "run.shard=$i/3" >/dev/null 2>"$tmp/s$i.err"
    rc=$?
    check "shard $i/3: $(tail -n 1 "$tmp/s$i.err")" [ $rc -eq 0 ]
done
# list entries 2..6: shard 0 gets indices 3 and 6, shard 1 gets 4, shard 2 gets 2 and 5
check "shard 0 holds list indices 3, 6" \
    [ "$(h5dump -y -w 0 -d /images/index "$tmp/s0.h5" | sed -n '/DATA {/,/}/p' | sed '1d;$d' | tr -d ' ')" = "3,6" ]
"$bin" --merge "$tmp/merged.h5" "$tmp/s2.h5" "$tmp/s0.h5" "$tmp/s1.h5" >"$tmp/merge.out" 2>"$tmp/merge.err"
rc=$?
check "merge exits 0: $(tail -n 1 "$tmp/merge.err")" [ $rc -eq 0 ]
check "merge prints the table" grep -q "^| pcampm " "$tmp/merge.out"
check "merged file equals the unsharded run (h5diff /images, /methods)" same_data "$tmp/full.h5" "$tmp/merged.h5"
# a merge on a full disk (a 16 KB file size limit): one line naming the file and why, no merged file
# claiming to be complete; the same merge without the limit then finishes it
(ulimit -f 16; trap '' XFSZ; exec "$bin" --merge "$tmp/mfull.h5" "$tmp/s2.h5" "$tmp/s0.h5" "$tmp/s1.h5" \
    >/dev/null 2>"$tmp/mfull.err")
rc=$?
check "merge on a full disk: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "... one line naming the file and why: $(cat "$tmp/mfull.err")" bash -c \
    "[ \$(wc -l <'$tmp/mfull.err') -eq 1 ] && grep -q '^polycam-eval: $tmp/mfull.h5[.a-z]*: .*(File too large)$' '$tmp/mfull.err'"
check "... no merged file" [ ! -e "$tmp/mfull.h5" ]
"$bin" --merge "$tmp/mfull.h5" "$tmp/s2.h5" "$tmp/s0.h5" "$tmp/s1.h5" >/dev/null 2>"$tmp/mfull2.err"
rc=$?
check "... the same merge then finishes it: $(tail -n 1 "$tmp/mfull2.err")" [ $rc -eq 0 ]
check "... equal to the unsharded run" same_data "$tmp/full.h5" "$tmp/mfull.h5"
check "merged config names the merged file, not a shard" grep -q "^file = $tmp/merged.h5$" <(h5attr "$tmp/merged.h5" config)
check "merged file says shard 0/1 (attribute)" [ "$(h5attr "$tmp/merged.h5" shard | tr -d ' ')" = "0,1" ]
check "shard files say their shard (attribute)" [ "$(h5attr "$tmp/s2.h5" shard | tr -d ' ')" = "2,3" ]
check "merged table equals the unsharded one" diff <("$bin" --table "$tmp/full.h5" 2>/dev/null | grep '^|') \
    <(grep '^|' "$tmp/merge.out")
"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/merged.h5" >/dev/null 2>"$tmp/again.err"
rc=$?
check "the unsharded command finds the merged file complete" [ $rc -eq 0 ]
check "... and computes nothing" grep -q "nothing to compute" "$tmp/again.err"

# [saliency] class = label explains the ground-truth class
"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/label.h5" --set saliency.class=label --limit 2 >/dev/null 2>&1
vals() { h5dump -y -w 0 -d "$2" "$1" | sed -n '/DATA {/,/}/p' | sed '1d;$d' | tr -d ' '; }
check "class = label: explained classes are the labels ($(vals "$tmp/label.h5" /images/class))" \
    [ "$(vals "$tmp/label.h5" /images/class)" = "$(vals "$tmp/label.h5" /images/label)" ]
check "labels read from labels.txt (0,2)" [ "$(vals "$tmp/label.h5" /images/label)" = "0,2" ]

"$bin" --merge "$tmp/m2.h5" "$tmp/s0.h5" "$tmp/s1.h5" >/dev/null 2>"$tmp/e1"
check "missing shard refused" grep -q "shard 2/3 is missing" "$tmp/e1"
"$bin" --merge "$tmp/m2.h5" "$tmp/s0.h5" "$tmp/s0.h5" "$tmp/s1.h5" "$tmp/s2.h5" >/dev/null 2>"$tmp/e2"
check "duplicated shard refused" grep -q "given twice" "$tmp/e2"
"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/other.h5" --set run.shard=1/3 --set metrics.steps=2 >/dev/null 2>&1
"$bin" --merge "$tmp/m2.h5" "$tmp/s0.h5" "$tmp/other.h5" "$tmp/s2.h5" >/dev/null 2>"$tmp/e3"
check "shards of another config refused" grep -q "come from different configurations" "$tmp/e3"
check "... naming the key: $(cat "$tmp/e3")" grep -q "\[metrics\] 'steps = 4' there, \[metrics\] 'steps = 2' now" "$tmp/e3"
"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/p.h5" --set run.shard=1/3 >/dev/null 2>&1 &
pid=$!
wait_for 600 "$tmp/p.h5.partial" $pid test -f "$tmp/p.h5.partial"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"$bin" --merge "$tmp/m2.h5" "$tmp/s0.h5" "$tmp/p.h5.partial" "$tmp/s2.h5" >/dev/null 2>"$tmp/e4"
check "unfinished shard refused: $(cat "$tmp/e4")" grep -q "not finished\|cannot open" "$tmp/e4"
check "no output after refusals" [ ! -e "$tmp/m2.h5" ]

# Baselines (RISE's run-level masks), sensitivity-max and the sanity check through shards and merge:
# the merged /sanity is the unsharded run's (its first 2 readable images: list entries 2 and 3,
# from shards 2 and 0), and shards whose /sanity is missing or differs are refused with one line.
bl=(--config "$tmp/rn.ini" --set saliency.methods=gradcam,ixg,rise --set saliency.ablations=none
    --set rise.masks=16 --set robustness.sensitivity=yes --set robustness.samples=2
    --set sanity.enabled=yes --set sanity.methods=gradcam,ixg --set sanity.images=2)
"$bin" "${bl[@]}" --set "output.file=$tmp/bfull.h5" >/dev/null 2>"$tmp/bfull.err"
rc=$?; check "baselines + sensitivity + sanity, unsharded: $(tail -n 1 "$tmp/bfull.err")" [ $rc -eq 0 ]
for i in 0 1 2; do
    "$bin" "${bl[@]}" --set "output.file=$tmp/b$i.h5" --set "run.shard=$i/3" >/dev/null 2>"$tmp/b$i.err"
    rc=$?; check "baselines shard $i/3: $(tail -n 1 "$tmp/b$i.err")" [ $rc -eq 0 ]
done
"$bin" --merge "$tmp/bm.h5" "$tmp/b0.h5" "$tmp/b1.h5" "$tmp/b2.h5" >/dev/null 2>"$tmp/bm.err"
rc=$?; check "baselines merge exits 0: $(tail -n 1 "$tmp/bm.err")" [ $rc -eq 0 ]
check "baselines merge: /images, /methods (RISE masks, sensitivity) equal the unsharded run" same_data "$tmp/bfull.h5" "$tmp/bm.h5"
check "baselines merge: /sanity equals the unsharded run's (h5diff)" h5diff -q "$tmp/bfull.h5" "$tmp/bm.h5" /sanity /sanity
check "merged /sanity/images are rows 0, 1 of the merged file" [ "$(h5vals "$tmp/bm.h5" /sanity/images | tr '\n' ' ')" = "0 1 " ]
# the merged /sanity on a full disk: a merged file without /sanity (its copy could not be made: a
# folder at <file>.update), then a file size limit a little above its size: one line naming the
# file and why, the file unchanged, no copy left; the same merge then adds /sanity
mkdir "$tmp/bm3.h5.update"
"$bin" --merge "$tmp/bm3.h5" "$tmp/b0.h5" "$tmp/b1.h5" "$tmp/b2.h5" >/dev/null 2>"$tmp/bm3a.err"
rc=$?; check "merged /sanity not written (no copy possible): exit 1 (rc $rc)" [ $rc -eq 1 ]
rmdir "$tmp/bm3.h5.update"
check "... the merged file is complete" [ "$(h5attr "$tmp/bm3.h5" complete | tr -d ' ')" = 1 ]
check "... without /sanity" bash -c "! h5ls '$tmp/bm3.h5/sanity' >/dev/null 2>&1"
cp "$tmp/bm3.h5" "$tmp/bm3_before.h5"
kb=$(($(stat -c %s "$tmp/bm3.h5") / 1024 + 16))
(ulimit -f $kb; trap '' XFSZ; exec "$bin" --merge "$tmp/bm3.h5" "$tmp/b0.h5" "$tmp/b1.h5" "$tmp/b2.h5" \
    >/dev/null 2>"$tmp/bm3b.err")
rc=$?
check "merged /sanity on a full disk: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "... one line naming the file and why: $(cat "$tmp/bm3b.err")" bash -c "[ \$(wc -l <'$tmp/bm3b.err') -eq 1 ] && \
    grep -qx 'polycam-eval: $tmp/bm3.h5: cannot write the merged /sanity (File too large); the file is left as it was' '$tmp/bm3b.err'"
check "... the file unchanged, no copy left" bash -c "cmp -s '$tmp/bm3.h5' '$tmp/bm3_before.h5' && [ ! -e '$tmp/bm3.h5.update' ]"
"$bin" --merge "$tmp/bm3.h5" "$tmp/b0.h5" "$tmp/b1.h5" "$tmp/b2.h5" >/dev/null 2>"$tmp/bm3c.err"
rc=$?; check "... the same merge then adds it: $(tail -n 1 "$tmp/bm3c.err")" [ $rc -eq 0 ]
check "... equal to the unsharded run's" h5diff -q "$tmp/bfull.h5" "$tmp/bm3.h5" /sanity /sanity
"$bin" "${bl[@]}" --set "output.file=$tmp/bns1.h5" --set run.shard=1/3 --set sanity.enabled=no >/dev/null 2>&1
"$bin" --merge "$tmp/bm2.h5" "$tmp/b0.h5" "$tmp/bns1.h5" "$tmp/b2.h5" >/dev/null 2>"$tmp/e5"
check "a shard without /sanity among shards with one: refused in one line ($(cat "$tmp/e5"))" \
    bash -c "[ \$(wc -l <'$tmp/e5') -eq 1 ] && grep -q 'bns1.h5 has none: the merged check needs every shard' '$tmp/e5'"
"$bin" "${bl[@]}" --set "output.file=$tmp/bns1.h5" --set run.shard=1/3 --set sanity.methods=ixg >/dev/null 2>&1
"$bin" --merge "$tmp/bm2.h5" "$tmp/b0.h5" "$tmp/bns1.h5" "$tmp/b2.h5" >/dev/null 2>"$tmp/e6"
check "shards whose sanity checks differ: refused ($(cat "$tmp/e6"))" grep -q "their sanity checks (/sanity) differ in methods" "$tmp/e6"
check "no output after the sanity refusals" [ ! -e "$tmp/bm2.h5" ]
"$bin" --report "$tmp/brep" "$tmp/bm.h5" >/dev/null 2>"$tmp/brep.err"
rc=$?; check "report of the merged file: $(tail -n 1 "$tmp/brep.err")" [ $rc -eq 0 ]
check "... has Table 5 and the sanity section of the merged images" bash -c "grep -q '^## Table 5' '$tmp/brep/report.md' && grep -q '^## Sanity check' '$tmp/brep/report.md' && grep -q 'Images: \`synth_002.jpg\`, \`synth_003.jpg\`' '$tmp/brep/report.md'"
finish
