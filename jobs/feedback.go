package jobs

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/store"
)

// FeedbackEvery is how often, in training steps, a run with feedback on
// looks for new ratings (about ten seconds at ref32 on two cores).
const FeedbackEvery = 20

// maxFeedbackEach caps the liked and the disliked images training holds
// (the newest ratings win): 12 MB each at 32×32, 48 MB at 64×64.
const maxFeedbackEach = 1000

// testFeedbackFail, when set by a test, makes reading ratings fail as a
// busy database would.
var testFeedbackFail func() error

// feedback is a run's ratings as training holds them.
type feedback struct {
	status store.FeedbackStatus
	images map[int64][]float32 // rated samples' images, by sample id
	model  *gan.RatingModel
	loaded bool // this trainer has been given the ratings of status.Version
}

func (t *training) feedbackOn() bool { return t.run.Config.FeedbackWeight > 0 }

// readFeedback gives the trainer the run's current ratings, if they have
// changed since the last read (or force says to anyway: a new trainer).
// A rated sample's image is read once and kept; a sample rated again
// moves to its latest side, and one cleared leaves the batch. A database
// busy for a moment is not the run's fault: training goes on with the
// ratings it has.
func (t *training) readFeedback(ctx context.Context, force bool) error {
	if !t.feedbackOn() {
		return nil
	}
	st, run, f := t.q.st, t.run, &t.fb
	if f.images == nil {
		f.images = map[int64][]float32{}
		f.status = run.Feedback
	}
	if force {
		f.loaded = false // a new trainer: until a read succeeds, it has nothing
	}
	v, err := st.RatingsVersion(ctx, run.ID)
	if err == nil && testFeedbackFail != nil {
		err = testFeedbackFail()
	}
	if err != nil {
		return t.feedbackReadFailed(ctx, err)
	}
	// Nothing new, nothing left to retry (a sample whose image could not
	// be read last time is tried again).
	if v == f.status.Version && f.loaded && f.status.Skipped == 0 {
		return nil
	}
	rated, err := st.RatedSamples(ctx, run.ID)
	if err != nil {
		return t.feedbackReadFailed(ctx, err)
	}
	keep := map[int64][]float32{}
	skipped := 0
	liked, disliked, err := ratedImages(rated, func(sm *store.Sample) ([]float32, bool, error) {
		img, ok := f.images[sm.ID]
		if !ok {
			var err error
			if img, err = readSampleImage(ctx, st, run, sm.ID); err != nil {
				if ctx.Err() != nil {
					return nil, false, ctx.Err()
				}
				t.log.Warn("rated sample left out of feedback", "sample", sm.ID, "err", err)
				skipped++
				return nil, false, nil
			}
		}
		keep[sm.ID] = img
		return img, true, nil
	})
	if err != nil {
		return err
	}
	f.images = keep // samples no longer rated are let go
	hadModel := f.model != nil
	f.model, err = gan.FitRatingModel(liked, disliked, run.Config.Res)
	if err != nil && !errors.Is(err, gan.ErrFewRatings) {
		return err
	}
	s := t.tr.Step()
	if len(liked)+len(disliked) > 0 {
		if err := t.tr.SetFeedback(&gan.Feedback{Liked: liked, Disliked: disliked, Weight: f.status.Weight,
			Methods: gan.DefaultMethods, Model: f.model}); err != nil {
			return err
		}
	} else if err := t.tr.SetFeedback(nil); err != nil {
		return err
	}
	f.loaded = true
	first := f.status.Since < 0 && len(liked)+len(disliked) > 0
	if first {
		f.status.Since = s
	}
	f.status.Liked, f.status.Disliked, f.status.Skipped = len(liked), len(disliked), skipped
	f.status.ReadStep, f.status.ReadAt, f.status.Version = s, time.Now(), v
	f.status.Model = f.model != nil
	f.status.ModelAccuracy = 0
	if f.model != nil {
		f.status.ModelAccuracy = f.model.Accuracy
	}
	if err := st.SaveFeedback(ctx, run.ID, f.status); err != nil {
		return t.feedbackReadFailed(ctx, err)
	}
	run.Feedback = f.status
	switch {
	case first:
		msg := fmt.Sprintf("Ratings now steer training: %d liked and %d disliked samples, weight %.2g.", len(liked), len(disliked), f.status.Weight)
		if f.model != nil {
			msg += fmt.Sprintf(" A rating model fitted on them guides the generator too; it agrees with %.0f%% of them.", 100*f.model.Accuracy)
		}
		st.AddEvent(ctx, run.ID, s, store.EventFeedback, msg)
	case f.model != nil && !hadModel:
		st.AddEvent(ctx, run.ID, s, store.EventFeedback, fmt.Sprintf("A rating model now guides the generator: fitted on %d likes and %d dislikes, it agrees with %.0f%% of them.",
			len(liked), len(disliked), 100*f.model.Accuracy))
	}
	return nil
}

func (t *training) feedbackReadFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t.log.Warn("reading ratings; training goes on with the ones it has", "err", err)
	return nil
}

// ratedImages gives the images of rated samples (in RatedSamples' order),
// liked and disliked apart, the newest ratings first and at most
// maxFeedbackEach of each. image returns a sample's image, false to leave
// the sample out, or an error to stop.
func ratedImages(rated []*store.Sample, image func(*store.Sample) ([]float32, bool, error)) (liked, disliked [][]float32, err error) {
	for i := len(rated) - 1; i >= 0; i-- {
		sm := rated[i]
		if (sm.Rating > 0 && len(liked) == maxFeedbackEach) || (sm.Rating < 0 && len(disliked) == maxFeedbackEach) {
			continue
		}
		img, ok, err := image(sm)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		if sm.Rating > 0 {
			liked = append(liked, img)
		} else {
			disliked = append(disliked, img)
		}
	}
	return liked, disliked, nil
}

// readSampleImage reads a sample's stored PNG back as the trainer's floats.
func readSampleImage(ctx context.Context, st *store.Store, run *store.Run, id int64) ([]float32, error) {
	r, err := st.Blobs.Open(ctx, store.SampleKey(run.ID, id))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	img, err := png.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("sample %d: %w", id, err)
	}
	return gan.FromImage(img, run.Config.Res)
}

// feedbackAfterRollback halves the feedback weight after a collapse repair
// made while ratings were steering training (preference must not buy
// collapse), gives the new trainer the ratings, and says what it did.
func (t *training) feedbackAfterRollback(ctx context.Context) (string, error) {
	if !t.feedbackOn() || t.fb.images == nil {
		return "", nil
	}
	msg := ""
	if t.fb.status.Since >= 0 {
		t.fb.status.Weight /= 2
		msg = fmt.Sprintf("; the feedback weight halved to %.2g", t.fb.status.Weight)
		// Ratings given after the step gone back to steer from it on.
		t.fb.status.Since = min(t.fb.status.Since, t.tr.Step())
	}
	return msg, t.readFeedback(ctx, true)
}
