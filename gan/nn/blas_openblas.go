//go:build openblas

package nn

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

func init() {
	// The ops parallelise over samples themselves; OpenBLAS threads on top of
	// that only fight for the same cores.
	C.openblas_set_num_threads(1)
	sgemm = netlib.Implementation{}
	BLASName = "OpenBLAS"
	gorgonia.Use(netlib.Implementation{})
}
