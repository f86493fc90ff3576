#!/usr/bin/env bash
# metrics_loc.sh: seconds per image of the localisation, avg-sensitivity and independent
# randomisation metrics (docs/metrics-localisation-randomisation.md), polycam-eval's CPU backend
# (build/bench/bench_metrics_loc) beside Quantus 0.6.0 on the same inputs, one after the other in
# one run, one thread each; CPU seconds (process time), so a loaded machine still gives the ratio.
# Usage: bash bench/metrics_loc.sh [build dir] [python of the venv of tools/make_metric_fixtures2.py]
#        (checkouts as in that tool: /tmp/torchcam, /tmp/zoomcam, /tmp/polycam_ref, /tmp/torchray)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
py=${2:-/tmp/qvenv/bin/python}
ours=$(PC_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/bench/bench_metrics_loc")
theirs=$(OMP_NUM_THREADS=1 "$py" "$here/bench_metrics_loc_quantus.py" --torchcam /tmp/torchcam --zoomcam /tmp/zoomcam \
         --polycam /tmp/polycam_ref --torchray /tmp/torchray/benchmark/pointing_game.py 2>/dev/null)
echo "$ours"
echo "$theirs"
echo
echo "| metric | polycam-eval s | Quantus 0.6.0 s | ratio |"
echo "|---|---:|---:|---:|"
join <(echo "$ours" | awk '{ k = $1; if ($1 != "localisation") k = k "/" $2; print k, ($1 == "localisation" ? $2 : $3) }' | sort) \
     <(echo "$theirs" | awk '$1 != "torchray_pointing" { k = $1; if ($1 != "localisation") k = k "/" $2; print k, ($1 == "localisation" ? $2 : $3) }' | sort) |
    awk '{ printf "| %s | %.3g | %.3g | %.1fx |\n", $1, $2, $3, $3 / $2 }'
