package gan

import "math/rand/v2"

// RandomLatents draws n latents of size zdim from N(0, I), reproducibly from seed.
func RandomLatents(n, zdim int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x5851f42d4c957f2d))
	out := make([]float32, n*zdim)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}
