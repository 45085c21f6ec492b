package nn

import (
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// AugParams is one image's differentiable augmentation (DiffAugment), drawn
// on the host before each step; the zero value with Sat and Contrast 1 is
// the identity (NoAug). In order:
//
//	colour:      v = x + Bright; v = Sat·(v − mean_c v) + mean_c v (per pixel,
//	             over the three channels); u = Contrast·(v − mean v) + mean v
//	             (over the whole image)
//	translation: t(h, w) = u(h − TY, w − TX), zero outside the image
//	cutout:      y = t, but zero in [CutY0, CutY1) × [CutX0, CutX1)
//
// Every stage is linear in x (brightness adds a constant), so the backward
// pass is the adjoint of each stage in reverse order and needs no copy of
// the input. The GPU's kernels (aug_* in gan/kernels) compute the same.
type AugParams struct {
	Bright, Sat, Contrast      float32
	TX, TY                     int
	CutX0, CutY0, CutX1, CutY1 int
}

// NoAug is the identity transform.
var NoAug = AugParams{Sat: 1, Contrast: 1}

// Aug is the per-image transforms of one augmented batch; the trainer
// redraws P before every run of the graph that holds the op.
type Aug struct {
	P []AugParams
}

// augOp is y = T(x) for a batch x[N,3,H,W] with the transforms of aug.
type augOp struct {
	opBase
	aug       *Aug
	inputGrad bool
	buf       scratch
}

// Augment applies aug's transforms to x (N×3×H×W). With inputGrad the
// gradient flows back through it (the generator's step); without it, x is
// a leaf (real images, or fakes in the discriminator's step).
func Augment(x *gorgonia.Node, aug *Aug, inputGrad bool) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(&augOp{opBase: newOpBase("augment"), aug: aug, inputGrad: inputGrad}, x)
}

func (op *augOp) Arity() int    { return 1 }
func (op *augOp) Type() hm.Type { return fnType(4, 4) }
func (op *augOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *augOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *augOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	s := shapeOf(in[0])
	out := op.output(s)
	augForward(F32(in[0]), F32(out), s[0], s[2], s[3], op.aug.P, &op.buf)
	return out, nil
}
func (op *augOp) DiffWRT(int) []bool { return []bool{op.inputGrad} }
func (op *augOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &augGradOp{opBase: newOpBase("augmentGrad"), aug: op.aug}
	n, err := gorgonia.ApplyOp(g, grad)
	return gorgonia.Nodes{n}, err
}

// augGradOp is dL/dx = Tᵀ(dy).
type augGradOp struct {
	opBase
	aug *Aug
	buf scratch
}

func (op *augGradOp) Arity() int    { return 1 }
func (op *augGradOp) Type() hm.Type { return fnType(4, 4) }
func (op *augGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferFirst(in...)
}
func (op *augGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, in...)
}
func (op *augGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	s := shapeOf(in[0])
	out := op.output(s)
	augBackward(F32(in[0]), F32(out), s[0], s[2], s[3], op.aug.P, &op.buf)
	return out, nil
}

// AugForward writes T(x) into y for n images of 3×h×w, image i with ps[i].
func AugForward(x, y []float32, n, h, w int, ps []AugParams) {
	augForward(x, y, n, h, w, ps, &scratch{})
}

// AugBackward writes Tᵀ(dy) into dx: the gradient of the input from the
// gradient of the output.
func AugBackward(dy, dx []float32, n, h, w int, ps []AugParams) {
	augBackward(dy, dx, n, h, w, ps, &scratch{})
}

// augForward is AugForward with a worker's image-sized buffer from buf,
// kept by the op across steps (it runs three times a step).
func augForward(x, y []float32, n, h, w int, ps []AugParams, buf *scratch) {
	per := 3 * h * w
	ParallelFor(n, func(wk, i int) {
		p := ps[i]
		src, dst := x[i*per:(i+1)*per], y[i*per:(i+1)*per]
		u := buf.get(wk, per)
		colour(src, u, h*w, p)
		place(u, dst, h, w, p, false)
	})
}

func augBackward(dy, dx []float32, n, h, w int, ps []AugParams, buf *scratch) {
	per := 3 * h * w
	ParallelFor(n, func(wk, i int) {
		p := ps[i]
		src, dst := dy[i*per:(i+1)*per], dx[i*per:(i+1)*per]
		g := buf.get(wk, per)
		place(src, g, h, w, p, true)
		colourAdjoint(g, dst, h*w, p)
	})
}

// colour is the colour stage of one image (three planes of hw values).
func colour(x, u []float32, hw int, p AugParams) {
	var total float64 // only contrast reads it
	for j := 0; j < hw; j++ {
		r, g, b := x[j]+p.Bright, x[hw+j]+p.Bright, x[2*hw+j]+p.Bright
		if p.Sat != 1 {
			m := (r + g + b) / 3
			r, g, b = p.Sat*(r-m)+m, p.Sat*(g-m)+m, p.Sat*(b-m)+m
		}
		u[j], u[hw+j], u[2*hw+j] = r, g, b
		total += float64(r) + float64(g) + float64(b)
	}
	contrast(u, float32(total/float64(3*hw)), p.Contrast)
}

// colourAdjoint is colour's adjoint (brightness, a constant, drops out):
// contrast's, then saturation's, both symmetric.
func colourAdjoint(g, dx []float32, hw int, p AugParams) {
	var total float64
	if p.Contrast != 1 {
		for _, v := range g {
			total += float64(v)
		}
	}
	contrast(g, float32(total/float64(3*hw)), p.Contrast)
	if p.Sat == 1 {
		copy(dx, g)
		return
	}
	for j := 0; j < hw; j++ {
		r, gg, b := g[j], g[hw+j], g[2*hw+j]
		m := (r + gg + b) / 3
		dx[j], dx[hw+j], dx[2*hw+j] = p.Sat*(r-m)+m, p.Sat*(gg-m)+m, p.Sat*(b-m)+m
	}
}

// contrast is v ← c·(v − mean) + mean in place.
func contrast(v []float32, mean, c float32) {
	if c == 1 {
		return
	}
	for j, x := range v {
		v[j] = c*(x-mean) + mean
	}
}

// place is translation then cutout from src into dst (both 3×h×w); with
// adjoint, their adjoint: dst(h, w) = src(h + TY, w + TX) where that output
// pixel is inside and not cut out.
func place(src, dst []float32, h, w int, p AugParams, adjoint bool) {
	cut := func(y, x int) bool { return y >= p.CutY0 && y < p.CutY1 && x >= p.CutX0 && x < p.CutX1 }
	for c := 0; c < 3; c++ {
		s, d := src[c*h*w:(c+1)*h*w], dst[c*h*w:(c+1)*h*w]
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var v float32
				if adjoint {
					// Input pixel (y, x) went to output (y+TY, x+TX).
					oy, ox := y+p.TY, x+p.TX
					if oy >= 0 && oy < h && ox >= 0 && ox < w && !cut(oy, ox) {
						v = s[oy*w+ox]
					}
				} else {
					iy, ix := y-p.TY, x-p.TX
					if iy >= 0 && iy < h && ix >= 0 && ix < w && !cut(y, x) {
						v = s[iy*w+ix]
					}
				}
				d[y*w+x] = v
			}
		}
	}
}
