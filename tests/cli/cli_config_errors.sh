#!/usr/bin/env bash
# cli_config_errors.sh: every mistake a user can make before a run starts ends the program with a
# non-zero status and one clear line naming the file (and line) or the value, before any output
# file is created: unknown key / section, bad value, missing config, list, root, labels or weights,
# weights that do not fit the arch, unknown target layer, unwritable output, a folder given as the
# config, a reduced precision with device = cpu, bad arguments. Mistakes on the command line (an
# unknown option, --config twice, a bad --limit, a --set naming no key or giving a bad value) exit 2,
# mistakes in the file 1.
# Usage: bash cli_config_errors.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
cd "$tmp" || exit 1

# A valid base config (tiny_vgg on two synthetic images); each case edits a copy.
write_base() {
    cat >"$1" <<EOF
$(tiny_vgg_model)

[data]
root = $src/data/synthetic
list = $src/data/synthetic/images.txt
limit = 1

[metrics]
steps = 2

[output]
file = out/result.h5

[run]
device = cpu
EOF
}
write_base base.ini

# expect_error <description> <expected exit: nonzero|2> <expected text> -- args...
expect_error() {
    local desc=$1 want_rc=$2 want=$3
    shift 4
    rm -rf out
    "$bin" "$@" >stdout.txt 2>stderr.txt
    local rc=$?
    if [ "$want_rc" = 2 ]; then
        check "$desc: exit 2 (got $rc)" [ $rc -eq 2 ]
    else
        check "$desc: non-zero exit (got $rc)" [ $rc -ne 0 ]
    fi
    check "$desc: message contains \"$want\" (got \"$(head -c 300 stderr.txt)\")" grep -qF -- "$want" stderr.txt
    # --check prints the run's cost first (cost: ..., and for vgg16 / resnet50 the projected GPU
    # time), weights or not, then the one line of the error
    check "$desc: one line on stderr (besides --check's cost)" \
        [ "$(grep -cvE '^(cost: |projected GPU time )' stderr.txt)" -eq 1 ]
    check "$desc: nothing on stdout" [ ! -s stdout.txt ]
    check "$desc: no output file created" [ ! -e out/result.h5 -a ! -e out/result.h5.partial -a ! -e out/result.h5.journal ]
}

# edit <file> <sed expression>: a copy of base.ini with one change
edit() {
    sed "$2" base.ini >"$1"
}

edit unknown_key.ini 's/^num_classes = 10$/num_classes = 10\nfoo = 1/'
expect_error "unknown key" nonzero "unknown_key.ini:7: unknown key 'foo' in [model]" -- --config unknown_key.ini
edit unknown_section.ini 's/^\[metrics\]$/[metric]/'
expect_error "unknown section" nonzero "unknown_section.ini:13: unknown section [metric]" -- --config unknown_section.ini
edit bad_value.ini 's/^steps = 2$/steps = two/'
expect_error "bad value" nonzero "bad_value.ini:14: bad value 'two' for [metrics] steps (expected an integer in 1..50176)" -- --config bad_value.ini
edit bad_choice.ini 's/^device = cpu$/device = gpu/'
expect_error "bad choice" nonzero "bad_choice.ini:20: bad value 'gpu' for [run] device (expected auto, cpu, cuda or cuda:K with K the GPU's ordinal)" -- --config bad_choice.ini
edit syntax.ini 's/^limit = 1$/limit 1/'
expect_error "syntax error" nonzero "syntax.ini:11: syntax error" -- --config syntax.ini
expect_error "unknown --set key" 2 "--set run.gpus=2: unknown key 'gpus' in [run]" -- --config base.ini --set run.gpus=2
expect_error "bad --set value" 2 "--set saliency.methods=gradcamx: bad value 'gradcamx' for [saliency] methods" -- --config base.ini --set saliency.methods=gradcamx
expect_error "--set without a section" 2 "--set nosection=1: expected section.key=value" -- --config base.ini --set nosection=1
expect_error "--limit not a number" 2 "--limit abc: expected an integer >= 0" -- --config base.ini --limit abc
expect_error "--config twice" 2 "--config given twice ('base.ini', then 'other.ini')" -- --config base.ini --config other.ini
expect_error "--table twice" 2 "--table given twice" -- --table a.h5 --table b.h5
expect_error "a folder as the config" nonzero "polycam-eval: $tmp: not a regular file (a directory)" -- --config "$tmp"
edit fp16_cpu.ini 's/^device = cpu$/device = cpu\nprecision = fp16/'
expect_error "fp16 on the CPU (file)" nonzero "fp16_cpu.ini:21: [run] precision = fp16 needs device = cuda; the CPU computes in fp32 only" -- --config fp16_cpu.ini
expect_error "bf16 on the CPU (--set)" 2 "--set run.precision=bf16: [run] precision = bf16 needs device = cuda" -- --config base.ini --set run.precision=bf16
expect_error "missing config file" nonzero "nope.ini: cannot open (No such file or directory)" -- --config nope.ini
expect_error "missing weights key" nonzero "[model] weights is not set" -- --config base.ini --set model.weights=
expect_error "missing weights file" nonzero "model weights: $tmp/missing.safetensors: cannot open" -- --config base.ini --set model.weights=missing.safetensors
expect_error "... says what to set" nonzero "(No such file or directory); set [model] weights to the checkpoint file, or --set model.weights=FILE" -- --config base.ini --set model.weights=missing.safetensors --check
expect_error "weights of another arch (tiny_vgg as vgg16)" nonzero "do not fit arch vgg16" -- --config base.ini --set model.arch=vgg16 --set model.vgg_cfg= --set model.vgg_classifier=
# model.vgg_* keys only apply to arch = vgg: the file's keys make arch = vgg16 an error first
expect_error "custom keys with a named arch" nonzero "[model] vgg_cfg only applies to arch = vgg (arch is vgg16)" -- --config base.ini --set model.arch=vgg16
edit named.ini '/^vgg_cfg\|^vgg_classifier\|^num_classes/d'
expect_error "tiny_vgg weights for vgg11" nonzero "do not fit arch vgg11" -- --config named.ini --set model.arch=vgg11
expect_error "tiny_resnet weights for a custom vgg" nonzero "do not fit arch vgg" -- --config base.ini --set "model.weights=$src/data/models/tiny_resnet.safetensors"
expect_error "wrong class count" nonzero "do not fit arch vgg" -- --config base.ini --set model.num_classes=4
expect_error "unknown target layer" nonzero "[model] layers: target layer 'features.99' is not a named output" -- --config base.ini --set model.layers=features.3,features.99
expect_error "missing list" nonzero "data list $tmp/nolist.txt: cannot open (No such file or directory)" -- --config base.ini --set data.list=nolist.txt
expect_error "missing root" nonzero "data root $tmp/noroot: no such folder" -- --config base.ini --set data.root=noroot
# --check looks for the image files: a root without any of them (the paper configs before the
# ILSVRC2012 folder is set right) is an error, some missing a warning (the run would skip them)
mkdir -p emptyroot
expect_error "--check: a root holding none of the images" nonzero "data root $tmp/emptyroot: none of the 1 images of the run is there ($tmp/emptyroot/synth_000.jpg: No such file or directory); set [data] root" -- --config base.ini --set data.root=emptyroot --check
mkdir -p someroot && cp "$src/data/synthetic/synth_001.jpg" someroot/
"$bin" --config base.ini --set data.root=someroot --set data.limit=2 --check >stdout.txt 2>stderr.txt
rc=$?
check "--check: a root missing some images passes (rc $rc)" [ $rc -eq 0 ]
check "... with a warning naming the first missing one" grep -qF "warning: data root $tmp/someroot: 1 of 2 images of the run are not there (first: $tmp/someroot/synth_000.jpg: No such file or directory); the run will skip them" stderr.txt
check "... and the ok line" grep -qF "ok: 2 images" stderr.txt
expect_error "missing labels" nonzero "labels $tmp/nolabels.txt: cannot open" -- --config base.ini --set data.labels=nolabels.txt
printf 'synth_000.jpg zero\n' >badlabels.txt
expect_error "malformed labels" nonzero "badlabels.txt:1: bad class 'zero'" -- --config base.ini --set data.labels=badlabels.txt
printf 'synth_000.jpg 99\n' >biglabels.txt
expect_error "label beyond the classifier with class = label" nonzero "synth_000.jpg has class 99, but the model has 10 classes" -- --config base.ini --set data.labels=biglabels.txt --set saliency.class=label
expect_error "offset past the list" nonzero "[data] offset 99 is past the end" -- --config base.ini --set data.offset=99
printf 'a\nb\nc\n' >classes3.txt
expect_error "class names that do not match the model" nonzero "3 names for a model of 10 classes" -- --config base.ini --set data.limit=1 --set model.classes=classes3.txt
expect_error "unwritable output" nonzero "/proc/polycam_nope/result.h5: cannot create folder /proc/polycam_nope" -- --config base.ini --set output.file=/proc/polycam_nope/result.h5
if [ "$(id -u)" != 0 ]; then
    mkdir ro && chmod 555 ro
    expect_error "read-only output folder" nonzero "ro/result.h5.lock: cannot create the lock file (Permission denied)" -- --config base.ini --set output.file=ro/result.h5
fi
expect_error "CUDA requested in a build or machine without it" nonzero "" -- --config base.ini --set run.device=cuda --set output.file=out/result.h5
# command line
expect_error "unknown argument" 2 "unknown argument '--frobnicate'" -- --config base.ini --frobnicate
expect_error "--config without a file" 2 "--config needs an argument" -- --config
expect_error "no --config" 2 "--config FILE.ini is required" --
expect_error "--resume with --force" 2 "--resume and --force exclude each other" -- --config base.ini --resume --force
expect_error "--table of a missing file" nonzero "nothing.h5: cannot open as HDF5" -- --table nothing.h5
# a bad --set value of a method's settings is a command-line mistake like any other --set (exit 2)
expect_error "--set ig.steps=0" 2 "--set ig.steps=0: bad value '0' for [ig] steps" -- --config base.ini --set ig.steps=0
expect_error "--set robustness.samples=0" 2 "--set robustness.samples=0: bad value '0' for [robustness] samples" -- --config base.ini --set robustness.samples=0
expect_error "--set sanity.images=0" 2 "--set sanity.images=0: bad value '0' for [sanity] images" -- --config base.ini --set sanity.images=0
# the sanity check's methods' layers are checked before the run, not after its last image
expect_error "[sanity] gradcam with a bad [cam] layer" nonzero "[cam] layer: 'nope' is not a feature-map layer" -- --config base.ini --set saliency.methods=pcamp --sanity --set sanity.methods=gradcam --set cam.layer=nope
expect_error "... and --check finds it" nonzero "[cam] layer: 'nope' is not a feature-map layer" -- --config base.ini --set saliency.methods=pcamp --sanity --set sanity.methods=gradcam --set cam.layer=nope --check

# precision = fp16 with device = auto: runs; where auto lands on the CPU, one warning says so
rm -rf out
"$bin" --config base.ini --set run.device=auto --set run.precision=fp16 >stdout.txt 2>stderr.txt
rc=$?
check "fp16 with device = auto runs (rc $rc): $(tail -n 1 stderr.txt)" [ $rc -eq 0 ]
if grep -q "device cpu" stderr.txt; then
    check "auto on the CPU with fp16 warns" grep -q "^warning: no CUDA device: the CPU computes in fp32; \[run\] precision = fp16 applies to CUDA only" stderr.txt
else
    check "auto on a GPU with fp16 does not warn" ! grep -q "the CPU computes in fp32" stderr.txt
fi

# class = label with images the labels file does not name: runs, one warning with the count
rm -rf out
printf 'synth_001.jpg 3\n' >otherlabels.txt
"$bin" --config base.ini --set data.labels=otherlabels.txt --set saliency.class=label >stdout.txt 2>stderr.txt
rc=$?
check "class = label with an unlabelled image runs (rc $rc): $(tail -n 1 stderr.txt)" [ $rc -eq 0 ]
check "labels matching no image of the run: warned" grep -q "^warning: labels $tmp/otherlabels.txt: no line names an image of this run" stderr.txt
check "class = label without a label: warned with the count" grep -q "^warning: \[saliency\] class = label, but 1 of 1 images have no label in $tmp/otherlabels.txt; they explain the predicted class" stderr.txt

# [output] file = ../x.h5 in a config of another folder: the paths printed (and stored in the
# config attribute) are tidy, "<tmp>/out3/r.h5", not "<tmp>/cfgdir/../out3/r.h5"
mkdir -p cfgdir
sed 's|^file = out/result.h5$|file = ../out3/r.h5|' base.ini >cfgdir/up.ini
"$bin" --config cfgdir/up.ini >stdout.txt 2>stderr.txt
rc=$?
real_tmp=$(cd "$tmp" && pwd -P)
check "output ../out3/r.h5 (rc $rc): $(tail -n 1 stderr.txt)" [ $rc -eq 0 ]
check "the output path is printed without ../" grep -qx "results written to $real_tmp/out3/r.h5" stderr.txt
check "... and is the file written" [ -f "$real_tmp/out3/r.h5" ]

# --help lists every key with its default; --version names the libraries
"$bin" --help >help.txt 2>&1
check "--help exits 0" [ $? -eq 0 ]
for key in "arch = vgg16" "weights = (empty)" "layers = (empty)" "resize = bilinear" "size = 224" \
           "methods = pcamp,pcamm,pcampm" "lnorm = code" "normalize = code" "ablations = none" "steps = 224" \
           "baseline = blur" "blur_kernel = 11" "blur_sigma = 5" "maps = float16" "overlays = 0" "device = auto" \
           "precision = fp32" "shard = 0/1" "resnet_stages = (empty)" "vgg_cfg = (empty)"; do
    check "--help lists '$key'" grep -qF -- "$key" help.txt
done
"$bin" --version >version.txt 2>&1
check "--version exits 0" [ $? -eq 0 ]
check "--version names HDF5 and libjpeg" grep -q "HDF5 1\..*" version.txt
check "--version names libjpeg" grep -q "libjpeg" version.txt
finish
