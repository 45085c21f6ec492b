#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and its driver: build the GPU worker
# (and the PTX, where nvcc is), check that its training step gives the CPU
# engine's losses and weight updates from the same weights and data, and
# print the ref32 bench on both devices and at batch 256. A few minutes.
#
# Needs Go and the CUDA headers to build (make check-cuda installs them on
# Debian); with no Go, it uses bin/ganstudio and bin/ganstudio-cuda as they
# are (built elsewhere and copied over).
#
# GPU_CHECK_DEVICE, GPU_CHECK_BIN and GPU_CHECK_PRESET (cuda,
# bin/ganstudio-cuda, ref32) let the script itself be tried without a GPU
# on the emulator: a binary built with -tags emu, device emu, preset tiny.
set -euo pipefail
cd "$(dirname "$0")/.."
device=${GPU_CHECK_DEVICE:-cuda}
gpu=${GPU_CHECK_BIN:-bin/ganstudio-cuda}
preset=${GPU_CHECK_PRESET:-ref32}
say() { printf '\n== %s\n' "$*"; }

say "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
if command -v go >/dev/null && [ -z "${GPU_CHECK_BIN:-}" ]; then
  if command -v nvcc >/dev/null; then
    say "PTX (nvcc $(nvcc --version | grep -o 'release [0-9.]*'))"
    ./scripts/build-ptx.sh
    git diff --quiet -- gan/kernels/kernels.ptx 2>/dev/null || echo "note: this nvcc's PTX differs from the committed one; the check below uses this one"
  fi
  say "build"
  make build cuda
else
  echo "using the binaries as they are: bin/ganstudio, $gpu"
fi
test -x bin/ganstudio && test -x "$gpu"

say "$device step against the CPU engine's (same weights and data before each step)"
"$gpu" bench device --device "$device" --preset tiny --steps 5
"$gpu" bench device --device "$device" --preset "$preset" --steps 5

say "$preset bench, batch 64: CPU ($(nproc) cores), then $device"
bin/ganstudio bench --preset "$preset" --batch 64 --steps 10 --warmup 2
"$gpu" bench --device "$device" --preset "$preset" --batch 64 --steps 30 --warmup 5
say "$preset bench, batch 256: CPU, then $device"
bin/ganstudio bench --preset "$preset" --batch 256 --steps 5 --warmup 1
"$gpu" bench --device "$device" --preset "$preset" --batch 256 --steps 30 --warmup 5
say "gpu-check: done"
