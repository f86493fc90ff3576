#!/usr/bin/env bash
# cli_shard.sh: a run split into shards ([run] shard = i/3, one file each) and joined with
# `polycam-eval --merge` gives the same datasets as the unsharded run (h5diff), and the unsharded
# command then finds the merged file complete. Missing or duplicated shards, an unfinished shard and
# shards of different configurations are refused. Plumbing test: tiny_resnet, 5 images, 4 steps.
# Usage: bash cli_shard.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/lib/cli_common.sh"
need_tools h5diff

cat >"$tmp/rn.ini" <<EOF
$(tiny_resnet_model)
layers = layer2,layer3,layer4
[data]
list = $src/data/synthetic/images.txt
labels = $src/data/synthetic/labels.txt
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
for _ in $(seq 100); do [ -f "$tmp/p.h5.partial" ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"$bin" --merge "$tmp/m2.h5" "$tmp/s0.h5" "$tmp/p.h5.partial" "$tmp/s2.h5" >/dev/null 2>"$tmp/e4"
check "unfinished shard refused: $(cat "$tmp/e4")" grep -q "not finished\|cannot open" "$tmp/e4"
check "no output after refusals" [ ! -e "$tmp/m2.h5" ]
finish
