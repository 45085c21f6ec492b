package gan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// memOutside keeps a run in memory and writes down what the loop did.
type memOutside struct {
	ckpt        map[int][]byte
	log         []string
	recorded    int
	rollbackErr error
}

func (m *memOutside) Record(_ context.Context, steps []spec.Stats, _ float64) (Ask, bool, error) {
	m.recorded += len(steps)
	return AskNothing, true, nil
}
func (m *memOutside) Ratings(context.Context, *Trainer, bool) (*RatingModel, error) { return nil, nil }
func (m *memOutside) Snapshot(_ context.Context, s *Snapshot) error {
	m.log = append(m.log, fmt.Sprintf("snapshot %d", s.Step))
	return nil
}
func (m *memOutside) Checkpoint(_ context.Context, tr *Trainer, _ bool) error {
	var b bytes.Buffer
	if err := tr.WriteCheckpoint(&b); err != nil {
		return err
	}
	m.ckpt[tr.Step()] = b.Bytes()
	return nil
}
func (m *memOutside) Restore(_ context.Context, step int) (*Trainer, error) {
	b, ok := m.ckpt[step]
	if !ok {
		return nil, ErrNoCheckpoint
	}
	return ReadCheckpoint(bytes.NewReader(b), noiseSource{32})
}
func (m *memOutside) RolledBack(_ context.Context, tr *Trainer, d spec.Decision) (string, error) {
	m.log = append(m.log, fmt.Sprintf("rolled back to %d", tr.Step()))
	return "", m.rollbackErr
}
func (m *memOutside) Samples(_ context.Context, _ *Generator, step, n int, final bool) error {
	m.log = append(m.log, fmt.Sprintf("samples %d×%d", step, n))
	return nil
}
func (m *memOutside) Event(_ context.Context, step int, kind, msg string) {
	m.log = append(m.log, kind+": "+msg)
}
func (m *memOutside) Stop(context.Context, Ask, int) (bool, error) { return false, nil }
func (m *memOutside) Done(_ context.Context, step int) error {
	m.log = append(m.log, fmt.Sprintf("done %d", step))
	return nil
}

// collapseAt forces the health verdict: collapsed at the given steps.
func collapseAt(steps ...int) func(int, spec.HealthReport) spec.HealthReport {
	return func(step int, h spec.HealthReport) spec.HealthReport {
		h.Level, h.Reason = spec.Healthy, ""
		for _, s := range steps {
			if s == step {
				h.Level, h.Reason = spec.Collapsed, "forced"
			}
		}
		return h
	}
}

func TestLoopOrderAndRollback(t *testing.T) {
	for _, c := range []struct {
		name        string
		rollbackErr error
	}{{"rollback kept", nil}, {"rollback's outside fails part way", errors.New("database is gone")}} {
		t.Run(c.name, func(t *testing.T) {
			tr := tinyTrainer(t, 3)
			w := NewWatch(noiseSource{32}, 3, spec.Guard{P: spec.Policy{Mode: spec.PolicyRepair, WarmUp: 2, Confirm: 2, MaxTries: 1}})
			if w == nil {
				t.Fatal("no watch on the noise source")
			}
			w.Verdict = collapseAt(6, 8)
			out := &memOutside{ckpt: map[int][]byte{}, rollbackErr: c.rollbackErr}
			l := NewLoop(tr, Plan{Steps: 10, Fresh: true, SnapshotEvery: 2, Samples: 2, Final: 4, Base: tr.Config(), Watch: w}, out)
			err := l.Run(context.Background())
			defer l.Trainer().Close()
			if c.rollbackErr != nil {
				// The remedied trainer is the loop's, so a worker saving on
				// its way out keeps it, not the collapsed one.
				if !errors.Is(err, c.rollbackErr) || l.Trainer().Step() != 4 || l.Trainer().Config().LRG != tr.Config().LRG/4 {
					t.Fatalf("Run: %v; trainer at step %d with G's rate %g, want the error and the remedied trainer at step 4",
						err, l.Trainer().Step(), l.Trainer().Config().LRG)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Collapsed at 6 and 8 confirms a collapse: back to the last
			// healthy check (4) with a remedy; steps 5–8 trained again
			// collapse again (the forced verdict), and with its one try
			// spent the guard gives up; then healthy to the end.
			want := []string{"snapshot 0", "snapshot 2", "samples 2×2", "snapshot 4", "samples 4×2",
				"health: Signs of mode collapse at step 6: forced.", "snapshot 6", "samples 6×2", "snapshot 8",
				"rolled back to 4", "repair: Mode collapse at step 8: forced. Rolling back to step 4 (try 1 of 1). Remedy: generator learning rate quartered",
				"health: Signs of mode collapse at step 6: forced.", "snapshot 6", "samples 6×2",
				"repair: Mode collapse at step 8: forced. The repair did not hold; training goes on unrepaired.", "snapshot 8", "samples 8×2",
				"health: Healthy again at step 10.", "snapshot 10", "samples 10×4", "info: Finished 10 steps.", "done 10"}
			if len(out.log) != len(want) {
				t.Fatalf("the run went:\n%q\nwant:\n%q", out.log, want)
			}
			for i, w := range want {
				if !strings.HasPrefix(out.log[i], w) {
					t.Fatalf("step %d of the run is %q, want %q; the run went:\n%q", i, out.log[i], w, out.log)
				}
			}
			if last := out.log[len(out.log)-1]; last != "done 10" || l.Trainer().Step() != 10 || out.recorded != 10+4 {
				t.Errorf("ended with %q at step %d, %d steps recorded; want done 10 at step 10, 14 recorded (4 trained again)", last, l.Trainer().Step(), out.recorded)
			}
		})
	}
}
