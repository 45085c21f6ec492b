#!/usr/bin/env bash
# make check-cuda: install the CUDA headers and libraries the GPU worker
# compiles against (Debian's nvidia-cuda-dev, CUDA 11.8, from non-free:
# about 0.8 GB to download, 2.8 GB on disk) and compile it. Runs anywhere;
# no GPU is needed to build, only to run (scripts/gpu-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if [ ! -f /usr/include/cuda.h ] || [ ! -f /usr/include/cublas_v2.h ]; then
  # nvidia-cuda-dev is in non-free; add that component beside the
  # machine's own Debian sources if it is not there yet.
  apt-get update -qq
  if ! apt-cache policy nvidia-cuda-dev | grep -q 'Candidate: [0-9]'; then
    . /etc/os-release
    cat > /etc/apt/sources.list.d/ganstudio-non-free.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${VERSION_CODENAME} ${VERSION_CODENAME}-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends nvidia-cuda-dev >/dev/null
fi
tags="gpu"
ldconfig -p | grep -q 'libopenblas\.so ' && tags="gpu openblas"
echo "check-cuda: go vet and build with -tags \"$tags\""
go vet -tags "$tags" ./gan/... ./cmd/...
go build -tags "$tags" -o bin/ganstudio-cuda ./cmd/ganstudio
# The worker's CUDA code is really in the binary, through cu and cu/blas.
# (grep reads all its input: with pipefail, grep -q could stop the writer
# with SIGPIPE and fail the check.)
for pkg in gorgonia.org/cu gorgonia.org/cu/blas github.com/ganstudio/ganstudio/gan/kernels; do
  go list -tags "$tags" -deps ./cmd/ganstudio | grep -x "$pkg" >/dev/null || { echo "check-cuda: $pkg is not in the gpu build" >&2; exit 1; }
done
nm -D --undefined-only bin/ganstudio-cuda | grep ' cuLaunchKernel' >/dev/null || { echo "check-cuda: the binary does not call cuLaunchKernel" >&2; exit 1; }
# With nvcc at hand, the committed PTX must be what the kernels compile to.
if command -v nvcc >/dev/null; then
  cp gan/kernels/kernels.ptx /tmp/ganstudio-kernels.ptx
  ./scripts/build-ptx.sh >/dev/null
  if ! cmp -s gan/kernels/kernels.ptx /tmp/ganstudio-kernels.ptx; then
    echo "check-cuda: gan/kernels/kernels.ptx was stale; rebuilt it (commit it)" >&2
    exit 1
  fi
fi
echo "check-cuda: bin/ganstudio-cuda built ($(du -h bin/ganstudio-cuda | cut -f1)); it needs an NVIDIA driver to start"
