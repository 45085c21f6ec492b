package store

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func TestRollbackByHand(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	blob := func(key string) {
		if err := s.Blobs.Put(ctx, key, func(w io.Writer) error { _, err := w.Write([]byte("x")); return err }); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(key string) bool {
		rc, err := s.Blobs.Open(ctx, key)
		if err == nil {
			rc.Close()
		}
		return err == nil
	}
	for _, step := range []int{0, 5, 10} {
		if err := s.AddSnapshot(ctx, Snapshot{RunID: r.ID, Step: step, SWD: -1, SWDFloor: -1, Health: NoHealth}); err != nil {
			t.Fatal(err)
		}
		blob(GridKey(r.ID, step))
	}
	for _, step := range []int{0, 10} {
		blob(CheckpointKey(r.ID, step))
		s.AddSnapshotCheckpoint(ctx, r.ID, step)
	}
	s.SetCheckpoint(ctx, r.ID, 10)
	s.DB.Exec(`INSERT INTO metrics (run_id, step, loss_d, loss_g, d_real, d_fake) VALUES ($1, 3, 1, 1, 1, 1), ($2, 7, 1, 1, 1, 1)`, r.ID, r.ID)
	kept, _ := s.AddSamples(ctx, r.ID, 10, OriginSnapshot, [][]float32{{1}, {2}}, func(int, io.Writer) error { return nil })
	s.Rate(ctx, kept[0].ID, 1)

	if err := s.Rollback(ctx, r.ID, 0); !errors.Is(err, ErrState) {
		t.Errorf("rolling back a queued run: %v", err)
	}
	s.DB.Exec(`UPDATE runs SET state = 'done', step = 10 WHERE id = $1`, r.ID)
	for _, step := range []int{5, 7, 99} {
		if err := s.Rollback(ctx, r.ID, step); !errors.Is(err, ErrNoCheckpoint) {
			t.Errorf("rolling back to step %d, which has no checkpoint: %v", step, err)
		}
	}
	if err := s.Rollback(ctx, r.ID, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Run(ctx, r.ID)
	if got.State != Paused || got.Step != 0 || got.CkptStep != 0 || got.Guard.LastHealthy != 0 || got.Guard.Tries != 0 {
		t.Errorf("after rollback: %s at step %d, checkpoint %d, guard %+v", got.State, got.Step, got.CkptStep, got.Guard)
	}
	snaps, _ := s.Snapshots(ctx, r.ID)
	ms, _ := s.Metrics(ctx, r.ID)
	if len(snaps) != 1 || len(ms) != 0 {
		t.Errorf("%d snapshots and %d metric rows left, want 1 and 0", len(snaps), len(ms))
	}
	if !exists(CheckpointKey(r.ID, 0)) || exists(CheckpointKey(r.ID, 10)) || exists(GridKey(r.ID, 5)) || !exists(GridKey(r.ID, 0)) {
		t.Error("files past step 0 should be gone and step 0's kept")
	}
	if got, _ := s.Sample(ctx, kept[0].ID); got == nil {
		t.Error("a rated sample was dropped")
	}
	if got, _ := s.Sample(ctx, kept[1].ID); got != nil {
		t.Error("an unrated sample past the step was kept")
	}
	evs, _ := s.Events(ctx, r.ID, 10)
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "Rolled back by hand from step 10 to step 0") {
		t.Errorf("events %+v", evs)
	}
}

func TestRollbackToByItsWorker(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	for _, step := range []int{0, 5} {
		s.AddSnapshot(ctx, Snapshot{RunID: r.ID, Step: step, SWD: -1, SWDFloor: -1, Health: NoHealth})
		s.Blobs.Put(ctx, CheckpointKey(r.ID, step), func(w io.Writer) error { return nil })
		s.AddSnapshotCheckpoint(ctx, r.ID, step)
	}
	s.DB.Exec(`UPDATE runs SET state = 'running', worker_id = 'w1', step = 5, ckpt_step = 5 WHERE id = $1`, r.ID)
	g := r.Guard
	g.Tries = 1
	if err := s.RollbackTo(ctx, r.ID, "w2", 0, g); !errors.Is(err, ErrLost) {
		t.Errorf("another worker's rollback: %v, want ErrLost", err)
	}
	if err := s.RollbackTo(ctx, r.ID, "w1", 3, g); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("rollback to a step without a checkpoint: %v", err)
	}
	if err := s.RollbackTo(ctx, r.ID, "w1", 0, g); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Run(ctx, r.ID)
	if got.State != Running || got.Step != 0 || got.CkptStep != 0 || got.Guard.Tries != 1 {
		t.Errorf("after the worker's rollback: %s, step %d, checkpoint %d, guard %+v", got.State, got.Step, got.CkptStep, got.Guard)
	}
	if rc, err := s.Blobs.Open(ctx, CheckpointKey(r.ID, 5)); err == nil {
		rc.Close()
		t.Error("the checkpoint past the step is still there")
	}
	// A non-number figure is stored as "not measured", not as NULL.
	h := NoHealth
	h.Diversity = math.NaN()
	h.Duplicates = math.Inf(1)
	if err := s.AddSnapshot(ctx, Snapshot{RunID: r.ID, Step: 1, SWD: -1, SWDFloor: -1, Health: h}); err != nil {
		t.Fatal(err)
	}
	snaps, err := s.Snapshots(ctx, r.ID)
	if err != nil || len(snaps) != 2 || snaps[1].Health.Diversity != -1 || snaps[1].Health.Duplicates != -1 {
		t.Errorf("snapshots %+v (%v)", snaps, err)
	}
}
