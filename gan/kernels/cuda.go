//go:build gpu

package kernels

import (
	"errors"
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
	info   string     // the card, its compute capability and memory, the driver
	mu     sync.Mutex // one Do at a time: the cuBLAS handle is not for concurrent use
	broken error      // a fault that leaves the context unusable; every Do reports it
	ctx    cu.CUContext
	mod    cu.Module
	fns    map[string]cu.Function
	blas   *cublas.Standard
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
	info := name
	if cc, err := dev.Attributes(cu.ComputeCapabilityMajor, cu.ComputeCapabilityMinor); err == nil {
		info += fmt.Sprintf(", compute %d.%d", cc[0], cc[1])
	}
	if mem, err := dev.TotalMem(); err == nil {
		info += fmt.Sprintf(", %.0f GiB", float64(mem)/(1<<30))
	}
	if v := cu.Version(); v > 0 {
		info += fmt.Sprintf(", driver CUDA %d.%d", v/1000, v%1000/10)
	}
	// MakeContext makes the context current on this thread: load into it.
	ctx, err := dev.MakeContext(cu.SchedAuto)
	if err != nil {
		return nil, fmt.Errorf("context on %s: %w", name, err)
	}
	c = &CUDA{ctx: ctx, info: info, fns: map[string]cu.Function{}}
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
	if c.blas, err = newBLAS(); err != nil {
		return nil, err
	}
	return c, nil
}

// newBLAS makes a cuBLAS handle in the current context.
func newBLAS() (b *cublas.Standard, err error) {
	defer func() {
		if r := recover(); r != nil { // cublas.New panics when cublasCreate fails
			b, err = nil, fmt.Errorf("cuBLAS: %v", r)
		}
	}()
	return cublas.New(), nil
}

// sticky are the faults after which a CUDA context can do nothing more:
// the process must make a new one (restart the worker).
var sticky = []error{cu.IllegalAddress, cu.LaunchFailed, cu.IllegalInstruction, cu.MisalignedAddress,
	cu.HardwareStackError, cu.InvalidAddressSpace, cu.EccUncorrectable}

// Name is "cuda" (the device the studio schedules runs on); GPU says which card.
func (c *CUDA) Name() string { return "cuda" }

// Lost is the fault that made the context unusable, if one has.
func (c *CUDA) Lost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// Info says which card, compute capability, memory and driver.
func (c *CUDA) Info() string { return c.info }

// Do pins the goroutine to its OS thread and makes the context current
// there for the length of fn: CUDA contexts belong to threads, goroutines
// do not.
func (c *CUDA) Do(fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(c.ctx); err != nil {
		return fmt.Errorf("make the CUDA context current: %w", err)
	}
	err := fn()
	if err == nil {
		// Launches are asynchronous; a fault shows up here if not before.
		err = cu.Synchronize()
	}
	for _, s := range sticky {
		if errors.Is(err, s) {
			c.broken = fmt.Errorf("the GPU's CUDA context is lost (%w): restart the worker", err)
			return c.broken
		}
	}
	return err
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
	failed := c.blas.Err()
	if failed == nil {
		return nil
	}
	// cu/blas keeps its first error for good: a new handle, so one failed
	// GEMM does not fail every later one.
	c.blas.Close()
	var err error
	if c.blas, err = newBLAS(); err != nil {
		c.broken = err
	}
	return fmt.Errorf("cuBLAS sgemm %d×%d×%d: %w", m, n, k, failed)
}

func (c *CUDA) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(c.ctx); err == nil {
		if c.blas != nil {
			c.blas.Close()
		}
		c.mod.Unload()
	}
	c.broken = errors.New("the CUDA device is closed")
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
