# cli_common.sh: the shared preamble of the tests/cli_*.sh scripts, sourced as their first line:
#     source "$(dirname "$0")/lib/cli_common.sh"
# It reads the script's arguments (<polycam-eval binary> <source dir>) into bin and src, names the
# test after its script (cli_x.sh -> cli_x), and gives it the pass/fail counters with check and
# finish, a temporary folder $tmp removed on exit, and readers of HDF5 output via the hdf5-tools.
# Kept outside tests/ itself: tests/CMakeLists.txt runs every tests/cli_*.sh as a test.
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
