package nn

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

// Sgemm is C = alpha·op(A)·op(B) + beta·C on row-major slices, with the
// BLAS the ops use, so the metrics that multiply matrices (SWD, the
// diversity measures) get OpenBLAS in the same builds the layers do.
func Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
