#!/usr/bin/env bash
# cli_pth.sh: model.weights given as a torch.save checkpoint. The demo (configs/demo.ini, first two
# images, CPU) run with data/models/synth_resnet.pth (written by torch from the safetensors file,
# tools/make_pth_fixtures.py) must produce the same HDF5 data as the run with
# synth_resnet.safetensors: every dataset equal (h5diff), the root attributes equal except the ones
# that legitimately differ (the weights path in config / config_source, the times, the journal
# key). Bad checkpoints (a bare pickle, a pickle calling os.system) fail with exit status 1 and
# one line naming the file.
# Usage: bash cli_pth.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff h5dump

run_demo() {   # run_demo <weights> <output>
    mkdir -p "$(dirname "$2")"
    "$bin" --config "$src/configs/demo.ini" --set run.device=cpu --set "model.weights=$1" --set "output.file=$2" \
        --set output.overlays=0 --limit 2 >"$2.stdout" 2>"$2.stderr"
}
# Both outputs are out.h5, in folders st/ and pth/, so that the config texts differ only in the
# weights file.
st=$tmp/st/out.h5
pth=$tmp/pth/out.h5

run_demo "$src/data/models/synth_resnet.safetensors" "$st"
rc=$?
check "safetensors run exits 0 (rc $rc): $(tail -n 2 "$st.stderr")" [ $rc -eq 0 ]
run_demo "$src/data/models/synth_resnet.pth" "$pth"
rc=$?
check ".pth run exits 0 (rc $rc): $(tail -n 2 "$pth.stderr")" [ $rc -eq 0 ]
[ -f "$st" ] && [ -f "$pth" ] || finish

# Every dataset of the file (h5diff without attributes: --exclude-attribute is not in every
# hdf5-tools version, so the objects are compared one by one and the attributes below).
for obj in /images /methods /classes; do
    check "$obj identical" h5diff -q "$st" "$pth" "$obj" "$obj"
done
objs_st=$(h5dump -H "$st" | grep -E '^ *(GROUP|DATASET) ' | sort)
objs_pth=$(h5dump -H "$pth" | grep -E '^ *(GROUP|DATASET) ' | sort)
check "same groups and datasets" [ "$objs_st" = "$objs_pth" ]
check "the maps were compared (non-empty file)" grep -q 'DATASET "map"' <<<"$objs_st"

# Root attributes: the same, but for the weights path, the weights file's checksum (the two files'
# bytes differ, the tensors do not) and the run's times and key.
for a in $(h5dump -A -H "$st" | sed -n 's/^   ATTRIBUTE "\([a-z_]*\)".*/\1/p'); do
    case $a in
    start_time | end_time | config_key | weights_checksum) continue ;;
    esac
    # -w 0: no line wrapping (it would fall differently in paths of different lengths)
    va=$(h5dump -w 0 -y -a "/$a" "$st" | sed -E "s/synth_resnet\.(safetensors|pth)/WEIGHTS/g; s|$tmp/st/|OUT/|g")
    vb=$(h5dump -w 0 -y -a "/$a" "$pth" | sed -E "s/synth_resnet\.(safetensors|pth)/WEIGHTS/g; s|$tmp/pth/|OUT/|g")
    check "root attribute $a equal (weights path aside)" [ "$va" = "$vb" ]
done
check "the .pth run's config names the .pth file" grep -q "synth_resnet.pth" <<<"$(h5attr "$pth" config)"
check "same table" diff <(grep '^| pcamp' "$st.stdout") <(grep '^| pcamp' "$pth.stdout")

# ---- bad checkpoints: exit 1, one line naming the file ------------------------------------------
bad_run() {   # bad_run <weights> <expected text>
    local w=$1 want=$2
    "$bin" --config "$src/configs/demo.ini" --set run.device=cpu --set "model.weights=$w" \
        --set "output.file=$tmp/bad.h5" --limit 1 >"$tmp/bad.out" 2>"$tmp/bad.err"
    local rc=$?
    check "$(basename "$w"): exit status 1 (got $rc)" [ $rc -eq 1 ]
    check "$(basename "$w"): one line on stderr" [ "$(wc -l <"$tmp/bad.err")" -eq 1 ]
    check "$(basename "$w"): names the file and says '$want': $(cat "$tmp/bad.err")" \
        grep -qF "$w: " "$tmp/bad.err"
    check "$(basename "$w"): says '$want'" grep -qF "$want" "$tmp/bad.err"
    cat "$tmp/bad.err"
}
printf '\x80\x02}q\x00.' >"$tmp/bare.pth"
bad_run "$tmp/bare.pth" "a bare pickle"
bad_run "$src/tests/fixtures/pth/reduce_os_system.pth" "posix.system"
check "the pickle's os.system was not run" bash -c "! grep -q 'executed a pickle' '$tmp/bad.out' '$tmp/bad.err'"
bad_run "$src/tests/fixtures/pth/tiny_vgg_f16.pth" "missing tensor 'conv1.weight'"
finish
