package gan

import (
	"github.com/ganstudio/ganstudio/gan/spec"
	"math"
	"math/rand/v2"
)

// HealthSamples is how many images a health check generates: enough for
// the near-duplicate test to see repeats, cheap enough to run at every
// snapshot (two sampling batches).
const HealthSamples = 128

// healthLatentSeed fixes the health check's latents, so checks over a run
// (and after a rollback) compare like with like.
const healthLatentSeed = 0x4ea1

// maxHealthReal caps the real images a reference is measured on.
const maxHealthReal = 512

// HealthReference measures up to 512 distinct training images once per run.
// Distinct, not drawn with replacement: a real image drawn twice would set
// the near-duplicate threshold to zero.
func HealthReference(src Source, seed uint64) Reference {
	n := min(src.Len(), maxHealthReal)
	idx := rand.New(rand.NewPCG(seed, 23)).Perm(src.Len())[:n]
	per := 3 * src.Res() * src.Res()
	real := make([][]float32, n)
	for i, j := range idx {
		real[i] = make([]float32, per)
		src.Image(j, real[i])
	}
	return NewReference(real, 0, seed)
}

// Health judges the generator (eval mode, fixed latents) against ref.
func (t *Trainer) Health(ref Reference) (spec.HealthReport, error) {
	fake, err := t.HealthImages()
	if err != nil {
		return spec.HealthReport{}, err
	}
	return t.HealthOf(ref, fake), nil
}

// HealthImages are the health check's images: the generator in eval mode
// on fixed latents, so checks over a run (and after a rollback) compare
// like with like. A snapshot that also charts the rating model's verdict
// generates them once for both.
func (t *Trainer) HealthImages() ([][]float32, error) {
	return t.Generator().Generate(RandomLatents(HealthSamples, t.cfg.ZDim, healthLatentSeed))
}

// HealthOf judges HealthImages against ref. The discriminator's spread on
// the last training batch's fakes comes with it: a generator that makes
// one image gets one verdict for all of them.
func (t *Trainer) HealthOf(ref Reference, fake [][]float32) spec.HealthReport {
	h := ref.Assess(fake)
	h.DFakeSpread = t.dFakeSpread
	return h
}

// spread is the standard deviation of a value's elements.
func spread(xs []float32) float64 {
	if len(xs) < 2 {
		return 0
	}
	var s, s2 float64
	for _, x := range xs {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	n := float64(len(xs))
	return math.Sqrt(max(0, s2/n-(s/n)*(s/n)))
}
