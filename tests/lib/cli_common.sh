# cli_common.sh: the shared preamble of the tests/cli/cli_*.sh scripts, sourced as their first line:
#     source "$(dirname "$0")/../lib/cli_common.sh"
# It reads the script's arguments (<polycam-eval binary> <source dir>) into bin and src, names the
# test after its script (cli_x.sh -> cli_x), and gives it the pass/fail counters with check and
# finish, a temporary folder $tmp removed on exit, and readers of HDF5 output via the hdf5-tools.
# Kept in tests/lib, not tests/cli: tests/CMakeLists.txt runs every tests/cli/cli_*.sh as a test.
set -u
bin=$1
src=$2
name=$(basename "$0" .sh)
pass=0
fail=0

# check <description> <command...>: one assertion; the command's exit status is the verdict.
check() {
    local desc=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $desc"; fi
}

# finish: the closing summary line "<name>: N passed, N failed" and the exit status.
finish() {
    echo "$name: $pass passed, $fail failed"
    [ "$fail" -eq 0 ] && exit 0 || exit 1
}

# need_tools <tool...>: skip the test (exit 77) when one of the hdf5-tools is not installed.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (hdf5-tools)"; exit 77; }
    done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# tiny_vgg_model, tiny_resnet_model: the [model] section of the fixture networks
# (tests/fixtures/README.md) without target layers, for the start of a test's config.
tiny_vgg_model() {
    cat <<EOF
[model]
arch = vgg
weights = $src/data/models/tiny_vgg.safetensors
vgg_cfg = 8,8,M,16,16,M,32,32,M,32,32,M,32,32,M
vgg_classifier = 64,64
num_classes = 10
EOF
}
tiny_resnet_model() {
    cat <<EOF
[model]
arch = resnet
weights = $src/data/models/tiny_resnet.safetensors
resnet_stem = 8
resnet_stages = 4x1/1,8x2/2,16x1/2,32x1/2
num_classes = 10
EOF
}

# synth_data [root]: the start of a [data] section for the bundled synthetic images
# (data/synthetic): their list and labels, and with "root" their folder.
synth_data() {
    echo "[data]"
    if [ "${1:-}" = root ]; then echo "root = $src/data/synthetic"; fi
    echo "list = $src/data/synthetic/images.txt"
    echo "labels = $src/data/synthetic/labels.txt"
}

# fp8_cpu_sections: the [run] and [precision] sections of the 8-bit tests: fp8 on the CPU, two
# calibration images, the accuracy guard on one image with a loose bound.
fp8_cpu_sections() {
    cat <<EOF
[run]
device = cpu
precision = fp8
[precision]
calibration_images = 2
guard_images = 1
guard_max_dauc = 0.2
EOF
}

# small_cpu_sections: 64 x 64 inputs, 8 steps, one thread on the CPU: the runs of the tests that
# start several processes (cli_multi, cli_slurm).
small_cpu_sections() {
    cat <<EOF
[preprocess]
size = 64
[metrics]
steps = 8
[run]
device = cpu
threads = 1
EOF
}

# not <command...>: succeeds when the command fails (for check).
not() { ! "$@"; }

# expect_line <description> <message> <polycam-eval arguments...>: the run fails with exit status
# ${want_rc:-1}, one line on stderr holding <message>, and no output file (run in the current
# folder: out.txt, err.txt, bad.h5).
expect_line() {
    local desc=$1 want=$2
    shift 2
    rm -f bad.h5
    "$bin" "$@" --set output.file=bad.h5 >out.txt 2>err.txt
    local rc=$?
    check "$desc: exit ${want_rc:-1} (got $rc)" [ $rc -eq "${want_rc:-1}" ]
    check "$desc: message has \"$want\" (got \"$(head -c 300 err.txt)\")" grep -qF -- "$want" err.txt
    check "$desc: one line" [ "$(wc -l <err.txt)" -eq 1 ]
    check "$desc: no output" [ ! -e bad.h5 ]
}

# h5vals <file> <dataset>: the values of a dataset, one per line.
h5vals() {
    h5dump -y -w 0 -d "$2" "$1" 2>/dev/null | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | tr ',' '\n' |
        sed 's/^ *//; s/ *$//' | grep -v '^$'
}

# h5attr <file> <attribute>: a root attribute as h5dump prints it.
h5attr() {
    h5dump -y -a "/$2" "$1" 2>/dev/null | sed -n '/DATA {/,/^ *}/p' | sed '1d;$d' | sed 's/^ *//'
}

# same_data <a.h5> <b.h5>: the values of every dataset under /images and /methods are equal.
same_data() {
    h5diff -q "$1" "$2" /images /images >/dev/null 2>&1 && h5diff -q "$1" "$2" /methods /methods >/dev/null 2>&1
}

# synth_resnet_model: the [model] section of the bundled synth_resnet (data/models), for configs
# written by the tests.
# shards_merged <ini> <merged.h5>: the run of <ini> in two shards ($tmp/s0.h5, $tmp/s1.h5), merged
# into <merged.h5>; checks that each shard and the merge exit 0.
shards_merged() {
    local i rc
    for i in 0 1; do
        "$bin" --config "$1" --set "output.file=$tmp/s$i.h5" --set "run.shard=$i/2" >/dev/null 2>&1
        check "shard $i/2 exits 0" [ $? -eq 0 ]
    done
    "$bin" --merge "$2" "$tmp/s0.h5" "$tmp/s1.h5" >/dev/null 2>"$tmp/merge.err"
    rc=$?; check "merge exits 0: $(tail -n 1 "$tmp/merge.err")" [ $rc -eq 0 ]
}

# masks_run_sections: the sections after [model] of a run of PCAM± and Grad-CAM on the first 2
# synthetic images with their masks ([data] masks), no curves, float32 maps, on the CPU
# (cli_localisation, cli_metrics_loc).
masks_run_sections() {
    cat <<EOF
[data]
list = $src/data/synthetic/images.txt
masks = $src/data/synthetic/masks
limit = 2
[saliency]
methods = pcampm,gradcam
[metrics]
insertion = no
deletion = no
[output]
maps = float32
[run]
device = cpu
EOF
}

# close <tolerance> <list a> <list b>: same length, every |a - b| <= tolerance
close() {
    [ -n "$2" ] && [ "$(echo "$2" | wc -l)" -eq "$(echo "$3" | wc -l)" ] &&
        paste <(echo "$2") <(echo "$3") | awk -v t="$1" '{ d = $1 - $2; if (d < 0) d = -d; if (d > t) bad = 1 } END { exit bad }'
}

synth_resnet_model() {
    cat <<EOF
[model]
arch = resnet
weights = $src/data/models/synth_resnet.safetensors
resnet_block = bottleneck
resnet_stem = 16
resnet_stages = 8x1/1,16x2/2,32x1/2,32x1/2
num_classes = 4
EOF
}

# wait_for <seconds> <what> <pid|-> <command...>: polls the command every 0.05 s (wait_poll=S
# before the call: every S s) until it succeeds (returns 0). When the process <pid> ends first (- :
# no process to watch) or <seconds> pass, it counts one failed check "waited for <what>: ..." and
# returns 1, so the caller can skip what needed the condition. Waits are on the condition a step
# needs, never on a time: the timeouts are only there to end a test that would hang, and are
# generous (a loaded 2-core machine runs these tests several times slower than an idle one).
wait_for() {
    local secs=$1 what=$2 pid=$3 start=$SECONDS poll=${wait_poll:-0.05}
    shift 3
    while ! "$@"; do
        if [ "$pid" != - ] && ! kill -0 "$pid" 2>/dev/null; then
            "$@" && return 0   # it was met just before the end
            check "waited for $what: the process $pid ended first" false
            return 1
        fi
        if [ $((SECONDS - start)) -ge "$secs" ]; then
            check "waited for $what: not there after $secs s" false
            return 1
        fi
        sleep "$poll"
    done
    return 0
}

# in_file <pattern> <file>: the file has a line matching the extended regular expression (a
# condition for wait_for).
in_file() { grep -qE -- "$1" "$2" 2>/dev/null; }

# stopped <pid>: the process is stopped (SIGSTOP), as /proc says.
stopped() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ]; }

# signal_pending <pid> <signal number>: the signal waits to be delivered to the process (as it does
# while the process is stopped), as /proc says.
signal_pending() {
    local mask
    for mask in $(awk '$1 == "SigPnd:" || $1 == "ShdPnd:" { print $2 }' "/proc/$1/status" 2>/dev/null); do
        [ $((0x$mask >> ($2 - 1) & 1)) -eq 1 ] && return 0
    done
    return 1
}

# pause_run <pid>: stops the process (SIGSTOP) and waits until it is: from then on its files do not
# change until kill -CONT (signals sent meanwhile stay pending). Fails like wait_for.
pause_run() {
    kill -STOP "$1" 2>/dev/null
    wait_for 120 "process $1 to stop (SIGSTOP)" "$1" stopped "$1"
}

# journal_records <file.journal>: the number of whole records in a run's journal (0 when there is
# none yet), read from its bytes as host/journal.h lays them out: the header (magic "PCJRNL02",
# u64 key length, key, u64 start-time length, start time, u64 image count, the names each ending
# in '\0', u64 checksum), then records of 24 bytes (magic "JRCR", u32 index, u64 payload bytes,
# u64 checksum) and the payload, every record of a run the same size. A record cut short (a kill
# in the middle of its write, or the writer appending it now) is not counted, as a resume drops
# it. Checksums are not verified: a kill cuts a record short, it does not change its bytes.
journal_records() {
    local f=$1 size off len n names payload
    [ -f "$f" ] || { echo 0; return; }
    size=$(stat -c %s "$f")
    [ "$size" -ge 32 ] && [ "$(head -c 8 "$f")" = PCJRNL02 ] || { echo 0; return; }
    len=$(od -An -tu8 -j 8 -N 8 "$f" | tr -d ' ')
    off=$((16 + len))
    len=$(od -An -tu8 -j "$off" -N 8 "$f" | tr -d ' ')
    off=$((off + 8 + len))
    n=$(od -An -tu8 -j "$off" -N 8 "$f" | tr -d ' ')
    off=$((off + 8))
    names=$(tail -c +$((off + 1)) "$f" | tr '\0' '\n' | head -n "${n:-0}" | wc -c)
    off=$((off + names + 8))
    if [ "$size" -lt $((off + 24)) ] || [ "$(tail -c +$((off + 1)) "$f" | head -c 4)" != JRCR ]; then
        echo 0
        return
    fi
    payload=$(od -An -tu8 -j $((off + 8)) -N 8 "$f" | tr -d ' ')
    echo $(((size - off) / (24 + payload)))
}

# has_records <file.journal> <n>: the journal holds at least n whole records (for wait_for).
has_records() { [ "$(journal_records "$1")" -ge "$2" ]; }
