package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/jobs"
)

// folder is a run of 'ganstudio train' kept in an output folder; it is the
// training loop's outside (gan.Outside), as the studio's worker is over
// its database:
//
//	run.json         the dataset, configuration and collapse policy
//	metrics.jsonl    a line per step, and SWD lines
//	grid-NNNNNN.png  the fixed-latent grid at each snapshot
//	samples-NNNNNN.png  8 new samples at each snapshot, 64 at the end
//	checkpoint.gob   the latest checkpoint (what --resume goes on from)
//	healthy.gob      the checkpoint of the last healthy check: the way back
//	guard.json       the collapse guard's state
//	events.jsonl     what happened: health warnings, collapses, repairs
type folder struct {
	dir     string
	steps   int
	stale   stale
	tr      *gan.Trainer
	watch   *gan.Watch
	metrics *os.File

	start     time.Time
	startStep int
	lastPrint time.Time
}

// testVerdict, when set by a test, replaces the health check's verdict.
var testVerdict func(step int, h spec.HealthReport) spec.HealthReport

func (f *folder) path(name string) string { return filepath.Join(f.dir, name) }

// train runs the loop to f.steps; Ctrl-C (ctx) saves a checkpoint first.
func (f *folder) train(ctx context.Context, ds *datasets.Dataset, base spec.Config, policy spec.Policy, fresh bool, snapEvery, evalEvery int) error {
	var err error
	if f.metrics, err = os.OpenFile(f.path("metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return err
	}
	defer func() { f.metrics.Close() }()
	if policy.Mode != spec.PolicyOff {
		guard := spec.Guard{P: policy}
		if raw, err := os.ReadFile(f.path("guard.json")); err == nil && !fresh {
			if err := json.Unmarshal(raw, &guard); err != nil {
				return fmt.Errorf("%s: %w", f.path("guard.json"), err)
			}
			guard.P = policy
		}
		if f.watch = gan.NewWatch(ds, base.Seed, guard); f.watch == nil {
			fmt.Fprintln(os.Stderr, "the collapse monitor is off: the dataset has no two different images to compare samples with")
		} else {
			f.watch.Verdict = testVerdict
		}
	}
	cfg := f.tr.Config()
	fmt.Fprintf(os.Stderr, "training %d×%d, batch %d, width %g on %s (%d images), device %s, collapse policy %s; output in %s\n",
		cfg.Res, cfg.Res, cfg.Batch, cfg.Width, ds.Name, ds.Len(), gan.DeviceName(), policy.Mode, f.dir)
	f.start, f.startStep = time.Now(), f.tr.Step()
	loop := gan.NewLoop(f.tr, gan.Plan{
		Steps: f.steps, Fresh: fresh, SnapshotEvery: snapEvery, EvalEvery: evalEvery, RecordEvery: time.Second,
		Samples: jobs.SnapshotSamples, Final: jobs.FinalSamples, Base: base, Watch: f.watch,
		Patience: f.stale.Patience, StopWhenStale: f.stale.Stop,
	}, f)
	err = loop.Run(ctx)
	f.tr = loop.Trainer()
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "\nstopped at step %d; saving a checkpoint\n", f.tr.Step())
		if err := loop.Save(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "resume with: ganstudio train --resume %s --steps %d\n", f.dir, f.steps)
		return nil
	}
	return err
}

func (f *folder) Record(ctx context.Context, steps []spec.Stats, rate float64) (gan.Ask, bool, error) {
	enc := json.NewEncoder(f.metrics)
	for _, st := range steps {
		if err := enc.Encode(st); err != nil {
			return gan.AskNothing, false, err
		}
	}
	if len(steps) > 0 {
		st, s := steps[len(steps)-1], steps[len(steps)-1].Step
		if time.Since(f.lastPrint) > 2*time.Second || s == f.steps {
			el := time.Since(f.start).Seconds()
			done := max(1, s-f.startStep)
			ips := float64(done*f.tr.Config().Batch) / el
			eta := time.Duration(float64(f.steps-s) * el / float64(done) * float64(time.Second)).Round(time.Second)
			fmt.Fprintf(os.Stderr, "step %d/%d  loss D %.3f G %.3f  D(x) %.2f D(G(z)) %.2f  %.0f img/s  ETA %s\n",
				s, f.steps, st.LossD, st.LossG, st.DReal, st.DFake, ips, eta)
			f.lastPrint = time.Now()
		}
	}
	return gan.AskNothing, true, nil
}

func (f *folder) Ratings(context.Context, *gan.Trainer, bool) (*gan.RatingModel, error) {
	return nil, nil
}

func (f *folder) Snapshot(ctx context.Context, sn *gan.Snapshot) error {
	if err := writePNG(f.path(fmt.Sprintf("grid-%06d.png", sn.Step)), sn.Grid); err != nil {
		return err
	}
	if sn.SWD >= 0 {
		best := ""
		if sn.Best {
			best = ", the best so far"
		}
		fmt.Fprintf(os.Stderr, "step %d: SWD %.1f (real-vs-real floor %.1f)%s\n", sn.Step, sn.SWD, sn.SWDFloor, best)
		if err := json.NewEncoder(f.metrics).Encode(map[string]any{"step": sn.Step, "swd": sn.SWD, "swd_floor": sn.SWDFloor}); err != nil {
			return err
		}
	}
	if h := sn.Health; h != nil && h.Level != "" {
		fmt.Fprintf(os.Stderr, "step %d: %s (diversity %.2f, near-copies %.2f, NDB %.2f)\n", sn.Step, h.Level, h.Diversity, h.Duplicates, h.NDB)
	}
	return nil
}

func (f *folder) Checkpoint(ctx context.Context, tr *gan.Trainer, judged bool) error {
	if err := tr.SaveCheckpoint(f.path("checkpoint.gob")); err != nil {
		return err
	}
	if b := tr.Best(); b.Set && b.Step == tr.Step() {
		// The best quality so far: what `sample` draws from by default.
		if err := tr.SaveCheckpoint(f.path("best.gob")); err != nil {
			return err
		}
	}
	if f.watch == nil {
		return nil
	}
	if tr.Step() == f.watch.Guard.LastHealthy {
		if err := tr.SaveCheckpoint(f.path("healthy.gob")); err != nil {
			return err
		}
	}
	if judged {
		return writeJSON(f.path("guard.json"), f.watch.Guard)
	}
	return nil
}

func (f *folder) Restore(ctx context.Context, step int) (*gan.Trainer, error) {
	tr, err := gan.LoadCheckpoint(f.path("healthy.gob"), f.tr.Source())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %v", gan.ErrNoCheckpoint, err)
	}
	if err != nil {
		return nil, err
	}
	if tr.Step() != step {
		tr.Close()
		return nil, fmt.Errorf("%w: healthy.gob is of step %d, not %d", gan.ErrNoCheckpoint, tr.Step(), step)
	}
	return tr, nil
}

// RolledBack keeps the remedied trainer as the latest checkpoint and the
// way back, and drops the metrics of the steps gone back over (they are
// trained again).
func (f *folder) RolledBack(ctx context.Context, tr *gan.Trainer, d spec.Decision) (string, error) {
	for _, name := range []string{"healthy.gob", "checkpoint.gob"} {
		if err := tr.SaveCheckpoint(f.path(name)); err != nil {
			return "", err
		}
	}
	if err := writeJSON(f.path("guard.json"), f.watch.Guard); err != nil {
		return "", err
	}
	f.metrics.Close()
	if err := trimMetrics(f.path("metrics.jsonl"), d.ToStep); err != nil {
		return "", err
	}
	var err error
	f.metrics, err = os.OpenFile(f.path("metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	f.tr = tr
	return "", err
}

func (f *folder) Samples(ctx context.Context, g *gan.Generator, step, n int, final bool) error {
	imgs, err := g.Generate(gan.RandomLatents(n, g.Config().ZDim, uint64(step)<<1^0x5a17))
	if err != nil {
		return err
	}
	return writePNG(f.path(fmt.Sprintf("samples-%06d.png", step)), gan.Grid(imgs, g.Config().Res, 8))
}

func (f *folder) Event(ctx context.Context, step int, kind, msg string) {
	fmt.Fprintf(os.Stderr, "step %d: %s\n", step, msg)
	ef, err := os.OpenFile(f.path("events.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer ef.Close()
	json.NewEncoder(ef).Encode(map[string]any{"step": step, "kind": kind, "message": msg, "at": time.Now().UTC().Format(time.RFC3339)})
}

func (f *folder) Stop(context.Context, gan.Ask, int) (bool, error) { return false, nil }

func (f *folder) Done(ctx context.Context, step int) error {
	fmt.Fprintf(os.Stderr, "done: %d steps; grids, samples, metrics.jsonl and checkpoint.gob are in %s\n", step, f.dir)
	return nil
}
