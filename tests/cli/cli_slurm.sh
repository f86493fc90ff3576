#!/usr/bin/env bash
# cli_slurm.sh: scripts/slurm/{submit,status,resubmit} on a real Slurm. Starts Debian's slurm-wlm
# as a single-node cluster on localhost (munged with a generated key, slurmctld and slurmd from a
# generated slurm.conf: proctrack/linuxproc, task/none, select/cons_tres, state in a temporary
# folder, its own ports), then:
#   1. bad input (sbatch missing, a partition that does not exist, a configuration that fails
#      --check, a gres the node lacks, a configuration name with a newline) is refused before
#      anything is submitted;
#   2. a 3-shard array plus its merge job (run folder with a space and a '#') gives the same
#      datasets and table as the unsharded run;
#   3. a task requeued in the middle of its run (scontrol requeue) continues from its journal and
#      the merged file is still identical; status shows the task's images done / total meanwhile;
#   4. a task cancelled in the middle (scancel) is reported by status, and resubmit sbatches that
#      shard alone plus a new merge job, which completes the run, identical again.
# Slurm that cannot start is a failure with the reason, never a skip. Needs root (SlurmUser=root),
# as in CI. Plumbing test: tiny_resnet, 30 list entries (10 per shard) at 64 x 64, 8 curve steps.
# Usage: bash cli_slurm.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"
need_tools h5diff h5dump
export PATH=$PATH:/usr/sbin:/sbin
export POLYCAM_EVAL=$bin
slurm=$src/scripts/slurm

die() {   # a failure that ends the test, with the reason
    echo "FAIL: $*"
    fail=$((fail + 1))
    finish
}
for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    command -v "$tool" >/dev/null ||
        die "$tool not found: Slurm cannot start (scripts/install-deps.sh installs slurm-wlm and munge)"
done
[ "$(id -u)" -eq 0 ] || die "the single-node Slurm of this test runs its daemons as root (SlurmUser=root), as CI does; run it as root"

# ---- the cluster ------------------------------------------------------------------------------
for v in ${!SLURM_@}; do unset "$v"; done     # nothing from an enclosing Slurm job
cl=$tmp/cluster
mkdir -p "$cl/munge" "$cl/ctld" "$cl/spool"
chmod 711 "$cl/munge"
daemons=()
cleanup() {
    if [ ${#daemons[@]} -gt 0 ]; then
        scancel -u "$(id -un)" 2>/dev/null
        for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
        local i
        for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do     # slurmd, slurmctld, then munged
            kill -TERM "${daemons[$i]}" 2>/dev/null
            for _ in $(seq 50); do kill -0 "${daemons[$i]}" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "${daemons[$i]}" 2>/dev/null
            wait "${daemons[$i]}" 2>/dev/null
        done
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
logs() { for f in "$cl"/*.log "$cl/munge/munged.log"; do [ -f "$f" ] && echo "--- $f" && tail -n 8 "$f"; done; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=$((20000 + RANDOM % 20000))
while port_busy $port || port_busy $((port + 1)); do port=$((port + 2)); done

mungekey -c -k "$cl/munge/munge.key" 2>"$cl/mungekey.err" || die "mungekey: $(cat "$cl/mungekey.err")"
chmod 600 "$cl/munge/munge.key"
munged -F --force --socket="$cl/munge/sock" --key-file="$cl/munge/munge.key" --pid-file="$cl/munge/pid" \
    --log-file="$cl/munge/munged.log" --seed-file="$cl/munge/seed" 2>"$cl/munged.err" &
daemons+=($!)
wait_for 120 "munged's socket" "${daemons[-1]}" test -S "$cl/munge/sock" ||
    die "munged did not start: $(cat "$cl/munged.err"; tail -n 2 "$cl/munge/munged.log" 2>/dev/null)"

node=$(slurmd -C 2>/dev/null | head -n 1 | sed 's/^NodeName=[^ ]* //')
[[ $node == CPUs=* ]] || die "slurmd -C does not describe this machine: $(slurmd -C 2>&1 | head -n 1)"
cat >"$cl/slurm.conf" <<EOF
ClusterName=pctest
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits cred_expire + 1 s before it may start again (default 120)
AuthInfo=socket=$cl/munge/sock,cred_expire=5
StateSaveLocation=$cl/ctld
SlurmdSpoolDir=$cl/spool
SlurmctldPidFile=$cl/slurmctld.pid
SlurmdPidFile=$cl/slurmd.pid
SlurmctldLogFile=$cl/slurmctld.log
SlurmdLogFile=$cl/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
KillWait=10
NodeName=localhost NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$cl/slurm.conf
slurmctld -D -c >"$cl/slurmctld.err" 2>&1 &
daemons+=($!)
ctld_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }
wait_poll=0.2 wait_for 120 "slurmctld to answer" "${daemons[-1]}" ctld_up ||
    die "slurmctld did not start: $(cat "$cl/slurmctld.err"; logs)"
slurmd -D -N localhost >"$cl/slurmd.err" 2>&1 &
daemons+=($!)
node_idle() { [ "$(sinfo -h -n localhost -o %t 2>/dev/null)" = idle ]; }
wait_poll=0.2 wait_for 120 "slurmd to register the node" "${daemons[-1]}" node_idle ||
    die "slurmd did not register (node state '$(sinfo -h -n localhost -o %t 2>&1)'): $(cat "$cl/slurmd.err"; logs)"
echo "single-node Slurm up on ports $port, $((port + 1)): $(sinfo -h -o '%P %D %c CPUs %t')"

# ---- the run ----------------------------------------------------------------------------------
for k in 1 2; do cat "$src/data/synthetic/images.txt"; done | head -n 30 >"$tmp/list.txt"
cat >"$tmp/run.ini" <<EOF
$(tiny_resnet_model)
layers = layer2,layer3,layer4
[data]
root = $src/data/synthetic
list = $tmp/list.txt
labels = $src/data/synthetic/labels.txt
[preprocess]
size = 224
[metrics]
steps = 8
[run]
device = cpu
threads = 1
EOF
# 224 x 224 (not the 64 of the other tests): a shard of 10 images takes about 4 s instead of 0.3 s,
# the window in which freeze (below) must catch it in the middle of its run, also under load.
"$bin" --config "$tmp/run.ini" --set "output.file=$tmp/full.h5" >"$tmp/full.out" 2>"$tmp/full.err"
rc=$?
check "unsharded run: $(tail -n 1 "$tmp/full.err")" [ $rc -eq 0 ]
[ $rc -eq 0 ] || finish

# check_wait DESCRIPTION SECONDS RUN_DIR COMMAND...: one assertion that COMMAND succeeds in time
# (wait_for); on failure the run's status, logs and the queue are shown
check_wait() {
    local desc=$1 secs=$2 run=$3
    shift 3
    if wait_poll=0.1 wait_for "$secs" "$desc" - "$@"; then check "$desc" true; else diagnose "$run"; fi
}
merged() { [ -f "$1/table.md" ]; }
queue_empty() { [ -z "$(squeue -h)" ]; }
# same_table FILE: the table rows of FILE equal those of the unsharded run
same_table() { diff <(grep '^|' "$tmp/full.out") <(grep '^|' "$1") >/dev/null; }
diagnose() { "$slurm/status" "$1"; tail -n 5 "$1"/logs/*; squeue; }
# caught_or_done RUN SHARD: the shard's journal holds a record, or the shard has finished
caught_or_done() { has_records "$1/shard_$2.h5.journal" 1 || [ -e "$1/shard_$2.h5" ]; }
# freeze RUN SHARD [polycam-eval]: once the task of SHARD has stored an image, stop its processes
# (SIGSTOP; only polycam-eval when asked) so the next step finds it in the middle of its run; prints
# the records it had stored. The pids are left in RUN/frozen_<SHARD>.pids.
freeze() {
    local j=$1/shard_$2.h5.journal task id p
    # a tight loop: the window is one shard's run; a shard that finished first fails at once
    wait_poll=0.02 wait_for 600 "shard $2 of $1 to store an image" - caught_or_done "$1" "$2" >&2 || return 1
    if [ -e "$1/shard_$2.h5" ]; then
        echo "shard $2 of $1 finished before it could be caught in the middle of its run" >&2
        return 1
    fi
    task=$(awk '$1 == "array" { print $2 }' "$1/jobs")_$2
    id=$(squeue -h -j "$task" -o %A)      # the task's own job id: listpids takes no array syntax
    scontrol listpids "$id" 2>"$1/frozen_$2.err" | awk '$1 ~ /^[0-9]+$/ { print $1 }' >"$1/frozen_$2.pids"
    if [ -n "${3:-}" ]; then
        for p in $(cat "$1/frozen_$2.pids"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = "$3" ] && echo "$p"; done >"$1/frozen_$2.only"
        mv "$1/frozen_$2.only" "$1/frozen_$2.pids"
    fi
    [ -s "$1/frozen_$2.pids" ] || { echo "scontrol listpids $id ($task) lists no process${3:+ named $3}: $(cat "$1/frozen_$2.err")" >&2; return 1; }
    xargs kill -STOP <"$1/frozen_$2.pids"
    journal_records "$j"
}

# ---- 1. bad input: refused before anything is submitted ---------------------------------------
mkdir -p "$tmp/nobin"
for t in bash dirname basename realpath cat; do ln -s "$(command -v $t)" "$tmp/nobin/$t"; done
PATH=$tmp/nobin "$tmp/nobin/bash" "$slurm/submit" "$tmp/run.ini" --shards 3 --run-dir "$tmp/b0" >/dev/null 2>"$tmp/b0.err"
rc=$?
check "sbatch missing: exit 1 ($(cat "$tmp/b0.err"))" [ $rc -eq 1 ]
check "... says so" grep -q "sbatch not found" "$tmp/b0.err"
"$slurm/submit" "$tmp/run.ini" --shards 3 --partition nosuch --run-dir "$tmp/b1" >/dev/null 2>"$tmp/b1.err"
rc=$?
check "unknown partition: exit 1 ($(cat "$tmp/b1.err"))" [ $rc -eq 1 ]
check "... names it" grep -q "partition 'nosuch' does not exist" "$tmp/b1.err"
"$slurm/submit" "$tmp/run.ini" --shards 3 --set metrics.steps=0 --run-dir "$tmp/b2" >/dev/null 2>"$tmp/b2.err"
rc=$?
check "configuration failing --check: exit 1 ($(cat "$tmp/b2.err"))" [ $rc -eq 1 ]
check "... with polycam-eval's reason" grep -q "does not pass polycam-eval --check: .*\[metrics\] steps" "$tmp/b2.err"
"$slurm/submit" "$tmp/run.ini" --shards 3 --gres gpu:1 --run-dir "$tmp/b3" >/dev/null 2>"$tmp/b3.err"
rc=$?
check "a gres the node lacks: exit 1 ($(cat "$tmp/b3.err"))" [ $rc -eq 1 ]
check "... sbatch's reason" grep -q "sbatch refuses the job" "$tmp/b3.err"
cp "$tmp/run.ini" "$tmp/x"$'\n'"touch INJECTED"$'\n'".ini"
(cd "$tmp" && "$slurm/submit" "$tmp/x"$'\n'"touch INJECTED"$'\n'".ini" --shards 3 --run-dir "$tmp/b5" >/dev/null 2>"$tmp/b5.err")
rc=$?
check "a configuration name with a newline: exit 1, one line ($(cat "$tmp/b5.err"))" [ $rc -eq 1 -a "$(wc -l <"$tmp/b5.err")" -eq 1 ]
check "... nothing injected" [ ! -e "$tmp/INJECTED" -a ! -e "$tmp/b5" ]
"$slurm/submit" "$tmp/run.ini" --shards 0 >/dev/null 2>"$tmp/b4.err"
rc=$?
check "--shards 0: exit 2 ($(head -n 1 "$tmp/b4.err"))" [ $rc -eq 2 ]
check "nothing was submitted" queue_empty
check "no run folder was left" [ ! -e "$tmp/b1" -a ! -e "$tmp/b2" -a ! -e "$tmp/b3" ]

# ---- 2. array + merge = the unsharded run -----------------------------------------------------
r1="$tmp/run 1 #a"   # a space and a '#': quoted in the #SBATCH lines (--output, --chdir)
"$slurm/submit" "$tmp/run.ini" --shards 3 --run-dir "$r1" >"$tmp/s1.out" 2>&1
rc=$?
check "submit exits 0: $(tail -n 4 "$tmp/s1.out" | head -n 1)" [ $rc -eq 0 ]
check "... one array and one merge job recorded" [ "$(awk '{ print $1 }' "$r1/jobs" | tr '\n' ' ')" = "array merge " ]
check "... the run folder keeps the sbatch files" [ -f "$r1/shard.sbatch" -a -f "$r1/merge.sbatch" ]
check "... the merge job waits for the array" \
    grep -q "Dependency=afterok:$(awk '$1 == "array" { print $2 }' "$r1/jobs")" <<<"$(scontrol show job "$(awk '$1 == "merge" { print $2 }' "$r1/jobs")")"
check_wait "run 1 ends merged" 600 "$r1" merged "$r1"
check "merged file equals the unsharded run (h5diff /images, /methods)" same_data "$tmp/full.h5" "$r1/run.h5"
check "table.md equals the unsharded run's table" same_table "$r1/table.md"
for i in 0 1 2; do
    check "shard $i stored as shard = $i/3" grep -q "^shard = $i/3$" <<<"$(h5attr "$r1/shard_$i.h5" config)"
done
"$slurm/status" "$r1" >"$tmp/st1" 2>&1
check "status: every shard finished, 30/30 images ($(grep '^all' "$tmp/st1"))" grep -q "^all .*3 of 3 shards finished .* 30/30" "$tmp/st1"
check "status: shard 1 has 10/10" grep -q "^1 .*finished .* 10/10" "$tmp/st1"
check "status: names the merged file" grep -q "^merged: $r1/run.h5" "$tmp/st1"
"$slurm/submit" "$tmp/run.ini" --shards 3 --run-dir "$r1" >/dev/null 2>"$tmp/again.err"
check "submitting into a used run folder is refused ($(cat "$tmp/again.err"))" grep -q "already holds a run" "$tmp/again.err"

# ---- 3. a task requeued in the middle of its run ----------------------------------------------
r2=$tmp/r2
"$slurm/submit" "$tmp/run.ini" --shards 3 --run-dir "$r2" >"$tmp/s2.out" 2>&1
rc=$?
check "submit (run 2) exits 0" [ $rc -eq 0 ]
n=$(freeze "$r2" 1)
rc=$?
check "shard 1 caught in the middle of its run ($n of 10 images stored)" [ $rc -eq 0 -a "${n:-0}" -ge 1 -a "${n:-0}" -lt 10 ]
check "... not finished" [ ! -e "$r2/shard_1.h5" ]
# shard 2 gets the signal Slurm sends before the time limit (USR1 to the batch script alone); its
# polycam-eval is held (SIGSTOP) until the script has the signal (whether the task started with
# shard 1 or after shard 0)
n=$(freeze "$r2" 2 polycam-eval)
rc=$?
check "shard 2 caught in the middle of its run ($n of 10 images stored)" [ $rc -eq 0 -a "${n:-0}" -ge 1 -a "${n:-0}" -lt 10 ]
"$slurm/status" "$r2" >"$tmp/st2" 2>&1
check "status shows shard 1 running with images done / 10 ($(grep '^1 ' "$tmp/st2"))" grep -Eq "^1 +running .* [0-9]/10 " "$tmp/st2"
a2=$(awk '$1 == "array" { print $2 }' "$r2/jobs")
scontrol requeue "${a2}_1" 2>"$tmp/rq.err"
rc=$?
check "scontrol requeue ${a2}_1 ($(cat "$tmp/rq.err"))" [ $rc -eq 0 ]
scancel --batch --signal=USR1 "${a2}_2" 2>"$tmp/usr1.err"
rc=$?
check "scancel --batch --signal=USR1 ${a2}_2 ($(cat "$tmp/usr1.err"))" [ $rc -eq 0 ]
# the script passes the signal on to its polycam-eval (SIGTERM), which keeps it pending while held
pc2=$(for p in $(cat "$r2/frozen_2.pids"); do echo "$p"; done | head -n 1)
wait_for 120 "shard 2's script to pass SIGUSR1 on as SIGTERM (pending in polycam-eval $pc2)" - signal_pending "$pc2" 15
xargs kill -CONT <"$r2/frozen_2.pids"
check_wait "run 2 ends merged" 600 "$r2" merged "$r2"
log=$(ls "$r2"/logs/shard_1.*.out 2>/dev/null | head -n 1)
check "shard 1 ran again after the requeue" grep -q "restart 1" "$log"
check "... and continued from its journal ($(grep -m 1 '^resuming' "$log"))" grep -q "^resuming .*images already done" "$log"
log=$(ls "$r2"/logs/shard_2.*.out 2>/dev/null | head -n 1)
check "shard 2 requeued itself on the time-limit signal" grep -q "time limit near: requeueing" "$log"
check "... ran again ($(grep 'exited with' "$log" | head -n 1))" grep -q "restart 1" "$log"
check "... and continued from its journal ($(grep -m 1 '^resuming' "$log"))" grep -q "^resuming .*images already done" "$log"
check "merged file still equals the unsharded run" same_data "$tmp/full.h5" "$r2/run.h5"
check "... and its table" same_table "$r2/table.md"

# ---- 4. a task cancelled in the middle, then resubmit -----------------------------------------
r3=$tmp/r3
"$slurm/submit" "$tmp/run.ini" --shards 3 --run-dir "$r3" >"$tmp/s3.out" 2>&1
rc=$?
check "submit (run 3) exits 0" [ $rc -eq 0 ]
a3=$(awk '$1 == "array" { print $2 }' "$r3/jobs")
m3=$(awk '$1 == "merge" { print $2 }' "$r3/jobs")
n=$(freeze "$r3" 1)
rc=$?
check "shard 1 caught in the middle of its run ($n of 10 images stored)" [ $rc -eq 0 -a "${n:-0}" -ge 1 -a "${n:-0}" -lt 10 ]
scancel "${a3}_1"
only_merge_left() { [ "$(squeue -h -o %i)" = "$m3" ]; }
check_wait "shards 0 and 2 finish, the merge job stays pending" 600 "$r3" only_merge_left
"$slurm/status" "$r3" >"$tmp/st3" 2>&1
check "status reports shard 1 cancelled ($(grep '^1 ' "$tmp/st3"))" grep -Eq "^1 +not queued, CANCELLED: resubmit" "$tmp/st3"
check "status: 2 of 3 shards finished" grep -q "^all .*2 of 3 shards finished" "$tmp/st3"
check "status: the merge job waits ($(grep '^merge' "$tmp/st3"))" grep -q "^merge job $m3: pending (Dependency" "$tmp/st3"
check "status: says to resubmit" grep -q "^1 shard(s) neither finished nor queued (the merge cannot run): .*resubmit $r3" "$tmp/st3"
"$slurm/resubmit" "$r3" >"$tmp/rs.out" 2>&1
rc=$?
check "resubmit exits 0 ($(head -n 1 "$tmp/rs.out"))" [ $rc -eq 0 ]
check "... resubmits shard 1 alone" grep -q "^resubmitted shard(s) 1 as array job" "$tmp/rs.out"
check "... cancels the old merge job" grep -q "cancelled the old merge job $m3" "$tmp/rs.out"
check_wait "run 3 ends merged" 600 "$r3" merged "$r3"
log=$(ls -t "$r3"/logs/shard_1.*.out | head -n 1)
check "the resubmitted shard continued from its journal" grep -q "^resuming .*images already done" "$log"
check "merged file equals the unsharded run" same_data "$tmp/full.h5" "$r3/run.h5"
check "... and its table" same_table "$r3/table.md"
"$slurm/resubmit" "$r3" >"$tmp/rs2.out" 2>&1
check "resubmit of a finished run: nothing to do ($(cat "$tmp/rs2.out"))" grep -q "^nothing to resubmit" "$tmp/rs2.out"
check_wait "no job left in the queue" 120 "$r3" queue_empty
finish
