package jobs

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"math"
	"sort"
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

// A rating session draws fresh samples from the latest checkpoint, at
// random until there is a rating model, then the ones it is least sure of
// first; the session's ratings reach the trainer at its next read.
func TestSessionRatingsReachTheTrainer(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	tt, sms := feedbackTraining(t, st)
	if _, err := Session(ctx, st, tt.run, 4); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a session before any checkpoint: %v, want not found", err)
	}
	if err := tt.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, MaxSession + 1} {
		if _, err := Session(ctx, st, tt.run, n); err == nil {
			t.Errorf("a session of %d was drawn", n)
		}
	}
	zd := tt.run.Config.ZDim
	first, err := Session(ctx, st, tt.run, 6)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 6 {
		t.Fatalf("a session of 6 drew %d", len(first))
	}
	for _, sm := range first {
		if sm.Origin != store.OriginSession || sm.Step != 0 || len(sm.Latent) != zd || sm.Rating != 0 {
			t.Errorf("session sample %+v", sm)
		}
	}
	// Ratings of snapshot samples make a model (5 liked, 5 disliked); the
	// next session starts where it is least sure.
	for i := 0; i < 5; i++ {
		st.Rate(ctx, sms[i].ID, 1)
		st.Rate(ctx, sms[i+5].ID, -1)
	}
	rated, err := st.RatedSamples(ctx, tt.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	model, err := ratingModel(ctx, st, tt.run, rated)
	if err != nil || model == nil {
		t.Fatalf("rating model %v, %v", model, err)
	}
	second, err := Session(ctx, st, tt.run, 8)
	if err != nil {
		t.Fatal(err)
	}
	g := tt.tr.Generator()
	sure := func(z []float32) float64 {
		img, err := g.Generate(z)
		if err != nil {
			t.Fatal(err)
		}
		return math.Abs(model.Score(img[0]))
	}
	// 6 uncertain (in order), then 2 at random. The 6 are the least sure
	// of 32 candidates, so each is less sure than most fresh samples: below
	// the median of 64 of them (a pick at random would be above it half
	// the time).
	z := gan.RandomLatents(64, zd, 99)
	var random []float64
	for i := 0; i < 64; i++ {
		random = append(random, sure(z[i*zd:(i+1)*zd]))
	}
	sort.Float64s(random)
	median := random[32]
	for i := 0; i < 6; i++ {
		if s := sure(second[i].Latent); s > median {
			t.Errorf("session sample %d: |score| %.4f, above fresh samples' median %.4f", i, s, median)
		}
		if i > 0 && sure(second[i].Latent) < sure(second[i-1].Latent)-1e-6 {
			t.Errorf("session sample %d is less sure (%.4f) than the one before it (%.4f)", i, sure(second[i].Latent), sure(second[i-1].Latent))
		}
	}

	// The session's ratings reach the trainer at its next read.
	if err := tt.readFeedback(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, sm := range second[:3] {
		if _, err := st.Rate(ctx, sm.ID, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Rate(ctx, second[3].ID, -1); err != nil {
		t.Fatal(err)
	}
	if err := tt.readFeedback(ctx, false); err != nil {
		t.Fatal(err)
	}
	f := tt.tr.Feedback()
	if len(f.Liked) != 8 || len(f.Disliked) != 6 {
		t.Fatalf("after rating a session: %d liked, %d disliked; want 8 and 6", len(f.Liked), len(f.Disliked))
	}
	// The newest rating comes first, as stored.
	want, err := g.Generate(second[2].Latent)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f.Liked[0] {
		if d := v - want[0][i]; d > 1.0/127 || d < -1.0/127 {
			t.Fatalf("the newest liked image differs from the session sample's at %d: %g, %g", i, v, want[0][i])
		}
	}
	if tt.run.Feedback.Liked != 8 || tt.run.Feedback.Disliked != 6 {
		t.Errorf("status %+v", tt.run.Feedback)
	}
}
