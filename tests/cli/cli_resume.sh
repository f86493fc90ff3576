#!/usr/bin/env bash
# cli_resume.sh: a run killed with SIGKILL at several moments (before, between and during images,
# each time resumed) ends with the same datasets as an uninterrupted run (h5diff), rerunning the
# plain command continues a killed run, and a different configuration is refused until --force.
# Plumbing test: tiny_vgg on four synthetic images, two target layers, 8 curve steps.
# Usage: bash cli_resume.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff

cat >"$tmp/tiny.ini" <<EOF
$(tiny_vgg_model)
layers = features.13,features.18,features.23
$(synth_data root)
limit = 4
[saliency]
ablations = no_lnorm
batch = 16
[metrics]
steps = 8
batch = 8
[output]
maps = float16
[run]
device = cpu
EOF

ref=$tmp/ref.h5
"$bin" --config "$tmp/tiny.ini" --set "output.file=$ref" >/dev/null 2>"$tmp/ref.err"
rc=$?
check "uninterrupted run exits 0: $(tail -n 2 "$tmp/ref.err")" [ $rc -eq 0 ]

# Killed four times, each run resuming the last: once its output is open (set-up done, first image
# under way), then once its journal holds one more whole record than before (the kill lands right
# after an image was stored: while the .partial is written, or early in the next image). Each run
# is paused (SIGSTOP) where its condition held and killed there, so every kill lands mid-run,
# however fast or slow the run goes.
out=$tmp/killed.h5
killed=0
for want in 0 1 2 3; do
    "$bin" --config "$tmp/tiny.ini" --set "output.file=$out" --resume >/dev/null 2>>"$tmp/killed.err" &
    pid=$!
    if [ "$want" -eq 0 ]; then
        wait_for 600 "$out.journal" $pid test -e "$out.journal"
    else
        wait_for 600 "$want whole record(s) in $out.journal" $pid has_records "$out.journal" "$want"
    fi && pause_run $pid && kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
    wait "$pid" 2>/dev/null
done
check "the four kills landed mid-run ($killed)" [ "$killed" -eq 4 ]
check "the killed runs left a journal and no final file" [ -f "$out.journal" -a ! -e "$out" ]
records=$(journal_records "$out.journal")   # whole records: a record torn by the kill is not one
echo "journal records before the final resume: $records"

# The plain command (no --resume) continues.
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out" >/dev/null 2>"$tmp/resume.err"
rc=$?
check "resumed run exits 0: $(tail -n 2 "$tmp/resume.err")" [ $rc -eq 0 ]
if [ "$records" -gt 0 ]; then
    check "resumed run said it was resuming with $records images done" grep -q "resuming .*: $records images already done" "$tmp/resume.err"
fi
check "final file present" [ -f "$out" ]
check "journal and partial removed" [ ! -e "$out.journal" -a ! -e "$out.partial" ]
check "resumed file has the same datasets as the uninterrupted one (h5diff)" same_data "$ref" "$out"
if ! same_data "$ref" "$out"; then h5diff "$ref" "$out" /methods /methods | head -n 20; fi

# Killed once its journal holds two images, then a second run started later: torn records are
# dropped.
out2=$tmp/killed2.h5
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out2" >/dev/null 2>&1 &
pid=$!
wait_for 600 "2 whole records in $out2.journal" $pid has_records "$out2.journal" 2 && pause_run $pid
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
# simulate a kill in the middle of a journal write: cut the journal's last record short
if [ -f "$out2.journal" ]; then
    size=$(stat -c %s "$out2.journal")
    [ "$size" -gt 5000 ] && truncate -s $((size - 3000)) "$out2.journal"
fi
# and an HDF5 file damaged by the kill
[ -f "$out2.partial" ] && printf 'garbage garbage garbage' | dd of="$out2.partial" bs=1 seek=0 conv=notrunc 2>/dev/null
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out2" --resume >/dev/null 2>"$tmp/resume2.err"
rc=$?
check "resume over a torn journal and a damaged .partial exits 0: $(tail -n 2 "$tmp/resume2.err")" [ $rc -eq 0 ]
check "... and gives the same datasets (h5diff)" same_data "$ref" "$out2"

# A different configuration is refused (finished file and unfinished run), --force starts over.
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out" --set metrics.steps=4 >/dev/null 2>"$tmp/refuse.err"
rc=$?
check "different config refused (rc $rc)" [ $rc -ne 0 ]
check "refusal names the key" grep -q "different configuration: \[metrics\] 'steps = 8' there, \[metrics\] 'steps = 4' now" "$tmp/refuse.err"
check "refused run left the file alone" same_data "$ref" "$out"
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out" --set metrics.steps=4 --limit 1 --force >/dev/null 2>&1
check "--force recomputes" [ $? -eq 0 ]
check "forced file has 1 image" [ "$(h5attr "$out" n_images | tr -d ' ')" = "1" ]
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out" --resume --force >/dev/null 2>&1
check "--resume with --force is a usage error" [ $? -eq 2 ]
finish
