#!/usr/bin/env bash
# cli_interrupt.sh: the graceful stop (docs/usage.md "Stopping a run"). SIGTERM in the middle of a run
# finishes the current image and exits 3 with one line "interrupted by SIGTERM; rerun the same
# command to continue (N/M images done)", leaving the journal; SIGUSR1 does the same on the resumed
# run; a second stop signal (SIGINT, then SIGTERM) stops at once (exit 3, still resumable); the
# final rerun completes with exit 0 and the same datasets as an uninterrupted run (h5diff). Each
# signal is sent while the run is paused (SIGSTOP) where the step needs it (a journal record
# stored, the resume started), so no step depends on how fast the run goes.
# Then the same with the baselines, sensitivity-max and [data] masks (SIGTERM, then SIGKILL).
# Plumbing test: tiny_vgg on four synthetic images, two target layers, 8 curve steps.
# Usage: bash cli_interrupt.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff

cat >"$tmp/tiny.ini" <<EOF
$(tiny_vgg_model)
layers = features.18,features.23
$(synth_data root)
limit = 4
[saliency]
batch = 16
[metrics]
steps = 8
batch = 8
[run]
device = cpu
EOF

ref=$tmp/ref.h5
"$bin" --config "$tmp/tiny.ini" --set "output.file=$ref" >/dev/null 2>"$tmp/ref.err"
rc=$?
check "uninterrupted run exits 0: $(tail -n 2 "$tmp/ref.err")" [ $rc -eq 0 ]

out=$tmp/run.h5
records() { journal_records "$out.journal"; }   # whole records in the journal
# wait_records <pid> <n>: until the journal holds n whole records, then the run is paused
# (SIGSTOP; kill -CONT continues it): a signal sent meanwhile finds it where the condition held,
# however slowly this script runs next to it.
wait_records() {
    wait_for 600 "$2 whole record(s) in $out.journal" "$1" has_records "$out.journal" "$2" && pause_run "$1"
}
# the lines of a stderr file that are not progress output
other_lines() {
    grep -vE '^(polycam-eval [0-9]|cost: |progress: |resuming |done: )' "$1"
}

# 1. SIGTERM once the first image is stored: the run stops after the image it is computing.
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out" >/dev/null 2>"$tmp/term.err" &
pid=$!
wait_records "$pid" 1
kill -TERM "$pid" 2>/dev/null
kill -CONT "$pid" 2>/dev/null
wait "$pid"
rc=$?
check "SIGTERM: exit 3 (got $rc): $(tail -n 1 "$tmp/term.err")" [ $rc -eq 3 ]
check "SIGTERM: one line besides progress ($(other_lines "$tmp/term.err" | wc -l))" [ "$(other_lines "$tmp/term.err" | wc -l)" -eq 1 ]
check "SIGTERM: the line says how to continue" \
    grep -qE '^polycam-eval: interrupted by SIGTERM; rerun the same command to continue \([1-3]/4 images done\)$' "$tmp/term.err"
n_term=$(records)
check "SIGTERM: journal kept with the images done ($n_term)" [ "$n_term" -ge 1 -a "$n_term" -lt 4 ]
check "SIGTERM: the count in the line matches the journal" grep -q "($n_term/4 images done)" "$tmp/term.err"
check "SIGTERM: no final file yet" [ ! -e "$out" ]

# wait_resuming <pid> <stderr file>: until the resumed run says it is resuming (its files rebuilt),
# then the run is paused (SIGSTOP), as in wait_records
wait_resuming() {
    wait_for 600 "the rerun to say it is resuming ($2)" "$1" in_file "^resuming" "$2" && pause_run "$1"
}

# 2. The rerun continues; SIGUSR1 as soon as it has resumed stops it the same way (before or after
# its first image, whichever it is in).
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out" >/dev/null 2>"$tmp/usr1.err" &
pid=$!
wait_resuming "$pid" "$tmp/usr1.err"
kill -USR1 "$pid" 2>/dev/null
kill -CONT "$pid" 2>/dev/null
wait "$pid"
rc=$?
n_usr1=$(records)
check "SIGUSR1: exit 3 (got $rc): $(tail -n 1 "$tmp/usr1.err")" [ $rc -eq 3 ]
check "SIGUSR1: the line, with the journal's count ($n_usr1)" \
    grep -q "^polycam-eval: interrupted by SIGUSR1; rerun the same command to continue ($n_usr1/4 images done)$" "$tmp/usr1.err"
check "SIGUSR1: at most the image in progress was added ($n_term -> $n_usr1)" [ "$n_usr1" -ge "$n_term" -a "$n_usr1" -le $((n_term + 1)) ]

# 3. A second stop signal stops at once, in the middle of an image. Both are sent while the run is
# paused in its first image, so the second is there the moment the first has been handled,
# however long the image takes: a SIGINT and a SIGTERM (two SIGINTs sent while the first is still
# pending merge into one, as the kernel keeps one pending signal of a kind; the handler treats
# every stop signal after the first alike, stop.h).
if [ ! -e "$out" ]; then
    "$bin" --config "$tmp/tiny.ini" --set "output.file=$out" >/dev/null 2>"$tmp/int.err" &
    pid=$!
    wait_resuming "$pid" "$tmp/int.err"
    kill -INT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    kill -CONT "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    check "two stop signals: exit 3 (got $rc): $(tail -n 1 "$tmp/int.err")" [ $rc -eq 3 ]
    check "two stop signals: stopped at once, says how to continue" grep -q "stopped at once; rerun the same command to continue" "$tmp/int.err"
fi

# 4. The plain rerun finishes: the same data as the uninterrupted run.
"$bin" --config "$tmp/tiny.ini" --set "output.file=$out" >/dev/null 2>"$tmp/final.err"
rc=$?
check "final rerun exits 0: $(tail -n 2 "$tmp/final.err")" [ $rc -eq 0 ]
check "journal and partial removed" [ ! -e "$out.journal" -a ! -e "$out.partial" ]
check "interrupted and resumed file has the same datasets as the uninterrupted one (h5diff)" same_data "$ref" "$out"
if ! same_data "$ref" "$out"; then h5diff "$ref" "$out" /images /images | head -n 20; fi

# 5. The baselines (random ones and RISE's run-level masks), sensitivity-max and the localisation of
# [data] masks through a SIGTERM and a SIGKILL: the resumed file equals the uninterrupted one.
bl=(--config "$tmp/tiny.ini" --set data.limit=3 --set "data.masks=$src/data/synthetic/masks"
    --set saliency.methods=gradcam,ixg,smoothgrad,rise,occlusion --set smoothgrad.samples=2 --set rise.masks=16
    --set occlusion.stride=32 --set robustness.sensitivity=yes --set robustness.samples=2)
"$bin" "${bl[@]}" --set "output.file=$tmp/bref.h5" >/dev/null 2>"$tmp/bref.err"
rc=$?; check "baselines, uninterrupted: $(tail -n 1 "$tmp/bref.err")" [ $rc -eq 0 ]
out=$tmp/brun.h5
"$bin" "${bl[@]}" --set "output.file=$out" >/dev/null 2>"$tmp/bterm.err" &
pid=$!
wait_records "$pid" 1
kill -TERM "$pid" 2>/dev/null
kill -CONT "$pid" 2>/dev/null
wait "$pid"
rc=$?
check "baselines: SIGTERM exits 3 ($rc)" [ $rc -eq 3 ]
"$bin" "${bl[@]}" --set "output.file=$out" >/dev/null 2>"$tmp/bkill.err" &
pid=$!
wait_records "$pid" 2
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
check "baselines: SIGKILL landed before the end (journal left)" [ -f "$out.journal" -a ! -e "$out" ]
"$bin" "${bl[@]}" --set "output.file=$out" >/dev/null 2>"$tmp/bfinal.err"
rc=$?; check "baselines: final rerun exits 0: $(tail -n 1 "$tmp/bfinal.err")" [ $rc -eq 0 ]
check "baselines: the resumed file has the uninterrupted one's datasets (maps, curves, sensitivity, localisation, RISE masks)" \
    same_data "$tmp/bref.h5" "$out"
check "baselines: it has sensitivity and localisation" \
    bash -c "h5ls -r '$out' | grep -q '^/methods/smoothgrad/sensitivity ' && h5ls -r '$out' | grep -q '^/methods/rise/localisation/energy '"
finish
