#!/usr/bin/env bash
# fetch_gpu_deps.sh: run HERE (Debian bookworm, package registry reachable), before a device check.
# Downloads the Debian packages that polycam-eval builds and runs with but the GPU machine lacks
# (it has cmake, nvcc, cuDNN, but no inih / OpenBLAS / jpeg62 / HDF5 -dev files or hdf5-tools, and
# no network), unpacks them with dpkg -x, drops what the build does not use (docs, static libraries, LAPACK)
# and packs the tree into .deps/gpu-deps.tar.xz (about 14 MiB): unpacked, OpenBLAS alone is 35 MiB
# and the device tool carries at most 64 MiB with the working tree. bench/gpu_check.sh unpacks it
# on the GPU machine (outside the repo) and points CMake and the loader at it.
# Usage: bash bench/fetch_gpu_deps.sh        then the device call carries ".deps"
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/.deps"
# what the build links, plus what those libraries load at run time (the curl / TLS / Kerberos
# chain of Debian's HDF5, and gfortran for OpenBLAS); gpu_check.sh only puts the ones the
# machine lacks on the library path. pkgconf: CMake's FindPkgConfig needs a pkg-config binary.
pkgs=(
  libinih-dev libinih1
  libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0
  libjpeg62-turbo-dev libjpeg62-turbo
  libhdf5-dev libhdf5-103-1 libsz2 libaec0 hdf5-tools libhdf5-hl-100
  libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5 libbrotli1 libldap-2.5-0 libsasl2-2
  libsasl2-modules-db libdb5.3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1
  libcom-err2 libidn2-0 libunistring2 libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0
  libtasn1-6 libffi8 libssl3 libzstd1 zlib1g
  pkgconf pkgconf-bin libpkgconf3
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
download() { apt-get download -o APT::Sandbox::User=root "${pkgs[@]}"; }
if ! download >download.log 2>&1; then
  echo "fetch_gpu_deps: apt-get download failed; running apt-get update once"
  apt-get update -qq
  download >download.log 2>&1 || { cat download.log; exit 1; }
fi
mkdir -p root
for f in *.deb; do
  dpkg -x "$f" root
  dpkg-deb -f "$f" Package Version | paste -sd' ' >>packages.txt
done
# keep headers, shared libraries, pkg-config files, the pkgconf binary and the hdf5-tools the
# CLI tests read results with
rm -rf root/usr/share/doc root/usr/share/man root/usr/share/lintian root/usr/share/bug root/etc
find root -name '*.a' -delete
rm -f root/usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack* \
      root/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas*
find root/usr/bin -type f ! -name 'pkgconf' ! -name 'h5dump' ! -name 'h5ls' ! -name 'h5diff' \
  -delete 2>/dev/null || true
find root/usr/bin -type l ! -name 'pkg-config' -delete 2>/dev/null || true
cp packages.txt root/PACKAGES.txt
mkdir -p "$out"
rm -f "$out/gpu-deps.tar.xz"
tar -C root -cf - . | xz -6 -T2 >"$out/gpu-deps.tar.xz"
cp packages.txt "$out/PACKAGES.txt"
echo "fetch_gpu_deps: $(wc -l <packages.txt) packages -> $out/gpu-deps.tar.xz ($(du -h "$out/gpu-deps.tar.xz" | cut -f1))"
