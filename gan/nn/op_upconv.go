package nn

import (
	"fmt"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Nearest-neighbour ×2 upsampling followed by a 3×3 convolution with
// padding 1, computed without building the upsampled map. Each output pixel
// (2i+a, 2j+b) sees only a 2×2 window of the small input, so every phase
// (a, b) is a 2×2 convolution of x with a kernel made by summing taps of w:
// 16 multiply-adds per input channel and output pixel instead of 36. The
// result is the same function as upsample2x followed by Conv2d.

// upTaps[a][u] lists the kernel rows ki that land on input row i+u+a−1 for
// output row 2i+a (the same table serves columns).
var upTaps = [2][2][]int{{{0}, {1, 2}}, {{0, 1}, {2}}}

// upGeom is the geometry of one up-convolution on NCHW data.
type upGeom struct {
	n, c, h, w, o int
	hw, kdim, chw int
}

func newUpGeom(x, w tensor.Shape) (upGeom, error) {
	if len(x) != 4 || len(w) != 4 || x[1] != w[1] || w[2] != 3 || w[3] != 3 {
		return upGeom{}, fmt.Errorf("upconv: input %v and filter %v do not fit", x, w)
	}
	return upGeom{n: x[0], c: x[1], h: x[2], w: x[3], o: w[0], hw: x[2] * x[3], kdim: 4 * x[1], chw: x[1] * x[2] * x[3]}, nil
}

func (g upGeom) outShape() tensor.Shape { return tensor.Shape{g.n, g.o, 2 * g.h, 2 * g.w} }

// spans splits the batch as convGeom.spans does.
func (g upGeom) spans() [][2]int {
	per := g.kdim * g.hw
	return chunks(g.n, max((g.n*per+chunkFloats-1)/chunkFloats, minChunks))
}

// phaseKernels sums w's taps into the four 2×2 kernels, each O × 4C with
// rows (c, u, v) matching the phase im2col.
func (g upGeom) phaseKernels(w []float32, dst []float32) {
	per := g.o * g.kdim
	for o := 0; o < g.o; o++ {
		for c := 0; c < g.c; c++ {
			k := (*[9]float32)(w[(o*g.c+c)*9:])
			// r[a][u][kj]: rows summed for phase row a, tap row u.
			var r [2][2][3]float32
			for kj := 0; kj < 3; kj++ {
				r[0][0][kj] = k[kj]
				r[0][1][kj] = k[3+kj] + k[6+kj]
				r[1][0][kj] = k[kj] + k[3+kj]
				r[1][1][kj] = k[6+kj]
			}
			at := o*g.kdim + c*4
			for a := 0; a < 2; a++ {
				for u := 0; u < 2; u++ {
					q := r[a][u]
					// Phase column b = 0: taps {0}, {1,2}; b = 1: {0,1}, {2}.
					d0 := dst[(a*2)*per+at+u*2:]
					d0[0], d0[1] = q[0], q[1]+q[2]
					d1 := dst[(a*2+1)*per+at+u*2:]
					d1[0], d1[1] = q[0]+q[1], q[2]
				}
			}
		}
	}
}

// spreadKernels is phaseKernels' adjoint: it adds each phase kernel's
// gradient back onto the 3×3 taps it was summed from.
func (g upGeom) spreadKernels(src []float32, dw []float32) {
	per := g.o * g.kdim
	for o := 0; o < g.o; o++ {
		for c := 0; c < g.c; c++ {
			d := (*[9]float32)(dw[(o*g.c+c)*9:])
			*d = [9]float32{}
			at := o*g.kdim + c*4
			for a := 0; a < 2; a++ {
				for u := 0; u < 2; u++ {
					s0 := src[(a*2)*per+at+u*2:]
					s1 := src[(a*2+1)*per+at+u*2:]
					// Column sums back onto kj, as phaseKernels built them.
					q := [3]float32{s0[0] + s1[0], s0[1] + s1[0], s0[1] + s1[1]}
					for _, ki := range upTaps[a][u] {
						d[ki*3] += q[0]
						d[ki*3+1] += q[1]
						d[ki*3+2] += q[2]
					}
				}
			}
		}
	}
}

// im2col fills col (4C × (hi−lo)·HW) for phase (a, b) from samples lo..hi:
// tap (u, v) is the input plane shifted by (u+a−1, v+b−1).
func (g upGeom) im2col(x, col []float32, a, b, lo, hi int) {
	ld := (hi - lo) * g.hw
	for s := lo; s < hi; s++ {
		for c := 0; c < g.c; c++ {
			xc := x[s*g.chw+c*g.hw:][:g.hw]
			for r := 0; r < 4; r++ {
				shiftCopy(col[(c*4+r)*ld+(s-lo)*g.hw:][:g.hw], xc, g.h, g.w, r/2+a-1, r%2+b-1)
			}
		}
	}
}

// col2im adds col back onto dx, the adjoint of im2col; dx rows lo..hi must be zeroed.
func (g upGeom) col2im(col, dx []float32, a, b, lo, hi int) {
	ld := (hi - lo) * g.hw
	for s := lo; s < hi; s++ {
		for c := 0; c < g.c; c++ {
			xc := dx[s*g.chw+c*g.hw:][:g.hw]
			for r := 0; r < 4; r++ {
				shiftAdd(xc, col[(c*4+r)*ld+(s-lo)*g.hw:][:g.hw], g.h, g.w, r/2+a-1, r%2+b-1)
			}
		}
	}
}

// phaseGather and phaseScatter move phase (a, b) of NCHW data with 2H×2W maps into a block
// (O × (hi−lo)·HW) and back.
func (g upGeom) phaseGather(y, block []float32, a, b, lo, hi int) {
	ld := (hi - lo) * g.hw
	w2 := 2 * g.w
	for s := lo; s < hi; s++ {
		for o := 0; o < g.o; o++ {
			plane := y[(s*g.o+o)*4*g.hw:][:4*g.hw]
			dst := block[o*ld+(s-lo)*g.hw:][:g.hw]
			for i := 0; i < g.h; i++ {
				row := plane[(2*i+a)*w2:][:w2]
				d := dst[i*g.w:][:g.w]
				for j := range d {
					d[j] = row[2*j+b]
				}
			}
		}
	}
}

func (g upGeom) phaseScatter(block, y []float32, a, b, lo, hi int) {
	ld := (hi - lo) * g.hw
	w2 := 2 * g.w
	for s := lo; s < hi; s++ {
		for o := 0; o < g.o; o++ {
			plane := y[(s*g.o+o)*4*g.hw:][:4*g.hw]
			src := block[o*ld+(s-lo)*g.hw:][:g.hw]
			for i := 0; i < g.h; i++ {
				row := plane[(2*i+a)*w2:][:w2]
				sr := src[i*g.w:][:g.w]
				for j, v := range sr {
					row[2*j+b] = v
				}
			}
		}
	}
}

// upConvOp is upsample ×2 then conv 3×3 (pad 1, no bias): (x[N,C,H,W], w[O,C,3,3]) → y[N,O,2H,2W].
type upConvOp struct {
	opBase
	needX, needW bool
	kern         []float32
	cols, outs   scratch

	// dy split into its four output phases, chunk by chunk in the layout
	// the gradient GEMMs read, shared by the input and weight gradients of
	// one run: the stride-2 extraction is the costly part.
	runs, gatheredAt uint64
	dyBlocks         []float32
}

// phaseBlocks returns dy's phase blocks for this run, gathering them on
// first use. Block (ph, chunk lo..hi) is O × (hi−lo)·HW at
// ph·N·O·HW + lo·O·HW.
func (op *upConvOp) phaseBlocks(g upGeom, dy []float32) []float32 {
	if op.gatheredAt == op.runs && op.dyBlocks != nil {
		return op.dyBlocks
	}
	total := g.n * g.o * g.hw
	op.dyBlocks = grow(op.dyBlocks, 4*total)
	sp := g.spans()
	ParallelFor(len(sp), func(_, i int) {
		lo, hi := sp[i][0], sp[i][1]
		for ph := 0; ph < 4; ph++ {
			g.phaseGather(dy, op.dyBlocks[ph*total+lo*g.o*g.hw:][:(hi-lo)*g.o*g.hw], ph/2, ph%2, lo, hi)
		}
	})
	op.gatheredAt = op.runs
	return op.dyBlocks
}

// UpConv2d is nearest-neighbour upsampling ×2 followed by a 3×3
// convolution with padding 1 and no bias, in one op: x[N,C,H,W] and
// w[O,C,3,3] give y[N,O,2H,2W]. grads and rec are as for Conv2d.
func UpConv2d(x, w *gorgonia.Node, grads Grads, rec *Recorder) (*gorgonia.Node, error) {
	op := &upConvOp{opBase: newOpBase("upconv"), needX: grads.Input, needW: grads.Params}
	rec.add(&op.opBase, op)
	return gorgonia.ApplyOp(op, x, w)
}

func (op *upConvOp) Arity() int    { return 2 }
func (op *upConvOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *upConvOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	g, err := newUpGeom(in[0].(tensor.Shape), in[1].(tensor.Shape))
	return g.outShape(), err
}
func (op *upConvOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *upConvOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	g, err := newUpGeom(shapeOf(in[0]), shapeOf(in[1]))
	if err != nil {
		return nil, err
	}
	op.runs++ // a new forward pass: gathered gradient blocks are stale
	if out, ok := op.shared(g.outShape()); ok {
		return out, nil
	}
	out := op.output(g.outShape())
	x, y := F32(in[0]), F32(out)
	op.kern = grow(op.kern, 4*g.o*g.kdim)
	g.phaseKernels(F32(in[1]), op.kern)
	sp := g.spans()
	ParallelFor(len(sp), func(wk, i int) {
		lo, hi := sp[i][0], sp[i][1]
		n := (hi - lo) * g.hw
		col := op.cols.get(wk, g.kdim*n)
		blk := op.outs.get(wk, g.o*n)
		for ph := 0; ph < 4; ph++ {
			a, b := ph/2, ph%2
			g.im2col(x, col, a, b, lo, hi)
			sgemm.Sgemm(blas.NoTrans, blas.NoTrans, g.o, n, g.kdim, 1, op.kern[ph*g.o*g.kdim:], g.kdim, col, n, 0, blk, n)
			g.phaseScatter(blk, y, a, b, lo, hi)
		}
	})
	op.computed()
	return out, nil
}
func (op *upConvOp) DiffWRT(int) []bool { return []bool{op.needX, op.needW} }
func (op *upConvOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, 2)
	var err error
	if op.needX {
		if res[0], err = gorgonia.ApplyOp(&upConvGradOp{opBase: newOpBase("upconvGradX"), dx: true, fwd: op}, in[0], in[1], grad); err != nil {
			return nil, err
		}
	}
	if op.needW {
		if res[1], err = gorgonia.ApplyOp(&upConvGradOp{opBase: newOpBase("upconvGradW"), fwd: op}, in[0], in[1], grad); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// upConvGradOp gives dL/dx (dx true) or dL/dw from (x, w, dy).
type upConvGradOp struct {
	opBase
	fwd         *upConvOp
	dx          bool
	kern, kernT []float32
	cols, dxs   scratch
	parts       partials
}

func (op *upConvGradOp) Arity() int    { return 3 }
func (op *upConvGradOp) Type() hm.Type { return fnType(4, 4, 4, 4) }
func (op *upConvGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if op.dx {
		return inferFirst(in...)
	}
	return in[1].(tensor.Shape).Clone(), nil
}
func (op *upConvGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *upConvGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	g, err := newUpGeom(shapeOf(in[0]), shapeOf(in[1]))
	if err != nil {
		return nil, err
	}
	x, w := F32(in[0]), F32(in[1])
	sp := g.spans()
	blocks := op.fwd.phaseBlocks(g, F32(in[2]))
	total := g.n * g.o * g.hw
	if op.dx {
		// dx = Σ over phases of a 2×2 convolution of the phase's dy with the
		// transposed phase kernel: tap (u, v) reads dy shifted back by
		// (u+a−1, v+b−1). Block copies and one GEMM per phase, summed in place.
		out := op.output(shapeOf(in[0]))
		dx := F32(out)
		op.kern = grow(op.kern, 4*g.o*g.kdim)
		g.phaseKernels(w, op.kern)
		op.kernT = grow(op.kernT, 4*g.c*4*g.o)
		for ph := 0; ph < 4; ph++ {
			k, kt := op.kern[ph*g.o*g.kdim:], op.kernT[ph*g.c*4*g.o:]
			for o := 0; o < g.o; o++ {
				for c := 0; c < g.c; c++ {
					for r := 0; r < 4; r++ {
						kt[c*4*g.o+o*4+r] = k[o*g.kdim+c*4+r]
					}
				}
			}
		}
		ParallelFor(len(sp), func(wk, i int) {
			lo, hi := sp[i][0], sp[i][1]
			n := (hi - lo) * g.hw
			colT := op.cols.get(wk, 4*g.o*n)
			dxb := op.dxs.get(wk, g.c*n)
			for ph := 0; ph < 4; ph++ {
				a, b := ph/2, ph%2
				blk := blocks[ph*total+lo*g.o*g.hw:][:g.o*n]
				for o := 0; o < g.o; o++ {
					for s := 0; s < hi-lo; s++ {
						plane := blk[o*n+s*g.hw:][:g.hw]
						for r := 0; r < 4; r++ {
							shiftCopy(colT[(o*4+r)*n+s*g.hw:][:g.hw], plane, g.h, g.w, 1-r/2-a, 1-r%2-b)
						}
					}
				}
				beta := float32(1)
				if ph == 0 {
					beta = 0
				}
				sgemm.Sgemm(blas.NoTrans, blas.NoTrans, g.c, n, 4*g.o, 1, op.kernT[ph*g.c*4*g.o:], 4*g.o, colT, n, beta, dxb, n)
			}
			scatterChunk(dxb, dx, g.c, g.hw, lo, hi)
		})
		return out, nil
	}
	out := op.output(shapeOf(in[1]))
	dw := F32(out)
	parts := op.parts.prepare(len(sp), 4*g.o*g.kdim)
	ParallelFor(len(sp), func(wk, i int) {
		lo, hi := sp[i][0], sp[i][1]
		n := (hi - lo) * g.hw
		col := op.cols.get(wk, g.kdim*n)
		for ph := 0; ph < 4; ph++ {
			a, b := ph/2, ph%2
			g.im2col(x, col, a, b, lo, hi)
			blk := blocks[ph*total+lo*g.o*g.hw:][:g.o*n]
			sgemm.Sgemm(blas.NoTrans, blas.Trans, g.o, g.kdim, n, 1, blk, n, col, n, 0, parts[i][ph*g.o*g.kdim:], g.kdim)
		}
	})
	// Sum the chunks in order, then spread the phase kernels' gradients
	// back onto the 3×3 taps.
	sum := parts[0]
	parts.sumInto(sum)
	g.spreadKernels(sum, dw)
	return out, nil
}
