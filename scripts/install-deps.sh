#!/usr/bin/env bash
# Installs the Debian packages polycam-eval builds and runs with (scripts/demo.sh); with --tests
# also those only the tests use (scripts/test.sh). Does nothing when all are present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libjpeg62-turbo-dev libhdf5-dev hdf5-tools libinih-dev
      libopenblas-dev libpng-dev libzip-dev libcairo2-dev)
case "${1:-}" in
  # tests/cli/cli_slurm.sh runs scripts/slurm/ on a single-node Slurm; tools/fuzz.sh needs clang's libFuzzer
  --tests) pkgs+=(slurm-wlm munge clang-14 libclang-rt-14-dev) ;;
  "") ;;
  *) echo "usage: install-deps.sh [--tests]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
