#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets of tests/fuzz (build-fuzz/, clang, ASan + UBSan, PC_FUZZ=ON)
# and runs each one for SECONDS (default 60), one after the other, each from a copy of its
# committed corpus (tests/fuzz/corpus/<reader>) in build-fuzz/fuzz-work/<reader>/corpus, which
# keeps what the run found for the next run. Crashes, leaks, timeouts and out-of-memory inputs
# are saved as build-fuzz/fuzz-work/<reader>/crash-* (oom-*, timeout-*, leak-*): turn each into a
# reproducer under tests/fuzz/crashes/<reader>/ (docs/fuzzing.md). Prints, per target, the
# executions, exec/s, coverage (libFuzzer's cov: edges, ft: features) and the crashes; exit 1 when
# a target crashed. The one command for a long run: tools/fuzz.sh 600 (docs/fuzzing.md).
# Options: -j N runs N targets at once (nice'd; default 1), -t "a b" runs only those targets,
# -x "a b" leaves those out, -k keeps fuzzing after a crash (libFuzzer's -fork=1 -ignore_crashes:
# every crash is saved; for collecting reproducers), PC_FUZZ_CC the compiler (default clang-14,
# else clang).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=1 only="" skip="" keep=()
while getopts "j:t:x:k" o; do
    case $o in
        j) jobs=$OPTARG ;;
        t) only=$OPTARG ;;
        x) skip=$OPTARG ;;
        k) keep=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1) ;;
        *) echo "usage: tools/fuzz.sh [-j N] [-t \"target ...\"] [-x \"target ...\"] [-k] [SECONDS]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
secs=${1:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a positive integer" >&2; exit 2; }
cc=${PC_FUZZ_CC:-$(command -v clang-14 || command -v clang || true)}
[ -n "$cc" ] || { echo "fuzz.sh: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
build=$root/build-fuzz
targets=$(sed -n 's/^set(PC_FUZZ_TARGETS \(.*\))$/\1/p' "$root/tests/fuzz/CMakeLists.txt")
[ -z "$only" ] || targets=$only
for t in $skip; do targets=$(echo " $targets " | sed "s/ $t / /; s/^ *//; s/ *$//"); done

echo "== fuzz build ($cc, PC_FUZZ=ON) in $build"
mkdir -p "$build"
CC=$cc cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPC_FUZZ=ON >"$build/fuzz-cmake.log" 2>&1 ||
    { tail -n 20 "$build/fuzz-cmake.log"; exit 1; }
# shellcheck disable=SC2086
nice cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target $(printf 'fuzz_%s ' $targets) >"$build/fuzz-build.log" 2>&1 ||
    { tail -n 30 "$build/fuzz-build.log"; exit 1; }

# run_one TARGET: SECONDS of fuzzing; its log in fuzz-work/TARGET/fuzz.log
run_one() {
    local t=$1 w=$build/fuzz-work/$1
    mkdir -p "$w/corpus"
    cp -n "$root/tests/fuzz/corpus/$t"/* "$w/corpus/" 2>/dev/null
    # -rss_limit_mb / -malloc_limit_mb: an input that makes a reader take more than 2 GB is a
    # finding (readers' memory is bounded by their input); -timeout: 30 s for one input.
    # fontconfig's process-lifetime caches (the report's text) are not leaks: tests/lib/lsan.supp
    (cd "$w" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
        LSAN_OPTIONS="suppressions=$root/tests/lib/lsan.supp:print_suppressions=0" \
        nice "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -timeout=30 -print_final_stats=1 "${keep[@]}" -artifact_prefix="$w/" "$w/corpus" >"$w/fuzz.log" 2>&1)
    echo $? >"$w/rc"
}

echo "== fuzzing: $(echo $targets | wc -w) targets, $secs s each, $jobs at once ($(date -u +%FT%TZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null))"
running=0
for t in $targets; do
    rm -f "$build/fuzz-work/$t/rc"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

status=0
printf '%-12s %12s %8s %7s %7s %8s  %s\n' target executions exec/s cov ft corpus result
for t in $targets; do
    w=$build/fuzz-work/$t log=$build/fuzz-work/$t/fuzz.log
    rc=$(cat "$w/rc" 2>/dev/null || echo 1)
    # the closing stats (-print_final_stats), else (-k: fork mode) the last status line "#N: cov: ..."
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    [ -n "$eps" ] || eps=$(sed -n 's/.* exec\/s:\{0,1\} \([0-9]*\).*/\1/p' <<<"$last")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\(\/[0-9a-zA-Z]*\)\{0,1\}\).*/\1/p' <<<"$last")
    result=ok
    if [ "$rc" != 0 ]; then
        result="FAILED (exit $rc): $(grep -m 1 -E '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$log" | head -c 200)"
        status=1
    fi
    printf '%-12s %12s %8s %7s %7s %8s  %s\n' "$t" "${runs:--}" "${eps:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$result"
    [ "$rc" = 0 ] || { echo "   log: $log"; ls "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-* 2>/dev/null | sed 's/^/   artifact: /'; }
done
exit $status
