#!/usr/bin/env bash
# cli_store.sh: the failure policy of the output file (issue 14): one writer per output (a second
# run is refused naming the first one's pid, the first finishes complete); a full disk or file size
# limit fails with one line saying why and no crash; rewritten weights refuse a resume naming
# [model] weights; --force removes only what polycam-eval wrote (not /dev/null; its stale overlays
# yes, other files no; a stale <file>.update copy yes, also on a plain rerun, a foreign one or a
# link there no); the skipped images of a resumed run are listed, also those stored before
# the kill; --table on a running output points at the .partial (and writes no CSV of it); a CSV
# that cannot be written (a folder there, a full disk) fails with one line and leaves the previous
# CSV and no temporary, a table that cannot be written to standard output fails; a run where every
# image failed exits 1. Plumbing test: tiny_vgg on synthetic images.
# Usage: bash cli_store.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump

cp "$src/data/models/tiny_vgg.safetensors" "$tmp/w.safetensors"
make_ini() {   # make_ini <file> <list> <steps>
    cat >"$1" <<EOF
$(tiny_vgg_model | sed "s|^weights = .*|weights = $tmp/w.safetensors|")
layers = features.18,features.23
[data]
root = $src/data/synthetic
list = $2
[saliency]
methods = pcampm
[metrics]
steps = $3
[run]
device = cpu
threads = 1
EOF
}
head -n 24 "$src/data/synthetic/images.txt" >"$tmp/many.txt"
{ echo does_not_exist.jpg; cat "$tmp/many.txt"; } >"$tmp/with_bad.txt"
make_ini "$tmp/slow.ini" "$tmp/many.txt" 64
make_ini "$tmp/bad.ini" "$tmp/with_bad.txt" 64
make_ini "$tmp/quick.ini" "$tmp/many.txt" 4


# 1. Two runs on one output: the second is refused, naming the first; the first completes.
out=$tmp/one.h5
"$bin" --config "$tmp/slow.ini" --set "output.file=$out" >/dev/null 2>"$tmp/a.err" &
pid=$!
# paused (SIGSTOP) once it has its journal: the second run and --force below find it running
wait_for 600 "$out.journal" $pid test -e "$out.journal" && pause_run $pid
"$bin" --config "$tmp/slow.ini" --set "output.file=$out" >/dev/null 2>"$tmp/b.err"
rc=$?
if [ -e "$out" ] && ! grep -q "another polycam-eval" "$tmp/b.err"; then
    echo "NOTE: the first run finished before the second started; concurrency not exercised"
else
    check "second writer exits 1 (rc $rc)" [ $rc -eq 1 ]
    check "second writer names the first one's pid: $(cat "$tmp/b.err")" grep -q "another polycam-eval (pid $pid) is writing this output" "$tmp/b.err"
    check "the refusal is one line" [ "$(wc -l <"$tmp/b.err")" -eq 1 ]
    "$bin" --config "$tmp/slow.ini" --set "output.file=$out" --force >/dev/null 2>"$tmp/c.err"
    check "--force does not take over a live run either" grep -q "another polycam-eval (pid $pid)" "$tmp/c.err"
fi
kill -CONT $pid
wait $pid
rc=$?
check "first writer exits 0 (rc $rc): $(tail -n 1 "$tmp/a.err")" [ $rc -eq 0 ]
check "its file is complete" [ "$(h5attr "$out" complete | tr -d ' ')" = "1" ]
check "every done flag set" [ -z "$(h5vals "$out" /images/done | grep -v '^1$')" ]
check "journal, .partial and lock gone" [ ! -e "$out.journal" -a ! -e "$out.partial" -a ! -e "$out.lock" ]

# 2. Disk full: a 16 KB file size limit (and an 8 KB tmpfs when this user may mount one).
(ulimit -f 16; trap '' XFSZ; exec "$bin" --config "$tmp/quick.ini" --set "output.file=$tmp/full/x.h5" >/dev/null 2>"$tmp/full.err")
rc=$?
check "file size limit: exit 1, no crash (rc $rc): $(cat "$tmp/full.err")" [ $rc -eq 1 ]
check "... saying why" grep -q "File too large" "$tmp/full.err"
if mkdir -p "$tmp/mnt" && mount -t tmpfs -o size=8k tmpfs "$tmp/mnt" 2>/dev/null; then
    "$bin" --config "$tmp/quick.ini" --set "output.file=$tmp/mnt/x.h5" >/dev/null 2>"$tmp/tmpfs.err"
    rc=$?
    check "8 KB tmpfs: exit 1, no crash (rc $rc): $(cat "$tmp/tmpfs.err")" [ $rc -eq 1 ]
    check "... saying why" grep -q "No space left on device" "$tmp/tmpfs.err"
    umount "$tmp/mnt"
else
    echo "NOTE: cannot mount a tmpfs here; disk full checked with the file size limit only"
fi

# 3. Rewritten weights: a resume (here of a finished file) is refused naming [model] weights.
out=$tmp/w.h5
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 2 >/dev/null 2>&1
check "quick run" [ -f "$out" ]
size=$(stat -c %s "$tmp/w.safetensors")
printf '\x01' | dd of="$tmp/w.safetensors" bs=1 seek=$((size - 2)) conv=notrunc 2>/dev/null
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 2 >/dev/null 2>"$tmp/w.err"
rc=$?
check "changed weights refused (rc $rc): $(cat "$tmp/w.err")" [ $rc -eq 1 ]
check "... naming [model] weights" grep -q "\[model\] weights: the file's content changed" "$tmp/w.err"
cp "$src/data/models/tiny_vgg.safetensors" "$tmp/w.safetensors"

# 4. --force: never a file polycam-eval did not write; stale overlays go, other files stay.
if [ -c /dev/null ]; then
    "$bin" --config "$tmp/quick.ini" --set output.file=/dev/null --limit 1 --force >/dev/null 2>"$tmp/null.err"
    rc=$?
    check "--force on /dev/null refused (rc $rc): $(cat "$tmp/null.err")" [ $rc -eq 1 ]
    check "/dev/null is still a character device" [ -c /dev/null ]
fi
out=$tmp/ov.h5
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --set output.overlays=2 --limit 2 >/dev/null 2>&1
check "overlays written" [ "$(ls "${out}_overlays" | grep -c '\.png$')" -eq 2 ]
echo mine >"${out}_overlays/notes.txt"
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 2 --force >/dev/null 2>&1
check "--force removed the old overlays" [ "$(ls "${out}_overlays" | grep -c '\.png$')" -eq 0 ]
check "... and kept the user's file" [ -f "${out}_overlays/notes.txt" ]

# 4b. <file>.update, the copy a run killed while adding /sanity leaves (h5util.h): a plain rerun
# removes a stale copy (<file> is whole) and says so; --force removes it too; anything else there
# (not HDF5, a link) stays, --force refuses it, and a run that needs the copy never writes through
# a link (it used to truncate the link's target and rename the link over the output).
head -c 3000 "$out" >"$out.update"
cp "$out" "$tmp/ov_before.h5"
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 2 >/dev/null 2>"$tmp/upd.err"
rc=$?; check "stale .update: rerun exits 0 (rc $rc)" [ $rc -eq 0 ]
check "stale .update: removed, and said so ($(head -n 1 "$tmp/upd.err"))" \
    bash -c "[ ! -e '$out.update' ] && grep -q '^$out.update: removed (a copy left by a run stopped while it changed' '$tmp/upd.err'"
check "stale .update: the output is unchanged" cmp -s "$out" "$tmp/ov_before.h5"
head -c 100 "$out" >"$out.update"
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 2 --force >/dev/null 2>&1
check "--force removes a stale .update" [ ! -e "$out.update" ]
echo mine >"$out.update"
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 2 --force >/dev/null 2>"$tmp/upd2.err"
rc=$?; check "--force with a foreign .update: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "... one line naming it: $(cat "$tmp/upd2.err")" \
    bash -c "[ \$(wc -l <'$tmp/upd2.err') -eq 1 ] && grep -q '$out.update: stale copy not removed (a file there that polycam-eval did not make' '$tmp/upd2.err'"
check "... and it is left" grep -qx mine "$out.update"
rm -f "$out.update"
echo victim >"$tmp/victim.txt"
ln -s "$tmp/victim.txt" "$out.update"
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 2 --sanity --set sanity.methods=gradcam \
    >/dev/null 2>"$tmp/upd3.err"
rc=$?; check "a link at .update: the sanity check refuses (rc $rc): $(tail -n 1 "$tmp/upd3.err")" \
    bash -c "[ $rc -eq 1 ] && grep -q 'cannot copy it to $out.update to change it (something there that is not a regular file' '$tmp/upd3.err'"
check "... the link's target is untouched, the output still a regular file" \
    bash -c "grep -qx victim '$tmp/victim.txt' && [ -f '$out' ] && [ ! -L '$out' ]"
rm -f "$out.update"

# 5. Killed after the unreadable first image and one more: the resumed run lists it as skipped.
out=$tmp/res.h5
"$bin" --config "$tmp/bad.ini" --set "output.file=$out" >/dev/null 2>"$tmp/r1.err" &
pid=$!
wait_for 600 "2 whole records in $out.journal" $pid has_records "$out.journal" 2 && pause_run $pid
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$out" ]; then
    echo "NOTE: the run finished before the kill; resume listing not exercised"
else
    # --table on the running output's final name points at the .partial, and writes no CSV of it
    "$bin" --table "$out" >/dev/null 2>"$tmp/t.err"
    rc=$?
    check "--table on an unfinished output: exit 1 (rc $rc)" [ $rc -eq 1 ]
    check "... pointing at the .partial: $(cat "$tmp/t.err")" grep -q "not finished; its results so far are in $out.partial" "$tmp/t.err"
    "$bin" --table "$out.partial" >"$tmp/t.out" 2>&1
    check "--table of the .partial prints the table" grep -q "^| pcampm" "$tmp/t.out"
    check "... and leaves no .partial.csv" [ ! -e "$out.partial.csv" ]
    "$bin" --config "$tmp/bad.ini" --set "output.file=$out" >/dev/null 2>"$tmp/r2.err"
    rc=$?
    check "resumed run exits 0 (rc $rc)" [ $rc -eq 0 ]
    check "resumed from the journal" grep -q "resuming" "$tmp/r2.err"
    check "the image skipped before the kill is listed: $(grep -A2 skipped "$tmp/r2.err" | head -n 3)" grep -q "does_not_exist.jpg: .*No such file" "$tmp/r2.err"
    check "... and counted" grep -q "skipped 1 of $(wc -l <"$tmp/with_bad.txt") images" "$tmp/r2.err"
fi

# 6. A CSV that cannot be written: one line, exit 1, no partial CSV left.
out=$tmp/csv.h5
"$bin" --config "$tmp/quick.ini" --set "output.file=$out" --limit 1 >/dev/null 2>&1
rm -f "$out.csv"
mkdir "$out.csv"
"$bin" --table "$out" >/dev/null 2>"$tmp/csv.err"
rc=$?
check "unwritable CSV: exit 1 (rc $rc): $(cat "$tmp/csv.err")" [ $rc -eq 1 ]
check "... one line naming the CSV" [ "$(wc -l <"$tmp/csv.err")" -eq 1 ]
check "... naming the CSV" grep -q "$out.csv: cannot create" "$tmp/csv.err"
check "... no temporary CSV left" [ -z "$(ls "$tmp" | grep 'csv\.h5\.csv\.')" ]
rmdir "$out.csv"
# ... and on a full disk (a file size limit smaller than the CSV): the previous CSV stays as it was
"$bin" --table "$out" >/dev/null 2>&1
cp "$out.csv" "$tmp/csv_before.csv"
# (its stderr through a pipe: a file there could not take the message under that limit either)
(ulimit -f 0; trap '' XFSZ; exec "$bin" --table "$out" 2>&1 >/dev/null) | cat >"$tmp/csvfull.err"
rc=${PIPESTATUS[0]}
check "CSV on a full disk: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "... one line naming the CSV and why: $(cat "$tmp/csvfull.err")" bash -c \
    "[ \$(wc -l <'$tmp/csvfull.err') -eq 1 ] && grep -qx 'polycam-eval: $out.csv: cannot write (File too large)' '$tmp/csvfull.err'"
check "... the previous CSV unchanged" cmp -s "$out.csv" "$tmp/csv_before.csv"
check "... no temporary CSV left" [ ! -e "$out.csv.tmp" ]
# the table on standard output that cannot be written (a full disk): exit 1, one line saying so
if [ -w /dev/full ]; then
    "$bin" --table "$out" >/dev/full 2>"$tmp/stdout.err"
    rc=$?
    check "table to a full standard output: exit 1 (rc $rc)" [ $rc -eq 1 ]
    check "... one line saying so: $(cat "$tmp/stdout.err")" bash -c \
        "[ \$(wc -l <'$tmp/stdout.err') -eq 1 ] && grep -qx 'polycam-eval: standard output: cannot write (No space left on device)' '$tmp/stdout.err'"
fi

# 7. Every image failed: exit 1 with a reason, not an N = 0 table.
printf 'does_not_exist.jpg\nnor_this.jpg\n' >"$tmp/none.txt"
make_ini "$tmp/none.ini" "$tmp/none.txt" 4
"$bin" --config "$tmp/none.ini" --set "output.file=$tmp/none.h5" >"$tmp/none.out" 2>"$tmp/none.err"
rc=$?
check "all images failed: exit 1 (rc $rc)" [ $rc -eq 1 ]
check "... saying so: $(tail -n 1 "$tmp/none.err")" grep -q "no image could be read" "$tmp/none.err"
check "... no table printed" [ -z "$(grep '^| pcampm' "$tmp/none.out")" ]
finish
