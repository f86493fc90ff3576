#!/usr/bin/env bash
# multi_gpu.sh: runs a polycam-eval configuration as N shards on the GPUs of one machine, without a
# cluster scheduler: one process per shard ([run] shard = i/N, [run] device = cuda:<i mod G>), each
# writing RUN_DIR/shard_<i>.h5, then joins them with polycam-eval --merge. Rerunning the same
# command after an interruption continues every shard from its journal.
set -uo pipefail
me=multi_gpu.sh

usage() {
    cat <<'EOF'
usage: scripts/multi_gpu.sh CONFIG.ini N [options]

Runs N shards of the configuration at once, shard i on GPU i mod G, and merges them.
options:
  --gpus G          GPUs to spread the shards over (default: those in CUDA_VISIBLE_DEVICES, else
                    the GPUs nvidia-smi lists, else N)
  --device D        cuda (default: shard i on cuda:<i mod G>) or cpu (every shard on the CPU,
                    each with an equal share of the cores unless --set run.threads=... says)
  --run-dir DIR     shard files and logs (default: runs/<config name>_<N>gpus)
  --output FILE     merged result file (default: RUN_DIR/<config name>.h5)
  --set S.K=V       configuration override for every shard (repeatable)
  -h, --help        this text
The polycam-eval used is $POLYCAM_EVAL, else the one on PATH, else the built or installed one beside it.
Exit status: 0 when merged, 1 when a shard or the merge failed (rerun to continue), 2 for a
command-line mistake.
EOF
}
die() { echo "$me: $*" >&2; exit 1; }
usage_error() { echo "$me: $*" >&2; echo "(see $me --help)" >&2; exit 2; }

config="" n="" gpus="" device=cuda run_dir="" output=""
sets=()
need() { [ $# -ge 2 ] && [ -n "$2" ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --gpus) need "$@"; gpus=$2; shift 2 ;;
        --device) need "$@"; device=$2; shift 2 ;;
        --run-dir) need "$@"; run_dir=$2; shift 2 ;;
        --output) need "$@"; output=$2; shift 2 ;;
        --set) need "$@"; sets+=(--set "$2"); shift 2 ;;
        --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            if [ -z "$config" ]; then config=$1
            elif [ -z "$n" ]; then n=$1
            else usage_error "unexpected argument '$1'"; fi
            shift ;;
    esac
done
[ -n "$config" ] && [ -n "$n" ] || usage_error "CONFIG.ini and N are required"
[[ $n =~ ^[1-9][0-9]*$ ]] || usage_error "N must be a positive integer, not '$n'"
[ "$device" = cuda ] || [ "$device" = cpu ] || usage_error "--device must be cuda or cpu, not '$device'"
[ -z "$gpus" ] || [[ $gpus =~ ^[1-9][0-9]*$ ]] || usage_error "--gpus must be a positive integer"
[ -f "$config" ] || die "$config: no such configuration file"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=""
# $POLYCAM_EVAL, PATH, a source tree's build/, an installed <prefix>/share/polycam-eval/ -> <prefix>/bin
for cand in "${POLYCAM_EVAL:-}" "$(command -v polycam-eval 2>/dev/null)" "$here/../build/polycam-eval" \
            "$here/../../bin/polycam-eval"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && [ -f "$cand" ]; then bin=$cand; break; fi
done
[ -n "$bin" ] || die "polycam-eval not found (set POLYCAM_EVAL, put it on PATH or build it)"

if [ "$device" = cuda ] && [ -z "$gpus" ]; then   # the GPUs CUDA will number 0..G-1
    if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then gpus=$(echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c .)
    else gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true); fi
    [ "${gpus:-0}" -gt 0 ] || gpus=$n
fi
name=$(basename "$config"); name=${name%.*}
run_dir=${run_dir:-runs/${name}_${n}gpus}
output=${output:-$run_dir/$name.h5}
mkdir -p "$run_dir/logs" || die "$run_dir: cannot create the run folder"

# the configuration, checked once before any shard starts
check=$("$bin" --config "$config" "${sets[@]}" --set run.shard=0/1 --check 2>&1) ||
    die "$(basename "$config") does not pass polycam-eval --check: $(echo "$check" | tail -n 1)"

threads=$(( $(nproc 2>/dev/null || echo 1) / n ))
[ "$threads" -ge 1 ] || threads=1
pids=()
stop() {   # Ctrl-C / SIGTERM: every shard stops (and can continue later)
    trap '' INT TERM
    echo "$me: stopping the $n shards; rerun the same command to continue" >&2
    kill -TERM "${pids[@]}" 2>/dev/null
    wait
    exit 1
}
trap stop INT TERM
for ((i = 0; i < n; i++)); do
    if [ "$device" = cuda ]; then dev=cuda:$((i % gpus)); extra=()
    else dev=cpu; extra=(--set "run.threads=$threads"); fi
    # the CPU's share first: a --set run.threads=... given by the user comes later and wins
    "$bin" --config "$config" "${extra[@]}" "${sets[@]}" --set "run.device=$dev" --set "run.shard=$i/$n" \
        --set "output.file=$run_dir/shard_$i.h5" >"$run_dir/logs/shard_$i.log" 2>&1 &
    pids+=($!)
    echo "shard $i/$n on $dev (pid $!, log $run_dir/logs/shard_$i.log)"
done
failed=0
for ((i = 0; i < n; i++)); do
    if ! wait "${pids[$i]}"; then
        echo "$me: shard $i/$n failed: $(grep -v '^$' "$run_dir/logs/shard_$i.log" | tail -n 1)" >&2
        failed=$((failed + 1))
    fi
done
trap - INT TERM
[ "$failed" -eq 0 ] || die "$failed of $n shards failed (logs in $run_dir/logs); rerun the same command to continue"
files=()
for ((i = 0; i < n; i++)); do files+=("$run_dir/shard_$i.h5"); done
# no --force: an existing output of another configuration is refused, never replaced (the same run's
# complete output is kept as it is)
"$bin" --merge "$output" "${files[@]}" || die "merge failed (the line above says why)"
