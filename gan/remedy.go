package gan

import "fmt"

// Remedy applies the collapse repair of the given try (1-based) to a trainer
// just rolled back to a healthy checkpoint, and says what it did. Remedies
// build on each other; they live in the trainer's configuration and
// optimisers, so checkpoints carry them.
//
// The commonest way a DCGAN collapses is a generator that outruns its
// discriminator, which is what learning rates far from the reference
// recipe do (measured here: G 0.002 with D 1e-6 collapses within 50
// steps). So the first repair brings the rates back to the reference, and
// a run already there slows its generator; later tries slow both networks.
func (t *Trainer) Remedy(try int) string {
	g, d := t.optG.LR, t.optD.LR
	ref := DefaultConfig()
	off := func(v, r float64) bool { return v > 2*r || v < r/2 }
	switch {
	case try <= 1 && (off(g, ref.LRG) || off(d, ref.LRD)):
		t.setLR(ref.LRG, ref.LRD)
		return fmt.Sprintf("learning rates set back to the DCGAN reference, generator %.2g → %.2g, discriminator %.2g → %.2g",
			g, t.optG.LR, d, t.optD.LR)
	case try <= 1:
		t.setLR(g/4, d)
		return fmt.Sprintf("generator learning rate lowered from %.2g to %.2g", g, t.optG.LR)
	case try == 2:
		t.setLR(g/4, d/2)
		return fmt.Sprintf("generator learning rate lowered from %.2g to %.2g, discriminator's from %.2g to %.2g",
			g, t.optG.LR, d, t.optD.LR)
	default:
		t.setLR(g/2, d/2)
		return fmt.Sprintf("both learning rates halved: generator %.2g, discriminator %.2g", t.optG.LR, t.optD.LR)
	}
}

func (t *Trainer) setLR(g, d float64) {
	t.optG.LR, t.cfg.LRG = g, g
	t.optD.LR, t.cfg.LRD = d, d
}
