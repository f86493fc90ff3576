#!/usr/bin/env bash
# cli_perturb.sh: the perturbation baselines (rise, occlusion) through the program on the demo
# configuration: table rows and maps; RISE's masks stored once as /methods/rise/masks/{grid,
# offsets}, drawn from [run] seed only: identical in a rerun, in each shard and in the merged file,
# other with another seed; the second image's map of shard 1/2 equals the unsharded run's.
# Usage: bash cli_perturb.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff
cd "$tmp" || exit 1

args=(--config "$src/configs/demo.ini" --set saliency.methods=rise,occlusion --set rise.masks=100 --set occlusion.stride=32
      --set metrics.steps=4 --set output.overlays=0 --set run.device=cpu --limit 2)
"$bin" "${args[@]}" --set output.file=full.h5 >full.txt 2>full.err
rc=$?; check "rise + occlusion: exit 0 ($(tail -2 full.err))" [ $rc -eq 0 ]
for id in rise occlusion; do
    check "table row for $id" grep -qE "^\| $id +\|.*\| +2 \|$" full.txt
    check "/methods/$id/map stored" h5dump -H -d "/methods/$id/map" full.h5 >/dev/null 2>&1
done
check "/methods/rise/masks/grid is (100, 8, 8) u8" \
    bash -c "h5dump -H -d /methods/rise/masks/grid full.h5 | grep -q 'H5T_STD_U8LE' &&
             h5dump -H -d /methods/rise/masks/grid full.h5 | grep -q '( 100, 8, 8 )'"
check "/methods/rise/masks/offsets is (100, 2)" \
    bash -c "h5dump -H -d /methods/rise/masks/offsets full.h5 | grep -q '( 100, 2 )'"
check "occlusion has no masks" bash -c "! h5dump -H -g /methods/occlusion/masks full.h5 >/dev/null 2>&1"
check "every image ok" [ "$(h5vals full.h5 /images/status | grep -c '"ok"')" -eq 2 ]

"$bin" "${args[@]}" --set run.shard=0/2 --set output.file=s0.h5 >/dev/null 2>&1
check "shard 0/2: exit 0" [ $? -eq 0 ]
"$bin" "${args[@]}" --set run.shard=1/2 --set output.file=s1.h5 >/dev/null 2>&1
check "shard 1/2: exit 0" [ $? -eq 0 ]
for f in s0.h5 s1.h5; do
    check "$f: the same masks as the unsharded run" h5diff full.h5 $f /methods/rise/masks /methods/rise/masks
done
h5dump -y -w 0 -d "/methods/rise/map[1,0,0;;1,224,224]" full.h5 | sed -n '/DATA {/,/}/p' >full_map.txt
h5dump -y -w 0 -d "/methods/rise/map[0,0,0;;1,224,224]" s1.h5 | sed -n '/DATA {/,/}/p' >shard_map.txt
check "rise: shard 1/2 map equals the unsharded run's second image" cmp -s full_map.txt shard_map.txt
"$bin" --merge merged.h5 s0.h5 s1.h5 >/dev/null 2>merge.err
rc=$?; check "merge: exit 0 ($(tail -1 merge.err))" [ $rc -eq 0 ]
check "merged file: the same masks" h5diff full.h5 merged.h5 /methods/rise/masks /methods/rise/masks
check "merged file: the same rise maps" h5diff full.h5 merged.h5 /methods/rise/map /methods/rise/map

"$bin" "${args[@]}" --set run.seed=5 --set saliency.methods=rise --limit 1 --set output.file=seed5.h5 >/dev/null 2>&1
check "another seed: exit 0" [ $? -eq 0 ]
check "another seed: other masks" bash -c "! h5diff full.h5 seed5.h5 /methods/rise/masks/grid /methods/rise/masks/grid >/dev/null 2>&1"

"$bin" "${args[@]}" --set rise.masks=0 --set output.file=bad.h5 >/dev/null 2>bad.err
rc=$?
check "rise.masks = 0 (a --set): exit 2 (got $rc)" [ $rc -eq 2 ]
check "rise.masks = 0: one line naming the key" grep -q "bad value '0' for \[rise\] masks (expected an integer in 1..65535)" bad.err
finish
