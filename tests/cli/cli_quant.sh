#!/usr/bin/env bash
# cli_quant.sh: the 8-bit precisions through the program on the CPU (docs/precisions.md "8-bit precisions"):
# fp8 and int8 runs store their scales (config_key [quant], /quant); a resume reads them back instead
# of calibrating (proved by changing a calibration image's content in between: a recalibration
# would give other scales and be refused); a finished file is found complete; shards merge, and
# shards calibrated on different images are refused; a resume with another clip is refused before
# calibrating; the guard stops a run with clip = 0.001 (one line, exit 1, no file left, nor the
# folders the run made for its output), and
# SIGTERM during the guard stops it at once (exit 3, nothing written), and a second run on that
# output meanwhile is refused at once by the writer lock; a merge with an unguarded shard does not
# know its fallbacks (-1); a clip so small a scale does not invert in float32 is one line; bad
# [precision] values and keep names are one-line errors, and keep's order, spacing and repeats do
# not change the key; an fp32 run's key has no [precision] / [quant]. Plumbing test: synth_resnet,
# 3 synthetic images, Grad-CAM
# (its maps from the unquantised backward, its curves from 8-bit forwards), 4 steps.
# Usage: bash cli_quant.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump

mkdir -p "$tmp/img"
cp "$src"/data/synthetic/synth_00[0-9].jpg "$tmp/img/"
{ synth_resnet_model; cat <<EOF; } >"$tmp/q.ini"
[data]
root = $tmp/img
list = $src/data/synthetic/images.txt
limit = 3
[saliency]
methods = gradcam
[metrics]
steps = 4
$(fp8_cpu_sections)
EOF
q() { "$bin" --config "$tmp/q.ini" --set "output.file=$tmp/$1.h5" "${@:2}"; }
scales() { h5vals "$1" /quant/in_scale | tr '\n' ' '; }

# fp8 and int8: scales stored, the start line, the guard line
for fmt in fp8 int8; do
    q "$fmt" --set "run.precision=$fmt" >/dev/null 2>"$tmp/$fmt.err"
    rc=$?
    check "$fmt run exits 0: $(tail -n 1 "$tmp/$fmt.err")" [ $rc -eq 0 ]
    check "$fmt: one start line (format, 8-bit convs, calibration images)" \
        grep -q "^8-bit: $fmt in 16 of 20 convs .*calibrated on 2 images (list entries 0..1), clip 1$" "$tmp/$fmt.err"
    check "$fmt: the guard line" grep -q "^8-bit guard passed: 1 image against fp32: predicted class kept on 1/1" "$tmp/$fmt.err"
    check "$fmt: /quant holds 16 scales" [ "$(h5vals "$tmp/$fmt.h5" /quant/in_scale | wc -l)" -eq 16 ]
    check "$fmt: /quant/layers names the convs" grep -qx '"layer1.0.downsample.0"' <(h5vals "$tmp/$fmt.h5" /quant/layers)
    check "$fmt: the key's [quant] section" grep -q "^format = $fmt$" <(h5attr "$tmp/$fmt.h5" config_key)
    check "$fmt: /quant says no conv fell back to 16 bits (the CPU emulates them all)" \
        [ "$(h5dump -a /quant/fallback_convs "$tmp/$fmt.h5" | grep -o '(0): [-0-9]*')" = "(0): 0" ]
    check "$fmt: ... and no warning line about it" not grep -q "ran in 16 bits" "$tmp/$fmt.err"
done
check "fp8 and int8 scales differ" [ "$(scales "$tmp/fp8.h5")" != "$(scales "$tmp/int8.h5")" ]
first=$(h5vals "$tmp/fp8.h5" /quant/in_scale | head -n 1)
key_first=$(h5attr "$tmp/fp8.h5" config_key | grep '^layer1.0.downsample.0 = ' | sed 's/.* = //; s/\\n.*//')
check "key and /quant hold the same first scale ($first, $key_first; h5dump prints 6 digits)" \
    awk -v a="$first" -v b="$key_first" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 1e-5 * b) }'

# device = auto on a machine without a GPU: the emulation runs, and says so (as fp16 says it runs fp32)
q auto --set run.device=auto >/dev/null 2>"$tmp/auto.err"
if grep -q ', device cpu: ' "$tmp/auto.err"; then
    check "device = auto on the CPU: a warning line that it is the emulation" \
        grep -q "^warning: no CUDA device: \[run\] precision = fp8 runs as the CPU's emulation" "$tmp/auto.err"
fi
check "device = cpu: no such warning" not grep -q "CPU's emulation" "$tmp/fp8.err"

# a finished file: complete, scales read back (no calibration)
q fp8 >/dev/null 2>"$tmp/again.err"
check "rerun finds the fp8 file complete" grep -q "nothing to compute" "$tmp/again.err"
check "... reading its scales back" grep -q "input scales read back from" "$tmp/again.err"

# a resume reads the scales from the journal: stop after the start, change calibration image 0
"$bin" --config "$tmp/q.ini" --set "output.file=$tmp/res.h5" >/dev/null 2>"$tmp/res1.err" &
pid=$!
# paused (SIGSTOP) where the guard passed, so the SIGTERM finds the run before its last image
wait_for 600 "the 8-bit guard to pass ($tmp/res1.err)" "$pid" in_file "8-bit guard passed" "$tmp/res1.err" &&
    pause_run "$pid"
kill -TERM "$pid" 2>/dev/null
kill -CONT "$pid" 2>/dev/null
wait "$pid"
rc=$?
check "SIGTERM after the guard: interrupted (exit 3, got $rc)" [ $rc -eq 3 ]
check "... leaving a journal" [ -f "$tmp/res.h5.journal" ]
# another clip: refused at once, before a calibration and a guard it could not use
q res --set precision.clip=0.9 >/dev/null 2>"$tmp/resclip.err"
rc=$?
check "resume with another clip refused (exit $rc): $(tail -n 1 "$tmp/resclip.err")" \
    grep -q "^polycam-eval: the unfinished run in $tmp/res.h5.journal was made with a different configuration: \[precision\] 'clip = 1.0' there, \[precision\] 'clip = 0.9' now; use --force" "$tmp/resclip.err"
check "... before calibrating or running the guard" [ "$(wc -l <"$tmp/resclip.err")" -eq 1 ]
cp "$tmp/img/synth_007.jpg" "$tmp/img/synth_000.jpg"   # a recalibration would now give other scales
q res >/dev/null 2>"$tmp/res2.err"
rc=$?
check "resume exits 0: $(tail -n 1 "$tmp/res2.err")" [ $rc -eq 0 ]
check "resume read the scales back" grep -q "input scales read back from $tmp/res.h5's earlier run" "$tmp/res2.err"
check "resumed scales are the first run's" [ "$(scales "$tmp/res.h5")" = "$(scales "$tmp/fp8.h5")" ]
q recal --force >/dev/null 2>"$tmp/recal.err"
check "a fresh calibration on the changed image gives other scales" [ "$(scales "$tmp/recal.h5")" != "$(scales "$tmp/fp8.h5")" ]

# shards: both calibrate on list entries 0..1 -> merge works; a shard calibrated otherwise is refused
cp "$src/data/synthetic/synth_000.jpg" "$tmp/img/synth_000.jpg"
q s0 --set run.shard=0/2 >/dev/null 2>"$tmp/s0.err"
q s1 --set run.shard=1/2 >/dev/null 2>"$tmp/s1.err"
check "shard 0/2 calibrates on list entries 0..1" grep -q "calibrated on 2 images (list entries 0..1)" "$tmp/s0.err"
check "shard 1/2 too" grep -q "calibrated on 2 images (list entries 0..1)" "$tmp/s1.err"
check "shards share the unsharded run's scales" [ "$(scales "$tmp/s1.h5")" = "$(scales "$tmp/fp8.h5")" ]
"$bin" --merge "$tmp/merged.h5" "$tmp/s0.h5" "$tmp/s1.h5" >/dev/null 2>"$tmp/merge.err"
rc=$?
check "merge exits 0: $(tail -n 1 "$tmp/merge.err")" [ $rc -eq 0 ]
check "merged /quant holds the scales" [ "$(scales "$tmp/merged.h5")" = "$(scales "$tmp/fp8.h5")" ]
check "merged guard pools both shards' images (2)" \
    [ "$(h5dump -a /quant/guard_images "$tmp/merged.h5" | grep -o '(0): [0-9]*' | sed 's/(0): //')" = 2 ]
check "merged fallbacks: both shards know theirs (0)" \
    [ "$(h5dump -a /quant/fallback_convs "$tmp/merged.h5" | grep -o '(0): [-0-9]*')" = "(0): 0" ]
# a shard without a guard does not know its fallbacks (-1): the merge does not know them either
# (it took the largest count, so shard 0's 0 overrode the -1)
q s1ng --set run.shard=1/2 --set precision.guard_images=0 >/dev/null 2>&1
"$bin" --merge "$tmp/merged_ng.h5" "$tmp/s0.h5" "$tmp/s1ng.h5" >/dev/null 2>"$tmp/merge_ng.err"
check "merge with an unguarded shard exits 0: $(tail -n 1 "$tmp/merge_ng.err")" [ -f "$tmp/merged_ng.h5" ]
check "... its fallbacks not known (-1)" \
    [ "$(h5dump -a /quant/fallback_convs "$tmp/merged_ng.h5" | grep -o '(0): [-0-9]*')" = "(0): -1" ]
check "... and fallback_layers says so" \
    grep -q "not known for 1 of 2 shards (no guard ran)" <(h5dump -a /quant/fallback_layers "$tmp/merged_ng.h5")
cp "$src/data/synthetic/synth_007.jpg" "$tmp/img/synth_000.jpg"
q s1b --set run.shard=1/2 >/dev/null 2>&1
"$bin" --merge "$tmp/bad.h5" "$tmp/s0.h5" "$tmp/s1b.h5" >/dev/null 2>"$tmp/badmerge.err"
rc=$?
check "merge of differently calibrated shards refused (exit $rc)" [ $rc -ne 0 ]
check "... in one line naming the scales" grep -q "were calibrated differently (8-bit input scales: \[quant\] 'layer" "$tmp/badmerge.err"
check "... one line" [ "$(wc -l <"$tmp/badmerge.err")" -eq 1 ]
check "... and no merged file" [ ! -e "$tmp/bad.h5" ]
cp "$src/data/synthetic/synth_000.jpg" "$tmp/img/synth_000.jpg"

# a calibration image that cannot be read is named, and the next readable one taken
: >"$tmp/img/synth_001.jpg"
q badcal >/dev/null 2>"$tmp/badcal.err"
rc=$?
check "unreadable calibration image: the run goes on (exit $rc)" [ $rc -eq 0 ]
check "... naming it: $(grep skipped "$tmp/badcal.err" | head -n 1)" \
    grep -q "^8-bit calibration: skipped .*synth_001.jpg: .*; the next readable image is taken$" "$tmp/badcal.err"
check "... calibrating on list entries 0 and 2" grep -q "calibrated on 2 images (list entries 0..2)" "$tmp/badcal.err"
cp "$src/data/synthetic/synth_001.jpg" "$tmp/img/synth_001.jpg"

# SIGTERM during the guard (after the start line): it stops after the image in progress, exit 3,
# nothing written (it used to finish the whole guard, then create the output and stop there); a
# second run on that output meanwhile is refused at once
"$bin" --config "$tmp/q.ini" --set "output.file=$tmp/gstop.h5" --set precision.guard_images=3 \
    --set saliency.methods=pcampm >/dev/null 2>"$tmp/gstop.err" &
pid=$!
# paused (SIGSTOP) once it says its 8-bit set-up, before its guard: the steps below find it there
wait_for 600 "the 8-bit start line ($tmp/gstop.err)" "$pid" in_file "^8-bit: " "$tmp/gstop.err" && pause_run "$pid"
# a second run on the same output meanwhile: refused at once by the writer lock, which the 8-bit
# run takes before its calibration (it was refused only after its own calibration and guard)
"$bin" --config "$tmp/q.ini" --set "output.file=$tmp/gstop.h5" --set precision.guard_images=3 \
    --set saliency.methods=pcampm >/dev/null 2>"$tmp/gstop2.err"
rc=$?
check "a second run during the first one's guard: exit 1 ($rc)" [ $rc -eq 1 ]
check "... refused by the lock: $(cat "$tmp/gstop2.err")" grep -q \
    "^polycam-eval: $tmp/gstop.h5: another polycam-eval (pid $pid) is writing this output" "$tmp/gstop2.err"
check "... in one line (no calibration, no guard)" [ "$(wc -l <"$tmp/gstop2.err")" -eq 1 ]
check "... before calibrating (the first run still in its guard)" not grep -q "8-bit guard passed" "$tmp/gstop.err"
kill -TERM "$pid" 2>/dev/null
kill -CONT "$pid" 2>/dev/null
wait "$pid"
rc=$?
check "SIGTERM during the guard: exit 3 ($rc)" [ $rc -eq 3 ]
check "... saying so: $(tail -n 1 "$tmp/gstop.err")" \
    grep -q "^polycam-eval: interrupted by SIGTERM during the 8-bit accuracy guard; nothing was written; rerun the same command" "$tmp/gstop.err"
check "... no output, partial or journal" [ -z "$(ls "$tmp" | grep '^gstop\.h5')" ]

# the guard: clip = 0.001 saturates nearly every input
for fmt in fp8 int8; do
    q bad_$fmt --set "run.precision=$fmt" --set precision.clip=0.001 --set precision.guard_max_dauc=0.005 \
        >"$tmp/bad_$fmt.out" 2>"$tmp/bad_$fmt.err"
    rc=$?
    check "$fmt guard trips with clip = 0.001 (exit $rc)" [ $rc -eq 1 ]
    check "$fmt guard: the message" grep -q "^polycam-eval: 8-bit accuracy guard failed: 1 image against fp32: .* nothing was written. Keep the worst layers in 16 bits" "$tmp/bad_$fmt.err"
    check "$fmt guard: nothing written" [ -z "$(ls "$tmp" | grep "^bad_$fmt\.h5")" ]
done
# into folders that did not exist: the run's early lock made them, the tripped guard removes them
q new/sub/bad --set precision.clip=0.001 --set precision.guard_max_dauc=0.005 >/dev/null 2>"$tmp/bad_new.err"
rc=$?
check "guard trips with the output in new folders (exit $rc)" \
    bash -c "[ $rc -eq 1 ] && grep -q '^polycam-eval: 8-bit accuracy guard failed' '$tmp/bad_new.err'"
check "... no folder left" [ ! -e "$tmp/new" ]
check "guard off (guard_images = 0) lets clip = 0.001 run" \
    q off --set precision.clip=0.001 --set precision.guard_images=0 >/dev/null 2>&1
check "... whose /quant says no guard ran" [ "$(h5dump -a /quant/guard_images "$tmp/off.h5" | grep -o '(0): [0-9]*')" = "(0): 0" ]
check "... and that the fallbacks are not known (-1)" \
    [ "$(h5dump -a /quant/fallback_convs "$tmp/off.h5" | grep -o '(0): [-0-9]*')" = "(0): -1" ]

# bad values and keep names
"$bin" --config "$tmp/q.ini" --check --set precision.keep=layer1.0.conv9 >/dev/null 2>"$tmp/keep.err"
rc=$?
check "unknown keep layer refused by --check (exit $rc)" [ $rc -eq 1 ]
check "... naming it and the 8-bit convs" grep -q "^polycam-eval: --set precision.keep=layer1.0.conv9: \[precision\] keep: 'layer1.0.conv9' is not an 8-bit conv of resnet (those are: layer1.0.downsample.0, " "$tmp/keep.err"
q kept --set precision.keep=layer4.0.conv3,layer1.0.downsample.0 >/dev/null 2>"$tmp/kept.err"
check "keep two layers: 14 of 20 convs in 8 bits" grep -q "^8-bit: fp8 in 14 of 20 convs" "$tmp/kept.err"
check "... the key holds keep sorted, ', '-joined" \
    grep -q "^keep = layer1.0.downsample.0, layer4.0.conv3$" <(h5attr "$tmp/kept.h5" config_key)
# the same names in another order, spacing, repeated: the same configuration (it was another key)
q kept --set "precision.keep= layer1.0.downsample.0 ,layer4.0.conv3,layer4.0.conv3" >/dev/null 2>"$tmp/kept2.err"
check "keep written otherwise: the same output, complete: $(tail -n 1 "$tmp/kept2.err")" \
    grep -q "kept.h5 is complete (3 images, same configuration): nothing to compute" "$tmp/kept2.err"
"$bin" --config "$tmp/q.ini" --check --set precision.clip=0 >/dev/null 2>"$tmp/clip.err"
check "clip = 0 refused in one line" grep -q "bad value '0' for \[precision\] clip (expected a number in (0, 1\])" "$tmp/clip.err"

# a clip so small that a scale's reciprocal overflows float32 made every 0 input NaN: every 8-bit
# curve NaN, and the guard passed "over 0 curves" (it skipped non-finite pairs); now one line
q tinyclip --set precision.clip=1e-38 >/dev/null 2>"$tmp/tinyclip.err"
rc=$?
check "clip = 1e-38: exit 1 ($rc)" [ $rc -eq 1 ]
check "... one line naming the layer and the scale: $(cat "$tmp/tinyclip.err")" \
    bash -c "[ \$(wc -l <'$tmp/tinyclip.err') -eq 1 ] && grep -q '^polycam-eval: \[precision\] clip = 1e-38: the input scale of layer1.0.downsample.0 (clip x amax / QMAX = .*) is too small for float32' '$tmp/tinyclip.err'"
check "... nothing written" [ -z "$(ls "$tmp" | grep '^tinyclip\.h5')" ]

# fp32: no [precision], no [quant], no /quant
q f32 --set run.precision=fp32 >/dev/null 2>&1
check "fp32 key has no [precision] / [quant]" not grep -q "^\[precision\]\|^\[quant\]" <(h5attr "$tmp/f32.h5" config_key)
check "... but has [run] (the key is read)" grep -q "^\[run\]" <(h5attr "$tmp/f32.h5" config_key)
check "fp32 file has no /quant" not h5dump -g /quant "$tmp/f32.h5" >/dev/null 2>&1
finish
