package jobs

import (
	"context"
	"testing"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// A run's watch, rebuilt by a worker that resumes it, remembers the judged
// checks stored with its snapshots: the drop rule compares against the
// same best as before the restart, and checks of the warm-up do not count.
func TestWatchRestoresItsPath(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	q := startQueue(t, st)
	r := newRun(t, st, q, 100)
	for _, sn := range []struct {
		step      int
		level     string
		diversity float64
	}{{100, "", 0.2}, {200, spec.Healthy, 0.8}, {250, spec.Healthy, 1.0}, {300, spec.Warning, 0.9}} {
		h := store.NoHealth
		h.Level, h.Diversity = sn.level, sn.diversity
		if err := st.AddSnapshot(ctx, store.Snapshot{RunID: r.ID, Step: sn.step, SWD: -1, SWDFloor: -1, LikedShare: -1, Health: h}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := st.Dataset(ctx, r.DatasetID)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := LoadDataset(ctx, st, d, 32)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWatch(ctx, st, r, ds)
	if err != nil || w == nil {
		t.Fatalf("watch %v, %v", w, err)
	}
	if len(w.Path) != 3 || w.Best() != (gan.Seen{Step: 250, Diversity: 1.0}) || w.Last != spec.Warning {
		t.Errorf("path %+v, best %+v, last %q", w.Path, w.Best(), w.Last)
	}
}
