#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and its driver: build the GPU worker
# (and the PTX, where nvcc is), check that its training step gives the CPU
# engine's losses and weights from the same seed, and print the ref32 bench
# on both devices and at batch 256. A few minutes in all.
#
# Needs Go and the CUDA headers to build (make check-cuda installs them on
# Debian); with no Go, it uses bin/ganstudio and bin/ganstudio-cuda as they
# are (built elsewhere and copied over).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n== %s\n' "$*"; }

say "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
if command -v go >/dev/null; then
  if command -v nvcc >/dev/null; then
    say "PTX (nvcc $(nvcc --version | grep -o 'release [0-9.]*'))"
    ./scripts/build-ptx.sh
    git diff --quiet -- gan/kernels/kernels.ptx 2>/dev/null || echo "note: this nvcc's PTX differs from the committed one; the check below uses this one"
  fi
  say "build"
  make build cuda
else
  echo "no Go here: using the binaries in bin/"
fi
test -x bin/ganstudio && test -x bin/ganstudio-cuda

say "CUDA step against the CPU engine (same seed: weights, batches, latents)"
bin/ganstudio-cuda bench device --preset tiny --steps 5
bin/ganstudio-cuda bench device --preset ref32 --steps 5

say "ref32 bench, batch 64: CPU ($(nproc) cores), then GPU"
bin/ganstudio bench --preset ref32 --steps 10 --warmup 2
bin/ganstudio-cuda bench --device cuda --preset ref32 --steps 30 --warmup 5
say "ref32 bench, batch 256: CPU, then GPU"
bin/ganstudio bench --preset ref32 --batch 256 --steps 5 --warmup 1
bin/ganstudio-cuda bench --device cuda --preset ref32 --batch 256 --steps 30 --warmup 5
say "gpu-check: done"
