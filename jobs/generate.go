package jobs

import (
	"context"
	"fmt"
	"image"
	"time"

	"github.com/ganstudio/ganstudio/gan"
	"github.com/ganstudio/ganstudio/store"
)

// MaxGenerate bounds one "generate" request.
const MaxGenerate = 256

// checkpointFor picks the checkpoint of step (or the latest, for step < 0).
func checkpointFor(ctx context.Context, st *store.Store, run *store.Run, step int) (*gan.Trainer, error) {
	if step < 0 {
		step = run.CkptStep
	}
	if step < 0 {
		return nil, fmt.Errorf("run %d has no checkpoint yet: %w", run.ID, store.ErrNotFound)
	}
	tr, err := loadCheckpoint(ctx, st, run.ID, step, gan.Blank(run.Config.Res))
	if err != nil {
		return nil, fmt.Errorf("checkpoint at step %d: %w", step, err)
	}
	return tr, nil
}

// Generate draws n new samples from the run's checkpoint at step (the
// latest if step < 0) and stores them.
func Generate(ctx context.Context, st *store.Store, run *store.Run, step, n int) ([]store.Sample, error) {
	if n < 1 || n > MaxGenerate {
		return nil, fmt.Errorf("can generate 1 to %d samples at a time, not %d", MaxGenerate, n)
	}
	tr, err := checkpointFor(ctx, st, run, step)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	seed := uint64(time.Now().UnixNano())
	return Draw(ctx, st, tr, run.ID, tr.Step(), store.OriginGenerate, gan.RandomLatents(n, run.Config.ZDim, seed))
}

// Interpolate renders a strip of frames from sample a to sample b along the
// sphere, with the checkpoint of a's step (or the latest if that is gone).
func Interpolate(ctx context.Context, st *store.Store, run *store.Run, a, b *store.Sample, frames int) (image.Image, error) {
	if frames < 2 || frames > 32 {
		return nil, fmt.Errorf("interpolation takes 2 to 32 frames, not %d", frames)
	}
	tr, err := checkpointFor(ctx, st, run, a.Step)
	if err != nil {
		if tr, err = checkpointFor(ctx, st, run, -1); err != nil {
			return nil, err
		}
	}
	defer tr.Close()
	if len(a.Latent) != run.Config.ZDim || len(b.Latent) != run.Config.ZDim {
		return nil, fmt.Errorf("samples %d and %d do not belong to a run like %d", a.ID, b.ID, run.ID)
	}
	imgs, err := tr.Generate(gan.Interpolate(a.Latent, b.Latent, frames))
	if err != nil {
		return nil, err
	}
	return gan.Grid(imgs, run.Config.Res, frames), nil
}
