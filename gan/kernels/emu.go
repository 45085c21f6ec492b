package kernels

/*
#cgo CFLAGS: -O2 -std=c11
#cgo LDFLAGS: -lm
#include <stdlib.h>
#include <string.h>
#include "emu.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// Emu is a device in host memory that runs kernels.cu compiled as C, one
// output after another, and a plain column-major SGEMM. It is slow; tests
// use it to check the GPU code path against the CPU engine.
type Emu struct {
	mu    sync.Mutex
	lost  error           // set by Break: every later Do fails, as a lost CUDA context does
	live  map[uintptr]int // allocation → its size in floats
	names map[string]*C.char
}

// NewEmu makes an emulated device.
func NewEmu() *Emu {
	e := &Emu{live: map[uintptr]int{}, names: map[string]*C.char{}}
	for _, n := range Names {
		e.names[n] = C.CString(n)
	}
	return e
}

func (e *Emu) Name() string { return "emu" }
func (e *Emu) Info() string { return "host emulator of the CUDA kernels (plain C loops, one thread)" }
func (e *Emu) Do(fn func() error) error {
	if err := e.Lost(); err != nil {
		return err
	}
	return fn()
}

// Break makes the emulator behave as a GPU whose context a fault lost:
// every Do from now on fails with err, and Lost reports it. Tests use it.
func (e *Emu) Break(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lost = err
}

// Lost is the error Break set, if any.
func (e *Emu) Lost() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

func (e *Emu) Alloc(n int) (uintptr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("alloc %d floats", n)
	}
	p := C.calloc(C.size_t(n), 4)
	if p == nil {
		return 0, fmt.Errorf("alloc %d floats: out of memory", n)
	}
	e.mu.Lock()
	e.live[uintptr(p)] = n
	e.mu.Unlock()
	return uintptr(p), nil
}

func (e *Emu) Free(p uintptr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.live[p]; ok {
		delete(e.live, p)
		C.free(ptr(p))
	}
}

// check reports whether [p, p+n floats) lies inside one live allocation:
// the emulator catches the out-of-bounds copies a GPU would fault on.
func (e *Emu) check(p uintptr, n int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for base, size := range e.live {
		if p >= base && p+uintptr(4*n) <= base+uintptr(4*size) {
			return nil
		}
	}
	return fmt.Errorf("%d floats at %#x: outside every allocation", n, p)
}

func (e *Emu) Upload(dst uintptr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	if err := e.check(dst, len(src)); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	C.memcpy(ptr(dst), unsafe.Pointer(&src[0]), C.size_t(4*len(src)))
	return nil
}

func (e *Emu) Download(dst []float32, src uintptr) error {
	if len(dst) == 0 {
		return nil
	}
	if err := e.check(src, len(dst)); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	C.memcpy(unsafe.Pointer(&dst[0]), ptr(src), C.size_t(4*len(dst)))
	return nil
}

func (e *Emu) Launch(name string, n int, args ...uint64) error {
	cn, ok := e.names[name]
	if !ok {
		return fmt.Errorf("no kernel %q", name)
	}
	var a *C.uint64_t
	if len(args) > 0 {
		a = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	if r := C.emu_launch(cn, a, C.int(len(args))); r != 0 {
		return fmt.Errorf("kernel %s: takes %d arguments, given %d", name, -r-1, len(args))
	}
	return nil
}

func (e *Emu) Sgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, c uintptr, ldc int) error {
	if m == 0 || n == 0 {
		return nil
	}
	if err := e.check(c, ldc*(n-1)+m); err != nil {
		return fmt.Errorf("sgemm C: %w", err)
	}
	C.emu_sgemm(cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k), C.float(alpha), (*C.float)(ptr(a)), C.int(lda),
		(*C.float)(ptr(b)), C.int(ldb), C.float(beta), (*C.float)(ptr(c)), C.int(ldc))
	return nil
}

func (e *Emu) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for p := range e.live {
		C.free(ptr(p))
	}
	clear(e.live)
	return nil
}

// Live is how many allocations are not freed (tests check for leaks).
func (e *Emu) Live() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.live)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// ptr turns a device address back into a C pointer. The memory is C's
// (calloc), never Go's, so the garbage collector has no stake in it.
func ptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// Arity is how many arguments the emulator's kernel name takes (-1: no such kernel).
func Arity(name string) int {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return int(C.emu_arity(cs))
}
