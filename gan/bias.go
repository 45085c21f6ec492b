package gan

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// BiasSpread is how far a biased latent strays from the liked latent it
// starts from: z = √(1−s²)·z_liked + s·ε keeps z on N(0, I)'s shell (the
// generator has never seen latents elsewhere) while 0.6 leaves each new
// image about as far from its liked parent as two random ones are close.
const BiasSpread = 0.6

// biasCandidates is how many candidates a biased draw weighs per image
// kept, when a rating model picks among them.
const biasCandidates = 3

// ErrNoLiked says there is nothing to bias toward.
var ErrNoLiked = errors.New("no liked samples to bias toward; like a few first")

// BiasedLatents draws n latents near liked ones: each starts from a liked
// latent taken in turn and is blurred with fresh noise (a kernel density
// fitted to the liked latents). With a rating model, three candidates are
// drawn per latent and the model keeps the one it likes most: liked latents
// from early steps may no longer make liked images once G has moved on.
func (g *Generator) BiasedLatents(liked [][]float32, model *RatingModel, n int, seed uint64) ([]float32, error) {
	zd := g.cfg.ZDim
	if len(liked) == 0 {
		return nil, ErrNoLiked
	}
	for _, z := range liked {
		if len(z) != zd {
			return nil, fmt.Errorf("a liked latent has %d values, the run's have %d", len(z), zd)
		}
	}
	r := rand.New(rand.NewPCG(seed, 0xb1a5))
	per := 1
	if model != nil {
		per = biasCandidates
	}
	keep := math.Sqrt(1 - BiasSpread*BiasSpread)
	order := r.Perm(len(liked))
	cand := make([]float32, n*per*zd)
	for i := 0; i < n*per; i++ {
		base := liked[order[(i/per)%len(liked)]]
		for j := 0; j < zd; j++ {
			cand[i*zd+j] = float32(keep*float64(base[j]) + BiasSpread*r.NormFloat64())
		}
	}
	if model == nil {
		return cand, nil
	}
	imgs, err := g.Generate(cand)
	if err != nil {
		return nil, err
	}
	out := make([]float32, 0, n*zd)
	for i := 0; i < n; i++ {
		best := i * per
		for k := best + 1; k < (i+1)*per; k++ {
			if model.Score(imgs[k]) > model.Score(imgs[best]) {
				best = k
			}
		}
		out = append(out, cand[best*zd:(best+1)*zd]...)
	}
	return out, nil
}
