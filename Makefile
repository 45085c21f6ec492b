# GAN Studio. `make run` starts it, `make test` runs every test.
GO      ?= go
BIN     := bin/ganstudio
# OpenBLAS makes training about 3.5× faster than gonum's pure-Go BLAS; use it
# when the library is installed (Debian: libopenblas-dev), else build pure Go.
OPENBLAS := $(shell ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && echo yes)
TAGS    := $(if $(OPENBLAS),-tags openblas,)

.PHONY: all build run test test-scale test-emu test-purego check-generate generate assets bench bench-peer emoji openmoji clean cuda ptx check-cuda gpu-check gpu-bundle

all: build

build:
	$(GO) build $(TAGS) -o $(BIN) ./cmd/ganstudio

run: build
	./$(BIN) serve

test: check-generate
	$(GO) vet $(TAGS) ./...
	$(GO) test $(TAGS) -count=1 -timeout 20m ./...
	$(MAKE) test-emu
	$(MAKE) test-purego

# The scale-out mode on real servers: scripts/scale-env.sh starts a throwaway
# Postgres (Debian's postgresql) and versitygw (an S3 server, installed once
# into ~/.cache/ganstudio-scale), runs the store's, the queue's and the
# server's tests on them (GANSTUDIO_TEST_STORE=scale), then the blob suite
# on both backends, the migration and the failure drills; then stops both.
test-scale:
	./scripts/scale-env.sh run sh -c '\
	  GANSTUDIO_TEST_STORE=scale $(GO) test $(TAGS) -count=1 -timeout 15m ./store ./jobs ./server && \
	  $(GO) test $(TAGS) -count=1 -timeout 10m -run "Blobs|S3|Migrate|ScaleOut" ./store ./cmd/ganstudio && \
	  $(GO) test -tags "emu$(if $(OPENBLAS), openblas,)" -count=1 -run ScaleOutEmu ./cmd/ganstudio'

# The GPU worker's path with the kernels' host emulator as its device
# (build tag emu): the side-by-side check and a worker that trains a run.
test-emu:
	$(GO) vet -tags "emu$(if $(OPENBLAS), openblas,)" ./gan/... ./jobs/... ./cmd/...
	$(GO) test -tags "emu$(if $(OPENBLAS), openblas,)" -count=1 -run Emu ./cmd/ganstudio ./jobs

# The pure-Go build must keep building and computing the same gradients.
test-purego:
	$(GO) build ./...
	$(GO) test -count=1 -run 'OpGradients|SWD|Deterministic' ./gan ./gan/nn

# Regenerate the templ pages (web/*_templ.go, committed).
generate:
	$(GO) tool templ generate

# The generated pages must be what the .templ files make (checked on a copy).
check-generate:
	./scripts/check-generate.sh

# Re-vendor htmx from npm into assets/vendor (committed; browsers never fetch it elsewhere).
assets:
	./scripts/vendor-assets.sh

# The GPU worker, ganstudio-cuda (run it as `ganstudio-cuda worker`). Its CUDA
# code is behind the build tag `gpu`: gorgonia's own tag `cuda` would also
# switch on gorgonia's cuDNN engine, whose headers Debian does not have.
# Needs the CUDA headers (make check-cuda installs them); runs only where
# an NVIDIA driver is.
cuda:
	$(GO) build -tags "gpu$(if $(OPENBLAS), openblas,)" -o bin/ganstudio-cuda ./cmd/ganstudio

# Recompile the CUDA kernels to PTX (committed; needs nvcc).
ptx:
	./scripts/build-ptx.sh

# Install the CUDA headers and compile the GPU worker (CI runs it; no GPU needed).
check-cuda:
	./scripts/check-cuda.sh

# On a GPU machine: the CUDA step against the CPU engine's, and the benches.
gpu-check:
	./scripts/gpu-check.sh

# .gpu/ganstudio-cuda: the GPU worker as one file for a GPU machine with no
# Go and any CUDA (it takes that machine's cuBLAS); gpu-check.sh runs it there.
gpu-bundle:
	./scripts/gpu-bundle.sh

bench: build
	./$(BIN) bench

# Go engine and PyTorch (Debian's python3-torch) on the same ref32 step, side by side.
bench-peer: build
	./scripts/bench-peer.sh

# Rebuild the built-in emoji dataset from its npm package.
emoji:
	./scripts/build-emoji.sh

# Rebuild the built-in OpenMoji dataset from its npm package (needs rsvg-convert).
openmoji:
	./scripts/build-openmoji.sh

clean:
	rm -rf bin
