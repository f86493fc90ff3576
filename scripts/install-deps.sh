#!/usr/bin/env bash
# Installs the Debian packages polycam-eval builds and tests with; does nothing when all are present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libjpeg62-turbo-dev libhdf5-dev hdf5-tools libinih-dev
      libopenblas-dev libpng-dev libcairo2-dev)
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
