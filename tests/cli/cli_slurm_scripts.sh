#!/usr/bin/env bash
# cli_slurm_scripts.sh: the sbatch scripts scripts/slurm/submit writes, without Slurm (stand-in
# sbatch / squeue / scontrol that record what they are given; cli_slurm.sh runs the real one):
#   1. a configuration name, --set or --run-dir holding a newline (once a shell line injected into
#      the scripts) is refused with one line before anything is written or submitted;
#   2. paths with spaces, '#', quotes and '$' (run folder, configuration, working folder) survive:
#      the #SBATCH lines read back as sbatch reads them (its quoting and escape rules, '#' starts a
#      comment) give --chdir / --output / --job-name exactly, bash -n accepts both scripts, and the
#      scripts run by hand (task 0..2, then the merge) give the unsharded run's datasets;
#   3. merge.sbatch never replaces an output of another configuration (no --force): it fails and
#      the file is unchanged.
# Plumbing test: tiny_resnet, 6 synthetic images at 64 x 64, 8 curve steps.
# Usage: bash cli_slurm_scripts.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff h5dump
export POLYCAM_EVAL=$bin
for v in ${!SLURM_@}; do unset "$v"; done
submit=$src/scripts/slurm/submit

# ---- stand-in Slurm commands --------------------------------------------------------------------
fake=$tmp/fake-slurm
mkdir -p "$fake"
cat >"$fake/sbatch" <<'EOF'
#!/bin/bash
# records every call; --test-only accepts, --parsable prints a job id
echo "sbatch $*" >>"$FAKE_LOG"
for a in "$@"; do [ "$a" = --test-only ] && { echo "sbatch: Job 1 to start now" >&2; exit 0; }; done
n=$(grep -c '^sbatch .*--parsable' "$FAKE_LOG")
echo "$((100 + n))"
EOF
printf '#!/bin/bash\necho "$(basename "$0") $*" >>"$FAKE_LOG"\nexit 0\n' >"$fake/scontrol"
cp "$fake/scontrol" "$fake/squeue"
cp "$fake/scontrol" "$fake/scancel"
chmod +x "$fake"/*
export FAKE_LOG=$tmp/slurm.log PATH=$fake:$PATH
: >"$FAKE_LOG"

cat >"$tmp/rn.ini" <<EOF
$(tiny_resnet_model)
layers = layer2,layer3,layer4
[data]
list = $src/data/synthetic/images.txt
labels = $src/data/synthetic/labels.txt
offset = 1
limit = 6
$(small_cpu_sections)
EOF
"$bin" --config "$tmp/rn.ini" --set "output.file=$tmp/full.h5" >/dev/null 2>"$tmp/full.err"
rc=$?
check "unsharded run: $(tail -n 1 "$tmp/full.err")" [ $rc -eq 0 ]

# ---- 1. newlines are refused ------------------------------------------------------------------
evil="$tmp/cfg"$'\n'"touch INJECTED"$'\n'"x.ini"   # submit runs in $tmp
cp "$tmp/rn.ini" "$evil"
refused() {   # refused <case> <needle> <submit args...>: exit 1, one line, nothing written or submitted
    local what=$1 needle=$2
    shift 2
    : >"$FAKE_LOG"
    (cd "$tmp" && bash "$submit" "$@" >"$tmp/r.out" 2>"$tmp/r.err")
    local rc=$?
    check "$what: exit 1 ($rc), one line: $(head -c 300 "$tmp/r.err")" [ $rc -eq 1 -a "$(wc -l <"$tmp/r.err")" -eq 1 ]
    check "... says why" grep -q "$needle" "$tmp/r.err"
    check "... nothing submitted" [ ! -s "$FAKE_LOG" ]
}
refused "config name with a newline" "holds a newline" "$evil" --shards 2 --run-dir "$tmp/r1"
check "... no run folder" [ ! -e "$tmp/r1" ]
refused "--set with a newline" "holds a newline" "$tmp/rn.ini" --shards 2 --run-dir "$tmp/r2" \
    --set $'data.limit=4\ntouch INJECTED'
refused "--run-dir with a newline" "holds a newline" "$tmp/rn.ini" --shards 2 --run-dir "$tmp/r3"$'\n'"x"
refused "--sbatch option with a tab" "control character" "$tmp/rn.ini" --shards 2 --run-dir "$tmp/r4" \
    --sbatch $'--comment=a\tb'
check "no injected command ran" [ ! -e "$tmp/INJECTED" ]

# ---- 2. paths with spaces and shell characters ------------------------------------------------
wd="$tmp/work dir"
run="$tmp/run #1 it's \$HOME"
cfg="$tmp/my config's #2.ini"
mkdir -p "$wd"
cp "$tmp/rn.ini" "$cfg"
: >"$FAKE_LOG"
(cd "$wd" && bash "$submit" "$cfg" --shards 3 --run-dir "$run" --sbatch "--comment=a b#c" >"$tmp/s.out" 2>"$tmp/s.err")
rc=$?
check "submit with spaces, '#', quotes and \$ in the paths: exit 0 ($(tail -n 1 "$tmp/s.err"))" [ $rc -eq 0 ]
check "... submitted the array and the merge job" [ "$(grep -c -- '--parsable' "$FAKE_LOG")" -eq 2 ]
for f in shard merge; do
    check "$f.sbatch passes bash -n" bash -n "$run/$f.sbatch"
done

# slurm_args LINE: the arguments of one "#SBATCH ..." line as sbatch 22.05 reads them, one per
# line: a port of get_argument() in Slurm's src/sbatch/opt.c. An argument runs while quoted or not
# at a space (so outside quotes a space ends it even after a backslash); a backslash copies the
# next character; '...' and "..." group; an unescaped '#' outside quotes ends the line.
slurm_args() {
    local s=${1#\#SBATCH} out c q="" esc=0 i=0 n
    n=${#s}
    while :; do
        while [ $i -lt $n ] && [[ ${s:i:1} == [[:space:]] ]]; do i=$((i + 1)); done
        [ $i -lt $n ] || return 0
        out=""
        while [ $i -lt $n ]; do
            c=${s:i:1}
            [ -n "$q" ] || [[ $c != [[:space:]] ]] || break
            i=$((i + 1))
            if [ $esc = 1 ]; then esc=0
            elif [ "$c" = '\' ]; then esc=1; continue
            elif [ -n "$q" ]; then [ "$c" != "$q" ] || { q=""; continue; }
            elif [ "$c" = '"' ] || [ "$c" = "'" ]; then q=$c; continue
            elif [ "$c" = '#' ]; then i=$n; break
            fi
            out+=$c
        done
        [ -z "$out" ] || printf '%s\n' "$out"
    done
}
sbatch_opts() { grep '^#SBATCH' "$1" | while IFS= read -r line; do slurm_args "$line"; done; }
sbatch_opts "$run/shard.sbatch" >"$tmp/shard.opts"
sbatch_opts "$run/merge.sbatch" >"$tmp/merge.opts"
has_opt() { grep -qxF -- "$2" "$1"; }
check "shard.sbatch: --chdir is the working folder" has_opt "$tmp/shard.opts" "--chdir=$wd"
check "shard.sbatch: --output in the run folder" has_opt "$tmp/shard.opts" "--output=$run/logs/shard_%a.%A.out"
check "shard.sbatch: --job-name of the config" has_opt "$tmp/shard.opts" "--job-name=pc-my config's #2"
check "shard.sbatch: --requeue and --signal kept" has_opt "$tmp/shard.opts" "--signal=B:USR1@120"
check "shard.sbatch: the --sbatch option as given" has_opt "$tmp/shard.opts" "--comment=a b#c"
check "merge.sbatch: --output in the run folder" has_opt "$tmp/merge.opts" "--output=$run/logs/merge.%j.out"
check "merge.sbatch: --chdir is the working folder" has_opt "$tmp/merge.opts" "--chdir=$wd"
check "merge.sbatch: no --force" bash -c "! grep -q -- '--force' \"\$1\"" _ "$run/merge.sbatch"
check "every option line reads as one argument" [ "$(grep -c '^#SBATCH' "$run/shard.sbatch")" -eq "$(wc -l <"$tmp/shard.opts")" ]

# the scripts run by hand, as the array tasks and the merge job would (in --chdir)
for i in 0 1 2; do
    (cd "$wd" && SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_JOB_ID=100 bash "$run/shard.sbatch" >"$tmp/task$i.out" 2>&1)
    rc=$?
    check "task $i of shard.sbatch exits 0 ($(tail -n 1 "$tmp/task$i.out"))" [ $rc -eq 0 ]
done
(cd "$wd" && bash "$run/merge.sbatch" >"$tmp/merge.out" 2>&1)
rc=$?
check "merge.sbatch exits 0 ($(tail -n 1 "$tmp/merge.out"))" [ $rc -eq 0 ]
out="$run/my config's #2.h5"
check "the merged file equals the unsharded run" same_data "$tmp/full.h5" "$out"
check "... and table.md was written" grep -q "^| pcampm " "$run/table.md"

# ---- 3. merge.sbatch does not replace another configuration's result ------------------------
"$bin" --config "$tmp/rn.ini" --set metrics.steps=4 --set "output.file=$tmp/other.h5" >/dev/null 2>&1
cp "$tmp/other.h5" "$out"
(cd "$wd" && bash "$run/merge.sbatch" >"$tmp/merge2.out" 2>&1)
rc=$?
check "merge.sbatch over another configuration's result: fails ($(tail -n 1 "$tmp/merge2.out"))" [ $rc -ne 0 ]
check "... saying so" grep -q "different configuration" "$tmp/merge2.out"
check "... and leaves the file as it was" cmp -s "$tmp/other.h5" "$out"
check "no injected command ran" [ ! -e "$tmp/INJECTED" -a ! -e "$wd/INJECTED" ]
finish
