package gan

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// Watch is a run's mode-collapse watch: the health check of every
// snapshot, judged by the run's guard, with events when the judgement
// changes. The loop rolls back when the guard says so.
type Watch struct {
	Ref   Reference
	Guard spec.Guard
	// Last is the level of the latest judged check ("" before the first).
	Last string
	// Verdict, when set (by tests: a real collapse cannot be made to order
	// in a few steps), replaces a check's report before it is judged.
	Verdict func(step int, h spec.HealthReport) spec.HealthReport
	// Path is the judged checks on the way to now, in step order, for the
	// drop rule (HealthThresholds.CollapseDrop): a rollback forgets those
	// it undoes (Rewind), a resumed run remembers its stored ones.
	Path []Seen
}

// Remember adds a judged check to the path.
func (w *Watch) Remember(step int, diversity float64) {
	w.Path = append(w.Path, Seen{Step: step, Diversity: diversity})
}

// Rewind forgets the checks after step: a rollback to it undoes them.
func (w *Watch) Rewind(step int) {
	w.Path = slices.DeleteFunc(w.Path, func(s Seen) bool { return s.Step > step })
}

// Best is the most diverse check on the path before step (zero: none).
func (w *Watch) Best(before int) Seen {
	var b Seen
	for _, s := range w.Path {
		if s.Step < before && s.Diversity > b.Diversity {
			b = s
		}
	}
	return b
}

// NewWatch watches a run on src under guard (its policy and the state it
// has reached), or returns nil when src gives nothing to compare with:
// with one image, or only identical ones, every measure divides by zero.
func NewWatch(src Source, seed uint64, guard spec.Guard) *Watch {
	ref := HealthReference(src, seed)
	if !(ref.MeanDistance > 0) || math.IsInf(ref.DupThreshold, 0) {
		return nil
	}
	return &Watch{Ref: ref, Guard: guard}
}

// check judges the health check's images and asks the guard what to do,
// telling out of changes in the judgement and of the guard's messages (a
// rollback's is told once it is done). The level of a check the guard did
// not judge (the warm-up) is left empty.
func (w *Watch) check(ctx context.Context, tr *Trainer, fake [][]float32, out Outside, swd float64) (spec.HealthReport, spec.Decision) {
	s := tr.Step()
	h := tr.HealthOf(w.Ref, fake, w.Best(s))
	if w.Verdict != nil {
		h = w.Verdict(s, h)
	}
	// A memorising discriminator is a warning, not a collapse: the
	// generator is still varied, and rolling back would not help.
	if m := tr.memorising(swd); m != "" {
		h.Memorising = true
		if h.Level == spec.Healthy {
			h.Level, h.Reason = spec.Warning, m
		}
	}
	d := w.Guard.Observe(s, h)
	if !d.Judged {
		h.Level, h.Reason = "", ""
		return h, d
	}
	w.Remember(s, h.Diversity)
	if h.Level != w.Last {
		switch h.Level {
		case spec.Warning:
			out.Event(ctx, s, EventHealth, fmt.Sprintf("Health warning at step %d: %s.", s, h.Reason))
		case spec.Collapsed:
			if !d.Collapse {
				out.Event(ctx, s, EventHealth, fmt.Sprintf("Signs of mode collapse at step %d: %s.", s, h.Reason))
			}
		case spec.Healthy:
			if w.Last != "" {
				out.Event(ctx, s, EventHealth, fmt.Sprintf("Healthy again at step %d.", s))
			}
		}
	}
	w.Last = h.Level
	if d.Message != "" && !d.Rollback {
		out.Event(ctx, s, EventRepair, d.Message)
	}
	return h, d
}
