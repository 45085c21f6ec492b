package store

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// TestRunDeviceClaimAndReroute: a run keeps the device it was made for; a
// worker for another device cannot claim it, and rerouting gives it a new
// job that a worker for its device can.
func TestRunDeviceClaimAndReroute(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	if r := newRun(t, s, d.ID); r.Device != spec.CPU {
		t.Errorf("a run made without a device is for %q, want cpu", r.Device)
	}
	r := &Run{DatasetID: d.ID, Steps: 10, Device: "cuda", Config: RunConfig{Config: spec.DefaultConfig(), SnapshotEvery: 5}}
	err := s.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.InsertRun(ctx, tx, r); err != nil {
			return err
		}
		return s.SetJob(ctx, tx, r.ID, 7)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Run(ctx, r.ID); got.Device != "cuda" {
		t.Fatalf("stored device %q, want cuda", got.Device)
	}
	if _, ok, _ := s.Claim(ctx, r.ID, 7, "cpu-w", spec.CPU); ok {
		t.Fatal("a cpu worker claimed a cuda run")
	}
	var onQueue string
	enqueue := func(tx *sql.Tx, device string) (int64, error) { onQueue = device; return 8, nil }
	if dev, err := s.Reroute(ctx, r.ID, 7, "cuda", enqueue); err != nil || dev != "" {
		t.Errorf("a cuda worker rerouted its own run: %q, %v", dev, err)
	}
	if dev, err := s.Reroute(ctx, r.ID, 6, spec.CPU, enqueue); err != nil || dev != "" {
		t.Errorf("a stale job rerouted the run: %q, %v", dev, err)
	}
	if dev, err := s.Reroute(ctx, r.ID, 7, spec.CPU, enqueue); err != nil || dev != "cuda" || onQueue != "cuda" {
		t.Fatalf("reroute: %q, %v, enqueued for %q; want cuda", dev, err, onQueue)
	}
	if _, ok, _ := s.Claim(ctx, r.ID, 7, "cuda-w", "cuda"); ok {
		t.Error("the rerouted job still claims the run")
	}
	got, ok, err := s.Claim(ctx, r.ID, 8, "cuda-w", "cuda")
	if !ok || err != nil {
		t.Fatalf("claim by a cuda worker: %v %v", ok, err)
	}
	if got.Device != "cuda" || got.WorkerID != "cuda-w" {
		t.Errorf("claimed run on %q by %q", got.Device, got.WorkerID)
	}
}

func TestWorkerDevices(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	if got, err := s.WorkerDevices(ctx, time.Now().Add(-time.Minute)); err != nil || len(got) != 0 {
		t.Fatalf("no workers: %v, %v", got, err)
	}
	for _, w := range []Worker{{ID: "a", Device: spec.CPU}, {ID: "b", Device: "cuda"}, {ID: "c", Device: "cuda"}, {ID: "d", Device: "rocm"}} {
		if err := s.Heartbeat(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	// d went quiet long ago.
	s.DB.ExecContext(ctx, `UPDATE workers SET seen_at = $1 WHERE id = 'd'`, time.Now().Add(-time.Hour).UnixMilli())
	got, err := s.WorkerDevices(ctx, time.Now().Add(-time.Minute))
	if err != nil || !slices.Equal(got, []string{"cuda"}) {
		t.Errorf("live devices %v, %v; want [cuda]", got, err)
	}
}

// TestDeviceMigration: runs from before 0004 (an empty device while queued) are
// cpu runs, so cpu workers still claim them.
func TestDeviceMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	s.DB.ExecContext(ctx, `UPDATE runs SET device = '', job_id = 3 WHERE id = $1`, r.ID)
	// As the database stood at version 3 (later migrations undone).
	for _, undo := range append([]string{`ALTER TABLE datasets DROP COLUMN owner`, `ALTER TABLE metrics DROP COLUMN aug_p`, `ALTER TABLE metrics DROP COLUMN r_t`}, undoAccounts...) {
		if _, err := s.DB.ExecContext(ctx, undo); err != nil {
			t.Fatalf("%s: %v", undo, err)
		}
	}
	setSchemaVersion(t, s, 3)
	s.Close()

	s = open(t, dir)
	if got, _ := s.Run(ctx, r.ID); got.Device != spec.CPU {
		t.Errorf("an old queued run is for %q after migrating, want cpu", got.Device)
	}
	if _, ok, err := s.Claim(ctx, r.ID, 3, "w", spec.CPU); !ok || err != nil {
		t.Errorf("a cpu worker cannot claim an old run: %v %v", ok, err)
	}
}
