package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// xentOp is softmax cross-entropy: logits[N,K] and the batch's labels →
// the mean over the batch of −log softmax(logits)[label]. The labels are
// the op's own (set before each run), not a node: they are data, never
// differentiated. It is what a classifier trains with (gan/stacked's
// digit classifier); the GANs' losses are in loss.go.
type xentOp struct {
	opBase
	labels *[]int32
}

// SoftmaxXent is the mean softmax cross-entropy of logits[N,K] against
// *labels (N of them, each in [0, K)), read at every run.
func SoftmaxXent(logits *gorgonia.Node, labels *[]int32) (*gorgonia.Node, error) {
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("softmax cross-entropy: logits must be [N, K], got %v", logits.Shape())
	}
	return gorgonia.ApplyOp(&xentOp{opBase: newOpBase("xent"), labels: labels}, logits)
}

func (op *xentOp) Arity() int { return 1 }
func (op *xentOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(gorgonia.TensorType{Dims: 2, Of: a}, a) // a scalar, as gorgonia's Mean gives
}
func (op *xentOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *xentOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *xentOp) UsePreallocDo(_ gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	z, s := F32(in[0]), shapeOf(in[0])
	n, k := s[0], s[1]
	if len(*op.labels) != n {
		return nil, fmt.Errorf("softmax cross-entropy: %d labels for %d rows", len(*op.labels), n)
	}
	var sum float64
	for i, y := range *op.labels {
		if y < 0 || int(y) >= k {
			return nil, fmt.Errorf("softmax cross-entropy: label %d outside [0, %d)", y, k)
		}
		row := z[i*k : (i+1)*k]
		sum += logSumExp(row) - float64(row[y])
	}
	return gorgonia.NewF32(float32(sum / float64(n))), nil
}

func logSumExp(row []float32) float64 {
	m := float64(row[0])
	for _, v := range row {
		m = max(m, float64(v))
	}
	var e float64
	for _, v := range row {
		e += math.Exp(float64(v) - m)
	}
	return m + math.Log(e)
}

func (op *xentOp) DiffWRT(int) []bool { return []bool{true} }
func (op *xentOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &xentGradOp{opBase: newOpBase("xentGrad"), labels: op.labels}
	n, err := gorgonia.ApplyOp(g, in[0], grad)
	return gorgonia.Nodes{n}, err
}

// xentGradOp gives dL/dlogits = (softmax(logits) − onehot(label))·dL/N.
type xentGradOp struct {
	opBase
	labels *[]int32
}

func (op *xentGradOp) Arity() int { return 2 }
func (op *xentGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := gorgonia.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, a, t)
}
func (op *xentGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *xentGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *xentGradOp) UsePreallocDo(_ gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	s := shapeOf(in[0])
	out := op.output(s)
	z, dz := F32(in[0]), F32(out)
	n, k := s[0], s[1]
	scale := float64(scalarF32(in[1])) / float64(n)
	for i, y := range *op.labels {
		row := z[i*k : (i+1)*k]
		lse := logSumExp(row)
		for j, v := range row {
			p := math.Exp(float64(v) - lse)
			if j == int(y) {
				p--
			}
			dz[i*k+j] = float32(p * scale)
		}
	}
	return out, nil
}

// scalarF32 reads a float32 scalar value, which gorgonia passes either as
// a *F32 or as a one-element tensor.
func scalarF32(v gorgonia.Value) float32 {
	switch x := v.(type) {
	case *gorgonia.F32:
		return float32(*x)
	case *tensor.Dense:
		return x.Data().([]float32)[0]
	}
	panic(fmt.Sprintf("nn: a scalar float32 was expected, got %T", v)) // a graph built wrong in this package
}
