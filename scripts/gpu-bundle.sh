#!/usr/bin/env bash
# Build .gpu/ganstudio-cuda: the GPU worker as one file that runs on a GPU
# machine with no Go and another CUDA (the lent H200 machines have CUDA 13
# and no Go; Debian gives us CUDA 11.8). Carry .gpu there and run
# scripts/gpu-check.sh, which finds the machine's own cuBLAS.
#
# Two things make it portable: no OpenBLAS (pure-Go BLAS for the CPU side;
# the machine may lack the library), and cuBLAS linked against a stub with
# unversioned symbols and the soname libcublas.so, so the binary takes
# whichever libcublas.so.N the machine has (the real library's symbols
# are versioned per major release, which would tie the binary to 11).
# The driver API (libcuda.so.1) comes with every NVIDIA driver.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f /usr/include/cuda.h ] || { echo "gpu-bundle: no CUDA headers (make check-cuda installs them)" >&2; exit 1; }
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
# The cuBLAS functions the gpu build calls or references.
go build -tags gpu -o "$stub/ref" ./cmd/ganstudio
nm -D --undefined-only "$stub/ref" | awk '/@libcublas/ { sub(/@.*/, "", $2); print "void " $2 "(void) {}" }' | sort -u > "$stub/stub.c"
gcc -shared -fPIC -Wl,-soname,libcublas.so -o "$stub/libcublas.so" "$stub/stub.c"
mkdir -p .gpu
CGO_LDFLAGS="-L$stub" go build -tags gpu -ldflags="-s -w" -o .gpu/ganstudio-cuda ./cmd/ganstudio
if nm -D --undefined-only .gpu/ganstudio-cuda | grep '@libcublas' >/dev/null; then
  echo "gpu-bundle: the binary still names a cuBLAS version" >&2
  exit 1
fi
echo "gpu-bundle: .gpu/ganstudio-cuda ($(du -h .gpu/ganstudio-cuda | cut -f1)); needs $(readelf -d .gpu/ganstudio-cuda | grep -o 'NEEDED.*' | grep -o '\[.*\]' | tr '\n' ' ')"
