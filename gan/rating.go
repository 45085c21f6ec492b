package gan

import (
	"errors"
	"fmt"
	"math"
)

// RatingModel guesses whether a designer would like an image: a logistic
// regression on the image's colours pooled to an 8×8 grid (192 figures).
// It is small on purpose. It is fitted on a few hundred ratings at most, in
// a millisecond, every time new ratings arrive; and being linear in the
// pixels it goes into the generator's graph as one matrix product (its
// pooled weights spread back over the pixels), so its gradient steers G
// at almost no cost. What it can learn is where colour and brightness
// should sit in the frame: enough for "warmer", "darker", "more centred",
// not for "that face looks smug".
type RatingModel struct {
	Res             int
	Liked, Disliked int     // the ratings it was fitted on
	Accuracy        float64 // on those ratings, each class weighted equally

	pool   int // pixels per pooled cell side
	w      []float64
	b      float64
	mu, sd []float64
	pixelW []float32 // the same model as one weight per pixel value
	pixelB float64
}

// MinRatingsEach is how many likes and how many dislikes a rating model
// needs: with fewer, a model would learn one image's quirks.
const MinRatingsEach = 4

const poolCells = 8 // pooled grid side

// ErrFewRatings says a rating model cannot be fitted yet.
var ErrFewRatings = errors.New("a rating model needs at least 4 liked and 4 disliked images")

// FitRatingModel fits a model to liked and disliked images (CHW in [-1, 1]
// at res×res).
func FitRatingModel(liked, disliked [][]float32, res int) (*RatingModel, error) {
	if len(liked) < MinRatingsEach || len(disliked) < MinRatingsEach {
		return nil, ErrFewRatings
	}
	if res%poolCells != 0 {
		return nil, fmt.Errorf("rating model: %d is not a multiple of %d", res, poolCells)
	}
	m := &RatingModel{Res: res, Liked: len(liked), Disliked: len(disliked), pool: res / poolCells}
	var xs [][]float64
	var ys, ws []float64
	for _, set := range []struct {
		imgs [][]float32
		y    float64
	}{{liked, 1}, {disliked, -1}} {
		for _, img := range set.imgs {
			if len(img) != 3*res*res {
				return nil, fmt.Errorf("rating model: an image has %d values, want %d", len(img), 3*res*res)
			}
			xs = append(xs, m.features(img))
			ys = append(ys, set.y)
			ws = append(ws, 0.5/float64(len(set.imgs))) // each class weighs half
		}
	}
	nf := len(xs[0])
	m.mu, m.sd = make([]float64, nf), make([]float64, nf)
	for _, x := range xs {
		for k, v := range x {
			m.mu[k] += v / float64(len(xs))
		}
	}
	for _, x := range xs {
		for k, v := range x {
			m.sd[k] += (v - m.mu[k]) * (v - m.mu[k]) / float64(len(xs))
		}
	}
	for k := range m.sd {
		// The floor keeps a cell that is the same in every image (a white
		// corner) from weighing in with noise blown up to unit size.
		m.sd[k] = math.Sqrt(m.sd[k]) + 0.05
	}
	for _, x := range xs {
		for k := range x {
			x[k] = (x[k] - m.mu[k]) / m.sd[k]
		}
	}
	m.fit(xs, ys, ws)
	m.fold()
	var acc float64
	for i, x := range xs {
		if (m.b+dot(m.w, x) > 0) == (ys[i] > 0) {
			acc += ws[i]
		}
	}
	m.Accuracy = math.Min(acc, 1) // the weights sum to 1 but for rounding
	return m, nil
}

// fit minimises the weighted logistic loss plus an L2 penalty by gradient
// descent; the problem is convex and small, so plain steps converge.
func (m *RatingModel) fit(xs [][]float64, ys, ws []float64) {
	const (
		l2    = 0.02
		lr    = 0.5
		iters = 400
	)
	nf := len(xs[0])
	m.w = make([]float64, nf)
	g := make([]float64, nf)
	for it := 0; it < iters; it++ {
		clear(g)
		gb := 0.0
		for i, x := range xs {
			z := ys[i] * (m.b + dot(m.w, x))
			// d/dz softplus(-z) = -σ(-z)
			c := -ws[i] * ys[i] / (1 + math.Exp(z))
			gb += c
			for k, v := range x {
				g[k] += c * v
			}
		}
		for k := range m.w {
			m.w[k] -= lr * (g[k] + l2*m.w[k])
		}
		m.b -= lr * gb
	}
}

// fold spreads the pooled, standardised weights back over the pixels.
func (m *RatingModel) fold() {
	res, p := m.Res, m.pool
	m.pixelW = make([]float32, 3*res*res)
	m.pixelB = m.b
	for k := range m.w {
		m.pixelB -= m.w[k] * m.mu[k] / m.sd[k]
	}
	for c := 0; c < 3; c++ {
		for y := 0; y < res; y++ {
			for x := 0; x < res; x++ {
				k := (c*poolCells+y/p)*poolCells + x/p
				m.pixelW[(c*res+y)*res+x] = float32(m.w[k] / m.sd[k] / float64(p*p))
			}
		}
	}
}

// features pools an image to poolCells×poolCells per channel.
func (m *RatingModel) features(img []float32) []float64 {
	res, p := m.Res, m.pool
	f := make([]float64, 3*poolCells*poolCells)
	for c := 0; c < 3; c++ {
		for y := 0; y < res; y++ {
			for x := 0; x < res; x++ {
				f[(c*poolCells+y/p)*poolCells+x/p] += float64(img[(c*res+y)*res+x])
			}
		}
	}
	for k := range f {
		f[k] /= float64(p * p)
	}
	return f
}

// Score is the model's logit for an image: above 0, it would be liked.
func (m *RatingModel) Score(img []float32) float64 {
	s := m.pixelB
	for i, w := range m.pixelW {
		s += float64(w) * float64(img[i])
	}
	return s
}

// LikedShare is the share of images the model would like.
func (m *RatingModel) LikedShare(imgs [][]float32) float64 {
	if len(imgs) == 0 {
		return 0
	}
	n := 0
	for _, img := range imgs {
		if m.Score(img) > 0 {
			n++
		}
	}
	return float64(n) / float64(len(imgs))
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
