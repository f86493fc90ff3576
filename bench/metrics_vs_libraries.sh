#!/bin/bash
# metrics_vs_libraries.sh: seconds per map of the perturbation metrics (docs/metrics.md), polycam-eval's
# CPU backend (build/bench/bench_metrics) beside Quantus 0.6.0 and pytorch-grad-cam 1.5.7 on the same
# CPU, model, input and map, in the same run. A ratio, not an absolute time (bench/RESULTS.md).
#   bench/metrics_vs_libraries.sh [MODEL] [PYTHON]
# MODEL: synth_resnet (default) | synth_vgg; PYTHON: the venv of tools/make_metric_fixtures.py
# (default /tmp/mvenv/bin/python). Run from the repository root after a Release build in build/.
set -eu
model=${1:-synth_resnet}
py=${2:-/tmp/mvenv/bin/python}
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(git rev-parse --short HEAD) $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $model"
THREADS=$(nproc) "$py" bench/metrics_libraries.py "$model"
build/bench/bench_metrics "$model" 1
