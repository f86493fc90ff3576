#!/usr/bin/env bash
# cli_demo.sh: runs configs/demo.ini (synth_resnet) on the CPU for its first two images (synthetic shapes) into a
# temporary folder, checks the HDF5 layout (h5ls / h5dump), the root attributes, the table, CSV and
# overlays, and compares the insertion / deletion AUCs of PCAM+, PCAM- and PCAM+- with the reference
# implementation's per-image values in tests/fixtures/synthetic.h5 (within 0.01).
# Usage: bash cli_demo.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5ls

# h5ls -r line of a dataset: "<path> <spaces> Dataset {dims}"
has_dataset() {
    grep -qE "^$1 +Dataset \{$2\}\$" <<<"$listing"
}

out=$tmp/demo.h5
"$bin" --config "$src/configs/demo.ini" --set run.device=cpu --set "output.file=$out" --limit 2 \
    >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "demo run exits 0 (rc $rc): $(tail -n 3 "$tmp/stderr")" [ $rc -eq 0 ]
check "output file written" [ -f "$out" ]
check "no .partial or .journal left" [ ! -e "$out.partial" -a ! -e "$out.journal" ]
[ -f "$out" ] || finish

# ---- layout ------------------------------------------------------------------------------------
listing=$(h5ls -r "$out")
for d in name class label score status done index; do
    check "dataset /images/$d (2)" has_dataset /images/$d 2
done
check "dataset /classes (4)" has_dataset /classes 4
for m in pcamp pcamm pcampm; do
    check "$m map (2, 224, 224)" has_dataset /methods/$m/map "2, 224, 224"
    for c in insertion deletion; do
        check "$m $c auc" has_dataset /methods/$m/$c/auc 2
        check "$m $c scores" has_dataset /methods/$m/$c/scores "2, 224"
    done
done
header=$(h5dump -H -d /methods/pcampm/map -p "$out")
check "maps are 16-bit floats" grep -q "16-bit little-endian floating-point" <<<"$header"
check "maps are chunked one image per chunk" grep -q "CHUNKED ( 1, 224, 224 )" <<<"$header"
check "maps are deflate-compressed" grep -q "DEFLATE" <<<"$header"
for a in config config_source config_key method_ids version git_commit libraries device start_time end_time \
         n_images n_done complete; do
    check "root attribute $a" grep -q "ATTRIBUTE \"$a\"" <<<"$(h5dump -A -H "$out")"
done
check "n_done = 2" [ "$(h5attr "$out" n_done | tr -d ' ')" = "2" ]
check "complete = 1" [ "$(h5attr "$out" complete | tr -d ' ')" = "1" ]
check "config attribute holds the resolved weights path" grep -q "synth_resnet.safetensors" <<<"$(h5attr "$out" config)"
check "libraries attribute names HDF5" grep -q "HDF5 1\." <<<"$(h5attr "$out" libraries)"
check "device attribute is the CPU" grep -q "cpu" <<<"$(h5attr "$out" device)"
check "both statuses ok" [ "$(h5dump -y -d /images/status "$out" | grep -o '"ok"' | wc -l)" -eq 2 ]
check "labels from labels.txt (0, 3)" [ "$(h5vals "$out" /images/label | tr '\n' ' ')" = "0 3 " ]
check "explained classes are the predictions (0, 3)" [ "$(h5vals "$out" /images/class | tr '\n' ' ')" = "0 3 " ]

# ---- AUCs against the reference implementation -----------------------------------------------
fixture=$src/tests/fixtures/synthetic.h5
for m in pcamp pcamm pcampm; do
    for c in insertion deletion; do
        ours=$(h5vals "$out" /methods/$m/$c/auc)
        ref=$(h5vals "$fixture" /synth_resnet/test/$m/${c}_auc | head -n 2)
        cmp=$(paste <(echo "$ours") <(echo "$ref") | awk '
            NF == 2 { d = $1 - $2; if (d < 0) d = -d; if (d > max) max = d; n++ }
            END { printf "%d %.6f", n, max }')
        n=${cmp% *}
        maxd=${cmp#* }
        echo "$m $c AUC: max |ours - reference| = $maxd over $n images"
        check "$m $c AUC within 0.01 of the reference (max diff $maxd, $n images)" \
            awk -v n="$n" -v d="$maxd" 'BEGIN { exit !(n == 2 && d <= 0.01) }'
    done
done

# ---- table, CSV, overlays ---------------------------------------------------------------------
check "markdown table printed" grep -q "^| pcampm " "$tmp/stdout"
check "table header" grep -q "| Method | Insertion | Deletion | Ins-Del |" "$tmp/stdout"
check "CSV written" [ -f "$out.csv" ]
check "CSV has 3 method rows" [ "$(grep -c '^pcam' "$out.csv")" -eq 3 ]
check "overlays for both images x 3 methods" [ "$(ls "${out}_overlays" 2>/dev/null | grep -c '\.png$')" -eq 6 ]
check "overlay name" [ -f "${out}_overlays/synthetic_synth_000_pcampm.png" ]

# --table on the file prints the same table
"$bin" --table "$out" >"$tmp/table" 2>/dev/null
check "--table exits 0" [ $? -eq 0 ]
check "--table prints the same rows" diff <(grep '^| pcamp' "$tmp/stdout") <(grep '^| pcamp' "$tmp/table")

# rerunning the finished command computes nothing and prints the table again
start=$(date +%s)
"$bin" --config "$src/configs/demo.ini" --set run.device=cpu --set "output.file=$out" --limit 2 \
    >"$tmp/stdout2" 2>"$tmp/stderr2"
rc=$?
check "rerun of a finished output exits 0" [ $rc -eq 0 ]
check "rerun says nothing to compute" grep -q "nothing to compute" "$tmp/stderr2"
check "rerun takes no compute time" [ $(($(date +%s) - start)) -lt 10 ]
finish
