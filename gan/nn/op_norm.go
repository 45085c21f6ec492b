package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

const bnEps = 1e-5

// BNRunning holds a batch-norm layer's running mean and variance, used when
// the generator samples in eval mode. It is shared by every graph that holds
// the layer and updated only by the one that trains it. Checkpoints hold it
// gob-encoded, and gob matches fields by name: keep Mean, Var, Momentum.
type BNRunning struct {
	Mean, Var []float32
	Momentum  float32
}

// NewBNRunning starts c channels' statistics at mean 0, variance 1, with
// PyTorch's momentum 0.1.
func NewBNRunning(c int) *BNRunning {
	r := &BNRunning{Mean: make([]float32, c), Var: make([]float32, c), Momentum: 0.1}
	for i := range r.Var {
		r.Var[i] = 1
	}
	return r
}

// bnOp is batch normalisation over (N, H, W) per channel followed by a
// leaky rectifier: (x[N,C,H,W], γ[C], β[C]) → y.
type bnOp struct {
	opBase
	slope         float32    // of the rectifier applied after normalising
	eval          bool       // use running statistics instead of the batch's
	updateRunning bool       // fold this batch's statistics into running
	running       *BNRunning // may be nil when neither eval nor updateRunning
	needX, needP  bool

	// Filled by the forward pass for the backward ops of the same run.
	mean, invstd []float32
	// The batch statistics in float64, as folded into the running ones, so
	// a twin sharing this op's output folds exactly the same numbers.
	mean64, var64 []float64

	// Per-channel sums of the backward pass, Σg and Σg·x̂ (g the gradient
	// through the rectifier), shared by the three gradient ops of one run.
	runs, sumsAt uint64
	sdy, sdyx    []float64
}

// BNOptions says how a batch-norm layer normalises and what follows it.
type BNOptions struct {
	Slope   float32    // of the leaky rectifier applied after normalising; 0 is ReLU
	Running *BNRunning // may be nil when neither Eval nor Update
	Eval    bool       // normalise with Running instead of the batch's statistics
	Update  bool       // fold this batch's statistics into Running
}

// BatchNorm normalises x[N,C,H,W] per channel with scale γ[C] and shift
// β[C], then applies a leaky rectifier in the same pass: one trip through
// memory instead of two, forward and backward. grads.Params covers γ and β.
func BatchNorm(x, gamma, beta *gorgonia.Node, o BNOptions, grads Grads, rec *Recorder) (*gorgonia.Node, error) {
	op := &bnOp{opBase: newOpBase("batchnorm"), slope: o.Slope, eval: o.Eval, updateRunning: o.Update, running: o.Running, needX: grads.Input, needP: grads.Params}
	rec.add(&op.opBase, op)
	return gorgonia.ApplyOp(op, x, gamma, beta)
}

// planes describes NCHW data as N×C planes of hw values.
func planes(s tensor.Shape) (n, c, hw int) {
	hw = 1
	for _, d := range s[2:] {
		hw *= d
	}
	return s[0], s[1], hw
}

func (op *bnOp) Arity() int                                               { return 3 }
func (op *bnOp) Type() hm.Type                                            { return fnType(4, 4, 1, 1) }
func (op *bnOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) { return inferFirst(in...) }
func (op *bnOp) Do(in ...gorgonia.Value) (gorgonia.Value, error)          { return op.UsePreallocDo(nil, in...) }
func (op *bnOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	n, c, hw := planes(shapeOf(in[0]))
	if shapeOf(in[1]).TotalSize() != c || shapeOf(in[2]).TotalSize() != c {
		return nil, fmt.Errorf("batchnorm: %d channels but γ %v, β %v", c, shapeOf(in[1]), shapeOf(in[2]))
	}
	if len(op.mean) != c {
		op.mean, op.invstd = make([]float32, c), make([]float32, c)
		op.mean64, op.var64 = make([]float64, c), make([]float64, c)
	}
	m := float64(n * hw)
	op.runs++
	if out, ok := op.shared(shapeOf(in[0])); ok {
		// The twin normalised the same batch: take its statistics too.
		tw := op.twin.owner.(*bnOp)
		copy(op.mean, tw.mean)
		copy(op.invstd, tw.invstd)
		copy(op.mean64, tw.mean64)
		copy(op.var64, tw.var64)
		if op.updateRunning {
			for ch := 0; ch < c; ch++ {
				op.fold(ch, op.mean64[ch], op.var64[ch], m)
			}
		}
		return out, nil
	}
	defer op.computed()
	out := op.output(shapeOf(in[0]))
	x, gamma, beta, y := F32(in[0]), F32(in[1]), F32(in[2]), F32(out)
	ParallelFor(c, func(_, ch int) {
		var mean, variance float64
		if op.eval {
			mean, variance = float64(op.running.Mean[ch]), float64(op.running.Var[ch])
		} else {
			// One pass of sums shifted by the channel's first value, which
			// keeps E[d²]−E[d]² from cancelling (activations here vary on
			// the scale of their spread); each row of hw values sums in
			// float32, rows in float64.
			shift := x[ch*hw]
			var s, ss float64
			for i := 0; i < n; i++ {
				var r, r2 float32
				for _, v := range x[(i*c+ch)*hw:][:hw] {
					d := v - shift
					r += d
					r2 += d * d
				}
				s += float64(r)
				ss += float64(r2)
			}
			mean = float64(shift) + s/m
			ss = max(ss-s*s/m, 0)
			variance = ss / m
			if op.updateRunning {
				op.fold(ch, mean, variance, m)
			}
		}
		op.mean64[ch], op.var64[ch] = mean, variance
		inv := 1 / math.Sqrt(variance+bnEps)
		op.mean[ch], op.invstd[ch] = float32(mean), float32(inv)
		scale := float32(inv) * gamma[ch]
		shift := beta[ch] - float32(mean)*scale
		for i := 0; i < n; i++ {
			src := x[(i*c+ch)*hw:][:hw]
			dst := y[(i*c+ch)*hw:][:hw]
			for j, v := range src {
				v = v*scale + shift
				if v <= 0 {
					v *= op.slope
				}
				dst[j] = v
			}
		}
	})
	return out, nil
}

// fold adds one batch's statistics for channel ch into the running ones,
// with the unbiased variance as PyTorch does.
func (op *bnOp) fold(ch int, mean, variance, m float64) {
	r := op.running
	unbiased := variance
	if m > 1 {
		unbiased = variance * m / (m - 1)
	}
	r.Mean[ch] = (1-r.Momentum)*r.Mean[ch] + r.Momentum*float32(mean)
	r.Var[ch] = (1-r.Momentum)*r.Var[ch] + r.Momentum*float32(unbiased)
}

func (op *bnOp) DiffWRT(int) []bool { return []bool{op.needX, op.needP, op.needP} }
func (op *bnOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.eval {
		return nil, fmt.Errorf("batchnorm in eval mode has no gradient here")
	}
	res := make(gorgonia.Nodes, 3)
	var err error
	if op.needX {
		if res[0], err = gorgonia.ApplyOp(&bnGradOp{opBase: newOpBase("bnGradX"), fwd: op, which: 0}, in[0], in[1], out, grad); err != nil {
			return nil, err
		}
	}
	if op.needP {
		if res[1], err = gorgonia.ApplyOp(&bnGradOp{opBase: newOpBase("bnGradGamma"), fwd: op, which: 1}, in[0], in[1], out, grad); err != nil {
			return nil, err
		}
		if res[2], err = gorgonia.ApplyOp(&bnGradOp{opBase: newOpBase("bnGradBeta"), fwd: op, which: 2}, in[0], in[1], out, grad); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// bnGradOp gives one of batch norm's gradients from (x, γ, y, dy), y the
// forward output, whose sign says where the rectifier passed: which 0 is
// dL/dx, 1 is dL/dγ, 2 is dL/dβ. It reads the batch statistics its forward
// op stored during the same run.
type bnGradOp struct {
	opBase
	fwd   *bnOp
	which int
}

func (op *bnGradOp) Arity() int { return 4 }
func (op *bnGradOp) Type() hm.Type {
	if op.which == 0 {
		return fnType(4, 4, 1, 4, 4)
	}
	return fnType(1, 4, 1, 4, 4)
}
func (op *bnGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if op.which == 0 {
		return inferFirst(in...)
	}
	return in[1].(tensor.Shape).Clone(), nil
}
func (op *bnGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *bnGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	n, c, hw := planes(shapeOf(in[0]))
	var out *tensor.Dense
	if op.which == 0 {
		out = op.output(shapeOf(in[0]))
	} else {
		out = op.output(shapeOf(in[1]))
	}
	x, gamma, y, dy, res := F32(in[0]), F32(in[1]), F32(in[2]), F32(in[3]), F32(out)
	f := op.fwd
	if f.sumsAt != f.runs {
		f.backwardSums(x, y, dy, n, c, hw)
	}
	switch op.which {
	case 1:
		for ch := range res {
			res[ch] = float32(f.sdyx[ch])
		}
		return out, nil
	case 2:
		for ch := range res {
			res[ch] = float32(f.sdy[ch])
		}
		return out, nil
	}
	m := float64(n * hw)
	slope := f.slope
	ParallelFor(c, func(_, ch int) {
		mean, inv := f.mean[ch], f.invstd[ch]
		k := gamma[ch] * inv
		a, b := float32(f.sdy[ch]/m), float32(f.sdyx[ch]/m)*inv
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			ys, xs, ds := y[off:off+hw], x[off:off+hw], res[off:off+hw]
			for j, g := range dy[off : off+hw] {
				if ys[j] <= 0 {
					g *= slope
				}
				ds[j] = k * (g - a - (xs[j]-mean)*b)
			}
		}
	})
	return out, nil
}

// backwardSums computes Σg and Σg·x̂ per channel once per run, with g the
// incoming gradient passed back through the rectifier. Each row of hw values
// is summed in float32, rows in float64.
func (op *bnOp) backwardSums(x, y, dy []float32, n, c, hw int) {
	if len(op.sdy) != c {
		op.sdy, op.sdyx = make([]float64, c), make([]float64, c)
	}
	slope := op.slope
	ParallelFor(c, func(_, ch int) {
		mean := op.mean[ch]
		var sdy, sdyx float64
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			ys, xs := y[off:off+hw], x[off:off+hw]
			var s1, s2 float32
			for j, g := range dy[off : off+hw] {
				if ys[j] <= 0 { // y > 0 exactly where the rectifier's input was
					g *= slope
				}
				s1 += g
				s2 += g * (xs[j] - mean)
			}
			sdy += float64(s1)
			sdyx += float64(s2)
		}
		op.sdy[ch], op.sdyx[ch] = sdy, sdyx*float64(op.invstd[ch])
	})
	op.sumsAt = op.runs
}
