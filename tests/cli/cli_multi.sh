#!/usr/bin/env bash
# cli_multi.sh: several shards on one machine, and the [run] keys behind them, on the CPU.
#   scripts/multi_gpu.sh CONFIG 3 --device cpu runs three shards at once and merges them into the
#   same datasets as the unsharded run (h5diff); a rerun finds everything done; it never replaces
#   a merged result of another configuration (no --force); stopped with
#   SIGTERM in the middle, it says how to continue and the rerun ends identical; bad arguments and
#   a configuration that fails --check stop it before any shard starts.
#   [run] shard = auto takes i/n from a Slurm array task's environment and stores i/n in the file
#   (so the file merges and resumes like an explicit one), and refuses outside a 0-based array.
#   [run] device accepts cuda:K; polycam-eval --check validates without computing or writing.
# Plumbing test: tiny_resnet, 9 synthetic images at 64 x 64, 8 curve steps.
# Usage: bash cli_multi.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff h5dump
export POLYCAM_EVAL=$bin
multi=$src/scripts/multi_gpu.sh

cat >"$tmp/rn.ini" <<EOF
$(tiny_resnet_model)
layers = layer2,layer3,layer4
$(synth_data)
offset = 1
limit = 9
$(small_cpu_sections)
EOF

"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/full.h5" >/dev/null 2>"$tmp/full.err"
rc=$?
check "unsharded run: $(tail -n 1 "$tmp/full.err")" [ $rc -eq 0 ]

# ---- multi_gpu.sh on the CPU ------------------------------------------------------------------
bash "$multi" "$tmp/rn.ini" 3 --device cpu --run-dir "$tmp/m" >"$tmp/m.out" 2>"$tmp/m.err"
rc=$?
check "multi_gpu.sh 3 shards exits 0: $(tail -n 1 "$tmp/m.err")" [ $rc -eq 0 ]
check "merged file equals the unsharded run (h5diff /images, /methods)" same_data "$tmp/full.h5" "$tmp/m/rn.h5"
check "the merge printed the table" grep -q "^| pcampm " "$tmp/m.out"
for i in 0 1 2; do
    check "shard $i ran on the CPU" grep -q "cpu" <<<"$(h5attr "$tmp/m/shard_$i.h5" device)"
    check "shard $i stored as shard = $i/3" grep -q "^shard = $i/3$" <<<"$(h5attr "$tmp/m/shard_$i.h5" config)"
done
bash "$multi" "$tmp/rn.ini" 3 --device cpu --run-dir "$tmp/m" >/dev/null 2>&1
rc=$?
check "rerun exits 0" [ $rc -eq 0 ]
check "... and every shard found its file complete" [ "$(grep -l "nothing to compute" "$tmp"/m/logs/shard_*.log | wc -l)" -eq 3 ]

# another configuration's merged output is refused, never replaced (multi_gpu.sh merged with
# --force once); the shards of the new configuration stay in their own run folder
cp "$tmp/m/rn.h5" "$tmp/m_before.h5"
bash "$multi" "$tmp/rn.ini" 3 --device cpu --run-dir "$tmp/o" --set metrics.steps=4 --output "$tmp/m/rn.h5" \
    >/dev/null 2>"$tmp/o.err"
rc=$?
check "merging over another configuration's result: exit 1 ($rc)" [ $rc -eq 1 ]
check "... with the program's reason ($(grep -v '^$' "$tmp/o.err" | tail -n 2 | head -n 1))" grep -q "different configuration" "$tmp/o.err"
check "... and the result is unchanged" cmp -s "$tmp/m_before.h5" "$tmp/m/rn.h5"

# stopped with SIGTERM once a shard has stored an image, then rerun
bash "$multi" "$tmp/rn.ini" 3 --device cpu --run-dir "$tmp/s" >"$tmp/s.out" 2>"$tmp/s.err" &
pid=$!
shard_record() { for j in "$tmp"/s/shard_*.h5.journal; do has_records "$j" 1 && return 0; done; return 1; }
wait_for 600 "a whole record in a shard's journal ($tmp/s)" $pid shard_record
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM: exit 1 ($rc)" [ $rc -eq 1 ]
check "SIGTERM: says how to continue ($(tail -n 1 "$tmp/s.err"))" grep -q "rerun the same command to continue" "$tmp/s.err"
check "SIGTERM landed mid-run (no merged file)" [ ! -e "$tmp/s/rn.h5" ]
bash "$multi" "$tmp/rn.ini" 3 --device cpu --run-dir "$tmp/s" >/dev/null 2>"$tmp/s2.err"
rc=$?
check "rerun after SIGTERM exits 0: $(tail -n 1 "$tmp/s2.err")" [ $rc -eq 0 ]
check "... and equals the unsharded run" same_data "$tmp/full.h5" "$tmp/s/rn.h5"

# bad input: nothing starts
bash "$multi" "$tmp/rn.ini" 0 --device cpu --run-dir "$tmp/b1" >/dev/null 2>"$tmp/b1.err"
rc=$?
check "N = 0: exit 2 ($(head -n 1 "$tmp/b1.err"))" [ $rc -eq 2 ]
bash "$multi" "$tmp/rn.ini" 2 --device gpu --run-dir "$tmp/b2" >/dev/null 2>"$tmp/b2.err"
rc=$?
check "--device gpu: exit 2 ($(head -n 1 "$tmp/b2.err"))" [ $rc -eq 2 ]
bash "$multi" "$tmp/rn.ini" 2 --device cpu --run-dir "$tmp/b3" --set model.weights=$tmp/none.safetensors \
    >/dev/null 2>"$tmp/b3.err"
rc=$?
check "missing weights: exit 1" [ $rc -eq 1 ]
check "... names the check and the file ($(cat "$tmp/b3.err"))" grep -q "does not pass polycam-eval --check: .*none.safetensors" "$tmp/b3.err"
check "... before any shard started" [ -z "$(ls "$tmp/b3/logs" 2>/dev/null)" ]

# ---- [run] shard = auto -----------------------------------------------------------------------
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2 SLURM_ARRAY_TASK_COUNT=3 \
    "$bin" --config "$tmp/rn.ini" --set run.shard=auto --set "output.file=$tmp/auto1.h5" >/dev/null 2>"$tmp/a.err"
rc=$?
check "shard = auto in array task 1 of 0-2: exit 0 ($(tail -n 1 "$tmp/a.err"))" [ $rc -eq 0 ]
check "... stored as shard = 1/3" grep -q "^shard = 1/3$" <<<"$(h5attr "$tmp/auto1.h5" config)"
check "... same data as the explicit shard 1/3" same_data "$tmp/auto1.h5" "$tmp/m/shard_1.h5"
"$bin" --merge "$tmp/am.h5" "$tmp/m/shard_0.h5" "$tmp/auto1.h5" "$tmp/m/shard_2.h5" >/dev/null 2>"$tmp/am.err"
check "... merges with the explicit shards ($(tail -n 1 "$tmp/am.err"))" same_data "$tmp/full.h5" "$tmp/am.h5"
"$bin" --config "$tmp/rn.ini" --set run.shard=1/3 --set "output.file=$tmp/auto1.h5" >/dev/null 2>"$tmp/a2.err"
check "... and the explicit 1/3 finds it complete" grep -q "nothing to compute" "$tmp/a2.err"
unset_slurm() { env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_MIN -u SLURM_ARRAY_TASK_MAX -u SLURM_ARRAY_TASK_COUNT "$@"; }
unset_slurm "$bin" --config "$tmp/rn.ini" --set run.shard=auto --check >/dev/null 2>"$tmp/e1"
rc=$?
check "shard = auto outside an array: exit 1, one line ($(cat "$tmp/e1"))" \
    [ $rc -eq 1 -a "$(wc -l <"$tmp/e1")" -eq 1 ]
check "... saying why" grep -q "shard = auto outside a Slurm job array (SLURM_ARRAY_TASK_ID is not set)" "$tmp/e1"
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=2 SLURM_ARRAY_TASK_COUNT=2 \
    "$bin" --config "$tmp/rn.ini" --set run.shard=auto --check >/dev/null 2>"$tmp/e2"
check "shard = auto in a resubmitted subset (tasks 1..2) refused ($(cat "$tmp/e2"))" \
    grep -q "needs a job array --array=0-(n-1) without gaps" "$tmp/e2"
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=4 SLURM_ARRAY_TASK_COUNT=3 \
    "$bin" --config "$tmp/rn.ini" --set run.shard=auto --check >/dev/null 2>"$tmp/e3"
check "shard = auto in a stepped array (0-4:2) refused" grep -q "without gaps" "$tmp/e3"

# ---- [run] device = cuda:K, --check ------------------------------------------------------------
"$bin" --config "$tmp/rn.ini" --set run.device=cuda:x --check >/dev/null 2>"$tmp/d1"
check "device = cuda:x refused ($(cat "$tmp/d1"))" grep -q "bad value 'cuda:x' for \[run\] device" "$tmp/d1"
"$bin" --config "$tmp/rn.ini" --set run.device=cuda:-1 --check >/dev/null 2>"$tmp/d2"
check "device = cuda:-1 refused" grep -q "bad value 'cuda:-1'" "$tmp/d2"
"$bin" --config "$tmp/rn.ini" --set run.device=cuda:3 --check >/dev/null 2>"$tmp/d3"
rc=$?
check "device = cuda:3 is a valid key ($(cat "$tmp/d3"))" [ $rc -eq 0 ]
"$bin" --config "$tmp/rn.ini" --set run.device=cuda:4095 --set "output.file=$tmp/d4.h5" --limit 1 >/dev/null 2>"$tmp/d4"
rc=$?
check "device = cuda:4095: exit 1 with one line, no GPU there ($(cat "$tmp/d4"))" \
    [ $rc -eq 1 -a "$(wc -l <"$tmp/d4")" -eq 1 ]
check "... about CUDA" grep -qi "cuda" "$tmp/d4"
"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/c.h5" --check >"$tmp/c.out" 2>"$tmp/c.err"
rc=$?
check "--check: exit 0 ($(cat "$tmp/c.err"))" [ $rc -eq 0 ]
check "... counts the images and entries" grep -q "ok: 9 images (list entries 1..9, shard 0/1)" "$tmp/c.err"
check "... writes no output" [ ! -e "$tmp/c.h5" -a ! -e "$tmp/c.h5.partial" ]
"$bin" --config "$tmp/rn.ini" --set "data.labels=$tmp/none.txt" --check >/dev/null 2>"$tmp/c2.err"
rc=$?
check "--check: a missing labels file fails ($(cat "$tmp/c2.err"))" [ $rc -eq 1 ]
"$bin" --table "$tmp/full.h5" --check >/dev/null 2>"$tmp/c3.err"
rc=$?
check "--check with --table: exit 2" [ $rc -eq 2 ]
finish
