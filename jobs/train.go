package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image/png"
	"io"
	"time"

	"github.com/riverqueue/river"

	"github.com/ganstudio/ganstudio/datasets"
	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/gan/spec"
	"github.com/ganstudio/ganstudio/store"
)

// progressGrace is how long training goes on while its steps cannot be
// recorded before the run fails.
const progressGrace = 2 * time.Minute

// Samples kept per snapshot for the gallery, and at the end of a run.
const (
	SnapshotSamples = 8
	FinalSamples    = 64
)

type trainWorker struct {
	river.WorkerDefaults[TrainArgs]
	q *Queue
}

// Work trains the run. Errors in training fail the run (recorded on it,
// shown to the user) rather than the job: retrying would fail the same way.
func (w *trainWorker) Work(ctx context.Context, job *river.Job[TrainArgs]) error {
	q := w.q
	// Marked active before the claim, so the reaper never takes a run
	// this process has just claimed for one it holds but dropped.
	q.active.Store(job.Args.RunID, struct{}{})
	defer q.active.Delete(job.Args.RunID)
	run, ok, err := q.st.Claim(ctx, job.Args.RunID, job.ID, q.workerID, q.opts.Device)
	if err != nil {
		return err
	}
	if !ok {
		// Cancelled meanwhile, taken over by a newer job, or for another
		// device: a job that reached the wrong queue. That one moves to its
		// device's queue (the run keeps waiting there) and this job ends.
		dev, err := q.st.Reroute(ctx, job.Args.RunID, job.ID, q.opts.Device, func(tx *sql.Tx, dev string) (int64, error) {
			return q.insert(ctx, tx, job.Args.RunID, dev)
		})
		if dev != "" {
			q.log.Warn("run is for another device; moved to its queue", "run", job.Args.RunID,
				"device", dev, "queue", QueueFor(dev), "worker_device", q.opts.Device)
		}
		return err
	}
	t := &training{q: q, run: run, log: q.log.With("run", run.ID)}
	defer func() {
		if t.tr != nil {
			t.tr.Close()
		}
	}()
	err = t.train(ctx)
	if q.dead.Load() {
		return err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrLost):
		t.log.Warn("run was taken from this worker", "step", t.step())
		return nil
	case ctx.Err() != nil:
		// The worker is shutting down: keep what was trained, hand the
		// run back to the queue and let River run this job again.
		bg := context.WithoutCancel(ctx)
		if err := t.save(bg); err != nil {
			t.log.Error("saving on shutdown", "err", err)
		}
		state, err := q.st.Handback(bg, run.ID, q.workerID)
		if err != nil {
			return err
		}
		if state != store.Queued {
			q.st.AddEvent(bg, run.ID, t.step(), store.EventInfo, fmt.Sprintf("Worker %s stopped at step %d; the run is %s, as asked.", q.workerID, t.step(), state))
			return nil
		}
		q.st.AddEvent(bg, run.ID, t.step(), store.EventInfo,
			fmt.Sprintf("Worker %s stopped at step %d; the run is back in the queue.", q.workerID, t.step()))
		return river.JobSnooze(time.Second)
	case errors.Is(err, gan.ErrDeviceLost):
		// The GPU failed, not the run: back to the queue from its last
		// checkpoint (what the device held since is gone), and this
		// worker stops taking runs (Lost), so another one, or this one
		// restarted, resumes it.
		bg := context.WithoutCancel(ctx)
		t.log.Error("device lost; run handed back", "err", err)
		q.lose(err)
		if _, herr := q.st.Handback(bg, run.ID, q.workerID); herr != nil {
			return herr
		}
		q.st.AddEvent(bg, run.ID, t.step(), store.EventError, fmt.Sprintf(
			"Worker %s lost its GPU at step %d (%v) and stops; the run is back in the queue and goes on from the checkpoint at step %d when a worker for %s takes it.",
			q.workerID, t.step(), err, t.run.CkptStep, run.Device))
		return river.JobSnooze(5 * time.Second)
	case store.IsDiskFull(err):
		// Nothing is wrong with the run: pause it, so the user can free
		// space and resume from the last checkpoint.
		bg := context.WithoutCancel(ctx)
		t.log.Error("disk full; run paused", "err", err)
		msg := fmt.Sprintf("Paused at step %d: the disk is full (%v). Free some space, then resume; training goes on from the checkpoint at step %d.",
			t.step(), err, t.run.CkptStep)
		q.st.AddEvent(bg, run.ID, t.step(), store.EventError, msg)
		return q.finish(bg, run.ID, store.Paused, "the disk was full; free some space and resume")
	default:
		bg := context.WithoutCancel(ctx)
		t.log.Error("run failed", "err", err)
		q.st.AddEvent(bg, run.ID, t.step(), store.EventError, "Training failed: "+err.Error())
		return q.finish(bg, run.ID, store.Failed, err.Error())
	}
}

// training is one job's stretch of a run.
type training struct {
	q   *Queue
	run *store.Run
	log interface {
		Info(string, ...any)
		Warn(string, ...any)
		Error(string, ...any)
	}
	tr    *gan.Trainer
	ds    *datasets.Dataset
	floor *gan.SWDResult
	mon   *monitor // the collapse monitor; nil with the policy off
	fb    feedback // the run's ratings, when its feedback weight is above 0

	pending    []spec.Stats // trained but not yet recorded
	rate       float64      // steps per second, smoothed
	lastReport time.Time    // when pending was last recorded
}

// report records the pending steps and returns what the user has asked of
// the run. A database busy for a moment (a big import, a backup) is not
// the run's fault: report says !ok and training goes on, up to
// progressGrace without a record.
func (t *training) report(ctx context.Context) (control string, ok bool, err error) {
	control, err = t.q.st.Progress(ctx, t.run.ID, t.q.workerID, t.pending, t.rate)
	switch {
	case err == nil:
		t.pending, t.lastReport = t.pending[:0], time.Now()
		return control, true, nil
	case errors.Is(err, store.ErrLost):
		return "", false, err
	case ctx.Err() != nil:
		return "", false, ctx.Err()
	case time.Since(t.lastReport) > progressGrace:
		return "", false, err
	}
	t.log.Warn("recording progress; will retry", "err", err)
	return "", false, nil
}

// obey acts on a pause or cancel, after a checkpoint. stop says the job
// is over. A pause withdrawn (Resume pressed) meanwhile is not obeyed.
func (t *training) obey(ctx context.Context, control string) (stop bool, err error) {
	st, run, s := t.q.st, t.run, t.tr.Step()
	switch control {
	case store.ControlPause:
		if err := t.checkpoint(ctx); err != nil {
			return true, err
		}
		paused, err := st.PauseIfAsked(ctx, run.ID, t.q.workerID)
		if err != nil || !paused {
			return err != nil, err
		}
		st.AddEvent(ctx, run.ID, s, store.EventInfo, fmt.Sprintf("Paused at step %d.", s))
		return true, nil
	case store.ControlCancel:
		if err := t.checkpoint(ctx); err != nil {
			return true, err
		}
		st.AddEvent(ctx, run.ID, s, store.EventInfo, fmt.Sprintf("Cancelled at step %d; its samples and checkpoints are kept.", s))
		return true, t.q.finish(ctx, run.ID, store.Cancelled, "")
	}
	return false, nil
}

// save records pending steps and checkpoints the trainer, if there is one.
// Training steps are whole (TrainStep checks ctx only before it starts),
// so the trainer is always in a state worth keeping.
func (t *training) save(ctx context.Context) error {
	if t.tr == nil {
		return nil
	}
	if _, err := t.q.st.Progress(ctx, t.run.ID, t.q.workerID, t.pending, t.rate); err != nil {
		return err
	}
	t.pending = t.pending[:0]
	return t.checkpoint(ctx)
}

func (t *training) step() int {
	if t.tr == nil {
		return t.run.Step
	}
	return t.tr.Step()
}

// LoadDataset returns a dataset's images at res.
func LoadDataset(ctx context.Context, st *store.Store, d *store.Dataset, res int) (*datasets.Dataset, error) {
	if d.Builtin != "" {
		return datasets.Builtin(d.Builtin, res)
	}
	r, err := st.OpenDataset(ctx, d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ds, err := datasets.ReadSheet(d.Name, r, d.Res, d.Count)
	if err != nil {
		return nil, fmt.Errorf("dataset %d: %w", d.ID, err)
	}
	return ds.Resized(res), nil
}

func (t *training) train(ctx context.Context) error {
	st, run := t.q.st, t.run
	d, err := st.Dataset(ctx, run.DatasetID)
	if err != nil {
		return err
	}
	if t.ds, err = LoadDataset(ctx, st, d, run.Config.Res); err != nil {
		return err
	}
	if run.Config.CollapsePolicy().Mode != spec.PolicyOff {
		if t.mon, err = newMonitor(ctx, st, run, t.ds); err != nil {
			return err
		}
	}
	if run.CkptStep >= 0 {
		if t.tr, err = loadCheckpoint(ctx, st, run.ID, run.CkptStep, t.ds); err != nil {
			return err
		}
		if err := st.TrimAfter(ctx, run.ID, run.CkptStep); err != nil {
			return err
		}
		msg := fmt.Sprintf("Resumed on %s from the checkpoint at step %d.", t.q.where(), run.CkptStep)
		if run.Step > run.CkptStep {
			msg += fmt.Sprintf(" Steps %d–%d are trained again.", run.CkptStep+1, run.Step)
		}
		st.AddEvent(ctx, run.ID, run.CkptStep, store.EventResumed, msg)
	} else {
		if t.tr, err = gan.NewTrainer(run.Config.Config, t.ds); err != nil {
			return err
		}
		st.AddEvent(ctx, run.ID, 0, store.EventInfo, fmt.Sprintf("Started on %s: %d×%d, batch %d, %d images of %s.",
			t.q.where(), run.Config.Res, run.Config.Res, run.Config.Batch, t.ds.Len(), d.Name))
		if err := t.snapshot(ctx, false); err != nil {
			return err
		}
	}

	if err := t.readFeedback(ctx, true); err != nil {
		return err
	}
	t.lastReport = time.Now()
	rateFrom, rateStep := time.Now(), t.tr.Step()
	snapDue := false // a snapshot waits for its steps to be recorded
	// The outer loop goes round again only when the last snapshot, taken
	// after the database was busy at the end, rolled the run back.
	for t.tr.Step() < run.Steps {
		for t.tr.Step() < run.Steps {
			stats, err := t.tr.TrainStep(ctx)
			if err != nil {
				return err
			}
			t.pending = append(t.pending, stats)
			s := t.tr.Step()
			if s%FeedbackEvery == 0 {
				if err := t.readFeedback(ctx, false); err != nil {
					return err
				}
			}
			snapDue = snapDue || s%run.Config.SnapshotEvery == 0 || s == run.Steps
			if time.Since(t.lastReport) < time.Second && !snapDue {
				continue
			}
			if el := time.Since(rateFrom).Seconds(); el > 0 {
				r := float64(s-rateStep) / el
				if t.rate == 0 {
					t.rate = r
				} else {
					t.rate = 0.7*t.rate + 0.3*r
				}
			}
			rateFrom, rateStep = time.Now(), s
			control, ok, err := t.report(ctx)
			if err != nil {
				return err
			}
			if !ok {
				continue // the database is busy: train on, record next time
			}
			if snapDue {
				snapDue = false
				if err := t.snapshot(ctx, s == run.Steps); err != nil {
					return err
				}
				if t.tr.Step() < s { // rolled back: the rate starts again
					rateFrom, rateStep = time.Now(), t.tr.Step()
				}
			}
			if stop, err := t.obey(ctx, control); stop || err != nil {
				return err
			}
		}
		// The last steps and snapshot, if the database was busy at the end.
		for len(t.pending) > 0 {
			if _, _, err := t.report(ctx); err != nil {
				return err
			}
			time.Sleep(time.Second)
		}
		if snapDue {
			snapDue = false
			if err := t.snapshot(ctx, true); err != nil {
				return err
			}
		}
	}
	if err := t.finalSamples(ctx); err != nil {
		return err
	}
	st.AddEvent(ctx, run.ID, run.Steps, store.EventInfo, fmt.Sprintf("Finished %d steps.", run.Steps))
	return t.q.finish(ctx, run.ID, store.Done, "")
}

func loadCheckpoint(ctx context.Context, st *store.Store, runID int64, step int, src gan.Source) (*gan.Trainer, error) {
	r, err := st.Blobs.Open(ctx, store.CheckpointKey(runID, step))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return gan.ReadCheckpoint(r, src)
}

// snapshot keeps the grid, a few samples, maybe a quality figure, and a
// checkpoint of the current step.
func (t *training) snapshot(ctx context.Context, final bool) error {
	st, run, s := t.q.st, t.run, t.tr.Step()
	grid, err := t.tr.Generator().GridImage()
	if err != nil {
		return err
	}
	if err := st.Blobs.Put(ctx, store.GridKey(run.ID, s), func(w io.Writer) error { return png.Encode(w, grid) }); err != nil {
		return err
	}
	sn := store.Snapshot{RunID: run.ID, Step: s, SWD: -1, SWDFloor: -1}
	if ev := run.Config.EvalEvery; ev > 0 && (s%ev == 0 || final) {
		q, err := t.tr.Quality()
		if err != nil {
			return err
		}
		if t.floor == nil {
			f, err := gan.QualityFloor(t.ds)
			if err != nil {
				return err
			}
			t.floor = &f
		}
		sn.SWD, sn.SWDFloor = q.Mean, t.floor.Mean
	}
	// The health check and the rating model's chart judge the same images.
	judge := t.mon != nil && s > 0
	var fake [][]float32
	if judge || t.fb.model != nil {
		if fake, err = t.tr.HealthImages(); err != nil {
			return fmt.Errorf("health check at step %d: %w", s, err)
		}
	}
	sn.LikedShare = t.likedShare(fake)
	sn.Health = store.NoHealth
	var d spec.Decision
	if judge {
		sn.Health, d = t.mon.check(ctx, t, fake)
	}
	if err := st.AddSnapshot(ctx, sn); err != nil {
		return err
	}
	if d.Rollback {
		return t.rollback(ctx, d)
	}
	// Checkpoint first: samples drawn after it survive a crash and a
	// resume from it; samples drawn before it would be drawn twice.
	if err := t.checkpoint(ctx); err != nil {
		return err
	}
	if d.Judged {
		if err := t.mon.settle(ctx, t); err != nil {
			return err
		}
	}
	if s > 0 && !final {
		return t.addSamples(ctx, SnapshotSamples, store.OriginSnapshot)
	}
	return nil
}

// checkpoint saves the trainer under its step and drops the previous
// checkpoint unless it is one kept for sampling.
func (t *training) checkpoint(ctx context.Context) error {
	st, run, s := t.q.st, t.run, t.tr.Step()
	if s == t.run.CkptStep {
		return nil
	}
	if err := st.Blobs.Put(ctx, store.CheckpointKey(run.ID, s), t.tr.WriteCheckpoint); err != nil {
		return err
	}
	if err := st.SetCheckpoint(ctx, run.ID, s); err != nil {
		return err
	}
	st.AddSnapshotCheckpoint(ctx, run.ID, s)
	prev := run.CkptStep
	run.CkptStep = s
	return t.dropCheckpoint(ctx, prev)
}

// dropCheckpoint deletes the checkpoint at step unless it is the latest,
// one kept for sampling, or the collapse guard's way back.
func (t *training) dropCheckpoint(ctx context.Context, step int) error {
	run := t.run
	switch {
	case step < 0 || step == run.CkptStep:
		return nil
	case run.Config.KeepEvery > 0 && step%run.Config.KeepEvery == 0:
		return nil
	case t.mon != nil && (step == t.mon.guard.LastHealthy || step == t.mon.saved):
		return nil
	}
	// The flag goes first: a snapshot must never offer a checkpoint that
	// is gone, while a file left behind only costs space.
	if err := t.q.st.DropCheckpointFlag(ctx, run.ID, step); err != nil {
		return err
	}
	return t.q.st.Blobs.Delete(ctx, store.CheckpointKey(run.ID, step))
}

func (t *training) addSamples(ctx context.Context, n int, origin string) error {
	s := t.tr.Step()
	seed := uint64(t.run.ID)<<32 ^ uint64(s)<<1 ^ 0x5a17
	if origin == store.OriginFinal {
		seed ^= 1
	}
	_, err := Draw(ctx, t.q.st, t.tr.Generator(), t.run.ID, s, origin, gan.RandomLatents(n, t.run.Config.ZDim, seed))
	return err
}

// finalSamples draws the end-of-run samples, once: a worker that died
// after drawing them and before marking the run done must not draw more.
func (t *training) finalSamples(ctx context.Context) error {
	_, n, err := t.q.st.Samples(ctx, store.SampleQuery{RunID: t.run.ID, Step: t.tr.Step(), Origin: store.OriginFinal, Limit: 1})
	if err != nil || n > 0 {
		return err
	}
	return t.addSamples(ctx, FinalSamples, store.OriginFinal)
}

// Draw generates one sample per latent with g and stores them.
func Draw(ctx context.Context, st *store.Store, g *gan.Generator, runID int64, step int, origin string, z []float32) ([]store.Sample, error) {
	imgs, err := g.Generate(z)
	if err != nil {
		return nil, err
	}
	zd := g.Config().ZDim
	lat := make([][]float32, len(imgs))
	for i := range lat {
		lat[i] = z[i*zd : (i+1)*zd]
	}
	res := g.Config().Res
	return st.AddSamples(ctx, runID, step, origin, lat, func(i int, w io.Writer) error {
		return png.Encode(w, gan.ToImage(imgs[i], res))
	})
}

// finish records how a run this worker holds ended, retrying for a while:
// a run left "running" would wait for the reaper.
func (q *Queue) finish(ctx context.Context, runID int64, state, msg string) error {
	var err error
	for wait := 100 * time.Millisecond; wait < 10*time.Second; wait *= 2 {
		if err = q.st.Finish(ctx, runID, q.workerID, state, msg); err == nil {
			return nil
		}
		q.log.Warn("recording the end of a run; will retry", "run", runID, "state", state, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}
