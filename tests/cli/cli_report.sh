#!/usr/bin/env bash
# cli_report.sh: `polycam-eval --report OUT_DIR FILE.h5 ...` on two small runs (tiny_vgg with the
# per-level ablation, tiny_resnet over a partly different image slice): the report's Table 1
# numbers equal the `--table` CSV of each file where the image sets agree, the means are over the
# common images otherwise (and the report says what it left out), every figure exists as a
# non-blank PNG and an SVG, a full disk leaves the previous report as it was, and bad inputs give
# one line naming the file.
# Usage: bash cli_report.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"

run_tiny() {   # run_tiny <model function> <layers> <offset> <out.h5> <extra ini lines>
    cat >"$tmp/run.ini" <<EOF
$($1)
layers = $2
$(synth_data)
offset = $3
limit = 3
[saliency]
methods = pcamp,pcampm
$5
[metrics]
steps = 8
[run]
device = cpu
EOF
    "$bin" --config "$tmp/run.ini" --set "output.file=$4" >/dev/null 2>"$4.err"
}

run_tiny tiny_vgg_model "features.8,features.13,features.18" 0 "$tmp/vgg.h5" "ablations = levels,cams"
rc=$?; check "tiny_vgg run: $(tail -n 1 "$tmp/vgg.h5.err")" [ $rc -eq 0 ]
run_tiny tiny_resnet_model "layer3,layer4" 1 "$tmp/resnet.h5" ""
rc=$?; check "tiny_resnet run: $(tail -n 1 "$tmp/resnet.h5.err")" [ $rc -eq 0 ]

# One file: its Table 1 rows equal --table's CSV (rounded to the report's 4 decimals).
"$bin" --report "$tmp/rep1" "$tmp/vgg.h5" >/dev/null 2>"$tmp/rep1.err"
rc=$?; check "report of one file exits 0: $(tail -n 1 "$tmp/rep1.err")" [ $rc -eq 0 ]
"$bin" --table "$tmp/vgg.h5" >/dev/null 2>&1
md_group() {   # md_group <report.md> <first cell column>: "id ins del diff n" of one model's Table 1 columns
    awk -F'|' -v f="$2" '/^## Tables 1 and 4/{t=1; next} /^## /{t=0} t && /^\| [a-z]/ && $2 !~ /Method/ {
        id = $2; sub(/^ +/, "", id); sub(/ .*/, "", id); out = id   # "pcampm (PCAM±)" -> pcampm
        for (i = f; i < f + 4; i++) { c = $i; sub(/^ +/, "", c); sub(/[ ;[].*/, "", c); out = out " " c }
        print out }' "$1"   # a cell "0.1234 [0.1, 0.2]; paper ..." -> 0.1234
}
md_rows() { md_group "$1" 3; }   # the first model's columns
csv_rows() {
    awk -F, 'NR > 1 && $1 !~ /\./ { printf "%s %.4f %.4f %.4f %d\n", $1, $2, $3, $4, $5 }' "$1"
}
check "Table 1 rows equal the --table CSV" [ "$(md_rows "$tmp/rep1/report.md")" = "$(csv_rows "$tmp/vgg.h5.csv")" ]
check "Table 1 has the two methods" [ "$(md_rows "$tmp/rep1/report.md" | wc -l)" -eq 2 ]
check "per-level table" grep -q '^## Tables 2 and 3: per-level ablation, tiny_vgg' "$tmp/rep1/report.md"
check "level row PCAM± at features.13" grep -q '^| PCAM± at features.13 | ' "$tmp/rep1/report.md"
for fig in curves_tiny_vgg_insertion curves_tiny_vgg_deletion curves_tiny_vgg_polycam_insertion grid levels_vgg_pcamp \
    levels_vgg_pcampm; do
    check "$fig.png is a PNG" [ "$(head -c 8 "$tmp/rep1/$fig.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
    # A blank 720 x 480 PNG compresses to under 3 KB; a drawn chart with text is well above 10 KB.
    check "$fig.png is not blank" [ "$(stat -c %s "$tmp/rep1/$fig.png")" -gt 10000 ]
    check "$fig.svg is an SVG" grep -q '<svg' "$tmp/rep1/$fig.svg"
    check "report.md links $fig.png" grep -q "($fig.png)" "$tmp/rep1/report.md"
done

# A report on a full disk (a file size limit of 0): one line naming the file it could not write,
# exit 1, the previous report.md and figures as they were, no temporary files left.
cp -r "$tmp/rep1" "$tmp/rep1_before"
# (stderr through a pipe: a file could not take the message under that limit either)
(ulimit -f 0; trap '' XFSZ; exec "$bin" --report "$tmp/rep1" "$tmp/vgg.h5" 2>&1 >/dev/null) | cat >"$tmp/repfull.err"
rc=${PIPESTATUS[0]}
check "report on a full disk: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "... one line naming the file: $(cat "$tmp/repfull.err")" bash -c \
    "[ \$(wc -l <'$tmp/repfull.err') -eq 1 ] && grep -q '^polycam-eval: $tmp/rep1/[a-z_]*\.[a-z]*: cannot write' '$tmp/repfull.err'"
check "... the previous report and figures unchanged, no temporaries" diff -r "$tmp/rep1" "$tmp/rep1_before"

# A file with the isolated CAMs and the no-LNorm map but no levels (Table 3's second run,
# table3_resnet50_cams.ini): its per-layer table has the CAM columns, and the no-LNorm row; the
# numbers equal its --table CSV.
run_tiny tiny_vgg_model "features.8,features.13,features.18" 0 "$tmp/cams.h5" "ablations = cams,no_lnorm"
rc=$?; check "tiny_vgg cams run: $(tail -n 1 "$tmp/cams.h5.err")" [ $rc -eq 0 ]
"$bin" --report "$tmp/rep3" "$tmp/cams.h5" >/dev/null 2>"$tmp/rep3.err"
rc=$?; check "report of a CAMs-only file exits 0: $(tail -n 1 "$tmp/rep3.err")" [ $rc -eq 0 ]
"$bin" --table "$tmp/cams.h5" >/dev/null 2>&1
level_table_row() {   # level_table_row <report.md> <row label>: the first numbers of the row's 4 cells
    awk -F'|' -v r="$2" '/^## Tables 2 and 3/{t=1; next} /^## /{t=0}
        t { l = $2; gsub(/^ +| +$/, "", l); if (l == r) { for (i = 3; i <= 6; i++) { c = $i; sub(/^ +/, "", c);
            sub(/[ ;[].*/, "", c); printf "%s ", c } print "" } }' "$1"
}
csv_ids() {   # csv_ids <csv> <id>: "ins del diff n" of one id, 4 decimals
    awk -F, -v id="$2" '$1 == id { printf "%.4f %.4f %.4f %d\n", $2, $3, $4, $5 }' "$1"
}
check "CAMs-only file: a per-layer table" grep -q '^## Tables 2 and 3: per-level ablation, tiny_vgg' "$tmp/rep3/report.md"
cam_row=$(level_table_row "$tmp/rep3/report.md" "CAM± at features.13")
check "... its CAM± features.13 row: the CAM's AUCs from the CSV ($cam_row)" \
    [ "$cam_row" = "$(csv_ids "$tmp/cams.h5.csv" pcampm.cam.features.13) " ]
check "... and no level rows" bash -c "! grep -q '^| PCAM± at ' '$tmp/rep3/report.md'"
nl_row=$(level_table_row "$tmp/rep3/report.md" "PCAM± without LNorm")
check "... a no-LNorm row with the CSV's AUCs ($nl_row)" \
    [ "$nl_row" = "$(csv_ids "$tmp/cams.h5.csv" pcampm.no_lnorm) " ]
check "... and the per-layer figure" [ -s "$tmp/rep3/levels_cams_pcampm.png" ]
check "the levels file's table has the CAM rows too" grep -q '^| CAM± at features.13 | ' "$tmp/rep1/report.md"

# Two files over different slices (offsets 0 and 1, 3 images each): the means are over the 2
# images both hold, and the report says what it left out.
"$bin" --report "$tmp/rep2" "$tmp/vgg.h5" "$tmp/resnet.h5" >/dev/null 2>"$tmp/rep2.err"
rc=$?; check "report of two files exits 0: $(tail -n 1 "$tmp/rep2.err")" [ $rc -eq 0 ]
check "one column group per model" grep -q '^| Method | tiny_vgg Ins | tiny_vgg Del | tiny_vgg Ins-Del | tiny_vgg N | tiny_resnet Ins |' "$tmp/rep2/report.md"
check "says what it left out" grep -q 'Left out of `.*vgg.h5`: 1 of its 3' "$tmp/rep2/report.md"
check "N = 2 common images" [ "$(md_rows "$tmp/rep2/report.md" | awk '{print $5}' | sort -u)" = 2 ]
# Files that share no image (tiny_resnet on entries 5..7): each file's means over its own images,
# said in bold, instead of empty tables and no figures.
run_tiny tiny_resnet_model "layer3,layer4" 5 "$tmp/far.h5" ""
rc=$?; check "tiny_resnet run on entries 5..7: $(tail -n 1 "$tmp/far.h5.err")" [ $rc -eq 0 ]
"$bin" --report "$tmp/rep6" "$tmp/vgg.h5" "$tmp/far.h5" >/dev/null 2>"$tmp/rep6.err"
rc=$?; check "report of disjoint files exits 0: $(tail -n 1 "$tmp/rep6.err")" [ $rc -eq 0 ]
check "says the files share no image" grep -q '^\*\*The files share no readable image\*\*' "$tmp/rep6/report.md"
check "vgg's rows are its own 3 images, equal to its --table CSV" \
    [ "$(md_rows "$tmp/rep6/report.md")" = "$(csv_rows "$tmp/vgg.h5.csv")" ]
check "far's (tiny_resnet's) curve figure is drawn" [ -s "$tmp/rep6/curves_tiny_resnet_insertion.png" ]
# A file without curves (localisation / sanity only): no table of dashes, one line instead.
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/nocurves.h5" --set metrics.insertion=no \
    --set metrics.deletion=no >/dev/null 2>&1
"$bin" --report "$tmp/rep7" "$tmp/nocurves.h5" >/dev/null 2>"$tmp/rep7.err"
rc=$?; check "report of a file without curves exits 0: $(tail -n 1 "$tmp/rep7.err")" [ $rc -eq 0 ]
check "... says it has no curves" grep -q '^(No file has insertion or deletion curves' "$tmp/rep7/report.md"
check "... and prints no AUC rows" [ "$(md_rows "$tmp/rep7/report.md" | wc -l)" -eq 0 ]
# ... and with no maps stored either, nothing to draw: no empty "## Figures" heading
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/nothing.h5" --set metrics.insertion=no \
    --set metrics.deletion=no --set output.maps=none >/dev/null 2>&1
"$bin" --report "$tmp/rep8" "$tmp/nothing.h5" >/dev/null 2>"$tmp/rep8.err"
rc=$?; check "report of a file without curves or maps exits 0: $(tail -n 1 "$tmp/rep8.err")" [ $rc -eq 0 ]
check "... has no Figures heading" bash -c "! grep -q '^## Figures' '$tmp/rep8/report.md'"
check "the report with maps keeps its Figures heading" grep -q '^## Figures' "$tmp/rep7/report.md"

# A file with no readable image (a run whose only image is broken) beside vgg.h5: vgg's means stay
# over its own images (they were all dropped), and the report says why the other columns are empty.
printf 'empty.JPEG\n' >"$tmp/broken.txt"
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/broken.h5" --set "data.list=$tmp/broken.txt" \
    --set "data.root=$src/data/bad_inputs" --set data.offset=0 --set data.labels= >/dev/null 2>&1
"$bin" --report "$tmp/rep9" "$tmp/broken.h5" "$tmp/vgg.h5" >/dev/null 2>"$tmp/rep9.err"
rc=$?; check "report with a file of no readable image: $(tail -n 1 "$tmp/rep9.err")" [ $rc -eq 0 ]
check "... says so" grep -q 'broken.h5` has no readable image: its columns are empty' "$tmp/rep9/report.md"
second_group() { md_group "$1" 7; }   # "id ins del diff n" of the second model's columns
check "... and vgg's rows are its own 3 images (its --table CSV)" \
    [ "$(second_group "$tmp/rep9/report.md")" = "$(csv_rows "$tmp/vgg.h5.csv")" ]

# The output name of a run that is not finished: its .partial and the images its journal holds,
# what a resume would count (the run appends an image to its journal before it writes it into the
# .partial; counting the .partial alone missed it, issue 25). The run is paused (SIGSTOP) once its
# journal holds a whole record and reported while it holds its lock; the count must equal the
# journal's whole records, read from its bytes (journal_records), whatever the moment of the
# pause. The report writes nothing (the files are as they were, the lock stays the run's), and the
# run, continued, finishes.
going=$tmp/going.h5
going_run=("$bin" --config "$tmp/run.ini" --set "output.file=$going" --set data.offset=0 --set data.limit=4)
report_done() {   # report_done <out dir>: the Done column of the .partial's row
    awk -F'|' -v f="\`$going.partial\`" '{ c = $2; gsub(/^ +| +$/, "", c) } c == f { gsub(/ /, "", $4); print $4 }' "$1/report.md"
}
file_states() { stat -c '%n %s %y %z' "$going.partial" "$going.journal" "$going.lock" && md5sum "$going".*; }
"${going_run[@]}" >/dev/null 2>"$tmp/going.err" &
pid=$!
if wait_for 600 "a whole record in $going.journal" $pid has_records "$going.journal" 1 && pause_run $pid; then
    n=$(journal_records "$going.journal")
    # what the .partial alone shows (at most n; often n - 1: the image the run was writing)
    alone=$(HDF5_USE_FILE_LOCKING=FALSE h5vals "$going.partial" /images/done | grep -c '^1$')
    before=$(file_states)
    "$bin" --report "$tmp/rep10" "$going" >/dev/null 2>"$tmp/rep10.err"
    rc=$?; check "report of a running output: $(tail -n 1 "$tmp/rep10.err")" [ $rc -eq 0 ]
    check "... reads its .partial, listed as running" grep -q "going.h5.partial\` | 4 | [0-9]* | running" "$tmp/rep10/report.md"
    check "... with exactly the journal's $n whole records done ($(report_done "$tmp/rep10"); the .partial alone: $alone)" [ "$(report_done "$tmp/rep10")" = "$n" ]
    if [ "$alone" -lt "$n" ]; then
        check "... saying $((n - alone)) of them are read from the journal" \
            grep -q "going.h5.partial\`: $((n - alone)) of its done images are read from its journal" "$tmp/rep10/report.md"
    fi
    "$bin" --table "$going.partial" >"$tmp/table10.out" 2>"$tmp/table10.err"
    rc=$?; check "--table of the .partial: $(tail -n 1 "$tmp/table10.err")" [ $rc -eq 0 ]
    check "... $n done: $(grep 'images,' "$tmp/table10.out")" grep -q "^$going.partial: 4 images, $n done, " "$tmp/table10.out"
    check "... and no CSV for a running file" [ ! -e "$going.partial.csv" ]
    check "the report and the table wrote nothing (.partial, journal, lock as they were)" [ "$(file_states)" = "$before" ]
    "${going_run[@]}" >/dev/null 2>"$tmp/second.err"
    check "the run still holds its lock: a second writer is refused" grep -q "another polycam-eval (pid $pid)" "$tmp/second.err"
    kill -CONT $pid
    wait $pid
    rc=$?
    check "the paused run, continued, finishes (exit $rc): $(tail -n 1 "$tmp/going.err")" [ $rc -eq 0 -a -e "$going" ]
fi
# Killed with its .partial behind its journal by more than the image in progress: the .partial
# put back as it was before the last records (what a kill between the journal's appends and the
# .partial's flushes leaves). The report and the table count the journal's records, say how many
# they read from it, and a resume finds the same count.
rm -f "$going" "$going".*
"${going_run[@]}" >/dev/null 2>&1 &
pid=$!
if wait_for 600 "a whole record in $going.journal" $pid has_records "$going.journal" 1 && pause_run $pid; then
    cp "$going.partial" "$tmp/older.partial"
    alone=$(HDF5_USE_FILE_LOCKING=FALSE h5vals "$tmp/older.partial" /images/done | grep -c '^1$')
    more=$(($(journal_records "$going.journal") + 1))
    kill -CONT $pid
    if wait_for 600 "record $more in $going.journal" $pid has_records "$going.journal" $more && pause_run $pid; then
        kill -9 $pid
        wait $pid 2>/dev/null
        n=$(journal_records "$going.journal")
        cp "$tmp/older.partial" "$going.partial"
        "$bin" --report "$tmp/rep11" "$going" >/dev/null 2>"$tmp/rep11.err"
        rc=$?; check "report of a killed run's output: $(tail -n 1 "$tmp/rep11.err")" [ $rc -eq 0 ]
        check "... with exactly the journal's $n whole records done ($(report_done "$tmp/rep11"); the .partial alone: $alone)" \
            [ "$(report_done "$tmp/rep11")" = "$n" -a "$alone" -lt "$n" ]
        check "... saying $((n - alone)) of them are read from the journal" \
            grep -q "going.h5.partial\`: $((n - alone)) of its done images are read from its journal" "$tmp/rep11/report.md"
        "$bin" --table "$going.partial" >"$tmp/table11.out" 2>&1
        check "--table: $n done, $((n - alone)) from the journal: $(grep 'images,' "$tmp/table11.out")" grep -q \
            "^$going.partial: 4 images, $n done, .*(run not finished; $((n - alone)) of the done images read from its journal)" \
            "$tmp/table11.out"
        "${going_run[@]}" >/dev/null 2>"$tmp/resume11.err"
        rc=$?; check "the resume finishes: $(tail -n 1 "$tmp/resume11.err")" [ $rc -eq 0 ]
        check "... having found the same $n images done" grep -q "^resuming $going: $n images already done" "$tmp/resume11.err"
    fi
fi

# Bad input: one line naming the file, exit 1.
"$bin" --report "$tmp/rep3" "$tmp/missing.h5" >/dev/null 2>"$tmp/rep3.err"
rc=$?
check "missing file: exit 1" [ $rc -eq 1 ]
check "missing file: one line" [ "$(wc -l <"$tmp/rep3.err")" -eq 1 ]
check "missing file: the line names it" grep -q 'missing.h5' "$tmp/rep3.err"
"$bin" --report "$tmp/rep4" "$src/tests/fixtures/decode_golden.h5" >/dev/null 2>"$tmp/rep4.err"
check "not a result file: named" grep -q 'decode_golden.h5: not a polycam-eval result file' "$tmp/rep4.err"
"$bin" --report "$tmp/rep5" >/dev/null 2>&1
check "no files: usage error (exit 2)" [ $? -eq 2 ]
finish
