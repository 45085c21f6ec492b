package mixture

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Mixture is a 2-D mixture of equal-weight isotropic Gaussians, the
// mode-collapse benchmark of the Unrolled GAN, VEEGAN and PacGAN papers.
// Its modes are known, so coverage and sample quality can be counted
// exactly instead of estimated.
type Mixture struct {
	Name  string
	Means [][2]float64
	Sigma float64
}

// Ring8 is 8 modes on the unit circle at angles 2πk/8, σ 0.01 (VEEGAN's
// code spaces the angles with linspace(0, 2π, 8), which puts two means on
// top of each other; the papers' text and PacGAN use 2πk/8).
func Ring8() Mixture {
	m := Mixture{Name: "ring", Sigma: 0.01}
	for k := 0; k < 8; k++ {
		a := 2 * math.Pi * float64(k) / 8
		m.Means = append(m.Means, [2]float64{math.Cos(a), math.Sin(a)})
	}
	return m
}

// Grid25 is 25 modes at {-4,-2,0,2,4}², σ 0.05.
func Grid25() Mixture {
	m := Mixture{Name: "grid", Sigma: 0.05}
	for i := -2; i <= 2; i++ {
		for j := -2; j <= 2; j++ {
			m.Means = append(m.Means, [2]float64{2 * float64(i), 2 * float64(j)})
		}
	}
	return m
}

// MixtureByName returns "ring" or "grid".
func MixtureByName(name string) (Mixture, error) {
	switch name {
	case "ring":
		return Ring8(), nil
	case "grid":
		return Grid25(), nil
	}
	return Mixture{}, fmt.Errorf("unknown mixture %q (want ring or grid)", name)
}

// Sample draws n points into a flat slice of n·2 values (x0, y0, x1, …).
func (m Mixture) Sample(n int, rng *rand.Rand) []float32 {
	out := make([]float32, 2*n)
	m.sampleInto(out, rng)
	return out
}

func (m Mixture) sampleInto(dst []float32, rng *rand.Rand) {
	for i := 0; i+1 < len(dst); i += 2 {
		c := m.Means[rng.IntN(len(m.Means))]
		dst[i] = float32(c[0] + m.Sigma*rng.NormFloat64())
		dst[i+1] = float32(c[1] + m.Sigma*rng.NormFloat64())
	}
}

// MixtureScore is the papers' evaluation of a set of samples.
type MixtureScore struct {
	// Modes is how many modes have at least one high-quality sample
	// nearest to them.
	Modes int `json:"modes"`
	// HQ is the share of samples within 3σ of their nearest mode.
	HQ float64 `json:"hq"`
	// PerMode counts the high-quality samples of each mode, in Means order.
	PerMode []int `json:"per_mode"`
	// Samples is how many samples were scored.
	Samples int `json:"samples"`
}

// Score counts modes captured and high-quality samples among flat 2-D
// samples (x0, y0, x1, …), as VEEGAN and PacGAN define them.
func (m Mixture) Score(samples []float32) MixtureScore {
	s := MixtureScore{PerMode: make([]int, len(m.Means)), Samples: len(samples) / 2}
	limit := 3 * m.Sigma
	hq := 0
	for i := 0; i+1 < len(samples); i += 2 {
		x, y := float64(samples[i]), float64(samples[i+1])
		best, bd := 0, math.Inf(1)
		for k, c := range m.Means {
			if d := math.Hypot(x-c[0], y-c[1]); d < bd {
				best, bd = k, d
			}
		}
		if bd <= limit {
			hq++
			s.PerMode[best]++
		}
	}
	for _, c := range s.PerMode {
		if c > 0 {
			s.Modes++
		}
	}
	if s.Samples > 0 {
		s.HQ = float64(hq) / float64(s.Samples)
	}
	return s
}

// points turns flat 2-D samples into one vector per sample, the form the
// health measures take.
func points(flat []float32) [][]float32 {
	out := make([][]float32, len(flat)/2)
	for i := range out {
		out[i] = flat[2*i : 2*i+2]
	}
	return out
}
