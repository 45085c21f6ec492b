//go:build emu

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/internal/storetest"
	"github.com/ganstudio/ganstudio/store"
)

// The GPU worker's whole path, with the kernels' host emulator standing in
// for the GPU (build tag emu; `make test` runs these): the side-by-side
// check passes, and a worker started with --device emu takes a run made
// for that device, trains it to the end on the device code path, and
// leaves snapshots and samples as a CPU run does.
func TestEmuDeviceCheck(t *testing.T) {
	err := run(context.Background(), []string{"bench", "device", "--device", "emu", "--preset", "tiny", "--batch", "8", "--steps", "2"})
	if err != nil {
		t.Fatal(err)
	}
}

// Stacked MNIST on the emulated device: a run with mistyped rates
// collapses, is judged so and rolled back with a remedy, as on the CPU.
func TestEmuBenchStacked(t *testing.T) {
	rep, _ := benchStacked(t, "--device", "emu", "--arms", "mistyped-policy", "--seeds", "1", "--steps", "60", "--every", "20",
		"--warmup", "20", "--samples", "200", "--truth", "64", "--width", "0.25", "--batch", "16")
	r := rep.Results[0].Runs[0]
	if rep.Device != "emu" || r.Rollbacks < 1 || r.Trained <= 60 || r.Final.Samples != 200 {
		t.Fatalf("on %s: %d rollbacks, %d steps trained, %+v", rep.Device, r.Rollbacks, r.Trained, r.Final)
	}
}

func TestEmuWorkerTrainsDeviceRun(t *testing.T) {
	data := t.TempDir()
	emuWorkerTrains(t, store.Config{Dir: data}, data)
}

// TestScaleOutEmuWorker: the GPU worker's path on Postgres and S3 (make
// test-scale), the worker with an empty folder of its own.
func TestScaleOutEmuWorker(t *testing.T) {
	data := t.TempDir()
	db, blobs := storetest.Fresh(t, data)
	emuWorkerTrains(t, store.Config{Dir: data, Database: db, Blobs: blobs}, t.TempDir())
}

func emuWorkerTrains(t *testing.T, cfg store.Config, workerData string) {
	ctx := context.Background()
	st, q, err := openStudio(ctx, cfg, false, time.Second, spec.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := shapesRun(t, q, st, "emu", 30)
	worker := startWorker(t, workerData, "--device", "emu", "--database", cfg.Database, "--blobs", cfg.Blobs)
	defer func() {
		worker.Process.Kill()
		worker.Wait()
	}()
	var got *store.Run
	waitFor(t, "the run to finish on the emulated device", func() bool {
		got, err = st.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Terminal()
	})
	if got.State != store.Done || got.Step != 30 {
		t.Fatalf("run ended %s at step %d (%s)", got.State, got.Step, got.Error)
	}
	if got.Device != "emu" || !strings.HasPrefix(got.WorkerID, "emu-") {
		t.Errorf("run trained on %q by worker %q", got.Device, got.WorkerID)
	}
	snaps, err := st.Snapshots(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) < 3 {
		t.Errorf("%d snapshots, want one every 10 steps", len(snaps))
	}
	_, n, err := st.Samples(ctx, store.SampleQuery{RunID: r.ID, Step: -1})
	if err != nil || n == 0 {
		t.Errorf("%d samples (%v)", n, err)
	}
}
