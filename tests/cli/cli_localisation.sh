#!/usr/bin/env bash
# cli_localisation.sh: localisation in a run ([data] masks, SPEC §10) on the synthetic set with the
# synth_resnet model: the stored /methods/<id>/localisation energies and pointing hits of PCAM± and
# Grad-CAM equal those of tests/fixtures/synthetic.h5 (the reference implementation's maps and
# torchcam's), the printed table, its CSV and the --report table equal the HDF5 numbers, a run in
# two shards merges to the unsharded datasets, and bad masks give one clear line (a missing folder
# stops the run; an image without a mask is left out with a warning; a mask of the wrong size skips
# its image, the status naming the mask). Small: 2 + 3 images, no curves.
# Usage: bash cli_localisation.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff

# vals <file> <dataset>: values with 10 significant digits, one per line
vals() {
    h5dump -m %.10g -y -w 0 -d "$2" "$1" 2>/dev/null | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | tr ',' '\n' |
        sed 's/^ *//; s/ *$//' | grep -v '^$'
}
mean_of() { awk '{ s += $1 } END { printf "%.4f", s / NR }'; }
hits_of() { awk '{ h += ($1 == 1) } END { printf "%d/%d", h, NR }'; }

cat >"$tmp/loc.ini" <<EOF
[model]
arch = resnet
weights = $src/data/models/synth_resnet.safetensors
resnet_stem = 16
resnet_stages = 8x1/1,16x2/2,32x1/2,32x1/2
classes = $src/data/synthetic/classes.txt
$(masks_run_sections)
EOF

"$bin" --config "$tmp/loc.ini" --set "output.file=$tmp/a.h5" >"$tmp/a.out" 2>"$tmp/a.err"
rc=$?
check "run with masks: $(tail -n 1 "$tmp/a.err")" [ $rc -eq 0 ]
ref=$src/tests/fixtures/synthetic.h5
for m in pcampm gradcam; do
    got_e=$(vals "$tmp/a.h5" /methods/$m/localisation/energy)
    got_p=$(vals "$tmp/a.h5" /methods/$m/localisation/pointing)
    want_e=$(vals "$ref" synth_resnet/test/$m/energy_in_mask | head -n 2)
    want_p=$(vals "$ref" synth_resnet/test/$m/pointing_hit | head -n 2)
    check "$m: energy in mask equals synthetic.h5 within 1e-4 ($(echo $got_e) vs $(echo $want_e))" close 1e-4 "$got_e" "$want_e"
    check "$m: pointing hits equal synthetic.h5 ($(echo $got_p) vs $(echo $want_p))" close 0 "$got_p" "$want_p"
    # the printed table and the CSV: mean energy (4 decimals) and hits/n from the HDF5 numbers
    mean=$(echo "$got_e" | mean_of)
    hits=$(echo "$got_p" | hits_of)
    check "$m: printed localisation row $mean $hits" grep -Eq "^\| $m +\| +$mean \| +$hits \| +2 \|" "$tmp/a.out"
    csv=$(awk -F, -v m=$m '$1 == m { printf "%.4f %d/%d", $6, $7, $8 }' "$tmp/a.h5.csv")
    check "$m: CSV energy and hits ($csv)" [ "$csv" = "$mean $hits" ]
done
check "CSV header has the localisation columns" grep -q '^method,insertion,deletion,ins_del,n,energy,pointing_hits,pointing_n,' "$tmp/a.h5.csv"

# --report: its localisation table equals the HDF5 numbers
"$bin" --report "$tmp/rep" "$tmp/a.h5" >/dev/null 2>"$tmp/rep.err"
rc=$?
check "report exits 0: $(tail -n 1 "$tmp/rep.err")" [ $rc -eq 0 ]
check "report has the localisation table" grep -q '^## Localisation' "$tmp/rep/report.md"
for m in pcampm gradcam; do
    mean=$(vals "$tmp/a.h5" /methods/$m/localisation/energy | mean_of)
    hits=$(vals "$tmp/a.h5" /methods/$m/localisation/pointing | hits_of)
    check "report row $m | $mean | $hits" grep -q "^| $m | $mean | $hits |" "$tmp/rep/report.md"
done

# shards: two halves merged equal the unsharded run (localisation included)
b="--set saliency.methods=gradcam,layercam --set data.limit=3"
"$bin" --config "$tmp/loc.ini" $b --set "output.file=$tmp/full.h5" >/dev/null 2>"$tmp/full.err"
rc=$?
check "unsharded run: $(tail -n 1 "$tmp/full.err")" [ $rc -eq 0 ]
for i in 0 1; do
    "$bin" --config "$tmp/loc.ini" $b --set "output.file=$tmp/s$i.h5" --set "run.shard=$i/2" >/dev/null 2>"$tmp/s$i.err"
    rc=$?
    check "shard $i/2: $(tail -n 1 "$tmp/s$i.err")" [ $rc -eq 0 ]
done
"$bin" --merge "$tmp/merged.h5" "$tmp/s1.h5" "$tmp/s0.h5" >/dev/null 2>"$tmp/merge.err"
rc=$?
check "merge: $(tail -n 1 "$tmp/merge.err")" [ $rc -eq 0 ]
check "merged datasets equal the unsharded run's" h5diff -q "$tmp/full.h5" "$tmp/merged.h5" /methods /methods
check "merged file has 3 pointing values" [ "$(vals "$tmp/merged.h5" /methods/layercam/localisation/pointing | wc -l)" -eq 3 ]

# no masks: no localisation datasets, no localisation table
"$bin" --config "$tmp/loc.ini" $b --set data.masks= --set data.limit=1 --set "output.file=$tmp/n.h5" >"$tmp/n.out" 2>"$tmp/n.err"
rc=$?
check "run without masks: $(tail -n 1 "$tmp/n.err")" [ $rc -eq 0 ]
check "no localisation group without masks" [ -z "$(vals "$tmp/n.h5" /methods/gradcam/localisation/energy)" ]
check "no localisation table without masks" [ "$(grep -c Localisation "$tmp/n.out")" -eq 0 ]

# bad masks
"$bin" --config "$tmp/loc.ini" --set "data.masks=$tmp/nowhere" --set "output.file=$tmp/x.h5" >/dev/null 2>"$tmp/x.err"
rc=$?
check "missing masks folder: exit 1" [ $rc -eq 1 ]
check "missing masks folder: one line naming it" [ "$(wc -l <"$tmp/x.err")" -eq 1 ]
check "missing masks folder: the message" grep -q "\[data\] masks .*nowhere: no such folder" "$tmp/x.err"
# list relative to data/: a synthetic image (mask found by base name), the cat photograph with a
# 224 x 224 mask (its image is larger: skipped, status naming the mask), an ILSVRC image without one
mkdir -p "$tmp/m"
cp "$src/data/synthetic/masks/synth_000.png" "$tmp/m/"
cp "$src/data/synthetic/masks/synth_001.png" "$tmp/m/chelsea_cat.png"
printf 'synthetic/synth_000.jpg\nnatural/chelsea_cat.jpg\nilsvrc_samples/ILSVRC2012_val_00010495.JPEG\n' >"$tmp/list.txt"
"$bin" --config "$tmp/loc.ini" --set saliency.methods=gradcam --set "data.list=$tmp/list.txt" --set "data.root=$src/data" \
    --set "data.masks=$tmp/m" --set data.limit=0 --set "output.file=$tmp/y.h5" >"$tmp/y.out" 2>"$tmp/y.err"
rc=$?
check "mixed masks: exit 0: $(tail -n 1 "$tmp/y.err")" [ $rc -eq 0 ]
check "warning names the image without a mask" grep -q "warning: \[data\] masks .*: 1 of 3 images have no mask (first: 'ilsvrc_samples/ILSVRC2012_val_00010495.JPEG')" "$tmp/y.err"
status=$(h5dump -d /images/status "$tmp/y.h5" 2>&1)
check "wrong-size mask: status names it" grep -q "(1): \"mask .*/chelsea_cat.png: 224 x 224 pixels, but its image has 451 x 300\"" <<<"$status"
want="$(vals "$ref" synth_resnet/test/gradcam/pointing_hit | head -n 1) -1 -1 "
check "pointing: synth_000 computed, the cat skipped, none for the third" [ "$(vals "$tmp/y.h5" /methods/gradcam/localisation/pointing | tr '\n' ' ')" = "$want" ]
check "table: 1 image with localisation" grep -Eq '^\| gradcam +\| +[0-9.]+ \| +[01]/1 \| +1 \|' "$tmp/y.out"
finish
