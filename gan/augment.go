package gan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gorgonia.org/tensor"

	"github.com/ganstudio/ganstudio/gan/nn"
	"github.com/ganstudio/ganstudio/gan/spec"
)

// augState is a trainer's augmentation: the transforms of each batch the
// discriminator sees in a step, and ADA's control. The control's state is
// saved in checkpoints, so a resumed run goes on at the strength it had
// (ADA's own users lose it on resume).
type augState struct {
	on   bool
	real *nn.Aug // D step: real images
	fake *nn.Aug // D step: generated images
	neg  *nn.Aug // D step: disliked images
	gen  *nn.Aug // G step: generated images
	ada  adaState
}

// adaState is ADA's control, as checkpoints keep it.
type adaState struct {
	P     float64 // the strength: each transform's probability
	RTSum float64 // Σ sign D(x) over the interval so far
	RTN   int     // how many real logits are in RTSum
	RT    float64 // r_t of the last full interval (0 before one has passed)
}

func newAugState(c spec.Config) augState {
	a := augState{on: c.Augment.On(), ada: adaState{P: c.Augment.P}}
	if a.on {
		a.real, a.fake, a.gen = &nn.Aug{}, &nn.Aug{}, &nn.Aug{}
		a.neg = &nn.Aug{}
	}
	return a
}

// draw redraws the transforms of every augmented batch of a step.
func (t *Trainer) drawAug() {
	a := &t.aug
	if !a.on {
		return
	}
	c := t.cfg
	draw := func(x *nn.Aug, n int) {
		x.P = slices.Grow(x.P[:0], n)[:n]
		for i := range x.P {
			x.P[i] = drawAugParams(t.rng, c.Augment, a.ada.P, c.Res)
		}
	}
	draw(a.real, c.Batch)
	draw(a.fake, c.Batch)
	draw(a.gen, c.Batch)
	if t.fbGraphs {
		draw(a.neg, negBatch(c.Batch))
	}
}

// drawAugParams draws one image's transforms with DiffAugment's ranges,
// each transform applied with probability p (ADA's way of setting the
// strength): brightness + U(−0.5, 0.5), saturation × U(0, 2), contrast ×
// U(0.5, 1.5), a shift of up to 1/8 of the side each way, and a square of
// half the side cut out anywhere its centre falls in the image.
func drawAugParams(rng *rand.Rand, aug spec.Augment, p float64, res int) nn.AugParams {
	x := nn.NoAug
	if p <= 0 {
		return x
	}
	hit := func() bool { return rng.Float64() < p }
	if aug.Has("color") {
		if hit() {
			x.Bright = float32(rng.Float64() - 0.5)
		}
		if hit() {
			x.Sat = float32(2 * rng.Float64())
		}
		if hit() {
			x.Contrast = float32(rng.Float64() + 0.5)
		}
	}
	if aug.Has("translation") && hit() {
		s := int(float64(res)*0.125 + 0.5)
		x.TX, x.TY = rng.IntN(2*s+1)-s, rng.IntN(2*s+1)-s
	}
	if aug.Has("cutout") && hit() {
		s := int(float64(res)*0.5 + 0.5)
		ox, oy := rng.IntN(res+1-s%2), rng.IntN(res+1-s%2)
		x.CutX0, x.CutY0 = max(ox-s/2, 0), max(oy-s/2, 0)
		x.CutX1, x.CutY1 = min(ox-s/2+s, res), min(oy-s/2+s, res)
	}
	return x
}

// observeReal feeds ADA the logits D gave this step's real batch (as the
// discriminator saw them, augmented) and, every spec.AugInterval steps,
// measures r_t = E[sign D(x)] and moves the strength toward its target.
// r_t is measured for every run, augmented or not: it also tells the
// health check of a discriminator that has memorised the set.
func (t *Trainer) observeReal(logits []float32) {
	a := &t.aug.ada
	for _, v := range logits {
		switch {
		case v > 0:
			a.RTSum++
		case v < 0:
			a.RTSum--
		}
	}
	a.RTN += len(logits)
	if (t.step+1)%spec.AugInterval != 0 || a.RTN == 0 {
		return
	}
	a.RT = a.RTSum / float64(a.RTN)
	if aug := t.cfg.Augment; aug.Mode == spec.AugAuto {
		adjust := float64(a.RTN) / aug.Speed
		if a.RT < aug.Target {
			adjust = -adjust
		}
		a.P = min(max(a.P+adjust, 0), 1)
	}
	a.RTSum, a.RTN = 0, 0
}

// MemorisingRT is the r_t above which a discriminator is taken to be sure
// of nearly every real image (r_t 0.9: 95 % of them on the real side).
const MemorisingRT = 0.9

// MemorisingRise is how far SWD must have risen above its best for a sure
// discriminator to count as memorising: quality falling, not just a
// strong D.
const MemorisingRise = 1.1

// memorising says, in words, whether the discriminator memorises the set:
// r_t high while quality has fallen from its best; "" if not.
func (t *Trainer) memorising(swd float64) string {
	a, b := &t.aug.ada, t.best
	if a.RT < MemorisingRT || !b.Set || swd < 0 || swd <= MemorisingRise*b.SWD {
		return ""
	}
	msg := fmt.Sprintf("the discriminator is memorising the training images (r_t %.2f) while quality fell from SWD %.1f at step %d to %.1f", a.RT, b.SWD, b.Step, swd)
	if t.cfg.Augment.Mode == spec.AugAuto && a.P >= 1 {
		msg += "; augmentation is at full strength already"
	} else if !t.cfg.Augment.On() {
		msg += "; this run has no augmentation, which is the usual answer (auto)"
	}
	return msg
}

// AugStrength is the augmentation strength the next step trains with and
// ADA's last r_t (0 until an interval has passed).
func (t *Trainer) AugStrength() (p, rt float64) { return t.aug.ada.P, t.aug.ada.RT }

// emaBeta is how much of the average the step after step keeps: a
// half-life of cfg.EMA images, capped at cfg.EMARampShare() of the images seen
// so far (ADA's ramp-up).
func emaBeta(c spec.Config, step int) float64 {
	images := float64((step + 1) * c.Batch)
	half := min(c.EMA, c.EMARampShare()*images)
	if half <= 0 {
		return 0
	}
	return math.Pow(0.5, float64(c.Batch)/half)
}

// newEMA is the generator's average, starting at its weights. It shares
// the live generator's batch-norm running statistics, as FastGAN's average
// does: they are themselves a running average of the same layers.
func newEMA(g *Net) *Net {
	e := &Net{Names: g.Names, Running: g.Running, index: g.index}
	for _, p := range g.Params {
		e.Params = append(e.Params, p.Clone().(*tensor.Dense))
	}
	return e
}

// updateEMA moves the average toward the live weights after a step.
func updateEMA(e, g *Net, beta float64) {
	b := float32(beta)
	for i, p := range g.Params {
		w, avg := nn.F32(p), nn.F32(e.Params[i])
		nn.ParallelRange(len(w), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				avg[j] = w[j] + b*(avg[j]-w[j])
			}
		})
	}
}

// mirror flips an image (3 planes of res×res) left to right in place.
func mirror(img []float32, res int) {
	for row := 0; row < 3*res; row++ {
		slices.Reverse(img[row*res : (row+1)*res])
	}
}
