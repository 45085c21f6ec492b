#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and its driver: check that the GPU
# worker's training step gives the CPU engine's losses and weight updates
# from the same weights and data (the plain DCGAN, then the studio's engine
# with augmentation and the weight average), and print the ref32 bench on
# both devices and at batch 256, then the studio's engine at 64, 128 and
# 256 px on the GPU. A few minutes.
#
# Where Go and the CUDA headers are, it builds bin/ganstudio and
# bin/ganstudio-cuda (and the PTX, where nvcc is). Where they are not (the
# lent GPU machines have CUDA 13 and no Go), it runs .gpu/ganstudio-cuda,
# made by scripts/gpu-bundle.sh and carried over, with the machine's own
# cuBLAS; its CPU figures are then pure-Go BLAS (no OpenBLAS there).
#
# GPU_CHECK_DEVICE, GPU_CHECK_BIN and GPU_CHECK_PRESET (cuda, the binary
# above, ref32) let the script be tried without a GPU on the emulator: a
# binary built with -tags emu, device emu, preset tiny.
set -euo pipefail
cd "$(dirname "$0")/.."
device=${GPU_CHECK_DEVICE:-cuda}
preset=${GPU_CHECK_PRESET:-ref32}
say() { printf '\n== %s\n' "$*"; }

say "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
if [ -n "${GPU_CHECK_BIN:-}" ]; then
  gpu=$GPU_CHECK_BIN cpu=bin/ganstudio
elif command -v go >/dev/null && [ -f /usr/include/cuda.h ]; then
  if command -v nvcc >/dev/null; then
    say "PTX (nvcc $(nvcc --version | grep -o 'release [0-9.]*'))"
    ./scripts/build-ptx.sh
    git diff --quiet -- gan/kernels/kernels.ptx 2>/dev/null || echo "note: this nvcc's PTX differs from the committed one; the check below uses this one"
  fi
  say "build"
  make build cuda
  gpu=bin/ganstudio-cuda cpu=bin/ganstudio
elif [ -x .gpu/ganstudio-cuda ]; then
  # The bundle's cuBLAS is whichever libcublas.so.N this machine has.
  lib=$(find / \( -path /proc -o -path /sys \) -prune -o -name 'libcublas.so.[0-9]*' -print 2>/dev/null | sort -V | tail -1)
  [ -n "$lib" ] || { echo "gpu-check: no libcublas.so.N on this machine" >&2; exit 1; }
  mkdir -p .gpu/lib
  ln -sf "$lib" .gpu/lib/libcublas.so
  export LD_LIBRARY_PATH="$PWD/.gpu/lib:$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "no Go here: running .gpu/ganstudio-cuda with $lib"
  gpu=.gpu/ganstudio-cuda cpu=.gpu/ganstudio-cuda
else
  echo "gpu-check: no Go and CUDA headers to build with, and no .gpu/ganstudio-cuda (scripts/gpu-bundle.sh)" >&2
  exit 1
fi

say "$device step against the CPU engine's (same weights and data before each step)"
"$gpu" bench device --device "$device" --preset tiny --steps 5
"$gpu" bench device --device "$device" --preset "$preset" --steps 5
say "$device step against the CPU's with the studio's engine (augmentation at a fixed 0.5, the weight average, mirrored data)"
"$gpu" bench device --device "$device" --preset studio32 --augment 0.5 --steps 5
say "$device step against the CPU's with the hinge loss and minibatch stddev in D"
"$gpu" bench device --device "$device" --preset studio32 --augment 0.5 --loss hinge --mbstd --steps 5

say "$preset bench, batch 64: CPU ($(nproc) cores), then $device"
"$cpu" bench --device cpu --preset "$preset" --batch 64 --steps 10 --warmup 2
"$gpu" bench --device "$device" --preset "$preset" --batch 64 --steps 30 --warmup 5
say "$preset bench, batch 256: CPU, then $device"
"$cpu" bench --device cpu --preset "$preset" --batch 256 --steps 5 --warmup 1
"$gpu" bench --device "$device" --preset "$preset" --batch 256 --steps 30 --warmup 5
say "the studio's engine on $device: 64, 128 and 256 px, batch 64, augmentation 0.5"
for r in 64 128 256; do
  "$gpu" bench --device "$device" --preset "studio$r" --augment 0.5 --batch 64 --steps 20 --warmup 3 || echo "studio$r: failed (memory?)"
done
say "gpu-check: done"
