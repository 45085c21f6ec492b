package gan

import (
	"fmt"

	"github.com/ganstudio/ganstudio/gan/nn"
)

// The augmented batches of a step, indexing augActs' buffers.
const (
	augReal = iota // D step: the real batch
	augFake        // D step: the fakes
	augNeg         // D step: the disliked batch
	augGen         // G step: the fakes again, with transforms of their own
)

// augParams is how many floats one image's transforms take on the device
// (AUG_PARAMS in gan/kernels/kernels.h).
const augParams = 9

// augActs are the buffers of the augmentation of D's inputs: what the host
// drew for each batch (nn.AugForward is the reference the kernels follow),
// the augmented images, and scratch shared by every pass (the passes run
// one after the other).
type augActs struct {
	prm  [4]uintptr // each batch's transforms, augParams floats per image
	img  [4]uintptr // the augmented batches; the G step's reuses the D step's fakes' buffer
	u    uintptr    // the colour stage's output, or the gradient between the adjoint's stages
	mean uintptr    // each image's mean, for contrast
	dimg uintptr    // G step: the gradient of D's (augmented) input
	host []float32  // transforms packed for upload
}

// augAlloc allocates the augmentation's buffers but the disliked batch's
// images (allocated with its pass); n is the batch.
func (a *accel) augAlloc(n int) {
	b, per, most := &a.aug, 3*a.cfg.Res*a.cfg.Res, max(n, negBatch(n))
	for k := range b.prm {
		b.prm[k] = a.alloc(augParams * most)
	}
	b.img[augReal], b.img[augFake] = a.alloc(n*per), a.alloc(n*per)
	// D's step is over before G's: its fakes' buffer is free again.
	b.img[augGen] = b.img[augFake]
	b.u, b.mean, b.dimg = a.alloc(most*per), a.alloc(most), a.alloc(n*per)
	b.host = make([]float32, augParams*most)
}

// augment writes batch k's augmentation of x (n images, with the
// transforms the host drew into aug) into its buffer and returns that
// buffer, or returns x itself when the run has no augmentation.
func (a *accel) augment(k int, aug *nn.Aug, x uintptr, n int) uintptr {
	if !a.cfg.Augment.On() {
		return x
	}
	ps := aug.P
	if a.err == nil && len(ps) != n {
		// Kernels would read past the transforms' buffer.
		a.err = fmt.Errorf("augmented batch %d: %d transforms drawn for %d images", k, len(ps), n)
	}
	b, res := &a.aug, a.cfg.Res
	hw := res * res
	h := b.host[:0]
	for _, p := range ps {
		h = append(h, p.Bright, p.Sat, p.Contrast, float32(p.TX), float32(p.TY),
			float32(p.CutX0), float32(p.CutY0), float32(p.CutX1), float32(p.CutY1))
	}
	prm, y := b.prm[k], b.img[k]
	a.up(prm, h)
	a.launch("aug_colour", n*hw, ai(n), ai(hw), ap(prm), ap(x), ap(b.u))
	a.launch("aug_mean", n, ai(n), ai(3*hw), ap(prm), ap(b.u), ap(b.mean))
	a.launch("aug_place", n*3*hw, ai(n), ai(res), ai(res), ap(prm), ap(b.u), ap(b.mean), ap(y))
	return y
}

// augBackward writes into dx the gradient of batch k's input (n images)
// from dy, the gradient of its augmented output, with the transforms
// augment uploaded for it.
func (a *accel) augBackward(k int, dy, dx uintptr, n int) {
	b, res := &a.aug, a.cfg.Res
	hw, prm := res*res, a.aug.prm[k]
	a.launch("aug_place_bwd", n*3*hw, ai(n), ai(res), ai(res), ap(prm), ap(dy), ap(b.u))
	a.launch("aug_mean", n, ai(n), ai(3*hw), ap(prm), ap(b.u), ap(b.mean))
	a.launch("aug_colour_bwd", n*hw, ai(n), ai(hw), ap(prm), ap(b.u), ap(b.mean), ap(dx))
}

// emaStep moves the generator's average toward G's weights, just updated
// by step number step (counted before it, as the CPU's emaBeta is called).
func (a *accel) emaStep(step int) {
	if a.ema == 0 {
		return
	}
	n := a.G.total
	a.launch("ema", n, ai(n), ap(a.G.w), ap(a.ema), af(float32(emaBeta(a.cfg, step))))
}

// transferEMA copies the generator's average, laid out as G's weights,
// between host and device.
func (a *accel) transferEMA(toDevice bool, e *Net) {
	off := 0
	for i, p := range e.Params {
		a.move(toDevice, nn.F32(p), fptr(a.ema, off))
		off += a.G.sizes[i]
	}
}
