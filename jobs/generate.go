package jobs

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/store"
)

// MaxGenerate bounds one "generate" request.
const MaxGenerate = 256

// generatorFor reads the generator of the checkpoint of step (or the
// latest, for step < 0): no discriminator or optimiser is built.
func generatorFor(ctx context.Context, st *store.Store, run *store.Run, step int) (*gan.Generator, error) {
	if step < 0 {
		step = run.CkptStep
	}
	if step < 0 {
		return nil, fmt.Errorf("run %d has no checkpoint yet: %w", run.ID, store.ErrNotFound)
	}
	r, err := st.Blobs.Open(ctx, store.CheckpointKey(run.ID, step))
	if err == nil {
		defer r.Close()
		var g *gan.Generator
		if g, err = gan.ReadGenerator(r); err == nil {
			return g, nil
		}
	}
	return nil, fmt.Errorf("checkpoint at step %d: %w", step, err)
}

// Generate draws n new samples from the run's checkpoint at step (the
// latest if step < 0) and stores them. With bias, their latents lie near
// those of liked samples (gan.Generator.BiasedLatents), a rating model
// fitted to the run's ratings picking among candidates when there are
// enough ratings for one.
func Generate(ctx context.Context, st *store.Store, run *store.Run, step, n int, bias bool) ([]store.Sample, error) {
	if n < 1 || n > MaxGenerate {
		return nil, fmt.Errorf("can generate 1 to %d samples at a time, not %d", MaxGenerate, n)
	}
	g, err := generatorFor(ctx, st, run, step)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	seed := uint64(time.Now().UnixNano())
	z := gan.RandomLatents(n, run.Config.ZDim, seed)
	if bias {
		if z, err = biasedLatents(ctx, st, run, g, n, seed); err != nil {
			return nil, err
		}
	}
	return Draw(ctx, st, g, run.ID, g.Step(), store.OriginGenerate, z)
}

func biasedLatents(ctx context.Context, st *store.Store, run *store.Run, g *gan.Generator, n int, seed uint64) ([]float32, error) {
	rated, err := st.RatedSamples(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	var likedZ [][]float32
	for _, sm := range rated {
		if sm.Rating > 0 && len(sm.Latent) == run.Config.ZDim {
			likedZ = append(likedZ, sm.Latent)
		}
	}
	if len(likedZ) == 0 {
		return nil, gan.ErrNoLiked
	}
	model, err := ratingModel(ctx, st, run, rated)
	if err != nil {
		return nil, err
	}
	return g.BiasedLatents(likedZ, model, n, seed)
}

// ratingModel fits a rating model to a run's ratings (rated, as
// RatedSamples gives them), the newest ones as training holds them; nil
// while there are too few. Images that cannot be read are left out.
func ratingModel(ctx context.Context, st *store.Store, run *store.Run, rated []*store.Sample) (*gan.RatingModel, error) {
	liked, disliked, _ := ratedImages(rated, func(sm *store.Sample) ([]float32, bool, error) {
		img, err := readSampleImage(ctx, st, run, sm.ID)
		return img, err == nil, nil
	})
	model, err := gan.FitRatingModel(liked, disliked, run.Config.Res)
	if errors.Is(err, gan.ErrFewRatings) {
		return nil, nil
	}
	return model, err
}

// MaxSession bounds one rating session.
const MaxSession = 48

// DefaultSession is a rating session's size when none is asked for: a
// minute's rating at a key a second or two.
const DefaultSession = 16

// Session draws a rating session: n fresh samples from the run's latest
// checkpoint (the generator as training has it now), chosen among
// gan.SessionPool·n candidates where the run's rating model is least sure,
// with gan.SessionRandomShare of them at random (gan.PickForRating); all
// at random while there are too few ratings for a model. It stores them
// (origin "session") uncertain first, and returns them in that order.
func Session(ctx context.Context, st *store.Store, run *store.Run, n int) ([]store.Sample, error) {
	if n < 1 || n > MaxSession {
		return nil, fmt.Errorf("a rating session has 1 to %d samples, not %d", MaxSession, n)
	}
	g, err := generatorFor(ctx, st, run, -1)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	rated, err := st.RatedSamples(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	model, err := ratingModel(ctx, st, run, rated)
	if err != nil {
		return nil, err
	}
	seed := uint64(time.Now().UnixNano())
	zd := run.Config.ZDim
	pool := gan.RandomLatents(gan.SessionPool*n, zd, seed)
	var scores []float64
	if model != nil {
		// Scored a chunk at a time: only the scores are kept, so a
		// session at 256 px holds 16 candidates' images, not 192.
		const chunk = 16
		for i := 0; i < gan.SessionPool*n; i += chunk {
			end := min(i+chunk, gan.SessionPool*n)
			imgs, err := g.Generate(pool[i*zd : end*zd])
			if err != nil {
				return nil, err
			}
			for _, img := range imgs {
				scores = append(scores, model.Score(img))
			}
		}
	}
	var z []float32
	for _, i := range gan.PickByScore(scores, gan.SessionPool*n, n, gan.SessionRandomShare, seed) {
		z = append(z, pool[i*zd:(i+1)*zd]...)
	}
	return Draw(ctx, st, g, run.ID, g.Step(), store.OriginSession, z)
}

// Interpolate renders a strip of frames from sample a to sample b along the
// sphere, with the checkpoint of a's step (or the latest if that is gone).
func Interpolate(ctx context.Context, st *store.Store, run *store.Run, a, b *store.Sample, frames int) (image.Image, error) {
	if frames < 2 || frames > 32 {
		return nil, fmt.Errorf("interpolation takes 2 to 32 frames, not %d", frames)
	}
	g, err := generatorFor(ctx, st, run, a.Step)
	if err != nil {
		if g, err = generatorFor(ctx, st, run, -1); err != nil {
			return nil, err
		}
	}
	defer g.Close()
	if len(a.Latent) != run.Config.ZDim || len(b.Latent) != run.Config.ZDim {
		return nil, fmt.Errorf("samples %d and %d do not belong to a run like %d", a.ID, b.ID, run.ID)
	}
	imgs, err := g.Generate(gan.Interpolate(a.Latent, b.Latent, frames))
	if err != nil {
		return nil, err
	}
	return gan.Grid(imgs, run.Config.Res, frames), nil
}
