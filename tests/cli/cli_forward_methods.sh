#!/usr/bin/env bash
# cli_forward_methods.sh: the Score-CAM family (scorecam, sscam, iscam; docs/configuration.md: method ids) through
# the program on the bundled demo (synth_resnet, [cam] layer = layer4: 128 channels) with one image
# and small sample counts (a pass per channel and sample: 128 + 2 x 128 + 2 x 128 forwards): each id
# gives a table row and /methods/<id>/map, SS-CAM's draws are reproducible, and out-of-range
# [sscam] / [iscam] settings stop the program with one line naming the key and the range.
# Usage: bash cli_forward_methods.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff
cd "$tmp" || exit 1

demo=$src/configs/demo.ini
# sigma = 0.2: with the paper's 2 the demo model gives its class probability 1.0 (in float) to every
# noisy masked input, so every weight is 1 whatever the draws and the seed could not be seen
small=(--limit 1 --set output.overlays=0 --set metrics.steps=4 --set sscam.samples=2 --set iscam.samples=2
       --set sscam.sigma=0.2 --set output.maps=float32)
ids=scorecam,sscam,iscam
"$bin" --config "$demo" "${small[@]}" --set saliency.methods=$ids --set output.file=f1.h5 >f1.txt 2>f1.err
rc=$?; check "forward methods: exit 0 ($(tail -3 f1.err))" [ $rc -eq 0 ]
for id in ${ids//,/ }; do
    check "table row for $id" grep -qE "^\| $id +\|.*\| +1 \|$" f1.txt
    check "/methods/$id/map stored" h5dump -H -d "/methods/$id/map" f1.h5 >/dev/null 2>&1
done
check "the image is ok" [ "$(h5vals f1.h5 /images/status | grep -c '"ok"')" -eq 1 ]
"$bin" --config "$demo" "${small[@]}" --set saliency.methods=sscam --set output.file=f2.h5 >/dev/null 2>&1
check "sscam: rerun gives the same map" h5diff -q f1.h5 f2.h5 /methods/sscam/map /methods/sscam/map
"$bin" --config "$demo" "${small[@]}" --set saliency.methods=sscam --set run.seed=5 --set output.file=f3.h5 \
    >/dev/null 2>&1
check "sscam: another seed, another map" bash -c "! h5diff -q f1.h5 f3.h5 /methods/sscam/map /methods/sscam/map"

want_rc=2   # the bad values below come with --set: command-line mistakes (expect_line)
expect_line "sscam samples 0" "bad value '0' for [sscam] samples (expected an integer in 1..65535)" \
    --config "$demo" --set saliency.methods=sscam --set sscam.samples=0
expect_line "sscam samples too many" "bad value '65536' for [sscam] samples (expected an integer in 1..65535)" \
    --config "$demo" --set saliency.methods=sscam --set sscam.samples=65536
expect_line "sscam sigma 0" "bad value '0' for [sscam] sigma (expected a number > 0)" \
    --config "$demo" --set saliency.methods=sscam --set sscam.sigma=0
expect_line "iscam samples 0" "bad value '0' for [iscam] samples (expected an integer in 1..65535)" \
    --config "$demo" --set saliency.methods=iscam --set iscam.samples=0
finish
