package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/storetest"
	"github.com/ganstudio/ganstudio/internal/wait"
	"github.com/ganstudio/ganstudio/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	dir := t.TempDir()
	db, blobs := storetest.Config(t, dir)
	st, err := store.OpenConfig(context.Background(), store.Config{Dir: dir, Database: db, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func startQueue(t *testing.T, st *store.Store) *Queue {
	t.Helper()
	return startQueueOn(t, st, spec.CPU)
}

// tinyShapes is the built-in shapes dataset and the tiny preset at batch 4:
// runs that train in a blink.
func tinyShapes(t *testing.T, st *store.Store) (*store.Dataset, spec.Config) {
	t.Helper()
	d, err := st.EnsureBuiltin(context.Background(), "shapes", 32, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := spec.Preset("tiny")
	cfg.Batch = 4
	return d, cfg
}

func newRun(t *testing.T, st *store.Store, q *Queue, steps int) *store.Run {
	t.Helper()
	d, cfg := tinyShapes(t, st)
	r := &store.Run{DatasetID: d.ID, Steps: steps, Config: store.RunConfig{Config: cfg, SnapshotEvery: 10, KeepEvery: 20}}
	if err := q.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitRun polls the run until ok says so, failing after a deadline.
func waitRun(t *testing.T, st *store.Store, id int64, what string, ok func(*store.Run) bool) *store.Run {
	t.Helper()
	var r *store.Run
	state := func() string { return fmt.Sprintf("run is %s at step %d (%s)", r.State, r.Step, r.Error) }
	wait.Until(t, 2*time.Minute, what, func() bool {
		var err error
		if r, err = st.Run(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if done := ok(r); done || r.State != store.Failed {
			return done
		}
		t.Fatalf("waiting for %s: %s", what, state())
		return false
	}, state)
	return r
}

func eventsText(t *testing.T, st *store.Store, id int64) string {
	evs, err := st.Events(context.Background(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.Kind + ": " + e.Message + "\n")
	}
	return b.String()
}

func TestRunToTheEnd(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	q := startQueue(t, st)
	defer q.Stop(ctx)
	r := newRun(t, st, q, 25)
	r = waitRun(t, st, r.ID, "done", func(r *store.Run) bool { return r.State == store.Done })
	if r.Step != 25 || r.CkptStep != 25 {
		t.Errorf("done at step %d with checkpoint at %d, want 25 and 25", r.Step, r.CkptStep)
	}
	ms, _ := st.Metrics(ctx, r.ID)
	if len(ms) != 25 || ms[0].Step != 1 || ms[24].Step != 25 {
		t.Errorf("%d metric rows, want steps 1..25", len(ms))
	}
	snaps, _ := st.Snapshots(ctx, r.ID)
	var steps []int
	var kept []int
	for _, s := range snaps {
		steps = append(steps, s.Step)
		if s.Checkpoint {
			kept = append(kept, s.Step)
		}
	}
	if len(steps) != 4 || steps[0] != 0 || steps[3] != 25 {
		t.Errorf("snapshots at %v, want 0, 10, 20, 25", steps)
	}
	// 0 is kept (0 % 20 == 0), 10 is dropped, 20 kept, 25 the latest.
	if len(kept) != 3 || kept[0] != 0 || kept[1] != 20 || kept[2] != 25 {
		t.Errorf("checkpoints kept at %v, want 0, 20, 25", kept)
	}
	for _, step := range []int{10} {
		if _, err := st.Blobs.Open(ctx, store.CheckpointKey(r.ID, step)); err == nil {
			t.Errorf("checkpoint of step %d should have been dropped", step)
		}
	}
	_, n, _ := st.Samples(ctx, store.SampleQuery{RunID: r.ID, Step: -1})
	if want := 2*SnapshotSamples + FinalSamples; n != want { // snapshots 10 and 20; 25 has the final ones
		t.Errorf("%d samples, want %d", n, want)
	}
	// Generate from a kept checkpoint and from the latest.
	got, err := Generate(ctx, st, r, 20, 3, false)
	if err != nil || len(got) != 3 || got[0].Step != 20 {
		t.Fatalf("generate from step 20: %v, %v", got, err)
	}
	if _, err := Generate(ctx, st, r, 10, 3, false); err == nil {
		t.Error("generate from a dropped checkpoint should fail")
	}
	// Biased toward liked samples: none yet, then near the one liked.
	if _, err := Generate(ctx, st, r, -1, 3, true); !errors.Is(err, gan.ErrNoLiked) {
		t.Errorf("biased generate with nothing liked: %v", err)
	}
	if _, err := st.Rate(ctx, got[1].ID, 1); err != nil {
		t.Fatal(err)
	}
	biased, err := Generate(ctx, st, r, -1, 8, true)
	if err != nil || len(biased) != 8 {
		t.Fatalf("biased generate: %d samples, %v", len(biased), err)
	}
	for _, b := range biased {
		if c := cosine(b.Latent, got[1].Latent); c < 0.5 {
			t.Errorf("a biased latent is %.2f-aligned with the liked one", c)
		}
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func TestStoppedWorkerResumesFromCheckpoint(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	q := startQueue(t, st)
	r := newRun(t, st, q, 150)
	mid := waitRun(t, st, r.ID, "a checkpoint", func(r *store.Run) bool { return r.CkptStep >= 20 && r.State == store.Running })
	if err := q.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped, _ := st.Run(ctx, r.ID)
	if stopped.State != store.Queued || stopped.CkptStep < mid.CkptStep || stopped.CkptStep != stopped.Step {
		t.Fatalf("after stop: %s at step %d, checkpoint %d; want queued with a checkpoint at its step",
			stopped.State, stopped.Step, stopped.CkptStep)
	}
	q2 := startQueue(t, st)
	defer q2.Stop(ctx)
	r = waitRun(t, st, r.ID, "done", func(r *store.Run) bool { return r.State == store.Done })
	ev := eventsText(t, st, r.ID)
	if !strings.Contains(ev, "stopped at step") || !strings.Contains(ev, "from the checkpoint at step") {
		t.Errorf("events do not tell of the stop and the resume:\n%s", ev)
	}
	ms, _ := st.Metrics(ctx, r.ID)
	if len(ms) != 150 {
		t.Errorf("%d metric rows after resume, want one per step (150)", len(ms))
	}
}

func TestKilledWorkerRunIsReaped(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	q := startQueue(t, st)
	r := newRun(t, st, q, 150)
	waitRun(t, st, r.ID, "a checkpoint", func(r *store.Run) bool { return r.CkptStep >= 20 && r.Step > r.CkptStep })
	q.kill(ctx)
	dead, _ := st.Run(ctx, r.ID)
	if dead.State != store.Running {
		t.Fatalf("a killed worker should leave its run as it was, got %s", dead.State)
	}
	q2 := startQueue(t, st)
	defer q2.Stop(ctx)
	r = waitRun(t, st, r.ID, "done", func(r *store.Run) bool { return r.State == store.Done })
	ev := eventsText(t, st, r.ID)
	want := "stopped answering at step"
	if !strings.Contains(ev, want) || !strings.Contains(ev, "from the checkpoint at step") {
		t.Errorf("events do not say the run was reaped and resumed:\n%s", ev)
	}
	ms, _ := st.Metrics(ctx, r.ID)
	if len(ms) != 150 {
		t.Errorf("%d metric rows, want 150", len(ms))
	}
}

func TestPauseResumeCancel(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	q := startQueue(t, st)
	defer q.Stop(ctx)
	r := newRun(t, st, q, 100000)
	waitRun(t, st, r.ID, "running", func(r *store.Run) bool { return r.State == store.Running && r.Step > 3 })
	if _, err := st.Control(ctx, r.ID, store.ControlPause); err != nil {
		t.Fatal(err)
	}
	p := waitRun(t, st, r.ID, "paused", func(r *store.Run) bool { return r.State == store.Paused })
	if p.CkptStep != p.Step {
		t.Errorf("paused at step %d with checkpoint at %d; pausing should checkpoint", p.Step, p.CkptStep)
	}
	if _, err := st.Control(ctx, r.ID, store.ControlPause); err != nil {
		t.Errorf("pausing twice (a double click) should be harmless: %v", err)
	}
	if err := q.Resume(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	waitRun(t, st, r.ID, "running again", func(r *store.Run) bool { return r.State == store.Running && r.Step > p.Step+2 })
	if _, err := st.Control(ctx, r.ID, store.ControlCancel); err != nil {
		t.Fatal(err)
	}
	waitRun(t, st, r.ID, "cancelled", func(r *store.Run) bool { return r.State == store.Cancelled })
	if err := q.Resume(ctx, r.ID); err == nil {
		t.Error("resuming a cancelled run should fail")
	}
	if _, err := st.Control(ctx, r.ID, store.ControlPause); err == nil {
		t.Error("pausing a cancelled run should fail")
	}
}

// fullDisk fails every Put with ENOSPC while full is set.
type fullDisk struct {
	store.Blobs
	full atomic.Bool
}

func (f *fullDisk) Put(ctx context.Context, key string, fill func(io.Writer) error) error {
	if f.full.Load() {
		return fmt.Errorf("put %s: %w", key, syscall.ENOSPC)
	}
	return f.Blobs.Put(ctx, key, fill)
}

func TestDiskFullPausesRun(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	disk := &fullDisk{Blobs: st.Blobs}
	st.Blobs = disk
	q := startQueue(t, st)
	defer q.Stop(ctx)
	r := newRun(t, st, q, 40)
	waitRun(t, st, r.ID, "a checkpoint", func(r *store.Run) bool { return r.CkptStep >= 10 })
	disk.full.Store(true)
	p := waitRun(t, st, r.ID, "paused", func(r *store.Run) bool { return r.State == store.Paused })
	if !strings.Contains(p.Error, "disk was full") || !strings.Contains(eventsText(t, st, r.ID), "the disk is full") {
		t.Errorf("paused run says %q; events:\n%s", p.Error, eventsText(t, st, r.ID))
	}
	disk.full.Store(false)
	if err := q.Resume(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	d := waitRun(t, st, r.ID, "done", func(r *store.Run) bool { return r.State == store.Done })
	if d.Error != "" {
		t.Errorf("a resumed, finished run still shows the error %q", d.Error)
	}
}

// TestOwnDroppedRunIsReaped: a run this worker holds as running but does
// not train (its job ended without recording how) goes back to the queue.
func TestOwnDroppedRunIsReaped(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	q := startQueue(t, st)
	defer q.Stop(ctx)
	r := newRun(t, st, q, 5)
	waitRun(t, st, r.ID, "done", func(r *store.Run) bool { return r.State == store.Done })
	st.DB.Exec(`UPDATE runs SET state = 'running', steps = 8, worker_id = $1 WHERE id = $2`, q.WorkerID(), r.ID)
	waitRun(t, st, r.ID, "the dropped run to finish", func(r *store.Run) bool { return r.State == store.Done && r.Step == 8 })
}
