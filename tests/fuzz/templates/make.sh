#!/usr/bin/env bash
# make.sh: rewrites shard_0.h5 and shard_1.h5, the result-file templates of fuzz_results.c, from
# tiny.ini with the polycam-eval given (default: build/polycam-eval).
# Usage: tests/fuzz/templates/make.sh [polycam-eval]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../../build/polycam-eval}
for i in 0 1; do
    rm -f "$here/shard_$i.h5" "$here/shard_$i.h5.csv"
    "$bin" --config "$here/tiny.ini" --set "run.shard=$i/2" --set "output.file=$here/shard_$i.h5" >/dev/null 2>&1
    rm -f "$here/shard_$i.h5.csv"
done
ls -l "$here"/shard_*.h5
