package nn

import (
	"fmt"
	"sync"

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

// scratch holds one buffer per worker goroutine, kept across steps. The
// workers of one ParallelFor call get at the same time, and the first call
// makes the list of buffers: unguarded, two workers could both make it and
// one read the other's half-written slice (a crash seen in a worker
// process). The lock is taken once per chunk, not per value.
type scratch struct {
	mu   sync.Mutex
	bufs [][]float32
}

func (s *scratch) get(w, n int) []float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bufs) < maxWorkers() {
		s.bufs = append(s.bufs, make([][]float32, maxWorkers()-len(s.bufs))...)
	}
	if cap(s.bufs[w]) < n {
		s.bufs[w] = make([]float32, n)
	}
	return s.bufs[w][:n]
}

// The ops work through the batch in chunks of samples whose im2col matrix
// (K × chunk·HW) stays near 1 MB, in cache: writing the whole batch's
// matrix first (150 MB for the generator's last layers) made the copies
// memory-bound. Chunks run in parallel, one per worker; each is one matrix
// multiply, large enough to keep BLAS efficient on the small 4×4 and 8×8 maps.

// spans splits the batch into near-equal chunks of samples, enough that
// each chunk's im2col block stays near chunkFloats and that two cores share the
// work evenly. The split depends only on the shapes, never on the core
// count, so gradient sums over chunks add up in the same order everywhere.
func (g convGeom) spans() [][2]int {
	per := g.kdim * g.hw
	k := max((g.n*per+chunkFloats-1)/chunkFloats, minChunks)
	return chunks(g.n, k)
}

// chunkFloats bounds one chunk's im2col block: 256 Ki floats (1 MiB) stays
// in the per-core cache while BLAS reads it. Measured as CPU time of
// `ganstudio bench --steps 10` (user+sys), ref32: 64 Ki 12.4 s, 256 Ki
// 11.5 s, 1 Mi 12.8 s, 4 Mi 14.2 s.
const chunkFloats = 1 << 18

// minChunks keeps even small layers split for parallel work.
const minChunks = 4

// im2colChunk fills col (K × (hi−lo)·HW) from samples lo..hi of x.
func (g convGeom) im2colChunk(x, col []float32, lo, hi int) {
	ld := (hi - lo) * g.hw
	for s := lo; s < hi; s++ {
		g.im2col(x[s*g.chw:(s+1)*g.chw], col[(s-lo)*g.hw:], ld)
	}
}

// gatherChunk copies samples lo..hi of NCHW data with c channels into
// block (c × (hi−lo)·HW); scatterChunk is the reverse.
func gatherChunk(src, block []float32, c, hw, lo, hi int) {
	ld := (hi - lo) * hw
	for s := lo; s < hi; s++ {
		for ch := 0; ch < c; ch++ {
			copy(block[ch*ld+(s-lo)*hw:][:hw], src[(s*c+ch)*hw:][:hw])
		}
	}
}

func scatterChunk(block, dst []float32, c, hw, lo, hi int) {
	ld := (hi - lo) * hw
	for s := lo; s < hi; s++ {
		for ch := 0; ch < c; ch++ {
			copy(dst[(s*c+ch)*hw:][:hw], block[ch*ld+(s-lo)*hw:][:hw])
		}
	}
}

// forward computes y = conv(x, w) chunk by chunk; cols and outs are per-worker scratch.
func (g convGeom) forward(x, w, y []float32, cols, outs *scratch) {
	sp := g.spans()
	ParallelFor(len(sp), func(wk, i int) {
		lo, hi := sp[i][0], sp[i][1]
		n := (hi - lo) * g.hw
		col := cols.get(wk, g.kdim*n)
		g.im2colChunk(x, col, lo, hi)
		if hi-lo == 1 { // one sample's O × HW block is already NCHW
			sgemm.Sgemm(blas.NoTrans, blas.NoTrans, g.o, n, g.kdim, 1, w, g.kdim, col, n, 0, y[lo*g.o*g.hw:hi*g.o*g.hw], n)
			return
		}
		out := outs.get(wk, g.o*n)
		sgemm.Sgemm(blas.NoTrans, blas.NoTrans, g.o, n, g.kdim, 1, w, g.kdim, col, n, 0, out, n)
		scatterChunk(out, y, g.o, g.hw, lo, hi)
	})
}

// same says whether the convolution keeps the image size at stride 1; its
// input gradient is then itself a "same" convolution of dy with the
// flipped, transposed kernel, which is cheaper than col2im.
func (g convGeom) same() bool { return g.s == 1 && g.p == g.k/2 && g.k%2 == 1 }

// convOp is a 2-D convolution without bias: (x[N,C,H,W], w[O,C,k,k]) → y[N,O,H',W'].
type convOp struct {
	opBase
	stride, pad  int
	needX, needW bool // which gradients the graph wants
	cols, outs   scratch
}

// Conv2d applies a k×k convolution of x[N,C,H,W] with filter w[O,C,k,k],
// without bias, at the given stride and zero padding. grads says whether
// gradients with respect to the input and the filter are wanted; rec, if
// not nil, records the layer for Pair.
func Conv2d(x, w *gorgonia.Node, stride, pad int, grads Grads, rec *Recorder) (*gorgonia.Node, error) {
	op := &convOp{opBase: newOpBase("conv"), stride: stride, pad: pad, needX: grads.Input, needW: grads.Params}
	rec.add(&op.opBase, op)
	return gorgonia.ApplyOp(op, x, w)
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
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
	if out, ok := op.shared(g.outShape()); ok {
		return out, nil
	}
	out := op.output(g.outShape())
	g.forward(F32(in[0]), F32(in[1]), F32(out), &op.cols, &op.outs)
	op.computed()
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
	fwd             *convOp
	wflip           []float32
	cols, outs, dys scratch
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
	w, dy, dx := F32(in[1]), F32(in[2]), F32(out)
	if g.same() {
		// dx = conv(dy, w') with w'[c,o,i,j] = w[o,c,k−1−i,k−1−j].
		kk := g.k * g.k
		op.wflip = grow(op.wflip, g.c*g.o*kk)
		for o := 0; o < g.o; o++ {
			for c := 0; c < g.c; c++ {
				src := w[(o*g.c+c)*kk:][:kk]
				dst := op.wflip[(c*g.o+o)*kk:][:kk]
				for i := range kk {
					dst[i] = src[kk-1-i]
				}
			}
		}
		g2 := convGeom{n: g.n, c: g.o, h: g.ho, w: g.wo, o: g.c, k: g.k, s: 1, p: g.p, ho: g.h, wo: g.w,
			kdim: g.o * kk, hw: g.h * g.w, chw: g.o * g.ho * g.wo}
		g2.forward(dy, op.wflip, dx, &op.cols, &op.outs)
		return out, nil
	}
	sp := g.spans()
	ParallelFor(len(sp), func(wk, i int) {
		lo, hi := sp[i][0], sp[i][1]
		n := (hi - lo) * g.hw
		dyc := op.dys.get(wk, g.o*n)
		gatherChunk(dy, dyc, g.o, g.hw, lo, hi)
		dcol := op.cols.get(wk, g.kdim*n)
		sgemm.Sgemm(blas.Trans, blas.NoTrans, g.kdim, n, g.o, 1, w, g.kdim, dyc, n, 0, dcol, n)
		for s := lo; s < hi; s++ {
			d := dx[s*g.chw : (s+1)*g.chw]
			clear(d)
			g.col2im(dcol[(s-lo)*g.hw:], n, d)
		}
	})
	return out, nil
}

// convGradWOp computes dL/dw from (x, w, dy); w is read for its shape only.
// Each chunk's partial product goes to a buffer of its own and the partials
// are added in chunk order, so the result does not depend on the core count.
type convGradWOp struct {
	opBase
	fwd       *convOp
	cols, dys scratch
	parts     partials
}

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
	x, dy, dw := F32(in[0]), F32(in[2]), F32(out)
	sp := g.spans()
	parts := op.parts.prepare(len(sp), g.o*g.kdim)
	ParallelFor(len(sp), func(wk, i int) {
		lo, hi := sp[i][0], sp[i][1]
		n := (hi - lo) * g.hw
		col := op.cols.get(wk, g.kdim*n)
		g.im2colChunk(x, col, lo, hi)
		var dyc []float32
		if hi-lo == 1 {
			dyc = dy[lo*g.o*g.hw : hi*g.o*g.hw]
		} else {
			dyc = op.dys.get(wk, g.o*n)
			gatherChunk(dy, dyc, g.o, g.hw, lo, hi)
		}
		sgemm.Sgemm(blas.NoTrans, blas.Trans, g.o, g.kdim, n, 1, dyc, n, col, n, 0, parts[i], g.kdim)
	})
	parts.sumInto(dw)
	return out, nil
}
