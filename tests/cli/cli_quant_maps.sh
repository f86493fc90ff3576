#!/usr/bin/env bash
# cli_quant_maps.sh: [precision] apply = maps on the CPU (docs/precisions.md "8-bit precisions"): the maps'
# passes in 8 bits, the class and the insertion/deletion curves on the unquantised (fp32) net.
# - Grad-CAM's maps are the same in fp8 and fp32 on the CPU (its backward runs unquantised), so
#   apply = maps must reproduce an fp32 run exactly: class, score, maps, curves and AUCs; apply =
#   all (curves on the 8-bit net) must not (the control that the comparison can fail).
# - Poly-CAM (its masked passes in 8 bits), class = label: apply = maps gives the maps of apply = all,
#   fp8 and int8, and other curves.
# - the key: apply = maps in it, apply = all (the default) not, so earlier 8-bit keys are unchanged;
#   fp32 keys have no [precision]. A finished file, a resume and a merge refuse a change of apply.
# - a bad value is one line; the sanity check runs after an apply = maps run.
# synth_resnet, 3 synthetic images, 4 steps.
# Usage: bash cli_quant_maps.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump h5diff

mkdir -p "$tmp/img"
cp "$src"/data/synthetic/synth_00[0-9].jpg "$tmp/img/"
{ synth_resnet_model; cat <<EOF; } >"$tmp/q.ini"
[data]
root = $tmp/img
list = $src/data/synthetic/images.txt
labels = $src/data/synthetic/labels.txt
limit = 3
[saliency]
methods = gradcam
class = label
[metrics]
steps = 4
[output]
maps = float32
$(fp8_cpu_sections)
EOF
q() { "$bin" --config "$tmp/q.ini" --set "output.file=$tmp/$1.h5" "${@:2}"; }
# same_ds <a.h5> <b.h5> <dataset>: one dataset equal in both
same_ds() { h5diff -q "$1" "$2" "$3" "$3" >/dev/null 2>&1; }

# Grad-CAM: apply = maps is the fp32 run exactly; apply = all is not
q f32 --set run.precision=fp32 >/dev/null 2>"$tmp/f32.err"
q gc_maps --set precision.apply=maps >/dev/null 2>"$tmp/gc_maps.err"
rc=$?
check "fp8 apply = maps exits 0: $(tail -n 1 "$tmp/gc_maps.err")" [ $rc -eq 0 ]
check "... the start line says apply = maps" \
    grep -q "^8-bit: fp8 in 16 of 20 convs .*; apply = maps: the class and the insertion/deletion curves on the unquantised net (fp32)$" "$tmp/gc_maps.err"
check "... its guard measures the maps' drift alone (Grad-CAM: 0)" \
    grep -q "^8-bit guard passed: .*|dAUC| mean 0.0000 over 2 curves (limit 0.2), max 0.0000" "$tmp/gc_maps.err"
check "Grad-CAM maps: fp8 = fp32 (the premise)" same_ds "$tmp/f32.h5" "$tmp/gc_maps.h5" /methods/gradcam/map
check "apply = maps: /images and /methods equal to the fp32 run's (class, score, curves, AUCs)" \
    same_data "$tmp/f32.h5" "$tmp/gc_maps.h5"
q gc_all >/dev/null 2>"$tmp/gc_all.err"
check "control: apply = all has the same maps" same_ds "$tmp/f32.h5" "$tmp/gc_all.h5" /methods/gradcam/map
check "control: ... but other curves than fp32 (8-bit forwards)" \
    not same_ds "$tmp/f32.h5" "$tmp/gc_all.h5" /methods/gradcam/deletion/scores

# the key
check "apply = maps: the key says so" grep -qx "apply = maps" <(h5attr "$tmp/gc_maps.h5" config_key)
check "apply = all: no apply line in the key (earlier 8-bit keys unchanged)" \
    not grep -q "^apply = " <(h5attr "$tmp/gc_all.h5" config_key)
check "... nor in the stored configuration" not grep -q "^apply = " <(h5attr "$tmp/gc_all.h5" config)
q f32b --set run.precision=fp32 --set precision.apply=maps >/dev/null 2>&1
check "fp32: apply ignored, the key unchanged" [ "$(h5attr "$tmp/f32b.h5" config_key)" = "$(h5attr "$tmp/f32.h5" config_key)" ]
check "fp32: no [precision] in the key" not grep -q "^\[precision\]" <(h5attr "$tmp/f32.h5" config_key)

# a finished file, a resume, a merge refuse a change of apply
q gc_all --set precision.apply=maps >/dev/null 2>"$tmp/chg.err"
rc=$?
check "finished apply = all file, rerun with maps: refused (exit $rc): $(tail -n 1 "$tmp/chg.err")" \
    grep -q "^polycam-eval: $tmp/gc_all.h5 was made with a different configuration: .*apply = maps.*; use --force" "$tmp/chg.err"
"$bin" --config "$tmp/q.ini" --set "output.file=$tmp/res.h5" --set precision.apply=maps >/dev/null 2>"$tmp/res1.err" &
pid=$!
# paused (SIGSTOP) where the guard passed, so the SIGTERM finds the run before its last image
wait_for 600 "the 8-bit guard to pass ($tmp/res1.err)" "$pid" in_file "8-bit guard passed" "$tmp/res1.err" &&
    pause_run "$pid"
kill -TERM "$pid" 2>/dev/null
kill -CONT "$pid" 2>/dev/null
wait "$pid"
if [ -f "$tmp/res.h5.journal" ]; then
    q res >/dev/null 2>"$tmp/res2.err"
    check "resume of an apply = maps journal with apply = all: refused: $(tail -n 1 "$tmp/res2.err")" \
        grep -q "^polycam-eval: the unfinished run in $tmp/res.h5.journal was made with a different configuration: .*apply = maps" "$tmp/res2.err"
    q res --set precision.apply=maps >/dev/null 2>"$tmp/res3.err"
    check "... and resumed with apply = maps: $(tail -n 1 "$tmp/res3.err")" same_data "$tmp/f32.h5" "$tmp/res.h5"
else
    check "resume: the run was stopped before it finished (no journal: it was too fast)" false
fi
q s0 --set run.shard=0/2 --set precision.apply=maps >/dev/null 2>&1
q s1 --set run.shard=1/2 >/dev/null 2>&1
"$bin" --merge "$tmp/merged.h5" "$tmp/s0.h5" "$tmp/s1.h5" >/dev/null 2>"$tmp/merge.err"
rc=$?
check "merge of an apply = maps and an apply = all shard refused (exit $rc): $(tail -n 1 "$tmp/merge.err")" \
    bash -c "[ $rc -ne 0 ] && [ ! -e '$tmp/merged.h5' ] && grep -q 'apply = maps' '$tmp/merge.err'"
q s1m --set run.shard=1/2 --set precision.apply=maps >/dev/null 2>&1
"$bin" --merge "$tmp/merged.h5" "$tmp/s0.h5" "$tmp/s1m.h5" >/dev/null 2>"$tmp/merge2.err"
check "merge of two apply = maps shards: $(tail -n 1 "$tmp/merge2.err")" same_data "$tmp/f32.h5" "$tmp/merged.h5"

# Poly-CAM: the maps of apply = all, other curves
for fmt in fp8 int8; do
    q pc_all_$fmt --set run.precision=$fmt --set saliency.methods=pcampm >/dev/null 2>"$tmp/pc_all_$fmt.err"
    q pc_maps_$fmt --set run.precision=$fmt --set saliency.methods=pcampm --set precision.apply=maps \
        >/dev/null 2>"$tmp/pc_maps_$fmt.err"
    rc=$?
    check "$fmt Poly-CAM apply = maps exits 0 ($rc): $(tail -n 1 "$tmp/pc_maps_$fmt.err")" [ $rc -eq 0 ]
    check "$fmt Poly-CAM: apply = maps maps = apply = all maps" \
        same_ds "$tmp/pc_all_$fmt.h5" "$tmp/pc_maps_$fmt.h5" /methods/pcampm/map
    check "$fmt Poly-CAM: ... their curves differ (fp32 net against the 8-bit one)" \
        not same_ds "$tmp/pc_all_$fmt.h5" "$tmp/pc_maps_$fmt.h5" /methods/pcampm/insertion/scores
done

# bad value: one line
"$bin" --config "$tmp/q.ini" --check --set precision.apply=curves >/dev/null 2>"$tmp/bad.err"
rc=$?
check "apply = curves refused (exit $rc) in one line: $(cat "$tmp/bad.err")" bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$tmp/bad.err') -eq 1 ] && \
    grep -q \"^polycam-eval: --set precision.apply=curves: bad value 'curves' for \[precision\] apply (expected all or maps)\" '$tmp/bad.err'"

# the sanity check after an apply = maps run (it runs on the 8-bit net made unquantised)
q san --set precision.apply=maps --set sanity.enabled=yes >/dev/null 2>"$tmp/san.err"
rc=$?
check "apply = maps with the sanity check exits 0 ($rc): $(tail -n 1 "$tmp/san.err")" [ $rc -eq 0 ]
check "... /sanity written" h5dump -g /sanity -H "$tmp/san.h5" >/dev/null 2>&1
finish
