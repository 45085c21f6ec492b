package gan

import (
	"math/rand/v2"
	"testing"
)

func noiseImages(n, res int, seed uint64, amp float32) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, 3*res*res)
		for j := range out[i] {
			out[i][j] = amp * float32(r.NormFloat64())
		}
	}
	return out
}

func TestSWD(t *testing.T) {
	a := noiseImages(64, 32, 1, 0.3)
	b := noiseImages(64, 32, 2, 0.3) // same distribution
	// Smooth images: a different distribution of patches.
	c := make([][]float32, 64)
	for i := range c {
		c[i] = make([]float32, 3*32*32)
		for j := range c[i] {
			c[i][j] = float32((j/32+i)%7) / 7
		}
	}
	same, err := SWD(a, a, 32, SWDOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	near, _ := SWD(a, b, 32, SWDOptions{Seed: 1})
	far, _ := SWD(a, c, 32, SWDOptions{Seed: 1})
	if len(near.Levels) != 2 {
		t.Fatalf("32×32 gave %d levels, want 2 (32 and 16)", len(near.Levels))
	}
	if same.Mean > near.Mean || near.Mean*3 > far.Mean {
		t.Fatalf("SWD same %.1f, same distribution %.1f, different %.1f: want same ≤ near ≪ far", same.Mean, near.Mean, far.Mean)
	}
	if _, err := SWD(a, b[:3], 32, SWDOptions{}); err == nil {
		t.Error("sets of different sizes accepted")
	}
}
