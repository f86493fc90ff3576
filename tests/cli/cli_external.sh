#!/usr/bin/env bash
# cli_external.sh: maps made elsewhere through the program (method ext:NAME, [external NAME] file;
# docs/external-maps.md).
#   * torchcam's Grad-CAM maps of the synthetic images (tests/fixtures/ext_maps, written by
#     tools/make_ext_fixtures.py as the reference implementation saves its explanations: an .npz
#     keyed by image name, (1, 1, h, w) maps; stored members for synth_vgg, deflated for
#     synth_resnet) scored as ext:tc give the built-in gradcam's insertion and deletion AUCs
#     within 2e-3 on every image, and its localisation (energy in mask within 2e-3, pointing);
#   * a result file's gradcam maps (maps = float32) fed back as ext:back give identical AUCs;
#   * an image the file has no map for is left out of ext:'s row only (status, warning, N);
#   * sensitivity-max is NaN for ext: (no map of a perturbed input), computed for gradcam;
#   * a missing file, a NaN map, a map of the wrong rank, of size zero or of another dtype, a file
#     of neither kind, an id without its section: one line, also under --check, nothing written.
# Usage: bash cli_external.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff
cd "$tmp" || exit 1
fix=$src/tests/fixtures/ext_maps

synth_vgg_model() {
    cat <<EOF
[model]
arch = vgg
weights = $src/data/models/synth_vgg.safetensors
vgg_cfg = 16,16,M,32,32,M,64,64,M,64,64,M,64,64,M
vgg_classifier = 128,128
EOF
}

# config <model section function> <npz> <list> <limit>: gradcam and ext:tc on the synthetic images.
config() {
    $1
    cat <<EOF
classes = $src/data/synthetic/classes.txt

[data]
list = $3
limit = $4

[saliency]
methods = gradcam, ext:tc

[metrics]
steps = 16

[output]
maps = float32

[run]
device = cpu

[external tc]
file = $2
EOF
}

# close_aucs <file> <id a> <id b> <curve or dataset> <n>: every image's AUCs (or values) of a and
# b within 2e-3.
close_aucs() {
    local d=$4
    case $d in insertion|deletion) d=$d/auc ;; esac
    paste <(h5vals "$1" "/methods/$2/$d") <(h5vals "$1" "/methods/$3/$d") |
        awk -v n="$5" '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; k++ }
                       END { printf "max |dAUC| %.2g over %d images\n", m, k > "/dev/stderr"; exit !(k == n && m <= 2e-3) }'
}

for model in synth_vgg synth_resnet; do
    config ${model}_model "$fix/${model}_gradcam.npz" "$src/data/synthetic/images.txt" 4 >$model.ini
    "$bin" --config $model.ini --set output.file=$model.h5 --set data.masks="$src/data/synthetic/masks" \
        >$model.out 2>$model.err
    rc=$?; check "$model: exit 0 ($(tail -n 1 $model.err))" [ $rc -eq 0 ]
    check "$model: table rows gradcam and ext:tc, N = 4" \
        bash -c "grep -qE '^\| gradcam +\|.*\| +4 \|$' $model.out && grep -qE '^\| ext:tc +\|.*\| +4 \|$' $model.out"
    for curve in insertion deletion; do
        check "$model: ext:tc's $curve AUCs = gradcam's within 2e-3" close_aucs $model.h5 gradcam ext:tc $curve 4
    done
    check "$model: localisation: energy in mask within 2e-3" close_aucs $model.h5 gradcam ext:tc localisation/energy 4
    check "$model: localisation: the same pointing hits" \
        h5diff -q $model.h5 $model.h5 /methods/gradcam/localisation/pointing /methods/ext:tc/localisation/pointing
    check "$model: every image ok" [ "$(h5vals $model.h5 /images/status | grep -c '"ok"')" -eq 4 ]
done

# a result file fed back: its gradcam maps (float32) as ext:back give the same AUCs, bit for bit
cat >back.ini <<EOF
$(synth_vgg_model)
classes = $src/data/synthetic/classes.txt
[data]
list = $src/data/synthetic/images.txt
limit = 4
[saliency]
methods = ext:back
[metrics]
steps = 16
[run]
device = cpu
[external back]
file = synth_vgg.h5
method = gradcam
EOF
"$bin" --config back.ini --set output.file=back.h5 >back.out 2>back.err
rc=$?; check "fed back: exit 0 ($(tail -n 1 back.err))" [ $rc -eq 0 ]
for curve in insertion deletion; do
    check "fed back: $curve AUCs identical to the source's gradcam" \
        h5diff -q synth_vgg.h5 back.h5 /methods/gradcam/$curve/auc /methods/ext:back/$curve/auc
done

# an image without a map: left out of ext:tc's row only
mkdir -p roots/miss
ln -s "$src/data/synthetic/synth_001.jpg" roots/miss/synth_001.jpg
ln -s "$src/data/synthetic/synth_002.jpg" roots/miss/extra.jpg
printf 'synth_001.jpg\nextra.jpg\n' >roots/miss/list.txt
config synth_vgg_model "$fix/synth_vgg_gradcam.npz" roots/miss/list.txt 0 >miss.ini
"$bin" --config miss.ini --set metrics.steps=4 --set output.file=miss.h5 >miss.out 2>miss.err
rc=$?; check "no map: exit 0 ($(tail -n 1 miss.err))" [ $rc -eq 0 ]
check "no map: a warning at the start names the image" \
    grep -q "^warning: ext:tc: .*synth_vgg_gradcam.npz has no map for 1 of 2 images (extra.jpg); each is left out of ext:tc's rows only" miss.err
check "no map: the status names the method" \
    [ "$(h5vals miss.h5 /images/status | sed -n 2p)" = '"ext:tc: no map in the external file"' ]
check "no map: listed at the end, not as skipped" \
    bash -c "grep -q '^1 of 2 images with a NaN map (or none in an external file)' miss.err && ! grep -q skipped miss.err"
check "no map: gradcam keeps both images, ext:tc one" \
    bash -c "grep -qE '^\| gradcam +\|.*\| +2 \|$' miss.out && grep -qE '^\| ext:tc +\|.*\| +1 \|$' miss.out"
check "no map: --check says so too" \
    bash -c "'$bin' --config miss.ini --check 2>&1 | grep -q 'has no map for 1 of 2 images'"

# sensitivity-max: none for maps made elsewhere (NaN), the built-in method's as usual
"$bin" --config miss.ini --set metrics.steps=4 --set data.limit=1 --set robustness.sensitivity=yes \
    --set robustness.samples=2 --set output.file=sens.h5 >sens.out 2>sens.err
rc=$?; check "sensitivity: exit 0 ($(tail -n 1 sens.err))" [ $rc -eq 0 ]
check "sensitivity: NaN for ext:tc" [ "$(h5vals sens.h5 /methods/ext:tc/sensitivity)" = nan ]
check "sensitivity: a number for gradcam" grep -qE '^[0-9][0-9.e+-]*$' <(h5vals sens.h5 /methods/gradcam/sensitivity)

# bad input: one line, exit 1 (2 for a mistake in a --set argument), nothing written, the same under --check
expect_line() {
    local desc=$1 want=$2
    shift 2
    for check_only in "" --check; do
        rm -f bad.h5
        "$bin" "$@" $check_only --set output.file=bad.h5 >out.txt 2>err.txt
        local rc=$?
        check "$desc${check_only:+ (--check)}: exit ${want_rc:-1} (got $rc)" [ $rc -eq "${want_rc:-1}" ]
        check "$desc${check_only:+ (--check)}: message has \"$want\" (got \"$(head -c 300 err.txt)\")" grep -qF -- "$want" err.txt
        check "$desc${check_only:+ (--check)}: one line" [ "$(wc -l <err.txt)" -eq 1 ]
        check "$desc${check_only:+ (--check)}: no output" [ ! -e bad.h5 ]
    done
}
config synth_vgg_model "$fix/gone.npz" "$src/data/synthetic/images.txt" 2 >gone.ini
expect_line "missing file" "gone.ini:25: [external tc] file: $fix/gone.npz: cannot open (No such file or directory)" \
    --config gone.ini
echo "not an archive" >text.npz
expect_line "neither kind" "text.npz: neither a NumPy .npz archive nor a polycam-eval result file (HDF5)" \
    --config gone.ini --set external.tc.file=text.npz
want_rc=2 expect_line "no section" "[saliency] methods names ext:zz, but there is no [external zz] section" \
    --config gone.ini --set external.tc.file=text.npz --set "saliency.methods=gradcam,ext:zz"
expect_line "result file without the method" "synth_vgg.h5: no method 'ixg' among its maps (gradcam, ext:tc); set [external back] method to one of them" \
    --config back.ini --set external.back.method=ixg
head -c 3000 synth_vgg.h5 >cut.h5
expect_line "a cut result file" "cut.h5: cannot open as HDF5 (not a readable polycam-eval result file)" \
    --config back.ini --set external.back.file=cut.h5
# arrays numpy wrote (npy_variants.npz), each under an image named after its key
mkdir -p roots/bad
for key in nan three_maps rank1 empty i8; do
    ln -s "$src/data/synthetic/synth_000.jpg" roots/bad/$key
    echo $key >roots/bad/$key.txt
done
config synth_vgg_model "$fix/npy_variants.npz" roots/bad/nan.txt 0 >bad.ini
expect_line "NaN map" "ext:tc: $fix/npy_variants.npz: key 'nan': NaN at (row 3, column 4) of its 13x9 map" \
    --config bad.ini
expect_line "three maps" "key 'three_maps': shape (3, 4, 4): more than one map" \
    --config bad.ini --set data.list=roots/bad/three_maps.txt
expect_line "rank 1" "key 'rank1': shape (5,): rank 1, not a 2-D map" --config bad.ini --set data.list=roots/bad/rank1.txt
expect_line "size zero" "key 'empty': shape (0, 5): an empty map (size zero)" \
    --config bad.ini --set data.list=roots/bad/empty.txt
expect_line "int64" "key 'i8': dtype '<i8': a map must be float16, float32 or float64" \
    --config bad.ini --set data.list=roots/bad/i8.txt
finish
