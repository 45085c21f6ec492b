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
	t := &training{q: q, run: run, log: q.log.With("run", run.ID), saved: run.Guard.LastHealthy, best: -1}
	defer func() {
		if t.loop != nil {
			t.tr = t.loop.Trainer()
		}
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
		if t.loop != nil {
			// Bounded: with the object storage down a save would wait
			// out its patience, and a stopping worker should stop. Past
			// this the run goes on from its previous checkpoint.
			save, cancel := context.WithTimeout(bg, shutdownSave)
			if err := t.loop.Save(save); err != nil {
				t.log.Error("saving on shutdown", "err", err)
			}
			cancel()
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
	case store.IsUnavailable(err):
		// The database or the object storage went away (a restart, the
		// network): not the run's fault. Wait until they answer, then put
		// the run back in the queue, to go on from its last checkpoint.
		t.log.Error("studio storage unreachable; the run goes back to the queue once it answers", "err", err)
		if werr := q.st.WaitAvailable(ctx); werr != nil {
			return werr // shutting down: the reaper of the next start resumes it
		}
		bg := context.WithoutCancel(ctx)
		state, herr := q.st.Handback(bg, run.ID, q.workerID)
		if herr != nil {
			return nil // another worker's reaper took it meanwhile
		}
		q.st.AddEvent(bg, run.ID, t.step(), store.EventResumed, fmt.Sprintf(
			"Worker %s could not reach the studio's storage at step %d (%v); the run is %s and goes on from the checkpoint at step %d.",
			q.workerID, t.step(), err, state, t.run.CkptStep))
		if state != store.Queued {
			return nil
		}
		return river.JobSnooze(time.Second)
	default:
		bg := context.WithoutCancel(ctx)
		t.log.Error("run failed", "err", err)
		q.st.AddEvent(bg, run.ID, t.step(), store.EventError, "Training failed: "+err.Error())
		return q.finish(bg, run.ID, store.Failed, err.Error())
	}
}

// shutdownSave is how long a stopping worker gives the checkpoint of the
// run it trains: well inside systemd's 90 s before it kills.
const shutdownSave = 30 * time.Second

// training is one job's stretch of a run: gan.Loop trains it, through
// this gan.Outside over the store and the blobs.
type training struct {
	q   *Queue
	run *store.Run
	log interface {
		Info(string, ...any)
		Warn(string, ...any)
		Error(string, ...any)
	}
	loop  *gan.Loop
	tr    *gan.Trainer // the loop's trainer, as the loop last showed it
	ds    *datasets.Dataset
	watch *gan.Watch // the collapse watch; nil with the policy off
	// saved is the guard's way back as stored: its checkpoint stays until
	// a newer way back is both written and saved.
	saved int
	// best is the step whose checkpoint is kept as the best quality's
	// (-1: none yet, or not known to this worker).
	best int
	fb   feedback // the run's ratings, when its feedback weight is above 0

	lastReport time.Time // when steps were last recorded
	retrying   bool      // recording has failed since lastReport (warned once)
}

func (t *training) step() int {
	if t.tr == nil {
		return t.run.Step
	}
	return t.tr.Step()
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
		if t.watch, err = newWatch(ctx, st, run, t.ds); err != nil {
			return err
		}
	}
	fresh := run.CkptStep < 0
	if fresh {
		if t.tr, err = gan.NewTrainer(run.Config.Config, t.ds); err != nil {
			return err
		}
		st.AddEvent(ctx, run.ID, 0, store.EventInfo, fmt.Sprintf("Started on %s: %d×%d, batch %d, %d images of %s.",
			t.q.where(), run.Config.Res, run.Config.Res, run.Config.Batch, t.ds.Len(), d.Name))
	} else {
		if t.tr, err = loadCheckpoint(ctx, st, run.ID, run.CkptStep, t.ds); err != nil {
			return err
		}
		if b := t.tr.Best(); b.Set {
			t.best = b.Step
		}
		if err := st.TrimAfter(ctx, run.ID, run.CkptStep); err != nil {
			return err
		}
		msg := fmt.Sprintf("Resumed on %s from the checkpoint at step %d.", t.q.where(), run.CkptStep)
		if run.Step > run.CkptStep {
			msg += fmt.Sprintf(" Steps %d–%d are trained again.", run.CkptStep+1, run.Step)
		}
		st.AddEvent(ctx, run.ID, run.CkptStep, store.EventResumed, msg)
	}
	t.lastReport = time.Now()
	feedbackEvery := 0
	if t.feedbackOn() {
		feedbackEvery = FeedbackEvery
	}
	t.loop = gan.NewLoop(t.tr, gan.Plan{
		Steps: run.Steps, Fresh: fresh, SnapshotEvery: run.Config.SnapshotEvery, EvalEvery: run.Config.EvalEvery,
		FeedbackEvery: feedbackEvery, RecordEvery: time.Second, Samples: SnapshotSamples, Final: FinalSamples,
		Base: run.Config.Config, Watch: t.watch, StopWhenStale: run.Config.StopWhenStale,
	}, t)
	err = t.loop.Run(ctx)
	t.tr = t.loop.Trainer()
	return err
}

// Record records the steps and returns what the user has asked of the
// run. A database busy for a moment (a big import, a backup) is not the
// run's fault: Record says !ok and training goes on, up to progressGrace
// without a record.
func (t *training) Record(ctx context.Context, steps []spec.Stats, rate float64) (gan.Ask, bool, error) {
	control, err := t.q.st.Progress(ctx, t.run.ID, t.q.workerID, steps, rate)
	switch {
	case err == nil:
		if t.retrying {
			t.log.Info("recording progress again", "after", time.Since(t.lastReport).Round(time.Millisecond))
			t.retrying = false
		}
		t.lastReport = time.Now()
		switch control {
		case store.ControlPause:
			return gan.AskPause, true, nil
		case store.ControlCancel:
			return gan.AskStop, true, nil
		}
		return gan.AskNothing, true, nil
	case errors.Is(err, store.ErrLost):
		return gan.AskNothing, false, err
	case ctx.Err() != nil:
		return gan.AskNothing, false, ctx.Err()
	case time.Since(t.lastReport) > progressGrace:
		return gan.AskNothing, false, err
	}
	if !t.retrying { // once per stretch: it is retried at every step
		t.log.Warn("recording progress; will retry", "for", progressGrace, "err", err)
		t.retrying = true
	}
	return gan.AskNothing, false, nil
}

// Stop acts on a pause or cancel, after the loop's checkpoint. A pause
// withdrawn (Resume pressed) meanwhile is not obeyed.
func (t *training) Stop(ctx context.Context, ask gan.Ask, s int) (bool, error) {
	st, run := t.q.st, t.run
	switch ask {
	case gan.AskPause:
		paused, err := st.PauseIfAsked(ctx, run.ID, t.q.workerID)
		if err != nil || !paused {
			return err != nil, err
		}
		st.AddEvent(ctx, run.ID, s, store.EventInfo, fmt.Sprintf("Paused at step %d.", s))
		return true, nil
	case gan.AskStop:
		st.AddEvent(ctx, run.ID, s, store.EventInfo, fmt.Sprintf("Cancelled at step %d; its samples and checkpoints are kept.", s))
		return true, t.q.finish(ctx, run.ID, store.Cancelled, "")
	}
	return false, nil
}

// Done marks the run finished.
func (t *training) Done(ctx context.Context, step int) error {
	return t.q.finish(ctx, t.run.ID, store.Done, "")
}

// Event adds an event to the run.
func (t *training) Event(ctx context.Context, step int, kind, msg string) {
	k := store.EventInfo
	switch kind {
	case gan.EventHealth:
		k = store.EventHealth
	case gan.EventRepair:
		k = store.EventRepair
	}
	t.q.st.AddEvent(ctx, t.run.ID, step, k, msg)
}

// Ratings gives tr the run's ratings (see readFeedback).
func (t *training) Ratings(ctx context.Context, tr *gan.Trainer, force bool) (*gan.RatingModel, error) {
	t.tr = tr
	if err := t.readFeedback(ctx, force); err != nil {
		return nil, err
	}
	return t.fb.model, nil
}

func loadCheckpoint(ctx context.Context, st *store.Store, runID int64, step int, src gan.Source) (*gan.Trainer, error) {
	r, err := st.Blobs.Open(ctx, store.CheckpointKey(runID, step))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return gan.ReadCheckpoint(r, src)
}

// Snapshot keeps the grid and the snapshot's figures.
func (t *training) Snapshot(ctx context.Context, sn *gan.Snapshot) error {
	st, run := t.q.st, t.run
	if err := st.Blobs.Put(ctx, store.GridKey(run.ID, sn.Step), func(w io.Writer) error { return png.Encode(w, sn.Grid) }); err != nil {
		return err
	}
	row := store.Snapshot{RunID: run.ID, Step: sn.Step, SWD: sn.SWD, SWDFloor: sn.SWDFloor, Health: store.NoHealth, LikedShare: sn.LikedShare}
	if sn.Health != nil {
		row.Health = *sn.Health
	}
	return st.AddSnapshot(ctx, row)
}

// Checkpoint keeps tr's state; after a judged check, the guard's state is
// saved once its way back exists, and only then does the checkpoint the
// stored guard pointed to go.
func (t *training) Checkpoint(ctx context.Context, tr *gan.Trainer, judged bool) error {
	t.tr = tr
	if err := t.checkpoint(ctx); err != nil {
		return err
	}
	if !judged {
		return nil
	}
	if err := t.q.st.SaveGuard(ctx, t.run.ID, t.watch.Guard); err != nil {
		return err
	}
	old := t.saved
	t.saved = t.watch.Guard.LastHealthy
	if old != t.saved {
		return t.dropCheckpoint(ctx, old)
	}
	return nil
}

// Restore reads the checkpoint of step.
func (t *training) Restore(ctx context.Context, step int) (*gan.Trainer, error) {
	tr, err := loadCheckpoint(ctx, t.q.st, t.run.ID, step, t.ds)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", gan.ErrNoCheckpoint, err)
	}
	return tr, err
}

// RolledBack writes the remedied trainer over the checkpoint it came from
// (a crash after the rollback resumes with the remedy), records the
// rollback, and gives the new trainer the ratings.
func (t *training) RolledBack(ctx context.Context, tr *gan.Trainer, d spec.Decision) (string, error) {
	st, run := t.q.st, t.run
	err := st.Blobs.Put(ctx, store.CheckpointKey(run.ID, d.ToStep), tr.WriteCheckpoint)
	if err == nil {
		err = st.RollbackTo(ctx, run.ID, t.q.workerID, d.ToStep, t.watch.Guard)
	}
	if err != nil {
		return "", err
	}
	t.tr, run.CkptStep, run.Step = tr, d.ToStep, d.ToStep
	t.saved = t.watch.Guard.LastHealthy
	return t.feedbackAfterRollback(ctx)
}

// Samples draws and keeps samples; the end-of-run ones once: a worker that
// died after drawing them and before marking the run done must not draw
// more.
func (t *training) Samples(ctx context.Context, g *gan.Generator, s, n int, final bool) error {
	origin := store.OriginSnapshot
	seed := uint64(t.run.ID)<<32 ^ uint64(s)<<1 ^ 0x5a17
	if final {
		_, have, err := t.q.st.Samples(ctx, store.SampleQuery{RunID: t.run.ID, Step: s, Origin: store.OriginFinal, Limit: 1})
		if err != nil || have > 0 {
			return err
		}
		origin, seed = store.OriginFinal, seed^1
	}
	_, err := Draw(ctx, t.q.st, g, t.run.ID, s, origin, gan.RandomLatents(n, t.run.Config.ZDim, seed))
	return err
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
	if err := t.dropCheckpoint(ctx, prev); err != nil {
		return err
	}
	// A new best lets the previous best's checkpoint go.
	if b := t.tr.Best(); b.Set && b.Step != t.best {
		old := t.best
		t.best = b.Step
		if old >= 0 {
			return t.dropCheckpoint(ctx, old)
		}
	}
	return nil
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
	case t.watch != nil && (step == t.watch.Guard.LastHealthy || step == t.saved):
		return nil
	case t.tr != nil && t.tr.Best().Set && step == t.tr.Best().Step:
		return nil // the best quality's: "generate" and downloads default to it
	}
	// The flag goes first: a snapshot must never offer a checkpoint that
	// is gone, while a file left behind only costs space.
	if err := t.q.st.DropCheckpointFlag(ctx, run.ID, step); err != nil {
		return err
	}
	return t.q.st.Blobs.Delete(ctx, store.CheckpointKey(run.ID, step))
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
