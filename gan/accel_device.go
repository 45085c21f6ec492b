package gan

// device is an accelerator the trainer can run its steps on: memory,
// kernels by name and a column-major SGEMM, as a CUDA GPU provides them.
// Pointers are device addresses (uintptr, never dereferenced in Go); sizes
// count float32s. Kernel arguments travel as 64-bit slots (see slot*), the
// layout cuLaunchKernel copies from. gan/kernels has two: the CUDA one
// (build tag gpu) and a host emulator that runs the same kernel source on
// the CPU, which the tests use to check this package's GPU code without a GPU.
type device interface {
	Name() string
	Info() string // for people: which card, which driver
	// Lost is non-nil once the device can do nothing more in this process
	// (a CUDA context lost to a fault); every later call fails.
	Lost() error
	// Do runs fn with the device usable from the calling goroutine (CUDA
	// contexts belong to OS threads); every other method is called inside it.
	Do(fn func() error) error
	Alloc(n int) (uintptr, error) // n float32s, zeroed
	Free(p uintptr)
	Upload(dst uintptr, src []float32) error
	Download(dst []float32, src uintptr) error
	// Launch runs kernel name over n threads (a grid-stride loop inside
	// each kernel covers any n).
	Launch(name string, n int, args ...uint64) error
	// Sgemm is BLAS's column-major C = α·op(A)·op(B) + β·C.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, c uintptr, ldc int) error
	Close() error
}
