package jobs

import (
	"context"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// A run judged collapsed from step 40 on is rolled back once to its last
// healthy checkpoint (30) with a lower generator learning rate; when the
// collapse comes back, the guard gives up and the run trains to the end.
func TestCollapseRollsBackThenGivesUp(t *testing.T) {
	ctx := context.Background()
	testHealth = func(step int, h spec.HealthReport) spec.HealthReport {
		if step >= 40 {
			h.Level, h.Reason = spec.Collapsed, "made to collapse by the test"
		} else {
			h.Level, h.Reason = spec.Healthy, ""
		}
		return h
	}
	defer func() { testHealth = nil }()
	st := openStore(t)
	q := startQueue(t, st)
	defer q.Stop(ctx)
	d, err := st.EnsureBuiltin(ctx, "shapes", 32, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := spec.Preset("tiny")
	cfg.Batch = 4
	r := &store.Run{DatasetID: d.ID, Steps: 60, Config: store.RunConfig{Config: cfg, SnapshotEvery: 10,
		Policy: spec.Policy{Mode: spec.PolicyRepair, WarmUp: 0, Confirm: 1, MaxTries: 1}}}
	if err := q.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	r = waitRun(t, st, r.ID, "done", func(r *store.Run) bool { return r.State == store.Done })

	ev := eventsText(t, st, r.ID)
	for _, want := range []string{"Rolling back to step 30 (try 1 of 1)", "Remedy: generator learning rate quartered",
		"The repair did not hold"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events lack %q:\n%s", want, ev)
		}
	}
	if strings.Count(ev, "Rolling back") != 1 || strings.Count(ev, "did not hold") != 1 {
		t.Errorf("want one rollback and one give-up:\n%s", ev)
	}
	if r.Guard.Tries != 1 || !r.Guard.GaveUp || r.Guard.LastHealthy != 30 {
		t.Errorf("guard %+v, want 1 try, given up, last healthy 30", r.Guard)
	}
	// Steps 31–40 were trained twice but recorded once.
	ms, _ := st.Metrics(ctx, r.ID)
	if len(ms) != 60 {
		t.Errorf("%d metric rows, want 60", len(ms))
	}
	for i, m := range ms {
		if m.Step != i+1 {
			t.Fatalf("metric row %d is step %d", i, m.Step)
		}
	}
	snaps, _ := st.Snapshots(ctx, r.ID)
	levels := map[int]string{}
	for _, s := range snaps {
		levels[s.Step] = s.Health.Level
	}
	if levels[30] != spec.Healthy || levels[40] != spec.Collapsed || levels[60] != spec.Collapsed || levels[0] != "" {
		t.Errorf("snapshot health %v", levels)
	}
	// The way back (30) stays; the remedy is in the checkpoints after it.
	for _, step := range []int{30, 60} {
		rc, err := st.Blobs.Open(ctx, store.CheckpointKey(r.ID, step))
		if err != nil {
			t.Fatalf("checkpoint %d: %v", step, err)
		}
		g, err := gan.ReadGenerator(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := g.Config().LRG, cfg.LRG/4; got != want {
			t.Errorf("checkpoint %d: generator learning rate %g, want %g", step, got, want)
		}
		g.Close()
	}
}

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
	if len(w.Path) != 3 || w.Best(1000) != (gan.Seen{Step: 250, Diversity: 1.0}) || w.Last != spec.Warning {
		t.Errorf("path %+v, best %+v, last %q", w.Path, w.Best(1000), w.Last)
	}
}
