package nn

import (
	"fmt"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Fused fully-connected layers for the 2-D mixture GANs. A dense layer built
// from gorgonia's generic Mul, BroadcastAdd and Tanh cost 31 ms a step at the
// VEEGAN sizes; one op doing sgemm + bias + activation over flat slices, with
// matching fused backward ops, brings a step to a few milliseconds.

// Activation is what a dense layer applies after x·W + b.
type Activation int

// Activations of a dense layer.
const (
	Linear Activation = iota
	Tanh
)

// denseOp is y = act(x·W + b) for x viewed as [rows, in]: x may be
// [rows·pack, in/pack], which is how a packed discriminator (PacGAN) sees m
// samples side by side without a reshape — row-major data is the same.
type denseOp struct {
	opBase
	act          Activation
	needX, needW bool
}

// Dense applies a fused layer y = act(x·W + b), x[rows,in], W[in,out],
// b[out]. grads says which gradients the graph wants: none for the frozen
// network of a step, none for latents; grads.Params covers W and b.
// rec pairs the generator's layers of the two graphs (see Pair).
func Dense(x, w, b *gorgonia.Node, act Activation, grads Grads, rec *Recorder) (*gorgonia.Node, error) {
	op := &denseOp{opBase: newOpBase("dense"), act: act, needX: grads.Input, needW: grads.Params}
	rec.add(&op.opBase, op)
	return gorgonia.ApplyOp(op, x, w, b)
}

func (op *denseOp) Arity() int    { return 3 }
func (op *denseOp) Type() hm.Type { return fnType(2, 2, 2, 1) }
func (op *denseOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	xs, ok1 := in[0].(tensor.Shape)
	ws, ok2 := in[1].(tensor.Shape)
	if !ok1 || !ok2 || len(xs) != 2 || len(ws) != 2 {
		return nil, fmt.Errorf("dense: want two matrices, got %v and %v", in[0], in[1])
	}
	n := xs.TotalSize()
	if n%ws[0] != 0 {
		return nil, fmt.Errorf("dense: input %v does not split into rows of %d", xs, ws[0])
	}
	return tensor.Shape{n / ws[0], ws[1]}, nil
}
func (op *denseOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *denseOp) UsePreallocDo(_ gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	ws := shapeOf(in[1])
	rows := shapeOf(in[0]).TotalSize() / ws[0]
	if out, ok := op.shared(tensor.Shape{rows, ws[1]}); ok {
		return out, nil
	}
	defer op.computed()
	out := op.output(tensor.Shape{rows, ws[1]})
	DenseForward(F32(in[0]), F32(in[1]), F32(in[2]), F32(out), rows, ws[0], ws[1], op.act)
	return out, nil
}

// DenseForward computes y[rows,out] = act(x[rows,in]·w[in,out] + b) on
// plain slices. The sampler calls it directly, so samples and training
// share one code path.
func DenseForward(x, w, b, y []float32, rows, in, out int, act Activation) {
	for r := 0; r < rows; r++ {
		copy(y[r*out:(r+1)*out], b)
	}
	sgemm.Sgemm(blas.NoTrans, blas.NoTrans, rows, out, in, 1, x, in, w, out, 1, y, out)
	if act == Tanh {
		tanhInPlace(y)
	}
}

func (op *denseOp) DiffWRT(int) []bool { return []bool{op.needX, op.needW, op.needW} }
func (op *denseOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dpre := grad
	if op.act == Tanh {
		var err error
		if dpre, err = gorgonia.ApplyOp(&tanhGradOp{opBase: newOpBase("tanhGrad")}, out, grad); err != nil {
			return nil, err
		}
	}
	res := make(gorgonia.Nodes, 3)
	var err error
	if op.needX {
		if res[0], err = gorgonia.ApplyOp(&denseGradXOp{opBase: newOpBase("denseGradX")}, dpre, in[1], in[0]); err != nil {
			return nil, err
		}
	}
	if op.needW {
		if res[1], err = gorgonia.ApplyOp(&denseGradWOp{opBase: newOpBase("denseGradW")}, in[0], dpre, in[1]); err != nil {
			return nil, err
		}
		if res[2], err = gorgonia.ApplyOp(&colSumOp{opBase: newOpBase("colSum")}, dpre, in[2]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// tanhInPlace applies tanh in float32 by Lambert's continued fraction cut
// at degree 7/6 (error under 2e-5 up to |x| = 4, 1e-4 beyond, where
// it is clamped at |x| = 4.97). math.Tanh in float64 and a higher-degree
// approximation each cost more than all the matrix products of a step; the
// loop is written out so the compiler keeps it free of calls.
func tanhInPlace(y []float32) {
	for i, x := range y {
		x = min(max(x, -4.97), 4.97)
		x2 := x * x
		p := x * (135135 + x2*(17325+x2*(378+x2)))
		q := 135135 + x2*(62370+x2*(3150+x2*28))
		y[i] = p / q
	}
}

// tanhGradOp is dL/dpre = dy·(1 − y²), from the layer's output y.
type tanhGradOp struct{ opBase }

func (op *tanhGradOp) Arity() int    { return 2 }
func (op *tanhGradOp) Type() hm.Type { return fnType(2, 2, 2) }
func (op *tanhGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *tanhGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *tanhGradOp) UsePreallocDo(_ gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	out := op.output(shapeOf(in[0]))
	y, dy, d := F32(in[0]), F32(in[1]), F32(out)
	for i, v := range y {
		d[i] = dy[i] * (1 - v*v)
	}
	return out, nil
}

// denseGradXOp is dL/dx = dpre·Wᵀ, shaped like x (the third input, for its
// shape only).
type denseGradXOp struct{ opBase }

func (op *denseGradXOp) Arity() int    { return 3 }
func (op *denseGradXOp) Type() hm.Type { return fnType(2, 2, 2, 2) }
func (op *denseGradXOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, ok := in[2].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("denseGradX: expected a shape, got %T", in[2])
	}
	return s.Clone(), nil
}
func (op *denseGradXOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *denseGradXOp) UsePreallocDo(_ gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	ds, ws := shapeOf(in[0]), shapeOf(in[1])
	out := op.output(shapeOf(in[2]))
	rows, nin, nout := ds[0], ws[0], ws[1]
	sgemm.Sgemm(blas.NoTrans, blas.Trans, rows, nin, nout, 1, F32(in[0]), nout, F32(in[1]), nout, 0, F32(out), nin)
	return out, nil
}

// denseGradWOp is dL/dW = xᵀ·dpre, with x viewed as [rows, in]; the third
// input is W, for its shape.
type denseGradWOp struct{ opBase }

func (op *denseGradWOp) Arity() int    { return 3 }
func (op *denseGradWOp) Type() hm.Type { return fnType(2, 2, 2, 2) }
func (op *denseGradWOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, ok := in[2].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("denseGradW: expected a shape, got %T", in[2])
	}
	return s.Clone(), nil
}
func (op *denseGradWOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *denseGradWOp) UsePreallocDo(_ gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	ws := shapeOf(in[2])
	out := op.output(ws)
	rows := shapeOf(in[1])[0]
	sgemm.Sgemm(blas.Trans, blas.NoTrans, ws[0], ws[1], rows, 1, F32(in[0]), ws[0], F32(in[1]), ws[1], 0, F32(out), ws[1])
	return out, nil
}

// colSumOp is dL/db: dpre summed over rows; the second input is b, for its
// shape.
type colSumOp struct{ opBase }

func (op *colSumOp) Arity() int    { return 2 }
func (op *colSumOp) Type() hm.Type { return fnType(1, 2, 1) }
func (op *colSumOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, ok := in[1].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("colSum: expected a shape, got %T", in[1])
	}
	return s.Clone(), nil
}
func (op *colSumOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *colSumOp) UsePreallocDo(_ gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	out := op.output(shapeOf(in[1]))
	d, s := F32(in[0]), F32(out)
	clear(s)
	n := len(s)
	for off := 0; off < len(d); off += n {
		for j, v := range d[off : off+n] {
			s[j] += v
		}
	}
	return out, nil
}
