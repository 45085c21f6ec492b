package jobs

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// startQueueOn starts a worker for device. (Its trainers still run on the
// CPU engine: nothing here calls gan.SetDevice; routing is all that is tested.)
// Workers of one test run one after the other: a worker takes another
// live worker of its own process for an earlier life of itself.
func startQueueOn(t *testing.T, st *store.Store, device string) *Queue {
	t.Helper()
	q, err := New(context.Background(), st, Options{Work: true, Device: device, Heartbeat: 100 * time.Millisecond,
		StaleAfter: 600 * time.Millisecond, FetchPoll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return q
}

func newRunOn(t *testing.T, st *store.Store, q *Queue, device string, steps int) *store.Run {
	t.Helper()
	d, cfg := tinyShapes(t, st)
	r := &store.Run{DatasetID: d.ID, Steps: steps, Device: device, Config: store.RunConfig{Config: cfg, SnapshotEvery: 10, KeepEvery: 20}}
	if err := q.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// jobQueue is the River queue the run's current job is on.
func jobQueue(t *testing.T, st *store.Store, q *Queue, runID int64) string {
	t.Helper()
	r, err := st.Run(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	job, err := q.client.JobGet(context.Background(), r.JobID)
	if err != nil {
		t.Fatalf("job %d of run %d: %v", r.JobID, runID, err)
	}
	return job.Queue
}

func TestQueueFor(t *testing.T) {
	for _, c := range []struct{ device, want string }{
		{"", river.QueueDefault}, {spec.CPU, river.QueueDefault}, {"cuda", "cuda"},
	} {
		if got := QueueFor(c.device); got != c.want {
			t.Errorf("QueueFor(%q) = %q, want %q", c.device, got, c.want)
		}
	}
}

// TestCUDARunWaitsForACUDAWorker: a cuda run is not trained by a cpu worker,
// whether its job was queued as it should be or (by an older or buggy
// inserter) on the cpu queue, where the cpu worker moves it to the cuda
// queue; a cuda worker then trains it.
func TestCUDARunWaitsForACUDAWorker(t *testing.T) {
	cases := []struct {
		name  string
		make  func(t *testing.T, st *store.Store, q *Queue) *store.Run
		moved bool // the cpu worker gives the run a new job
	}{
		{"queued on its device's queue", func(t *testing.T, st *store.Store, q *Queue) *store.Run {
			return newRunOn(t, st, q, "cuda", 5)
		}, false},
		{"queued on the cpu queue", func(t *testing.T, st *store.Store, q *Queue) *store.Run {
			ctx := context.Background()
			d, cfg := tinyShapes(t, st)
			r := &store.Run{DatasetID: d.ID, Steps: 5, Device: "cuda", Config: store.RunConfig{Config: cfg, SnapshotEvery: 10, KeepEvery: 20}}
			err := st.Tx(ctx, func(tx *sql.Tx) error {
				if err := st.InsertRun(ctx, tx, r); err != nil {
					return err
				}
				job, err := q.client.InsertTx(ctx, tx, TrainArgs{RunID: r.ID}, nil) // River's default queue
				if err != nil {
					return err
				}
				r.JobID = job.Job.ID
				return st.SetJob(ctx, tx, r.ID, job.Job.ID)
			})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			cpu := startQueueOn(t, st, spec.CPU)
			gpuRun := c.make(t, st, cpu)
			// The cpu run, queued after, is fetched after the cuda run's job
			// would have been: once it is done, the cpu worker has passed it by.
			cpuRun := newRunOn(t, st, cpu, spec.CPU, 5)
			waitRun(t, st, cpuRun.ID, "the cpu run done", func(r *store.Run) bool { return r.State == store.Done })
			if err := cpu.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			r, _ := st.Run(ctx, gpuRun.ID)
			if r.State != store.Queued || r.Step != 0 || r.WorkerID != "" {
				t.Fatalf("the cpu worker touched the cuda run: %s at step %d by %q", r.State, r.Step, r.WorkerID)
			}
			if moved := r.JobID != gpuRun.JobID; moved != c.moved {
				t.Errorf("the run was given a new job: %v, want %v", moved, c.moved)
			}
			if got := jobQueue(t, st, cpu, r.ID); got != "cuda" {
				t.Errorf("the cuda run's job is on queue %q, want cuda", got)
			}
			if got := jobQueue(t, st, cpu, cpuRun.ID); got != river.QueueDefault {
				t.Errorf("the cpu run's job is on queue %q, want %s", got, river.QueueDefault)
			}

			gpu := startQueueOn(t, st, "cuda")
			defer gpu.Stop(ctx)
			r = waitRun(t, st, gpuRun.ID, "the cuda run done", func(r *store.Run) bool { return r.State == store.Done })
			if r.WorkerID != gpu.WorkerID() || r.Device != "cuda" || r.Step != 5 {
				t.Errorf("the cuda run was trained by %q on %q to step %d, want %s on cuda to step 5", r.WorkerID, r.Device, r.Step, gpu.WorkerID())
			}
		})
	}
}

// TestReapedRunKeepsItsDevice: a cuda run whose worker dies goes back to
// the cuda queue (put there by a cpu worker's reaper), not the cpu one;
// Resume does the same for a paused cuda run.
func TestReapedRunKeepsItsDevice(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	gpu := startQueueOn(t, st, "cuda")
	r := newRunOn(t, st, gpu, "cuda", 100000)
	waitRun(t, st, r.ID, "a checkpoint", func(r *store.Run) bool { return r.CkptStep >= 10 && r.State == store.Running })
	gpu.kill(ctx)

	// The killed worker had this process's pid: the cpu worker knows it dead at once.
	cpu := startQueueOn(t, st, spec.CPU)
	reaped := waitRun(t, st, r.ID, "reaped", func(x *store.Run) bool { return x.State == store.Queued && x.JobID != r.JobID })
	if !strings.Contains(eventsText(t, st, r.ID), "stopped answering") {
		t.Errorf("events do not tell of the reap:\n%s", eventsText(t, st, r.ID))
	}
	if got := jobQueue(t, st, cpu, r.ID); got != "cuda" {
		t.Errorf("the reaped cuda run's job is on queue %q, want cuda", got)
	}
	if _, err := st.Control(ctx, r.ID, store.ControlPause); err != nil {
		t.Fatal(err)
	}
	if err := cpu.Resume(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if got := jobQueue(t, st, cpu, r.ID); got != "cuda" {
		t.Errorf("the resumed cuda run's job is on queue %q, want cuda", got)
	}
	cpuRun := newRunOn(t, st, cpu, spec.CPU, 3)
	waitRun(t, st, cpuRun.ID, "the cpu run done", func(r *store.Run) bool { return r.State == store.Done })
	if x, _ := st.Run(ctx, r.ID); x.State != store.Queued || x.Step != reaped.Step {
		t.Errorf("the cpu worker took the cuda run: %s at step %d", x.State, x.Step)
	}
	if err := cpu.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	gpu2 := startQueueOn(t, st, "cuda")
	defer gpu2.Stop(ctx)
	waitRun(t, st, r.ID, "the cuda run resumed", func(x *store.Run) bool {
		return x.State == store.Running && x.WorkerID == gpu2.WorkerID() && x.Step > reaped.Step
	})
	if _, err := st.Control(ctx, r.ID, store.ControlCancel); err != nil {
		t.Fatal(err)
	}
	waitRun(t, st, r.ID, "cancelled", func(x *store.Run) bool { return x.State == store.Cancelled })
}
