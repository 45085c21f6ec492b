package mixture

import (
	"math/rand/v2"
	"testing"
)

func TestMixtureScore(t *testing.T) {
	at := func(m Mixture, modes []int, reps int) []float32 {
		var out []float32
		for r := 0; r < reps; r++ {
			for _, k := range modes {
				out = append(out, float32(m.Means[k][0]), float32(m.Means[k][1]))
			}
		}
		return out
	}
	all := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	ring, grid := Ring8(), Grid25()
	for _, tc := range []struct {
		name    string
		mix     Mixture
		samples []float32
		modes   int
		hq      float64
	}{
		{"grid, every mode", grid, at(grid, all(25), 4), 25, 1},
		{"ring, every mode", ring, at(ring, all(8), 3), 8, 1},
		{"grid, one mode", grid, at(grid, []int{7}, 100), 1, 1},
		{"ring, two modes", ring, at(ring, []int{0, 5}, 10), 2, 1},
		{"grid, between modes", grid, []float32{1, 1, -3, 3, 0.5, 0.5}, 0, 0},
		{"ring, centre and far away", ring, []float32{0, 0, 5, 5}, 0, 0},
		{"grid, just inside and outside 3σ", grid, []float32{0.149, 0, 0.151, 0}, 1, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.mix.Score(tc.samples)
			if s.Modes != tc.modes || s.HQ != tc.hq {
				t.Errorf("got %d modes, HQ %.3f; want %d, %.3f", s.Modes, s.HQ, tc.modes, tc.hq)
			}
		})
	}
}

// Real samples score as the data should: every mode, and about 98.9% HQ
// (a 2-D Gaussian puts 1 − e^{−4.5} of its mass within 3σ).
func TestMixtureSampleScoresAsData(t *testing.T) {
	for _, mix := range []Mixture{Ring8(), Grid25()} {
		s := mix.Score(mix.Sample(2500, rand.New(rand.NewPCG(1, 1))))
		if s.Modes != len(mix.Means) || s.HQ < 0.98 || s.HQ > 0.995 {
			t.Errorf("%s: real data scores %d modes, HQ %.4f", mix.Name, s.Modes, s.HQ)
		}
	}
}
