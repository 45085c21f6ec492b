package gan

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/ganstudio/ganstudio/gan/spec"
)

// Plan is what one stretch of a training run is asked to do.
type Plan struct {
	Steps         int  // train until this step
	Fresh         bool // the run starts here: snapshot step 0 first
	SnapshotEvery int  // a snapshot every N steps, and at the last
	// EvalEvery: the quality figure (SWD) at snapshots whose step is a
	// multiple of it, and at the last; 0: never.
	EvalEvery int
	// FeedbackEvery: ratings are asked for every N steps; 0: never.
	FeedbackEvery int
	// RecordEvery: trained steps are recorded at least this often (and
	// before every snapshot).
	RecordEvery time.Duration
	Samples     int // samples kept at each snapshot but the first and the last
	Final       int // samples kept at the end
	// Base is the run's starting configuration: remedies are worked out
	// from it, however often they were applied.
	Base spec.Config
	// Watch judges health at every snapshot; nil: no judgement (the
	// policy is off, or the data gives nothing to compare with).
	Watch *Watch
	// Patience is how many steps may pass after the best quality before
	// the run says it has stopped improving (0: DefaultPatience); with
	// StopWhenStale it then ends there.
	Patience      int
	StopWhenStale bool
}

// DefaultPatience is the stretch without a better quality figure after
// which a run says so: on the small sets measured here, a run that had
// not improved for a thousand steps did not improve again (the
// discriminator had begun to memorise the set).
const DefaultPatience = 1000

// Best is the step of a run's best quality figure so far, which a
// checkpoint carries: that step's checkpoint is kept, and samples,
// "generate" and downloads default to it.
type Best struct {
	Set  bool    // a quality figure has been measured
	Step int     // the step of the lowest SWD
	SWD  float64 // that SWD
	Told bool    // the run has said it stopped improving since
}

// Best is the trainer's best step so far.
func (t *Trainer) Best() Best { return t.best }

// Ask is what the people following a run ask of it.
type Ask int

const (
	AskNothing Ask = iota
	AskPause
	AskStop
)

// Event kinds, for the run's event log.
const (
	EventInfo   = "info"
	EventHealth = "health"
	EventRepair = "repair"
)

// Snapshot is what a snapshot keeps of the run at its step.
type Snapshot struct {
	Step  int
	Final bool
	Grid  *image.NRGBA // the fixed-latent grid
	// SWD and its real-vs-real floor, or -1 when not measured.
	SWD, SWDFloor float64
	// Health is the check's report (Level "" when the guard did not judge
	// it: the warm-up); nil when no check ran.
	Health *spec.HealthReport
	// Decision is the guard's, on a judged check.
	Decision spec.Decision
	// LikedShare is the share of the check's images the rating model
	// likes; -1 without a model.
	LikedShare float64
	// Best says this snapshot's SWD is the run's best so far: the
	// checkpoint that follows it is the one to keep as the best.
	Best bool
	// BestStep is the best step so far (-1 before any SWD).
	BestStep int
}

// ErrNoCheckpoint says a checkpoint asked for is not kept.
var ErrNoCheckpoint = errors.New("no such checkpoint")

// Outside is where a run's results go and where what steers it comes
// from. The studio's worker implements it over the database and the blob
// store, `ganstudio train` over an output folder, `bench health` in memory.
type Outside interface {
	// Record keeps the steps trained since the last call and the rate
	// (steps per second), and returns what was asked of the run. ok false:
	// nothing could be kept this time (a busy database); training goes on
	// and the steps are offered again.
	Record(ctx context.Context, steps []spec.Stats, rate float64) (ask Ask, ok bool, err error)
	// Ratings gives tr the run's ratings if they changed since the last
	// call (force: tr is a new trainer), and returns the rating model, if
	// the ratings make one.
	Ratings(ctx context.Context, tr *Trainer, force bool) (*RatingModel, error)
	// Snapshot keeps a snapshot.
	Snapshot(ctx context.Context, s *Snapshot) error
	// Checkpoint keeps the trainer's state at its step; judged says a
	// judged health check came just before (the guard has moved on).
	Checkpoint(ctx context.Context, tr *Trainer, judged bool) error
	// Restore reads back the checkpoint of step, or an error wrapping
	// ErrNoCheckpoint.
	Restore(ctx context.Context, step int) (*Trainer, error)
	// RolledBack keeps a rollback to tr's step, tr being remedied already,
	// gives tr the ratings, and returns anything more it did, for the
	// event ("" for nothing).
	RolledBack(ctx context.Context, tr *Trainer, d spec.Decision) (string, error)
	// Samples keeps n samples from g at step.
	Samples(ctx context.Context, g *Generator, step, n int, final bool) error
	// Event tells the people following the run something about it.
	Event(ctx context.Context, step int, kind, msg string)
	// Stop acts on a pause or a stop asked for, after the checkpoint of
	// step, and says whether training ends here.
	Stop(ctx context.Context, ask Ask, step int) (bool, error)
	// Done records that the run reached its last step.
	Done(ctx context.Context, step int) error
}

// Loop is one stretch of a run: NewLoop, then Run; after Run, Trainer is
// the trainer it ended with (a rollback replaces it) and Save keeps what
// it trained, for a worker that is stopping.
type Loop struct {
	plan    Plan
	out     Outside
	tr      *Trainer
	model   *RatingModel // from the latest ratings
	floor   *SWDResult
	pending []spec.Stats // trained, not yet recorded
	rate    float64      // steps per second, smoothed
	stale   bool         // quality stopped improving and the plan stops then
	lastSWD float64      // the latest SWD measured (-1: none yet)
}

// NewLoop readies a stretch of training of tr.
func NewLoop(tr *Trainer, plan Plan, out Outside) *Loop {
	plan.SnapshotEvery = max(1, plan.SnapshotEvery)
	return &Loop{plan: plan, out: out, tr: tr, lastSWD: -1}
}

// Trainer is the trainer the loop holds now; the caller closes it.
func (l *Loop) Trainer() *Trainer { return l.tr }

// Run trains to plan.Steps, in the order every run follows:
//
//	a fresh run: snapshot step 0
//	ratings
//	repeat: train a step; record now and then; ratings every FeedbackEvery steps;
//	        at a snapshot: grid, quality, health judged by the guard →
//	        roll back with a remedy, or checkpoint and samples;
//	        obey a pause or a stop (after a checkpoint)
//	final samples, done.
func (l *Loop) Run(ctx context.Context) error {
	p := l.plan
	if p.Fresh {
		if err := l.snapshot(ctx, false); err != nil {
			return err
		}
	}
	if err := l.ratings(ctx, true); err != nil {
		return err
	}
	lastRecord := time.Now()
	rateFrom, rateStep := time.Now(), l.tr.Step()
	snapDue := false // a snapshot waits for its steps to be recorded
	// The outer loop goes round again only when the last snapshot, taken
	// after the steps could not be recorded at the end, rolled back.
	for l.tr.Step() < p.Steps {
		for l.tr.Step() < p.Steps {
			stats, err := l.tr.TrainStep(ctx)
			if err != nil {
				return err
			}
			l.pending = append(l.pending, stats)
			s := l.tr.Step()
			if p.FeedbackEvery > 0 && s%p.FeedbackEvery == 0 {
				if err := l.ratings(ctx, false); err != nil {
					return err
				}
			}
			snapDue = snapDue || s%p.SnapshotEvery == 0 || s == p.Steps
			if time.Since(lastRecord) < p.RecordEvery && !snapDue {
				continue
			}
			if el := time.Since(rateFrom).Seconds(); el > 0 {
				r := float64(s-rateStep) / el
				if l.rate == 0 {
					l.rate = r
				} else {
					l.rate = 0.7*l.rate + 0.3*r
				}
			}
			rateFrom, rateStep = time.Now(), s
			ask, ok, err := l.record(ctx)
			if err != nil {
				return err
			}
			if !ok {
				continue // train on, record next time
			}
			lastRecord = time.Now()
			if snapDue {
				snapDue = false
				if err := l.snapshot(ctx, s == p.Steps); err != nil {
					return err
				}
				if l.stale {
					return l.finish(ctx, s)
				}
				if l.tr.Step() < s { // rolled back: the rate starts again
					rateFrom, rateStep = time.Now(), l.tr.Step()
				}
			}
			if ask != AskNothing {
				if err := l.out.Checkpoint(ctx, l.tr, false); err != nil {
					return err
				}
				if stop, err := l.out.Stop(ctx, ask, l.tr.Step()); stop || err != nil {
					return err
				}
			}
		}
		// The last steps and snapshot, if they could not be recorded.
		for len(l.pending) > 0 {
			if _, _, err := l.record(ctx); err != nil {
				return err
			}
			if len(l.pending) > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Second):
				}
			}
		}
		if snapDue {
			snapDue = false
			if err := l.snapshot(ctx, true); err != nil {
				return err
			}
		}
	}
	return l.finish(ctx, p.Steps)
}

// finish keeps the final samples and ends the run at step s: the plan's
// last, or earlier for a run stopped because it no longer improved.
func (l *Loop) finish(ctx context.Context, s int) error {
	if l.plan.Final > 0 {
		if err := l.out.Samples(ctx, l.tr.Generator(), s, l.plan.Final, true); err != nil {
			return err
		}
	}
	msg := fmt.Sprintf("Finished %d steps.", s)
	if s < l.plan.Steps {
		msg = fmt.Sprintf("Stopped early at step %d of %d, as asked: quality had not improved since step %d.", s, l.plan.Steps, l.tr.best.Step)
	}
	l.out.Event(ctx, s, EventInfo, msg)
	return l.out.Done(ctx, s)
}

// record offers the pending steps to the outside.
func (l *Loop) record(ctx context.Context) (Ask, bool, error) {
	ask, ok, err := l.out.Record(ctx, l.pending, l.rate)
	if err == nil && ok {
		l.pending = l.pending[:0]
	}
	return ask, ok, err
}

// Save records the pending steps and checkpoints the trainer: what a
// worker that is stopping keeps. Training steps are whole (TrainStep
// checks ctx only before it starts), so the trainer is always in a state
// worth keeping.
func (l *Loop) Save(ctx context.Context) error {
	_, ok, err := l.record(ctx)
	if err == nil && !ok && len(l.pending) > 0 {
		err = fmt.Errorf("steps %d–%d could not be recorded", l.pending[0].Step, l.pending[len(l.pending)-1].Step)
	}
	if err != nil {
		return err
	}
	return l.out.Checkpoint(ctx, l.tr, false)
}

func (l *Loop) ratings(ctx context.Context, force bool) error {
	m, err := l.out.Ratings(ctx, l.tr, force)
	if err != nil {
		return err
	}
	l.model = m
	return nil
}

// snapshot keeps the grid, maybe a quality figure, the health check and
// the guard's decision; then rolls back, or checkpoints and keeps samples.
func (l *Loop) snapshot(ctx context.Context, final bool) error {
	p, tr, s := l.plan, l.tr, l.tr.Step()
	g := tr.Generator()
	grid, err := g.GridImage()
	if err != nil {
		return err
	}
	sn := &Snapshot{Step: s, Final: final, Grid: grid, SWD: -1, SWDFloor: -1, LikedShare: -1}
	if p.EvalEvery > 0 && (s%p.EvalEvery == 0 || final) {
		if err := l.quality(tr, sn); err != nil {
			return err
		}
		l.lastSWD = sn.SWD
		l.judgeBest(ctx, sn)
	}
	sn.BestStep = -1
	if tr.best.Set {
		sn.BestStep = tr.best.Step
	}
	// The health check and the rating model's share judge the same images.
	judge := p.Watch != nil && s > 0
	if judge || l.model != nil {
		fake, err := tr.HealthImages()
		if err != nil {
			return fmt.Errorf("health check at step %d: %w", s, err)
		}
		if l.model != nil {
			sn.LikedShare = l.model.LikedShare(fake)
		}
		if judge {
			h, d := p.Watch.check(ctx, tr, fake, l.out, l.lastSWD)
			sn.Health, sn.Decision = &h, d
		}
	}
	if err := l.out.Snapshot(ctx, sn); err != nil {
		return err
	}
	if sn.Decision.Rollback {
		return l.rollback(ctx, sn.Decision)
	}
	// Checkpoint first: samples drawn after it survive a crash and a
	// resume from it; samples drawn before it would be drawn twice.
	if err := l.out.Checkpoint(ctx, tr, sn.Decision.Judged); err != nil {
		return err
	}
	if s > 0 && !final && p.Samples > 0 {
		return l.out.Samples(ctx, g, s, p.Samples, false)
	}
	return nil
}

// testQuality, when a test sets it, is the SWD of a snapshot at step
// (against a floor of 1) instead of the measured one.
var testQuality func(step int) float64

// quality measures the snapshot's SWD and, once per loop, the floor.
func (l *Loop) quality(tr *Trainer, sn *Snapshot) error {
	if testQuality != nil {
		sn.SWD, sn.SWDFloor = testQuality(sn.Step), 1
		return nil
	}
	q, err := tr.Quality()
	if err != nil {
		return err
	}
	if l.floor == nil {
		f, err := QualityFloor(tr.src)
		if err != nil {
			return err
		}
		l.floor = &f
	}
	sn.SWD, sn.SWDFloor = q.Mean, l.floor.Mean
	return nil
}

// judgeBest marks a snapshot whose quality is the best yet, and says once
// when the run has gone Patience steps without a better one (and ends it
// there, if the plan says so).
func (l *Loop) judgeBest(ctx context.Context, sn *Snapshot) {
	b := &l.tr.best
	if !b.Set || sn.SWD < b.SWD {
		*b = Best{Set: true, Step: sn.Step, SWD: sn.SWD}
		sn.Best = true
		return
	}
	patience := l.plan.Patience
	if patience <= 0 {
		patience = DefaultPatience
	}
	if b.Told || sn.Step-b.Step < patience {
		return
	}
	b.Told = true
	msg := fmt.Sprintf("Quality has not improved for %d steps: SWD %.1f now, %.1f at step %d, the best (real images score %.1f against each other). The best step's checkpoint is kept; samples and downloads default to it.",
		sn.Step-b.Step, sn.SWD, b.SWD, b.Step, sn.SWDFloor)
	if l.plan.StopWhenStale && !sn.Final {
		l.stale = true
		msg += " The run stops here, as asked."
	}
	l.out.Event(ctx, sn.Step, EventInfo, msg)
}

// rollback takes the run back to the guard's last healthy checkpoint and
// applies the remedy of this try. The outside keeps the remedied trainer
// as that step's checkpoint, so a crash after the rollback resumes with it.
func (l *Loop) rollback(ctx context.Context, d spec.Decision) error {
	w, s := l.plan.Watch, l.tr.Step()
	back, err := l.out.Restore(ctx, d.ToStep)
	if errors.Is(err, ErrNoCheckpoint) {
		// Nothing to go back to (a checkpoint removed by hand): say so
		// and train on, watched but unrepaired.
		w.Guard.GaveUp, w.Guard.Tries = true, w.Guard.P.MaxTries
		l.out.Event(ctx, s, EventRepair, fmt.Sprintf("%s But the checkpoint of step %d is gone; training goes on unrepaired.", d.Message, d.ToStep))
		return l.out.Checkpoint(ctx, l.tr, false)
	}
	if err != nil {
		return fmt.Errorf("rolling back to step %d: %w", d.ToStep, err)
	}
	remedy := back.ApplyRemedy(d.Try, l.plan.Base)
	more, err := l.out.RolledBack(ctx, back, d)
	// The remedied trainer is the run's from here even if RolledBack
	// failed part way: the outside may have recorded the rollback already,
	// and a worker saving on its way out must keep this trainer, not the
	// collapsed one (at worst it checkpoints the remedy once more).
	l.tr.Close()
	l.tr = back
	w.Last = spec.Healthy
	w.Rewind(d.ToStep)
	l.out.Event(ctx, d.ToStep, EventRepair, d.Message+" Remedy: "+remedy+more+".")
	if err != nil {
		return fmt.Errorf("rolling back to step %d: %w", d.ToStep, err)
	}
	return nil
}
