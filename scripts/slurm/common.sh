# common.sh: what scripts/slurm/submit, status and resubmit share (sourced, not run).
#
# A run folder (RUN_DIR) holds everything of one sharded run on Slurm:
#   run.conf          the run's facts as bash assignments (shards, images, binary, merged output)
#   shard.sbatch      the job-array script: task i computes shard i/n into shard_<i>.h5
#   merge.sbatch      the job that joins the shard files with polycam-eval --merge
#   jobs              one line per submission: "array <jobid> <task list>" or "merge <jobid>"
#   logs/             shard_<i>.<arrayjobid>.out (appended to on requeue), merge.<jobid>.out
#   shard_<i>.h5      finished shards (shard_<i>.h5.partial and .journal while one runs)
#   table.md          the merged run's table (written by the merge job)
# The shard and merge scripts are plain sbatch files: edit them (time, memory, modules) and
# resubmit. There is no accounting database on many test clusters, so nothing here uses sacct:
# the state of a task comes from squeue/scontrol while Slurm remembers it and from the files.

pc_die() { echo "$PC_SCRIPT: $*" >&2; exit 1; }
pc_usage_error() { echo "$PC_SCRIPT: $*" >&2; echo "(see $PC_SCRIPT --help)" >&2; exit 2; }

# pc_no_control WHAT VALUE: refuses a value holding a newline or another control character. Every
# value submit takes ends up in the sbatch scripts (#SBATCH lines, comments, assignments), where a
# newline would end the line and start a shell command; printf %q shows it on one line.
pc_no_control() {
    [[ $2 != *[[:cntrl:]]* ]] ||
        pc_die "$1 $(printf '%q' "$2") holds a newline or another control character (refused: it would be written into the sbatch scripts)"
}

# pc_need_slurm: the client commands every script uses, with the reason when one is missing.
pc_need_slurm() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 ||
            pc_die "$tool not found: Slurm's client commands are not installed or not on PATH (module load slurm?)"
    done
}

# pc_find_bin: the polycam-eval to run, as an absolute path: $POLYCAM_EVAL, then PATH, then the
# installed layout (<prefix>/share/polycam-eval/slurm -> <prefix>/bin), then a source tree's build/.
pc_find_bin() {
    local here cand
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    for cand in "${POLYCAM_EVAL:-}" "$(command -v polycam-eval 2>/dev/null)" "$here/../../../bin/polycam-eval" \
                "$here/../../build/polycam-eval"; do
        if [ -n "$cand" ] && [ -x "$cand" ] && [ -f "$cand" ]; then
            echo "$(cd "$(dirname "$cand")" && pwd)/$(basename "$cand")"
            return 0
        fi
    done
    return 1
}

# pc_load_run RUN_DIR: reads RUN_DIR/run.conf (sets PC_* variables) and checks it.
pc_load_run() {
    local dir=$1
    [ -d "$dir" ] || pc_die "$dir: no such run folder"
    [ -f "$dir/run.conf" ] || pc_die "$dir: not a run folder (no run.conf; made by scripts/slurm/submit)"
    # shellcheck disable=SC1091
    source "$dir/run.conf" || pc_die "$dir/run.conf: unreadable"
    [ -n "${PC_SHARDS:-}" ] && [ -n "${PC_RUN_DIR:-}" ] || pc_die "$dir/run.conf: PC_SHARDS or PC_RUN_DIR missing"
}

# pc_h5_attr FILE NAME: an integer root attribute of a result file (also of the .partial file of a
# running shard: HDF5 file locking is turned off for this read), or nothing.
pc_h5_attr() {
    { HDF5_USE_FILE_LOCKING=FALSE h5dump -a "/$2" "$1" 2>/dev/null || true; } |
        sed -n 's/^ *(0): *\(-\{0,1\}[0-9][0-9]*\).*/\1/p' | head -n 1
}

# pc_shard_size I: images of shard I/n among list entries PC_FIRST..PC_LAST (index mod n == I).
pc_shard_size() {
    local i=$1 n=$PC_SHARDS
    local a=$PC_FIRST b=$PC_LAST
    # count of k in [a, b] with k mod n == i
    local first=$(( a + ((i - a % n) % n + n) % n ))
    [ "$first" -gt "$b" ] && { echo 0; return; }
    echo $(( (b - first) / n + 1 ))
}

# pc_job_ids KIND: the job ids of the submissions of that kind (array | merge), oldest first.
pc_job_ids() {
    [ -f "$PC_RUN_DIR/jobs" ] && awk -v k="$1" '$1 == k { print $2 }' "$PC_RUN_DIR/jobs"
}

# pc_queue_states: "<shard> <state> <reason>" for every task of this run's arrays that Slurm still
# has queued or running (squeue, one line per array task), plus "merge <state> <reason> <jobid>"
# for its merge jobs.
pc_queue_states() {
    local ids
    ids=$( (pc_job_ids array; pc_job_ids merge) | paste -sd, -)
    [ -n "$ids" ] || return 0
    { squeue -h -r -j "$ids" -o '%F %K %T %r %i' 2>/dev/null || true; } | while read -r jid task state reason full; do
        if pc_job_ids merge | grep -qx "$full"; then echo "merge $state $reason $full"
        elif [ "$task" != "N/A" ]; then echo "$task $state $reason ${jid}_$task"
        fi
    done
}

# pc_task_end_state JOBID_TASK: the end state Slurm remembers for a finished task
# (COMPLETED, FAILED, CANCELLED, TIMEOUT, ...), or nothing once it forgot the job (MinJobAge).
pc_task_end_state() {
    { scontrol show job "$1" 2>/dev/null || true; } | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1
}
