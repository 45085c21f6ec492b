package gan

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/ganstudio/ganstudio/gan/spec"
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

const poolCells = 8 // pooled grid side

// ErrFewRatings says a rating model cannot be fitted yet.
var ErrFewRatings = errors.New("a rating model needs at least 4 liked and 4 disliked images")

// FitRatingModel fits a model to liked and disliked images (CHW in [-1, 1]
// at res×res).
func FitRatingModel(liked, disliked [][]float32, res int) (*RatingModel, error) {
	if len(liked) < spec.MinRatingsEach || len(disliked) < spec.MinRatingsEach {
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

// fit minimises the weighted logistic loss plus an L2 penalty on w by
// Newton's method with a backtracking line search. The pooled colours are
// strongly correlated, so plain gradient steps either crawl or, with a
// step long enough to get anywhere, fall into a two-step cycle short of
// the optimum; Newton on 193 unknowns converges in a handful of steps.
func (m *RatingModel) fit(xs [][]float64, ys, ws []float64) {
	const (
		l2    = 0.02
		iters = 50
	)
	nf := len(xs[0])
	d := nf + 1 // the weights, then the bias
	theta := make([]float64, d)
	z := func(th, x []float64) float64 { return th[nf] + dot(th[:nf], x) }
	obj := func(th []float64) float64 {
		var j float64
		for i, x := range xs {
			j += ws[i] * softplus64(-ys[i]*z(th, x))
		}
		return j + 0.5*l2*dot(th[:nf], th[:nf])
	}
	g := make([]float64, d)
	h := make([]float64, d*d)
	step := make([]float64, d)
	next := make([]float64, d)
	for it := 0; it < iters; it++ {
		clear(g)
		clear(h)
		for i, x := range xs {
			zi := z(theta, x)
			p := 1 / (1 + math.Exp(-zi))
			// d/dz of softplus(-y·z) is -y·σ(-y·z); d² is σ(z)(1-σ(z)).
			c := -ws[i] * ys[i] / (1 + math.Exp(ys[i]*zi))
			r := ws[i] * p * (1 - p)
			for a := 0; a < d; a++ {
				xa := 1.0
				if a < nf {
					xa = x[a]
				}
				g[a] += c * xa
				if r == 0 {
					continue
				}
				row := h[a*d:]
				for b := 0; b <= a; b++ {
					xb := 1.0
					if b < nf {
						xb = x[b]
					}
					row[b] += r * xa * xb
				}
			}
		}
		for a := 0; a < nf; a++ {
			g[a] += l2 * theta[a]
			h[a*d+a] += l2
		}
		h[nf*d+nf] += 1e-9 // the bias is not penalised; this keeps H positive definite
		if maxAbs(g) < 1e-10 {
			break
		}
		if !cholSolve(h, g, step, d) {
			break // cannot happen with the ridge on w; stop with what there is
		}
		j0, t := obj(theta), 1.0
		for ; t > 1e-6; t /= 2 {
			for a := range next {
				next[a] = theta[a] - t*step[a]
			}
			if obj(next) <= j0 {
				break
			}
		}
		if t <= 1e-6 {
			break
		}
		copy(theta, next)
	}
	m.w, m.b = theta[:nf], theta[nf]
}

func softplus64(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

func maxAbs(xs []float64) float64 {
	var m float64
	for _, x := range xs {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// cholSolve solves H·x = g for a symmetric positive definite H given by
// its lower triangle (row-major, d×d), overwriting that triangle with H's
// Cholesky factor. It reports false if H is not positive definite.
func cholSolve(h, g, x []float64, d int) bool {
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			s := h[i*d+j]
			for k := 0; k < j; k++ {
				s -= h[i*d+k] * h[j*d+k]
			}
			if i == j {
				if s <= 0 {
					return false
				}
				h[i*d+i] = math.Sqrt(s)
			} else {
				h[i*d+j] = s / h[j*d+j]
			}
		}
	}
	for i := 0; i < d; i++ { // L·y = g
		s := g[i]
		for k := 0; k < i; k++ {
			s -= h[i*d+k] * x[k]
		}
		x[i] = s / h[i*d+i]
	}
	for i := d - 1; i >= 0; i-- { // Lᵀ·x = y
		s := x[i]
		for k := i + 1; k < d; k++ {
			s -= h[k*d+i] * x[k]
		}
		x[i] = s / h[i*d+i]
	}
	return true
}

// fold spreads the pooled, standardised weights back over the pixels.
func (m *RatingModel) fold() {
	res, p := m.Res, m.pool
	m.pixelW = make([]float32, 3*res*res)
	m.pixelB = m.b
	for k := range m.w {
		m.pixelB -= m.w[k] * m.mu[k] / m.sd[k]
	}
	for i := range m.pixelW {
		k := m.cell(i)
		m.pixelW[i] = float32(m.w[k] / m.sd[k] / float64(p*p))
	}
}

// features pools an image to poolCells×poolCells per channel.
func (m *RatingModel) features(img []float32) []float64 {
	f := make([]float64, 3*poolCells*poolCells)
	for i, v := range img {
		f[m.cell(i)] += float64(v)
	}
	for k := range f {
		f[k] /= float64(m.pool * m.pool)
	}
	return f
}

// cell is the pooled figure pixel value i (CHW) falls in.
func (m *RatingModel) cell(i int) int {
	res, p := m.Res, m.pool
	c, y, x := i/(res*res), i/res%res, i%res
	return (c*poolCells+y/p)*poolCells + x/p
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

// SessionRandomShare is the share of a rating session's samples drawn at
// random instead of where the rating model is least sure. Asking only
// about the model's own boundary lets it be fooled by its own guesses: a
// region it is wrongly sure about is never shown, so never corrected.
const SessionRandomShare = 0.25

// SessionPool is how many fresh candidates a rating session weighs for
// every sample it shows.
const SessionPool = 4

// PickForRating chooses n of the candidates for a designer to rate, so that
// each rating teaches the rating model most: first those it is least sure
// of (scores nearest 0, most uncertain first), then a random share
// (round(randomShare·n), at least one when randomShare > 0) from the rest.
// Without a model (too few ratings yet) all n are random. It returns
// indices into imgs, the uncertain ones first.
func PickForRating(model *RatingModel, imgs [][]float32, n int, randomShare float64, seed uint64) []int {
	var scores []float64
	if model != nil {
		scores = make([]float64, len(imgs))
		for i, img := range imgs {
			scores[i] = model.Score(img)
		}
	}
	return PickByScore(scores, len(imgs), n, randomShare, seed)
}

// PickByScore is PickForRating on the model's scores of m candidates
// (nil: no model), for a caller that scores them as it makes them.
func PickByScore(scores []float64, m, n int, randomShare float64, seed uint64) []int {
	n = min(n, m)
	if n <= 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 0x5e55))
	random := n
	if scores != nil {
		random = int(math.Round(clamp01(randomShare) * float64(n)))
		if randomShare > 0 {
			random = max(random, 1)
		}
	}
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	out := make([]int, 0, n)
	if sure := n - random; sure > 0 {
		sort.SliceStable(order, func(a, b int) bool { return math.Abs(scores[order[a]]) < math.Abs(scores[order[b]]) })
		out = append(out, order[:sure]...)
		order = order[sure:]
	}
	r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	return append(out, order[:random]...)
}
