#!/usr/bin/env bash
# cli_layers.sh: tools/check_layers.sh passes on the source tree, and fails, naming the file, line
# and layers, on a copy with an include added on purpose that runs up the layers (util includes a
# report header), one between two folders of the same line (cpu includes a cuda header), a CMake
# link to a higher layer, and an include circle between two headers. Then the build itself: a
# file of util/ that includes a header of report/ does not compile with util's include path.
# Usage: bash cli_layers.sh <polycam-eval binary> <source dir>
source "$(dirname "$0")/../lib/cli_common.sh"

check "the source tree passes" "$src/tools/check_layers.sh" "$src"

# a copy of what the script reads
fresh() {
    rm -rf "$tmp/tree"
    mkdir -p "$tmp/tree"
    cp -r "$src/host" "$src/cuda" "$tmp/tree/"
}
expect_fail() {   # <description> <pattern of the violation line>
    local out rc=0
    out=$("$src/tools/check_layers.sh" "$tmp/tree" 2>&1) || rc=$?
    check "$1: exit 1 (got $rc)" test "$rc" -eq 1
    check "$1: names it ($out)" grep -q -- "$2" <<<"$out"
}

fresh
sed -i '0,/#include "common.h"/s//#include "common.h"\n#include "report.h"/' "$tmp/tree/host/util/common.c"
expect_fail "upward include" 'host/util/common.c:[0-9]*: includes report.h of report, which is above util'

fresh
echo '#include "cuda_backend.h"' >>"$tmp/tree/host/cpu/cpu_ops.c"
expect_fail "same-line include" 'host/cpu/cpu_ops.c:[0-9]*: includes cuda_backend.h of cuda, which is on the same line as cpu'

fresh
sed -i 's/^pc_layer(input DEPS /pc_layer(input DEPS pc_results /' "$tmp/tree/host/CMakeLists.txt"
expect_fail "upward link" 'pc_input links pc_results, which is not below it'

fresh
printf '#include "stop.h"\n' >>"$tmp/tree/host/util/progress.h"
printf '#include "progress.h"\n' >>"$tmp/tree/host/util/stop.h"
expect_fail "include circle" 'include circle: .*progress.h.*stop.h'

# The build: util's include path holds util/ alone, so an upward include does not even compile.
if command -v cc >/dev/null; then
    printf '#include "report.h"\n' >"$tmp/up.c"
    check "util's include path does not reach report/" \
        bash -c "! cc -fsyntax-only -I'$src/host/util' '$tmp/up.c' 2>/dev/null"
    printf '#include "common.h"\n#include "stop.h"\n' >"$tmp/ok.c"
    check "util's include path reaches util/" cc -fsyntax-only -I"$src/host/util" "$tmp/ok.c"
fi
finish
