# GAN Studio. `make run` starts it, `make test` runs every test.
GO      ?= go
BIN     := bin/ganstudio
# OpenBLAS makes training about 3.5× faster than gonum's pure-Go BLAS; use it
# when the library is installed (Debian: libopenblas-dev), else build pure Go.
OPENBLAS := $(shell ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && echo yes)
TAGS    := $(if $(OPENBLAS),-tags openblas,)

.PHONY: all build run test test-purego check-generate generate assets bench bench-peer emoji clean

all: build

build:
	$(GO) build $(TAGS) -o $(BIN) ./cmd/ganstudio

run: build
	./$(BIN) serve

test: check-generate
	$(GO) vet $(TAGS) ./...
	$(GO) test $(TAGS) -count=1 -timeout 20m ./...
	$(MAKE) test-purego

# The pure-Go build must keep building and computing the same gradients.
test-purego:
	$(GO) build ./...
	$(GO) test -count=1 -run 'OpGradients|SWD|Deterministic' ./gan

# Regenerate the templ pages (web/*_templ.go, committed).
generate:
	$(GO) tool templ generate

# The generated pages must be what the .templ files make (checked on a copy).
check-generate:
	./scripts/check-generate.sh

# Re-vendor htmx from npm into assets/vendor (committed; browsers never fetch it elsewhere).
assets:
	./scripts/vendor-assets.sh

bench: build
	./$(BIN) bench

# Go engine and PyTorch (Debian's python3-torch) on the same ref32 step, side by side.
bench-peer: build
	./scripts/bench-peer.sh

# Rebuild the built-in emoji dataset from its npm package.
emoji:
	./scripts/build-emoji.sh

clean:
	rm -rf bin
