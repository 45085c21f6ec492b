package nn

import (
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// actOp is a leaky rectifier y = x if x > 0 else slope·x; slope 0 is ReLU.
type actOp struct {
	opBase
	slope float32
	dims  int
}

// LeakyReLU is x if x > 0 else slope·x, element by element; slope 0 is
// ReLU. Its input gradient is always built.
func LeakyReLU(x *gorgonia.Node, slope float32, rec *Recorder) (*gorgonia.Node, error) {
	op := &actOp{opBase: newOpBase("lrelu"), slope: slope, dims: x.Dims()}
	rec.add(&op.opBase, op)
	return gorgonia.ApplyOp(op, x)
}

func (op *actOp) Arity() int    { return 1 }
func (op *actOp) Type() hm.Type { return fnType(op.dims, op.dims) }
func (op *actOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *actOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *actOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	if out, ok := op.shared(shapeOf(in[0])); ok {
		return out, nil
	}
	defer op.computed()
	out := op.output(shapeOf(in[0]))
	x, y := F32(in[0]), F32(out)
	s := op.slope
	ParallelRange(len(x), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			if v <= 0 {
				v *= s
			}
			y[lo+i] = v
		}
	})
	return out, nil
}
func (op *actOp) DiffWRT(int) []bool { return []bool{true} }
func (op *actOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &actGradOp{opBase: newOpBase("lreluGrad"), slope: op.slope, dims: op.dims}
	n, err := gorgonia.ApplyOp(g, in[0], grad)
	return gorgonia.Nodes{n}, err
}

// actGradOp gives dL/dx of actOp from (x, dy).
type actGradOp struct {
	opBase
	slope float32
	dims  int
}

func (op *actGradOp) Arity() int    { return 2 }
func (op *actGradOp) Type() hm.Type { return fnType(op.dims, op.dims, op.dims) }
func (op *actGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *actGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *actGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	out := op.output(shapeOf(in[0]))
	x, dy, dx := F32(in[0]), F32(in[1]), F32(out)
	s := op.slope
	ParallelRange(len(x), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			g := dy[lo+i]
			if v <= 0 {
				g *= s
			}
			dx[lo+i] = g
		}
	})
	return out, nil
}

// biasOp adds a per-channel bias along dimension 1: (x[N,C,...], b[C]) → y.
type biasOp struct {
	opBase
	dims  int
	needX bool
	needB bool
}

// AddBias adds b[C] to x[N,C,...] along the channel dimension; grads.Params
// asks for the bias's gradient.
func AddBias(x, b *gorgonia.Node, grads Grads, rec *Recorder) (*gorgonia.Node, error) {
	op := &biasOp{opBase: newOpBase("bias"), dims: x.Dims(), needX: grads.Input, needB: grads.Params}
	rec.add(&op.opBase, op)
	return gorgonia.ApplyOp(op, x, b)
}

func (op *biasOp) Arity() int    { return 2 }
func (op *biasOp) Type() hm.Type { return fnType(op.dims, op.dims, 1) }
func (op *biasOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *biasOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *biasOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	if out, ok := op.shared(shapeOf(in[0])); ok {
		return out, nil
	}
	defer op.computed()
	n, c, hw := planes(shapeOf(in[0]))
	out := op.output(shapeOf(in[0]))
	x, b, y := F32(in[0]), F32(in[1]), F32(out)
	ParallelFor(n, func(_, i int) {
		for ch := 0; ch < c; ch++ {
			off := (i*c + ch) * hw
			bv := b[ch]
			for j, v := range x[off : off+hw] {
				y[off+j] = v + bv
			}
		}
	})
	return out, nil
}
func (op *biasOp) DiffWRT(int) []bool { return []bool{op.needX, op.needB} }
func (op *biasOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, 2)
	if op.needX {
		res[0] = grad
	}
	if op.needB {
		var err error
		if res[1], err = gorgonia.ApplyOp(&biasGradOp{opBase: newOpBase("biasGrad"), dims: op.dims}, in[1], grad); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// biasGradOp sums dy over every dimension but the channel: (b, dy) → db.
type biasGradOp struct {
	opBase
	dims int
}

func (op *biasGradOp) Arity() int    { return 2 }
func (op *biasGradOp) Type() hm.Type { return fnType(1, 1, op.dims) }
func (op *biasGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *biasGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *biasGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	n, c, hw := planes(shapeOf(in[1]))
	out := op.output(shapeOf(in[0]))
	dy, db := F32(in[1]), F32(out)
	ParallelFor(c, func(_, ch int) {
		var s float64
		for i := 0; i < n; i++ {
			for _, v := range dy[(i*c+ch)*hw:][:hw] {
				s += float64(v)
			}
		}
		db[ch] = float32(s)
	})
	return out, nil
}
