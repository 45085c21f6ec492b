//go:build gpu

package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/cu"
	cublas "gorgonia.org/cu/blas"
)

// CUDA is the first GPU, driven through gorgonia.org/cu: the driver API
// for memory and kernel launches (PTX loaded once), cuBLAS through cu/blas
// for the GEMMs. Linking it makes the process exit at start-up when no
// driver is present (cu's package init), which is why it lives in the
// separate ganstudio-cuda binary.
type CUDA struct {
	mu   sync.Mutex // one Do at a time: the cuBLAS handle is not for concurrent use
	ctx  cu.CUContext
	name string
	mod  cu.Module
	fns  map[string]cu.Function
	blas *cublas.Standard
}

// threads is the block size of every launch; grids are capped because
// each kernel's grid-stride loop covers whatever the grid does not.
const (
	threads   = 256
	maxBlocks = 65535
)

// OpenCUDA opens GPU 0, loads the kernels and a cuBLAS handle.
func OpenCUDA() (c *CUDA, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("count GPUs: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("no CUDA GPU found")
	}
	dev, err := cu.GetDevice(0)
	if err != nil {
		return nil, err
	}
	name, _ := dev.Name()
	// MakeContext makes the context current on this thread: load into it.
	ctx, err := dev.MakeContext(cu.SchedAuto)
	if err != nil {
		return nil, fmt.Errorf("context on %s: %w", name, err)
	}
	c = &CUDA{ctx: ctx, name: name, fns: map[string]cu.Function{}}
	defer func() {
		if err != nil {
			c.ctx.Destroy()
		}
	}()
	if c.mod, err = cu.LoadData(PTX); err != nil {
		return nil, fmt.Errorf("load kernels (PTX for compute 7.0+) on %s: %w", name, err)
	}
	for _, k := range Names {
		if c.fns[k], err = c.mod.Function(k); err != nil {
			return nil, fmt.Errorf("kernel %s: %w", k, err)
		}
	}
	defer func() {
		if r := recover(); r != nil { // cublas.New panics when cublasCreate fails
			err = fmt.Errorf("cuBLAS: %v", r)
		}
	}()
	c.blas = cublas.New()
	return c, nil
}

// Name is "cuda" (the device the studio schedules runs on); GPU says which card.
func (c *CUDA) Name() string { return "cuda" }

// GPU is the card's name as the driver gives it.
func (c *CUDA) GPU() string { return c.name }

// Do pins the goroutine to its OS thread and makes the context current
// there for the length of fn: CUDA contexts belong to threads, goroutines
// do not.
func (c *CUDA) Do(fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(c.ctx); err != nil {
		return fmt.Errorf("make the CUDA context current: %w", err)
	}
	if err := fn(); err != nil {
		return err
	}
	// Launches are asynchronous; a fault shows up here if not before.
	return cu.Synchronize()
}

func (c *CUDA) Alloc(n int) (uintptr, error) {
	p, err := cu.MemAlloc(int64(4 * n))
	if err != nil {
		return 0, err
	}
	if err := cu.MemsetD32(p, 0, int64(n)); err != nil {
		cu.MemFree(p)
		return 0, err
	}
	return uintptr(p), nil
}

func (c *CUDA) Free(p uintptr) { cu.MemFree(cu.DevicePtr(p)) }

func (c *CUDA) Upload(dst uintptr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	return cu.MemcpyHtoD(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(4*len(src)))
}

func (c *CUDA) Download(dst []float32, src uintptr) error {
	if len(dst) == 0 {
		return nil
	}
	return cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(4*len(dst)))
}

func (c *CUDA) Launch(name string, n int, args ...uint64) error {
	fn, ok := c.fns[name]
	if !ok {
		return fmt.Errorf("no kernel %q", name)
	}
	// cu copies 8 bytes from each pointer into C memory: the slots.
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	blocks := min((n+threads-1)/threads, maxBlocks)
	if err := fn.Launch(blocks, 1, 1, threads, 1, 1, 0, cu.Stream{}, params); err != nil {
		return fmt.Errorf("kernel %s over %d: %w", name, n, err)
	}
	return nil
}

func (c *CUDA) Sgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, cm uintptr, ldc int) error {
	c.blas.Sgemm(trans(transA), trans(transB), m, n, k, alpha, devSlice(a), lda, devSlice(b), ldb, beta, devSlice(cm), ldc)
	return c.blas.Err()
}

func (c *CUDA) Close() error {
	return c.ctx.Destroy()
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// devSlice dresses a device address as the []float32 cu/blas takes; only
// its first element's address is used, and never read from Go.
func devSlice(p uintptr) []float32 {
	type header struct {
		data     uintptr
		len, cap int
	}
	h := header{p, 1, 1}
	return *(*[]float32)(unsafe.Pointer(&h))
}
