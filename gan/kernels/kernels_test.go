package kernels

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
)

// kernels.ptx must be compiled from the kernels.h beside it: the tests run
// kernels.h through the emulator, the GPU runs the PTX. CI has no nvcc, so
// `make ptx` stamps the source's hash into the PTX and this checks it.
func TestPTXIsFromThisSource(t *testing.T) {
	src, err := os.ReadFile("kernels.h")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	want := "// source sha256: " + hex.EncodeToString(sum[:])
	first, _, _ := strings.Cut(PTX, "\n")
	if first != want {
		t.Fatalf("kernels.ptx is stale (its stamp %q, kernels.h hashes to %s): run make ptx", first, want)
	}
}

// Every kernel the Go code may launch is in the PTX with as many
// parameters as the emulator unpacks, and the emulator knows every one.
func TestKernelsAgree(t *testing.T) {
	entry := regexp.MustCompile(`(?s)\.visible \.entry (\w+)\((.*?)\)`)
	params := map[string]int{}
	for _, m := range entry.FindAllStringSubmatch(PTX, -1) {
		params[m[1]] = strings.Count(m[2], ".param")
	}
	if len(params) != len(Names) {
		t.Errorf("PTX has %d kernels, Names lists %d", len(params), len(Names))
	}
	for _, n := range Names {
		got, ok := params[n]
		if !ok {
			t.Errorf("kernel %s is not in the PTX", n)
			continue
		}
		if a := Arity(n); a != got {
			t.Errorf("kernel %s: %d parameters in the PTX, the emulator unpacks %d", n, got, a)
		}
	}
	if Arity("no_such_kernel") != -1 {
		t.Error("the emulator claims an unknown kernel")
	}
}

// A launch with the wrong number of arguments is an error, not a crash,
// and so is a copy past the end of an allocation.
func TestEmuChecks(t *testing.T) {
	e := NewEmu()
	defer e.Close()
	p, err := e.Alloc(4)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Launch("fill", 4, Int(4), Ptr(p)); err == nil {
		t.Error("fill with 2 of its 3 arguments ran")
	}
	if err := e.Launch("fill", 4, Int(4), Ptr(p), Float(2.5)); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 4)
	if err := e.Download(got, p); err != nil || got[3] != 2.5 {
		t.Fatalf("after fill: %v, %v", got, err)
	}
	if err := e.Upload(p, make([]float32, 5)); err == nil {
		t.Error("an upload past the allocation's end was accepted")
	}
	e.Free(p)
	if e.Live() != 0 {
		t.Error("Free left the allocation live")
	}
}
