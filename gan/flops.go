package gan

import "github.com/ganstudio/ganstudio/gan/spec"

// StepFLOPs counts the floating-point operations of one training step's
// matrix products (convolutions and linear layers, forward and backward), as
// the engine runs them: the D step evaluates G(z) and D on the real and the
// fake batch; the G step evaluates D on the same fakes (G's forward pass is
// shared with the D step, not recomputed) and back-propagates through both
// into G. Element-wise work (batch norm, activations) is left out, as is
// usual for such counts.
func StepFLOPs(c spec.Config) float64 {
	n := float64(c.Batch)
	// Generator layers: forward FLOPs of each product.
	gch := genChannels(c)
	var gFwd, gBwd float64
	lin := 2 * n * float64(c.ZDim) * float64(gch[0]*16)
	gFwd += lin
	gBwd += lin // weight gradient only: z needs none
	side := 4
	for i := 1; i < len(gch); i++ {
		// Upsample + 3×3 conv runs as four 2×2 convolutions on the small map.
		f := 2 * n * float64(side*side) * 4 * float64(gch[i]) * float64(gch[i-1]*4)
		gFwd += f
		gBwd += 2 * f
		side *= 2
	}
	out := 2 * n * float64(c.Res*c.Res) * 3 * float64(gch[len(gch)-1]*9)
	gFwd += out
	gBwd += 2 * out
	// Discriminator layers.
	dch := discChannels(c)
	var dFwd, dBwdW, dBwdX float64
	in, side := 3, c.Res
	for i, o := range dch {
		side /= 2
		f := 2 * n * float64(side*side) * float64(o) * float64(in*9)
		dFwd += f
		dBwdW += f
		if i > 0 {
			dBwdX += f
		}
		in = o
	}
	dl := 2 * n * float64(discFeatures(c))
	dFwd += dl
	dBwdW += dl
	dBwdX += dl
	firstX := 2 * n * float64((c.Res/2)*(c.Res/2)) * float64(dch[0]) * 27 // D's input gradient, needed in the G step
	dStep := gFwd + 2*dFwd + 2*dBwdW + 2*dBwdX
	gStep := dFwd + dBwdX + firstX + gBwd
	return dStep + gStep
}
