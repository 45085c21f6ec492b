package gan

import (
	"fmt"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// ApplyRemedy sets the collapse repair of the given try (1-based) on a trainer
// just rolled back to a healthy checkpoint, and says what it did. Each try
// is worked out from base, the run's starting configuration, not from the
// trainer's current rates: applying a try twice (a worker that died
// between writing the remedied checkpoint and recording the try) gives the
// same rates. Tries build on each other; the rates live in the trainer's
// configuration and optimisers, so checkpoints carry them.
//
// The commonest way a DCGAN collapses is a generator that outruns its
// discriminator, which is what learning rates far from the reference
// recipe do (measured here: G 0.002 with D 1e-6 collapses within 50
// steps). So the first try brings wild rates back to the reference and
// otherwise slows the generator; later tries slow both networks.
func (t *Trainer) ApplyRemedy(try int, base spec.Config) string {
	ref := spec.DefaultConfig()
	off := func(v, r float64) bool { return v > 2*r || v < r/2 }
	g, d := base.LRG, base.LRD
	what := "generator learning rate quartered"
	if off(g, ref.LRG) || off(d, ref.LRD) {
		g, d = ref.LRG, ref.LRD
		what = "learning rates set back to the DCGAN reference"
	} else {
		g /= 4
	}
	if try >= 2 {
		g, d = g/4, d/2
		what += ", then the generator's quartered and the discriminator's halved"
	}
	for i := 3; i <= try; i++ {
		g, d = g/2, d/2
		what += ", then both halved"
	}
	t.setLR(g, d)
	return fmt.Sprintf("%s: generator %.2g, discriminator %.2g (the run started with %.2g and %.2g)", what, g, d, base.LRG, base.LRD)
}

func (t *Trainer) setLR(g, d float64) {
	t.optG.LR, t.cfg.LRG = g, g
	t.optD.LR, t.cfg.LRD = d, d
}
