package gan

import "math/rand/v2"

// EvalImages is how many images each side of a quality figure uses.
const EvalImages = 256

// RealSample draws n images from src with replacement, reproducibly from seed.
func RealSample(src Source, n int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 11))
	per := 3 * src.Res() * src.Res()
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, per)
		src.Image(r.IntN(src.Len()), out[i])
	}
	return out
}

// Quality is the SWD between EvalImages generated images (from fixed
// latents, so figures over a run are comparable) and as many real ones.
func (t *Trainer) Quality() (SWDResult, error) {
	fake, err := t.Generator().Generate(RandomLatents(EvalImages, t.cfg.ZDim, 0xe7a1))
	if err != nil {
		return SWDResult{}, err
	}
	return SWD(fake, RealSample(t.src, EvalImages, 1), t.cfg.Res, SWDOptions{Seed: 3})
}

// QualityFloor is the SWD between two independent real samples: the best a
// generator can hope for at this sample size.
func QualityFloor(src Source) (SWDResult, error) {
	return SWD(RealSample(src, EvalImages, 2), RealSample(src, EvalImages, 1), src.Res(), SWDOptions{Seed: 3})
}
