package jobs

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/store"
)

// feedbackTraining is a training stretch of a fresh run with feedback on,
// with its trainer and a dozen samples, outside the queue.
func feedbackTraining(t *testing.T, st *store.Store) (*training, []store.Sample) {
	t.Helper()
	ctx := context.Background()
	d, cfg := tinyShapes(t, st)
	r := &store.Run{DatasetID: d.ID, Steps: 100, Config: store.RunConfig{Config: cfg, SnapshotEvery: 10, FeedbackWeight: 1}}
	if err := st.Tx(ctx, func(tx *sql.Tx) error { return st.InsertRun(ctx, tx, r) }); err != nil {
		t.Fatal(err)
	}
	r, err := st.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := LoadDataset(ctx, st, d, 32)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := gan.NewTrainer(cfg, ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := &Queue{st: st, workerID: "test", log: log}
	tt := &training{q: q, run: r, log: log, tr: tr, ds: ds}
	sms, err := Draw(ctx, st, tr.Generator(), r.ID, 0, store.OriginSnapshot, gan.RandomLatents(12, cfg.ZDim, 3))
	if err != nil {
		t.Fatal(err)
	}
	return tt, sms
}

// Ratings reach the trainer at its next read: a like, the same like again,
// a change of mind, a cleared rating, a rating of an unknown sample, and a
// rated sample whose image is gone.
func TestRatingsReachTheTrainer(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	tt, sms := feedbackTraining(t, st)
	rate := func(i, v int) {
		t.Helper()
		if _, err := st.Rate(ctx, sms[i].ID, v); err != nil {
			t.Fatal(err)
		}
	}
	read := func() *gan.Feedback {
		t.Helper()
		if err := tt.readFeedback(ctx, false); err != nil {
			t.Fatal(err)
		}
		return tt.tr.Feedback()
	}
	counts := func(f *gan.Feedback) (int, int) {
		if f == nil {
			return 0, 0
		}
		return len(f.Liked), len(f.Disliked)
	}
	if f := read(); f != nil {
		t.Fatalf("no ratings yet, but feedback %+v", f)
	}
	if tt.run.Feedback.Since != -1 {
		t.Errorf("since %d before any rating", tt.run.Feedback.Since)
	}

	rate(0, 1)
	f := read()
	if l, d := counts(f); l != 1 || d != 0 {
		t.Fatalf("after one like: %d liked, %d disliked", l, d)
	}
	// The liked image is the sample's, as stored.
	want, err := tt.tr.Generator().Generate(sms[0].Latent)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f.Liked[0] {
		if d := v - want[0][i]; d > 1.0/127 || d < -1.0/127 {
			t.Fatalf("liked image value %d is %g, the sample's %g", i, v, want[0][i])
		}
	}
	if f.Weight != 1 || f.Methods != gan.DefaultMethods || f.Model != nil {
		t.Errorf("feedback weight %g, methods %v, model %v", f.Weight, f.Methods, f.Model)
	}

	rate(0, 1) // the same like again counts once
	if l, d := counts(read()); l != 1 || d != 0 {
		t.Errorf("after a repeated like: %d liked, %d disliked", l, d)
	}
	rate(0, -1) // a change of mind moves it
	if l, d := counts(read()); l != 0 || d != 1 {
		t.Errorf("after changing to a dislike: %d liked, %d disliked", l, d)
	}
	rate(0, 0) // cleared: gone
	if l, d := counts(read()); l != 0 || d != 0 {
		t.Errorf("after clearing: %d liked, %d disliked", l, d)
	}
	if _, err := st.Rate(ctx, 999999, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rating an unknown sample: %v", err)
	}
	if _, err := st.Rate(ctx, sms[1].ID, 2); err == nil {
		t.Error("a rating of 2 was accepted")
	}

	// Enough of both for a rating model; one liked sample's image is gone.
	for i := 1; i <= 5; i++ {
		rate(i, 1)
		rate(i+5, -1)
	}
	if err := st.Blobs.Delete(ctx, store.SampleKey(tt.run.ID, sms[5].ID)); err != nil {
		t.Fatal(err)
	}
	f = read()
	if l, d := counts(f); l != 4 || d != 5 {
		t.Errorf("with one liked image gone: %d liked, %d disliked; want 4 and 5", l, d)
	}
	if f.Model == nil {
		t.Error("no rating model from 4 likes and 5 dislikes")
	}
	fs := tt.run.Feedback
	if fs.Liked != 4 || fs.Disliked != 5 || fs.Skipped != 1 || !fs.Model || fs.Since != 0 {
		t.Errorf("status %+v", fs)
	}
	saved, err := st.Run(ctx, tt.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Feedback.Used() != 9 || saved.Feedback.Version != fs.Version {
		t.Errorf("stored status %+v, want %+v", saved.Feedback, fs)
	}
	ev := eventsText(t, st, tt.run.ID)
	for _, w := range []string{"Ratings now steer training", "A rating model now guides the generator"} {
		if !strings.Contains(ev, w) {
			t.Errorf("events lack %q:\n%s", w, ev)
		}
	}
	// The share of new samples the model likes, for the run page's chart.
	fake, err := tt.tr.HealthImages()
	if err != nil {
		t.Fatal(err)
	}
	if s := tt.fb.model.LikedShare(fake); s < 0 || s > 1 {
		t.Errorf("liked share %g", s)
	}
	// Nothing new and nothing to retry (the sample without an image is
	// cleared): the batch stays as it is.
	rate(5, 0)
	before := read()
	if read() != before {
		t.Error("an unchanged set of ratings was read again")
	}
}

// A rollback while ratings steer training halves their weight and hands
// the ratings to the new trainer; if the database is busy just then, the
// next read does it.
func TestFeedbackWeightHalvedOnRollback(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	tt, sms := feedbackTraining(t, st)
	if _, err := st.Rate(ctx, sms[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := tt.readFeedback(ctx, false); err != nil {
		t.Fatal(err)
	}
	// The rollback's trainer, from a checkpoint: no feedback of its own.
	fresh, err := gan.NewTrainer(tt.run.Config.Config, tt.ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fresh.Close)
	tt.tr = fresh
	testFeedbackFail = func() error { return errors.New("database is locked") }
	msg, err := tt.feedbackAfterRollback(ctx)
	testFeedbackFail = nil
	if err != nil {
		t.Fatalf("a busy database failed the run: %v", err)
	}
	if !strings.Contains(msg, "feedback weight halved to 0.5") {
		t.Errorf("message %q", msg)
	}
	if tt.tr.Feedback() != nil {
		t.Fatal("feedback without a read")
	}
	if err := tt.readFeedback(ctx, false); err != nil {
		t.Fatal(err)
	}
	if f := tt.tr.Feedback(); f == nil || f.Weight != 0.5 || len(f.Liked) != 1 {
		t.Fatalf("after the next read: %+v", f)
	}
	if r, _ := st.Run(ctx, tt.run.ID); r.Feedback.Weight != 0.5 {
		t.Errorf("stored weight %g", r.Feedback.Weight)
	}
}

// A rated sample whose image could not be read is tried again at the next
// read, though no rating changed.
func TestSkippedImageRetried(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	tt, sms := feedbackTraining(t, st)
	if _, err := st.Rate(ctx, sms[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	key := store.SampleKey(tt.run.ID, sms[0].ID)
	rc, err := st.Blobs.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(rc)
	rc.Close()
	if err := st.Blobs.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := tt.readFeedback(ctx, false); err != nil {
		t.Fatal(err)
	}
	if tt.run.Feedback.Skipped != 1 || tt.tr.Feedback() != nil {
		t.Fatalf("with the image gone: status %+v", tt.run.Feedback)
	}
	if err := st.Blobs.Put(ctx, key, func(w io.Writer) error { _, err := w.Write(png); return err }); err != nil {
		t.Fatal(err)
	}
	if err := tt.readFeedback(ctx, false); err != nil {
		t.Fatal(err)
	}
	if f := tt.tr.Feedback(); f == nil || len(f.Liked) != 1 || tt.run.Feedback.Skipped != 0 {
		t.Errorf("with the image back: status %+v", tt.run.Feedback)
	}
}
