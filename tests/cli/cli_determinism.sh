#!/usr/bin/env bash
# cli_determinism.sh: two identical CPU runs write bit-identical datasets (h5diff with no
# tolerance over /images and /methods, maps stored as float32 so no rounding hides a difference),
# and the table and CSV of both are the same. Plumbing test: tiny_vgg and tiny_resnet on two
# synthetic images with every ablation, 8 curve steps.
# Usage: bash cli_determinism.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff

# shared_sections: what both configurations end with, after their [saliency] method list
shared_sections() {
    cat <<EOF
ablations = levels,cams,no_lnorm
[metrics]
steps = 8
[output]
maps = float32
[run]
device = cpu
EOF
}
cat >"$tmp/vgg.ini" <<EOF
$(tiny_vgg_model)
layers = features.8,features.13,features.18,features.23
[data]
list = $src/data/synthetic/images.txt
limit = 2
[saliency]
$(shared_sections)
EOF
cat >"$tmp/resnet.ini" <<EOF
$(tiny_resnet_model)
layers = relu,layer1,layer2.0,layer2,layer4
[data]
list = $src/data/synthetic/images.txt
offset = 5
limit = 2
[saliency]
methods = pcampm
$(shared_sections)
EOF

for net in vgg resnet; do
    for i in 1 2; do
        "$bin" --config "$tmp/$net.ini" --set "output.file=$tmp/$net$i.h5" >"$tmp/$net$i.out" 2>"$tmp/$net$i.err"
        rc=$?
        check "$net run $i exits 0: $(tail -n 2 "$tmp/$net$i.err")" [ $rc -eq 0 ]
    done
    a=$tmp/${net}1.h5
    b=$tmp/${net}2.h5
    h5diff "$a" "$b" /images /images >"$tmp/diff_images" 2>&1
    rc=$?
    check "$net: /images identical (h5diff: $(head -c 200 "$tmp/diff_images"))" [ $rc -eq 0 ]
    h5diff "$a" "$b" /methods /methods >"$tmp/diff_methods" 2>&1
    rc=$?
    check "$net: /methods identical, maps included (h5diff: $(head -c 200 "$tmp/diff_methods"))" [ $rc -eq 0 ]
    check "$net: same table" diff <(grep '^|' "$tmp/${net}1.out") <(grep '^|' "$tmp/${net}2.out")
    check "$net: same CSV" cmp -s "$a.csv" "$b.csv"
done
# the ablation ids are all there (4 layers x levels + cams, no_lnorm, for 3 variants)
check "vgg: 3 + 3 x (4 + 4 + 1) method rows" [ "$(grep -c '^pcam' "$tmp/vgg1.h5.csv")" -eq 30 ]
check "vgg: level id" grep -q '^pcampm.level.features.8,' "$tmp/vgg1.h5.csv"
check "vgg: cam id" grep -q '^pcamm.cam.features.23,' "$tmp/vgg1.h5.csv"
check "vgg: no_lnorm id" grep -q '^pcamp.no_lnorm,' "$tmp/vgg1.h5.csv"
check "resnet: 1 + 5 + 5 + 1 method rows" [ "$(grep -c '^pcam' "$tmp/resnet1.h5.csv")" -eq 12 ]
check "resnet: layer2.0 level (a block output)" grep -q '^pcampm.level.layer2.0,' "$tmp/resnet1.h5.csv"
# the finest level is the Poly-CAM map itself
h5diff "$tmp/vgg1.h5" "$tmp/vgg1.h5" /methods/pcampm/map /methods/pcampm.level.features.8/map >/dev/null 2>&1
check "vgg: level at the first layer equals the final map" [ $? -eq 0 ]
finish
