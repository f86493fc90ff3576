#!/usr/bin/env bash
# cli_paper_configs.sh: the two commands of the paper, configs/vgg16_2000.ini and
# configs/resnet50_2000.ini.
# - From a folder outside the repository, `--config <name> --check --set data.root=DIR` prints the
#   pass count and the projected GPU time first (the counts the files' headers state), then ends
#   with one clear error: the weights are not set or missing, or none of the 2000 images is in DIR;
#   or ok (some of them there).
# - A small run of each file on the synthetic models (model, weights, list, 2 images, 4 steps and
#   lighter baseline settings overridden) fills every method id of Tables 1/4 and every ablation id
#   of Table 2 (Table 3) in ONE result file: finite AUCs, a description on every method group, the
#   curve groups' rules, the root's class source and preprocessing.
# - resnet50_2000.ini's two layer lists in one run: the isolated CAMs of [saliency] cam_layers
#   equal those of a run whose targets are those layers, the levels those of a run without
#   cam_layers (h5diff: the engine's own paths as the oracle); the shared layers' masked passes
#   are counted once.
# - Class agreement against a made-up reference file: the count and the disagreeing images in the
#   output, in --table and in /reference_classes, equal to what the stored classes say; a merge of
#   two shards keeps them (and the descriptions) as the unsharded run has them.
# Usage: bash cli_paper_configs.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff

work=$tmp/elsewhere
mkdir -p "$work/empty" "$work/some"
cd "$work" || exit 1

# ---- --check from outside the repository ------------------------------------------------------

# check_first <file>: the first lines of stderr are the shipped-config note, the cost, the projection
check_first() {
    check "$2: the first line says where the config was found" \
        grep -q "^polycam-eval: using the shipped configuration .*/configs/$2 " <(sed -n 1p "$1")
    check "$2: then the pass count" grep -q "^cost: about $3 forward passes per image" <(sed -n 2p "$1")
    check "$2: then the projected GPU time" \
        grep -q "^projected GPU time (not measured; .*): fp16 about .*, fp32 about .* for 2000 images$" <(sed -n 3p "$1")
}
# the counts the headers state (configs/*_2000.ini "Cost:") are what --check computes
for pair in vgg16_2000.ini:55222 resnet50_2000.ini:137910; do
    ini=${pair%%:*} passes=${pair##*:}
    header=$(sed -n 's/^; Cost: \([0-9,]*\) forward-pass equivalents per image.*/\1/p' "$src/configs/$ini" | tr -d ,)
    check "$ini: its header states $passes passes per image (got '$header')" [ "$header" = "$passes" ]
    "$bin" --config "$ini" --check --set "data.root=$work/empty" >out.txt 2>err.txt
    rc=$?
    check "$ini --check without weights: exit 1 (rc $rc)" [ $rc -eq 1 ]
    check_first err.txt "$ini" "$passes"
    check "$ini: ... then one line: the weights are not set ($(tail -n 1 err.txt))" \
        bash -c "[ \$(wc -l <err.txt) -eq 4 ] && tail -n 1 err.txt | grep -q '\[model\] weights is not set (add it, or --set model.weights=FILE)'"
    "$bin" --config "$ini" --check --set "data.root=$work/empty" --set model.weights=nothere.pth >out.txt 2>err.txt
    rc=$?
    check "$ini --check, weights file missing: exit 1 (rc $rc)" [ $rc -eq 1 ]
    check_first err.txt "$ini" "$passes"
    check "$ini: ... then one line naming the missing file ($(tail -n 1 err.txt))" \
        bash -c "[ \$(wc -l <err.txt) -eq 4 ] && tail -n 1 err.txt | grep -q 'model weights: $work/nothere.pth: cannot open (No such file or directory); set \[model\] weights'"
    check "$ini --check writes nothing" [ -z "$(ls -A "$work" | grep -v -e empty -e some -e out.txt -e err.txt)" ]
done

# The data check after the weights: with a model whose weights exist (the synthetic ones stand in
# for the 528 MB checkpoint), DIR without the paper's images is an error, DIR with some of them ok.
synth_vgg_sets=(--set model.arch=vgg --set "model.weights=$src/data/models/synth_vgg.safetensors"
    --set model.vgg_cfg=16,16,M,32,32,M,64,64,M,64,64,M,64,64,M --set model.vgg_classifier=128,128
    --set "model.classes=$src/data/synthetic/classes.txt")
"$bin" --config vgg16_2000.ini --check --set "data.root=$work/empty" "${synth_vgg_sets[@]}" >out.txt 2>err.txt
rc=$?
check "--check, none of the 2000 images in DIR: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "... the cost first" grep -q '^cost: about [0-9]* forward passes per image' <(sed -n 2p err.txt)
check "... then the error: none of the 2000 images is there ($(tail -n 1 err.txt))" \
    grep -q "^polycam-eval: data root $work/empty: none of the 2000 images of the run is there" <(tail -n 1 err.txt)
for f in ILSVRC2012_val_00003798.JPEG ILSVRC2012_val_00019280.JPEG; do : >"some/$f"; done   # not read by --check
"$bin" --config vgg16_2000.ini --check --set "data.root=$work/some" "${synth_vgg_sets[@]}" >out.txt 2>err.txt
rc=$?
check "--check, 2 of the 2000 images in DIR: exit 0 ($(tail -n 1 err.txt))" [ $rc -eq 0 ]
check "... ok, with the 49 method ids of Tables 1, 4 and 2" grep -q 'vgg16_2000.ini: ok: 2000 images .*, 49 method ids' err.txt

# ---- small runs on the synthetic models: one result file each -------------------------------------

# lighter baselines and curves: the same code paths, a few passes each
light=(--set data.root="$src/data/synthetic" --set "data.list=$src/data/synthetic/images.txt"
    --set "data.labels=$src/data/synthetic/labels.txt" --set data.limit=2 --set metrics.steps=4
    --set sscam.samples=1 --set iscam.samples=1 --set smoothgradcampp.samples=1 --set ig.steps=2
    --set smoothgrad.samples=2 --set rise.masks=8 --set occlusion.window=112 --set occlusion.stride=112
    --set run.device=cpu --set output.maps=float32)
printf 'name,class\n# a made-up reference: class 0 for every image, two names the run does not have\r\n' >ref.csv
for i in 000 001 002 003; do printf 'synth_%s.jpg,0\r\n' "$i" >>ref.csv; done
printf 'elsewhere/other.jpg,2\n' >>ref.csv
synth_resnet_sets=(--set model.arch=resnet --set "model.weights=$src/data/models/synth_resnet.safetensors"
    --set model.resnet_block=bottleneck --set model.resnet_stem=16 --set model.resnet_stages=8x1/1,16x2/2,32x1/2,32x1/2
    --set "model.classes=$src/data/synthetic/classes.txt"
    --set model.layers=relu,layer2.0,layer4)   # its layer3 and layer4 have one block: layer3.0 is layer3

# method ids a file must hold: the 16 of Tables 1 and 4, then per variant its levels, CAMs, no-LNorm
expected_ids() {   # <recursion layers> <cam layers>
    local v l
    for v in pcamp pcamm pcampm; do echo $v; done
    for v in pcamp pcamm pcampm; do
        for l in $1; do echo "$v.level.$l"; done
        for l in $2; do echo "$v.cam.$l"; done
        echo "$v.no_lnorm"
    done
    for v in gradcam gradcampp smoothgradcampp scorecam sscam iscam layercam zoomcam ixg ig smoothgrad rise occlusion; do
        echo $v
    done
}

# check_filled <file.h5> <label> <recursion layers> <cam layers>
check_filled() {
    local f=$1 what=$2 id n_bad=0 missing=0 undescribed=0 norule=0
    local ids
    ids=$(h5dump -y -a /method_ids "$f" | sed -n '/DATA {/,/}/p' | sed '1d;$d' | tr ',' '\n' | sed 's/^ *"//; s/" *$//' | grep -v '^$')
    check "$what: the method ids of Tables 1/4 and the ablation ids, in table order" \
        [ "$ids" = "$(expected_ids "$3" "$4")" ]
    for id in $ids; do
        for c in insertion deletion; do
            vals=$(h5vals "$f" "/methods/$id/$c/auc")
            [ "$(echo "$vals" | wc -l)" -eq 2 ] || missing=$((missing + 1))
            echo "$vals" | grep -qiE 'nan|inf' && n_bad=$((n_bad + 1))
            h5dump -a "/methods/$id/$c/higher_is_better" -a "/methods/$id/$c/auc_rule" -a "/methods/$id/$c/steps" \
                -a "/methods/$id/$c/pixels_per_step" -a "/methods/$id/$c/baseline" "$f" >/dev/null 2>&1 ||
                norule=$((norule + 1))
        done
        h5dump -a "/methods/$id/description" "$f" 2>/dev/null | grep -q '"[A-Za-z].* as ' || undescribed=$((undescribed + 1))
    done
    check "$what: every id has both curves of both images ($missing missing)" [ $missing -eq 0 ]
    check "$what: every AUC finite ($n_bad curves with NaN / Inf)" [ $n_bad -eq 0 ]
    check "$what: every method group has its description ($undescribed without)" [ $undescribed -eq 0 ]
    check "$what: every curve group its rule, steps, pixels per step and baseline ($norule without)" [ $norule -eq 0 ]
    check "$what: the insertion higher-is-better, the deletion not" \
        [ "$(h5attr_path "$f" /methods/pcampm/insertion/higher_is_better)$(h5attr_path "$f" /methods/pcampm/deletion/higher_is_better)" = "10" ]
    check "$what: 4 steps of 12544 pixels" \
        [ "$(h5attr_path "$f" /methods/gradcam/deletion/steps) $(h5attr_path "$f" /methods/gradcam/deletion/pixels_per_step)" = "4 12544" ]
    # (h5dump prints the UTF-8 of "11×11, σ 5" as octal escapes)
    check "$what: the baseline: blur 11x11, sigma 5" \
        grep -q '^gaussian blur 11.*11, .* 5, reflect' <(h5attr_path "$f" /methods/gradcam/deletion/baseline)
    check "$what: the root's class source and preprocessing" \
        bash -c "h5attr_path() { h5dump -a \"\$2\" \"\$1\" | grep '(0)'; }; h5attr_path '$f' /class_source | grep -q 'top-1 prediction' && h5attr_path '$f' /preprocessing | grep -q 'bilinear, align_corners = false, no antialiasing'"
}
# h5attr_path <file> <path/to/attribute>: an attribute's value as h5dump prints it (strings unquoted)
h5attr_path() {
    h5dump -a "$2" "$1" 2>/dev/null | sed -n 's/^ *(0): //p' | sed 's/^"//; s/"$//'
}

# VGG16's file on synth_vgg: the default layers for the recursion and the CAMs (Table 2)
"$bin" --config vgg16_2000.ini "${synth_vgg_sets[@]}" "${light[@]}" --set data.reference_classes=ref.csv \
    --set output.file=vgg.h5 >vgg.out 2>vgg.err
rc=$?
check "vgg16_2000.ini on synth_vgg: exit 0 ($(tail -n 1 vgg.err))" [ $rc -eq 0 ]
check_filled vgg.h5 "vgg16_2000.ini" "features.3 features.8 features.13 features.18 features.23" \
    "features.3 features.8 features.13 features.18 features.23"   # synth_vgg's ReLUs before each max-pool
check "the method groups name what they are: Grad-CAM as torchcam at its layer" \
    [ "$(h5attr_path vgg.h5 /methods/gradcam/description)" = "Grad-CAM as torchcam c85232b GradCAM, [cam] layer = features.23 (the default)" ]

# ResNet50's file on synth_resnet: the recursion on relu, layer2.0, layer4, the CAMs on the file's
# relu, layer1 ... layer4 (Table 3); relu and layer4 are shared
"$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set data.reference_classes=ref.csv \
    --set output.file=rn.h5 >rn.out 2>rn.err
rc=$?
check "resnet50_2000.ini on synth_resnet: exit 0 ($(tail -n 1 rn.err))" [ $rc -eq 0 ]
check_filled rn.h5 "resnet50_2000.ini" "relu layer2.0 layer4" "relu layer1 layer2 layer3 layer4"
# masked passes: 1 + 2 x the channels of relu 16, layer1 32, layer2.0 64, layer2 64, layer3 128,
# layer4 128 (432): the shared relu and layer4 once (counted twice it would be 1 + 2 x 576)
check "the shared layers' passes are counted once: Poly-CAM 865 ($(grep '^cost:' rn.err))" \
    grep -q '^cost: .*(Poly-CAM 865, ' rn.err
check "... the description of a cam id names cam_layers" \
    grep -q 'cam layer1: the isolated CAM .*\[saliency\] cam_layers = relu,layer1,layer2,layer3,layer4' \
    <(h5attr_path rn.h5 /methods/pcamp.cam.layer1/description)

# the oracle of the shared run: the engine with those layers as its targets, and without cam_layers
common=("${synth_resnet_sets[@]}" "${light[@]}" --set saliency.methods=pcamp,pcamm,pcampm)
"$bin" --config resnet50_2000.ini "${common[@]}" --set model.layers=relu,layer1,layer2,layer3,layer4 \
    --set saliency.ablations=cams --set saliency.cam_layers= --set output.file=cams.h5 >/dev/null 2>cams.err
check "run with the CAM layers as targets: exit 0 ($(tail -n 1 cams.err))" [ $? -eq 0 ]
"$bin" --config resnet50_2000.ini "${common[@]}" --set saliency.ablations=levels,no_lnorm --set saliency.cam_layers= \
    --set output.file=levels.h5 >/dev/null 2>levels.err
check "run without cam_layers: exit 0 ($(tail -n 1 levels.err))" [ $? -eq 0 ]
diffs=0
for v in pcamp pcamm pcampm; do
    for l in relu layer1 layer2 layer3 layer4; do
        h5diff -q rn.h5 cams.h5 "/methods/$v.cam.$l/map" "/methods/$v.cam.$l/map" >/dev/null || diffs=$((diffs + 1))
    done
    for id in $v $v.level.relu $v.level.layer2.0 $v.level.layer4 $v.no_lnorm; do
        h5diff -q rn.h5 levels.h5 "/methods/$id/map" "/methods/$id/map" >/dev/null || diffs=$((diffs + 1))
    done
done
check "the shared run's CAMs, levels and maps equal the separate runs' bit for bit ($diffs differ)" [ $diffs -eq 0 ]

# ---- class agreement --------------------------------------------------------------------------

for f in vgg rn; do
    classes=$(h5vals $f.h5 /images/class)
    n_agree=$(echo "$classes" | grep -cx 0)
    n_dis=$((2 - n_agree))
    check "$f: /reference_classes/class holds the made-up classes" [ "$(h5vals $f.h5 /reference_classes/class | tr '\n' ' ')" = "0 0 " ]
    check "$f: agree = 1 where /images/class is 0, else 0" \
        [ "$(h5vals $f.h5 /reference_classes/agree | tr '\n' ' ')" = "$(echo "$classes" | awk '{printf "%d ", $1 == 0}')" ]
    check "$f: n_compared 2, n_agree $n_agree, n_disagree $n_dis" \
        [ "$(h5attr_path $f.h5 /reference_classes/n_compared) $(h5attr_path $f.h5 /reference_classes/n_agree) $(h5attr_path $f.h5 /reference_classes/n_disagree)" = "2 $n_agree $n_dis" ]
    check "$f: the run's output says it ($(grep '^class agreement' $f.out))" \
        grep -q "^class agreement with $work/ref.csv: $n_agree of 2 images predict the reference's class ($n_dis disagree; 2 of 2 images have a reference class)" $f.out
    "$bin" --table $f.h5 >table.out 2>/dev/null
    check "$f: --table says the same" grep -qF "$(grep '^class agreement' $f.out)" table.out
    listed=$(grep -c '^  synth_00[01].jpg: class [1-9][0-9]* here, 0 in the reference$' table.out)
    check "$f: --table lists the $n_dis disagreeing images (listed $listed)" [ "$listed" -eq $n_dis ]
done

# a merge of two shards: the same reference classes, agreement and descriptions as the unsharded run
for i in 0 1; do
    "$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set data.reference_classes=ref.csv \
        --set saliency.methods=pcampm,gradcam --set run.shard=$i/2 --set output.file=s$i.h5 >/dev/null 2>s$i.err
    check "shard $i/2: exit 0 ($(tail -n 1 s$i.err))" [ $? -eq 0 ]
done
"$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set data.reference_classes=ref.csv \
    --set saliency.methods=pcampm,gradcam --set output.file=whole.h5 >/dev/null 2>whole.err
check "unsharded: exit 0 ($(tail -n 1 whole.err))" [ $? -eq 0 ]
"$bin" --merge merged.h5 s0.h5 s1.h5 >merge.out 2>merge.err
check "merge: exit 0 ($(tail -n 1 merge.err))" [ $? -eq 0 ]
check "merged /reference_classes equals the unsharded run's (classes, agree and counts)" \
    h5diff -q whole.h5 merged.h5 /reference_classes /reference_classes
check "... and its output says the same agreement" \
    grep -qF "$(sed -n 's/^\(class agreement with [^:]*: .*\)$/\1/p' <("$bin" --table whole.h5 2>/dev/null))" merge.out
same_attrs=1
for a in /class_source /preprocessing /methods/pcampm/description /methods/gradcam/description \
         /methods/pcampm.cam.layer3/description /methods/gradcam/insertion/auc_rule /methods/gradcam/deletion/baseline \
         /methods/pcampm/deletion/pixels_per_step /methods/pcampm/insertion/higher_is_better; do
    [ -n "$(h5attr_path merged.h5 $a)" ] && [ "$(h5attr_path merged.h5 $a)" = "$(h5attr_path whole.h5 $a)" ] || {
        same_attrs=0
        echo "  $a: merged '$(h5attr_path merged.h5 $a)', unsharded '$(h5attr_path whole.h5 $a)'"
    }
done
check "the merge copies the descriptions" [ $same_attrs -eq 1 ]
check "the merged datasets equal the unsharded run's" same_data whole.h5 merged.h5

# a bad reference file: one line naming the file and line, before any work
printf 'synth_000.jpg,0\nsynth_001.jpg;3\n' >bad.csv
"$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set data.reference_classes=bad.csv \
    --set output.file=bad.h5 >/dev/null 2>bad.err
rc=$?
check "a malformed reference line: exit 1, one line after the shipped-config note ($(cat bad.err))" \
    bash -c "[ $rc -eq 1 ] && [ \$(wc -l <bad.err) -eq 2 ] && tail -n 1 bad.err | grep -q '^polycam-eval: reference classes $work/bad.csv:2: expected .<name>,<class>. with a class >= 0$'"
printf 'synth_000.jpg,0\nsynth_000.jpg,3\n' >twice.csv
"$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set data.reference_classes=twice.csv \
    --check >/dev/null 2>twice.err
check "a name with two classes: refused by --check ($(tail -n 1 twice.err))" \
    grep -q "reference classes $work/twice.csv:2: 'synth_000.jpg' has class 3 here but 0 on line 1" twice.err
"$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set data.reference_classes=none.csv \
    --check >/dev/null 2>none.err
check "a missing reference file: refused by --check ($(tail -n 1 none.err))" \
    grep -q "^polycam-eval: reference classes $work/none.csv: cannot open (No such file or directory)$" <(tail -n 1 none.err)
# cam_layers against the model: an unknown layer, and layers out of order, before any work
"$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set saliency.cam_layers=relu,layer9 \
    --check >/dev/null 2>cl1.err
check "cam_layers naming no layer of the model: refused ($(tail -n 1 cl1.err))" \
    grep -q "^polycam-eval: \[saliency\] cam_layers: target layer 'layer9' is not a named output of resnet$" <(tail -n 1 cl1.err)
"$bin" --config resnet50_2000.ini "${synth_resnet_sets[@]}" "${light[@]}" --set saliency.cam_layers=layer2,layer1 \
    --check >/dev/null 2>cl2.err
check "cam_layers out of order: refused ($(tail -n 1 cl2.err))" \
    grep -q "^polycam-eval: \[saliency\] cam_layers: target layer 'layer1' does not come after 'layer2'" <(tail -n 1 cl2.err)
check "no output of the refused runs" [ ! -e bad.h5 -a ! -e bad.h5.partial ]
finish
