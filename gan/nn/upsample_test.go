package nn

import (
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A plain nearest-neighbour ×2 upsampling op, kept as the reference that the
// fused up-convolution (op_upconv.go) is tested against.

// upsampleOp is nearest-neighbour ×2 upsampling of NCHW data.
type upsampleOp struct{ opBase }

func upsample2x(x *gorgonia.Node, rec *Recorder) (*gorgonia.Node, error) {
	op := &upsampleOp{newOpBase("upsample2x")}
	rec.add(&op.opBase, op)
	return gorgonia.ApplyOp(op, x)
}

func (op *upsampleOp) Arity() int    { return 1 }
func (op *upsampleOp) Type() hm.Type { return fnType(4, 4) }
func (op *upsampleOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := inferFirst(in...)
	if err == nil {
		s[2], s[3] = 2*s[2], 2*s[3]
	}
	return s, err
}
func (op *upsampleOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *upsampleOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	s := shapeOf(in[0])
	n, c, h, w := s[0], s[1], s[2], s[3]
	if out, ok := op.shared(tensor.Shape{n, c, 2 * h, 2 * w}); ok {
		return out, nil
	}
	defer op.computed()
	out := op.output(tensor.Shape{n, c, 2 * h, 2 * w})
	x, y := F32(in[0]), F32(out)
	ParallelFor(n*c, func(_, p int) {
		src := x[p*h*w:][:h*w]
		dst := y[p*4*h*w:][:4*h*w]
		for r := 0; r < h; r++ {
			row := dst[2*r*2*w:][:2*w]
			for j, v := range src[r*w : (r+1)*w] {
				row[2*j], row[2*j+1] = v, v
			}
			copy(dst[(2*r+1)*2*w:][:2*w], row)
		}
	})
	return out, nil
}
func (op *upsampleOp) DiffWRT(int) []bool { return []bool{true} }
func (op *upsampleOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	n, err := gorgonia.ApplyOp(&upsampleGradOp{newOpBase("upsample2xGrad")}, in[0], grad)
	return gorgonia.Nodes{n}, err
}

// upsampleGradOp sums each 2×2 block of dy back onto its source pixel: (x, dy) → dx.
type upsampleGradOp struct{ opBase }

func (op *upsampleGradOp) Arity() int    { return 2 }
func (op *upsampleGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *upsampleGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *upsampleGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *upsampleGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	s := shapeOf(in[0])
	n, c, h, w := s[0], s[1], s[2], s[3]
	out := op.output(s)
	dy, dx := F32(in[1]), F32(out)
	ParallelFor(n*c, func(_, p int) {
		src := dy[p*4*h*w:][:4*h*w]
		dst := dx[p*h*w:][:h*w]
		for r := 0; r < h; r++ {
			a := src[2*r*2*w:][:2*w]
			b := src[(2*r+1)*2*w:][:2*w]
			for j := 0; j < w; j++ {
				dst[r*w+j] = a[2*j] + a[2*j+1] + b[2*j] + b[2*j+1]
			}
		}
	})
	return out, nil
}
