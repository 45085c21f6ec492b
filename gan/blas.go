package gan

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// sgemm is the single-precision matrix multiply the convolution ops call.
// The pure-Go build uses gonum's; blas_openblas.go swaps in OpenBLAS, which is
// about 3.5× faster on this hardware.
var sgemm blas.Float32Level3 = gonum.Implementation{}

// BLASName says which BLAS the engine runs on, for benchmarks and logs.
var BLASName = "gonum (pure Go)"
