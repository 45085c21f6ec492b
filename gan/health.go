package gan

import (
	"fmt"
	"github.com/ganstudio/ganstudio/gan/spec"
	"strings"
)

// Thresholds of the judgement. A collapsed generator makes images far more
// alike than the data (diversity well under 1) or repeats itself outright;
// a warning comes earlier, when either sign or poor coverage appears.
//
// Provisional: set from constructed sets (tests) and one healthy ref32
// emoji run (diversity 0.72 at step 250, 0.83 at 500; no duplicates; NDB
// 0.12 at 500 with 8 cells). An untrained generator scores as collapsed
// (diversity 0.01), so a monitor must not judge before training has begun.
// To be checked against runs made to collapse before alarms are raised.
const (
	collapseDiversity = 0.35
	warnDiversity     = 0.55
	collapseDupes     = 0.5
	warnDupes         = 0.1
	warnNDB           = 0.75
)

// Reference is what the real data gives the health measures, computed once
// per run.
type Reference struct {
	MeanDistance float64
	DupThreshold float64
	Bins         *Bins
	Support      *Support
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
	}
}

// Assess judges generated images against the reference.
func (ref Reference) Assess(fake [][]float32) spec.HealthReport {
	h := spec.HealthReport{
		Diversity:  MeanPairwiseDistance(fake) / ref.MeanDistance,
		Duplicates: NearDuplicateRate(fake, ref.DupThreshold),
		NDB:        ref.Bins.NDB(fake),
		Precision:  ref.Support.Precision(fake),
		Level:      spec.Healthy,
	}
	var why []string
	alike := fmt.Sprintf("samples are %.1f× more alike than the training images", 1/max(h.Diversity, 1e-3))
	switch {
	case h.Diversity < collapseDiversity:
		h.Level = spec.Collapsed
		why = append(why, alike)
	case h.Diversity < warnDiversity:
		h.Level = spec.Warning
		why = append(why, alike)
	}
	switch {
	case h.Duplicates >= collapseDupes:
		h.Level = spec.Collapsed
		why = append(why, fmt.Sprintf("%.0f%% of samples are near-copies of another", 100*h.Duplicates))
	case h.Duplicates >= warnDupes:
		h.Level = worse(h.Level, spec.Warning)
		why = append(why, fmt.Sprintf("%.0f%% of samples are near-copies of another", 100*h.Duplicates))
	}
	if h.NDB >= warnNDB {
		h.Level = worse(h.Level, spec.Warning)
		why = append(why, fmt.Sprintf("samples miss or crowd %.0f%% of the regions of the training images", 100*h.NDB))
	}
	h.Reason = strings.Join(why, "; ")
	return h
}

func worse(a, b string) string {
	rank := map[string]int{spec.Healthy: 0, spec.Warning: 1, spec.Collapsed: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
