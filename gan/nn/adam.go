package nn

import (
	"math"

	"gorgonia.org/tensor"
)

// Adam is Adam as PyTorch computes it. The engine keeps its own rather than
// gorgonia's AdamSolver because checkpoints must hold the moment estimates,
// which gorgonia keeps unexported. Checkpoints hold it gob-encoded, and gob
// matches fields by name: keep them.
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	T                     int         // steps taken
	M, V                  [][]float32 // first and second moments, per parameter
}

// NewAdam starts an optimiser for params with zero moments and PyTorch's ε.
func NewAdam(lr, b1, b2 float64, params []*tensor.Dense) *Adam {
	a := &Adam{LR: lr, Beta1: b1, Beta2: b2, Eps: 1e-8}
	for _, p := range params {
		a.M = append(a.M, make([]float32, p.DataSize()))
		a.V = append(a.V, make([]float32, p.DataSize()))
	}
	return a
}

// Step applies one update to params from grads (same order and sizes).
func (a *Adam) Step(params []*tensor.Dense, grads [][]float32) {
	a.T++
	bc1 := 1 - math.Pow(a.Beta1, float64(a.T))
	bc2 := 1 - math.Pow(a.Beta2, float64(a.T))
	stepSize := float32(a.LR / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	b1, b2, eps := float32(a.Beta1), float32(a.Beta2), float32(a.Eps)
	for i, p := range params {
		w, g, m, v := F32(p), grads[i], a.M[i], a.V[i]
		ParallelRange(len(w), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				gj := g[j]
				m[j] = b1*m[j] + (1-b1)*gj
				v[j] = b2*v[j] + (1-b2)*gj*gj
				w[j] -= stepSize * m[j] / (float32(math.Sqrt(float64(v[j])))/sqrtBC2 + eps)
			}
		})
	}
}
