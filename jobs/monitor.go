package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// monitor is a run's mode-collapse watch: a health check at every
// snapshot, judged by the run's guard, with events when the judgement
// changes and a rollback when the guard asks for one.
type monitor struct {
	ref   gan.Reference
	guard spec.Guard
	last  string // level of the latest judged check
	// saved is the last healthy step of the guard as stored: its
	// checkpoint stays until a newer way back is both written and saved.
	saved int
}

// testHealth, when set by a test, replaces the health check's verdict: a
// real collapse cannot be made to order in a few steps.
var testHealth func(step int, h spec.HealthReport) spec.HealthReport

// newMonitor returns nil when the dataset gives nothing to compare with:
// with one image, or only identical ones, every measure divides by zero.
func newMonitor(ctx context.Context, st *store.Store, run *store.Run, ds *datasets.Dataset) (*monitor, error) {
	ref := gan.HealthReference(ds, run.Config.Seed)
	if !(ref.MeanDistance > 0) || math.IsInf(ref.DupThreshold, 0) {
		st.AddEvent(ctx, run.ID, run.Step, store.EventInfo, "The collapse monitor is off for this run: its dataset has no two different images to compare samples with.")
		return nil, nil
	}
	m := &monitor{ref: ref, guard: run.Guard, saved: run.Guard.LastHealthy}
	m.guard.P = run.Config.CollapsePolicy()
	sns, err := st.Snapshots(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	for _, sn := range sns {
		if sn.Health.Level != "" {
			m.last = sn.Health.Level
		}
	}
	return m, nil
}

// check judges the health check's images (gan.Trainer.HealthImages) and
// asks the guard what to do. The level of a check the guard did not judge
// (warm-up) is left empty.
func (m *monitor) check(ctx context.Context, t *training, fake [][]float32) (spec.HealthReport, spec.Decision) {
	s := t.tr.Step()
	h := t.tr.HealthOf(m.ref, fake)
	if testHealth != nil {
		h = testHealth(s, h)
	}
	d := m.guard.Observe(s, h)
	if !d.Judged {
		h.Level, h.Reason = "", ""
		return h, d
	}
	st, id := t.q.st, t.run.ID
	if h.Level != m.last {
		switch h.Level {
		case spec.Warning:
			st.AddEvent(ctx, id, s, store.EventHealth, fmt.Sprintf("Health warning at step %d: %s.", s, h.Reason))
		case spec.Collapsed:
			if !d.Collapse {
				st.AddEvent(ctx, id, s, store.EventHealth, fmt.Sprintf("Signs of mode collapse at step %d: %s.", s, h.Reason))
			}
		case spec.Healthy:
			if m.last != "" {
				st.AddEvent(ctx, id, s, store.EventHealth, fmt.Sprintf("Healthy again at step %d.", s))
			}
		}
	}
	m.last = h.Level
	if d.Message != "" && !d.Rollback {
		st.AddEvent(ctx, id, s, store.EventRepair, d.Message)
	}
	return h, d
}

// settle runs after the checkpoint of a judged check: the guard's state is
// saved only once its way back exists, and only then does the checkpoint
// the stored guard pointed to go.
func (m *monitor) settle(ctx context.Context, t *training) error {
	if err := t.q.st.SaveGuard(ctx, t.run.ID, m.guard); err != nil {
		return err
	}
	old := m.saved
	m.saved = m.guard.LastHealthy
	if old != m.saved {
		return t.dropCheckpoint(ctx, old)
	}
	return nil
}

// rollback takes the run back to the guard's last healthy checkpoint and
// applies the remedy of this try. The remedy is written into that
// checkpoint, so a crash after the rollback resumes with it.
func (t *training) rollback(ctx context.Context, d spec.Decision) error {
	st, run := t.q.st, t.run
	tr, err := loadCheckpoint(ctx, st, run.ID, d.ToStep, t.ds)
	if errors.Is(err, store.ErrNotFound) {
		// Nothing to go back to (a checkpoint removed by hand): say so
		// and train on, watched but unrepaired.
		t.mon.guard.GaveUp, t.mon.guard.Tries = true, t.mon.guard.P.MaxTries
		st.AddEvent(ctx, run.ID, t.tr.Step(), store.EventRepair, fmt.Sprintf("%s But the checkpoint of step %d is gone; training goes on unrepaired.", d.Message, d.ToStep))
		return t.checkpoint(ctx)
	}
	if err != nil {
		return fmt.Errorf("rolling back to step %d: %w", d.ToStep, err)
	}
	remedy := tr.ApplyRemedy(d.Try, run.Config.Config)
	err = st.Blobs.Put(ctx, store.CheckpointKey(run.ID, d.ToStep), tr.WriteCheckpoint)
	if err == nil {
		err = st.RollbackTo(ctx, run.ID, t.q.workerID, d.ToStep, t.mon.guard)
	}
	if err != nil {
		tr.Close()
		return fmt.Errorf("rolling back to step %d: %w", d.ToStep, err)
	}
	t.tr.Close()
	t.tr, run.CkptStep, run.Step = tr, d.ToStep, d.ToStep
	t.mon.last, t.mon.saved = spec.Healthy, t.mon.guard.LastHealthy
	more, err := t.feedbackAfterRollback(ctx)
	st.AddEvent(ctx, run.ID, d.ToStep, store.EventRepair, d.Message+" Remedy: "+remedy+more+".")
	return err
}
