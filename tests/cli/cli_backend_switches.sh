#!/usr/bin/env bash
# cli_backend_switches.sh: the environment switches that can change results (PC_NO_DIRECT_CONV,
# PC_CUDA_NOFUSE, PC_CUDNN_FIND, PC_CUDNN_TUNE) are part of the configuration key: a run made with
# PC_NO_DIRECT_CONV=1 records it in its config / config_key attributes ([environment] section), a rerun
# without it is refused as a different configuration (exit 1, naming the variable), a rerun with it
# finds the file complete, and "0" counts as off. Plumbing test: tiny_vgg, one synthetic image,
# 4 curve steps, on the CPU.
# Usage: bash cli_backend_switches.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5dump

cat >"$tmp/run.ini" <<EOF
$(tiny_vgg_model)
[data]
list = $src/data/synthetic/images.txt
limit = 1
[saliency]
methods = pcampm
[metrics]
steps = 4
[output]
maps = none
[run]
device = cpu
EOF
out=$tmp/out.h5
unset PC_NO_DIRECT_CONV PC_CUDA_NOFUSE PC_CUDNN_FIND PC_CUDNN_TUNE

PC_NO_DIRECT_CONV=1 "$bin" --config "$tmp/run.ini" --set "output.file=$out" >"$tmp/1.out" 2>"$tmp/1.err"
rc=$?
check "run with PC_NO_DIRECT_CONV=1 exits 0 (rc $rc): $(tail -n 2 "$tmp/1.err")" [ $rc -eq 0 ]
check "config_key names the switch" grep -q "PC_NO_DIRECT_CONV = 1" <<<"$(h5attr "$out" config_key)"
check "config names the switch" grep -q "PC_NO_DIRECT_CONV = 1" <<<"$(h5attr "$out" config)"

"$bin" --config "$tmp/run.ini" --set "output.file=$out" >"$tmp/2.out" 2>"$tmp/2.err"
rc=$?
check "rerun without the switch is refused with exit 1 (rc $rc)" [ $rc -eq 1 ]
check "the refusal names the switch: $(head -n 1 "$tmp/2.err")" grep -q "PC_NO_DIRECT_CONV = 1" "$tmp/2.err"

PC_NO_DIRECT_CONV=0 "$bin" --config "$tmp/run.ini" --set "output.file=$out" >"$tmp/3.out" 2>"$tmp/3.err"
rc=$?
check "PC_NO_DIRECT_CONV=0 counts as off: refused too (rc $rc)" [ $rc -eq 1 ]

PC_NO_DIRECT_CONV=1 "$bin" --config "$tmp/run.ini" --set "output.file=$out" >"$tmp/4.out" 2>"$tmp/4.err"
rc=$?
check "rerun with the switch exits 0 (rc $rc): $(tail -n 2 "$tmp/4.err")" [ $rc -eq 0 ]
check "rerun with the switch finds the file complete" grep -q "is complete" "$tmp/4.err"

# without any switch the key names none (files made before the switches existed keep their key)
plain=$tmp/plain.h5
"$bin" --config "$tmp/run.ini" --set "output.file=$plain" >"$tmp/5.out" 2>"$tmp/5.err"
rc=$?
check "run without switches exits 0 (rc $rc): $(tail -n 2 "$tmp/5.err")" [ $rc -eq 0 ]
check "no switch in the key without switches" bash -c "! grep -q PC_ <<<'$(h5attr "$plain" config_key)'"
finish
