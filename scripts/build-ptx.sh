#!/usr/bin/env bash
# Compile the CUDA kernels (gan/kernels/kernels.h, through kernels.cu) to
# PTX for compute capability 7.0 and up, stamped with the source's SHA-256
# so the tests can tell a stale kernels.ptx. Needs nvcc (Debian:
# nvidia-cuda-toolkit, from non-free); `make ptx` runs it.
set -euo pipefail
cd "$(dirname "$0")/../gan/kernels"
command -v nvcc >/dev/null || { echo "build-ptx: nvcc not found (apt-get install nvidia-cuda-toolkit, from Debian's non-free)" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
nvcc -ptx -arch=compute_70 -O3 kernels.cu -o "$tmp"
{
  echo "// source sha256: $(sha256sum kernels.h | cut -d' ' -f1)"
  cat "$tmp"
} > kernels.ptx
echo "build-ptx: gan/kernels/kernels.ptx ($(grep -c '^.visible .entry' kernels.ptx) kernels, $(nvcc --version | grep -o 'release [0-9.]*'))"
