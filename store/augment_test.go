package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// TestAugmentMetrics: a step's augmentation strength and r_t are kept and
// read back, and a run's augmentation settings survive the config column.
func TestAugmentMetrics(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := &Run{DatasetID: d.ID, Steps: 10, Config: RunConfig{Config: spec.Studio(32), SnapshotEvery: 5}}
	if err := s.Tx(ctx, func(tx *sql.Tx) error { return s.InsertRun(ctx, tx, r) }); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Claim(ctx, r.ID, 0, "w1", spec.CPU); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	sent := []spec.Stats{{Step: 1, LossD: 1, AugP: 0, RT: 0}, {Step: 4, LossD: 1, AugP: 0.0128, RT: 0.75}, {Step: 8, AugP: 0.0256, RT: -0.25}}
	if _, err := s.Progress(ctx, r.ID, "w1", sent, 1); err != nil {
		t.Fatal(err)
	}
	got, err := s.Metrics(ctx, r.ID)
	if err != nil || len(got) != len(sent) {
		t.Fatalf("metrics %+v, %v", got, err)
	}
	for i := range sent {
		if got[i].AugP != sent[i].AugP || got[i].RT != sent[i].RT {
			t.Errorf("step %d: aug_p %g r_t %g, want %g %g", sent[i].Step, got[i].AugP, got[i].RT, sent[i].AugP, sent[i].RT)
		}
	}
	back, err := s.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config.Augment != spec.AutoAugment() || back.Config.EMA != 10_000 || !back.Config.Mirror {
		t.Errorf("config read back: augment %+v, EMA %g, mirror %v; want auto, 10000, on", back.Config.Augment, back.Config.EMA, back.Config.Mirror)
	}
}

// TestAugmentMigration: steps recorded before 0006 read back with no
// augmentation and no r_t.
func TestAugmentMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	d := &Dataset{Name: "d", Res: 64, Count: 1}
	s.CreateDataset(ctx, d, nil)
	r := newRun(t, s, d.ID)
	for _, q := range append([]string{`ALTER TABLE metrics DROP COLUMN aug_p`, `ALTER TABLE metrics DROP COLUMN r_t`}, undoAccounts...) {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	setSchemaVersion(t, s, 5)
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO metrics (run_id, step, loss_d, loss_g, d_real, d_fake) VALUES ($1, 1, 1.5, 2, 0.8, 0.3)`, r.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir)
	ms, err := s.Metrics(ctx, r.ID)
	if err != nil || len(ms) != 1 {
		t.Fatalf("metrics after migrating: %+v, %v", ms, err)
	}
	if m := ms[0]; m.LossD != 1.5 || m.DReal != 0.8 || m.AugP != 0 || m.RT != 0 {
		t.Errorf("an old step reads back as %+v, want its losses and no augmentation", m)
	}
}
