package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MBStdEps keeps the standard deviation's square root differentiable where
// a feature is the same across the whole batch (ProGAN's 1e-8).
const MBStdEps = 1e-8

// mbstdOp appends one channel to x[N,C,H,W]: the batch's standard deviation
// of each feature at each place, averaged over features and places, the same
// value in every image and place (ProGAN's minibatch standard deviation, over
// the whole batch). A discriminator that sees it can tell a batch of near
// copies from a batch as varied as the data, which one image at a time it
// cannot.
type mbstdOp struct {
	opBase
	needX bool
	mu    []float64 // per feature and place, from the last forward pass
	sd    []float64
	s     float32
}

// MinibatchStddev is x with the batch's mean standard deviation appended as
// channel C (see mbstdOp); grads.Input asks for x's gradient.
func MinibatchStddev(x *gorgonia.Node, grads Grads) (*gorgonia.Node, error) {
	if x.Dims() != 4 {
		return nil, fmt.Errorf("minibatch stddev: want a [N,C,H,W] input, got %v", x.Shape())
	}
	op := &mbstdOp{opBase: newOpBase("mbstd"), needX: grads.Input}
	return gorgonia.ApplyOp(op, x)
}

func (op *mbstdOp) Arity() int    { return 1 }
func (op *mbstdOp) Type() hm.Type { return fnType(4, 4) }
func (op *mbstdOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := inferFirst(in...)
	if err != nil {
		return nil, err
	}
	s[1]++
	return s, nil
}
func (op *mbstdOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}

// mbstd is the value mbstdOp appends for a batch x laid out as n rows of cp
// features: the mean over features of their standard deviations over the
// rows, with the rows' means and standard deviations per feature written to
// mu and sd. The device backend's kernels compute the same.
func mbstd(x []float32, n, cp int, mu, sd []float64) float32 {
	total := 0.0
	for j := 0; j < cp; j++ {
		m := 0.0
		for i := 0; i < n; i++ {
			m += float64(x[i*cp+j])
		}
		m /= float64(n)
		v := 0.0
		for i := 0; i < n; i++ {
			d := float64(x[i*cp+j]) - m
			v += d * d
		}
		mu[j], sd[j] = m, math.Sqrt(v/float64(n)+MBStdEps)
		total += sd[j]
	}
	return float32(total / float64(cp))
}

func (op *mbstdOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	s := shapeOf(in[0])
	n, c, p := s[0], s[1], s[2]*s[3]
	cp := c * p
	if len(op.mu) != cp {
		op.mu, op.sd = make([]float64, cp), make([]float64, cp)
	}
	x := F32(in[0])
	op.s = mbstd(x, n, cp, op.mu, op.sd)
	out := op.output(tensor.Shape{n, c + 1, s[2], s[3]})
	y := F32(out)
	for i := 0; i < n; i++ {
		row := y[i*(cp+p) : (i+1)*(cp+p)]
		copy(row, x[i*cp:(i+1)*cp])
		for k := cp; k < cp+p; k++ {
			row[k] = op.s
		}
	}
	return out, nil
}
func (op *mbstdOp) DiffWRT(int) []bool { return []bool{op.needX} }
func (op *mbstdOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if !op.needX {
		return gorgonia.Nodes{nil}, nil
	}
	g := &mbstdGradOp{opBase: newOpBase("mbstdGrad"), fwd: op}
	dx, err := gorgonia.ApplyOp(g, in[0], grad)
	return gorgonia.Nodes{dx}, err
}

// mbstdGradOp gives dL/dx of mbstdOp from (x, dy), with the forward pass's
// means and deviations: dy's own channels pass through, and the appended
// channel's total gradient g reaches each x through its deviation,
// ∂s/∂x[i,j] = (x[i,j] − μ_j) / (N·CP·σ_j).
type mbstdGradOp struct {
	opBase
	fwd *mbstdOp
}

func (op *mbstdGradOp) Arity() int    { return 2 }
func (op *mbstdGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *mbstdGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *mbstdGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *mbstdGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	s := shapeOf(in[0])
	n, c, p := s[0], s[1], s[2]*s[3]
	cp := c * p
	x, dy := F32(in[0]), F32(in[1])
	out := op.output(s)
	dx := F32(out)
	g := 0.0
	for i := 0; i < n; i++ {
		for k := cp; k < cp+p; k++ {
			g += float64(dy[i*(cp+p)+k])
		}
	}
	mbstdBackward(x, dy, n, cp, p, op.fwd.mu, op.fwd.sd, g, dx)
	return out, nil
}

// mbstdBackward writes dx for the n×cp input x from dy, the gradient of the
// n×(cp+extra) output, and g, the appended channel's total gradient.
func mbstdBackward(x, dy []float32, n, cp, extra int, mu, sd []float64, g float64, dx []float32) {
	coef := g / float64(n*cp)
	for i := 0; i < n; i++ {
		for j := 0; j < cp; j++ {
			dx[i*cp+j] = dy[i*(cp+extra)+j] + float32(coef*(float64(x[i*cp+j])-mu[j])/sd[j])
		}
	}
}
