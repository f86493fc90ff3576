#!/usr/bin/env bash
# cli_methods.sh: the gradient baselines through the program (docs/configuration.md: method ids) on the synthetic
# set: every id gives a table row and /methods/<id>/map; the random methods are reproducible, keyed
# by the image's list position (a shard equals the unsharded run) and by [run] seed; bad ids,
# layers and settings stop the program with one line naming the key and the valid values; a NaN
# map of some methods leaves the image in the other methods' rows.
# Usage: bash cli_methods.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff
cd "$tmp" || exit 1

cat >base.ini <<EOF
[model]
arch = vgg
weights = $src/data/models/synth_vgg.safetensors
vgg_cfg = 16,16,M,32,32,M,64,64,M,64,64,M,64,64,M
vgg_classifier = 128,128
classes = $src/data/synthetic/classes.txt

$(synth_data)
limit = 2

[metrics]
steps = 4

[smoothgrad]
samples = 6

[ig]
steps = 8

[run]
device = cpu
EOF

ids=gradcam,gradcampp,smoothgradcampp,layercam,zoomcam,ixg,ig,smoothgrad
"$bin" --config base.ini --set saliency.methods=pcampm,$ids --set output.file=all.h5 >all.txt 2>all.err
rc=$?; check "all methods: exit 0 ($(tail -3 all.err))" [ $rc -eq 0 ]
for id in pcampm ${ids//,/ }; do
    check "table row for $id" grep -q "^| $id " all.txt
    check "/methods/$id/map stored" h5dump -H -d "/methods/$id/map" all.h5 >/dev/null 2>&1
    check "$id: N = 2 images in its row" grep -qE "^\| $id +\|.*\| +2 \|$" all.txt
done
check "every image ok" [ "$(h5vals all.h5 /images/status | grep -c '"ok"')" -eq 2 ]

# random methods: the same draws on a rerun, for the second image alone (shard 1/2: list position 1)
# and with another seed, other draws
rnd=smoothgrad,smoothgradcampp
"$bin" --config base.ini --set saliency.methods=$rnd --set output.file=r1.h5 >/dev/null 2>&1
"$bin" --config base.ini --set saliency.methods=$rnd --set output.file=r2.h5 >/dev/null 2>&1
check "random methods: rerun bit-identical" same_data r1.h5 r2.h5
"$bin" --config base.ini --set saliency.methods=$rnd --set run.shard=1/2 --set output.file=s1.h5 >/dev/null 2>&1
for id in smoothgrad smoothgradcampp; do
    h5dump -y -w 0 -d "/methods/$id/map[1,0,0;;1,224,224]" r1.h5 | sed -n '/DATA {/,/}/p' >full_$id.txt
    h5dump -y -w 0 -d "/methods/$id/map[0,0,0;;1,224,224]" s1.h5 | sed -n '/DATA {/,/}/p' >shard_$id.txt
    check "$id: shard 1/2 equals the unsharded run's second image" cmp -s full_$id.txt shard_$id.txt
    check "$id: map read back" [ -s full_$id.txt ]
done
"$bin" --config base.ini --set saliency.methods=$rnd --set run.seed=7 --set output.file=r3.h5 >/dev/null 2>&1
check "random methods: another seed, other maps" bash -c "! h5diff -q r1.h5 r3.h5 /methods/smoothgrad/map /methods/smoothgrad/map"

# bad input: one line naming the key and the valid values, nothing written (expect_line)
# a bad value given with --set is a command-line mistake (exit 2); errors found against the model exit 1
want_rc=2 expect_line "unknown id" "bad value 'pcampm,gradcm' for [saliency] methods (expected a comma-separated list of pcamp, pcamm, pcampm, gradcam, gradcampp, smoothgradcampp, layercam, zoomcam, ixg, ig, smoothgrad, scorecam, sscam, iscam, rise, occlusion, ext:NAME)" \
    --config base.ini --set saliency.methods=pcampm,gradcm
expect_line "missing [cam] layer" "[cam] layer: 'features.99' is not a feature-map layer of vgg (valid: features.1, features.3," \
    --config base.ini --set saliency.methods=gradcam --set cam.layer=features.99
expect_line "missing [zoomcam] layer" "[zoomcam] layers: 'layer4' is not a feature-map layer of vgg (valid:" \
    --config base.ini --set saliency.methods=zoomcam --set zoomcam.layers=features.1,layer4
expect_line "layers out of order" "[layercam] layers: 'features.3' does not come after 'features.8'" \
    --config base.ini --set saliency.methods=layercam --set layercam.layers=features.8,features.3
want_rc=2 expect_line "bad ig steps" "bad value '0' for [ig] steps (expected an integer in 1..4096)" \
    --config base.ini --set saliency.methods=ig --set ig.steps=0
# A NaN map (issue 9: a constant map, as the library gives it): [cam] layer = avgpool (1 x 1) makes
# gradcam's and gradcampp's maps constant. The status names both, the run goes on (exit 0), the
# image leaves those two rows only (ixg keeps N = 2), no overlay is drawn of a NaN map.
"$bin" --config "$src/configs/demo.ini" --limit 2 --set cam.layer=avgpool --set saliency.methods=gradcam,gradcampp,ixg \
    --set metrics.steps=4 --set output.overlays=1 --set output.file=nan.h5 --set run.device=cpu >nan.out 2>nan.err
rc=$?; check "NaN maps: exit 0 ($(tail -n 1 nan.err))" [ $rc -eq 0 ]
check "NaN maps: the status names both methods" \
    [ "$(h5dump -y -w 0 -d /images/status nan.h5 | grep -o '"gradcam, gradcampp: NaN map (constant before min-max, as the library)"' | wc -l)" -eq 2 ]
check "NaN maps: not listed as skipped" bash -c "! grep -q 'skipped' nan.err && grep -q '^2 of 2 images with a NaN map' nan.err"
check "NaN maps: gradcam row N = 0" grep -qE '^\| gradcam +\| +- \| +- \| +- \| +0 \|$' nan.out
check "NaN maps: ixg row keeps both images" grep -qE '^\| ixg +\| +[0-9.]+ \| +[0-9.]+ \| +[-0-9.]+ \| +2 \|$' nan.out
check "NaN maps: the CSV agrees" grep -q '^gradcampp,,,,0$' nan.h5.csv
check "NaN maps: an overlay of ixg only" bash -c "[ -f nan.h5_overlays/synthetic_synth_000_ixg.png ] && [ ! -f nan.h5_overlays/synthetic_synth_000_gradcam.png ]"

want_rc=2 expect_line "bad sigma" "bad value '-1' for [smoothgrad] sigma (expected a number > 0)" \
    --config base.ini --set smoothgrad.sigma=-1
want_rc=2 expect_line "bad seed" "bad value 'x' for [run] seed" --config base.ini --set run.seed=x
finish
