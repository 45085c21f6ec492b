package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/storetest"
	"github.com/ganstudio/ganstudio/internal/wait"
	"github.com/ganstudio/ganstudio/jobs"
	"github.com/ganstudio/ganstudio/store"
)

// TestMain lets a test start this very binary as `ganstudio ARGS…`, so a
// worker can run in a process of its own and be killed for real.
func TestMain(m *testing.M) {
	if os.Getenv("GANSTUDIO_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startWorker starts `ganstudio worker` on data in a process of its own,
// with any further flags.
func startWorker(t *testing.T, data string, flags ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"worker", "--data", data, "--stale-after", "10m"}, flags...)...)
	cmd.Env = append(os.Environ(), "GANSTUDIO_AS_MAIN=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// shapesRun queues a run of the tiny preset (batch 4) on the built-in
// shapes set for device, snapshots every 10 steps.
func shapesRun(t *testing.T, q *jobs.Queue, st *store.Store, device string, steps int) *store.Run {
	t.Helper()
	ctx := context.Background()
	sets, _ := st.Datasets(ctx)
	var shapes *store.Dataset
	for _, d := range sets {
		if d.Builtin == "shapes" {
			shapes = d
		}
	}
	cfg, _ := spec.Preset("tiny")
	cfg.Batch = 4
	r := &store.Run{DatasetID: shapes.ID, Steps: steps, Device: device, Config: store.RunConfig{Config: cfg, SnapshotEvery: 10}}
	if err := q.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	wait.Until(t, 2*time.Minute, what, ok)
}

// TestKilledWorkerProcessResumes kills a worker process with SIGKILL in the
// middle of a run; a new worker process on the same machine sees that the
// old one's process is gone (heartbeats would take --stale-after, here ten
// minutes) and resumes the run from its last checkpoint; its events say so.
func TestKilledWorkerProcessResumes(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, q, err := openStudio(ctx, store.Config{Dir: data}, false, time.Second, spec.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := shapesRun(t, q, st, spec.CPU, 1_000_000)
	run := func() *store.Run {
		got, err := st.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	first := startWorker(t, data)
	waitFor(t, "a checkpoint", func() bool { x := run(); return x.CkptStep >= 10 && x.Step > x.CkptStep })
	killed := run()
	first.Process.Kill()
	first.Wait()

	second := startWorker(t, data)
	defer second.Process.Kill()
	events := func() string {
		evs, _ := st.Events(ctx, r.ID, 20)
		var text strings.Builder
		for _, e := range evs {
			text.WriteString(e.Message + "\n")
		}
		return text.String()
	}
	// Resumed: trained past where the killed worker got, by another worker.
	waitFor(t, "the run to be resumed", func() bool {
		x := run()
		return x.State == store.Running && x.WorkerID != killed.WorkerID && x.Step > killed.Step
	})
	want := fmt.Sprintf("from the checkpoint at step %d", killed.CkptStep)
	if ev := events(); !strings.Contains(ev, "stopped answering") || !strings.Contains(ev, want) {
		t.Errorf("events do not tell of the crash and the resume %s:\n%s", want, ev)
	}
	// A clean stop (SIGTERM) hands the run back with a checkpoint.
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("worker did not stop cleanly: %v", err)
	}
	if x := run(); x.State != store.Queued || x.CkptStep != x.Step {
		t.Errorf("after SIGTERM the run is %s at step %d with a checkpoint at %d; want queued, checkpointed", x.State, x.Step, x.CkptStep)
	}
	_ = jobs.DefaultStaleAfter
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:80": true, "127.0.0.2:1": true,
		"0.0.0.0:8080": false, ":8080": false, "192.168.1.5:8080": false, "example.com:80": false, "bad": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestWorkersStartTogether starts four worker processes at once on a new
// data folder, three times over: all of them must create, migrate (ours
// and River's tables) and share it. Without the fixes it guards (the first
// connection waiting for WAL mode, migrations in immediate transactions),
// about one start in ten lost a process here.
func TestWorkersStartTogether(t *testing.T) {
	workersStartTogether(t, func(data string) store.Config { return store.Config{Dir: data} })
}

// TestScaleOutWorkersStartTogether is the same on a new Postgres schema and
// S3 prefix (make test-scale), each worker with a folder of its own.
func TestScaleOutWorkersStartTogether(t *testing.T) {
	workersStartTogether(t, func(data string) store.Config {
		db, blobs := storetest.Fresh(t, data)
		return store.Config{Dir: data, Database: db, Blobs: blobs}
	})
}

func workersStartTogether(t *testing.T, studio func(data string) store.Config) {
	for round := 0; round < 3; round++ {
		data := t.TempDir()
		cfg := studio(data)
		var cmds []*exec.Cmd
		for i := 0; i < 4; i++ {
			own := data
			if cfg.Database != "" {
				own = t.TempDir()
			}
			cmds = append(cmds, startWorker(t, own, "--database", cfg.Database, "--blobs", cfg.Blobs))
		}
		ctx := context.Background()
		var st *store.Store
		waitFor(t, "the studio", func() bool {
			var err error
			st, err = store.OpenConfig(ctx, cfg)
			return err == nil
		})
		waitFor(t, "four workers", func() bool {
			ws, _ := st.Workers(ctx, time.Now().Add(-time.Minute))
			return len(ws) == 4
		})
		for i, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
			if err := c.Wait(); err != nil {
				t.Errorf("round %d, worker %d: %v", round, i, err)
			}
		}
		sets, _ := st.Datasets(ctx)
		if len(sets) != len(datasets.BuiltinNames) {
			t.Errorf("round %d: %d datasets, want each built-in once", round, len(sets))
		}
		st.Close()
	}
}
