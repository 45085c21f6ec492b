package gan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// HealthThresholds are where the judgement draws its lines. A collapsed
// generator makes images far more alike than the data (diversity well
// under 1) or repeats itself outright; a warning comes earlier, when either
// sign or poor coverage appears.
type HealthThresholds struct {
	CollapseDiversity float64 `json:"collapse_diversity"` // diversity below it: collapsed
	WarnDiversity     float64 `json:"warn_diversity"`     // below it: a warning
	CollapseDupes     float64 `json:"collapse_dupes"`     // near-copy share at or above it: collapsed
	WarnDupes         float64 `json:"warn_dupes"`         // at or above it: a warning
	WarnNDB           float64 `json:"warn_ndb"`           // NDB share at or above it: a warning
	// CollapseDrop judges a check collapsed when its diversity has fallen
	// below this share of the most diverse judged check on the run's way
	// to it (0: off). A run that loses part of its modes keeps a
	// diversity that would pass for healthy on a fresh run; against its
	// own best it has fallen.
	CollapseDrop float64 `json:"collapse_drop"`
}

// DefaultThresholds are the studio's.
//
// Set from constructed sets (tests) and one healthy ref32 emoji run
// (diversity 0.72 at step 250, 0.83 at 500; no duplicates; NDB 0.12 at 500
// with 8 cells). An untrained generator scores as collapsed (diversity
// 0.01), so a monitor must not judge before training has begun.
//
// The drop rule comes from Stacked MNIST's ground truth (bench stacked,
// 15 runs, 180 judged checks): the absolute thresholds caught every check
// of the runs made to collapse and raised no false alarm, but none of a
// DCGAN's checks that had lost a tenth of its modes, one of them nearly
// half (diversity 0.63 after 1.03). Below 0.7 of the best, that check is
// caught; at 0.8, two checks of healthy runs were alarmed.
var DefaultThresholds = HealthThresholds{
	CollapseDiversity: 0.35,
	WarnDiversity:     0.55,
	CollapseDupes:     0.5,
	WarnDupes:         0.1,
	WarnNDB:           0.75,
	CollapseDrop:      0.7,
}

// Reference is what the real data gives the health measures, computed once
// per run.
type Reference struct {
	MeanDistance float64
	DupThreshold float64
	Bins         *Bins
	Support      *Support
	// Th judges the measures; NewReference sets DefaultThresholds.
	Th HealthThresholds
}

// NewReference measures the real images (at least 2) once, with k k-means
// cells for NDB (k ≤ 0: one per ten images, 2 to 16).
func NewReference(real [][]float32, k int, seed uint64) Reference {
	if k <= 0 {
		k = min(16, max(2, len(real)/10))
	}
	return Reference{
		MeanDistance: MeanPairwiseDistance(real),
		DupThreshold: DuplicateThreshold(real),
		Bins:         NewBins(real, k, seed),
		Support:      NewSupport(real, 3),
		Th:           DefaultThresholds,
	}
}

// Assess judges generated images against the reference.
func (ref Reference) Assess(fake [][]float32) spec.HealthReport {
	return ref.assess(fake, Seen{})
}

// assess judges generated images against the reference and, for the drop
// rule, the run's best judged check before them.
func (ref Reference) assess(fake [][]float32, best Seen) spec.HealthReport {
	h := spec.HealthReport{
		Diversity:  MeanPairwiseDistance(fake) / ref.MeanDistance,
		Duplicates: NearDuplicateRate(fake, ref.DupThreshold),
		NDB:        ref.Bins.NDB(fake),
		Precision:  ref.Support.Precision(fake),
	}
	ref.Th.Judge(&h, best)
	return h
}

// Seen is a judged check's diversity, as the drop rule remembers it.
type Seen struct {
	Step      int     `json:"step"`
	Diversity float64 `json:"diversity"`
}

// Judge sets h's level and reason from its measures and, for the drop
// rule, the most diverse judged check before it (zero: none).
func (th HealthThresholds) Judge(h *spec.HealthReport, best Seen) {
	h.Level = spec.Healthy
	var why []string
	alike := fmt.Sprintf("samples are %.1f× more alike than the training images", 1/max(h.Diversity, 1e-3))
	if th.CollapseDrop > 0 && best.Diversity > 0 && h.Diversity < th.CollapseDrop*best.Diversity {
		h.Level = spec.Collapsed
		why = append(why, fmt.Sprintf("samples have become %.0f%% less varied than at step %d", 100*(1-h.Diversity/best.Diversity), best.Step))
	}
	switch {
	case h.Diversity < th.CollapseDiversity:
		h.Level = spec.Collapsed
		why = append(why, alike)
	case h.Diversity < th.WarnDiversity:
		h.Level = worse(h.Level, spec.Warning)
		why = append(why, alike)
	}
	switch {
	case h.Duplicates >= th.CollapseDupes:
		h.Level = spec.Collapsed
		why = append(why, fmt.Sprintf("%.0f%% of samples are near-copies of another", 100*h.Duplicates))
	case h.Duplicates >= th.WarnDupes:
		h.Level = worse(h.Level, spec.Warning)
		why = append(why, fmt.Sprintf("%.0f%% of samples are near-copies of another", 100*h.Duplicates))
	}
	if h.NDB >= th.WarnNDB {
		h.Level = worse(h.Level, spec.Warning)
		why = append(why, fmt.Sprintf("samples miss or crowd %.0f%% of the regions of the training images", 100*h.NDB))
	}
	h.Reason = strings.Join(why, "; ")
}

func worse(a, b string) string {
	rank := map[string]int{spec.Healthy: 0, spec.Warning: 1, spec.Collapsed: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

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

// HealthImages are the health check's images: the generator in eval mode
// on fixed latents, so checks over a run (and after a rollback) compare
// like with like. A snapshot that also charts the rating model's verdict
// generates them once for both.
func (t *Trainer) HealthImages() ([][]float32, error) {
	return t.Generator().Generate(RandomLatents(HealthSamples, t.cfg.ZDim, healthLatentSeed))
}

// HealthOf judges HealthImages against ref, and against best, the run's
// most diverse judged check before (zero: none). The discriminator's
// spread on the last training batch's fakes comes with it: a generator
// that makes one image gets one verdict for all of them.
func (t *Trainer) HealthOf(ref Reference, fake [][]float32, best Seen) spec.HealthReport {
	h := ref.assess(fake, best)
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
