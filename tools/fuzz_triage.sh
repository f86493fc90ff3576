#!/usr/bin/env bash
# fuzz_triage.sh: one line per crash, leak, timeout or out-of-memory input that tools/fuzz.sh saved
# for a target: the input, the sanitizer's verdict and the first frame in polycam-eval's own code
# (host/, not the harness), so that inputs with the same cause can be grouped before they become
# reproducers under tests/fuzz/crashes/<target>/ (docs/fuzzing.md).
# Usage: tools/fuzz_triage.sh TARGET [FOLDER (default build-fuzz/fuzz-work/TARGET)]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
t=${1:?usage: tools/fuzz_triage.sh TARGET [FOLDER]}
dir=${2:-$root/build-fuzz/fuzz-work/$t}
exe=$root/build-fuzz/tests/fuzz/fuzz_$t
[ -x "$exe" ] || { echo "fuzz_triage.sh: $exe not built (tools/fuzz.sh builds it)" >&2; exit 1; }
for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
    [ -f "$f" ] || continue
    out=$(ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$root/tests/lib/lsan.supp:print_suppressions=0" \
          timeout 120 "$exe" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=30 "$f" 2>&1)
    kind=$(grep -m 1 -oE 'ERROR: [A-Za-z]+: [a-z-]+( [a-z-]+)?|runtime error: [^(]*|libFuzzer: (out-of-memory|timeout|deadly signal)' <<<"$out")
    frame=$(grep -E "#[0-9]+ .* in [A-Za-z_0-9]+ $root/host/" <<<"$out" |
            grep -vE ' in (pc_xmalloc|pc_xcalloc|pc_die) ' | head -n 1 | sed -E "s|.* in ([A-Za-z_0-9]+) $root/(.*)|\\1 \\2|")
    printf '%s | %s | %s\n' "$(basename "$f")" "${kind:-no error now}" "${frame:--}"
done | sort -t '|' -k 3
