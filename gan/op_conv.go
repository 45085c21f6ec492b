package gan

import (
	"fmt"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convGeom is the geometry of a square-kernel 2-D convolution over NCHW data.
type convGeom struct {
	n, c, h, w    int // input
	o, k, s, p    int // output channels, kernel size, stride, padding
	ho, wo        int // output height and width
	kdim, hw, chw int // rows of the im2col matrix, output pixels, input size per sample
}

func newConvGeom(x, w tensor.Shape, stride, pad int) (convGeom, error) {
	if len(x) != 4 || len(w) != 4 || x[1] != w[1] || w[2] != w[3] {
		return convGeom{}, fmt.Errorf("conv: input %v and filter %v do not fit", x, w)
	}
	g := convGeom{n: x[0], c: x[1], h: x[2], w: x[3], o: w[0], k: w[2], s: stride, p: pad}
	g.ho = (g.h+2*g.p-g.k)/g.s + 1
	g.wo = (g.w+2*g.p-g.k)/g.s + 1
	g.kdim = g.c * g.k * g.k
	g.hw = g.ho * g.wo
	g.chw = g.c * g.h * g.w
	return g, nil
}

func (g convGeom) outShape() tensor.Shape { return tensor.Shape{g.n, g.o, g.ho, g.wo} }

// flops counts the multiply-adds of the forward pass, times two.
func (g convGeom) flops() float64 {
	return 2 * float64(g.n) * float64(g.o) * float64(g.kdim) * float64(g.hw)
}

// im2col lays one sample's receptive fields out as columns of col: row
// (c,ki,kj), column (oy,ox). Rows are ld apart, so all samples of a batch can
// sit side by side in one matrix. Padding reads as zero.
func (g convGeom) im2col(x, col []float32, ld int) {
	for c := 0; c < g.c; c++ {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((c*g.k+ki)*g.k+kj)*ld:][:g.hw]
				dx := kj - g.p
				// Output columns whose source pixel lies inside the image.
				lo, hi := 0, g.wo
				for lo < g.wo && lo*g.s+dx < 0 {
					lo++
				}
				for hi > lo && (hi-1)*g.s+dx >= g.w {
					hi--
				}
				for oy := 0; oy < g.ho; oy++ {
					iy := oy*g.s - g.p + ki
					dst := row[oy*g.wo : (oy+1)*g.wo]
					if iy < 0 || iy >= g.h {
						clear(dst)
						continue
					}
					src := xc[iy*g.w : (iy+1)*g.w]
					clear(dst[:lo])
					clear(dst[hi:])
					if g.s == 1 {
						copy(dst[lo:hi], src[lo+dx:hi+dx])
					} else {
						for ox := lo; ox < hi; ox++ {
							dst[ox] = src[ox*g.s+dx]
						}
					}
				}
			}
		}
	}
}

// col2im is im2col's adjoint: it adds each column entry back onto the input
// pixel it was read from. dx must be zeroed by the caller.
func (g convGeom) col2im(col []float32, ld int, dx []float32) {
	for c := 0; c < g.c; c++ {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((c*g.k+ki)*g.k+kj)*ld:][:g.hw]
				d := kj - g.p
				lo, hi := 0, g.wo
				for lo < g.wo && lo*g.s+d < 0 {
					lo++
				}
				for hi > lo && (hi-1)*g.s+d >= g.w {
					hi--
				}
				for oy := 0; oy < g.ho; oy++ {
					iy := oy*g.s - g.p + ki
					if iy < 0 || iy >= g.h {
						continue
					}
					src := row[oy*g.wo : (oy+1)*g.wo]
					dst := xc[iy*g.w : (iy+1)*g.w]
					if g.s == 1 {
						dst = dst[lo+d : hi+d]
						for i, v := range src[lo:hi] {
							dst[i] += v
						}
					} else {
						for ox := lo; ox < hi; ox++ {
							dst[ox*g.s+d] += src[ox]
						}
					}
				}
			}
		}
	}
}

// scratch holds one buffer per worker goroutine, kept across steps.
type scratch [][]float32

func (s *scratch) get(w, n int) []float32 {
	if len(*s) < maxWorkers() {
		*s = make(scratch, maxWorkers())
	}
	if cap((*s)[w]) < n {
		(*s)[w] = make([]float32, n)
	}
	return (*s)[w][:n]
}

// The ops work on the whole batch at once: im2col writes every sample's
// columns side by side into one K×(N·HW) matrix, so each layer is one large
// matrix multiply (split in column halves across cores) rather than N small
// ones; small 4×4 and 8×8 maps made the per-sample products inefficient.

// convOp is a 2-D convolution without bias: (x[N,C,H,W], w[O,C,k,k]) → y[N,O,H',W'].
type convOp struct {
	opBase
	stride, pad  int
	needX, needW bool      // which gradients the graph wants
	col          []float32 // the batch's im2col matrix, kept for convGradWOp when needW
	yAll         []float32
}

// conv2d applies a k×k convolution. needX and needW say whether gradients
// with respect to the input and the filter are wanted in this graph; the
// ones not wanted are never built, so they cost nothing at run time.
func conv2d(x, w *gorgonia.Node, stride, pad int, needX, needW bool) (*gorgonia.Node, error) {
	op := &convOp{opBase: newOpBase("conv"), stride: stride, pad: pad, needX: needX, needW: needW}
	return gorgonia.ApplyOp(op, x, w)
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// batchIm2col fills col (K × N·HW) from the whole batch x.
func (g convGeom) batchIm2col(x, col []float32) {
	ld := g.n * g.hw
	parallelFor(g.n, func(_, n int) { g.im2col(x[n*g.chw:(n+1)*g.chw], col[n*g.hw:], ld) })
}

// gemmCols computes C = op(A)·B column block by column block in parallel;
// every column of C depends only on the same column of B, so the split does
// not change the result.
func gemmCols(tA blas.Transpose, m, ncols, k int, a []float32, lda int, b []float32, c []float32) {
	if blasThreads > 1 {
		sgemm.Sgemm(tA, blas.NoTrans, m, ncols, k, 1, a, lda, b, ncols, 0, c, ncols)
		return
	}
	cs := chunks(ncols, 2*maxWorkers())
	parallelFor(len(cs), func(_, i int) {
		lo, hi := cs[i][0], cs[i][1]
		sgemm.Sgemm(tA, blas.NoTrans, m, hi-lo, k, 1, a, lda, b[lo:], ncols, 0, c[lo:], ncols)
	})
}

// toNCHW scatters the O × N·HW product into y[N,O,HW]; fromNCHW gathers back.
func (g convGeom) toNCHW(all, y []float32) {
	ld := g.n * g.hw
	parallelFor(g.n, func(_, n int) {
		for o := 0; o < g.o; o++ {
			copy(y[(n*g.o+o)*g.hw:][:g.hw], all[o*ld+n*g.hw:][:g.hw])
		}
	})
}

func (g convGeom) fromNCHW(y, all []float32) {
	ld := g.n * g.hw
	parallelFor(g.n, func(_, n int) {
		for o := 0; o < g.o; o++ {
			copy(all[o*ld+n*g.hw:][:g.hw], y[(n*g.o+o)*g.hw:][:g.hw])
		}
	})
}

func (op *convOp) Arity() int    { return 2 }
func (op *convOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *convOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	g, err := newConvGeom(in[0].(tensor.Shape), in[1].(tensor.Shape), op.stride, op.pad)
	return g.outShape(), err
}
func (op *convOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *convOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	g, err := newConvGeom(shapeOf(in[0]), shapeOf(in[1]), op.stride, op.pad)
	if err != nil {
		return nil, err
	}
	out := op.output(g.outShape())
	x, w, y := f32(in[0]), f32(in[1]), f32(out)
	op.col = grow(op.col, g.kdim*g.n*g.hw)
	op.yAll = grow(op.yAll, g.o*g.n*g.hw)
	g.batchIm2col(x, op.col)
	gemmCols(blas.NoTrans, g.o, g.n*g.hw, g.kdim, w, g.kdim, op.col, op.yAll)
	g.toNCHW(op.yAll, y)
	return out, nil
}
func (op *convOp) DiffWRT(int) []bool { return []bool{op.needX, op.needW} }
func (op *convOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, 2)
	var err error
	if op.needX {
		gx := &convGradXOp{opBase: newOpBase("convGradX"), fwd: op}
		if res[0], err = gorgonia.ApplyOp(gx, in[0], in[1], grad); err != nil {
			return nil, err
		}
	}
	if op.needW {
		gw := &convGradWOp{opBase: newOpBase("convGradW"), fwd: op}
		if res[1], err = gorgonia.ApplyOp(gw, in[0], in[1], grad); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// convGradXOp computes dL/dx from (x, w, dy); x is read for its shape only.
type convGradXOp struct {
	opBase
	fwd         *convOp
	dyAll, dcol []float32
}

func (op *convGradXOp) Arity() int    { return 3 }
func (op *convGradXOp) Type() hm.Type { return fnType(4, 4, 4, 4) }
func (op *convGradXOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *convGradXOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *convGradXOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	g, err := newConvGeom(shapeOf(in[0]), shapeOf(in[1]), op.fwd.stride, op.fwd.pad)
	if err != nil {
		return nil, err
	}
	out := op.output(shapeOf(in[0]))
	w, dy, dx := f32(in[1]), f32(in[2]), f32(out)
	ld := g.n * g.hw
	op.dyAll = grow(op.dyAll, g.o*ld)
	op.dcol = grow(op.dcol, g.kdim*ld)
	g.fromNCHW(dy, op.dyAll)
	gemmCols(blas.Trans, g.kdim, ld, g.o, w, g.kdim, op.dyAll, op.dcol)
	parallelFor(g.n, func(_, n int) {
		d := dx[n*g.chw : (n+1)*g.chw]
		clear(d)
		g.col2im(op.dcol[n*g.hw:], ld, d)
	})
	return out, nil
}

// convGradWOp computes dL/dw from (x, w, dy); w is read for its shape only.
// It reuses the forward pass's im2col matrix. The batch is cut into a fixed
// number of chunks whose partial products are added in order, so the result
// does not depend on the core count.
type convGradWOp struct {
	opBase
	fwd   *convOp
	dyAll []float32
	parts [][]float32
}

const gradChunks = 4

func (op *convGradWOp) Arity() int    { return 3 }
func (op *convGradWOp) Type() hm.Type { return fnType(4, 4, 4, 4) }
func (op *convGradWOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[1].(tensor.Shape).Clone(), nil
}
func (op *convGradWOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *convGradWOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	g, err := newConvGeom(shapeOf(in[0]), shapeOf(in[1]), op.fwd.stride, op.fwd.pad)
	if err != nil {
		return nil, err
	}
	out := op.output(shapeOf(in[1]))
	dy, dw := f32(in[2]), f32(out)
	ld := g.n * g.hw
	col := op.fwd.col
	if len(col) != g.kdim*ld {
		return nil, fmt.Errorf("conv gradient: forward pass of this run is missing")
	}
	op.dyAll = grow(op.dyAll, g.o*ld)
	g.fromNCHW(dy, op.dyAll)
	cs := chunks(g.n, gradChunks)
	size := g.o * g.kdim
	if len(op.parts) != len(cs) || len(op.parts[0]) != size {
		op.parts = make([][]float32, len(cs))
		for i := range op.parts {
			op.parts[i] = make([]float32, size)
		}
	}
	parallelFor(len(cs), func(_, ci int) {
		lo, hi := cs[ci][0]*g.hw, cs[ci][1]*g.hw
		sgemm.Sgemm(blas.NoTrans, blas.Trans, g.o, g.kdim, hi-lo, 1, op.dyAll[lo:], ld, col[lo:], ld, 0, op.parts[ci], g.kdim)
	})
	copy(dw, op.parts[0])
	for _, part := range op.parts[1:] {
		for i, v := range part {
			dw[i] += v
		}
	}
	return out, nil
}
